//! Kiro user activity report CSV files (drifting headers, odd values).
#![no_main]

use kiro_exporter::sources::activity::{FileInfo, parse_report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let info = FileInfo {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        client: "KIRO_IDE".into(),
        delivered: "202610020000".into(),
    };
    let _ = parse_report("fuzz.csv", &info, data);
});
