//! The daemon: readiness, last good snapshot on failure, unchanged inputs not re-queried, shutdown.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn serves_the_last_good_snapshot_through_failures() {
    let export = small_export();
    // Start on an empty folder: every refresh fails, nothing is ready yet.
    let live = tempfile::tempdir().unwrap();
    let root = live.path().join("export");
    std::fs::create_dir_all(&root).unwrap();
    let daemon = Daemon::start(&[
        "--cur.path",
        root.to_str().unwrap(),
        "--billing-period",
        "2026-10",
        "--refresh-interval",
        "1s",
    ]);
    let addr = daemon.addr.clone();

    wait_for("a failed refresh", || counter(&addr, "kiro_exporter_refreshes_total", &[("result", "failure")]) >= 1.0);
    assert_eq!(http_get(&addr, "/-/ready", &[]).0, 503);
    assert_eq!(http_get(&addr, "/-/healthy", &[]).0, 200);
    assert!(counter(&addr, "kiro_exporter_refresh_errors_total", &[("source", "cur"), ("kind", "no_data")]) >= 1.0);
    let s = metrics(&addr);
    assert!(all(&s, "kiro_credits_used", &[]).is_empty());
    close(value(&s, "kiro_exporter_last_refresh_success", &[]), 0.0, "not ok yet");

    // The export appears: the next refresh succeeds and the service is ready.
    copy_dir(export.path(), &root);
    wait_for("readiness", || http_get(&addr, "/-/ready", &[]).0 == 200);
    let s = metrics(&addr);
    close(value(&s, "kiro_credits_used", &[("user_id", kiro_exporter_generate::scenario::BOB)]), 1050.5, "bob");
    let bytes_after_first = value(&s, "kiro_exporter_bytes_read_total", &[]);

    // Unchanged inputs: refreshes succeed without querying; only the small manifest is read again.
    wait_for("an unchanged refresh", || {
        counter(&addr, "kiro_exporter_refreshes_total", &[("result", "unchanged")]) >= 2.0
    });
    let s = metrics(&addr);
    let unchanged = value(&s, "kiro_exporter_refreshes_total", &[("result", "unchanged")]);
    let grew = value(&s, "kiro_exporter_bytes_read_total", &[]) - bytes_after_first;
    let manifest =
        std::fs::metadata(root.join("metadata/BILLING_PERIOD=2026-10/kiro-cur-Manifest.json")).unwrap().len();
    assert!(grew <= unchanged * manifest as f64, "read {grew} bytes in {unchanged} unchanged refreshes");
    close(value(&s, "kiro_exporter_refreshes_total", &[("result", "success")]), 1.0, "one query");

    // A broken delivery: the refresh fails, the last good data stays, and the metrics say so.
    let chunk = root.join("data/BILLING_PERIOD=2026-10/kiro-cur-00002.snappy.parquet");
    let good = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, b"garbage").unwrap();
    wait_for("a parquet error", || counter(&addr, "kiro_exporter_refresh_errors_total", &[("kind", "parquet")]) >= 1.0);
    let s = metrics(&addr);
    close(
        value(&s, "kiro_credits_used", &[("user_id", kiro_exporter_generate::scenario::BOB)]),
        1050.5,
        "still served",
    );
    close(value(&s, "kiro_exporter_last_refresh_success", &[]), 0.0, "says it failed");
    assert_eq!(http_get(&addr, "/-/ready", &[]).0, 200, "still ready with the last good data");

    // Repaired: back to success.
    std::fs::write(&chunk, good).unwrap();
    wait_for("recovery", || counter(&addr, "kiro_exporter_last_refresh_success", &[]) == 1.0);

    daemon.stop();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_binary_stops_on_sigterm() {
    let export = small_export();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(BIN)
        .args(["--cur.path", export.path().to_str().unwrap(), "--web.listen-address", &addr, "--log.format", "json"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let ready = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(&addr).is_ok() && http_get(&addr, "/-/ready", &[]).0 == 200 {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let landing = http_get(&addr, "/", &[]);
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("did not stop within 10s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(ready, "became ready");
    assert_eq!(landing.0, 200);
    assert!(String::from_utf8_lossy(&landing.2).contains("href=\"/metrics\""));
    assert!(exit.success(), "clean exit: {exit:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    let first = logs.lines().next().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("json log line {first:?}: {e}"));
    assert_eq!(v["level"], "INFO");
}

/// Whether the server closed `s` within `within` (EOF or a reset; a read timeout means still open).
fn closed_within(s: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

#[test]
fn idle_connections_cannot_starve_scrapes() {
    let export = small_export();
    let d = Daemon::start(&["--cur.path", export.path().to_str().unwrap(), "--web.max-connections", "4"]);
    wait_for("ready", || http_get(&d.addr, "/-/ready", &[]).0 == 200);
    // 20 sockets that never send a byte: the limit is 4, so the oldest idle ones are closed for newer ones.
    let mut idle: Vec<std::net::TcpStream> = (0..20).map(|_| std::net::TcpStream::connect(&d.addr).unwrap()).collect();
    let started = Instant::now();
    let (status, _, body) = http_get(&d.addr, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("kiro_credits_used{"));
    assert!(started.elapsed() < Duration::from_secs(2), "a scrape waited {:?}", started.elapsed());
    // The excess idle sockets were closed promptly (well before the 10 s header timeout).
    let closed = idle.iter_mut().map(|s| closed_within(s, Duration::from_millis(300))).filter(|c| *c).count();
    assert!(closed >= 16, "{closed} of 20 idle connections closed; at most 4 may stay open");
    // Still answering after the churn.
    assert_eq!(http_get(&d.addr, "/-/healthy", &[]).0, 200);
}
