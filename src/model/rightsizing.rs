//! Right-sizing and early warnings: month-end projection, the cheapest plan, idle and duplicate seats.
//!
//! Everything is computed from the bill as of its latest usage date ("coverage"), never from the wall clock
//! alone, because the bill lags a day or two:
//!
//! - **Coverage**: `elapsed` = whole days from the period start to the bill's latest Kiro usage end date
//!   (a partial day counts as a day), at most the days of the month. The period is *finished* once the
//!   wall clock is past its end or the bill covers every day.
//! - **Projection** (`kiro_credits_projected`): credits used + recent daily rate x remaining days, where the
//!   recent rate is the credits of the last 7 covered days divided by 7 (days without usage, and days
//!   before the 1st in the first week, count as zero: a heavy first day or a user who just started is not
//!   multiplied by the whole month). With no coverage yet, or once finished, the projection equals the
//!   credits used. It never divides by zero and never goes below the credits used.
//! - **Plan cost** for a usage `u`: `price + max(0, u - plan credits) x overage price`. Upgrades re-rate the
//!   whole month, so the cost of ending the month on a plan is that formula over the whole month's usage.
//!   The recommended plan is the cheapest priced plan for the projected usage (ties: the smaller plan);
//!   savings = cost(current) - cost(recommended), 0 when the current plan is already cheapest, absent when
//!   the current plan has no price. Licences without a seat get no recommendation.
//! - **Idle seat**: a seat with fewer than `idle_credits` credits once `idle_after_days` days are covered
//!   (or the period is finished); 0 before that.
//! - **Duplicate licences**: per user id, the number of seat-holding licences (profiles x accounts).
//! - **Closed months**: right-sizing is about the month in progress. Once the wall clock is past a
//!   period's end, its projection is the credits used and it gets no advice (no recommended plan, no
//!   savings, no idle seats): a closed month's bill can no longer be changed by switching plans.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::daily::Daily;
use super::kiro::{KiroReport, Licence};
use super::period::BillingPeriod;
use super::plans::{PlanCatalog, PlanSpec};

const SECONDS_PER_DAY: i64 = 86_400;
/// Days of recent usage the projection's rate is taken over.
pub const RATE_WINDOW_DAYS: u32 = 7;

/// Thresholds of the idle-seat rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleRule {
    pub idle_credits: Decimal,
    pub idle_after_days: u32,
}

impl Default for IdleRule {
    fn default() -> Self {
        Self { idle_credits: Decimal::ONE, idle_after_days: 14 }
    }
}

/// How much of the period the bill covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    pub days: u32,
    pub elapsed_days: u32,
    pub finished: bool,
    /// The wall clock is past the period's end: no advice.
    pub closed: bool,
}

impl Coverage {
    /// Coverage of `period` by a bill whose latest usage ends at `last_usage_end`, seen at `now`.
    pub fn of(period: BillingPeriod, last_usage_end: Option<i64>, now: DateTime<Utc>) -> Self {
        let days = period.days();
        let start = period.start().timestamp();
        let elapsed_days = last_usage_end.map_or(0, |t| {
            let secs = (t - start).max(0);
            let whole = secs / SECONDS_PER_DAY + i64::from(secs % SECONDS_PER_DAY != 0);
            u32::try_from(whole).unwrap_or(u32::MAX).min(days)
        });
        let closed = now >= period.end();
        Self { days, elapsed_days, finished: closed || elapsed_days >= days, closed }
    }

    /// Days of the period not yet covered by the bill (0 once finished).
    pub fn remaining_days(&self) -> u32 {
        if self.finished { 0 } else { self.days - self.elapsed_days }
    }
}

/// Month-end projection of a licence's credits; `daily` maps day index (0-based) to credits used that day.
pub fn project(used: Decimal, daily: &Daily, coverage: Coverage) -> Decimal {
    if coverage.finished || coverage.elapsed_days == 0 {
        return used;
    }
    let from = coverage.elapsed_days.saturating_sub(RATE_WINDOW_DAYS);
    let recent: Decimal = daily.range(from..coverage.elapsed_days).map(|(_, c)| c).sum();
    // Always over the full window: early in the month the days before the 1st count as zero, so a heavy
    // first day cannot be multiplied by 30.
    let rate = (recent / Decimal::from(RATE_WINDOW_DAYS)).max(Decimal::ZERO);
    used + rate * Decimal::from(coverage.remaining_days())
}

/// What a month on `plan` costs for `usage` credits; `None` when the plan has no price.
pub fn plan_cost(plan: &PlanSpec, usage: Decimal, overage_usd_per_credit: Decimal) -> Option<Decimal> {
    let price = plan.price_usd?;
    Some(price + (usage - plan.credits).max(Decimal::ZERO) * overage_usd_per_credit)
}

