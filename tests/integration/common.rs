//! Shared helpers: generated exports, running the binary, reading its exposition, external tools.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use kiro_exporter_generate::{Options, write_export};

pub const BIN: &str = env!("CARGO_BIN_EXE_kiro-exporter");

/// A small generated export in a temporary folder (kept alive by the returned guard).
pub struct Export {
    pub dir: tempfile::TempDir,
}

impl Export {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn users(&self) -> PathBuf {
        self.dir.path().join("users.jsonl")
    }

    pub fn partition(&self, period: &str) -> PathBuf {
        self.dir.path().join("data").join(format!("BILLING_PERIOD={period}"))
    }

    pub fn manifest(&self, period: &str) -> PathBuf {
        self.dir.path().join("metadata").join(format!("BILLING_PERIOD={period}")).join("kiro-cur-Manifest.json")
    }
}

/// The scenario plus a few bulk users and filler rows, October 2026 (and September).
pub fn small_export() -> Export {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options { rows: 3_000, bulk_users: 5, chunk_rows: 1_000, ..Options::sample() };
    write_export(dir.path(), &opts).expect("generate");
    Export { dir }
}

/// Runs the binary with `args` and a clean AWS-free environment plus `env`.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("KIRO_EXPORTER_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run kiro-exporter")
}

/// Runs `--once` and returns stdout, failing the test with stderr on error.
pub fn once(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["--once"];
    all.extend_from_slice(args);
    let out = run(&all, env);
    assert!(out.status.success(), "kiro-exporter {all:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 exposition")
}

/// One parsed sample: labels in order of appearance.
pub type Labels = BTreeMap<String, String>;

/// Parses classic text exposition into (name, labels, value); enough for our own output.
pub fn parse(text: &str) -> Vec<(String, Labels, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.find('{') {
            None => (series.to_owned(), Labels::new()),
            Some(i) => (series[..i].to_owned(), parse_labels(&series[i + 1..series.len() - 1])),
        };
        out.push((name, labels, value));
    }
    out
}

fn parse_labels(s: &str) -> Labels {
    let mut labels = Labels::new();
    let mut chars = s.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name.trim_start_matches(',').to_owned(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

/// The value of the one sample of `name` whose labels include `want`.
pub fn value(samples: &[(String, Labels, f64)], name: &str, want: &[(&str, &str)]) -> f64 {
    let found: Vec<_> = samples
        .iter()
        .filter(|(n, l, _)| n == name && want.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{name} {want:?}: found {found:?}");
    found[0].2
}

/// All samples of `name` whose labels include `want`.
pub fn all<'a>(
    samples: &'a [(String, Labels, f64)],
    name: &str,
    want: &[(&str, &str)],
) -> Vec<&'a (String, Labels, f64)> {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && want.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .collect()
}

/// Asserts a value to 1e-9.
pub fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() < 1e-9, "{what}: got {got}, want {want}");
}

/// Rewrites every Parquet file under `dir` without `drop` columns.
pub fn drop_columns(dir: &Path, drop: &[&str]) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("parquet") {
            continue;
        }
        let file = std::fs::File::open(&path).expect("open");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
        let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
        let schema = {
            let file = std::fs::File::open(&path).expect("open");
            ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").schema().clone()
        };
        let keep: Vec<usize> = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| !drop.contains(&f.name().as_str()))
            .map(|(i, _)| i)
            .collect();
        let projected = Arc::new(schema.project(&keep).expect("project"));
        let out = std::fs::File::create(&path).expect("create");
        let mut w = ArrowWriter::try_new(out, projected, None).expect("writer");
        for b in &batches {
            w.write(&b.project(&keep).expect("project batch")).expect("write");
        }
        w.close().expect("close");
    }
}

