//! What people type and read: amounts in token units (`12.5 USDC`), prices (`0.36 USDC/h`),
//! durations (`1h`, `30d`, `1h30m`) and times (`2026-11-21 18:20:00 UTC`).

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use openlease_client::{
    Client, Error as SdkError, Manifest, StablecoinEntry, TokenAmount, format_units, parse_units,
};

use crate::error::{CliError, Result, bail};

/// An amount as typed: the number and the symbol, if one was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypedAmount {
    /// The number, `12.5`.
    pub(crate) number: String,
    /// The symbol, `USDC`, if given.
    pub(crate) symbol: Option<String>,
    /// Everything typed, for messages.
    pub(crate) input: String,
}

impl std::str::FromStr for TypedAmount {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, String> {
        let text = input.trim();
        let split = text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len());
        let (number, symbol) = (text[..split].trim(), text[split..].trim());
        if number.is_empty() {
            return Err(format!("`{input}` has no number: write amounts like `12.5 USDC`"));
        }
        if !number.chars().all(|c| c.is_ascii_digit() || c == '.') || number.matches('.').count() > 1 {
            return Err(format!("`{number}` is not a number: write amounts like `12.5 USDC`"));
        }
        if !symbol.is_empty() && !symbol.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("`{symbol}` is not a token symbol: write amounts like `12.5 USDC`"));
        }
        Ok(Self {
            number: number.to_string(),
            symbol: (!symbol.is_empty()).then(|| symbol.to_string()),
            input: input.to_string(),
        })
    }
}

impl TypedAmount {
    /// The amount in `coin`, whose symbol, if one was typed, must be `coin`'s.
    pub(crate) fn resolve_in(&self, coin: &StablecoinEntry, what: &str) -> Result<TokenAmount> {
        if let Some(symbol) = &self.symbol
            && !symbol.eq_ignore_ascii_case(&coin.symbol)
        {
            bail!(hint = format!("write the amount in {0}, like `{1} {0}`", coin.symbol, self.number),
                "`{}`: {what} is paid in {}, not {symbol}", self.input, coin.symbol);
        }
        Ok(TokenAmount::new(parse_units(&self.number, coin.decimals)?, coin.decimals, coin.symbol.clone()))
    }

    /// The amount in the stablecoin its symbol names.
    pub(crate) fn resolve(&self, manifest: &Manifest) -> Result<(StablecoinEntry, TokenAmount)> {
        let Some(symbol) = &self.symbol else {
            bail!(hint = format!("for example `{} USDC`", self.number), "`{}`: say which token", self.input);
        };
        let coin = stablecoin(manifest, symbol)?;
        let amount = self.resolve_in(&coin, "it")?;
        Ok((coin, amount))
    }
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

/// The token at `token`: the manifest's stablecoin, or, for a token the manifest does not list
/// (a stale manifest), its `symbol()` and `decimals()` read from the token itself. A token that
/// answers neither is refused: its amounts cannot be written in units.
pub(crate) async fn coin_at<P: Provider + Clone>(client: &Client<P>, token: Address) -> Result<StablecoinEntry> {
    if let Some(coin) = client.manifest().stablecoin_at(token) {
        return Ok(coin.clone());
    }
    let erc20 = client.token(token);
    let (decimals, symbol) = (erc20.decimals().call().await, erc20.symbol().call().await);
    match (decimals, symbol) {
        (Ok(decimals), Ok(symbol)) => Ok(StablecoinEntry { symbol, address: token, decimals }),
        (Err(e), _) | (_, Err(e)) => match SdkError::from(e) {
            transport @ SdkError::Transport(_) => Err(transport.into()),
            other => Err(CliError::hint(
                format!("token {token} is not in the deployment manifest and does not say its decimals and symbol: {other}"),
                "use the market's current manifest (--manifest or --deployments)",
            )),
        },
    }
}

/// `raw` units of `coin`, for display.
pub(crate) fn amount_in(coin: &StablecoinEntry, raw: U256) -> TokenAmount {
    TokenAmount::new(raw, coin.decimals, coin.symbol.clone())
}

/// An amount for JSON: raw units (as a decimal string: they overflow JSON numbers), units, symbol.
pub(crate) fn amount_json(amount: &TokenAmount) -> serde_json::Value {
    serde_json::json!({
        "raw": amount.raw.to_string(),
        "units": format_units(amount.raw, amount.decimals),
        "symbol": amount.symbol,
    })
}

/// A price per second as typed: `0.0001 USDC` or `0.0001 USDC/s`, `0.36 USDC/h`, `8.64/d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypedPrice {
    amount: TypedAmount,
    per_seconds: u64,
    input: String,
}

impl std::str::FromStr for TypedPrice {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, String> {
        let (amount, per) = match input.rsplit_once('/') {
            Some((amount, per)) => (amount, per.trim()),
            None => (input, "s"),
        };
        let per_seconds = match per {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            other => return Err(format!("`/{other}` is not a time unit: use /s, /min, /h or /d")),
        };
        Ok(Self { amount: amount.parse()?, per_seconds, input: input.to_string() })
    }
}