/// A recommendation for one licence.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub plan: String,
    /// Monthly saving of switching; `None` when the current plan's price is unknown.
    pub savings_usd: Option<Decimal>,
}

/// The cheapest priced plan for `projected` credits, and the saving against `current`.
pub fn recommend(plans: &PlanCatalog, current: &str, projected: Decimal) -> Option<Recommendation> {
    let rate = plans.overage_usd_per_credit;
    // Plans are ordered smallest first, so a strict `<` keeps the smaller plan on ties.
    let mut best: Option<(&PlanSpec, Decimal)> = None;
    for p in plans.plans() {
        if let Some(cost) = plan_cost(p, projected, rate)
            && best.is_none_or(|(_, c)| cost < c)
        {
            best = Some((p, cost));
        }
    }
    let (best, best_cost) = best?;
    let savings_usd = plans
        .get(current)
        .and_then(|c| plan_cost(c, projected, rate))
        .map(|current_cost| (current_cost - best_cost).max(Decimal::ZERO));
    let plan = if savings_usd == Some(Decimal::ZERO) { current.to_owned() } else { best.name.clone() };
    Some(Recommendation { plan, savings_usd })
}

/// Right-sizing signals of one licence.
#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    pub projected: Decimal,
    pub recommendation: Option<Recommendation>,
    /// `Some(true/false)` for seats, `None` for licences without one.
    pub idle: Option<bool>,
    /// used / plan credits, for configured plans.
    pub used_ratio: Option<Decimal>,
}

/// Computes the signals of a licence.
pub fn signals(l: &Licence, coverage: Coverage, plans: &PlanCatalog, idle: IdleRule) -> Signals {
    let projected = project(l.credits_used, &l.daily_credits, coverage);
    let advice = l.has_seat && !coverage.closed;
    let recommendation = if advice { recommend(plans, &l.plan, projected) } else { None };
    let idle = advice.then(|| {
        (coverage.finished || coverage.elapsed_days >= idle.idle_after_days) && l.credits_used < idle.idle_credits
    });
    let used_ratio = l.plan_credits.filter(|pc| !pc.is_zero()).map(|pc| l.credits_used / pc);
    Signals { projected, recommendation, idle, used_ratio }
}

/// Seat-holding licences per user id.
pub fn duplicate_licences(licences: &[Licence]) -> BTreeMap<&str, u32> {
    duplicate_licences_of(licences, |_| true)
}

/// Seat-holding licences per user id, for the users `keep` names (those exported one by one).
pub fn duplicate_licences_of(licences: &[Licence], keep: impl Fn(&str) -> bool) -> BTreeMap<&str, u32> {
    let mut counts = BTreeMap::new();
    for l in licences.iter().filter(|l| l.has_seat && keep(&l.key.user_id)) {
        *counts.entry(l.key.user_id.as_str()).or_insert(0) += 1;
    }
    counts
}

/// The right-sizing rules as of one moment: the bill's coverage then, the plans and the idle rule. The
/// signals are computed licence by licence as the rows are built ([`RightSizing::signals`]), not kept for
/// every licence: on a bill of 500,000 users that list and its recommended plans' names were 60 MB beside
/// the licences, for the few hundred users exported one by one (README, "Sample data and benchmarks").
#[derive(Debug, Clone, PartialEq)]
pub struct RightSizing {
    coverage: Coverage,
    plans: PlanCatalog,
    idle: IdleRule,
}

impl RightSizing {
    /// The signals of one licence of the report this was made for.
    pub fn signals(&self, l: &Licence) -> Signals {
        signals(l, self.coverage, &self.plans, self.idle)
    }
}

