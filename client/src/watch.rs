//! The provider's settlement watcher: follows the market for what puts its receipts at risk and
//! settles before value is lost.
//!
//! A receipt only pays while its lease is inside its settlement window, and only for service before
//! its session signer's expiry or revocation. [`SettlementWatcher::poll`] reads the market's events since the
//! last poll and settles, in one batch, the newest receipt of every lease in the
//! [`ReceiptBook`] that is due:
//! - the tenant (or the provider) gave notice, or the provider terminated: settle now, and once
//!   more when the lease has ended;
//! - the lease has ended: nothing more accrues, so its newest receipt is final (the settlement
//!   window, at least an hour, is still ahead);
//! - the signer's authorization expires in less than the margin, or the tenant revoked it: what
//!   was served before stays payable, so it is settled at once.
//!
//! It also raises [`WatchAlert`]s for what it cannot repair: a revoked signer strands the
//! receipts for service after the revocation (none that this provider's gateway accepted before
//! it), a finalized lease can no longer be settled at all, and a receipt the market
//! refused. A refusal the tenant can lift (an expired, revoked or capped signer; an exhausted
//! escrow) is retried after it re-authorizes the signer or tops the lease up; one that cannot
//! change is never sent again.

use std::collections::{BTreeSet, HashMap};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::{SolEvent, SolEventInterface},
};
use openlease_contracts::Openlease::{self, OpenleaseEvents};

use crate::{Client, Result, SettlementOutcome, SettlementResult, receipt::ReceiptBook};

/// Block ranges read per `eth_getLogs` call.
const LOG_RANGE: u64 = 5_000;
/// Receipts per `settleBatch`: well inside a block's gas.
const BATCH: usize = 100;
/// Blocks after which a settlement is taken as final. Until then the watcher checks that the
/// chain still has it: a reorg that drops the transaction makes the receipt owed again.
pub const CONFIRMATIONS: u64 = 12;

/// Something the provider should know that settling cannot fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchAlert {
    /// Notice was given on a lease: it ends at `ends_at`.
    LeaseClosing {
        lease_id: U256,
        /// Who gave notice: the tenant or the provider.
        by: Address,
        ends_at: u64,
    },
    /// The provider ended a lease without notice; its bond went to the tenant.
    LeaseTerminated {
        lease_id: U256,
        /// When it ended.
        ends_at: u64,
    },
    /// The tenant revoked a signer the book holds receipts of: its receipts for service before
    /// the revocation are settled now; none for service after it pays. Stop serving on its word.
    SignerRevoked {
        tenant: Address,
        /// The revoked signer.
        signer: Address,
        /// The leases whose newest receipt it signed.
        leases: Vec<U256>,
        /// What receipts for service after the revocation were owed beyond what was settled: lost.
        stranded: U256,
    },
    /// The market refused a receipt the watcher settled (the result says why). It is tried again
    /// only after something that can lift the refusal: the tenant re-authorizing the signer or
    /// topping the lease up; a newer receipt of the lease is always tried.
    SettlementRefused {
        lease_id: U256,
        /// The receipt's cumulative amount.
        cumulative_amount: U256,
        /// Why the market paid nothing.
        result: SettlementResult,
    },
    /// A lease was finalized: whatever was not settled is refunded to the tenant. The book
    /// forgets it.
    LeaseFinalized {
        lease_id: U256,
        /// What its newest receipt was owed beyond what was settled, now lost.
        stranded: U256,
    },
}

/// Why a lease's newest receipt was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueReason {
    /// Notice was given or the lease was terminated.
    Closing,
    /// The lease has ended; its newest receipt is final.
    Ended,
    /// Its signer's authorization expires in less than the margin, or was revoked.
    SignerExpiry,
    /// A reorg dropped its settlement: what it paid is owed again.
    Reorged,
}

/// What one [`SettlementWatcher::poll`] saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchReport {
    /// The last block read.
    pub through_block: u64,
    /// What settling cannot fix.
    pub alerts: Vec<WatchAlert>,
    /// Each lease settled, with why it was due and what it was paid.
    pub settled: Vec<(DueReason, SettlementOutcome)>,
}

