//! The receipt loop against `make devnet`: the tenant's session signer signs a cumulative receipt
//! every second; the provider verifies each before serving on, refuses to serve past what the
//! escrow covers, and settles the newest receipt every few rounds.
//!
//! ```sh
//! make devnet                       # in another terminal
//! cargo run -p openlease-client --example receipt_loop
//! ```
//! The provider is devnet provider-1 (anvil account 1), the lease tenant-1's (account 4) on its
//! offer, the signer the devnet's session signer (account 6). `ROUNDS` sets how many receipts.

use std::{path::PathBuf, time::Duration};

use alloy::{
    primitives::{Address, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use openlease_client::{Client, Deployment, ReceiptVerifier};

const PROVIDER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const SESSION_KEY: &str = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e";
const TENANT: Address = alloy::primitives::address!("0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65");

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let rpc = std::env::var("OPENLEASE_RPC_URL").unwrap_or_else(|_| "http://127.0.0.1:8545".into());
    let dir = PathBuf::from(std::env::var("OPENLEASE_DEPLOYMENTS").unwrap_or_else(|_| "deployments".into()));
    let rounds: u64 = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(12);
    let provider = Client::connect(&rpc, PROVIDER_KEY.parse()?, Deployment::load_for_chain(&dir, 31337)?).await?;
    let session: PrivateKeySigner = SESSION_KEY.parse()?;

    let lease = provider
        .leases_of(provider.address())
        .await?
        .into_iter()
        .find(|l| l.tenant == TENANT)
        .ok_or_else(|| eyre::eyre!("tenant-1 has no lease on provider-1: is the devnet seeded?"))?;
    let state = provider.lease(lease.lease_id).await?;
    let token = provider.offer(lease.offer_id).await?.token;
    println!("serving lease {} of {TENANT} at {} units/s", lease.lease_id, state.pricePerSecond);

    // The tenant's side: its service signs receipts for the usage it saw.
    let signer = provider.receipt_signer(session.clone());
    // The provider's side: terms read from the chain, the lease's settled total as the baseline.
    let terms = provider.session_signer(TENANT, session.address()).await?;
    let mut verifier = ReceiptVerifier::new(provider.receipt_domain(), session.address(), terms)
        .with_lease(lease.lease_id, U256::from(state.settled));

    for round in 1..=rounds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = provider.now().await?;
        let consumed = U256::from(state.pricePerSecond) * U256::from(now - u64::from(state.startedAt));
        if consumed <= verifier.book().accepted(lease.lease_id) {
            continue; // no new block yet: nothing new to attest
        }
        let receipt = signer.sign_usage(lease.lease_id, consumed, keccak256(now.to_be_bytes()), now)?;
        let increase = verifier.accept(receipt, now)?;
        // Serve the next second only if the escrow still covers everything unsettled.
        let exposure = provider.ensure_can_serve(lease.lease_id, verifier.book(), U256::from(state.pricePerSecond)).await?;
        println!(
            "round {round}: receipt for {} (+{}), unsettled {} of {} escrow",
            provider.amount(token, consumed),
            provider.amount(token, increase),
            provider.amount(token, exposure.unsettled),
            provider.amount(token, exposure.escrow)
        );
        if round % 4 == 0 {
            for outcome in provider.settle_book(verifier.book_mut()).await? {
                println!("  settled lease {}: {:?}, paid {}", outcome.lease_id, outcome.result, provider.amount(token, outcome.paid));
            }
            verifier.set_terms(provider.session_signer(TENANT, session.address()).await?);
        }
    }
    Ok(())
}
