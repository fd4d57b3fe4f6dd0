//! Credits per day of a billing period, as a licence keeps them.

use std::ops::Range;

use rust_decimal::Decimal;

/// Credits per day of the period (0-based day index), ordered by day, each day once. A sorted list of the
/// days that have credits: a licence uses a few bytes per such day, where an ordered map allocates a
/// 232-byte node for even one day (500,000 licences with one day each: 16 MB against 120 MB).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Daily(Vec<(u32, Decimal)>);

impl Daily {
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Adds `amount` to `day`.
    pub fn add(&mut self, day: u32, amount: Decimal) {
        match self.0.binary_search_by_key(&day, |(d, _)| *d) {
            Ok(i) => self.0[i].1 += amount,
            Err(i) => {
                // One more day at a time: a month has at most 31, and most licences far fewer.
                self.0.reserve_exact(1);
                self.0.insert(i, (day, amount));
            }
        }
    }

    /// Adds every day of `other`.
    pub fn add_all(&mut self, other: &Daily) {
        other.iter().for_each(|(d, c)| self.add(d, c));
    }

    pub fn get(&self, day: &u32) -> Option<&Decimal> {
        self.0.binary_search_by_key(day, |(d, _)| *d).ok().map(|i| &self.0[i].1)
    }

    /// The days in `days`, in order.
    pub fn range(&self, days: Range<u32>) -> impl Iterator<Item = (u32, Decimal)> + '_ {
        let from = self.0.partition_point(|(d, _)| *d < days.start);
        self.0[from..].iter().take_while(move |(d, _)| *d < days.end).copied()
    }

    /// Every day with credits, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Decimal)> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Days that repeat are added up (as [`Daily::add`] does), where collecting into a map keeps the last.
impl FromIterator<(u32, Decimal)> for Daily {
    fn from_iter<I: IntoIterator<Item = (u32, Decimal)>>(iter: I) -> Self {
        let mut out = Self::new();
        iter.into_iter().for_each(|(d, c)| out.add(d, c));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_add_up_in_order() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let mut daily: Daily = [(9, d("1")), (0, d("2.5")), (9, d("3"))].into_iter().collect();
        daily.add(4, d("1"));
        assert_eq!(daily.iter().collect::<Vec<_>>(), [(0, d("2.5")), (4, d("1")), (9, d("4"))]);
        assert_eq!(daily.get(&9), Some(&d("4")));
        assert_eq!(daily.get(&5), None);
        assert_eq!(daily.range(1..9).collect::<Vec<_>>(), [(4, d("1"))]);
        assert_eq!(daily.range(0..31).count(), 3);
        let mut sum = Daily::new();
        sum.add_all(&daily);
        sum.add_all(&daily);
        assert_eq!(sum.get(&0), Some(&d("5")));
        assert!(Daily::new().is_empty() && !sum.is_empty());
    }
}
