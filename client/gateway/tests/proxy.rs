//! The reverse-proxy binary on anvil in front of a real HTTP service: answers stream through
//! chunk by chunk, an upstream failing midway is never passed on as a clean end, and slow or
//! silent clients (by the thousand) cannot keep the gateway from answering.

use std::{
    net::SocketAddr,
    process::{Child, Command},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{B256, U256},
    providers::DynProvider,
};
use axum::{
    Router,
    body::{Body, Bytes},
    response::Response,
    routing::{get, post},
};
use futures_util::{Stream, StreamExt, stream};
use openlease_client::{Client, LeaseRequest, ReceiptSigner, wire};
use openlease_testkit::TempDir;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::RwLock,
};

const USDC: u64 = 1_000_000;
const PRICE: u64 = 100;

/// The flood owns the machine while it runs: the other tests' timings wait for it, and its own
/// latencies measure the gateway, not them.
static MACHINE: RwLock<()> = RwLock::const_new(());

/// A market on a fresh anvil with one provider's offer and a tenant's day-long lease of it.
struct Market {
    anvil: AnvilInstance,
    lease: U256,
    /// The tenant's own key signs its receipts.
    tenant: ReceiptSigner,
    cumulative: AtomicU64,
    dir: TempDir,
    manifest: std::path::PathBuf,
}

impl Market {
    async fn new() -> Self {
        let anvil = openlease_testkit::spawn_anvil();
        let manifest = openlease_testkit::deploy_market(&anvil).await;
        let usdc = manifest.stablecoin("USDC").unwrap().address;
        let client = |index| {
            let (endpoint, key) = (anvil.endpoint(), openlease_testkit::key(&anvil, index));
            let manifest = manifest.clone();
            async move { Client::connect(&endpoint, key, manifest).await.unwrap() }
        };
        let (provider, tenant): (Client<DynProvider>, Client<DynProvider>) = (client(1).await, client(4).await);
        for who in [&provider, &tenant] {
            who.send(who.token(usdc).mint(who.address(), U256::from(10_000 * USDC))).await.unwrap();
        }
        let offer = openlease_testkit::publish_demo_offer(&provider, usdc, PRICE).await;
        let quote = tenant.offer_quote(offer).await.unwrap();
        let lease = tenant.open_lease(LeaseRequest::new(&quote, 86_400, U256::from(8_640_000))).await.unwrap().lease_id;
        let dir = TempDir::new("proxy");
        let tenant = openlease_testkit::receipt_signer(&manifest, openlease_testkit::key(&anvil, 4));
        let (path, cumulative) = (dir.path().join("31337.json"), AtomicU64::new(0));
        manifest.save(&path).unwrap();
        Self { anvil, lease, tenant, cumulative, dir, manifest: path }
    }

    /// The lease and a fresh receipt: each request's claims one raw unit more than the last.
    fn paid(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let receipt = self.receipt();
        request.header(wire::LEASE_HEADER, self.lease.to_string()).header(wire::RECEIPT_HEADER, receipt)
    }

    /// The tenant's next receipt, as a header value.
    fn receipt(&self) -> String {
        let cumulative = self.cumulative.fetch_add(1, Ordering::SeqCst) + 1;
        // For service until ten days from now: far more accrues by then than these claim.
        let period_end =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 864_000;
        let signed = self.tenant.sign_usage(self.lease, U256::from(cumulative), B256::ZERO, period_end).unwrap();
        wire::receipt_header(self.tenant.domain(), &signed)
    }

    /// The gateway binary in front of `upstream`, with `flags` of its own, once healthy.
    async fn gateway(&self, upstream: SocketAddr, flags: &[&str]) -> Gateway {
        let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let db = format!("sqlite://{}/book-{}.db", self.dir.path().display(), address.port());
        let child = Command::new(env!("CARGO_BIN_EXE_openlease-gateway"))
            .args(["--upstream", &format!("http://{upstream}"), "--listen", &address.to_string()])
            .args(["--rpc-url", &self.anvil.endpoint(), "--db", &db])
            .arg("--manifest")
            .arg(&self.manifest)
            .args(flags)
            .env("OPENLEASE_PRIVATE_KEY", format!("0x{}", alloy::hex::encode(self.anvil.keys()[1].to_bytes())))
            .env("RUST_LOG", "error")
            .spawn()
            .expect("the gateway starts");
        let gateway = Gateway { child, address };
        let started = Instant::now();
        while reqwest::get(gateway.url("/openlease/health")).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "the gateway never came up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        gateway
    }
}

