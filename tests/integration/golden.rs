//! Golden exposition: a fixed snapshot rendered in both formats must match the committed files.
//! Regenerate with `KIRO_UPDATE_GOLDEN=1 cargo test --test integration golden` after an intended change.

use std::collections::BTreeMap;
use std::path::Path;

use kiro_exporter::exposition::{Format, encode, finish};
use kiro_exporter::identity::resolve::UserLabels;
use kiro_exporter::metrics::snapshot_families;
use kiro_exporter::model::activity::Reported;
use kiro_exporter::model::bedrock::{Amounts, BedrockKey, BedrockRow, BedrockRows, PrincipalType, TagLabel, TokenType};
use kiro_exporter::model::kiro::UnattributedKey;
use kiro_exporter::model::rightsizing::{IdleRule, analyse, duplicate_licences};
use kiro_exporter::model::rows::build_rows;
use kiro_exporter::model::{KiroReport, Licence, LicenceKey, PlanCatalog};
use kiro_exporter::snapshot::{PeriodSelection, Snapshot};
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn snapshot() -> Snapshot {
    let licence = |user_id: &str, plan: &str, used: &str, plan_credits: Option<&str>, seat: &str, credits: &str| {
        let used = d(used);
        let pc = plan_credits.map(d);
        Licence {
            key: LicenceKey { account_id: "111111111111".into(), region: "us-east-1".into(), user_id: user_id.into() },
            plan: plan.into(),
            has_seat: pc.is_some(),
            credits_used: used,
            plan_credits: pc,
            overage_credits: pc.map(|p| (used - p).max(Decimal::ZERO)),
            subscription_cost_usd: d(seat),
            credits_cost_usd: d(credits),
            other_cost_usd: BTreeMap::new(),
            daily_credits: [(9, used)].into_iter().collect(),
            credits_billed: used,
            reported: None,
            allocated_cost_usd: None,
        }
    };
    let mut other = licence("u-3", "unknown", "42.42", None, "0", "0");
    other.other_cost_usd.insert("NewThing".into(), d("0.5"));
    let report = KiroReport {
        licences: vec![
            licence("u-1", "Pro", "1050.5", Some("1000"), "20", "2.02"),
            licence("u-2", "Pro+", "0", Some("2000"), "39.9999999993", "0"),
            other,
        ],
        unattributed_cost_usd: [(
            UnattributedKey { account_id: "111111111111".into(), line_item_type: "Tax".into() },
            d("3.10"),
        )]
        .into_iter()
        .collect(),
        last_usage_end: Some(1_791_676_800), // 2026-10-11T00:00:00Z
        unknown_tiers: Default::default(),
        activity_reach: None,
    };
    let labels = |id: &str| match id {
        "u-1" => UserLabels { user_id: id.into(), user: "alice".into(), team: "search".into() },
        "u-2" => UserLabels { user_id: id.into(), user: "Zoë \"Z\" \\ Å\nx".into(), team: "".into() },
        other => UserLabels { user_id: other.into(), user: other.into(), team: "".into() },
    };
    let period = "2026-10".parse().unwrap();
    // Mid-month: the bill covers 10 days; the projection extrapolates the last 7 of them.
    let now = chrono::DateTime::parse_from_rfc3339("2026-10-12T08:00:00Z").unwrap().with_timezone(&chrono::Utc);
    // u-1 is in the activity report too: it used more than the bill shows.
    let mut report = report;
    report.licences[0].credits_used = d("1100");
    report.licences[0].overage_credits = Some(d("100"));
    report.licences[0].reported = Some(Box::new(Reported {
        credits_used: d("1100"),
        overage_cap: Some(d("1000")),
        overage_enabled: Some(true),
        messages: [(("KIRO_IDE".to_owned(), "auto".to_owned()), d("12"))].into_iter().collect(),
        conversations: [("KIRO_IDE".to_owned(), d("3"))].into_iter().collect(),
        ..Reported::default()
    }));
    let rightsizing = analyse(&report, period, now, &PlanCatalog::default(), IdleRule::default());
    let rows = build_rows(&report, &rightsizing, labels, None);
    let duplicates =
        duplicate_licences(&report.licences).into_iter().map(|(id, n)| (id.to_owned(), labels(id), n)).collect();
    Snapshot {
        period: Some(period),
        selection: Some(PeriodSelection::Pinned),
        kiro: std::sync::Arc::new(report),
        rows,
        duplicates,
        unresolved_users: Some(1),
        bedrock: bedrock_rows(),
        bedrock_tag_labels: TagLabel::defaults().into_iter().map(|t| t.label).collect(),
        bedrock_principal_data: true,
        cost_basis: None,
        activity_last_date: Some(
            [(("111111111111".to_owned(), "us-east-1".to_owned()), 1_791_590_400)].into_iter().collect(),
        ),
        activity_up: Some(true),
    }
}

/// Two Bedrock series: a linked IAM user with a tag, and a row without a principal (no tokens).
fn bedrock_rows() -> BedrockRows {
    let key = |principal: &str, kind, name: &str, model: &str, token_type, tags: [&str; 3]| BedrockKey {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        principal: principal.into(),
        principal_type: kind,
        principal_name: name.into(),
        model: model.into(),
        token_type,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    };
    BedrockRows {
        rows: vec![
            BedrockRow {
                key: key(
                    "arn:aws:iam::111111111111:user/alice",
                    PrincipalType::User,
                    "alice",
                    "Claude4.6Sonnet",
                    TokenType::CacheRead,
                    ["", "", "1001"],
                ),
                user: "alice".into(),
                team: "search".into(),
                amounts: Amounts { cost_usd: d("0.15"), tokens: Some(d("500000")) },
            },
            BedrockRow {
                key: key("", PrincipalType::Other, "", "Amazon Bedrock AgentCore", TokenType::Other, ["", "bot", ""]),
                user: String::new(),
                team: String::new(),
                amounts: Amounts { cost_usd: d("0.895"), tokens: None },
            },
        ],
        rolled_up_principals: 0,
    }
}

fn check(format: Format, file: &str) {
    let mut out = String::new();
    encode(&mut out, &snapshot_families(&snapshot()), format);
    finish(&mut out, format);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(file);
    if std::env::var_os("KIRO_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if out != want {
        for (i, (a, b)) in out.lines().zip(want.lines()).enumerate() {
            if a != b {
                panic!("{file} differs at line {}:\n got: {a}\nwant: {b}", i + 1);
            }
        }
        panic!("{file} differs in length: got {} lines, want {}", out.lines().count(), want.lines().count());
    }
}

#[test]
fn golden_text() {
    check(Format::Text, "snapshot.prom");
}

#[test]
fn golden_openmetrics() {
    check(Format::OpenMetrics, "snapshot.om");
}
