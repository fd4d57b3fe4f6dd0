//! The binary on generated exports: exact values computed by hand from the scenario table in
//! `src/generate/scenario.rs` and the rules of the core issue.

use kiro_exporter_generate::scenario::*;

use crate::common::*;

/// (account, region, user id) -> expected (user label, plan, used, plan credits, overage, seat USD, credits USD).
#[allow(clippy::type_complexity)]
fn expected() -> Vec<(
    (&'static str, &'static str, &'static str),
    (&'static str, &'static str, f64, Option<f64>, Option<f64>, f64, f64),
)> {
    vec![
        // alice: 250.5 + 300.25; the 999-credit q-developer-snapshot row is ignored.
        ((ACCOUNT_A, "us-east-1", ALICE), ("alice", "Pro", 550.75, Some(1000.0), Some(0.0), 20.0, 0.0)),
        // bob: 900 + 150.5 = 1050.5 on Pro -> 50.5 over, billed 2.02; 31 daily seat rows of 20/31 sum to 20.
        ((ACCOUNT_A, "us-east-1", BOB), ("bob", "Pro", 1050.5, Some(1000.0), Some(50.5), 20.0, 2.02)),
        // carol: upgrade; Pro+ wins for the month; 30 x 60 = 1800 counted once; 20 - 20 + 40 = 40.
        ((ACCOUNT_A, "us-east-1", CAROL), ("carol", "Pro+", 1800.0, Some(2000.0), Some(0.0), 40.0, 0.0)),
        // dave: idle Power seat.
        ((ACCOUNT_B, "us-east-1", DAVE), ("dave", "Power", 0.0, Some(10000.0), Some(0.0), 200.0, 0.0)),
        // erin: two profiles, two licences.
        ((ACCOUNT_A, "us-east-1", ERIN), ("erin", "Pro", 100.0, Some(1000.0), Some(0.0), 20.0, 0.0)),
        ((ACCOUNT_A, "eu-central-1", ERIN), ("erin", "Pro+", 300.0, Some(2000.0), Some(0.0), 40.0, 0.0)),
        // frank: credits without a seat; not in the users file -> user label is the id.
        ((ACCOUNT_A, "us-east-1", FRANK), (FRANK, "unknown", 42.42, None, None, 0.0, 0.0)),
        // grace: Pro Max (5000, no price): 6000 used, 1000 over, billed 40.
        ((ACCOUNT_A, "us-east-1", GRACE), ("grace", "Pro Max", 6000.0, Some(5000.0), Some(1000.0), 100.0, 40.0)),
        // heidi: Pro and Pro+ in one profile -> Pro+.
        ((ACCOUNT_A, "us-east-1", HEIDI), ("heidi", "Pro+", 10.0, Some(2000.0), Some(0.0), 40.0, 0.0)),
        // ivan: Power with a -50 promotional credit; 12000 used, 2000 over, billed 80.
        ((ACCOUNT_B, "us-east-1", IVAN), ("ivan", "Power", 12000.0, Some(10000.0), Some(2000.0), 150.0, 80.0)),
        // judy: region from the usage-type prefix; id with a store prefix kept whole.
        ((ACCOUNT_A, "us-east-1", JUDY), ("judy", "Pro", 0.01, Some(1000.0), Some(0.0), 20.0, 0.0)),
        ((ACCOUNT_A, "us-east-1", ZOE), (ZOE_NAME, "Pro+", 1999.99, Some(2000.0), Some(0.0), 40.0, 0.0)),
    ]
}

#[test]
fn once_exports_the_hand_computed_values() {
    let export = small_export();
    let s = once_on(&export, &["--billing-period", "2026-10"]);
    for ((account, region, user_id), (user, plan, used, plan_credits, overage, seat, credits)) in expected() {
        let labels = [
            ("billing_period", "2026-10"),
            ("aws_account_id", account),
            ("aws_region", region),
            ("user_id", user_id),
            ("user", user),
            ("plan", plan),
        ];
        let what = format!("{user}@{region}");
        close(value(&s, "kiro_credits_used", &labels), used, &format!("{what} credits"));
        close(value(&s, "kiro_subscription_cost_usd", &labels), seat, &format!("{what} seat"));
        close(value(&s, "kiro_credits_cost_usd", &labels), credits, &format!("{what} credits cost"));
        match plan_credits {
            Some(pc) => close(value(&s, "kiro_plan_credits", &labels), pc, &format!("{what} plan credits")),
            None => assert!(all(&s, "kiro_plan_credits", &labels).is_empty(), "{what} has no plan credits"),
        }
        match overage {
            Some(o) => close(value(&s, "kiro_overage_credits", &labels), o, &format!("{what} overage")),
            None => assert!(all(&s, "kiro_overage_credits", &labels).is_empty(), "{what} has no overage"),
        }
    }
    // Every licence has exactly one series per metric: 12 scenario licences + 5 bulk users.
    assert_eq!(all(&s, "kiro_credits_used", &[]).len(), 17);
    let unattributed = |account, lit| {
        value(
            &s,
            "kiro_unattributed_cost_usd",
            &[("aws_account_id", account), ("line_item_type", lit), ("billing_period", "2026-10")],
        )
    };
    close(unattributed(ACCOUNT_A, "EdpDiscount"), -5.25, "discount A");
    close(unattributed(ACCOUNT_A, "Tax"), 3.10, "tax A");
    close(unattributed(ACCOUNT_B, "Tax"), 1.00, "tax B");
    // Freshness: the scenario's last rows cover 2026-10-31, ending 2026-11-01T00:00:00Z.
    close(
        value(&s, "kiro_cur_data_last_usage_timestamp_seconds", &[("billing_period", "2026-10")]),
        1_793_491_200.0,
        "freshness",
    );
    close(
        value(&s, "kiro_exporter_billing_period_info", &[("billing_period", "2026-10"), ("selection", "pinned")]),
        1.0,
        "period",
    );
    close(value(&s, "kiro_exporter_refreshes_total", &[("result", "success")]), 1.0, "refreshes");
    assert!(value(&s, "kiro_exporter_bytes_read_total", &[]) > 0.0);
    close(value(&s, "kiro_exporter_rows_read_total", &[]), 3_000.0, "rows read");
}

#[test]
fn default_period_is_the_latest_when_the_current_month_has_no_data() {
    // The generated months are 2026-09 and 2026-10; "now" is later, so the latest is chosen.
    let export = small_export();
    let s = once_on(&export, &[]);
    close(
        value(&s, "kiro_exporter_billing_period_info", &[("billing_period", "2026-10"), ("selection", "latest")]),
        1.0,
        "selection",
    );
    let s = once_on(&export, &["--billing-period", "2026-09"]);
    assert_eq!(all(&s, "kiro_credits_used", &[]).len(), 1);
    close(value(&s, "kiro_credits_used", &[("user", "alice"), ("billing_period", "2026-09")]), 10.0, "september");
}

#[test]
fn the_manifest_decides_which_files_count() {
    let export = small_export();
    // A stale chunk of an older delivery, not in the manifest: a copy of a real chunk.
    let part = export.partition("2026-10");
    std::fs::copy(part.join("kiro-cur-00001.snappy.parquet"), part.join("kiro-cur-00099.snappy.parquet")).unwrap();
    let with_manifest = once_on(&export, &["--billing-period", "2026-10"]);
    close(value(&with_manifest, "kiro_credits_used", &[("user", "alice")]), 550.75, "manifest ignores the stale chunk");
    close(value(&with_manifest, "kiro_exporter_rows_read_total", &[]), 3_000.0, "rows");
    // Without a manifest every Parquet file of the partition counts (including the zero-row leftover).
    std::fs::remove_file(export.manifest("2026-10")).unwrap();
    std::fs::remove_file(part.join("kiro-cur-00099.snappy.parquet")).unwrap();
    let listed = once_on(&export, &["--billing-period", "2026-10"]);
    close(value(&listed, "kiro_credits_used", &[("user", "alice")]), 550.75, "listing");
    close(value(&listed, "kiro_credits_used", &[("user", "ivan")]), 12_000.0, "listing");
}

#[test]
fn a_manifest_naming_a_missing_file_is_a_clear_error() {
    let export = small_export();
    std::fs::remove_file(export.partition("2026-10").join("kiro-cur-00002.snappy.parquet")).unwrap();
    let err = fails(&["--once", "--cur.path", export.path().to_str().unwrap(), "--billing-period", "2026-10"], &[]);
    assert!(
        err.contains("kiro-cur-Manifest.json")
            && err.contains("kiro-cur-00002.snappy.parquet")
            && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn a_missing_required_column_names_the_export_setting() {
    let export = small_export();
    drop_columns(&export.partition("2026-10"), &["line_item_resource_id"]);
    let out = run(&["--once", "--cur.path", export.path().to_str().unwrap(), "--billing-period", "2026-10"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("no column line_item_resource_id") && err.contains("Include resource IDs"), "{err}");
}

#[test]
fn optional_columns_may_be_absent() {
    let export = small_export();
    drop_columns(
        &export.partition("2026-10"),
        &[
            "product_usagetype",
            "line_item_net_unblended_cost",
            "tags",
            "resource_tags",
            "cost_category",
            "discount",
            "product",
            "product_region_code",
        ],
    );
    let s = once_on(&export, &["--billing-period", "2026-10"]);
    close(value(&s, "kiro_credits_used", &[("user", "bob")]), 1050.5, "bob");
    // Without product['region'] and product_region_code, the usage-type prefix names the region.
    close(value(&s, "kiro_credits_used", &[("user", "erin"), ("aws_region", "eu-central-1")]), 300.0, "erin EU");
    close(value(&s, "kiro_credits_used", &[("user", "erin"), ("aws_region", "us-east-1")]), 100.0, "erin US");
}

#[test]
fn a_corrupt_file_is_named() {
    let export = small_export();
    std::fs::remove_file(export.manifest("2026-10")).unwrap();
    let bad = export.partition("2026-10").join("kiro-cur-00003.snappy.parquet");
    std::fs::write(&bad, b"this is not parquet at all, just text").unwrap();
    let err = fails(&["--once", "--cur.path", export.path().to_str().unwrap(), "--billing-period", "2026-10"], &[]);
    assert!(err.contains("kiro-cur-00003.snappy.parquet") && err.contains("not a readable Parquet file"), "{err}");
}

#[test]
fn a_footer_length_beyond_the_file_fails_the_refresh_instead_of_the_process() {
    // The security review's reproduction: the 4 bytes before the final PAR1 of one data file set to
    // ff ff ff 7f. The parquet reader panicked on it (exit 101); now the refresh fails and names the file.
    let export = small_export();
    let bad = export.partition("2026-10").join("kiro-cur-00002.snappy.parquet");
    let mut bytes = std::fs::read(&bad).unwrap();
    let n = bytes.len();
    bytes[n - 8..n - 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
    std::fs::write(&bad, bytes).unwrap();
    let out = run(&["--once", "--cur.path", export.path().to_str().unwrap(), "--billing-period", "2026-10"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("kiro-cur-00002.snappy.parquet")
            && err.contains("footer length (2147483647 bytes) exceeds the file"),
        "{err}"
    );
}

#[test]
fn config_errors_exit_64_with_one_line() {
    for args in [vec!["--once"], vec!["--once", "--cur.path", "/tmp", "--billing-period", "2026-1"], vec!["--bogus"]] {
        let out = run(&args, &[]);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("kiro-exporter: "), "{err}");
    }
}

#[test]
fn settings_come_from_the_environment_and_the_config_file() {
    let export = small_export();
    let path = export.path().to_str().unwrap();
    let s = parse(&once(&["--billing-period", "2026-09"], &[("KIRO_EXPORTER_CUR_PATH", path)]));
    close(value(&s, "kiro_credits_used", &[("user_id", ALICE)]), 10.0, "env");
    let cfg = export.path().join("config.yml");
    std::fs::write(&cfg, format!("cur:\n  path: {path}\nbilling-period: \"2026-09\"\nkiro.plan: [\"Pro=800:20\"]\n"))
        .unwrap();
    let s = parse(&once(&["--config.file", cfg.to_str().unwrap()], &[]));
    close(value(&s, "kiro_plan_credits", &[("user_id", ALICE)]), 800.0, "plan from the config file");
}

#[test]
fn a_pinned_period_that_is_not_in_the_export_fails_clearly() {
    let export = small_export();
    let err = fails(&["--once", "--cur.path", export.path().to_str().unwrap(), "--billing-period", "2025-01"], &[]);
    assert!(err.contains("no billing period 2025-01") && err.contains("2026-09, 2026-10"), "{err}");
}

#[test]
fn the_committed_sample_is_the_generators_output_and_runs() {
    // The sample under sample/cur is exactly what `cargo run --example generate -- sample/cur` writes.
    let fresh = tempfile::tempdir().unwrap();
    kiro_exporter_generate::write_export(fresh.path(), &kiro_exporter_generate::Options::sample()).unwrap();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/cur");
    let mut files = Vec::new();
    collect(fresh.path(), fresh.path(), &mut files);
    assert!(files.len() >= 8, "{files:?}");
    for rel in &files {
        let a = std::fs::read(fresh.path().join(rel)).unwrap();
        let b = std::fs::read(sample.join(rel)).unwrap_or_else(|e| panic!("sample/cur/{rel}: {e}"));
        assert!(a == b, "sample/cur/{rel} differs from the generator's output: regenerate the sample");
    }
    // The README's first command: non-empty metrics with resolved names.
    let s = parse(&once(
        &[
            "--cur.path",
            sample.to_str().unwrap(),
            "--identity.users-file",
            sample.join("users.jsonl").to_str().unwrap(),
        ],
        &[],
    ));
    assert!(all(&s, "kiro_credits_used", &[]).len() > 40);
    close(value(&s, "kiro_credits_used", &[("user", "bob")]), 1050.5, "bob in the sample");
}

fn collect(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

#[test]
fn a_closed_month_projects_what_was_used_and_gets_no_advice() {
    // October 2026 is over (the tests run later): projections equal the credits used, and nothing is
    // advised about a bill that can no longer change.
    let export = small_export();
    let s = once_on(&export, &["--billing-period", "2026-10"]);
    for (user, used) in [("alice", 550.75), ("bob", 1050.5), ("ivan", 12_000.0), ("frank", 42.42)] {
        let labels: &[(&str, &str)] = if user == "frank" { &[("user_id", FRANK)] } else { &[("user", user)] };
        close(value(&s, "kiro_credits_projected", labels), used, user);
    }
    for family in ["kiro_recommended_plan_info", "kiro_plan_savings_usd", "kiro_idle_seat"] {
        assert!(all(&s, family, &[]).is_empty(), "{family} exported for a closed month");
    }
    // The facts of the month stay: who paid twice, how much of the plan was used.
    close(value(&s, "kiro_duplicate_licences", &[("user", "erin")]), 2.0, "erin");
    close(value(&s, "kiro_plan_used_ratio", &[("user", "bob")]), 1.0505, "bob ratio");
}

#[test]
fn right_sizing_signals_on_a_month_billed_to_its_last_day() {
    // The scenario's month far in the future: still open by the clock, and billed to its last day, so
    // projections equal the credits used and the advice is about the whole month.
    let dir = tempfile::tempdir().unwrap();
    let opts = kiro_exporter_generate::Options {
        period: "2099-10".parse().unwrap(),
        rows: 3_000,
        bulk_users: 5,
        chunk_rows: 1_000,
        ..kiro_exporter_generate::Options::sample()
    };
    kiro_exporter_generate::write_export(dir.path(), &opts).unwrap();
    let export = Export { dir };
    let s = once_on(&export, &["--billing-period", "2099-10"]);
    for (user, used) in [("alice", 550.75), ("bob", 1050.5), ("ivan", 12_000.0), ("frank", 42.42)] {
        let labels: &[(&str, &str)] = if user == "frank" { &[("user_id", FRANK)] } else { &[("user", user)] };
        close(value(&s, "kiro_credits_projected", labels), used, user);
    }
    let rec = |user: &str| {
        let found = all(&s, "kiro_recommended_plan_info", &[("user", user)]);
        assert_eq!(found.len(), 1, "{user}");
        found[0].1["recommended_plan"].clone()
    };
    // dave: idle Power seat -> Pro ($20) saves $180. heidi: 10 credits on Pro+ -> Pro saves $20.
    assert_eq!(rec("dave"), "Pro");
    close(value(&s, "kiro_plan_savings_usd", &[("user", "dave")]), 180.0, "dave saves");
    assert_eq!(rec("heidi"), "Pro");
    close(value(&s, "kiro_plan_savings_usd", &[("user", "heidi")]), 20.0, "heidi saves");
    // carol: 1800 on Pro+ ($40) vs Pro 20 + 800 x 0.04 = 52 -> stays. bob: 22.02 on Pro is cheapest.
    assert_eq!(rec("carol"), "Pro+");
    close(value(&s, "kiro_plan_savings_usd", &[("user", "carol")]), 0.0, "carol");
    assert_eq!(rec("bob"), "Pro");
    // grace on Pro Max (no price): 6000 credits cost 200 on Pro+ and on Power -> the smaller; saving unknown.
    assert_eq!(rec("grace"), "Pro+");
    assert!(all(&s, "kiro_plan_savings_usd", &[("user", "grace")]).is_empty());
    // ivan: Power 200 + 2000 x 0.04 = 280 beats Pro+ 40 + 10000 x 0.04 = 440.
    assert_eq!(rec("ivan"), "Power");
    // frank has no seat: no recommendation, no idle flag, no duplicate count.
    assert!(all(&s, "kiro_recommended_plan_info", &[("user_id", FRANK)]).is_empty());
    assert!(all(&s, "kiro_idle_seat", &[("user_id", FRANK)]).is_empty());
    assert!(all(&s, "kiro_duplicate_licences", &[("user_id", FRANK)]).is_empty());
    // Idle seats: dave (0 credits) and judy (0.01 < 1); alice is not.
    close(value(&s, "kiro_idle_seat", &[("user", "dave")]), 1.0, "dave idle");
    close(value(&s, "kiro_idle_seat", &[("user", "judy")]), 1.0, "judy idle");
    close(value(&s, "kiro_idle_seat", &[("user", "alice")]), 0.0, "alice");
    // erin pays twice (two profiles); alice once.
    close(value(&s, "kiro_duplicate_licences", &[("user", "erin")]), 2.0, "erin");
    close(value(&s, "kiro_duplicate_licences", &[("user", "alice")]), 1.0, "alice");
    close(value(&s, "kiro_plan_used_ratio", &[("user", "bob")]), 1.0505, "bob ratio");
    close(value(&s, "kiro_plan_used_ratio", &[("user", "ivan")]), 1.2, "ivan ratio");
    // --kiro.idle-credits raises the bar: alice's 550.75 credits are idle under 600.
    let s = once_on(&export, &["--billing-period", "2099-10", "--kiro.idle-credits", "600"]);
    close(value(&s, "kiro_idle_seat", &[("user", "alice")]), 1.0, "alice under 600");
}

#[test]
fn a_new_month_without_kiro_rows_keeps_showing_the_last_one() {
    // The current month's partition exists with other services' rows only (as on the 1st).
    let export = small_export();
    let current = kiro_exporter::model::BillingPeriod::containing(chrono::Utc::now());
    let opts = kiro_exporter_generate::Options::sample();
    kiro_exporter_generate::write_period(
        export.path(),
        &opts,
        current,
        Vec::new(),
        500,
        &mut kiro_exporter_generate::Rng::new(3),
    )
    .unwrap();
    let s = once_on(&export, &[]);
    close(
        value(&s, "kiro_exporter_billing_period_info", &[("billing_period", "2026-10"), ("selection", "latest")]),
        1.0,
        "fallback",
    );
    close(value(&s, "kiro_credits_used", &[("user", "bob")]), 1050.5, "bob");
}

#[test]
fn right_sizing_in_a_month_in_progress() {
    // A current-month partition billed through yesterday: one user with 70 credits on each of the last
    // (up to) 7 billed days, one idle seat.
    use kiro_exporter_generate::scenario::{credits, seat};
    let now = chrono::Utc::now();
    let current = kiro_exporter::model::BillingPeriod::containing(now);
    let today = u32::try_from((now - current.start()).num_days()).unwrap();
    if today == 0 {
        return; // the 1st of the month: nothing can be billed yet (covered by the unit tests)
    }
    let (heavy, idle) = ("1eav0000-0000-4000-8000-000000000001", "1d1e0000-0000-4000-8000-000000000002");
    let mut rows = vec![
        seat(ACCOUNT_A, heavy, "USE1", "Pro", "FlatRateSubscription", 1.0, 20.0, 0),
        seat(ACCOUNT_A, idle, "USE1", "Power", "FlatRateSubscription", 1.0, 200.0, 0),
    ];
    let first = today.saturating_sub(7);
    for d in first..today {
        rows.push(credits(ACCOUNT_A, heavy, "USE1", 70.0, 0.0, d));
    }
    let export = tempfile::tempdir().unwrap();
    let opts = kiro_exporter_generate::Options::sample();
    kiro_exporter_generate::write_period(
        export.path(),
        &opts,
        current,
        rows,
        300,
        &mut kiro_exporter_generate::Rng::new(5),
    )
    .unwrap();
    let s = parse(&once(&["--cur.path", export.path().to_str().unwrap()], &[]));
    let sel = all(&s, "kiro_exporter_billing_period_info", &[("selection", "current")]);
    assert_eq!(sel.len(), 1, "the current month is shown");
    // Billed through `today` days: rate = credits of the last 7 billed days / 7; the rest of the month ahead.
    let billed_days = f64::from(today - first);
    let used = 70.0 * billed_days;
    let remaining = f64::from(current.days() - today);
    let projected = used + used / 7.0 * remaining;
    close(value(&s, "kiro_credits_used", &[("user_id", heavy)]), used, "used");
    let got = value(&s, "kiro_credits_projected", &[("user_id", heavy)]);
    assert!((got - projected).abs() < 1e-5, "projected {got}, want {projected}");
    // Pro at the projection vs Pro+: 20 + 0.04 x max(0, p - 1000) against 40 + 0.04 x max(0, p - 2000).
    let cost = |price: f64, plan: f64| price + 0.04 * (projected - plan).max(0.0);
    let want = if cost(40.0, 2000.0) < cost(20.0, 1000.0) { "Pro+" } else { "Pro" };
    assert_eq!(all(&s, "kiro_recommended_plan_info", &[("user_id", heavy)])[0].1["recommended_plan"], want);
    // The idle seat is idle only once 14 days are billed.
    let want_idle = if today >= 14 { 1.0 } else { 0.0 };
    close(value(&s, "kiro_idle_seat", &[("user_id", idle)]), want_idle, "idle seat");
    close(
        value(&s, "kiro_cur_data_last_usage_timestamp_seconds", &[]),
        (current.start() + chrono::Duration::days(i64::from(today))).timestamp() as f64,
        "billed through yesterday",
    );
}

#[test]
fn the_process_build_and_error_counters_are_there_from_the_start() {
    let export = small_export();
    let s = once_on(&export, &[]);
    // Every error counter of the configured sources exists at 0, so increase() sees the first error.
    for (source, kind) in [("cur", "query"), ("cur", "currency"), ("refresh", "timeout"), ("identity", "identity_read")]
    {
        close(value(&s, "kiro_exporter_refresh_errors_total", &[("source", source), ("kind", kind)]), 0.0, kind);
    }
    // Sources that are not configured have none.
    assert!(all(&s, "kiro_exporter_refresh_errors_total", &[("source", "kiro_cli")]).is_empty());
    assert!(all(&s, "kiro_exporter_refresh_errors_total", &[("source", "activity_report")]).is_empty());
    // The build is stamped with the revision it came from (this test runs inside the git checkout).
    let build = all(&s, "kiro_exporter_build_info", &[]);
    assert_eq!(build.len(), 1);
    let labels = &build[0].1;
    assert_eq!(labels["version"], env!("CARGO_PKG_VERSION"));
    let revision = &labels["revision"];
    assert!(revision == "unknown" || (revision.len() == 12 && revision.chars().all(|c| c.is_ascii_hexdigit())));
    assert!(labels["rustversion"].starts_with("1."), "{labels:?}");
    // The process family of every exporter, from /proc.
    assert!(value(&s, "process_resident_memory_bytes", &[]) > 1e6);
    assert!(value(&s, "process_virtual_memory_bytes", &[]) >= value(&s, "process_resident_memory_bytes", &[]));
    assert!(value(&s, "process_cpu_seconds_total", &[]) > 0.0);
    assert!(value(&s, "process_open_fds", &[]) >= 3.0);
    assert!(value(&s, "process_max_fds", &[]) >= value(&s, "process_open_fds", &[]));
    assert!(value(&s, "process_start_time_seconds", &[]) > 1.7e9);
}

/// A pass that needs more than `--query.memory-limit` spills its aggregation state to temporary files
/// (in `TMPDIR`) and merges it back: every exported value is the one the same bill gives with room to
/// spare, the spill is counted, and no spill file is left behind; with no writable temporary directory
/// the refresh fails saying so.
#[test]
fn a_pass_beyond_the_memory_limit_spills_and_exports_the_same_values() {
    let export = tempfile::tempdir().expect("tempdir");
    let opts = kiro_exporter_generate::Options {
        rows: 25_000,
        bulk_users: 5_000,
        chunk_rows: 10_000,
        previous_period: false,
        ..kiro_exporter_generate::Options::sample()
    };
    kiro_exporter_generate::write_export(export.path(), &opts).expect("generate");
    let path = export.path().to_str().unwrap();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = [("TMPDIR", tmp.path().to_str().unwrap())];
    let run = |limit: &str| parse(&once(&["--cur.path", path, "--query.memory-limit", limit], &env));
    let roomy = run("2GiB");
    let tight = run("16MiB");
    assert_eq!(value(&roomy, "kiro_exporter_query_spilled_bytes_total", &[]), 0.0);
    assert!(value(&tight, "kiro_exporter_query_spilled_bytes_total", &[]) > 16.0 * 1024.0 * 1024.0);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "spill files left in TMPDIR");
    // Everything but the exporter's own and the process' metrics: the bill's values, series by series.
    let billed = |s: &[(String, Labels, f64)]| {
        s.iter()
            .filter(|(n, ..)| !n.starts_with("kiro_exporter_") && !n.starts_with("process_"))
            .cloned()
            .collect::<Vec<_>>()
    };
    let (roomy, tight) = (billed(&roomy), billed(&tight));
    assert!(roomy.iter().filter(|(n, ..)| n == "kiro_credits_used").count() > 5_000, "a licence per bulk user");
    assert_eq!(roomy.len(), tight.len());
    for (a, b) in roomy.iter().zip(&tight) {
        assert_eq!(a, b);
    }

    let missing = tmp.path().join("missing");
    let err = fails(
        &["--cur.path", path, "--query.memory-limit", "16MiB", "--once"],
        &[("TMPDIR", missing.to_str().unwrap())],
    );
    assert!(err.contains("--query.memory-limit (16 MiB)") && err.contains("TMPDIR"), "{err}");
}

/// Without `--metrics.max-users` every licence is exported with at least four series: a bill with more
/// licences than `--metrics.max-series` allows is refused while it is read (before its model is built and
/// rendered), naming the period and both limits; with room, every licence has those four series.
#[test]
fn a_bill_of_more_licences_than_the_series_allow_is_refused_as_it_is_read() {
    let export = small_export();
    let s = once_on(&export, &["--billing-period", "2026-10"]);
    let licences = all(&s, "kiro_credits_used", &[]).len();
    assert!(licences > 10, "{licences} licences");
    for name in ["kiro_subscription_cost_usd", "kiro_credits_cost_usd", "kiro_credits_projected"] {
        assert_eq!(all(&s, name, &[]).len(), licences, "{name}");
    }
    let max = (4 * licences - 1).to_string();
    let path = export.path().to_str().unwrap();
    let err = fails(&["--cur.path", path, "--billing-period", "2026-10", "--metrics.max-series", &max, "--once"], &[]);
    assert!(
        err.contains(&format!(
            "billing period 2026-10 has {licences} or more licences, at least {} series",
            4 * licences
        )) && err.contains(&format!("--metrics.max-series {max} (refused while the bill was read)")),
        "{err}"
    );
    // With a cap on the users exported one by one, the licences are no measure: the rendered series are.
    let err = fails(
        &[
            "--cur.path",
            path,
            "--billing-period",
            "2026-10",
            "--metrics.max-series",
            &max,
            "--metrics.max-users",
            "2",
            "--once",
        ],
        &[],
    );
    assert!(err.contains("the metrics would have") && !err.contains("refused while the bill was read"), "{err}");
}