impl TypedPrice {
    /// The raw units per second in `coin`; a price that does not divide into whole raw units per
    /// second is refused rather than rounded.
    pub(crate) fn per_second(&self, coin: &StablecoinEntry) -> Result<u64> {
        let total = self.amount.resolve_in(coin, "the offer")?.raw;
        let per = U256::from(self.per_seconds);
        if total % per != U256::ZERO {
            bail!(
                hint = format!("prices are whole raw units per second: {} {} per second is the nearest", format_units(total / per, coin.decimals), coin.symbol),
                "`{}` is {total}/{per} raw units of {} per second, not a whole number", self.input, coin.symbol
            );
        }
        u64::try_from(total / per).map_err(|_| CliError::new(format!("`{}` is too large a price", self.input)))
    }

    /// The symbol typed, if any.
    pub(crate) fn symbol(&self) -> Option<&str> {
        self.amount.symbol.as_deref()
    }
}

/// A duration as typed: `90` (seconds), `90s`, `10m`, `1h`, `30d`, `2w`, or a sum like `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Duration(pub(crate) u64);

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, String> {
        let bad = || format!("`{input}` is not a duration: write it like `90s`, `10m`, `1h`, `30d` or `1h30m`");
        let text = input.trim();
        if text.is_empty() {
            return Err(bad());
        }
        if let Ok(seconds) = text.parse::<u64>() {
            return Ok(Self(seconds));
        }
        let (mut total, mut number) = (0u64, String::new());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let mut unit = c.to_string();
            while let Some(&next) = chars.peek().filter(|c| c.is_ascii_alphabetic()) {
                unit.push(next);
                chars.next();
            }
            let scale = match unit.as_str() {
                "s" => 1,
                "m" | "min" => 60,
                "h" => 3600,
                "d" => 86_400,
                "w" => 7 * 86_400,
                _ => return Err(bad()),
            };
            let value: u64 = number.parse().map_err(|_| bad())?;
            total = value.checked_mul(scale).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
            number.clear();
        }
        if !number.is_empty() {
            return Err(bad());
        }
        Ok(Self(total))
    }
}

/// Seconds as a short duration: `21d`, `1h 30m`, `45s`.
pub(crate) fn format_duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let parts = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let mut left = seconds;
    let mut out = Vec::new();
    for (scale, unit) in parts {
        if left >= scale {
            out.push(format!("{}{unit}", left / scale));
            left %= scale;
        }
        if out.len() == 2 {
            break;
        }
    }
    out.join(" ")
}

/// A unix time in UTC: `2026-11-21 18:20:00 UTC`.
pub(crate) fn format_time(unix: u64) -> String {
    let (days, rem) = (unix / 86_400, unix % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A unix time relative to `now`: `2026-11-21 18:20:00 UTC (in 1h)` or `(3d ago)`.
pub(crate) fn format_time_from(unix: u64, now: u64) -> String {
    let when = format_time(unix);
    if unix == now {
        format!("{when} (now)")
    } else if unix > now {
        format!("{when} (in {})", format_duration(unix - now))
    } else {
        format!("{when} ({} ago)", format_duration(now - unix))
    }
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usdc() -> StablecoinEntry {
        StablecoinEntry { symbol: "USDC".into(), address: Address::ZERO, decimals: 6 }
    }

    #[test]
    fn amounts_keep_their_symbol_and_refuse_another_token() {
        let amount: TypedAmount = "12.5 USDC".parse().unwrap();
        assert_eq!(amount.resolve_in(&usdc(), "the lease").unwrap().raw, U256::from(12_500_000));
        let bare: TypedAmount = "3".parse().unwrap();
        assert_eq!(bare.resolve_in(&usdc(), "the lease").unwrap().raw, U256::from(3_000_000));
        let glued: TypedAmount = "0.5usdc".parse().unwrap();
        assert_eq!(glued.resolve_in(&usdc(), "the lease").unwrap().raw, U256::from(500_000));
        let dai: TypedAmount = "1 DAI".parse().unwrap();
        assert!(dai.resolve_in(&usdc(), "the lease").unwrap_err().message.contains("not DAI"));
        assert!("USDC".parse::<TypedAmount>().is_err());
        assert!("-1 USDC".parse::<TypedAmount>().is_err());
        assert!("1,5 USDC".parse::<TypedAmount>().is_err());
        assert!("0.0000001".parse::<TypedAmount>().unwrap().resolve_in(&usdc(), "it").is_err());
    }

    #[test]
    fn prices_convert_to_raw_units_per_second() {
        let per_second = |s: &str| s.parse::<TypedPrice>().unwrap().per_second(&usdc());
        assert_eq!(per_second("0.0001 USDC").unwrap(), 100);
        assert_eq!(per_second("0.36 USDC/h").unwrap(), 100);
        assert_eq!(per_second("8.64/d").unwrap(), 100);
        assert!(per_second("1 USDC/d").is_err(), "11.57... raw units per second");
        assert!("1 USDC/fortnight".parse::<TypedPrice>().is_err());
    }

    #[test]
    fn durations_parse_and_format() {
        let d = |s: &str| s.parse::<Duration>().map(|d| d.0);
        assert_eq!(d("90"), Ok(90));
        assert_eq!(d("10m"), Ok(600));
        assert_eq!(d("1h30m"), Ok(5400));
        assert_eq!(d("30d"), Ok(2_592_000));
        assert_eq!(d("2w"), Ok(1_209_600));
        assert!(d("1y").is_err());
        assert!(d("h").is_err());
        assert!(d("1h30").is_err());
        assert_eq!(format_duration(1_814_400), "21d");
        assert_eq!(format_duration(5400), "1h 30m");
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(1_795_285_200), "2026-11-21 18:20:00 UTC");
    }
}
