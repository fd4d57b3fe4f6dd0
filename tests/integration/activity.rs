//! Kiro's user activity report next to the bill, with values computed by hand from the report set in
//! `src/generate/activity.rs` and the scenario in `src/generate/scenario.rs`; read from a local copy and
//! from an S3 emulator, which must agree.

use kiro_exporter_generate::activity::{NEWBIE, write_reports};
use kiro_exporter_generate::scenario::{ALICE, BOB, CAROL};

use crate::common::*;
use crate::s3::{s3_env, upload};

fn with_reports() -> (Export, std::path::PathBuf) {
    let export = small_export();
    let reports = export.path().join("activity");
    write_reports(&reports, "2026-10".parse().unwrap()).unwrap();
    (export, reports)
}

/// The flags of a run on `export` with its users file and the report at `report_path`.
fn report_args(export: &Export, report_path: &str) -> Vec<String> {
    let users = export.users();
    ["--cur.path", export.path().to_str().unwrap(), "--identity.users-file", users.to_str().unwrap()]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(["--kiro.activity-report.path".to_owned(), report_path.to_owned()])
        .collect()
}

/// `--once` on October alone (both served months: `the_report_follows_every_served_month`).
fn run_with(export: &Export, report_path: &str, env: &[(&str, &str)]) -> String {
    let mut args = report_args(export, report_path);
    args.extend(["--billing-periods".to_owned(), "1".to_owned()]);
    once(&args.iter().map(String::as_str).collect::<Vec<_>>(), env)
}

#[test]
fn the_report_corrects_the_bill_per_licence() {
    let (export, reports) = with_reports();
    let s = parse(&run_with(&export, reports.to_str().unwrap(), &[]));
    let v = |name: &str, user: &str| value(&s, name, &[("user_id", user)]);

    // bob: the report has more than the bill; the re-delivered day replaced, the next month ignored.
    close(v("kiro_credits_used", BOB), 1210.0, "bob used (report)");
    close(v("kiro_credits_used_reported", BOB), 1210.0, "bob reported");
    close(v("kiro_credits_used_billed", BOB), 1050.5, "bob billed");
    close(v("kiro_overage_credits", BOB), 210.0, "bob overage from the report's figure");
    close(v("kiro_overage_cap_credits", BOB), 1000.0, "bob cap");
    close(v("kiro_overage_enabled", BOB), 1.0, "bob overage on");
    let msg = |client: &str, model: &str| {
        value(&s, "kiro_messages", &[("user_id", BOB), ("client", client), ("model", model)])
    };
    close(msg("KIRO_IDE", "auto"), 23.0, "IDE auto");
    close(msg("KIRO_IDE", "claude_sonnet_4"), 34.0, "IDE sonnet");
    close(msg("KIRO_IDE", "claude_opus_4"), 3.0, "IDE opus, a column of the drifted header");
    close(msg("KIRO_CLI", "auto"), 6.0, "CLI auto");
    close(msg("KIRO_CLI", "claude_sonnet_4"), 9.0, "CLI sonnet");
    close(msg("PLUGIN", "auto"), 1.0, "plugin auto");
    close(msg("PLUGIN", "claude_sonnet_4"), 0.0, "plugin sonnet");
    let conv = |client: &str| value(&s, "kiro_chat_conversations", &[("user_id", BOB), ("client", client)]);
    close(conv("KIRO_IDE"), 11.0, "IDE conversations");
    close(conv("KIRO_CLI"), 3.0, "CLI conversations");
    close(conv("PLUGIN"), 1.0, "plugin conversations");
    assert_eq!(value(&s, "kiro_credits_used", &[("user_id", BOB)]), v("kiro_credits_used", BOB));
    assert_eq!(all(&s, "kiro_credits_used", &[("user_id", BOB)])[0].1["plan"], "Pro");

    // carol: a store-prefixed UserId matches her plain CUR id; her seat (Pro+) decides the plan.
    close(v("kiro_credits_used", CAROL), 1900.0, "carol used");
    close(v("kiro_credits_used_billed", CAROL), 1800.0, "carol billed");
    close(v("kiro_overage_credits", CAROL), 0.0, "carol within Pro+");
    close(v("kiro_overage_enabled", CAROL), 0.0, "carol overage off");
    assert_eq!(all(&s, "kiro_credits_used", &[("user_id", CAROL)])[0].1["plan"], "Pro+");

    // newbie: only in the report, plan from Subscription_Tier.
    close(v("kiro_credits_used", NEWBIE), 2100.0, "newbie used");
    close(v("kiro_credits_used_billed", NEWBIE), 0.0, "newbie billed");
    close(v("kiro_plan_credits", NEWBIE), 2000.0, "newbie plan credits");
    close(v("kiro_overage_credits", NEWBIE), 100.0, "newbie overage");
    close(v("kiro_overage_cap_credits", NEWBIE), 500.0, "newbie cap");
    assert_eq!(all(&s, "kiro_credits_used", &[("user_id", NEWBIE)])[0].1["plan"], "Pro+");

    // alice: only in the bill.
    close(v("kiro_credits_used", ALICE), 550.75, "alice used (bill)");
    close(v("kiro_credits_used_billed", ALICE), 550.75, "alice billed");
    assert!(all(&s, "kiro_credits_used_reported", &[("user_id", ALICE)]).is_empty());

    close(
        value(&s, "kiro_activity_report_last_date_timestamp_seconds", &[("aws_account_id", "111111111111")]),
        1_793_404_800.0, // 2026-10-31
        "report freshness",
    );
}

