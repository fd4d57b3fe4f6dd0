//! Reading the export straight from S3, against an S3 emulator (moto server on loopback).
//! The export is uploaded with boto3 (as `aws s3 sync` would) and must give the same metrics as the
//! local copy.

use std::process::Command;

use crate::common::*;

pub(crate) const UPLOAD: &str = r#"
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
    let up = Command::new(venv_tool("python"))
        .args(["-c", UPLOAD, &moto.endpoint, "billing", "cur/kiro-cur", export.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(up.status.success(), "upload: {}", String::from_utf8_lossy(&up.stderr));

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
