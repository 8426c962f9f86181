//! Sampled checks: a session re-runs a share of the answers it gets on a referee (a second provider
//! or the cloud fallback) and compares the two with the workload's comparator. A provider wrong on
//! a share `f` of its answers is caught, with a sampled share `s`, within
//! `ln(0.01) / ln(1 - s·f)` answers with 99% probability ([`answers_to_catch`]): about 920 at
//! s = 5%, f = 10%. The checks cost `s` times the price of the answers checked, in referee requests.
//!
//! A mismatch is evidence only with the provider's attestation of its answer (see
//! [`crate::attestation`]): the session keeps both answers, leaves the provider (failover), and
//! acts on the lease it left: `slashWrongAnswer` when its offer named a verifier that rejects the
//! answer (no arbiter), else a dispute for the lease's arbiter.
//!
//! Whether checks are on or not, a session keeps the attestations of the answers it gets: two
//! different ones with one sequence are an [`Equivocation`], which the market slashes on the
//! evidence alone (`slashEquivocation`), and the session leaves that provider too.

use std::sync::Arc;

use alloy::primitives::{Address, B256, U256};

use crate::{SignedAnswer, session::Call};

/// How a dispute's evidence URI begins when a check contested an answer:
/// `openlease:wrong-answer:<sequence>:<response digest>` (the attestation's).
pub const WRONG_ANSWER_EVIDENCE: &str = "openlease:wrong-answer:";

/// Whether two answers to `call` agree: the provider's first, the referee's second.
pub type Comparator = Arc<dyn Fn(&Call, &[u8], &[u8]) -> bool + Send + Sync>;

/// Byte for byte: the comparator of deterministic workloads (the demo's `/work/N` and its chat).
pub fn exact() -> Comparator {
    Arc::new(|_, provider, referee| provider == referee)
}

/// How a session checks the answers it gets.
#[derive(Clone)]
pub struct Checks {
    /// The share of answered requests re-run on the referee, 0 to 1.
    pub share: f64,
    /// The referee's base URL: a service answering the same workload that the tenant trusts.
    pub referee: String,
    pub comparator: Comparator,
    /// What one referee request costs (raw units of the lease's token), for the report.
    pub cost_per_check: U256,
    /// Dispute a contested answer when the lease's offer names no verifier (costs the dispute
    /// bond; the arbiter rules on the evidence).
    pub dispute: bool,
}

impl std::fmt::Debug for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checks")
            .field("share", &self.share)
            .field("referee", &self.referee)
            .field("cost_per_check", &self.cost_per_check)
            .field("dispute", &self.dispute)
            .finish_non_exhaustive()
    }
}

/// What became of a contested answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContestOutcome {
    /// Slashed on chain (by the lease's verifier, or as equivocation), in this transaction: the
    /// tenant was paid the bond.
    Slashed { tx: B256 },
    /// Disputed before the lease's arbiter.
    Disputed,
    /// Kept as evidence only (no verifier, disputes off, or the action failed: see the log).
    Kept,
}

/// An answer a check contested, with everything needed to prove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contested {
    pub provider: Address,
    pub lease_id: U256,
    /// The request as attested (`METHOD SP path-and-query LF body`).
    pub request: Vec<u8>,
    pub response: Vec<u8>,
    /// The provider's attestation of `response` to `request`.
    pub attestation: SignedAnswer,
    pub referee_response: Vec<u8>,
    pub outcome: ContestOutcome,
}

/// Two different answers the provider attested with one sequence: its own signatures prove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    pub provider: Address,
    pub lease_id: U256,
    /// The attestation kept first, and the one that repeated its sequence.
    pub first: SignedAnswer,
    pub second: SignedAnswer,
    /// `Slashed` by `slashEquivocation`, or `Kept` if that failed (see the log).
    pub outcome: ContestOutcome,
}

/// The checks of a session so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Answers re-run on the referee and compared.
    pub checked: u64,
    pub agreed: u64,
    pub contested: u64,
    /// Provider answers without a valid attestation of themselves (not provable either way),
    /// checked or not.
    pub unattested: u64,
    /// Checks the referee could not answer (not counted as checked).
    pub referee_failed: u64,
    /// What the referee requests cost.
    pub cost: U256,
    pub evidence: Vec<Contested>,
    /// Sequences the provider attested twice, differently.
    pub equivocations: Vec<Equivocation>,
    /// The newest valid attestations of the answers the session got, checked or not (at most
    /// [`KEPT_ATTESTATIONS`]).
    pub attestations: std::collections::VecDeque<SignedAnswer>,
}

impl CheckReport {
    /// Adds `other`'s counts and evidence: several sessions' checks as one.
    pub fn merge(&mut self, other: &CheckReport) {
        self.checked += other.checked;
        self.agreed += other.agreed;
        self.contested += other.contested;
        self.unattested += other.unattested;
        self.referee_failed += other.referee_failed;
        self.cost += other.cost;
        self.evidence.extend(other.evidence.iter().cloned());
        self.equivocations.extend(other.equivocations.iter().cloned());
        self.attestations.extend(other.attestations.iter().cloned());
    }
}

/// Attestations a session keeps, the newest.
pub const KEPT_ATTESTATIONS: usize = 4_096;

/// Answers within which a provider wrong on a share `wrong` of them is caught with probability
/// `confidence` when a share `sampled` is checked: `ln(1 - confidence) / ln(1 - sampled·wrong)`.
pub fn answers_to_catch(sampled: f64, wrong: f64, confidence: f64) -> f64 {
    (1.0 - confidence).ln() / (1.0 - sampled * wrong).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issues_figure() {
        let n = answers_to_catch(0.05, 0.10, 0.99);
        assert!((918.0..=920.0).contains(&n), "{n}");
        assert!(exact()(&Call::get("/"), b"a", b"a"));
        assert!(!exact()(&Call::get("/"), b"a", b"b"));
    }
}
