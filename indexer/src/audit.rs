//! Self-audit: every mirrored lease (with its payment demand and remedies deadline), offer, stake,
//! signer (per provider), dispute, claimable balance and fee balance compared with the contract's
//! view calls at the block the mirror reflects.

use std::fmt;

use alloy::{eips::BlockId, primitives::U256};
use openlease_contracts::{DisputeStatus, LeaseStatus, Openlease::OpenleaseInstance};

use crate::{
    IndexerError, Result,
    chain::Chain,
    rows::{Balance, Dispute, Fee, Lease, Offer, Provider, Signer, Stake, Tallied, Totals},
    store::Store,
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

    let leases: Vec<Lease> = Store::all(&mut *tx).await?;
    report.check("market", "leaseCount", leases.len(), market.leaseCount().block(at).call().await?);
    for row in &leases {
        let id = row.lease_id;
        let l = market.lease(U256::from(id)).block(at).call().await?;
        let entity = format!("lease {id}");
        report.check(&entity, "tenant", row.tenant, l.tenant);
        report.check(&entity, "offerId", row.offer_id, l.offerId);
        report.check(&entity, "startedAt", row.started_at, l.startedAt);
        report.check(&entity, "endsAt", row.ends_at, l.endsAt);
        report.check(&entity, "deposit", row.deposit, l.deposit);
        report.check(&entity, "settled", row.settled, l.settled);
        report.check(&entity, "pricePerSecond", row.price_per_second, l.pricePerSecond);
        report.check(&entity, "bond", row.bond, l.bond);
        report.check(&entity, "noticePeriod", row.notice_period, l.noticePeriod);
        report.check(&entity, "minEndsAt", row.min_ends_at, l.minEndsAt);
        report.check(&entity, "paramsVersion", row.params_version, l.paramsVersion);
        let status = LeaseStatus::try_from(l.status).map_or("invalid", LeaseStatus::as_str);
        report.check(&entity, "status", row.status.as_str(), status);
        let deadline = market.settlementDeadline(U256::from(id)).block(at).call().await;
        if let Ok(deadline) = deadline {
            report.check(&entity, "settlementDeadline", row.settlement_deadline(), deadline);
        }
        let remedies = market.remediesDeadline(U256::from(id)).block(at).call().await?;
        report.check(&entity, "remediesDeadline", row.remedies_deadline(), remedies);
        let demand = market.paymentDemand(U256::from(id)).block(at).call().await?;
        report.check(&entity, "demand.due", row.demand_due, demand.due);
        report.check(&entity, "demand.madeAt", row.demanded_at, demand.madeAt);
        report.check(&entity, "demand.remediesUntil", row.remedies_until, demand.remediesUntil);
    }

    let offers: Vec<Offer> = Store::all(&mut *tx).await?;
    report.check("market", "offerCount", offers.len(), market.offerCount().block(at).call().await?);
    for row in &offers {
        let id = row.offer_id;
        let o = market.offer(U256::from(id)).block(at).call().await?;
        let entity = format!("offer {id}");
        report.check(&entity, "provider", row.provider, o.provider);
        report.check(&entity, "token", row.token, o.token);
        report.check(&entity, "pricePerSecond", row.price_per_second, o.pricePerSecond);
        report.check(&entity, "minDuration", row.min_duration, o.minDuration);
        report.check(&entity, "maxDuration", row.max_duration, o.maxDuration);
        report.check(&entity, "noticePeriod", row.notice_period, o.noticePeriod);
        report.check(&entity, "capacity", row.capacity, o.capacity);
        report.check(&entity, "activeLeases", row.active_leases, o.activeLeases);
        report.check(&entity, "paused", row.paused, o.paused);
        report.check(&entity, "paramsVersion", row.params_version, o.paramsVersion);
    }

    for row in &Store::all::<Stake>(&mut *tx).await? {
        let (provider, token) = (row.provider, row.token);
        let s = market.stakeOf(provider, token).block(at).call().await?;
        let entity = format!("stake {provider}/{token}");
        report.check(&entity, "staked", row.staked, s.staked);
        report.check(&entity, "locked", row.locked, s.locked);
        report.check(&entity, "thawing", row.thawing, s.thawing);
        report.check(&entity, "thawEndsAt", row.thaw_ends_at, s.thawEndsAt);
    }

    for row in &Store::all::<Signer>(&mut *tx).await? {
        let (tenant, signer, provider) = (row.tenant, row.signer, row.provider);
        let s = market.sessionSigner(tenant, signer, provider).block(at).call().await?;
        let entity = format!("signer {tenant}/{signer} for {provider}");
        report.check(&entity, "cap", row.cap, s.cap);
        report.check(&entity, "spent", row.spent, s.spent);
        report.check(&entity, "expiresAt", row.expires_at, s.expiresAt);
        report.check(&entity, "revoked", row.revoked, s.revoked);
    }

    for row in &Store::all::<Dispute>(&mut *tx).await? {
        let id = row.lease_id;
        let d = market.dispute(U256::from(id)).block(at).call().await?;
        let entity = format!("dispute {id}");
        report.check(&entity, "tenantBond", row.tenant_bond, d.tenantBond);
        report.check(&entity, "deadline", row.deadline, d.deadline);
        let status = DisputeStatus::try_from(d.status).map_or("invalid", DisputeStatus::as_str);
        report.check(&entity, "status", row.status.as_str(), status);
    }

    for row in &Store::all::<Balance>(&mut *tx).await? {
        let (account, token) = (row.account, row.token);
        let claimable = market.claimable(account, token).block(at).call().await?;
        report.check(&format!("balance {account}/{token}"), "claimable", row.claimable, claimable);
    }

    for row in &Store::all::<Fee>(&mut *tx).await? {
        let token = row.token;
        let owed = market.feesOwed(token).block(at).call().await?;
        report.check(&format!("fees {token}"), "feesOwed", row.owed, owed);
    }

    // The running totals against the rows they sum, added up afresh (kept in step, undone by
    // reorgs): here "chain" is the sum of the rows just compared with the chain.
    let mut summed = std::collections::BTreeMap::<alloy::primitives::Address, Totals>::new();
    fn sum<E: Tallied>(rows: &[E], summed: &mut std::collections::BTreeMap<alloy::primitives::Address, Totals>) {
        for row in rows {
            let token = row.token();
            row.count(summed.entry(token).or_insert_with(|| Totals { token, ..Default::default() }), true);
        }
    }
    sum(&leases, &mut summed);
    sum(&offers, &mut summed);
    sum(&Store::all::<Stake>(&mut *tx).await?, &mut summed);
    sum(&Store::all::<Fee>(&mut *tx).await?, &mut summed);
    sum(&Store::all::<Provider>(&mut *tx).await?, &mut summed);
    sum(&Store::all::<Dispute>(&mut *tx).await?, &mut summed);
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&mut *tx).await?;
    if events > 0 {
        summed.entry(alloy::primitives::Address::ZERO).or_default().events = events as u64;
    }
    let mut kept: std::collections::BTreeMap<_, _> =
        Store::all::<Totals>(&mut *tx).await?.into_iter().map(|t| (t.token, t)).collect();
    for (token, want) in &summed {
        let have = kept.remove(token).unwrap_or_else(|| Totals { token: *token, ..Default::default() });
        let entity = format!("totals {token}");
        for (field, have, want) in [
            ("providers", have.providers, want.providers),
            ("offers", have.offers, want.offers),
            ("openLeases", have.open_leases, want.open_leases),
            ("evictedLeases", have.evicted_leases, want.evicted_leases),
            ("finalizedLeases", have.finalized_leases, want.finalized_leases),
            ("unansweredDemands", have.unanswered_demands, want.unanswered_demands),
            ("settlements", have.settlements, want.settlements),
            ("openDisputes", have.open_disputes, want.open_disputes),
            ("events", have.events, want.events),
        ] {
            report.check(&entity, field, have, want);
        }
        for (field, have, want) in [
            ("escrow", have.escrow, want.escrow),
            ("settled", have.settled, want.settled),
            ("staked", have.staked, want.staked),
            ("feesOwed", have.fees_owed, want.fees_owed),
        ] {
            report.check(&entity, field, have, want);
        }
    }
    // A row of totals for a token no row sums any more must hold nothing.
    for (token, have) in kept {
        let empty = Totals { token, block_number: have.block_number, ..Default::default() };
        report.check(&format!("totals {token}"), "empty", have == empty, true);
    }
    Ok(report)
}
