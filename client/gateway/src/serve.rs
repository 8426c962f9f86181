//! The gateway's HTTP server: what `axum::serve` does, with the limits a server facing strangers
//! needs so that slow or silent clients cannot knock it over. A request head must arrive within
//! [`Limits::header_timeout`] (a connection that sends nothing, or a few bytes now and then, is
//! closed), and be at most [`Limits::max_header_bytes`] (refused with a JSON 431 like every other
//! refusal). At most [`Limits::max_connections`] are open: near it the connection idle the
//! longest (one that never sent a whole head, or a kept-alive one between requests) is closed to
//! make room, the way nginx reuses idle connections, so a flood of silent connections never keeps
//! a real request out; when every one is serving a request, a newcomer is closed at once.
//! HTTP/1.1 only: the gateway's clients (the SDK, proxies, curl) speak it.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes, HttpBody},
    http::{HeaderValue, Request, Response, header},
    response::IntoResponse,
};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpSocket},
    sync::{Notify, OwnedSemaphorePermit, Semaphore},
};
use tower::ServiceExt;

/// What one connection may cost the gateway.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request head (the first, or the next on a kept-alive connection) must arrive within it.
    pub header_timeout: Duration,
    /// Connections open at once: each holds a file descriptor and buffers.
    pub max_connections: usize,
    /// The largest request head: request line and headers, in bytes.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { header_timeout: Duration::from_secs(10), max_connections: 4096, max_header_bytes: 16 << 10 }
    }
}

/// Descriptors the process needs besides its connections: the book, the node, the upstream, logs.
const OTHER_FILES: usize = 256;

/// How many connections the open-files limit leaves room for, after raising its soft limit as
/// far as `max_connections` needs and the hard limit allows (the usual soft limit, 1,024, would
/// otherwise stop accepts at a quarter of the default).
pub fn fit_open_files(max_connections: usize) -> std::io::Result<usize> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let needed = (max_connections + OTHER_FILES) as u64;
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current.is_some_and(|soft| soft < needed) {
        limit.current = Some(limit.maximum.map_or(needed, |hard| hard.min(needed)));
        setrlimit(Resource::Nofile, limit)?;
    }
    let files = limit.current.map_or(needed, |soft| soft.min(needed)) as usize;
    Ok(files.saturating_sub(OTHER_FILES).clamp(1, max_connections.max(1)))
}

/// A listener on `address` whose accept queue absorbs a burst of connections (the kernel caps it
/// at `net.core.somaxconn`): with the usual 128, a burst fills it and a health probe's connection
/// waits a second for a retransmitted SYN.
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(4096)
}

/// Serves `app` on `listener` within `limits` for as long as the process runs: a failure to
/// accept (out of descriptors or memory) is waited out.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits) {
    let mut http = hyper::server::conn::http1::Builder::new();
    // Heads up to the limit parse, so that its refusal is ours, in JSON; hyper's own bare 431 is
    // left for heads four times past it, or of more than its 100 header lines (raising that
    // costs a heap allocation per parse, on every read of a trickled head).
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size((limits.max_header_bytes * 4).max(8192));
    let connections = Arc::new(Connections {
        room: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        next: AtomicU64::new(0),
        open: Mutex::default(),
    });
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                // Wait for descriptors or memory to be freed rather than spin.
                tracing::error!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = connections.admit().await else {
            tracing::debug!("every connection is serving a request: one more closed at once");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (http, app, max_header_bytes) = (http.clone(), app.clone(), limits.max_header_bytes);
        tokio::spawn(async move {
            let (connection, connections) = (slot.connection.clone(), slot.connections.clone());
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let serving = Serving::start(&connections, &connection);
                let app = app.clone();
                async move {
                    let response = if head_bytes(&request) > max_header_bytes {
                        headers_too_large(max_header_bytes)
                    } else {
                        app.oneshot(request.map(Body::new)).await.unwrap_or_else(|never| match never {})
                    };
                    Ok::<_, Infallible>(response.map(|body| Guarded { body, _serving: serving }))
                }
            });
            tokio::select! {
                served = http.serve_connection(TokioIo::new(stream), service) => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "connection ended");
                    }
                }
                () = slot.connection.evicted.notified() => tracing::debug!("idle connection closed to make room"),
            }
            drop(slot);
        });
    }
}

