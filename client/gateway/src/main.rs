//! `openlease-gateway --upstream URL`: the gateway as a reverse proxy in front of any HTTP
//! service. Requests it admits go to the upstream with their method, path, query, headers and
//! body; the answer comes back as it is. Bodies are buffered (up to `--max-body`).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alloy::signers::local::PrivateKeySigner;
use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderName, StatusCode},
    response::{IntoResponse, Response},
};
use clap::Parser;
use eyre::{WrapErr, bail};
use openlease_client::{Client, Manifest};
use openlease_gateway::{Gateway, GatewayConfig, ReceiptStore};

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
    /// The deployment manifest of the market.
    #[arg(long, env = "OPENLEASE_MANIFEST", default_value = "deployments/31337.json")]
    manifest: PathBuf,
    /// The provider's key: leases are served for it and receipts settled by it.
    #[arg(long, env = "OPENLEASE_PRIVATE_KEY", hide_env_values = true)]
    private_key: String,
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
    /// The largest request or answer body proxied, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_body: usize,
}

#[derive(Clone)]
struct Upstream {
    http: reqwest::Client,
    base: String,
    max_body: usize,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let key: PrivateKeySigner = args.private_key.trim().parse().map_err(|_| {
        eyre::eyre!("the private key (--private-key or OPENLEASE_PRIVATE_KEY) is not a 32-byte hex key")
    })?;
    let manifest = Manifest::load(&args.manifest)
        .wrap_err("reading the deployment manifest (pass --manifest with the market's deployments/<chainId>.json)")?;
    // The book first: a malformed --db is said before any node is asked.
    let store = ReceiptStore::open(&args.db).await?;
    let client = Client::connect(&args.rpc_url, key, manifest)
        .await
        .wrap_err_with(|| format!("connecting to the node at {} (is it running? pass --rpc-url)", args.rpc_url))?;
    let config = GatewayConfig {
        credit_secs: args.credit_secs,
        max_unsettled_secs: args.max_unsettled_secs,
        settle_every: Duration::from_secs(args.settle_every.max(1)),
        ..GatewayConfig::default()
    };
    let gateway = Gateway::open(client, store, config).await?;
    // What the book held when the process last stopped is settled first.
    if let Err(error) = gateway.settle_due().await {
        tracing::warn!(%error, "settling the book on start failed; retrying in the background");
    }
    let _settlement = gateway.spawn_settlement();

    let upstream = Upstream {
        http: reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?,
        base: args.upstream.trim_end_matches('/').to_string(),
        max_body: args.max_body,
    };
    let routes = Router::new().fallback(proxy).with_state(upstream);
    let app = gateway.serve(routes);
    let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            eyre::eyre!("{} is in use: stop what listens there or pass --listen", args.listen)
        } else {
            eyre::eyre!("listening on {}: {e}", args.listen)
        }
    })?;
    tracing::info!(listen = %args.listen, upstream = %args.upstream, "gateway up: /openlease/health, /openlease/metrics");
    axum::serve(listener, app).await?;
    bail!("the server stopped")
}

/// Hop-by-hop headers, and the gateway's own, stay out of the forwarded request.
fn forwarded(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host" | "connection" | "keep-alive" | "transfer-encoding" | "te" | "upgrade" | "proxy-connection"
    ) && !name.as_str().starts_with("openlease-")
}

async fn proxy(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(body) = to_bytes(body, upstream.max_body).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than the gateway's --max-body")
            .into_response();
    };
    let mut outgoing = upstream.http.request(parts.method.clone(), format!("{}{path}", upstream.base)).body(body);
    for (name, value) in parts.headers.iter().filter(|(name, _)| forwarded(name)) {
        outgoing = outgoing.header(name, value);
    }
    match outgoing.send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            match answer.bytes().await {
                Ok(bytes) => {
                    let mut response = Response::new(Body::from(bytes));
                    *response.status_mut() = status;
                    for (name, value) in headers.iter().filter(|(name, _)| forwarded(name)) {
                        response.headers_mut().insert(name, value.clone());
                    }
                    response
                }
                Err(e) => bad_gateway(&e),
            }
        }
        Err(e) => bad_gateway(&e),
    }
}

fn bad_gateway(error: &reqwest::Error) -> Response {
    let body = serde_json::json!({
        "error": "upstream_unavailable",
        "message": format!("the service behind the gateway did not answer: {error}"),
        "hint": "the provider's service is down; retry, or fail over to another provider",
    });
    (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
}
