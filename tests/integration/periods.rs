//! Every month the bill holds (`--billing-periods`): four hand-made months, 2026-02 to 2026-05, each served
//! exactly as `--billing-period` serves it alone; a restated month re-read alone by the daemon while the
//! others cost nothing; the same months on the Athena emulator without `--athena.export-path`.
//!
//! The bill, per month (account 111111111111, us-east-1; Pro $20 / 1,000 credits, Pro+ $40 / 2,000):
//!
//! | month | alice (search)              | bob (payments)               | search | payments |
//! |-------|-----------------------------|------------------------------|--------|----------|
//! | 02    | Pro, 100 credits            | -                            | 20     | -        |
//! | 03    | Pro, 1,200 credits ($8 over)| Pro+, 0 credits              | 28     | 40       |
//! | 04    | Pro, 300 credits            | Pro+, 2,500 credits ($20)    | 20     | 60       |
//! | 04 restated | (same)                | Pro+, 2,400 credits ($16)    | 20     | 56       |
//! | 05    | Pro, 50 credits             | Pro+, 0 credits              | 20     | 40       |

use kiro_exporter::model::BillingPeriod;
use kiro_exporter_generate::scenario::{ACCOUNT_A, ALICE, BOB, credits, seat};
use kiro_exporter_generate::{Options, Rng, Row, write_period};

use crate::common::*;

const MONTHS: [&str; 4] = ["2026-02", "2026-03", "2026-04", "2026-05"];

/// The Kiro rows of a month; `restated`: April as AWS restated it.
fn month(period: &str, restated: bool) -> Vec<Row> {
    let alice_seat = seat(ACCOUNT_A, ALICE, "USE1", "Pro", "FlatRateSubscription", 1.0, 20.0, 0);
    let bob_seat = seat(ACCOUNT_A, BOB, "USE1", "ProPlus", "FlatRateSubscription", 1.0, 40.0, 0);
    match period {
        "2026-02" => vec![alice_seat, credits(ACCOUNT_A, ALICE, "USE1", 100.0, 0.0, 3)],
        "2026-03" => vec![alice_seat, credits(ACCOUNT_A, ALICE, "USE1", 1200.0, 8.0, 10), bob_seat],
        "2026-04" => {
            let bob = if restated { (2400.0, 16.0) } else { (2500.0, 20.0) };
            vec![
                alice_seat,
                credits(ACCOUNT_A, ALICE, "USE1", 300.0, 0.0, 5),
                bob_seat,
                credits(ACCOUNT_A, BOB, "USE1", bob.0, bob.1, 12),
            ]
        }
        "2026-05" => vec![alice_seat, credits(ACCOUNT_A, ALICE, "USE1", 50.0, 0.0, 1), bob_seat],
        other => unreachable!("{other}"),
    }
}

fn write_month(root: &std::path::Path, period: &str, restated: bool, seed: u64) {
    write_rows(root, period.parse().unwrap(), month(period, restated), seed);
}

fn write_rows(root: &std::path::Path, period: BillingPeriod, rows: Vec<Row>, seed: u64) {
    let opts = Options { chunk_rows: 150, ..Options::sample() };
    write_period(root, &opts, period, rows, 400, &mut Rng::new(seed)).unwrap();
}

/// Replaces a month's delivery the way a sync does: written aside, then moved in (data, then manifest).
fn redeliver(root: &std::path::Path, period: &str, restated: bool, seed: u64) {
    let aside = tempfile::tempdir_in(root).unwrap();
    write_month(aside.path(), period, restated, seed);
    for part in ["data", "metadata"] {
        let (from, to) = (
            aside.path().join(part).join(format!("BILLING_PERIOD={period}")),
            root.join(part).join(format!("BILLING_PERIOD={period}")),
        );
        let old = root.join(format!("{part}-{period}-old"));
        std::fs::rename(&to, &old).unwrap();
        std::fs::rename(&from, &to).unwrap();
        std::fs::remove_dir_all(&old).unwrap();
    }
}

/// The four months and a users file naming alice (search) and bob (payments).
fn export() -> Export {
    let dir = tempfile::tempdir().unwrap();
    for (i, m) in MONTHS.iter().enumerate() {
        write_month(dir.path(), m, false, 10 + i as u64);
    }
    std::fs::write(
        dir.path().join("users.jsonl"),
        format!(
            "{{\"UserId\":\"{ALICE}\",\"Username\":\"alice\",\"Team\":\"search\"}}\n{{\"UserId\":\"{BOB}\",\"Username\":\"bob\",\"Team\":\"payments\"}}\n"
        ),
    )
    .unwrap();
    Export { dir }
}

