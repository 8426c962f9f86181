//! `openlease-deploy devnet`: the one-command local market. Starts anvil, deploys the suite with
//! mock stablecoins, seeds three providers, two tenants with leases, a session signer and one
//! dispute, then keeps the market alive: the signer issues receipts every few seconds and the
//! providers settle them in batches. Ctrl-C stops everything; anvil dies with the process.

use std::{path::PathBuf, time::Duration};

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, B256, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::{SolStruct, SolValue, eip712_domain},
};
use clap::Args;
use eyre::{WrapErr, eyre};
use openlease_contracts::{IOpenleaseTypes, MockStablecoin, Openlease};
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

struct Provider3 {
    name: &'static str,
    signer: PrivateKeySigner,
    region: &'static str,
    price: u64,
    offer: U256,
}

struct LiveLease {
    id: U256,
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
    let mut wallet = EthereumWallet::from(keys[0].clone());
    for key in &keys[1..] {
        wallet.register_signer(key.clone());
    }
    let provider = ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased();

    let mut config = NetworkConfig::load(&args.config)?;
    config.chain_id = args.chain_id;
    let deployer = keys[0].address();
    let (manifest, _) = Deployer::new(provider.clone(), deployer, anvil.endpoint(), config).deploy(None).await?;
    let manifest_path = Manifest::path(&args.deployments_dir, args.chain_id);
    manifest.save(&manifest_path)?;

    let market = Openlease::new(manifest.market(), provider.clone());
    let usdc = manifest.stablecoin("USDC").ok_or_else(|| eyre!("the devnet config deploys no USDC"))?.address;
    let usdc = MockStablecoin::new(usdc, provider.clone());

    let mut providers = vec![
        Provider3 { name: "provider-1", signer: keys[1].clone(), region: "eu-west", price: 100, offer: U256::ZERO },
        Provider3 { name: "provider-2", signer: keys[2].clone(), region: "us-east", price: 150, offer: U256::ZERO },
        Provider3 { name: "provider-3", signer: keys[3].clone(), region: "ap-south", price: 250, offer: U256::ZERO },
    ];
    for p in &mut providers {
        let from = p.signer.address();
        send(market.registerProvider(
            format!("ipfs://openlease-devnet/{}", p.name),
            format!("https://{}.devnet.openlease.local", p.name),
            p.region.to_string(),
            keccak256(format!("gpu:a100;vcpu:32;region:{}", p.region)),
        )
        .from(from))
        .await?;
        send(usdc.mint(from, U256::from(100_000 * USDC)).from(from)).await?;
        send(usdc.approve(*market.address(), U256::MAX).from(from)).await?;
        send(market.stake(*usdc.address(), U256::from(10_000 * USDC)).from(from)).await?;
        let offer = market.publishOffer(*usdc.address(), p.price, 60, 30 * 86_400, 60, 10).from(from);
        p.offer = offer.call().await?;
        send(offer).await?;
    }

    // The session signer both tenants' services sign receipts with.
    let session = keys[6].clone();
    let tenants = [keys[4].clone(), keys[5].clone()];
    let expiry = now(&provider).await? + 30 * 86_400;
    for tenant in &tenants {
        send(usdc.mint(tenant.address(), U256::from(100_000 * USDC)).from(tenant.address())).await?;
        send(market.authorizeSigner(session.address(), alloy::primitives::Uint::from(5_000 * USDC), alloy::primitives::Uint::from(expiry)).from(tenant.address())).await?;
    }

    // Tenant 1 pays by allowance, tenant 2 by an EIP-2612 permit.
    let mut leases = Vec::new();
    send(usdc.approve(*market.address(), U256::MAX).from(tenants[0].address())).await?;
    for p in &providers[..2] {
        leases.push(open_lease(&market, &tenants[0], p, None).await?);
    }
    let permit = sign_permit(&usdc, &tenants[1], *market.address(), U256::from(50 * USDC)).await?;
    leases.push(open_lease(&market, &tenants[1], &providers[2], Some(permit)).await?);
    let disputed = open_lease(&market, &tenants[0], &providers[2], None).await?;
    send(market.openDispute(disputed.id, "ipfs://openlease-devnet/evidence/latency-sla".into()).from(tenants[0].address()))
        .await?;
    leases.push(disputed);

    // Seeded with a block per transaction; from now on blocks come at the configured interval.
    provider.anvil_set_interval_mining(args.block_time).await?;
    let _indexer = match &args.indexer {
        Some(binary) => Some(spawn_indexer(binary, anvil, args)?),
        None => None,
    };

    print_banner(anvil, &manifest, &manifest_path, &providers, &tenants, &session, &keys);
    if args.indexer.is_some() {
        println!("  indexer API http://{}/v1/leases  (also /v1/providers, /v1/stats, /health, /metrics)\n", args.indexer_listen);
    }

