//! The testkit's fixtures under the names these tests use.

use alloy::{
    providers::{DynProvider, Provider},
    signers::local::PrivateKeySigner,
};
pub(crate) use openlease_testkit::{
    TempDir, devnet_config, key as funded_signer, spawn_anvil, wallet_provider as provider_for,
};

/// The deployer's nonce: how many transactions it has sent.
pub(crate) async fn nonce(provider: &DynProvider, signer: &PrivateKeySigner) -> u64 {
    provider.get_transaction_count(signer.address()).await.expect("nonce")
}
