//! Kiro's daily user activity report as a second source of per-licence credits: pure rules.
//!
//! The bill can under-count a user's credits (plan-covered use does not always produce a billing record);
//! the report, when an administrator enables it, has every user's credits per day and client. The rules:
//!
//! - One row per (account, region, date, user, client). A day re-delivered in a newer file (the timestamp in
//!   the file name) replaces the older file's rows for that key, never adds to them.
//! - A licence is (account and region from the file's path, user). Report user ids with an identity-store
//!   prefix (`d-xxxxxxxxxx.<id>`) match CUR ids without it (or in CUR's `<xxxxxxxxxx>-<id>` form).
//! - Credits used = the sum of `Credits_Used` over the period's days and all clients. When the report has
//!   the licence, `kiro_credits_used` is the report's figure; the bill's stays as `_billed`.
//! - Plan: the bill's seat when there is one, else the highest `Subscription_Tier` of the period.
//! - Overage cap and whether overage is enabled: the licence's latest day in the report.
//! - Messages per model (every `<model>_messages` column) and chat conversations, summed per client.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

pub use super::kiro::Reported;
use super::kiro::{KiroReport, Licence, LicenceKey};
use super::period::BillingPeriod;
use super::plans::{PlanCatalog, canonical_plan_name};

/// One row of a report file, with where it came from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActivityRow {
    pub account_id: String,
    pub region: String,
    /// The file's delivery timestamp (from its name): a newer file replaces an older one's rows.
    pub delivered: String,
    /// Start of the row's `Date`, Unix seconds (UTC).
    pub date: i64,
    /// `UserId` as written (possibly with an identity-store prefix).
    pub user_id: String,
    pub client: String,
    pub credits_used: Decimal,
    pub overage_cap: Option<Decimal>,
    pub overage_enabled: Option<bool>,
    pub tier: Option<String>,
    pub chat_conversations: Option<Decimal>,
    /// (model, messages) from the `<model>_messages` columns.
    pub messages: Vec<(String, Decimal)>,
}

/// The user id without an identity-store prefix, and CUR's other spelling of a prefixed id.
///
/// `d-9066195b8c.1a2b...` -> (`1a2b...`, Some(`9066195b8c-1a2b...`)); anything else is kept as is.
pub fn normalise_user_id(id: &str) -> (String, Option<String>) {
    let id = id.trim();
    if let Some((store, rest)) = id.split_once('.')
        && let Some(hex) = store.strip_prefix("d-")
        && hex.len() == 10
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && !rest.is_empty()
    {
        return (rest.to_owned(), Some(format!("{hex}-{rest}")));
    }
    (id.to_owned(), None)
}

/// The report, summarised per licence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Activity {
    /// Keyed by the normalised user id; the alternative CUR spelling alongside.
    pub licences: BTreeMap<LicenceKey, (Reported, Option<String>)>,
    /// Latest `Date` per (account, region), Unix seconds.
    pub last_date: BTreeMap<(String, String), i64>,
    /// Rows replaced by a newer delivery of the same day.
    pub replaced_rows: usize,
}

/// Applies the replacement rule and sums the period's rows per licence.
pub fn summarise(rows: &[ActivityRow], period: BillingPeriod, plans: &PlanCatalog) -> Activity {
    let (start, end) = (period.start().timestamp(), period.end().timestamp());
    // The newest delivery of each (account, region, date, user, client).
    type DayKey = (String, String, i64, String, String);
    let mut newest: HashMap<DayKey, &str> = HashMap::new();
    let mut keyed = Vec::with_capacity(rows.len());
    for r in rows.iter().filter(|r| r.date >= start && r.date < end) {
        let (user, alt) = normalise_user_id(&r.user_id);
        let key: DayKey = (r.account_id.clone(), r.region.clone(), r.date, user, r.client.clone());
        let d = newest.entry(key.clone()).or_insert(r.delivered.as_str());
        if newer(&r.delivered, d) {
            *d = r.delivered.as_str();
        }
        keyed.push((key, alt, r));
    }
    let mut out = Activity::default();
    for (key, alt, r) in keyed {
        if newest.get(&key).is_some_and(|d| *d != r.delivered) {
            out.replaced_rows += 1;
            continue;
        }
        let (account_id, region, date, user_id, client) = key;
        let last = out.last_date.entry((account_id.clone(), region.clone())).or_insert(date);
        *last = (*last).max(date);
        let (rep, alt_id) = out.licences.entry(LicenceKey { account_id, region, user_id }).or_default();
        if alt_id.is_none() {
            *alt_id = alt;
        }
        let first = rep.daily.is_empty();
        rep.credits_used += r.credits_used;
        let day = u32::try_from((date - start) / 86_400).unwrap_or_default();
        rep.daily.add(day, r.credits_used);
        if let Some(tier) = r.tier.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let plan = canonical_plan_name(tier);
            // The bigger plan wins (by included credits; a configured plan beats an unknown tier).
            let size = |p: &str| plans.get(p).map(|s| s.credits);
            let better = match &rep.plan {
                None => true,
                Some(p) => size(&plan) > size(p),
            };
            if better {
                rep.plan = Some(plan);
            }
        }
        // The latest day decides the overage settings (the highest cap, enabled if any client says so).
        if first || date > rep.last_date {
            (rep.last_date, rep.overage_cap, rep.overage_enabled) = (date, r.overage_cap, r.overage_enabled);
        } else if date == rep.last_date {
            rep.overage_cap = match (rep.overage_cap, r.overage_cap) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            rep.overage_enabled = match (rep.overage_enabled, r.overage_enabled) {
                (Some(a), Some(b)) => Some(a || b),
                (a, b) => a.or(b),
            };
        }
        if let Some(c) = r.chat_conversations {
            *rep.conversations.entry(client.clone()).or_default() += c;
        }
        for (model, n) in &r.messages {
            *rep.messages.entry((client.clone(), model.clone())).or_default() += *n;
        }
    }
    out
}

