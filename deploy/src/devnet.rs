//! `openlease-deploy devnet`: the one-command local market. Starts anvil, deploys the suite with
//! mock stablecoins, then, through the SDK as real users would, seeds three providers, two
//! tenants with leases, a session signer and one dispute, and keeps the market alive: the signer
//! issues receipts every few seconds, the providers verify each and settle them in batches.
//! Ctrl-C stops everything; anvil dies with the process.

use std::{path::PathBuf, time::Duration};

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use clap::Args;
use eyre::{WrapErr, eyre};
use openlease_client::{Client, LeaseRequest, OfferTerms, ProviderDetails, ReceiptVerifier};
use openlease_deploy::{Deployer, Manifest, NetworkConfig};

/// Options of the devnet. anvil mines a block per transaction while the market is seeded, then
/// every `--block-time` seconds.
#[derive(Args)]
pub(crate) struct DevnetArgs {
    /// Port anvil listens on (127.0.0.1).
    #[arg(long, default_value_t = 8545, env = "OPENLEASE_DEVNET_PORT")]
    port: u16,
    /// Chain id of the devnet.
    #[arg(long, default_value_t = 31337, env = "OPENLEASE_DEVNET_CHAIN_ID")]
    chain_id: u64,
    /// Seconds between blocks.
    #[arg(long, default_value_t = 1)]
    block_time: u64,
    /// Seconds between receipts.
    #[arg(long, default_value_t = 3)]
    receipt_interval: u64,
    /// The anvil binary.
    #[arg(long, default_value = "node_modules/.bin/anvil", env = "OPENLEASE_ANVIL")]
    anvil: PathBuf,
    /// Network config the suite is deployed with.
    #[arg(long, default_value = "deploy/config/devnet.toml")]
    config: PathBuf,
    /// Where the manifest goes.
    #[arg(long, default_value = "deployments")]
    deployments_dir: PathBuf,
    /// The indexer binary; the devnet runs it with its HTTP API. Without it, no indexer runs.
    #[arg(long, env = "OPENLEASE_INDEXER")]
    indexer: Option<PathBuf>,
    /// Where the indexer's HTTP API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    indexer_listen: String,
}

/// One USDC, in its 6-decimal units.
const USDC: u64 = 1_000_000;

/// A seeded provider and the receipts it holds of each tenant's session signer.
struct DevnetProvider {
    name: &'static str,
    price: u64,
    offer: U256,
    client: Client<DynProvider>,
    verifiers: Vec<(Address, ReceiptVerifier)>,
}

struct LiveLease {
    id: U256,
    tenant: Address,
    provider: Address,
    price: u64,
    started_at: u64,
}

pub(crate) async fn run(args: DevnetArgs) -> eyre::Result<()> {
    let anvil = Anvil::new()
        .path(&args.anvil)
        .port(args.port)
        .chain_id(args.chain_id)
        .args(["--slots-in-an-epoch", "1"])
        .try_spawn()
        .wrap_err_with(|| {
            format!(
                "cannot start anvil ({}) on port {}: is the toolchain installed (make toolchain) and the port free?",
                args.anvil.display(),
                args.port
            )
        })?;
    let result = tokio::select! {
        result = serve(&anvil, &args) => result,
        _ = tokio::signal::ctrl_c() => {
            println!("\nstopping the devnet");
            Ok(())
        }
    };
    drop(anvil); // kills the node
    result
}

