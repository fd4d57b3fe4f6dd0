//! The real output, checked by independent parsers: prometheus_client's strict OpenMetrics parser and
//! its classic text parser (Python, from the test venv).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::*;

const CHECK: &str = r#"
import sys
from prometheus_client.openmetrics import parser as om
from prometheus_client.parser import text_string_to_metric_families
fmt, text = sys.argv[1], sys.stdin.read()
fams = list(om.text_string_to_metric_families(text) if fmt == "om" else text_string_to_metric_families(text))
names = sorted(f.name for f in fams)
samples = sum(len(f.samples) for f in fams)
zoe = [s for f in fams for s in f.samples if s.labels.get("user", "").startswith("Zo")]
print(len(names), samples, zoe[0].labels["user"] if zoe else "")
"#;

fn check_with_python(format: &str, text: &str) -> String {
    let mut child = Command::new(venv_tool("python"))
        .args(["-c", CHECK, format])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{format} parser rejected the output: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn real_output_parses_in_both_formats() {
    let export = small_export();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args([
            "--cur.path",
            export.path().to_str().unwrap(),
            "--identity.users-file",
            export.users().to_str().unwrap(),
            "--web.listen-address",
            &addr,
        ])
        .stderr(Stdio::null())
        .spawn()
        .map(ChildGuard)
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(std::net::TcpStream::connect(&addr).is_ok() && http_get(&addr, "/-/ready", &[]).0 == 200) {
        assert!(std::time::Instant::now() < deadline, "not ready");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (_, text_head, text) = http_get(&addr, "/metrics", &[]);
    let prom_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (_, om_head, om) = http_get(&addr, "/metrics", &[("Accept", prom_accept)]);
    let _ = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status();
    let _ = child.0.wait();

    assert!(text_head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{text_head}");
    assert!(
        om_head.to_ascii_lowercase().contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{om_head}"
    );
    let text = String::from_utf8(text).unwrap();
    let om = String::from_utf8(om).unwrap();
    assert!(om.ends_with("# EOF\n"));
    let t = check_with_python("text", &text);
    let o = check_with_python("om", &om);
    // Same families and samples either way, and the Unicode name with a quote survives both.
    assert_eq!(t, o);
    assert!(t.ends_with("Zoë \"Z\" Ångström"), "{t}");
}
