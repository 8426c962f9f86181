//! The HTTP API: JSON under `/v1`, `/health`, `/metrics`, and `/v1/events` as server-sent events.
//! Every JSON answer says which block it reflects (`block: {number, hash, final}`), read in the
//! same database snapshot as the data. Any instance can serve it: it only reads the database.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, LazyLock},
};

use alloy::primitives::Address;
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures_util::stream::{self, Stream};
use openlease_contracts::{DisputeStatus, LeaseStatus};
use serde_json::{Map, Value, json};
use sqlx::{AssertSqlSafe, Column, Row, any::AnyRow};
use tokio::sync::broadcast;

use crate::{
    events::EventCodec,
    ingest::Notice,
    metrics::Metrics,
    store::{Store, hex, pad},
};

/// Decodes the arguments of the events `/v1/events` streams (the store keeps raw logs only).
static CODEC: LazyLock<EventCodec> = LazyLock::new(EventCodec::new);

/// Most rows one page holds.
const MAX_LIMIT: u64 = 500;
/// Rows per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u64 = 50;

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

/// The routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/providers", get(providers))
        .route("/v1/providers/{address}", get(provider))
        .route("/v1/offers", get(offers))
        .route("/v1/leases", get(leases))
        .route("/v1/leases/{id}", get(lease))
        .route("/v1/disputes", get(disputes))
        .route("/v1/stats", get(stats))
        .route("/v1/events", get(events))
        .with_state(state)
}

/// An error answer: a status and a message.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        tracing::warn!(%error, "api query failed");
        Self(StatusCode::INTERNAL_SERVER_ERROR, "database error".into())
    }
}

impl From<crate::IndexerError> for ApiError {
    fn from(error: crate::IndexerError) -> Self {
        tracing::warn!(%error, "api read failed");
        Self(StatusCode::INTERNAL_SERVER_ERROR, "database error".into())
    }
}

fn bad(parameter: &str, expected: &str) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, format!("invalid query parameter `{parameter}`: expected {expected}"))
}

fn bad_path(segment: &str, expected: &str, got: &str) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, format!("invalid path segment `{segment}`: expected {expected}, got `{got}`"))
}

type ApiResult<T = Json<Value>> = Result<T, ApiError>;

/// The query string, checked parameter by parameter.
struct Params {
    raw: HashMap<String, String>,
}

impl Params {
    /// Rejects parameters the endpoint does not know.
    fn new(raw: HashMap<String, String>, known: &[&str]) -> ApiResult<Self> {
        if let Some(unknown) = raw.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("unknown query parameter `{unknown}`: expected one of {}", known.join(", ")),
            ));
        }
        Ok(Self { raw })
    }

    fn address(&self, name: &str) -> ApiResult<Option<String>> {
        self.raw
            .get(name)
            .map(|v| v.parse::<Address>().map(|a| hex(&a)).map_err(|_| bad(name, "a 0x-prefixed 20-byte address")))
            .transpose()
    }

    fn amount(&self, name: &str) -> ApiResult<Option<String>> {
        self.raw
            .get(name)
            .map(|v| v.parse::<u128>().map(pad).map_err(|_| bad(name, "a non-negative integer")))
            .transpose()
    }

    fn integer(&self, name: &str) -> ApiResult<Option<i64>> {
        self.raw.get(name).map(|v| v.parse::<i64>().map_err(|_| bad(name, "an integer"))).transpose()
    }

    fn one_of(&self, name: &str, allowed: &[&'static str]) -> ApiResult<Option<&'static str>> {
        self.raw
            .get(name)
            .map(|v| {
                allowed
                    .iter()
                    .find(|a| **a == v)
                    .copied()
                    .ok_or_else(|| bad(name, &format!("one of {}", allowed.join(", "))))
            })
            .transpose()
    }

    fn text(&self, name: &str) -> Option<String> {
        self.raw.get(name).cloned()
    }

    fn limit(&self) -> ApiResult<u64> {
        match self.raw.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| bad("limit", "an integer from 1 to 500")),
        }
    }
}

/// A SQL query under construction: clauses and their bound values.
#[derive(Default)]
struct Sql {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

enum Bind {
    Text(String),
    Int(i64),
}

impl Sql {
    /// Adds a clause; `?` in it is replaced by the next placeholder.
    fn filter(&mut self, clause: &str, values: Vec<Bind>) {
        let mut out = String::new();
        let mut values = values.into_iter();
        for part in clause.split('?').enumerate() {
            if part.0 > 0 {
                self.binds.push(values.next().expect("one value per placeholder"));
                out.push_str(&format!("${}", self.binds.len()));
            }
            out.push_str(part.1);
        }
        self.clauses.push(out);
    }

