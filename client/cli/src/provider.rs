//! The provider's commands: profile, stake, offers.

use std::fmt::Write;

use alloy::primitives::{Address, U256};
use openlease_client::{OfferTerms, ProviderDetails, StakeView, TokenAmount};
use openlease_contracts::IOpenleaseTypes;
use serde_json::{Value, json};

use crate::{
    account::ensure_balance,
    config::Settings,
    error::{CliError, Result, bail},
    output::{Output, Report},
    units::{Duration, TypedAmount, TypedPrice, amount_json, coin_at, format_duration, format_time, stablecoin},
};

/// `provider register` / `provider update`.
pub(crate) async fn register(settings: &Settings, details: ProviderDetails, update: bool) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    // An EOA provider attests its usage with its own key, fixed at registration.
    let tx = if update {
        client.update_provider(&details).await?
    } else {
        client.register_provider(&details, client.address()).await?
    };
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
pub(crate) async fn show(settings: &Settings, address: Option<Address>) -> Result<Report> {
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
pub(crate) async fn stake(settings: &Settings, out: Output, amount: TypedAmount) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (coin, amount) = amount.resolve(client.manifest())?;
    ensure_balance(&client, coin.address, amount.raw).await?;
    // The SDK approves the market first if its allowance is short.
    out.step(1, 1, format!("staking {amount}"));
    let stake = client.stake(coin.address, amount.raw).await?;
    let view = |raw| client.amount(coin.address, raw);
    Ok(Report::new(
        format!("staked {amount}: stake {} (free {}, locked {})", view(stake.staked), view(stake.free), view(stake.locked)),
        json!({ "staked": amount_json(&amount), "stake": stake_json(&stake, view) }),
    ))
}

/// `provider unstake`: starts the unbonding.
pub(crate) async fn unstake(settings: &Settings, amount: TypedAmount) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (coin, amount) = amount.resolve(client.manifest())?;
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
pub(crate) async fn withdraw(settings: &Settings, token: String, to: Option<Address>) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let coin = stablecoin(client.manifest(), &token)?;
    let to = to.unwrap_or(client.address());
    let amount = client.amount(coin.address, client.withdraw_stake(coin.address, to).await?);
    Ok(Report::new(format!("withdrew {amount} to {to}"), json!({ "withdrawn": amount_json(&amount), "to": to })))
}

/// Offer terms as typed; `None` keeps the current term on update.
#[derive(Debug)]
pub(crate) struct TypedTerms {
    pub(crate) price: Option<TypedPrice>,
    pub(crate) min_duration: Option<Duration>,
    pub(crate) max_duration: Option<Duration>,
    pub(crate) notice: Option<Duration>,
    pub(crate) capacity: Option<u16>,
}

fn seconds(d: Duration, what: &str) -> Result<u32> {
    u32::try_from(d.0).map_err(|_| CliError::new(format!("{what} of {} s is too long", d.0)))
}

impl TypedTerms {
    /// The terms for `coin`, with `current`'s where none is typed.
    fn resolve(&self, coin: &openlease_client::StablecoinEntry, current: &OfferTerms) -> Result<OfferTerms> {
        Ok(OfferTerms {
            token: coin.address,
            price_per_second: match &self.price {
                Some(price) => price.per_second(coin)?,
                None => current.price_per_second,
            },
            min_duration: self.min_duration.map(|d| seconds(d, "the minimum duration")).transpose()?.unwrap_or(current.min_duration),
            max_duration: self.max_duration.map(|d| seconds(d, "the maximum duration")).transpose()?.unwrap_or(current.max_duration),
            notice_period: self.notice.map(|d| seconds(d, "the notice period")).transpose()?.unwrap_or(current.notice_period),
            capacity: self.capacity.unwrap_or(current.capacity),
        })
    }
}

/// `offer publish`.
pub(crate) async fn publish(settings: &Settings, token: Option<String>, terms: TypedTerms) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let symbol = token.as_deref().or(terms.price.as_ref().and_then(TypedPrice::symbol));
    let Some(symbol) = symbol else {
        bail!(hint = "write the price like `0.36 USDC/h`, or pass --token", "say which token the offer is paid in");
    };
    let coin = stablecoin(client.manifest(), symbol)?;
    let blank = OfferTerms { token: coin.address, price_per_second: 0, min_duration: 0, max_duration: 0, notice_period: 0, capacity: 0 };
    let terms = terms.resolve(&coin, &blank)?;
    let offer_id = client.publish_offer(&terms).await.map_err(|e| CliError::in_token(e, &coin))?;
    let offer = client.offer(offer_id).await?;
    Ok(Report::new(format!("published offer {offer_id}\n{}", offer_text(&client, &offer)), offer_json(&client, offer_id, &offer)))
}

