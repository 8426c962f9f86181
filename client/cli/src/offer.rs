//! `openlease offer`: a provider's offers of compute, and anyone's view of them.

use std::fmt::Write;

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
};
use clap::Subcommand;
use openlease_client::{
    Client, OfferTerms, StablecoinEntry, TokenAmount, TypedDuration, TypedPrice,
    contracts::{IOpenleaseTypes, workload},
    format_duration,
};
use serde_json::{Value, json};

use crate::{
    chain::existing_offer,
    config::Settings,
    error::{CliError, Result, bail},
    output::Report,
    units::{amount_json, coin_at, duration_arg, price_arg, stablecoin},
};

/// `openlease offer`.
#[derive(Debug, Subcommand)]
pub(crate) enum OfferCommand {
    /// Publishes an offer, e.g. `offer publish --price "0.36 USDC/h" --min-duration 1h --max-duration 30d --notice 10m --capacity 4`.
    Publish {
        /// Price per second, or per /min, /h, /d: `0.0001 USDC`, `0.36 USDC/h`.
        #[arg(long, value_parser = price_arg, allow_hyphen_values = true)]
        price: TypedPrice,
        /// The token leases pay in [default: the price's].
        #[arg(long)]
        token: Option<String>,
        /// Shortest lease.
        #[arg(long, value_parser = duration_arg)]
        min_duration: TypedDuration,
        /// Longest lease.
        #[arg(long, value_parser = duration_arg)]
        max_duration: TypedDuration,
        /// How long a close takes effect after notice; the lease's bond is sized on it.
        #[arg(long, value_parser = duration_arg)]
        notice: TypedDuration,
        /// How many leases may be open at once.
        #[arg(long, default_value_t = 1)]
        capacity: u16,
        /// What the offer runs, fixed for good: `demo` or a 32-byte digest (a model's weights, an
        /// image); your gateway attests it in every answer.
        #[arg(long, value_parser = |s: &str| workload::parse(s))]
        workload: Option<B256>,
        /// The contract that judges your answers on chain (`demo`, or an address), fixed for good:
        /// an answer it rejects costs you the lease's bond, with no arbiter.
        #[arg(long)]
        verifier: Option<String>,
    },
    /// Changes the terms new leases get (open leases keep theirs); what is not given stays.
    Update {
        /// The offer.
        offer_id: U256,
        /// Price per second, or per /min, /h, /d.
        #[arg(long, value_parser = price_arg, allow_hyphen_values = true)]
        price: Option<TypedPrice>,
        /// Shortest lease.
        #[arg(long, value_parser = duration_arg)]
        min_duration: Option<TypedDuration>,
        /// Longest lease.
        #[arg(long, value_parser = duration_arg)]
        max_duration: Option<TypedDuration>,
        /// Notice period.
        #[arg(long, value_parser = duration_arg)]
        notice: Option<TypedDuration>,
        /// How many leases may be open at once.
        #[arg(long)]
        capacity: Option<u16>,
    },
    /// Stops new leases of an offer.
    Pause {
        /// The offer.
        offer_id: U256,
    },
    /// Takes new leases of an offer again.
    Resume {
        /// The offer.
        offer_id: U256,
    },
    /// Accepts governance parameters for an offer's new leases, e.g. `offer accept-params 3 2`.
    /// Until you do, they keep the version the offer has: governance reaches no lease of yours
    /// without your consent.
    AcceptParams {
        /// The offer.
        offer_id: U256,
        /// The parameters version (in force) to accept [default: the one in force].
        version: Option<u16>,
    },
    /// The market's offers.
    List {
        /// Only this provider's.
        #[arg(long)]
        provider: Option<Address>,
    },
    /// One offer's terms.
    Show {
        /// The offer.
        offer_id: U256,
    },
}

/// Runs `openlease offer …`.
pub(crate) async fn run(command: OfferCommand, settings: &Settings) -> Result<Report> {
    match command {
        OfferCommand::Publish { price, token, min_duration, max_duration, notice, capacity, workload, verifier } => {
            let terms = TypedTerms {
                price: Some(price),
                min_duration: Some(min_duration),
                max_duration: Some(max_duration),
                notice: Some(notice),
                capacity: Some(capacity),
            };
            publish(settings, token, terms, workload.unwrap_or_default(), verifier).await
        }
        OfferCommand::Update { offer_id, price, min_duration, max_duration, notice, capacity } => {
            update(settings, offer_id, TypedTerms { price, min_duration, max_duration, notice, capacity }).await
        }
        OfferCommand::Pause { offer_id } => pause(settings, offer_id, true).await,
        OfferCommand::Resume { offer_id } => pause(settings, offer_id, false).await,
        OfferCommand::AcceptParams { offer_id, version } => accept_params(settings, offer_id, version).await,
        OfferCommand::List { provider } => list(settings, provider).await,
        OfferCommand::Show { offer_id } => show(settings, offer_id).await,
    }
}

/// Offer terms as typed; `None` keeps the current term on update.
#[derive(Debug)]
struct TypedTerms {
    price: Option<TypedPrice>,
    min_duration: Option<TypedDuration>,
    max_duration: Option<TypedDuration>,
    notice: Option<TypedDuration>,
    capacity: Option<u16>,
}

/// The market's `uint32` of seconds.
fn seconds(d: TypedDuration, what: &str) -> Result<u32> {
    u32::try_from(d.secs()).map_err(|_| CliError::new(format!("{what} of {d} is too long")))
}

