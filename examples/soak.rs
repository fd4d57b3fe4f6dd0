//! Memory across many refreshes, each one a full query (a data file's modification time is bumped so the
//! delivery's fingerprint changes), with both formats rendered and compressed as scrapes would.
//!
//! ```text
//! cargo run --release --example soak -- EXPORT_DIR [REFRESHES] [YYYY-MM]
//! ```
//! It changes the modification time of a file of EXPORT_DIR: run it on a copy (`cp -r sample/cur /tmp/soak`).
//! Prints the resident set size after 10, 100 and every further 100 refreshes (Linux `/proc/self/status`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kiro_exporter::config::Args;
use kiro_exporter::exposition::Format;
use kiro_exporter::identity::IdentityMonitor;
use kiro_exporter::metrics::SelfMetrics;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: soak EXPORT_DIR [REFRESHES] [YYYY-MM]");
        return ExitCode::from(64);
    };
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let period = args.get(3).cloned().unwrap_or_else(|| "2026-10".to_owned());
    let config = match Args::load(["kiro-exporter", "--cur.path", dir, "--billing-period", &period])
        .map_err(|e| e.to_string())
        .and_then(|a| a.into_config().map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(64);
        }
    };
    let identity = Arc::new(IdentityMonitor::new(Vec::new()));
    let metrics = Arc::new(SelfMetrics::new());
    let refresher = match kiro_exporter::app::refresher(&config, &identity, &metrics).await {
        Ok(Some((r, _))) => r,
        Ok(None) => return ExitCode::from(64),
        Err(e) => {
            eprintln!("soak: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let part = std::path::Path::new(dir).join("data").join(format!("BILLING_PERIOD={period}"));
    // The biggest chunk: one the manifest lists (an empty leftover chunk is not part of the delivery).
    let Some(chunk) = std::fs::read_dir(&part).ok().and_then(|d| {
        d.filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .max_by_key(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
    }) else {
        eprintln!("soak: no Parquet file in {}", part.display());
        return ExitCode::from(64);
    };
    let started = std::time::Instant::now();
    for i in 1..=n {
        let touched = std::fs::File::options()
            .write(true)
            .open(&chunk)
            .and_then(|f| f.set_modified(SystemTime::now() + Duration::from_secs(i)));
        if let Err(e) = touched {
            eprintln!("soak: {}: {e}", chunk.display());
            return ExitCode::FAILURE;
        }
        match refresher.refresh(chrono::Utc::now()).await {
            Ok((published, result)) => {
                for format in [Format::Text, Format::OpenMetrics] {
                    let mut text = String::new();
                    published.write(&mut text, format);
                    let _ = published.deflated(format);
                }
                if i == 10 || i % 100 == 0 {
                    println!(
                        "after {i:>5} refreshes ({result:?}): RSS {:.1} MiB, {:.1} ms per refresh",
                        rss_mib(),
                        started.elapsed().as_secs_f64() * 1000.0 / i as f64
                    );
                }
            }
            Err(e) => {
                eprintln!("soak: refresh {i}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
