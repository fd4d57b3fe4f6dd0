//! Per-licence Kiro credits, plans and costs from the `kiro_lines` aggregate.
//!
//! A licence is (usage account, Kiro profile region, Identity Center user). The SQL groups Kiro line items
//! by those keys and by usage type, operation and line item type; everything that is a rule (which tier
//! wins, what counts as credits, what nets into which cost) lives here, as pure code:
//!
//! - plan: the highest tier among the licence's `monthly-subscription` rows for the whole period;
//!   no seat row -> `plan="unknown"` (credits are kept, never dropped);
//! - credits used: `Credits` rows of line item type `Usage`, once per licence however many seats it has;
//! - costs: every line item type nets in (refunds and promotional credits included), seats and credits
//!   separately; rows without a user go to the per-account unattributed cost.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use super::daily::Daily;
use super::period::BillingPeriod;
use super::plans::{PlanCatalog, canonical_plan_name};
use super::region::resolve_region;

/// Plan label for credits whose licence has no seat row in the period.
pub const PLAN_UNKNOWN: &str = "unknown";

/// One row of the `kiro_lines` aggregate (see `src/sql/kiro_lines.sql`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KiroLine {
    pub account_id: String,
    pub resource_id: Option<String>,
    pub product_region: Option<String>,
    pub product_region_code: Option<String>,
    pub usage_type: Option<String>,
    pub operation: Option<String>,
    pub line_item_type: Option<String>,
    pub usage_amount: Decimal,
    /// The cost the model charges: unblended as read, replaced by the net cost on `--cost.basis net`
    /// ([`super::cost::on_basis`]).
    pub unblended_cost: Decimal,
    /// `line_item_net_unblended_cost` (the unblended cost where the export has no net column).
    pub net_unblended_cost: Decimal,
    /// `line_item_currency_code` of the group (one that is not USD when the group has one).
    pub currency: Option<String>,
    /// Start of the usage day (Unix seconds) for `Credits` rows; `None` for other rows.
    pub usage_date: Option<i64>,
    /// Latest `line_item_usage_end_date` of the group, as Unix seconds.
    pub last_usage_end: Option<i64>,
}

/// Identifies one licence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LicenceKey {
    pub account_id: String,
    pub region: String,
    pub user_id: String,
}

/// What the model knows about one licence for the period.
#[derive(Debug, Clone, PartialEq)]
pub struct Licence {
    pub key: LicenceKey,
    /// Plan label: a configured plan, the raw tier text of an unknown tier, or [`PLAN_UNKNOWN`].
    pub plan: String,
    /// Whether the licence had a `monthly-subscription` row in the period.
    pub has_seat: bool,
    pub credits_used: Decimal,
    /// Included credits; `None` when the plan is not configured (or there is no seat).
    pub plan_credits: Option<Decimal>,
    /// `max(0, used - plan credits)`; `None` when the plan is not configured.
    pub overage_credits: Option<Decimal>,
    pub subscription_cost_usd: Decimal,
    pub credits_cost_usd: Decimal,
    /// Cost of rows of other operations, by operation; nothing is dropped.
    pub other_cost_usd: BTreeMap<String, Decimal>,
    /// Credits used per day of the period (0-based day index), for projections.
    pub daily_credits: Daily,
    /// Credits the bill shows (`credits_used` is the activity report's figure when it has the licence).
    pub credits_billed: Decimal,
    /// What the activity report says, when it is configured and has the licence.
    pub reported: Option<Box<Reported>>,
    /// Own cost plus the share of the account's amounts without a user (`--cost.allocate-account-level`).
    pub allocated_cost_usd: Option<Decimal>,
}

impl Licence {
    /// A licence with nothing billed: plan unknown, no seat, zero credits and costs.
    pub fn empty(key: LicenceKey) -> Self {
        Self {
            key,
            plan: PLAN_UNKNOWN.to_owned(),
            has_seat: false,
            credits_used: Decimal::ZERO,
            plan_credits: None,
            overage_credits: None,
            subscription_cost_usd: Decimal::ZERO,
            credits_cost_usd: Decimal::ZERO,
            other_cost_usd: BTreeMap::new(),
            daily_credits: Daily::new(),
            credits_billed: Decimal::ZERO,
            reported: None,
            allocated_cost_usd: None,
        }
    }
}