struct Gateway {
    child: Child,
    address: SocketAddr,
}

impl Gateway {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// File descriptors the gateway process holds (sockets, the book, the log).
    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `parts` one second apart (the first at once), then, if `end` says so, a failure (the upstream
/// dies: its connection is cut before the body's end) or silence.
fn paced(parts: Vec<String>, end: End) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let parts = stream::iter(parts.into_iter().enumerate()).then(|(i, part)| async move {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(Bytes::from(part))
    });
    let end: stream::BoxStream<'static, Result<Bytes, std::io::Error>> = match end {
        End::Clean => stream::empty().boxed(),
        End::Dies => stream::once(async {
            // After its last write has gone out, as a process that crashes.
            tokio::time::sleep(Duration::from_millis(500)).await;
            Err(std::io::Error::other("the upstream died"))
        })
        .boxed(),
        End::Stalls => stream::pending().boxed(),
    };
    parts.chain(end)
}

enum End {
    Clean,
    Dies,
    Stalls,
}

fn answer(
    content_type: &'static str,
    body: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
) -> Response {
    Response::builder().header("content-type", content_type).body(Body::from_stream(body)).unwrap()
}

fn events(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("event: tick\ndata: {i}\n\n")).collect()
}

/// An event, then half of the next one.
fn torn() -> Vec<String> {
    vec![events(1).concat(), "event: tick\ndata: 2".into()]
}

fn chunks(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("chunk {i};")).collect()
}

/// The service behind the gateway: event streams and chunked answers, whole or failing.
async fn upstream() -> SocketAddr {
    let sse = "text/event-stream";
    let bytes = "application/octet-stream";
    let router = Router::new()
        .route("/events", get(move || async move { answer(sse, paced(events(4), End::Clean)) }))
        .route("/chunks", get(move || async move { answer(bytes, paced(chunks(4), End::Clean)) }))
        .route("/events/dies", get(move || async move { answer(sse, paced(events(2), End::Dies)) }))
        .route("/chunks/dies", get(move || async move { answer(bytes, paced(chunks(2), End::Dies)) }))
        .route("/events/stalls", get(move || async move { answer(sse, paced(events(1), End::Stalls)) }))
        .route("/events/torn", get(move || async move { answer(sse, paced(torn(), End::Dies)) }))
        .route("/echo", post(|body: Bytes| async move { body }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

/// What a client read of an answer: each chunk with when it came (since the request was sent),
/// and how the body ended.
struct Read {
    chunks: Vec<(Duration, String)>,
    ended: Result<(), String>,
}

impl Read {
    fn text(&self) -> String {
        self.chunks.iter().map(|(_, c)| c.as_str()).collect()
    }

    /// When `needle` had arrived.
    fn arrival(&self, needle: &str) -> Duration {
        let mut text = String::new();
        for (at, chunk) in &self.chunks {
            text.push_str(chunk);
            if text.contains(needle) {
                return *at;
            }
        }
        panic!("{needle:?} never arrived in {:?}", self.text())
    }
}

async fn read(m: &Market, gateway: &Gateway, path: &str) -> Read {
    read_from(m, gateway.address, path).await
}

async fn read_from(m: &Market, gateway: SocketAddr, path: &str) -> Read {
    let sent = Instant::now();
    let answer = m.paid(reqwest::Client::new().get(format!("http://{gateway}{path}"))).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    let mut body = answer.bytes_stream();
    let mut chunks = Vec::new();
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(20), body.next()).await.expect("the answer ends") {
            Some(Ok(chunk)) => chunks.push((sent.elapsed(), String::from_utf8_lossy(&chunk).into_owned())),
            Some(Err(error)) => break Err(format!("{error:?}")),
            None => break Ok(()),
        }
    };
    Read { chunks, ended }
}

/// Issue 19: an answer passes through as the upstream produces it. Four events (and four chunks
/// of a plain answer) a second apart reach the client a second apart, not all at once after four;
/// a stream longer than the upstream idle timeout (2 s here) is not cut while it keeps producing.
#[tokio::test]
async fn answers_reach_the_client_chunk_by_chunk_as_the_upstream_writes_them() {
    let _shared = MACHINE.read().await;
    let m = Market::new().await;
    let gateway = m.gateway(upstream().await, &["--upstream-idle-secs", "2"]).await;

    for (path, parts) in [("/events", events(4)), ("/chunks", chunks(4))] {
        let read = read(&m, &gateway, path).await;
        assert_eq!(read.ended, Ok(()), "{path}: a clean end");
        // An event stream ends with the provider's attestation of it (issue 21), after the
        // upstream's answer, unchanged.
        let text = read.text();
        let answered = text.split(&format!("event: {}\n", wire::ATTESTATION_EVENT)).next().unwrap();
        assert_eq!(answered, parts.concat(), "{path}: the upstream's answer, unchanged");
        assert_eq!(text != answered, path == "/events", "{path}: only the stream has a final attestation event");
        let arrivals: Vec<Duration> = parts.iter().map(|p| read.arrival(p)).collect();
        eprintln!("{path}: arrivals {arrivals:?}");
        assert!(arrivals[0] < Duration::from_millis(1_500), "{path}: the first part at once: {arrivals:?}");
        assert!(arrivals[3] >= Duration::from_secs(3), "{path}: the last when written: {arrivals:?}");
        for pair in arrivals.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(700), "{path}: one by one: {arrivals:?}");
        }
    }
}

