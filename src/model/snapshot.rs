//! The immutable result of one successful refresh, and its assembly from what the refresh read.
//!
//! A snapshot is plain data: everything `/metrics` shows about the bill. [`assemble`] is the join of the
//! bill's Kiro lines, Kiro's activity report, the identity directory, right-sizing and the Bedrock lines,
//! as a pure function (no I/O, no clock: `now` is an input), so every rule of the join is unit-tested. The
//! refresh (`crate::refresh`) only does the reading. The snapshot's exposition (families, text, gzip) is
//! built once when it is published, by `crate::metrics::Exposition`.

use std::fmt;
use std::sync::Arc;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::activity::{ActivityRow, apply, summarise};
use super::bedrock::{self, BedrockLine, BedrockRows, SessionNames, TagLabel};
use super::cost::allocate_account_level;
use super::rightsizing::{IdleRule, analyse, duplicate_licences_of};
use super::rows::{Rows, build_rows};
use super::{BillingPeriod, KiroReport, PlanCatalog};
use crate::identity::Directory;
use crate::identity::resolve::{LabelRules, UserLabels};

/// How the billing period of a snapshot was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodSelection {
    /// `--billing-period` was given.
    Pinned,
    /// The current UTC month, which has data.
    Current,
    /// The latest period in the export, because the current month has no data yet.
    Latest,
    /// The served period just before the current (or latest) one: last month's bill, still restated by
    /// AWS for some days after it ends.
    Previous,
    /// An older served period (`--billing-periods` above 2).
    Past,
}

impl PeriodSelection {
    /// The selection of the `rank`-th served period, newest first; `newest_is_current`: the newest is the
    /// current calendar month (else the latest one that has data).
    pub fn of_rank(rank: usize, newest_is_current: bool) -> Self {
        match rank {
            0 if newest_is_current => Self::Current,
            0 => Self::Latest,
            1 => Self::Previous,
            _ => Self::Past,
        }
    }
}

impl fmt::Display for PeriodSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pinned => "pinned",
            Self::Current => "current",
            Self::Latest => "latest",
            Self::Previous => "previous",
            Self::Past => "past",
        })
    }
}

/// What one successful refresh produced: a snapshot per served billing period, newest first.
#[derive(Debug, Default)]
pub struct Snapshots {
    pub periods: Vec<Snapshot>,
}

impl Snapshots {
    /// The newest served period (current, latest or pinned): the one the exporter-wide gauges describe.
    pub fn primary(&self) -> Option<&Snapshot> {
        self.periods.first()
    }
}

/// What one successful refresh produced for one billing period.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub period: Option<BillingPeriod>,
    pub selection: Option<PeriodSelection>,
    /// The bill's Kiro figures (licences without labels, account-level costs, freshness).
    pub kiro: Arc<KiroReport>,
    /// The exported per-licence rows (labels, signals, roll-up applied).
    pub rows: Rows,
    /// Per user id: labels and the number of seat-holding licences.
    pub duplicates: Vec<(String, UserLabels, u32)>,
    /// Users in the bill that the identity directory does not know (`None`: no directory configured).
    pub unresolved_users: Option<usize>,
    /// The Bedrock series (labels, cross-links, roll-up applied).
    pub bedrock: BedrockRows,
    /// Names of the Bedrock tag labels, in the order of `BedrockKey::tags`.
    pub bedrock_tag_labels: Vec<String>,
    /// Whether the export has `line_item_iam_principal` (Bedrock cost per principal).
    pub bedrock_principal_data: bool,
    /// The cost column the cost series sum (`net` or `unblended`).
    pub cost_basis: Option<&'static str>,
    /// The activity report's latest `Date` per (account, region); `None` when no report is configured.
    pub activity_last_date: Option<BTreeMap<(String, String), i64>>,
    /// Whether the activity report was read this time (`None`: not configured).
    pub activity_up: Option<bool>,
}

