//! Amounts, durations and times as people read them, written once for every program of the
//! market: the SDK and CLI, the gateway and the indexer's console all show the chain's numbers
//! the same way (`12.5`, `1h 30m`, `2026-11-21 18:20:00 UTC (in 1h)`).

use alloy::primitives::{U256, utils::format_units as alloy_format_units};

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

/// Seconds as a short duration, the two largest units only (`21d`, `1h 30m`, `45s`): enough to
/// read a deadline at a glance; the exact time goes next to it ([`format_time_from`]).
pub fn format_duration(seconds: u64) -> String {
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

/// A unix time in UTC (`2026-11-21 18:20:00 UTC`): the chain's clock has no time zone, and a
/// devnet's runs ahead of the wall clock, so local time would mislead.
pub fn format_time(unix: u64) -> String {
    let (days, rem) = (unix / 86_400, unix % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A unix time and how far it is from `now` (the chain's time, not the wall clock's):
/// `2026-11-21 18:20:00 UTC (in 1h)`, `(3d ago)`, `(now)`.
pub fn format_time_from(unix: u64, now: u64) -> String {
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