async fn serve(anvil: &AnvilInstance, args: &DevnetArgs) -> eyre::Result<()> {
    let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| PrivateKeySigner::from(k.clone())).collect();
    let rpc = anvil.endpoint();
    let deployer =
        ProviderBuilder::new().wallet(EthereumWallet::from(keys[0].clone())).connect_http(anvil.endpoint_url()).erased();
    let mut config = NetworkConfig::load(&args.config)?;
    config.chain_id = args.chain_id;
    let (manifest, _) = Deployer::new(deployer.clone(), keys[0].address(), rpc.clone(), config).deploy(None).await?;
    let manifest_path = Manifest::path(&args.deployments_dir, args.chain_id);
    manifest.save(&manifest_path)?;
    let usdc = manifest.stablecoin("USDC").ok_or_else(|| eyre!("the devnet config deploys no USDC"))?.address;

    // Everything from here on is what a provider or a tenant would do with the SDK.
    let mut providers = Vec::new();
    for (index, name, region, price) in [(1, "provider-1", "eu-west", 100), (2, "provider-2", "us-east", 150), (3, "provider-3", "ap-south", 250)] {
        let client = Client::connect(&rpc, keys[index].clone(), manifest.clone()).await?;
        client
            .register_provider(
                &ProviderDetails {
                    metadata_uri: format!("ipfs://openlease-devnet/{name}"),
                    endpoint: format!("https://{name}.devnet.openlease.local"),
                    region: region.into(),
                    attributes_hash: keccak256(format!("gpu:a100;vcpu:32;region:{region}")),
                },
                client.address(),
            )
            .await?;
        client.send(client.token(usdc).mint(client.address(), U256::from(100_000 * USDC))).await?;
        client.stake(usdc, U256::from(10_000 * USDC)).await?;
        let terms = OfferTerms {
            token: usdc,
            price_per_second: price,
            min_duration: 60,
            max_duration: 30 * 86_400,
            notice_period: 3_600,
            capacity: 10,
        };
        let offer = client.publish_offer(&terms).await?;
        providers.push(DevnetProvider { name, price, offer, client, verifiers: Vec::new() });
    }

    // Both tenants' services sign receipts with one session signer.
    let session = keys[6].clone();
    let mut tenants = Vec::new();
    for index in [4, 5] {
        let tenant = Client::connect(&rpc, keys[index].clone(), manifest.clone()).await?;
        tenant.send(tenant.token(usdc).mint(tenant.address(), U256::from(100_000 * USDC))).await?;
        let expiry = tenant.now().await? + 30 * 86_400;
        tenant.authorize_signer(session.address(), U256::from(5_000 * USDC), expiry).await?;
        tenants.push(tenant);
    }
    // MockUSDC has EIP-2612, so the SDK pays every deposit by permit: no approval transaction.
    let mut leases = Vec::new();
    for (tenant, provider) in [(0, 0), (0, 1), (1, 2)] {
        leases.push(open_lease(&tenants[tenant], &providers[provider]).await?);
    }
    let disputed = open_lease(&tenants[0], &providers[2]).await?;
    tenants[0].open_dispute(disputed.id, "ipfs://openlease-devnet/evidence/latency-sla").await?;
    leases.push(disputed);

    // Each provider checks every receipt before serving more: one verifier per tenant's signer.
    for lease in &leases {
        let provider = providers.iter_mut().find(|p| p.client.address() == lease.provider).expect("a seeded provider");
        let at = match provider.verifiers.iter().position(|(tenant, _)| *tenant == lease.tenant) {
            Some(at) => at,
            None => {
                let terms = provider.client.session_signer(lease.tenant, session.address()).await?;
                let verifier = ReceiptVerifier::new(provider.client.receipt_domain(), session.address(), terms);
                provider.verifiers.push((lease.tenant, verifier));
                provider.verifiers.len() - 1
            }
        };
        provider.verifiers[at].1.add_lease(lease.id, U256::ZERO);
    }

    // Seeded with a block per transaction; from now on blocks come at the configured interval.
    deployer.anvil_set_interval_mining(args.block_time).await?;
    let _indexer = match &args.indexer {
        Some(binary) => Some(spawn_indexer(binary, anvil, args)?),
        None => None,
    };

    print_banner(anvil, &manifest, &manifest_path, &providers, &tenants, &session, &keys);
    if args.indexer.is_some() {
        println!("  indexer API http://{}/v1/leases  (also /v1/providers, /v1/stats, /health, /metrics)\n", args.indexer_listen);
    }

    let signer = tenants[0].receipt_signer(session.clone());
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(Duration::from_secs(args.receipt_interval)).await;
        tick += 1;
        let now = tenants[0].now().await?;
        for lease in &leases {
            let consumed = U256::from(lease.price * now.saturating_sub(lease.started_at));
            let receipt = signer.sign_usage(lease.id, consumed, keccak256((lease.id, now).abi_encode()), now)?;
            let provider = providers.iter_mut().find(|p| p.client.address() == lease.provider).expect("a seeded provider");
            let (_, verifier) =
                provider.verifiers.iter_mut().find(|(tenant, _)| *tenant == lease.tenant).expect("one per tenant");
            verifier.accept(receipt, now)?;
        }
        println!("block time {now}: session signer issued {} receipts, providers verified them", leases.len());
        if !tick.is_multiple_of(3) {
            continue;
        }
        for provider in &mut providers {
            let client = &provider.client;
            let before = client.claimable(client.address(), usdc).await?;
            let mut settled = 0;
            for (_, verifier) in &mut provider.verifiers {
                settled += client.settle_book(verifier.book_mut()).await?.iter().filter(|o| o.is_settled()).count();
            }
            let after = client.claimable(client.address(), usdc).await?;
            println!("  {} settled {settled} lease(s): +{} claimable", provider.name, client.amount(usdc, after - before));
        }
    }
}