    fn where_clause(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }

    async fn fetch(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        sql: String,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        // Clauses are literals with placeholders; every value is bound.
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for bind in &self.binds {
            query = match bind {
                Bind::Text(t) => query.bind(t.clone()),
                Bind::Int(i) => query.bind(*i),
            };
        }
        query.fetch_all(&mut **tx).await
    }
}

/// A read snapshot and the block it reflects.
async fn snapshot(store: &Store) -> ApiResult<(sqlx::Transaction<'static, sqlx::Any>, Value)> {
    let mut tx = store.snapshot().await?;
    let row = sqlx::query("SELECT number, hash, finalized FROM cursor WHERE id = 1").fetch_optional(&mut *tx).await?;
    let Some(row) = row else {
        return Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "the mirror has not started yet".into()));
    };
    let (number, finalized): (i64, i64) = (row.try_get("number")?, row.try_get("finalized")?);
    let hash: String = row.try_get("hash")?;
    Ok((tx, json!({ "number": number, "hash": hash, "final": number <= finalized })))
}

/// A row as JSON: amounts without their padding, flags as booleans.
fn to_json(row: &AnyRow) -> Value {
    let mut out = Map::new();
    for column in row.columns() {
        let name = column.name();
        let value = if let Ok(i) = row.try_get::<i64, _>(name) {
            if matches!(name, "paused" | "terminated" | "evicted") { Value::Bool(i != 0) } else { Value::from(i) }
        } else if let Ok(text) = row.try_get::<String, _>(name) {
            if text.len() == 39 && text.bytes().all(|b| b.is_ascii_digit()) {
                let digits = text.trim_start_matches('0');
                Value::String(if digits.is_empty() { "0".into() } else { digits.to_owned() })
            } else {
                Value::String(text)
            }
        } else {
            Value::Null
        };
        out.insert(name.to_owned(), value);
    }
    Value::Object(out)
}

fn page(block: Value, rows: Vec<Value>, limit: u64, next: impl Fn(&Value) -> String) -> Json<Value> {
    let more = rows.len() as u64 > limit;
    let rows: Vec<Value> = rows.into_iter().take(limit as usize).collect();
    let cursor = if more { rows.last().map(&next) } else { None };
    Json(json!({ "block": block, "data": rows, "next_cursor": cursor }))
}