/// Whether delivery timestamp `a` is newer than `b` (digits compare by length, then text).
fn newer(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

/// Merges the report into the bill's licences. Licences the report has take its credits (the bill's stay
/// in `credits_billed`); licences only in the report are added with no cost; licences only in the bill
/// are unchanged. The bill's reach is extended to the report's latest day for projections.
pub fn apply(report: &mut KiroReport, activity: &Activity, plans: &PlanCatalog) {
    let mut index: HashMap<LicenceKey, usize> =
        report.licences.iter().enumerate().map(|(i, l)| (l.key.clone(), i)).collect();
    for (key, (rep, alt)) in &activity.licences {
        let alt_key = alt.as_ref().map(|a| LicenceKey { user_id: a.clone(), ..key.clone() });
        let found = index.get(key).or_else(|| alt_key.as_ref().and_then(|k| index.get(k))).copied();
        let i = match found {
            Some(i) => i,
            None => {
                report.licences.push(Licence::empty(key.clone()));
                index.insert(key.clone(), report.licences.len() - 1);
                report.licences.len() - 1
            }
        };
        let l = &mut report.licences[i];
        // Two report spellings of one user (`d-xxxxxxxxxx.<id>` and `xxxxxxxxxx-<id>`) add up.
        let rep = match &l.reported {
            Some(earlier) => {
                let mut sum = (**earlier).clone();
                sum.add_sums(rep);
                sum.plan = sum.plan.clone().or_else(|| rep.plan.clone());
                sum
            }
            None => rep.clone(),
        };
        let rep = &rep;
        l.credits_used = rep.credits_used;
        l.daily_credits = rep.daily.clone();
        if !l.has_seat
            && let Some(plan) = &rep.plan
        {
            l.plan = plan.clone();
        }
        l.plan_credits = if l.has_seat || rep.plan.is_some() { plans.get(&l.plan).map(|p| p.credits) } else { None };
        l.overage_credits = l.plan_credits.map(|pc| (l.credits_used - pc).max(Decimal::ZERO));
        l.reported = Some(Box::new(rep.clone()));
        // The day after the latest reported day: how far the report reaches.
        report.activity_reach = report.activity_reach.max(Some(rep.last_date + 86_400));
    }
    report.licences.sort_by(|a, b| a.key.cmp(&b.key));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{d, oct};

    fn day(n: i64) -> i64 {
        oct().start().timestamp() + (n - 1) * 86_400
    }

    fn row(user: &str, client: &str, date: i64, delivered: &str, credits: &str) -> ActivityRow {
        ActivityRow {
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
            delivered: delivered.into(),
            date,
            user_id: user.into(),
            client: client.into(),
            credits_used: d(credits),
            ..ActivityRow::default()
        }
    }

    #[test]
    fn store_prefixes_are_stripped() {
        assert_eq!(normalise_user_id("d-9066195b8c.1a2b-3c"), ("1a2b-3c".into(), Some("9066195b8c-1a2b-3c".into())));
        assert_eq!(normalise_user_id(" 843884c8-00c1 "), ("843884c8-00c1".into(), None));
        assert_eq!(normalise_user_id("d-xyz.abc"), ("d-xyz.abc".into(), None));
        assert_eq!(normalise_user_id("d-9066195b8c."), ("d-9066195b8c.".into(), None));
    }

    #[test]
    fn a_redelivered_day_replaces_never_adds() {
        let rows = vec![
            row("u1", "KIRO_IDE", day(1), "202610020000", "10"),
            row("u1", "KIRO_IDE", day(1), "202610030000", "12"),
            row("u1", "KIRO_CLI", day(1), "202610020000", "5"),
            row("d-9066195b8c.u1", "KIRO_IDE", day(2), "202610030000", "1.5"),
            // Outside the period: ignored.
            row("u1", "KIRO_IDE", day(32), "202611020000", "100"),
        ];
        let a = summarise(&rows, oct(), &PlanCatalog::default());
        assert_eq!(a.replaced_rows, 1);
        let (rep, alt) = &a.licences
            [&LicenceKey { account_id: "111111111111".into(), region: "us-east-1".into(), user_id: "u1".into() }];
        assert_eq!(rep.credits_used, d("18.5"));
        assert_eq!(rep.daily.get(&0), Some(&d("17")));
        assert_eq!(rep.daily.get(&1), Some(&d("1.5")));
        assert_eq!(alt.as_deref(), Some("9066195b8c-u1"));
        assert_eq!(a.last_date[&("111111111111".to_owned(), "us-east-1".to_owned())], day(2));
    }

    #[test]
    fn highest_tier_latest_overage_settings_messages_per_client() {
        let mut a = row("u1", "KIRO_IDE", day(3), "1", "1");
        a.tier = Some("PRO".into());
        a.overage_cap = Some(d("500"));
        a.overage_enabled = Some(false);
        a.messages = vec![("claude_sonnet_4".into(), d("7"))];
        a.chat_conversations = Some(d("2"));
        let mut b = row("u1", "KIRO_CLI", day(5), "1", "1");
        b.tier = Some("PRO_PLUS".into());
        b.overage_cap = Some(d("1000"));
        b.overage_enabled = Some(true);
        b.messages = vec![("claude_sonnet_4".into(), d("3")), ("auto".into(), d("4"))];
        let mut c = row("u1", "KIRO_IDE", day(4), "1", "1");
        c.tier = Some("PRO".into());
        c.overage_cap = Some(d("50"));
        c.messages = vec![("claude_sonnet_4".into(), d("1"))];
        let s = summarise(&[a, b, c], oct(), &PlanCatalog::default());
        let (rep, _) = s.licences.values().next().unwrap();
        assert_eq!(rep.plan.as_deref(), Some("Pro+"));
        assert_eq!((rep.overage_cap, rep.overage_enabled), (Some(d("1000")), Some(true)));
        assert_eq!(rep.messages[&("KIRO_IDE".to_owned(), "claude_sonnet_4".to_owned())], d("8"));
        assert_eq!(rep.messages[&("KIRO_CLI".to_owned(), "auto".to_owned())], d("4"));
        assert_eq!(rep.conversations[&"KIRO_IDE".to_owned()], d("2"));
        assert_eq!(rep.last_date, day(5));
    }

    #[test]
    fn the_report_wins_where_it_has_the_user_and_adds_report_only_users() {
        let plans = PlanCatalog::default();
        let mut bill = KiroReport::default();
        let key =
            |u: &str| LicenceKey { account_id: "111111111111".into(), region: "us-east-1".into(), user_id: u.into() };
        let mut seated = Licence::empty(key("seated"));
        seated.plan = "Pro".into();
        seated.has_seat = true;
        (seated.credits_used, seated.credits_billed) = (d("900"), d("900"));
        seated.plan_credits = Some(d("1000"));
        seated.overage_credits = Some(d("0"));
        let mut billed_only = Licence::empty(key("billed-only"));
        (billed_only.credits_used, billed_only.credits_billed) = (d("5"), d("5"));
        let mut prefixed = Licence::empty(key("9066195b8c-p"));
        prefixed.credits_used = d("1");
        bill.licences = vec![seated, billed_only, prefixed];

        let mut r1 = row("seated", "KIRO_IDE", day(1), "1", "1100");
        r1.tier = Some("PRO_PLUS".into());
        let mut r2 = row("new", "KIRO_CLI", day(2), "1", "2100");
        r2.tier = Some("PRO_PLUS".into());
        let r3 = row("d-9066195b8c.p", "KIRO_IDE", day(2), "1", "3");
        let activity = summarise(&[r1, r2, r3], oct(), &plans);
        apply(&mut bill, &activity, &plans);

        let get = |u: &str| bill.licences.iter().find(|l| l.key.user_id == u).unwrap();
        let s = get("seated");
        assert_eq!((s.plan.as_str(), s.credits_used, s.credits_billed), ("Pro", d("1100"), d("900")));
        assert_eq!(s.overage_credits, Some(d("100")), "the seat decides the plan, the report the credits");
        let n = get("new");
        assert_eq!((n.plan.as_str(), n.credits_used, n.credits_billed), ("Pro+", d("2100"), d("0")));
        assert_eq!((n.plan_credits, n.overage_credits), (Some(d("2000")), Some(d("100"))));
        let b = get("billed-only");
        assert_eq!((b.credits_used, b.reported.is_none()), (d("5"), true));
        assert_eq!(get("9066195b8c-p").credits_used, d("3"), "prefixed id matched CUR's spelling");
        assert_eq!(bill.licences.len(), 4);
        assert_eq!(bill.activity_reach, Some(day(3)));
    }
}
