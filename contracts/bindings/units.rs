//! Amounts, prices, durations and times as people type and read them, converted once, here, for
//! every program (the SDK, the CLI, the gateway, the indexer's console): `12.5 USDC` to raw units
//! and back, `0.36 USDC/h` to raw units per second, `1h30m` to seconds, unix times to
//! `2026-11-21 18:20:00 UTC (in 1h)`; and amounts as the indexer and the gateway store them in
//! SQL ([`sortable_amount`]: text that orders as the numbers do).
//!
//! What a person typed is kept as text ([`TypedAmount`], [`TypedPrice`]) until the token is
//! known: the same `12.5` is 12,500,000 raw units of a 6-decimal token and 12.5 × 10¹⁸ of an
//! 18-decimal one, and a symbol, when typed, must be the token's. Every error says what was wrong
//! with the text; what to do about it is the caller's to add.

use std::{fmt, str::FromStr};

use alloy::primitives::{
    U256,
    utils::{ParseUnits, Unit, parse_units as alloy_parse_units},
};

pub use crate::display::{format_duration, format_time, format_time_from, format_units};

use crate::manifest::StablecoinEntry;

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

/// As JSON: `{"raw": "12500000", "units": "12.5", "symbol": "USDC"}`, raw units as a decimal
/// string (they overflow JSON numbers). The CLI's output and the gateway's refusals both use it.
impl serde::Serialize for TokenAmount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut amount = serializer.serialize_struct("TokenAmount", 3)?;
        amount.serialize_field("raw", &self.raw.to_string())?;
        amount.serialize_field("units", &self.units())?;
        amount.serialize_field("symbol", &self.symbol)?;
        amount.end()
    }
}

impl TokenAmount {
    /// An amount of `raw` units.
    pub fn new(raw: U256, decimals: u8, symbol: impl Into<String>) -> Self {
        Self { raw, decimals, symbol: symbol.into() }
    }

    /// `raw` units of `coin`: the chain's number, ready to be shown in the token's units.
    pub fn of(coin: &StablecoinEntry, raw: U256) -> Self {
        Self::new(raw, coin.decimals, coin.symbol.clone())
    }

    /// Parses `"12.5"` or `"12.5 USDC"` for this token.
    pub fn parse(input: &str, decimals: u8, symbol: impl Into<String>) -> Result<Self, AmountError> {
        Ok(Self::new(parse_units(input, decimals)?, decimals, symbol))
    }

    /// The number alone, in token units: `12.5`.
    pub fn units(&self) -> String {
        format_units(self.raw, self.decimals)
    }
}

impl fmt::Display for TokenAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.units(), self.symbol)
    }
}

/// What is wrong with an amount a person typed, or with it for the token it is meant in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypedAmountError {
    /// Nothing before the symbol: `USDC`.
    #[error("`{input}` has no number")]
    NoNumber {
        /// What was typed, whole.
        input: String,
    },
    /// The number is not one: `1,5`, `ten`.
    #[error("`{number}` is not a number")]
    NotANumber {
        /// What was typed, whole.
        input: String,
        /// The part that should be the number.
        number: String,
    },
    /// A minus sign: no amount the market takes is negative, and `-5` is not `5`.
    #[error("`{input}`: amounts cannot be negative")]
    Negative {
        /// What was typed, whole.
        input: String,
    },
    /// What follows the number is not a ticker: `5 US-D`.
    #[error("`{symbol}` is not a token symbol")]
    NotASymbol {
        /// What was typed, whole.
        input: String,
        /// The part that should be the symbol.
        symbol: String,
    },
    /// No symbol where the token is not otherwise known (staking, minting: any stablecoin goes).
    #[error("`{input}` does not say which token")]
    NoSymbol {
        /// What was typed, whole.
        input: String,
    },
    /// The symbol names none of the market's stablecoins.
    #[error("`{symbol}` is not a stablecoin of this market")]
    UnknownToken {
        /// What was typed, whole.
        input: String,
        /// The symbol typed.
        symbol: String,
        /// The symbols the market has.
        known: Vec<String>,
    },
    /// The symbol is another token's than the one the amount is paid in (a lease's, an offer's):
    /// refused rather than read in the wrong token's decimals.
    #[error("`{input}` is in {given}, not {expected}")]
    WrongToken {
        /// What was typed, whole.
        input: String,
        /// The token the amount is paid in.
        expected: String,
        /// The symbol typed.
        given: String,
    },
    /// The number does not fit the token: more decimals than it has.
    #[error(transparent)]
    Units(#[from] AmountError),
}

