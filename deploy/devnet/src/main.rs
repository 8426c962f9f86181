//! `openlease-devnet`: the one-command local market. Starts anvil, deploys the suite with mock
//! stablecoins, then, through the SDK as real users would, seeds three providers, two tenants with
//! leases, a session signer and one dispute, and keeps the market alive: the signer issues
//! receipts every few seconds, the providers verify each and settle them in batches.
//!
//! Ctrl-C, SIGTERM (`kill`, systemd, containers), SIGHUP and SIGQUIT all stop everything: anvil
//! and the indexer die with the devnet. A round of the market that fails (a dropped transaction,
//! a node that hiccups) is reported and the next round goes on.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use clap::Parser;
use eyre::{WrapErr, bail, eyre};
use openlease_client::{
    Client, LeaseRequest, OfferTerms, ProviderDetails, ReceiptVerifier, SettlementResult, TxPolicy, terms,
};
use openlease_deploy::{Deployer, Manifest, NetworkConfig};
use tokio::signal::unix::{SignalKind, signal};

/// The local Openlease market: anvil, the suite, seeded providers and tenants, the indexer.
/// anvil mines a block per transaction while the market is seeded, then every `--block-time`
/// seconds.
#[derive(Parser)]
#[command(version, about)]
struct DevnetArgs {
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
    indexer_listen: SocketAddr,
    /// The `openlease` CLI binary the banner's commands use [default: beside this binary].
    #[arg(long, env = "OPENLEASE_CLI")]
    cli: Option<PathBuf>,
}

/// Blocks come every second: a transaction the node lost is sent again within a second and a
/// round gives up on one after 30 s (the next round sends anew).
const TX_POLICY: TxPolicy = TxPolicy {
    timeout: Duration::from_secs(30),
    poll: Duration::from_millis(250),
    resend_after: Duration::from_secs(1),
    bump_after: Duration::from_secs(10),
    confirmations: 1,
};

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
    /// When it stops running (its end or its escrow's runway), as last read.
    lease_end: u64,
    /// Its final receipt settled: no more receipts.
    done: bool,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let args = DevnetArgs::parse();
    ensure_free(SocketAddr::from(([127, 0, 0, 1], args.port)), "anvil's RPC", "--port")?;
    if args.indexer.is_some() {
        ensure_free(args.indexer_listen, "the indexer's API", "--indexer-listen")?;
    }
    if !args.anvil.exists() {
        bail!(
            "the node binary {} does not exist: run `make toolchain` (or `make devnet`, which does) from the repository root, or pass --anvil",
            args.anvil.display()
        );
    }
    let anvil = Anvil::new()
        .path(&args.anvil)
        .port(args.port)
        .chain_id(args.chain_id)
        .args(["--slots-in-an-epoch", "1"])
        .try_spawn()
        .wrap_err_with(|| format!("cannot start anvil ({}) on port {}", args.anvil.display(), args.port))?;
    let mut signals = Vec::new();
    for kind in [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup(), SignalKind::quit()] {
        signals.push(signal(kind).wrap_err("installing the signal handlers")?);
    }
    let stop = futures_util::future::select_all(signals.iter_mut().map(|s| Box::pin(s.recv())));
    let result = tokio::select! {
        result = serve(&anvil, &args) => result,
        _ = stop => {
            println!("\nstopping the devnet: anvil and the indexer stop with it");
            Ok(())
        }
    };
    // Dropping `serve` killed the indexer; dropping anvil kills the node.
    drop(anvil);
    result
}

/// Refuses a port that is taken, naming it: anvil and the indexer would otherwise fail with
/// less helpful words (or, for anvil, none).
fn ensure_free(address: SocketAddr, what: &str, flag: &str) -> eyre::Result<()> {
    match TcpListener::bind(address) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "{address} ({what}) is in use: is another devnet running? Stop it (Ctrl-C, or `kill` its openlease-devnet process), or choose another port with {flag}"
        ),
        Err(e) => Err(e).wrap_err_with(|| format!("checking that {address} ({what}) is free")),
    }
}

