//! Billing periods: the calendar month in UTC that a CUR partition covers.
//!
//! A period is written `YYYY-MM` everywhere: in the `BILLING_PERIOD=` folder names of a Data Export, in
//! Athena's `billing_period` partition column and in the `billing_period` label. Parsing is strict so a
//! configured value can never carry anything else into a SQL text.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// A calendar month, e.g. `2026-01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingPeriod {
    year: i32,
    month: u32,
}

/// Why a billing period string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid billing period {0:?}: expected YYYY-MM, e.g. 2026-01")]
pub struct InvalidPeriod(pub String);

impl BillingPeriod {
    /// A period from a year and a month (1..=12).
    pub fn new(year: i32, month: u32) -> Option<Self> {
        ((1..=12).contains(&month) && (1970..=9999).contains(&year)).then_some(Self { year, month })
    }

    /// The month that contains `t`.
    pub fn containing(t: DateTime<Utc>) -> Self {
        Self { year: t.year(), month: t.month() }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    /// The month after this one.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self { year: self.year + 1, month: 1 }
        } else {
            Self { year: self.year, month: self.month + 1 }
        }
    }

    /// The month before this one.
    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self { year: self.year - 1, month: 12 }
        } else {
            Self { year: self.year, month: self.month - 1 }
        }
    }

    /// First instant of the period.
    pub fn start(self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// First instant after the period.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// Number of days in the period.
    pub fn days(self) -> u32 {
        let first = NaiveDate::from_ymd_opt(self.year, self.month, 1);
        let next = self.next();
        let next_first = NaiveDate::from_ymd_opt(next.year, next.month, 1);
        match (first, next_first) {
            (Some(a), Some(b)) => u32::try_from((b - a).num_days()).unwrap_or(30),
            _ => 30,
        }
    }
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for BillingPeriod {
    type Err = InvalidPeriod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidPeriod(s.to_owned());
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' || !b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = s[..4].parse().map_err(|_| bad())?;
        let month: u32 = s[5..].parse().map_err(|_| bad())?;
        Self::new(year, month).ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p: BillingPeriod = "2026-01".parse().unwrap();
        assert_eq!(p.to_string(), "2026-01");
        assert_eq!(p.next().to_string(), "2026-02");
        assert_eq!("2026-12".parse::<BillingPeriod>().unwrap().next().to_string(), "2027-01");
        assert_eq!("2027-01".parse::<BillingPeriod>().unwrap().previous().to_string(), "2026-12");
        assert_eq!(p.previous().next(), p);
    }

    #[test]
    fn rejects_anything_that_is_not_yyyy_mm() {
        for bad in ["2026-1", "2026-13", "2026-00", "26-01", "2026/01", "2026-01'", "2026-01 ", "' OR 1=1 --", ""] {
            assert!(bad.parse::<BillingPeriod>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bounds_and_days() {
        let p: BillingPeriod = "2024-02".parse().unwrap();
        assert_eq!(p.days(), 29);
        assert_eq!(p.start().to_rfc3339(), "2024-02-01T00:00:00+00:00");
        assert_eq!(p.end().to_rfc3339(), "2024-03-01T00:00:00+00:00");
        assert_eq!("2026-11".parse::<BillingPeriod>().unwrap().days(), 30);
    }
}
