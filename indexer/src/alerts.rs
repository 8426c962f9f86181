//! Webhook alerts: what a tenant or a provider must hear about before it costs money — a lease's
//! runway below a threshold, a lease ending, evicted or failed over, a payment demand, a dispute
//! opened or ruled, a slash, a provider's delivered ratio below a threshold.
//!
//! Alerts are derived from the stored events (by their `/v1/events` id) and from the mirror's
//! rows at each new block, and written to an outbox in the same transaction as the alerts'
//! cursor: a restart neither loses nor repeats one. Each has an id derived from what it is about
//! (the subscription and the event's block hash and log index, or the crossing's block), so the
//! receiver can de-duplicate retries on it. A reorg that retracts the block an alert is about
//! sends a retraction carrying that id (an alert never tried is dropped instead). Deliveries are
//! signed with the subscription's secret (HMAC-SHA256), go out in order per subscription and are
//! retried with backoff while the receiver is down; they run in tasks of their own, so a receiver
//! that is slow or never answers holds up only its own subscription, never ingestion.
//!
//! Subscriptions are created through the API with the operator's token (`--alerts-token`): the
//! indexer then calls URLs a stranger must not choose.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::primitives::{Address, B256, keccak256};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use hmac::{Hmac, Mac};
use openlease_contracts::{LeaseStatus, Openlease::OpenleaseEvents};
use serde::{Deserialize, Serialize};
use serde_json::{Value as JsonValue, json};
use sha2::Sha256;
use sqlx::{Any, Row, Transaction};
use tokio::sync::{Notify, Semaphore, broadcast};
use utoipa::ToSchema;

use crate::{
    Result,
    api::ApiError,
    ingest::Notice,
    metrics::Metrics,
    query::CODEC,
    rows::{Entity, Lease, Provider, hex},
    store::{Backend, Store, StoredEvent},
};

/// Subscriptions a database holds at most.
const MAX_SUBSCRIPTIONS: i64 = 1_000;
/// Leases or providers one level subscription watches at most (its newest).
const MAX_SUBJECTS: i64 = 1_000;
/// Events one pass derives alerts from.
const EVENTS_PER_PASS: u64 = 1_000;
/// Deliveries in flight at once (each to its own subscription).
const IN_FLIGHT: usize = 16;
/// Deliveries one subscription's task sends before it gives its slot back.
const PER_TURN: usize = 20;
/// Finished deliveries are kept this long (`GET /v1/alerts/{id}` shows them), then deleted.
const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);
/// A subscription request's body, at most.
const MAX_BODY: usize = 16 * 1024;

/// What an alert is about: a market event by its name in the contract, or a level crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum AlertKind {
    /// The tenant gave notice: the lease ends at `ends_at`.
    LeaseClosed,
    /// The provider ended the lease.
    LeaseTerminated,
    /// The provider evicted the lease over an unanswered payment demand.
    LeaseEvicted,
    /// The tenant moved the lease's escrow to another provider.
    LeaseFailedOver,
    /// The lease was finalized: its refund and the provider's bond released.
    LeaseFinalized,
    /// The provider demanded payment: the tenant must answer before `evictable_at`.
    PaymentDemanded,
    DisputeOpened,
    DisputeRuled,
    DisputeExpired,
    BondSlashed,
    /// An open lease's runway fell below `runway_below_secs` (once per crossing; a top-up re-arms it).
    RunwayBelow,
    /// A provider's delivered ratio fell below `delivered_ratio_below` (once per crossing).
    DeliveredRatioBelow,
}

impl AlertKind {
    const ALL: [Self; 12] = [
        Self::LeaseClosed,
        Self::LeaseTerminated,
        Self::LeaseEvicted,
        Self::LeaseFailedOver,
        Self::LeaseFinalized,
        Self::PaymentDemanded,
        Self::DisputeOpened,
        Self::DisputeRuled,
        Self::DisputeExpired,
        Self::BondSlashed,
        Self::RunwayBelow,
        Self::DeliveredRatioBelow,
    ];

    /// Its word: the event's name in the contract, or the level's.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeaseClosed => "LeaseClosed",
            Self::LeaseTerminated => "LeaseTerminated",
            Self::LeaseEvicted => "LeaseEvicted",
            Self::LeaseFailedOver => "LeaseFailedOver",
            Self::LeaseFinalized => "LeaseFinalized",
            Self::PaymentDemanded => "PaymentDemanded",
            Self::DisputeOpened => "DisputeOpened",
            Self::DisputeRuled => "DisputeRuled",
            Self::DisputeExpired => "DisputeExpired",
            Self::BondSlashed => "BondSlashed",
            Self::RunwayBelow => "RunwayBelow",
            Self::DeliveredRatioBelow => "DeliveredRatioBelow",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == word)
    }

    /// The kind an event alerts as, and the lease it is about.
    fn of_event(event: &OpenleaseEvents) -> Option<(Self, u64)> {
        use OpenleaseEvents as E;
        let (kind, lease) = match event {
            E::LeaseClosed(e) => (Self::LeaseClosed, e.leaseId),
            E::LeaseTerminated(e) => (Self::LeaseTerminated, e.leaseId),
            E::LeaseEvicted(e) => (Self::LeaseEvicted, e.leaseId),
            E::LeaseFailedOver(e) => (Self::LeaseFailedOver, e.leaseId),
            E::LeaseFinalized(e) => (Self::LeaseFinalized, e.leaseId),
            E::PaymentDemanded(e) => (Self::PaymentDemanded, e.leaseId),
            E::DisputeOpened(e) => (Self::DisputeOpened, e.leaseId),
            E::DisputeRuled(e) => (Self::DisputeRuled, e.leaseId),
            E::DisputeExpired(e) => (Self::DisputeExpired, e.leaseId),
            E::BondSlashed(e) => (Self::BondSlashed, e.leaseId),
            _ => return None,
        };
        Some((kind, lease.saturating_to()))
    }
}

