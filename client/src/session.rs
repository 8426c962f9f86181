//! A tenant's session: lease from the best provider, pay as service is delivered, fail over when
//! the provider stops answering, fall back to a centralized service when no provider will do.
//!
//! The session pays for time served and never for time the provider did not answer: each
//! request that gets an answer counts the time since the previous answered one as served; a
//! request that fails makes the time since the last answer unserved. The receipt it attaches is
//! `price × served seconds`, through the lease's session signer; every request also carries a
//! short-lived access grant (the [`wire`] format), so that only this session draws on its lease.
//! A receipt whose request got no answer is in doubt (the gateway may hold it): it is sent again,
//! and a `receipt_replayed` refusal says it was held. A provider is left after
//! `failures_before_failover` distinct requests failed in a row, or at once when its health probe
//! fails after a failed request: the session gives notice and moves the escrow no receipt can
//! claim into a lease of the next choice (`failoverLease`: no second deposit), then replays the
//! request in flight there. A request that fails while its provider stays is answered with an
//! error. With no choice left, requests go to the fallback URL, and the report says so.
//! [`SessionReport`] is the real cost of the session: who served how long, what was paid, paid
//! for nothing (zero by construction), how long failovers took, what the fallback served, and,
//! after [`Session::finish`], what each lease leaves in escrow and when it comes back.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};

/// The HTTP method of a session's request.
pub use reqwest::Method;

use crate::{
    Client, Error, LeaseRequest, ReceiptSigner, Result, SignedAnswer, SignedReceipt, SignerGrant,
    check::{CheckReport, Checks, ContestOutcome, Contested, Equivocation},
    status::LeaseStatus,
    wire::{self, RefusalCode},
};

/// How a session leases, pays and fails over.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Seconds each lease is opened for.
    pub duration: u32,
    /// The escrow each lease should hold (the first is deposited; a failover tops the escrow it
    /// moves up to this), raw units of the token.
    pub deposit: U256,
    /// The most this session's receipts may attest, over all leases: each provider's authorization
    /// gets what is left of it when its lease opens.
    pub budget: U256,
    /// Distinct requests failed in a row on one provider before leaving it (a failed health
    /// probe after a failed request leaves it at once).
    pub failures_before_failover: u32,
    /// How long one request may take before it counts as failed.
    pub request_timeout: Duration,
    /// Where requests go when no provider can serve (a centralized cloud), if anywhere.
    pub fallback: Option<String>,
    /// What one fallback request costs, for the report (raw units).
    pub fallback_cost_per_request: U256,
    /// Dispute a lease left because its provider stopped answering at all (no HTTP answer for
    /// `failures_before_failover` requests in a row while the session was paid up): the evidence
    /// is the failures' times, and the arbiter of the lease rules. Costs the dispute bond.
    pub dispute_dead_providers: bool,
    /// Sampled checks of the answers against a referee (module [`crate::check`]), if any.
    pub checks: Option<Checks>,
}

/// A provider the session may lease from: an offer, and where its gateway listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub provider: Address,
    pub offer_id: U256,
    /// The gateway's base URL (the provider's registered `endpoint`).
    pub endpoint: String,
}

/// Who answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedBy {
    Provider {
        provider: Address,
        lease_id: U256,
    },
    Fallback,
    /// The referee of a check that contested the provider's answer: its answer replaces it.
    Referee,
}

/// An answer the session got.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The answer's `content-type`, as the service gave it.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub served_by: ServedBy,
}

/// A request for the service: what an app sends, before the session adds its lease, access grant
/// and receipt.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: reqwest::Method,
    /// The path and query on the service.
    pub path: String,
    /// The body's `content-type`, passed on.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Call {
    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self { method: reqwest::Method::GET, path: path.to_owned(), content_type: None, body: Vec::new() }
    }
}

/// A piece of an answer, as it arrives.
#[derive(Debug)]
pub enum Piece<'a> {
    /// An answer began, from the provider or the fallback. A request replayed elsewhere after an
    /// answer broke off before its first chunk begins again: the last head before a chunk is the
    /// answer's.
    Head { status: u16, content_type: Option<&'a str> },
    /// Part of its body.
    Chunk(&'a [u8]),
}

/// One provider's part in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUse {
    pub provider: Address,
    pub lease_id: U256,
    pub price_per_second: u64,
    /// Seconds of service it delivered, by the session's own account.
    pub served_secs: u64,
    /// The newest receipt the provider received for this lease: what it can settle.
    pub paid: U256,
    /// A larger receipt sent with a request that got no answer: the provider may hold it. Sent
    /// again with the next request, which says whether it was.
    pub in_doubt: U256,
    pub answered: u64,
    pub failed: u64,
    /// Its answers that a check contested (one is enough to leave it).
    pub contested: u64,
}