/// An amount as typed: a number and, if given, a symbol (`12.5 USDC`, `12.5usdc`, `3`); resolved
/// into raw units once the token is known ([`TypedAmount::resolve_in`], [`TypedAmount::resolve_among`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedAmount {
    number: String,
    symbol: Option<String>,
    input: String,
}

impl FromStr for TypedAmount {
    type Err = TypedAmountError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        let split = text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len());
        let (number, symbol) = (text[..split].trim(), text[split..].trim());
        if number.starts_with('-') {
            return Err(TypedAmountError::Negative { input: input.to_string() });
        }
        if number.is_empty() {
            return Err(TypedAmountError::NoNumber { input: input.to_string() });
        }
        if !number.chars().all(|c| c.is_ascii_digit() || c == '.') || number.matches('.').count() > 1 || number == "." {
            return Err(TypedAmountError::NotANumber { input: input.to_string(), number: number.to_string() });
        }
        if !symbol.is_empty() && !symbol.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(TypedAmountError::NotASymbol { input: input.to_string(), symbol: symbol.to_string() });
        }
        Ok(Self {
            number: number.to_string(),
            symbol: (!symbol.is_empty()).then(|| symbol.to_string()),
            input: input.to_string(),
        })
    }
}

impl TypedAmount {
    /// The number as typed: `12.5`.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The symbol, if one was typed.
    pub fn symbol(&self) -> Option<&str> {
        self.symbol.as_deref()
    }

    /// Everything typed, for messages.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The amount in `coin`, the token it is paid in (a lease's, an offer's). A typed symbol must
    /// be `coin`'s (any case); none means `coin`.
    pub fn resolve_in(&self, coin: &StablecoinEntry) -> Result<TokenAmount, TypedAmountError> {
        if let Some(symbol) = &self.symbol
            && !symbol.eq_ignore_ascii_case(&coin.symbol)
        {
            return Err(TypedAmountError::WrongToken {
                input: self.input.clone(),
                expected: coin.symbol.clone(),
                given: symbol.clone(),
            });
        }
        Ok(TokenAmount::of(coin, parse_units(&self.number, coin.decimals)?))
    }

    /// The amount in the one of `coins` (the market's stablecoins) its symbol names, where any
    /// token goes: the symbol is required.
    pub fn resolve_among<'a>(
        &self,
        coins: &'a [StablecoinEntry],
    ) -> Result<(&'a StablecoinEntry, TokenAmount), TypedAmountError> {
        let Some(symbol) = &self.symbol else {
            return Err(TypedAmountError::NoSymbol { input: self.input.clone() });
        };
        let Some(coin) = coins.iter().find(|c| c.symbol.eq_ignore_ascii_case(symbol)) else {
            return Err(TypedAmountError::UnknownToken {
                input: self.input.clone(),
                symbol: symbol.clone(),
                known: coins.iter().map(|c| c.symbol.clone()).collect(),
            });
        };
        Ok((coin, self.resolve_in(coin)?))
    }
}

impl fmt::Display for TypedAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.input)
    }
}

/// What is wrong with a price a person typed, or with it for the token it is meant in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// After the `/` is no time unit: `1 USDC/fortnight`.
    #[error("`/{unit}` is not a time unit: use /s, /min, /h or /d")]
    TimeUnit {
        /// What was typed, whole.
        input: String,
        /// What follows the `/`.
        unit: String,
    },
    /// The amount part is wrong.
    #[error(transparent)]
    Amount(#[from] TypedAmountError),
    /// The market prices in whole raw units per second: `1 USDC/d` (11.57… per second) has none.
    /// Refused rather than rounded, so no one pays another price than the one typed.
    #[error("`{input}` is {raw}/{per} raw units of {symbol} per second, not a whole number", symbol = nearest.symbol)]
    NotWhole {
        /// What was typed, whole.
        input: String,
        /// Raw units per `per` seconds.
        raw: U256,
        /// The seconds the price was typed per.
        per: u64,
        /// The whole price per second just below it, to suggest (boxed: errors stay small).
        nearest: Box<TokenAmount>,
    },
    /// More raw units per second than the market stores (a `uint64`).
    #[error("`{input}` is too large a price: at most {max} raw units per second", max = u64::MAX)]
    TooLarge {
        /// What was typed, whole.
        input: String,
    },
}

