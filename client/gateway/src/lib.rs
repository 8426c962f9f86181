//! `openlease-gateway`: a provider puts it in front of any HTTP service to be paid for serving it.
//!
//! Every request names its lease and may carry the tenant's newest cumulative receipt (the SDK's
//! [`wire`] format). The gateway serves it only when the lease is open, still running and this
//! provider's, the receipt (if any) verifies and raises what the lease has paid, and what the
//! tenant owes without a receipt stays within a credit limit. A refusal is a JSON body
//! `{"error": CODE, "message", "hint", ...}` with a status that says what kind. Receipts go into a
//! durable [`ReceiptStore`] before the request is served, and the gateway settles them before a
//! close, an expiry or a deadline would cost the provider (the SDK's `SettlementWatcher`).
//!
//! Use it as an axum middleware over your own routes ([`Gateway::serve`]), or as the reverse
//! proxy binary `openlease-gateway --upstream URL` in front of anything else.

mod book;
mod metrics;
pub mod workload;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex as StdMutex},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
pub use book::{BookError, ReceiptStore};
use openlease_client::{
    Client, ReceiptError, ReceiptVerifier, SettlementWatcher, SignedReceipt, SignerTerms,
    contracts::IOpenleaseTypes::Lease, receipt::wire, status::LeaseStatus, terms,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

pub use crate::metrics::Metrics;

/// What stops the gateway from starting or settling (a refused request is a [`Refusal`]).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Market(#[from] openlease_client::Error),
    #[error(transparent)]
    Book(#[from] BookError),
}

/// How the gateway decides and how often it settles.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// How many seconds of service (at the lease's price) a tenant may owe without a receipt:
    /// what accrued under the lease's terms beyond its newest receipt. Beyond it, requests are
    /// refused with 402 and the amount due. Sessions pay in arrears, for the time up to their
    /// previous answer: give at least their request interval, or they cannot pay as they go.
    pub credit_secs: u64,
    /// How long a lease's terms (deposit, end, settled), a signer's terms and the chain's clock
    /// are trusted before they are read again.
    pub refresh: Duration,
    /// Between two settlement polls.
    pub settle_every: Duration,
    /// Settle a receipt when its signer's authorization expires in less than this (seconds).
    pub settle_margin: u64,
    /// The most accepted and unsettled per lease, in seconds of its price: what the provider
    /// risks on a tenant that stops paying. A receipt that would leave more unsettled is settled
    /// before the request it came with is served.
    pub max_unsettled_secs: u64,
    /// Demand payment of a lease refused for want of payment whose tenant owes for service older
    /// than the market's payment grace (after settling every receipt held for it), and evict it
    /// when the demand goes unanswered: the capacity goes back on sale.
    pub evict_unpaid: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            credit_secs: 60,
            refresh: Duration::from_secs(2),
            settle_every: Duration::from_secs(5),
            settle_margin: 600,
            max_unsettled_secs: 600,
            evict_unpaid: true,
        }
    }
}

/// Why a request was not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// A stable word for programs (`payment_required`, `receipt_replayed`, …).
    pub code: &'static str,
    pub message: String,
    pub hint: String,
    /// Figures that go with it (the amount due, the accepted amount…).
    pub details: Value,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), hint: hint.into(), details: Value::Null }
    }

    fn with(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message, "hint": self.hint });
        if let (Some(body), Some(details)) = (body.as_object_mut(), self.details.as_object()) {
            body.extend(details.clone());
        }
        (self.status, Json(body)).into_response()
    }
}

/// A lease as the gateway last read it.
#[derive(Debug, Clone)]
struct KnownLease {
    lease: Lease,
    token: Address,
    read_at: Instant,
}

/// One tenant's session signer: its verifier (the newest receipt of each of its leases) and the
/// watcher that settles them. Each has a lock of its own: one signer's receipts, or its
/// settlement, never wait for another's.
struct SignerBook<P> {
    verifier: ReceiptVerifier,
    watcher: SettlementWatcher<P>,
    terms_read_at: Instant,
}