/// Issue 19: an upstream that dies (or stalls past `--upstream-idle-secs`) in the middle of an
/// answer is never passed on as a clean, shorter answer: an event stream gets a last `error`
/// event, a plain answer's connection is cut before its end.
#[tokio::test]
async fn an_upstream_failing_mid_answer_never_looks_like_a_clean_end() {
    let _shared = MACHINE.read().await;
    let m = Market::new().await;
    let gateway = m.gateway(upstream().await, &["--upstream-idle-secs", "2"]).await;

    let died = read(&m, &gateway, "/events/dies").await;
    assert!(died.text().starts_with(&events(2).concat()), "{}", died.text());
    let error = error_event(&died.text());
    assert_eq!(error["error"], "upstream_failed", "{error}");
    assert!(error["hint"].as_str().is_some_and(|h| !h.is_empty()), "{error}");

    let cut = read(&m, &gateway, "/chunks/dies").await;
    assert_eq!(cut.text(), chunks(2).concat());
    assert!(cut.ended.is_err(), "the client sees an incomplete body, not a clean end");
    // Inside an event, an error event would complete the torn one: the stream is cut instead,
    // and clients drop the incomplete event.
    let torn = read(&m, &gateway, "/events/torn").await;
    assert_eq!(torn.text(), self::torn().concat());
    assert!(torn.ended.is_err(), "cut, not ended cleanly");

    let stalled = read(&m, &gateway, "/events/stalls").await;
    let (first, last) = (stalled.arrival("data: 1"), stalled.chunks.last().unwrap().0);
    eprintln!("stalled: first event at {first:?}, error event at {last:?}");
    assert_eq!(error_event(&stalled.text())["error"], "upstream_failed");
    assert!(last - first >= Duration::from_millis(1_800), "cut after the idle timeout: {last:?}");
    assert!(last - first < Duration::from_secs(5), "not later: {last:?}");
}

/// The `error` event at the end of an event stream, parsed.
fn error_event(text: &str) -> Value {
    let (_, event) = text.rsplit_once("event: error\ndata: ").unwrap_or_else(|| panic!("no error event in {text:?}"));
    assert!(event.ends_with("\n\n"), "a whole event, and the last: {event:?}");
    serde_json::from_str(event.trim_end()).unwrap()
}

