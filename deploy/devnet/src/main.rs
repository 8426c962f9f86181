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
    Client, LeaseRequest, OfferTerms, ProviderDetails, ReceiptVerifier, SettlementResult, SignerGrant, TxPolicy, terms,
};
use openlease_client::{
    select::{self, Candidate, Preferences},
    session::{Destination, ServedBy, Session, SessionConfig},
};
use openlease_deploy::{Deployer, Manifest, NetworkConfig};
use openlease_gateway::{Gateway, GatewayConfig, ReceiptStore, workload};
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
    /// Provider N's gateway listens on this port + N - 1 (three providers); the fallback cloud on
    /// this port + 9. 0 takes any free ports (the banner shows them).
    #[arg(long, default_value_t = 8091)]
    gateway_port: u16,
    /// Seconds after which provider-1's gateway stops answering, so the tenant session fails over
    /// (0: never).
    #[arg(long, default_value_t = 180)]
    fail_after: u64,
    /// The `openlease` CLI binary the banner's commands use [default: beside this binary].
    #[arg(long, env = "OPENLEASE_CLI")]
    cli: Option<PathBuf>,
    /// The share of `/work/N` answers provider-3's workload gets wrong (a cheating provider).
    #[arg(long, default_value_t = 0.10)]
    wrong_share: f64,
    /// The share of its answers tenant-3's session checks against the fallback (the referee).
    #[arg(long, default_value_t = 0.25)]
    check_share: f64,
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
    /// Its gateway's URL, as registered.
    endpoint: String,
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
    // Held from now on, so nothing takes them while the market is seeded.
    let listeners = gateway_ports(&args)
        .map(|port| bind(SocketAddr::from(([127, 0, 0, 1], port)), "a gateway or the fallback", "--gateway-port"));
    let listeners = listeners.into_iter().collect::<eyre::Result<Vec<_>>>()?;
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
        result = serve(&anvil, &args, listeners) => result,
        _ = stop => {
            println!("\nstopping the devnet: anvil and the indexer stop with it");
            Ok(())
        }
    };
    // Dropping `serve` killed the indexer; dropping anvil kills the node.
    drop(anvil);
    result
}

/// The three providers' gateways' ports, then the fallback cloud's (with 0: any free ports).
fn gateway_ports(args: &DevnetArgs) -> [u16; 4] {
    match args.gateway_port {
        0 => [0; 4],
        base => [base, base + 1, base + 2, base + 9],
    }
}