/// Starts the indexer on a fresh database (the chain is new), as a child that dies with the devnet.
fn spawn_indexer(binary: &std::path::Path, anvil: &AnvilInstance, args: &DevnetArgs) -> eyre::Result<tokio::process::Child> {
    let data_dir = PathBuf::from(".devnet/indexer");
    let _ = std::fs::remove_dir_all(&data_dir);
    tokio::process::Command::new(binary)
        .arg("--rpc-url")
        .arg(format!("http://127.0.0.1:{}", anvil.port()))
        .arg("--deployments")
        .arg(&args.deployments_dir)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["run", "--listen", &args.indexer_listen])
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .wrap_err_with(|| format!("cannot start the indexer {}", binary.display()))
}

async fn open_lease(tenant: &Client<DynProvider>, provider: &DevnetProvider) -> eyre::Result<LiveLease> {
    let quote = tenant.offer_quote(provider.offer).await?;
    let request = LeaseRequest::new(&quote, 7 * 86_400, U256::from(50 * USDC));
    let opening = tenant.open_lease(request).await?;
    let lease = tenant.lease(opening.lease_id).await?;
    Ok(LiveLease {
        id: opening.lease_id,
        tenant: tenant.address(),
        provider: provider.client.address(),
        price: provider.price,
        started_at: u64::from(lease.startedAt),
    })
}

fn index_of(keys: &[PrivateKeySigner], address: Address) -> usize {
    keys.iter().position(|k| k.address() == address).expect("a devnet account")
}

fn print_banner(
    anvil: &AnvilInstance,
    manifest: &Manifest,
    manifest_path: &std::path::Path,
    providers: &[DevnetProvider],
    tenants: &[Client<DynProvider>],
    session: &PrivateKeySigner,
    keys: &[PrivateKeySigner],
) {
    let key = |s: &PrivateKeySigner| format!("0x{}", alloy::hex::encode(s.to_bytes()));
    let rpc = format!("http://127.0.0.1:{}", anvil.port());
    let market = manifest.market();
    println!("\nOpenlease devnet is up. Ctrl-C stops it.\n");
    println!("  RPC URL     {rpc}  (chain id {})", manifest.chain_id);
    println!("  manifest    {}", manifest_path.display());
    println!("  Openlease   {market}");
    for coin in &manifest.stablecoins {
        println!("  {:<11} {}  ({} decimals)", coin.symbol, coin.address, coin.decimals);
    }
    println!("\n  funded accounts (10,000 ETH each):");
    println!("  {:<15} {}  {}", "deployer/admin", keys[0].address(), key(&keys[0]));
    for p in providers {
        println!("  {:<15} {}  {}", p.name, p.client.address(), key(&keys[index_of(keys, p.client.address())]));
    }
    for (i, t) in tenants.iter().enumerate() {
        println!("  {:<15} {}  {}", format!("tenant-{}", i + 1), t.address(), key(&keys[index_of(keys, t.address())]));
    }
    for i in [8, 9] {
        println!("  {:<15} {}  {}", format!("free-{i}"), keys[i].address(), key(&keys[i]));
    }
    println!("  {:<15} {}  {}", "session signer", session.address(), key(session));
    println!("  {:<15} {}  {}", "arbiter", manifest.roles.arbiter, key(&keys[7]));
    println!("\n  free-8 and free-9 are yours: the devnet never sends from them. Try, in another terminal:");
    println!("  alias openlease='cargo run -q -p openlease-cli --'");
    println!("  openlease offer list && openlease lease show 1");
    println!("  OPENLEASE_PRIVATE_KEY={} openlease token mint '100 USDC'", key(&keys[9]));
    println!("  OPENLEASE_PRIVATE_KEY={} openlease lease open 1 --duration 1d --deposit '20 USDC'", key(&keys[9]));
    println!("  cargo run -p openlease-client --example provider_lifecycle   # and tenant_lifecycle, receipt_loop");
    println!("  node_modules/.bin/cast call {market} 'leaseCount()(uint256)' --rpc-url {rpc}\n");
}