/// A tool from the test venv: `$KIRO_TEST_VENV/bin/NAME`, default `~/.cache/kiro-exporter/venv-tools`.
pub fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("KIRO_TEST_VENV").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
        home.join(".cache/kiro-exporter/venv-tools")
    });
    let tool = venv.join("bin").join(name);
    assert!(
        tool.exists(),
        "{} not found: run scripts/test-all (it creates the test venv) or set KIRO_TEST_VENV",
        tool.display()
    );
    tool
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A blocking HTTP/1.1 GET returning (status, headers, body).
pub fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    let mut body = buf[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// An AWS emulator on a free loopback port, stopped by PID when dropped (also when a test fails).
pub struct Emulator {
    _child: ChildGuard,
    pub endpoint: String,
    _data: Option<tempfile::TempDir>,
}

impl Emulator {
    /// Starts `cmd` (already told to listen on `port`) and waits until `ready` says the server answers.
    fn spawn(mut cmd: std::process::Command, port: u16, name: &str, ready: impl Fn(&str) -> bool) -> ChildGuard {
        let child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let guard = ChildGuard(child);
        let addr = format!("127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !(std::net::TcpStream::connect(&addr).is_ok() && ready(&addr)) {
            assert!(std::time::Instant::now() < deadline, "{name} did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        guard
    }

    /// moto server: S3, identitystore, sso-admin.
    pub fn moto() -> Self {
        let port = free_port();
        let mut cmd = std::process::Command::new(venv_tool("moto_server"));
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let child = Self::spawn(cmd, port, "moto_server", |_| true);
        Self { _child: child, endpoint: format!("http://127.0.0.1:{port}"), _data: None }
    }

    /// MiniStack: Athena that runs SQL in DuckDB, with S3 and Glue.
    pub fn ministack() -> Self {
        let venv = std::env::var_os("KIRO_TEST_MINISTACK_VENV").map(PathBuf::from).unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
            home.join(".cache/kiro-exporter/venv-ministack")
        });
        let bin = venv.join("bin/ministack");
        assert!(bin.exists(), "{} not found: run scripts/test-all or set KIRO_TEST_MINISTACK_VENV", bin.display());
        let port = free_port();
        let data = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(bin);
        cmd.env("BIND_HOST", "127.0.0.1")
            .env("GATEWAY_PORT", port.to_string())
            .env("S3_DATA_DIR", data.path())
            .env("ATHENA_ENGINE", "duckdb");
        let child = Self::spawn(cmd, port, "ministack", |addr| http_get(addr, "/_ministack/health", &[]).0 == 200);
        Self { _child: child, endpoint: format!("http://127.0.0.1:{port}"), _data: Some(data) }
    }
}

/// AWS settings for a child process talking to an emulator.
pub fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

/// A child process killed when dropped, so a failing test leaves no server behind.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the binary with `args`, requires it to fail, and returns its stderr.
pub fn fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(args, env);
    assert!(!out.status.success(), "kiro-exporter {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The daemon in-process on 127.0.0.1 with `args` (the flags after the program name); stopped when
/// dropped, or checked to stop within 10 s with [`Daemon::stop`].
pub struct Daemon {
    rt: tokio::runtime::Runtime,
    pub addr: String,
    token: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Daemon {
    pub fn start(args: &[&str]) -> Self {
        let mut all = vec!["kiro-exporter", "--web.listen-address", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let config = kiro_exporter::config::Args::load(all).unwrap().into_config().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let app = rt.block_on(kiro_exporter::app::App::new(config)).unwrap();
        let addr = app.local_addr().unwrap().to_string();
        let token = tokio_util::sync::CancellationToken::new();
        let task = Some(rt.spawn(app.run(token.clone())));
        Daemon { rt, addr, token, task }
    }

    /// Cancels and requires a clean stop within 10 s.
    pub fn stop(mut self) {
        self.token.cancel();
        let task = self.task.take().unwrap();
        self.rt
            .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), task).await })
            .expect("stops within 10s")
            .unwrap()
            .unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// A small Python server for fault tests: `python3 -c SCRIPT PORT ARGS...` on a free loopback port,
/// waited for, stopped when the guard drops. Returns the guard and `http://127.0.0.1:PORT`.
pub fn python_server(script: &str, args: &[&str], what: &str) -> (ChildGuard, String) {
    let port = free_port();
    let child = std::process::Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let guard = ChildGuard(child);
    let addr = format!("127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (guard, format!("http://{addr}"))
}

/// The daemon's parsed `/metrics`.
pub fn metrics(addr: &str) -> Vec<(String, Labels, f64)> {
    let (status, _, body) = http_get(addr, "/metrics", &[]);
    assert_eq!(status, 200);
    parse(&String::from_utf8(body).unwrap())
}

pub fn counter(addr: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let s = metrics(addr);
    let found = all(&s, name, labels);
    found.first().map_or(0.0, |f| f.2)
}

/// Polls until `cond` holds (a daemon refreshing every second).
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--once` on an export with its users file, plus `extra` flags; the parsed samples.
pub fn once_on(export: &Export, extra: &[&str]) -> Vec<(String, Labels, f64)> {
    let path = export.path().to_str().unwrap().to_owned();
    let users = export.users().to_str().unwrap().to_owned();
    let mut args = vec!["--cur.path", path.as_str(), "--identity.users-file", users.as_str()];
    args.extend_from_slice(extra);
    parse(&once(&args, &[]))
}