type Signers<P> = StdMutex<HashMap<(Address, Address), Arc<Mutex<SignerBook<P>>>>>;

struct Inner<P> {
    client: Client<P>,
    store: ReceiptStore,
    config: GatewayConfig,
    metrics: Arc<Metrics>,
    leases: StdMutex<HashMap<U256, KnownLease>>,
    /// Leases being read again: the others serve from the cache meanwhile.
    refreshing: StdMutex<std::collections::HashSet<U256>>,
    /// Leases refused as unknown or another provider's, with when: a stranger repeating a bad id
    /// costs the node nothing until the refusal is stale ([`REFUSAL_TTL_UNKNOWN`], [`REFUSAL_TTL_FOREIGN`]).
    refusals: StdMutex<HashMap<U256, (Refusal, Instant)>>,
    signers: Signers<P>,
    /// The newest accepted cumulative amount of each lease.
    accepted: StdMutex<HashMap<U256, U256>>,
    /// Leases refused for want of payment, with their tenants: candidates for a payment demand.
    unpaid: StdMutex<HashMap<U256, Address>>,
    /// The chain's clock as an offset to this machine's (the chain may have been moved), and
    /// whether a request is reading it again.
    clock: StdMutex<(i64, Instant, bool)>,
}

/// How long an `unknown_lease` refusal is answered from memory: short, the id may be opened next.
const REFUSAL_TTL_UNKNOWN: Duration = Duration::from_secs(1);
/// How long a `not_our_lease` refusal is answered from memory: a lease's provider never changes.
const REFUSAL_TTL_FOREIGN: Duration = Duration::from_secs(300);
/// Refusals kept at most: a stranger cycling through ids costs bounded memory.
const MAX_CACHED_REFUSALS: usize = 10_000;

/// The gateway of one provider. Cheap to clone.
pub struct Gateway<P> {
    inner: Arc<Inner<P>>,
}