/// Issue 19: every refusal of the binary is the gateway's JSON shape, the size limits' too: a
/// head past `--max-header-bytes` gets 431 `headers_too_large`, a body past `--max-body` 413
/// `body_too_large`; within both, the request is served.
#[tokio::test]
async fn oversized_heads_and_bodies_are_refused_in_json() {
    let _shared = MACHINE.read().await;
    let m = Market::new().await;
    let gateway = m.gateway(upstream().await, &["--max-body", "1024", "--max-header-bytes", "8192"]).await;
    let http = reqwest::Client::new();
    let expect = |status: u16, code: &str, answer: (u16, String)| {
        assert_eq!(answer.0, status, "{}", answer.1);
        let body: Value = serde_json::from_str(&answer.1).unwrap_or_else(|_| panic!("JSON: {:?}", answer.1));
        assert_eq!(body["error"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert!(body["hint"].as_str().is_some_and(|h| !h.is_empty()), "{body}");
    };
    let send = |request: reqwest::RequestBuilder| async move {
        let answer = request.send().await.unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    };

    // One header of 9 KB, or 90 adding up past 8 KiB: refused before anything else, the lease
    // is not even read.
    expect(431, "headers_too_large", send(http.get(gateway.url("/echo")).header("x-big", "a".repeat(9_000))).await);
    let mut many = http.get(gateway.url("/openlease/health"));
    for i in 0..90 {
        many = many.header(format!("x-{i}"), "a".repeat(100));
    }
    expect(431, "headers_too_large", send(many).await);
    // A body that declares its length is refused before the request is admitted: its receipt
    // is not taken, and pays for the next request.
    let receipt = m.receipt();
    let post = |receipt: &str| {
        http.post(gateway.url("/echo"))
            .header(wire::LEASE_HEADER, m.lease.to_string())
            .header(wire::RECEIPT_HEADER, receipt)
    };
    expect(413, "body_too_large", send(post(&receipt).body(vec![b'x'; 2_000])).await);
    let (status, body) = send(post(&receipt).body(vec![b'x'; 1_000])).await;
    assert_eq!((status, body.len()), (200, 1_000), "within the limits: served, on the same receipt");
    // A chunked one is found out while it is read.
    let chunked = reqwest::Body::wrap_stream(stream::iter([Ok::<_, std::io::Error>(vec![b'x'; 2_000])]));
    expect(413, "body_too_large", send(m.paid(http.post(gateway.url("/echo"))).body(chunked)).await);
    let (status, _) = send(m.paid(http.get(gateway.url("/chunks"))).header("x-big", "a".repeat(6_000))).await;
    assert_eq!(status, 200, "a large head within the limit is served");
}

/// Issue 19: a connection that sends nothing, or its head a few bytes at a time (slowloris), is
/// closed at `--header-timeout-secs`; the gateway keeps answering.
#[tokio::test]
async fn a_silent_or_trickling_connection_is_closed_at_the_header_timeout() {
    let _shared = MACHINE.read().await;
    let m = Market::new().await;
    let gateway = m.gateway(upstream().await, &["--header-timeout-secs", "1"]).await;

    let mut silent = TcpStream::connect(gateway.address).await.unwrap();
    let mut trickling = TcpStream::connect(gateway.address).await.unwrap();
    let opened = Instant::now();
    trickling.write_all(b"GET /openlease/health HTTP/1.1\r\nhost: gateway\r\n").await.unwrap();
    let trickle = async {
        // A header line every 200 ms, never the blank line that ends the head.
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if trickling.write_all(format!("x-{i}: 1\r\n").as_bytes()).await.is_err() {
                break;
            }
            let mut byte = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), trickling.read(&mut byte)).await
            {
                break;
            }
        }
        opened.elapsed()
    };
    let quiet = async {
        let mut rest = Vec::new();
        let _ = silent.read_to_end(&mut rest).await;
        (opened.elapsed(), rest)
    };
    let (trickled, (quieted, said)) =
        tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(trickle, quiet) })
            .await
            .expect("both closed");
    eprintln!("closed: silent after {quieted:?}, trickling after {trickled:?}");
    assert!(said.is_empty(), "nothing said to a client that said nothing");
    for closed in [quieted, trickled] {
        assert!(closed >= Duration::from_millis(900) && closed < Duration::from_secs(3), "{closed:?}");
    }
    let health = reqwest::get(gateway.url("/openlease/health")).await.unwrap();
    assert_eq!(health.status(), 200);
}

/// An admitted tenant that stalls in the middle of its request body is answered 408
/// `body_timeout` at `--body-idle-secs` and its connection closed: a trickled body holds neither
/// a connection nor a buffer for long.
#[tokio::test]
async fn a_body_that_stalls_is_refused_at_the_body_timeout() {
    let _shared = MACHINE.read().await;
    let m = Market::new().await;
    let gateway = m.gateway(upstream().await, &["--body-idle-secs", "1"]).await;
    let mut client = TcpStream::connect(gateway.address).await.unwrap();
    let head = format!(
        "POST /echo HTTP/1.1\r\nhost: gateway\r\n{}: {}\r\n{}: {}\r\ncontent-length: 1000\r\n\r\n",
        wire::LEASE_HEADER,
        m.lease,
        wire::RECEIPT_HEADER,
        m.receipt()
    );
    client.write_all(head.as_bytes()).await.unwrap();
    client.write_all(&[b'x'; 10]).await.unwrap();
    let stalled = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer)).await.expect("closed").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"body_timeout\""), "{answer}");
    let took = stalled.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");
}

