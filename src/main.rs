//! The `kiro-exporter` binary: flags -> config -> logging -> app -> exit code.

use std::io::Write as _;
use std::process::ExitCode;

use kiro_exporter::config::{Args, ConfigError};
use kiro_exporter::{app, shutdown, telemetry};

/// Exit code for configuration errors (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn config_error(e: &ConfigError) -> ExitCode {
    // One clear line: clap's usage block is for --help.
    let msg = e.to_string();
    let line = msg.lines().next().unwrap_or_default().trim_start_matches("error: ");
    eprintln!("kiro-exporter: {line}");
    ExitCode::from(EXIT_CONFIG)
}

fn main() -> ExitCode {
    let args = match Args::load(std::env::args_os()) {
        Ok(a) => a,
        Err(ConfigError::Clap(e))
            if e.kind() == clap::error::ErrorKind::DisplayHelp
                || e.kind() == clap::error::ErrorKind::DisplayVersion =>
        {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return config_error(&e),
    };
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => return config_error(&e),
    };
    // --once prints metrics on stdout and, on failure, one line on stderr: progress logs stay out of the way
    // unless debug or trace was asked for.
    let level = match (config.once, config.log_level) {
        (true, kiro_exporter::config::LogLevel::Info) => kiro_exporter::config::LogLevel::Warn,
        (_, level) => level,
    };
    telemetry::init(level, config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kiro-exporter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        if config.once {
            return match app::once(&config).await {
                Ok(text) => {
                    let mut out = std::io::stdout().lock();
                    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
                        return ExitCode::FAILURE;
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("kiro-exporter: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        let shutdown = shutdown::on_signal();
        let result = match app::App::new(config).await {
            Ok(app) => app.run(shutdown).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kiro-exporter: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}