impl<P> Clone for Gateway<P> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl<P: Provider + Clone + 'static> Gateway<P> {
    /// The gateway of `client`'s provider over the book in `store`. The receipts the book holds
    /// are taken up again (verified anew) so that they are settled: nothing acknowledged before
    /// a crash is lost.
    pub async fn open(client: Client<P>, store: ReceiptStore, config: GatewayConfig) -> Result<Self, GatewayError> {
        let head = client.provider().get_block_number().await.map_err(openlease_client::Error::from)?;
        let gateway = Self {
            inner: Arc::new(Inner {
                client,
                store,
                config,
                metrics: Arc::new(Metrics::default()),
                leases: StdMutex::new(HashMap::new()),
                refreshing: StdMutex::new(Default::default()),
                refusals: StdMutex::new(HashMap::new()),
                signers: StdMutex::new(HashMap::new()),
                accepted: StdMutex::new(HashMap::new()),
                unpaid: StdMutex::new(HashMap::new()),
                clock: StdMutex::new((0, Instant::now() - Duration::from_secs(3600), false)),
            }),
        };
        let domain = gateway.inner.client.receipt_domain();
        let stored = gateway.inner.store.all(&domain).await?;
        let now = gateway.now().await?;
        for entry in stored {
            let lease_id = entry.receipt.receipt.leaseId;
            let lease = match gateway.inner.client.lease(lease_id).await {
                Ok(lease) => lease,
                // One row the node does not know must not keep the rest from being served and
                // settled: flagged (log and metric) and skipped; it stays in the book.
                Err(openlease_client::Error::UnknownLease { .. }) => {
                    tracing::error!(%lease_id, "the book holds a receipt of a lease this node does not know; skipped");
                    gateway.inner.metrics.unknown_book_leases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let book = gateway.signer_book(entry.tenant, entry.receipt.signer, Some(head)).await?;
            let mut book = book.lock().await;
            book.verifier.add_lease(lease_id, U256::from(lease.settled));
            // Kept even if it no longer verifies today (an expired signer): the market decides,
            // and the watcher reports a refusal.
            let cumulative = entry.receipt.receipt.cumulativeAmount;
            if book.verifier.accept(entry.receipt.clone(), now).is_err() {
                tracing::warn!(%lease_id, "a stored receipt no longer verifies; settling it anyway");
            }
            gateway.inner.accepted.lock().expect("accepted lock").insert(lease_id, cumulative);
        }
        Ok(gateway)
    }

    /// How many session signers' books the gateway keeps: one per signer it accepted a receipt of.
    pub fn signer_books(&self) -> usize {
        self.inner.signers.lock().expect("signers lock").len()
    }

    /// The counters `/openlease/metrics` shows.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The chain's time now: the latest block's timestamp, read at most `refresh` ago, plus the
    /// time since on this machine's clock.
    /// One request reads it again while the others go on with the offset they have.
    async fn now(&self) -> openlease_client::Result<u64> {
        let offset = {
            let mut clock = self.inner.clock.lock().expect("clock lock");
            let (offset, read_at, reading) = *clock;
            let fresh = read_at.elapsed() < self.inner.config.refresh;
            if fresh || (reading && read_at.elapsed() < self.inner.config.refresh * 4) {
                return Ok((unix_now() + offset).max(0) as u64);
            }
            clock.2 = true;
            offset
        };
        let chain = self.inner.client.now().await;
        let mut clock = self.inner.clock.lock().expect("clock lock");
        clock.2 = false;
        let chain = match chain {
            Ok(chain) => chain,
            Err(error) if offset != 0 => {
                tracing::debug!(%error, "reading the chain's time failed; using the last offset");
                return Ok((unix_now() + offset).max(0) as u64);
            }
            Err(error) => return Err(error),
        };
        *clock = (chain as i64 - unix_now(), Instant::now(), false);
        Ok(chain)
    }

    /// The book of `tenant`'s `signer`, made (its watcher reading from `from_block`, else the
    /// head) or with its terms read again when they are older than the refresh interval. No lock
    /// is held while the chain is read.
    async fn signer_book(
        &self,
        tenant: Address,
        signer: Address,
        from_block: Option<u64>,
    ) -> openlease_client::Result<Arc<Mutex<SignerBook<P>>>> {
        let key = (tenant, signer);
        let existing = self.inner.signers.lock().expect("signers lock").get(&key).cloned();
        let Some(book) = existing else {
            let client = &self.inner.client;
            let terms = self.signer_terms(tenant, signer).await?;
            // No state for strangers: a key the tenant never authorized for this provider gets no
            // book (and no watcher polling for it); its receipt is refused as the verifier would.
            if from_block.is_none() && !terms.is_authorized() {
                return Err(openlease_client::Error::Receipt(ReceiptError::SignerNotAuthorized { signer }));
            }
            let from_block = match from_block {
                Some(block) => block,
                None => client.provider().get_block_number().await?,
            };
            let verifier = ReceiptVerifier::new(client.receipt_domain(), signer, terms);
            let watcher = SettlementWatcher::new(client.clone(), from_block, self.inner.config.settle_margin);
            let book = Arc::new(Mutex::new(SignerBook { verifier, watcher, terms_read_at: Instant::now() }));
            // Another request may have made it meanwhile: theirs stays.
            let mut signers = self.inner.signers.lock().expect("signers lock");
            return Ok(signers.entry(key).or_insert(book).clone());
        };
        let stale = book.try_lock().is_ok_and(|b| b.terms_read_at.elapsed() >= self.inner.config.refresh);
        if stale {
            let terms = self.signer_terms(tenant, signer).await?;
            let mut guard = book.lock().await;
            guard.verifier.set_terms(terms);
            guard.terms_read_at = Instant::now();
        }
        Ok(book)
    }

    async fn signer_terms(&self, tenant: Address, signer: Address) -> openlease_client::Result<SignerTerms> {
        if signer == tenant {
            return Ok(SignerTerms::tenant());
        }
        // The authorization for this provider: what it leaves is reserved for this gateway alone.
        self.inner.client.session_signer(tenant, signer, self.inner.client.address()).await
    }

    /// The lease, read again when older than the refresh interval, by one request while the
    /// others serve from the cache.
    async fn lease(&self, lease_id: U256) -> Result<KnownLease, Refusal> {
        if let Some((refusal, at)) = self.inner.refusals.lock().expect("refusals lock").get(&lease_id) {
            // A lease's provider never changes; an unknown id may be the next lease opened.
            let ttl = if refusal.code == "not_our_lease" { REFUSAL_TTL_FOREIGN } else { REFUSAL_TTL_UNKNOWN };
            if at.elapsed() < ttl {
                return Err(refusal.clone());
            }
        }
        let cached = self.inner.leases.lock().expect("lease cache").get(&lease_id).cloned();
        if let Some(known) = &cached {
            let fresh = known.read_at.elapsed() < self.inner.config.refresh;
            if fresh || !self.inner.refreshing.lock().expect("refreshing lock").insert(lease_id) {
                return Ok(known.clone());
            }
        }
        let read = self.read_lease(lease_id).await;
        if cached.is_some() {
            self.inner.refreshing.lock().expect("refreshing lock").remove(&lease_id);
        }
        if let Err(refusal) = &read
            && matches!(refusal.code, "unknown_lease" | "not_our_lease")
        {
            let mut refusals = self.inner.refusals.lock().expect("refusals lock");
            if refusals.len() >= MAX_CACHED_REFUSALS {
                refusals.retain(|_, (_, at)| at.elapsed() < REFUSAL_TTL_UNKNOWN);
                if refusals.len() >= MAX_CACHED_REFUSALS {
                    refusals.clear();
                }
            }
            refusals.insert(lease_id, (refusal.clone(), Instant::now()));
        }
        read
    }

    async fn read_lease(&self, lease_id: U256) -> Result<KnownLease, Refusal> {
        let client = &self.inner.client;
        let lease = match client.lease(lease_id).await {
            Ok(lease) => lease,
            Err(openlease_client::Error::UnknownLease { .. }) => {
                return Err(Refusal::new(
                    StatusCode::NOT_FOUND,
                    "unknown_lease",
                    format!("lease {lease_id} does not exist on this market"),
                    "open a lease on one of this provider's offers first",
                ));
            }
            Err(e) => return Err(unavailable(e)),
        };
        let offer = client.offer(U256::from(lease.offerId)).await.map_err(unavailable)?;
        if offer.provider != client.address() {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "not_our_lease",
                format!(
                    "lease {lease_id} is served by {}, not by this provider ({})",
                    offer.provider,
                    client.address()
                ),
                "send the request to the lease's provider",
            ));
        }
        let known = KnownLease { lease, token: offer.token, read_at: Instant::now() };
        self.inner.leases.lock().expect("lease cache").insert(lease_id, known.clone());
        Ok(known)
    }

    fn amount(&self, token: Address, raw: U256) -> Value {
        serde_json::to_value(self.inner.client.amount(token, raw)).expect("an amount serializes")
    }

    /// Decides whether a request with `headers` is served: `Ok` with the lease, or the refusal.
    /// A receipt it carries is on disk before this returns `Ok`.
    pub async fn admit(&self, headers: &HeaderMap) -> Result<U256, Refusal> {
        let lease_id = lease_header(headers)?;
        let known = self.lease(lease_id).await?;
        let lease = &known.lease;
        let now = self.now().await.map_err(unavailable)?;
        let run_end = terms::run_end(lease);
        if lease.status != u8::from(LeaseStatus::Open) || now >= run_end {
            return Err(Refusal::new(
                StatusCode::GONE,
                "lease_ended",
                format!("lease {lease_id} stopped running at {run_end} (chain time {now})"),
                "open a new lease (or top this one up if its escrow ran out before its end)",
            )
            .with(json!({ "endedAt": run_end })));
        }

        let mut accepted = U256::from(lease.settled);
        if let Some(value) = headers.get(wire::RECEIPT_HEADER) {
            let receipt = parse_receipt(value, &self.inner.client.receipt_domain(), lease_id)?;
            accepted = self.take_receipt(lease_id, lease, known.token, receipt, now).await?;
        } else if let Some(book) = self.accepted(lease_id) {
            accepted = accepted.max(book);
        }

        let (due, credit) = self.owed(lease, accepted, now);
        if due > credit {
            self.inner.unpaid.lock().expect("unpaid lock").insert(lease_id, lease.tenant);
            return Err(Refusal::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_required",
                format!(
                    "lease {lease_id}: {} of service is not covered by a receipt, above the credit limit of {}",
                    self.inner.client.amount(known.token, due),
                    self.inner.client.amount(known.token, credit)
                ),
                format!("send a receipt for at least {} in total", accepted + due),
            )
            .with(json!({
                "due": self.amount(known.token, due),
                "creditLimit": self.amount(known.token, credit),
                "receiptAtLeast": (accepted + due).to_string(),
            })));
        }
        Ok(lease_id)
    }

    /// The newest cumulative amount accepted for a lease, if any receipt was.
    fn accepted(&self, lease_id: U256) -> Option<U256> {
        self.inner.accepted.lock().expect("accepted lock").get(&lease_id).copied()
    }

    /// Verifies `receipt`, writes it to the book, keeps it: the lease's accepted amount after.
    /// The signature is checked outside any lock, the signer's terms under its own book's lock
    /// only, and the write joins the book's group commit with no lock held.
    async fn take_receipt(
        &self,
        lease_id: U256,
        lease: &Lease,
        token: Address,
        receipt: SignedReceipt,
        now: u64,
    ) -> Result<U256, Refusal> {
        let (cumulative, period_end) = (receipt.receipt.cumulativeAmount, receipt.receipt.periodEnd);
        // The market never pays a receipt beyond the lease's escrow.
        let deposit = U256::from(lease.deposit);
        if cumulative > deposit {
            let paid = U256::from(lease.settled).max(self.accepted(lease_id).unwrap_or_default());
            let left = deposit.saturating_sub(paid);
            return Err(Refusal::new(
                StatusCode::PAYMENT_REQUIRED,
                "escrow_exhausted",
                format!(
                    "lease {lease_id}: the receipt claims {}, more than the escrow's {}; {} of it is left",
                    self.inner.client.amount(token, cumulative),
                    self.inner.client.amount(token, deposit),
                    self.inner.client.amount(token, left)
                ),
                "top the lease up (`openlease lease top-up`) or open a new one",
            )
            .with(json!({ "left": self.amount(token, left), "deposit": self.amount(token, deposit) })));
        }
        // The market pays a receipt at most what accrued until its period's end: one that claims more
        // would be accepted here and never paid.
        let payable_until = terms::accrued(lease, period_end);
        if cumulative > payable_until {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "receipt_period_too_short",
                format!(
                    "lease {lease_id}: the receipt claims {} for service until {period_end}, but only {} accrues by then",
                    self.inner.client.amount(token, cumulative),
                    self.inner.client.amount(token, payable_until)
                ),
                "sign the receipt's periodEnd as the end of the service it pays for",
            )
            .with(json!({ "payableUntilPeriodEnd": payable_until.to_string() })));
        }
        let domain = self.inner.client.receipt_domain();
        let checked = domain.check_signature(receipt).map_err(|e| self.refused(lease_id, token, e))?;
        let signer = checked.receipt().signer;
        let book = self.signer_book(lease.tenant, signer, None).await.map_err(|e| match e {
            openlease_client::Error::Receipt(e) => self.refused(lease_id, token, e),
            e => unavailable(e),
        })?;
        {
            let mut book = book.lock().await;
            if !book.verifier.book().has_lease(lease_id) {
                book.verifier.add_lease(lease_id, U256::from(lease.settled));
            }
            book.verifier.verify_checked(&checked, now).map_err(|e| self.refused(lease_id, token, e))?;
        }
        let newest = self.inner.store.keep(&domain, lease.tenant, checked.receipt()).await.map_err(|e| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "book_unavailable",
                format!("the receipt could not be recorded: {e}"),
                "retry shortly; nothing was served or charged",
            )
        })?;
        if !newest {
            // A receipt as large is in the book already (from a replay, or another replica).
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "receipt_replayed",
                format!("lease {lease_id}: a receipt as large as this one was already accepted"),
                "send a receipt with a larger cumulative amount",
            ));
        }
        let accepted = {
            let mut book = book.lock().await;
            // Checked again: a larger receipt of the lease may have been taken meanwhile.
            book.verifier.accept_checked(checked, now).map_err(|e| self.refused(lease_id, token, e))?;
            // Bounded exposure: beyond what the provider risks unsettled, settle before serving.
            let limit = U256::from(lease.pricePerSecond) * U256::from(self.inner.config.max_unsettled_secs);
            if book.verifier.book().unsettled(lease_id) > limit {
                let book = &mut *book;
                let settled = book.watcher.settle_now(book.verifier.book_mut(), lease_id).await;
                if !settled.as_ref().is_ok_and(|o| o.is_some_and(|o| o.is_settled())) {
                    tracing::warn!(%lease_id, ?settled, "could not settle past the exposure limit");
                    return Err(Refusal::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "settlement_pending",
                        format!(
                            "lease {lease_id}: what is unsettled passed the provider's limit and could not be settled yet"
                        ),
                        "retry shortly: the receipt is kept; nothing was served or charged",
                    ));
                }
            }
            book.verifier.book().accepted(lease_id)
        };
        self.inner.accepted.lock().expect("accepted lock").insert(lease_id, accepted);
        self.inner.metrics.receipts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(accepted)
    }

    fn refused(&self, lease_id: U256, token: Address, error: ReceiptError) -> Refusal {
        let units = |raw: U256| self.inner.client.amount(token, raw).to_string();
        let (status, code, message, hint) = match &error {
            ReceiptError::NotIncreasing { cumulative, accepted, .. } => (
                StatusCode::CONFLICT,
                "receipt_replayed",
                format!(
                    "lease {lease_id}: the receipt's {} does not exceed the {} already accepted",
                    units(*cumulative),
                    units(*accepted)
                ),
                "send a receipt with a larger cumulative amount",
            ),
            ReceiptError::OverCap { cap, attested, .. } => (
                StatusCode::PAYMENT_REQUIRED,
                "signer_cap_reached",
                format!("the signer would attest {} in total, over its cap of {}", units(*attested), units(*cap)),
                "the tenant raises the signer's cap (`openlease signer authorize`)",
            ),
            ReceiptError::SignerNotAuthorized { .. }
            | ReceiptError::SignerRevoked { .. }
            | ReceiptError::SignerExpired { .. } => (
                StatusCode::UNAUTHORIZED,
                "signer_unauthorized",
                error.to_string(),
                "the tenant authorizes a session signer (`openlease signer authorize`)",
            ),
            ReceiptError::WrongLease { .. } => (
                StatusCode::BAD_REQUEST,
                "malformed_receipt",
                error.to_string(),
                "the receipt must be for the lease the request names",
            ),
            _ => (
                StatusCode::UNAUTHORIZED,
                "receipt_invalid",
                format!("the receipt does not verify: {error}"),
                "sign receipts with the session signer's key for this market and chain",
            ),
        };
        Refusal::new(status, code, message, hint)
    }

    /// Settles what is due in every signer's book, once (in one replica, when the book is
    /// shared). Finalized leases leave the book.
    pub async fn settle_due(&self) -> Result<(), GatewayError> {
        let gateway = self.clone();
        let settle = async move {
            let books: Vec<_> = gateway.inner.signers.lock().expect("signers lock").values().cloned().collect();
            let mut unsettled = Vec::new();
            for book in books {
                let mut book = book.lock().await;
                let book = &mut *book;
                let report = book.watcher.poll(book.verifier.book_mut()).await?;
                for alert in &report.alerts {
                    tracing::info!(?alert, "settlement watcher");
                    if let openlease_client::WatchAlert::LeaseFinalized { lease_id, .. } = alert {
                        gateway.inner.store.forget(*lease_id).await?;
                    }
                }
                for (reason, outcome) in &report.settled {
                    tracing::info!(lease = %outcome.lease_id, ?reason, paid = %outcome.paid, "settled");
                }
                let kept = book.verifier.book();
                unsettled.extend(kept.leases().map(|id| (id, kept.unsettled(id))));
            }
            gateway.inner.metrics.set_unsettled(unsettled);
            if gateway.inner.config.evict_unpaid {
                gateway.collect_unpaid().await?;
            }
            Ok::<(), GatewayError>(())
        };
        self.inner.store.with_settlement_lock(settle).await?.unwrap_or(Ok(()))
    }

    /// Leases refused for want of payment: settles what the book holds for each first, then
    /// demands payment of what is still owed for service older than the payment grace, and evicts
    /// once a demand went unanswered for the grace. The demand is the tenant's to answer (settling
    /// its own newest receipt does), so an honest tenant is never evicted.
    async fn collect_unpaid(&self) -> Result<(), GatewayError> {
        let unpaid: Vec<(U256, Address)> =
            self.inner.unpaid.lock().expect("unpaid lock").iter().map(|(l, t)| (*l, *t)).collect();
        if unpaid.is_empty() {
            return Ok(());
        }
        let client = &self.inner.client;
        let books: Vec<_> = self.inner.signers.lock().expect("signers lock").values().cloned().collect();
        for (lease_id, _) in unpaid {
            for book in &books {
                let mut book = book.lock().await;
                let book = &mut *book;
                if book.verifier.book().has_lease(lease_id) {
                    book.watcher.settle_now(book.verifier.book_mut(), lease_id).await?;
                }
            }
            let lease = client.lease(lease_id).await?;
            let done = |gateway: &Self| gateway.inner.unpaid.lock().expect("unpaid lock").remove(&lease_id);
            if lease.status != u8::from(LeaseStatus::Open) {
                done(self);
                continue;
            }
            let now = client.now().await?;
            if let Some(demand) = client.standing_demand(lease_id).await? {
                if now >= demand.evictable_at {
                    let eviction = client.evict_lease(lease_id).await?;
                    tracing::info!(%lease_id, hold_charge = %eviction.hold_charge, "evicted: the payment demand went unanswered");
                    done(self);
                }
            } else if self.paid_up(&lease, lease_id, now) {
                done(self);
            } else if terms::arrears(&lease, now).1.is_zero() {
                // Unpaid, but not yet for longer than the payment grace: wait.
            } else {
                let demand = client.demand_payment(lease_id).await?;
                tracing::info!(%lease_id, due = %demand.due, evictable_at = demand.evictable_at, "demanded payment");
            }
        }
        Ok(())
    }

    /// Whether a lease's tenant owes no more than the credit limit beyond its newest receipt.
    fn paid_up(&self, lease: &Lease, lease_id: U256, now: u64) -> bool {
        let accepted = U256::from(lease.settled).max(self.accepted(lease_id).unwrap_or_default());
        let (due, credit) = self.owed(lease, accepted, now);
        due <= credit
    }

    /// What a lease's tenant owes at `now` beyond `accepted` (its newest receipt), and the credit
    /// it is allowed: beyond it, requests are refused and the lease is a candidate for a demand.
    fn owed(&self, lease: &Lease, accepted: U256, now: u64) -> (U256, U256) {
        let credit = U256::from(lease.pricePerSecond) * U256::from(self.inner.config.credit_secs);
        (terms::accrued(lease, now).saturating_sub(accepted), credit)
    }

    /// Settles every `settle_every` until the process ends; an error is logged and retried.
    pub fn spawn_settlement(&self) -> tokio::task::JoinHandle<()> {
        let gateway = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(gateway.inner.config.settle_every).await;
                if let Err(error) = gateway.settle_due().await {
                    tracing::warn!(%error, "settling failed; retrying");
                }
            }
        })
    }

    /// `routes` behind the gateway, plus `/openlease/health` and `/openlease/metrics` (not gated).
    pub fn serve(&self, routes: Router) -> Router {
        let gated = routes.layer(axum::middleware::from_fn_with_state(self.clone(), gate::<P>));
        let metrics = self.inner.metrics.clone();
        Router::new()
            .route("/openlease/health", get(|| async { Json(json!({ "healthy": true })) }))
            .route("/openlease/metrics", get(move || async move { metrics.render() }))
            .merge(gated)
    }
}

