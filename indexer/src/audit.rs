//! Self-audit: every mirrored lease, offer, stake, signer, dispute, claimable balance and fee
//! balance compared with the contract's view calls at the block the mirror reflects.

use std::fmt;

use alloy::{
    eips::BlockId,
    primitives::{Address, U256},
};
use openlease_contracts::{DisputeStatus, LeaseStatus, Openlease::OpenleaseInstance};
use sqlx::{Row, any::AnyRow};

use crate::{
    IndexerError, Result,
    chain::Chain,
    store::{Store, unpad},
};

/// One field where the mirror and the chain disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// What: `lease 3`, `stake 0xab…/0xcd…`.
    pub entity: String,
    pub field: &'static str,
    /// The mirror's value.
    pub mirror: String,
    /// The contract's value.
    pub chain: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: mirror {} != chain {}", self.entity, self.field, self.mirror, self.chain)
    }
}

/// What an audit compared and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// The block compared at.
    pub block: u64,
    /// Fields compared.
    pub checked: u64,
    /// Every disagreement.
    pub divergences: Vec<Divergence>,
}

impl AuditReport {
    fn check(&mut self, entity: &str, field: &'static str, mirror: impl ToString, chain: impl ToString) {
        self.checked += 1;
        let (mirror, chain) = (mirror.to_string(), chain.to_string());
        if mirror != chain {
            self.divergences.push(Divergence { entity: entity.to_owned(), field, mirror, chain });
        }
    }
}

fn text(row: &AnyRow, column: &str) -> Result<String> {
    Ok(row.try_get(column)?)
}

fn amount(row: &AnyRow, column: &str) -> Result<u128> {
    unpad(&text(row, column)?)
}

fn int(row: &AnyRow, column: &str) -> Result<i64> {
    Ok(row.try_get(column)?)
}

fn address(row: &AnyRow, column: &str) -> Result<Address> {
    let value = text(row, column)?;
    value.parse().map_err(|_| IndexerError::CorruptRow { table: "audit", message: format!("{column} = `{value}`") })
}

