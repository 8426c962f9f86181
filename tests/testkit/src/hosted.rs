//! A hosted-RPC front: an HTTP JSON-RPC proxy before a real node that answers the way Alchemy,
//! Infura or QuickNode do on an ordinary day (429s with and without `Retry-After`, 502s with an
//! HTML page, a capped `eth_getLogs` range and result, a head a block behind), so the indexer, the
//! gateway and the SDK are tested against the provider they will meet in production rather than
//! against an anvil that never says no.
//!
//! Faults are drawn from a seeded splitmix64 stream: a test that sends its requests one after the
//! other sees the same faults on every run.

use std::{
    net::SocketAddr,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

/// Requests above this are refused (413), as providers refuse them; a deployment's calldata is
/// far below it.
const MAX_REQUEST_BYTES: usize = 4 << 20;

/// What a load balancer in front of the provider answers when its node is down.
const BAD_GATEWAY_PAGE: &str = "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>";

/// How the front misbehaves. Shares are probabilities in `0.0..=1.0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Share of HTTP requests answered 429 with a JSON-RPC error: providers meter requests per
    /// second and refuse the excess before reading the call.
    pub rate_limited: f64,
    /// Share of HTTP requests answered 502 with an HTML page: the provider's load balancer lost
    /// its node, and the body is not JSON.
    pub bad_gateway: f64,
    /// Share of the 429s that carry `Retry-After: 1`; the others carry none, so a client must
    /// back off on its own.
    pub retry_after_share: f64,
    /// Widest `eth_getLogs` block range served (`to - from + 1`); wider ranges are refused with
    /// -32602 however few logs they hold.
    pub max_log_range: u64,
    /// Most logs one `eth_getLogs` may return; more are refused with -32005.
    pub max_logs: usize,
    /// Share of `eth_blockNumber` answered one block behind: the call landed on a node of the
    /// pool that has not seen the newest block yet.
    pub lagging_head: f64,
    /// Seeds the fault draws.
    pub seed: u64,
}

impl Faults {
    /// A provider's usual day: some 429s, the odd 502, Alchemy's `eth_getLogs` caps, a head
    /// that lags now and then.
    pub fn hosted() -> Self {
        Self {
            rate_limited: 0.05,
            bad_gateway: 0.01,
            retry_after_share: 0.1,
            max_log_range: 2_000,
            max_logs: 10_000,
            lagging_head: 0.10,
            seed: 0x0BE1_EA5E,
        }
    }

    /// A transparent proxy: no faults, no caps. Start here and switch on the one fault a test is
    /// about.
    pub fn none() -> Self {
        Self {
            rate_limited: 0.0,
            bad_gateway: 0.0,
            retry_after_share: 0.0,
            max_log_range: u64::MAX,
            max_logs: usize::MAX,
            lagging_head: 0.0,
            seed: 0x0BE1_EA5E,
        }
    }
}

/// What the front has done since it started, for tests to check that a fault was met (and that a
/// client got through it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostedStats {
    /// HTTP requests received.
    pub requests: u64,
    /// JSON-RPC calls handled (a batch counts each element); excludes refused HTTP requests.
    pub calls: u64,
    pub rate_limited: u64,
    pub bad_gateway: u64,
    /// `eth_getLogs` refused for a range wider than `max_log_range`.
    pub range_capped: u64,
    /// `eth_getLogs` refused for a result longer than `max_logs`.
    pub result_capped: u64,
    /// `eth_blockNumber` answered one block behind.
    pub lagged_heads: u64,
    /// Calls sent on to the node and answered by it (with a result or its own error).
    pub forwarded: u64,
    /// Requests to the node that got no answer (each answered 502 to the client).
    pub upstream_failed: u64,
}

/// A running front on `127.0.0.1`. The server lives as long as this value.
#[derive(Debug)]
pub struct HostedRpc {
    addr: SocketAddr,
    front: Arc<Front>,
    server: JoinHandle<()>,
}