async fn serve(anvil: &AnvilInstance, args: &DevnetArgs) -> eyre::Result<()> {
    let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| PrivateKeySigner::from(k.clone())).collect();
    let rpc = anvil.endpoint();
    let deployer = ProviderBuilder::new()
        .wallet(EthereumWallet::from(keys[0].clone()))
        .connect_http(anvil.endpoint_url())
        .erased();
    let mut config = NetworkConfig::load(&args.config)?;
    config.chain_id = args.chain_id;
    let (manifest, _) = Deployer::new(deployer.clone(), keys[0].address(), rpc.clone(), config).deploy(None).await?;
    let manifest_path = Manifest::path(&args.deployments_dir, args.chain_id);
    manifest.save(&manifest_path)?;
    let usdc = manifest.stablecoin("USDC").ok_or_else(|| eyre!("the devnet config deploys no USDC"))?.address;

    // Everything from here on is what a provider or a tenant would do with the SDK.
    let mut providers = Vec::new();
    for (index, name, region, price) in
        [(1, "provider-1", "eu-west", 100), (2, "provider-2", "us-east", 150), (3, "provider-3", "ap-south", 250)]
    {
        let client = Client::connect(&rpc, keys[index].clone(), manifest.clone()).await?.with_tx_policy(TX_POLICY);
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
        let tenant = Client::connect(&rpc, keys[index].clone(), manifest.clone()).await?.with_tx_policy(TX_POLICY);
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

    let key = |s: &PrivateKeySigner| format!("0x{}", alloy::hex::encode(s.to_bytes()));
    let mut accounts = vec![("deployer/admin".to_string(), keys[0].clone())];
    accounts.extend(providers.iter().map(|p| (p.name.to_string(), keys[index_of(&keys, p.client.address())].clone())));
    accounts.extend(
        tenants
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("tenant-{}", i + 1), keys[index_of(&keys, t.address())].clone())),
    );
    accounts.extend([8, 9].map(|i| (format!("free-{i}"), keys[i].clone())));
    accounts.push(("session signer".into(), session.clone()));
    accounts.push(("arbiter".into(), keys[7].clone()));
    let accounts: Vec<_> = accounts.into_iter().map(|(name, k)| (name, k.address(), key(&k))).collect();
    print_banner(anvil, args, &manifest, &manifest_path, &accounts);

    let signer = tenants[0].receipt_signer(session.clone());
    let mut last_now = tenants[0].now().await?;
    for round in 1u64.. {
        tokio::time::sleep(Duration::from_secs(args.receipt_interval)).await;
        let settle = round.is_multiple_of(3);
        match market_round(&signer, &tenants[0], &mut providers, &mut leases, usdc, settle, &mut last_now).await {
            Ok(()) => {}
            // The market goes on: the next round retries (receipts are cumulative, nothing is lost).
            Err(error) => println!("round {round} failed, retrying next round: {error:#}"),
        }
    }
    unreachable!("the market loop only ends with a signal")
}

/// One round of the market: the session signer issues a receipt for every running lease, the
/// providers verify them, and every third round they settle. Says what it does after the chain's
/// clock jumps (`openlease dev advance`) and when leases end.
async fn market_round(
    signer: &openlease_client::ReceiptSigner,
    chain: &Client<DynProvider>,
    providers: &mut [DevnetProvider],
    leases: &mut [LiveLease],
    usdc: Address,
    settle: bool,
    last_now: &mut u64,
) -> eyre::Result<()> {
    let now = chain.now().await?;
    let jump = now.saturating_sub(*last_now);
    *last_now = now;
    if jump > 600 {
        println!(
            "the chain's clock jumped {jump} s forward: receipts now pay for the time skipped, leases that ran out end and settle their final receipt"
        );
    }
    let mut issued = 0;
    for lease in leases.iter_mut().filter(|l| !l.done) {
        lease.lease_end = chain.market().leaseEnd(lease.id).call().await?.saturating_to();
        let served_until = now.min(lease.lease_end);
        let consumed = U256::from(lease.price * served_until.saturating_sub(lease.started_at));
        let provider = providers.iter_mut().find(|p| p.client.address() == lease.provider).expect("a seeded provider");
        let (_, verifier) =
            provider.verifiers.iter_mut().find(|(tenant, _)| *tenant == lease.tenant).expect("one per tenant");
        if consumed <= verifier.book().accepted(lease.id) {
            continue; // nothing more served since the last receipt (the lease ended)
        }
        let receipt = signer.sign_usage(lease.id, consumed, keccak256((lease.id, now).abi_encode()), now)?;
        verifier.accept(receipt, now)?;
        issued += 1;
    }
    println!("block time {now}: session signer issued {issued} receipts, providers verified them");
    // An ended lease's newest receipt is final: settle it now rather than wait for the round.
    let ended = leases.iter().any(|l| !l.done && now >= l.lease_end);
    if !settle && !ended {
        return Ok(());
    }
    for provider in providers.iter_mut() {
        let client = &provider.client;
        let before = client.claimable(client.address(), usdc).await?;
        let (mut settled, mut refused) = (0, Vec::new());
        for (_, verifier) in &mut provider.verifiers {
            for outcome in client.settle_book(verifier.book_mut()).await? {
                if outcome.is_settled() {
                    settled += 1;
                } else if outcome.result != SettlementResult::NotYetAccrued {
                    // Refused for good (the window closed after a clock jump, say): stop sending it.
                    verifier.book_mut().forget(outcome.lease_id);
                    if let Some(lease) = leases.iter_mut().find(|l| l.id == outcome.lease_id) {
                        lease.done = true;
                    }
                    refused.push(format!("lease {}: {}", outcome.lease_id, terms::settlement_reason(outcome.result)));
                }
            }
        }
        let after = client.claimable(client.address(), usdc).await?;
        let refused = if refused.is_empty() { String::new() } else { format!("; refused {}", refused.join(", ")) };
        println!(
            "  {} settled {settled} lease(s): +{} claimable{refused}",
            provider.name,
            client.amount(usdc, after - before)
        );
    }
    for lease in leases.iter_mut().filter(|l| !l.done && now >= l.lease_end) {
        lease.done = true;
        println!(
            "  lease {} ended (time {}): its final receipt is settled; finalize it after the settlement window with `openlease lease finalize {}`",
            lease.id, lease.lease_end, lease.id
        );
    }
    if leases.iter().all(|l| l.done) {
        println!("  no running leases left: open one with `openlease lease open` (see the banner)");
    }
    Ok(())
}

