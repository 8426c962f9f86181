//! The reverse proxy `openlease-gateway --upstream URL` runs: every request the gateway admits
//! goes to the upstream with its method, path, query, headers and body (read whole first, up to
//! `max_body`); the answer comes back as the upstream produces it, chunk by chunk, so a stream of
//! events arrives as it is written. The benchmark measures this same code.

use std::time::Duration;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderName, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use futures_util::{Stream, StreamExt, stream};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use openlease_client::wire::RefusalCode;

use crate::{Gateway, Refusal};

/// The service behind the gateway.
#[derive(Debug, Clone)]
pub struct Upstream {
    http: reqwest::Client,
    base: String,
    max_body: usize,
    /// How long a client may stay silent while it sends a request's body.
    body_idle: Duration,
}

impl Upstream {
    /// The service at `base`, taking request bodies up to `max_body` bytes, and allowed to stay
    /// silent for `idle` (connecting, before its answer, between two chunks of it): no total
    /// timeout, so a stream is cut when it stalls, not when it has run for long.
    pub fn new(base: &str, max_body: usize, idle: Duration) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder().connect_timeout(idle).read_timeout(idle).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_string(), max_body, body_idle: Duration::from_secs(10) })
    }

    /// Closes a request whose client stays silent for `idle` while it sends the body (10 s by
    /// default): an admitted tenant trickling a body holds a connection and a buffer no longer.
    pub fn with_body_idle(mut self, idle: Duration) -> Self {
        self.body_idle = idle;
        self
    }
}

/// The proxy behind `gateway`: `/openlease/health`, `/openlease/metrics`, and everything else
/// admitted and forwarded.
pub fn app<P: alloy::providers::Provider + Clone + 'static>(gateway: &Gateway<P>, upstream: Upstream) -> Router {
    let max_body = upstream.max_body;
    let routes = Router::new().fallback(forward).with_state(upstream);
    gateway.serve(routes).layer(middleware::from_fn_with_state(max_body, declared_body_limit))
}

/// Hop-by-hop headers, and the gateway's own, stay out of the forwarded request.
fn forwarded(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host" | "connection" | "keep-alive" | "transfer-encoding" | "te" | "upgrade" | "proxy-connection"
    ) && !name.as_str().starts_with("openlease-")
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut body = Limited::new(body, upstream.max_body);
    let mut read = Vec::new();
    loop {
        match tokio::time::timeout(upstream.body_idle, body.frame()).await {
            Ok(None) => break,
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    read.extend_from_slice(&data);
                }
            }
            Ok(Some(Err(error))) if error.is::<LengthLimitError>() => return body_too_large(upstream.max_body),
            Ok(Some(Err(error))) => {
                return Refusal::new(
                    RefusalCode::BodyUnreadable,
                    format!("the request body could not be read: {error}"),
                    "send the whole body",
                )
                .into_response();
            }
            Err(_) => {
                let mut response = Refusal::new(
                    RefusalCode::BodyTimeout,
                    format!("the request body stalled for {} s", upstream.body_idle.as_secs_f64()),
                    "send the body without pauses",
                )
                .into_response();
                // The rest of the body was never read: the connection cannot carry another request.
                response.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
                return response;
            }
        }
    }
    let body = Bytes::from(read);
    let mut outgoing = upstream.http.request(parts.method.clone(), format!("{}{path}", upstream.base)).body(body);
    for (name, value) in parts.headers.iter().filter(|(name, _)| forwarded(name)) {
        outgoing = outgoing.header(name, value);
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(e) => return bad_gateway(&e),
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers().iter().filter(|(name, _)| forwarded(name)) {
        response = response.header(name, value);
    }
    // An event stream of unstated length can take one more event: the failure, said in-band.
    let events =
        answer.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"))
            && !answer.headers().contains_key(header::CONTENT_LENGTH);
    response
        .body(Body::from_stream(passed_on(answer.bytes_stream(), events)))
        .expect("the upstream's status and headers")
}

/// The upstream's answer as it comes. If the upstream fails midway (it dies, or stays silent
/// past `--upstream-idle-secs`), the client must not take what it got for the whole answer: an
/// event stream gets an `error` event and ends (when the failure falls between two events; inside
/// one, the event is left incomplete, which clients discard); any other answer ends with an
/// error, so that the connection is cut before the body's end.
fn passed_on(
    chunks: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    events: bool,
) -> impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static {
    let state = (Box::pin(chunks), EventBoundary::default(), false);
    stream::unfold(state, move |(mut chunks, mut boundary, failed)| async move {
        if failed {
            return None;
        }
        match chunks.next().await? {
            Ok(chunk) => {
                boundary.saw(&chunk);
                Some((Ok(chunk), (chunks, boundary, false)))
            }
            Err(error) => {
                tracing::warn!(%error, "the upstream failed in the middle of an answer");
                let said = if events && boundary.between_events() { Ok(error_event(&error)) } else { Err(error) };
                Some((said, (chunks, boundary, true)))
            }
        }
    })
}

/// Whether an event stream so far ends with a blank line, where an event may begin.
#[derive(Default)]
struct EventBoundary {
    tail: Vec<u8>,
}

impl EventBoundary {
    fn saw(&mut self, chunk: &[u8]) {
        self.tail.extend_from_slice(&chunk[chunk.len().saturating_sub(3)..]);
        let extra = self.tail.len().saturating_sub(3);
        self.tail.drain(..extra);
    }

    fn between_events(&self) -> bool {
        // A line ends with CR, LF or CRLF; two in a row make the blank line that ends an event.
        self.tail.is_empty() || [&b"\n\n"[..], b"\r\r", b"\n\r", b"\n\r\n"].iter().any(|end| self.tail.ends_with(end))
    }
}

fn error_event(error: &reqwest::Error) -> Bytes {
    let data = serde_json::json!({
        "error": RefusalCode::UpstreamFailed,
        "message": format!("the service behind the gateway failed in the middle of its answer: {error}"),
        "hint": "what came before this event is all there is; retry the request",
    });
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}

/// A body that says it is larger than `--max-body` is refused before the request is admitted, so
/// before its receipt is taken: only a chunked one is found out while it is read, after.
async fn declared_body_limit(State(max_body): State<usize>, request: Request, next: Next) -> Response {
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|l| l.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_body as u64) {
        return body_too_large(max_body);
    }
    next.run(request).await
}

fn body_too_large(max_body: usize) -> Response {
    Refusal::new(
        RefusalCode::BodyTooLarge,
        format!("the request body is larger than the gateway's {max_body} bytes"),
        "send a smaller body, or ask the provider for a larger --max-body",
    )
    .into_response()
}

fn bad_gateway(error: &reqwest::Error) -> Response {
    Refusal::new(
        RefusalCode::UpstreamUnavailable,
        format!("the service behind the gateway did not answer: {error}"),
        "the provider's service is down; retry, or fail over to another provider",
    )
    .into_response()
}
