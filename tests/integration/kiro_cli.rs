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

/// Writes an executable fake kiro-cli that checks its arguments and then runs `body`.
fn fake(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let script = format!(
        "#!/bin/sh\n[ \"$1 $2 $3\" = \"chat --no-interactive /usage\" ] || {{ echo \"bad args: $*\" >&2; exit 64; }}\n{body}\n"
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
    close(value(&s, "kiro_cli_monthly_credits_used_ratio", &plan), 0.64, "ratio");
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
