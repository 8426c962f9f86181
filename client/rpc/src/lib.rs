//! How every Openlease part talks to a node.
//!
//! Hosted RPC providers refuse some requests (HTTP 429, sometimes with `Retry-After`), fail
//! others (5xx with an HTML body), drop connections and stall. A part that gives up at the first
//! such answer stalls or exits while the node is fine a moment later, and a part that retries a
//! whole unit of work (an indexer step of a hundred requests) at one refusal never finishes
//! under a steady 5% of them. So each request is retried here, on its own, with exponential
//! backoff and jitter (honouring the server's `Retry-After`), for up to a patience; an optional
//! cap on requests per second keeps a part under its plan's rate. Failures are classified once,
//! here, for the retries, the logs, the metrics and the messages users read.

use std::{
    fmt,
    hash::{BuildHasher, Hasher},
    num::NonZeroU32,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use alloy::{
    primitives::{Bytes, keccak256},
    rpc::{
        client::{ClientBuilder, RpcClient},
        json_rpc::{RequestPacket, Response, ResponsePacket, ResponsePayload, SerializedRequest},
    },
    transports::{RpcError, TransportError, TransportErrorKind, TransportFut},
};
use serde_json::value::RawValue;
use tokio::time::Instant;
use tower::{Layer, Service};

/// What kind of RPC failure it was: what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpcErrorClass {
    /// An `eth_getLogs` range returned too much: ask for a smaller one.
    RangeTooLarge,
    /// The node asks us to slow down: wait and ask again.
    RateLimited,
    /// The node is unreachable, failing or silent: wait and ask again.
    Unavailable,
    /// Anything else (a revert, a refused credential, a malformed answer): asking again the
    /// same way will not help.
    Other,
}

impl RpcErrorClass {
    /// Every class, for metrics.
    pub const ALL: [Self; 4] = [Self::RangeTooLarge, Self::RateLimited, Self::Unavailable, Self::Other];

    /// The label used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RangeTooLarge => "range_too_large",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Other => "other",
        }
    }

    /// Whether the same request, asked again later, can succeed.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable)
    }

    /// Classifies an error from the transport or the node.
    pub fn of(error: &TransportError) -> Self {
        match error {
            RpcError::ErrorResp(payload) => {
                let message = payload.message.to_ascii_lowercase();
                if payload.code == 429 || message.contains("rate limit") || message.contains("too many requests") {
                    Self::RateLimited
                } else if is_log_limit(&message) {
                    Self::RangeTooLarge
                } else {
                    Self::Other
                }
            }
            RpcError::Transport(kind) => match kind.as_http_error().map(|e| e.status) {
                Some(429) => Self::RateLimited,
                Some(413) => Self::RangeTooLarge,
                Some(500..=599) => Self::Unavailable,
                // Refused credentials, a wrong path: the URL is wrong, not the moment.
                Some(_) => Self::Other,
                None => match kind {
                    TransportErrorKind::NonRetryable(_) => Self::Other,
                    // Connections refused or reset, timeouts, a lost websocket.
                    _ => Self::Unavailable,
                },
            },
            _ => Self::Other,
        }
    }
}

impl fmt::Display for RpcErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long and how often a request is asked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay before the first retry; each further one doubles it, up to `max_delay`.
    /// Each delay is drawn from its upper half, so that clients refused together do not come
    /// back together.
    pub first_delay: Duration,
    /// The longest delay between two attempts (a server's `Retry-After` may ask for longer).
    pub max_delay: Duration,
    /// How long one request may take, retries included, before its last error is returned.
    pub patience: Duration,
    /// The longest wait for one answer: a node that never answers is unavailable, not slow.
    pub attempt_timeout: Duration,
    /// Requests per second at most, retries included (`None`: no cap).
    pub max_rps: Option<NonZeroU32>,
    /// Whether a connection that cannot be made (refused, no such host) ends the request at
    /// once: for commands a person waits on, which should say that nothing answers at that URL
    /// rather than wait for it. Services wait, as for any outage.
    pub fail_when_unreachable: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            patience: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(30),
            max_rps: None,
            fail_when_unreachable: false,
        }
    }
}