/// A price as typed: an amount per second (`0.0001 USDC`, `0.0001 USDC/s`) or per minute, hour or
/// day (`0.36 USDC/h`, `8.64/d`); [`TypedPrice::per_second`] gives the market's raw units per second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedPrice {
    amount: TypedAmount,
    per_seconds: u64,
    input: String,
}

impl FromStr for TypedPrice {
    type Err = PriceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (amount, per) = match input.rsplit_once('/') {
            Some((amount, per)) => (amount, per.trim()),
            None => (input, "s"),
        };
        let per_seconds = match per {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            other => return Err(PriceError::TimeUnit { input: input.to_string(), unit: other.to_string() }),
        };
        Ok(Self { amount: amount.parse()?, per_seconds, input: input.to_string() })
    }
}

impl PriceError {
    /// What to type instead, where there is a nearest price: prices are whole raw units per
    /// second. The CLI and the console say it in the same words.
    pub fn nearest_hint(&self) -> Option<String> {
        match self {
            Self::NotWhole { nearest, .. } => {
                Some(format!("prices are whole raw units per second: {nearest} per second is the nearest"))
            }
            _ => None,
        }
    }
}

impl TypedPrice {
    /// The symbol typed, if any.
    pub fn symbol(&self) -> Option<&str> {
        self.amount.symbol()
    }

    /// Everything typed, for messages.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The raw units of `coin` per second. A typed symbol must be `coin`'s.
    pub fn per_second(&self, coin: &StablecoinEntry) -> Result<u64, PriceError> {
        let total = self.amount.resolve_in(coin)?.raw;
        let per = U256::from(self.per_seconds);
        if total % per != U256::ZERO {
            return Err(PriceError::NotWhole {
                input: self.input.clone(),
                raw: total,
                per: self.per_seconds,
                nearest: Box::new(TokenAmount::of(coin, total / per)),
            });
        }
        u64::try_from(total / per).map_err(|_| PriceError::TooLarge { input: self.input.clone() })
    }
}

impl fmt::Display for TypedPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.input)
    }
}

/// Digits of a [`sortable_amount`]: `U256::MAX` (about 1.16 × 10⁷⁷) has 78.
pub const SORTABLE_AMOUNT_DIGITS: usize = 78;

/// An amount as it is stored in SQL, by the indexer's mirror and the gateway's receipt book alike:
/// decimal digits, zero-padded to [`SORTABLE_AMOUNT_DIGITS`], the width of `U256::MAX`.
///
/// Neither SQLite nor PostgreSQL has one numeric type that holds a uint256 and orders it the same
/// way, so amounts are text; and text of one width orders as its number does (`ORDER BY`, `<`,
/// `MAX`, an upsert's `WHERE excluded.x > x`) on both, for every uint256 (a receipt's
/// `cumulativeAmount` is one). Decimal rather than hex so that a row reads as the amount in a SQL
/// shell. Every amount a query compares with a stored one must be written by this function.
pub fn sortable_amount(amount: U256) -> String {
    format!("{:0>SORTABLE_AMOUNT_DIGITS$}", amount.to_string())
}

/// The amount a [`sortable_amount`] wrote; `None` for anything else (another width, a sign, a
/// letter).
pub fn parse_sortable_amount(text: &str) -> Option<U256> {
    if text.len() != SORTABLE_AMOUNT_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // 78 digits may still exceed U256::MAX (`9…9`): the parse says so.
    U256::from_str_radix(text, 10).ok()
}

/// A duration that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration: {reason}")]
pub struct DurationError {
    /// What was typed, whole.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A duration as typed: seconds (`90`), or numbers with units `s`, `m`/`min`, `h`, `d`, `w`, summed
/// (`1h30m`). Months and years have no fixed length, so they are not units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TypedDuration(u64);

impl TypedDuration {
    /// A duration of `seconds`.
    pub const fn from_secs(seconds: u64) -> Self {
        Self(seconds)
    }