/// Compares the mirror in `store` with the market on `chain` at the mirror's cursor block.
/// Everything is read in one snapshot, so a report made while ingestion commits is still true.
pub async fn audit(store: &Store, chain: &Chain) -> Result<AuditReport> {
    let mut tx = store.snapshot().await?;
    let cursor = Store::cursor_in(&mut *tx)
        .await?
        .ok_or(IndexerError::CorruptRow { table: "cursor", message: "no cursor yet".into() })?;
    let market = OpenleaseInstance::new(cursor.market, chain.provider().clone());
    let at = BlockId::number(cursor.number);
    let mut report = AuditReport { block: cursor.number, ..Default::default() };

    let leases = sqlx::query("SELECT * FROM leases ORDER BY lease_id").fetch_all(&mut *tx).await?;
    report.check("market", "leaseCount", leases.len(), market.leaseCount().block(at).call().await?);
    for row in &leases {
        let id = int(row, "lease_id")?;
        let l = market.lease(U256::from(id)).block(at).call().await?;
        let entity = format!("lease {id}");
        report.check(&entity, "tenant", address(row, "tenant")?, l.tenant);
        report.check(&entity, "offerId", int(row, "offer_id")?, l.offerId);
        report.check(&entity, "startedAt", int(row, "started_at")?, l.startedAt);
        report.check(&entity, "endsAt", int(row, "ends_at")?, l.endsAt);
        report.check(&entity, "deposit", amount(row, "deposit")?, l.deposit);
        report.check(&entity, "settled", amount(row, "settled")?, l.settled);
        report.check(&entity, "pricePerSecond", amount(row, "price_per_second")?, l.pricePerSecond);
        report.check(&entity, "bond", amount(row, "bond")?, l.bond);
        report.check(&entity, "noticePeriod", int(row, "notice_period")?, l.noticePeriod);
        report.check(&entity, "minEndsAt", int(row, "min_ends_at")?, l.minEndsAt);
        report.check(&entity, "paramsVersion", int(row, "params_version")?, l.paramsVersion);
        let status = LeaseStatus::try_from(l.status).map_or("invalid", LeaseStatus::as_str);
        report.check(&entity, "status", text(row, "status")?, status);
        let deadline = market.settlementDeadline(U256::from(id)).block(at).call().await;
        if let Ok(deadline) = deadline {
            report.check(&entity, "settlementDeadline", int(row, "settlement_deadline")?, deadline);
        }
    }

    let offers = sqlx::query("SELECT * FROM offers ORDER BY offer_id").fetch_all(&mut *tx).await?;
    report.check("market", "offerCount", offers.len(), market.offerCount().block(at).call().await?);
    for row in &offers {
        let id = int(row, "offer_id")?;
        let o = market.offer(U256::from(id)).block(at).call().await?;
        let entity = format!("offer {id}");
        report.check(&entity, "provider", address(row, "provider")?, o.provider);
        report.check(&entity, "token", address(row, "token")?, o.token);
        report.check(&entity, "pricePerSecond", amount(row, "price_per_second")?, o.pricePerSecond);
        report.check(&entity, "minDuration", int(row, "min_duration")?, o.minDuration);
        report.check(&entity, "maxDuration", int(row, "max_duration")?, o.maxDuration);
        report.check(&entity, "noticePeriod", int(row, "notice_period")?, o.noticePeriod);
        report.check(&entity, "capacity", int(row, "capacity")?, o.capacity);
        report.check(&entity, "activeLeases", int(row, "active_leases")?, o.activeLeases);
        report.check(&entity, "paused", int(row, "paused")? != 0, o.paused);
    }

    for row in &sqlx::query("SELECT * FROM stakes ORDER BY provider, token").fetch_all(&mut *tx).await? {
        let (provider, token) = (address(row, "provider")?, address(row, "token")?);
        let s = market.stakeOf(provider, token).block(at).call().await?;
        let entity = format!("stake {provider}/{token}");
        report.check(&entity, "staked", amount(row, "staked")?, s.staked);
        report.check(&entity, "locked", amount(row, "locked")?, s.locked);
        report.check(&entity, "thawing", amount(row, "thawing")?, s.thawing);
        report.check(&entity, "thawEndsAt", int(row, "thaw_ends_at")?, s.thawEndsAt);
    }

    for row in &sqlx::query("SELECT * FROM signers ORDER BY tenant, signer").fetch_all(&mut *tx).await? {
        let (tenant, signer) = (address(row, "tenant")?, address(row, "signer")?);
        let s = market.sessionSigner(tenant, signer).block(at).call().await?;
        let entity = format!("signer {tenant}/{signer}");
        report.check(&entity, "cap", amount(row, "cap")?, s.cap);
        report.check(&entity, "spent", amount(row, "spent")?, s.spent);
        report.check(&entity, "expiresAt", int(row, "expires_at")?, s.expiresAt);
    }

    for row in &sqlx::query("SELECT * FROM disputes ORDER BY lease_id").fetch_all(&mut *tx).await? {
        let id = int(row, "lease_id")?;
        let d = market.dispute(U256::from(id)).block(at).call().await?;
        let entity = format!("dispute {id}");
        report.check(&entity, "tenantBond", amount(row, "tenant_bond")?, d.tenantBond);
        report.check(&entity, "deadline", int(row, "deadline")?, d.deadline);
        let status = DisputeStatus::try_from(d.status).map_or("invalid", DisputeStatus::as_str);
        report.check(&entity, "status", text(row, "status")?, status);
    }

    for row in &sqlx::query("SELECT * FROM balances ORDER BY account, token").fetch_all(&mut *tx).await? {
        let (account, token) = (address(row, "account")?, address(row, "token")?);
        let claimable = market.claimable(account, token).block(at).call().await?;
        report.check(&format!("balance {account}/{token}"), "claimable", amount(row, "claimable")?, claimable);
    }

    for row in &sqlx::query("SELECT * FROM fees ORDER BY token").fetch_all(&mut *tx).await? {
        let token = address(row, "token")?;
        let owed = market.feesOwed(token).block(at).call().await?;
        report.check(&format!("fees {token}"), "feesOwed", amount(row, "owed")?, owed);
    }
    Ok(report)
}
