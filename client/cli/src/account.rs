//! An account's money: wallet balances, claimable payouts, stake; claiming; devnet minting.

use std::fmt::Write;

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use serde_json::json;

use crate::{
    config::Settings,
    error::{CliError, Result},
    output::{Output, Report},
    units::{TypedAmount, amount_json, format_time, stablecoin},
};

/// `status`: balances, claimable and stake in every stablecoin.
pub(crate) async fn status(settings: &Settings, address: Option<Address>) -> Result<Report> {
    let client = settings.connect(address.is_none()).await?;
    let account = address.unwrap_or(client.address());
    let eth = client.provider().get_balance(account).await.map_err(openlease_client::Error::from)?;
    let registered = client.market().providerProfile(account).call().await.map_err(openlease_client::Error::from)?;
    let mut text = format!(
        "account {account}\n  ETH {}\n  provider: {}\n",
        openlease_client::format_units(eth, 18),
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
pub(crate) async fn claim(settings: &Settings, out: Output, token: Option<String>, to: Option<Address>) -> Result<Report> {
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
pub(crate) async fn tokens(settings: &Settings) -> Result<Report> {
    let client = settings.connect(false).await?;
    let coins = &client.manifest().stablecoins;
    let text = coins.iter().map(|c| format!("{:<6} {} ({} decimals)", c.symbol, c.address, c.decimals)).collect::<Vec<_>>();
    let json = coins
        .iter()
        .map(|c| json!({ "symbol": c.symbol, "address": c.address, "decimals": c.decimals }))
        .collect::<Vec<_>>();
    Ok(Report::new(text.join("\n"), json!({ "market": client.manifest().market(), "tokens": json })))
}

/// `token mint`: a mock stablecoin's open `mint`.
pub(crate) async fn mint(settings: &Settings, amount: TypedAmount, to: Option<Address>) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (coin, amount) = amount.resolve(client.manifest())?;
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

/// Refuses to go on when `account` holds less than `needed` of the token.
pub(crate) async fn ensure_balance<P: Provider + Clone>(
    client: &openlease_client::Client<P>,
    token: Address,
    needed: U256,
) -> Result<()> {
    let balance = client.balance(token, client.address()).await?;
    if balance < needed {
        let (have, need) = (client.amount(token, balance), client.amount(token, needed));
        return Err(CliError::hint(
            format!("insufficient balance: you hold {have}, {need} needed"),
            format!(
                "get more {} first (on a devnet: `openlease token mint \"{} {}\"`)",
                need.symbol,
                openlease_client::format_units(needed - balance, need.decimals),
                need.symbol
            ),
        ));
    }
    Ok(())
}