impl ProviderUse {
    /// Attested beyond the price of the time served: zero unless the session is wrong.
    pub fn paid_for_nothing(&self) -> U256 {
        self.paid.saturating_sub(self.worth())
    }

    /// Served and not (yet) paid: the time since the last receipt that reached the provider.
    pub fn unpaid(&self) -> U256 {
        self.worth().saturating_sub(self.paid)
    }

    fn worth(&self) -> U256 {
        U256::from(self.price_per_second) * U256::from(self.served_secs)
    }
}

/// A lease at the end of a session ([`Session::finish`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseWindDown {
    pub lease_id: U256,
    /// When it stops running (after the notice the session gave, or its own end).
    pub ends_at: u64,
    /// What stays in escrow for the tenant if the provider settles every receipt it holds: the
    /// deposit beyond what the session attested (in doubt included).
    pub refund: U256,
    /// From when the refund can be claimed: the end of the lease's settlement window
    /// (`finalizeLease`, anyone may call it; `openlease lease finalize`).
    pub refund_from: u64,
}

/// The real cost of a session so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionReport {
    /// Every provider used, in order.
    pub providers: Vec<ProviderUse>,
    /// From the first failure of a provider left to the first answer after leaving it.
    pub failovers: Vec<Duration>,
    pub fallback_requests: u64,
    pub fallback_cost: U256,
    /// Each lease's escrow left and when it comes back, once the session finished.
    pub wind_down: Vec<LeaseWindDown>,
    /// What the sampled checks found and cost.
    pub checks: CheckReport,
}

impl SessionReport {
    pub fn paid(&self) -> U256 {
        self.providers.iter().map(|p| p.paid).fold(U256::ZERO, |a, b| a + b)
    }

    pub fn paid_for_nothing(&self) -> U256 {
        self.providers.iter().map(ProviderUse::paid_for_nothing).fold(U256::ZERO, |a, b| a + b)
    }
}

/// The lease being used.
struct Current {
    destination: Destination,
    lease_id: U256,
    /// Chain time of the last answered request; `None` after a failure.
    last_answer: Option<u64>,
    /// Chain time of the last answered request, failures or not: where the service paid for ends.
    served_until: u64,
    failures: u32,
    first_failure: Option<Instant>,
    /// The provider's registered attestation key: its answers are its word under it alone.
    attestation_key: Address,
    /// The verifier the lease's offer names (zero for none).
    verifier: Address,
}

/// A tenant's session over an HTTP service sold on the market.
pub struct Session<P> {
    client: Client<P>,
    signer: ReceiptSigner,
    config: SessionConfig,
    http: reqwest::Client,
    next: VecDeque<Destination>,
    current: Option<Current>,
    report: SessionReport,
    /// Set when a provider was left, until the next answer: the failover's start.
    leaving: Option<Instant>,
    /// Chain times of the current provider's unanswered requests (the evidence of a dispute).
    silent: Vec<u64>,
    /// When the session's signer's authorizations end.
    expiry: u64,
    /// The newest receipt signed for each lease: what answers a payment demand.
    newest: Vec<SignedReceipt>,
    /// Chain time payment demands were last looked for.
    demands_checked_at: u64,
    /// The access grant sent with requests: its lease, header and expiry.
    access: Option<(U256, String, u64)>,
    /// The chain's time after the last request.
    chain_now: u64,
    /// The lease and sequence of each kept attestation: an equivocation is found in one lookup.
    sequences: std::collections::HashSet<(U256, u64)>,
}

/// How long the access grants a session signs live (chain seconds): short, since a copied grant
/// is good until it expires; renewed when less than a fifth is left.
pub const ACCESS_LIFETIME: u64 = 600;

/// How often (chain seconds) a session looks for payment demands on its leases: well inside the
/// market's payment grace, so that a demand is answered long before it would let the provider evict.
pub const DEMAND_CHECK_INTERVAL: u64 = 300;

impl<P: Provider + Clone> Session<P> {
    /// Opens a lease of the first of `choices` that takes one (by permit where the token has
    /// it), authorizing a fresh session signer for its provider in the same transaction; the rest
    /// are the failover order. With no choice that opens, the session starts on its fallback (or
    /// fails without).
    pub async fn start(client: Client<P>, choices: Vec<Destination>, config: SessionConfig) -> Result<Self> {
        let key = PrivateKeySigner::random();
        let now = client.now().await?;
        let expiry = now + 30 * 86_400;
        // A request fails when nothing comes for `request_timeout`, not when a long stream goes on.
        let http = reqwest::Client::builder()
            .connect_timeout(config.request_timeout)
            .read_timeout(config.request_timeout)
            .build()
            .map_err(http_error)?;
        let mut session = Self {
            signer: client.receipt_signer(key),
            client,
            config,
            http,
            next: choices.into(),
            current: None,
            report: SessionReport::default(),
            leaving: None,
            silent: Vec::new(),
            expiry,
            newest: Vec::new(),
            sequences: Default::default(),
            demands_checked_at: now,
            access: None,
            chain_now: now,
        };
        session.move_on(None).await?;
        Ok(session)
    }