/// What one refresh read for a period.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub period: BillingPeriod,
    pub selection: PeriodSelection,
    /// When the refresh ran (the projection counts the days not yet billed from it).
    pub now: DateTime<Utc>,
    /// The bill's Kiro licences, built from its lines ([`super::build_report`]; kept between refreshes
    /// instead of the lines, a few KiB per licence and month).
    pub kiro: &'a Arc<KiroReport>,
    pub bedrock: &'a [BedrockLine],
    /// Whether the export has `line_item_iam_principal`.
    pub principal_data: bool,
    /// The cost column the lines charge (`net` or `unblended`; see [`super::cost::CostBasis::used`]).
    pub cost_basis: &'static str,
    /// Kiro's activity report, when one is configured.
    pub activity: Option<ActivityInput<'a>>,
    /// The identity directory as known now (`None`: not read yet, or none configured).
    pub directory: Option<&'a Directory>,
    /// Whether an identity directory is configured (then users it does not know are counted).
    pub identity_configured: bool,
}

/// The activity report's part of a refresh.
#[derive(Debug, Clone, Copy)]
pub struct ActivityInput<'a> {
    /// The rows used: this refresh's, or the last good ones when it could not be read (`None`: none yet).
    pub rows: Option<&'a [ActivityRow]>,
    /// Whether the report was read this time.
    pub up: bool,
}

/// The exporter's rules for a snapshot (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub plans: &'a PlanCatalog,
    pub idle: IdleRule,
    pub labels: &'a LabelRules,
    /// `--metrics.max-users`: people and principals beyond it are rolled up.
    pub max_users: Option<usize>,
    pub session_names: SessionNames,
    pub tag_labels: &'a [TagLabel],
    /// `--cost.allocate-account-level`.
    pub allocate_account_level: bool,
}

/// What the activity report contributed, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivitySummary {
    pub rows: usize,
    /// Rows replaced by a newer delivery of the same day.
    pub replaced_rows: usize,
    pub licences: usize,
}

/// A snapshot and what went into it.
#[derive(Debug)]
pub struct Assembled {
    pub snapshot: Snapshot,
    pub activity: Option<ActivitySummary>,
}