/// Watches the market on behalf of one provider and settles its [`ReceiptBook`] before a
/// deadline, a close or an expiry costs it anything. Call [`Self::poll`] every few blocks.
#[derive(Debug)]
pub struct SettlementWatcher<P> {
    client: Client<P>,
    next_block: u64,
    margin: u64,
    /// Leases with notice given or terminated since they were last settled.
    closing: BTreeSet<U256>,
    /// Leases whose newest receipt's signer was revoked since they were last settled.
    revoked: BTreeSet<U256>,
    /// Each lease's tenant, read once.
    tenants: HashMap<U256, Address>,
    /// Receipts (lease, cumulative amount) the market refused, with its reason: not sent again
    /// unless an event lifts the reason.
    refused: HashMap<(U256, U256), SettlementResult>,
    /// Settlements not yet [`CONFIRMATIONS`] deep: (lease, its settled total after, the head then).
    unconfirmed: Vec<(U256, U256, u64)>,
    /// Leases whose settlement a reorg dropped, to settle again at once.
    reorged: BTreeSet<U256>,
    /// Alerts read but not yet returned: kept across a failed poll.
    pending: Vec<WatchAlert>,
}

impl<P: Provider + Clone> SettlementWatcher<P> {
    /// A watcher for `client`'s provider, reading events from `from_block` on and settling when a
    /// deadline is less than `margin` seconds away.
    pub fn new(client: Client<P>, from_block: u64, margin: u64) -> Self {
        Self {
            client,
            next_block: from_block,
            margin,
            closing: BTreeSet::new(),
            revoked: BTreeSet::new(),
            tenants: HashMap::new(),
            refused: HashMap::new(),
            unconfirmed: Vec::new(),
            reorged: BTreeSet::new(),
            pending: Vec::new(),
        }
    }

    /// Reads the market's events up to the head, then settles, in batches, every lease of `book`
    /// that is due. Safe to call again after an error: each block range is read exactly once,
    /// and the alerts raised before the error come with the next successful poll.
    pub async fn poll(&mut self, book: &mut ReceiptBook) -> Result<WatchReport> {
        let head = self.client.provider().get_block_number().await?;
        while self.next_block <= head {
            let to = head.min(self.next_block + LOG_RANGE - 1);
            self.read_events(book, self.next_block, to).await?;
            self.next_block = to + 1;
        }
        self.confirm(book, head).await?;
        let mut settled = Vec::new();
        self.settle_due(book, &mut settled).await?;
        Ok(WatchReport { through_block: head, alerts: std::mem::take(&mut self.pending), settled })
    }