/// Kiro cost without a user (discounts, tax, ...), per account and line item type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnattributedKey {
    pub account_id: String,
    pub line_item_type: String,
}

/// The Kiro part of a snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KiroReport {
    /// Licences ordered by key.
    pub licences: Vec<Licence>,
    pub unattributed_cost_usd: BTreeMap<UnattributedKey, Decimal>,
    /// Latest usage end date of the Kiro credits line items, Unix seconds: how far the bill reaches.
    pub last_usage_end: Option<i64>,
    /// Tier texts that are not configured plans (logged once by the caller).
    pub unknown_tiers: BTreeSet<String>,
    /// End of the activity report's latest day (Unix seconds), when the report is merged in.
    pub activity_reach: Option<i64>,
}

const OP_SEAT: &str = "monthly-subscription";
const OP_CREDITS: &str = "Credits";
const TIER_MARKER: &str = "kiroenterprise-";

/// The user id of a `line_item_resource_id`: everything after `user/`, or the whole id when it has none.
pub fn user_id_from_resource(resource_id: &str) -> Option<&str> {
    let id = resource_id.trim();
    if id.is_empty() {
        return None;
    }
    match id.find("user/") {
        Some(i) => Some(&id[i + "user/".len()..]).filter(|s| !s.is_empty()),
        None => Some(id),
    }
}

/// The tier text of a seat usage type: the part after `KiroEnterprise-` (case-insensitive), else the
/// usage type without its region prefix.
pub fn tier_from_usage_type(usage_type: &str) -> &str {
    let lower = usage_type.to_ascii_lowercase();
    match lower.find(TIER_MARKER) {
        Some(i) => &usage_type[i + TIER_MARKER.len()..],
        None => usage_type.split_once('-').map_or(usage_type, |(_, rest)| rest),
    }
}

fn is(op: Option<&str>, want: &str) -> bool {
    op.is_some_and(|o| o.trim().eq_ignore_ascii_case(want))
}

/// Day index of a timestamp within `period` (0-based), if it falls inside it.
fn day_of(period: BillingPeriod, t: i64) -> Option<u32> {
    let offset = t - period.start().timestamp();
    (offset >= 0 && t < period.end().timestamp()).then(|| u32::try_from(offset / 86_400).ok()).flatten()
}

/// Applies the Kiro rules to the aggregate rows of one billing period.
pub fn build_report(lines: &[KiroLine], plans: &PlanCatalog, period: BillingPeriod) -> KiroReport {
    let mut builder = ReportBuilder::new(plans, period);
    lines.iter().for_each(|l| builder.add(l));
    builder.finish()
}

/// [`build_report`] a line at a time, so a source can hand over its result in chunks and the lines of a
/// bill with many users are never all held at once: only the licences are, each summed in place as its
/// rows come (found again through a hash index that holds no second copy of the key), in a compact form
/// ([`Acc`]), made [`Licence`]s and ordered by key at the end.
pub struct ReportBuilder<'a> {
    plans: &'a PlanCatalog,
    period: BillingPeriod,
    /// Licences in the order of their first row.
    accs: Vec<Acc>,
    /// Account ids, regions and tiers, each once; [`Acc`] holds their positions.
    names: Vec<String>,
    name_index: std::collections::HashMap<String, u32>,
    /// Positions in `accs`, by the hash of the key.
    index: hashbrown::HashTable<usize>,
    hasher: std::hash::RandomState,
    report: KiroReport,
}

/// A licence while its rows come: what they add up to, in about half the bytes of a [`Licence`] (a bill of
/// 500,000 users holds every licence next to the engine's result; the README has the figures). Account
/// and region are positions in the builder's names; plan, included credits and overage come at the end.
struct Acc {
    account: u32,
    region: u32,
    user_id: Box<str>,
    has_seat: bool,
    credits_used: Decimal,
    subscription_cost_usd: Decimal,
    credits_cost_usd: Decimal,
    /// Boxed: most licences have no other operation, and an empty map is 24 bytes where this is 8.
    #[expect(clippy::box_collection, reason = "a thin pointer keeps the licence small: 8 bytes, not 24")]
    other_cost_usd: Option<Box<BTreeMap<String, Decimal>>>,
    daily_credits: Daily,
    tiers: Tiers,
}