impl HostedRpc {
    /// Serves on a free local port, forwarding to the node at `upstream` (an `http://` URL).
    pub async fn start(upstream: impl Into<String>, faults: Faults) -> Self {
        let front = Arc::new(Front {
            upstream: upstream.into(),
            client: reqwest::Client::new(),
            faults: RwLock::new(faults),
            draws: AtomicU64::new(faults.seed),
            counters: Counters::default(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free local port");
        let addr = listener.local_addr().expect("the listener has an address");
        let app = Router::new()
            .route("/", post(handle))
            .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
            .with_state(front.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.expect("the hosted front serves") });
        Self { addr, front, server }
    }

    /// The URL clients connect to, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the faults from the next request on and restarts the draws from `faults.seed`, so
    /// a test can let a client settle before it turns a fault on.
    pub fn set_faults(&self, faults: Faults) {
        *self.front.faults.write().expect("faults lock") = faults;
        self.front.draws.store(faults.seed, Ordering::Relaxed);
    }

    pub fn stats(&self) -> HostedStats {
        self.front.counters.snapshot()
    }
}

impl Drop for HostedRpc {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Debug)]
struct Front {
    upstream: String,
    client: reqwest::Client,
    faults: RwLock<Faults>,
    /// The splitmix64 state.
    draws: AtomicU64,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    calls: AtomicU64,
    rate_limited: AtomicU64,
    bad_gateway: AtomicU64,
    range_capped: AtomicU64,
    result_capped: AtomicU64,
    lagged_heads: AtomicU64,
    forwarded: AtomicU64,
    upstream_failed: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> HostedStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        HostedStats {
            requests: read(&self.requests),
            calls: read(&self.calls),
            rate_limited: read(&self.rate_limited),
            bad_gateway: read(&self.bad_gateway),
            range_capped: read(&self.range_capped),
            result_capped: read(&self.result_capped),
            lagged_heads: read(&self.lagged_heads),
            forwarded: read(&self.forwarded),
            upstream_failed: read(&self.upstream_failed),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The node did not answer; the client gets a 502 as from a provider whose node is down.
struct Unreachable;

/// One call's answer: the node's own (status, type and bytes untouched, so its errors and
/// reverts reach the client as it sent them) or one the front made up.
enum Reply {
    Upstream { status: StatusCode, content_type: Option<HeaderValue>, body: Bytes },
    Front(Value),
}

impl Reply {
    fn result(id: Value, result: Value) -> Self {
        Self::Front(json!({ "jsonrpc": "2.0", "id": id, "result": result }))
    }

    fn error(id: Value, code: i64, message: impl Into<String>) -> Self {
        Self::Front(json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message.into() } }))
    }

    /// The node's answer as JSON, when it is JSON.
    fn answer(&self) -> Option<Value> {
        match self {
            Self::Upstream { body, .. } => serde_json::from_slice(body).ok(),
            Self::Front(answer) => Some(answer.clone()),
        }
    }

    /// The element of a batch answer.
    fn into_value(self, id: Value) -> Value {
        match self {
            Self::Upstream { body, .. } => serde_json::from_slice(&body).unwrap_or_else(|_| {
                json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32603, "message": "the node answered non-JSON" } })
            }),
            Self::Front(answer) => answer,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Self::Upstream { status, content_type, body } => {
                let mut response = (status, body).into_response();
                match content_type {
                    Some(content_type) => response.headers_mut().insert(header::CONTENT_TYPE, content_type),
                    None => response.headers_mut().remove(header::CONTENT_TYPE),
                };
                response
            }
            Self::Front(answer) => Json(answer).into_response(),
        }
    }
}

