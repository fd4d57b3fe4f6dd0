//! Values as engines print them: decimals and timestamps in the shapes of DataFusion, Athena (Trino) and
//! DuckDB. Shared by the aggregate results and the activity report's CSV reader.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

/// Parses a decimal as engines print it (`1234.5600000000`, `-0.5`, `1E+3`).
pub fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let s = s.trim();
    s.parse::<Decimal>().or_else(|_| Decimal::from_scientific(s)).map_err(|_| format!("not a number: {s:?}"))
}

/// Parses a timestamp as engines print it (`2026-01-31 00:00:00.000`, `2026-01-31T00:00:00`, with or
/// without a zone) into Unix seconds. Zone-less values are UTC, as CUR's are.
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Some(t) = parse_timestamp_fast(s) {
        return Ok(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    let bare = s.trim_end_matches(" UTC").trim_end_matches('Z');
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(bare, fmt) {
            return Ok(t.and_utc().timestamp());
        }
        if let Ok(t) = DateTime::parse_from_str(bare, fmt) {
            return Ok(t.timestamp());
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(bare, fmt) {
            return Ok(d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp()));
        }
    }
    Err(format!("not a timestamp: {s:?}"))
}

/// The common shapes, without chrono's format machinery (tens of thousands of values per refresh):
/// `YYYY-MM-DD`, optionally followed by `T` or a space, `HH:MM:SS`, a fraction, and `Z`/` UTC`.
fn parse_timestamp_fast(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let mut secs = 0;
    let mut rest = &s[10..];
    if !rest.is_empty() {
        let t = rest.as_bytes();
        if !(t[0] == b'T' || t[0] == b' ') || t.len() < 9 || t[3] != b':' || t[6] != b':' {
            return None;
        }
        let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || m > 59 || sec > 60 {
            return None;
        }
        secs = i64::from(h * 3600 + m * 60 + sec);
        rest = &rest[9..];
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            rest = &frac[digits..];
        }
    }
    matches!(rest, "" | "Z" | " UTC")
        .then(|| date.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp() + secs))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times_from_any_engine() {
        assert_eq!(parse_decimal("1234.5600000000").unwrap().to_string(), "1234.5600000000");
        assert_eq!(parse_decimal("1E+3").unwrap(), Decimal::from(1000));
        assert!(parse_decimal("1,5").is_err());
        let want = 1_769_817_600; // 2026-01-31T00:00:00Z
        for s in [
            "2026-01-31 00:00:00.000",
            "2026-01-31T00:00:00",
            "2026-01-31T00:00:00Z",
            "2026-01-31 00:00:00 UTC",
            "2026-01-31T00:00:00+00:00",
            "2026-01-31",
        ] {
            assert_eq!(parse_timestamp(s), Ok(want), "{s}");
        }
        assert!(parse_timestamp("yesterday").is_err());
        assert_eq!(parse_timestamp("2026-01-31T12:34:56.789Z"), Ok(want + 45_296));
        assert_eq!(parse_timestamp("2026-01-31 12:34:56"), Ok(want + 45_296));
        for bad in ["2026-13-01", "2026-01-31T25:00:00", "2026-01-31X00:00:00", "2026-01-31T00:00:00 PST"] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }
}
