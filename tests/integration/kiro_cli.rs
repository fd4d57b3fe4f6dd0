//! The kiro-cli source with fake `kiro-cli` scripts: success, slow beyond the timeout, non-zero exit,
//! not logged in; alone and beside the bill; in --once and in the daemon.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;

const USAGE: &str = "\u{1b}[1m┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓\u{1b}[0m
┃                              | \u{1b}[35mKIRO PRO+\u{1b}[0m      ┃
┣━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┫
┃ Monthly credits:                                ┃
┃ \u{1b}[32m████████████████████\u{1b}[0m 64% (resets on 01/01) ┃
┃          (1,280.50 of 2,000 covered in plan)    ┃
┃ Bonus credits:                                  ┃
┃ 12.25/100 credits used, expires in 10 days      ┃
┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛
";

/// Writes an executable fake kiro-cli that checks its arguments and then runs `body`, with `$legacy` set to
/// 1 when it was asked with `--agent-engine=v1 --legacy-ui` (the retry after a plan-only answer), else 0.
fn fake(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in\n\
         'chat --no-interactive /usage') legacy=0 ;;\n\
         'chat --no-interactive --agent-engine=v1 --legacy-ui /usage') legacy=1 ;;\n\
         *) echo \"bad args: $*\" >&2; exit 64 ;;\nesac\n{body}\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn printing(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("usage.txt"), USAGE).unwrap();
    fake(dir, "kiro-cli", &format!("cat '{}'", dir.join("usage.txt").display()))
}

#[test]
fn once_alone_reports_the_usage() {
    let dir = tempfile::tempdir().unwrap();
    let cli = printing(dir.path());
    let s = parse(&once(&["--kiro-cli.enabled", "--kiro-cli.path", cli.to_str().unwrap()], &[]));
    let plan = [("plan", "KIRO PRO+")];
    close(value(&s, "kiro_cli_up", &[]), 1.0, "up");
    // used / limit: 1280.50 / 2000 (the bar's rounded 64% is only a fallback).
    close(value(&s, "kiro_cli_monthly_credits_used_ratio", &plan), 0.64025, "ratio");
    close(value(&s, "kiro_cli_monthly_credits_used", &plan), 1280.5, "used");
    close(value(&s, "kiro_cli_monthly_credits_limit", &plan), 2000.0, "limit");
    close(value(&s, "kiro_cli_bonus_credits_used", &plan), 12.25, "bonus used");
    close(value(&s, "kiro_cli_bonus_credits_limit", &plan), 100.0, "bonus limit");
    // The next 1 January at 00:00 UTC, and 10 days from now.
    let now = chrono::Utc::now();
    let reset = value(&s, "kiro_cli_monthly_reset_timestamp_seconds", &plan);
    let next_jan = chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&now) + 1, 1, 1).unwrap();
    let want = next_jan.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as f64;
    let today_is_jan_1 = chrono::Datelike::ordinal(&now) == 1;
    assert!(reset == want || today_is_jan_1, "reset {reset}, want {want}");
    let expiry = value(&s, "kiro_cli_bonus_credits_expiry_timestamp_seconds", &plan);
    assert!((expiry - (now.timestamp() as f64 + 10.0 * 86_400.0)).abs() < 120.0, "expiry {expiry}");
    assert!(all(&s, "kiro_credits_used", &[]).is_empty(), "no CUR source configured");
}

#[test]
fn once_alone_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            fake(dir.path(), "exit", "echo 'internal error: boom' >&2; exit 3"),
            "exited with exit status: 3: internal error: boom",
        ),
        (
            fake(dir.path(), "login", "echo 'You are not logged in. Please run kiro-cli login' >&2; exit 1"),
            "not logged in",
        ),
        (fake(dir.path(), "garbage", "echo 'Welcome to Kiro!'"), "cannot read kiro-cli's /usage output"),
        (dir.path().join("does-not-exist"), "command not found"),
    ];
    for (path, want) in cases {
        let out = run(&["--once", "--kiro-cli.enabled", "--kiro-cli.path", path.to_str().unwrap()], &[]);
        assert_eq!(out.status.code(), Some(1), "{path:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{path:?}: {err}");
    }
}

#[test]
fn a_slow_kiro_cli_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let slow = fake(dir.path(), "slow", &format!("echo $$ > '{}'\nexec sleep 30", pid_file.display()));
    let started = Instant::now();
    let out = run(
        &["--once", "--kiro-cli.enabled", "--kiro-cli.path", slow.to_str().unwrap(), "--kiro-cli.timeout", "1s"],
        &[],
    );
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not answer within 1s"));
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
    // The child was killed, not left behind.
    std::thread::sleep(Duration::from_millis(200));
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(&pid), "kiro-cli {pid} still running");
}