/// Per HTTP request: the provider's gate first (429, then 502), then each call.
async fn handle(State(front): State<Arc<Front>>, body: Bytes) -> Response {
    bump(&front.counters.requests);
    let faults = *front.faults.read().expect("faults lock");
    let request: Option<Value> = serde_json::from_slice(&body).ok();
    if front.chance(faults.rate_limited) {
        bump(&front.counters.rate_limited);
        let id = request.as_ref().and_then(|request| request.get("id")).cloned().unwrap_or(Value::Null);
        return too_many_requests(id, front.chance(faults.retry_after_share));
    }
    if front.chance(faults.bad_gateway) {
        bump(&front.counters.bad_gateway);
        return bad_gateway();
    }
    let answered = match request {
        Some(Value::Array(calls)) if !calls.is_empty() => front.batch(calls, &faults).await,
        Some(call @ Value::Object(_)) => front.call(call, Some(body), &faults).await.map(IntoResponse::into_response),
        // Not a call we can read: the node says what is wrong with it.
        _ => front.forward(body).await.map(IntoResponse::into_response),
    };
    answered.unwrap_or_else(|Unreachable| bad_gateway())
}

fn too_many_requests(id: Value, retry_after: bool) -> Response {
    let body = Json(json!({ "jsonrpc": "2.0", "id": id, "error": { "code": 429, "message": "Too Many Requests" } }));
    if retry_after {
        (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], body).into_response()
    } else {
        (StatusCode::TOO_MANY_REQUESTS, body).into_response()
    }
}

