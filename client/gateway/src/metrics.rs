//! What `/openlease/metrics` shows, in Prometheus' text format: requests served and refused (by
//! reason), receipts accepted, and the unsettled value of each lease (raw token units).

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use alloy::primitives::U256;

/// The gateway's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub served: AtomicU64,
    pub receipts: AtomicU64,
    /// Book rows skipped at start: their lease is unknown to the node (another chain or market,
    /// a node behind, a reorg that dropped it). Kept in the book, never served or settled.
    pub unknown_book_leases: AtomicU64,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    unsettled: Mutex<Vec<(U256, U256)>>,
}

impl Metrics {
    pub(crate) fn refuse(&self, code: &'static str) {
        *self.refused.lock().expect("metrics lock").entry(code).or_default() += 1;
    }

    pub(crate) fn set_unsettled(&self, leases: Vec<(U256, U256)>) {
        *self.unsettled.lock().expect("metrics lock") = leases;
    }

    /// Requests refused for `code` so far.
    pub fn refused(&self, code: &str) -> u64 {
        self.refused.lock().expect("metrics lock").get(code).copied().unwrap_or(0)
    }

    /// The text `/openlease/metrics` answers.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE openlease_gateway_requests_served_total counter");
        let _ = writeln!(out, "openlease_gateway_requests_served_total {}", self.served.load(Ordering::Relaxed));
        let _ = writeln!(out, "# TYPE openlease_gateway_requests_refused_total counter");
        for (code, n) in self.refused.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "openlease_gateway_requests_refused_total{{reason=\"{code}\"}} {n}");
        }
        let _ = writeln!(out, "# TYPE openlease_gateway_receipts_total counter");
        let _ = writeln!(out, "openlease_gateway_receipts_total {}", self.receipts.load(Ordering::Relaxed));
        let _ = writeln!(out, "# TYPE openlease_gateway_book_unknown_leases gauge");
        let _ =
            writeln!(out, "openlease_gateway_book_unknown_leases {}", self.unknown_book_leases.load(Ordering::Relaxed));
        let _ = writeln!(out, "# TYPE openlease_gateway_unsettled gauge");
        for (lease, value) in self.unsettled.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "openlease_gateway_unsettled{{lease=\"{lease}\"}} {value}");
        }
        out
    }
}
