//! Amounts in token units ("12.5 USDC") and raw units (12500000), for people and for the chain.

use std::fmt;

use alloy::primitives::{
    U256,
    utils::{ParseUnits, Unit, format_units as alloy_format_units, parse_units as alloy_parse_units},
};

/// An amount that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not an amount with at most {decimals} decimals: {reason}")]
pub struct AmountError {
    /// The text.
    pub input: String,
    /// The token's decimals.
    pub decimals: u8,
    /// Why.
    pub reason: String,
}

/// Parses `"12.5"` (or `"12.5 USDC"`: a trailing symbol is ignored) into raw units of a token
/// with `decimals` decimals. More decimals than the token has is an error, not a rounding.
pub fn parse_units(input: &str, decimals: u8) -> Result<U256, AmountError> {
    let error = |reason: String| AmountError { input: input.to_string(), decimals, reason };
    let number = input.split_whitespace().next().ok_or_else(|| error("empty".into()))?;
    if number.starts_with('-') {
        return Err(error("negative".into()));
    }
    if let Some((_, fraction)) = number.split_once('.')
        && fraction.len() > usize::from(decimals)
    {
        return Err(error(format!("{} decimals given", fraction.len())));
    }
    if Unit::new(decimals).is_none() {
        return Err(error("too many decimals".into()));
    }
    match alloy_parse_units(number, decimals).map_err(|e| error(e.to_string()))? {
        ParseUnits::U256(value) => Ok(value),
        ParseUnits::I256(_) => Err(error("negative".into())),
    }
}

/// Formats raw units of a token with `decimals` decimals, without trailing zeros: `12.5`.
pub fn format_units(value: U256, decimals: u8) -> String {
    let text = alloy_format_units(value, decimals).unwrap_or_else(|_| value.to_string());
    match text.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() { whole.to_string() } else { format!("{whole}.{fraction}") }
        }
        None => text,
    }
}

/// An amount of a token, shown in its units: `12.5 USDC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAmount {
    /// Raw units, as the chain counts them.
    pub raw: U256,
    /// The token's decimals.
    pub decimals: u8,
    /// The token's ticker.
    pub symbol: String,
}

impl TokenAmount {
    /// An amount of `raw` units.
    pub fn new(raw: U256, decimals: u8, symbol: impl Into<String>) -> Self {
        Self { raw, decimals, symbol: symbol.into() }
    }

    /// Parses `"12.5"` or `"12.5 USDC"` for this token.
    pub fn parse(input: &str, decimals: u8, symbol: impl Into<String>) -> Result<Self, AmountError> {
        Ok(Self::new(parse_units(input, decimals)?, decimals, symbol))
    }
}

impl fmt::Display for TokenAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", format_units(self.raw, self.decimals), self.symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_token_units() {
        assert_eq!(parse_units("12.5 USDC", 6).unwrap(), U256::from(12_500_000));
        assert_eq!(parse_units("3", 18).unwrap(), U256::from(3_000_000_000_000_000_000u128));
        assert_eq!(parse_units("0.000001", 6).unwrap(), U256::from(1));
        assert!(parse_units("0.0000001", 6).is_err());
        assert!(parse_units("-1", 6).is_err());
        assert!(parse_units("abc", 6).is_err());
        assert_eq!(format_units(U256::from(12_500_000), 6), "12.5");
        assert_eq!(format_units(U256::from(7_000_000), 6), "7");
        assert_eq!(TokenAmount::parse("12.5 USDC", 6, "USDC").unwrap().to_string(), "12.5 USDC");
    }
}
