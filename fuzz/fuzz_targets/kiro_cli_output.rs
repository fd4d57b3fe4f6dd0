//! kiro-cli `/usage` output (ANSI codes, boxes, wrapping).
#![no_main]

use kiro_exporter::sources::kiro_cli::parse_usage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_usage(&text, chrono::Utc::now());
});
