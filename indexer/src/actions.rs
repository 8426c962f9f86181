//! The actions a tenant or a provider takes through its own wallet: `POST /v1/actions/{action}`
//! answers the steps to take (typed data to sign, transactions to send), prepared from the SDK's
//! rules ([`openlease_client::prepare`]), the same the CLI applies. The server never holds a key:
//! the page's wallet signs and sends, and the mirror shows the outcome once it is mined.
//!
//! Unlike the rest of the API these routes reach the node (the RPC URL the indexer ingests
//! from), so a stranger's request costs node reads. Each request may make [`READS`] of them (an
//! opening with a permit, the most, makes about a dozen; none loops over its input), only
//! [`CONCURRENT`] requests run at once (others get 503 with `Retry-After`), a body is at most
//! [`MAX_BODY`] bytes, and a request the node keeps waiting (retries included) ends after
//! [`DEADLINE`].

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use alloy::{
    primitives::{Address, B256, Signature, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::{
        client::RpcClient,
        json_rpc::{RequestPacket, ResponsePacket},
    },
    transports::{BoxTransport, TransportError, TransportErrorKind, TransportFut},
};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Path, State, rejection::JsonRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use openlease_client::{
    Error as SdkError, LeaseOpeningSteps, LeaseRequest, Manifest, OfferTerms, OpenleaseErrors, Prepare, Refusal,
    UnsignedCall, contracts::workload,
};
use openlease_contracts::{
    manifest::StablecoinEntry,
    units::{TokenAmount, TypedAmount, TypedDuration, TypedPrice},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};

use crate::api::ApiError;

/// Requests preparing at once; the next ones are told to come back.
pub const CONCURRENT: usize = 8;
/// The largest request body: a few addresses, amounts and one signature.
pub const MAX_BODY: usize = 4 * 1024;
/// How long one request may wait on the node.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// The node reads one request may make.
pub const READS: usize = 24;

/// What the action routes share: the node, the market's manifest, the gate.
#[derive(Debug, Clone)]
pub struct ActionsState {
    provider: DynProvider,
    manifest: Manifest,
    gate: Arc<Semaphore>,
    reads: usize,
}

impl ActionsState {
    /// Over `provider` (the node ingestion reads) for the market of `manifest`.
    pub fn new(provider: DynProvider, manifest: Manifest) -> Self {
        Self { provider, manifest, gate: Arc::new(Semaphore::new(CONCURRENT)), reads: READS }
    }

    /// With another budget of node reads per request than [`READS`].
    pub fn with_reads(mut self, reads: usize) -> Self {
        self.reads = reads;
        self
    }

    /// The market for one request: its reads counted against the request's budget.
    fn for_one_request(&self) -> Prepare<DynProvider> {
        let node = self.provider.client();
        let budget = Budget { inner: node.transport().clone(), left: Arc::new(AtomicUsize::new(self.reads)) };
        let rpc = RpcClient::new(budget, node.is_local());
        Prepare::new(
            ProviderBuilder::new().disable_recommended_fillers().connect_client(rpc).erased(),
            self.manifest.clone(),
        )
    }
}

/// What a request over its budget is told (and how its error is known).
const OVER_BUDGET: &str = "more node reads than one request may make";

/// The node's transport with a request's budget of calls: past it, a call fails without reaching
/// the node.
#[derive(Debug, Clone)]
struct Budget {
    inner: BoxTransport,
    left: Arc<AtomicUsize>,
}

impl tower::Service<RequestPacket> for Budget {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let calls = match &request {
            RequestPacket::Single(_) => 1,
            RequestPacket::Batch(batch) => batch.len(),
        };
        if self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(calls)).is_err() {
            return Box::pin(async { Err(TransportErrorKind::custom_str(OVER_BUDGET)) });
        }
        self.inner.call(request)
    }
}

/// The routes, with their gate and body limit.
pub fn router(state: ActionsState) -> Router {
    Router::new()
        .route("/v1/actions/{action}", post(action))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
        .layer(axum::middleware::from_fn(crate::api::to_completion))
}

/// The actions' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(action), components(schemas(ActionRequest, Steps, Permit)))]
pub struct ActionsDoc;

