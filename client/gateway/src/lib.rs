//! `openlease-gateway`: a provider puts it in front of any HTTP service to be paid for serving it.
//!
//! Every request names its lease and proves it is the lease's tenant's: it carries the tenant's
//! newest cumulative receipt or an access grant (the SDK's [`wire`] format). The gateway serves it
//! only when the lease is open, still running and this provider's, the receipt (if any) verifies
//! and raises what the lease has paid, and what the tenant owes without a receipt stays within a
//! credit limit. A refusal is a JSON body `{"error": CODE, "message", "hint", ...}` whose code is a
//! [`RefusalCode`] with its status. Receipts go into a durable [`ReceiptStore`] before the request
//! is served, and one settlement engine settles what the book holds before a close, an expiry or a
//! deadline would cost the provider (the SDK's `SettlementWatcher`).
//!
//! The gate is three layers: the first admits (or refuses) and puts the [`Admission`] in the
//! request's extensions, for the service to read which lease pays; the second meters an answer
//! that streams, cutting it when it is no longer paid for; the third attests every answer with
//! the provider's attestation key (`attest`). Use it as an axum middleware over your
//! own routes ([`Gateway::serve`]), or as the reverse proxy binary `openlease-gateway --upstream
//! URL` ([`proxy`], served by [`serve`]) in front of anything else.

pub mod attest;
mod book;
mod metrics;
pub mod proxy;
pub mod serve;
pub mod workload;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex as StdMutex},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
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
    Attester, Client, ReceiptBook, ReceiptError, ReceiptVerifier, SettlementWatcher, SignedReceipt, SignerTerms,
    contracts::IOpenleaseTypes::Lease,
    status::LeaseStatus,
    terms,
    wire::{self, AccessGrant, RefusalCode},
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
    /// The key given to attest answers is not the one the provider registered.
    #[error(
        "the provider's registered attestation key is {registered}, not {given}: pass that key with --attestation-key"
    )]
    AttestationKey { registered: Address, given: Address },
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
    /// The longest-lived access grant accepted (seconds from now): a copied grant is good until
    /// it expires, so tenants are made to renew.
    pub max_access_secs: u64,
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
            max_access_secs: 3_600,
            evict_unpaid: true,
        }
    }
}

/// Why a request was not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// A stable word for programs, with its status.
    pub code: RefusalCode,
    pub message: String,
    pub hint: String,
    /// Figures that go with it (the amount due, the accepted amount…).
    pub details: Value,
}

impl Refusal {
    pub fn new(code: RefusalCode, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { code, message: message.into(), hint: hint.into(), details: Value::Null }
    }

    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).expect("refusal statuses are valid")
    }

    fn with(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({ "error": self.code, "message": self.message, "hint": self.hint });
        if let (Some(body), Some(details)) = (body.as_object_mut(), self.details.as_object()) {
            body.extend(details.clone());
        }
        (status, Json(body)).into_response()
    }
}

/// A lease as the gateway last read it.
#[derive(Debug, Clone)]
struct KnownLease {
    lease: Lease,
    token: Address,
    /// What the lease's offer runs: the gateway attests it in every answer.
    workload: B256,
    read_at: Instant,
}

/// One tenant's session signer: its verifier (the newest receipt of each of its leases, against
/// its cap). Each has a lock of its own: one signer's receipts never wait for another's.
struct SignerBook {
    verifier: ReceiptVerifier,
    terms_read_at: Instant,
}

type Signers = StdMutex<HashMap<(Address, Address), Arc<Mutex<SignerBook>>>>;

