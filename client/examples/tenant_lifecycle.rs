//! A tenant's life against `make devnet`: open a lease by EIP-2612 permit, authorize a session
//! signer, top up, read the runway, give notice.
//!
//! ```sh
//! make devnet                       # in another terminal
//! cargo run -p openlease-client --example tenant_lifecycle
//! ```
//! Acts as devnet tenant-2 (anvil account 5) on provider-1's first offer, with the devnet's session
//! signer (anvil account 6). Override with `OPENLEASE_RPC_URL`, `OPENLEASE_DEPLOYMENTS`, `OPENLEASE_TENANT_KEY`.

use std::path::PathBuf;

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use openlease_client::{Client, LeaseRequest, Manifest, parse_units};

/// anvil's account 5: devnet tenant-2.
const TENANT_KEY: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
/// anvil's account 1: devnet provider-1, whose offer is leased.
const PROVIDER: Address = alloy::primitives::address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
/// anvil's account 6: the devnet's session signer.
const SESSION_SIGNER: Address = alloy::primitives::address!("0x976EA74026E726554dB657fA54763abd0C3a0aa9");

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let rpc = std::env::var("OPENLEASE_RPC_URL").unwrap_or_else(|_| "http://127.0.0.1:8545".into());
    let dir = PathBuf::from(std::env::var("OPENLEASE_DEPLOYMENTS").unwrap_or_else(|_| "deployments".into()));
    let key: PrivateKeySigner = std::env::var("OPENLEASE_TENANT_KEY").unwrap_or_else(|_| TENANT_KEY.into()).parse()?;
    let client = Client::connect(&rpc, key, Manifest::load_for_chain(&dir, 31337)?).await?;
    let me = client.address();
    println!("tenant {me}");

    let offer_id = *client.offers_of(PROVIDER).await?.first().ok_or_else(|| eyre::eyre!("provider-1 has no offer"))?;
    let offer = client.offer(offer_id).await?;
    let coin = client.manifest().stablecoin_at(offer.token).ok_or_else(|| eyre::eyre!("unknown token"))?.clone();
    let deposit = parse_units("20", coin.decimals)?;
    client.send(client.token(coin.address).mint(me, deposit * alloy::primitives::U256::from(2))).await?;

    let opening = client.open_lease(LeaseRequest::new(&client.offer_quote(offer_id).await?, 86_400, deposit)).await?;
    let lease_id = opening.lease_id;
    println!(
        "lease {lease_id} opened on offer {offer_id} with {} escrowed by {:?}",
        client.amount(coin.address, deposit),
        opening.deposit_method
    );

    let expires_at = client.now().await? + 7 * 86_400;
    // Each provider gets its own authorization: what one accepted, no other can claim first.
    client.authorize_signer(SESSION_SIGNER, PROVIDER, parse_units("1000", coin.decimals)?, expires_at).await?;
    let terms = client.session_signer(me, SESSION_SIGNER, PROVIDER).await?;
    println!(
        "session signer {SESSION_SIGNER}: cap {}, spent {}",
        client.amount(coin.address, terms.cap),
        client.amount(coin.address, terms.spent)
    );

    println!("runway: {} s", client.runway(lease_id).await?.seconds_left());
    client.top_up(lease_id, parse_units("10", coin.decimals)?).await?;
    println!("topped up 10 {}: runway {} s", coin.symbol, client.runway(lease_id).await?.seconds_left());

    let ends_at = client.close_lease(lease_id).await?;
    println!("notice given: the lease ends at {ends_at}; after the settlement window, finalize_lease refunds the rest");
    Ok(())
}