impl TypedTerms {
    /// The terms for `coin`, with `current`'s where none is typed.
    fn resolve(&self, coin: &StablecoinEntry, current: &OfferTerms) -> Result<OfferTerms> {
        Ok(OfferTerms {
            token: coin.address,
            price_per_second: match &self.price {
                Some(price) => price.per_second(coin)?,
                None => current.price_per_second,
            },
            min_duration: self
                .min_duration
                .map(|d| seconds(d, "the minimum duration"))
                .transpose()?
                .unwrap_or(current.min_duration),
            max_duration: self
                .max_duration
                .map(|d| seconds(d, "the maximum duration"))
                .transpose()?
                .unwrap_or(current.max_duration),
            notice_period: self
                .notice
                .map(|d| seconds(d, "the notice period"))
                .transpose()?
                .unwrap_or(current.notice_period),
            capacity: self.capacity.unwrap_or(current.capacity),
            ..*current
        })
    }
}

/// `offer publish`.
async fn publish(
    settings: &Settings,
    token: Option<String>,
    terms: TypedTerms,
    workload: B256,
    verifier: Option<String>,
) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let verifier = verifier.map(|v| client.manifest().verifier(&v)).transpose().map_err(CliError::new)?;
    let symbol = token.as_deref().or(terms.price.as_ref().and_then(TypedPrice::symbol));
    let Some(symbol) = symbol else {
        bail!(hint = "write the price like `0.36 USDC/h`, or pass --token", "say which token the offer is paid in");
    };
    let coin = stablecoin(client.manifest(), symbol)?;
    let blank = OfferTerms {
        token: coin.address,
        price_per_second: 0,
        min_duration: 0,
        max_duration: 0,
        notice_period: 0,
        capacity: 0,
        workload,
        verifier: verifier.unwrap_or_default(),
    };
    let terms = terms.resolve(&coin, &blank)?;
    let offer_id = client.publish_offer(&terms).await.map_err(|e| CliError::in_token(e, &coin))?;
    let offer = client.offer(offer_id).await?;
    Ok(Report::new(
        format!("published offer {offer_id}\n{}", offer_text(&client, &offer)),
        offer_json(&client, offer_id, &offer),
    ))
}

/// `offer update`.
async fn update(settings: &Settings, offer_id: U256, terms: TypedTerms) -> Result<Report> {
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
        workload: offer.workload,
        verifier: offer.verifier,
    };
    let new = terms.resolve(&coin, &current)?;
    client.update_offer(offer_id, &new).await.map_err(|e| CliError::in_token(e, &coin))?;
    let offer = client.offer(offer_id).await?;
    Ok(Report::new(
        format!("updated offer {offer_id}\n{}", offer_text(&client, &offer)),
        offer_json(&client, offer_id, &offer),
    ))
}

/// `offer pause` / `offer resume`.
async fn pause(settings: &Settings, offer_id: U256, paused: bool) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    existing_offer(&client, offer_id).await?;
    client.set_offer_paused(offer_id, paused).await?;
    let verb = if paused { "paused" } else { "resumed" };
    Ok(Report::new(format!("offer {offer_id} {verb}"), json!({ "offerId": offer_id.to_string(), "paused": paused })))
}

/// `offer accept-params`.
async fn accept_params(settings: &Settings, offer_id: U256, version: Option<u16>) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    existing_offer(&client, offer_id).await?;
    let version = match version {
        Some(version) => version,
        None => client.market().paramsVersion().call().await.map_err(openlease_client::Error::from)?.saturating_to(),
    };
    client.accept_params(offer_id, version).await?;
    Ok(Report::new(
        format!("offer {offer_id}'s new leases get parameters version {version}; open leases keep theirs"),
        json!({ "offerId": offer_id.to_string(), "paramsVersion": version }),
    ))
}

/// `offer list`.
async fn list(settings: &Settings, provider: Option<Address>) -> Result<Report> {
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
            "offer {id}: {}/h, {}..{}, {} of {} leased{} (provider {})",
            TokenAmount::of(&coin, U256::from(offer.pricePerSecond) * U256::from(3600)),
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
async fn show(settings: &Settings, offer_id: U256) -> Result<Report> {
    let client = settings.connect(false).await?;
    let offer = existing_offer(&client, offer_id).await?;
    Ok(Report::new(format!("offer {offer_id}\n{}", offer_text(&client, &offer)), offer_json(&client, offer_id, &offer)))
}

fn offer_text<P: Provider + Clone>(client: &Client<P>, offer: &IOpenleaseTypes::Offer) -> String {
    let per_second = client.amount(offer.token, U256::from(offer.pricePerSecond));
    let per_hour = client.amount(offer.token, U256::from(offer.pricePerSecond) * U256::from(3600));
    format!(
        "  provider {}\n  runs {}\n  price {per_second}/s ({per_hour}/h)\n  duration {} to {}\n  notice {}\n  capacity {} ({} leased){}",
        offer.provider,
        workload_text(offer),
        format_duration(offer.minDuration.into()),
        format_duration(offer.maxDuration.into()),
        format_duration(offer.noticePeriod.into()),
        offer.capacity,
        offer.activeLeases,
        if offer.paused { "\n  paused" } else { "" }
    )
}

fn offer_json<P: Provider + Clone>(client: &Client<P>, offer_id: U256, offer: &IOpenleaseTypes::Offer) -> Value {
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
        "workload": offer.workload,
        "verifier": offer.verifier,
    })
}

/// What an offer runs and who judges it, in words.
fn workload_text(offer: &IOpenleaseTypes::Offer) -> String {
    let name = workload::name(offer.workload).map_or_else(|| offer.workload.to_string(), str::to_owned);
    match offer.verifier {
        Address::ZERO => format!("{name} (no on-chain verifier: wrong answers go to a dispute)"),
        v => format!("{name}, answers judged on chain by {v}"),
    }
}