/// The one settlement engine of a gateway: one watcher over one book of every lease's newest
/// receipt, whoever signed it, loaded from the durable book at every pass. So the replica holding
/// the settlement lock settles what every replica acknowledged, including one that died for good.
struct Engine<P> {
    watcher: SettlementWatcher<P>,
    book: ReceiptBook,
    /// Leases of the durable book the node does not know: skipped, not asked about every pass.
    unknown: std::collections::HashSet<U256>,
}

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
    signers: Signers,
    engine: Mutex<Engine<P>>,
    /// Access grants whose signature verified, by header value: a request with one costs a lookup.
    grants: StdMutex<HashMap<String, Grant>>,
    /// The newest accepted cumulative amount of each lease.
    accepted: StdMutex<HashMap<U256, U256>>,
    /// Leases refused for want of payment, with their tenants: candidates for a payment demand.
    unpaid: StdMutex<HashMap<U256, Address>>,
    /// The chain's clock as an offset to this machine's (the chain may have been moved), and
    /// whether a request is reading it again.
    clock: StdMutex<(i64, Instant, bool)>,
    /// Signs every answer, once [`Gateway::attest_with`] gave it the attestation key.
    attester: std::sync::OnceLock<Arc<Attester>>,
}

/// How long an `unknown_lease` refusal is answered from memory: short, the id may be opened next.
const REFUSAL_TTL_UNKNOWN: Duration = Duration::from_secs(1);
/// How long a `not_our_lease` refusal is answered from memory: a lease's provider never changes.
const REFUSAL_TTL_FOREIGN: Duration = Duration::from_secs(300);
/// Refusals kept at most: a stranger cycling through ids costs bounded memory.
const MAX_CACHED_REFUSALS: usize = 10_000;

/// Grants kept at most. Only verified grants of authorized signers are kept, so only tenants can
/// fill it, and expired ones go first.
const MAX_GRANTS: usize = 100_000;