fn is_zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

#[test]
fn beside_the_bill_a_failing_cli_does_not_fail_the_refresh() {
    let export = small_export();
    let dir = tempfile::tempdir().unwrap();
    let failing = fake(dir.path(), "kiro-cli", "exit 2");
    let s = parse(&once(
        &[
            "--cur.path",
            export.path().to_str().unwrap(),
            "--kiro-cli.enabled",
            "--kiro-cli.path",
            failing.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(!all(&s, "kiro_credits_used", &[]).is_empty());
    close(value(&s, "kiro_cli_up", &[]), 0.0, "down");
    close(
        value(&s, "kiro_exporter_refresh_errors_total", &[("source", "kiro_cli"), ("kind", "exit")]),
        1.0,
        "error counted",
    );
}

#[test]
fn the_daemon_keeps_the_last_good_values() {
    let dir = tempfile::tempdir().unwrap();
    let cli = printing(dir.path());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(BIN)
        .args(["--kiro-cli.enabled", "--kiro-cli.path", cli.to_str().unwrap(), "--kiro-cli.interval", "1s"])
        .args(["--web.listen-address", &addr])
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(ChildGuard)
        .unwrap();
    let wait = |what: &str, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let metrics = || parse(&String::from_utf8(http_get(&addr, "/metrics", &[]).2).unwrap());
    wait("ready", &|| std::net::TcpStream::connect(&addr).is_ok() && http_get(&addr, "/-/ready", &[]).0 == 200);
    close(value(&metrics(), "kiro_cli_monthly_credits_used", &[("plan", "KIRO PRO+")]), 1280.5, "first run");
    // kiro-cli starts failing: up goes to 0, the last good values and their freshness stay.
    std::fs::write(&cli, "#!/bin/sh\necho 'boom' >&2\nexit 5\n").unwrap();
    wait("a failure", &|| all(&metrics(), "kiro_cli_up", &[]).first().is_some_and(|s| s.2 == 0.0));
    let s = metrics();
    close(value(&s, "kiro_cli_monthly_credits_used", &[("plan", "KIRO PRO+")]), 1280.5, "kept");
    assert!(value(&s, "kiro_cli_last_success_timestamp_seconds", &[]) > 0.0);
    assert!(value(&s, "kiro_exporter_refresh_errors_total", &[("source", "kiro_cli"), ("kind", "exit")]) >= 1.0);
    let _ = std::process::Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Current kiro-cli: noise lines, ISO reset, emoji bonus line, the bar's percentage on the next line.
const PANEL: &str = "\u{1b}[38;5;244mOne or more mcp server did not load correctly.\u{1b}[0m
\u{1b}[38;5;244mTip: run /compact when the context is above 80%\u{1b}[0m

\u{1b}[1mEstimated Usage\u{1b}[0m | resets on 2026-10-01 | \u{1b}[38;5;141mKIRO PRO\u{1b}[0m

\u{1b}[1m🎁 Bonus credits:\u{1b}[0m 45.53/2000 credits used, expires in 19 days

\u{1b}[1mCredits\u{1b}[0m (132.35 of 1000 covered in plan)
\u{1b}[38;5;141m█████\u{1b}[38;5;238m░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░\u{1b}[0m 13.2%

Overages: \u{1b}[1mDisabled\u{1b}[0m
";

/// Without colours: the percentage after a comma; overage billed per request with its credits and cost.
const COMMA_OVERAGE: &str = "Estimated Usage | resets on 2026-11-01 | KIRO PRO+

Credits (2,000.00 of 2000 covered in plan), 100.0%

Overages: Enabled  billed at $0.04 per request
Credits used: 40.29
Est. cost: $1.61 USD
";

/// The comma layout with figures that f64 division prints with noise: 0.57 / 50 is 0.0114, not
/// 0.011399999999999999.
const FREE_COMMA: &str = "Estimated Usage | resets on 2026-10-01 | KIRO FREE
Credits (0.57 of 50 covered in plan), 1.1%
Overages: Disabled
";

/// Beyond the plan (203%), bonus as `(U of L covered in plan)`, overage as `Overages (U used)`.
const BEYOND: &str = "Estimated Usage | resets on 2026-10-01 | KIRO POWER
Bonus credits (50 of 100 covered in plan)
Credits (20300.26 of 10000 covered in plan)
\u{1b}[31m████████████████████████████████████████\u{1b}[0m 203.0%
Overages (3.20 used)
";

/// The full-screen pane: cursor moves, one-space indent, one line per bonus grant, `esc to close`.
const PANE: &str = "\u{1b}[?1049h\u{1b}[H\u{1b}[2J\u{1b}[1;1H Estimated Usage | resets on 2026-12-01 | KIRO PRO MAX\
\u{1b}[3;1H Credits (5012.5 of 10000 covered in plan)\
\u{1b}[4;1H \u{1b}[32m█████████\u{1b}[90m░░░░░░░░░\u{1b}[0m 50.1%\
\u{1b}[6;1H Bonus Credits:\
\u{1b}[7;1H Welcome bonus - 500.00/500 used (13 days left)\
\u{1b}[8;1H Referral bonus - 20.5/100 used (40 days left)\
\u{1b}[10;1H Overages: Enabled  billed at $0.04 per credit\
\u{1b}[12;1H \u{1b}[2mesc to close\u{1b}[0m";

/// kiro-cli 2.20 and later, non-interactively.
const PLAN_ONLY: &str = "Plan: KIRO PRO MAX | 1 usage breakdowns\n";

const OCT_1: f64 = 1_790_812_800.0; // 2026-10-01T00:00:00Z
const NOV_1: f64 = 1_793_491_200.0; // 2026-11-01T00:00:00Z
const DEC_1: f64 = 1_796_083_200.0; // 2026-12-01T00:00:00Z

/// What a user reads for one capture: (metric, value), all labelled with the capture's plan; `None` is absent.
struct Want {
    plan: &'static str,
    values: Vec<(&'static str, Option<f64>)>,
    /// Bonus expiry, in days from now.
    expiry_days: Option<f64>,
}

fn want(plan: &'static str, values: &[(&'static str, Option<f64>)], expiry_days: Option<f64>) -> Want {
    Want { plan, values: values.to_vec(), expiry_days }
}

/// The value as printed in the exposition for `name{plan="…"}`.
fn printed<'a>(text: &'a str, name: &str, plan: &str) -> Option<&'a str> {
    let prefix = format!("{name}{{plan=\"{plan}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(prefix.as_str()))
}

fn check(text: &str, w: &Want, what: &str) {
    let s = parse(text);
    close(value(&s, "kiro_cli_up", &[]), 1.0, what);
    close(value(&s, "kiro_cli_plan_info", &[("plan", w.plan)]), 1.0, what);
    for (name, v) in &w.values {
        match v {
            Some(v) => {
                let got = printed(text, name, w.plan).unwrap_or_else(|| panic!("{what}: no {name}\n{text}"));
                // Exactly the printed figures: no float noise in the text either.
                assert_eq!(got.parse::<f64>().unwrap(), *v, "{what}: {name} printed as {got}");
                assert_eq!(got, format!("{v}"), "{what}: {name} printed as {got}");
            }
            None => assert!(printed(text, name, w.plan).is_none(), "{what}: {name} should be absent\n{text}"),
        }
    }
    let expiry = printed(text, "kiro_cli_bonus_credits_expiry_timestamp_seconds", w.plan);
    match w.expiry_days {
        Some(days) => {
            let got: f64 = expiry.unwrap_or_else(|| panic!("{what}: no expiry")).parse().unwrap();
            let want = chrono::Utc::now().timestamp() as f64 + days * 86_400.0;
            assert!((got - want).abs() < 120.0, "{what}: expiry {got}, want about {want}");
        }
        None => assert!(expiry.is_none(), "{what}: no expiry was printed"),
    }
}

/// The next 1 January at 00:00 UTC (today, on 1 January): the old box's `resets on 01/01`.
fn next_jan_1() -> f64 {
    let today = chrono::Utc::now().date_naive();
    let year = chrono::Datelike::year(&today) + i32::from(chrono::Datelike::ordinal(&today) != 1);
    chrono::NaiveDate::from_ymd_opt(year, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as f64
}

fn captures() -> Vec<(&'static str, &'static str, Want)> {
    use std::option::Option::Some as S;
    vec![
        (
            "old box",
            USAGE,
            want(
                "KIRO PRO+",
                &[
                    // 1,280.50 / 2,000, not the bar's rounded 64%.
                    ("kiro_cli_monthly_credits_used_ratio", S(0.64025)),
                    ("kiro_cli_monthly_credits_used", S(1280.5)),
                    ("kiro_cli_monthly_credits_limit", S(2000.0)),
                    ("kiro_cli_monthly_reset_timestamp_seconds", S(next_jan_1())),
                    ("kiro_cli_bonus_credits_used", S(12.25)),
                    ("kiro_cli_bonus_credits_limit", S(100.0)),
                    ("kiro_cli_overage_enabled", None),
                ],
                S(10.0),
            ),
        ),
        (
            "panel",
            PANEL,
            want(
                "KIRO PRO",
                &[
                    ("kiro_cli_monthly_credits_used_ratio", S(0.13235)),
                    ("kiro_cli_monthly_credits_used", S(132.35)),
                    ("kiro_cli_monthly_credits_limit", S(1000.0)),
                    ("kiro_cli_monthly_reset_timestamp_seconds", S(OCT_1)),
                    ("kiro_cli_bonus_credits_used", S(45.53)),
                    ("kiro_cli_bonus_credits_limit", S(2000.0)),
                    ("kiro_cli_overage_enabled", S(0.0)),
                    ("kiro_cli_overage_credits_used", None),
                    ("kiro_cli_overage_estimated_cost_usd", None),
                ],
                S(19.0),
            ),
        ),
        (
            "comma and overage",
            COMMA_OVERAGE,
            want(
                "KIRO PRO+",
                &[
                    ("kiro_cli_monthly_credits_used_ratio", S(1.0)),
                    ("kiro_cli_monthly_credits_used", S(2000.0)),
                    ("kiro_cli_monthly_credits_limit", S(2000.0)),
                    ("kiro_cli_monthly_reset_timestamp_seconds", S(NOV_1)),
                    ("kiro_cli_bonus_credits_used", None),
                    ("kiro_cli_overage_enabled", S(1.0)),
                    ("kiro_cli_overage_credits_used", S(40.29)),
                    ("kiro_cli_overage_estimated_cost_usd", S(1.61)),
                ],
                None,
            ),
        ),
        (
            "free plan, comma",
            FREE_COMMA,
            want(
                "KIRO FREE",
                &[
                    ("kiro_cli_monthly_credits_used_ratio", S(0.0114)),
                    ("kiro_cli_monthly_credits_used", S(0.57)),
                    ("kiro_cli_monthly_credits_limit", S(50.0)),
                    ("kiro_cli_monthly_reset_timestamp_seconds", S(OCT_1)),
                    ("kiro_cli_overage_enabled", S(0.0)),
                ],
                None,
            ),
        ),
        (
            "beyond the plan",
            BEYOND,
            want(
                "KIRO POWER",
                &[
                    ("kiro_cli_monthly_credits_used_ratio", S(2.030026)),
                    ("kiro_cli_monthly_credits_used", S(20300.26)),
                    ("kiro_cli_monthly_credits_limit", S(10000.0)),
                    ("kiro_cli_monthly_reset_timestamp_seconds", S(OCT_1)),
                    ("kiro_cli_bonus_credits_used", S(50.0)),
                    ("kiro_cli_bonus_credits_limit", S(100.0)),
                    ("kiro_cli_overage_enabled", None),
                    ("kiro_cli_overage_credits_used", S(3.2)),
                    ("kiro_cli_overage_estimated_cost_usd", None),
                ],
                None,
            ),
        ),
        (
            "full-screen pane",
            PANE,
            want(
                "KIRO PRO MAX",
                &[
                    ("kiro_cli_monthly_credits_used_ratio", S(0.50125)),
                    ("kiro_cli_monthly_credits_used", S(5012.5)),
                    ("kiro_cli_monthly_credits_limit", S(10000.0)),
                    ("kiro_cli_monthly_reset_timestamp_seconds", S(DEC_1)),
                    // 500.00 + 20.5 of 500 + 100; the soonest grant expires in 13 days.
                    ("kiro_cli_bonus_credits_used", S(520.5)),
                    ("kiro_cli_bonus_credits_limit", S(600.0)),
                    ("kiro_cli_overage_enabled", S(1.0)),
                    ("kiro_cli_overage_credits_used", None),
                ],
                S(13.0),
            ),
        ),
    ]
}

fn expected(name: &str) -> Want {
    captures().into_iter().find(|c| c.0 == name).map(|c| c.2).unwrap()
}

#[test]
fn every_format_on_stdout_and_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    for (name, capture, w) in captures() {
        let file = dir.path().join(format!("{}.txt", name.replace(' ', "-")));
        std::fs::write(&file, capture).unwrap();
        // The pane waits for a key, as the real one does: the run must end at `esc to close`, not the timeout.
        let wait = if capture.contains("esc to close") { "\nexec sleep 60" } else { "" };
        for (stream, redirect) in [("stdout", ""), ("stderr", " >&2")] {
            let script = format!("{}-{stream}", name.replace(' ', "-"));
            let cli = fake(dir.path(), &script, &format!("cat '{}'{redirect}{wait}", file.display()));
            let text = once(
                &["--kiro-cli.enabled", "--kiro-cli.path", cli.to_str().unwrap(), "--kiro-cli.timeout", "30s"],
                &[],
            );
            check(&text, &w, &format!("{name} on {stream}"));
        }
    }
}

#[test]
fn a_kiro_cli_that_answers_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("panel.txt"), PANEL).unwrap();
    let cli = fake(
        dir.path(),
        "kiro-cli",
        &format!(
            "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] || {{ echo 'not a terminal' >&2; exit 9; }}\ncat '{}' >&2",
            dir.path().join("panel.txt").display()
        ),
    );
    let text = once(&["--kiro-cli.enabled", "--kiro-cli.path", cli.to_str().unwrap()], &[]);
    check(&text, &expected("panel"), "on a terminal");
}

#[test]
fn a_plan_only_answer_is_asked_again_with_the_legacy_ui() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.txt"), PLAN_ONLY).unwrap();
    std::fs::write(dir.path().join("panel.txt"), PANE).unwrap();
    let calls = dir.path().join("calls");
    let cli = fake(
        dir.path(),
        "kiro-cli",
        &format!(
            "echo \"$legacy\" >> '{calls}'\nif [ \"$legacy\" = 1 ]; then cat '{panel}' >&2; else cat '{plan}' >&2; fi",
            calls = calls.display(),
            panel = dir.path().join("panel.txt").display(),
            plan = dir.path().join("plan.txt").display(),
        ),
    );
    let text = once(&["--kiro-cli.enabled", "--kiro-cli.path", cli.to_str().unwrap()], &[]);
    check(&text, &expected("full-screen pane"), "after the retry");
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "0\n1\n", "asked once, then once more with --legacy-ui");
}

#[test]
fn a_plan_without_figures_fails_as_no_figures_and_still_names_the_plan() {
    let export = small_export();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.txt"), PLAN_ONLY).unwrap();
    let managed = "\u{1b}[1mPlan:\u{1b}[0m Q Developer Pro\nYour plan is managed by admin\n";
    std::fs::write(dir.path().join("managed.txt"), managed).unwrap();
    let cases = [
        // kiro-cli 2.20+: the legacy UI prints the plan line again.
        (
            fake(dir.path(), "plan-only", &format!("cat '{}'", dir.path().join("plan.txt").display())),
            "KIRO PRO MAX",
            "no figures either",
        ),
        // An older version on a managed account: the plan, and no such option as --agent-engine.
        (
            fake(
                dir.path(),
                "managed",
                &format!(
                    "[ \"$legacy\" = 1 ] && {{ echo \"error: unexpected argument '--agent-engine'\" >&2; exit 2; }}\ncat '{}' >&2",
                    dir.path().join("managed.txt").display()
                ),
            ),
            "Q Developer Pro",
            "kiro-cli exited with exit status: 2: error: unexpected argument '--agent-engine'",
        ),
    ];
    for (cli, plan, retry) in cases {
        let text = once(
            &[
                "--cur.path",
                export.path().to_str().unwrap(),
                "--kiro-cli.enabled",
                "--kiro-cli.path",
                cli.to_str().unwrap(),
            ],
            &[],
        );
        let s = parse(&text);
        close(value(&s, "kiro_cli_up", &[]), 0.0, plan);
        close(value(&s, "kiro_cli_plan_info", &[("plan", plan)]), 1.0, plan);
        close(
            value(&s, "kiro_exporter_refresh_errors_total", &[("source", "kiro_cli"), ("kind", "no_figures")]),
            1.0,
            plan,
        );
        assert!(all(&s, "kiro_cli_monthly_credits_used", &[]).is_empty(), "{plan}: no figures were printed");
        // Alone, the run fails and says why.
        let out = run(&["--once", "--kiro-cli.enabled", "--kiro-cli.path", cli.to_str().unwrap()], &[]);
        assert_eq!(out.status.code(), Some(1), "{plan}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("printed the plan (\"{plan}\") but no usage figures")), "{plan}: {err}");
        assert!(err.contains(&format!("with --agent-engine=v1 --legacy-ui: {retry}")), "{plan}: {err}");
    }
}