async fn providers(State(state): State<ApiState>, Query(raw): Query<HashMap<String, String>>) -> ApiResult {
    let q =
        Params::new(raw, &["region", "token", "max_price", "min_stake", "min_reputation", "sort", "limit", "cursor"])?;
    let sort = q.one_of("sort", &["reputation", "earned", "address"])?.unwrap_or("reputation");
    let limit = q.limit()?;
    let token = q.address("token")?;
    let mut sql = Sql::default();
    if let Some(region) = q.text("region") {
        sql.filter("p.region = ?", vec![Bind::Text(region)]);
    }
    if let Some(min) = q.integer("min_reputation")? {
        sql.filter("p.reputation_bps >= ?", vec![Bind::Int(min)]);
    }
    if let Some(min) = q.amount("min_stake")? {
        let Some(token) = token.clone() else { return Err(bad("min_stake", "a `token` to measure the stake in")) };
        sql.filter(
            "EXISTS (SELECT 1 FROM stakes s WHERE s.provider = p.address AND s.token = ? AND s.staked >= ?)",
            vec![Bind::Text(token), Bind::Text(min)],
        );
    }
    if let Some(max) = q.amount("max_price")? {
        match token.clone() {
            Some(token) => sql.filter(
                "EXISTS (SELECT 1 FROM offers o WHERE o.provider = p.address AND o.paused = 0 AND o.token = ? AND o.price_per_second <= ?)",
                vec![Bind::Text(token), Bind::Text(max)],
            ),
            None => sql.filter(
                "EXISTS (SELECT 1 FROM offers o WHERE o.provider = p.address AND o.paused = 0 AND o.price_per_second <= ?)",
                vec![Bind::Text(max)],
            ),
        }
    } else if let Some(token) = token {
        sql.filter(
            "EXISTS (SELECT 1 FROM stakes s WHERE s.provider = p.address AND s.token = ?)",
            vec![Bind::Text(token)],
        );
    }
    // Keyset pagination: the cursor is the last row's sort key and address.
    let (key, order) = match sort {
        "reputation" => ("p.reputation_bps", "p.reputation_bps DESC, p.address"),
        "earned" => ("p.total_earned", "p.total_earned DESC, p.address"),
        _ => ("p.address", "p.address"),
    };
    if let Some(cursor) = q.text("cursor") {
        let (value, address) =
            cursor.split_once('_').ok_or_else(|| bad("cursor", "a `next_cursor` from a previous page"))?;
        let address = address
            .parse::<Address>()
            .map(|a| hex(&a))
            .map_err(|_| bad("cursor", "a `next_cursor` from a previous page"))?;
        match sort {
            "reputation" => {
                let value = value.parse::<i64>().map_err(|_| bad("cursor", "a `next_cursor` from a previous page"))?;
                sql.filter(
                    &format!("({key} < ? OR ({key} = ? AND p.address > ?))"),
                    vec![Bind::Int(value), Bind::Int(value), Bind::Text(address)],
                );
            }
            "earned" => {
                let value = value
                    .parse::<u128>()
                    .map(pad)
                    .map_err(|_| bad("cursor", "a `next_cursor` from a previous page"))?;
                sql.filter(
                    &format!("({key} < ? OR ({key} = ? AND p.address > ?))"),
                    vec![Bind::Text(value.clone()), Bind::Text(value), Bind::Text(address)],
                );
            }
            _ => sql.filter("p.address > ?", vec![Bind::Text(address)]),
        }
    }
    let (mut tx, block) = snapshot(&state.store).await?;
    let query = format!("SELECT p.* FROM providers p{} ORDER BY {order} LIMIT {}", sql.where_clause(), limit + 1);
    let rows: Vec<Value> = sql.fetch(&mut tx, query).await?.iter().map(to_json).collect();
    Ok(page(block, rows, limit, |row| {
        let value = match sort {
            "reputation" => row["reputation_bps"].to_string(),
            "earned" => row["total_earned"].as_str().unwrap_or("0").to_owned(),
            _ => "0".into(),
        };
        format!("{value}_{}", row["address"].as_str().unwrap_or_default())
    }))
}

async fn provider(State(state): State<ApiState>, Path(address): Path<String>) -> ApiResult {
    let address = address
        .parse::<Address>()
        .map(|a| hex(&a))
        .map_err(|_| bad_path("address", "a 0x-prefixed 20-byte address", &address))?;
    let (mut tx, block) = snapshot(&state.store).await?;
    let row = sqlx::query("SELECT * FROM providers WHERE address = $1")
        .bind(address.clone())
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else { return Err(ApiError(StatusCode::NOT_FOUND, format!("no provider {address}"))) };
    let stakes = sqlx::query("SELECT * FROM stakes WHERE provider = $1 ORDER BY token")
        .bind(address.clone())
        .fetch_all(&mut *tx)
        .await?;
    let offers = sqlx::query("SELECT * FROM offers WHERE provider = $1 ORDER BY offer_id")
        .bind(address)
        .fetch_all(&mut *tx)
        .await?;
    let mut data = to_json(&row);
    data["stakes"] = stakes.iter().map(to_json).collect();
    data["offers"] = offers.iter().map(to_json).collect();
    Ok(Json(json!({ "block": block, "data": data })))
}

async fn offers(State(state): State<ApiState>, Query(raw): Query<HashMap<String, String>>) -> ApiResult {
    let q = Params::new(raw, &["provider", "token", "max_price", "available", "limit", "cursor"])?;
    let limit = q.limit()?;
    let mut sql = Sql::default();
    if let Some(provider) = q.address("provider")? {
        sql.filter("provider = ?", vec![Bind::Text(provider)]);
    }
    if let Some(token) = q.address("token")? {
        sql.filter("token = ?", vec![Bind::Text(token)]);
    }
    if let Some(max) = q.amount("max_price")? {
        sql.filter("price_per_second <= ?", vec![Bind::Text(max)]);
    }
    if q.one_of("available", &["true", "false"])? == Some("true") {
        sql.filter("paused = 0 AND active_leases < capacity", vec![]);
    }
    if let Some(after) = q.integer("cursor")? {
        sql.filter("offer_id > ?", vec![Bind::Int(after)]);
    }
    let (mut tx, block) = snapshot(&state.store).await?;
    let query = format!("SELECT * FROM offers{} ORDER BY offer_id LIMIT {}", sql.where_clause(), limit + 1);
    let rows = sql.fetch(&mut tx, query).await?.iter().map(to_json).collect();
    Ok(page(block, rows, limit, |row| row["offer_id"].to_string()))
}

