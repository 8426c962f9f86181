//! The HTTP API: JSON under `/v1`, `/health`, `/metrics`, `/v1/openapi.json`, and `/v1/events`
//! as server-sent events ([`crate::feed`]). Every JSON answer says which block it reflects
//! (`block: {number, hash, timestamp, final}`), read in the same database snapshot as the data
//! ([`crate::query`]), and goes through an answer cache keyed by that block. Any instance can
//! serve it: it only reads the database.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use alloy::primitives::B256;
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;
use utoipa::{OpenApi, ToSchema};

use crate::{
    feed::events,
    ingest::Notice,
    metrics::Metrics,
    query::{
        Account, DisputeView, DisputesQuery, GovernanceView, History, HistoryQuery, LeaseDetail, LeaseView,
        LeasesQuery, OffersQuery, One, Page, ProviderDetail, ProviderView, ProvidersQuery, QueryError,
        SettlementsQuery, SignersQuery, Stats, read_account, read_disputes, read_governance, read_history, read_lease,
        read_lease_settlements, read_leases, read_offers, read_provider, read_providers, read_signers, read_stats,
    },
    rows::{Offer, Settlement, Signer},
    store::Store,
};

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The database.
    pub store: Store,
    /// The writer's figures (lag, reorgs, errors).
    pub metrics: Arc<Metrics>,
    /// `/health` fails above this lag, in blocks.
    pub max_lag: u64,
    /// `/health` fails when the node has not told its head for this long, in seconds: the lag
    /// counts from the last head it reported, and a node that cannot be reached moves on
    /// without the mirror.
    pub max_head_age: u64,
    /// Live notices from ingestion, for `/v1/events`.
    pub notices: broadcast::Sender<Notice>,
}

/// The routes. JSON answers go through the answer cache.
pub fn router(state: ApiState) -> Router {
    let answers = (state.store.clone(), Arc::new(Answers::default()));
    let json = Router::new()
        .route("/v1/providers", get(providers))
        .route("/v1/providers/{address}", get(provider))
        .route("/v1/providers/{address}/history", get(history))
        .route("/v1/offers", get(offers))
        .route("/v1/accounts/{address}", get(account))
        .route("/v1/leases", get(leases))
        .route("/v1/leases/{id}", get(lease))
        .route("/v1/leases/{id}/settlements", get(lease_settlements))
        .route("/v1/disputes", get(disputes))
        .route("/v1/signers", get(signers))
        .route("/v1/stats", get(stats))
        .route("/v1/governance", get(governance))
        .layer(axum::middleware::from_fn_with_state(answers, cached));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/events", get(events))
        .route("/v1/openapi.json", get(openapi_json))
        .merge(json)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(state.metrics, mark_stopped))
        .layer(axum::middleware::from_fn(to_completion))
}

/// When ingestion stopped for good, every JSON answer says so (`"stopped": {"at_block", "reason"}`)
/// and every page shows it in a banner: what is served is the mirror as it was then.
pub(crate) async fn mark_stopped(
    State(metrics): State<Arc<crate::metrics::Metrics>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let Some(stopped) = metrics.stopped() else { return response };
    let kind = response.headers().get(axum::http::header::CONTENT_TYPE).and_then(|t| t.to_str().ok()).unwrap_or("");
    let (json, html) = (kind.starts_with("application/json"), kind.starts_with("text/html"));
    if !json && !html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError(StatusCode::INTERNAL_SERVER_ERROR, "the answer could not be read".into()).into_response();
    };
    let marked = if json {
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(mut answer)) => {
                answer.insert("stopped".into(), json!(stopped));
                serde_json::to_vec(&answer).unwrap_or_else(|_| bytes.to_vec())
            }
            _ => bytes.to_vec(),
        }
    } else {
        let banner = maud::html! {
            p.stopped role="alert" { "Ingestion stopped at block " (stopped.at_block) ": " (stopped.reason) }
        };
        String::from_utf8_lossy(&bytes).replacen("<body>", &format!("<body>{}", banner.into_string()), 1).into_bytes()
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(marked))
}

/// Runs each request to its end in a task of its own: a client that hangs up drops only the wait
/// for the answer, never a read half done, whose database connection would go back to the pool
/// in the middle of a transaction and fail the next request that takes it.
pub(crate) async fn to_completion(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => {
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("the request failed: {error}")).into_response()
        }
    }
}

