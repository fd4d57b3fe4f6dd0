//! Kiro plans: tier names as billed, included credits and prices.
//!
//! The bill names a seat's tier in its usage type (`USE1-KiroEnterprise-ProPlus`); kiro.dev publishes the
//! credits and prices. Both are configurable because AWS adds tiers and changes prices; the defaults are
//! kiro.dev's (2026): Pro 1,000 credits / $20, Pro+ 2,000 / $40, Pro Max 5,000 / price unknown,
//! Power 10,000 / $200, overage $0.04 per credit.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// One plan as configured: the label value, the credits it includes and its monthly price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSpec {
    /// Label value, e.g. `Pro+`.
    pub name: String,
    /// Credits included per month.
    pub credits: Decimal,
    /// Monthly seat price in USD; `None` when unknown (Pro Max).
    pub price_usd: Option<Decimal>,
}

/// The plans the exporter knows, ordered from the smallest to the largest tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCatalog {
    plans: Vec<PlanSpec>,
    /// Price of one credit beyond the plan, in USD.
    pub overage_usd_per_credit: Decimal,
}

/// A `--kiro.plan` value that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid plan {0:?}: expected NAME=CREDITS or NAME=CREDITS:PRICE_USD, e.g. \"Pro Max=5000:100\"")]
pub struct InvalidPlan(pub String);

impl FromStr for PlanSpec {
    type Err = InvalidPlan;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidPlan(s.to_owned());
        let (name, rest) = s.split_once('=').ok_or_else(bad)?;
        let name = canonical_plan_name(name.trim());
        if name.is_empty() {
            return Err(bad());
        }
        let (credits, price) = match rest.split_once(':') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let credits: Decimal = credits.trim().parse().map_err(|_| bad())?;
        let price_usd = match price {
            Some(p) if !p.trim().is_empty() => Some(p.trim().parse::<Decimal>().map_err(|_| bad())?),
            _ => None,
        };
        if credits.is_sign_negative() || price_usd.is_some_and(|p| p.is_sign_negative()) {
            return Err(bad());
        }
        Ok(Self { name, credits, price_usd })
    }
}

impl fmt::Display for PlanSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.credits)?;
        if let Some(p) = self.price_usd {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Maps the tier spellings of CUR usage types and Kiro's own reports to the plan label.
///
/// `ProPlus`, `Pro+`, `PRO_PLUS` -> `Pro+`; `ProMax`, `PRO_MAX` -> `Pro Max`; otherwise the text as given
/// (case-insensitive for the known names).
pub fn canonical_plan_name(tier: &str) -> String {
    let key: String = tier.chars().filter(|c| !matches!(c, ' ' | '_' | '-')).collect::<String>().to_ascii_lowercase();
    match key.as_str() {
        "pro" => "Pro".to_owned(),
        "proplus" | "pro+" => "Pro+".to_owned(),
        "promax" => "Pro Max".to_owned(),
        "power" => "Power".to_owned(),
        "free" => "Free".to_owned(),
        _ => tier.to_owned(),
    }
}

impl Default for PlanCatalog {
    fn default() -> Self {
        let plan = |name: &str, credits: i64, price: Option<i64>| PlanSpec {
            name: name.to_owned(),
            credits: Decimal::from(credits),
            price_usd: price.map(Decimal::from),
        };
        Self {
            plans: vec![
                plan("Pro", 1000, Some(20)),
                plan("Pro+", 2000, Some(40)),
                plan("Pro Max", 5000, None),
                plan("Power", 10000, Some(200)),
            ],
            overage_usd_per_credit: Decimal::new(4, 2),
        }
    }
}

impl PlanCatalog {
    /// The defaults with `overrides` applied: a plan of the same name is replaced, a new one added.
    pub fn with_overrides(overrides: &[PlanSpec], overage_usd_per_credit: Decimal) -> Self {
        let mut catalog = Self::default();
        for o in overrides {
            match catalog.plans.iter_mut().find(|p| p.name == o.name) {
                Some(p) => *p = o.clone(),
                None => catalog.plans.push(o.clone()),
            }
        }
        // Tiers rank by the credits they include; ties keep configuration order.
        catalog.plans.sort_by_key(|p| p.credits);
        catalog.overage_usd_per_credit = overage_usd_per_credit;
        catalog
    }

    /// The plan with this label, if configured.
    pub fn get(&self, name: &str) -> Option<&PlanSpec> {
        self.plans.iter().find(|p| p.name == name)
    }

    /// Rank of a tier for "highest tier wins": known plans by included credits; unknown tiers below all.
    pub fn rank(&self, name: &str) -> Option<usize> {
        self.plans.iter().position(|p| p.name == name)
    }

    /// All plans, smallest first.
    pub fn plans(&self) -> &[PlanSpec] {
        &self.plans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_spellings() {
        for (raw, want) in [
            ("Pro", "Pro"),
            ("ProPlus", "Pro+"),
            ("Pro+", "Pro+"),
            ("PRO_PLUS", "Pro+"),
            ("ProMax", "Pro Max"),
            ("PRO_MAX", "Pro Max"),
            ("Power", "Power"),
            ("POWER", "Power"),
            ("Enterprise", "Enterprise"),
        ] {
            assert_eq!(canonical_plan_name(raw), want, "{raw}");
        }
    }

    #[test]
    fn defaults_match_kiro_dev() {
        let c = PlanCatalog::default();
        assert_eq!(c.get("Pro").unwrap().credits, Decimal::from(1000));
        assert_eq!(c.get("Pro+").unwrap().price_usd, Some(Decimal::from(40)));
        assert_eq!(c.get("Pro Max").unwrap().price_usd, None);
        assert_eq!(c.get("Power").unwrap().credits, Decimal::from(10000));
        assert_eq!(c.overage_usd_per_credit.to_string(), "0.04");
        assert!(c.rank("Power") > c.rank("Pro Max"));
        assert!(c.rank("Pro Max") > c.rank("Pro+"));
        assert!(c.rank("Pro+") > c.rank("Pro"));
    }

    #[test]
    fn overrides_replace_and_add() {
        let o: Vec<PlanSpec> =
            ["Pro Max=5000:100", "Team=3000:60", "pro=1200:25"].iter().map(|s| s.parse().unwrap()).collect();
        let c = PlanCatalog::with_overrides(&o, Decimal::new(5, 2));
        assert_eq!(c.get("Pro Max").unwrap().price_usd, Some(Decimal::from(100)));
        assert_eq!(c.get("Pro").unwrap().credits, Decimal::from(1200));
        assert_eq!(c.rank("Team"), Some(2));
        assert_eq!(c.overage_usd_per_credit.to_string(), "0.05");
        assert!("Pro".parse::<PlanSpec>().is_err());
        assert!("Pro=-1".parse::<PlanSpec>().is_err());
        assert!("=10".parse::<PlanSpec>().is_err());
        assert_eq!("Pro=10".parse::<PlanSpec>().unwrap().price_usd, None);
    }
}
