//! `openlease-indexer`: mirror the market into SQLite or PostgreSQL and serve it, or audit a
//! mirror. Its benchmark is `openlease-indexer-bench` (indexer/bench), which needs a node and
//! the deploy tool that production never links.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use clap::{Parser, Subcommand};
use eyre::{WrapErr, bail};
use openlease_contracts::Manifest;
use openlease_indexer::{
    actions::{self, ActionsState},
    alerts::{self, AlertConfig, Alerts, AlertsAccess},
    api::{self, ApiState},
    audit::audit,
    chain::{Chain, RetryPolicy, RpcErrorClass},
    console::{self, ConsoleState},
    ingest::{IngestConfig, Ingestor},
    metadata::{MetadataChecker, MetadataConfig},
    metrics::Metrics,
    store::Store,
};

/// Its reads allocate a row, a string and a page at a time, from every core at once: with
/// mimalloc the bench's uncached reads served 20-83% more per second on PostgreSQL and up to 65%
/// more on SQLite than with glibc's allocator, measured back to back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The node's JSON-RPC endpoint.
    #[arg(long, env = "OPENLEASE_RPC_URL", default_value = "http://127.0.0.1:8545", global = true)]
    rpc_url: String,
    /// Directory of `<chainId>.json` deployment manifests.
    #[arg(long, default_value = "deployments", global = true)]
    deployments: PathBuf,
    /// `sqlite://PATH` or `postgres://...`; default: a SQLite file under `--data-dir`.
    #[arg(long, env = "OPENLEASE_INDEXER_DB", global = true)]
    db: Option<String>,
    /// Where the default SQLite database lives.
    #[arg(long, default_value = ".openlease-indexer", global = true)]
    data_dir: PathBuf,
    /// At start-up, how long to keep asking a node that refuses (429), fails (5xx) or is not up
    /// yet before giving up, in seconds.
    #[arg(long, default_value_t = 60, global = true)]
    node_wait_secs: u64,
    /// How long one request to the node is asked again while it refuses or fails it, in
    /// seconds; past that the step fails, is counted, and is tried again after a backoff.
    #[arg(long, default_value_t = 10, global = true)]
    rpc_patience_secs: u64,
    /// Requests per second to the node at most (a hosted plan's rate); none by default.
    #[arg(long, env = "OPENLEASE_RPC_MAX_RPS", global = true)]
    rpc_max_rps: Option<std::num::NonZeroU32>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest (as the single writer, or as a standby until the writer goes) and serve the API.
    Run(RunArgs),
    /// Compare the mirror with the contract's view calls at the mirror's block; exit 1 on any divergence.
    Audit,
}

#[derive(Debug, Clone, clap::Args)]
struct RunArgs {
    /// Where the HTTP API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// `/health` fails when the mirror lags the head by more blocks than this.
    #[arg(long, default_value_t = 10)]
    max_lag: u64,
    /// `/health` fails when the node has not told its head for this many seconds.
    #[arg(long, default_value_t = 15)]
    max_head_age: u64,
    /// Pause between polls at the head, in milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// Largest `eth_getLogs` range, in blocks (for nodes that cap it; ranges also shrink by
    /// themselves when a node says a range was too much).
    #[arg(long, default_value_t = 50_000)]
    max_range: u64,
    /// The bearer token that may create and delete webhook alert subscriptions (`/v1/alerts`);
    /// without it alerts are off.
    #[arg(long, env = "OPENLEASE_ALERTS_TOKEN", hide_env_values = true)]
    alerts_token: Option<String>,
    /// Longest pause between two attempts to deliver an alert to a receiver that is down, in
    /// seconds (pauses double from half a second up to this).
    #[arg(long, default_value_t = 300)]
    alerts_max_backoff_secs: u64,
    /// Fetch providers' metadata documents from hosts on loopback or private networks too (a
    /// devnet's); by default only public addresses are fetched.
    #[arg(long)]
    metadata_allow_private_hosts: bool,
    /// An IPFS HTTP gateway (`https://ipfs.io`) to read `ipfs://` metadata URIs through.
    #[arg(long, env = "OPENLEASE_IPFS_GATEWAY")]
    ipfs_gateway: Option<String>,
}

fn main() -> eyre::Result<()> {
    tune_malloc();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(command())
}