/// What an action is asked with. `from` is the wallet's account; which other fields an action
/// takes is in the route's description. Amounts are written as the CLI takes them (`12.5` or
/// `12.5 USDC`; a stake names its token), durations likewise (`1d`, `90m`, `3600`), a price per
/// hour or second in the offer's token (`0.36 USDC/h`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    from: String,
    offer_id: Option<String>,
    lease_id: Option<String>,
    duration: Option<String>,
    deposit: Option<String>,
    amount: Option<String>,
    /// A market token's symbol or address (claim).
    token: Option<String>,
    /// Where a claim pays; `from` if absent.
    to: Option<String>,
    /// `offerTermsHash` the page showed: the lease opens on these terms or not at all.
    terms_hash: Option<String>,
    price: Option<String>,
    min_duration: Option<String>,
    max_duration: Option<String>,
    notice_period: Option<String>,
    capacity: Option<u16>,
    /// What an offer runs: `demo` or a 32-byte digest (none if absent).
    workload: Option<String>,
    /// The offer's verifier: `demo` or a contract address (none if absent).
    verifier: Option<String>,
    paused: Option<bool>,
    /// The signed permit of an opening, sent back with the request its signing step carried.
    permit: Option<Permit>,
}

/// A signed EIP-2612 permit.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Permit {
    deadline: String,
    /// The 65-byte signature `eth_signTypedData_v4` gave, hex.
    signature: Option<String>,
}

/// The steps to take, in order: `sign_typed_data` (then post `resubmit`, its signature in
/// `permit.signature`) or `send_transaction` (each once the one before is mined).
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Steps {
    action: String,
    chain_id: u64,
    /// What the steps do, in words.
    summary: String,
    #[schema(value_type = Vec<Object>)]
    steps: Vec<Value>,
}

#[utoipa::path(
    post,
    path = "/v1/actions/{action}",
    params(("action" = String, Path, description = "open_lease (offer_id, duration, deposit, terms_hash?, permit?), top_up (lease_id, amount), close_lease (lease_id), claim (token, to?), stake (amount), publish_offer (price, min_duration, max_duration, notice_period, capacity, workload?, verifier?), set_offer_paused (offer_id, paused)")),
    request_body = ActionRequest,
    responses(
        (status = 200, body = Steps),
        (status = 400, body = crate::api::ErrorBody, description = "a malformed field"),
        (status = 404, body = crate::api::ErrorBody, description = "no such action, offer or lease"),
        (status = 413, description = "a body above 4 KiB"),
        (status = 422, body = crate::api::ErrorBody, description = "refused, in words: what the action would do wrong"),
        (status = 502, body = crate::api::ErrorBody, description = "the node could not be reached"),
        (status = 503, body = crate::api::ErrorBody, description = "busy: come back after Retry-After"),
    )
)]
/// Prepares an action of `from`'s for its wallet: the checks and refusals of the CLI, then the
/// typed data to sign and the transactions to send. No key reaches the server.
async fn action(
    State(state): State<ActionsState>,
    Path(action): Path<String>,
    body: Result<Json<ActionRequest>, JsonRejection>,
) -> Response {
    let Ok(_turn) = state.gate.clone().try_acquire_owned() else {
        let busy = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy preparing other actions: try again shortly");
        let mut response = busy.into_response();
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    };
    // The path first: a body is only read for an action that exists.
    if !ACTIONS.contains(&action.as_str()) {
        return unknown_action(&action).into_response();
    }
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => return ApiError::new(rejection.status(), rejection.body_text()).into_response(),
    };
    match tokio::time::timeout(DEADLINE, prepare(&state.for_one_request(), &action, request)).await {
        Ok(Ok(steps)) => Json(steps).into_response(),
        Ok(Err(error)) => error.into_response(),
        Err(_) => {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "the node took too long to answer: try again").into_response()
        }
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// The SDK's errors as answers: a refusal in its words, the market's revert in its; no such
/// offer or lease (a refusal, or the market's view reverting) is a 404.
fn refused(error: SdkError) -> ApiError {
    use OpenleaseErrors as E;
    let refusal = |r: Refusal| {
        let status = match r {
            Refusal::UnknownOffer { .. } | Refusal::UnknownLease { .. } => StatusCode::NOT_FOUND,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, r.to_string())
    };
    match error {
        SdkError::Refused(r) => refusal(*r),
        SdkError::Market(e) => match *e {
            E::OpenleaseUnknownOffer(e) => refusal(Refusal::UnknownOffer { offer_id: e.offerId }),
            E::OpenleaseUnknownLease(e) => refusal(Refusal::UnknownLease { lease_id: e.leaseId }),
            other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, SdkError::Market(Box::new(other)).to_string()),
        },
        SdkError::Transport(e) if e.to_string().contains(OVER_BUDGET) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("preparing this action needed {OVER_BUDGET}: it was stopped"),
        ),
        SdkError::Transport(e) => {
            tracing::warn!(error = %e, "preparing an action: the node failed");
            ApiError::new(StatusCode::BAD_GATEWAY, "the node could not be reached: try again")
        }
        other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
    }
}