/// The middleware: admit, then serve (counting both ways).
async fn gate<P: Provider + Clone + 'static>(
    State(gateway): State<Gateway<P>>,
    request: Request,
    next: Next,
) -> Response {
    match gateway.admit(request.headers()).await {
        Ok(_) => {
            gateway.inner.metrics.served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            next.run(request).await
        }
        Err(refusal) => {
            gateway.inner.metrics.refuse(refusal.code);
            refusal.into_response()
        }
    }
}

fn lease_header(headers: &HeaderMap) -> Result<U256, Refusal> {
    let Some(value) = headers.get(wire::LEASE_HEADER) else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "lease_required",
            format!("the request names no lease: add the `{}` header", wire::LEASE_HEADER),
            "open a lease with `openlease lease open` and send its id with every request",
        ));
    };
    value.to_str().ok().and_then(wire::parse_lease_header).ok_or_else(|| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "malformed_lease",
            format!("`{}` must be a lease id in decimal", wire::LEASE_HEADER),
            "send the id `openlease lease open` printed",
        )
    })
}

fn parse_receipt(
    value: &axum::http::HeaderValue,
    domain: &openlease_client::ReceiptDomain,
    lease_id: U256,
) -> Result<SignedReceipt, Refusal> {
    let text = value.to_str().map_err(|_| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "malformed_receipt",
            "the receipt header is not ASCII",
            "send compact JSON",
        )
    })?;
    let receipt = wire::parse_receipt_header(text, domain).map_err(|e| match e {
        openlease_client::ReceiptFileError::WrongChain { .. }
        | openlease_client::ReceiptFileError::WrongMarket { .. } => {
            Refusal::new(StatusCode::UNAUTHORIZED, "receipt_invalid", e.to_string(), "sign for this market and chain")
        }
        other => Refusal::new(
            StatusCode::BAD_REQUEST,
            "malformed_receipt",
            format!("the `{}` header is not a receipt: {other}", wire::RECEIPT_HEADER),
            "send the SDK's wire format (openlease_client::receipt::wire)",
        ),
    })?;
    if receipt.receipt.leaseId != lease_id {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "malformed_receipt",
            format!("the receipt is for lease {}, the request for lease {lease_id}", receipt.receipt.leaseId),
            "send the receipt of the lease the request names",
        ));
    }
    Ok(receipt)
}

fn unavailable(error: openlease_client::Error) -> Refusal {
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "chain_unavailable",
        format!("the gateway cannot read the market: {error}"),
        "retry shortly",
    )
}