/// Starts the indexer on a fresh database (the chain is new), as a child that dies with the devnet.
fn spawn_indexer(binary: &Path, anvil: &AnvilInstance, args: &DevnetArgs) -> eyre::Result<tokio::process::Child> {
    let data_dir = PathBuf::from(".devnet/indexer");
    let _ = std::fs::remove_dir_all(&data_dir);
    tokio::process::Command::new(binary)
        .arg("--rpc-url")
        .arg(format!("http://127.0.0.1:{}", anvil.port()))
        .arg("--deployments")
        .arg(&args.deployments_dir)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["run", "--listen", &args.indexer_listen.to_string()])
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
        lease_end: u64::from(lease.endsAt),
        done: false,
    })
}

fn index_of(keys: &[PrivateKeySigner], address: Address) -> usize {
    keys.iter().position(|k| k.address() == address).expect("a devnet account")
}

fn print_banner(
    anvil: &AnvilInstance,
    args: &DevnetArgs,
    manifest: &Manifest,
    manifest_path: &Path,
    accounts: &[(String, Address, String)],
) {
    let rpc = format!("http://127.0.0.1:{}", anvil.port());
    let market = manifest.market();
    println!("\nOpenlease devnet is up. Ctrl-C stops it.\n");
    println!("  RPC URL     {rpc}  (chain id {})", manifest.chain_id);
    println!("  manifest    {}", manifest_path.display());
    println!("  Openlease   {market}");
    for coin in &manifest.stablecoins {
        println!("  {:<11} {}  ({} decimals)", coin.symbol, coin.address, coin.decimals);
    }
    if args.indexer.is_some() {
        println!(
            "  indexer     http://{}/v1/leases  (also /v1/providers, /v1/stats, /health, /metrics)",
            args.indexer_listen
        );
    }
    println!("\n  funded accounts (10,000 ETH each):");
    for (name, address, key) in accounts {
        println!("  {name:<15} {address}  {key}");
    }

    // The binaries `make devnet` built beside this one: nothing compiles when they are tried.
    let bin_dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)).unwrap_or_default();
    let cli = args.cli.clone().unwrap_or_else(|| bin_dir.join("openlease"));
    let examples = bin_dir.join("examples");
    let free = accounts.iter().find(|(name, ..)| name == "free-9").map(|(.., key)| key.clone()).unwrap_or_default();
    println!("\n  free-8 and free-9 are yours: the devnet never sends from them. Try, in another terminal:");
    println!("  alias openlease={}", cli.display());
    println!("  openlease offer list && openlease lease show 1");
    println!("  OPENLEASE_PRIVATE_KEY={free} openlease token mint '100 USDC'");
    println!("  OPENLEASE_PRIVATE_KEY={free} openlease lease open 1 --duration 1d --deposit '8.64 USDC'");
    println!("  openlease devnet fund 0xYOUR_ADDRESS --eth 10 --token '1000 USDC'   # a key of your own");
    println!("  openlease devnet advance 1d        # the chain's clock: leases end, windows close, stake thaws");
    if examples.join("provider_lifecycle").exists() {
        println!("  {}   # and tenant_lifecycle, receipt_loop", examples.join("provider_lifecycle").display());
    }
    println!("  node_modules/.bin/cast call {market} 'leaseCount()(uint256)' --rpc-url {rpc}\n");
}
