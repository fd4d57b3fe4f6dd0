//! Configuration: flags, environment variables and a YAML file, validated into a typed [`Config`].
//!
//! Every setting is a Prometheus-style flag (`--cur.path`), an environment variable
//! (`KIRO_EXPORTER_CUR_PATH`) and a key of `--config.file` (`cur.path: ...`, or nested `cur: {path: ...}`,
//! see [`file`]). Precedence: flag, then environment, then file, then default. Flags are grouped per
//! concern ([`source`], [`identity`], [`kiro`], [`bedrock`], [`web`]), each group validated on its own;
//! raw [`Args`] become a [`Config`] with no optional soup downstream; any problem is a [`ConfigError`]
//! (exit code 64).

pub mod bedrock;
pub mod cost;
pub mod file;
pub mod identity;
pub mod kiro;
pub mod source;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::identity::resolve::LabelRules;
use crate::model::bedrock::{SessionNames, TagLabel};
use crate::model::rightsizing::IdleRule;
use crate::model::{BillingPeriod, PlanCatalog};
use crate::sources::athena::AthenaTable;
use crate::sources::store::{Location, S3Settings};

/// Default listen port: above the exhausted 9100-9999 exporter range of Prometheus' port allocations.
pub const DEFAULT_PORT: u16 = 10071;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// Command-line flags, each also an environment variable and a config-file key.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kiro-exporter",
    version,
    about = "Prometheus exporter for per-user Kiro credits and costs from AWS CUR 2.0 Data Exports",
    max_term_width = 110
)]
pub struct Args {
    /// YAML file with settings (keys are the long flag names, e.g. `cur.path`); flags and env vars win.
    #[arg(long = "config.file", env = "KIRO_EXPORTER_CONFIG_FILE", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    #[command(flatten)]
    pub source: source::SourceArgs,

    #[command(flatten)]
    pub identity: identity::IdentityArgs,

    #[command(flatten)]
    pub kiro: kiro::KiroArgs,

    #[command(flatten)]
    pub bedrock: bedrock::BedrockArgs,

    #[command(flatten)]
    pub cost: cost::CostArgs,

    #[command(flatten)]
    pub web: web::WebArgs,

    /// Refuse a refresh whose metrics would have more series than this (a clear error instead of a
    /// scrape that overwhelms Prometheus); lower it with --metrics.max-users.
    #[arg(
        long = "metrics.max-series",
        env = "KIRO_EXPORTER_METRICS_MAX_SERIES",
        default_value_t = 500_000,
        value_name = "N"
    )]
    pub max_series: usize,

    /// Export at most this many users per metric (the most credits first); the rest are summed into
    /// user="__other__" per account, region, plan and team.
    #[arg(long = "metrics.max-users", env = "KIRO_EXPORTER_METRICS_MAX_USERS", value_name = "N")]
    pub max_users: Option<usize>,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", env = "KIRO_EXPORTER_LOG_LEVEL", value_enum, default_value = "info")]
    pub log_level: LogLevel,

    /// Output format of log messages.
    #[arg(long = "log.format", env = "KIRO_EXPORTER_LOG_FORMAT", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,

    /// How often to refresh the billing data (e.g. 1h, 30m); AWS updates the export a few times a day.
    #[arg(long = "refresh-interval", env = "KIRO_EXPORTER_REFRESH_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub refresh_interval: Duration,

    /// A refresh taking longer than this is abandoned (the last good data keeps being served).
    #[arg(long = "refresh-timeout", env = "KIRO_EXPORTER_REFRESH_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub refresh_timeout: Duration,

    /// Refresh once, print the metrics to stdout and exit (non-zero on failure).
    #[arg(long = "once", env = "KIRO_EXPORTER_ONCE")]
    pub once: bool,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error("config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

/// Where the billing data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceConfig {
    /// DataFusion over the export's Parquet files.
    Embedded { location: Location },
    /// Amazon Athena over the CUR table.
    Athena { table: AthenaTable, export: Option<Location> },
}

/// The kiro-cli source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KiroCliConfig {
    pub path: PathBuf,
    pub interval: Duration,
    pub timeout: Duration,
}

/// Bedrock series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockConfig {
    pub tag_labels: Vec<TagLabel>,
    pub session_names: SessionNames,
}

/// Cost basis and allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostConfig {
    pub basis: crate::model::cost::CostBasis,
    pub allocate_account_level: bool,
}

