//! Shorthands for the model's unit tests.

use rust_decimal::Decimal;

use super::period::BillingPeriod;

/// A decimal from its text, e.g. `d("1050.25")`.
pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// October 2026, the month the tests' bills cover.
pub fn oct() -> BillingPeriod {
    "2026-10".parse().unwrap()
}
