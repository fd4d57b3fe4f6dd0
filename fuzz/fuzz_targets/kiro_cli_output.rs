//! kiro-cli `/usage` output: ANSI colours and cursor codes, the old box, the current panel and the
//! full-screen pane, bonus grants, overage lines, wrapping. The input is parsed as it is, and once more behind a
//! real panel header (so mutations explore the figures' patterns, not only the plan's); whatever it reads, the
//! figures are finite, a success has a figure and a plan-only answer names its plan.
#![no_main]

use chrono::TimeZone;
use kiro_exporter::sources::kiro_cli::{CliError, parse_usage, strip_ansi};
use libfuzzer_sys::fuzz_target;

const HEADER: &str = "\u{1b}[1mEstimated Usage\u{1b}[0m | resets on 2026-10-01 | KIRO PRO\r\n";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let now = chrono::Utc.with_ymd_and_hms(2026, 9, 12, 10, 0, 0).single().unwrap_or_else(chrono::Utc::now);
    let _ = strip_ansi(&text);
    for input in [text.to_string(), format!("{HEADER}{text}")] {
        match parse_usage(&input, now) {
            Ok(u) => {
                for v in [
                    u.used_ratio,
                    u.used,
                    u.limit,
                    u.bonus_used,
                    u.bonus_limit,
                    u.overage_credits_used,
                    u.overage_cost_usd,
                ]
                .into_iter()
                .flatten()
                {
                    assert!(v.is_finite(), "{v} from {input:?}");
                }
                assert!(u.used_ratio.is_some() || u.used.is_some() || u.bonus_used.is_some(), "{input:?}");
            }
            Err(CliError::NoFigures { plan, .. }) => assert!(!plan.is_empty(), "{input:?}"),
            Err(_) => {}
        }
    }
});
