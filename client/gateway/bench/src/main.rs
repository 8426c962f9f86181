//! `openlease-gateway-bench`: what the provider gateway costs, every figure against a baseline
//! measured in the same run (these machines are noisy). On an anvil of its own, with the market
//! deployed by the testkit, one provider's offer and leases of one tenant:
//!
//! 1. **Throughput and latency** at `--connections` keep-alive connections (32) of an upstream
//!    doing about 1 ms of CPU per request (the devnet's workload, a keccak chain, its length
//!    calibrated at start), straight to it and through the gateway: the library layer
//!    (`Gateway::serve` over the upstream's own router, the primary figure) and the reverse-proxy
//!    path (a fallback forwarding over HTTP, as the `openlease-gateway` binary does). The same against an empty
//!    upstream, where the hop itself shows, and the added latency at one connection. These
//!    requests carry the lease but no receipt: the credit limit is unbounded, so what they
//!    measure is admission (lease, clock, credit), not receipts.
//! 2. **Receipts verified and persisted per second**, end to end: every request carries a
//!    fresh, larger cumulative receipt, pre-signed, one lease per connection. Then each step
//!    alone, so the breakdown shows where the time goes: parsing the header, verifying the
//!    signature (on one core and on all), `ReceiptStore::keep` (SQLite, `synchronous = FULL`: an
//!    fsync per commit) one at a time and from every connection at once, a bare fsync, and the
//!    same SQL with one transaction per batch of receipts written by hand (what a group commit can
//!    reach). Also how long a request without a receipt waits while receipts flow, and the chain
//!    reads the gateway makes (its node is reached through a counting proxy).
//! 3. **Failover time**: an SDK `Session` over two providers' gateways, each in a thread with a
//!    runtime of its own (a process, as far as the session can tell), probing every second. The
//!    first provider is killed right after a probe it answered (the worst phase); the figure is
//!    from its death to the first answer of the second provider. Also with the provider hung
//!    instead of killed, and with the session disputing the lease it left (as the devnet runs).
//! 4. **Durability**: the `openlease-gateway` binary (built beside the bench) killed with SIGKILL
//!    `--kills` times at random moments while a tenant's receipts flow, on a SQLite book; then two
//!    replicas on one PostgreSQL book (`--postgres`), one killed again and again, the other for
//!    good halfway, and a reorg that drops the final settlement. What was answered 200 must be
//!    settled, and nothing beyond what was signed.
//!
//! It prints a table of each figure against its target and exits 0 either way.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::Write as _,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider},
    signers::local::PrivateKeySigner,
};
use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use clap::Parser;
use eyre::{WrapErr, bail, ensure};
use openlease_client::{
    Client, LeaseRequest, Manifest, OfferTerms, ProviderDetails, ReceiptSigner, ReceiptVerifier, SignedReceipt,
    TxPolicy,
    session::{Destination, ServedBy, Session, SessionConfig},
    wire,
};
use openlease_gateway::{
    Gateway, GatewayConfig, ReceiptStore, proxy, serve,
    workload::{self, hash_chain},
};
use openlease_testkit::{TempDir, load::Load};

mod checks;
mod durability;
use tokio::{sync::oneshot, task::JoinHandle};

/// Measures the provider gateway against its baselines in one run: throughput and latency
/// (straight vs through the gateway), receipts persisted per second, failover time.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Seconds each load phase is measured in all (each round after a half-second warm-up), and
    /// the most the receipt phase runs.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Concurrent keep-alive connections of the load and receipt phases.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// CPU time of one request of the work upstream, in microseconds.
    #[arg(long, default_value_t = 1_000)]
    work_us: u64,
    /// Rounds each load phase is split into, the phases interleaved (reversed every other round).
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Receipts pre-signed for the receipt phase, spread over one lease per connection. The
    /// phase ends after `--secs` or when a connection has sent all of its lease's.
    #[arg(long, default_value_t = 40_000)]
    receipts: usize,
    /// Operations of each CPU step measured alone (each also stops after two seconds; the disk's
    /// steps run for their two seconds).
    #[arg(long, default_value_t = 2_000)]
    samples: usize,
    /// Failovers measured with the provider's process killed (connections refused), each a fresh
    /// session over two fresh gateways.
    #[arg(long, default_value_t = 3)]
    failovers: usize,
    /// Failovers measured with the provider hung instead (connections accepted, never answered:
    /// each probe waits for the session's request timeout).
    #[arg(long, default_value_t = 1)]
    hung_failovers: usize,
    /// Failovers measured with the provider killed, and as many hung, with the session disputing
    /// the lease it left (`dispute_dead_providers`, as the devnet runs sessions): the dispute is
    /// sent before the request in flight is replayed.
    #[arg(long, default_value_t = 1)]
    disputed_failovers: usize,
    /// Seconds between two probes of the session.
    #[arg(long, default_value_t = 1.0)]
    probe_secs: f64,
    /// SIGKILLs of the `openlease-gateway` binary in each kill loop (0 skips them; the binary must
    /// be built beside the bench).
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// A PostgreSQL server for the replicas' kill loop (a database is made on it).
    #[arg(long, env = "OPENLEASE_TEST_POSTGRES_URL")]
    postgres: Option<String>,
    /// Run the gateways without attesting their answers: the baseline of what signing costs.
    #[arg(long)]
    unattested: bool,
    /// Measure only issue 21's checks (signing, detection, false accusations), on a market of
    /// their own.
    #[arg(long)]
    only_checks: bool,
    /// Detection sessions, each run until its check catches the cheating provider.
    #[arg(long, default_value_t = 500)]
    check_runs: usize,
    /// The share of answers a session checks.
    #[arg(long, default_value_t = 0.05)]
    check_share: f64,
    /// The share of answers the cheating provider gets wrong.
    #[arg(long, default_value_t = 0.10)]
    wrong_share: f64,
    /// Honest answers, every one checked, counted for false accusations.
    #[arg(long, default_value_t = 10_000)]
    honest_answers: u64,
}

