//! What every event does to the mirrored market. The store holds the market; ingestion keeps only
//! a working set of its rows in memory ([`Market`]): before a batch is applied, the rows its
//! events need are loaded (a first pass over the batch finds them: a key asked for but not loaded
//! is recorded as missing, the store loads it, the batch is applied again from the rows as they
//! were). So memory and restart cost follow the batch, not the database.
//!
//! Inside the reorg window every change also records the row as it was before its block (the
//! undo log): a reorg puts those back, newest first, and costs what the reorg undid.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use alloy::primitives::{Address, B256, U256};
use openlease_contracts::{
    Openlease::{self, OpenleaseEvents},
    SlashReason, lease_math,
};

pub use crate::rows::{
    Balance, Dispute, Entity, Fee, Governance, Lease, Offer, ParamsVersion, Provider, ProviderDay, Settlement, Signer,
    Stake, Tallied, Token, Totals,
};
pub use openlease_contracts::{DisputeStatus, LeaseStatus};

/// Where an event sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventPosition {
    pub block: u64,
    /// Block timestamp (seconds).
    pub timestamp: u64,
    /// Log index within the block.
    pub log_index: u64,
    /// The transaction that emitted it.
    pub tx_hash: B256,
}

/// Seconds in a day: the history's bucket.
pub const DAY: u64 = 86_400;
/// Reputation v2's half-life: an outcome counts half as much 30 days later.
pub const HALF_LIFE_SECS: f64 = 30.0 * 86_400.0;
/// Reputation v2's neutral prior: a newcomer starts as if it had served 100 tokens (6 decimals)
/// of leases at 50%, so its first leases move it, but one lease does not make it.
pub const PRIOR_VALUE: f64 = 100_000_000.0;

/// The decimals a provider's record is kept in: every amount of it is scaled from its token's
/// decimals to these (the allow-list holds USD stablecoins), so leases in different tokens add up.
pub const VALUE_DECIMALS: u8 = 6;

/// `raw` units of a token of `decimals` decimals, in [`VALUE_DECIMALS`] units.
pub fn value(raw: u128, decimals: u8) -> u128 {
    match decimals.cmp(&VALUE_DECIMALS) {
        std::cmp::Ordering::Equal => raw,
        std::cmp::Ordering::Greater => raw / 10u128.pow(u32::from(decimals - VALUE_DECIMALS)),
        std::cmp::Ordering::Less => raw.saturating_mul(10u128.pow(u32::from(VALUE_DECIMALS - decimals))),
    }
}

/// Reputation v2, in basis points: decayed value paid over decayed value that accrued plus decayed
/// value slashed, with the neutral prior.
pub fn reputation_bps(decayed_paid: f64, decayed_accruable: f64, decayed_slashed: f64) -> u64 {
    let score = (decayed_paid + PRIOR_VALUE / 2.0) / (decayed_accruable + decayed_slashed + PRIOR_VALUE);
    (score.clamp(0.0, 1.0) * 10_000.0).round() as u64
}

/// Rows of one table: those loaded from the store (`None`: known to have no row) and changed since.
#[derive(Debug, Clone)]
pub struct Table<E: Entity> {
    rows: BTreeMap<E::Key, Option<E>>,
    /// Asked for, not loaded: the batch must be applied again once they are.
    missing: BTreeSet<E::Key>,
    /// Changed since the last commit.
    touched: BTreeSet<E::Key>,
    /// Whether changes record the prior row (inside the reorg window).
    recording: bool,
    /// (block, key) whose prior row is recorded.
    saved: BTreeSet<(u64, E::Key)>,
    /// The rows as they were before each block changed them, in order.
    undo: Vec<(u64, E::Key, Option<E>)>,
    /// Rows changed since the totals were last brought up to date, as they were then.
    untallied: BTreeMap<E::Key, Option<E>>,
}

impl<E: Entity> Default for Table<E> {
    fn default() -> Self {
        Self {
            rows: BTreeMap::new(),
            missing: BTreeSet::new(),
            touched: BTreeSet::new(),
            recording: false,
            saved: BTreeSet::new(),
            undo: Vec::new(),
            untallied: BTreeMap::new(),
        }
    }
}

impl<E: Entity> Table<E> {
    /// The row, if loaded and present; a key not loaded is recorded as missing.
    pub fn get(&mut self, key: &E::Key) -> Option<&E> {
        match self.rows.get(key) {
            Some(row) => row.as_ref(),
            None => {
                self.missing.insert(key.clone());
                None
            }
        }
    }

