//! `openlease-gateway --upstream URL`: the gateway as a reverse proxy in front of any HTTP
//! service ([`openlease_gateway::proxy`]), served with the limits a server facing strangers needs
//! ([`openlease_gateway::serve`]).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alloy::signers::local::PrivateKeySigner;
use clap::Parser;
use eyre::{WrapErr, bail};
use openlease_client::{Client, Manifest};
use openlease_gateway::{
    Gateway, GatewayConfig, ReceiptStore,
    proxy::{self, Upstream},
    serve::{self, Limits},
};

/// Serves an upstream HTTP service to tenants who pay for it with receipts.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The service behind the gateway.
    #[arg(long)]
    upstream: String,
    /// Where the gateway listens.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The node.
    #[arg(long, env = "OPENLEASE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// Requests per second to the node at most (a hosted plan's rate); refused and failed
    /// requests are asked again with backoff whatever the cap.
    #[arg(long, env = "OPENLEASE_RPC_MAX_RPS")]
    rpc_max_rps: Option<std::num::NonZeroU32>,
    /// The deployment manifest of the market.
    #[arg(long, env = "OPENLEASE_MANIFEST", default_value = "deployments/31337.json")]
    manifest: PathBuf,
    /// The provider's key (hex): leases are served for it and receipts settled by it. Prefer
    /// --keystore outside CI.
    #[arg(long, env = "OPENLEASE_PRIVATE_KEY", hide_env_values = true, required_unless_present = "keystore")]
    private_key: Option<String>,
    /// The provider's key in an encrypted keystore file (`openlease key new`), its password from
    /// OPENLEASE_KEYSTORE_PASSWORD.
    #[arg(long, env = "OPENLEASE_KEYSTORE", conflicts_with = "private_key")]
    keystore: Option<PathBuf>,
    /// The key that signs every answer's attestation: the attestation key the provider
    /// registered [default: the provider's own key, its default attestation key].
    #[arg(long, env = "OPENLEASE_ATTESTATION_KEY", hide_env_values = true)]
    attestation_key: Option<String>,
    /// The receipt book: `sqlite://PATH` (one gateway) or `postgres://…` (replicas share it).
    #[arg(long, env = "OPENLEASE_GATEWAY_DB", default_value = "sqlite://.openlease-gateway/receipts.db")]
    db: String,
    /// Seconds of service (at the lease's price) a tenant may owe without a receipt.
    #[arg(long, default_value_t = 60)]
    credit_secs: u64,
    /// Seconds between settlement polls.
    #[arg(long, default_value_t = 5)]
    settle_every: u64,
    /// The most a lease may hold accepted and unsettled, in seconds of its price: a receipt past
    /// it is settled before its request is served.
    #[arg(long, default_value_t = 600)]
    max_unsettled_secs: u64,
    /// The largest request body proxied, in bytes (answers are streamed, whatever their size).
    #[arg(long, default_value_t = 16 << 20)]
    max_body: usize,
    /// Seconds the upstream may stay silent: connecting, before its answer, and between two
    /// chunks of it. A stream may last as long as it keeps producing.
    #[arg(long, default_value_t = 60)]
    upstream_idle_secs: u64,
    /// Seconds a client has to send a request's head; a connection silent for longer is closed.
    #[arg(long, default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds a client may stay silent while it sends a request's body (408 `body_timeout`).
    #[arg(long, default_value_t = 10)]
    body_idle_secs: u64,
    /// Connections open at once; past it the oldest idle one is closed to make room.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// The largest request head (request line and headers), in bytes.
    #[arg(long, default_value_t = 16 << 10)]
    max_header_bytes: usize,
}

/// The provider's key: from --keystore (with OPENLEASE_KEYSTORE_PASSWORD), else --private-key.
fn signer(args: &Args) -> eyre::Result<PrivateKeySigner> {
    if let Some(path) = &args.keystore {
        let password = std::env::var("OPENLEASE_KEYSTORE_PASSWORD")
            .map_err(|_| eyre::eyre!("set OPENLEASE_KEYSTORE_PASSWORD to open the keystore {}", path.display()))?;
        return PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| {
            eyre::eyre!("cannot open the keystore {}: {e} (check the file and its password)", path.display())
        });
    }
    let key = args.private_key.as_deref().unwrap_or_default();
    key.trim()
        .parse()
        .map_err(|_| eyre::eyre!("the private key (--private-key or OPENLEASE_PRIVATE_KEY) is not a 32-byte hex key"))
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let key = signer(&args)?;
    let attestation_key = match &args.attestation_key {
        Some(hex) => hex.trim().parse::<PrivateKeySigner>().wrap_err("--attestation-key is not a private key")?,
        None => key.clone(),
    };
    let manifest = Manifest::load(&args.manifest)
        .wrap_err("reading the deployment manifest (pass --manifest with the market's deployments/<chainId>.json)")?;
    // The book first: a malformed --db is said before any node is asked.
    let store = ReceiptStore::open(&args.db).await?;
    let policy = openlease_client::RetryPolicy::default().with_max_rps(args.rpc_max_rps);
    let client = Client::connect_with(&args.rpc_url, key, manifest, policy)
        .await
        .wrap_err_with(|| format!("connecting to the node at {} (is it running? pass --rpc-url)", args.rpc_url))?;
    let config = GatewayConfig {
        credit_secs: args.credit_secs,
        max_unsettled_secs: args.max_unsettled_secs,
        settle_every: Duration::from_secs(args.settle_every.max(1)),
        ..GatewayConfig::default()
    };
    let gateway = Gateway::open(client, store, config).await?;
    gateway.attest_with(attestation_key).await?;
    // What the book held when the process last stopped is settled first.
    if let Err(error) = gateway.settle_due().await {
        tracing::warn!(%error, "settling the book on start failed; retrying in the background");
    }
    let _settlement = gateway.spawn_settlement();

    let idle = Duration::from_secs(args.upstream_idle_secs.max(1));
    let upstream = Upstream::new(&args.upstream, args.max_body, idle)?
        .with_body_idle(Duration::from_secs(args.body_idle_secs.max(1)));
    let app = proxy::app(&gateway, upstream);
    let listener = serve::bind(args.listen).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            eyre::eyre!("{} is in use: stop what listens there or pass --listen", args.listen)
        } else {
            eyre::eyre!("listening on {}: {e}", args.listen)
        }
    })?;
    let max_connections = serve::fit_open_files(args.max_connections).wrap_err("raising the open-files limit")?;
    if max_connections < args.max_connections {
        tracing::warn!(
            max_connections,
            "the open-files limit (ulimit -n) leaves room for fewer connections than --max-connections"
        );
    }
    let limits = Limits {
        header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
        max_connections,
        max_header_bytes: args.max_header_bytes,
    };
    tracing::info!(listen = %args.listen, upstream = %args.upstream, "gateway up: /openlease/health, /openlease/metrics");
    serve::serve(listener, app, limits).await;
    bail!("the server stopped")
}