async fn leases(State(state): State<ApiState>, Query(raw): Query<HashMap<String, String>>) -> ApiResult {
    let q = Params::new(raw, &["tenant", "provider", "status", "limit", "cursor"])?;
    let limit = q.limit()?;
    let mut sql = Sql::default();
    if let Some(tenant) = q.address("tenant")? {
        sql.filter("tenant = ?", vec![Bind::Text(tenant)]);
    }
    if let Some(provider) = q.address("provider")? {
        sql.filter("provider = ?", vec![Bind::Text(provider)]);
    }
    if let Some(status) = q.one_of("status", &[LeaseStatus::Open.as_str(), LeaseStatus::Finalized.as_str()])? {
        sql.filter("status = ?", vec![Bind::Text(status.into())]);
    }
    if let Some(after) = q.integer("cursor")? {
        sql.filter("lease_id > ?", vec![Bind::Int(after)]);
    }
    let (mut tx, block) = snapshot(&state.store).await?;
    let query = format!("SELECT * FROM leases{} ORDER BY lease_id LIMIT {}", sql.where_clause(), limit + 1);
    let rows = sql.fetch(&mut tx, query).await?.iter().map(to_json).collect();
    Ok(page(block, rows, limit, |row| row["lease_id"].to_string()))
}

async fn lease(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let id = id
        .parse::<u64>()
        .ok()
        .and_then(|id| i64::try_from(id).ok())
        .ok_or_else(|| bad_path("id", "a lease id (a whole number, 1 or more)", &id))?;
    let (mut tx, block) = snapshot(&state.store).await?;
    let row = sqlx::query("SELECT * FROM leases WHERE lease_id = $1").bind(id).fetch_optional(&mut *tx).await?;
    let Some(row) = row else { return Err(ApiError(StatusCode::NOT_FOUND, format!("no lease {id}"))) };
    let settlements = sqlx::query("SELECT * FROM settlements WHERE lease_id = $1 ORDER BY block_number, log_index")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    let dispute = sqlx::query("SELECT * FROM disputes WHERE lease_id = $1").bind(id).fetch_optional(&mut *tx).await?;
    let mut data = to_json(&row);
    data["settlements"] = settlements.iter().map(to_json).collect();
    data["dispute"] = dispute.as_ref().map(to_json).unwrap_or(Value::Null);
    Ok(Json(json!({ "block": block, "data": data })))
}

async fn disputes(State(state): State<ApiState>, Query(raw): Query<HashMap<String, String>>) -> ApiResult {
    let q = Params::new(raw, &["status", "provider", "limit", "cursor"])?;
    let limit = q.limit()?;
    let mut sql = Sql::default();
    let disputed = [DisputeStatus::Open, DisputeStatus::Upheld, DisputeStatus::Rejected, DisputeStatus::Expired];
    if let Some(status) = q.one_of("status", &disputed.map(DisputeStatus::as_str))? {
        sql.filter("d.status = ?", vec![Bind::Text(status.into())]);
    }
    if let Some(provider) = q.address("provider")? {
        sql.filter("l.provider = ?", vec![Bind::Text(provider)]);
    }
    if let Some(after) = q.integer("cursor")? {
        sql.filter("d.lease_id > ?", vec![Bind::Int(after)]);
    }
    let (mut tx, block) = snapshot(&state.store).await?;
    let query = format!(
        "SELECT d.*, l.tenant, l.provider FROM disputes d JOIN leases l ON l.lease_id = d.lease_id{} ORDER BY d.lease_id LIMIT {}",
        sql.where_clause(),
        limit + 1
    );
    let rows = sql.fetch(&mut tx, query).await?.iter().map(to_json).collect();
    Ok(page(block, rows, limit, |row| row["lease_id"].to_string()))
}