    fn before_change(&mut self, key: &E::Key, block: u64) {
        self.touched.insert(key.clone());
        if !self.untallied.contains_key(key) {
            self.untallied.insert(key.clone(), self.rows.get(key).cloned().flatten());
        }
        if self.recording && self.saved.insert((block, key.clone())) {
            let prior = self.rows.get(key).cloned().flatten();
            self.undo.push((block, key.clone(), prior));
        }
    }

    /// The row to change at `block`; `None` when there is none (or it is not loaded yet).
    pub fn change(&mut self, key: E::Key, block: u64) -> Option<&mut E> {
        if !self.rows.contains_key(&key) {
            self.missing.insert(key);
            return None;
        }
        self.before_change(&key, block);
        self.rows.get_mut(&key).and_then(Option::as_mut)
    }

    /// The row to change at `block`, made by `new` when there is none.
    pub fn upsert(&mut self, key: E::Key, block: u64, new: impl FnOnce() -> E) -> &mut E {
        if !self.rows.contains_key(&key) {
            // This pass is thrown away once the row is loaded.
            self.missing.insert(key.clone());
        } else {
            self.before_change(&key, block);
        }
        self.rows.entry(key).or_insert(None).get_or_insert_with(new)
    }

    /// Rows loaded from the store: `found`, and `None` for every other key asked for.
    pub fn load(&mut self, asked: &BTreeSet<E::Key>, found: Vec<E>) {
        for key in asked {
            self.rows.insert(key.clone(), None);
        }
        for row in found {
            self.rows.insert(row.key(), Some(row));
        }
    }

    /// Keys asked for and not loaded.
    pub fn missing(&self) -> &BTreeSet<E::Key> {
        &self.missing
    }

    /// The changed rows (`None`: delete), leaving none changed.
    pub fn take_changes(&mut self) -> Vec<(E::Key, Option<E>)> {
        let touched = std::mem::take(&mut self.touched);
        touched.into_iter().map(|key| (key.clone(), self.rows.get(&key).cloned().flatten())).collect()
    }

    /// The prior rows recorded, leaving none.
    pub fn take_undo(&mut self) -> Vec<(u64, E::Key, Option<E>)> {
        self.saved.clear();
        std::mem::take(&mut self.undo)
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    /// Each row changed since the last call: as it was then, and as it is.
    fn take_untallied(&mut self) -> Vec<(Option<E>, Option<E>)> {
        let untallied = std::mem::take(&mut self.untallied);
        untallied.into_iter().map(|(key, before)| (before, self.rows.get(&key).cloned().flatten())).collect()
    }
}

/// Calls `$f!(field, Type)` for every entity table of the market, so that what is loaded,
/// written and undone is listed once.
#[macro_export]
macro_rules! for_each_table {
    ($f:ident) => {
        $f!(providers, $crate::rows::Provider);
        $f!(provider_days, $crate::rows::ProviderDay);
        $f!(stakes, $crate::rows::Stake);
        $f!(offers, $crate::rows::Offer);
        $f!(leases, $crate::rows::Lease);
        $f!(signers, $crate::rows::Signer);
        $f!(disputes, $crate::rows::Dispute);
        $f!(balances, $crate::rows::Balance);
        $f!(fees, $crate::rows::Fee);
        $f!(params_versions, $crate::rows::ParamsVersion);
        $f!(tokens, $crate::rows::Token);
        $f!(governance, $crate::rows::Governance);
        $f!(totals, $crate::rows::Totals);
    };
}

/// The working set of the mirrored market.
#[derive(Debug, Default, Clone)]
pub struct Market {
    pub providers: Table<Provider>,
    pub provider_days: Table<ProviderDay>,
    pub stakes: Table<Stake>,
    pub offers: Table<Offer>,
    pub leases: Table<Lease>,
    pub signers: Table<Signer>,
    pub disputes: Table<Dispute>,
    pub balances: Table<Balance>,
    pub fees: Table<Fee>,
    pub params_versions: Table<ParamsVersion>,
    pub tokens: Table<Token>,
    pub governance: Table<Governance>,
    pub totals: Table<Totals>,
    /// Decimals of the tokens the batch allows, read from them by ingestion before it applies
    /// the batch (the `tokens` rows keep them).
    pub decimals: Arc<BTreeMap<Address, u8>>,
}

fn amount(value: U256) -> u128 {
    value.saturating_to()
}

fn number(value: U256) -> u64 {
    value.saturating_to()
}

/// The protocol's fee on a lease's settled total (`LeaseMath.fee`): a settlement's fee is the
/// growth of this figure.
fn fee(settled: u128, fee_bps: u128) -> u128 {
    lease_math::fee(U256::from(settled), U256::from(fee_bps)).saturating_to()
}

impl Market {
    /// Whether a batch's changes record their prior rows.
    pub fn set_recording(&mut self, recording: bool) {
        macro_rules! set {
            ($field:ident, $ty:ty) => {
                self.$field.recording = recording;
            };
        }
        for_each_table!(set);
    }

