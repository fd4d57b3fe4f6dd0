//! Cost as the organisation pays it: the basis the cost series use, the bill's currency, and the
//! allocation of account-level Kiro amounts to licences.
//!
//! - Basis ([`CostBasis`]): `net` charges `line_item_net_unblended_cost` (the line's cost after its
//!   discounts, present when the account has discounts; per line, the unblended cost where it is empty)
//!   and `unblended` the list price, `line_item_unblended_cost`.
//! - Currency: the series are named `_usd`; a period whose Kiro or Bedrock lines carry another
//!   `line_item_currency_code` is refused rather than labelled dollars ([`foreign_currency`]).
//! - Allocation ([`allocate_account_level`]): a period's Kiro amounts without a user (discount line items
//!   of "manual discount compatibility" exports, tax, any other row without a user) are spread over the
//!   account's licences in proportion to each licence's own cost, in exact decimals rounded down to
//!   [`ALLOCATION_DECIMALS`] places, the remainder going to the licence with the largest cost (the first in
//!   licence order among equals), so that an account's allocated costs sum exactly to its Kiro total. With
//!   no licence cost to weigh by, the amount is spread equally.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use super::bedrock::BedrockLine;
use super::kiro::{KiroLine, KiroReport};

/// Decimal places of an allocated share (below a millionth of a dollar, as exported).
pub const ALLOCATION_DECIMALS: u32 = 6;

/// Which cost column the cost series sum (`--cost.basis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CostBasis {
    /// Net of discounts (`line_item_net_unblended_cost`), unblended where the export has no net column.
    #[default]
    Net,
    /// List price (`line_item_unblended_cost`).
    Unblended,
}

impl CostBasis {
    /// The `basis` label of `kiro_exporter_cost_basis_info`: the column actually used, so `net` on an
    /// export without the net column says `unblended`.
    pub fn used(self, net_column: bool) -> &'static str {
        match (self, net_column) {
            (Self::Net, true) => "net",
            _ => "unblended",
        }
    }
}

/// Makes the lines charge the basis' cost.
pub fn on_basis(kiro: &mut [KiroLine], bedrock: &mut [BedrockLine], basis: CostBasis) {
    if basis == CostBasis::Net {
        kiro.iter_mut().for_each(|l| l.unblended_cost = l.net_unblended_cost);
        bedrock.iter_mut().for_each(|l| l.unblended_cost = l.net_unblended_cost);
    }
}

/// The first currency other than USD on any line, if there is one.
pub fn foreign_currency(kiro: &[KiroLine], bedrock: &[BedrockLine]) -> Option<String> {
    kiro.iter()
        .map(|l| &l.currency)
        .chain(bedrock.iter().map(|l| &l.currency))
        .flatten()
        .find(|c| c.as_str() != "USD")
        .cloned()
}