async fn stats(State(state): State<ApiState>) -> ApiResult {
    let (mut tx, block) = snapshot(&state.store).await?;
    let count = |sql: &'static str| sqlx::query(sql);
    let mut counts = Map::new();
    for (name, sql) in [
        ("providers", "SELECT COUNT(*) FROM providers"),
        ("offers", "SELECT COUNT(*) FROM offers"),
        ("open_leases", "SELECT COUNT(*) FROM leases WHERE status = 'open'"),
        ("finalized_leases", "SELECT COUNT(*) FROM leases WHERE status = 'finalized'"),
        ("settlements", "SELECT COUNT(*) FROM settlements"),
        ("open_disputes", "SELECT COUNT(*) FROM disputes WHERE status = 'open'"),
        ("events", "SELECT COUNT(*) FROM events"),
    ] {
        let n: i64 = count(sql).fetch_one(&mut *tx).await?.try_get(0)?;
        counts.insert(name.into(), n.into());
    }
    // Sums of padded amounts are added up here: text columns do not sum on both backends.
    let mut by_token: HashMap<String, [u128; 4]> = HashMap::new();
    for row in sqlx::query("SELECT token, escrow, settled FROM leases").fetch_all(&mut *tx).await? {
        let entry = by_token.entry(row.try_get("token")?).or_default();
        entry[0] += row.try_get::<String, _>("escrow")?.parse::<u128>().unwrap_or_default();
        entry[1] += row.try_get::<String, _>("settled")?.parse::<u128>().unwrap_or_default();
    }
    for row in sqlx::query("SELECT token, staked FROM stakes").fetch_all(&mut *tx).await? {
        by_token.entry(row.try_get("token")?).or_default()[2] +=
            row.try_get::<String, _>("staked")?.parse::<u128>().unwrap_or_default();
    }
    for row in sqlx::query("SELECT token, owed FROM fees").fetch_all(&mut *tx).await? {
        by_token.entry(row.try_get("token")?).or_default()[3] +=
            row.try_get::<String, _>("owed")?.parse::<u128>().unwrap_or_default();
    }
    let tokens: Map<String, Value> = by_token
        .into_iter()
        .map(|(token, [escrow, settled, staked, fees])| {
            (token, json!({ "escrow": escrow.to_string(), "settled": settled.to_string(), "staked": staked.to_string(), "fees_owed": fees.to_string() }))
        })
        .collect();
    counts.insert("tokens".into(), Value::Object(tokens));
    Ok(Json(json!({ "block": block, "data": counts })))
}

async fn health(State(state): State<ApiState>) -> Response {
    // Writer or standby, an instance is healthy when the mirror it serves is fresh: it exists and
    // lags the node by at most `max_lag` blocks. A standby reads the node's head itself (it does
    // not ingest), so its lag is the writer's as seen from here; `role` says which it is.
    let started = state.store.cursor().await.ok().flatten().is_some();
    let head_known = state.metrics.head() > 0;
    let lag = head_known.then(|| state.metrics.lag());
    let head_age = state.metrics.head_age_secs();
    let node_reachable = head_age.is_some_and(|age| age <= state.max_head_age);
    let healthy = started && node_reachable && lag.is_some_and(|lag| lag <= state.max_lag);
    let role = if state.metrics.is_writer() { "writer" } else { "standby" };
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "healthy": healthy,
        "role": role,
        "lag_blocks": lag,
        "max_lag_blocks": state.max_lag,
        "node_reachable": node_reachable,
        "head_age_secs": head_age,
        "max_head_age_secs": state.max_head_age,
    });
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// New events as they are applied (`event: applied`) and reorg retractions (`event: retracted`,
/// data `{"above": N}`: drop every event above block N).
async fn events(State(state): State<ApiState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.notices.subscribe();
    let stream = stream::unfold(receiver, |mut receiver| async move {
        loop {
            let event = match receiver.recv().await {
                Ok(Notice::Applied(e)) => Event::default().event("applied").json_data(json!({
                    "block_number": e.block, "log_index": e.log_index, "block_hash": e.block_hash,
                    "tx_hash": e.tx_hash, "name": e.name, "args": CODEC.args(&e.topics, &e.data),
                })),
                Ok(Notice::Retracted { block }) => {
                    Event::default().event("retracted").json_data(json!({ "above": block }))
                }
                // A slow client missed events: tell it, it must re-read.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    Event::default().event("lagged").json_data(json!({ "missed": n }))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            if let Ok(event) = event {
                return Some((Ok(event), receiver));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