    /// Whether some key a pass asked for is not loaded.
    pub fn is_missing_rows(&self) -> bool {
        let mut any = false;
        macro_rules! check {
            ($field:ident, $ty:ty) => {
                any |= !self.$field.missing.is_empty();
            };
        }
        for_each_table!(check);
        any
    }

    /// Rows held in memory.
    pub fn len(&self) -> usize {
        let mut n = 0;
        macro_rules! count {
            ($field:ident, $ty:ty) => {
                n += self.$field.len();
            };
        }
        for_each_table!(count);
        n
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `raw` units of `token` in the record's units ([`VALUE_DECIMALS`]).
    fn value(&mut self, token: Address, raw: u128) -> u128 {
        let decimals = self.tokens.get(&(token,)).map_or(u64::from(VALUE_DECIMALS), |t| t.decimals);
        value(raw, u8::try_from(decimals).unwrap_or(u8::MAX))
    }

    fn provider_mut(&mut self, provider: Address, block: u64) -> Option<&mut Provider> {
        let row = self.providers.change((provider,), block)?;
        row.block_number = block;
        Some(row)
    }

    /// The provider's record for the day of `at`.
    fn day_mut(&mut self, provider: Address, at: EventPosition) -> &mut ProviderDay {
        let day = at.timestamp / DAY;
        let row = self.provider_days.upsert((provider, day), at.block, || ProviderDay {
            provider,
            day,
            ..Default::default()
        });
        row.block_number = at.block;
        row
    }

    fn stake_mut(&mut self, provider: Address, token: Address, block: u64) -> &mut Stake {
        let stake = self.stakes.upsert((provider, token), block, || Stake { provider, token, ..Default::default() });
        stake.block_number = block;
        stake
    }

    fn credit(&mut self, account: Address, token: Address, value: u128, block: u64) {
        let row = self.balances.upsert((account, token), block, || Balance { account, token, ..Default::default() });
        row.claimable += value;
        row.block_number = block;
    }

    fn owe_fee(&mut self, token: Address, value: u128, block: u64) {
        let row = self.fees.upsert((token,), block, || Fee { token, ..Default::default() });
        row.owed += value;
        row.block_number = block;
    }

    fn lease_mut(&mut self, lease_id: U256, block: u64) -> Option<&mut Lease> {
        let lease = self.leases.change((number(lease_id),), block)?;
        lease.block_number = block;
        Some(lease)
    }

    fn offer_mut(&mut self, offer_id: u64, block: u64) -> Option<&mut Offer> {
        let offer = self.offers.change((offer_id,), block)?;
        offer.block_number = block;
        Some(offer)
    }

    fn signer_mut(&mut self, tenant: Address, signer: Address, provider: Address, block: u64) -> &mut Signer {
        let row = self.signers.upsert((tenant, signer, provider), block, || Signer {
            tenant,
            signer,
            provider,
            ..Default::default()
        });
        row.block_number = block;
        row
    }

    fn governance_mut(&mut self, block: u64) -> &mut Governance {
        let row = self.governance.upsert((1,), block, || Governance { id: 1, ..Default::default() });
        row.block_number = block;
        row
    }

    /// Brings the totals up to date with every row changed since the last call and the `events`
    /// stored of `block` (called once per block, so that a reorg undoes them block by block like
    /// the rows).
    pub fn tally(&mut self, block: u64, events: u64) {
        fn tally_table<E: Entity + Tallied>(table: &mut Table<E>, totals: &mut Table<Totals>, block: u64) {
            for (before, after) in table.take_untallied() {
                // A change that moves no total (a provider's record, most of the time) writes none.
                let counted = |row: &Option<E>| {
                    row.as_ref().map(|r| {
                        let mut t = Totals { token: r.token(), ..Default::default() };
                        r.count(&mut t, true);
                        t
                    })
                };
                if counted(&before) == counted(&after) {
                    continue;
                }
                for (row, add) in [(before, false), (after, true)] {
                    let Some(row) = row else { continue };
                    let token = row.token();
                    let t = totals.upsert((token,), block, || Totals { token, ..Default::default() });
                    row.count(t, add);
                    t.block_number = block;
                }
            }
        }
        tally_table(&mut self.leases, &mut self.totals, block);
        tally_table(&mut self.stakes, &mut self.totals, block);
        tally_table(&mut self.fees, &mut self.totals, block);
        tally_table(&mut self.offers, &mut self.totals, block);
        tally_table(&mut self.providers, &mut self.totals, block);
        tally_table(&mut self.disputes, &mut self.totals, block);
        if events > 0 {
            let token = Address::ZERO;
            let t = self.totals.upsert((token,), block, || Totals { token, ..Default::default() });
            t.events += events;
            t.block_number = block;
        }
        // The other tables add nothing to the totals.
        macro_rules! forget {
            ($field:ident, $ty:ty) => {
                self.$field.untallied.clear();
            };
        }
        for_each_table!(forget);
    }

    /// Applies one event.
    pub fn apply(&mut self, event: &OpenleaseEvents, at: EventPosition) {
        use OpenleaseEvents as E;
        let block = at.block;
        match event {
            E::ProviderRegistered(e) => {
                let row = self.providers.upsert((e.provider,), block, || Provider {
                    address: e.provider,
                    registered_block: block,
                    reputation_bps: reputation_bps(0.0, 0.0, 0.0),
                    ..Default::default()
                });
                (row.metadata_uri, row.endpoint, row.region) =
                    (e.metadataURI.clone(), e.endpoint.clone(), e.region.clone());
                row.attributes_hash = e.attributesHash;
                row.attestation_key = e.attestationKey;
                row.block_number = block;
            }
            E::ProviderUpdated(e) => {
                if let Some(row) = self.provider_mut(e.provider, block) {
                    (row.metadata_uri, row.endpoint, row.region) =
                        (e.metadataURI.clone(), e.endpoint.clone(), e.region.clone());
                    row.attributes_hash = e.attributesHash;
                }
            }
            E::Staked(e) => self.stake_mut(e.provider, e.token, block).staked = amount(e.staked),
            E::UnstakeRequested(e) => {
                let stake = self.stake_mut(e.provider, e.token, block);
                stake.staked = amount(e.staked);
                stake.thawing = amount(e.thawing);
                stake.thaw_ends_at = number(e.thawEndsAt);
            }
            E::StakeWithdrawn(e) => {
                let stake = self.stake_mut(e.provider, e.token, block);
                stake.thawing = 0;
                stake.thaw_ends_at = 0;
            }
            E::OfferPublished(e) => {
                let offer_id = number(e.offerId);
                *self.offers.upsert((offer_id,), block, Offer::default) = Offer {
                    offer_id,
                    provider: e.provider,
                    token: e.token,
                    price_per_second: number(e.pricePerSecond),
                    min_duration: number(e.minDuration),
                    max_duration: number(e.maxDuration),
                    notice_period: number(e.noticePeriod),
                    capacity: number(e.capacity),
                    active_leases: 0,
                    paused: false,
                    params_version: number(e.paramsVersion),
                    workload: e.workload,
                    verifier: e.verifier,
                    block_number: block,
                };
            }
            E::OfferUpdated(e) => {
                if let Some(offer) = self.offer_mut(number(e.offerId), block) {
                    offer.price_per_second = number(e.pricePerSecond);
                    offer.min_duration = number(e.minDuration);
                    offer.max_duration = number(e.maxDuration);
                    offer.notice_period = number(e.noticePeriod);
                    offer.capacity = number(e.capacity);
                }
            }
            E::OfferPauseSet(e) => {
                if let Some(offer) = self.offer_mut(number(e.offerId), block) {
                    offer.paused = e.paused;
                }
            }
            E::LeaseOpened(e) => self.open_lease(e, at),
            E::LeaseToppedUp(e) => {
                if let Some(lease) = self.lease_mut(e.leaseId, block) {
                    lease.deposit = amount(e.deposit);
                }
            }
            // Counted when the lease is finalized: a failover gives notice first.
            E::LeaseClosed(e) => {
                let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
                lease.ends_at = number(e.endsAt);
                lease.closed_by = e.by;
            }
            E::LeaseTerminated(e) => {
                let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
                lease.ends_at = number(e.endsAt);
                lease.terminated = true;
                let provider = lease.provider;
                if let Some(p) = self.provider_mut(provider, block) {
                    p.leases_terminated += 1;
                }
                self.day_mut(provider, at).leases_terminated += 1;
            }
            E::PaymentDemanded(e) => {
                let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
                // A new demand replaces the last; a settlement reaching `due` answers it (read
                // from the lease's settled total, nothing to write).
                lease.demand_due = amount(e.due);
                lease.demanded_at = at.timestamp;
                lease.evictable_at = number(e.evictableAt);
                let provider = lease.provider;
                if let Some(p) = self.provider_mut(provider, block) {
                    p.payment_demands += 1;
                }
                self.day_mut(provider, at).payment_demands += 1;
            }
            E::LeaseEvicted(e) => self.evict(e, at),
            E::LeaseFailedOver(e) => {
                let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
                // It accrued until the failover; what it keeps pays the receipts of that time.
                lease.stopped_at = at.timestamp.min(lease.lease_end());
                lease.deposit = amount(e.deposit);
                lease.failed_over_to = number(e.newLeaseId);
                // An evicted lease (not finalized yet, so a tenant may still fail over from it,
                // moving nothing) already ended by its eviction: one lease, one outcome.
                if lease.evicted {
                    return;
                }
                let provider = lease.provider;
                if let Some(p) = self.provider_mut(provider, block) {
                    p.leases_failed_over += 1;
                }
                self.day_mut(provider, at).leases_failed_over += 1;
            }
            E::LeaseFinalized(e) => self.finalize(e, at),
            // Re-authorizing keeps what was spent and undoes a revocation.
            E::SignerAuthorized(e) => {
                let row = self.signer_mut(e.tenant, e.signer, e.provider, block);
                row.cap = amount(e.cap);
                row.expires_at = number(e.expiresAt);
                row.revoked = false;
            }
            // Receipts for service before the revocation stay payable: the expiry comes forward.
            E::SignerRevoked(e) => {
                let row = self.signer_mut(e.tenant, e.signer, e.provider, block);
                row.expires_at = number(e.expiresAt);
                row.revoked = true;
            }
            E::LeaseSettled(e) => self.settle(e, at),
            E::Claimed(e) => {
                let (account, token) = (e.account, e.token);
                let row =
                    self.balances.upsert((account, token), block, || Balance { account, token, ..Default::default() });
                row.claimable = 0;
                row.block_number = block;
            }
            E::FeesCollected(e) => {
                let token = e.token;
                let row = self.fees.upsert((token,), block, || Fee { token, ..Default::default() });
                row.owed = 0;
                row.block_number = block;
            }
            E::BondSlashed(e) => self.slash(e, at),
            E::DisputeOpened(e) => {
                let lease_id = number(e.leaseId);
                *self.disputes.upsert((lease_id,), block, || Dispute {
                    lease_id,
                    tenant_bond: 0,
                    deadline: 0,
                    status: DisputeStatus::Open,
                    evidence_uri: String::new(),
                    slash_bps: 0,
                    block_number: block,
                }) = Dispute {
                    lease_id,
                    tenant_bond: amount(e.tenantBond),
                    deadline: number(e.deadline),
                    status: DisputeStatus::Open,
                    evidence_uri: e.evidenceURI.clone(),
                    slash_bps: 0,
                    block_number: block,
                };
                if e.evidenceURI.starts_with(openlease_client::check::WRONG_ANSWER_EVIDENCE)
                    && let Some(provider) = self.leases.get(&(lease_id,)).map(|l| l.provider)
                {
                    if let Some(p) = self.provider_mut(provider, block) {
                        p.answers_contested += 1;
                    }
                    self.day_mut(provider, at).answers_contested += 1;
                }
            }
            E::DisputeRuled(e) => {
                let id = number(e.leaseId);
                let Some(lease) = self.leases.get(&(id,)).cloned() else { return };
                let Some(dispute) = self.disputes.change((id,), block) else { return };
                dispute.status = if e.upheld { DisputeStatus::Upheld } else { DisputeStatus::Rejected };
                dispute.slash_bps = number(e.slashBps);
                dispute.block_number = block;
                let bond = dispute.tenant_bond;
                let winner = if e.upheld { lease.tenant } else { lease.provider };
                self.credit(winner, lease.token, bond, block);
                if let Some(p) = self.provider_mut(lease.provider, block) {
                    if e.upheld { p.disputes_lost += 1 } else { p.disputes_won += 1 }
                }
                let day = self.day_mut(lease.provider, at);
                if e.upheld { day.disputes_lost += 1 } else { day.disputes_won += 1 }
            }
            E::DisputeExpired(e) => {
                let id = number(e.leaseId);
                let Some(lease) = self.leases.get(&(id,)).cloned() else { return };
                let Some(dispute) = self.disputes.change((id,), block) else { return };
                dispute.status = DisputeStatus::Expired;
                dispute.block_number = block;
                let bond = dispute.tenant_bond;
                // A tenant in arrears (evicted, or a demand unanswered) forfeits its bond to the
                // provider: a dispute is no free way to stall an eviction.
                let to = if e.toProvider { lease.provider } else { lease.tenant };
                self.credit(to, lease.token, bond, block);
            }
            E::ParamsAccepted(e) => {
                if let Some(offer) = self.offer_mut(number(e.offerId), block) {
                    offer.params_version = number(e.version);
                }
            }
            E::ParamsScheduled(e) => {
                let version = number(e.version);
                let p = &e.params;
                *self.params_versions.upsert((version,), block, ParamsVersion::default) = ParamsVersion {
                    version,
                    effective_at: number(e.effectiveAt),
                    protocol_fee_bps: p.protocolFeeBps.into(),
                    settlement_window: p.settlementWindow.into(),
                    bond_bps: p.bondBps.into(),
                    slash_cut_bps: p.slashCutBps.into(),
                    max_dispute_slash_bps: p.maxDisputeSlashBps.into(),
                    dispute_bond_bps: p.disputeBondBps.into(),
                    dispute_period: p.disputePeriod.into(),
                    unbonding_period: p.unbondingPeriod.into(),
                    arbiter: p.arbiter,
                    block_number: block,
                };
            }
            E::TokenAllowed(e) => {
                let token = e.token;
                let decimals = self.decimals.get(&token).copied();
                let row = self.tokens.upsert((token,), block, || Token {
                    token,
                    decimals: u64::from(VALUE_DECIMALS),
                    ..Default::default()
                });
                row.allowed = e.allowed;
                if let Some(decimals) = decimals {
                    row.decimals = decimals.into();
                }
                row.block_number = block;
            }
            E::TreasuryUpdated(e) => self.governance_mut(block).treasury = e.treasury,
            E::OwnershipTransferred(e) => self.governance_mut(block).owner = e.newOwner,
            E::Paused(_) | E::Unpaused(_) => self.governance_mut(block).paused = matches!(event, E::Paused(_)),
            // Recorded in the event log only: they change nothing the mirror keeps.
            E::SettlementSkipped(_) | E::OwnershipTransferStarted(_) | E::EIP712DomainChanged(_) => {}
        }
    }

    /// Decays the reputation of `providers` to `at` (the first block of a day).
    pub fn refresh_reputations(&mut self, providers: &[Address], at: EventPosition) {
        for provider in providers {
            if let Some(p) = self.provider_mut(*provider, at.block) {
                p.decay_to(at.timestamp);
                p.reputation_bps = reputation_bps(p.decayed_paid, p.decayed_accruable, p.decayed_slashed);
            }
        }
    }

    fn open_lease(&mut self, e: &Openlease::LeaseOpened, at: EventPosition) {
        let block = at.block;
        let lease_id = number(e.leaseId);
        let t = &e.terms;
        let version = u64::from(t.paramsVersion);
        let settlement_window = self.params_versions.get(&(version,)).map(|v| v.settlement_window);
        let Some(offer) = self.offer_mut(number(e.offerId), block) else { return };
        offer.active_leases += 1;
        let (provider, token) = (offer.provider, offer.token);
        let lease = Lease {
            lease_id,
            offer_id: number(e.offerId),
            tenant: t.tenant,
            provider,
            token,
            started_at: t.startedAt.into(),
            ends_at: t.endsAt.into(),
            deposit: t.deposit.to(),
            settled: t.settled.to(),
            price_per_second: t.pricePerSecond,
            params_version: version,
            settlement_window: settlement_window.unwrap_or_default(),
            bond: t.bond.to(),
            notice_period: t.noticePeriod.into(),
            min_ends_at: t.minEndsAt.into(),
            status: LeaseStatus::Open,
            closed_by: Address::ZERO,
            terminated: false,
            evicted: false,
            demand_due: 0,
            demanded_at: 0,
            evictable_at: 0,
            remedies_until: 0,
            failed_over_to: 0,
            settlement_count: 0,
            stopped_at: 0,
            block_number: block,
        };
        self.stake_mut(provider, token, block).locked += lease.bond;
        let slot = self.leases.upsert((lease_id,), block, || lease.clone());
        *slot = lease;
        if let Some(p) = self.provider_mut(provider, block) {
            p.leases_opened += 1;
        }
        self.day_mut(provider, at).leases_opened += 1;
    }

    fn finalize(&mut self, e: &Openlease::LeaseFinalized, at: EventPosition) {
        let block = at.block;
        let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
        // An evicted lease freed its offer's capacity when it was evicted.
        let held_capacity = lease.is_open();
        lease.status = LeaseStatus::Finalized;
        lease.bond = 0;
        let lease = lease.clone();
        if held_capacity && let Some(offer) = self.offer_mut(lease.offer_id, block) {
            offer.active_leases = offer.active_leases.saturating_sub(1);
        }
        let stake = self.stake_mut(lease.provider, lease.token, block);
        stake.locked = stake.locked.saturating_sub(amount(e.bondReleased));
        self.credit(lease.tenant, lease.token, amount(e.refund), block);
        self.owe_fee(lease.token, amount(e.fee), block);

        // The lease's delivery, by the tenant's own money: what it paid against what accrued. An
        // eviction is the tenant's failure to pay, not the provider's failure to serve: it counts
        // as delivered what was paid.
        let paid = self.value(lease.token, lease.settled);
        let accruable = if lease.evicted { paid } else { self.value(lease.token, lease.accruable()).max(paid) };
        let ended_otherwise = lease.terminated || lease.evicted || lease.failed_over_to != 0;
        let closed_early = !ended_otherwise && lease.closed_by == lease.tenant;
        let completed = !ended_otherwise && !closed_early;
        if let Some(p) = self.provider_mut(lease.provider, block) {
            p.leases_completed += u64::from(completed);
            p.leases_closed_early += u64::from(closed_early);
            p.paid += paid;
            p.accruable += accruable;
            p.decay_to(at.timestamp);
            p.decayed_paid += paid as f64;
            p.decayed_accruable += accruable as f64;
            p.reputation_bps = reputation_bps(p.decayed_paid, p.decayed_accruable, p.decayed_slashed);
        }
        let day = self.day_mut(lease.provider, at);
        day.leases_completed += u64::from(completed);
        day.leases_closed_early += u64::from(closed_early);
        day.paid += paid;
        day.accruable += accruable;
    }

    fn settle(&mut self, e: &Openlease::LeaseSettled, at: EventPosition) {
        let block = at.block;
        let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
        let (paid, fee) = (amount(e.paid), amount(e.fee));
        lease.settled = amount(e.settled);
        lease.settlement_count += 1;
        let (tenant, provider, token) = (lease.tenant, lease.provider, lease.token);
        // A session signer's authorization is the one for the lease's provider.
        if e.signer != tenant {
            self.signer_mut(tenant, e.signer, provider, block).spent += paid;
        }
        let earned = paid.saturating_sub(fee);
        self.credit(provider, token, earned, block);
        let earned = self.value(token, earned);
        if let Some(p) = self.provider_mut(provider, block) {
            p.total_earned += earned;
        }
        self.day_mut(provider, at).earned += earned;
    }

    /// The provider evicted a lease over an unanswered payment demand. It stops running at
    /// `endsAt` and frees its offer's capacity at once; the hold charge is settled to the provider
    /// (its fee stays in the lease until it is finalized, like a receipt's); the escrow no receipt
    /// can claim is refunded at once. The bond stays locked until the finalization, which may come
    /// after `remediesUntil`.
    fn evict(&mut self, e: &Openlease::LeaseEvicted, at: EventPosition) {
        let block = at.block;
        let id = number(e.leaseId);
        let Some(version) = self.leases.get(&(id,)).map(|l| l.params_version) else { return };
        let fee_bps = self.params_versions.get(&(version,)).map_or(0, |v| u128::from(v.protocol_fee_bps));
        let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
        let (hold_charge, settled, refund) = (amount(e.holdCharge), amount(e.settled), amount(e.refund));
        let fee = fee(settled, fee_bps).saturating_sub(fee(lease.settled, fee_bps));
        lease.ends_at = number(e.endsAt);
        lease.settled = settled;
        lease.deposit = lease.deposit.saturating_sub(refund);
        lease.status = LeaseStatus::Evicted;
        lease.evicted = true;
        lease.remedies_until = number(e.remediesUntil);
        let (tenant, provider, token, offer_id) = (lease.tenant, lease.provider, lease.token, lease.offer_id);
        if let Some(offer) = self.offer_mut(offer_id, block) {
            offer.active_leases = offer.active_leases.saturating_sub(1);
        }
        self.credit(tenant, token, refund, block);
        let earned = hold_charge.saturating_sub(fee);
        self.credit(provider, token, earned, block);
        let earned = self.value(token, earned);
        if let Some(p) = self.provider_mut(provider, block) {
            p.leases_evicted += 1;
            p.total_earned += earned;
        }
        let day = self.day_mut(provider, at);
        day.leases_evicted += 1;
        day.earned += earned;
    }

    fn slash(&mut self, e: &Openlease::BondSlashed, at: EventPosition) {
        let block = at.block;
        let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
        let (slashed, cut) = (amount(e.amount), amount(e.protocolCut));
        lease.bond = lease.bond.saturating_sub(slashed);
        // A proven fault (equivocation, a wrong answer) ends the lease at once; the event leaves
        // that to the block's timestamp.
        let proven = [SlashReason::Equivocation as u8, SlashReason::WrongAnswer as u8].contains(&e.reason);
        if proven && at.timestamp < lease.lease_end() {
            lease.ends_at = at.timestamp;
        }
        let (tenant, provider, token) = (lease.tenant, lease.provider, lease.token);
        let stake = self.stake_mut(provider, token, block);
        stake.locked = stake.locked.saturating_sub(slashed);
        stake.staked = stake.staked.saturating_sub(slashed);
        let compensation = slashed.saturating_sub(cut);
        self.credit(tenant, token, compensation, block);
        self.owe_fee(token, cut, block);
        let (slashed, compensation) = (self.value(token, slashed), self.value(token, compensation));
        let wrong_answer = u64::from(e.reason == SlashReason::WrongAnswer as u8);
        if let Some(p) = self.provider_mut(provider, block) {
            p.slashes += 1;
            p.wrong_answers += wrong_answer;
            p.slashed_amount += slashed;
            p.compensation += compensation;
            p.decay_to(at.timestamp);
            p.decayed_slashed += slashed as f64;
            p.reputation_bps = reputation_bps(p.decayed_paid, p.decayed_accruable, p.decayed_slashed);
        }
        let day = self.day_mut(provider, at);
        day.slashes += 1;
        day.wrong_answers += wrong_answer;
        day.slashed_amount += slashed;
        day.compensation += compensation;
    }
}

impl Provider {
    /// Decays the sums reputation v2 is made of to `timestamp`.
    pub fn decay_to(&mut self, timestamp: u64) {
        if timestamp > self.decayed_at {
            let factor = 0.5f64.powf((timestamp - self.decayed_at) as f64 / HALF_LIFE_SECS);
            self.decayed_paid *= factor;
            self.decayed_accruable *= factor;
            self.decayed_slashed *= factor;
        }
        self.decayed_at = self.decayed_at.max(timestamp);
    }

