//! Timestamps as milliseconds since the Unix epoch (UTC).
//!
//! The core never reads a clock (wasm has no `SystemTime`): callers pass `now` in. Parsing
//! goes through xmpp-parsers' XEP-0082 `DateTime`; formatting is done here so that building
//! a MAM `start` field needs no date crate (and because xmpp-parsers' encoder drops the
//! fraction of a second, which archive stamps need).
//!
//! The server's archive keeps microseconds: [`parse_micros`] and [`format_micros`] are the
//! same conversions at that precision.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parse an XEP-0082 date-time (any offset); `None` when malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let dt = xmpp_parsers::date::DateTime::from_str(s).ok()?;
        Some(Self::from(&dt))
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn to_xep0082(self) -> String {
        format_fraction(self.0, 1000, 3)
    }
}

/// Parse an XEP-0082 date-time (any offset, surrounding blanks ignored) into microseconds
/// since the epoch; `None` when malformed.
pub fn parse_micros(s: &str) -> Option<i64> {
    let dt = xmpp_parsers::date::DateTime::from_str(s.trim()).ok()?;
    Some(dt.0.timestamp_micros())
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` for microseconds since the epoch.
pub fn format_micros(us: i64) -> String {
    format_fraction(us, 1_000_000, 6)
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` (UTC) for `t` in units of `1/per_second` s since the epoch,
/// with `digits` fraction digits (one formatter for both precisions: the browser package
/// carries one copy).
fn format_fraction(t: i64, per_second: i64, digits: usize) -> String {
    let frac = t.rem_euclid(per_second);
    let secs = t.div_euclid(per_second);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:0digits$}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

impl From<&xmpp_parsers::date::DateTime> for Timestamp {
    fn from(dt: &xmpp_parsers::date::DateTime) -> Self {
        Timestamp(dt.0.timestamp_millis())
    }
}

/// Days since the epoch to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        for ms in [
            0,
            1_700_000_000_123,
            951_782_400_000, /* 2000-02-29 */
            -1,
        ] {
            let t = Timestamp(ms);
            assert_eq!(Timestamp::parse(&t.to_xep0082()), Some(t), "{ms}");
        }
        assert_eq!(Timestamp(0).to_xep0082(), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn micros_format_and_parse_back() {
        let t = 1_795_460_995_021_531;
        assert_eq!(format_micros(t), "2026-11-23T19:09:55.021531Z");
        assert_eq!(parse_micros(&format_micros(t)), Some(t));
        assert_eq!(
            parse_micros(" 2026-11-23T19:09:55Z "),
            Some(1_795_460_995_000_000)
        );
        assert_eq!(
            parse_micros("2026-11-23T20:09:55+01:00"),
            Some(1_795_460_995_000_000)
        );
        assert_eq!(format_micros(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(parse_micros("yesterday"), None);
    }

    #[test]
    fn parses_ejabberd_microsecond_stamps() {
        let t = Timestamp::parse("2026-11-23T19:09:55.021531Z").unwrap();
        assert_eq!(t.to_xep0082(), "2026-11-23T19:09:55.021Z");
        assert_eq!(Timestamp::parse("nonsense"), None);
    }
}