/// Identity resolution.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub users_file: Option<PathBuf>,
    /// Region of Identity Center, when it differs from --aws.region.
    pub region: Option<String>,
    /// `Some(store id or None to discover)` when Identity Center is used.
    pub identity_center: Option<Option<String>>,
    pub rules: LabelRules,
    pub refresh_interval: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The billing data; `None` when only kiro-cli is enabled.
    pub source: Option<SourceConfig>,
    pub kiro_cli: Option<KiroCliConfig>,
    pub s3: S3Settings,
    pub billing_period: Option<BillingPeriod>,
    /// `--billing-periods`: how many of the most recent periods are served (unless one is pinned).
    pub billing_periods: usize,
    pub identity: IdentityConfig,
    pub max_users: Option<usize>,
    pub max_series: usize,
    /// Bytes the embedded engine may use per query.
    pub memory_limit: usize,
    pub plans: PlanCatalog,
    pub idle: IdleRule,
    pub bedrock: BedrockConfig,
    pub cost: CostConfig,
    /// Kiro's user activity report (`--kiro.activity-report.path`).
    pub activity_report: Option<Location>,
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
    /// `--web.config.file` (validated at startup, re-read per connection).
    pub web_config_file: Option<PathBuf>,
    /// `--cur.follow-symlinks`: local exports may link out of their folder.
    pub follow_symlinks: bool,
    /// `--web.max-connections`.
    pub max_connections: usize,
    pub health_without_auth: bool,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub refresh_interval: Duration,
    pub refresh_timeout: Duration,
    pub once: bool,
}

impl Args {
    /// Validates the arguments into a [`Config`], each group on its own.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let invalid = ConfigError::Invalid;
        let kiro = self.kiro.validate()?;
        let source = self.source.validate(kiro.kiro_cli.is_some())?;
        let identity = self.identity.validate(self.source.aws_region.as_ref())?;
        if self.max_series == 0 {
            return Err(invalid("--metrics.max-series must be at least 1".into()));
        }
        if self.max_users == Some(0) {
            return Err(invalid("--metrics.max-users must be at least 1".into()));
        }
        let bedrock = self.bedrock.validate()?;
        let cost = self.cost.validate()?;
        if kiro.activity_report.is_some() && source.source.is_none() {
            return Err(invalid(
                "--kiro.activity-report.path adds to the bill: set --cur.path or --athena.* as well".into(),
            ));
        }
        let web = self.web.validate()?;
        if self.refresh_interval < Duration::from_secs(1) {
            return Err(invalid("--refresh-interval must be at least 1s".into()));
        }
        if self.refresh_timeout.is_zero() {
            return Err(invalid("--refresh-timeout must be more than 0s".into()));
        }
        Ok(Config {
            source: source.source,
            kiro_cli: kiro.kiro_cli,
            s3: source.s3,
            billing_period: source.billing_period,
            billing_periods: source.billing_periods,
            identity,
            max_users: self.max_users,
            max_series: self.max_series,
            memory_limit: source.memory_limit,
            plans: kiro.plans,
            idle: kiro.idle,
            bedrock,
            cost,
            activity_report: kiro.activity_report,
            listen_address: web.listen_address,
            telemetry_path: web.telemetry_path,
            web_config_file: web.web_config_file,
            max_connections: web.max_connections,
            follow_symlinks: source.follow_symlinks,
            health_without_auth: web.health_without_auth,
            log_level: self.log_level,
            log_format: self.log_format,
            refresh_interval: self.refresh_interval,
            refresh_timeout: self.refresh_timeout,
            once: self.once,
        })
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::web::parse_listen_address;
    use super::*;

    fn args(v: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["kiro-exporter"];
        argv.extend_from_slice(v);
        Args::load(argv)?.into_config()
    }

    #[test]
    fn defaults() {
        let c = args(&["--cur.path", "/tmp"]).unwrap();
        assert_eq!(c.listen_address.port(), DEFAULT_PORT);
        assert_eq!(c.telemetry_path, "/metrics");
        assert_eq!(c.refresh_interval, Duration::from_secs(3600));
        assert_eq!(c.log_format, LogFormat::Logfmt);
        assert_eq!(c.plans.overage_usd_per_credit.to_string(), "0.04");
        assert_eq!(c.max_connections, 512);
        assert!(!c.once);
    }

    #[test]
    fn clear_errors() {
        let msg = |v: &[&str]| args(v).unwrap_err().to_string();
        assert!(msg(&[]).starts_with("no data source"));
        assert!(
            msg(&["--cur.path", "/tmp", "--billing-period", "2026-13"])
                .contains("--billing-period: invalid billing period")
        );
        assert!(msg(&["--cur.path", "/tmp", "--web.listen-address", "nope"]).contains("--web.listen-address"));
        assert!(msg(&["--cur.path", "/tmp", "--kiro.plan", "Pro"]).contains("--kiro.plan"));
        assert!(msg(&["--cur.path", "gs://x"]).contains("only local paths and s3://"));
        assert!(msg(&["--cur.path", "/tmp", "--web.max-connections", "0"]).contains("--web.max-connections"));
        assert_eq!(args(&["--cur.path", "/tmp", "--web.max-connections", "8"]).unwrap().max_connections, 8);
    }

