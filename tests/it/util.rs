//! Shared fixtures: an anvil node from the pinned toolchain, funded signers, the devnet config.

use std::path::PathBuf;

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use openlease_deploy::NetworkConfig;

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh anvil on a free port, from `node_modules/.bin/anvil` (or `OPENLEASE_ANVIL`).
pub(crate) fn spawn_anvil() -> AnvilInstance {
    let path = std::env::var_os("OPENLEASE_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("node_modules/.bin/anvil"));
    assert!(path.exists(), "anvil not found at {}: run `make toolchain` first", path.display());
    Anvil::new().path(path).try_spawn().expect("anvil starts")
}

/// A provider that signs as `signer`.
pub(crate) fn provider_for(anvil: &AnvilInstance, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(anvil.endpoint_url()).erased()
}

/// anvil's first funded account.
pub(crate) fn funded_signer(anvil: &AnvilInstance, index: usize) -> PrivateKeySigner {
    PrivateKeySigner::from(anvil.keys()[index].clone())
}

/// `deploy/config/devnet.toml`.
pub(crate) fn devnet_config() -> NetworkConfig {
    NetworkConfig::load(&NetworkConfig::path_for(&repo_root(), "devnet")).expect("the devnet config loads")
}

/// The deployer's nonce: how many transactions it has sent.
pub(crate) async fn nonce(provider: &DynProvider, signer: &PrivateKeySigner) -> u64 {
    provider.get_transaction_count(signer.address()).await.expect("nonce")
}