impl RetryPolicy {
    /// This policy, giving up on a request after `patience`.
    pub fn with_patience(self, patience: Duration) -> Self {
        Self { patience, ..self }
    }

    /// This policy, sending at most `max_rps` requests per second.
    pub fn with_max_rps(self, max_rps: Option<NonZeroU32>) -> Self {
        Self { max_rps, ..self }
    }

    /// The delay before retry number `retry` (0 for the first), `hint` being what the server
    /// asked for, if anything: at least the hint, else a random point in the upper half of the
    /// exponential step.
    pub fn delay(&self, retry: u32, hint: Option<Duration>) -> Duration {
        let step = self.first_delay.saturating_mul(1 << retry.min(20)).min(self.max_delay);
        let half = step / 2;
        let jitter = half.mul_f64(random_unit());
        let drawn = half + jitter;
        hint.map_or(drawn, |hint| hint.max(drawn))
    }
}

/// A uniform draw from [0, 1): jitter needs no more than the standard library's random keys
/// (each `RandomState` is keyed anew).
fn random_unit() -> f64 {
    let hash = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// What the retries did, for metrics.
#[derive(Debug, Default)]
pub struct RpcStats {
    retried: [AtomicU64; 4],
    gave_up: AtomicU64,
}

impl RpcStats {
    /// Requests asked again after a failure of `class`.
    pub fn retried(&self, class: RpcErrorClass) -> u64 {
        self.retried[class_index(class)].load(Ordering::Relaxed)
    }

    /// Requests whose patience ran out.
    pub fn gave_up(&self) -> u64 {
        self.gave_up.load(Ordering::Relaxed)
    }
}

fn class_index(class: RpcErrorClass) -> usize {
    RpcErrorClass::ALL.iter().position(|c| *c == class).expect("every class is listed")
}

/// Spaces requests at least `interval` apart.
#[derive(Debug)]
struct Pace {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().expect("the pace lock is never poisoned");
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// The tower layer that retries each request under a [`RetryPolicy`].
#[derive(Debug, Clone)]
pub struct RetryLayer {
    policy: RetryPolicy,
    pace: Option<Arc<Pace>>,
    stats: Arc<RpcStats>,
}

impl RetryLayer {
    /// A layer retrying under `policy`; every client built with it shares its rate cap.
    pub fn new(policy: RetryPolicy) -> Self {
        let pace = policy.max_rps.map(|rps| {
            Arc::new(Pace { interval: Duration::from_secs(1) / rps.get(), next: Mutex::new(Instant::now()) })
        });
        Self { policy, pace, stats: Arc::default() }
    }

    /// What its retries did so far.
    pub fn stats(&self) -> Arc<RpcStats> {
        self.stats.clone()
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService { inner, layer: self.clone() }
    }
}

/// A transport whose requests are retried (see [`RetryLayer`]).
#[derive(Debug, Clone)]
pub struct RetryService<S> {
    inner: S,
    layer: RetryLayer,
}

impl<S> Service<RequestPacket> for RetryService<S>
where
    S: Service<RequestPacket, Response = ResponsePacket, Error = TransportError, Future = TransportFut<'static>>
        + Clone
        + Send
        + 'static,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        // The clone that was polled ready serves this call; the fresh clone stays for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(retry(inner, self.layer.clone(), request))
    }
}