/// A team's Kiro cost in a month: the sum of its seat, credits and other cost series.
fn team_cost(s: &[(String, Labels, f64)], period: &str, team: &str) -> f64 {
    s.iter()
        .filter(|(n, l, _)| {
            ["kiro_subscription_cost_usd", "kiro_credits_cost_usd", "kiro_other_cost_usd"].contains(&n.as_str())
                && l.get("billing_period").map(String::as_str) == Some(period)
                && l.get("team").map(String::as_str) == Some(team)
        })
        .map(|(_, _, v)| v)
        .sum()
}

/// The bill's series of one month, as sorted text lines (the selection aside: it says how it was chosen).
fn month_series(s: &[(String, Labels, f64)], period: &str) -> Vec<String> {
    let mut out: Vec<String> = s
        .iter()
        .filter(|(n, l, _)| {
            l.get("billing_period").map(String::as_str) == Some(period)
                && !n.starts_with("kiro_exporter_billing_period")
                && !n.starts_with("kiro_exporter_period_refreshes")
        })
        .map(|(n, l, v)| format!("{n}{l:?} {v}"))
        .collect();
    out.sort();
    out
}

fn selections(s: &[(String, Labels, f64)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = all(s, "kiro_exporter_billing_period_info", &[])
        .into_iter()
        .map(|(_, l, _)| (l["billing_period"].clone(), l["selection"].clone()))
        .collect();
    v.sort();
    v
}

/// The daemon serving the four months, refreshing every second.
fn four_months(export: &Export) -> Daemon {
    let users = export.users();
    Daemon::start(&[
        "--cur.path",
        export.path().to_str().unwrap(),
        "--identity.users-file",
        users.to_str().unwrap(),
        "--billing-periods",
        "4",
        "--refresh-interval",
        "1s",
    ])
}

/// `kiro_exporter_period_refreshes_total` of a month and result, as the daemon at `addr` shows it.
fn period_refreshes(addr: &str, period: &str, result: &str) -> f64 {
    counter(addr, "kiro_exporter_period_refreshes_total", &[("billing_period", period), ("result", result)])
}

#[test]
fn four_months_each_as_it_is_alone_with_hand_computed_values() {
    let export = export();
    let s = once_on(&export, &["--billing-periods", "4"]);
    // The tests run after May 2026 and the export has no current month: May is the latest.
    assert_eq!(
        selections(&s),
        [("2026-02", "past"), ("2026-03", "past"), ("2026-04", "previous"), ("2026-05", "latest")]
            .map(|(p, sel)| (p.to_owned(), sel.to_owned()))
    );
    let v = |name: &str, period: &str, user: &str| value(&s, name, &[("billing_period", period), ("user", user)]);
    close(v("kiro_credits_used", "2026-02", "alice"), 100.0, "alice Feb");
    close(v("kiro_credits_used", "2026-03", "alice"), 1200.0, "alice Mar");
    close(v("kiro_overage_credits", "2026-03", "alice"), 200.0, "alice Mar overage");
    close(v("kiro_credits_cost_usd", "2026-03", "alice"), 8.0, "alice Mar overage cost");
    close(v("kiro_credits_used", "2026-04", "bob"), 2500.0, "bob Apr");
    close(v("kiro_credits_cost_usd", "2026-04", "bob"), 20.0, "bob Apr overage cost");
    close(v("kiro_subscription_cost_usd", "2026-05", "bob"), 40.0, "bob May seat");
    assert!(all(&s, "kiro_credits_used", &[("billing_period", "2026-02"), ("user", "bob")]).is_empty());
    // Chargeback per team and month.
    for (period, search, payments) in
        [("2026-02", 20.0, 0.0), ("2026-03", 28.0, 40.0), ("2026-04", 20.0, 60.0), ("2026-05", 20.0, 40.0)]
    {
        close(team_cost(&s, period, "search"), search, &format!("search {period}"));
        close(team_cost(&s, period, "payments"), payments, &format!("payments {period}"));
    }
    // Closed months: the projection is the usage, and no advice (bob's idle Pro+ seat in May is not flagged).
    close(v("kiro_credits_projected", "2026-03", "alice"), 1200.0, "projection");
    assert!(all(&s, "kiro_recommended_plan_info", &[]).is_empty());
    assert!(all(&s, "kiro_idle_seat", &[]).is_empty());
    // Exactly what --billing-period serves for each month alone.
    for m in MONTHS {
        let alone = once_on(&export, &["--billing-period", m]);
        assert_eq!(selections(&alone), [(m.to_owned(), "pinned".to_owned())]);
        let (together, pinned) = (month_series(&s, m), month_series(&alone, m));
        assert!(together.len() > 5, "{m}: {together:?}");
        assert_eq!(together, pinned, "{m}");
    }
    // The default: this month (none here) or the latest, and the one before it.
    let s = once_on(&export, &[]);
    assert_eq!(
        selections(&s),
        [("2026-04", "previous"), ("2026-05", "latest")].map(|(p, sel)| (p.to_owned(), sel.to_owned()))
    );
    // Both flags at once is a contradiction, refused by name.
    let path = export.path().to_str().unwrap();
    let err = fails(&["--cur.path", path, "--billing-period", "2026-03", "--billing-periods", "3", "--once"], &[]);
    assert!(err.contains("--billing-periods") && err.contains("--billing-period"), "{err}");
}

#[test]
fn the_daemon_re_reads_only_the_restated_month() {
    let export = export();
    let daemon = four_months(&export);
    let addr = daemon.addr.clone();
    let refreshes = |period: &str, result: &str| period_refreshes(&addr, period, result);
    wait_for("every month queried once and then unchanged", || MONTHS.iter().all(|m| refreshes(m, "unchanged") >= 2.0));
    for m in MONTHS {
        close(refreshes(m, "success"), 1.0, &format!("{m} queried once"));
        close(refreshes(m, "failure"), 0.0, m);
    }
    // Unchanged months read their manifests again, and nothing else.
    let s = metrics(&addr);
    let (bytes, unchanged) = (
        value(&s, "kiro_exporter_bytes_read_total", &[]),
        value(&s, "kiro_exporter_refreshes_total", &[("result", "unchanged")]),
    );
    wait_for("two more unchanged refreshes", || {
        counter(&addr, "kiro_exporter_refreshes_total", &[("result", "unchanged")]) >= unchanged + 2.0
    });
    let s = metrics(&addr);
    let refreshed = value(&s, "kiro_exporter_refreshes_total", &[("result", "unchanged")]) - unchanged;
    let grew = value(&s, "kiro_exporter_bytes_read_total", &[]) - bytes;
    let manifests: u64 = MONTHS
        .iter()
        .map(|m| {
            std::fs::metadata(export.path().join(format!("metadata/BILLING_PERIOD={m}/kiro-cur-Manifest.json")))
                .unwrap()
                .len()
        })
        .sum();
    assert!(grew > 0.0 && grew <= refreshed * manifests as f64, "read {grew} bytes in {refreshed} unchanged refreshes");

    // AWS restates April (a new delivery): April alone is queried again, with its new figures.
    redeliver(export.path(), "2026-04", true, 99);
    wait_for("the restated April", || {
        let s = metrics(&addr);
        all(&s, "kiro_credits_cost_usd", &[("billing_period", "2026-04"), ("user", "bob")])
            .first()
            .is_some_and(|(_, _, v)| (v - 16.0).abs() < 1e-9)
    });
    let s = metrics(&addr);
    close(value(&s, "kiro_credits_used", &[("billing_period", "2026-04"), ("user", "bob")]), 2400.0, "bob restated");
    close(team_cost(&s, "2026-04", "payments"), 56.0, "payments April as restated");
    close(team_cost(&s, "2026-03", "payments"), 40.0, "March unchanged");
    // Once or twice more: the new data files may be seen before the new manifest that names them.
    let april = refreshes("2026-04", "success");
    assert!((2.0..=3.0).contains(&april), "April queried {april} times");
    for m in ["2026-02", "2026-03", "2026-05"] {
        close(refreshes(m, "success"), 1.0, &format!("{m} not queried again"));
    }
    daemon.stop();
}

#[test]
fn athena_without_the_export_path_serves_every_month_and_a_pinned_one() {
    let export = export();
    let ms = crate::athena::ministack_with(export.path(), &[crate::athena::ddl("cur_data", "s3://cur/exp/data/", &[])]);
    let env = aws_env(&ms.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let users = export.users();
    let users = users.to_str().unwrap();
    let athena = |extra: &[&str]| {
        let mut args = vec![
            "--once",
            "--athena.database",
            "billing",
            "--athena.table",
            "cur_data",
            "--athena.output-location",
            "s3://results/",
            "--identity.users-file",
            users,
        ];
        args.extend_from_slice(extra);
        let out = run(&args, &env);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        (parse(&String::from_utf8(out.stdout).unwrap()), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // The periods come from the table's partitions in Glue; one query answers all four months.
    let (s, log) = athena(&["--billing-periods", "4", "--log.level", "debug"]);
    let embedded = once_on(&export, &["--billing-periods", "4"]);
    assert_eq!(selections(&s), selections(&embedded));
    for m in MONTHS {
        assert_eq!(month_series(&s, m), month_series(&embedded, m), "{m}");
    }
    close(value(&s, "kiro_exporter_athena_queries_total", &[("result", "succeeded")]), 1.0, "one query");
    assert!(log.contains("found the export from the table's partitions"), "{log}");
    // The daemon: after the first refresh, unchanged manifests mean no query at all for any month.
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = std::process::Command::new(BIN);
    cmd.args([
        "--athena.database",
        "billing",
        "--athena.table",
        "cur_data",
        "--athena.output-location",
        "s3://results/",
        "--billing-periods",
        "4",
        "--refresh-interval",
        "1s",
        "--web.listen-address",
        &addr,
    ]);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KIRO_EXPORTER_") || k.starts_with("AWS_")) {
        cmd.env_remove(k);
    }
    let _daemon = ChildGuard(
        cmd.envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let refreshes = |period: &str, result: &str| {
        if std::net::TcpStream::connect(&addr).is_err() {
            return 0.0;
        }
        period_refreshes(&addr, period, result)
    };
    wait_for("every month unchanged twice on Athena", || MONTHS.iter().all(|m| refreshes(m, "unchanged") >= 2.0));
    let s = metrics(&addr);
    close(value(&s, "kiro_exporter_athena_queries_total", &[("result", "succeeded")]), 1.0, "one query in all");
    for m in MONTHS {
        close(refreshes(m, "success"), 1.0, m);
    }
    // The pinned past month (the bug: "the export has no billing period 2026-03 (it has 2026-12)").
    let (s, _) = athena(&["--billing-period", "2026-03"]);
    assert_eq!(selections(&s), [("2026-03".to_owned(), "pinned".to_owned())]);
    close(value(&s, "kiro_credits_used", &[("billing_period", "2026-03"), ("user", "alice")]), 1200.0, "alice Mar");
    close(team_cost(&s, "2026-03", "payments"), 40.0, "payments Mar");
}

#[test]
fn the_current_month_is_served_once_it_has_data() {
    let export = export();
    let current = BillingPeriod::containing(chrono::Utc::now());
    let (now, may) = (current.to_string(), "2026-05".to_owned());
    // This month's partition with other services' rows only (as on the 1st): May is the latest.
    write_rows(export.path(), current, Vec::new(), 7);
    let s = once_on(&export, &[]);
    assert_eq!(selections(&s), [("2026-04".to_owned(), "previous".to_owned()), (may.clone(), "latest".to_owned())]);
    // Its first Kiro rows: this month is current, May the previous one.
    let rows = vec![
        seat(ACCOUNT_A, ALICE, "USE1", "Pro", "FlatRateSubscription", 1.0, 20.0, 0),
        credits(ACCOUNT_A, ALICE, "USE1", 7.0, 0.0, 0),
    ];
    write_rows(export.path(), current, rows, 8);
    let s = once_on(&export, &[]);
    let mut want = vec![(may, "previous".to_owned()), (now.clone(), "current".to_owned())];
    want.sort();
    assert_eq!(selections(&s), want);
    close(value(&s, "kiro_credits_used", &[("billing_period", &now), ("user", "alice")]), 7.0, "alice now");
}

#[test]
fn one_bad_old_month_does_not_hold_back_the_others() {
    let export = export();
    let daemon = four_months(&export);
    let addr = daemon.addr.clone();
    let refreshes = |period: &str, result: &str| period_refreshes(&addr, period, result);
    wait_for("the first refresh", || refreshes("2026-02", "success") >= 1.0);
    // February's delivery breaks (a file that is not Parquet), and May is restated at the same time.
    let chunk = export.partition("2026-02").join("kiro-cur-00001.snappy.parquet");
    std::fs::write(&chunk, b"garbage").unwrap();
    redeliver(export.path(), "2026-05", false, 77);
    wait_for("February failing", || refreshes("2026-02", "failure") >= 2.0);
    let s = metrics(&addr);
    // May was read again; February is served from its last good delivery, and the failure is counted.
    assert!(
        value(&s, "kiro_exporter_period_refreshes_total", &[("billing_period", "2026-05"), ("result", "success")])
            >= 2.0
    );
    close(
        value(&s, "kiro_credits_used", &[("billing_period", "2026-02"), ("user", "alice")]),
        100.0,
        "Feb as last read",
    );
    assert!(value(&s, "kiro_exporter_refresh_errors_total", &[("source", "cur"), ("kind", "parquet")]) >= 2.0);
    close(value(&s, "kiro_exporter_last_refresh_success", &[]), 1.0, "the refresh itself succeeds");
    assert_eq!(all(&s, "kiro_exporter_billing_period_info", &[]).len(), 4);
    // --once fails on it, so a script notices.
    let err = fails(&["--once", "--cur.path", export.path().to_str().unwrap(), "--billing-periods", "4"], &[]);
    assert!(err.contains("2026-02") && err.contains("Parquet"), "{err}");
    daemon.stop();
}