/// The right-sizing rules for a report as of `now`.
pub fn analyse(
    report: &KiroReport,
    period: BillingPeriod,
    now: DateTime<Utc>,
    plans: &PlanCatalog,
    idle: IdleRule,
) -> RightSizing {
    // The activity report may reach further than the bill; its days are in the daily credits then.
    let coverage = Coverage::of(period, report.last_usage_end.max(report.activity_reach), now);
    RightSizing { coverage, plans: plans.clone(), idle }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kiro::LicenceKey;
    use crate::model::testutil::{d, oct};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Bill covering the first `days` days of October 2026, seen in the middle of the month.
    fn covered(days: i64) -> Coverage {
        Coverage::of(oct(), Some(oct().start().timestamp() + days * SECONDS_PER_DAY), at("2026-10-20T12:00:00Z"))
    }

    fn daily(values: &[(u32, &str)]) -> Daily {
        values.iter().map(|(k, v)| (*k, d(v))).collect()
    }

    #[test]
    fn coverage_counts_partial_days_and_finishes() {
        let c = covered(10);
        assert_eq!((c.days, c.elapsed_days, c.finished, c.remaining_days()), (31, 10, false, 21));
        let partial = Coverage::of(
            oct(),
            Some(oct().start().timestamp() + 9 * SECONDS_PER_DAY + 3600),
            at("2026-10-20T00:00:00Z"),
        );
        assert_eq!(partial.elapsed_days, 10);
        let after =
            Coverage::of(oct(), Some(oct().start().timestamp() + 20 * SECONDS_PER_DAY), at("2026-11-02T00:00:00Z"));
        assert!(after.finished);
        assert_eq!(after.remaining_days(), 0);
        let nothing = Coverage::of(oct(), None, at("2026-10-01T08:00:00Z"));
        assert_eq!((nothing.elapsed_days, nothing.finished), (0, false));
    }

    #[test]
    fn projection_uses_the_last_seven_covered_days() {
        // 10 days covered; days 3..=9 (the last 7) hold 70 credits -> 10/day; 21 days remain -> +210.
        let daily = daily(&[(0, "500"), (3, "30"), (9, "40")]);
        assert_eq!(project(d("570"), &daily, covered(10)), d("780"));
    }

    #[test]
    fn projection_on_day_one_and_with_no_bill_yet() {
        // Day 1 covered: 28 credits on day 0 -> 28/7 = 4 a day for 30 more days, not 28 a day.
        assert_eq!(project(d("28"), &daily(&[(0, "28")]), covered(1)), d("148"));
        // Day 3: 7 + 7 + 7 over the 7-day window = 3 a day, 28 days left.
        assert_eq!(project(d("21"), &daily(&[(0, "7"), (1, "7"), (2, "7")]), covered(3)), d("105"));
        // No bill for the month yet: nothing to extrapolate from.
        let none = Coverage::of(oct(), None, at("2026-10-01T08:00:00Z"));
        assert_eq!(project(Decimal::ZERO, &Daily::new(), none), Decimal::ZERO);
    }

    #[test]
    fn a_user_who_just_started_is_averaged_over_the_window() {
        // Covered 20 days; the user's first use is day 19 with 70 credits: 70/7 = 10/day x 11 days.
        assert_eq!(project(d("70"), &daily(&[(19, "70")]), covered(20)), d("180"));
    }

    #[test]
    fn a_finished_period_projects_what_was_used() {
        let c = Coverage::of(oct(), Some(oct().end().timestamp()), at("2026-11-01T00:00:00Z"));
        assert_eq!(project(d("1234.56"), &daily(&[(30, "1000")]), c), d("1234.56"));
        // The last day covered is also "finished" even while the month is not over by the clock.
        let last = Coverage::of(oct(), Some(oct().end().timestamp()), at("2026-10-31T23:00:00Z"));
        assert!(last.finished);
    }

    #[test]
    fn plan_costs_and_recommendations() {
        let plans = PlanCatalog::default();
        let rate = plans.overage_usd_per_credit;
        let pro = plans.get("Pro").unwrap();
        assert_eq!(plan_cost(pro, d("1500"), rate), Some(d("40")));
        assert_eq!(plan_cost(plans.get("Pro Max").unwrap(), d("1"), rate), None);
        // 1500 credits: Pro 20 + 500 x 0.04 = 40 = Pro+ 40 -> tie keeps the smaller plan, no saving.
        assert_eq!(
            recommend(&plans, "Pro", d("1500")),
            Some(Recommendation { plan: "Pro".into(), savings_usd: Some(d("0")) })
        );
        // 2400 on Pro: 20 + 1400 x 0.04 = 76; Pro+: 40 + 400 x 0.04 = 56 -> Pro+, saves 20.
        assert_eq!(
            recommend(&plans, "Pro", d("2400")),
            Some(Recommendation { plan: "Pro+".into(), savings_usd: Some(d("20")) })
        );
        // A Power seat using 300 credits: Pro at 20 saves 180.
        assert_eq!(
            recommend(&plans, "Power", d("300")),
            Some(Recommendation { plan: "Pro".into(), savings_usd: Some(d("180")) })
        );
        // 12000 on Power: 200 + 2000 x 0.04 = 280, cheapest; stays.
        assert_eq!(recommend(&plans, "Power", d("12000")).unwrap().plan, "Power");
        // Pro Max has no price: recommended plan yes, saving unknown; Pro Max is never recommended.
        // 6000 credits: Pro+ 40 + 4000 x 0.04 = 200 ties Power 200 -> the smaller, Pro+.
        let r = recommend(&plans, "Pro Max", d("6000")).unwrap();
        assert_eq!(r, Recommendation { plan: "Pro+".into(), savings_usd: None });
    }

    #[test]
    fn exactly_at_the_plan_limit() {
        let plans = PlanCatalog::default();
        assert_eq!(
            recommend(&plans, "Pro", d("1000")).unwrap(),
            Recommendation { plan: "Pro".into(), savings_usd: Some(d("0")) }
        );
    }

    fn licence(user: &str, region: &str, plan: &str, used: &str, seat: bool) -> Licence {
        let plans = PlanCatalog::default();
        let pc = plans.get(plan).filter(|_| seat).map(|p| p.credits);
        Licence {
            key: LicenceKey { account_id: "1".into(), region: region.into(), user_id: user.into() },
            plan: plan.into(),
            has_seat: seat,
            credits_used: d(used),
            plan_credits: pc,
            overage_credits: pc.map(|p| (d(used) - p).max(Decimal::ZERO)),
            subscription_cost_usd: Decimal::ZERO,
            credits_cost_usd: Decimal::ZERO,
            other_cost_usd: BTreeMap::new(),
            daily_credits: Daily::new(),
            credits_billed: d(used),
            reported: None,
            allocated_cost_usd: None,
        }
    }

    #[test]
    fn a_closed_month_gets_no_advice_and_projects_what_was_used() {
        let plans = PlanCatalog::default();
        let rule = IdleRule::default();
        // A Power seat with 300 credits: in October it is advised to move to Pro (saves 180) and is not idle.
        let power = licence("u", "us-east-1", "Power", "300", true);
        let open = signals(&power, covered(20), &plans, rule);
        assert_eq!(open.recommendation.map(|r| r.plan), Some("Pro".to_owned()));
        // Seen on 1 November, October is closed: no plan advice, no idle flag, the projection is the usage.
        let closed =
            Coverage::of(oct(), Some(oct().start().timestamp() + 20 * SECONDS_PER_DAY), at("2026-11-01T00:00:00Z"));
        assert!(closed.closed && closed.finished);
        let s = signals(&power, closed, &plans, rule);
        assert_eq!((s.recommendation, s.idle, s.projected), (None, None, d("300")));
        let idle = licence("u", "us-east-1", "Pro", "0", true);
        assert_eq!(signals(&idle, closed, &plans, rule).idle, None);
        // The last day billed while the month still runs: finished, not closed, advice still given.
        let last = Coverage::of(oct(), Some(oct().end().timestamp()), at("2026-10-31T23:00:00Z"));
        assert!(!last.closed);
        assert!(signals(&power, last, &plans, rule).recommendation.is_some());
    }

    #[test]
    fn idle_seats_after_the_grace_days() {
        let plans = PlanCatalog::default();
        let rule = IdleRule::default();
        let idle = licence("u", "us-east-1", "Power", "0.5", true);
        assert_eq!(signals(&idle, covered(13), &plans, rule).idle, Some(false), "too early to call");
        assert_eq!(signals(&idle, covered(14), &plans, rule).idle, Some(true));
        let used = licence("u", "us-east-1", "Power", "1", true);
        assert_eq!(signals(&used, covered(20), &plans, rule).idle, Some(false), "1 credit is not idle");
        let seatless = licence("u", "us-east-1", "unknown", "0", false);
        let s = signals(&seatless, covered(20), &plans, rule);
        assert_eq!((s.idle, s.recommendation, s.used_ratio), (None, None, None));
    }

    #[test]
    fn used_ratio_and_upgrade() {
        // An upgraded licence is rated on its final plan (the model already picked Pro+).
        let l = licence("u", "us-east-1", "Pro+", "1500", true);
        let s = signals(&l, covered(31), &PlanCatalog::default(), IdleRule::default());
        assert_eq!(s.used_ratio, Some(d("0.75")));
        assert_eq!(s.projected, d("1500"));
        assert_eq!(
            s.recommendation.unwrap(),
            Recommendation { plan: "Pro+".into(), savings_usd: Some(d("0")) },
            "a tie keeps the current plan"
        );
    }

    #[test]
    fn duplicates_count_seats_across_profiles_and_accounts() {
        let ls = vec![
            licence("bob", "us-east-1", "Pro", "1", true),
            licence("bob", "eu-central-1", "Pro", "1", true),
            licence("ann", "us-east-1", "Pro", "1", true),
            licence("ghost", "us-east-1", "unknown", "5", false),
        ];
        let d = duplicate_licences(&ls);
        assert_eq!(d.get("bob"), Some(&2));
        assert_eq!(d.get("ann"), Some(&1));
        assert_eq!(d.get("ghost"), None);
        // Only the users exported one by one are counted (the rest are rolled up).
        let kept = duplicate_licences_of(&ls, |id| id == "bob");
        assert_eq!(kept.into_iter().collect::<Vec<_>>(), vec![("bob", 2)]);
    }
}