fn address(field: &str, value: &str) -> Result<Address, ApiError> {
    let v = value.trim();
    // `0x` and 40 hex digits; a checksum, when mixed case, must hold.
    Address::parse_checksummed(v, None)
        .or_else(|_| if v == v.to_lowercase() { Address::from_str(v).map_err(|_| ()) } else { Err(()) })
        .ok()
        .filter(|_| v.len() == 42)
        .ok_or_else(|| bad(format!("{field}: `{value}` is not an address (0x and 40 hex digits)")))
}

fn required<'a>(field: &str, value: &'a Option<String>) -> Result<&'a str, ApiError> {
    value.as_deref().ok_or_else(|| bad(format!("{field} is missing")))
}

fn id(field: &str, value: &Option<String>) -> Result<U256, ApiError> {
    let v = required(field, value)?.trim();
    v.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .map(U256::from)
        .ok_or_else(|| bad(format!("{field}: `{v}` is not an id (a whole number from 1)")))
}

fn duration(field: &str, value: &Option<String>) -> Result<u32, ApiError> {
    let v = required(field, value)?;
    let typed = v.parse::<TypedDuration>().map_err(|e| bad(format!("{field}: {e}")))?;
    u32::try_from(typed.secs()).map_err(|_| bad(format!("{field}: {typed} is too long")))
}

/// An amount in `coin`'s units, by the CLI's rules.
fn amount(field: &str, value: &Option<String>, coin: &StablecoinEntry) -> Result<TokenAmount, ApiError> {
    let typed = required(field, value)?.parse::<TypedAmount>().map_err(|e| bad(format!("{field}: {e}")))?;
    typed.resolve_in(coin).map_err(|e| bad(format!("{field}: {e}")))
}

fn market_coin(coins: &[StablecoinEntry], token: &str) -> Result<StablecoinEntry, ApiError> {
    let by_address = Address::from_str(token.trim()).ok();
    coins
        .iter()
        .find(|c| Some(c.address) == by_address || c.symbol.eq_ignore_ascii_case(token.trim()))
        .cloned()
        .ok_or_else(|| bad(format!("token: `{token}` is not one of the market's tokens")))
}

fn send(call: &UnsignedCall, chain_id: u64, description: String) -> Value {
    json!({
        "kind": "send_transaction",
        "description": description,
        "transaction": {
            "from": call.from,
            "to": call.to,
            "data": call.data,
            "value": format!("{:#x}", call.value),
            "chainId": format!("{chain_id:#x}"),
        },
    })
}

/// Words for each call of a list that ends with `what` and may start with approvals.
fn send_all(calls: &[UnsignedCall], chain_id: u64, coin: &StablecoinEntry, what: &str) -> Vec<Value> {
    let last = calls.len().saturating_sub(1);
    calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            let words = if i == last { what.to_owned() } else { format!("approve the market to pull {}", coin.symbol) };
            send(call, chain_id, words)
        })
        .collect()
}

/// What an action answers: its summary in words and its steps.
type Prepared = Result<(String, Vec<Value>), ApiError>;

/// The actions `prepare` knows.
const ACTIONS: [&str; 7] =
    ["open_lease", "top_up", "close_lease", "claim", "stake", "publish_offer", "set_offer_paused"];

fn unknown_action(name: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no action `{name}`: {}", ACTIONS.join(", ")))
}

async fn prepare(p: &Prepare<DynProvider>, action: &str, r: ActionRequest) -> Result<Steps, ApiError> {
    let from = address("from", &r.from)?;
    let (summary, steps) = match action {
        "open_lease" => open_lease(p, from, r).await?,
        "top_up" => top_up(p, from, r).await?,
        "close_lease" => close_lease(p, from, r).await?,
        "claim" => claim(p, from, r).await?,
        "stake" => stake(p, from, r).await?,
        "publish_offer" => publish_offer(p, from, r).await?,
        "set_offer_paused" => set_offer_paused(p, from, r).await?,
        other => return Err(unknown_action(other)),
    };
    Ok(Steps { action: action.to_owned(), chain_id: p.manifest().chain_id, summary, steps })
}