/// The tiers a licence's seat rows named, each once, as positions in the builder's names: held in place
/// for the one or two a licence names (no allocation, where a list of texts made two per licence: 500,000
/// users, about 40 MB), in a list beyond.
#[derive(Debug, Clone, PartialEq, Default)]
enum Tiers {
    #[default]
    None,
    One(u32),
    Two(u32, u32),
    #[expect(clippy::box_collection, reason = "a thin pointer keeps the enum at 16 bytes, a list 32")]
    More(Box<Vec<u32>>),
}

impl Tiers {
    fn insert(&mut self, tier: u32) {
        if self.iter().any(|t| t == tier) {
            return;
        }
        *self = match std::mem::take(self) {
            Self::None => Self::One(tier),
            Self::One(a) => Self::Two(a, tier),
            Self::Two(a, b) => Self::More(Box::new(vec![a, b, tier])),
            Self::More(mut all) => {
                all.push(tier);
                Self::More(all)
            }
        };
    }

    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (inline, more): ([Option<u32>; 2], &[u32]) = match self {
            Self::None => ([None, None], &[]),
            Self::One(a) => ([Some(*a), None], &[]),
            Self::Two(a, b) => ([Some(*a), Some(*b)], &[]),
            Self::More(all) => ([None, None], all),
        };
        inline.into_iter().flatten().chain(more.iter().copied())
    }
}

fn key_hash(hasher: &std::hash::RandomState, account: u32, region: u32, user: &str) -> u64 {
    use std::hash::BuildHasher as _;
    hasher.hash_one((account, region, user))
}

impl<'a> ReportBuilder<'a> {
    pub fn new(plans: &'a PlanCatalog, period: BillingPeriod) -> Self {
        Self {
            plans,
            period,
            accs: Vec::new(),
            names: Vec::new(),
            name_index: std::collections::HashMap::new(),
            index: hashbrown::HashTable::new(),
            hasher: std::hash::RandomState::new(),
            report: KiroReport::default(),
        }
    }

    fn name(&mut self, name: &str) -> u32 {
        if let Some(i) = self.name_index.get(name) {
            return *i;
        }
        // A bill names far fewer than 2^32 accounts and regions; the index cannot run out.
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.name_index.insert(name.to_owned(), i);
        i
    }

    /// The licence of (account, region, user), added empty if it has no row yet.
    fn licence(&mut self, account: &str, region: &str, user: &str) -> usize {
        let (account, region) = (self.name(account), self.name(region));
        let Self { accs, index, hasher, .. } = self;
        let hash = key_hash(hasher, account, region, user);
        let same = |i: &usize| {
            let a = &accs[*i];
            a.account == account && a.region == region && *a.user_id == *user
        };
        if let Some(i) = index.find(hash, same) {
            return *i;
        }
        let i = accs.len();
        accs.push(Acc {
            account,
            region,
            user_id: user.into(),
            has_seat: false,
            credits_used: Decimal::ZERO,
            subscription_cost_usd: Decimal::ZERO,
            credits_cost_usd: Decimal::ZERO,
            other_cost_usd: None,
            daily_credits: Daily::new(),
            tiers: Tiers::None,
        });
        index.insert_unique(hash, i, |j| {
            let a = &accs[*j];
            key_hash(hasher, a.account, a.region, &a.user_id)
        });
        i
    }

    /// Licences seen so far.
    pub fn licences(&self) -> usize {
        self.accs.len()
    }

