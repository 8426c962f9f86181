//! Where a lease stands, in the marketplace's words: one rule and one set of words for the CLI,
//! the indexer's API and the console, so that the same lease never reads "open" in one and
//! "ended, awaiting finalization" in another.

use crate::LeaseStatus;

/// A lease's phase at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeasePhase {
    /// It runs and no one gave notice.
    Running,
    /// It runs until the end its notice set (the tenant's, the provider's, or a failover's).
    NoticeGiven,
    /// The provider demanded payment of arrears and the tenant has not answered: the provider may
    /// evict it from the demand's deadline on.
    PaymentDemanded,
    /// It stopped running; the provider may still settle its receipts.
    SettlementWindowOpen,
    /// Its settlement window closed: anyone may finalize it, which refunds the tenant's rest.
    AwaitingFinalization,
    /// Its provider evicted it over an unanswered payment demand.
    Evicted,
    /// Finalized: its escrow is paid out and refunded.
    Finalized,
}

/// What the phase of a lease follows from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseFacts {
    pub status: LeaseStatus,
    /// The instant asked about (a block's time).
    pub now: u64,
    /// When it stops running (`LeaseMath.runEnd`).
    pub run_end: u64,
    /// Until when its receipts can be settled.
    pub settlement_deadline: u64,
    /// Someone gave notice (a failover gives the tenant's).
    pub notice_given: bool,
    /// A payment demand stands unanswered.
    pub demand_unanswered: bool,
}

impl LeasePhase {
    /// The phase the facts put a lease in.
    pub fn of(f: PhaseFacts) -> Self {
        match f.status {
            LeaseStatus::Finalized => Self::Finalized,
            LeaseStatus::Evicted => Self::Evicted,
            _ if f.demand_unanswered => Self::PaymentDemanded,
            _ if f.now < f.run_end && f.notice_given => Self::NoticeGiven,
            _ if f.now < f.run_end => Self::Running,
            _ if f.now < f.settlement_deadline => Self::SettlementWindowOpen,
            _ => Self::AwaitingFinalization,
        }
    }

    /// Its words.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::NoticeGiven => "notice given",
            Self::PaymentDemanded => "payment demanded",
            Self::SettlementWindowOpen => "ended, settlement window open",
            Self::AwaitingFinalization => "ended, awaiting finalization",
            Self::Evicted => "evicted",
            Self::Finalized => "finalized",
        }
    }

    /// Every phase, in the order a lease can pass through them.
    pub const ALL: [Self; 7] = [
        Self::Running,
        Self::NoticeGiven,
        Self::PaymentDemanded,
        Self::SettlementWindowOpen,
        Self::AwaitingFinalization,
        Self::Evicted,
        Self::Finalized,
    ];
}

impl std::fmt::Display for LeasePhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for LeasePhase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_passes_through_its_phases_in_order() {
        let facts = |status, now, notice_given, demand_unanswered| PhaseFacts {
            status,
            now,
            run_end: 100,
            settlement_deadline: 200,
            notice_given,
            demand_unanswered,
        };
        let open = LeaseStatus::Open;
        assert_eq!(LeasePhase::of(facts(open, 50, false, false)), LeasePhase::Running);
        assert_eq!(LeasePhase::of(facts(open, 50, true, false)), LeasePhase::NoticeGiven);
        assert_eq!(LeasePhase::of(facts(open, 50, true, true)), LeasePhase::PaymentDemanded);
        assert_eq!(LeasePhase::of(facts(open, 100, true, false)), LeasePhase::SettlementWindowOpen);
        assert_eq!(LeasePhase::of(facts(open, 200, false, false)), LeasePhase::AwaitingFinalization);
        assert_eq!(LeasePhase::of(facts(LeaseStatus::Evicted, 50, false, true)), LeasePhase::Evicted);
        assert_eq!(LeasePhase::of(facts(LeaseStatus::Finalized, 50, false, false)), LeasePhase::Finalized);
        let words: std::collections::HashSet<_> = LeasePhase::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(words.len(), LeasePhase::ALL.len(), "each phase has words of its own");
    }
}