/// Sets every licence's `allocated_cost_usd`: its own cost (seat, credits, other operations) plus its share
/// of its account's amounts without a user. Accounts with such amounts but no licence keep them
/// unattributed (there is nobody to allocate them to).
pub fn allocate_account_level(report: &mut KiroReport) {
    let mut pools: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (k, v) in &report.unattributed_cost_usd {
        *pools.entry(k.account_id.as_str()).or_default() += *v;
    }
    let own: Vec<Decimal> = report
        .licences
        .iter()
        .map(|l| l.subscription_cost_usd + l.credits_cost_usd + l.other_cost_usd.values().copied().sum::<Decimal>())
        .collect();
    let mut shares = vec![Decimal::ZERO; report.licences.len()];
    for (account, pool) in pools {
        let members: Vec<usize> =
            (0..report.licences.len()).filter(|i| report.licences[*i].key.account_id == account).collect();
        if members.is_empty() || pool.is_zero() {
            continue;
        }
        let weight: Decimal = members.iter().map(|i| own[*i]).sum();
        let mut given = Decimal::ZERO;
        for i in &members {
            let share = if weight.is_zero() {
                pool / Decimal::from(members.len())
            } else {
                pool.checked_mul(own[*i]).and_then(|x| x.checked_div(weight)).unwrap_or(Decimal::ZERO)
            };
            let share = share.round_dp_with_strategy(ALLOCATION_DECIMALS, RoundingStrategy::ToZero);
            shares[*i] = share;
            given += share;
        }
        // The largest licence by its own cost (the first among equals) takes the rounding remainder.
        let mut largest = members[0];
        for i in &members[1..] {
            if own[*i] > own[largest] {
                largest = *i;
            }
        }
        shares[largest] += pool - given;
    }
    for ((l, own), share) in report.licences.iter_mut().zip(own).zip(shares) {
        l.allocated_cost_usd = Some(own + share);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kiro::{Licence, LicenceKey, UnattributedKey};
    use crate::model::testutil::d;

    fn licence(account: &str, user: &str, seat: &str, credits: &str) -> Licence {
        Licence {
            subscription_cost_usd: d(seat),
            credits_cost_usd: d(credits),
            ..Licence::empty(LicenceKey {
                account_id: account.into(),
                region: "us-east-1".into(),
                user_id: user.into(),
            })
        }
    }

    fn report(licences: Vec<Licence>, pools: &[(&str, &str, &str)]) -> KiroReport {
        KiroReport {
            licences,
            unattributed_cost_usd: pools
                .iter()
                .map(|(a, t, v)| (UnattributedKey { account_id: (*a).into(), line_item_type: (*t).into() }, d(v)))
                .collect(),
            ..KiroReport::default()
        }
    }

    fn allocated(r: &KiroReport) -> Vec<Decimal> {
        r.licences.iter().map(|l| l.allocated_cost_usd.unwrap()).collect()
    }

    #[test]
    fn account_level_amounts_follow_each_licence_cost_and_sum_to_the_invoice() {
        // Account A: 20 + 40 + 100 = 160 of licences, a -16 discount and 3.10 tax: 147.10 in all.
        let mut r = report(
            vec![licence("A", "u1", "20", "0"), licence("A", "u2", "40", "0"), licence("A", "u3", "100", "0")],
            &[("A", "EdpDiscount", "-16"), ("A", "Tax", "3.10")],
        );
        allocate_account_level(&mut r);
        // Pool -12.90: u1 gets -12.90 x 20/160 = -1.6125, u2 -3.225, u3 -8.0625.
        assert_eq!(allocated(&r), [d("18.3875"), d("36.775"), d("91.9375")]);
        assert_eq!(allocated(&r).iter().sum::<Decimal>(), d("147.10"));
    }

    #[test]
    fn the_rounding_remainder_goes_to_the_largest_licence() {
        // 1.00 over three equal licences: 0.333333 each, the remainder 0.000001 to the first largest.
        let mut r = report(
            vec![licence("B", "u1", "10", "0"), licence("B", "u2", "10", "0"), licence("B", "u3", "10", "0")],
            &[("B", "Tax", "1.00")],
        );
        allocate_account_level(&mut r);
        assert_eq!(allocated(&r), [d("10.333334"), d("10.333333"), d("10.333333")]);
        assert_eq!(allocated(&r).iter().sum::<Decimal>(), d("31"));
        // With nothing to weigh by (all free), equal shares; other accounts' licences keep their own cost.
        let mut r = report(
            vec![licence("C", "u1", "0", "0"), licence("C", "u2", "0", "0"), licence("D", "u3", "5", "1")],
            &[("C", "Tax", "0.5")],
        );
        allocate_account_level(&mut r);
        assert_eq!(allocated(&r), [d("0.25"), d("0.25"), d("6")]);
    }

    #[test]
    fn basis_and_currency() {
        let line = KiroLine {
            unblended_cost: d("20"),
            net_unblended_cost: d("18"),
            currency: Some("USD".into()),
            ..KiroLine::default()
        };
        let mut kiro = vec![line.clone()];
        on_basis(&mut kiro, &mut [], CostBasis::Unblended);
        assert_eq!(kiro[0].unblended_cost, d("20"));
        on_basis(&mut kiro, &mut [], CostBasis::Net);
        assert_eq!(kiro[0].unblended_cost, d("18"));
        assert_eq!(foreign_currency(&kiro, &[]), None);
        let inr = BedrockLine { currency: Some("INR".into()), ..BedrockLine::default() };
        assert_eq!(foreign_currency(&kiro, &[inr]).as_deref(), Some("INR"));
        assert_eq!((CostBasis::Net.used(true), CostBasis::Net.used(false)), ("net", "unblended"));
        assert_eq!(CostBasis::Unblended.used(true), "unblended");
    }
}