    /// The cost so far.
    pub fn report(&self) -> &SessionReport {
        &self.report
    }

    /// The session signer: what the tenant authorizes (per provider) and may revoke.
    pub fn signer(&self) -> Address {
        self.signer.address()
    }

    /// The lease in use, if a provider serves.
    pub fn lease(&self) -> Option<(Address, U256)> {
        self.current.as_ref().map(|c| (c.destination.provider, c.lease_id))
    }

    /// Opens a lease on the next destination that takes one: by failover from `old` when
    /// leaving a lease, else a fresh one.
    async fn move_on(&mut self, old: Option<U256>) -> Result<()> {
        self.current = None;
        while let Some(destination) = self.next.pop_front() {
            // A gateway that does not answer its health probe is not worth a lease.
            let health = format!("{}/openlease/health", destination.endpoint);
            if !self.http.get(&health).send().await.is_ok_and(|a| a.status().is_success()) {
                tracing::warn!(provider = %destination.provider, "its gateway does not answer; trying the next");
                continue;
            }
            match self.open(&destination, old).await {
                Ok(lease_id) => {
                    let lease = self.client.lease(lease_id).await?;
                    self.report.providers.push(ProviderUse {
                        provider: destination.provider,
                        lease_id,
                        price_per_second: lease.pricePerSecond,
                        served_secs: 0,
                        paid: U256::ZERO,
                        in_doubt: U256::ZERO,
                        answered: 0,
                        failed: 0,
                        contested: 0,
                    });
                    let profile = self.client.market().providerProfile(destination.provider).call().await?;
                    let verifier = self.client.offer(destination.offer_id).await?.verifier;
                    // Service is assumed from the lease's start until a request says otherwise.
                    let started = u64::from(lease.startedAt);
                    self.current = Some(Current {
                        destination,
                        lease_id,
                        last_answer: Some(started),
                        served_until: started,
                        failures: 0,
                        first_failure: None,
                        attestation_key: profile.attestationKey,
                        verifier,
                    });
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!(provider = %destination.provider, %error, "could not lease; trying the next")
                }
            }
        }
        if let Some(old) = old {
            // No one to move to: stop the old lease's clock at least.
            let _ = self.client.close_lease(old).await;
        }
        if self.config.fallback.is_none() {
            return Err(Error::NoProvider);
        }
        Ok(())
    }

    async fn open(&self, destination: &Destination, old: Option<U256>) -> Result<U256> {
        let quote = self.client.offer_quote(destination.offer_id).await?;
        // The provider's own authorization, with what is left of the budget, in the same
        // transaction: no other provider's receipts can use it up.
        // A provider already leased from keeps its authorization: a cap never decreases.
        let tenant = self.client.address();
        let authorized = self.client.session_signer(tenant, self.signer.address(), destination.provider).await?;
        let grant = (!authorized.is_authorized()).then(|| SignerGrant {
            signer: self.signer.address(),
            cap: self.config.budget.saturating_sub(self.report.paid()),
            expires_at: self.expiry,
        });
        let deposit = match old {
            Some(old) => self.config.deposit.saturating_sub(self.moved_by_failover(old).await?),
            None => self.config.deposit,
        };
        let mut request = LeaseRequest::new(&quote, self.config.duration, deposit);
        request.authorize = grant;
        match old {
            Some(old) => Ok(self.client.failover_lease(old, request).await?.lease_id),
            None => Ok(self.client.open_lease(request).await?.lease_id),
        }
    }