/// A lease of `offer_id` for `duration` with `deposit`: a permit to sign (then, posted back with
/// its signature, the opening to send, checked by the market first) or approvals and the opening.
async fn open_lease(p: &Prepare<DynProvider>, from: Address, r: ActionRequest) -> Prepared {
    let chain_id = p.manifest().chain_id;
    let coins = &p.manifest().stablecoins;
    let offer_id = id("offer_id", &r.offer_id)?;
    let secs = duration("duration", &r.duration)?;
    let quote = p.offer_quote(offer_id).await.map_err(refused)?;
    if quote.offer.provider == Address::ZERO {
        return Err(refused(Refusal::UnknownOffer { offer_id }.into()));
    }
    let coin = market_coin(coins, &quote.offer.token.to_string())?;
    let deposit = amount("deposit", &r.deposit, &coin)?;
    let terms_hash = match &r.terms_hash {
        Some(h) => B256::from_str(h.trim()).map_err(|_| bad("terms_hash: not a 32-byte hash"))?,
        None => quote.terms_hash,
    };
    let request = LeaseRequest { terms_hash, ..LeaseRequest::new(&quote, secs, deposit.raw) };
    p.check_open_lease(from, &request).await.map_err(refused)?;
    let summary = format!(
        "open a lease of offer {offer_id} for {} with {deposit} escrowed",
        openlease_contracts::display::format_duration(u64::from(secs))
    );
    if let Some(permit) = &r.permit {
        let deadline = U256::from_str(permit.deadline.trim()).map_err(|_| bad("permit.deadline: not a number"))?;
        let signature = required("permit.signature", &permit.signature)?;
        let signature =
            Signature::from_str(signature.trim()).map_err(|_| bad("permit.signature: not a 65-byte signature"))?;
        let call = p.open_lease_with_permit(from, &request, deadline, &signature).await.map_err(refused)?;
        // Signed and complete: the market says now whether it would open.
        p.simulate(&call).await.map_err(refused)?;
        return Ok((summary.clone(), vec![send(&call, chain_id, summary)]));
    }
    match p.open_lease(from, &request, true).await.map_err(refused)? {
        LeaseOpeningSteps::Permit(permit) => {
            let typed_data = permit.typed_data().expect("asked with the wallet's domain");
            // The terms read now travel with the signature: the lease opens on them.
            let resubmit = json!({
                "from": from,
                "offer_id": offer_id.to_string(),
                "duration": secs.to_string(),
                "deposit": deposit.to_string(),
                "terms_hash": terms_hash,
                "permit": { "deadline": permit.permit.deadline.to_string() },
            });
            let step = json!({
                "kind": "sign_typed_data",
                "description": format!("sign a permit letting the market pull {deposit}"),
                "typed_data": typed_data,
                "resubmit": resubmit,
            });
            Ok((summary, vec![step]))
        }
        LeaseOpeningSteps::Allowance(calls) => Ok((summary.clone(), send_all(&calls, chain_id, &coin, &summary))),
    }
}

/// `amount` more in a running lease's escrow, no more than its whole term can use.
async fn top_up(p: &Prepare<DynProvider>, from: Address, r: ActionRequest) -> Prepared {
    let chain_id = p.manifest().chain_id;
    let coins = &p.manifest().stablecoins;
    let lease_id = id("lease_id", &r.lease_id)?;
    let lease = p.lease_token(lease_id).await.map_err(refused)?;
    let coin = market_coin(coins, &lease.to_string())?;
    let amount = amount("amount", &r.amount, &coin)?;
    p.check_top_up(from, lease_id, amount.raw).await.map_err(refused)?;
    let calls = p.top_up(from, lease_id, amount.raw).await.map_err(refused)?;
    let summary = format!("top up lease {lease_id} with {amount}");
    Ok((summary.clone(), send_all(&calls, chain_id, &coin, &summary)))
}

