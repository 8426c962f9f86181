//! Counters ingestion keeps and `/metrics` and `/health` read.

use std::{
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Instant,
};

use crate::chain::{RpcErrorClass, RpcStats};

/// Live figures of the writer, shared with the API.
#[derive(Debug)]
pub struct Metrics {
    /// Whether this instance is the writer (else a standby serving the writer's mirror).
    writer: AtomicBool,
    head: AtomicU64,
    /// When the node last told its head: how stale `head` (and so the lag) may be.
    head_seen: Mutex<Option<Instant>>,
    cursor: AtomicU64,
    events: AtomicU64,
    reorgs: AtomicU64,
    rpc_errors: [AtomicU64; 4],
    /// What the node connection's retries did.
    rpc: OnceLock<Arc<RpcStats>>,
    /// Events per second over the last window of about ten seconds.
    rate: Mutex<Rate>,
    /// Why ingestion stopped for good, and at which block the mirror stays: set when only an
    /// operator can go on (a reorg deeper than the window, a reset chain).
    stopped: Mutex<Option<Stopped>>,
    /// Alert deliveries since start: made, and attempts that failed.
    alerts_delivered: AtomicU64,
    alerts_failed_attempts: AtomicU64,
    /// Alerts waiting to be delivered, and the age of the oldest, seconds (the deliverer's view).
    alerts_pending: AtomicU64,
    alerts_oldest_pending_secs: AtomicU64,
}

/// Ingestion stopped until an operator acts; the mirror as of `at_block` is still served.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Stopped {
    pub at_block: u64,
    /// What happened and what to do.
    pub reason: String,
}

#[derive(Debug)]
struct Rate {
    since: Instant,
    events: u64,
    per_second: f64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            writer: AtomicBool::new(false),
            head: AtomicU64::new(0),
            head_seen: Mutex::new(None),
            cursor: AtomicU64::new(0),
            events: AtomicU64::new(0),
            reorgs: AtomicU64::new(0),
            rpc_errors: Default::default(),
            rpc: OnceLock::new(),
            rate: Mutex::new(Rate { since: Instant::now(), events: 0, per_second: 0.0 }),
            stopped: Mutex::new(None),
            alerts_delivered: AtomicU64::new(0),
            alerts_failed_attempts: AtomicU64::new(0),
            alerts_pending: AtomicU64::new(0),
            alerts_oldest_pending_secs: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Ingestion stopped for good at `at_block`, for `reason`.
    pub fn stop(&self, at_block: u64, reason: String) {
        *self.stopped.lock().expect("metrics lock") = Some(Stopped { at_block, reason });
    }

    /// Why ingestion stopped, if it did.
    pub fn stopped(&self) -> Option<Stopped> {
        self.stopped.lock().expect("metrics lock").clone()
    }