/// Token units (6 decimals).
const USDC: u64 = 1_000_000;
/// The offer's price, raw units per second.
const PRICE: u64 = 100;
/// anvil accounts: the two providers, the tenant of the load phases, the tenant of the sessions.
const PROVIDERS: [usize; 2] = [1, 2];
const TENANT: usize = 4;
const SESSION_TENANT: usize = 5;
/// Targets of the issue.
const TARGET_RATIO: f64 = 0.80;
const TARGET_ADDED_P99_MS: f64 = 1.0;
const TARGET_RECEIPTS: f64 = 8_000.0;
const TARGET_FAILOVER_SECS: f64 = 5.0;
/// Each load phase (each round of it) starts with this much unmeasured load.
const WARM_UP: Duration = Duration::from_millis(500);
/// How long each step measured alone may run.
const STEP_BUDGET: Duration = Duration::from_secs(2);

// ─── The upstream ──────────────────────────────────────────────────────────────────────────────

/// The chain length that takes `work` on this machine, and the median time it then takes.
fn calibrate(work: Duration) -> (u32, Duration) {
    let median = |n: u32| {
        let mut times: Vec<Duration> = (0..101)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(hash_chain(std::hint::black_box(n)));
                started.elapsed()
            })
            .collect();
        times.sort();
        times[50]
    };
    let mut n = 1_000u32;
    for _ in 0..4 {
        let took = median(n).as_nanos().max(1);
        n = ((u128::from(n) * work.as_nanos() / took) as u32).clamp(1, workload::MAX_ROUNDS);
    }
    (n, median(n))
}

/// The service behind the gateway: the devnet's workload (`/work/{n}`, a hash chain of `n`
/// rounds), `/empty`, and `/wait`, which answers after 1 ms on a timer (an I/O-bound service: a
/// model server, a database).
fn upstream() -> Router {
    workload::router().route("/empty", get(|| async { "ok" })).route(
        "/wait",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            "ok"
        }),
    )
}

/// Serves `router` on a free port of 127.0.0.1: its base URL and its task.
async fn listen(router: Router) -> eyre::Result<(String, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            eprintln!("a server stopped: {error}");
        }
    });
    Ok((url, task))
}

/// `app` served as the `openlease-gateway` binary serves it: its server loop and default limits.
async fn listen_limited(app: Router) -> eyre::Result<(String, JoinHandle<()>)> {
    let listener = serve::bind("127.0.0.1:0".parse()?)?;
    let url = format!("http://{}", listener.local_addr()?);
    Ok((url, tokio::spawn(serve::serve(listener, app, serve::Limits::default()))))
}

/// Forwards JSON-RPC to the node and counts the calls by method: the chain reads the gateway
/// makes while it serves.
#[derive(Clone)]
struct RpcCounter {
    http: reqwest::Client,
    node: String,
    calls: Arc<std::sync::Mutex<BTreeMap<String, u64>>>,
    /// How long each call took, µs, in order.
    took: Arc<std::sync::Mutex<Vec<u32>>>,
}

impl RpcCounter {
    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.calls.lock().expect("rpc counter").clone()
    }

    fn total(&self) -> u64 {
        self.calls.lock().expect("rpc counter").values().sum()
    }

    fn timed(&self) -> usize {
        self.took.lock().expect("rpc counter").len()
    }

    /// The slowest of the calls timed since `from`, ms.
    fn slowest_since(&self, from: usize) -> f64 {
        let took = self.took.lock().expect("rpc counter");
        f64::from(took.get(from..).and_then(|t| t.iter().max().copied()).unwrap_or(0)) / 1_000.0
    }
}

async fn count_rpc(State(counter): State<RpcCounter>, body: axum::body::Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    // alloy sends compact JSON, one call per request.
    let method = text
        .split_once("\"method\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or_else(|| "?".to_string(), |(method, _)| method.to_string());
    *counter.calls.lock().expect("rpc counter").entry(method).or_default() += 1;
    let started = Instant::now();
    let forwarded = counter.http.post(&counter.node).header("content-type", "application/json").body(body).send().await;
    let Ok(answer) = forwarded else { return StatusCode::BAD_GATEWAY.into_response() };
    let status = answer.status();
    let Ok(bytes) = answer.bytes().await else { return StatusCode::BAD_GATEWAY.into_response() };
    let took = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
    counter.took.lock().expect("rpc counter").push(took);
    (status, [("content-type", "application/json")], bytes).into_response()
}

// ─── The market ────────────────────────────────────────────────────────────────────────────────

struct Market {
    anvil: AnvilInstance,
    manifest: Manifest,
    usdc: Address,
}

impl Market {
    async fn new() -> eyre::Result<Self> {
        let anvil = openlease_testkit::spawn_anvil();
        let manifest = openlease_testkit::deploy_market(&anvil).await;
        let usdc = manifest.stablecoin("USDC").ok_or_else(|| eyre::eyre!("no USDC in the manifest"))?.address;
        Ok(Self { anvil, manifest, usdc })
    }

    fn key(&self, index: usize) -> PrivateKeySigner {
        openlease_testkit::key(&self.anvil, index)
    }

    /// Account `index`'s client; `fast` follows transactions every 20 ms instead of the SDK's
    /// default 500 ms (setup only: the session keeps the default, as a tenant would).
    async fn client(&self, index: usize, fast: bool) -> eyre::Result<Client<DynProvider>> {
        let client = Client::connect(&self.anvil.endpoint(), self.key(index), self.manifest.clone()).await?;
        Ok(if fast {
            client.with_tx_policy(TxPolicy { poll: Duration::from_millis(20), ..TxPolicy::default() })
        } else {
            client
        })
    }

    async fn mint(&self, client: &Client<DynProvider>, amount: u64) -> eyre::Result<()> {
        client.send(client.token(self.usdc).mint(client.address(), U256::from(amount))).await?;
        Ok(())
    }

    /// Registers `provider` with a staked offer at [`PRICE`] that takes many leases.
    async fn provider(&self, provider: &Client<DynProvider>) -> eyre::Result<U256> {
        self.mint(provider, 100_000 * USDC).await?;
        let details = ProviderDetails {
            metadata_uri: String::new(),
            endpoint: "http://gateway".into(),
            region: "eu-west".into(),
            attributes_hash: B256::ZERO,
        };
        provider.register_provider(&details).await?;
        provider.stake(self.usdc, U256::from(50_000 * USDC)).await?;
        let terms = OfferTerms {
            token: self.usdc,
            price_per_second: PRICE,
            min_duration: 60,
            max_duration: 30 * 86_400,
            notice_period: 3_600,
            capacity: 1_000,
            workload: openlease_client::contracts::workload::DEMO,
            verifier: provider.manifest().demo_verifier().unwrap_or_default(),
        };
        Ok(provider.publish_offer(&terms).await?)
    }

    /// A day's lease of `offer` by `tenant`.
    async fn lease(&self, tenant: &Client<DynProvider>, offer: U256) -> eyre::Result<U256> {
        let quote = tenant.offer_quote(offer).await?;
        Ok(tenant.open_lease(LeaseRequest::new(&quote, 86_400, U256::from(86_400 * PRICE))).await?.lease_id)
    }
}

// ─── Load ──────────────────────────────────────────────────────────────────────────────────────

/// One keep-alive connection: a client with a pool of one.
fn connection() -> eyre::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(1).timeout(Duration::from_secs(30)).build()?)
}

