//! Faults with a small misbehaving Athena (a stdlib Python HTTP server speaking Athena's JSON protocol, and
//! Glue's GetPartitions):
//! a throttling storm the SDK rides out, a query that never finishes (refresh timeout, then SIGTERM during
//! a refresh), and what the exporter does about it: named errors, StopQueryExecution, a prompt exit.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiro_exporter::sql::{BEDROCK_LINES, KIRO_LINES};

use crate::common::*;

/// The fake: every call is appended to LOG as `Operation` (and `Operation id` for query calls).
/// MODE `throttle:N` answers the first N calls with ThrottlingException, then works with empty results;
/// `hang` leaves every query RUNNING.
const FAKE_ATHENA: &str = r#"
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, mode, log_path, columns = int(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
state = {"calls": 0, "queries": {}}
lock = threading.Lock()
def log(line):
    with lock, open(log_path, "a") as f:
        f.write(line + "\n")
KIRO = ["account_id","resource_id","product_region","product_region_code","usage_type","operation","line_item_type","currency","usage_date","usage_amount","unblended_cost","net_unblended_cost","last_usage_end"]
BEDROCK = ["account_id","product_region_code","product_region","principal","usage_type","product_model","product_name","pricing_unit","currency","line_item_type"]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_POST(self):
        op = self.headers.get("X-Amz-Target", "").split(".")[-1]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with lock:
            state["calls"] += 1
            n = state["calls"]
        if mode.startswith("throttle:") and n <= int(mode.split(":")[1]):
            log("Throttled " + op)
            return self.reply(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
        if op == "GetTableMetadata":
            log(op)
            return self.reply(200, {"TableMetadata": {"Name": body.get("TableName"), "TableType": "EXTERNAL_TABLE",
                "Columns": [{"Name": c, "Type": t} for c, t in columns],
                "PartitionKeys": [{"Name": "billing_period", "Type": "string"}]}})
        if op == "GetPartitions":
            # Glue: the table has one partition, this month's (no location: no export to read manifests from).
            log(op)
            month = __import__("time").strftime("%Y-%m", __import__("time").gmtime())
            return self.reply(200, {"Partitions": [{"Values": [month]}]})
        if op == "StartQueryExecution":
            qid = "q-%d" % n
            with lock:
                state["queries"][qid] = body.get("QueryString", "")
            log(op + " " + qid)
            return self.reply(200, {"QueryExecutionId": qid})
        qid = body.get("QueryExecutionId", "")
        log(op + " " + qid)
        if op == "GetQueryExecution":
            st = "RUNNING" if mode == "hang" else "SUCCEEDED"
            return self.reply(200, {"QueryExecution": {"QueryExecutionId": qid, "Status": {"State": st},
                "Statistics": {"DataScannedInBytes": 1000}}})
        if op == "GetQueryResults":
            sql = state["queries"].get(qid, "")
            bedrock = BEDROCK + ["tag_%d" % i for i in range(3)] + ["usage_amount", "unblended_cost", "net_unblended_cost"]
            if "UNION ALL" in sql:
                cols = ["aggregate_name"] + KIRO + [c for c in bedrock if c not in KIRO]
            else:
                cols = bedrock if "line_item_iam_principal" in sql else KIRO
            header = {"Data": [{"VarCharValue": c} for c in cols]}
            return self.reply(200, {"ResultSet": {"Rows": [header],
                "ResultSetMetadata": {"ColumnInfo": [{"Name": c, "Type": "varchar"} for c in cols]}}})
        if op == "StopQueryExecution":
            return self.reply(200, {})
        return self.reply(400, {"__type": "InvalidRequestException", "message": "unsupported " + op})
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

struct Fake {
    _child: ChildGuard,
    endpoint: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn fake(mode: &str) -> Fake {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    std::fs::write(&log, "").unwrap();
    let mut columns: Vec<(String, String)> = Vec::new();
    for c in KIRO_LINES.columns.iter().chain(BEDROCK_LINES.columns) {
        let ty = match c.ty {
            kiro_exporter::sql::SqlType::Varchar => "string",
            kiro_exporter::sql::SqlType::Double => "double",
            kiro_exporter::sql::SqlType::Timestamp => "timestamp",
            kiro_exporter::sql::SqlType::MapVarchar => "map<string,string>",
        };
        if !columns.iter().any(|(n, _)| n == c.name) {
            columns.push((c.name.to_owned(), ty.to_owned()));
        }
    }
    let columns = serde_json::to_string(&columns).unwrap();
    let (guard, endpoint) = python_server(FAKE_ATHENA, &[mode, log.to_str().unwrap(), &columns], "the fake Athena");
    Fake { _child: guard, endpoint, log, _dir: dir }
}

impl Fake {
    fn calls(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

fn athena_args(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> =
        ["--athena.database", "billing", "--athena.table", "cur_data", "--athena.output-location", "s3://results/"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn env(endpoint: &str) -> Vec<(&'static str, String)> {
    aws_env(endpoint)
}

#[test]
fn a_throttling_storm_is_ridden_out_by_the_retries() {
    let f = fake("throttle:4");
    let env = env(&f.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = athena_args(&["--once"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args, &env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let calls = f.calls();
    assert_eq!(calls.matches("Throttled").count(), 4, "{calls}");
    assert_eq!(calls.matches("StartQueryExecution").count(), 1, "one query for both aggregates: {calls}");
    let s = parse(&String::from_utf8(out.stdout).unwrap());
    close(value(&s, "kiro_exporter_athena_queries_total", &[("result", "succeeded")]), 1.0, "one query");
}

#[test]
fn a_query_that_never_ends_hits_the_refresh_timeout_and_is_stopped() {
    let f = fake("hang");
    let env = env(&f.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = athena_args(&["--once", "--refresh-timeout", "3s"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let msg = fails(&args, &env);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(msg.contains("did not finish within 3s"), "{msg}");
    // The abandoned query is stopped, not left running (and billed) in Athena.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f.calls().contains("StopQueryExecution q-") {
        assert!(Instant::now() < deadline, "no StopQueryExecution: {}", f.calls());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_during_a_refresh_stops_promptly_and_cancels_the_query() {
    let f = fake("hang");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = athena_args(&["--web.listen-address", &listen, "--log.format", "logfmt"]);
    let mut cmd = Command::new(BIN);
    cmd.args(&args).stdout(Stdio::null()).stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("KIRO_EXPORTER_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env(&f.endpoint));
    let mut child = ChildGuard(cmd.spawn().unwrap());
    // Wait until the query is being polled: the refresh is in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f.calls().contains("GetQueryExecution q-") {
        assert!(Instant::now() < deadline, "no query started: {}", f.calls());
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.0.id().to_string();
    let sent = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(sent.elapsed() < Duration::from_secs(10), "still running 10s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    let stderr = child.0.stderr.take().unwrap();
    let log: Vec<String> = BufReader::new(stderr).lines().map_while(Result::ok).collect();
    assert!(log.iter().any(|l| l.contains("stopped")), "{log:?}");
    assert!(f.calls().contains("StopQueryExecution q-"), "the running query is cancelled: {}", f.calls());
}