    /// A batch up to `cursor` was committed with `events` events; the node was at `head`.
    pub fn record_batch(&self, head: u64, cursor: u64, events: u64) {
        self.head.store(head, Ordering::Relaxed);
        *self.head_seen.lock().expect("metrics lock") = Some(Instant::now());
        self.cursor.store(cursor, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
        let mut rate = self.rate.lock().expect("metrics lock");
        rate.events += events;
        let elapsed = rate.since.elapsed().as_secs_f64();
        if elapsed >= 10.0 {
            rate.per_second = rate.events as f64 / elapsed;
            rate.events = 0;
            rate.since = Instant::now();
        }
    }

    /// The node's head moved without new work.
    pub fn record_head(&self, head: u64, cursor: u64) {
        self.head.store(head, Ordering::Relaxed);
        *self.head_seen.lock().expect("metrics lock") = Some(Instant::now());
        self.cursor.store(cursor, Ordering::Relaxed);
    }

    /// This instance became the writer.
    pub fn set_writer(&self) {
        self.writer.store(true, Ordering::Relaxed);
    }

    /// Whether this instance is the writer; `false` for a standby.
    pub fn is_writer(&self) -> bool {
        self.writer.load(Ordering::Relaxed)
    }

    /// Seconds since the node last told its head; `None` before it first did.
    pub fn head_age_secs(&self) -> Option<u64> {
        self.head_seen.lock().expect("metrics lock").map(|seen| seen.elapsed().as_secs())
    }

    /// The node's head as last read; 0 before the first read.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// A reorg was rolled back.
    pub fn record_reorg(&self) {
        self.reorgs.fetch_add(1, Ordering::Relaxed);
    }

    /// An RPC request failed.
    pub fn record_rpc_error(&self, class: RpcErrorClass) {
        let i = RpcErrorClass::ALL.iter().position(|c| *c == class).expect("every class is listed");
        self.rpc_errors[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Reports the retries of `stats` (the node connection's) from now on.
    pub fn watch_rpc(&self, stats: Arc<RpcStats>) {
        let _ = self.rpc.set(stats);
    }

    /// Requests asked again after a failure of `class`.
    pub fn rpc_retries(&self, class: RpcErrorClass) -> u64 {
        self.rpc.get().map_or(0, |stats| stats.retried(class))
    }

    /// Blocks between the node's head and the mirror.
    pub fn lag(&self) -> u64 {
        self.head.load(Ordering::Relaxed).saturating_sub(self.cursor.load(Ordering::Relaxed))
    }

    /// Reorgs rolled back since start.
    pub fn reorgs(&self) -> u64 {
        self.reorgs.load(Ordering::Relaxed)
    }

    /// RPC errors of `class` since start.
    pub fn rpc_errors(&self, class: RpcErrorClass) -> u64 {
        let i = RpcErrorClass::ALL.iter().position(|c| *c == class).expect("every class is listed");
        self.rpc_errors[i].load(Ordering::Relaxed)
    }

    /// An alert delivery attempt ended: delivered, or failed (to be retried).
    pub fn record_alert_attempt(&self, delivered: bool) {
        let counter = if delivered { &self.alerts_delivered } else { &self.alerts_failed_attempts };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Alerts waiting to be delivered, and how long the oldest has waited.
    pub fn record_alerts_pending(&self, pending: u64, oldest_secs: u64) {
        self.alerts_pending.store(pending, Ordering::Relaxed);
        self.alerts_oldest_pending_secs.store(oldest_secs, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, kind: &str, help: &str, value: String| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
        };
        gauge(
            "openlease_indexer_ingestion_stopped",
            "gauge",
            "1 when ingestion stopped until an operator acts (a reorg deeper than the window, a reset chain): /health says why.",
            u8::from(self.stopped().is_some()).to_string(),
        );
        gauge(
            "openlease_indexer_writer",
            "gauge",
            "1 for the writer, 0 for a standby.",
            u8::from(self.is_writer()).to_string(),
        );
        gauge(
            "openlease_indexer_lag_blocks",
            "gauge",
            "Blocks between the node's head and the mirror.",
            self.lag().to_string(),
        );
        gauge(
            "openlease_indexer_head_block",
            "gauge",
            "The node's latest block.",
            self.head.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "openlease_indexer_cursor_block",
            "gauge",
            "The last block mirrored.",
            self.cursor.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "openlease_indexer_events_total",
            "counter",
            "Events applied since start.",
            self.events.load(Ordering::Relaxed).to_string(),
        );
        let rate = self.rate.lock().expect("metrics lock").per_second;
        gauge(
            "openlease_indexer_events_per_second",
            "gauge",
            "Events applied per second, recent.",
            format!("{rate:.1}"),
        );
        gauge(
            "openlease_indexer_reorgs_total",
            "counter",
            "Reorgs rolled back since start.",
            self.reorgs().to_string(),
        );
        gauge(
            "openlease_indexer_alerts_pending",
            "gauge",
            "Webhook alerts waiting to be delivered (a receiver down shows here first).",
            self.alerts_pending.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "openlease_indexer_alerts_oldest_pending_seconds",
            "gauge",
            "How long the oldest alert waiting to be delivered has waited.",
            self.alerts_oldest_pending_secs.load(Ordering::Relaxed).to_string(),
        );
        out.push_str(
            "# HELP openlease_indexer_alert_attempts_total Webhook alert delivery attempts since start, by outcome.\n\
             # TYPE openlease_indexer_alert_attempts_total counter\n",
        );
        out.push_str(&format!(
            "openlease_indexer_alert_attempts_total{{outcome=\"delivered\"}} {}\n\
             openlease_indexer_alert_attempts_total{{outcome=\"failed\"}} {}\n",
            self.alerts_delivered.load(Ordering::Relaxed),
            self.alerts_failed_attempts.load(Ordering::Relaxed)
        ));
        let mut by_class = |name: &str, help: &str, count: &dyn Fn(RpcErrorClass) -> u64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
            for class in RpcErrorClass::ALL {
                out.push_str(&format!("{name}{{class=\"{class}\"}} {}\n", count(class)));
            }
        };
        by_class(
            "openlease_indexer_rpc_retries_total",
            "Requests the node refused or failed and that were asked again, by class.",
            &|class| self.rpc_retries(class),
        );
        by_class(
            "openlease_indexer_rpc_errors_total",
            "Steps that failed after their requests' retries, by class.",
            &|class| self.rpc_errors(class),
        );
        out
    }
}
