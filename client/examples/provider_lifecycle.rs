//! A provider's life against `make devnet`: profile, stake, an offer, the leases it serves with
//! their runway, its stake, an unstake request, and its earnings claimed.
//!
//! ```sh
//! make devnet                       # in another terminal
//! cargo run -p openlease-client --example provider_lifecycle
//! ```
//! Acts as anvil account 8, which the devnet funds but leaves to you (its seeded providers settle
//! on their own, so a second program sending as one of them would race it for nonces). Override
//! with `OPENLEASE_RPC_URL`, `OPENLEASE_DEPLOYMENTS` (a directory) and `OPENLEASE_PROVIDER_KEY`.

use std::path::PathBuf;

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use openlease_client::{Client, Manifest, OfferTerms, ProviderDetails, parse_units};

/// anvil's account 8.
const PROVIDER_KEY: &str = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97";

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let rpc = std::env::var("OPENLEASE_RPC_URL").unwrap_or_else(|_| "http://127.0.0.1:8545".into());
    let dir = PathBuf::from(std::env::var("OPENLEASE_DEPLOYMENTS").unwrap_or_else(|_| "deployments".into()));
    let key: PrivateKeySigner =
        std::env::var("OPENLEASE_PROVIDER_KEY").unwrap_or_else(|_| PROVIDER_KEY.into()).parse()?;
    let client = Client::connect(&rpc, key, Manifest::load_for_chain(&dir, 31337)?).await?;
    let me = client.address();
    let usdc = client.manifest().stablecoin("USDC").ok_or_else(|| eyre::eyre!("no USDC in the manifest"))?.clone();
    println!("provider {me} on market {}", client.manifest().market());

    let details = ProviderDetails {
        metadata_uri: "ipfs://openlease-examples/provider".into(),
        endpoint: "https://provider.example".into(),
        region: "eu-west".into(),
        attributes_hash: keccak256("gpu:a100;vcpu:32"),
    };
    if client.market().providerProfile(me).call().await?.registered {
        client.update_provider(&details).await?;
        println!("profile updated");
    } else {
        // This account signs its own usage attestations (proving it holds the key); the key is
        // fixed at registration.
        client.register_provider(&details).await?;
        println!("registered");
    }

    // The mock USDC has an open faucet; a real provider brings its own collateral.
    let amount = parse_units("100 USDC", usdc.decimals)?;
    client.send(client.token(usdc.address).mint(me, amount)).await?;
    let stake = client.stake(usdc.address, amount).await?;
    println!(
        "staked {}: {} free, {} locked in bonds",
        client.amount(usdc.address, amount),
        client.amount(usdc.address, stake.free),
        client.amount(usdc.address, stake.locked)
    );

    let terms = OfferTerms {
        token: usdc.address,
        price_per_second: 120,
        min_duration: 60,
        max_duration: 7 * 86_400,
        notice_period: 3_600,
        capacity: 4,
        workload: B256::ZERO,
        verifier: Address::ZERO,
    };
    let offer = client.publish_offer(&terms).await?;
    client.update_offer(offer, &OfferTerms { price_per_second: 110, ..terms }).await?;
    client.set_offer_paused(offer, true).await?;
    client.set_offer_paused(offer, false).await?;
    println!("offer {offer} published at 110 units/s, paused and resumed; offers: {:?}", client.offers_of(me).await?);

    for lease in client.leases_of(me).await? {
        let runway = client.runway(lease.lease_id).await?;
        let now = client.lease(lease.lease_id).await?;
        println!(
            "lease {} (offer {}, tenant {}): {} s of runway, {} settled of {}",
            lease.lease_id,
            lease.offer_id,
            lease.tenant,
            runway.seconds_left(),
            client.amount(usdc.address, U256::from(now.settled)),
            client.amount(usdc.address, U256::from(now.deposit)),
        );
    }

    let stake = client.request_unstake(usdc.address, parse_units("10", usdc.decimals)?).await?;
    println!(
        "unstaking {} until {} (withdraw_stake after that)",
        client.amount(usdc.address, stake.thawing),
        stake.thaw_ends_at
    );

    let earned = client.claimable(me, usdc.address).await?;
    if earned.is_zero() {
        println!("nothing to claim yet");
    } else {
        let claimed = client.claim(usdc.address, me).await?;
        println!("claimed {}", client.amount(usdc.address, claimed));
    }
    Ok(())
}
