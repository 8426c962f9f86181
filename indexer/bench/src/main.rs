//! `openlease-indexer-bench`: fills an anvil it spawns with at least 100,000 marketplace events
//! (`--batches 10000` for a million), then measures, in the same run, the limit (`eth_getLogs` over
//! the whole range plus decoding with the bindings' event enum), the indexer's backfill into SQLite
//! and PostgreSQL, a restart of the `openlease-indexer` binary on each mirror until `/health` says
//! healthy (with its peak memory), its lag behind the head with 1-second blocks while marketplace
//! transactions keep coming and the API is under load (32 connections), and a reorg.
//!
//! The events are `LeaseSettled`: one provider, `--leases` leases, and `--batches` `settleBatch`
//! transactions each settling one receipt per lease, each mined in a block of its own.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    node_bindings::AnvilInstance,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::{Filter, TransactionRequest},
    signers::SignerSync,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEventInterface, SolStruct},
};
use clap::Parser;
use eyre::{WrapErr, bail, ensure};
use openlease_client::{Manifest, ReceiptSigner};
use openlease_contracts::{MockStablecoin, Openlease};
use openlease_indexer::{
    api::{ApiState, router},
    audit::audit,
    chain::Chain,
    console::{self, ConsoleState},
    ingest::{IngestConfig, Ingestor},
    metrics::Metrics,
    store::Store,
};
use openlease_testkit::load::Load;

/// The indexer's own allocator, so that what the bench measures is what `openlease-indexer` runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Fills an anvil of its own (`OPENLEASE_ANVIL`, else the pinned toolchain's) with ≥ 100,000
/// market events, then measures the `eth_getLogs` limit, the backfill into SQLite (and
/// PostgreSQL with `--postgres`) and the live lag, all in one run.
#[derive(Debug, Parser)]
#[command(version, about)]
struct BenchArgs {
    /// A PostgreSQL server to also measure; a scratch database `openlease_bench` is created on it
    /// and dropped afterwards. Without it the PostgreSQL backfill is skipped (and said so).
    #[arg(long, env = "OPENLEASE_TEST_POSTGRES_URL")]
    postgres: Option<String>,
    /// Leases settled by every batch transaction (one `LeaseSettled` each).
    #[arg(long, default_value_t = 100)]
    leases: u16,
    /// `settleBatch` transactions sent to fill the chain.
    #[arg(long, default_value_t = 1_000)]
    batches: u32,
    /// How long the live phase follows 1-second blocks, in seconds.
    #[arg(long, default_value_t = 60)]
    live_secs: u64,
    /// The indexer's pause between polls at the head (as `run --poll-ms`).
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// Connections of the API load during the live phase.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long each uncached read is measured beside live ingestion, per store, in seconds.
    #[arg(long, default_value_t = 3)]
    read_secs: u64,
    /// Measure only the uncached reads whose name contains this (after the fill and the
    /// backfills; no restart, live or reorg phase): to work on one route.
    #[arg(long)]
    only_reads: Option<String>,
    /// Measure only the binary's backfill into empty mirrors (time and memory), after the fill.
    #[arg(long, conflicts_with = "only_reads")]
    only_binary_backfill: bool,
    /// Measure only the alerts' delivery (after the fill and the backfills).
    #[arg(long, conflicts_with_all = ["only_reads", "only_binary_backfill"])]
    only_alerts: bool,
    /// Notices given during the alerts phase, one every 2 seconds (each a `LeaseClosed` alert).
    #[arg(long, default_value_t = 20)]
    alerts: u16,
}

/// What a restart of the binary took.
struct Restart {
    secs: f64,
    /// Peak resident memory (VmHWM), MiB.
    peak_mib: f64,
    /// Resident memory (VmRSS), MiB, every second until healthy.
    rss_mib: Vec<f64>,
}

/// Token units (6 decimals).
const USDC: u128 = 1_000_000;
/// anvil accounts: the provider, the tenants, the account that sends the batches.
const PROVIDER: usize = 1;
const TENANTS: [usize; 4] = [2, 3, 4, 5];
const RELAYER: usize = 6;
const PRICE_PER_SECOND: u64 = 10;

/// One measured phase.
struct Row {
    phase: String,
    events: u64,
    seconds: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let args = BenchArgs::parse();
    // `RUST_LOG=openlease_indexer=debug` shows each batch's apply and commit times.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    ensure!(args.leases > 0 && args.batches > 0, "--leases and --batches must be at least 1");
    // No base fee: the batch transactions are sent with fixed fees, nothing estimated.
    let anvil = openlease_testkit::anvil().args(["--base-fee", "0"]).try_spawn().wrap_err("spawning anvil")?;
    let mut fill = Fill::deploy(&anvil, &args).await?;

    println!("filling: {} settleBatch transactions × {} leases …", args.batches, args.leases);
    let started = Instant::now();
    fill.open_leases().await?;
    let fill_txs = fill.settle_batches(args.batches).await?;
    let fill_secs = started.elapsed().as_secs_f64();
    let head = fill.provider.get_block_number().await?;

    let mut rows = Vec::new();
    let (events, secs) = baseline(&anvil.endpoint(), &fill.manifest, head).await?;
    let settled = u64::from(args.leases) * u64::from(args.batches);
    ensure!(events >= settled, "only {events} events on the chain for {settled} settlements: some batches failed");
    println!(
        "chain filled: {events} market events in blocks {}..={head} ({fill_txs} transactions) in {fill_secs:.1} s",
        fill.manifest.deploy_block
    );
    rows.push(Row { phase: "baseline: eth_getLogs + decode".into(), events, seconds: secs });