/// A verified access grant.
#[derive(Debug, Clone)]
struct Grant {
    lease_id: U256,
    signer: Address,
    expires_at: u64,
    /// The signer's terms and when they were read: a revocation stops access within `refresh`.
    terms: SignerTerms,
    read_at: Instant,
}

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
        let watcher = SettlementWatcher::new(client.clone(), head, config.settle_margin);
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
                engine: Mutex::new(Engine { watcher, book: ReceiptBook::new(), unknown: Default::default() }),
                grants: StdMutex::new(HashMap::new()),
                accepted: StdMutex::new(HashMap::new()),
                unpaid: StdMutex::new(HashMap::new()),
                clock: StdMutex::new((0, Instant::now() - Duration::from_secs(3600), false)),
                attester: std::sync::OnceLock::new(),
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
                    gateway.inner.engine.lock().await.unknown.insert(lease_id);
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            // The engine starts with what was read here: its first pass asks the node nothing again.
            {
                let mut engine = gateway.inner.engine.lock().await;
                engine.book.add_lease(lease_id, U256::from(lease.settled));
                engine.book.keep_verified(entry.receipt.clone());
            }
            let book = gateway.signer_book(entry.tenant, entry.receipt.signer, true).await?;
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

    /// Attests every answer from now on with `key`, which must be the attestation key the
    /// provider registered (its answers are its word only under that key), as a replica numbered
    /// by the book (see [`openlease_client::Attester`]).
    pub async fn attest_with(&self, key: PrivateKeySigner) -> Result<(), GatewayError> {
        let client = &self.inner.client;
        let profile = client.market().providerProfile(client.address()).call().await;
        let registered = profile.map_err(openlease_client::Error::from)?.attestationKey;
        if registered != key.address() {
            return Err(GatewayError::AttestationKey { registered, given: key.address() });
        }
        let epoch = self.inner.store.next_epoch().await?;
        let attester = Attester::new(key, client.receipt_domain(), epoch);
        let _ = self.inner.attester.set(Arc::new(attester));
        Ok(())
    }

    /// What signs the answers, if anything does.
    pub fn attester(&self) -> Option<Arc<Attester>> {
        self.inner.attester.get().cloned()
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

    /// The book of `tenant`'s `signer`, made (for a signer the tenant authorized for this provider,
    /// or any when `restoring` the durable book) or with its terms read again when they are older
    /// than the refresh interval. No lock is held while the chain is read.
    async fn signer_book(
        &self,
        tenant: Address,
        signer: Address,
        restoring: bool,
    ) -> openlease_client::Result<Arc<Mutex<SignerBook>>> {
        let key = (tenant, signer);
        let existing = self.inner.signers.lock().expect("signers lock").get(&key).cloned();
        let Some(book) = existing else {
            let client = &self.inner.client;
            let terms = self.signer_terms(tenant, signer).await?;
            // No state for strangers: a key the tenant never authorized for this provider gets no
            // book (and no watcher polling for it); its receipt is refused as the verifier would.
            if !restoring && !terms.is_authorized() {
                return Err(openlease_client::Error::Receipt(ReceiptError::SignerNotAuthorized { signer }));
            }
            let verifier = ReceiptVerifier::new(client.receipt_domain(), signer, terms);
            let book = Arc::new(Mutex::new(SignerBook { verifier, terms_read_at: Instant::now() }));
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
            let ttl = if refusal.code == RefusalCode::NotOurLease { REFUSAL_TTL_FOREIGN } else { REFUSAL_TTL_UNKNOWN };
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
            && matches!(refusal.code, RefusalCode::UnknownLease | RefusalCode::NotOurLease)
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
                    RefusalCode::UnknownLease,
                    format!("lease {lease_id} does not exist on this market"),
                    "open a lease on one of this provider's offers first",
                ));
            }
            Err(e) => return Err(unavailable(e)),
        };
        let offer = client.offer(U256::from(lease.offerId)).await.map_err(unavailable)?;
        if offer.provider != client.address() {
            return Err(Refusal::new(
                RefusalCode::NotOurLease,
                format!(
                    "lease {lease_id} is served by {}, not by this provider ({})",
                    offer.provider,
                    client.address()
                ),
                "send the request to the lease's provider",
            ));
        }
        let known = KnownLease { lease, token: offer.token, workload: offer.workload, read_at: Instant::now() };
        self.inner.leases.lock().expect("lease cache").insert(lease_id, known.clone());
        Ok(known)
    }

    fn amount(&self, token: Address, raw: U256) -> Value {
        serde_json::to_value(self.inner.client.amount(token, raw)).expect("an amount serializes")
    }

    /// Decides whether a request with `headers` is served: `Ok` with what admitted it, or the refusal.
    /// Only the lease's tenant (or a session signer it authorized for this provider) is served:
    /// the request carries its receipt or its access grant. A receipt it carries is on disk before
    /// this returns `Ok`.
    pub async fn admit(&self, headers: &HeaderMap) -> Result<Admission, Refusal> {
        let lease_id = lease_header(headers)?;
        let (receipt, access) = (headers.get(wire::RECEIPT_HEADER), headers.get(wire::ACCESS_HEADER));
        if receipt.is_none() && access.is_none() {
            // Decided before the lease is looked up: a stranger costs the node nothing.
            return Err(Refusal::new(
                RefusalCode::AccessRequired,
                format!(
                    "lease {lease_id}: nothing shows the request is its tenant's: add `{}` or `{}`",
                    wire::ACCESS_HEADER,
                    wire::RECEIPT_HEADER
                ),
                "sign an access grant with the tenant's key or its session signer (`openlease lease access`)",
            ));
        }
        let known = self.lease(lease_id).await?;
        let lease = &known.lease;
        let now = self.now().await.map_err(unavailable)?;
        let run_end = terms::run_end(lease);
        if lease.status != u8::from(LeaseStatus::Open) || now >= run_end {
            return Err(Refusal::new(
                RefusalCode::LeaseEnded,
                format!("lease {lease_id} stopped running at {run_end} (chain time {now})"),
                "open a new lease (or top this one up if its escrow ran out before its end)",
            )
            .with(json!({ "endedAt": run_end })));
        }

        let mut accepted = U256::from(lease.settled);
        if let Some(value) = receipt {
            // A receipt authenticates its request: it verifies only if the tenant or its signer signed it.
            let receipt = parse_receipt(value, &self.inner.client.receipt_domain(), lease_id)?;
            accepted = self.take_receipt(lease_id, lease, known.token, receipt, now).await?;
        } else {
            let access = access.expect("a receipt or a grant");
            self.check_access(lease_id, lease, access, now).await?;
            accepted = accepted.max(self.accepted(lease_id).unwrap_or_default());
        }

        let (due, credit) = self.owed(lease, accepted, now);
        if due > credit {
            self.inner.unpaid.lock().expect("unpaid lock").insert(lease_id, lease.tenant);
            return Err(Refusal::new(
                RefusalCode::PaymentRequired,
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
        Ok(Admission {
            lease_id,
            tenant: lease.tenant,
            workload: known.workload,
            paid_until: self.paid_until(lease, lease_id),
            now,
        })
    }

    /// Checks that an access grant is for `lease_id`, unexpired, and signed by its tenant or a
    /// session signer the tenant authorized for this provider (not revoked, not expired). The
    /// signature is checked once per grant; its signer's terms are read again every `refresh`.
    async fn check_access(
        &self,
        lease_id: U256,
        lease: &Lease,
        value: &axum::http::HeaderValue,
        now: u64,
    ) -> Result<(), Refusal> {
        let invalid = |message: String| {
            Refusal::new(
                RefusalCode::AccessInvalid,
                message,
                format!(
                    "sign a grant for this lease, market and chain, valid for at most {} s (`openlease lease access`)",
                    self.inner.config.max_access_secs
                ),
            )
        };
        let text = value.to_str().map_err(|_| invalid("the access grant is not ASCII".into()))?;
        let kept = {
            let mut grants = self.inner.grants.lock().expect("grants lock");
            match grants.get_mut(text) {
                Some(grant) if grant.read_at.elapsed() < self.inner.config.refresh || grant.signer == lease.tenant => {
                    Ok(grant.clone())
                }
                Some(grant) => {
                    // Stale: this request reads the terms again; the others go on with these meanwhile.
                    let stale = grant.clone();
                    grant.read_at = Instant::now();
                    Err(Some(stale))
                }
                None => Err(None),
            }
        };
        let (grant, fresh) = match kept {
            Ok(grant) => (grant, false),
            Err(kept) => {
                let (signer, expires_at) = match kept {
                    Some(grant) => (grant.signer, grant.expires_at),
                    None => {
                        let parsed = AccessGrant::parse(text).ok_or_else(|| {
                            invalid(format!("`{}` is not `leaseId.expiresAt.0x<signature>`", wire::ACCESS_HEADER))
                        })?;
                        if parsed.lease_id != lease_id {
                            return Err(invalid(format!(
                                "the grant is for lease {}, the request for lease {lease_id}",
                                parsed.lease_id
                            )));
                        }
                        if parsed.expires_at > now + self.inner.config.max_access_secs {
                            return Err(invalid(format!(
                                "the grant lives until {}, more than {} s from now ({now})",
                                parsed.expires_at, self.inner.config.max_access_secs
                            )));
                        }
                        let signer = self
                            .inner
                            .client
                            .receipt_domain()
                            .access_signer(&parsed)
                            .map_err(|e| invalid(format!("the grant's signature does not read: {e}")))?;
                        (signer, parsed.expires_at)
                    }
                };
                let terms = if signer == lease.tenant {
                    SignerTerms::tenant()
                } else {
                    self.signer_terms(lease.tenant, signer).await.map_err(unavailable)?
                };
                (Grant { lease_id, signer, expires_at, terms, read_at: Instant::now() }, true)
            }
        };
        if grant.lease_id != lease_id {
            return Err(invalid(format!(
                "the grant is for lease {}, the request for lease {lease_id}",
                grant.lease_id
            )));
        }
        if now >= grant.expires_at {
            return Err(Refusal::new(
                RefusalCode::AccessExpired,
                format!("lease {lease_id}: the access grant expired at {} (chain time {now})", grant.expires_at),
                "sign a new grant (sessions renew theirs on their own)",
            )
            .with(json!({ "now": now })));
        }
        grant.terms.check(grant.signer, now).map_err(|e| self.refused(lease_id, Address::ZERO, e))?;
        if !fresh {
            return Ok(());
        }
        let mut grants = self.inner.grants.lock().expect("grants lock");
        if grants.len() >= MAX_GRANTS && !grants.contains_key(text) {
            grants.retain(|_, kept| kept.expires_at > now);
            if grants.len() >= MAX_GRANTS {
                grants.clear();
            }
        }
        grants.insert(text.to_owned(), grant);
        Ok(())
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
                RefusalCode::EscrowExhausted,
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
                RefusalCode::ReceiptPeriodTooShort,
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
        let book = self.signer_book(lease.tenant, signer, false).await.map_err(|e| match e {
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
                RefusalCode::BookUnavailable,
                format!("the receipt could not be recorded: {e}"),
                "retry shortly; nothing was served or charged",
            )
        })?;
        if !newest {
            // A receipt as large is in the book already (from a replay, or another replica).
            return Err(Refusal::new(
                RefusalCode::ReceiptReplayed,
                format!("lease {lease_id}: a receipt as large as this one was already accepted"),
                "send a receipt with a larger cumulative amount",
            ));
        }
        let receipt = checked.receipt().clone();
        let (accepted, unsettled) = {
            let mut book = book.lock().await;
            // Checked again: a larger receipt of the lease may have been taken meanwhile.
            book.verifier.accept_checked(checked, now).map_err(|e| self.refused(lease_id, token, e))?;
            (book.verifier.book().accepted(lease_id), book.verifier.book().unsettled(lease_id))
        };
        // Bounded exposure: beyond what the provider risks unsettled, settle before serving.
        let limit = U256::from(lease.pricePerSecond) * U256::from(self.inner.config.max_unsettled_secs);
        if unsettled > limit {
            let settled = self.settle_now(lease, receipt).await;
            if !settled.as_ref().is_ok_and(|o| o.as_ref().is_some_and(|o| o.is_settled())) {
                tracing::warn!(%lease_id, ?settled, "could not settle past the exposure limit");
                return Err(Refusal::new(
                    RefusalCode::SettlementPending,
                    format!(
                        "lease {lease_id}: what is unsettled passed the provider's limit and could not be settled yet"
                    ),
                    "retry shortly: the receipt is kept; nothing was served or charged",
                ));
            }
        }
        self.inner.accepted.lock().expect("accepted lock").insert(lease_id, accepted);
        self.inner.metrics.receipts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(accepted)
    }

    fn refused(&self, lease_id: U256, token: Address, error: ReceiptError) -> Refusal {
        let units = |raw: U256| self.inner.client.amount(token, raw).to_string();
        let (code, message, hint) = match &error {
            ReceiptError::NotIncreasing { cumulative, accepted, .. } => (
                RefusalCode::ReceiptReplayed,
                format!(
                    "lease {lease_id}: the receipt's {} does not exceed the {} already accepted",
                    units(*cumulative),
                    units(*accepted)
                ),
                "send a receipt with a larger cumulative amount",
            ),
            ReceiptError::OverCap { cap, attested, .. } => (
                RefusalCode::SignerCapReached,
                format!("the signer would attest {} in total, over its cap of {}", units(*attested), units(*cap)),
                "the tenant raises the signer's cap (`openlease signer authorize`)",
            ),
            ReceiptError::SignerNotAuthorized { .. }
            | ReceiptError::SignerRevoked { .. }
            | ReceiptError::SignerExpired { .. } => (
                RefusalCode::SignerUnauthorized,
                error.to_string(),
                "the tenant authorizes a session signer (`openlease signer authorize`)",
            ),
            ReceiptError::WrongLease { .. } => (
                RefusalCode::MalformedReceipt,
                error.to_string(),
                "the receipt must be for the lease the request names",
            ),
            _ => (
                RefusalCode::ReceiptInvalid,
                format!("the receipt does not verify: {error}"),
                "sign receipts with the session signer's key for this market and chain",
            ),
        };
        Refusal::new(code, message, hint)
    }

    /// Settles what is due of every lease the durable book holds, once (in one replica, when the
    /// book is shared): the one engine loads the book, reads the market's events since its last
    /// pass and settles in batches. Finalized leases leave the book.
    pub async fn settle_due(&self) -> Result<(), GatewayError> {
        let gateway = self.clone();
        let settle = async move {
            let mut engine = gateway.inner.engine.lock().await;
            gateway.load_book(&mut engine).await?;
            let Engine { watcher, book, .. } = &mut *engine;
            let report = watcher.poll(book).await?;
            let mut finalized = Vec::new();
            for alert in &report.alerts {
                tracing::info!(?alert, "settlement watcher");
                if let openlease_client::WatchAlert::LeaseFinalized { lease_id, .. } = alert {
                    gateway.inner.store.forget(*lease_id).await?;
                    finalized.push(*lease_id);
                }
            }
            for (reason, outcome) in &report.settled {
                tracing::info!(lease = %outcome.lease_id, ?reason, paid = %outcome.paid, "settled");
            }
            gateway.inner.metrics.set_unsettled(book.leases().map(|id| (id, book.unsettled(id))).collect());
            gateway.sync_verifiers(book, &finalized).await;
            drop(engine);
            if gateway.inner.config.evict_unpaid {
                gateway.collect_unpaid().await?;
            }
            Ok::<(), GatewayError>(())
        };
        self.inner.store.with_settlement_lock(settle).await?.unwrap_or(Ok(()))
    }

    /// Brings the engine's book up to the durable one: every lease's newest receipt, whichever
    /// replica took it. A lease new to the engine is read once (what is settled of it).
    async fn load_book(&self, engine: &mut Engine<P>) -> Result<(), GatewayError> {
        let stored = self.inner.store.all(&self.inner.client.receipt_domain()).await?;
        for entry in stored {
            let lease_id = entry.receipt.receipt.leaseId;
            if engine.unknown.contains(&lease_id) {
                continue;
            }
            if !engine.book.has_lease(lease_id) {
                match self.inner.client.lease(lease_id).await {
                    Ok(lease) => engine.book.add_lease(lease_id, U256::from(lease.settled)),
                    Err(openlease_client::Error::UnknownLease { .. }) => {
                        engine.unknown.insert(lease_id);
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            engine.book.keep_verified(entry.receipt);
        }
        Ok(())
    }

    /// Tells every signer's verifier what the engine settled (or a reorg undid) and which leases
    /// were finalized: what counts against a signer's cap is what is accepted and not settled.
    async fn sync_verifiers(&self, book: &ReceiptBook, finalized: &[U256]) {
        let books: Vec<_> = self.inner.signers.lock().expect("signers lock").values().cloned().collect();
        for signer in books {
            let mut signer = signer.lock().await;
            let kept = signer.verifier.book_mut();
            for lease_id in kept.leases().collect::<Vec<_>>() {
                if finalized.contains(&lease_id) {
                    kept.forget(lease_id);
                } else if book.has_lease(lease_id) {
                    let settled = book.settled(lease_id);
                    if settled < kept.settled(lease_id) {
                        kept.resync(lease_id, settled);
                    } else {
                        kept.mark_settled(lease_id, settled);
                    }
                }
            }
        }
    }

    /// Settles `receipt` (the newest of `lease`) at once, through the engine.
    async fn settle_now(
        &self,
        lease: &Lease,
        receipt: SignedReceipt,
    ) -> Result<Option<openlease_client::SettlementOutcome>, GatewayError> {
        let lease_id = receipt.receipt.leaseId;
        let mut engine = self.inner.engine.lock().await;
        let Engine { watcher, book, .. } = &mut *engine;
        if !book.has_lease(lease_id) {
            book.add_lease(lease_id, U256::from(lease.settled));
        }
        book.keep_verified(receipt);
        let outcome = watcher.settle_now(book, lease_id).await?;
        self.sync_verifiers(book, &[]).await;
        Ok(outcome)
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
        for (lease_id, _) in unpaid {
            let lease = client.lease(lease_id).await?;
            let newest = self.inner.engine.lock().await.book.newest(lease_id).cloned();
            if let Some(newest) = newest {
                self.settle_now(&lease, newest).await?;
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
        let gated = routes
            .layer(axum::middleware::from_fn_with_state(self.clone(), attest::attest::<P>))
            .layer(axum::middleware::from_fn_with_state(self.clone(), meter::<P>))
            .layer(axum::middleware::from_fn_with_state(self.clone(), admit::<P>));
        let metrics = self.inner.metrics.clone();
        Router::new()
            .route("/openlease/health", get(|| async { Json(json!({ "healthy": true })) }))
            .route("/openlease/metrics", get(move || async move { metrics.render() }))
            .merge(gated)
    }
}

/// What admitted a request: the service behind the gate finds it in the request's extensions
/// (`axum::Extension<Admission>`), to know which lease pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub lease_id: U256,
    pub tenant: Address,
    /// What the lease's offer runs.
    pub workload: B256,
    /// Chain time until which the lease's receipts and credit pay for service: an answer still
    /// streaming then is cut, unless the tenant paid more meanwhile.
    pub paid_until: u64,
    /// The chain's time at admission.
    pub now: u64,
}

impl<P: Provider + Clone + 'static> Gateway<P> {
    /// Until when (chain time) `lease`'s service is paid, with what the gateway holds now: its
    /// newest receipt (or settled total) plus the credit window.
    fn paid_until(&self, lease: &Lease, lease_id: U256) -> u64 {
        let accepted = U256::from(lease.settled).max(self.accepted(lease_id).unwrap_or_default());
        let credit = U256::from(lease.pricePerSecond) * U256::from(self.inner.config.credit_secs);
        terms::covered_until(lease, accepted.saturating_add(credit))
    }

    /// An answer's body that ends when the service it streams stops being paid for: a stream
    /// of server-sent events gets a final `event: error` with the refusal, any other is broken off
    /// (the client sees an incomplete body, never a clean end). A body that ends first is untouched.
    fn metered(&self, admission: Admission, body: axum::body::Body, sse: bool) -> axum::body::Body {
        use futures_util::StreamExt;
        let gateway = self.clone();
        let deadline = |paid_until: u64, now: u64| {
            tokio::time::Instant::now() + Duration::from_secs(paid_until.saturating_sub(now))
        };
        let sleep = Box::pin(tokio::time::sleep_until(deadline(admission.paid_until, admission.now)));
        let state = (body.into_data_stream(), sleep, false);
        let stream = futures_util::stream::unfold(state, move |(mut data, mut sleep, ended)| {
            let gateway = gateway.clone();
            async move {
                if ended {
                    return None;
                }
                loop {
                    tokio::select! {
                        chunk = data.next() => return chunk.map(|chunk| (chunk, (data, sleep, false))),
                        () = &mut sleep => {
                            let lease = gateway.inner.leases.lock().expect("lease cache").get(&admission.lease_id).cloned();
                            let now = gateway.cached_now();
                            if let Some(known) = lease {
                                let paid_until = gateway.paid_until(&known.lease, admission.lease_id);
                                if paid_until > now {
                                    sleep.as_mut().reset(deadline(paid_until, now));
                                    continue;
                                }
                            }
                            gateway.inner.metrics.refuse(RefusalCode::PaymentRequired.as_str());
                            let end = if sse {
                                let refusal = json!({
                                    "error": RefusalCode::PaymentRequired,
                                    "message": format!("lease {}: the stream outlived what is paid for", admission.lease_id),
                                    "hint": "send a receipt for the service so far, then ask again",
                                });
                                Ok(axum::body::Bytes::from(format!("event: error\ndata: {refusal}\n\n")))
                            } else {
                                Err(axum::Error::new("the answer outlived what its lease paid for"))
                            };
                            return Some((end, (data, sleep, true)));
                        }
                    }
                }
            }
        });
        axum::body::Body::from_stream(stream)
    }

    /// The chain's time from the last reading of its clock, without asking the node.
    fn cached_now(&self) -> u64 {
        let offset = self.inner.clock.lock().expect("clock lock").0;
        (unix_now() + offset).max(0) as u64
    }
}

/// The first layer: admits the request (its lease, that it is the tenant's, its receipt, the
/// credit) or answers the refusal, counting both ways. The admission goes on with the request.
async fn admit<P: Provider + Clone + 'static>(
    State(gateway): State<Gateway<P>>,
    mut request: Request,
    next: Next,
) -> Response {
    match gateway.admit(request.headers()).await {
        Ok(admission) => {
            gateway.inner.metrics.served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            request.extensions_mut().insert(admission);
            next.run(request).await
        }
        Err(refusal) => {
            gateway.inner.metrics.refuse(refusal.code.as_str());
            refusal.into_response()
        }
    }
}

/// The second layer: an answer that streams (its length unknown) is metered, cut when the
/// service is no longer paid for ([`Gateway::metered`]). An answer of known length passes as it is.
async fn meter<P: Provider + Clone + 'static>(
    State(gateway): State<Gateway<P>>,
    request: Request,
    next: Next,
) -> Response {
    let admission = request.extensions().get::<Admission>().copied();
    let response = next.run(request).await;
    use axum::body::HttpBody;
    let Some(admission) = admission else { return response };
    // A body of known length (in the body, or said by the service behind a proxy) ends on its own.
    if response.body().size_hint().exact().is_some()
        || response.headers().contains_key(axum::http::header::CONTENT_LENGTH)
    {
        return response;
    }
    let sse = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, gateway.metered(admission, body, sse))
}

fn lease_header(headers: &HeaderMap) -> Result<U256, Refusal> {
    let Some(value) = headers.get(wire::LEASE_HEADER) else {
        return Err(Refusal::new(
            RefusalCode::LeaseRequired,
            format!("the request names no lease: add the `{}` header", wire::LEASE_HEADER),
            "open a lease with `openlease lease open` and send its id with every request",
        ));
    };
    value.to_str().ok().and_then(wire::parse_lease_header).ok_or_else(|| {
        Refusal::new(
            RefusalCode::MalformedLease,
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
        Refusal::new(RefusalCode::MalformedReceipt, "the receipt header is not ASCII", "send compact JSON")
    })?;
    let receipt = wire::parse_receipt_header(text, domain).map_err(|e| match e {
        openlease_client::ReceiptFileError::WrongChain { .. }
        | openlease_client::ReceiptFileError::WrongMarket { .. } => {
            Refusal::new(RefusalCode::ReceiptInvalid, e.to_string(), "sign for this market and chain")
        }
        other => Refusal::new(
            RefusalCode::MalformedReceipt,
            format!("the `{}` header is not a receipt: {other}", wire::RECEIPT_HEADER),
            "send the SDK's wire format (openlease_client::wire)",
        ),
    })?;
    if receipt.receipt.leaseId != lease_id {
        return Err(Refusal::new(
            RefusalCode::MalformedReceipt,
            format!("the receipt is for lease {}, the request for lease {lease_id}", receipt.receipt.leaseId),
            "send the receipt of the lease the request names",
        ));
    }
    Ok(receipt)
}

fn unavailable(error: openlease_client::Error) -> Refusal {
    Refusal::new(RefusalCode::ChainUnavailable, format!("the gateway cannot read the market: {error}"), "retry shortly")
}