    /// Its length in seconds.
    pub const fn secs(self) -> u64 {
        self.0
    }
}

impl FromStr for TypedDuration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| DurationError { input: input.to_string(), reason };
        let text = input.trim();
        if text.is_empty() {
            return Err(error("empty".into()));
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
            // `1h 30m`, as `format_duration` writes it.
            if c.is_whitespace() {
                continue;
            }
            let mut unit = c.to_string();
            while let Some(&next) = chars.peek().filter(|c| c.is_ascii_alphabetic()) {
                unit.push(next);
                chars.next();
            }
            if number.is_empty() {
                return Err(error(format!("no number before `{unit}`")));
            }
            let scale = match unit.as_str() {
                "s" => 1,
                "m" | "min" => 60,
                "h" => 3600,
                "d" => 86_400,
                "w" => 7 * 86_400,
                other => return Err(error(format!("`{other}` is not a unit of s, m, h, d or w"))),
            };
            let value: u64 = number.parse().map_err(|_| error("too long".into()))?;
            total =
                value.checked_mul(scale).and_then(|v| total.checked_add(v)).ok_or_else(|| error("too long".into()))?;
            number.clear();
        }
        if !number.is_empty() {
            return Err(error(format!("`{number}` has no unit")));
        }
        Ok(Self(total))
    }
}