    let sqlite_dir = std::env::temp_dir().join(format!("openlease-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&sqlite_dir);
    let sqlite_url = format!("sqlite://{}", sqlite_dir.join("indexer.db").display());
    if args.only_binary_backfill {
        let deployments = openlease_testkit::TempDir::new("indexer-bench");
        fill.manifest.save(&Manifest::path(deployments.path(), fill.manifest.chain_id))?;
        let mut backfills = vec![("SQLite", restart(&anvil, deployments.path(), &sqlite_url).await?)];
        if let Some(server) = &args.postgres {
            let url = scratch_postgres(server, true).await?;
            backfills.push(("PostgreSQL", restart(&anvil, deployments.path(), &url).await?));
            scratch_postgres(server, false).await?;
        }
        print_binary_backfills(&backfills, rows[0].events);
        let _ = std::fs::remove_dir_all(&sqlite_dir);
        return Ok(());
    }
    let poll = Duration::from_millis(args.poll_ms);
    let (sqlite, store, ingestor) = backfill(&anvil, &fill.manifest, &sqlite_url, poll).await?;
    rows.push(Row { phase: "backfill: SQLite".into(), events: sqlite.0, seconds: sqlite.1 });
    if args.only_reads.is_some() {
        let mut reports = vec![("SQLite", reads(&mut fill, &anvil, &store, &args).await?)];
        if let Some(server) = &args.postgres {
            let url = scratch_postgres(server, true).await?;
            let (_, store, _) = backfill(&anvil, &fill.manifest, &url, poll).await?;
            reports.push(("PostgreSQL", reads(&mut fill, &anvil, &store, &args).await?));
            store.pool().close().await;
            scratch_postgres(server, false).await?;
        }
        print_reads(&reports, &args);
        let _ = std::fs::remove_dir_all(&sqlite_dir);
        return Ok(());
    }
    if args.only_alerts {
        let mut reports = vec![("SQLite", alert_latency(&mut fill, &anvil, &store, &args).await?)];
        if let Some(server) = &args.postgres {
            let url = scratch_postgres(server, true).await?;
            let (_, store, _) = backfill(&anvil, &fill.manifest, &url, poll).await?;
            reports.push(("PostgreSQL", alert_latency(&mut fill, &anvil, &store, &args).await?));
            store.pool().close().await;
            scratch_postgres(server, false).await?;
        }
        print_alerts(&reports);
        let _ = std::fs::remove_dir_all(&sqlite_dir);
        return Ok(());
    }
    let deployments = openlease_testkit::TempDir::new("indexer-bench");
    fill.manifest.save(&Manifest::path(deployments.path(), fill.manifest.chain_id))?;
    let mut restarts = vec![("SQLite", restart(&anvil, deployments.path(), &sqlite_url).await?)];
    // The binary's own backfill into an empty mirror: until healthy, and its peak memory.
    let fresh_url = format!("sqlite://{}", sqlite_dir.join("fresh.db").display());
    let mut binary_backfills = vec![("SQLite", restart(&anvil, deployments.path(), &fresh_url).await?)];
    let mut read_reports = Vec::new();

    let mut postgres_note = None;
    match &args.postgres {
        Some(server) => {
            let url = scratch_postgres(server, true).await?;
            binary_backfills.push(("PostgreSQL", restart(&anvil, deployments.path(), &url).await?));
            scratch_postgres(server, false).await?;
            let url = scratch_postgres(server, true).await?;
            let result = backfill(&anvil, &fill.manifest, &url, poll).await;
            if let Ok((_, store, _)) = &result {
                restarts.push(("PostgreSQL", restart(&anvil, deployments.path(), &url).await?));
                read_reports.push(("PostgreSQL", reads(&mut fill, &anvil, store, &args).await?));
                store.pool().close().await;
            }
            scratch_postgres(server, false).await?;
            let ((events, secs), _, _) = result?;
            rows.push(Row { phase: "backfill: PostgreSQL".into(), events, seconds: secs });
        }
        None => postgres_note = Some("backfill: PostgreSQL SKIPPED (no --postgres / OPENLEASE_TEST_POSTGRES_URL)"),
    }

    println!("live: 1-second blocks for {} s, settleBatch transactions every 250 ms …", args.live_secs);
    let live_report = live(&mut fill, &store, ingestor, Duration::from_secs(args.live_secs), args.connections).await?;
    let reorg = reorg(&mut fill, &anvil, &store).await?;
    read_reports.insert(0, ("SQLite", reads(&mut fill, &anvil, &store, &args).await?));
    let alerts = alert_latency(&mut fill, &anvil, &store, &args).await?;
    let _ = std::fs::remove_dir_all(&sqlite_dir);

    let baseline_rate = rows[0].rate();
    println!();
    println!("{:<34} {:>10} {:>10} {:>12} {:>12}", "phase", "events", "seconds", "events/s", "vs baseline");
    println!(
        "{:<34} {:>10} {:>10.2} {:>12} {:>12}",
        format!("fill ({fill_txs} txs)"),
        rows[0].events,
        fill_secs,
        "-",
        "-"
    );
    for row in &rows {
        println!(
            "{:<34} {:>10} {:>10.2} {:>12.0} {:>11.0}%",
            row.phase,
            row.events,
            row.seconds,
            row.rate(),
            100.0 * row.rate() / baseline_rate
        );
    }
    if let Some(note) = postgres_note {
        println!("{note}");
    }
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let sqlite_met = rows[1].rate() >= 0.9 * baseline_rate;
    let postgres_met = rows.get(2).map(|row| row.rate() >= 0.8 * baseline_rate);
    println!(
        "target backfill SQLite ≥ 90% of baseline: {}; PostgreSQL ≥ 80%: {}",
        verdict(sqlite_met),
        postgres_met.map_or("skipped", verdict)
    );
    for (backend, r) in &restarts {
        println!(
            "restart {backend} at {events} events: healthy in {:.2} s (target < 2 s at ≥ 1M events: {}), peak memory {:.0} MiB",
            r.secs,
            verdict(r.secs < 2.0),
            r.peak_mib,
            events = rows[0].events,
        );
    }
    print_binary_backfills(&binary_backfills, rows[0].events);
    for (phase, lag) in [("quiet", &live_report.quiet), ("API under load", &live_report.loaded)] {
        println!(
            "live lag ({phase}), 1 s blocks, {} samples every 100 ms (poll {} ms): p50 {} / p99 {} / max {} blocks (target p99 ≤ 1: {})",
            lag.samples,
            args.poll_ms,
            lag.p50,
            lag.p99,
            lag.max,
            verdict(lag.p99 <= 1)
        );
    }
    println!("live: {} events followed", live_report.events);
    for (path, load) in &live_report.api {
        println!(
            "API {path}, {} connections beside ingestion: {:.0} requests/s (target ≥ 5,000: {}), p50 {:.2} ms, p99 {:.2} ms (target ≤ 20 ms: {}), {} errors{}",
            args.connections,
            load.rate(),
            verdict(load.rate() >= 5_000.0),
            load.ms(0.5),
            load.ms(0.99),
            verdict(load.ms(0.99) <= 20.0),
            load.errors,
            load.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
        );
    }
    println!();
    print_reads(&read_reports, &args);
    println!(
        "reorg of depth {} at {} events: rolled back and re-applied in {:.1} ms ({} rows put back)",
        reorg.depth, rows[0].events, reorg.millis, reorg.undone
    );
    print_alerts(&[("SQLite", alerts)]);
    Ok(())
}

/// What the alerts phase measured: for each alert, the blocks between its event's and the head
/// when the receiver got it, and the milliseconds from the notice's send to its arrival.
struct AlertLatency {
    blocks: Vec<u64>,
    millis: Vec<f64>,
    expected: usize,
}

fn print_alerts(reports: &[(&str, AlertLatency)]) {
    for (backend, r) in reports {
        let (mut blocks, mut millis) = (r.blocks.clone(), r.millis.clone());
        blocks.sort_unstable();
        millis.sort_by(f64::total_cmp);
        let at = |q: f64| blocks.get(((blocks.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(u64::MAX);
        let ms = |q: f64| millis.get(((millis.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
        let met = blocks.len() == r.expected && blocks.last().is_some_and(|max| *max <= 2);
        println!(
            "alerts {backend}: {} of {} delivered beside live ingestion (1 s blocks, settleBatch every 250 ms); blocks after the event's at arrival p50 {} / max {} (target ≤ 2: {}); send to arrival p50 {:.0} ms / max {:.0} ms",
            blocks.len(),
            r.expected,
            at(0.5),
            at(1.0),
            if met { "met" } else { "MISSED" },
            ms(0.5),
            ms(1.0),
        );
    }
}

/// A webhook receiver in this process and a subscription to every `LeaseClosed`; then, beside
/// 1-second blocks, a `settleBatch` every 250 ms and the ingestor following (as `run` does, with
/// the alerts deliverer beside it), a tenant gives notice on one lease every 2 seconds. Each alert
/// is timed by the node's head when it arrives, against its event's block.
async fn alert_latency(
    fill: &mut Fill,
    anvil: &AnvilInstance,
    store: &Store,
    args: &BenchArgs,
) -> eyre::Result<AlertLatency> {
    use openlease_indexer::alerts::{AlertConfig, Alerts, AlertsAccess};
    let ingestor = at_head(fill, anvil, store, args).await?;
    let notices = tokio::sync::broadcast::channel(4096).0;
    let ingestor = ingestor.with_notices(notices.clone());
    let token = "bench".to_string();
    let wake = Arc::new(tokio::sync::Notify::new());
    let config = AlertConfig { token: Some(token.clone()), ..Default::default() };
    let deliverer =
        tokio::spawn(Alerts::new(store.clone(), config, fill.manifest.chain_id).run(notices.subscribe(), wake.clone()));
    let access = AlertsAccess { store: store.clone(), token: Some(token.clone()), wake };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, openlease_indexer::alerts::router(access)).await });

    // The receiver: each alert's event block and the head when it arrived.
    let arrivals: Arc<std::sync::Mutex<Vec<(u64, u64, Instant)>>> = Default::default();
    let (record, node) = (arrivals.clone(), fill.provider.clone());
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (record, node) = (record.clone(), node.clone());
            async move {
                let arrived = Instant::now();
                let head = node.get_block_number().await.unwrap_or(u64::MAX);
                let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let block = value["block_number"].as_u64().unwrap_or(0);
                record.lock().expect("not poisoned").push((block, head, arrived));
                axum::http::StatusCode::OK
            }
        }),
    );
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hook", receiver.local_addr()?);
    let receiving = tokio::spawn(async move { axum::serve(receiver, hook).await });
    let created = reqwest::Client::new()
        .post(format!("{base}/v1/alerts"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "url": hook_url, "kinds": ["LeaseClosed"] }))
        .send()
        .await?;
    ensure!(created.status() == 201, "subscribing failed: {}", created.text().await?);

    fill.provider.anvil_set_interval_mining(1).await?;
    let task = tokio::spawn(ingestor.run());
    let mut traffic = Traffic::new(fill);
    let count = usize::from(args.alerts).min(fill.leases.len());
    let (mut sent_at, mut closes) = (Vec::new(), Vec::new());
    let mut next_notice = Instant::now();
    let m = fill.market.clone();
    while sent_at.len() < count {
        traffic.send_when_due(fill).await?;
        if Instant::now() >= next_notice {
            // The leases most recently opened: the reads and the live phase settle the first ones.
            let index = fill.leases.len() - 1 - sent_at.len();
            let tenant = fill.account(fill.leases[index].0);
            closes.push(*m.closeLease(U256::from(index as u64 + 1)).from(tenant).send().await?.tx_hash());
            sent_at.push(Instant::now());
            next_notice += Duration::from_secs(2);
        }
        ensure!(!task.is_finished(), "ingestion stopped during the alerts phase: {:?}", task.await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while arrivals.lock().expect("not poisoned").len() < count && Instant::now() < deadline {
        traffic.send_when_due(fill).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    deliverer.abort();
    server.abort();
    receiving.abort();
    fill.provider.anvil_set_interval_mining(0).await?;
    fill.mine_all(&traffic.sent).await?;
    fill.mine_all(&closes).await?;
    let arrivals = arrivals.lock().expect("not poisoned").clone();
    Ok(AlertLatency {
        blocks: arrivals.iter().map(|(block, head, _)| head.saturating_sub(*block)).collect(),
        millis: arrivals.iter().zip(&sent_at).map(|((_, _, at), sent)| (*at - *sent).as_secs_f64() * 1e3).collect(),
        expected: count,
    })
}

/// The binary's backfills into empty mirrors: time to healthy and memory.
fn print_binary_backfills(backfills: &[(&str, Restart)], events: u64) {
    for (backend, r) in backfills {
        println!(
            "backfill by the binary into an empty {backend} mirror at {events} events: healthy in {:.2} s, peak memory {:.0} MiB (target ≤ 150 MiB at 1M events: {}); resident each second: {:?} MiB",
            r.secs,
            r.peak_mib,
            if r.peak_mib <= 150.0 { "met" } else { "MISSED" },
            r.rss_mib.iter().map(|m| m.round() as u64).collect::<Vec<_>>(),
        );
    }
}

/// The uncached reads' table.
fn print_reads(read_reports: &[(&str, Vec<Read>)], args: &BenchArgs) {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "uncached reads ({} connections, distinct URIs and `cache-control: no-cache`, beside live ingestion of 1 s blocks); target ≥ 2,000 req/s, p99 ≤ 50 ms, lag ≤ 1 block",
        args.connections
    );
    println!(
        "{:<10} {:<44} {:>9} {:>9} {:>9} {:>7} {:>7} {:>8}",
        "store", "read", "req/s", "p50 ms", "p99 ms", "errors", "lag", "target"
    );
    for (backend, reports) in read_reports {
        for r in reports {
            let met = r.load.rate() >= 2_000.0 && r.load.ms(0.99) <= 50.0 && r.lag_max <= 1 && r.load.errors == 0;
            println!(
                "{:<10} {:<44} {:>9.0} {:>9.2} {:>9.2} {:>7} {:>7} {:>8}{}",
                backend,
                r.read,
                r.load.rate(),
                r.load.ms(0.5),
                r.load.ms(0.99),
                r.load.errors,
                r.lag_max,
                verdict(met),
                r.load.first_error.as_deref().map(|e| format!(" (first error: {e})")).unwrap_or_default()
            );
        }
    }
}

/// Market traffic beside a measured phase: a `settleBatch` over a tenth of the leases every 250 ms.
struct Traffic {
    width: usize,
    gas: u64,
    offset: usize,
    next_send: Instant,
    sent: Vec<B256>,
}

impl Traffic {
    fn new(fill: &Fill) -> Self {
        let width = (fill.leases.len() / 10).max(1);
        Self { width, gas: 3_000_000 + 60_000 * width as u64, offset: 0, next_send: Instant::now(), sent: Vec::new() }
    }

    /// Sends the next batch if it is due.
    async fn send_when_due(&mut self, fill: &mut Fill) -> eyre::Result<()> {
        if Instant::now() < self.next_send {
            return Ok(());
        }
        let leases: Vec<usize> = (self.offset..self.offset + self.width).map(|i| i % fill.leases.len()).collect();
        self.offset += self.width;
        let batch = fill.batch_calldata(leases.into_iter());
        let input = fill.sign(vec![batch]).remove(0);
        let tx = fill.settle_tx(input, self.gas);
        self.sent.push(*fill.wallet.send_transaction(tx).await?.tx_hash());
        self.next_send += Duration::from_millis(250);
        Ok(())
    }
}

/// The deployed suite and what fills it.
struct Fill {
    provider: DynProvider,
    wallet: DynProvider,
    manifest: Manifest,
    market: Openlease::OpenleaseInstance<DynProvider>,
    usdc: Address,
    keys: Vec<PrivateKeySigner>,
    /// The tenants' receipt signers, by key index.
    signers: Vec<ReceiptSigner>,
    /// Each lease's tenant (an index into `keys`) and last cumulative amount.
    leases: Vec<(usize, u128)>,
    /// The end of the service period every receipt attests: the first lease's end (the others end
    /// no earlier), so a receipt pays what accrued until it is settled.
    period_end: u64,
    wanted: u16,
    relayer_nonce: u64,
}

impl Fill {
    async fn deploy(anvil: &AnvilInstance, args: &BenchArgs) -> eyre::Result<Self> {
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(anvil.endpoint_url()).erased();
        let keys: Vec<PrivateKeySigner> = anvil.keys().iter().cloned().map(PrivateKeySigner::from).collect();
        let mut wallet = EthereumWallet::from(keys[0].clone());
        for key in &keys[1..] {
            wallet.register_signer(key.clone());
        }
        let wallet = ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased();
        let manifest = openlease_testkit::deploy_market(anvil).await;
        let signers = keys.iter().map(|key| openlease_testkit::receipt_signer(&manifest, key.clone())).collect();
        let market = Openlease::new(manifest.market(), wallet.clone());
        let Some(usdc) = manifest.stablecoin("USDC").map(|s| s.address) else {
            bail!("the devnet config deploys no USDC")
        };
        let relayer_nonce = provider.get_transaction_count(keys[RELAYER].address()).await?;
        Ok(Self {
            provider,
            wallet,
            manifest,
            market,
            usdc,
            keys,
            signers,
            leases: Vec::new(),
            period_end: 0,
            wanted: args.leases,
            relayer_nonce,
        })
    }

    fn account(&self, index: usize) -> Address {
        self.keys[index].address()
    }

    /// Registers the provider with one offer and opens the leases.
    async fn open_leases(&mut self) -> eyre::Result<()> {
        let token = MockStablecoin::new(self.usdc, self.wallet.clone());
        let provider = self.account(PROVIDER);
        for index in std::iter::once(PROVIDER).chain(TENANTS) {
            let from = self.account(index);
            self.confirm(*token.mint(from, U256::from(10_000_000 * USDC)).from(from).send().await?.tx_hash()).await?;
            self.confirm(*token.approve(self.manifest.market(), U256::MAX).from(from).send().await?.tx_hash()).await?;
        }
        let m = self.market.clone();
        // The provider's own key attests its usage, and proves it.
        let proof = attestation_key_proof(&self.manifest, &self.keys[PROVIDER], provider)?;
        let register = m.registerProvider(
            "ipfs://bench".into(),
            "https://bench".into(),
            "eu-west".into(),
            B256::ZERO,
            provider,
            proof,
        );
        self.confirm(*register.from(provider).send().await?.tx_hash()).await?;
        self.confirm(*m.stake(self.usdc, U256::from(1_000_000 * USDC)).from(provider).send().await?.tx_hash()).await?;
        let offer =
            m.publishOffer(self.usdc, PRICE_PER_SECOND, 60, 30 * 86_400, 3_600, self.wanted, B256::ZERO, Address::ZERO);
        self.confirm(*offer.from(provider).send().await?.tx_hash()).await?;
        let terms = m.offerTermsHash(U256::from(1)).call().await?;
        for i in 0..self.wanted as usize {
            let tenant = TENANTS[i % TENANTS.len()];
            let call = m.openLease(U256::from(1), 20 * 86_400, U256::from(1_000 * USDC), terms);
            self.confirm(*call.from(self.account(tenant)).send().await?.tx_hash()).await?;
            self.leases.push((tenant, 0));
        }
        self.period_end = m.lease(U256::from(1)).call().await?.endsAt.into();
        // Let the leases accrue: a receipt pays at most what the terms let accrue so far.
        self.provider.anvil_increase_time(3_600).await?;
        self.provider.evm_mine(None).await?;
        Ok(())
    }

    async fn confirm(&self, hash: B256) -> eyre::Result<()> {
        for _ in 0..2_000 {
            if let Some(receipt) = self.provider.get_transaction_receipt(hash).await? {
                ensure!(receipt.status(), "transaction {hash} reverted");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bail!("transaction {hash} was not mined within 10 s")
    }

    /// How many blocks the mirror in `store` lags the node.
    async fn lag(&self, store: &Store) -> eyre::Result<u64> {
        let head = self.provider.get_block_number().await?;
        let Some(cursor) = store.cursor().await? else { bail!("the mirror lost its cursor") };
        Ok(head.saturating_sub(cursor.number))
    }

    /// Mines until every one of `sent` is (what the last interval left in the pool, once
    /// interval mining is off), and checks each went through.
    async fn mine_all(&self, sent: &[B256]) -> eyre::Result<()> {
        for hash in sent {
            for _ in 0..100 {
                if self.provider.get_transaction_receipt(*hash).await?.is_some() {
                    break;
                }
                self.provider.anvil_mine(Some(1), None).await?;
            }
            self.confirm(*hash).await?;
        }
        Ok(())
    }

    /// The calldata of one `settleBatch` over `leases` (indices), each one unit more than before.
    fn batch_calldata(&mut self, leases: impl Iterator<Item = usize>) -> Vec<(usize, usize, u128)> {
        leases
            .map(|i| {
                self.leases[i].1 += 1;
                (i, self.leases[i].0, self.leases[i].1)
            })
            .collect()
    }

    /// Signs the receipts of many batches on every core.
    fn sign(&self, batches: Vec<Vec<(usize, usize, u128)>>) -> Vec<Bytes> {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let per_thread = batches.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = batches
                .chunks(per_thread)
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|batch| {
                                let receipts = batch
                                    .iter()
                                    .map(|&(lease, tenant, cumulative)| {
                                        let digest = keccak256(cumulative.to_be_bytes());
                                        self.signers[tenant]
                                            .sign_usage(
                                                U256::from(lease + 1),
                                                U256::from(cumulative),
                                                digest,
                                                self.period_end,
                                            )
                                            .expect("signing")
                                    })
                                    .collect();
                                Bytes::from(Openlease::settleBatchCall { items: receipts }.abi_encode())
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("signing thread")).collect()
        })
    }

    /// The relayer's transaction carrying `input`, with every field set (nothing to estimate).
    fn settle_tx(&mut self, input: Bytes, gas: u64) -> TransactionRequest {
        let nonce = self.relayer_nonce;
        self.relayer_nonce += 1;
        TransactionRequest::default()
            .with_from(self.account(RELAYER))
            .with_to(self.manifest.market())
            .with_input(input)
            .with_nonce(nonce)
            .with_chain_id(self.manifest.chain_id)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(1_000_000_000)
            .with_max_priority_fee_per_gas(0)
    }

    /// Sends `count` batches over every lease, 16 in flight; anvil mines each in a block of its
    /// own (about a hundred events per block, like a busy market on a real chain).
    async fn settle_batches(&mut self, count: u32) -> eyre::Result<u64> {
        let all = 0..self.leases.len();
        let batches: Vec<_> = (0..count).map(|_| self.batch_calldata(all.clone())).collect();
        let inputs = self.sign(batches);
        // The first batch is the dearest (every `settled` goes from zero); its estimate bounds all.
        let first = TransactionRequest::default()
            .with_from(self.account(RELAYER))
            .with_to(self.manifest.market())
            .with_input(inputs[0].clone());
        let gas = self.provider.estimate_gas(first).await? * 5 / 4;
        let txs: Vec<_> = inputs.into_iter().map(|input| self.settle_tx(input, gas)).collect();
        use futures_util::{StreamExt, TryStreamExt};
        let mut hashes: Vec<B256> = Vec::with_capacity(txs.len());
        // A thousand at a time: anvil's pool holds only so many transactions ahead of the block.
        let mut txs = txs.into_iter().peekable();
        while txs.peek().is_some() {
            let chunk: Vec<TransactionRequest> = txs.by_ref().take(1_000).collect();
            let last_nonce = chunk.last().and_then(|tx| tx.nonce).map_or(0, |n| n + 1);
            let sent: Vec<B256> = futures_util::stream::iter(chunk)
                .map(|tx| {
                    let wallet = self.wallet.clone();
                    async move { Ok::<_, eyre::Report>(*wallet.send_transaction(tx).await?.tx_hash()) }
                })
                .buffered(16)
                .try_collect()
                .await?;
            hashes.extend(sent);
            // Sent concurrently, some arrive ahead of their nonce and wait in the pool; automine
            // does not always pick them up once the gap closes, so an idle pool gets a block.
            let started = Instant::now();
            let mut mined = self.provider.get_transaction_count(self.account(RELAYER)).await?;
            while mined < last_nonce {
                ensure!(
                    started.elapsed() < Duration::from_secs(120),
                    "the fill stalled: {mined} of {last_nonce} batches mined"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                let now = self.provider.get_transaction_count(self.account(RELAYER)).await?;
                if now == mined {
                    self.provider.anvil_mine(Some(1), None).await?;
                }
                mined = now;
            }
        }
        // Every batch went through (a reverted one would emit nothing).
        let last = *hashes.last().expect("at least one batch");
        self.confirm(last).await?;
        for hash in hashes.iter().step_by(97) {
            self.confirm(*hash).await?;
        }
        Ok(hashes.len() as u64)
    }
}

alloy::sol! {
    /// What an attestation key signs to prove it is held (`registerProvider`'s `keyProof`).
    struct AttestationKey {
        address provider;
    }
}

/// `registerProvider`'s `keyProof`: `key`'s signature of `AttestationKey(provider)` under the
/// market's EIP-712 domain.
fn attestation_key_proof(manifest: &Manifest, key: &PrivateKeySigner, provider: Address) -> eyre::Result<Bytes> {
    let domain = alloy::sol_types::eip712_domain! {
        name: "Openlease",
        version: "1",
        chain_id: manifest.chain_id,
        verifying_contract: manifest.market(),
    };
    let digest = AttestationKey { provider }.eip712_signing_hash(&domain);
    Ok(Bytes::from(key.sign_hash_sync(&digest)?.as_bytes().to_vec()))
}

/// The limit: every market log in one `eth_getLogs`, each decoded into the bindings' enum.
async fn baseline(rpc: &str, manifest: &Manifest, head: u64) -> eyre::Result<(u64, f64)> {
    let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(rpc.parse()?).erased();
    let started = Instant::now();
    let filter = Filter::new().address(manifest.market()).from_block(manifest.deploy_block).to_block(head);
    let logs = provider.get_logs(&filter).await?;
    let mut decoded = 0u64;
    for log in &logs {
        decoded += u64::from(Openlease::OpenleaseEvents::decode_raw_log(log.topics(), &log.data().data).is_ok());
    }
    let secs = started.elapsed().as_secs_f64();
    ensure!(decoded == logs.len() as u64, "{} of {} logs did not decode", logs.len() as u64 - decoded, logs.len());
    Ok((decoded, secs))
}

/// A fresh mirror on `url` caught up from the deploy block: (events, seconds), its store and
/// its ingestor (which polls every `poll` once at the head).
async fn backfill(
    anvil: &AnvilInstance,
    manifest: &Manifest,
    url: &str,
    poll: Duration,
) -> eyre::Result<((u64, f64), Store, Ingestor)> {
    let store = Store::connect(url).await.wrap_err_with(|| format!("opening {url}"))?;
    let chain = Chain::connect(&anvil.endpoint(), manifest.market(), Default::default())?;
    let config = IngestConfig { poll_interval: poll, ..Default::default() };
    let mut ingestor =
        Ingestor::start(store.clone(), chain.clone(), manifest, config, Arc::new(Metrics::default())).await?;
    let started = Instant::now();
    ingestor.catch_up().await?;
    let secs = started.elapsed().as_secs_f64();
    let events = store.event_count().await?;
    let report = audit(&store, &chain).await?;
    ensure!(report.divergences.is_empty(), "the mirror on {url} diverges: {:?}", report.divergences.first());
    println!(
        "backfill {}: {events} events in {secs:.2} s, audit passed ({} fields)",
        url.split(':').next().unwrap_or(url),
        report.checked
    );
    Ok(((events, secs), store, ingestor))
}

/// Creates (`create`) or drops the scratch database `openlease_bench`; returns its URL.
async fn scratch_postgres(server: &str, create: bool) -> eyre::Result<String> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(server).await.wrap_err_with(|| format!("connecting to {server}"))?;
    sqlx::query("DROP DATABASE IF EXISTS openlease_bench WITH (FORCE)").execute(&mut admin).await?;
    if create {
        sqlx::query("CREATE DATABASE openlease_bench").execute(&mut admin).await?;
    }
    let base = server.rsplit_once('/').map(|(base, _)| base).unwrap_or(server);
    Ok(format!("{base}/openlease_bench"))
}

/// Lag samples of a part of the live phase.
struct Lag {
    samples: usize,
    p50: u64,
    p99: u64,
    max: u64,
}

impl Lag {
    fn of(mut samples: Vec<u64>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| samples.get(((samples.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(0);
        Lag { samples: samples.len(), p50: at(0.5), p99: at(0.99), max: samples.last().copied().unwrap_or(0) }
    }
}

/// What the live phase measured.
struct Live {
    /// Lag while nothing but ingestion runs.
    quiet: Lag,
    /// Lag while the API is under load.
    loaded: Lag,
    /// Each list endpoint's load.
    api: Vec<(&'static str, Load)>,
    events: u64,
}

/// 1-second blocks, a `settleBatch` over a tenth of the leases every 250 ms; the ingestor follows
/// (as `run` does) and the lag (node head − mirrored block) is sampled every 100 ms. The first
/// third is quiet; then `connections` connections load the API (served from the same mirror, in
/// this process, like `run`), one list endpoint per third.
async fn live(
    fill: &mut Fill,
    store: &Store,
    ingestor: Ingestor,
    length: Duration,
    connections: usize,
) -> eyre::Result<Live> {
    // The chain moved on while the other store was measured: the lag counts from the head.
    let mut ingestor = ingestor;
    ingestor.catch_up().await?;
    let before = store.event_count().await?;
    let metrics = Arc::new(Metrics::default());
    let state = ApiState {
        store: store.clone(),
        metrics,
        max_lag: 10,
        max_head_age: 15,
        notices: tokio::sync::broadcast::channel(16).0,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let third = length / 3;
    let paths = ["/v1/providers", "/v1/leases?limit=50"];
    let loads = {
        let base = base.clone();
        tokio::spawn(async move {
            tokio::time::sleep(third).await;
            let mut out = Vec::new();
            for path in paths {
                let warm_up = Duration::from_millis(500);
                let load = openlease_testkit::load::load(
                    &format!("{base}{path}"),
                    vec![],
                    connections,
                    warm_up,
                    third - warm_up,
                )
                .await;
                out.push((path, load));
            }
            out
        })
    };

    fill.provider.anvil_set_interval_mining(1).await?;
    let task = tokio::spawn(ingestor.run());
    let mut traffic = Traffic::new(fill);
    let (mut quiet, mut loaded) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < length {
        traffic.send_when_due(fill).await?;
        let lag = fill.lag(store).await?;
        if started.elapsed() < third {
            quiet.push(lag)
        } else {
            loaded.push(lag)
        }
        ensure!(!task.is_finished(), "ingestion stopped during the live phase: {:?}", task.await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    task.abort();
    let api = loads.await?.into_iter().map(|(path, load)| Ok((path, load?))).collect::<eyre::Result<Vec<_>>>()?;
    server.abort();
    fill.provider.anvil_set_interval_mining(0).await?;
    fill.mine_all(&traffic.sent).await?;
    let events = store.event_count().await? - before;
    Ok(Live { quiet: Lag::of(quiet), loaded: Lag::of(loaded), api, events })
}

/// One uncached read under load.
struct Read {
    read: &'static str,
    load: Load,
    /// The most blocks the mirror lagged the node while it was measured.
    lag_max: u64,
}

/// An ingestor on `store` caught up with the node's head, to follow it during a phase.
async fn at_head(fill: &Fill, anvil: &AnvilInstance, store: &Store, args: &BenchArgs) -> eyre::Result<Ingestor> {
    let chain = Chain::connect(&anvil.endpoint(), fill.manifest.market(), Default::default())?;
    let mut ingestor = Ingestor::start(
        store.clone(),
        chain,
        &fill.manifest,
        IngestConfig { poll_interval: Duration::from_millis(args.poll_ms), ..Default::default() },
        Arc::new(Metrics::default()),
    )
    .await?;
    ingestor.catch_up().await?;
    Ok(ingestor)
}

/// Every API route and console page, each asked for at distinct URIs (and with
/// `cache-control: no-cache`) by `--connections` connections for `--read-secs`, while 1-second
/// blocks bring a `settleBatch` every 250 ms and the ingestor follows: what an operator's
/// instance serves when its answer cache cannot help.
async fn reads(fill: &mut Fill, anvil: &AnvilInstance, store: &Store, args: &BenchArgs) -> eyre::Result<Vec<Read>> {
    let ingestor = at_head(fill, anvil, store, args).await?;
    let state = ApiState {
        store: store.clone(),
        metrics: Arc::new(Metrics::default()),
        max_lag: 10,
        max_head_age: 15,
        notices: tokio::sync::broadcast::channel(16).0,
    };
    let app = router(state.clone()).merge(console::router(ConsoleState::new(state, &fill.manifest.stablecoins)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let provider = fill.account(PROVIDER);
    let tenant = fill.account(TENANTS[0]);
    let leases = fill.leases.len() as u64;
    type Uri = Box<dyn Fn(u64) -> String + Send + Sync>;
    let reads: Vec<(&'static str, Uri)> = vec![
        ("/v1/providers?limit=N", Box::new(|n| format!("/v1/providers?limit={}", 1 + n % 500))),
        ("/v1/providers/{address}", Box::new(move |_| format!("/v1/providers/{provider}"))),
        (
            "/v1/providers/{address}/history?days=N",
            Box::new(move |n| format!("/v1/providers/{provider}/history?days={}", 1 + n % 366)),
        ),
        ("/v1/offers?limit=N", Box::new(|n| format!("/v1/offers?limit={}", 1 + n % 500))),
        ("/v1/leases?cursor=N (50 a page)", Box::new(move |n| format!("/v1/leases?cursor={}&limit=50", n % leases))),
        (
            "/v1/leases?tenant=T&cursor=N",
            Box::new(move |n| format!("/v1/leases?tenant={tenant}&cursor={}", n % leases)),
        ),
        ("/v1/leases/{id} (1,000+ settlements)", Box::new(move |n| format!("/v1/leases/{}", 1 + n % leases))),
        ("/v1/disputes?limit=N", Box::new(|n| format!("/v1/disputes?limit={}", 1 + n % 500))),
        ("/v1/signers?limit=N", Box::new(|n| format!("/v1/signers?limit={}", 1 + n % 500))),
        ("/v1/stats", Box::new(|_| "/v1/stats".into())),
        ("/v1/governance", Box::new(|_| "/v1/governance".into())),
        ("console /", Box::new(|_| "/".into())),
        ("console /providers?limit=N", Box::new(|n| format!("/providers?limit={}", 1 + n % 500))),
        ("console /providers/{address}", Box::new(move |_| format!("/providers/{provider}"))),
        ("console /leases/{id}", Box::new(move |n| format!("/leases/{}", 1 + n % leases))),
        ("/v1/accounts/{tenant}", Box::new(move |_| format!("/v1/accounts/{tenant}"))),
        ("console /accounts/{provider}", Box::new(move |_| format!("/accounts/{provider}"))),
        ("console /leases?cursor=N", Box::new(move |n| format!("/leases?cursor={}", n % leases))),
        ("console /offers?limit=N", Box::new(|n| format!("/offers?limit={}", 1 + n % 500))),
    ];
    let reads: Vec<_> = reads
        .into_iter()
        .filter(|(name, _)| args.only_reads.as_ref().is_none_or(|only| name.contains(only.as_str())))
        .collect();
    let connections = args.connections;
    let secs = Duration::from_secs(args.read_secs);
    let (lag_tx, mut lag_rx) = tokio::sync::mpsc::unbounded_channel::<Option<&'static str>>();
    let loads = tokio::spawn(async move {
        let mut out = Vec::new();
        for (read, uri) in reads {
            let _ = lag_tx.send(Some(read));
            let base = base.clone();
            let warm_up = Duration::from_millis(500);
            let headers = vec![("cache-control".to_string(), "no-cache".to_string())];
            let load = openlease_testkit::load::load_each(
                move |n| format!("{base}{}", uri(n)),
                headers,
                connections,
                warm_up,
                secs,
            )
            .await;
            out.push((read, load));
        }
        let _ = lag_tx.send(None);
        out
    });

    fill.provider.anvil_set_interval_mining(1).await?;
    let task = tokio::spawn(ingestor.run());
    let mut traffic = Traffic::new(fill);
    let mut lag_max: std::collections::HashMap<&'static str, u64> = Default::default();
    let mut current = None;
    loop {
        while let Ok(read) = lag_rx.try_recv() {
            current = Some(read);
        }
        if current == Some(None) {
            break;
        }
        traffic.send_when_due(fill).await?;
        let lag = fill.lag(store).await?;
        if let Some(Some(read)) = current {
            let lag_max = lag_max.entry(read).or_default();
            *lag_max = (*lag_max).max(lag);
        }
        ensure!(!task.is_finished(), "ingestion stopped during the reads: {:?}", task.await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    task.abort();
    server.abort();
    fill.provider.anvil_set_interval_mining(0).await?;
    fill.mine_all(&traffic.sent).await?;
    loads
        .await?
        .into_iter()
        .map(|(read, load)| Ok(Read { read, load: load?, lag_max: lag_max.get(read).copied().unwrap_or(0) }))
        .collect()
}

/// The `openlease-indexer` binary next to this one: a restart of it on the mirror at `url`, from
/// spawn to `/health` answering 200, and its peak memory.
async fn restart(anvil: &AnvilInstance, deployments: &std::path::Path, url: &str) -> eyre::Result<Restart> {
    let binary = std::env::current_exe()?.with_file_name("openlease-indexer");
    ensure!(binary.exists(), "{} is missing: build it first (cargo build --release --bins)", binary.display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let started = Instant::now();
    let mut child = std::process::Command::new(&binary)
        .args(["--rpc-url", &anvil.endpoint(), "--db", url, "--deployments"])
        .arg(deployments)
        .args(["run", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .spawn()
        .wrap_err_with(|| format!("spawning {}", binary.display()))?;
    let http = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/health");
    let status_of = |pid: u32, field: &str| -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(f64::NAN);
        kib / 1024.0
    };
    let mut rss_mib = Vec::new();
    let healthy = loop {
        if let Ok(answer) = http.get(&health).send().await
            && answer.status().is_success()
        {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed().as_secs() >= rss_mib.len() as u64 {
            rss_mib.push(status_of(child.id(), "VmRSS:"));
        }
        if started.elapsed() > Duration::from_secs(120) || child.try_wait()?.is_some() {
            let _ = child.kill();
            bail!("the indexer on {url} did not become healthy within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let peak_mib = status_of(child.id(), "VmHWM:");
    child.kill()?;
    child.wait()?;
    Ok(Restart { secs: healthy, peak_mib, rss_mib })
}

/// What a reorg cost.
struct Reorg {
    depth: u64,
    millis: f64,
    /// Undo records put back.
    undone: u64,
}

/// Six blocks of settlements mirrored, then the last three replaced by empty blocks: the time the
/// ingestor takes to roll back and reach the new head.
async fn reorg(fill: &mut Fill, anvil: &AnvilInstance, store: &Store) -> eyre::Result<Reorg> {
    const DEPTH: u64 = 3;
    let chain = Chain::connect(&anvil.endpoint(), fill.manifest.market(), Default::default())?;
    let mut ingestor =
        Ingestor::start(store.clone(), chain, &fill.manifest, IngestConfig::default(), Arc::new(Metrics::default()))
            .await?;
    ingestor.catch_up().await?;
    fill.settle_batches(6).await?;
    ingestor.catch_up().await?;
    let head = fill.provider.get_block_number().await?;
    let undone: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM undo WHERE block_number > $1")
        .bind((head - DEPTH) as i64)
        .fetch_one(store.pool())
        .await?;
    fill.provider.anvil_reorg(alloy::rpc::types::anvil::ReorgOptions { depth: DEPTH, tx_block_pairs: vec![] }).await?;
    let started = Instant::now();
    ingestor.catch_up().await?;
    let millis = started.elapsed().as_secs_f64() * 1_000.0;
    let cursor = store.cursor().await?.ok_or_else(|| eyre::eyre!("no cursor"))?;
    ensure!(cursor.number == fill.provider.get_block_number().await?, "the mirror did not reach the new head");
    // The reorg dropped the relayer's last transactions: its next nonce is the chain's again.
    fill.relayer_nonce = fill.provider.get_transaction_count(fill.account(RELAYER)).await?;
    Ok(Reorg { depth: DEPTH, millis, undone: undone as u64 })
}