/// An error answer: a status and a message.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(status, message.into())
    }

    pub fn status(&self) -> StatusCode {
        self.0
    }

    /// What was wrong and what to do.
    pub fn message(&self) -> &str {
        &self.1
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        Self(error.status(), error.message().to_owned())
    }
}

type ApiResult<T = Answer> = Result<T, ApiError>;

/// The block an answer reflects, carried to the answer cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    number: u64,
    hash: B256,
}

/// A JSON answer, serialized straight from its rows, and the block it reflects.
#[derive(Debug)]
struct Answer(Vec<u8>, Tag);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = ([(axum::http::header::CONTENT_TYPE, "application/json")], self.0).into_response();
        response.extensions_mut().insert(self.1);
        response
    }
}

/// Answers most recently given, by request URI, with the block each reflects. An answer is
/// given again only while the mirror is still at that block (number and hash): between two
/// commits the same question costs one cursor read, whatever the page holds.
#[derive(Debug, Default)]
struct Answers(Mutex<HashMap<String, (Tag, axum::body::Bytes)>>);

/// URIs remembered at most; past this the cache starts empty again.
const ANSWERS: usize = 4_096;

async fn cached(
    State((store, answers)): State<(Store, Arc<Answers>)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // A client that asks for a fresh answer (a reload, a probe) gets one, read from the store.
    let fresh = request
        .headers()
        .get_all(axum::http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-cache")));
    if fresh {
        return next.run(request).await;
    }
    let key = request.uri().to_string();
    let Ok(Some(cursor)) = store.cursor().await else { return next.run(request).await };
    let now = Tag { number: cursor.number, hash: cursor.hash };
    if let Some((tag, body)) = answers.0.lock().expect("answers lock").get(&key)
        && *tag == now
    {
        return ([(axum::http::header::CONTENT_TYPE, "application/json")], body.clone()).into_response();
    }
    let response = next.run(request).await;
    let Some(tag) = response.extensions().get::<Tag>().copied() else { return response };
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut answers = answers.0.lock().expect("answers lock");
    if answers.len() >= ANSWERS {
        answers.clear();
    }
    answers.insert(key, (tag, bytes.clone()));
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// An error: what was wrong and what to do.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: String,
}

impl<T: Serialize> From<One<T>> for Answer {
    fn from(one: One<T>) -> Self {
        let tag = Tag { number: one.block.number, hash: one.block.hash };
        Answer(serde_json::to_vec(&one).expect("rows serialize"), tag)
    }
}

impl<T: Serialize> From<Page<T>> for Answer {
    fn from(page: Page<T>) -> Self {
        let tag = Tag { number: page.block.number, hash: page.block.hash };
        Answer(serde_json::to_vec(&page).expect("rows serialize"), tag)
    }
}

/// Whether the mirror this instance serves is fresh.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    healthy: bool,
    /// `writer` or `standby`.
    role: &'static str,
    lag_blocks: Option<u64>,
    max_lag_blocks: u64,
    node_reachable: bool,
    head_age_secs: Option<u64>,
    max_head_age_secs: u64,
    /// Set when ingestion stopped until an operator acts: the mirror served is as of its block.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<crate::metrics::Stopped>,
}

/// The API, as OpenAPI 3.1, from the handlers and rows above.
#[derive(OpenApi)]
#[openapi(
    info(title = "openlease-indexer", description = "The Openlease market, mirrored from the chain."),
    paths(
        providers,
        provider,
        account,
        history,
        offers,
        leases,
        lease,
        lease_settlements,
        disputes,
        signers,
        stats,
        governance,
        health
    )
)]
struct ApiDoc;

/// The OpenAPI document of this API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi().merge_from(crate::actions::ActionsDoc::openapi()).merge_from(crate::alerts::AlertsDoc::openapi())
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

#[utoipa::path(get, path = "/v1/providers", params(ProvidersQuery), responses((status = 200, body = Page<ProviderView>), (status = 400, body = ErrorBody)))]
async fn providers(State(state): State<ApiState>, Query(raw): Query<HashMap<String, String>>) -> ApiResult {
    Ok(read_providers(&state.store, raw).await?.into())
}

#[utoipa::path(get, path = "/v1/providers/{address}", params(("address" = String, Path)), responses((status = 200, body = One<ProviderDetail>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn provider(State(state): State<ApiState>, Path(address): Path<String>) -> ApiResult {
    Ok(read_provider(&state.store, &address).await?.into())
}