/// Joins what a refresh read into a snapshot: the bill's licences, corrected by the activity report; the
/// right-sizing signals; people's names and teams from the directory (user ids where it has none); the
/// Bedrock series linked to the directory's users; and the roll-up of everyone beyond `max_users`.
pub fn assemble(inputs: &Inputs<'_>, rules: &Rules<'_>) -> Assembled {
    let period = inputs.period;
    // Shared with the refresh's cache; copied only where the activity report or the allocation changes it.
    let mut report = Arc::clone(inputs.kiro);
    let mut summary = None;
    let activity_last_date = inputs.activity.map(|a| match a.rows {
        Some(rows) => {
            let activity = summarise(rows, period, rules.plans);
            summary = Some(ActivitySummary {
                rows: rows.len(),
                replaced_rows: activity.replaced_rows,
                licences: activity.licences.len(),
            });
            apply(Arc::make_mut(&mut report), &activity, rules.plans);
            activity.last_date
        }
        None => BTreeMap::new(),
    });
    if rules.allocate_account_level {
        allocate_account_level(Arc::make_mut(&mut report));
    }
    let rightsizing = analyse(&report, period, inputs.now, rules.plans, rules.idle);
    // Names and teams as known now; a directory that is down or stale never fails the refresh.
    let labels = |id: &str| rules.labels.labels(id, inputs.directory);
    let rows = build_rows(&report, &rightsizing, labels, rules.max_users);
    // Per person only: a sum over rolled-up users would read as "paying twice" where nobody does.
    let kept: BTreeSet<&str> =
        rows.rows.iter().filter(|r| !r.rolled_up).map(|r| r.licence.key.user_id.as_str()).collect();
    let duplicates = duplicate_licences_of(&report.licences, |id| kept.contains(id))
        .into_iter()
        .map(|(id, n)| (id.to_owned(), labels(id), n))
        .collect();
    let names = inputs.directory.map(Directory::name_index).unwrap_or_default();
    let link = |name: &str| names.get(&name.trim().to_lowercase()).map(|id| labels(id));
    let team_tag = rules.tag_labels.iter().position(|t| t.label == "team");
    let bedrock = bedrock::build_rows(
        bedrock::aggregate(inputs.bedrock, rules.session_names, |name| names.contains_key(&name.trim().to_lowercase())),
        link,
        team_tag,
        rules.max_users,
    );
    let unresolved_users = inputs.identity_configured.then(|| {
        let ids: BTreeSet<&str> = report.licences.iter().map(|l| l.key.user_id.as_str()).collect();
        ids.into_iter().filter(|id| inputs.directory.is_none_or(|d| d.get(id).is_none())).count()
    });
    let snapshot = Snapshot {
        period: Some(period),
        selection: Some(inputs.selection),
        kiro: report,
        rows,
        duplicates,
        unresolved_users,
        bedrock,
        bedrock_tag_labels: rules.tag_labels.iter().map(|t| t.label.clone()).collect(),
        bedrock_principal_data: inputs.principal_data,
        cost_basis: Some(inputs.cost_basis),
        activity_last_date,
        activity_up: inputs.activity.map(|a| a.up),
    };
    Assembled { snapshot, activity: summary }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::identity::DirectoryUser;
    use crate::model::testutil::{d, oct};
    use crate::model::{KiroLine, build_report};

    const ACCOUNT: &str = "111122223333";

    fn line(user: &str, op: &str, usage_type: &str, lit: &str, amount: &str, cost: &str) -> KiroLine {
        KiroLine {
            account_id: ACCOUNT.into(),
            resource_id: Some(format!("arn:aws:identitystore:::user/{user}")),
            product_region_code: Some("us-east-1".into()),
            usage_type: Some(usage_type.into()),
            operation: Some(op.into()),
            line_item_type: Some(lit.into()),
            usage_amount: d(amount),
            unblended_cost: d(cost),
            usage_date: (op == "Credits").then_some(1_791_158_400), // 2026-10-05
            ..KiroLine::default()
        }
    }

    /// A Pro seat and 100 billed credits for u-1; a Pro+ seat and nothing else for u-2.
    fn bill() -> Vec<KiroLine> {
        vec![
            line("u-1", "monthly-subscription", "USE1-KiroEnterprise-Pro", "FlatRateSubscription", "1", "20"),
            line("u-1", "Credits", "USE1-KiroEnterprise-Credits", "Usage", "100", "0"),
            line("u-2", "monthly-subscription", "USE1-KiroEnterprise-ProPlus", "FlatRateSubscription", "1", "40"),
        ]
    }

    fn directory() -> Directory {
        let mut dir = Directory::default();
        dir.insert(DirectoryUser {
            user_id: "u-1".into(),
            user_name: Some("alice".into()),
            email: Some("alice@example.com".into()),
            team: Some("search".into()),
            ..DirectoryUser::default()
        });
        dir
    }

    fn bedrock_line(principal: &str, cost: &str) -> BedrockLine {
        BedrockLine {
            account_id: ACCOUNT.into(),
            product_region_code: Some("us-east-1".into()),
            principal: Some(principal.into()),
            usage_type: Some("USE1-Claude4.6Sonnet-input-tokens".into()),
            pricing_unit: Some("1K tokens".into()),
            line_item_type: Some("Usage".into()),
            tags: vec![None, None, None],
            usage_amount: d("2"),
            unblended_cost: d(cost),
            ..BedrockLine::default()
        }
    }

    fn activity_row(user: &str, credits: &str) -> ActivityRow {
        ActivityRow {
            account_id: ACCOUNT.into(),
            region: "us-east-1".into(),
            delivered: "202610060000".into(),
            date: 1_791_158_400,
            user_id: user.into(),
            client: "KIRO_IDE".into(),
            credits_used: d(credits),
            ..ActivityRow::default()
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-10-12T08:00:00Z".parse().unwrap()
    }

    fn run(inputs: &Inputs<'_>) -> Assembled {
        let plans = PlanCatalog::default();
        let labels = LabelRules::default();
        let tags = TagLabel::defaults();
        let rules = Rules {
            plans: &plans,
            idle: IdleRule::default(),
            labels: &labels,
            max_users: None,
            session_names: SessionNames::EmailsOnly,
            tag_labels: &tags,
            allocate_account_level: false,
        };
        assemble(inputs, &rules)
    }

    fn report(lines: &[KiroLine]) -> Arc<KiroReport> {
        Arc::new(build_report(lines, &PlanCatalog::default(), oct()))
    }

    fn inputs<'a>(kiro: &'a Arc<KiroReport>, bedrock: &'a [BedrockLine], dir: Option<&'a Directory>) -> Inputs<'a> {
        Inputs {
            period: oct(),
            selection: PeriodSelection::Current,
            now: now(),
            kiro,
            bedrock,
            principal_data: true,
            cost_basis: "net",
            activity: None,
            directory: dir,
            identity_configured: true,
        }
    }

    #[test]
    fn the_report_corrects_the_bill_and_the_directory_names_people_and_principals() {
        let (kiro, dir) = (report(&bill()), directory());
        let bedrock = [bedrock_line("arn:aws:iam::111122223333:user/alice", "0.15")];
        let rows = [activity_row("u-1", "130.5")];
        let mut i = inputs(&kiro, &bedrock, Some(&dir));
        i.activity = Some(ActivityInput { rows: Some(&rows), up: true });
        let a = run(&i);
        let s = &a.snapshot;
        let alice = s.rows.rows.iter().find(|r| r.licence.key.user_id == "u-1").unwrap();
        assert_eq!((alice.labels.user.as_str(), alice.labels.team.as_str()), ("alice", "search"));
        // The report's 130.5 credits replace the bill's 100; the bill's figure stays beside it.
        assert_eq!(alice.licence.credits_used, d("130.5"));
        assert_eq!(alice.licence.credits_billed, d("100"));
        assert_eq!((alice.licence.plan.as_str(), alice.licence.subscription_cost_usd), ("Pro", d("20")));
        // u-2 is not in the directory: shown by id, and counted as unresolved.
        let u2 = s.rows.rows.iter().find(|r| r.licence.key.user_id == "u-2").unwrap();
        assert_eq!((u2.labels.user.as_str(), u2.licence.plan.as_str()), ("u-2", "Pro+"));
        assert_eq!(s.unresolved_users, Some(1));
        // The IAM user alice is the directory's alice: her Bedrock cost carries her user and team.
        assert_eq!(s.bedrock.rows.len(), 1);
        let b = &s.bedrock.rows[0];
        assert_eq!((b.user.as_str(), b.team.as_str(), b.amounts.cost_usd), ("alice", "search", d("0.15")));
        assert_eq!(b.amounts.tokens, Some(Decimal::from(2000)));
        assert_eq!(a.activity, Some(ActivitySummary { rows: 1, replaced_rows: 0, licences: 1 }));
        assert_eq!(s.activity_up, Some(true));
        assert_eq!(
            s.activity_last_date.as_ref().and_then(|m| m.get(&(ACCOUNT.to_owned(), "us-east-1".to_owned()))),
            Some(&1_791_158_400)
        );
        assert_eq!((s.period, s.selection), (Some(oct()), Some(PeriodSelection::Current)));
    }

    #[test]
    fn an_unreadable_report_with_no_last_rows_leaves_the_bill_as_it_is() {
        let kiro = report(&bill());
        let mut i = inputs(&kiro, &[], None);
        i.activity = Some(ActivityInput { rows: None, up: false });
        let a = run(&i);
        let s = &a.snapshot;
        let u1 = s.rows.rows.iter().find(|r| r.licence.key.user_id == "u-1").unwrap();
        assert_eq!(u1.licence.credits_used, d("100"));
        assert_eq!(s.activity_up, Some(false));
        assert_eq!(s.activity_last_date.as_ref().map(BTreeMap::len), Some(0));
        assert_eq!(a.activity, None);
        // No directory read yet: everyone is shown by id and counted unresolved.
        assert_eq!(s.unresolved_users, Some(2));
        assert_eq!(u1.labels.user, "u-1");
    }

    #[test]
    fn without_a_report_or_a_directory_nothing_is_claimed_about_them() {
        let kiro = report(&bill());
        let bedrock = [bedrock_line("arn:aws:sts::111122223333:assumed-role/Gateway/BedrockAgentCore-1f2e", "1")];
        let mut i = inputs(&kiro, &bedrock, None);
        i.identity_configured = false;
        let s = run(&i).snapshot;
        assert_eq!((s.activity_up, s.activity_last_date.is_none(), s.unresolved_users), (None, true, None));
        // A per-request session name collapses to its role (emails-only), linked to nobody.
        let b = &s.bedrock.rows[0];
        assert_eq!(b.key.principal, "arn:aws:sts::111122223333:assumed-role/Gateway");
        assert_eq!((b.key.principal_name.as_str(), b.user.as_str()), ("Gateway", ""));
        assert_eq!(s.bedrock_tag_labels, ["team", "project", "cost_center"]);
    }
}
