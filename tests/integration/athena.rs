//! The Athena engine against MiniStack (its Athena runs the SQL in DuckDB over S3 Parquet registered in
//! Glue): the same metrics as the embedded engine value for value, several result pages, schema
//! preflight, a failing query, and no query while the manifest is unchanged.

use std::process::Command;
use std::time::{Duration, Instant};

use kiro_exporter_generate::columns::{CUR2_COLUMNS, Ty};
use kiro_exporter_generate::{Options, write_export};

use crate::common::*;

/// The shared MiniStack set-up (also used by scripts/bench-athena): uploads the export and runs the DDL
/// lines given on stdin.
const SETUP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ministack_setup.py");

#[test]
fn the_documented_ddl_has_every_generated_column() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/athena-cur2-table.sql")).unwrap();
    for (name, _) in CUR2_COLUMNS {
        assert!(text.contains(&format!("`{name}`")), "deploy/athena-cur2-table.sql lacks {name}");
    }
}

pub fn ddl(table: &str, location: &str, skip: &[&str]) -> String {
    let cols: Vec<String> = CUR2_COLUMNS
        .iter()
        .filter(|(n, _)| !skip.contains(n))
        .map(|(n, t)| {
            let ty = match t {
                Ty::Str => "string",
                Ty::F64 => "double",
                Ty::Ts => "timestamp",
                Ty::MapStr => "map<string,string>",
                Ty::MapF64 => "map<string,double>",
            };
            format!("`{n}` {ty}")
        })
        .collect();
    format!(
        "CREATE EXTERNAL TABLE {table} ({}) PARTITIONED BY (billing_period string) STORED AS PARQUET LOCATION '{location}'",
        cols.join(", ")
    )
}

struct Fixture {
    ms: Emulator,
    export: tempfile::TempDir,
}

fn fixture(ddls: &[String]) -> Fixture {
    // 60 bulk users with daily usage: well over the 1,000 rows of one result page.
    fixture_with(&Options { rows: 8_000, bulk_users: 60, chunk_rows: 3_000, ..Options::sample() }, ddls)
}

fn fixture_with(opts: &Options, ddls: &[String]) -> Fixture {
    let export = tempfile::tempdir().unwrap();
    write_export(export.path(), opts).unwrap();
    let ms = ministack_with(export.path(), ddls);
    Fixture { ms, export }
}

/// MiniStack with `export` uploaded to s3://cur/exp, the `ddls` run and the partitions registered in Glue.
pub fn ministack_with(export: &std::path::Path, ddls: &[String]) -> Emulator {
    let ms = Emulator::ministack();
    let mut child = Command::new(venv_tool("python"))
        .args([SETUP, &ms.endpoint, export.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), ddls.join("\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "setup: {}", String::from_utf8_lossy(&out.stderr));
    ms
}

fn athena_args<'a>(table: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--athena.database",
        "billing",
        "--athena.table",
        table,
        "--athena.output-location",
        "s3://results/",
        "--athena.export-path",
        "s3://cur/exp",
    ];
    v.extend_from_slice(extra);
    v
}

fn env(endpoint: &str) -> Vec<(&'static str, String)> {
    aws_env(endpoint)
}

fn series(text: &str) -> Vec<String> {
    text.lines().filter(|l| l.starts_with("kiro_") && !l.starts_with("kiro_exporter_")).map(str::to_owned).collect()
}