/// A subscription as asked for: where to send, which kinds, about what. Filters left out match
/// anything; a level kind needs its threshold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// `http://` or `https://` URL the alerts are POSTed to.
    pub url: String,
    pub kinds: Vec<String>,
    pub lease_id: Option<u64>,
    /// Leases of this tenant.
    #[schema(value_type = Option<String>)]
    pub tenant: Option<String>,
    /// Leases of this provider, and the provider itself (slashes, delivered ratio).
    #[schema(value_type = Option<String>)]
    pub provider: Option<String>,
    /// For `RunwayBelow`.
    pub runway_below_secs: Option<u64>,
    /// For `DeliveredRatioBelow`: 0 to 1.
    pub delivered_ratio_below: Option<f64>,
}

/// A stored subscription.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    #[schema(value_type = Vec<String>)]
    pub kinds: Vec<AlertKind>,
    pub lease_id: Option<u64>,
    pub tenant: Option<String>,
    pub provider: Option<String>,
    pub runway_below_secs: Option<u64>,
    pub delivered_ratio_below: Option<f64>,
    /// Events up to this `/v1/events` id came before it.
    pub after_seq: u64,
    pub created_at: u64,
    #[serde(skip)]
    secret: String,
}

impl Subscription {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self> {
        let text = |n: &str| row.try_get::<Option<String>, _>(n);
        let kinds = row.try_get::<String, _>("kinds")?.split(',').filter_map(AlertKind::parse).collect();
        Ok(Self {
            id: row.try_get("id")?,
            url: row.try_get("url")?,
            secret: row.try_get("secret")?,
            kinds,
            lease_id: row.try_get::<Option<i64>, _>("lease_id")?.map(|v| v as u64),
            tenant: text("tenant")?,
            provider: text("provider")?,
            runway_below_secs: row.try_get::<Option<i64>, _>("runway_below_secs")?.map(|v| v as u64),
            delivered_ratio_below: row.try_get("delivered_ratio_below")?,
            after_seq: row.try_get::<i64, _>("after_seq")? as u64,
            created_at: row.try_get::<i64, _>("created_at")? as u64,
        })
    }