    /// Adds one aggregate row.
    pub fn add(&mut self, line: &KiroLine) {
        let Some(user_id) = line.resource_id.as_deref().and_then(user_id_from_resource) else {
            let key = UnattributedKey {
                account_id: line.account_id.clone(),
                line_item_type: line.line_item_type.clone().unwrap_or_default(),
            };
            *self.report.unattributed_cost_usd.entry(key).or_default() += line.unblended_cost;
            return;
        };
        let region = resolve_region(
            line.product_region.as_deref(),
            line.usage_type.as_deref(),
            line.product_region_code.as_deref(),
        );
        let i = self.licence(&line.account_id, &region, user_id);
        let op = line.operation.as_deref();
        if is(op, OP_SEAT) {
            let tier = line
                .usage_type
                .as_deref()
                .filter(|u| !u.trim().is_empty())
                .map(|ut| self.name(&canonical_plan_name(tier_from_usage_type(ut.trim()))));
            let acc = &mut self.accs[i];
            acc.has_seat = true;
            acc.subscription_cost_usd += line.unblended_cost;
            if let Some(tier) = tier {
                acc.tiers.insert(tier);
            }
        } else if is(op, OP_CREDITS) {
            let acc = &mut self.accs[i];
            // Only metered usage says how far the bill reaches: seat, tax and discount rows are often
            // dated over the whole month.
            self.report.last_usage_end = self.report.last_usage_end.max(line.last_usage_end);
            acc.credits_cost_usd += line.unblended_cost;
            if is(line.line_item_type.as_deref(), "Usage") {
                acc.credits_used += line.usage_amount;
                if let Some(day) = line.usage_date.and_then(|t| day_of(self.period, t)) {
                    acc.daily_credits.add(day, line.usage_amount);
                }
            }
        } else {
            let other = self.accs[i].other_cost_usd.get_or_insert_default();
            *other.entry(op.unwrap_or_default().to_owned()).or_default() += line.unblended_cost;
        }
    }

    /// The period's report: each licence's plan, included credits and overage from its sums, ordered by
    /// key.
    pub fn finish(self) -> KiroReport {
        let Self { plans, mut accs, names, index, mut report, .. } = self;
        drop(index);
        let mut licences = Vec::with_capacity(accs.len());
        // From the end, giving the compact list's memory back as it goes, so the two are not both whole.
        let mut shrink_at = accs.len() / 2;
        while let Some(acc) = accs.pop() {
            if accs.len() < shrink_at {
                accs.shrink_to_fit();
                shrink_at = accs.len() / 2;
            }
            // Highest tier wins for the whole period: known tiers by rank, unknown tiers only when no known
            // tier is present (then the greatest text, so the choice is deterministic).
            let mut tiers: Vec<&str> = acc.tiers.iter().map(|t| names[t as usize].as_str()).collect();
            tiers.sort_unstable();
            let plan = tiers
                .iter()
                .filter(|t| plans.rank(t).is_some())
                .max_by_key(|t| plans.rank(t))
                .or_else(|| tiers.last())
                .map_or_else(|| PLAN_UNKNOWN.to_owned(), |t| (*t).to_owned());
            for t in &tiers {
                if plans.get(t).is_none() {
                    report.unknown_tiers.insert((*t).to_owned());
                }
            }
            let plan_credits = plans.get(&plan).filter(|_| acc.has_seat).map(|p| p.credits);
            licences.push(Licence {
                key: LicenceKey {
                    account_id: names[acc.account as usize].clone(),
                    region: names[acc.region as usize].clone(),
                    user_id: acc.user_id.into(),
                },
                plan,
                has_seat: acc.has_seat,
                credits_used: acc.credits_used,
                plan_credits,
                overage_credits: plan_credits.map(|pc| (acc.credits_used - pc).max(Decimal::ZERO)),
                subscription_cost_usd: acc.subscription_cost_usd,
                credits_cost_usd: acc.credits_cost_usd,
                other_cost_usd: acc.other_cost_usd.map(|m| *m).unwrap_or_default(),
                daily_credits: acc.daily_credits,
                credits_billed: acc.credits_used,
                reported: None,
                allocated_cost_usd: None,
            });
        }
        // Keys are unique, so the order is total.
        licences.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        report.licences = licences;
        report
    }
}

/// What Kiro's user activity report says about one licence in the period (filled by
/// [`super::activity::apply`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reported {
    pub credits_used: Decimal,
    pub daily: Daily,
    /// Highest tier of the period, as a plan label (`PRO_PLUS` -> `Pro+`).
    pub plan: Option<String>,
    pub overage_cap: Option<Decimal>,
    pub overage_enabled: Option<bool>,
    /// (client, model) -> messages.
    pub messages: BTreeMap<(String, String), Decimal>,
    /// client -> chat conversations.
    pub conversations: BTreeMap<String, Decimal>,
    /// Start of the licence's latest day in the report.
    pub last_date: i64,
}