/// Notice on a lease, by its tenant or its provider.
async fn close_lease(p: &Prepare<DynProvider>, from: Address, r: ActionRequest) -> Prepared {
    let chain_id = p.manifest().chain_id;
    let lease_id = id("lease_id", &r.lease_id)?;
    p.check_close_lease(from, lease_id).await.map_err(refused)?;
    let call = p.close_lease(from, lease_id);
    p.simulate(&call).await.map_err(refused)?;
    let summary = format!("give notice on lease {lease_id}");
    Ok((summary.clone(), vec![send(&call, chain_id, summary)]))
}

/// Everything `from` can claim in `token`, to `to` (itself unless said).
async fn claim(p: &Prepare<DynProvider>, from: Address, r: ActionRequest) -> Prepared {
    let chain_id = p.manifest().chain_id;
    let coins = &p.manifest().stablecoins;
    let coin = market_coin(coins, required("token", &r.token)?)?;
    let to = match &r.to {
        Some(to) => address("to", to)?,
        None => from,
    };
    let call = p.claim(from, coin.address, to).await.map_err(refused)?;
    let summary = format!("claim every {} claimable to {to}", coin.symbol);
    Ok((summary.clone(), vec![send(&call, chain_id, summary)]))
}

/// A registered provider's stake of `amount` (`100 USDC`: a stake names its token).
async fn stake(p: &Prepare<DynProvider>, from: Address, r: ActionRequest) -> Prepared {
    let chain_id = p.manifest().chain_id;
    let coins = &p.manifest().stablecoins;
    let typed = required("amount", &r.amount)?.parse::<TypedAmount>().map_err(|e| bad(format!("amount: {e}")))?;
    let (coin, amount) = typed.resolve_among(coins).map_err(|e| bad(format!("amount: {e}")))?;
    let coin = coin.clone();
    p.check_stake(from, coin.address, amount.raw).await.map_err(refused)?;
    let calls = p.stake(from, coin.address, amount.raw).await.map_err(refused)?;
    let summary = format!("stake {amount}");
    Ok((summary.clone(), send_all(&calls, chain_id, &coin, &summary)))
}

/// An offer at `price` (`0.36 USDC/h`) with its durations, notice and capacity.
async fn publish_offer(p: &Prepare<DynProvider>, from: Address, r: ActionRequest) -> Prepared {
    let chain_id = p.manifest().chain_id;
    let coins = &p.manifest().stablecoins;
    let price = required("price", &r.price)?.parse::<TypedPrice>().map_err(|e| bad(format!("price: {e}")))?;
    let symbol = price.symbol().ok_or_else(|| bad("price: say the token, like `0.36 USDC/h`"))?;
    let coin = market_coin(coins, symbol)?;
    let per_second = price.per_second(&coin).map_err(|e| match e.nearest_hint() {
        Some(hint) => bad(format!("price: {e}: {hint}")),
        None => bad(format!("price: {e}")),
    })?;
    let capacity = r.capacity.ok_or_else(|| bad("capacity is missing"))?;
    let terms = OfferTerms {
        token: coin.address,
        price_per_second: per_second,
        min_duration: duration("min_duration", &r.min_duration)?,
        max_duration: duration("max_duration", &r.max_duration)?,
        notice_period: duration("notice_period", &r.notice_period)?,
        capacity,
        workload: r.workload.as_deref().map(workload::parse).transpose().map_err(bad)?.unwrap_or_default(),
        verifier: r.verifier.as_deref().map(|v| p.manifest().verifier(v)).transpose().map_err(bad)?.unwrap_or_default(),
    };
    p.check_publish_offer(from, &terms).await.map_err(refused)?;
    let call = p.publish_offer(from, &terms);
    p.simulate(&call).await.map_err(refused)?;
    let summary = format!("publish an offer at {price}, capacity {capacity}");
    Ok((summary.clone(), vec![send(&call, chain_id, summary)]))
}

/// An offer's new leases stopped (or resumed) by its provider.
async fn set_offer_paused(p: &Prepare<DynProvider>, from: Address, r: ActionRequest) -> Prepared {
    let chain_id = p.manifest().chain_id;
    let offer_id = id("offer_id", &r.offer_id)?;
    let paused = r.paused.ok_or_else(|| bad("paused is missing (true or false)"))?;
    p.check_set_offer_paused(from, offer_id, paused).await.map_err(refused)?;
    let call = p.set_offer_paused(from, offer_id, paused);
    let summary = format!("{} offer {offer_id}", if paused { "pause" } else { "resume" });
    Ok((summary.clone(), vec![send(&call, chain_id, summary)]))
}
