//! `openlease provider`: a provider's profile and stake.

use std::fmt::Write;

use alloy::primitives::{Address, B256, U256, keccak256};
use clap::{Args, Subcommand};
use openlease_client::{ProviderDetails, StakeView, TokenAmount, TypedAmount, format_time};
use serde_json::{Value, json};

use crate::{
    config::Settings,
    error::{Result, bail},
    output::{Output, Report},
    units::{amount_arg, amount_json, resolve, stablecoin},
};

/// `openlease provider`.
#[derive(Debug, Subcommand)]
pub(crate) enum ProviderCommand {
    /// Registers you as a provider.
    Register(ProfileArgs),
    /// Replaces your provider profile.
    Update(ProfileArgs),
    /// A provider's profile, stake and offers.
    Show {
        /// The provider [default: you].
        address: Option<Address>,
    },
    /// Stakes collateral, e.g. `provider stake "10000 USDC"` (approves the market first if needed).
    Stake {
        /// The amount with its token.
        #[arg(value_parser = amount_arg, allow_hyphen_values = true)]
        amount: TypedAmount,
    },
    /// Starts the unbonding of free stake, e.g. `provider unstake "500 USDC"`.
    Unstake {
        /// The amount with its token.
        #[arg(value_parser = amount_arg, allow_hyphen_values = true)]
        amount: TypedAmount,
    },
    /// Withdraws all stake that finished unbonding.
    Withdraw {
        /// The token, by symbol or address.
        token: String,
        /// Where to send it [default: you].
        #[arg(long)]
        to: Option<Address>,
    },
}

/// A provider's profile.
#[derive(Debug, Args)]
pub(crate) struct ProfileArgs {
    /// Where tenants reach the service.
    #[arg(long)]
    endpoint: String,
    /// Where the hardware runs.
    #[arg(long)]
    region: String,
    /// Where the provider describes itself (JSON).
    #[arg(long, default_value = "")]
    metadata_uri: String,
    /// The hardware attributes, hashed on chain (e.g. `gpu:a100,ram:80g`).
    #[arg(long, conflicts_with = "attributes_hash")]
    attributes: Option<String>,
    /// The hardware attributes' hash, if you hashed them yourself.
    #[arg(long)]
    attributes_hash: Option<B256>,
}

impl ProfileArgs {
    fn into_details(self) -> ProviderDetails {
        let attributes_hash =
            self.attributes_hash.or(self.attributes.map(|a| keccak256(a.as_bytes()))).unwrap_or_default();
        ProviderDetails {
            metadata_uri: self.metadata_uri,
            endpoint: self.endpoint,
            region: self.region,
            attributes_hash,
        }
    }
}

/// Runs `openlease provider …`.
pub(crate) async fn run(command: ProviderCommand, settings: &Settings, out: Output) -> Result<Report> {
    match command {
        ProviderCommand::Register(p) => register(settings, p.into_details(), false).await,
        ProviderCommand::Update(p) => register(settings, p.into_details(), true).await,
        ProviderCommand::Show { address } => show(settings, address).await,
        ProviderCommand::Stake { amount } => stake(settings, out, amount).await,
        ProviderCommand::Unstake { amount } => unstake(settings, amount).await,
        ProviderCommand::Withdraw { token, to } => withdraw(settings, token, to).await,
    }
}

/// `provider register` / `provider update`.
async fn register(settings: &Settings, details: ProviderDetails, update: bool) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    // An EOA provider attests its usage with its own key (proving it holds it), fixed at registration.
    let tx = if update { client.update_provider(&details).await? } else { client.register_provider(&details).await? };
    let verb = if update { "updated" } else { "registered" };
    Ok(Report::new(
        format!("{verb} provider {} ({}, {})", client.address(), details.endpoint, details.region),
        json!({ "provider": client.address(), verb: true, "tx": tx.transaction_hash, "profile": profile_json(&details) }),
    ))
}

fn profile_json(d: &ProviderDetails) -> Value {
    json!({ "metadataUri": d.metadata_uri, "endpoint": d.endpoint, "region": d.region, "attributesHash": d.attributes_hash })
}