    async fn read_events(&mut self, book: &mut ReceiptBook, from: u64, to: u64) -> Result<()> {
        let filter = Filter::new()
            .address(self.client.manifest().market())
            .event_signature(vec![
                Openlease::LeaseClosed::SIGNATURE_HASH,
                Openlease::LeaseTerminated::SIGNATURE_HASH,
                Openlease::LeaseFinalized::SIGNATURE_HASH,
                Openlease::SignerRevoked::SIGNATURE_HASH,
                Openlease::SignerAuthorized::SIGNATURE_HASH,
                Openlease::LeaseToppedUp::SIGNATURE_HASH,
            ])
            .from_block(from)
            .to_block(to);
        // Alerts and forgotten leases take effect once the whole range is read: a range that
        // fails halfway is read again, whole, by the next poll.
        let mut alerts = Vec::new();
        let mut finalized = Vec::new();
        for log in self.client.provider().get_logs(&filter).await? {
            let Ok(event) = OpenleaseEvents::decode_log(&log.inner) else { continue };
            match event.data {
                OpenleaseEvents::LeaseClosed(e) if book.has_lease(e.leaseId) => {
                    self.closing.insert(e.leaseId);
                    alerts.push(WatchAlert::LeaseClosing {
                        lease_id: e.leaseId,
                        by: e.by,
                        ends_at: e.endsAt.saturating_to(),
                    });
                }
                OpenleaseEvents::LeaseTerminated(e) if book.has_lease(e.leaseId) => {
                    self.closing.insert(e.leaseId);
                    alerts.push(WatchAlert::LeaseTerminated { lease_id: e.leaseId, ends_at: e.endsAt.saturating_to() });
                }
                OpenleaseEvents::LeaseFinalized(e) if book.has_lease(e.leaseId) => {
                    alerts
                        .push(WatchAlert::LeaseFinalized { lease_id: e.leaseId, stranded: book.unsettled(e.leaseId) });
                    finalized.push(e.leaseId);
                }
                OpenleaseEvents::SignerRevoked(e) if e.provider == self.client.address() => {
                    let leases = self.leases_signed_by(book, e.tenant, e.signer).await?;
                    if !leases.is_empty() {
                        let revoked_at = e.expiresAt.saturating_to::<u64>();
                        let stranded = leases
                            .iter()
                            .filter(|id| book.newest(**id).is_some_and(|r| r.receipt.periodEnd >= revoked_at))
                            .map(|id| book.unsettled(*id))
                            .fold(U256::ZERO, |a, b| a + b);
                        // What was served before the revocation is settled now, while it pays.
                        self.revoked.extend(leases.iter().copied());
                        alerts.push(WatchAlert::SignerRevoked { tenant: e.tenant, signer: e.signer, leases, stranded });
                    }
                }
                OpenleaseEvents::SignerAuthorized(e) if e.provider == self.client.address() => {
                    // The cap, the expiry and a revocation are all reset: signer refusals lift.
                    for lease_id in self.leases_signed_by(book, e.tenant, e.signer).await? {
                        self.refused.retain(|(id, _), result| *id != lease_id || !lifted_by_signer(*result));
                    }
                }
                OpenleaseEvents::LeaseToppedUp(e) if book.has_lease(e.leaseId) => {
                    self.refused
                        .retain(|(id, _), result| *id != e.leaseId || *result != SettlementResult::EscrowExhausted);
                }
                _ => {}
            }
        }
        for lease_id in finalized {
            book.forget(lease_id);
            self.closing.remove(&lease_id);
            self.revoked.remove(&lease_id);
            self.reorged.remove(&lease_id);
            self.unconfirmed.retain(|(id, _, _)| *id != lease_id);
            self.tenants.remove(&lease_id);
            self.refused.retain(|(id, _), _| *id != lease_id);
        }
        self.pending.extend(alerts);
        Ok(())
    }

    /// The leases of `book` whose newest receipt `tenant`'s `signer` signed, in id order.
    async fn leases_signed_by(&mut self, book: &ReceiptBook, tenant: Address, signer: Address) -> Result<Vec<U256>> {
        let mut leases = Vec::new();
        for lease_id in book.leases().collect::<Vec<_>>() {
            let signed_by_it = book.newest(lease_id).is_some_and(|r| r.signer == signer);
            if signed_by_it && self.tenant(lease_id).await? == tenant {
                leases.push(lease_id);
            }
        }
        leases.sort();
        Ok(leases)
    }

    async fn tenant(&mut self, lease_id: U256) -> Result<Address> {
        if let Some(tenant) = self.tenants.get(&lease_id) {
            return Ok(*tenant);
        }
        let tenant = self.client.lease(lease_id).await?.tenant;
        self.tenants.insert(lease_id, tenant);
        Ok(tenant)
    }

    /// Why the newest receipt of `lease_id` should be settled now, if it should.
    async fn due(&mut self, lease_id: U256, signer: Address, now: u64) -> Result<Option<DueReason>> {
        if self.reorged.contains(&lease_id) {
            return Ok(Some(DueReason::Reorged));
        }
        if self.closing.contains(&lease_id) {
            return Ok(Some(DueReason::Closing));
        }
        let end = self.client.market().leaseEnd(lease_id).call().await?.saturating_to::<u64>();
        if now >= end {
            return Ok(Some(DueReason::Ended));
        }
        if self.revoked.contains(&lease_id) {
            return Ok(Some(DueReason::SignerExpiry));
        }
        let tenant = self.tenant(lease_id).await?;
        if signer != tenant {
            let terms = self.client.session_signer(tenant, signer, self.client.address()).await?;
            if now.saturating_add(self.margin) >= terms.expires_at {
                return Ok(Some(DueReason::SignerExpiry));
            }
        }
        Ok(None)
    }