/// glibc's allocator, as a backfill needs it. It gives each thread that meets contention an arena
/// of its own (up to 8 per core), and memory freed in one is not reused by another: two arenas.
/// And once a large block (a range's response, a batch of logs) is freed, it raises its threshold
/// for serving large blocks from their own mappings to that size, so the next ones are carved from
/// the heap, which then only grows: a fixed threshold (128 KiB, its default start) hands each back
/// to the system when freed. Together they took a 500k-event backfill from 198 to 145 MiB
/// (SQLite) and 178 to 118 MiB (PostgreSQL) at the same speed. Set before any thread starts.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets tunables of the allocator; it is called before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Hands memory freed inside the heap back to the system twice a second. A backfill frees a
/// batch's logs, rows and statements in the middle of heaps that later allocations partly reuse:
/// without this, resident memory keeps what the busiest moment fragmented (129 to 169 MiB at the
/// peak of a million-event backfill into SQLite, depending on timing).
async fn trim_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // SAFETY: `malloc_trim` only returns free pages to the system; any thread may call it.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

async fn command() -> eyre::Result<()> {
    tokio::spawn(trim_freed_memory());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    match &cli.command {
        Command::Audit => {
            let wait = Duration::from_secs(cli.node_wait_secs);
            let (store, chain, _) = connect(&cli, wait).await?;
            let report = audit(&store, &chain).await?;
            for divergence in &report.divergences {
                println!("{divergence}");
            }
            println!(
                "audit at block {}: {} fields checked, {} divergences",
                report.block,
                report.checked,
                report.divergences.len()
            );
            if !report.divergences.is_empty() {
                bail!("the mirror diverges from the chain");
            }
            Ok(())
        }
        Command::Run(args) => {
            let wait = Duration::from_secs(cli.node_wait_secs);
            let (store, chain, manifest) = connect(&cli, wait).await?;
            run(store, chain, manifest, args.clone(), wait).await
        }
    }
}

/// Opens the database and reaches the node; the market comes from the chain's manifest.
async fn connect(cli: &Cli, wait: Duration) -> eyre::Result<(Store, Chain, Manifest)> {
    let db = cli.db.clone().unwrap_or_else(|| format!("sqlite://{}", cli.data_dir.join("indexer.db").display()));
    let store = match Store::connect(&db).await {
        Ok(store) => store,
        Err(error) if error.to_string().contains("does not exist") => {
            let name = db.rsplit('/').next().and_then(|n| n.split('?').next()).unwrap_or_default();
            return Err(error).wrap_err(format!(
                "opening {db}: the database does not exist; create it first (`createdb {name}` as a PostgreSQL \
                 superuser, or `CREATE DATABASE {name};`), then start again"
            ));
        }
        Err(error) => return Err(error).wrap_err_with(|| format!("opening {db}")),
    };
    let policy = RetryPolicy::default().with_max_rps(cli.rpc_max_rps);
    // A node being started, or refusing, is waited for up to `wait` at start-up.
    let probe = Chain::connect(&cli.rpc_url, Default::default(), policy.with_patience(wait))?;
    let chain_id = probe.chain_id().await.wrap_err_with(|| {
        format!(
            "reaching the node at {} (for {} s): is it running? Give its URL with --rpc-url (or OPENLEASE_RPC_URL)",
            cli.rpc_url,
            wait.as_secs()
        )
    })?;
    let manifest = Manifest::load(&Manifest::path(&cli.deployments, chain_id))?;
    let chain = Chain::connect(
        &cli.rpc_url,
        manifest.market(),
        policy.with_patience(Duration::from_secs(cli.rpc_patience_secs)),
    )?;
    Ok((store, chain, manifest))
}