fn stake_json(stake: &StakeView, amount: impl Fn(U256) -> TokenAmount) -> Value {
    json!({
        "staked": amount_json(&amount(stake.staked)),
        "free": amount_json(&amount(stake.free)),
        "locked": amount_json(&amount(stake.locked)),
        "thawing": amount_json(&amount(stake.thawing)),
        "thawEndsAt": stake.thaw_ends_at,
    })
}

/// `provider show`.
async fn show(settings: &Settings, address: Option<Address>) -> Result<Report> {
    let client = settings.connect(address.is_none()).await?;
    let provider = address.unwrap_or(client.address());
    let Some(details) = client.provider_details(provider).await? else {
        bail!(hint = "register with `openlease provider register`", "{provider} is not a registered provider");
    };
    let mut text = format!(
        "provider {provider}\n  endpoint {}\n  region {}\n  metadata {}\n  attributes {}\n",
        details.endpoint,
        details.region,
        if details.metadata_uri.is_empty() { "none" } else { &details.metadata_uri },
        details.attributes_hash
    );
    let mut stakes = Vec::new();
    for coin in &client.manifest().stablecoins {
        let stake = client.stake_of(provider, coin.address).await?;
        if stake.staked.is_zero() && stake.thawing.is_zero() {
            continue;
        }
        let amount = |raw| client.amount(coin.address, raw);
        let _ = writeln!(
            text,
            "  stake {} (free {}, locked {}, thawing {})",
            amount(stake.staked),
            amount(stake.free),
            amount(stake.locked),
            amount(stake.thawing)
        );
        let mut entry = stake_json(&stake, amount);
        entry["symbol"] = json!(coin.symbol);
        stakes.push(entry);
    }
    let offers = client.offers_of(provider).await?;
    let ids: Vec<String> = offers.iter().map(U256::to_string).collect();
    let _ = writeln!(text, "  offers {}", if ids.is_empty() { "none".into() } else { ids.join(", ") });
    Ok(Report::new(
        text,
        json!({ "provider": provider, "profile": profile_json(&details), "stake": stakes, "offers": ids }),
    ))
}

/// `provider stake`: approve, then stake.
async fn stake(settings: &Settings, out: Output, amount: TypedAmount) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (coin, amount) = resolve(&amount, client.manifest())?;
    client.prepare().check_stake(client.address(), coin.address, amount.raw).await?;
    // The SDK approves the market first if its allowance is short.
    out.step(1, 1, format!("staking {amount}"));
    let stake = client.stake(coin.address, amount.raw).await?;
    let view = |raw| client.amount(coin.address, raw);
    Ok(Report::new(
        format!(
            "staked {amount}: stake {} (free {}, locked {})",
            view(stake.staked),
            view(stake.free),
            view(stake.locked)
        ),
        json!({ "staked": amount_json(&amount), "stake": stake_json(&stake, view) }),
    ))
}

/// `provider unstake`: starts the unbonding.
async fn unstake(settings: &Settings, amount: TypedAmount) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (coin, amount) = resolve(&amount, client.manifest())?;
    let before = client.stake_of(client.address(), coin.address).await?;
    if before.free < amount.raw {
        let free = client.amount(coin.address, before.free);
        bail!(
            hint = "locked stake backs open leases' bonds; it frees when they are finalized",
            "only {free} of your stake is free, {amount} asked"
        );
    }
    let stake = client.request_unstake(coin.address, amount.raw).await?;
    let view = |raw| client.amount(coin.address, raw);
    Ok(Report::new(
        format!(
            "unbonding {amount}: {} thawing, withdrawable from {} with `openlease provider withdraw {}`",
            view(stake.thawing),
            format_time(stake.thaw_ends_at),
            coin.symbol
        ),
        json!({ "unstaked": amount_json(&amount), "stake": stake_json(&stake, view) }),
    ))
}

/// `provider withdraw`.
async fn withdraw(settings: &Settings, token: String, to: Option<Address>) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let coin = stablecoin(client.manifest(), &token)?;
    let to = to.unwrap_or(client.address());
    let amount = client.amount(coin.address, client.withdraw_stake(coin.address, to).await?);
    Ok(Report::new(format!("withdrew {amount} to {to}"), json!({ "withdrawn": amount_json(&amount), "to": to })))
}