    /// Settles the newest receipt the book holds for `lease_id` now, if it is owed anything: what a
    /// provider does before it demands payment, so that no demand asks for what it holds.
    pub async fn settle_now(&mut self, book: &mut ReceiptBook, lease_id: U256) -> Result<Option<SettlementOutcome>> {
        if book.unsettled(lease_id).is_zero() {
            return Ok(None);
        }
        let Some(newest) = book.newest(lease_id).cloned() else { return Ok(None) };
        let outcome = self.client.settle_batch(vec![newest]).await?.remove(0);
        if outcome.is_settled() {
            self.settled(book, lease_id).await?;
        }
        Ok(Some(outcome))
    }

    /// Records a settlement of `lease_id` the chain shows now, to be confirmed.
    async fn settled(&mut self, book: &mut ReceiptBook, lease_id: U256) -> Result<()> {
        let settled = U256::from(self.client.lease(lease_id).await?.settled);
        let head = self.client.provider().get_block_number().await?;
        book.mark_settled(lease_id, settled);
        self.unconfirmed.retain(|(id, _, _)| *id != lease_id);
        self.unconfirmed.push((lease_id, settled, head));
        self.reorged.remove(&lease_id);
        Ok(())
    }

    /// Settlement is confirmed against the chain, not assumed from a send: a settlement the chain
    /// no longer shows (a reorg dropped it) makes its receipt owed again and due at once; one
    /// [`CONFIRMATIONS`] deep is final.
    async fn confirm(&mut self, book: &mut ReceiptBook, head: u64) -> Result<()> {
        let mut kept = Vec::with_capacity(self.unconfirmed.len());
        for (lease_id, settled, at) in std::mem::take(&mut self.unconfirmed) {
            if !book.has_lease(lease_id) {
                continue;
            }
            let on_chain = U256::from(self.client.lease(lease_id).await?.settled);
            if on_chain < settled {
                tracing::warn!(%lease_id, %settled, %on_chain, "a reorg dropped a settlement; settling again");
                book.resync(lease_id, on_chain);
                self.reorged.insert(lease_id);
            } else if head < at + CONFIRMATIONS {
                kept.push((lease_id, settled, at));
            }
        }
        self.unconfirmed = kept;
        Ok(())
    }

    async fn settle_due(
        &mut self,
        book: &mut ReceiptBook,
        settled: &mut Vec<(DueReason, SettlementOutcome)>,
    ) -> Result<()> {
        let now = self.client.now().await?;
        let mut due = Vec::new();
        for receipt in book.to_settle() {
            let lease_id = receipt.receipt.leaseId;
            if self.refused.contains_key(&(lease_id, receipt.receipt.cumulativeAmount)) {
                continue;
            }
            if let Some(reason) = self.due(lease_id, receipt.signer, now).await? {
                due.push((reason, receipt));
            }
        }
        for chunk in due.chunks(BATCH) {
            let outcomes = self.client.settle_batch(chunk.iter().map(|(_, r)| r.clone()).collect()).await?;
            // One outcome per receipt, in order (settle_batch checks the count).
            for ((reason, receipt), outcome) in chunk.iter().zip(outcomes) {
                let lease_id = receipt.receipt.leaseId;
                if outcome.is_settled() {
                    self.settled(book, lease_id).await?;
                    if *reason == DueReason::Closing {
                        // Settled again, as `Ended`, once the lease has ended.
                        self.closing.remove(&lease_id);
                    }
                    self.revoked.remove(&lease_id);
                    settled.push((*reason, outcome));
                } else if outcome.result != SettlementResult::NotYetAccrued {
                    // Not yet accrued pays later by itself; any other refusal waits for a lift.
                    let cumulative_amount = receipt.receipt.cumulativeAmount;
                    self.refused.insert((lease_id, cumulative_amount), outcome.result);
                    self.pending.push(WatchAlert::SettlementRefused {
                        lease_id,
                        cumulative_amount,
                        result: outcome.result,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Whether a re-authorization of the signer can make a receipt refused for `result` pay.
fn lifted_by_signer(result: SettlementResult) -> bool {
    matches!(
        result,
        SettlementResult::SignerNotAuthorized
            | SettlementResult::SignerExpired
            | SettlementResult::SignerRevoked
            | SettlementResult::SignerCapReached
    )
}