    let domain = eip712_domain! {
        name: "Openlease",
        version: "1",
        chain_id: args.chain_id,
        verifying_contract: manifest.market(),
    };
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(Duration::from_secs(args.receipt_interval)).await;
        tick += 1;
        let now = now(&provider).await?;
        let mut by_provider: Vec<(Address, Vec<IOpenleaseTypes::SignedReceipt>)> = Vec::new();
        for lease in &leases {
            let receipt = IOpenleaseTypes::ServiceReceipt {
                leaseId: lease.id,
                cumulativeAmount: U256::from(lease.price * now.saturating_sub(lease.started_at)),
                usageDigest: keccak256((lease.id, now).abi_encode()),
                periodEnd: now,
            };
            let signature = session.sign_hash_sync(&receipt.eip712_signing_hash(&domain))?;
            let signed = IOpenleaseTypes::SignedReceipt {
                receipt,
                signer: session.address(),
                signature: signature.as_bytes().into(),
            };
            match by_provider.iter_mut().find(|(p, _)| *p == lease.provider) {
                Some((_, batch)) => batch.push(signed),
                None => by_provider.push((lease.provider, vec![signed])),
            }
        }
        println!("block time {now}: session signer issued {} receipts", leases.len());
        if !tick.is_multiple_of(3) {
            continue;
        }
        for (provider_address, batch) in by_provider {
            let before = market.claimable(provider_address, *usdc.address()).call().await?;
            send(market.settleBatch(batch.clone()).from(provider_address)).await?;
            let after = market.claimable(provider_address, *usdc.address()).call().await?;
            println!(
                "  {provider_address} settled {} lease(s): +{} USDC claimable",
                batch.len(),
                format_usdc(after - before)
            );
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

async fn open_lease(
    market: &Openlease::OpenleaseInstance<DynProvider>,
    tenant: &PrivateKeySigner,
    p: &Provider3,
    permit: Option<(U256, u8, B256, B256)>,
) -> eyre::Result<LiveLease> {
    let deposit = U256::from(50 * USDC);
    let duration = 7 * 86_400;
    let call = match permit {
        None => market.openLease(p.offer, duration, deposit, p.price).from(tenant.address()).send().await?,
        Some((deadline, v, r, s)) => {
            market.openLeaseWithPermit(p.offer, duration, deposit, p.price, deadline, v, r, s)
                .from(tenant.address())
                .send()
                .await?
        }
    };
    let receipt = call.get_receipt().await?;
    let opened = receipt
        .decoded_log::<Openlease::LeaseOpened>()
        .ok_or_else(|| eyre!("openLease emitted no LeaseOpened"))?;
    Ok(LiveLease {
        id: opened.leaseId,
        provider: p.signer.address(),
        price: p.price,
        started_at: u64::from(opened.terms.startedAt),
    })
}

/// Signs an EIP-2612 permit for `value` to `spender`, valid for an hour.
async fn sign_permit(
    token: &MockStablecoin::MockStablecoinInstance<DynProvider>,
    owner: &PrivateKeySigner,
    spender: Address,
    value: U256,
) -> eyre::Result<(U256, u8, B256, B256)> {
    alloy::sol! {
        struct Permit { address owner; address spender; uint256 value; uint256 nonce; uint256 deadline; }
    }
    let nonce = token.nonces(owner.address()).call().await?;
    let deadline = U256::from(u64::MAX);
    let separator = token.DOMAIN_SEPARATOR().call().await?;
    let permit = Permit { owner: owner.address(), spender, value, nonce, deadline };
    let digest = keccak256([&[0x19, 0x01][..], separator.as_slice(), permit.eip712_hash_struct().as_slice()].concat());
    let signature = owner.sign_hash_sync(&digest)?;
    Ok((deadline, 27 + u8::from(signature.v()), signature.r().into(), signature.s().into()))
}

async fn send<P, C, N>(call: alloy::contract::CallBuilder<P, C, N>) -> eyre::Result<()>
where
    P: Provider<N>,
    C: alloy::contract::CallDecoder,
    N: alloy::network::Network,
{
    let receipt = call.send().await?.get_receipt().await?;
    eyre::ensure!(alloy::network::ReceiptResponse::status(&receipt), "transaction reverted");
    Ok(())
}

async fn now(provider: &DynProvider) -> eyre::Result<u64> {
    let block = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await?
        .ok_or_else(|| eyre!("the node has no latest block"))?;
    Ok(block.header.timestamp)
}

fn format_usdc(units: U256) -> String {
    let units = units.to::<u128>();
    format!("{}.{:06}", units / 1_000_000, units % 1_000_000)
}

fn print_banner(
    anvil: &AnvilInstance,
    manifest: &Manifest,
    manifest_path: &std::path::Path,
    providers: &[Provider3],
    tenants: &[PrivateKeySigner; 2],
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
        println!("  {:<15} {}  {}", p.name, p.signer.address(), key(&p.signer));
    }
    for (i, t) in tenants.iter().enumerate() {
        println!("  {:<15} {}  {}", format!("tenant-{}", i + 1), t.address(), key(t));
    }
    println!("  {:<15} {}  {}", "session signer", session.address(), key(session));
    println!("  {:<15} {}  {}", "arbiter", manifest.roles.arbiter, key(&keys[7]));
    println!("\n  try:");
    println!("  node_modules/.bin/cast call {market} 'leaseCount()(uint256)' --rpc-url {rpc}");
    println!(
        "  node_modules/.bin/cast call {market} 'lease(uint256)((address,uint32,uint32,uint32,uint96,uint96,uint64,uint96,uint32,uint32,uint8))' 1 --rpc-url {rpc}"
    );
    println!(
        "  node_modules/.bin/cast logs --address {market} 'LeaseSettled(uint256 indexed,address indexed,uint256,uint256,uint256)' --rpc-url {rpc}\n"
    );
}