/// `connections` connections each sending `GET url` back to back (with the lease header and its
/// tenant's access grant when given) for [`WARM_UP`], then `secs` measured.
async fn load(url: &str, lease: Option<&Access>, connections: usize, secs: Duration) -> eyre::Result<Load> {
    let headers = lease.map(Access::headers).unwrap_or_default();
    Ok(openlease_testkit::load::load(url, headers, connections, WARM_UP, secs).await?)
}

/// Each connection sends its lease's receipts in order, one per request, until they run out or
/// `secs` pass: the rate of receipts accepted.
async fn receipt_load(url: &str, leases: Vec<(U256, Vec<String>)>, secs: Duration) -> eyre::Result<Load> {
    let started = Instant::now();
    let end = started + secs;
    let mut tasks = Vec::new();
    for (lease, headers) in leases {
        let (http, url) = (connection()?, url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut part = Load::default();
            for header in headers {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let request =
                    http.get(&url).header(wire::LEASE_HEADER, lease.to_string()).header(wire::RECEIPT_HEADER, header);
                match request.send().await {
                    Ok(answer) if answer.status().is_success() => {
                        let _ = answer.bytes().await;
                        part.ok += 1;
                        part.latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                    Ok(answer) => {
                        let status = answer.status();
                        part.errors += 1;
                        part.first_error
                            .get_or_insert(format!("{status}: {}", answer.text().await.unwrap_or_default()));
                    }
                    Err(e) => {
                        part.errors += 1;
                        part.first_error.get_or_insert(e.to_string());
                    }
                }
            }
            (part, Instant::now())
        }));
    }
    let mut parts = Vec::new();
    let mut last = started;
    for task in tasks {
        let (part, finished) = task.await?;
        last = last.max(finished);
        parts.push(part);
    }
    Ok(Load::merge(parts, (last - started).as_secs_f64()))
}

/// A lease and its tenant's access grant: what a request without a receipt carries.
#[derive(Debug, Clone)]
struct Access {
    lease: U256,
    grant: String,
}

impl Access {
    fn headers(&self) -> Vec<(String, String)> {
        vec![
            (wire::LEASE_HEADER.to_string(), self.lease.to_string()),
            (wire::ACCESS_HEADER.to_string(), self.grant.clone()),
        ]
    }
}

/// One connection sending `GET url` with the lease header and access grant every `every` (not
/// back to back: it adds little load) until `stop` is set: how long a request without a receipt waits.
async fn paced(url: String, access: Access, every: Duration, stop: Arc<AtomicBool>) -> eyre::Result<Load> {
    let http = connection()?;
    let started = Instant::now();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut part = Load::default();
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let sent = Instant::now();
        let request = access.headers().into_iter().fold(http.get(&url), |r, (name, value)| r.header(name, value));
        match request.send().await {
            Ok(answer) if answer.status().is_success() => {
                let _ = answer.bytes().await;
                part.ok += 1;
                part.latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
            Ok(answer) => {
                part.errors += 1;
                part.first_error.get_or_insert(answer.status().to_string());
            }
            Err(e) => {
                part.errors += 1;
                part.first_error.get_or_insert(e.to_string());
            }
        }
    }
    Ok(Load::merge(vec![part], started.elapsed().as_secs_f64()))
}

/// Runs `op` up to `max` times or for [`STEP_BUDGET`]: the time of one, on average.
async fn per_op<F, Fut>(max: usize, mut op: F) -> eyre::Result<(Duration, usize)>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = eyre::Result<()>>,
{
    let started = Instant::now();
    let mut done = 0;
    while done < max && started.elapsed() < STEP_BUDGET {
        op(done).await?;
        done += 1;
    }
    ensure!(done > 0, "no operation ran");
    Ok((started.elapsed() / done as u32, done))
}

fn per_sec(one: Duration) -> f64 {
    1.0 / one.as_secs_f64().max(1e-12)
}

// ─── Failover ──────────────────────────────────────────────────────────────────────────────────