    #[test]
    fn config_file_fills_what_flags_do_not_set() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yml");
        std::fs::write(
            &f,
            "cur:\n  path: s3://bkt/cur/exp\nrefresh-interval: 15m\nkiro.plan: [\"Pro Max=5000:100\"]\nonce: true\nweb.listen-address: 127.0.0.1:9999\n",
        )
        .unwrap();
        let fs = f.to_str().unwrap();
        let c = args(&["--config.file", fs, "--web.listen-address", "127.0.0.1:1234"]).unwrap();
        assert_eq!(
            c.source,
            Some(SourceConfig::Embedded { location: Location::S3 { bucket: "bkt".into(), prefix: "cur/exp".into() } })
        );
        assert_eq!(c.refresh_interval, Duration::from_secs(900));
        assert_eq!(c.plans.get("Pro Max").unwrap().price_usd, Some(Decimal::from(100)));
        assert!(c.once);
        assert_eq!(c.listen_address.port(), 1234, "a flag beats the file");

        std::fs::write(&f, "cur.pth: /tmp\n").unwrap();
        let e = args(&["--config.file", fs]).unwrap_err().to_string();
        assert!(e.contains("unknown setting \"cur.pth\""), "{e}");
    }

    #[test]
    fn kiro_cli_alone_needs_no_cur_path() {
        let c = args(&["--kiro-cli.enabled", "--kiro-cli.timeout", "3s"]).unwrap();
        assert_eq!(c.source, None);
        let cli = c.kiro_cli.unwrap();
        assert_eq!(
            (cli.path.to_str(), cli.interval, cli.timeout),
            (Some("kiro-cli"), Duration::from_secs(300), Duration::from_secs(3))
        );
    }

    #[test]
    fn identity_settings() {
        let c = args(&[
            "--cur.path",
            "/tmp",
            "--identity.store-id",
            "d-123",
            "--identity.team-group-pattern",
            "^team-(.+)$",
        ])
        .unwrap();
        assert_eq!(c.identity.identity_center, Some(Some("d-123".into())));
        assert!(c.identity.rules.team_pattern.is_some());
        let c = args(&["--cur.path", "/tmp", "--identity.identity-center"]).unwrap();
        assert_eq!(c.identity.identity_center, Some(None), "discover the store");
        assert_eq!(args(&["--cur.path", "/tmp"]).unwrap().identity.identity_center, None);
        let msg = |v: &[&str]| args(v).unwrap_err().to_string();
        assert!(msg(&["--cur.path", "/tmp", "--identity.user-label", "hash"]).contains("--identity.hash-salt"));
        assert!(
            msg(&["--cur.path", "/tmp", "--identity.team-group-pattern", "(unclosed"]).contains("team-group-pattern")
        );
        assert!(msg(&["--cur.path", "/tmp", "--metrics.max-users", "0"]).contains("max-users"));
    }

    #[test]
    fn athena_settings() {
        let c = args(&[
            "--athena.database",
            "billing",
            "--athena.table",
            "cur-v2data",
            "--athena.export-path",
            "s3://b/cur/exp",
        ])
        .unwrap();
        let Some(SourceConfig::Athena { table, export }) = c.source else { panic!("athena") };
        assert_eq!((table.workgroup.as_str(), table.catalog.as_str()), ("primary", "AwsDataCatalog"));
        assert_eq!(export, Some(Location::S3 { bucket: "b".into(), prefix: "cur/exp".into() }));
        let msg = |v: &[&str]| args(v).unwrap_err().to_string();
        assert!(msg(&["--athena.database", "billing"]).contains("both --athena.database and --athena.table"));
        assert!(msg(&["--athena.database", "b", "--athena.table", "t\"; DROP"]).contains("only letters"));
        assert!(msg(&["--athena.database", "b", "--athena.table", "t", "--cur.path", "/tmp"]).contains("not both"));
        assert!(
            msg(&["--athena.database", "b", "--athena.table", "t", "--athena.output-location", "/tmp"])
                .contains("s3://")
        );
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen_address(":9100"), Some("0.0.0.0:9100".parse().unwrap()));
        assert_eq!(parse_listen_address("127.0.0.1:0"), Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(parse_listen_address("[::1]:80"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(parse_listen_address("localhost:80"), Some("127.0.0.1:80".parse().unwrap()));
        assert_eq!(parse_listen_address("x"), None);
    }
}
