//! Writes a generated CUR 2.0 Data Export (see `kiro_exporter_generate`).
//!
//! ```text
//! cargo run --release --example generate -- OUT_DIR [--rows N] [--users N] [--period YYYY-MM]
//!     [--credits-rows-per-day N] [--chunk-rows N] [--seed N] [--no-manifest] [--no-previous]
//!     [--activity-report]
//! ```
//! Defaults are the committed sample (`sample/cur`); the benchmark month is
//! `--rows 2000000 --users 2000 --credits-rows-per-day 2 --chunk-rows 500000`. `--activity-report` also
//! writes the hand-made Kiro user activity report set under `OUT_DIR/activity`.

use std::process::ExitCode;

use kiro_exporter_generate::{Options, write_export};

fn main() -> ExitCode {
    let mut opts = Options::sample();
    let mut out = None;
    let mut activity = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed: Result<(), String> = (|| {
            match a.as_str() {
                "--rows" => opts.rows = value("--rows")?.parse().map_err(|e| format!("--rows: {e}"))?,
                "--users" => opts.bulk_users = value("--users")?.parse().map_err(|e| format!("--users: {e}"))?,
                "--credits-rows-per-day" => {
                    opts.credits_rows_per_day =
                        value("--credits-rows-per-day")?.parse().map_err(|e| format!("--credits-rows-per-day: {e}"))?
                }
                "--chunk-rows" => {
                    opts.chunk_rows = value("--chunk-rows")?.parse().map_err(|e| format!("--chunk-rows: {e}"))?
                }
                "--seed" => opts.seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
                "--period" => opts.period = value("--period")?.parse().map_err(|e| format!("--period: {e}"))?,
                "--no-manifest" => opts.manifest = false,
                "--no-previous" => opts.previous_period = false,
                "--activity-report" => activity = true,
                s if !s.starts_with("--") && out.is_none() => out = Some(s.to_owned()),
                s => return Err(format!("unknown argument {s}")),
            }
            Ok(())
        })();
        if let Err(e) = parsed {
            eprintln!("generate: {e}");
            return ExitCode::from(64);
        }
    }
    let Some(out) = out else {
        eprintln!(
            "usage: generate OUT_DIR [--rows N] [--users N] [--period YYYY-MM] [--credits-rows-per-day N] [--chunk-rows N] [--seed N] [--no-manifest] [--no-previous] [--activity-report]"
        );
        return ExitCode::from(64);
    };
    let written = write_export(std::path::Path::new(&out), &opts).and_then(|s| {
        if activity {
            let dir = std::path::Path::new(&out).join("activity");
            kiro_exporter_generate::activity::write_reports(&dir, opts.period)?;
            println!("wrote the activity report set under {}", dir.display());
        }
        Ok(s)
    });
    match written {
        Ok(s) => {
            println!(
                "wrote {} rows ({} Kiro) in {} files under {out}; users file {}",
                s.rows,
                s.kiro_rows,
                s.files.len(),
                s.users_file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("generate: {e}");
            ExitCode::FAILURE
        }
    }
}
