//! `status`, `claim` and `token`: an account's money (wallet balances, claimable payouts, stake),
//! claiming it, the market's stablecoins and minting mock ones.

use std::fmt::Write;

use alloy::{primitives::Address, providers::Provider};
use clap::Subcommand;
use openlease_client::{TypedAmount, format_time, format_units};
use serde_json::json;

use crate::{
    config::Settings,
    error::{CliError, Result},
    output::{Output, Report},
    units::{amount_arg, amount_json, resolve, stablecoin},
};

/// `openlease token`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// The stablecoins of the market.
    List,
    /// Mints a mock stablecoin (devnets and testnets only), e.g. `token mint "1000 USDC"`.
    Mint {
        /// The amount with its token.
        #[arg(value_parser = amount_arg, allow_hyphen_values = true)]
        amount: TypedAmount,
        /// Who gets it [default: you].
        #[arg(long)]
        to: Option<Address>,
    },
}

/// Runs `openlease token …`.
pub(crate) async fn token(command: TokenCommand, settings: &Settings) -> Result<Report> {
    match command {
        TokenCommand::List => tokens(settings).await,
        TokenCommand::Mint { amount, to } => mint(settings, amount, to).await,
    }
}

/// `status`: balances, claimable and stake in every stablecoin.
pub(crate) async fn status(settings: &Settings, address: Option<Address>) -> Result<Report> {
    let client = settings.connect(address.is_none()).await?;
    let account = address.unwrap_or(client.address());
    let eth = client.provider().get_balance(account).await.map_err(openlease_client::Error::from)?;
    let registered = client.market().providerProfile(account).call().await.map_err(openlease_client::Error::from)?;
    let mut text = format!(
        "account {account}\n  ETH {}\n  provider: {}\n",
        format_units(eth, 18),
        if registered.registered { "registered" } else { "not registered" }
    );
    let mut tokens = Vec::new();
    for coin in &client.manifest().stablecoins {
        let amount = |raw| client.amount(coin.address, raw);
        let balance = amount(client.balance(coin.address, account).await?);
        let claimable = amount(client.claimable(account, coin.address).await?);
        let stake = client.stake_of(account, coin.address).await?;
        let _ = write!(text, "  {}: wallet {balance}, claimable {claimable}", coin.symbol);
        if !stake.staked.is_zero() || !stake.thawing.is_zero() {
            let _ = write!(
                text,
                ", stake {} (free {}, locked {})",
                amount(stake.staked),
                amount(stake.free),
                amount(stake.locked)
            );
        }
        if !stake.thawing.is_zero() {
            let _ = write!(text, ", thawing {} until {}", amount(stake.thawing), format_time(stake.thaw_ends_at));
        }
        text.push('\n');
        tokens.push(json!({
            "symbol": coin.symbol,
            "address": coin.address,
            "balance": amount_json(&balance),
            "claimable": amount_json(&claimable),
            "stake": {
                "staked": amount_json(&amount(stake.staked)),
                "free": amount_json(&amount(stake.free)),
                "locked": amount_json(&amount(stake.locked)),
                "thawing": amount_json(&amount(stake.thawing)),
                "thawEndsAt": stake.thaw_ends_at,
            },
        }));
    }
    let json = json!({
        "address": account,
        "eth": eth.to_string(),
        "registeredProvider": registered.registered,
        "tokens": tokens,
    });
    Ok(Report::new(text, json))
}

/// `claim`: pulls one token's claimable balance, or every token's.
pub(crate) async fn claim(
    settings: &Settings,
    out: Output,
    token: Option<String>,
    to: Option<Address>,
) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let to = to.unwrap_or(client.address());
    let coins = match &token {
        Some(token) => vec![stablecoin(client.manifest(), token)?],
        None => {
            let mut owed = Vec::new();
            for coin in &client.manifest().stablecoins {
                if !client.claimable(client.address(), coin.address).await?.is_zero() {
                    owed.push(coin.clone());
                }
            }
            owed
        }
    };
    let (mut text, mut claims) = (String::new(), Vec::new());
    for (i, coin) in coins.iter().enumerate() {
        out.step(i + 1, coins.len(), format!("claiming {}", coin.symbol));
        let amount = client.amount(coin.address, client.claim(coin.address, to).await?);
        let _ = writeln!(text, "claimed {amount} to {to}");
        claims.push(json!({ "token": coin.address, "amount": amount_json(&amount), "to": to }));
    }
    if claims.is_empty() {
        text = "nothing to claim".into();
    }
    Ok(Report::new(text, json!({ "claimed": claims })))
}

/// `token list`.
async fn tokens(settings: &Settings) -> Result<Report> {
    let client = settings.connect(false).await?;
    let coins = &client.manifest().stablecoins;
    let text =
        coins.iter().map(|c| format!("{:<6} {} ({} decimals)", c.symbol, c.address, c.decimals)).collect::<Vec<_>>();
    let json = coins
        .iter()
        .map(|c| json!({ "symbol": c.symbol, "address": c.address, "decimals": c.decimals }))
        .collect::<Vec<_>>();
    Ok(Report::new(text.join("\n"), json!({ "market": client.manifest().market(), "tokens": json })))
}

/// `token mint`: a mock stablecoin's open `mint`.
async fn mint(settings: &Settings, amount: TypedAmount, to: Option<Address>) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (coin, amount) = resolve(&amount, client.manifest())?;
    let to = to.unwrap_or(client.address());
    client.send(client.token(coin.address).mint(to, amount.raw)).await.map_err(|e| match e {
        openlease_client::Error::Transport(_) => CliError::from(e),
        other => CliError::hint(
            format!("{} cannot be minted: {other}", coin.symbol),
            "only the mock stablecoins of a devnet or testnet mint; get real ones elsewhere",
        ),
    })?;
    let balance = client.amount(coin.address, client.balance(coin.address, to).await?);
    Ok(Report::new(
        format!("minted {amount} to {to}; balance {balance}"),
        json!({ "minted": amount_json(&amount), "to": to, "balance": amount_json(&balance) }),
    ))
}
