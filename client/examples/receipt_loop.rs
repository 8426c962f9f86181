//! The receipt loop against `make devnet`: a tenant leases the offer of the provider of
//! `provider_lifecycle` and authorizes a fresh session signer; the signer signs a cumulative
//! receipt every second; the provider verifies each before serving on, refuses to serve past what
//! the escrow covers, and settles the newest receipt every few rounds.
//!
//! ```sh
//! make devnet                       # in another terminal
//! cargo run -p openlease-client --example provider_lifecycle
//! cargo run -p openlease-client --example receipt_loop
//! ```
//! The provider is anvil account 8, the tenant account 9 (both funded by the devnet and left to
//! you). `ROUNDS` sets how many receipts.

use std::{path::PathBuf, time::Duration};

use alloy::{
    primitives::{U256, keccak256},
    signers::local::PrivateKeySigner,
};
use openlease_client::{Client, LeaseRequest, Manifest, ReceiptVerifier, SignerGrant, parse_units};

/// anvil's account 8: the provider of the `provider_lifecycle` example.
const PROVIDER_KEY: &str = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97";
/// anvil's account 9.
const TENANT_KEY: &str = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let rpc = std::env::var("OPENLEASE_RPC_URL").unwrap_or_else(|_| "http://127.0.0.1:8545".into());
    let dir = PathBuf::from(std::env::var("OPENLEASE_DEPLOYMENTS").unwrap_or_else(|_| "deployments".into()));
    let rounds: u64 = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(12);
    let manifest = Manifest::load_for_chain(&dir, 31337)?;
    let provider = Client::connect(&rpc, PROVIDER_KEY.parse()?, manifest.clone()).await?;
    let tenant = Client::connect(&rpc, TENANT_KEY.parse()?, manifest).await?;

    // The tenant's side: a lease on the provider's newest offer, and a session key for its service.
    let offer_id =
        *provider.offers_of(provider.address()).await?.last().ok_or_else(|| {
            eyre::eyre!("{} has no offer: run the provider_lifecycle example first", provider.address())
        })?;
    let offer = tenant.offer(offer_id).await?;
    let token = offer.token;
    let decimals = tenant.manifest().stablecoin_at(token).map_or(6, |c| c.decimals);
    let deposit = parse_units("5", decimals)?;
    tenant.send(tenant.token(token).mint(tenant.address(), deposit)).await?;
    // The session key is authorized for this provider in the transaction that opens the lease.
    let session = PrivateKeySigner::random();
    let expiry = tenant.now().await? + 3_600;
    let grant = SignerGrant { signer: session.address(), cap: deposit, expires_at: expiry };
    let request = LeaseRequest::new(&tenant.offer_quote(offer_id).await?, 3_600, deposit).authorizing(grant);
    let lease_id = tenant.open_lease(request).await?.lease_id;
    let signer = tenant.receipt_signer(session.clone());
    let state = tenant.lease(lease_id).await?;
    println!("serving lease {lease_id} of {} at {} units/s", tenant.address(), state.pricePerSecond);

    // The provider's side: terms read from the chain, the lease's settled total as the baseline.
    let terms = provider.session_signer(tenant.address(), session.address(), provider.address()).await?;
    let mut verifier = ReceiptVerifier::new(provider.receipt_domain(), session.address(), terms)
        .with_lease(lease_id, U256::from(state.settled));

    for round in 1..=rounds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = provider.now().await?;
        let consumed = U256::from(state.pricePerSecond) * U256::from(now - u64::from(state.startedAt));
        if consumed <= verifier.book().accepted(lease_id) {
            continue; // no new block yet: nothing new to attest
        }
        let receipt = signer.sign_usage(lease_id, consumed, keccak256(now.to_be_bytes()), now)?;
        let increase = verifier.accept(receipt, now)?;
        // Serve the next second only if the escrow still covers everything unsettled.
        let exposure = provider.ensure_can_serve(lease_id, verifier.book(), U256::from(state.pricePerSecond)).await?;
        println!(
            "round {round}: receipt for {} (+{}), unsettled {} of {} escrow",
            provider.amount(token, consumed),
            provider.amount(token, increase),
            provider.amount(token, exposure.unsettled),
            provider.amount(token, exposure.escrow)
        );
        if round % 4 == 0 {
            for outcome in provider.settle_book(verifier.book_mut()).await? {
                println!(
                    "  settled lease {}: {:?}, paid {}",
                    outcome.lease_id,
                    outcome.result,
                    provider.amount(token, outcome.paid)
                );
            }
            verifier.set_terms(provider.session_signer(tenant.address(), session.address(), provider.address()).await?);
        }
    }
    let closes_at = tenant.close_lease(lease_id).await?;
    println!("tenant gave notice: lease {lease_id} ends at {closes_at}");
    Ok(())
}