    /// Answers every payment demand standing on the session's leases by settling the newest
    /// receipt given for the lease: a provider that holds receipts back cannot evict a tenant that
    /// paid. Sessions do it on their own every [`DEMAND_CHECK_INTERVAL`]; returns what was paid.
    pub async fn answer_demands(&mut self) -> Result<U256> {
        let mut paid = U256::ZERO;
        for newest in self.newest.clone() {
            match self.client.answer_demand(newest.receipt.leaseId, &newest).await {
                Ok(Some(amount)) => {
                    tracing::info!(lease = %newest.receipt.leaseId, %amount, "answered a payment demand");
                    paid += amount;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(lease = %newest.receipt.leaseId, %error, "could not answer a demand"),
            }
        }
        Ok(paid)
    }

    /// What `failoverLease` will move out of `old`: its deposit beyond what its terms can still
    /// let accrue once notice is given now.
    async fn moved_by_failover(&self, old: U256) -> Result<U256> {
        let lease = self.client.lease(old).await?;
        let now = self.client.now().await?;
        Ok(crate::terms::unclaimable(&lease, crate::terms::end_after_notice(&lease, now)))
    }

    /// Sends `GET path` to whoever serves now; see [`Self::request`].
    pub async fn get(&mut self, path: &str) -> Result<Answer> {
        self.request(reqwest::Method::GET, path, Vec::new()).await
    }

    /// Sends a request with the lease, an access grant and the newest receipt, counting the
    /// answer as service (or its absence as none). After `failures_before_failover` failed
    /// requests, or a failed request and a failed health probe, fails over and replays it; a
    /// request that fails while the provider stays is answered with [`Error::Http`].
    pub async fn request(&mut self, method: reqwest::Method, path: &str, body: Vec<u8>) -> Result<Answer> {
        self.request_with(method, path, body, |_| {}).await
    }

    /// [`Self::request`], handing each piece of the answer to `on_chunk` as it arrives (a stream
    /// of server-sent events, a chunked body); the [`Answer`] has the whole body too. An answer that
    /// breaks off after a piece was handed on is not replayed elsewhere (the caller saw part of
    /// it): it is an error.
    pub async fn request_with(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        mut on_chunk: impl FnMut(&[u8]),
    ) -> Result<Answer> {
        let call = Call { method, path: path.to_owned(), content_type: None, body };
        self.send(&call, |piece| {
            if let Piece::Chunk(chunk) = piece {
                on_chunk(chunk)
            }
        })
        .await
    }

    /// Sends `call` to whoever serves now, handing the answer's head and body to `on_piece` as
    /// they arrive; see [`Self::request_with`].
    pub async fn send(&mut self, call: &Call, mut on_piece: impl FnMut(Piece<'_>)) -> Result<Answer> {
        let Call { method, path, content_type, body } = call;
        let mut renewed = false;
        loop {
            let Some(current) = &self.current else { return self.fallback(call, on_piece).await };
            let (lease_id, provider, url) =
                (current.lease_id, current.destination.provider, format!("{}{path}", current.destination.endpoint));
            let attested = self.report.providers.last().map(|used| used.paid);
            let receipt = self.receipt()?;
            let access = self.access(lease_id, renewed).await?;
            let mut request = self.http.request(method.clone(), url).body(body.clone());
            if let Some(content_type) = content_type {
                request = request.header(reqwest::header::CONTENT_TYPE, content_type);
            }
            request = request.header(wire::LEASE_HEADER, lease_id.to_string()).header(wire::ACCESS_HEADER, access);
            if let Some((receipt, _)) = &receipt {
                request = request.header(wire::RECEIPT_HEADER, receipt);
            }
            let outcome = request.send().await;
            let now = self.client.now().await?;
            self.chain_now = now;
            if now >= self.demands_checked_at + DEMAND_CHECK_INTERVAL {
                self.demands_checked_at = now;
                self.answer_demands().await?;
            }
            let sent = receipt.map(|(_, amount)| amount);
            let error = match outcome {
                Ok(mut answer) if answer.status().is_success() => {
                    let status = answer.status().as_u16();
                    let content_type = content_type_of(&answer);
                    let attested = answer.headers().get(wire::ATTESTATION_HEADER).and_then(|v| v.to_str().ok());
                    let attested = attested.and_then(SignedAnswer::parse);
                    on_piece(Piece::Head { status, content_type: content_type.as_deref() });
                    let mut whole = Vec::new();
                    let read = loop {
                        match answer.chunk().await {
                            Ok(Some(chunk)) => {
                                on_piece(Piece::Chunk(&chunk));
                                whole.extend_from_slice(&chunk);
                            }
                            Ok(None) => break Ok(()),
                            Err(error) => break Err(error),
                        }
                    };
                    // The receipt reached the gateway either way: it answered.
                    self.delivered(sent);
                    let now = self.client.now().await?;
                    match read {
                        Ok(()) => {
                            self.answered(now);
                            let served_by = ServedBy::Provider { provider, lease_id };
                            let answer = Answer { status, content_type, body: whole, served_by };
                            return self.check(call, answer, attested).await;
                        }
                        Err(error) if !whole.is_empty() => {
                            // Part of it was handed on: no replay, the caller hears it broke off.
                            // The time up to the break was served; the break is a failure (a
                            // provider that breaks its answers off is left like a silent one).
                            self.served(now);
                            self.failed().await?;
                            return Err(Error::Http(format!(
                                "provider {provider}'s answer broke off after {} bytes: {error}",
                                whole.len()
                            )));
                        }
                        Err(error) => format!("the answer broke off: {error}"),
                    }
                }
                Ok(answer) => {
                    let status = answer.status();
                    let content_type = content_type_of(&answer);
                    let body = answer.bytes().await.ok();
                    let code = body.as_deref().and_then(RefusalCode::of_body);
                    if let (None, Some(body)) = (code, &body)
                        && status.is_client_error()
                    {
                        // Not the gateway's refusal: the service's own answer to a request it
                        // judged wrong. It is the app's to read, served and paid like any answer,
                        // and no reason to leave the provider.
                        self.delivered(sent);
                        let now = self.client.now().await?;
                        self.answered(now);
                        let status = status.as_u16();
                        on_piece(Piece::Head { status, content_type: content_type.as_deref() });
                        on_piece(Piece::Chunk(body));
                        let served_by = ServedBy::Provider { provider, lease_id };
                        return Ok(Answer { status, content_type, body: body.to_vec(), served_by });
                    }
                    tracing::info!(%provider, %status, ?code, "the provider refused or failed the request");
                    match code {
                        // The gateway holds a receipt as large: what was sent is paid. The request
                        // goes again, with nothing new to pay.
                        Some(RefusalCode::ReceiptReplayed) => {
                            self.delivered(sent);
                            continue;
                        }
                        Some(RefusalCode::AccessExpired) if !renewed => {
                            // The chain moved on since the grant was signed.
                            self.unsent(attested, sent);
                            renewed = true;
                            continue;
                        }
                        Some(code) if code.keeps_receipt() => self.delivered(sent),
                        _ => self.unsent(attested, sent),
                    }
                    format!("HTTP {status} ({})", code.map_or("no refusal code", RefusalCode::as_str))
                }
                Err(error) => {
                    tracing::info!(%provider, %error, "the provider did not answer");
                    self.in_doubt(attested, sent);
                    self.silent.push(now);
                    error.to_string()
                }
            };
            if !self.failed().await? {
                return Err(Error::Http(format!("provider {provider} failed the request: {error}")));
            }
        }
    }

    /// A sampled check of `answer`, the current provider's to `call` (module [`crate::check`]):
    /// it stands, or, contested, the referee's answer replaces it, the provider is left, and the
    /// lease left is slashed through its verifier or disputed, with the evidence kept.
    async fn check(&mut self, call: &Call, answer: Answer, header: Option<SignedAnswer>) -> Result<Answer> {
        let current = self.current.as_ref().expect("answered by the current provider");
        let (lease_id, provider) = (current.lease_id, current.destination.provider);
        let (key, verifier) = (current.attestation_key, current.verifier);
        let request = crate::attestation::request_bytes(call.method.as_str(), &call.path, &call.body);
        // A stream's attestation is its final event; what it attests is every byte before.
        let (response, attestation) = match header {
            Some(header) => (&answer.body[..], Some(header)),
            None => crate::attestation::split_event(&answer.body),
        };
        let attestation = attestation.filter(|a| {
            a.lease_id == lease_id && a.signer(self.signer.domain()).ok() == Some(key) && a.covers(&request, response)
        });
        match &attestation {
            Some(attestation) => {
                if let Some(first) = self.keep(attestation) {
                    self.equivocated(provider, first, attestation.clone()).await;
                    return Ok(answer);
                }
            }
            None => self.report.checks.unattested += 1,
        }
        let Some(checks) = self.config.checks.clone() else { return Ok(answer) };
        use alloy::signers::k256::elliptic_curve::rand_core::{OsRng, RngCore};
        let draw = OsRng.next_u64() as f64 / u64::MAX as f64;
        if draw >= checks.share {
            return Ok(answer);
        }
        let mut referee = self.http.request(call.method.clone(), format!("{}{}", checks.referee, call.path));
        if let Some(content_type) = &call.content_type {
            referee = referee.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        let referee = match referee.body(call.body.clone()).send().await {
            Ok(answer) if answer.status().is_success() => answer.bytes().await.ok(),
            _ => None,
        };
        let Some(referee) = referee else {
            self.report.checks.referee_failed += 1;
            return Ok(answer);
        };
        self.report.checks.checked += 1;
        self.report.checks.cost += checks.cost_per_check;
        if (checks.comparator)(call, response, &referee) {
            self.report.checks.agreed += 1;
            return Ok(answer);
        }
        self.report.checks.contested += 1;
        self.report.providers.last_mut().expect("a provider in use").contested += 1;
        tracing::warn!(%provider, lease = %lease_id, path = %call.path, "a check contested the provider's answer; leaving it");
        let response = response.to_vec();
        // Leave first, moving the escrow no receipt can claim; then act on the lease left.
        self.leaving = Some(Instant::now());
        if let Err(error) = self.move_on(Some(lease_id)).await {
            tracing::warn!(%error, "no provider to move to after a contested answer");
        }
        if let Some(attestation) = attestation {
            let outcome = self.contest(lease_id, verifier, &attestation, &request, &response, checks.dispute).await;
            self.report.checks.evidence.push(Contested {
                provider,
                lease_id,
                request,
                response,
                attestation,
                referee_response: referee.to_vec(),
                outcome,
            });
        }
        Ok(Answer {
            status: 200,
            content_type: answer.content_type,
            body: referee.to_vec(),
            served_by: ServedBy::Referee,
        })
    }

    /// Keeps `attestation`, the provider's word on what it served (the newest ones): evidence
    /// should an answer prove wrong later. Returns the one kept before it with the same sequence
    /// if they differ: an equivocation.
    fn keep(&mut self, attestation: &SignedAnswer) -> Option<SignedAnswer> {
        let key = (attestation.lease_id, attestation.sequence);
        let kept = &mut self.report.checks.attestations;
        if self.sequences.contains(&key) {
            let first = kept.iter().find(|k| (k.lease_id, k.sequence) == key).expect("kept with its key");
            return (first.attestation() != attestation.attestation()).then(|| first.clone());
        }
        if kept.len() == crate::check::KEPT_ATTESTATIONS
            && let Some(oldest) = kept.pop_front()
        {
            self.sequences.remove(&(oldest.lease_id, oldest.sequence));
        }
        kept.push_back(attestation.clone());
        self.sequences.insert(key);
        None
    }

    /// The provider signed two answers with one sequence: it is left, and the lease left is
    /// slashed on the two signatures alone (`slashEquivocation`: anyone may, the tenant is paid).
    async fn equivocated(&mut self, provider: Address, first: SignedAnswer, second: SignedAnswer) {
        let lease_id = second.lease_id;
        tracing::warn!(%provider, lease = %lease_id, sequence = second.sequence, "the provider attested two answers with one sequence; leaving it");
        self.report.providers.last_mut().expect("a provider in use").contested += 1;
        self.leaving = Some(Instant::now());
        if let Err(error) = self.move_on(Some(lease_id)).await {
            tracing::warn!(%error, "no provider to move to after an equivocation");
        }
        let slash = self.client.market().slashEquivocation(
            first.attestation(),
            first.signature.clone(),
            second.attestation(),
            second.signature.clone(),
        );
        let outcome = match self.client.send(slash).await {
            Ok(receipt) => ContestOutcome::Slashed { tx: receipt.transaction_hash },
            Err(error) => {
                tracing::warn!(lease = %lease_id, %error, "the equivocation was not slashed");
                ContestOutcome::Kept
            }
        };
        self.report.checks.equivocations.push(Equivocation { provider, lease_id, first, second, outcome });
    }

    /// Acts on a contested answer: through the lease's verifier when its offer named one (no
    /// arbiter), else (or if the verifier cannot judge it) by dispute, if `dispute`.
    async fn contest(
        &self,
        lease_id: U256,
        verifier: Address,
        attestation: &SignedAnswer,
        request: &[u8],
        response: &[u8],
        dispute: bool,
    ) -> ContestOutcome {
        if verifier != Address::ZERO {
            let market = self.client.market();
            let slash = market.slashWrongAnswer(
                attestation.attestation(),
                attestation.signature.clone(),
                request.to_vec().into(),
                response.to_vec().into(),
            );
            match self.client.send(slash).await {
                Ok(receipt) => return ContestOutcome::Slashed { tx: receipt.transaction_hash },
                Err(error) => tracing::warn!(lease = %lease_id, %error, "the lease's verifier did not slash"),
            }
        }
        if dispute {
            let evidence = format!(
                "{}{}:{}",
                crate::check::WRONG_ANSWER_EVIDENCE,
                attestation.sequence,
                attestation.response_digest
            );
            match self.client.open_dispute(lease_id, &evidence).await {
                Ok(_) => return ContestOutcome::Disputed,
                Err(error) => tracing::warn!(lease = %lease_id, %error, "could not dispute the contested answer"),
            }
        }
        ContestOutcome::Kept
    }

    /// The access grant for `lease_id`: the one in use, or a fresh one when it is for another
    /// lease, has less than a fifth of its life left, or the gateway said it expired (`renew`).
    async fn access(&mut self, lease_id: U256, renew: bool) -> Result<String> {
        if let Some((lease, header, expires_at)) = &self.access
            && *lease == lease_id
            && !renew
            && self.chain_now + ACCESS_LIFETIME / 5 < *expires_at
        {
            return Ok(header.clone());
        }
        let now = self.client.now().await?;
        self.chain_now = now;
        let grant = self.signer.sign_access(lease_id, now + ACCESS_LIFETIME)?;
        let header = grant.header();
        self.access = Some((lease_id, header.clone(), grant.expires_at));
        Ok(header)
    }

    /// The receipt for the time served so far, if it is more than what the provider is known to
    /// hold (a receipt in doubt is sent again), with its amount.
    fn receipt(&mut self) -> Result<Option<(String, U256)>> {
        let Some(current) = &self.current else { return Ok(None) };
        let used = self.report.providers.last_mut().expect("a provider in use");
        let due = (U256::from(used.price_per_second) * U256::from(used.served_secs)).max(used.in_doubt);
        if due <= used.paid {
            return Ok(None);
        }
        let newest = self.newest.iter().find(|r| r.receipt.leaseId == current.lease_id);
        let signed = match newest {
            Some(newest) if newest.receipt.cumulativeAmount == due => newest.clone(),
            _ => {
                let digest = B256::from(U256::from(used.served_secs));
                self.signer.sign_usage(current.lease_id, due, digest, current.served_until)?
            }
        };
        used.paid = due;
        self.newest.retain(|r| r.receipt.leaseId != current.lease_id);
        self.newest.push(signed.clone());
        Ok(Some((wire::receipt_header(self.signer.domain(), &signed), due)))
    }

    /// The gateway holds the receipt sent (`sent`), or one as large.
    fn delivered(&mut self, sent: Option<U256>) {
        if let (Some(used), Some(sent)) = (self.report.providers.last_mut(), sent) {
            used.paid = used.paid.max(sent);
            if used.in_doubt <= used.paid {
                used.in_doubt = U256::ZERO;
            }
        }
    }

    /// The receipt sent was refused before it was kept: the provider holds what it held.
    fn unsent(&mut self, attested: Option<U256>, sent: Option<U256>) {
        if let (Some(used), Some(attested), Some(_)) = (self.report.providers.last_mut(), attested, sent) {
            used.paid = attested;
        }
    }

    /// The request got no answer: whether its receipt reached the gateway is unknown.
    fn in_doubt(&mut self, attested: Option<U256>, sent: Option<U256>) {
        if let (Some(used), Some(attested), Some(sent)) = (self.report.providers.last_mut(), attested, sent) {
            used.paid = attested;
            used.in_doubt = used.in_doubt.max(sent);
        }
    }

    /// The current provider served until `now`: the time since its last answer counts.
    fn served(&mut self, now: u64) {
        let current = self.current.as_mut().expect("served by the current provider");
        let used = self.report.providers.last_mut().expect("a provider in use");
        if let Some(last) = current.last_answer {
            used.served_secs += now.saturating_sub(last);
        }
        current.last_answer = Some(now);
        current.served_until = now;
    }

    fn answered(&mut self, now: u64) {
        self.served(now);
        let current = self.current.as_mut().expect("answered by the current provider");
        self.report.providers.last_mut().expect("a provider in use").answered += 1;
        current.failures = 0;
        self.silent.clear();
        current.first_failure = None;
        if let Some(left) = self.leaving.take() {
            self.report.failovers.push(left.elapsed());
        }
    }

    /// Counts a failed request against the current provider; leaves it (failing over) after
    /// `failures_before_failover` of them, or when its health probe fails. Whether it left.
    async fn failed(&mut self) -> Result<bool> {
        let current = self.current.as_mut().expect("failed on the current provider");
        current.last_answer = None;
        current.failures += 1;
        let first = *current.first_failure.get_or_insert_with(Instant::now);
        self.report.providers.last_mut().expect("a provider in use").failed += 1;
        if current.failures < self.config.failures_before_failover {
            let health = format!("{}/openlease/health", current.destination.endpoint);
            if self.http.get(&health).send().await.is_ok_and(|a| a.status().is_success()) {
                return Ok(false);
            }
            tracing::warn!(provider = %current.destination.provider, "its health probe failed too");
        }
        let old = current.lease_id;
        tracing::warn!(lease = %old, "failing over");
        self.leaving = Some(first);
        let silent = std::mem::take(&mut self.silent);
        self.move_on(Some(old)).await?;
        if self.config.dispute_dead_providers && !silent.is_empty() {
            // Evidence that fits in the event: when the provider did not answer, chain time.
            let times: Vec<String> = silent.iter().map(u64::to_string).collect();
            let evidence = format!("openlease:unanswered:{}", times.join(","));
            if let Err(error) = self.client.open_dispute(old, &evidence).await {
                tracing::warn!(lease = %old, %error, "could not dispute the lease left");
            }
        }
        Ok(true)
    }

    /// Ends the session: gives notice on the lease in use (the leases it left had theirs at
    /// failover) and says, for every lease, what it leaves in escrow and from when it can be
    /// claimed. Also in [`Self::report`] afterwards.
    pub async fn finish(&mut self) -> Result<Vec<LeaseWindDown>> {
        if let Some(current) = self.current.take() {
            let lease = self.client.lease(current.lease_id).await?;
            let now = self.client.now().await?;
            let running = lease.status == u8::from(LeaseStatus::Open) && now < crate::terms::run_end(&lease);
            if running && crate::terms::end_after_notice(&lease, now) < u64::from(lease.endsAt) {
                self.client.close_lease(current.lease_id).await?;
            }
        }
        let mut wind_down = Vec::new();
        for used in &self.report.providers {
            let lease = self.client.lease(used.lease_id).await?;
            let attested = used.paid.max(used.in_doubt).max(U256::from(lease.settled));
            wind_down.push(LeaseWindDown {
                lease_id: used.lease_id,
                ends_at: crate::terms::run_end(&lease),
                refund: U256::from(lease.deposit).saturating_sub(attested),
                refund_from: self.client.settlement_deadline(used.lease_id).await?,
            });
        }
        self.report.wind_down = wind_down.clone();
        Ok(wind_down)
    }

    async fn fallback(&mut self, call: &Call, mut on_piece: impl FnMut(Piece<'_>)) -> Result<Answer> {
        let Some(base) = &self.config.fallback else { return Err(Error::NoProvider) };
        let mut request =
            self.http.request(call.method.clone(), format!("{base}{}", call.path)).body(call.body.clone());
        if let Some(content_type) = &call.content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        let mut answer = request.send().await.map_err(http_error)?;
        let status = answer.status().as_u16();
        let content_type = content_type_of(&answer);
        on_piece(Piece::Head { status, content_type: content_type.as_deref() });
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await.map_err(http_error)? {
            on_piece(Piece::Chunk(&chunk));
            body.extend_from_slice(&chunk);
        }
        self.report.fallback_requests += 1;
        self.report.fallback_cost += self.config.fallback_cost_per_request;
        if let Some(left) = self.leaving.take() {
            self.report.failovers.push(left.elapsed());
        }
        Ok(Answer { status, content_type, body, served_by: ServedBy::Fallback })
    }
}

fn content_type_of(answer: &reqwest::Response) -> Option<String> {
    answer.headers().get(reqwest::header::CONTENT_TYPE)?.to_str().ok().map(str::to_owned)
}

fn http_error(error: reqwest::Error) -> Error {
    Error::Http(error.to_string())
}

/// A tenant's work spread over several providers: one session each, started on distinct
/// providers, requests taken in turn. No provider gets all of the work, and each session still
/// fails over and falls back on its own.
pub struct Spread<P> {
    sessions: Vec<Session<P>>,
    turn: usize,
}

impl<P: Provider + Clone> Spread<P> {
    /// `n` sessions: session `i` starts on the `i`-th of `choices` and fails over to the choices
    /// no session starts on, in order. Each gets `config` (its own deposit, signer and budget).
    pub async fn start(client: Client<P>, choices: Vec<Destination>, config: SessionConfig, n: usize) -> Result<Self> {
        if choices.is_empty() {
            // Nobody qualifies: one session, on its fallback from the start (or `NoProvider`).
            return Ok(Self { sessions: vec![Session::start(client, choices, config).await?], turn: 0 });
        }
        let n = n.clamp(1, choices.len());
        let spare: Vec<Destination> = choices.iter().skip(n).cloned().collect();
        let mut sessions = Vec::with_capacity(n);
        for first in choices.into_iter().take(n) {
            let order = std::iter::once(first).chain(spare.iter().cloned()).collect();
            sessions.push(Session::start(client.clone(), order, config.clone()).await?);
        }
        Ok(Self { sessions, turn: 0 })
    }

    /// `GET path` on the next session in turn.
    pub async fn get(&mut self, path: &str) -> Result<Answer> {
        let at = self.turn % self.sessions.len();
        self.turn += 1;
        self.sessions[at].get(path).await
    }

    /// Ends every session ([`Session::finish`]).
    pub async fn finish(&mut self) -> Result<Vec<LeaseWindDown>> {
        let mut all = Vec::new();
        for session in &mut self.sessions {
            all.extend(session.finish().await?);
        }
        Ok(all)
    }

    /// [`Session::send`] on the next session in turn.
    pub async fn send(&mut self, call: &Call, on_piece: impl FnMut(Piece<'_>)) -> Result<Answer> {
        let at = self.turn % self.sessions.len();
        self.turn += 1;
        self.sessions[at].send(call, on_piece).await
    }

    /// [`Session::request_with`] on the next session in turn.
    pub async fn request_with(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        on_chunk: impl FnMut(&[u8]),
    ) -> Result<Answer> {
        let at = self.turn % self.sessions.len();
        self.turn += 1;
        self.sessions[at].request_with(method, path, body, on_chunk).await
    }

    /// Each session's report.
    pub fn reports(&self) -> Vec<&SessionReport> {
        self.sessions.iter().map(Session::report).collect()
    }

    /// The sessions' reports as one.
    pub fn report(&self) -> SessionReport {
        let mut all = SessionReport::default();
        for report in self.reports() {
            all.providers.extend(report.providers.iter().cloned());
            all.failovers.extend(report.failovers.iter().copied());
            all.fallback_requests += report.fallback_requests;
            all.fallback_cost += report.fallback_cost;
            all.wind_down.extend(report.wind_down.iter().cloned());
            all.checks.merge(&report.checks);
        }
        all
    }
}