/// A provider's gateway over the workload in a thread with a runtime of its own: killing it drops
/// the runtime, and with it the listener, every connection and the settlement task, as the death
/// of its process would. Hanging it blocks that thread: connections are still accepted (by the
/// kernel) but nothing answers, as with a machine that froze.
struct ProviderProcess {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    hang: Option<oneshot::Sender<()>>,
    /// Dropped (or sent on) to unblock a hung thread.
    thaw: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProviderProcess {
    async fn start(m: &Market, index: usize) -> eyre::Result<Self> {
        let (rpc, key, manifest) = (m.anvil.endpoint(), m.key(index), m.manifest.clone());
        let (ready_tx, ready_rx) = oneshot::channel::<eyre::Result<String>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (hang_tx, hang_rx) = oneshot::channel::<()>();
        let (thaw_tx, thaw_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            let dir = TempDir::new("gateway-bench-failover");
            let db = format!("sqlite://{}/book.db", dir.path().display());
            runtime.block_on(async move {
                let started = async {
                    let client = Client::connect(&rpc, key, manifest).await?;
                    let store = ReceiptStore::open(&db).await?;
                    // Ten minutes of credit: the session pays each request for the time up to
                    // the previous answer.
                    let config = GatewayConfig { credit_secs: 600, ..GatewayConfig::default() };
                    let gateway = Gateway::open(client, store, config).await?;
                    let _settlement = gateway.spawn_settlement();
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                    let url = format!("http://{}", listener.local_addr()?);
                    Ok::<_, eyre::Report>((gateway, listener, url))
                };
                match started.await {
                    Ok((gateway, listener, url)) => {
                        let _ = ready_tx.send(Ok(url));
                        // On a current-thread runtime a blocking task stops everything.
                        tokio::spawn(async move {
                            if hang_rx.await.is_ok() {
                                let _ = thaw_rx.recv();
                            }
                        });
                        tokio::select! {
                            _ = axum::serve(listener, gateway.serve(upstream())) => {}
                            _ = stop_rx => {}
                        }
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
            drop(runtime);
            drop(dir);
        });
        let url = ready_rx.await.wrap_err("the provider's thread ended")??;
        Ok(Self { url, stop: Some(stop_tx), hang: Some(hang_tx), thaw: Some(thaw_tx), thread: Some(thread) })
    }

    /// Hangs it: from now on nothing it accepts is answered.
    fn hang(&mut self) {
        if let Some(hang) = self.hang.take() {
            let _ = hang.send(());
        }
    }

    /// Kills it; returns once it is gone.
    async fn kill(&mut self) {
        self.thaw.take();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// One failover, as measured.
#[derive(Debug)]
struct Failover {
    /// From the first provider's death to the first answer of the second.
    total: Duration,
    /// From the death to the first probe that found it dead.
    to_probe: Duration,
    /// The session's own figure: from the first failure to the first answer after leaving.
    in_session: Option<Duration>,
    /// Transactions the tenant sent meanwhile.
    txs: u64,
}

async fn failover(
    m: &Market,
    tenant: &Client<DynProvider>,
    providers: [(usize, Address, U256); 2],
    path: &str,
    probe: Duration,
    hung: bool,
    dispute: bool,
) -> eyre::Result<Failover> {
    let mut first = ProviderProcess::start(m, providers[0].0).await?;
    let mut second = ProviderProcess::start(m, providers[1].0).await?;
    let choices = vec![
        Destination { provider: providers[0].1, offer_id: providers[0].2, endpoint: first.url.clone() },
        Destination { provider: providers[1].1, offer_id: providers[1].2, endpoint: second.url.clone() },
    ];
    let config = SessionConfig {
        duration: 86_400,
        deposit: U256::from(4 * USDC),
        budget: U256::from(8 * USDC),
        failures_before_failover: 3,
        request_timeout: Duration::from_millis(500),
        fallback: None,
        fallback_cost_per_request: U256::ZERO,
        dispute_dead_providers: dispute,
        checks: None,
    };
    let mut session = Session::start(tenant.clone(), choices, config).await?;
    let mut ticker = tokio::time::interval(probe);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut answered, mut killed, mut to_probe) = (0, None::<(Instant, u64)>, None);
    let since = Instant::now();
    let result = loop {
        ensure!(since.elapsed() < Duration::from_secs(120), "no failover within two minutes");
        ticker.tick().await;
        let sent = Instant::now();
        if let Some((at, _)) = killed {
            to_probe.get_or_insert(sent - at);
        }
        let answer = session.get(path).await?;
        match (answer.served_by, killed) {
            (ServedBy::Provider { provider, .. }, None) if provider == providers[0].1 => {
                answered += 1;
                if answered == 3 {
                    // Right after an answer: the next probe is a whole interval away.
                    if hung {
                        first.hang();
                    } else {
                        first.kill().await;
                    }
                    let nonce = tenant.provider().get_transaction_count(tenant.address()).await?;
                    killed = Some((Instant::now(), nonce));
                }
            }
            (ServedBy::Provider { provider, .. }, Some((at, nonce))) if provider == providers[1].1 => {
                let total = at.elapsed();
                let txs = tenant.provider().get_transaction_count(tenant.address()).await? - nonce;
                break Failover {
                    total,
                    to_probe: to_probe.unwrap_or_default(),
                    in_session: session.report().failovers.last().copied(),
                    txs,
                };
            }
            (other, _) => bail!("unexpected answer from {other:?}"),
        }
    };
    first.kill().await;
    second.kill().await;
    Ok(result)
}

// ─── The run ───────────────────────────────────────────────────────────────────────────────────

/// One line of the final table.
struct Figure {
    what: String,
    value: String,
    target: String,
    met: Option<bool>,
}

fn figure(what: impl Into<String>, value: impl Into<String>, target: impl Into<String>, met: Option<bool>) -> Figure {
    Figure { what: what.into(), value: value.into(), target: target.into(), met }
}

fn print_figures(figures: &[Figure]) {
    println!("\n{:<48} {:>22} {:>10}  verdict", "figure (all measured in this run)", "value", "target");
    for f in figures {
        let verdict = match f.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        println!("{:<48} {:>22} {:>10}  {verdict}", f.what, f.value, f.target);
    }
}

fn phase_line(name: &str, load: &Load) -> String {
    let mut line = format!(
        "  {name:<56} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   {:>8} ok",
        load.rate(),
        load.ms(0.5),
        load.ms(0.99),
        load.ok
    );
    if load.errors > 0 {
        let _ = write!(line, "   {} ERRORS (first: {})", load.errors, load.first_error.as_deref().unwrap_or(""));
    }
    line
}

/// `after − before`, per method.
fn rpc_diff(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = after
        .iter()
        .filter_map(|(method, n)| {
            let n = n - before.get(method).copied().unwrap_or(0);
            (n > 0).then(|| format!("{method} {n}"))
        })
        .collect();
    if parts.is_empty() { "none".into() } else { parts.join(", ") }
}

fn flush() {
    let _ = std::io::stdout().flush();
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let args = Args::parse();
    let secs = Duration::from_secs(args.secs.max(1));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "openlease-gateway-bench: {cores} cores, {} connections, {} s per phase",
        args.connections,
        secs.as_secs()
    );

    // The upstream's work, calibrated.
    let (rounds, work) = calibrate(Duration::from_micros(args.work_us));
    println!(
        "work upstream: keccak chain of {rounds} rounds = {:.3} ms per request (median, one core); \
         its ceiling on {cores} cores ≈ {:.0} req/s",
        work.as_secs_f64() * 1e3,
        cores as f64 / work.as_secs_f64()
    );

    if args.only_checks {
        let m = Market::new().await?;
        let figures =
            checks::run(&m, args.check_runs, args.check_share, args.wrong_share, args.honest_answers, args.samples)
                .await?;
        print_figures(&figures);
        return Ok(());
    }

    // The market.
    let setup = Instant::now();
    let m = Market::new().await?;
    let provider = m.client(PROVIDERS[0], true).await?;
    let other = m.client(PROVIDERS[1], true).await?;
    let tenant = m.client(TENANT, true).await?;
    let offer = m.provider(&provider).await?;
    let other_offer = m.provider(&other).await?;
    m.mint(&tenant, 100_000 * USDC).await?;
    let lease = m.lease(&tenant, offer).await?;
    // Signed by the tenant for the run (gateways take grants of up to an hour).
    let grant = tenant.receipt_signer(m.key(TENANT)).sign_access(lease, tenant.now().await? + 3_000)?.header();
    let access = Access { lease, grant };
    let mut receipt_leases = Vec::new();
    for _ in 0..args.connections {
        receipt_leases.push(m.lease(&tenant, offer).await?);
    }
    let session_key = PrivateKeySigner::random();
    let cap = U256::from(1_000_000 * USDC);
    tenant.authorize_signer(session_key.address(), provider.address(), cap, tenant.now().await? + 30 * 86_400).await?;
    println!(
        "market on anvil: 2 providers, {} leases, a session signer: {:.1} s",
        1 + receipt_leases.len(),
        setup.elapsed().as_secs_f64()
    );

    // The servers: the upstream straight, the gateway library over the same routes, the proxy
    // path over HTTP to the upstream. One gateway (one book) behind both gated servers, set up as
    // the binary does: default refresh (2 s) and settlement every 5 s.
    let (direct, _direct_task) = listen(upstream()).await?;
    // The gateway reaches the node through a counter of its calls.
    let counter = RpcCounter {
        http: reqwest::Client::new(),
        node: m.anvil.endpoint(),
        calls: Arc::default(),
        took: Arc::default(),
    };
    let (counted, _counter_task) = listen(Router::new().fallback(count_rpc).with_state(counter.clone())).await?;
    let gateway_client = Client::connect(&counted, m.key(PROVIDERS[0]), m.manifest.clone()).await?;
    let book = TempDir::new("gateway-bench");
    let store = ReceiptStore::open(&format!("sqlite://{}/book.db", book.path().display())).await?;
    let config = GatewayConfig { credit_secs: u64::MAX, ..GatewayConfig::default() };
    let gateway = Gateway::open(gateway_client, store, config).await?;
    // Every answer attested, as the binary does: the receipts' and the load's figures include it.
    if !args.unattested {
        gateway.attest_with(m.key(PROVIDERS[0])).await?;
    }
    let settlement = gateway.spawn_settlement();
    let (library, library_task) = listen(gateway.serve(upstream())).await?;
    // The binary's own proxy, with its defaults (16 MiB bodies, 60 s of upstream silence).
    let forward = proxy::Upstream::new(&direct, 16 << 20, Duration::from_secs(60))?;
    let (proxied, proxied_task) = listen_limited(proxy::app(&gateway, forward)).await?;
    // The same gateway with the chain out of the picture: leases, signer terms and the clock read
    // once an hour, no settlement task. What it gains over the shipped one is the chain reads' cost.
    let bare_book = TempDir::new("gateway-bench-bare");
    let bare_store = ReceiptStore::open(&format!("sqlite://{}/book.db", bare_book.path().display())).await?;
    let bare_config =
        GatewayConfig { credit_secs: u64::MAX, refresh: Duration::from_secs(3_600), ..GatewayConfig::default() };
    let bare_gateway = Gateway::open(provider.clone(), bare_store, bare_config).await?;
    if !args.unattested {
        bare_gateway.attest_with(m.key(PROVIDERS[0])).await?;
    }
    let (bare, bare_task) = listen(bare_gateway.serve(upstream())).await?;

    // ── 1. Throughput and latency: every phase split over `--rounds`, interleaved (the order
    // reversed every other round) so that drift of the machine falls on all alike.
    let work_path = format!("/work/{rounds}");
    let c = args.connections;
    let (work, empty, wait) = (work_path.as_str(), "/empty", "/wait");
    let a = Some(&access);
    let specs: Vec<(&str, &str, &str, Option<&Access>, usize)> = vec![
        ("direct → work", &direct, work, None, c),
        ("gateway (library) → work", &library, work, a, c),
        ("gateway (library, no chain reads) → work", &bare, work, a, c),
        ("gateway (proxy) → work", &proxied, work, a, c),
        ("direct → empty", &direct, empty, None, c),
        ("gateway (library) → empty", &library, empty, a, c),
        ("gateway (library, no chain reads) → empty", &bare, empty, a, c),
        ("gateway (proxy) → empty", &proxied, empty, a, c),
        ("direct → work, 1 connection", &direct, work, None, 1),
        ("gateway (library) → work, 1 connection", &library, work, a, 1),
        ("gateway (library, no chain reads) → work, 1 connection", &bare, work, a, 1),
        ("gateway (proxy) → work, 1 connection", &proxied, work, a, 1),
        ("direct → 1 ms timer", &direct, wait, None, c),
        ("gateway (library) → 1 ms timer", &library, wait, a, c),
        ("gateway (proxy) → 1 ms timer", &proxied, wait, a, c),
    ];
    let rounds_n = args.rounds.max(1);
    let slice = (secs / rounds_n as u32).max(Duration::from_millis(500));
    println!(
        "\nload phases: lease header and access grant, no receipt, unbounded credit; {} rounds of {:.1} s each (+{:.1} s warm-up)",
        rounds_n,
        slice.as_secs_f64(),
        WARM_UP.as_secs_f64()
    );
    let mut parts: Vec<Vec<Load>> = specs.iter().map(|_| Vec::new()).collect();
    let mut rpcs: Vec<u64> = specs.iter().map(|_| 0).collect();
    let mut slowest: Vec<f64> = specs.iter().map(|_| 0.0).collect();
    let rpc_before = counter.snapshot();
    for round in 0..rounds_n {
        let order: Vec<usize> =
            if round % 2 == 0 { (0..specs.len()).collect() } else { (0..specs.len()).rev().collect() };
        for i in order {
            let (_, base, path, lease, connections) = specs[i];
            let (calls, timed) = (counter.total(), counter.timed());
            parts[i].push(load(&format!("{base}{path}"), lease, connections, slice).await?);
            rpcs[i] += counter.total() - calls;
            slowest[i] = slowest[i].max(counter.slowest_since(timed));
        }
        println!("  round {}/{rounds_n} done", round + 1);
        flush();
    }
    // Each round's rate and p99 too: how far apart the rounds of one phase are is the noise.
    let mut spreads = Vec::new();
    let loads: Vec<Load> = parts
        .into_iter()
        .map(|parts| {
            let range = |f: &dyn Fn(&Load) -> f64| {
                parts.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
            };
            spreads.push((range(&|p: &Load| p.rate()), range(&|p: &Load| p.ms(0.99))));
            let secs = parts.iter().map(|p| p.secs).sum();
            Load::merge(parts, secs)
        })
        .collect();
    for (((((name, ..), load), ((r_lo, r_hi), (p_lo, p_hi))), calls), slowest) in
        specs.iter().zip(&loads).zip(&spreads).zip(&rpcs).zip(&slowest)
    {
        let mut line =
            format!("{}   rounds {r_lo:.0}–{r_hi:.0} req/s, p99 {p_lo:.2}–{p_hi:.2} ms", phase_line(name, load));
        if *calls > 0 {
            let _ = write!(
                line,
                ", {calls} chain RPCs by the gateway ({:.1}/s, slowest {slowest:.1} ms)",
                *calls as f64 / load.secs
            );
        }
        println!("{line}");
    }
    println!(
        "  chain RPCs by the gateway (shared by the library and proxy servers) over all load phases: {}",
        rpc_diff(&rpc_before, &counter.snapshot())
    );
    let [
        d_work,
        g_work,
        b_work,
        p_work,
        d_empty,
        g_empty,
        b_empty,
        p_empty,
        d_one,
        g_one,
        b_one,
        p_one,
        d_wait,
        g_wait,
        p_wait,
    ]: [Load; 15] = loads.try_into().map_err(|_| eyre::eyre!("fifteen phases"))?;

    let ratio = |gated: &Load, direct: &Load| gated.rate() / direct.rate();
    let added = |gated: &Load, direct: &Load| gated.ms(0.99) - direct.ms(0.99);
    println!("\n  {:<46} {:>12} {:>16}", "through the gateway vs straight", "req/s ratio", "added p99 (ms)");
    for (name, gated, base) in [
        ("library → work", &g_work, &d_work),
        ("library, no chain reads → work", &b_work, &d_work),
        ("proxy → work", &p_work, &d_work),
        ("library → empty", &g_empty, &d_empty),
        ("library, no chain reads → empty", &b_empty, &d_empty),
        ("proxy → empty", &p_empty, &d_empty),
        ("library → work, 1 connection", &g_one, &d_one),
        ("library, no chain reads → work, 1 connection", &b_one, &d_one),
        ("proxy → work, 1 connection", &p_one, &d_one),
        ("library → 1 ms timer", &g_wait, &d_wait),
        ("proxy → 1 ms timer", &p_wait, &d_wait),
    ] {
        println!("  {name:<46} {:>11.1}% {:>+16.3}", ratio(gated, base) * 100.0, added(gated, base));
    }
    let load_errors = [
        &d_work, &g_work, &b_work, &p_work, &d_empty, &g_empty, &b_empty, &p_empty, &d_one, &g_one, &b_one, &p_one,
        &d_wait, &g_wait, &p_wait,
    ]
    .iter()
    .map(|l| l.errors)
    .sum::<u64>();

    // ── 2. Receipts.
    let signer = ReceiptSigner::new(session_key.clone(), provider.receipt_domain());
    let per_lease = (args.receipts / receipt_leases.len().max(1)).max(2);
    let signing = Instant::now();
    // For service until ten days on: a raw unit a receipt stays far below what accrues by then.
    let period_end = tenant.now().await? + 864_000;
    let signed: Vec<(U256, Vec<SignedReceipt>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = receipt_leases
            .chunks(receipt_leases.len().div_ceil(cores).max(1))
            .map(|leases| {
                let signer = signer.clone();
                scope.spawn(move || {
                    leases
                        .iter()
                        .map(|&lease| {
                            let receipts = (1..=per_lease as u64)
                                .map(|k| signer.sign_usage(lease, U256::from(k), B256::ZERO, period_end))
                                .collect::<Result<Vec<_>, _>>();
                            receipts.map(|r| (lease, r))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a signing thread")).collect::<Result<Vec<_>, _>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    let domain = provider.receipt_domain();
    let headers: Vec<(U256, Vec<String>)> = signed
        .iter()
        .map(|(lease, receipts)| (*lease, receipts.iter().map(|r| wire::receipt_header(&domain, r)).collect()))
        .collect();
    println!(
        "\nreceipts: {} pre-signed ({} leases × {per_lease}) in {:.1} s, not measured",
        headers.len() * per_lease,
        headers.len(),
        signing.elapsed().as_secs_f64()
    );
    // The first receipt of each lease warms the gateway (the signer's book, the leases); the rest
    // are measured.
    let warm = connection()?;
    for (lease, receipts) in &headers {
        let answer = warm
            .get(format!("{library}/empty"))
            .header(wire::LEASE_HEADER, lease.to_string())
            .header(wire::RECEIPT_HEADER, &receipts[0])
            .send()
            .await?;
        ensure!(answer.status().is_success(), "warm-up receipt refused: {}", answer.text().await?);
    }
    // A request without a receipt every 10 ms, alone and then while the receipts flow: how long
    // plain requests wait behind them.
    let every = Duration::from_millis(10);
    let stop = Arc::new(AtomicBool::new(false));
    let idle = tokio::spawn(paced(format!("{library}/empty"), access.clone(), every, stop.clone()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let idle = idle.await??;
    let before = gateway.metrics().receipts.load(Ordering::Relaxed);
    let rpc_before = counter.snapshot();
    let measured: Vec<(U256, Vec<String>)> =
        headers.iter().map(|(lease, receipts)| (*lease, receipts[1..].to_vec())).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let beside = tokio::spawn(paced(format!("{library}/empty"), access.clone(), every, stop.clone()));
    let e2e = receipt_load(&format!("{library}/empty"), measured, secs).await?;
    stop.store(true, Ordering::Relaxed);
    let beside = beside.await??;
    let kept = gateway.metrics().receipts.load(Ordering::Relaxed) - before;
    println!("{}", phase_line("receipts through the gateway (library) → empty", &e2e));
    println!(
        "  receipts the gateway counted: {kept} in {:.2} s; its chain RPCs meanwhile: {}",
        e2e.secs,
        rpc_diff(&rpc_before, &counter.snapshot())
    );
    println!("{}", phase_line("no receipt, every 10 ms, gateway idle", &idle));
    println!("{}", phase_line("no receipt, every 10 ms, beside the receipts", &beside));
    flush();

    // Each step alone.
    let now = provider.now().await?;
    let terms = provider.session_signer(tenant.address(), signer.address(), provider.address()).await?;
    let mut verifier = ReceiptVerifier::new(domain, signer.address(), terms);
    for lease in &receipt_leases {
        verifier.add_lease(*lease, U256::ZERO);
    }
    let all: Vec<&SignedReceipt> = signed.iter().flat_map(|(_, r)| r.iter()).collect();
    let texts: Vec<&String> = headers.iter().flat_map(|(_, r)| r.iter()).collect();
    let (parse, _) = per_op(args.samples, |i| {
        let text = texts[i % texts.len()];
        async move {
            std::hint::black_box(wire::parse_receipt_header(text, &domain)?);
            Ok(())
        }
    })
    .await?;
    let (verify, _) = per_op(args.samples, |i| {
        let outcome = verifier.verify(all[i % all.len()], now);
        async move { Ok(outcome?) }
    })
    .await?;
    // Verification on every core at once: what it could do outside a lock.
    let verify_all_cores = std::thread::scope(|scope| {
        let started = Instant::now();
        let handles: Vec<_> = (0..cores)
            .map(|t| {
                let (verifier, all) = (&verifier, &all);
                scope.spawn(move || {
                    let mut done = 0usize;
                    while started.elapsed() < STEP_BUDGET && done < args.samples {
                        let _ = std::hint::black_box(verifier.verify(all[(t * 7919 + done) % all.len()], now));
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        let done: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        done as f64 / started.elapsed().as_secs_f64()
    });
    let keep_dir = TempDir::new("gateway-bench-keep");
    let keep_store = ReceiptStore::open(&format!("sqlite://{}/book.db", keep_dir.path().display())).await?;
    let tenant_address = tenant.address();
    let first_lease = &signed[0].1;
    // The disk's steps run for their whole budget (an fsync's cost varies from burst to burst).
    let (keep, _) = per_op(first_lease.len(), |i| {
        let (store, receipt) = (keep_store.clone(), first_lease[i].clone());
        async move {
            ensure!(store.keep(&domain, tenant_address, &receipt).await?, "a receipt was not kept");
            Ok(())
        }
    })
    .await?;
    // The same from every connection at once, each on its own lease (another book).
    let keep_dir_all = TempDir::new("gateway-bench-keep-all");
    let keep_all = ReceiptStore::open(&format!("sqlite://{}/book.db", keep_dir_all.path().display())).await?;
    let keep_started = Instant::now();
    let mut tasks = Vec::new();
    for (_, receipts) in signed.iter().take(args.connections) {
        let (store, receipts) = (keep_all.clone(), receipts.clone());
        tasks.push(tokio::spawn(async move {
            let mut kept = 0usize;
            for receipt in &receipts {
                if keep_started.elapsed() >= STEP_BUDGET {
                    break;
                }
                store.keep(&domain, tenant_address, receipt).await?;
                kept += 1;
            }
            Ok::<_, eyre::Report>(kept)
        }));
    }
    let mut kept_all = 0;
    for task in tasks {
        kept_all += task.await??;
    }
    let keep_concurrent = kept_all as f64 / keep_started.elapsed().as_secs_f64();
    let fsync_dir = TempDir::new("gateway-bench-fsync");
    let mut file = std::fs::File::create(fsync_dir.path().join("log"))?;
    let line = [b'x'; 512];
    let (fsync, _) = per_op(usize::MAX, |_| {
        let outcome = file.write_all(&line).and_then(|()| file.sync_data());
        async move { Ok(outcome?) }
    })
    .await?;
    // The gateway's section under its one signers lock: verify, keep, accept (verifies again).
    let serialized = verify * 2 + keep;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("  each step alone (one at a time unless said):");
    for (name, one) in [
        ("parse the receipt header (JSON)", parse),
        ("verify (EIP-712 digest + ecrecover)", verify),
        ("ReceiptStore::keep (SQLite, FULL)", keep),
        ("bare write + fdatasync, 512 B", fsync),
    ] {
        println!("    {name:<38} {:>9.1} µs  = {:>8.0} /s", us(one), per_sec(one));
    }
    println!("    {:<38} {:>9} µs  = {:>8.0} /s", format!("verify on {cores} cores at once"), "", verify_all_cores);
    println!(
        "    {:<38} {:>9} µs  = {:>8.0} /s",
        format!("keep from {} connections at once", args.connections),
        "",
        keep_concurrent
    );
    println!(
        "    {:<38} {:>9.1} µs  = {:>8.0} /s  (the gateway's first design, one lock over it all)",
        "verify ×2 + keep, one at a time",
        us(serialized),
        per_sec(serialized)
    );
    flush();

    // The throughput gateways stop: the failover runs alone.
    settlement.abort();
    library_task.abort();
    proxied_task.abort();
    bare_task.abort();

    // ── 3. Failover.
    let session_tenant = m.client(SESSION_TENANT, false).await?;
    m.mint(&session_tenant, 100_000 * USDC).await?;
    let probe = Duration::from_secs_f64(args.probe_secs.max(0.05));
    let a = (PROVIDERS[0], provider.address(), offer);
    let b = (PROVIDERS[1], other.address(), other_offer);
    println!(
        "\nfailover: SDK session over two gateways, probes every {:.1} s, 3 failures, 500 ms timeout:",
        probe.as_secs_f64()
    );
    // (how, hung, dispute, how many)
    let kinds = [
        ("killed", false, false, args.failovers),
        ("hung", true, false, args.hung_failovers),
        ("killed, disputed", false, true, args.disputed_failovers),
        ("hung, disputed", true, true, args.disputed_failovers),
    ];
    let mut outcomes: Vec<Vec<Failover>> = kinds.iter().map(|_| Vec::new()).collect();
    let trials = kinds.iter().enumerate().flat_map(|(kind, &(_, _, _, n))| (0..n).map(move |_| kind));
    for (trial, kind) in trials.enumerate() {
        let order = if trial % 2 == 0 { [a, b] } else { [b, a] };
        let (how, hang, dispute, _) = kinds[kind];
        match failover(&m, &session_tenant, order, &work_path, probe, hang, dispute).await {
            Ok(f) => {
                println!(
                    "  trial {} ({how}): {:.3} s from the death to the next provider's answer \
                     (next probe after {:.3} s; session: first failure → answer {:.3} s; {} tenant txs)",
                    trial + 1,
                    f.total.as_secs_f64(),
                    f.to_probe.as_secs_f64(),
                    f.in_session.map_or(f64::NAN, |d| d.as_secs_f64()),
                    f.txs
                );
                outcomes[kind].push(f);
            }
            Err(e) => println!("  trial {} ({how}): FAILED: {e:#}", trial + 1),
        }
        flush();
    }

    // ── 4. Durability.
    let durability = if args.kills > 0 {
        durability::run(&m, offer, args.kills, args.postgres.as_deref()).await?
    } else {
        Vec::new()
    };

    // ── The table.
    let mut figures = vec![
        figure(
            "req/s gateway (library) / direct, 1 ms work",
            format!("{:.1}%", ratio(&g_work, &d_work) * 100.0),
            "≥ 80%",
            Some(ratio(&g_work, &d_work) >= TARGET_RATIO),
        ),
        figure(
            "req/s gateway (proxy) / direct, 1 ms work",
            format!("{:.1}%", ratio(&p_work, &d_work) * 100.0),
            "≥ 80%",
            Some(ratio(&p_work, &d_work) >= TARGET_RATIO),
        ),
        figure(
            "req/s gateway (library) / direct, 1 ms timer",
            format!("{:.1}%", ratio(&g_wait, &d_wait) * 100.0),
            "≥ 80%",
            Some(ratio(&g_wait, &d_wait) >= TARGET_RATIO),
        ),
        figure(
            "req/s gateway (proxy) / direct, 1 ms timer",
            format!("{:.1}%", ratio(&p_wait, &d_wait) * 100.0),
            "≥ 80%",
            Some(ratio(&p_wait, &d_wait) >= TARGET_RATIO),
        ),
        figure(
            "req/s gateway (library, no chain reads) / direct, 1 ms work",
            format!("{:.1}%", ratio(&b_work, &d_work) * 100.0),
            "—",
            None,
        ),
        figure(
            "req/s gateway (library) / direct, empty",
            format!("{:.1}%", ratio(&g_empty, &d_empty) * 100.0),
            "—",
            None,
        ),
        figure(
            "req/s gateway (proxy) / direct, empty",
            format!("{:.1}%", ratio(&p_empty, &d_empty) * 100.0),
            "—",
            None,
        ),
    ];
    for (name, gated, base) in [
        ("added p99, library, 1 ms work, 32 conns", &g_work, &d_work),
        ("added p99, proxy, 1 ms work, 32 conns", &p_work, &d_work),
        ("added p99, library, 1 ms work, 1 conn", &g_one, &d_one),
        ("added p99, proxy, 1 ms work, 1 conn", &p_one, &d_one),
        ("added p99, library, 1 ms timer, 32 conns", &g_wait, &d_wait),
        ("added p99, proxy, 1 ms timer, 32 conns", &p_wait, &d_wait),
    ] {
        let ms = added(gated, base);
        let name = name.replace("32 conns", &format!("{c} conns"));
        figures.push(figure(name, format!("{ms:+.3} ms"), "≤ 1 ms", Some(ms <= TARGET_ADDED_P99_MS)));
    }
    figures.push(figure(
        "receipts verified + persisted /s (end to end)",
        format!("{:.0}/s", e2e.rate()),
        "≥ 8,000/s",
        Some(e2e.rate() >= TARGET_RECEIPTS && e2e.errors == 0),
    ));
    figures.extend(durability);
    for (&(kind, _, _, wanted), trials) in kinds.iter().zip(&outcomes) {
        if wanted == 0 {
            continue;
        }
        let mut totals: Vec<Duration> = trials.iter().map(|f| f.total).collect();
        totals.sort();
        let value = match (totals.last(), totals.get(totals.len() / 2)) {
            (Some(worst), Some(median)) => format!("{:.2} s ({:.2} s)", worst.as_secs_f64(), median.as_secs_f64()),
            _ => "no trial".into(),
        };
        let met = totals.last().is_some_and(|w| w.as_secs_f64() <= TARGET_FAILOVER_SECS) && totals.len() == wanted;
        figures.push(figure(
            format!("failover, provider {kind}, worst of {} (median)", totals.len()),
            value,
            "≤ 5 s",
            Some(met),
        ));
    }
    print_figures(&figures);
    if load_errors > 0 || e2e.errors > 0 {
        println!("\nWARNING: {} load requests and {} receipts failed (see above)", load_errors, e2e.errors);
    }
    Ok(())
}