/// A listener on `address`, or an error naming the port when it is taken.
fn bind(address: SocketAddr, what: &str, flag: &str) -> eyre::Result<TcpListener> {
    ensure_free(address, what, flag)?;
    let listener = TcpListener::bind(address).wrap_err_with(|| format!("listening on {address} ({what})"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
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

async fn serve(anvil: &AnvilInstance, args: &DevnetArgs, listeners: Vec<TcpListener>) -> eyre::Result<()> {
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
    let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<Result<_, _>>()?;
    let mut listeners = listeners.into_iter();
    for (index, name, region, price) in
        [(1, "provider-1", "eu-west", 100), (2, "provider-2", "us-east", 150), (3, "provider-3", "ap-south", 250)]
    {
        let endpoint = format!("http://127.0.0.1:{}", ports[index - 1]);
        let client = Client::connect(&rpc, keys[index].clone(), manifest.clone()).await?.with_tx_policy(TX_POLICY);
        // The attributes document travels in its URI (`data:`): the indexer checks it against the
        // hash registered here and shows the attributes as verified.
        let document = format!(r#"{{"name":"{name}","attributes":{{"gpu":"a100","vcpu":32,"region":"{region}"}}}}"#);
        client
            .register_provider(&ProviderDetails {
                metadata_uri: format!("data:application/json,{}", document.replace('"', "%22")),
                endpoint: endpoint.clone(),
                region: region.into(),
                attributes_hash: keccak256(&document),
            })
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
            workload: openlease_client::contracts::workload::DEMO,
            verifier: client.manifest().demo_verifier().unwrap_or_default(),
        };
        let offer = client.publish_offer(&terms).await?;
        providers.push(DevnetProvider { name, price, offer, endpoint, client, verifiers: Vec::new() });
    }

    // Both tenants' services sign receipts with one session signer, authorized for each provider
    // on its own (with its own cap) in the transaction that opens the lease.
    let session = keys[6].clone();
    let mut tenants = Vec::new();
    for index in [4, 5] {
        let tenant = Client::connect(&rpc, keys[index].clone(), manifest.clone()).await?.with_tx_policy(TX_POLICY);
        tenant.send(tenant.token(usdc).mint(tenant.address(), U256::from(100_000 * USDC))).await?;
        tenants.push(tenant);
    }
    // MockUSDC has EIP-2612, so the SDK pays every deposit by permit: no approval transaction.
    let mut leases = Vec::new();
    for (tenant, provider) in [(0, 0), (0, 1), (1, 2)] {
        leases.push(open_lease(&tenants[tenant], &providers[provider], session.address()).await?);
    }
    let disputed = open_lease(&tenants[0], &providers[2], session.address()).await?;
    tenants[0].open_dispute(disputed.id, "ipfs://openlease-devnet/evidence/latency-sla").await?;
    leases.push(disputed);

    // Each provider checks every receipt before serving more: one verifier per tenant's signer.
    for lease in &leases {
        let provider = providers.iter_mut().find(|p| p.client.address() == lease.provider).expect("a seeded provider");
        let at = match provider.verifiers.iter().position(|(tenant, _)| *tenant == lease.tenant) {
            Some(at) => at,
            None => {
                let terms =
                    provider.client.session_signer(lease.tenant, session.address(), provider.client.address()).await?;
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

    // Every provider serves the workload behind its gateway; tenant-2 runs a session on them.
    let mut gateways = Vec::new();
    for provider in &providers {
        let key = keys[index_of(&keys, provider.client.address())].clone();
        // provider-3 cheats: a share of its answers are wrong (and cheaper to make).
        let wrong = if provider.name == "provider-3" { args.wrong_share } else { 0.0 };
        let listener = listeners.next().expect("a listener per provider");
        gateways.push(start_gateway(provider, key, workload::answering_wrong(wrong), listener).await?);
    }
    let fallback = tokio::net::TcpListener::from_std(listeners.next().expect("the fallback's listener"))?;
    let fallback_url = format!("http://{}", fallback.local_addr()?);
    let _fallback = tokio::spawn(async move { axum::serve(fallback, workload::router()).await });

    let key = |s: &PrivateKeySigner| format!("0x{}", alloy::hex::encode(s.to_bytes()));
    let mut accounts = vec![("deployer/admin".to_string(), keys[0].clone())];
    accounts.extend(providers.iter().map(|p| (p.name.to_string(), keys[index_of(&keys, p.client.address())].clone())));
    accounts.extend(
        tenants
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("tenant-{}", i + 1), keys[index_of(&keys, t.address())].clone())),
    );
    accounts.push(("tenant-3 (checks)".into(), keys[8].clone()));
    accounts.push(("free-9".into(), keys[9].clone()));
    accounts.push(("session signer".into(), session.clone()));
    accounts.push(("arbiter".into(), keys[7].clone()));
    let accounts: Vec<_> = accounts.into_iter().map(|(name, k)| (name, k.address(), key(&k))).collect();
    print_banner(anvil, args, &manifest, &manifest_path, &accounts);
    println!(
        "  gateways    {}  (provider-1, -2, -3: /work/N and /stream/N (server-sent events) behind receipts; /openlease/metrics)",
        providers.iter().map(|p| p.endpoint.as_str()).collect::<Vec<_>>().join("  ")
    );
    println!("  fallback    {fallback_url}  (the tenant session's centralized cloud)");
    if args.fail_after > 0 {
        println!(
            "  tenant-2 runs a session on the cheapest provider (a streamed answer every 30 s); provider-1's gateway dies after {} s (--fail-after): watch the `session:` lines fail over\n",
            args.fail_after
        );
    }

    let sold: Vec<Sold> = providers
        .iter()
        .map(|p| Sold {
            name: p.name,
            provider: p.client.address(),
            offer: p.offer,
            price: p.price,
            endpoint: p.endpoint.clone(),
        })
        .collect();
    println!(
        "  provider-3 answers /work/N wrongly {:.0}% of the time (--wrong-share); tenant-3 checks {:.0}% of its answers against the fallback (--check-share): watch the `checks:` line\n",
        args.wrong_share * 100.0,
        args.check_share * 100.0
    );
    let checker = Client::connect(&rpc, keys[8].clone(), manifest.clone()).await?.with_tx_policy(TX_POLICY);
    checker.send(checker.token(usdc).mint(checker.address(), U256::from(1_000 * USDC))).await?;
    let checked = [&sold[2], &sold[1]].map(|p| Destination {
        provider: p.provider,
        offer_id: p.offer,
        endpoint: p.endpoint.clone(),
    });
    let names = [(sold[2].provider, sold[2].name), (sold[1].provider, sold[1].name)];
    tokio::spawn(checked_session(checker, checked.to_vec(), names, usdc, fallback_url.clone(), args.check_share));
    let session = run_session(&tenants[1], sold, usdc, fallback_url);
    if args.fail_after > 0 {
        let doomed = gateways.remove(0);
        let after = args.fail_after;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(after)).await;
            doomed.abort();
            println!("provider-1's gateway stopped answering (--fail-after {after})");
        });
    }

    let signer = tenants[0].receipt_signer(session_key(&keys));
    let mut last_now = tenants[0].now().await?;
    let market = async {
        for round in 1u64.. {
            tokio::time::sleep(Duration::from_secs(args.receipt_interval)).await;
            let settle = round.is_multiple_of(3);
            match market_round(&signer, &tenants[0], &mut providers, &mut leases, usdc, settle, &mut last_now).await {
                Ok(()) => {}
                // The market goes on: the next round retries (receipts are cumulative, nothing is lost).
                Err(error) => println!("round {round} failed, retrying next round: {error:#}"),
            }
        }
    };
    tokio::join!(market, session);
    unreachable!("the market loop only ends with a signal")
}

/// The session signer of the seeded leases' receipts (anvil account 6).
fn session_key(keys: &[PrivateKeySigner]) -> PrivateKeySigner {
    keys[6].clone()
}

/// `provider`'s gateway on `port` in front of the workload, its book under `.devnet/`; the
/// handle aborts it (the provider "dies").
async fn start_gateway(
    provider: &DevnetProvider,
    key: PrivateKeySigner,
    workload: axum::Router,
    listener: TcpListener,
) -> eyre::Result<tokio::task::JoinHandle<()>> {
    let dir = PathBuf::from(format!(".devnet/gateway-{}", provider.name));
    let _ = std::fs::remove_dir_all(&dir);
    let store = ReceiptStore::open(&format!("sqlite://{}/receipts.db", dir.display())).await?;
    // A minute of service on credit: the session pays up to its previous answer.
    let config = GatewayConfig { credit_secs: 60, ..GatewayConfig::default() };
    let gateway = Gateway::open(provider.client.clone(), store, config).await?;
    // Every answer signed with the provider's attestation key (its own).
    gateway.attest_with(key).await?;
    let settlement = gateway.spawn_settlement();
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = gateway.serve(workload);
    Ok(tokio::spawn(async move {
        let _settlement = AbortOnDrop(settlement);
        let _ = axum::serve(listener, app).await;
    }))
}

/// Aborts a task when dropped: a gateway's settlement dies with its server.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// tenant-2's session: chooses by expected cost, requests the workload every second, checks each
/// answer, and says what it costs; fails over when its provider dies, falls back when none is left.
/// What a seeded provider sells, as the session sees it.
struct Sold {
    name: &'static str,
    provider: Address,
    offer: U256,
    price: u64,
    endpoint: String,
}

async fn run_session(tenant: &Client<DynProvider>, providers: Vec<Sold>, usdc: Address, fallback: String) {
    let candidates: Vec<Candidate> = providers
        .iter()
        .map(|p| Candidate {
            provider: p.provider,
            offer_id: p.offer,
            region: String::new(),
            token: usdc,
            price_per_second: p.price,
            free_stake: U256::from(10_000 * USDC),
            bond: U256::ZERO,
            capacity_left: 10,
            delivered: None,
            history: 0,
            wrong_answers: 0,
        })
        .collect();
    let prefs = Preferences::new(usdc);
    let choices: Vec<Destination> = select::rank(&candidates, &prefs)
        .iter()
        .filter_map(|r| providers.iter().find(|p| p.offer == r.candidate.offer_id))
        .map(|p| Destination { provider: p.provider, offer_id: p.offer, endpoint: p.endpoint.clone() })
        .collect();
    let name = |address: Address| providers.iter().find(|p| p.provider == address).map_or("?", |p| p.name);
    let config = SessionConfig {
        duration: 86_400,
        deposit: U256::from(10 * USDC),
        budget: U256::from(100 * USDC),
        failures_before_failover: 3,
        request_timeout: Duration::from_secs(2),
        fallback: Some(fallback),
        fallback_cost_per_request: U256::from(USDC / 1_000),
        dispute_dead_providers: true,
        checks: None,
    };
    let mut session = match Session::start(tenant.clone(), choices, config).await {
        Ok(session) => session,
        Err(error) => return println!("session: could not start: {error}"),
    };
    let expected = workload::hash_chain(2_000).to_string().into_bytes();
    let mut last = None;
    for n in 1u64.. {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if n % 30 == 3 {
            stream(&mut session, &name).await;
            continue;
        }
        let answer = match session.get("/work/2000").await {
            Ok(answer) => answer,
            Err(error) => {
                println!("session: request failed: {error}");
                continue;
            }
        };
        let checked = if answer.body == expected { "answer checked" } else { "WRONG ANSWER" };
        let report = session.report();
        let now = match answer.served_by {
            ServedBy::Provider { provider, lease_id } => format!("{} (lease {lease_id})", name(provider)),
            ServedBy::Fallback => "the fallback cloud".into(),
            ServedBy::Referee => "the referee (a check contested the provider's answer)".into(),
        };
        let changed = last.as_ref() != Some(&now);
        if changed || n.is_multiple_of(15) {
            let failover = report
                .failovers
                .last()
                .map(|d| format!(", last failover took {:.1} s", d.as_secs_f64()))
                .unwrap_or_default();
            println!(
                "session: served by {now}, {checked}; paid {} for {} s served, {} for nothing, fallback {} request(s){failover}",
                tenant.amount(usdc, report.paid()),
                report.providers.iter().map(|p| p.served_secs).sum::<u64>(),
                tenant.amount(usdc, report.paid_for_nothing()),
                report.fallback_requests,
            );
            last = Some(now);
        }
    }
}

/// tenant-3's session on provider-3 (which cheats) then provider-2, checking a share of its
/// answers against the fallback: says when the check caught provider-3, what became of its lease
/// (slashed on chain by its offer's verifier, no arbiter), and what the checks cost.
async fn checked_session(
    tenant: Client<DynProvider>,
    choices: Vec<Destination>,
    names: [(Address, &'static str); 2],
    usdc: Address,
    referee: String,
    share: f64,
) {
    use openlease_client::check::{Checks, ContestOutcome, exact};
    let name = |address: Address| names.iter().find(|(a, _)| *a == address).map_or("?", |(_, n)| *n);
    let checks =
        Checks { share, referee, comparator: exact(), cost_per_check: U256::from(USDC / 1_000), dispute: true };
    let config = SessionConfig {
        duration: 86_400,
        deposit: U256::from(10 * USDC),
        budget: U256::from(100 * USDC),
        failures_before_failover: 3,
        request_timeout: Duration::from_secs(5),
        fallback: None,
        fallback_cost_per_request: U256::ZERO,
        dispute_dead_providers: false,
        checks: Some(checks),
    };
    let mut session = match Session::start(tenant.clone(), choices, config).await {
        Ok(session) => session,
        Err(error) => return println!("checks: could not start: {error}"),
    };
    let mut answers = 0u64;
    while session.report().checks.contested == 0 && answers < 5_000 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match session.get("/work/2000").await {
            Ok(_) => answers += 1,
            Err(error) => println!("checks: request failed: {error}"),
        }
    }
    let report = session.report();
    let Some(caught) = report.checks.evidence.first() else {
        return println!("checks: {answers} answers, {} checked, none contested", report.checks.checked);
    };
    let outcome = match &caught.outcome {
        ContestOutcome::Slashed { tx } => {
            format!("its lease {} was slashed on chain by its offer's verifier, no arbiter (tx {tx})", caught.lease_id)
        }
        ContestOutcome::Disputed => format!("its lease {} is disputed before the arbiter", caught.lease_id),
        ContestOutcome::Kept => "the evidence is kept".into(),
    };
    let now =
        session.lease().map_or("nobody".into(), |(provider, lease)| format!("{} (lease {lease})", name(provider)));
    println!(
        "checks: {} answered wrongly (sequence {}), caught after {answers} answers, {} of them checked at {:.0}% for {}; {outcome}; the session moved to {now}",
        name(caught.provider),
        caught.attestation.sequence,
        report.checks.checked,
        share * 100.0,
        tenant.amount(usdc, report.checks.cost),
    );
}

/// A streamed answer through the gateway: the workload's server-sent events, each as it is
/// produced (when it arrived is printed), the last one checked.
async fn stream(session: &mut Session<DynProvider>, name: &impl Fn(Address) -> &'static str) {
    const EVENTS: u32 = 4;
    let started = std::time::Instant::now();
    let mut arrivals = Vec::new();
    let path = format!("/stream/{EVENTS}");
    let answer = session.request_with(openlease_client::session::Method::GET, &path, Vec::new(), |chunk| {
        // The rounds' events, not the closing `done` (which repeats the last hash).
        let text = String::from_utf8_lossy(chunk);
        let events = text.split("\n\n").filter(|e| e.starts_with("data: 0x")).count();
        arrivals.extend(std::iter::repeat_n(format!("{:.2} s", started.elapsed().as_secs_f64()), events));
    });
    let answer = match answer.await {
        Ok(answer) => answer,
        Err(error) => return println!("session: stream failed: {error}"),
    };
    let last = workload::hash_chain(EVENTS).to_string();
    let checked = String::from_utf8_lossy(&answer.body).contains(&format!("event: done\ndata: {last}"));
    let by = match answer.served_by {
        ServedBy::Provider { provider, lease_id } => format!("{} (lease {lease_id})", name(provider)),
        ServedBy::Fallback => "the fallback cloud".into(),
        ServedBy::Referee => "the referee (a check contested the provider's answer)".into(),
    };
    println!(
        "session: streamed {EVENTS} events from {by} as they were produced, at {}; {}",
        arrivals.join(", "),
        if checked { "answer checked" } else { "WRONG ANSWER" }
    );
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

/// The devnet indexer's alerts token: a local chain's, printed in the banner.
const DEVNET_ALERTS_TOKEN: &str = "devnet";

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
        // A local market: providers a user registers may point their metadata at localhost, and
        // alerts take the devnet's well-known token.
        .args(["--metadata-allow-private-hosts", "--alerts-token", DEVNET_ALERTS_TOKEN])
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .wrap_err_with(|| format!("cannot start the indexer {}", binary.display()))
}

async fn open_lease(
    tenant: &Client<DynProvider>,
    provider: &DevnetProvider,
    session: Address,
) -> eyre::Result<LiveLease> {
    let quote = tenant.offer_quote(provider.offer).await?;
    let grant =
        SignerGrant { signer: session, cap: U256::from(5_000 * USDC), expires_at: tenant.now().await? + 30 * 86_400 };
    let request = LeaseRequest::new(&quote, 7 * 86_400, U256::from(50 * USDC)).authorizing(grant);
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
        println!("  console     http://{}/  (the live market: providers, leases, events)", args.indexer_listen);
        println!(
            "  indexer     http://{}/v1/leases  (also /v1/providers, /v1/stats, /v1/openapi.json, /health, /metrics)",
            args.indexer_listen
        );
        println!(
            "  alerts      curl -H 'Authorization: Bearer {DEVNET_ALERTS_TOKEN}' -d '{{\"url\":\"http://127.0.0.1:9999/hook\",\"kinds\":[\"LeaseFailedOver\",\"PaymentDemanded\"]}}' http://{}/v1/alerts",
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
    println!(
        "  OPENLEASE_PRIVATE_KEY={free} openlease session proxy --indexer http://{} --deposit '1 USDC' --budget '1 USDC'",
        args.indexer_listen
    );
    println!(
        "                                     # an app's OpenAI client with base_url http://127.0.0.1:8787/v1 pays through it"
    );
    println!("  openlease devnet advance 1d        # the chain's clock: leases end, windows close, stake thaws");
    println!(
        "                                     # (the devnet's own leases end too: after it, the failover demo is over)"
    );
    if examples.join("provider_lifecycle").exists() {
        println!("  {}   # and tenant_lifecycle, receipt_loop", examples.join("provider_lifecycle").display());
    }
    println!("  node_modules/.bin/cast call {market} 'leaseCount()(uint256)' --rpc-url {rpc}\n");
}
