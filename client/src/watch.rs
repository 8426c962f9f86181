//! The provider's settlement watcher: follows the market for what puts its receipts at risk and
//! settles before value is lost.
//!
//! A receipt only pays while its lease is inside its settlement window and its session signer is
//! neither expired nor revoked. [`SettlementWatcher::poll`] reads the market's events since the
//! last poll and settles, in one batch, the newest receipt of every lease in the
//! [`ReceiptBook`] that is due:
//! - the tenant (or the provider) gave notice, or the provider terminated: settle now, and once
//!   more when the lease has ended;
//! - the lease has ended: nothing more accrues, so its newest receipt is final;
//! - the settlement deadline, or the signer's expiry, is less than the margin away.
//!
//! It also raises [`WatchAlert`]s for what it cannot repair: a revoked signer strands the
//! unsettled value of its receipts (the reason [`crate::Client::ensure_can_serve`] caps
//! exposure), and a finalized lease can no longer be settled at all.

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

/// Something the provider should know that settling cannot fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchAlert {
    /// Notice was given on a lease: it ends at `ends_at`.
    LeaseClosing {
        /// The lease.
        lease_id: U256,
        /// Who gave notice: the tenant or the provider.
        by: Address,
        /// When it ends.
        ends_at: u64,
    },
    /// The provider ended a lease without notice; its bond went to the tenant.
    LeaseTerminated {
        /// The lease.
        lease_id: U256,
        /// When it ended.
        ends_at: u64,
    },
    /// The tenant revoked a signer the book holds receipts of: they no longer settle. Stop
    /// serving on that signer's word.
    SignerRevoked {
        /// The tenant.
        tenant: Address,
        /// The revoked signer.
        signer: Address,
        /// The leases whose newest receipt it signed.
        leases: Vec<U256>,
        /// What those receipts were owed beyond what was settled, now lost.
        stranded: U256,
    },
    /// The market refused a receipt the watcher settled (the result says why). It is not tried
    /// again; a newer receipt of the lease is.
    SettlementRefused {
        /// The lease.
        lease_id: U256,
        /// The receipt's cumulative amount.
        cumulative_amount: U256,
        /// Why the market paid nothing.
        result: SettlementResult,
    },
    /// A lease was finalized: whatever was not settled is refunded to the tenant. The book
    /// forgets it.
    LeaseFinalized {
        /// The lease.
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
    /// Its settlement deadline is less than the margin away.
    SettlementDeadline,
    /// Its signer's authorization expires in less than the margin.
    SignerExpiry,
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
    /// Each lease's tenant, read once.
    tenants: HashMap<U256, Address>,
    /// Receipts (lease, cumulative amount) the market refused: not sent again.
    refused: BTreeSet<(U256, U256)>,
}

impl<P: Provider + Clone> SettlementWatcher<P> {
    /// A watcher for `client`'s provider, reading events from `from_block` on and settling when a
    /// deadline is less than `margin` seconds away.
    pub fn new(client: Client<P>, from_block: u64, margin: u64) -> Self {
        Self { client, next_block: from_block, margin, closing: BTreeSet::new(), tenants: HashMap::new(), refused: BTreeSet::new() }
    }

    /// Reads the market's events up to the head, then settles in one batch every lease of `book`
    /// that is due. Safe to call again after an error: events are read again from where the
    /// last successful poll stopped.
    pub async fn poll(&mut self, book: &mut ReceiptBook) -> Result<WatchReport> {
        let head = self.client.provider().get_block_number().await?;
        let mut report = WatchReport { through_block: head, ..WatchReport::default() };
        let mut from = self.next_block;
        while from <= head {
            let to = head.min(from + LOG_RANGE - 1);
            self.read_events(book, from, to, &mut report).await?;
            from = to + 1;
        }
        self.next_block = head + 1;
        self.settle_due(book, &mut report).await?;
        Ok(report)
    }