async fn retry<S>(mut inner: S, layer: RetryLayer, request: RequestPacket) -> Result<ResponsePacket, TransportError>
where
    S: Service<RequestPacket, Response = ResponsePacket, Error = TransportError, Future = TransportFut<'static>>,
{
    let RetryLayer { policy, pace, stats } = layer;
    let started = Instant::now();
    let mut retries = 0u32;
    loop {
        if let Some(pace) = &pace {
            pace.wait().await;
        }
        let error = match tokio::time::timeout(policy.attempt_timeout, inner.call(request.clone())).await {
            Ok(Ok(response)) => match response.as_error() {
                None => return Ok(response),
                Some(payload) => {
                    let error = RpcError::ErrorResp(payload.clone());
                    if retries > 0
                        && let Some(accepted) = already_accepted(&request, &error)
                    {
                        return Ok(accepted);
                    }
                    error
                }
            },
            Ok(Err(error)) => error,
            Err(_) => TransportErrorKind::custom_str(&format!(
                "the node did not answer within {} s",
                policy.attempt_timeout.as_secs_f32()
            )),
        };
        let class = RpcErrorClass::of(&error);
        if !class.is_transient() || (policy.fail_when_unreachable && is_unreachable(&error)) {
            return Err(error);
        }
        let delay = policy.delay(retries, server_hint(&error));
        if started.elapsed() + delay > policy.patience {
            stats.gave_up.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%class, %error, methods = %methods(&request), "the node kept refusing; giving up on the request");
            return Err(error);
        }
        stats.retried[class_index(class)].fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%class, %error, methods = %methods(&request), ?delay, "retrying a request the node refused");
        tokio::time::sleep(delay).await;
        retries += 1;
    }
}

/// What the server asked us to wait: `Retry-After`, or (Infura) `data.rate.backoff_seconds` in
/// a JSON-RPC refusal. Bounded: a server cannot park a request for more than a minute an attempt.
fn server_hint(error: &TransportError) -> Option<Duration> {
    let hint = match error {
        RpcError::Transport(kind) => kind.retry_after(),
        RpcError::ErrorResp(payload) => payload
            .try_data_as::<serde_json::Value>()
            .and_then(Result::ok)
            .and_then(|data| data["rate"]["backoff_seconds"].as_f64())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(60.0))),
        _ => None,
    };
    hint.map(|hint| hint.min(Duration::from_secs(60)))
}

/// A transaction sent again after a failure the node may have seen after accepting it: the node
/// answers that it already knows it, which means it was sent. Its hash is the answer.
fn already_accepted(request: &RequestPacket, error: &TransportError) -> Option<ResponsePacket> {
    let RpcError::ErrorResp(payload) = error else { return None };
    let message = payload.message.to_ascii_lowercase();
    if !(message.contains("already known") || message.contains("known transaction")) {
        return None;
    }
    let request: &SerializedRequest = request.as_single()?;
    if request.method() != "eth_sendRawTransaction" {
        return None;
    }
    let (raw,): (Bytes,) = serde_json::from_str(request.params()?.get()).ok()?;
    let hash = RawValue::from_string(format!("\"{}\"", keccak256(&raw))).ok()?;
    Some(ResponsePacket::Single(Response { id: request.id().clone(), payload: ResponsePayload::Success(hash) }))
}

/// No connection could be made: nothing listens there, or no such host.
/// Whether a node's refusal (lowercased) is one of the common wordings of a limit on
/// `eth_getLogs`: a block range too large, too many results, a response too big. Narrow on
/// purpose: "gas required exceeds allowance" is not one.
fn is_log_limit(message: &str) -> bool {
    let range = message.contains("range")
        && ["block", "exceed", "too large", "too big", "too wide", "limit", "max"].iter().any(|w| message.contains(w));
    let results = message.contains("more than") && (message.contains("results") || message.contains("logs"));
    range || results || message.contains("response size") || message.contains("too many logs")
}

fn is_unreachable(error: &TransportError) -> bool {
    let RpcError::Transport(TransportErrorKind::Custom(error)) = error else { return false };
    error.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_connect)
}

fn methods(request: &RequestPacket) -> String {
    request.method_names().collect::<Vec<_>>().join(",")
}

/// A client for the node at `url` (`http(s)://` or `ws(s)://`) whose requests are retried
/// under `policy`.
pub async fn connect(url: &str, policy: RetryPolicy) -> Result<RpcClient, TransportError> {
    connect_with(url, RetryLayer::new(policy)).await
}

/// Like [`connect`], with a layer the caller keeps (for its [`RpcStats`]).
pub async fn connect_with(url: &str, layer: RetryLayer) -> Result<RpcClient, TransportError> {
    match url.parse::<reqwest::Url>() {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(http(parsed, layer)),
        _ => ClientBuilder::default().layer(layer).connect(url).await,
    }
}

