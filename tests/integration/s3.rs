//! Reading the export straight from S3, against an S3 emulator (moto server on loopback).
//! The export is uploaded with boto3 (as `aws s3 sync` would) and must give the same metrics as the
//! local copy.

use std::process::Command;

use crate::common::*;

const UPLOAD: &str = r#"
import os, sys, boto3
endpoint, bucket, prefix, root = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
s3.create_bucket(Bucket=bucket)
n = 0
for dirpath, _, files in os.walk(root):
    for f in files:
        path = os.path.join(dirpath, f)
        key = prefix + "/" + os.path.relpath(path, root)
        s3.upload_file(path, bucket, key)
        n += 1
print(n)
"#;

/// Uploads the tree under `dir` to `s3://bucket/prefix/` on the emulator, as `aws s3 sync` would.
pub(crate) fn upload(endpoint: &str, bucket: &str, prefix: &str, dir: &std::path::Path) {
    let up = Command::new(venv_tool("python"))
        .args(["-c", UPLOAD, endpoint, bucket, prefix, dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(up.status.success(), "upload: {}", String::from_utf8_lossy(&up.stderr));
}

/// The emulator settings with the S3-specific endpoint variable instead of the general one.
pub(crate) fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    aws_env(endpoint)
        .into_iter()
        .map(|(k, v)| if k == "AWS_ENDPOINT_URL" { ("AWS_ENDPOINT_URL_S3", v) } else { (k, v) })
        .collect()
}

fn cost_series(text: &str) -> Vec<String> {
    text.lines().filter(|l| l.starts_with("kiro_") && !l.starts_with("kiro_exporter_")).map(str::to_owned).collect()
}

#[test]
fn s3_export_gives_the_same_metrics_as_the_local_copy() {
    let export = small_export();
    let moto = Emulator::moto();
    upload(&moto.endpoint, "billing", "cur/kiro-cur", export.path());

    let local = once(
        &["--cur.path", export.path().to_str().unwrap(), "--identity.users-file", export.users().to_str().unwrap()],
        &[],
    );
    let env = s3_env(&moto.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let remote = once(
        &["--cur.path", "s3://billing/cur/kiro-cur", "--identity.users-file", export.users().to_str().unwrap()],
        &env,
    );
    assert!(!cost_series(&local).is_empty());
    assert_eq!(cost_series(&remote), cost_series(&local));

    // Only the needed columns are fetched: far less than the period's files.
    let s = parse(&remote);
    let read = value(&s, "kiro_exporter_bytes_read_total", &[]);
    let total: u64 =
        std::fs::read_dir(export.partition("2026-10")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(read > 0.0 && read < total as f64 * 0.8, "read {read} of {total} bytes");

    // AWS_ENDPOINT_URL (all services) works as well as the S3-specific variable.
    let env2 = aws_env(&moto.endpoint);
    let env2: Vec<(&str, &str)> = env2.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let again = once(
        &["--cur.path", "s3://billing/cur/kiro-cur", "--identity.users-file", export.users().to_str().unwrap()],
        &env2,
    );
    assert_eq!(cost_series(&again), cost_series(&local));
}

#[test]
fn a_missing_bucket_is_a_clear_error() {
    let moto = Emulator::moto();
    let env = s3_env(&moto.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let err = fails(&["--once", "--cur.path", "s3://no-such-bucket/cur"], &env);
    assert!(err.contains("s3://no-such-bucket/cur/data"), "{err}");
}

/// A proxy in front of the emulator that answers the first `FAIL` GETs of Parquet data with 500
/// InternalError (`FAIL` = -1: all of them), counting what it did in LOG.
const FLAKY_PROXY: &str = r#"
import http.client, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, upstream, fail, log_path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
state = {"failed": 0}
lock = threading.Lock()
class P(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def handle_one(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if self.command == "GET" and ".parquet" in self.path:
            with lock:
                bad = fail < 0 or state["failed"] < fail
                if bad:
                    state["failed"] += 1
                    with open(log_path, "a") as f:
                        f.write("500 " + self.path + "\n")
            if bad:
                msg = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
                self.send_response(500)
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
        c = http.client.HTTPConnection(upstream, timeout=30)
        c.request(self.command, self.path, body=body or None, headers={k: v for k, v in self.headers.items()})
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(k, v)
        # HEAD keeps the object's length (its body is empty).
        self.send_header("Content-Length", r.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_one
ThreadingHTTPServer(("127.0.0.1", port), P).serve_forever()
"#;

fn flaky_proxy(upstream: &str, fail: i32, log: &std::path::Path) -> (ChildGuard, String) {
    let upstream = upstream.trim_start_matches("http://");
    python_server(FLAKY_PROXY, &[upstream, &fail.to_string(), log.to_str().unwrap()], "the S3 proxy")
}

#[test]
fn s3_errors_mid_read_are_retried_or_named() {
    let export = small_export();
    let moto = Emulator::moto();
    upload(&moto.endpoint, "billing", "cur/kiro-cur", export.path());
    let users = export.users();
    let args = ["--cur.path", "s3://billing/cur/kiro-cur", "--identity.users-file", users.to_str().unwrap()];
    let local =
        once(&["--cur.path", export.path().to_str().unwrap(), "--identity.users-file", users.to_str().unwrap()], &[]);

    // A few 500s mid-read: retried, and the numbers are the same as from the local copy.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("proxy.log");
    let (_proxy, endpoint) = flaky_proxy(&moto.endpoint, 3, &log);
    let env = s3_env(&endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let remote = once(&args, &env);
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3, "three reads failed");
    assert_eq!(cost_series(&remote), cost_series(&local));

    // S3 that keeps failing: a named error within seconds, no hang.
    let log2 = dir.path().join("proxy2.log");
    let (_proxy2, endpoint2) = flaky_proxy(&moto.endpoint, -1, &log2);
    let env = s3_env(&endpoint2);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let started = std::time::Instant::now();
    let msg = fails(&[&["--once"][..], &args[..]].concat(), &env);
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
    assert!(msg.contains("s3://billing/cur/kiro-cur/data/BILLING_PERIOD=2026-10/kiro-cur-0000"), "{msg}");
    assert!(msg.contains("500") || msg.contains("InternalError") || msg.contains("retries"), "{msg}");
}