/// Errors of one connection that the listener survives (as `axum::serve` judges them).
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// The request line and headers, as many bytes as they took on the wire (give or take the
/// spaces and line ends of the request line).
fn head_bytes<B>(request: &Request<B>) -> usize {
    let target = request.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + request.uri().authority().map_or(0, |a| a.as_str().len());
    let headers: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    request.method().as_str().len() + target + headers
}

/// A refusal in the shape of every other (`Refusal`'s).
fn headers_too_large(max: usize) -> Response<Body> {
    let mut response = crate::Refusal::new(
        openlease_client::wire::RefusalCode::HeadersTooLarge,
        format!("the request line and headers are larger than the gateway's {max} bytes"),
        "send fewer or smaller headers (a receipt takes a few hundred bytes)",
    )
    .into_response();
    // The body was not read: the connection cannot carry another request.
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Places kept free while idle connections can make them: newcomers find one at once.
const HEADROOM: usize = 32;

struct Connections {
    /// A permit per connection that may be open, held until its socket is closed.
    room: Arc<Semaphore>,
    /// Keys are handed out in order, and never twice (an evicted connection's task may still be
    /// ending when the next one comes).
    next: AtomicU64,
    /// The open connections by when they last went idle (accepted, or done with a request), the
    /// longest idle first; those serving keep their place but are passed over.
    open: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

#[derive(Default)]
struct Connection {
    /// Its key in [`Connections::open`].
    key: AtomicU64,
    /// Requests being served, until the last byte of their answer.
    serving: AtomicUsize,
    evicted: Notify,
}

impl Connections {
    /// A place for a new connection, made by closing the oldest idle one if need be; none when
    /// every connection is serving.
    async fn admit(self: &Arc<Self>) -> Option<Slot> {
        let permit = match self.room.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.evict_oldest_idle()?;
                // Its socket is closed as its task ends: waiting for that keeps the sockets open
                // within the limit, and accepts a flood only as fast as room is made.
                self.room.clone().acquire_owned().await.expect("the semaphore is never closed")
            }
        };
        // Places are made ahead of the next newcomers, so that under a flood they seldom wait
        // for a connection to close.
        if self.room.available_permits() < HEADROOM {
            self.evict_oldest_idle();
        }
        let connection = Arc::new(Connection::default());
        self.went_idle(&connection, &mut self.open.lock().expect("connections lock"));
        Some(Slot { connection, connections: self.clone(), _permit: permit })
    }

    /// Puts `connection` last in line for eviction.
    fn went_idle(&self, connection: &Arc<Connection>, open: &mut BTreeMap<u64, Arc<Connection>>) {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        connection.key.store(key, Ordering::Relaxed);
        open.insert(key, connection.clone());
    }

    fn evict_oldest_idle(&self) -> Option<()> {
        let mut open = self.open.lock().expect("connections lock");
        let idle = open.iter().find(|(_, c)| c.serving.load(Ordering::Acquire) == 0).map(|(key, _)| *key)?;
        open.remove(&idle).expect("found just now").evicted.notify_one();
        Some(())
    }
}

/// One open connection's place; given back when it closes.
struct Slot {
    connection: Arc<Connection>,
    connections: Arc<Connections>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().expect("connections lock");
        open.remove(&self.connection.key.load(Ordering::Relaxed));
    }
}

/// A request being served: its connection is not idle until the request is done.
struct Serving {
    connection: Arc<Connection>,
    connections: Arc<Connections>,
}

impl Serving {
    fn start(connections: &Arc<Connections>, connection: &Arc<Connection>) -> Self {
        connection.serving.fetch_add(1, Ordering::AcqRel);
        Self { connection: connection.clone(), connections: connections.clone() }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().expect("connections lock");
        if self.connection.serving.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Unless it was closed to make room meanwhile (then it is no longer in line).
            if open.remove(&self.connection.key.load(Ordering::Relaxed)).is_some() {
                self.connections.went_idle(&self.connection, &mut open);
            }
        }
    }
}

/// An answer that keeps its connection counted as serving until its last byte is sent: a
/// streamed answer is not idle.
struct Guarded {
    body: Body,
    _serving: Serving,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