#[utoipa::path(get, path = "/v1/accounts/{address}", params(("address" = String, Path)), responses((status = 200, body = One<Account>), (status = 400, body = ErrorBody)))]
/// Any address as the market knows it: claimable balances, its leases as a tenant (with runway and
/// refunds) and its session signers, and its leases as a provider.
async fn account(State(state): State<ApiState>, Path(address): Path<String>) -> ApiResult {
    Ok(read_account(&state.store, &address).await?.into())
}

#[utoipa::path(get, path = "/v1/providers/{address}/history", params(("address" = String, Path), HistoryQuery), responses((status = 200, body = One<History>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// A provider's record day by day (`days`, default 30, at most 366), oldest first; a day
/// without activity has no entry.
async fn history(
    State(state): State<ApiState>,
    Path(address): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> ApiResult {
    Ok(read_history(&state.store, &address, raw).await?.into())
}

#[utoipa::path(get, path = "/v1/offers", params(OffersQuery), responses((status = 200, body = Page<Offer>), (status = 400, body = ErrorBody)))]
async fn offers(State(state): State<ApiState>, Query(raw): Query<HashMap<String, String>>) -> ApiResult {
    Ok(read_offers(&state.store, raw).await?.into())
}

#[utoipa::path(get, path = "/v1/leases", params(LeasesQuery), responses((status = 200, body = Page<LeaseView>), (status = 400, body = ErrorBody)))]
async fn leases(State(state): State<ApiState>, Query(raw): Query<HashMap<String, String>>) -> ApiResult {
    Ok(read_leases(&state.store, raw).await?.into())
}

#[utoipa::path(get, path = "/v1/leases/{id}", params(("id" = u64, Path)), responses((status = 200, body = One<LeaseDetail>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn lease(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    Ok(read_lease(&state.store, &id).await?.into())
}

#[utoipa::path(get, path = "/v1/leases/{id}/settlements", params(("id" = u64, Path), SettlementsQuery), responses((status = 200, body = Page<Settlement>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// A lease's settlements, newest first, a page at a time.
async fn lease_settlements(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> ApiResult {
    Ok(read_lease_settlements(&state.store, &id, raw).await?.into())
}

#[utoipa::path(get, path = "/v1/disputes", params(DisputesQuery), responses((status = 200, body = Page<DisputeView>), (status = 400, body = ErrorBody)))]
async fn disputes(State(state): State<ApiState>, Query(raw): Query<HashMap<String, String>>) -> ApiResult {
    Ok(read_disputes(&state.store, raw).await?.into())
}

#[utoipa::path(get, path = "/v1/signers", params(SignersQuery), responses((status = 200, body = Page<Signer>), (status = 400, body = ErrorBody)))]
/// Session signers, one row per (tenant, signer, provider): each authorization is scoped to one
/// provider, with its own cap and spent total.
async fn signers(State(state): State<ApiState>, Query(raw): Query<HashMap<String, String>>) -> ApiResult {
    Ok(read_signers(&state.store, raw).await?.into())
}

#[utoipa::path(get, path = "/v1/stats", responses((status = 200, body = One<Stats>)))]
async fn stats(State(state): State<ApiState>) -> ApiResult {
    Ok(read_stats(&state.store).await?.into())
}

#[utoipa::path(get, path = "/v1/governance", responses((status = 200, body = One<GovernanceView>)))]
/// The governance the mirror knows: every parameters version, the allow-list, roles and pause.
async fn governance(State(state): State<ApiState>) -> ApiResult {
    Ok(read_governance(&state.store).await?.into())
}

#[utoipa::path(get, path = "/health", responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(state): State<ApiState>) -> Response {
    // Writer or standby, an instance is healthy when the mirror it serves is fresh: it exists and
    // lags the node by at most `max_lag` blocks. A standby reads the node's head itself (it does
    // not ingest), so its lag is the writer's as seen from here; `role` says which it is.
    let started = state.store.cursor().await.ok().flatten().is_some();
    let head_known = state.metrics.head() > 0;
    let lag = head_known.then(|| state.metrics.lag());
    let head_age = state.metrics.head_age_secs();
    let node_reachable = head_age.is_some_and(|age| age <= state.max_head_age);
    let stopped = state.metrics.stopped();
    let healthy = started && node_reachable && lag.is_some_and(|lag| lag <= state.max_lag) && stopped.is_none();
    let role = if state.metrics.is_writer() { "writer" } else { "standby" };
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Health {
        healthy,
        role,
        lag_blocks: lag,
        max_lag_blocks: state.max_lag,
        node_reachable,
        head_age_secs: head_age,
        max_head_age_secs: state.max_head_age,
        stopped,
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}
