//! `openlease-indexer`: mirror the market into SQLite or PostgreSQL and serve it; or audit a mirror.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use clap::{Parser, Subcommand};
use eyre::{WrapErr, bail};
use openlease_contracts::Manifest;
use openlease_indexer::{
    api::{self, ApiState},
    audit::audit,
    chain::Chain,
    ingest::{IngestConfig, Ingestor},
    metrics::Metrics,
    store::Store,
};

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

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Where the HTTP API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// `/health` fails when the mirror lags the head by more blocks than this.
    #[arg(long, default_value_t = 10)]
    max_lag: u64,
    /// Pause between polls at the head, in milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let db = cli.db.clone().unwrap_or_else(|| format!("sqlite://{}", cli.data_dir.join("indexer.db").display()));
    let store = Store::connect(&db).await.wrap_err_with(|| format!("opening {db}"))?;

    let probe = Chain::connect(&cli.rpc_url, Default::default())?;
    let chain_id = probe.chain_id().await.wrap_err_with(|| format!("reaching the node at {}", cli.rpc_url))?;
    let manifest_path = Manifest::path(&cli.deployments, chain_id);
    let manifest = Manifest::load(&manifest_path)?;
    let chain = Chain::connect(&cli.rpc_url, manifest.market())?;

    match cli.command {
        Command::Audit => {
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
        Command::Run(args) => run(store, chain, manifest, args).await,
    }
}

async fn run(store: Store, chain: Chain, manifest: Manifest, args: RunArgs) -> eyre::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let notices = tokio::sync::broadcast::channel(4096).0;
    let state = ApiState { store: store.clone(), metrics: metrics.clone(), max_lag: args.max_lag, notices: notices.clone() };
    let listener = tokio::net::TcpListener::bind(args.listen).await.wrap_err_with(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %args.listen, "API up: /v1, /health, /metrics");
    let server = tokio::spawn(async move { axum::serve(listener, api::router(state)).await });

    let _lock = store.lock_writer(Duration::from_secs(1)).await?;
    tracing::info!("writer lock held: ingesting");
    let config = IngestConfig { poll_interval: Duration::from_millis(args.poll_ms), ..Default::default() };
    let ingestor = Ingestor::start(store, chain, &manifest, config, metrics).await?.with_notices(notices);
    tokio::select! {
        result = ingestor.run() => result.wrap_err("ingestion stopped"),
        result = server => Err(eyre::eyre!("the API server stopped: {result:?}")),
    }
}