impl fmt::Display for TypedDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;

    use super::*;

    fn coin(symbol: &str, decimals: u8) -> StablecoinEntry {
        StablecoinEntry { symbol: symbol.into(), address: Address::ZERO, decimals }
    }

    fn usdc() -> StablecoinEntry {
        coin("USDC", 6)
    }

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
        assert_eq!(TokenAmount::of(&usdc(), U256::from(8_640_000)).to_string(), "8.64 USDC");
    }

    #[test]
    fn amounts_keep_their_symbol_and_refuse_another_token() {
        let parse = |s: &str| s.parse::<TypedAmount>();
        assert_eq!(parse("12.5 USDC").unwrap().resolve_in(&usdc()).unwrap().raw, U256::from(12_500_000));
        assert_eq!(parse("3").unwrap().resolve_in(&usdc()).unwrap().raw, U256::from(3_000_000));
        assert_eq!(parse("0.5usdc").unwrap().resolve_in(&usdc()).unwrap().raw, U256::from(500_000));
        assert_eq!(
            parse("1 DAI").unwrap().resolve_in(&usdc()),
            Err(TypedAmountError::WrongToken { input: "1 DAI".into(), expected: "USDC".into(), given: "DAI".into() })
        );
        assert_eq!(parse("USDC"), Err(TypedAmountError::NoNumber { input: "USDC".into() }));
        assert_eq!(parse("-1 USDC"), Err(TypedAmountError::Negative { input: "-1 USDC".into() }));
        assert_eq!(parse("-5").unwrap_err().to_string(), "`-5`: amounts cannot be negative");
        assert!(matches!(parse("1,5 USDC"), Err(TypedAmountError::NotANumber { .. })));
        assert!(matches!(parse("."), Err(TypedAmountError::NotANumber { .. })));
        assert!(matches!(parse("5 US-D"), Err(TypedAmountError::NotASymbol { .. })));
        let precise = parse("0.0000001").unwrap().resolve_in(&usdc()).unwrap_err();
        assert!(precise.to_string().contains("at most 6 decimals"), "{precise}");
    }

    #[test]
    fn amounts_without_a_lease_name_their_token() {
        let coins = [usdc(), coin("DAI", 18)];
        let (found, amount) = "2 dai".parse::<TypedAmount>().unwrap().resolve_among(&coins).unwrap();
        assert_eq!((found.symbol.as_str(), amount.raw), ("DAI", U256::from(2_000_000_000_000_000_000u128)));
        assert_eq!(
            "10".parse::<TypedAmount>().unwrap().resolve_among(&coins),
            Err(TypedAmountError::NoSymbol { input: "10".into() })
        );
        let unknown = "5 EUR".parse::<TypedAmount>().unwrap().resolve_among(&coins).unwrap_err();
        assert_eq!(unknown.to_string(), "`EUR` is not a stablecoin of this market");
        assert!(matches!(unknown, TypedAmountError::UnknownToken { known, .. } if known == ["USDC", "DAI"]));
    }

    #[test]
    fn prices_convert_to_raw_units_per_second() {
        let per_second = |s: &str| s.parse::<TypedPrice>().unwrap().per_second(&usdc());
        assert_eq!(per_second("0.0001 USDC"), Ok(100));
        assert_eq!(per_second("0.36 USDC/h"), Ok(100));
        assert_eq!(per_second("8.64/d"), Ok(100));
        assert_eq!(per_second("6 USDC/min"), Ok(100_000));
        let whole = per_second("1 USDC/d").unwrap_err();
        assert_eq!(whole.to_string(), "`1 USDC/d` is 1000000/86400 raw units of USDC per second, not a whole number");
        assert!(matches!(whole, PriceError::NotWhole { nearest, .. } if nearest.raw == U256::from(11)));
        assert!(matches!(per_second("1 DAI/h"), Err(PriceError::Amount(TypedAmountError::WrongToken { .. }))));
        assert!(matches!(per_second("20000000000000 USDC"), Err(PriceError::TooLarge { .. })));
        assert!(matches!("1 USDC/fortnight".parse::<TypedPrice>(), Err(PriceError::TimeUnit { .. })));
    }

    #[test]
    fn durations_parse_and_format() {
        let d = |s: &str| s.parse::<TypedDuration>().map(TypedDuration::secs);
        assert_eq!(d("90"), Ok(90));
        assert_eq!(d("10m"), Ok(600));
        assert_eq!(d("10min"), Ok(600));
        assert_eq!(d("1h30m"), Ok(5400));
        assert_eq!(d("30d"), Ok(2_592_000));
        assert_eq!(d("2w"), Ok(1_209_600));
        assert_eq!(d("1y").unwrap_err().to_string(), "`1y` is not a duration: `y` is not a unit of s, m, h, d or w");
        assert_eq!(d("h").unwrap_err().reason, "no number before `h`");
        assert_eq!(d("1h30").unwrap_err().reason, "`30` has no unit");
        assert_eq!(d("99999999999999999999w").unwrap_err().reason, "too long");
        assert!(d("").is_err());
        assert_eq!(d("1h 30m"), Ok(5400), "what format_duration writes reads back");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(1_814_400), "21d");
        assert_eq!(format_duration(5400), "1h 30m");
        assert_eq!(format_duration(90_061), "1d 1h");
        assert_eq!(TypedDuration::from_secs(3600).to_string(), "1h");
    }

    #[test]
    fn sortable_amounts_order_as_their_numbers_and_read_back() {
        let above_u128 = U256::from(u128::MAX) + U256::from(1);
        let values = [
            U256::ZERO,
            U256::from(1),
            U256::from(9),
            U256::from(10),
            U256::from(250),
            U256::from(1_000),
            U256::from(u64::MAX),
            U256::from(u128::MAX),
            above_u128,
            U256::MAX - U256::from(1),
            U256::MAX,
        ];
        let texts: Vec<String> = values.iter().map(|v| sortable_amount(*v)).collect();
        for (value, text) in values.iter().zip(&texts) {
            assert_eq!(text.len(), SORTABLE_AMOUNT_DIGITS, "{value}");
            assert_eq!(parse_sortable_amount(text), Some(*value), "round trip of {value}");
        }
        for (i, a) in values.iter().enumerate() {
            for (j, b) in values.iter().enumerate() {
                assert_eq!(texts[i].cmp(&texts[j]), a.cmp(b), "{a} against {b}");
            }
        }
        assert_eq!(sortable_amount(U256::MAX), U256::MAX.to_string(), "the widest needs no padding");
        assert_eq!(sortable_amount(U256::from(1_000)), format!("{}1000", "0".repeat(74)));
        assert_eq!(parse_sortable_amount("1000"), None, "another width");
        assert_eq!(parse_sortable_amount(&"0".repeat(79)), None);
        assert_eq!(parse_sortable_amount(&format!("{}x", "0".repeat(77))), None);
        assert_eq!(parse_sortable_amount(&format!("{}-1", "0".repeat(76))), None);
        assert_eq!(parse_sortable_amount(&"9".repeat(78)), None, "78 digits above U256::MAX");
    }

    #[test]
    fn times_are_utc_and_relative_to_the_chain() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(1_795_285_200), "2026-11-21 18:20:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time_from(1_795_285_200, 1_795_281_600), "2026-11-21 18:20:00 UTC (in 1h)");
        assert_eq!(format_time_from(1_795_285_200, 1_795_544_400), "2026-11-21 18:20:00 UTC (3d ago)");
        assert_eq!(format_time_from(0, 0), "1970-01-01 00:00:00 UTC (now)");
    }
}
