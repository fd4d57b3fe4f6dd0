//! The exported per-licence rows: licences with their `user`/`team` labels and signals, after the
//! cardinality guard.
//!
//! `--metrics.max-users N` keeps the N users with the most credits (ties: user id order) and rolls every
//! other licence into `user_id="__other__", user="__other__"` per (account, region, plan, team). Sums
//! (credits, plan credits, overage, costs, projections, idle seats) are added up, so `sum()` over any label
//! stays exact; per-person signals (recommended plan, savings) are not shown for the roll-up.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use super::kiro::{KiroReport, Licence, LicenceKey};
use super::rightsizing::RightSizing;
use crate::identity::resolve::UserLabels;

/// `user_id` and `user` of rolled-up licences.
pub const OTHER: &str = "__other__";

/// One exported licence.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub licence: Licence,
    pub labels: UserLabels,
    pub projected: Decimal,
    /// Recommended plan and saving; `None` for seatless licences and roll-ups.
    pub recommendation: Option<super::rightsizing::Recommendation>,
    /// Idle seats in the row (0 or 1, or a count for a roll-up); `None` without a seat.
    pub idle_seats: Option<u32>,
    pub rolled_up: bool,
}

impl Row {
    /// used / plan credits, for rows with plan credits.
    pub fn used_ratio(&self) -> Option<Decimal> {
        self.licence.plan_credits.filter(|pc| !pc.is_zero()).map(|pc| self.licence.credits_used / pc)
    }
}

/// The rows of a snapshot and how many users were rolled up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub rows: Vec<Row>,
    pub rolled_up_users: usize,
}

fn add_opt(a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or_default() + b.unwrap_or_default()),
    }
}