    fn wants(&self, kind: AlertKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// Whether an alert about `lease` (its tenant and provider, when the mirror has it) is its.
    fn about(&self, lease: Option<u64>, tenant: Option<&str>, provider: Option<&str>) -> bool {
        let matches = |filter: &Option<String>, value: Option<&str>| filter.as_deref().is_none_or(|f| Some(f) == value);
        self.lease_id.is_none_or(|l| Some(l) == lease)
            && matches(&self.tenant, tenant)
            && matches(&self.provider, provider)
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An id from what an alert is about: the same alert always has the same id.
fn alert_id(parts: &[&[u8]]) -> String {
    let digest = keccak256(parts.concat());
    format!("alert_{}", &alloy::hex::encode(digest)[..32])
}

/// How deliveries are paced.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// The bearer token that may manage subscriptions; `None`: the routes refuse.
    pub token: Option<String>,
    /// First pause after a failed delivery; it doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// One delivery attempt, at most.
    pub timeout: Duration,
    /// A delivery still failing this long after its alert is given up (`failed`).
    pub give_up_after: Duration,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            token: None,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

// ─── Deriving alerts ────────────────────────────────────────────────────────────────────────────

/// One alert to write to the outbox.
struct Pending {
    id: String,
    subscription: String,
    kind: &'static str,
    block: u64,
    body: JsonValue,
    retracts: Option<String>,
}

/// Derives alerts and delivers them; runs beside ingestion on the writer.
#[derive(Debug)]
pub struct Alerts {
    store: Store,
    config: AlertConfig,
    chain_id: u64,
    http: reqwest::Client,
    /// Subscriptions with a delivery task running.
    busy: Arc<Mutex<HashSet<String>>>,
    slots: Arc<Semaphore>,
    /// The block level alerts were last evaluated at.
    levels_at: Option<B256>,
    /// When finished deliveries were last pruned.
    pruned_at: Option<std::time::Instant>,
    metrics: Arc<Metrics>,
}

impl Alerts {
    pub fn new(store: Store, config: AlertConfig, chain_id: u64) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A receiver's redirect would send signed alerts where nobody subscribed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("openlease-indexer/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client without TLS options builds");
        Self {
            store,
            config,
            chain_id,
            http,
            busy: Default::default(),
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
            levels_at: None,
            pruned_at: None,
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// Reports deliveries and the outbox's backlog to `metrics` (`/metrics`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Derives and delivers until the process ends: woken by ingestion's notices (an alert goes out
    /// as soon as its block is committed), by `wake` (a new subscription) and by the backoff clock.
    pub async fn run(mut self, mut notices: broadcast::Receiver<Notice>, wake: Arc<Notify>) {
        loop {
            if let Err(error) = self.derive().await {
                tracing::warn!(%error, "deriving alerts failed; trying again");
            }
            if self.pruned_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                match self.prune().await {
                    Ok(()) => self.pruned_at = Some(std::time::Instant::now()),
                    Err(error) => tracing::warn!(%error, "pruning old alert deliveries failed"),
                }
            }
            let next = match self.dispatch().await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(%error, "reading due alerts failed; trying again");
                    Some(Duration::from_secs(1))
                }
            };
            let pause = next.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(1));
            tokio::select! {
                notice = notices.recv() => {
                    if let Err(broadcast::error::RecvError::Closed) = notice {
                        tokio::time::sleep(pause).await;
                    }
                    // One pass for every notice already queued (a backfill sends thousands).
                    while notices.try_recv().is_ok() {}
                }
                // A new subscription: its levels are evaluated at once, not at the next block.
                () = wake.notified() => self.levels_at = None,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Writes the alerts of every event and retraction since the alerts' cursor, and the level
    /// alerts of the mirror's block.
    pub async fn derive(&mut self) -> Result<()> {
        loop {
            let more = self.derive_events().await?;
            if !more {
                break;
            }
        }
        self.derive_levels().await
    }

    /// One page of events. `Ok(true)`: more may follow.
    async fn derive_events(&mut self) -> Result<bool> {
        // A read first: most passes find nothing new, and need no write lock.
        let behind = sqlx::query("SELECT CAST(CASE WHEN a.seq <> c.seq THEN 1 ELSE 0 END AS BIGINT) FROM alert_cursor a, cursor c WHERE a.id = 1")
            .fetch_optional(self.store.pool())
            .await?
            .map(|row| row.try_get::<i64, _>(0).map(|v| v != 0))
            .transpose()?;
        if behind != Some(true) {
            return Ok(false);
        }
        let mut tx = begin_locked(&self.store, true).await?;
        let (seq, mut n) = cursor(&mut tx).await?;
        let subscriptions = subscriptions(&mut tx).await?;
        let Some(mirror) = Store::cursor_in(&mut *tx).await? else { return Ok(false) };
        if subscriptions.is_empty() {
            // Nobody listens: nothing before a subscription is ever alerted, so skip ahead.
            if mirror.seq != seq {
                set_cursor(&mut tx, mirror.seq, n).await?;
                tx.commit().await?;
            }
            return Ok(false);
        }
        let retraction = Store::retraction_after(&mut *tx, seq).await?;
        let events = Store::events_after(&mut *tx, seq, EVENTS_PER_PASS).await?;
        if retraction.is_none() && events.is_empty() {
            return Ok(false);
        }
        let mut out = Vec::new();
        if let Some((_, above)) = retraction {
            out.extend(retract(&mut tx, above).await?);
        }
        let mut leases: HashMap<u64, Option<Lease>> = HashMap::new();
        for event in &events {
            let Some(decoded) = CODEC.decode(&event.topics, &event.data) else { continue };
            let Some((kind, lease_id)) = AlertKind::of_event(&decoded) else { continue };
            if let std::collections::hash_map::Entry::Vacant(slot) = leases.entry(lease_id) {
                slot.insert(lease(&mut tx, lease_id).await?);
            }
            let row = leases[&lease_id].as_ref();
            let (tenant, provider) = (row.map(|l| hex(&l.tenant)), row.map(|l| hex(&l.provider)));
            for s in subscriptions.iter().filter(|s| s.after_seq < event.seq && s.wants(kind)) {
                if !s.about(Some(lease_id), tenant.as_deref(), provider.as_deref()) {
                    continue;
                }
                out.push(self.event_alert(s, kind, event, lease_id, tenant.as_deref(), provider.as_deref()));
            }
        }
        for alert in &out {
            n += 1;
            insert(&mut tx, alert, n).await?;
        }
        let full = events.len() as u64 == EVENTS_PER_PASS;
        let last = events.last().map_or(seq, |e| e.seq);
        let new_seq = if full { last } else { last.max(retraction.map_or(seq, |(s, _)| s)) };
        set_cursor(&mut tx, new_seq, n).await?;
        tx.commit().await?;
        if retraction.is_some() {
            self.levels_at = None;
        }
        Ok(full)
    }

    fn event_alert(
        &self,
        s: &Subscription,
        kind: AlertKind,
        event: &StoredEvent,
        lease_id: u64,
        tenant: Option<&str>,
        provider: Option<&str>,
    ) -> Pending {
        // The stored event's id too: a block that a reorg took away and brought back is stored
        // again (a new id), and alerted again after its retraction.
        let id = alert_id(&[
            s.id.as_bytes(),
            &event.seq.to_be_bytes(),
            event.block_hash.as_slice(),
            &event.log_index.to_be_bytes(),
        ]);
        let body = json!({
            "id": id, "kind": kind.as_str(), "subscription": s.id, "chain_id": self.chain_id,
            "lease_id": lease_id, "tenant": tenant, "provider": provider,
            "block_number": event.block, "block_hash": event.block_hash, "block_timestamp": event.timestamp,
            "tx_hash": event.tx_hash, "log_index": event.log_index, "event_id": event.seq,
            "args": CODEC.args(&event.topics, &event.data),
        });
        Pending { id, subscription: s.id.clone(), kind: kind.as_str(), block: event.block, body, retracts: None }
    }

    /// Level alerts at the mirror's block: an alert when a subject goes below its threshold, the
    /// level re-armed when it is back above.
    async fn derive_levels(&mut self) -> Result<()> {
        let at = Store::cursor_in(self.store.pool()).await?.map(|c| c.hash);
        if at.is_none() || at == self.levels_at {
            return Ok(());
        }
        // Read in a snapshot, without the write lock (up to 1,000 subjects a subscription):
        // subject → what its alert says, per subscription now below its threshold.
        let mut snapshot = self.store.snapshot().await?;
        let Some(mirror) = Store::cursor_in(&mut *snapshot).await? else { return Ok(()) };
        let subscriptions = subscriptions(&mut snapshot).await?;
        let mut below: Vec<(Subscription, BTreeMap<String, JsonValue>)> = Vec::new();
        for s in subscriptions {
            let mut now_below: BTreeMap<String, JsonValue> = BTreeMap::new();
            if let (true, Some(threshold)) = (s.wants(AlertKind::RunwayBelow), s.runway_below_secs) {
                for lease in open_leases(&mut snapshot, &s).await? {
                    let runway = lease.lease_end().saturating_sub(mirror.timestamp);
                    if runway < threshold {
                        now_below.insert(
                            format!("lease:{}", lease.lease_id),
                            json!({
                                "kind": AlertKind::RunwayBelow.as_str(), "lease_id": lease.lease_id,
                                "tenant": hex(&lease.tenant), "provider": hex(&lease.provider),
                                "token": hex(&lease.token), "runway_secs": runway, "runway_below_secs": threshold,
                                "lease_end": lease.lease_end(),
                                "escrow": lease.escrow().to_string(),
                            }),
                        );
                    }
                }
            }
            if let (true, Some(threshold)) = (s.wants(AlertKind::DeliveredRatioBelow), s.delivered_ratio_below) {
                for provider in providers(&mut snapshot, &s).await? {
                    if let Some(ratio) = provider.delivered_ratio().filter(|r| *r < threshold) {
                        now_below.insert(
                            format!("provider:{}", hex(&provider.address)),
                            json!({
                                "kind": AlertKind::DeliveredRatioBelow.as_str(), "provider": hex(&provider.address),
                                "delivered_ratio": ratio, "delivered_ratio_below": threshold,
                            }),
                        );
                    }
                }
            }
            below.push((s, now_below));
        }
        snapshot.commit().await?;

        // Written only if the events' alerts are derived up to the same mirror (a reorg in
        // between would put level alerts on blocks about to be retracted): else next time.
        let mut tx = begin_locked(&self.store, true).await?;
        let (seq, mut n) = cursor(&mut tx).await?;
        let current = Store::cursor_in(&mut *tx).await?;
        if seq != mirror.seq || current.as_ref().map(|c| c.hash) != Some(mirror.hash) {
            return Ok(());
        }
        let mut out = Vec::new();
        for (s, now_below) in below {
            let exists = sqlx::query("SELECT 1 FROM alert_subscriptions WHERE id = $1")
                .bind(s.id.clone())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !exists {
                continue;
            }
            let armed: HashSet<String> = sqlx::query("SELECT subject FROM alert_levels WHERE subscription_id = $1")
                .bind(s.id.clone())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<std::result::Result<_, _>>()?;
            for gone in armed.iter().filter(|a| !now_below.contains_key(*a)) {
                sqlx::query("DELETE FROM alert_levels WHERE subscription_id = $1 AND subject = $2")
                    .bind(s.id.clone())
                    .bind(gone.clone())
                    .execute(&mut *tx)
                    .await?;
            }
            for (subject, mut body) in now_below.into_iter().filter(|(subject, _)| !armed.contains(subject)) {
                sqlx::query("INSERT INTO alert_levels (subscription_id, subject, block_number) VALUES ($1, $2, $3)")
                    .bind(s.id.clone())
                    .bind(subject.clone())
                    .bind(mirror.number as i64)
                    .execute(&mut *tx)
                    .await?;
                // The mirror's seq too: a crossing evaluated again after a reorg is a new alert.
                let id =
                    alert_id(&[s.id.as_bytes(), subject.as_bytes(), mirror.hash.as_slice(), &mirror.seq.to_be_bytes()]);
                let kind =
                    if subject.starts_with("lease:") { AlertKind::RunwayBelow } else { AlertKind::DeliveredRatioBelow };
                let extra = json!({
                    "id": id, "subscription": s.id, "chain_id": self.chain_id, "block_number": mirror.number,
                    "block_hash": mirror.hash, "block_timestamp": mirror.timestamp,
                });
                if let (Some(body), JsonValue::Object(extra)) = (body.as_object_mut(), extra) {
                    body.extend(extra);
                }
                out.push(Pending {
                    id,
                    subscription: s.id.clone(),
                    kind: kind.as_str(),
                    block: mirror.number,
                    body,
                    retracts: None,
                });
            }
        }
        for alert in &out {
            n += 1;
            insert(&mut tx, alert, n).await?;
        }
        set_cursor(&mut tx, seq, n).await?;
        tx.commit().await?;
        self.levels_at = Some(mirror.hash);
        Ok(())
    }

    /// Deletes finished deliveries (delivered, cancelled, given up) older than `KEEP`: the outbox
    /// stays the size of what is recent. A reorg retracts only blocks inside the mirror's window,
    /// far younger than that.
    async fn prune(&self) -> Result<()> {
        let before = now_ms().saturating_sub(KEEP.as_millis() as u64);
        sqlx::query("DELETE FROM alert_deliveries WHERE state <> 'pending' AND created_at < $1")
            .bind(before as i64)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    // ─── Delivering ─────────────────────────────────────────────────────────────────────────────

    /// Starts a delivery task for each subscription with a delivery due and none running; returns
    /// how long until the next one is due.
    async fn dispatch(&self) -> Result<Option<Duration>> {
        let now = now_ms();
        let backlog = sqlx::query("SELECT COUNT(*), MIN(created_at) FROM alert_deliveries WHERE state = 'pending'")
            .fetch_one(self.store.pool())
            .await?;
        let (pending, oldest): (i64, Option<i64>) = (backlog.try_get(0)?, backlog.try_get(1)?);
        let waited = oldest.map_or(0, |at| now.saturating_sub(at as u64) / 1_000);
        self.metrics.record_alerts_pending(pending as u64, waited);
        let rows = sqlx::query(
            "SELECT s.id, s.next_attempt_at FROM alert_subscriptions s \
             WHERE EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.subscription_id = s.id AND d.state = 'pending')",
        )
        .fetch_all(self.store.pool())
        .await?;
        let mut next: Option<u64> = None;
        for row in rows {
            let (id, due): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
            let due = due as u64;
            if due > now {
                next = Some(next.map_or(due - now, |n| n.min(due - now)));
                continue;
            }
            if !self.busy.lock().expect("not poisoned").insert(id.clone()) {
                continue;
            }
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                self.busy.lock().expect("not poisoned").remove(&id);
                next = Some(100);
                break;
            };
            let courier = Courier {
                store: self.store.clone(),
                http: self.http.clone(),
                config: self.config.clone(),
                metrics: self.metrics.clone(),
            };
            let busy = self.busy.clone();
            tokio::spawn(async move {
                if let Err(error) = courier.deliver_due(&id).await {
                    tracing::warn!(%error, subscription = %id, "delivering alerts failed; trying again");
                }
                busy.lock().expect("not poisoned").remove(&id);
                drop(slot);
            });
        }
        Ok(next.map(Duration::from_millis))
    }
}

/// Sends one subscription's due deliveries, oldest first.
struct Courier {
    store: Store,
    http: reqwest::Client,
    config: AlertConfig,
    metrics: Arc<Metrics>,
}

impl Courier {
    async fn deliver_due(&self, subscription: &str) -> Result<()> {
        // A turn ends after this many, so that slow receivers with a backlog take turns with the
        // others for the delivery slots.
        for _ in 0..PER_TURN {
            let Some(row) = sqlx::query(
                "SELECT s.url, s.secret, s.next_attempt_at, d.id, d.body, d.attempts, d.created_at \
                 FROM alert_subscriptions s JOIN alert_deliveries d ON d.subscription_id = s.id \
                 WHERE s.id = $1 AND d.state = 'pending' ORDER BY d.n LIMIT 1",
            )
            .bind(subscription.to_owned())
            .fetch_optional(self.store.pool())
            .await?
            else {
                return Ok(());
            };
            let (url, secret, due): (String, String, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let (id, body, attempts, created): (String, String, i64, i64) =
                (row.try_get(3)?, row.try_get(4)?, row.try_get(5)?, row.try_get(6)?);
            let now = now_ms();
            if due as u64 > now {
                return Ok(());
            }
            // Counted before it is sent: an alert that may have reached its receiver is retracted
            // by a retraction, never dropped.
            let counted =
                sqlx::query("UPDATE alert_deliveries SET attempts = attempts + 1 WHERE id = $1 AND state = 'pending'")
                    .bind(id.clone())
                    .execute(self.store.pool())
                    .await?
                    .rows_affected();
            if counted == 0 {
                // Retracted (or unsubscribed) since it was read: never sent.
                continue;
            }
            let posted = self.post(&url, &secret, &id, &body).await;
            self.metrics.record_alert_attempt(posted.is_ok());
            match posted {
                Ok(()) => {
                    let mut tx = self.store.begin_write().await?;
                    sqlx::query(
                        "UPDATE alert_deliveries SET state = 'delivered', delivered_at = $2, \
                         last_error = NULL WHERE id = $1 AND state = 'pending'",
                    )
                    .bind(id.clone())
                    .bind(now_ms() as i64)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE alert_subscriptions SET next_attempt_at = 0 WHERE id = $1")
                        .bind(subscription.to_owned())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
                Err(error) => {
                    let attempts = attempts as u64 + 1;
                    let gave_up = now.saturating_sub(created as u64) >= self.config.give_up_after.as_millis() as u64;
                    let pause = self.backoff(attempts);
                    tracing::debug!(%error, delivery = %id, attempts, ?pause, "alert delivery failed");
                    let mut tx = self.store.begin_write().await?;
                    sqlx::query(
                        "UPDATE alert_deliveries SET last_error = $2, state = $3 \
                         WHERE id = $1 AND state = 'pending'",
                    )
                    .bind(id.clone())
                    .bind(error)
                    .bind(if gave_up { "failed" } else { "pending" })
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE alert_subscriptions SET next_attempt_at = $2 WHERE id = $1")
                        .bind(subscription.to_owned())
                        .bind((now + pause.as_millis() as u64) as i64)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    if !gave_up {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// The pause after the `attempts`th failure: doubling from the minimum up to the maximum, with
    /// a quarter of jitter so that receivers coming back are not hit by every indexer at once.
    fn backoff(&self, attempts: u64) -> Duration {
        let doubled = self.config.min_backoff.saturating_mul(1u32 << attempts.min(20).saturating_sub(1) as u32);
        let capped = doubled.min(self.config.max_backoff);
        let jitter = (now_ms() % 1_000) as f64 / 4_000.0;
        capped.mul_f64(1.0 - jitter)
    }

    async fn post(&self, url: &str, secret: &str, id: &str, body: &str) -> std::result::Result<(), String> {
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let response = self
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("openlease-delivery", id)
            .header("openlease-signature", signature(secret, timestamp, body.as_bytes()))
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| format!("{e}"))?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(format!("the receiver answered {status}")) }
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the subscription's secret>`: a
/// receiver recomputes it and compares, and refuses old timestamps (a replay).
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", alloy::hex::encode(mac.finalize().into_bytes()))
}

/// A transaction that derives alerts or changes subscriptions, one at a time: SQLite's write lock
/// (`BEGIN IMMEDIATE`), or on PostgreSQL the alerts cursor's row lock, so that no subscription is
/// created or deleted halfway through a pass. A pass (`snapshot`) also reads events, retractions
/// and subscriptions as of one moment (repeatable read; a subscription route takes only the lock:
/// the passes update the cursor's row, which a repeatable read could not then lock).
async fn begin_locked(store: &Store, snapshot: bool) -> Result<Transaction<'static, Any>> {
    match store.backend() {
        Backend::Postgres => {
            let mut tx = if snapshot {
                store.pool().begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ").await?
            } else {
                store.pool().begin().await?
            };
            sqlx::query("SELECT id FROM alert_cursor WHERE id = 1 FOR UPDATE").execute(&mut *tx).await?;
            Ok(tx)
        }
        Backend::Sqlite(_) => store.begin_write().await,
    }
}

// ─── The outbox ─────────────────────────────────────────────────────────────────────────────────

async fn cursor(tx: &mut Transaction<'static, Any>) -> Result<(u64, u64)> {
    let row = sqlx::query("SELECT seq, n FROM alert_cursor WHERE id = 1").fetch_one(&mut **tx).await?;
    Ok((row.try_get::<i64, _>(0)? as u64, row.try_get::<i64, _>(1)? as u64))
}

async fn set_cursor(tx: &mut Transaction<'static, Any>, seq: u64, n: u64) -> Result<()> {
    sqlx::query("UPDATE alert_cursor SET seq = $1, n = $2 WHERE id = 1")
        .bind(seq as i64)
        .bind(n as i64)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn subscriptions(tx: &mut Transaction<'static, Any>) -> Result<Vec<Subscription>> {
    let rows = sqlx::query("SELECT * FROM alert_subscriptions ORDER BY id").fetch_all(&mut **tx).await?;
    rows.iter().map(Subscription::from_row).collect()
}

async fn lease(tx: &mut Transaction<'static, Any>, lease_id: u64) -> Result<Option<Lease>> {
    let row =
        sqlx::query("SELECT * FROM leases WHERE lease_id = $1").bind(lease_id as i64).fetch_optional(&mut **tx).await?;
    row.as_ref().map(Lease::from_row).transpose()
}

/// The open leases a runway subscription watches, newest first.
async fn open_leases(tx: &mut Transaction<'static, Any>, s: &Subscription) -> Result<Vec<Lease>> {
    let mut sql = String::from("SELECT * FROM leases WHERE status = $1");
    let mut binds: Vec<String> = Vec::new();
    for (column, value) in [("tenant", &s.tenant), ("provider", &s.provider)] {
        if let Some(value) = value {
            binds.push(value.clone());
            sql.push_str(&format!(" AND {column} = ${}", binds.len() + 1));
        }
    }
    if let Some(lease) = s.lease_id {
        sql.push_str(&format!(" AND lease_id = {lease}"));
    }
    sql.push_str(&format!(" ORDER BY lease_id DESC LIMIT {MAX_SUBJECTS}"));
    // Columns are constants; values are bound (a lease id is an integer).
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(LeaseStatus::Open.as_str());
    for value in binds {
        query = query.bind(value);
    }
    query.fetch_all(&mut **tx).await?.iter().map(Lease::from_row).collect()
}

/// The providers a delivered-ratio subscription watches.
async fn providers(tx: &mut Transaction<'static, Any>, s: &Subscription) -> Result<Vec<Provider>> {
    let rows = match &s.provider {
        Some(provider) => {
            sqlx::query("SELECT * FROM providers WHERE address = $1")
                .bind(provider.clone())
                .fetch_all(&mut **tx)
                .await?
        }
        None => {
            let sql = format!("SELECT * FROM providers ORDER BY registered_block DESC LIMIT {MAX_SUBJECTS}");
            sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut **tx).await?
        }
    };
    rows.iter().map(Provider::from_row).collect()
}

async fn insert(tx: &mut Transaction<'static, Any>, alert: &Pending, n: u64) -> Result<()> {
    let body = serde_json::to_string(&alert.body).expect("JSON values serialize");
    sqlx::query(
        "INSERT INTO alert_deliveries (id, n, subscription_id, kind, block_number, body, state, attempts, retracts, \
         retracted, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, 0, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(alert.id.clone())
    .bind(n as i64)
    .bind(alert.subscription.clone())
    .bind(alert.kind)
    .bind(alert.block as i64)
    .bind(body)
    .bind(alert.retracts.clone())
    .bind(now_ms() as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Every alert about a block above `above` was retracted by a reorg: one never tried is dropped,
/// any other is followed by a retraction (and no longer retried). Level alerts above it are
/// re-armed, to be evaluated again on the new chain.
async fn retract(tx: &mut Transaction<'static, Any>, above: u64) -> Result<Vec<Pending>> {
    let rows = sqlx::query(
        "SELECT id, subscription_id, kind, attempts, state FROM alert_deliveries \
         WHERE block_number > $1 AND retracted = 0 AND retracts IS NULL ORDER BY n",
    )
    .bind(above as i64)
    .fetch_all(&mut **tx)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let (id, subscription, kind, state): (String, String, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(4)?);
        // Dropped only if no attempt was ever counted, decided by the update itself: a courier
        // counts its attempt (while pending) before it sends, so one of the two comes first.
        let dropped = sqlx::query(
            "UPDATE alert_deliveries SET retracted = 1, state = 'cancelled' \
             WHERE id = $1 AND state = 'pending' AND attempts = 0",
        )
        .bind(id.clone())
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1;
        sqlx::query(
            "UPDATE alert_deliveries SET retracted = 1, state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE state END \
             WHERE id = $1",
        )
        .bind(id.clone())
        .execute(&mut **tx)
        .await?;
        if dropped || state == "cancelled" {
            continue;
        }
        let retraction = format!("{id}_retracted");
        out.push(Pending {
            body: json!({
                "id": retraction, "kind": "Retraction", "retracts": id, "retracted_kind": kind,
                "subscription": subscription, "above_block": above,
            }),
            id: retraction,
            subscription,
            kind: "Retraction",
            // Not itself retractable.
            block: 0,
            retracts: Some(id),
        });
    }
    sqlx::query("DELETE FROM alert_levels WHERE block_number > $1").bind(above as i64).execute(&mut **tx).await?;
    Ok(out)
}

// ─── The API ────────────────────────────────────────────────────────────────────────────────────

/// What the subscription routes share.
#[derive(Debug, Clone)]
pub struct AlertsAccess {
    pub store: Store,
    pub token: Option<String>,
    /// Wakes the deliverer at once for a new subscription.
    pub wake: Arc<Notify>,
}

/// `/v1/alerts`: create, list, read (with its recent deliveries) and delete subscriptions, with
/// the operator's bearer token. Never cached: deliveries change between blocks.
pub fn router(access: AlertsAccess) -> Router {
    Router::new()
        .route("/v1/alerts", get(list).post(create))
        .route("/v1/alerts/{id}", get(read).delete(remove))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(access)
        .layer(axum::middleware::from_fn(crate::api::to_completion))
}

fn refuse(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::new(status, message.into())
}

/// The token is checked before anything is read or stored.
fn authorize(access: &AlertsAccess, headers: &HeaderMap) -> std::result::Result<(), ApiError> {
    let Some(token) = &access.token else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "alerts are off on this indexer: its operator starts it with --alerts-token (or OPENLEASE_ALERTS_TOKEN)",
        ));
    };
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Compared in constant time: the token is the only secret a stranger can probe for.
    let matches = given.is_some_and(|g| {
        g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if matches {
        Ok(())
    } else {
        Err(refuse(StatusCode::UNAUTHORIZED, "send the operator's alerts token as `Authorization: Bearer <token>`"))
    }
}

fn store_error(error: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%error, "alerts: database error");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "database error")
}

impl NewSubscription {
    /// Checks every field; the stored subscription, its secret not yet set.
    fn check(self) -> std::result::Result<Subscription, ApiError> {
        let bad = |m: String| refuse(StatusCode::BAD_REQUEST, m);
        let url = reqwest::Url::parse(&self.url).map_err(|e| bad(format!("`url`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || self.url.len() > 2_048 {
            return Err(bad("`url`: expected an http:// or https:// URL of at most 2,048 characters".into()));
        }
        if self.kinds.is_empty() || self.kinds.len() > AlertKind::ALL.len() {
            return Err(bad(format!("`kinds`: expected 1 to {} of {}", AlertKind::ALL.len(), kind_words())));
        }
        let mut kinds = Vec::new();
        for word in &self.kinds {
            let kind = AlertKind::parse(word)
                .ok_or_else(|| bad(format!("`kinds`: unknown `{word}`; expected {}", kind_words())))?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        let address = |field: &str, value: Option<String>| {
            value
                .map(|v| {
                    v.parse::<Address>()
                        .map(|a| hex(&a))
                        .map_err(|_| bad(format!("`{field}`: expected a 0x-prefixed 20-byte address")))
                })
                .transpose()
        };
        let (tenant, provider) = (address("tenant", self.tenant)?, address("provider", self.provider)?);
        if kinds.contains(&AlertKind::RunwayBelow) {
            match self.runway_below_secs {
                Some(1..) => {}
                _ => {
                    return Err(bad(
                        "`RunwayBelow` needs `runway_below_secs`: the runway, in seconds, to be alerted below".into(),
                    ));
                }
            }
            if self.lease_id.is_none() && tenant.is_none() && provider.is_none() {
                return Err(bad("`RunwayBelow` needs a `lease_id`, `tenant` or `provider` to watch".into()));
            }
        }
        if kinds.contains(&AlertKind::DeliveredRatioBelow) {
            match self.delivered_ratio_below {
                Some(r) if r > 0.0 && r <= 1.0 => {}
                _ => {
                    return Err(bad(
                        "`DeliveredRatioBelow` needs `delivered_ratio_below`, above 0 and at most 1".into()
                    ));
                }
            }
        }
        Ok(Subscription {
            id: String::new(),
            url: self.url,
            kinds,
            lease_id: self.lease_id,
            tenant,
            provider,
            runway_below_secs: self.runway_below_secs,
            delivered_ratio_below: self.delivered_ratio_below,
            after_seq: 0,
            created_at: 0,
            secret: String::new(),
        })
    }
}

/// Bytes from the operating system's generator: ids a stranger cannot guess, secrets.
fn random<const N: usize>() -> std::result::Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(store_error)?;
    Ok(bytes)
}

fn kind_words() -> String {
    AlertKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

/// The alerts routes in the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create, list, read, remove),
    components(schemas(NewSubscription, Subscription, Delivery, AlertKind)),
    modifiers(&BearerToken)
)]
pub struct AlertsDoc;

/// The operator's token, as the routes take it.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        openapi.components.get_or_insert_with(Default::default).add_security_scheme("alerts_token", scheme);
    }
}

#[utoipa::path(
    post,
    path = "/v1/alerts",
    request_body = NewSubscription,
    security(("alerts_token" = [])),
    responses(
        (status = 201, description = "the subscription, with its `secret` (shown this once)", body = Subscription),
        (status = 400, body = crate::api::ErrorBody),
        (status = 401, body = crate::api::ErrorBody),
        (status = 403, description = "alerts are off: no --alerts-token", body = crate::api::ErrorBody),
        (status = 409, description = "the subscriptions' limit", body = crate::api::ErrorBody),
    )
)]
/// A new subscription: its id and, this once, the secret its deliveries are signed with.
async fn create(
    State(access): State<AlertsAccess>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> std::result::Result<Response, ApiError> {
    authorize(&access, &headers)?;
    let asked: NewSubscription = serde_json::from_slice(&body)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("the body must be a subscription as JSON: {e}")))?;
    let mut s = asked.check()?;
    let mut tx = begin_locked(&access.store, false).await.map_err(store_error)?;
    let count: i64 =
        sqlx::query("SELECT COUNT(*) FROM alert_subscriptions").fetch_one(&mut *tx).await.map_err(store_error)?.get(0);
    if count >= MAX_SUBSCRIPTIONS {
        return Err(refuse(
            StatusCode::CONFLICT,
            format!("this indexer holds {MAX_SUBSCRIPTIONS} subscriptions, its most: delete one first"),
        ));
    }
    let mirror = Store::cursor_in(&mut *tx).await.map_err(store_error)?;
    s.id = format!("sub_{}", alloy::hex::encode(random::<12>()?));
    s.secret = alloy::hex::encode(random::<32>()?);
    s.after_seq = mirror.as_ref().map_or(0, |c| c.seq);
    s.created_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    sqlx::query(
        "INSERT INTO alert_subscriptions (id, url, secret, kinds, lease_id, tenant, provider, runway_below_secs, \
         delivered_ratio_below, after_seq, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)",
    )
    .bind(s.id.clone())
    .bind(s.url.clone())
    .bind(s.secret.clone())
    .bind(s.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","))
    .bind(s.lease_id.map(|l| l as i64))
    .bind(s.tenant.clone())
    .bind(s.provider.clone())
    .bind(s.runway_below_secs.map(|r| r as i64))
    .bind(s.delivered_ratio_below)
    .bind(s.after_seq as i64)
    .bind(s.created_at as i64)
    .execute(&mut *tx)
    .await
    .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    access.wake.notify_one();
    let mut answer = serde_json::to_value(&s).expect("serializes");
    answer["secret"] = json!(s.secret);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// One delivery as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
struct Delivery {
    id: String,
    kind: String,
    block_number: u64,
    /// `pending`, `delivered`, `cancelled` or `failed`.
    state: String,
    attempts: u64,
    retracts: Option<String>,
    retracted: bool,
    last_error: Option<String>,
    created_at: u64,
    delivered_at: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/v1/alerts",
    security(("alerts_token" = [])),
    responses((status = 200, description = "`{\"subscriptions\": [Subscription]}`"), (status = 401, body = crate::api::ErrorBody))
)]
/// Every subscription (without its secret).
async fn list(State(access): State<AlertsAccess>, headers: HeaderMap) -> std::result::Result<Response, ApiError> {
    authorize(&access, &headers)?;
    let rows = sqlx::query("SELECT * FROM alert_subscriptions ORDER BY created_at, id")
        .fetch_all(access.store.pool())
        .await
        .map_err(store_error)?;
    let subscriptions = rows.iter().map(Subscription::from_row).collect::<Result<Vec<_>>>().map_err(store_error)?;
    Ok(Json(json!({ "subscriptions": subscriptions })).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/alerts/{id}",
    params(("id" = String, Path)),
    security(("alerts_token" = [])),
    responses(
        (status = 200, description = "`{\"subscription\", \"deliveries_by_state\", \"deliveries\": [Delivery]}`"),
        (status = 401, body = crate::api::ErrorBody),
        (status = 404, body = crate::api::ErrorBody),
    )
)]
/// A subscription, its delivery counts by state and its newest 50 deliveries.
async fn read(
    State(access): State<AlertsAccess>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> std::result::Result<Response, ApiError> {
    authorize(&access, &headers)?;
    let pool = access.store.pool();
    let row = sqlx::query("SELECT * FROM alert_subscriptions WHERE id = $1")
        .bind(id.clone())
        .fetch_optional(pool)
        .await
        .map_err(store_error)?
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, format!("no subscription {id}")))?;
    let subscription = Subscription::from_row(&row).map_err(store_error)?;
    let counts = sqlx::query("SELECT state, COUNT(*) FROM alert_deliveries WHERE subscription_id = $1 GROUP BY state")
        .bind(id.clone())
        .fetch_all(pool)
        .await
        .map_err(store_error)?;
    let counts: BTreeMap<String, i64> = counts.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect();
    let rows = sqlx::query(
        "SELECT id, kind, block_number, state, attempts, retracts, retracted, last_error, created_at, delivered_at \
         FROM alert_deliveries WHERE subscription_id = $1 ORDER BY n DESC LIMIT 50",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(store_error)?;
    let deliveries: Vec<Delivery> = rows
        .iter()
        .map(|r| Delivery {
            id: r.get(0),
            kind: r.get(1),
            block_number: r.get::<i64, _>(2) as u64,
            state: r.get(3),
            attempts: r.get::<i64, _>(4) as u64,
            retracts: r.get(5),
            retracted: r.get::<i64, _>(6) != 0,
            last_error: r.get(7),
            created_at: r.get::<i64, _>(8) as u64,
            delivered_at: r.get::<Option<i64>, _>(9).map(|v| v as u64),
        })
        .collect();
    Ok(Json(json!({ "subscription": subscription, "deliveries_by_state": counts, "deliveries": deliveries }))
        .into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/alerts/{id}",
    params(("id" = String, Path)),
    security(("alerts_token" = [])),
    responses((status = 204), (status = 401, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody))
)]
/// Deletes a subscription; its deliveries not yet made are cancelled.
async fn remove(
    State(access): State<AlertsAccess>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> std::result::Result<Response, ApiError> {
    authorize(&access, &headers)?;
    let mut tx = begin_locked(&access.store, false).await.map_err(store_error)?;
    let deleted = sqlx::query("DELETE FROM alert_subscriptions WHERE id = $1")
        .bind(id.clone())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
    if deleted == 0 {
        return Err(refuse(StatusCode::NOT_FOUND, format!("no subscription {id}")));
    }
    sqlx::query("UPDATE alert_deliveries SET state = 'cancelled' WHERE subscription_id = $1 AND state = 'pending'")
        .bind(id.clone())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    sqlx::query("DELETE FROM alert_levels WHERE subscription_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