impl Reported {
    /// Adds `other`'s sums (credits, messages, conversations) for a roll-up; per-person settings (plan,
    /// overage cap and switch) do not add up and are left out.
    pub fn add_sums(&mut self, other: &Reported) {
        self.credits_used += other.credits_used;
        self.daily.add_all(&other.daily);
        for (k, n) in &other.messages {
            *self.messages.entry(k.clone()).or_default() += *n;
        }
        for (k, n) in &other.conversations {
            *self.conversations.entry(k.clone()).or_default() += *n;
        }
        self.last_date = self.last_date.max(other.last_date);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{d, oct};

    fn line(user: Option<&str>, op: &str, usage_type: &str, lit: &str, amount: &str, cost: &str) -> KiroLine {
        KiroLine {
            account_id: "111122223333".into(),
            resource_id: user.map(|u| format!("arn:aws:identitystore:::user/{u}")),
            product_region: None,
            product_region_code: Some("us-east-1".into()),
            usage_type: Some(usage_type.into()),
            operation: Some(op.into()),
            line_item_type: Some(lit.into()),
            usage_amount: d(amount),
            unblended_cost: d(cost),
            net_unblended_cost: d(cost),
            currency: Some("USD".into()),
            usage_date: None,
            last_usage_end: None,
        }
    }

    fn seat(user: &str, tier: &str, lit: &str, cost: &str) -> KiroLine {
        line(Some(user), "monthly-subscription", &format!("USE1-KiroEnterprise-{tier}"), lit, "1", cost)
    }

    fn credits(user: &str, amount: &str, cost: &str) -> KiroLine {
        line(Some(user), "Credits", "USE1-KiroEnterprise-Credits", "Usage", amount, cost)
    }

    /// The report of `lines` for October 2026 under the default plans.
    fn report(lines: &[KiroLine]) -> KiroReport {
        build_report(lines, &PlanCatalog::default(), oct())
    }

    fn only(report: &KiroReport, user: &str) -> Licence {
        let found: Vec<_> = report.licences.iter().filter(|l| l.key.user_id == user).cloned().collect();
        assert_eq!(found.len(), 1, "{user}: {found:?}");
        found.into_iter().next().unwrap()
    }

    #[test]
    fn user_ids() {
        assert_eq!(user_id_from_resource("arn:aws:identitystore:::user/843884c8-00c1"), Some("843884c8-00c1"));
        assert_eq!(
            user_id_from_resource("arn:aws:identitystore:::user/9066195b8c-843884c8"),
            Some("9066195b8c-843884c8")
        );
        assert_eq!(user_id_from_resource("opaque-id"), Some("opaque-id"));
        assert_eq!(user_id_from_resource("  "), None);
        assert_eq!(user_id_from_resource("arn:aws:identitystore:::user/"), None);
    }

    #[test]
    fn tiers() {
        assert_eq!(tier_from_usage_type("USE1-KiroEnterprise-ProPlus"), "ProPlus");
        assert_eq!(tier_from_usage_type("EUC1-kiroenterprise-Power"), "Power");
        assert_eq!(tier_from_usage_type("USE1-KiroPro"), "KiroPro");
    }

    #[test]
    fn pro_user_with_overage() {
        // 600 + 450.25 = 1050.25 credits on Pro (1000): 50.25 overage, billed 50.25 * 0.04 = 2.01.
        let r = report(&[
            seat("a", "Pro", "FlatRateSubscription", "20"),
            credits("a", "600", "0"),
            credits("a", "450.25", "2.01"),
        ]);
        let l = only(&r, "a");
        assert_eq!(l.plan, "Pro");
        assert_eq!(l.credits_used, d("1050.25"));
        assert_eq!(l.plan_credits, Some(d("1000")));
        assert_eq!(l.overage_credits, Some(d("50.25")));
        assert_eq!(l.subscription_cost_usd, d("20"));
        assert_eq!(l.credits_cost_usd, d("2.01"));
        assert_eq!(l.key.region, "us-east-1");
    }

    #[test]
    fn upgrade_counts_credits_once_and_nets_the_refund() {
        // Pro seat, refunded on upgrade to Pro+; two seat rows must not double the credits.
        let r = report(&[
            seat("u", "Pro", "FlatRateSubscription", "20"),
            seat("u", "Pro", "Refund", "-20"),
            seat("u", "ProPlus", "FlatRateSubscription", "40"),
            credits("u", "1500", "0"),
        ]);
        let l = only(&r, "u");
        assert_eq!(l.plan, "Pro+");
        assert_eq!(l.credits_used, d("1500"));
        assert_eq!(l.overage_credits, Some(d("0")));
        assert_eq!(l.subscription_cost_usd, d("40"));
    }

    #[test]
    fn the_spelling_pro_plus_is_accepted_and_power_beats_it() {
        let r = report(&[
            seat("p", "Pro+", "FlatRateSubscription", "40"),
            seat("p", "Power", "FlatRateSubscription", "200"),
        ]);
        assert_eq!(only(&r, "p").plan, "Power");
    }

    #[test]
    fn a_month_of_four_tiers_takes_the_highest_and_names_the_unknown_one() {
        // Pro, Pro+, an unconfigured tier and Pro Max in one month, Pro twice: the highest configured tier
        // wins; the unknown one is reported, each once.
        let r = report(&[
            seat("m", "Pro", "FlatRateSubscription", "20"),
            seat("m", "ProPlus", "FlatRateSubscription", "40"),
            seat("m", "Pro", "Refund", "-20"),
            seat("m", "Enterprise", "FlatRateSubscription", "0"),
            seat("m", "ProMax", "FlatRateSubscription", "100"),
        ]);
        let l = only(&r, "m");
        assert_eq!(l.plan, "Pro Max");
        assert_eq!(l.plan_credits, Some(d("5000")));
        assert_eq!(l.subscription_cost_usd, d("140"));
        assert_eq!(r.unknown_tiers.iter().collect::<Vec<_>>(), ["Enterprise"]);
    }

    #[test]
    fn idle_seat_has_zero_credits() {
        let r = report(&[seat("idle", "Power", "FlatRateSubscription", "200")]);
        let l = only(&r, "idle");
        assert_eq!(l.credits_used, Decimal::ZERO);
        assert_eq!(l.overage_credits, Some(Decimal::ZERO));
        assert_eq!(l.plan_credits, Some(d("10000")));
    }

    #[test]
    fn credits_without_a_seat_are_kept_as_unknown() {
        let r = report(&[credits("ghost", "12.34", "0")]);
        let l = only(&r, "ghost");
        assert_eq!(l.plan, PLAN_UNKNOWN);
        assert!(!l.has_seat);
        assert_eq!(l.credits_used, d("12.34"));
        assert_eq!(l.plan_credits, None);
        assert_eq!(l.overage_credits, None);
    }

    #[test]
    fn unknown_tier_keeps_its_text_and_has_no_plan_credits() {
        let r = report(&[seat("x", "Ultra", "FlatRateSubscription", "99"), credits("x", "5", "0")]);
        let l = only(&r, "x");
        assert_eq!(l.plan, "Ultra");
        assert_eq!(l.plan_credits, None);
        assert_eq!(r.unknown_tiers.iter().collect::<Vec<_>>(), vec!["Ultra"]);
        // A known tier beats an unknown one.
        let r =
            report(&[seat("y", "Ultra", "FlatRateSubscription", "99"), seat("y", "Pro", "FlatRateSubscription", "20")]);
        assert_eq!(only(&r, "y").plan, "Pro");
    }

    #[test]
    fn rows_in_any_order_and_in_chunks_give_the_same_report() {
        let mut eu = seat("bob", "Pro", "FlatRateSubscription", "20");
        eu.product_region = Some("eu-central-1".into());
        let lines = vec![
            credits("carol", "700", "0"),
            seat("alice", "Pro", "FlatRateSubscription", "20"),
            credits("alice", "1200", "8"),
            eu,
            seat("bob", "Power", "FlatRateSubscription", "200"),
            seat("carol", "Pro+", "FlatRateSubscription", "40"),
            credits("alice", "50", "2"),
            line(None, "Tax", "USE1-Tax", "Tax", "0", "3"),
        ];
        let whole = report(&lines);
        let plans = PlanCatalog::default();
        let mut reversed = ReportBuilder::new(&plans, oct());
        for chunk in lines.iter().rev().collect::<Vec<_>>().chunks(3) {
            chunk.iter().for_each(|l| reversed.add(l));
        }
        assert_eq!(reversed.finish(), whole);
        let users: Vec<_> = whole.licences.iter().map(|l| (l.key.user_id.as_str(), l.key.region.as_str())).collect();
        // Ordered by key: account, region, user.
        assert_eq!(
            users,
            [("bob", "eu-central-1"), ("alice", "us-east-1"), ("bob", "us-east-1"), ("carol", "us-east-1")]
        );
        let alice = only(&whole, "alice");
        assert_eq!(
            (alice.credits_used, alice.overage_credits, alice.credits_cost_usd),
            (d("1250"), Some(d("250")), d("10"))
        );
        assert_eq!(only(&whole, "carol").plan, "Pro+");
    }

    #[test]
    fn two_profiles_are_two_licences() {
        let mut eu = seat("bob", "Pro", "FlatRateSubscription", "20");
        eu.product_region = Some("eu-central-1".into());
        eu.usage_type = Some("EUC1-KiroEnterprise-Pro".into());
        let r = report(&[seat("bob", "Pro", "FlatRateSubscription", "20"), eu]);
        let regions: Vec<_> = r.licences.iter().map(|l| l.key.region.as_str()).collect();
        assert_eq!(regions, vec!["eu-central-1", "us-east-1"]);
    }

    #[test]
    fn only_usage_rows_count_as_credits_but_all_types_net_into_cost() {
        let mut credit = credits("c", "100", "-1.5");
        credit.line_item_type = Some("Credit".into());
        let r = report(&[seat("c", "Pro", "FlatRateSubscription", "20"), credits("c", "1100", "4"), credit]);
        let l = only(&r, "c");
        assert_eq!(l.credits_used, d("1100"));
        assert_eq!(l.credits_cost_usd, d("2.5"));
    }

    #[test]
    fn account_level_rows_are_unattributed() {
        let r = report(&[
            line(None, "", "", "EdpDiscount", "0", "-3.25"),
            line(None, "", "", "Tax", "0", "1.10"),
            line(None, "", "", "Tax", "0", "0.90"),
            seat("a", "Pro", "FlatRateSubscription", "20"),
        ]);
        let get = |t: &str| {
            r.unattributed_cost_usd[&UnattributedKey { account_id: "111122223333".into(), line_item_type: t.into() }]
        };
        assert_eq!(get("EdpDiscount"), d("-3.25"));
        assert_eq!(get("Tax"), d("2.00"));
        assert_eq!(r.licences.len(), 1);
    }

    #[test]
    fn other_operations_are_kept() {
        let r = report(&[line(Some("o"), "SomethingNew", "USE1-X", "Usage", "1", "0.5")]);
        assert_eq!(only(&r, "o").other_cost_usd["SomethingNew"], d("0.5"));
    }

    #[test]
    fn exactly_at_the_limit_has_no_overage() {
        let r = report(&[seat("e", "Pro", "FlatRateSubscription", "20"), credits("e", "1000.00", "0")]);
        assert_eq!(only(&r, "e").overage_credits, Some(Decimal::ZERO));
    }

    #[test]
    fn daily_credits_by_day_of_the_period() {
        let start = oct().start().timestamp();
        let mut a = credits("a", "5", "0");
        a.usage_date = Some(start);
        let mut b = credits("a", "7.5", "0");
        b.usage_date = Some(start + 30 * 86_400);
        let mut c = credits("a", "1", "0");
        c.usage_date = Some(start + 30 * 86_400);
        let r = report(&[a, b, c]);
        let l = only(&r, "a");
        assert_eq!(l.daily_credits.get(&0), Some(&d("5")));
        assert_eq!(l.daily_credits.get(&30), Some(&d("8.5")));
        assert_eq!(l.credits_used, d("13.5"));
    }

    #[test]
    fn freshness_is_the_latest_end_date() {
        let mut a = credits("a", "1", "0");
        a.last_usage_end = Some(100);
        let mut b = credits("b", "1", "0");
        b.last_usage_end = Some(200);
        assert_eq!(report(&[a, b]).last_usage_end, Some(200));
    }
}