fn bad_gateway() -> Response {
    (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/html")], BAD_GATEWAY_PAGE).into_response()
}

impl Front {
    /// splitmix64: a draw in `0.0..1.0`. Lock-free; concurrent requests share one stream.
    fn draw(&self) -> f64 {
        const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut z = self.draws.fetch_add(GAMMA, Ordering::Relaxed).wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `share`; a zero share spends no draw.
    fn chance(&self, share: f64) -> bool {
        share > 0.0 && self.draw() < share
    }

    /// Each element in turn, answered as one array; the node failing on any fails the request.
    async fn batch(&self, calls: Vec<Value>, faults: &Faults) -> Result<Response, Unreachable> {
        let mut answers = Vec::with_capacity(calls.len());
        for call in calls {
            let id = call.get("id").cloned().unwrap_or(Value::Null);
            answers.push(self.call(call, None, faults).await?.into_value(id));
        }
        Ok(Json(Value::Array(answers)).into_response())
    }

    /// `body` is the call as the client sent it, when it came alone: what the front does not
    /// touch reaches the node byte for byte.
    async fn call(&self, call: Value, body: Option<Bytes>, faults: &Faults) -> Result<Reply, Unreachable> {
        bump(&self.counters.calls);
        match call.get("method").and_then(Value::as_str) {
            Some("eth_getLogs") => self.get_logs(call, faults).await,
            Some("eth_blockNumber") => self.block_number(call, faults).await,
            _ => match body {
                Some(body) => self.forward(body).await,
                None => self.forward_call(&call).await,
            },
        }
    }

    /// Refuses a range over the cap before asking the node (as providers do, whatever the range
    /// holds), and a result over the cap after.
    async fn get_logs(&self, call: Value, faults: &Faults) -> Result<Reply, Unreachable> {
        let id = call.get("id").cloned().unwrap_or(Value::Null);
        let filter = call.get("params").and_then(|params| params.get(0));
        // A block hash names one block: never too wide.
        if let Some(filter) = filter.filter(|filter| filter.get("blockHash").is_none())
            && let (Some(from), Some(to)) =
                (self.resolve(filter.get("fromBlock")).await?, self.resolve(filter.get("toBlock")).await?)
            && to >= from
            && to - from >= faults.max_log_range
        {
            bump(&self.counters.range_capped);
            let message = format!(
                "Log response size exceeded. You can make eth_getLogs requests with up to a {} block range and no \
                 limit on the response size, or you can request any block range with a cap of {} logs in the response.",
                short(faults.max_log_range),
                short(faults.max_logs as u64),
            );
            return Ok(Reply::error(id, -32602, message));
        }
        let reply = self.forward_call(&call).await?;
        if faults.max_logs != usize::MAX
            && reply
                .answer()
                .and_then(|answer| answer.get("result").and_then(Value::as_array).map(Vec::len))
                .is_some_and(|logs| logs > faults.max_logs)
        {
            bump(&self.counters.result_capped);
            return Ok(Reply::error(id, -32005, format!("query returned more than {} results", faults.max_logs)));
        }
        Ok(reply)
    }

    /// A filter's block as a number, asking the node for tags; `None` when it is not one we can
    /// read (the node will refuse it itself).
    async fn resolve(&self, block: Option<&Value>) -> Result<Option<u64>, Unreachable> {
        let tag = match block {
            None | Some(Value::Null) => "latest",
            Some(Value::String(tag)) => tag.as_str(),
            Some(_) => return Ok(None),
        };
        Ok(match tag {
            "latest" | "pending" => self.ask("eth_blockNumber", json!([])).await?.as_ref().and_then(quantity),
            "earliest" => Some(0),
            "safe" | "finalized" => self
                .ask("eth_getBlockByNumber", json!([tag, false]))
                .await?
                .as_ref()
                .and_then(|block| block.get("number"))
                .and_then(quantity),
            number => parse_quantity(number),
        })
    }

    async fn block_number(&self, call: Value, faults: &Faults) -> Result<Reply, Unreachable> {
        let reply = self.forward_call(&call).await?;
        if !self.chance(faults.lagging_head) {
            return Ok(reply);
        }
        let Some(head) = reply.answer().and_then(|answer| answer.get("result").and_then(quantity)) else {
            return Ok(reply);
        };
        bump(&self.counters.lagged_heads);
        let id = call.get("id").cloned().unwrap_or(Value::Null);
        Ok(Reply::result(id, json!(format!("{:#x}", head.saturating_sub(1)))))
    }

    async fn forward_call(&self, call: &Value) -> Result<Reply, Unreachable> {
        self.forward(Bytes::from(serde_json::to_vec(call).expect("a JSON value serialises"))).await
    }

    async fn forward(&self, body: Bytes) -> Result<Reply, Unreachable> {
        let reply = self.post(body).await?;
        bump(&self.counters.forwarded);
        Ok(reply)
    }

    /// A call of the front's own (to resolve a block tag): its result, if the node gave one.
    async fn ask(&self, method: &str, params: Value) -> Result<Option<Value>, Unreachable> {
        let call = json!({ "jsonrpc": "2.0", "id": 0, "method": method, "params": params });
        let reply = self.post(Bytes::from(serde_json::to_vec(&call).expect("a JSON value serialises"))).await?;
        Ok(reply.answer().and_then(|mut answer| answer.get_mut("result").map(Value::take)))
    }

    async fn post(&self, body: Bytes) -> Result<Reply, Unreachable> {
        let sent =
            self.client.post(&self.upstream).header(header::CONTENT_TYPE, "application/json").body(body).send().await;
        let received = match sent {
            Ok(response) => {
                let status = response.status();
                let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
                response.bytes().await.map(|body| Reply::Upstream { status, content_type, body })
            }
            Err(error) => Err(error),
        };
        received.map_err(|_| {
            bump(&self.counters.upstream_failed);
            Unreachable
        })
    }
}

/// A JSON-RPC quantity (`"0x1a"`).
fn quantity(value: &Value) -> Option<u64> {
    value.as_str().and_then(parse_quantity)
}

fn parse_quantity(hex: &str) -> Option<u64> {
    u64::from_str_radix(hex.strip_prefix("0x")?, 16).ok()
}

/// A cap as Alchemy writes it: 2000 → "2K".
fn short(cap: u64) -> String {
    if cap >= 1_000 && cap.is_multiple_of(1_000) { format!("{}K", cap / 1_000) } else { cap.to_string() }
}
