//! The one place tests and benchmarks get their fixtures from: an anvil of the pinned toolchain,
//! its funded keys, the suite deployed with the devnet config, receipts signed as tenants sign
//! them, scratch directories. Everything is real; nothing here is a mock of what we own.

pub mod hosted;
pub mod load;

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use openlease_client::{Client, Manifest, OfferTerms, ProviderDetails, ReceiptDomain, ReceiptSigner};
use openlease_deploy::{Deployer, NetworkConfig};

/// The repository root (this crate lives in `tests/testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The anvil binary: `OPENLEASE_ANVIL`, else the pinned toolchain's `node_modules/.bin/anvil`.
/// Panics with what to run when it is missing: no test can stand in for the node.
pub fn anvil_path() -> PathBuf {
    let path = std::env::var_os("OPENLEASE_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("node_modules/.bin/anvil"));
    assert!(path.exists(), "anvil not found at {}: run `make toolchain` (or set OPENLEASE_ANVIL)", path.display());
    path
}

/// Python with the third-party clients the tests drive (`openai`): `OPENLEASE_PYTHON`, else the
/// project's `.venv`. Panics with what to run when it is missing.
pub fn python_path() -> PathBuf {
    let path =
        std::env::var_os("OPENLEASE_PYTHON").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "python with the openai package not found at {}: run `make python` (or set OPENLEASE_PYTHON)",
        path.display()
    );
    path
}

/// An anvil builder on the pinned binary, for tests that need flags of their own. Its states
/// beyond the ones it keeps in memory are dropped, not written under `~/.foundry/anvil/tmp`: an
/// anvil is killed when its test ends, which leaves what it wrote there (gigabytes for a chain of
/// thousands of blocks, run after run, until the disk is full).
pub fn anvil() -> Anvil {
    Anvil::new().path(anvil_path()).args(["--max-persisted-states", "0"])
}

/// A fresh anvil on a free port.
pub fn spawn_anvil() -> AnvilInstance {
    anvil().try_spawn().expect("anvil starts")
}

/// anvil's funded account `index` (0 deploys and administers the devnet config's market).
pub fn key(anvil: &AnvilInstance, index: usize) -> PrivateKeySigner {
    PrivateKeySigner::from(anvil.keys()[index].clone())
}

/// A provider that signs as `signer`.
pub fn wallet_provider(anvil: &AnvilInstance, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(anvil.endpoint_url()).erased()
}

/// `deploy/config/devnet.toml`: mock USDC (6 decimals, EIP-2612) and DAI, account 7 arbitrates.
pub fn devnet_config() -> NetworkConfig {
    NetworkConfig::load(&NetworkConfig::path_for(&repo_root(), "devnet")).expect("the devnet config loads")
}

/// The suite deployed on `anvil` by account 0 with the devnet config.
pub async fn deploy_market(anvil: &AnvilInstance) -> Manifest {
    let deployer = key(anvil, 0);
    let provider = wallet_provider(anvil, deployer.clone());
    let config = NetworkConfig { chain_id: anvil.chain_id(), ..devnet_config() };
    let (manifest, _) = Deployer::new(provider, deployer.address(), anvil.endpoint(), config)
        .deploy(None)
        .await
        .expect("the suite deploys");
    manifest
}

/// A receipt signer for `manifest`'s market with `key`, as a tenant's service holds one.
pub fn receipt_signer(manifest: &Manifest, key: PrivateKeySigner) -> ReceiptSigner {
    ReceiptSigner::new(key, ReceiptDomain::new(manifest.chain_id, manifest.market()))
}

/// A scratch directory under the system's temp dir, removed on drop (also when a test panics).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory; `label` names it, for whoever finds one left by a killed run.
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("openlease-{label}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temp dir");
        Self(path)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Registers `provider` (endpoint `http://gateway`, eu-west), stakes 1,000 units of `usdc` (a
/// 6-decimal token it holds) and publishes an offer at `price_per_second` (a minute to 30 days,
/// an hour's notice, five leases at once): the tests' standard provider. Returns the offer.
pub async fn publish_demo_offer(
    provider: &Client<DynProvider>,
    usdc: alloy::primitives::Address,
    price_per_second: u64,
) -> alloy::primitives::U256 {
    let details = ProviderDetails {
        metadata_uri: String::new(),
        endpoint: "http://gateway".into(),
        region: "eu-west".into(),
        attributes_hash: alloy::primitives::B256::ZERO,
    };
    provider.register_provider(&details).await.expect("the provider registers");
    provider.stake(usdc, alloy::primitives::U256::from(1_000_000_000u64)).await.expect("the provider stakes");
    let terms = OfferTerms {
        token: usdc,
        price_per_second,
        min_duration: 60,
        max_duration: 30 * 86_400,
        notice_period: 3_600,
        capacity: 5,
        workload: openlease_client::contracts::workload::DEMO,
        verifier: provider.manifest().demo_verifier().unwrap_or_default(),
    };
    provider.publish_offer(&terms).await.expect("the offer is published")
}