/// `offer update`.
pub(crate) async fn update_offer(settings: &Settings, offer_id: U256, terms: TypedTerms) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let offer = existing_offer(&client, offer_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let current = OfferTerms {
        token: offer.token,
        price_per_second: offer.pricePerSecond,
        min_duration: offer.minDuration,
        max_duration: offer.maxDuration,
        notice_period: offer.noticePeriod,
        capacity: offer.capacity,
    };
    let new = terms.resolve(&coin, &current)?;
    client.update_offer(offer_id, &new).await.map_err(|e| CliError::in_token(e, &coin))?;
    let offer = client.offer(offer_id).await?;
    Ok(Report::new(format!("updated offer {offer_id}\n{}", offer_text(&client, &offer)), offer_json(&client, offer_id, &offer)))
}

/// `offer pause` / `offer resume`.
pub(crate) async fn pause(settings: &Settings, offer_id: U256, paused: bool) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    existing_offer(&client, offer_id).await?;
    client.set_offer_paused(offer_id, paused).await?;
    let verb = if paused { "paused" } else { "resumed" };
    Ok(Report::new(format!("offer {offer_id} {verb}"), json!({ "offerId": offer_id.to_string(), "paused": paused })))
}

/// `offer list`.
pub(crate) async fn list_offers(settings: &Settings, provider: Option<Address>) -> Result<Report> {
    let client = settings.connect(false).await?;
    let ids = match provider {
        Some(provider) => client.offers_of(provider).await?,
        None => {
            let count = client.market().offerCount().call().await.map_err(openlease_client::Error::from)?;
            (1..=count.to::<u64>()).map(U256::from).collect()
        }
    };
    let (mut text, mut json) = (String::new(), Vec::new());
    for id in ids {
        let offer = client.offer(id).await?;
        let coin = coin_at(&client, offer.token).await?;
        let _ = writeln!(
            text,
            "offer {id}: {} {}/h, {}..{}, {} of {} leased{} (provider {})",
            openlease_client::format_units(U256::from(offer.pricePerSecond) * U256::from(3600), coin.decimals),
            coin.symbol,
            format_duration(offer.minDuration.into()),
            format_duration(offer.maxDuration.into()),
            offer.activeLeases,
            offer.capacity,
            if offer.paused { ", paused" } else { "" },
            offer.provider
        );
        json.push(offer_json(&client, id, &offer));
    }
    if json.is_empty() {
        text = "no offers".into();
    }
    Ok(Report::new(text, json!({ "offers": json })))
}

/// `offer show`.
pub(crate) async fn show_offer(settings: &Settings, offer_id: U256) -> Result<Report> {
    let client = settings.connect(false).await?;
    let offer = existing_offer(&client, offer_id).await?;
    Ok(Report::new(format!("offer {offer_id}\n{}", offer_text(&client, &offer)), offer_json(&client, offer_id, &offer)))
}

/// An offer that exists, or an error saying so.
pub(crate) async fn existing_offer<P: alloy::providers::Provider + Clone>(
    client: &openlease_client::Client<P>,
    offer_id: U256,
) -> Result<IOpenleaseTypes::Offer> {
    let offer = client.offer(offer_id).await?;
    if offer.provider == Address::ZERO {
        bail!(hint = "`openlease offer list` shows the offers", "offer {offer_id} does not exist");
    }
    Ok(offer)
}

fn offer_text<P: alloy::providers::Provider + Clone>(
    client: &openlease_client::Client<P>,
    offer: &IOpenleaseTypes::Offer,
) -> String {
    let per_second = client.amount(offer.token, U256::from(offer.pricePerSecond));
    let per_hour = client.amount(offer.token, U256::from(offer.pricePerSecond) * U256::from(3600));
    format!(
        "  provider {}\n  price {per_second}/s ({per_hour}/h)\n  duration {} to {}\n  notice {}\n  capacity {} ({} leased){}",
        offer.provider,
        format_duration(offer.minDuration.into()),
        format_duration(offer.maxDuration.into()),
        format_duration(offer.noticePeriod.into()),
        offer.capacity,
        offer.activeLeases,
        if offer.paused { "\n  paused" } else { "" }
    )
}

fn offer_json<P: alloy::providers::Provider + Clone>(
    client: &openlease_client::Client<P>,
    offer_id: U256,
    offer: &IOpenleaseTypes::Offer,
) -> Value {
    json!({
        "offerId": offer_id.to_string(),
        "provider": offer.provider,
        "token": offer.token,
        "pricePerSecond": amount_json(&client.amount(offer.token, U256::from(offer.pricePerSecond))),
        "minDuration": offer.minDuration,
        "maxDuration": offer.maxDuration,
        "noticePeriod": offer.noticePeriod,
        "capacity": offer.capacity,
        "activeLeases": offer.activeLeases,
        "paused": offer.paused,
    })
}