#[test]
fn s3_and_a_local_copy_give_the_same_metrics() {
    let (export, reports) = with_reports();
    let moto = Emulator::moto();
    upload(&moto.endpoint, "kiro-logs", "activity", &reports);
    let env = s3_env(&moto.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let remote = run_with(&export, "s3://kiro-logs/activity", &env);
    let local = run_with(&export, reports.to_str().unwrap(), &[]);
    let series = |t: &str| -> Vec<String> {
        t.lines().filter(|l| l.starts_with("kiro_") && !l.starts_with("kiro_exporter_")).map(str::to_owned).collect()
    };
    assert!(series(&local).iter().any(|l| l.starts_with("kiro_messages{")));
    assert_eq!(series(&remote), series(&local));
}

#[test]
fn a_broken_report_file_is_named_and_fails_the_refresh() {
    let (export, reports) = with_reports();
    let day = reports.join("AWSLogs/111111111111/KiroLogs/user_report/us-east-1/2026/10/03/00");
    std::fs::write(
        day.join("KIRO_CLI_111111111111_user_report_202610030200.csv"),
        "Date;UserId;Credits_Used\n2026-10-03;x;1\n",
    )
    .unwrap();
    let mut args = vec!["--once".to_owned()];
    args.extend(report_args(&export, reports.to_str().unwrap()));
    let msg = fails(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert!(msg.contains("KIRO_CLI_111111111111_user_report_202610030200.csv: no column UserId"), "{msg}");

    let empty = tempfile::tempdir().unwrap();
    let msg = fails(
        &[
            "--once",
            "--cur.path",
            export.path().to_str().unwrap(),
            "--kiro.activity-report.path",
            empty.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(msg.contains("must name the folder that holds AWSLogs/"), "{msg}");
}

#[test]
fn the_report_follows_every_served_month() {
    // By default October (the latest) and September (the previous month) are served; the report set has
    // October's days only, so September's bill stands as billed and only October is corrected.
    let (export, reports) = with_reports();
    let args = report_args(&export, reports.to_str().unwrap());
    let s = parse(&once(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]));
    let oct = [("billing_period", "2026-10"), ("user_id", BOB)];
    close(value(&s, "kiro_credits_used_reported", &oct), 1210.0, "bob in October, from the report");
    close(value(&s, "kiro_credits_used", &oct), 1210.0, "bob used in October");
    assert!(all(&s, "kiro_credits_used_reported", &[("billing_period", "2026-09")]).is_empty());
    let september = all(&s, "kiro_credits_used_billed", &[("billing_period", "2026-09")]);
    assert!(!september.is_empty(), "September's licences carry their billed figure");
    for (_, labels, billed) in september {
        let mut want: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        want.retain(|(k, _)| *k != "plan");
        close(value(&s, "kiro_credits_used", &want), *billed, "September as billed");
    }
    let reach = all(&s, "kiro_activity_report_last_date_timestamp_seconds", &[]);
    assert!(reach.iter().all(|(_, l, _)| l["billing_period"] == "2026-10"), "{reach:?}");
    close(value(&s, "kiro_exporter_activity_report_up", &[]), 1.0, "read for both months");
}