    /// What tenants paid against what accrued on its finished leases, decayed; `None` before any.
    pub fn delivered_ratio(&self) -> Option<f64> {
        (self.decayed_accruable > 0.0).then(|| (self.decayed_paid / self.decayed_accruable).min(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::{reputation_bps, value};

    #[test]
    fn amounts_of_any_decimals_count_alike() {
        assert_eq!(value(12_500_000, 6), 12_500_000, "12.5 USDC");
        assert_eq!(value(12_500_000_000_000_000_000, 18), 12_500_000, "12.5 DAI");
        assert_eq!(value(1_250, 2), 12_500_000, "12.5 of a 2-decimal token");
        assert_eq!(value(u128::MAX, 0), u128::MAX, "saturates rather than wraps");
    }

    #[test]
    fn a_newcomer_starts_neutral_and_history_moves_it() {
        assert_eq!(reputation_bps(0.0, 0.0, 0.0), 5_000);
        assert!(reputation_bps(1e9, 1e9, 0.0) > 9_000, "a thousand paid in full");
        assert!(reputation_bps(0.0, 1e9, 0.0) < 1_000, "a thousand accrued, nothing paid");
        assert!(reputation_bps(1e9, 1e9, 1e9) < reputation_bps(1e9, 1e9, 0.0), "a slash counts against");
    }
}