#[test]
fn athena_gives_the_embedded_engines_metrics_value_for_value() {
    let f = fixture(&[ddl("cur_data", "s3://cur/exp/data/", &[])]);
    let env = env(&f.ms.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let users = f.export.path().join("users.jsonl");
    let users = users.to_str().unwrap();
    let embedded = once(
        &[
            "--cur.path",
            f.export.path().to_str().unwrap(),
            "--billing-period",
            "2026-10",
            "--identity.users-file",
            users,
        ],
        &[],
    );
    let out = run(
        &[
            &["--once"][..],
            &athena_args(
                "cur_data",
                &["--billing-period", "2026-10", "--identity.users-file", users, "--log.level", "debug"],
            ),
        ]
        .concat(),
        &env,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let athena = String::from_utf8(out.stdout).unwrap();
    // The query returned more rows than one GetQueryResults page (1,000): all of them were read.
    let log = String::from_utf8_lossy(&out.stderr);
    let groups: usize = log
        .split("kiro_groups=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no kiro_groups in the log: {log}"));
    assert!(groups > 1000, "{groups} result rows");
    let (a, e) = (series(&athena), series(&embedded));
    assert_eq!(a.len(), e.len());
    for (x, y) in a.iter().zip(&e) {
        assert_eq!(x, y);
    }
    let s = parse(&athena);
    // One query for both aggregates (kiro_lines UNION ALL bedrock_lines): Athena bills per query.
    close(value(&s, "kiro_exporter_athena_queries_total", &[("result", "succeeded")]), 1.0, "one query per refresh");
    // The Bedrock scenario came through Athena too (compared value for value above), tags and links included.
    assert_eq!(all(&s, "bedrock_cost_usd", &[]).len(), 15);
    close(
        value(&s, "bedrock_cost_usd", &[("principal_name", "bob@example.com"), ("token_type", "cache_write")]),
        0.75,
        "bob's Marketplace cache writes on Athena",
    );
    close(value(&s, "kiro_exporter_bedrock_principal_data", &[]), 1.0, "principal column seen by Athena");
    assert!(value(&s, "kiro_exporter_athena_data_scanned_bytes_total", &[]) > 0.0);
    assert!(value(&s, "kiro_exporter_athena_estimated_cost_usd_total", &[]) > 0.0);
    // Without a pinned period the export's latest one is found through S3, as with the embedded engine.
    let s = parse(&once(&athena_args("cur_data", &[]), &env));
    close(
        value(&s, "kiro_exporter_billing_period_info", &[("billing_period", "2026-10"), ("selection", "latest")]),
        1.0,
        "latest",
    );
}

#[test]
fn net_cost_and_allocation_on_athena_as_on_the_embedded_engine() {
    // A 10% discount on every Usage and FlatRateSubscription line, in line_item_net_unblended_cost.
    let opts = Options { rows: 3_000, bulk_users: 5, chunk_rows: 1_000, discount: 0.10, ..Options::sample() };
    let f = fixture_with(&opts, &[ddl("cur_data", "s3://cur/exp/data/", &[])]);
    let env = env(&f.ms.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let flags = ["--billing-period", "2026-10", "--cost.allocate-account-level"];
    let athena = once(&athena_args("cur_data", &flags), &env);
    let embedded = once(&[&["--cur.path", f.export.path().to_str().unwrap()][..], &flags].concat(), &[]);
    assert_eq!(series(&athena), series(&embedded));
    let s = parse(&athena);
    let alice = [("user_id", kiro_exporter_generate::scenario::ALICE)];
    close(value(&s, "kiro_subscription_cost_usd", &alice), 18.0, "alice's seat, net of 10%");
    let cache_writes = [("principal_name", "bob@example.com"), ("token_type", "cache_write")];
    close(value(&s, "bedrock_cost_usd", &cache_writes), 0.675, "bob's cache writes, net");
    close(value(&s, "kiro_exporter_cost_basis_info", &[("basis", "net")]), 1.0, "net");
    let total: f64 = all(&s, "kiro_allocated_cost_usd", &[]).iter().map(|x| x.2).sum();
    let own: f64 =
        ["kiro_subscription_cost_usd", "kiro_credits_cost_usd", "kiro_other_cost_usd", "kiro_unattributed_cost_usd"]
            .iter()
            .flat_map(|m| all(&s, m, &[]))
            .map(|x| x.2)
            .sum();
    close(total, own, "the allocated costs add up to the whole Kiro bill");
    let list =
        parse(&once(&athena_args("cur_data", &["--billing-period", "2026-10", "--cost.basis", "unblended"]), &env));
    close(value(&list, "kiro_subscription_cost_usd", &alice), 20.0, "list price on Athena");
    close(value(&list, "bedrock_cost_usd", &cache_writes), 0.75, "list price on Athena");
}

#[test]
fn schema_preflight_and_failing_queries_are_clear() {
    // cur_nores lacks the resource id column; cur_nodata declares a column its files do not have.
    let f = fixture(&[
        ddl("cur_nores", "s3://cur/exp/data/", &["line_item_resource_id"]),
        ddl("cur_noopt", "s3://cur/exp/data/", &["product_usagetype", "tags"]),
        ddl("cur_wrong", "s3://cur/exp/metadata/", &[]),
    ]);
    let env = env(&f.ms.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let err = fails(&[&["--once"][..], &athena_args("cur_nores", &["--billing-period", "2026-10"])].concat(), &env);
    assert!(err.contains("no column line_item_resource_id") && err.contains("Include resource IDs"), "{err}");
    // Optional columns may be missing from the table: read as NULL, same numbers.
    let s = parse(&once(&athena_args("cur_noopt", &["--billing-period", "2026-10"]), &env));
    close(value(&s, "kiro_credits_used", &[("user_id", kiro_exporter_generate::scenario::BOB)]), 1050.5, "bob");
    // A table over files that are not Parquet: the query fails with the engine's reason.
    let err = fails(&[&["--once"][..], &athena_args("cur_wrong", &["--billing-period", "2026-10"])].concat(), &env);
    assert!(err.contains("query kiro_lines failed") && err.contains("failed:"), "{err}");
}

#[test]
fn unchanged_manifest_means_no_new_query_and_failures_keep_the_last_data() {
    let f = fixture(&[ddl("cur_data", "s3://cur/exp/data/", &[])]);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(BIN);
    cmd.args(athena_args("cur_data", &["--billing-period", "2026-10", "--refresh-interval", "1s"]));
    cmd.args(["--web.listen-address", &addr]).stderr(std::process::Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("KIRO_EXPORTER_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env(&f.ms.endpoint));
    let mut child = ChildGuard(cmd.spawn().unwrap());
    let metrics = || parse(&String::from_utf8(http_get(&addr, "/metrics", &[]).2).unwrap());
    let get = |name: &str, labels: &[(&str, &str)]| all(&metrics(), name, labels).first().map_or(0.0, |s| s.2);
    let wait = |what: &str, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait("ready", &|| std::net::TcpStream::connect(&addr).is_ok() && http_get(&addr, "/-/ready", &[]).0 == 200);
    wait("unchanged refreshes", &|| get("kiro_exporter_refreshes_total", &[("result", "unchanged")]) >= 3.0);
    close(
        get("kiro_exporter_athena_queries_total", &[("result", "succeeded")]),
        1.0,
        "still the first refresh's one query",
    );

    // A new delivery whose data the engine cannot read: the query fails, the last data stays.
    let up = Command::new(venv_tool("python"))
        .args([
            "-c",
            r#"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
s3.put_object(Bucket="cur", Key="exp/data/billing_period=2026-10/kiro-cur-00009.snappy.parquet", Body=b"not parquet")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="cur", Prefix="exp/metadata/")["Contents"]]
key = [k for k in keys if "2026-10" in k and k.endswith("-Manifest.json")]
assert key, keys
m = s3.get_object(Bucket="cur", Key=key[0])["Body"].read()
s3.put_object(Bucket="cur", Key=key[0], Body=m.replace(b'"dataFiles": [', b'"dataFiles": [\n    "s3://x/cur/kiro-cur/data/BILLING_PERIOD=2026-10/kiro-cur-00009.snappy.parquet",'))
"#,
            &f.ms.endpoint,
        ])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    wait("a failed query", &|| get("kiro_exporter_athena_queries_total", &[("result", "failed")]) >= 1.0);
    let s = metrics();
    close(
        value(&s, "kiro_credits_used", &[("user_id", kiro_exporter_generate::scenario::BOB)]),
        1050.5,
        "last data kept",
    );
    close(value(&s, "kiro_exporter_last_refresh_success", &[]), 0.0, "says so");
    assert!(value(&s, "kiro_exporter_refresh_errors_total", &[("source", "cur"), ("kind", "query")]) >= 1.0);
    let _ = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}