/// Runs `attempt` until it succeeds, fails for a reason retrying cannot help, or `wait` has passed
/// (then its last error): a step of several requests, each retried on its own for less, after a
/// node that went away again at start-up. Backs off by the shared retry policy.
async fn patiently<T, F, Fut>(wait: Duration, what: &str, mut attempt: F) -> openlease_indexer::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = openlease_indexer::Result<T>>,
{
    use openlease_indexer::IndexerError;
    let started = std::time::Instant::now();
    let policy = RetryPolicy::default();
    let mut retry = 0;
    loop {
        let delay = policy.delay(retry, None);
        match attempt().await {
            // Not only transient failures: a node behind a load balancer may not have the
            // cursor's block yet.
            Err(IndexerError::Rpc { class, message })
                if class != RpcErrorClass::RangeTooLarge && started.elapsed() + delay < wait =>
            {
                tracing::warn!(%class, %message, "asking the node for {what} failed; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                retry += 1;
            }
            result => return result,
        }
    }
}

/// The manifest's stablecoins with the decimals each token states (the chain's word, as the
/// mirror's values use it); a manifest that says otherwise is stale, and said so.
async fn coins_as_the_tokens_say(
    chain: &Chain,
    manifest: &Manifest,
    wait: Duration,
) -> eyre::Result<Vec<openlease_contracts::manifest::StablecoinEntry>> {
    let mut coins = manifest.stablecoins.clone();
    for coin in &mut coins {
        let decimals = patiently(wait, "a token's decimals", || chain.decimals(coin.address)).await?;
        if decimals != coin.decimals {
            tracing::warn!(
                token = %coin.address, symbol = %coin.symbol, manifest = coin.decimals, token_says = decimals,
                "the manifest is stale: it states other decimals than the token; the token's are used"
            );
            coin.decimals = decimals;
        }
    }
    Ok(coins)
}

async fn run(store: Store, chain: Chain, manifest: Manifest, args: RunArgs, wait: Duration) -> eyre::Result<()> {
    let metrics = Arc::new(Metrics::default());
    metrics.watch_rpc(chain.rpc_stats());
    let notices = tokio::sync::broadcast::channel(4096).0;
    let state = ApiState {
        store: store.clone(),
        metrics: metrics.clone(),
        max_lag: args.max_lag,
        max_head_age: args.max_head_age,
        notices: notices.clone(),
    };
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.wrap_err_with(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(listen = %address, "API up: /v1, /health, /metrics; console at http://{address}/");
    let coins = coins_as_the_tokens_say(&chain, &manifest, wait).await?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let alerts_access = AlertsAccess { store: store.clone(), token: args.alerts_token.clone(), wake: wake.clone() };
    let app = api::router(state.clone())
        .merge(alerts::router(alerts_access))
        .merge(actions::router(ActionsState::new(chain.provider().clone(), manifest.clone())))
        .merge(console::router(ConsoleState::new(state, &coins)));
    let mut server = tokio::spawn(async move { axum::serve(listener, app).await });

    // Until it holds the lock this instance is a standby: it serves the writer's mirror and
    // tracks how far that mirror lags the node, which is what its `/health` reports.
    let standby = tokio::spawn(follow_as_standby(store.clone(), chain.clone(), metrics.clone()));
    let _lock = store.lock_writer(Duration::from_secs(1)).await?;
    standby.abort();
    tracing::info!("writer lock held: ingesting");
    let config = IngestConfig {
        poll_interval: Duration::from_millis(args.poll_ms),
        max_range: args.max_range,
        ..Default::default()
    };
    // Alerts are derived and sent by the writer only: one outbox, one sender.
    let alert_config = AlertConfig {
        token: args.alerts_token.clone(),
        max_backoff: Duration::from_secs(args.alerts_max_backoff_secs.max(1)),
        ..Default::default()
    };
    let alerts = Alerts::new(store.clone(), alert_config, manifest.chain_id).with_metrics(metrics.clone());
    tokio::spawn(alerts.run(notices.subscribe(), wake));
    let metadata_config = MetadataConfig {
        allow_private_hosts: args.metadata_allow_private_hosts,
        ipfs_gateway: args.ipfs_gateway.clone(),
        ..Default::default()
    };
    tokio::spawn(MetadataChecker::new(store.clone(), metadata_config).run(notices.subscribe()));
    let ingestion = async {
        let ingestor = patiently(wait, "the chain at the mirror's cursor", || {
            Ingestor::start(store.clone(), chain.clone(), &manifest, config.clone(), metrics.clone())
        })
        .await?;
        ingestor.with_notices(notices).run().await
    };
    let stopped = tokio::select! {
        result = ingestion => result,
        result = &mut server => return Err(eyre::eyre!("the API server stopped: {result:?}")),
    };
    match stopped {
        // Only an operator can go on: the mirror as it was stays served, marked as stopped, and
        // `/health` says why, so that a load balancer sees an unhealthy instance, not a dead one.
        Err(error @ openlease_indexer::IndexerError::ReorgTooDeep { .. }) => {
            let at_block = store.cursor().await.ok().flatten().map_or(0, |c| c.number);
            tracing::error!(%error, at_block, "ingestion stopped until an operator acts; still serving the mirror");
            metrics.stop(at_block, error.to_string());
            let result = server.await;
            Err(eyre::eyre!("the API server stopped: {result:?}"))
        }
        result => result.wrap_err("ingestion stopped"),
    }
}

/// A standby's view of the mirror it serves: the node's head against the writer's cursor, every second.
async fn follow_as_standby(store: Store, chain: Chain, metrics: Arc<Metrics>) {
    loop {
        match (chain.head().await, store.cursor().await) {
            (Ok(head), Ok(Some(cursor))) => metrics.record_head(head, cursor.number),
            (Ok(_), Ok(None)) => {}
            (Err(error), _) => tracing::debug!(%error, "standby: reading the head failed"),
            (_, Err(error)) => tracing::debug!(%error, "standby: reading the cursor failed"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