/// A client for the HTTP node at `url` whose requests are retried by `layer`.
pub fn http(url: reqwest::Url, layer: RetryLayer) -> RpcClient {
    let is_local = url.host_str().is_some_and(|host| host == "localhost" || host == "127.0.0.1");
    ClientBuilder::default().layer(layer).transport(HttpTransport { client: reqwest::Client::new(), url }, is_local)
}

/// JSON-RPC over HTTP that keeps what a refusal says about when to come back. (alloy's HTTP
/// transport turns a 429 with a JSON-RPC body into that body and drops its `Retry-After`.)
#[derive(Debug, Clone)]
struct HttpTransport {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl Service<RequestPacket> for HttpTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let (client, url) = (self.client.clone(), self.url.clone());
        Box::pin(async move {
            let headers = request.headers();
            let body = serde_json::to_vec(&request).map_err(TransportError::ser_err)?;
            let response = client
                .post(url)
                .headers(headers)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(TransportErrorKind::custom)?;
            let status = response.status();
            // `Retry-After` in seconds; the HTTP-date form is rare on JSON-RPC endpoints.
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok()?.trim().parse().ok())
                .map(Duration::from_secs);
            let body = response.bytes().await.map_err(TransportErrorKind::custom)?;
            if !status.is_success() {
                let body = String::from_utf8_lossy(&body).into_owned();
                return Err(TransportErrorKind::http_error_with_retry_after(status.as_u16(), body, retry_after));
            }
            serde_json::from_slice(&body).map_err(|e| TransportError::deser_err(e, String::from_utf8_lossy(&body)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_with_jitter_and_honour_the_server() {
        let policy = RetryPolicy::default();
        for retry in 0..10 {
            let step = (policy.first_delay * (1 << retry)).min(policy.max_delay);
            let delays: Vec<Duration> = (0..50).map(|_| policy.delay(retry, None)).collect();
            assert!(delays.iter().all(|d| *d >= step / 2 && *d <= step), "retry {retry}: {delays:?}");
            assert!(delays.iter().any(|d| *d != delays[0]), "retry {retry}: no jitter in {delays:?}");
        }
        assert!(policy.delay(0, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
    }

    #[test]
    fn failures_are_classified_for_what_to_do() {
        let http = |status: u16, body: &str| TransportErrorKind::http_error(status, body.into());
        assert_eq!(RpcErrorClass::of(&http(429, "")), RpcErrorClass::RateLimited);
        assert_eq!(RpcErrorClass::of(&http(502, "<html>Bad Gateway</html>")), RpcErrorClass::Unavailable);
        assert_eq!(RpcErrorClass::of(&http(401, "")), RpcErrorClass::Other);
        assert_eq!(
            RpcErrorClass::of(&TransportErrorKind::custom_str("connection refused")),
            RpcErrorClass::Unavailable
        );
        let refusal = |code: i64, message: &str| {
            RpcError::ErrorResp(alloy::rpc::json_rpc::ErrorPayload {
                code,
                message: message.to_owned().into(),
                data: None,
            })
        };
        assert_eq!(RpcErrorClass::of(&refusal(429, "Too Many Requests")), RpcErrorClass::RateLimited);
        assert_eq!(
            RpcErrorClass::of(&refusal(-32005, "query returned more than 10000 results")),
            RpcErrorClass::RangeTooLarge
        );
        assert_eq!(RpcErrorClass::of(&refusal(3, "execution reverted")), RpcErrorClass::Other);
        // The wordings of hosted providers' log limits, and refusals that only look like them.
        for limit in [
            "query exceeds max block range 1000",
            "eth_getLogs is limited to a 10,000 range",
            "query returned more than 10000 results",
            "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
            "block range is too wide",
            "Exceeded max range limit for eth_getLogs: 800",
            "too many logs in the response",
        ] {
            assert_eq!(RpcErrorClass::of(&refusal(-32005, limit)), RpcErrorClass::RangeTooLarge, "{limit}");
        }
        for other in
            ["gas required exceeds allowance (30000000)", "insufficient funds for gas * price + value", "nonce too low"]
        {
            assert_eq!(RpcErrorClass::of(&refusal(-32000, other)), RpcErrorClass::Other, "{other}");
        }
    }
}
