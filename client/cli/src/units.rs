//! The CLI's side of amounts, prices and durations: clap's parsers (the SDK parses, the CLI adds
//! how to write them), the market's tokens by symbol or address, and amounts as JSON. Parsing and
//! formatting themselves are the SDK's (`openlease_client::units`).

use alloy::{primitives::Address, providers::Provider};
use openlease_client::{
    Client, Error as SdkError, Manifest, StablecoinEntry, TokenAmount, TypedAmount, TypedDuration, TypedPrice,
};

use crate::error::{CliError, Result, amount_error, price_error};

/// clap's parser of an amount (`12.5 USDC`). Amount arguments take hyphen values, so that `-5`
/// is refused as a negative amount rather than taken for a flag.
pub(crate) fn amount_arg(input: &str) -> Result<TypedAmount, String> {
    input.parse().map_err(|e| {
        let rendered = amount_error(&e, None);
        match rendered.hint {
            Some(hint) => format!("{}: {hint}", rendered.message),
            None => rendered.message,
        }
    })
}

/// clap's parser of a price (`0.36 USDC/h`).
pub(crate) fn price_arg(input: &str) -> Result<TypedPrice, String> {
    input.parse().map_err(|e| {
        let rendered = price_error(&e);
        match rendered.hint {
            Some(hint) => format!("{}: {hint}", rendered.message),
            None => format!("{}: write prices like `0.36 USDC/h`", rendered.message),
        }
    })
}

/// clap's parser of a duration (`1h30m`).
pub(crate) fn duration_arg(input: &str) -> Result<TypedDuration, String> {
    input
        .parse()
        .map_err(|e| format!("{e}: write durations like `90s`, `10m`, `1h`, `30d` or `1h30m` (units s, m, h, d, w)"))
}

/// clap's parser of a share: `0.05` or `5%`, from 0 to 1.
pub(crate) fn share_arg(input: &str) -> Result<f64, String> {
    let (number, scale) = match input.trim().strip_suffix('%') {
        Some(percent) => (percent, 100.0),
        None => (input.trim(), 1.0),
    };
    match number.trim().parse::<f64>().map(|n| n / scale) {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("`{input}` is not a share: write one from 0 to 1, like `0.05`, or a percentage, like `5%`")),
    }
}

/// `amount` in `coin`, the token `what` (`lease 3`, `offer 1`) is paid in.
pub(crate) fn resolve_in(amount: &TypedAmount, coin: &StablecoinEntry, what: &str) -> Result<TokenAmount> {
    amount.resolve_in(coin).map_err(|e| amount_error(&e, Some(what)).into())
}

/// `amount` in the stablecoin of the market its symbol names.
pub(crate) fn resolve(amount: &TypedAmount, manifest: &Manifest) -> Result<(StablecoinEntry, TokenAmount)> {
    let (coin, amount) = amount.resolve_among(&manifest.stablecoins)?;
    Ok((coin.clone(), amount))
}

/// A stablecoin of the market by symbol or address.
pub(crate) fn stablecoin(manifest: &Manifest, token: &str) -> Result<StablecoinEntry> {
    let found = match token.parse::<Address>() {
        Ok(address) => manifest.stablecoin_at(address),
        Err(_) => manifest.stablecoin(token),
    };
    found.cloned().ok_or_else(|| {
        let known: Vec<_> = manifest.stablecoins.iter().map(|s| s.symbol.as_str()).collect();
        CliError::hint(
            format!("`{token}` is not a stablecoin of this market"),
            format!("use one of: {}", known.join(", ")),
        )
    })
}

/// The token at `token` (`Client::coin`): its decimals read from the token itself, its symbol
/// the manifest's label where it lists the token. A token that answers neither, or a manifest
/// that states other decimals, is refused: its amounts cannot be written in units.
pub(crate) async fn coin_at<P: Provider + Clone>(client: &Client<P>, token: Address) -> Result<StablecoinEntry> {
    client.coin(token).await.map_err(|e| match e {
        transport @ SdkError::Transport(_) => transport.into(),
        stale @ SdkError::StaleDecimals { .. } => CliError::hint(
            stale.to_string(),
            "the manifest is stale or edited: use the market's current one (--manifest or --deployments)",
        ),
        other => CliError::hint(
            format!("token {token} does not say its decimals and symbol: {other}"),
            "use the market's current manifest (--manifest or --deployments)",
        ),
    })
}

/// An amount for JSON: raw units (as a decimal string: they overflow JSON numbers), units, symbol.
pub(crate) fn amount_json(amount: &TokenAmount) -> serde_json::Value {
    serde_json::to_value(amount).expect("an amount serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_is_told_how_to_write_what_it_refused() {
        assert_eq!(amount_arg("-5").unwrap_err(), "`-5`: amounts cannot be negative: give the amount without a sign");
        assert_eq!(amount_arg("ten USDC").unwrap_err(), "`ten USDC` has no number: write amounts like `12.5 USDC`");
        assert!(price_arg("1 USDC/fortnight").unwrap_err().contains("use /s, /min, /h or /d"));
        assert!(duration_arg("1y").unwrap_err().contains("write durations like"));
        assert_eq!((share_arg("0.05"), share_arg("5%"), share_arg("100 %")), (Ok(0.05), Ok(0.05), Ok(1.0)));
        for wrong in ["1.5", "-1%", "half", "NaN"] {
            assert!(share_arg(wrong).unwrap_err().contains("from 0 to 1"), "{wrong}");
        }
        assert_eq!(duration_arg("1h30m").unwrap().secs(), 5400);
    }
}