/// Builds the exported rows; `labels` gives each user id's labels.
pub fn build_rows(
    report: &KiroReport,
    rightsizing: &RightSizing,
    labels: impl Fn(&str) -> UserLabels,
    max_users: Option<usize>,
) -> Rows {
    let rows = report.licences.iter().map(|l| {
        let s = rightsizing.signals(l);
        Row {
            licence: l.clone(),
            labels: labels(&l.key.user_id),
            projected: s.projected,
            recommendation: s.recommendation,
            idle_seats: s.idle.map(u32::from),
            rolled_up: false,
        }
    });
    let Some(max) = max_users else { return Rows { rows: rows.collect(), rolled_up_users: 0 } };

    // Rank users by their credits over all their licences (one user may hold several), summed in one list
    // sorted by user: a map would take twice the memory on a bill of many users.
    let mut ranked: Vec<(&str, Decimal)> =
        report.licences.iter().map(|l| (l.key.user_id.as_str(), l.credits_used)).collect();
    ranked.sort_unstable_by(|a, b| a.0.cmp(b.0));
    ranked.dedup_by(|later, first| {
        let same = later.0 == first.0;
        if same {
            first.1 += later.1;
        }
        same
    });
    // Unstable, so no scratch copy: the ids are unique by now, so the order is total all the same.
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let kept: BTreeSet<&str> = ranked.iter().take(max).map(|(u, _)| *u).collect();
    let rolled_up_users = ranked.len().saturating_sub(kept.len());

    let mut out = Vec::new();
    let mut other: BTreeMap<(String, String, String, String), Row> = BTreeMap::new();
    for row in rows {
        if kept.contains(row.licence.key.user_id.as_str()) {
            out.push(row);
            continue;
        }
        let l = &row.licence;
        let key = (l.key.account_id.clone(), l.key.region.clone(), l.plan.clone(), row.labels.team.clone());
        let acc = other.entry(key).or_insert_with(|| Row {
            licence: Licence {
                plan: l.plan.clone(),
                ..Licence::empty(LicenceKey {
                    account_id: l.key.account_id.clone(),
                    region: l.key.region.clone(),
                    user_id: OTHER.into(),
                })
            },
            labels: UserLabels { user_id: OTHER.into(), user: OTHER.into(), team: row.labels.team.clone() },
            projected: Decimal::ZERO,
            recommendation: None,
            idle_seats: None,
            rolled_up: true,
        });
        let m = &mut acc.licence;
        m.has_seat |= l.has_seat;
        m.credits_used += l.credits_used;
        m.credits_billed += l.credits_billed;
        if let Some(r) = &l.reported {
            m.reported.get_or_insert_with(Default::default).add_sums(r);
        }
        m.plan_credits = add_opt(m.plan_credits, l.plan_credits);
        m.overage_credits = add_opt(m.overage_credits, l.overage_credits);
        m.subscription_cost_usd += l.subscription_cost_usd;
        m.allocated_cost_usd = add_opt(m.allocated_cost_usd, l.allocated_cost_usd);
        m.credits_cost_usd += l.credits_cost_usd;
        for (op, c) in &l.other_cost_usd {
            *m.other_cost_usd.entry(op.clone()).or_default() += *c;
        }
        m.daily_credits.add_all(&l.daily_credits);
        acc.projected += row.projected;
        acc.idle_seats = match (acc.idle_seats, row.idle_seats) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
    }
    out.extend(other.into_values());
    Rows { rows: out, rolled_up_users }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::plans::PlanCatalog;
    use crate::model::rightsizing::{IdleRule, analyse};
    use crate::model::testutil::d;
    use crate::model::{KiroLine, build_report};

    fn line(user: &str, op: &str, tier: &str, amount: &str, cost: &str) -> KiroLine {
        KiroLine {
            account_id: "1".into(),
            resource_id: Some(format!("arn:aws:identitystore:::user/{user}")),
            product_region_code: Some("us-east-1".into()),
            usage_type: Some(format!("USE1-KiroEnterprise-{tier}")),
            operation: Some(op.into()),
            line_item_type: Some("Usage".into()),
            usage_amount: d(amount),
            unblended_cost: d(cost),
            ..KiroLine::default()
        }
    }

    fn report() -> (KiroReport, RightSizing) {
        let p = "2026-10".parse().unwrap();
        let mut lines = Vec::new();
        for (u, credits, team) in
            [("a", "1500", "x"), ("b", "900", "x"), ("c", "10", "x"), ("d", "0", "y"), ("e", "300", "x")]
        {
            let _ = team;
            lines.push(line(u, "monthly-subscription", "Pro", "1", "20"));
            lines.push(line(u, "Credits", "Credits", credits, if u == "a" { "20" } else { "0" }));
        }
        let mut r = build_report(&lines, &PlanCatalog::default(), p);
        // The bill covers the whole month, seen on its last day (a closed month would get no advice).
        r.last_usage_end = Some(p.end().timestamp());
        let now = chrono::DateTime::parse_from_rfc3339("2026-10-31T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let rs = analyse(&r, p, now, &PlanCatalog::default(), IdleRule::default());
        (r, rs)
    }

    fn team(id: &str) -> UserLabels {
        UserLabels {
            user_id: id.into(),
            user: format!("name-{id}"),
            team: if id == "d" { "y".into() } else { "x".into() },
        }
    }

    #[test]
    fn without_a_cap_every_licence_is_a_row() {
        let (r, rs) = report();
        let rows = build_rows(&r, &rs, team, None);
        assert_eq!(rows.rows.len(), 5);
        assert_eq!(rows.rolled_up_users, 0);
        assert_eq!(rows.rows[0].labels.user, "name-a");
    }

    #[test]
    fn the_roll_up_keeps_totals_exact() {
        let (r, rs) = report();
        let all = build_rows(&r, &rs, team, None);
        let capped = build_rows(&r, &rs, team, Some(2));
        assert_eq!(capped.rolled_up_users, 3);
        let kept: Vec<&str> =
            capped.rows.iter().filter(|r| !r.rolled_up).map(|r| r.licence.key.user_id.as_str()).collect();
        assert_eq!(kept, vec!["a", "b"], "the two heaviest users");
        // c and e (team x) merge; d (team y) is its own roll-up row.
        let others: Vec<_> = capped.rows.iter().filter(|r| r.rolled_up).collect();
        assert_eq!(others.len(), 2);
        let x = others.iter().find(|r| r.labels.team == "x").unwrap();
        assert_eq!(
            (x.licence.credits_used, x.licence.plan_credits, x.licence.subscription_cost_usd),
            (d("310"), Some(d("2000")), d("40"))
        );
        assert_eq!(x.labels.user, OTHER);
        assert_eq!(x.recommendation, None);
        let y = others.iter().find(|r| r.labels.team == "y").unwrap();
        assert_eq!(y.idle_seats, Some(1), "d's idle seat is counted");
        let sum = |rows: &Rows, f: &dyn Fn(&Row) -> Decimal| rows.rows.iter().map(f).sum::<Decimal>();
        for (what, f) in [
            ("credits", &(|r: &Row| r.licence.credits_used) as &dyn Fn(&Row) -> Decimal),
            ("seat cost", &|r: &Row| r.licence.subscription_cost_usd),
            ("credits cost", &|r: &Row| r.licence.credits_cost_usd),
            ("overage", &|r: &Row| r.licence.overage_credits.unwrap_or_default()),
            ("projected", &|r: &Row| r.projected),
            ("idle", &|r: &Row| Decimal::from(r.idle_seats.unwrap_or(0))),
        ] {
            assert_eq!(sum(&capped, f), sum(&all, f), "{what}");
        }
    }
}