    async fn read_events(&mut self, book: &mut ReceiptBook, from: u64, to: u64, report: &mut WatchReport) -> Result<()> {
        let filter = Filter::new()
            .address(self.client.manifest().market())
            .event_signature(vec![
                Openlease::LeaseClosed::SIGNATURE_HASH,
                Openlease::LeaseTerminated::SIGNATURE_HASH,
                Openlease::LeaseFinalized::SIGNATURE_HASH,
                Openlease::SignerRevoked::SIGNATURE_HASH,
            ])
            .from_block(from)
            .to_block(to);
        for log in self.client.provider().get_logs(&filter).await? {
            let Ok(event) = OpenleaseEvents::decode_log(&log.inner) else { continue };
            match event.data {
                OpenleaseEvents::LeaseClosed(e) if book.has_lease(e.leaseId) => {
                    self.closing.insert(e.leaseId);
                    report.alerts.push(WatchAlert::LeaseClosing {
                        lease_id: e.leaseId,
                        by: e.by,
                        ends_at: e.endsAt.saturating_to(),
                    });
                }
                OpenleaseEvents::LeaseTerminated(e) if book.has_lease(e.leaseId) => {
                    self.closing.insert(e.leaseId);
                    report
                        .alerts
                        .push(WatchAlert::LeaseTerminated { lease_id: e.leaseId, ends_at: e.endsAt.saturating_to() });
                }
                OpenleaseEvents::LeaseFinalized(e) if book.has_lease(e.leaseId) => {
                    let stranded = book.unsettled(e.leaseId);
                    book.forget(e.leaseId);
                    self.closing.remove(&e.leaseId);
                    self.tenants.remove(&e.leaseId);
                    report.alerts.push(WatchAlert::LeaseFinalized { lease_id: e.leaseId, stranded });
                }
                OpenleaseEvents::SignerRevoked(e) => {
                    let mut leases = Vec::new();
                    let mut stranded = U256::ZERO;
                    for lease_id in book.leases().collect::<Vec<_>>() {
                        let signed_by_it = book.newest(lease_id).is_some_and(|r| r.signer == e.signer);
                        if signed_by_it && self.tenant(lease_id).await? == e.tenant {
                            leases.push(lease_id);
                            stranded += book.unsettled(lease_id);
                        }
                    }
                    if !leases.is_empty() {
                        leases.sort();
                        report.alerts.push(WatchAlert::SignerRevoked {
                            tenant: e.tenant,
                            signer: e.signer,
                            leases,
                            stranded,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(())
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
        if self.closing.contains(&lease_id) {
            return Ok(Some(DueReason::Closing));
        }
        let market = self.client.market();
        let end = market.leaseEnd(lease_id).call().await?.saturating_to::<u64>();
        if now >= end {
            return Ok(Some(DueReason::Ended));
        }
        let deadline = market.settlementDeadline(lease_id).call().await?.saturating_to::<u64>();
        if now.saturating_add(self.margin) >= deadline {
            return Ok(Some(DueReason::SettlementDeadline));
        }
        let tenant = self.tenant(lease_id).await?;
        if signer != tenant {
            let terms = self.client.session_signer(tenant, signer).await?;
            if terms.expires_at != 0 && now.saturating_add(self.margin) >= terms.expires_at {
                return Ok(Some(DueReason::SignerExpiry));
            }
        }
        Ok(None)
    }

    async fn settle_due(&mut self, book: &mut ReceiptBook, report: &mut WatchReport) -> Result<()> {
        let now = self.client.now().await?;
        let mut due = Vec::new();
        for receipt in book.to_settle() {
            let lease_id = receipt.receipt.leaseId;
            if self.refused.contains(&(lease_id, receipt.receipt.cumulativeAmount)) {
                continue;
            }
            if let Some(reason) = self.due(lease_id, receipt.signer, now).await? {
                due.push((reason, receipt));
            }
        }
        if due.is_empty() {
            return Ok(());
        }
        let sent: HashMap<U256, (DueReason, U256)> =
            due.iter().map(|(r, s)| (s.receipt.leaseId, (*r, s.receipt.cumulativeAmount))).collect();
        let outcomes = self.client.settle_batch(due.into_iter().map(|(_, r)| r).collect()).await?;
        for outcome in outcomes {
            let (reason, cumulative_amount) = sent[&outcome.lease_id];
            if outcome.is_settled() {
                let settled = U256::from(self.client.lease(outcome.lease_id).await?.settled);
                book.mark_settled(outcome.lease_id, settled);
            } else {
                self.refused.insert((outcome.lease_id, cumulative_amount));
                report.alerts.push(WatchAlert::SettlementRefused {
                    lease_id: outcome.lease_id,
                    cumulative_amount,
                    result: outcome.result,
                });
            }
            // A closing lease is settled again once it has ended (then as `Ended`).
            if outcome.is_settled() {
                if reason == DueReason::Closing {
                    self.closing.remove(&outcome.lease_id);
                }
                report.settled.push((reason, outcome));
            }
        }
        Ok(())
    }
}