/// Issue 19: half-open connections by the thousand (20,000, or as many as this process may open)
/// cannot crowd out a real request: `/openlease/health` on a new connection answers within 100 ms
/// throughout, the gateway holds no more than `--max-connections` of them (the oldest idle one
/// makes room for a newcomer), and it lives on.
#[tokio::test]
async fn silent_connections_by_the_thousand_leave_health_answering_within_100_ms() {
    let m = std::sync::Arc::new(Market::new().await);
    let max_connections = 4096;
    let gateway = m.gateway(upstream().await, &["--max-connections", &max_connections.to_string()]).await;
    let _alone = MACHINE.write().await;

    // As many as this process may open (its soft limit raised to the hard one), less its own.
    let attempts = openlease_gateway::serve::fit_open_files(20_000).unwrap();
    assert!(attempts >= 5_000, "the open-files limit allows only {attempts} connections");
    // A stream being served is not idle: the flood does not close it to make room.
    let streaming = tokio::spawn({
        let (m, address) = (m.clone(), gateway.address);
        async move { read_from(&m, address, "/events").await }
    });
    let address = gateway.address;
    // On a thread of its own, so that the probes' timings are the gateway's and not this
    // runtime's: up to 10,000 connections a second, 256 connecting at once; every other one
    // sends part of a head, the rest nothing. They stay open until the probing is over. Each
    // comes from an address of its own in 127.1/16, as a flood comes from many hosts: from one
    // address, the kernel's search for a free port among thousands in use took most of a core,
    // a cost of the attacker's own that this machine would charge to the gateway.
    let (made, made_rx) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let flood = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let started = Instant::now();
        let opened: Vec<Option<TcpStream>> = runtime.block_on(
            stream::iter(0..attempts)
                .map(|i| async move {
                    tokio::time::sleep_until((started + Duration::from_micros(100) * i as u32).into()).await;
                    let socket = tokio::net::TcpSocket::new_v4().ok()?;
                    socket.bind(SocketAddr::from(([127, 1, (i / 200) as u8, (i % 200 + 1) as u8], 0))).ok()?;
                    let mut stream = socket.connect(address).await.ok()?;
                    if i % 2 == 0 {
                        let _ = stream.write_all(b"GET /work/1 HTTP/1.1\r\nhost: gateway\r\n").await;
                    }
                    Some(stream)
                })
                .buffer_unordered(256)
                .collect(),
        );
        made.send((opened.iter().flatten().count(), started.elapsed())).unwrap();
        let _ = released.recv();
        // Closed on the runtime they were made on.
        runtime.block_on(async move { drop(opened) });
    });

    let (mut latencies, mut most_files, mut flooded) = (Vec::new(), 0, None);
    while flooded.is_none() || latencies.len() < 20 {
        flooded = flooded.or(made_rx.try_recv().ok());
        let asked = Instant::now();
        let mut probe = TcpStream::connect(gateway.address).await.unwrap();
        probe.write_all(b"GET /openlease/health HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), probe.read_to_end(&mut answer)).await.unwrap().unwrap();
        latencies.push(asked.elapsed());
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
        most_files = most_files.max(gateway.open_files());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    release.send(()).unwrap();
    flood.join().unwrap();
    let (connected, took) = flooded.unwrap();
    latencies.sort();
    let (median, worst) = (latencies[latencies.len() / 2], *latencies.last().unwrap());
    eprintln!(
        "{connected} of {attempts} half-open connections made in {took:?}; health, {} probes: median {median:?}, \
         worst {worst:?}; the gateway held at most {most_files} files",
        latencies.len()
    );
    assert!(connected >= attempts * 9 / 10, "the flood ran: {connected} of {attempts}");
    assert!(worst <= Duration::from_millis(100), "health answered within 100 ms: worst {worst:?}");
    // Give or take those being closed to make room at the moment of the count.
    assert!(most_files <= max_connections + 256, "at most --max-connections held: {most_files}");
    let streamed = streaming.await.unwrap();
    let text = streamed.text();
    let answer = text.split(&format!("event: {}\n", wire::ATTESTATION_EVENT)).next().unwrap();
    assert_eq!((answer, streamed.ended), (events(4).concat().as_str(), Ok(())), "the stream went on");
    assert!(text.len() > answer.len(), "and ended with its attestation");
    let mut gateway = gateway;
    assert!(gateway.child.try_wait().unwrap().is_none(), "the gateway lives on");
}

/// Issue 21: every answer of the demo workload comes back attested by the provider's registered
/// attestation key: in a header for an answer of stated length, in a final event for a stream,
/// over exactly the bytes the tenant got. The market computes the same digest and its verifier
/// judges the answer right (nobody can slash it); a failed answer is not attested; a restarted
/// gateway, even with its book lost, numbers its answers past the first one's.
#[tokio::test]
async fn every_answer_is_attested_by_the_providers_registered_key() {
    use openlease_client::{
        SignedAnswer,
        attestation::request_bytes,
        contracts::{Openlease::OpenleaseErrors, workload},
    };
    let _machine = MACHINE.read().await;
    let m = Market::new().await;
    let router = openlease_gateway::workload::router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let gateway = m.gateway(demo, &[]).await;
    let domain = *m.tenant.domain();
    let provider_key = openlease_testkit::key(&m.anvil, 1);

    let answer = m.paid(reqwest::Client::new().get(gateway.url("/work/5"))).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let header = answer.headers()[wire::ATTESTATION_HEADER].to_str().unwrap().to_owned();
    let body = answer.bytes().await.unwrap();
    assert_eq!(body, openlease_gateway::workload::hash_chain(5).to_string().as_bytes());
    let signed = SignedAnswer::parse(&header).expect("the header reads");
    assert_eq!(signed.signer(&domain).unwrap(), provider_key.address(), "signed by the registered attestation key");
    assert_eq!((signed.lease_id, signed.workload), (m.lease, workload::DEMO));
    let request = request_bytes("GET", "/work/5", b"");
    assert!(signed.covers(&request, &body), "over the request sent and the bytes received");

    let manifest = openlease_client::Manifest::load(&m.manifest).unwrap();
    let client: Client<DynProvider> =
        Client::connect(&m.anvil.endpoint(), provider_key.clone(), manifest).await.unwrap();
    let market = client.market();
    let on_chain = market.attestationDigest(signed.attestation()).call().await.unwrap();
    assert_eq!(on_chain, domain.attestation_digest(&signed.attestation()), "the market's digest");
    let slash =
        market.slashWrongAnswer(signed.attestation(), signed.signature.clone(), request.into(), body.to_vec().into());
    let Err(refused) = slash.call().await else { panic!("a right answer is not slashable") };
    let decoded = refused.as_decoded_interface_error::<OpenleaseErrors>();
    assert!(matches!(decoded, Some(OpenleaseErrors::OpenleaseAnswerNotWrong(_))), "{refused:?}");

    let streamed = read(&m, &gateway, "/stream/2").await.text();
    let marker = format!("event: {}\n", wire::ATTESTATION_EVENT);
    let (before, last) = streamed.rsplit_once(&marker).unwrap_or_else(|| panic!("no attestation in {streamed:?}"));
    let signed_stream = SignedAnswer::parse(last.trim().strip_prefix("data: ").unwrap()).unwrap();
    assert!(signed_stream.covers(&request_bytes("GET", "/stream/2", b""), before.as_bytes()));
    assert!(signed_stream.sequence > signed.sequence);

    let failed = m.paid(reqwest::Client::new().get(gateway.url("/nothing-here"))).send().await.unwrap();
    assert_eq!(failed.status(), 404);
    assert!(!failed.headers().contains_key(wire::ATTESTATION_HEADER), "a failure is not an answer");

    // Another port, so another book file: the first one's is as good as lost.
    drop(gateway);
    let restarted = m.gateway(demo, &[]).await;
    let again = m.paid(reqwest::Client::new().get(restarted.url("/work/5"))).send().await.unwrap();
    let again = SignedAnswer::parse(again.headers()[wire::ATTESTATION_HEADER].to_str().unwrap()).unwrap();
    assert!(again.sequence > signed_stream.sequence, "a restart, its book lost, repeats no sequence");
}
