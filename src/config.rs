//! Configuration: flags, environment variables and a YAML file, validated into a typed [`Config`].
//!
//! Every setting is a Prometheus-style flag (`--cur.path`), an environment variable
//! (`KIRO_EXPORTER_CUR_PATH`) and a key of `--config.file` (`cur.path: ...`, or nested `cur: {path: ...}`).
//! Precedence: flag, then environment, then file, then default. Raw [`Args`] become a [`Config`] with no
//! optional soup downstream; any problem is a [`ConfigError`] (exit code 64).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, Parser, ValueEnum};
use rust_decimal::Decimal;

use crate::identity::resolve::{LabelRules, UserLabel};
use crate::model::bedrock::{SessionNames, TagLabel, tag_labels};
use crate::model::rightsizing::IdleRule;
use crate::model::{BillingPeriod, PlanCatalog, PlanSpec};
use crate::sources::athena::{AthenaTable, validate_identifier};
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

    /// The CUR 2.0 Data Export: a local folder or s3://bucket/prefix holding data/ and metadata/.
    #[arg(long = "cur.path", env = "KIRO_EXPORTER_CUR_PATH", value_name = "PATH|URL")]
    pub cur_path: Option<String>,

    /// Athena database holding the CUR table (use Athena instead of --cur.path).
    #[arg(long = "athena.database", env = "KIRO_EXPORTER_ATHENA_DATABASE", value_name = "NAME")]
    pub athena_database: Option<String>,

    /// Athena (Glue) table of the CUR 2.0 export, partitioned by billing_period.
    #[arg(long = "athena.table", env = "KIRO_EXPORTER_ATHENA_TABLE", value_name = "NAME")]
    pub athena_table: Option<String>,

    /// Athena workgroup.
    #[arg(
        long = "athena.workgroup",
        env = "KIRO_EXPORTER_ATHENA_WORKGROUP",
        default_value = "primary",
        value_name = "NAME"
    )]
    pub athena_workgroup: String,

    /// S3 location for query results (optional when the workgroup has one).
    #[arg(long = "athena.output-location", env = "KIRO_EXPORTER_ATHENA_OUTPUT_LOCATION", value_name = "S3_URL")]
    pub athena_output_location: Option<String>,

    /// Data catalog of the table.
    #[arg(
        long = "athena.catalog",
        env = "KIRO_EXPORTER_ATHENA_CATALOG",
        default_value = "AwsDataCatalog",
        value_name = "NAME"
    )]
    pub athena_catalog: String,

    /// The export's folder in S3 (holding data/ and metadata/): lets the exporter skip queries while the
    /// manifest is unchanged and find the latest period. Without it every refresh queries.
    #[arg(long = "athena.export-path", env = "KIRO_EXPORTER_ATHENA_EXPORT_PATH", value_name = "S3_URL")]
    pub athena_export_path: Option<String>,

    /// An Athena query running longer than this is stopped.
    #[arg(long = "athena.query-timeout", env = "KIRO_EXPORTER_ATHENA_QUERY_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub athena_query_timeout: Duration,

    /// Billing period to export (YYYY-MM); default: the current UTC month, or the latest in the export when
    /// the current one has no data yet.
    #[arg(long = "billing-period", env = "KIRO_EXPORTER_BILLING_PERIOD", value_name = "YYYY-MM")]
    pub billing_period: Option<String>,

    /// AWS region for S3 (default: from the AWS configuration chain, else us-east-1).
    #[arg(long = "aws.region", env = "KIRO_EXPORTER_AWS_REGION", value_name = "REGION")]
    pub aws_region: Option<String>,

    /// JSONL users file (`aws identitystore list-users` output, one {"Username","UserId"} per line, optionally
    /// with Email, DisplayName, Team); overrides Identity Center where both name a user.
    #[arg(long = "identity.users-file", env = "KIRO_EXPORTER_IDENTITY_USERS_FILE", value_name = "FILE")]
    pub users_file: Option<PathBuf>,

    /// Resolve user ids through IAM Identity Center (identitystore ListUsers, group memberships).
    #[arg(long = "identity.identity-center", env = "KIRO_EXPORTER_IDENTITY_IDENTITY_CENTER")]
    pub identity_center: bool,

    /// Identity store id (d-xxxxxxxxxx); implies --identity.identity-center; default: discovered with
    /// sso-admin ListInstances.
    #[arg(long = "identity.store-id", env = "KIRO_EXPORTER_IDENTITY_STORE_ID", value_name = "ID")]
    pub store_id: Option<String>,

    /// Regex selecting team groups; the first capture group (or the whole match) is the team, e.g. ^team-(.+)$.
    #[arg(
        long = "identity.team-group-pattern",
        env = "KIRO_EXPORTER_IDENTITY_TEAM_GROUP_PATTERN",
        value_name = "REGEX"
    )]
    pub team_group_pattern: Option<String>,

    /// Team of users in no matching group.
    #[arg(
        long = "identity.default-team",
        env = "KIRO_EXPORTER_IDENTITY_DEFAULT_TEAM",
        default_value = "",
        value_name = "TEAM"
    )]
    pub default_team: String,

    /// What the `user` label shows.
    #[arg(
        long = "identity.user-label",
        env = "KIRO_EXPORTER_IDENTITY_USER_LABEL",
        value_enum,
        default_value = "username"
    )]
    pub user_label: UserLabel,

    /// Salt of --identity.user-label=hash (required with it; keep it secret and stable).
    #[arg(
        long = "identity.hash-salt",
        env = "KIRO_EXPORTER_IDENTITY_HASH_SALT",
        value_name = "SALT",
        hide_env_values = true
    )]
    pub hash_salt: Option<String>,

    /// Region of IAM Identity Center (default: --aws.region, else the AWS configuration chain).
    #[arg(long = "identity.region", env = "KIRO_EXPORTER_IDENTITY_REGION", value_name = "REGION")]
    pub identity_region: Option<String>,

    /// How often to re-read the identity directory.
    #[arg(long = "identity.refresh-interval", env = "KIRO_EXPORTER_IDENTITY_REFRESH_INTERVAL", default_value = "6h", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub identity_refresh_interval: Duration,

    /// Refuse a refresh whose metrics would have more series than this (a clear error instead of a
    /// scrape that overwhelms Prometheus); lower it with --metrics.max-users.
    #[arg(
        long = "metrics.max-series",
        env = "KIRO_EXPORTER_METRICS_MAX_SERIES",
        default_value_t = 500_000,
        value_name = "N"
    )]
    pub max_series: usize,

    /// Memory the embedded engine may use for one query (e.g. 512MiB, 2GiB); a bigger query fails with a
    /// clear error instead of the process running out of memory.
    #[arg(
        long = "query.memory-limit",
        env = "KIRO_EXPORTER_QUERY_MEMORY_LIMIT",
        default_value = "2GiB",
        value_name = "BYTES"
    )]
    pub memory_limit: String,

    /// Export at most this many users per metric (the most credits first); the rest are summed into
    /// user="__other__" per account, region, plan and team.
    #[arg(long = "metrics.max-users", env = "KIRO_EXPORTER_METRICS_MAX_USERS", value_name = "N")]
    pub max_users: Option<usize>,

    /// Plan definition NAME=CREDITS[:PRICE_USD], repeatable; overrides or adds to the defaults
    /// (Pro=1000:20, Pro+=2000:40, Pro Max=5000, Power=10000:200).
    #[arg(long = "kiro.plan", env = "KIRO_EXPORTER_KIRO_PLAN", value_name = "PLAN", value_delimiter = ',')]
    pub plans: Vec<String>,

    /// Kiro's user activity report: the folder that holds AWSLogs/ (s3://bucket/prefix or a local copy).
    /// Its per-user credits replace the bill's where it has the user.
    #[arg(
        long = "kiro.activity-report.path",
        env = "KIRO_EXPORTER_KIRO_ACTIVITY_REPORT_PATH",
        value_name = "PATH|URL"
    )]
    pub activity_report_path: Option<String>,

    /// Label filled from a principal tag, LABEL=TAG_KEY, repeatable (default: team=iamPrincipal/team,
    /// project=iamPrincipal/project, cost_center=iamPrincipal/cost-center).
    #[arg(
        long = "bedrock.tag-label",
        env = "KIRO_EXPORTER_BEDROCK_TAG_LABEL",
        value_name = "LABEL=KEY",
        value_delimiter = ','
    )]
    pub bedrock_tag_labels: Vec<String>,

    /// Which role session names become Bedrock principals: keep, drop (collapse to the role), or
    /// emails-only (keep sessions named like a person; collapse per-request ids to the role).
    #[arg(
        long = "bedrock.session-names",
        env = "KIRO_EXPORTER_BEDROCK_SESSION_NAMES",
        value_enum,
        default_value = "emails-only"
    )]
    pub bedrock_session_names: SessionNames,

    /// Price of one overage credit in USD.
    #[arg(
        long = "kiro.overage-price",
        env = "KIRO_EXPORTER_KIRO_OVERAGE_PRICE",
        default_value = "0.04",
        value_name = "USD"
    )]
    pub overage_price: String,

    /// A seat with fewer credits than this, once --kiro.idle-after days are billed, is idle.
    #[arg(
        long = "kiro.idle-credits",
        env = "KIRO_EXPORTER_KIRO_IDLE_CREDITS",
        default_value = "1",
        value_name = "CREDITS"
    )]
    pub idle_credits: String,

    /// Days of the period the bill must cover before a seat can be called idle.
    #[arg(long = "kiro.idle-after", env = "KIRO_EXPORTER_KIRO_IDLE_AFTER", default_value_t = 14, value_name = "DAYS")]
    pub idle_after: u32,

    /// Address to listen on for scrapes (`:PORT` means all interfaces).
    #[arg(
        long = "web.listen-address",
        env = "KIRO_EXPORTER_WEB_LISTEN_ADDRESS",
        default_value = ":10071",
        value_name = "ADDR"
    )]
    pub listen_address: String,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        env = "KIRO_EXPORTER_WEB_TELEMETRY_PATH",
        default_value = "/metrics",
        value_name = "PATH"
    )]
    pub telemetry_path: String,

    /// TLS, basic auth and headers, in the Prometheus exporter-toolkit format (as node_exporter's).
    #[arg(long = "web.config.file", env = "KIRO_EXPORTER_WEB_CONFIG_FILE", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Answer /-/healthy and /-/ready without basic auth (e.g. for a kubelet probe).
    #[arg(long = "web.health-without-auth", env = "KIRO_EXPORTER_WEB_HEALTH_WITHOUT_AUTH")]
    pub health_without_auth: bool,

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

    /// Also read live personal usage from `kiro-cli chat --no-interactive /usage` (alone, no --cur.path is needed).
    #[arg(long = "kiro-cli.enabled", env = "KIRO_EXPORTER_KIRO_CLI_ENABLED")]
    pub kiro_cli_enabled: bool,

    /// The kiro-cli command (a path, or a name looked up on PATH).
    #[arg(
        long = "kiro-cli.path",
        env = "KIRO_EXPORTER_KIRO_CLI_PATH",
        default_value = "kiro-cli",
        value_name = "PATH"
    )]
    pub kiro_cli_path: PathBuf,

    /// How often to run kiro-cli /usage.
    #[arg(long = "kiro-cli.interval", env = "KIRO_EXPORTER_KIRO_CLI_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub kiro_cli_interval: Duration,

    /// A kiro-cli run taking longer than this is killed.
    #[arg(long = "kiro-cli.timeout", env = "KIRO_EXPORTER_KIRO_CLI_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub kiro_cli_timeout: Duration,

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

impl ConfigError {
    /// Help and version requests are not errors.
    pub fn is_help(&self) -> bool {
        matches!(self, Self::Clap(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion))
    }
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
    pub identity: IdentityConfig,
    pub max_users: Option<usize>,
    pub max_series: usize,
    /// Bytes the embedded engine may use per query.
    pub memory_limit: usize,
    pub plans: PlanCatalog,
    pub idle: IdleRule,
    pub bedrock: BedrockConfig,
    /// Kiro's user activity report (`--kiro.activity-report.path`).
    pub activity_report: Option<Location>,
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
    /// `--web.config.file` (validated at startup, re-read per connection).
    pub web_config_file: Option<PathBuf>,
    pub health_without_auth: bool,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub refresh_interval: Duration,
    pub refresh_timeout: Duration,
    pub once: bool,
}

fn flatten_yaml(prefix: &str, v: &serde_norway::Value, out: &mut Vec<(String, Vec<String>)>) -> Result<(), String> {
    use serde_norway::Value;
    let scalar = |v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(format!("{prefix}: expected a scalar, found {other:?}")),
        }
    };
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                let k = k.as_str().ok_or_else(|| format!("{prefix}: keys must be strings"))?;
                let key = if prefix.is_empty() { k.to_owned() } else { format!("{prefix}.{k}") };
                flatten_yaml(&key, v, out)?;
            }
        }
        Value::Sequence(items) => out.push((prefix.to_owned(), items.iter().map(scalar).collect::<Result<_, _>>()?)),
        Value::Null => {}
        other => out.push((prefix.to_owned(), vec![scalar(other)?])),
    }
    Ok(())
}

/// `2GiB`, `512MiB`, `100MB`, `1048576`.
fn parse_bytes(s: &str) -> Option<usize> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: usize = n.parse().ok()?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

impl Args {
    /// Parses flags and environment, then fills what neither set from `--config.file`.
    pub fn load<I, T>(argv: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        let cmd = Self::command();
        let matches = cmd.clone().try_get_matches_from(&argv)?;
        let Some(path) = matches.get_one::<PathBuf>("config_file").cloned() else {
            return Ok(Self::try_parse_from(&argv)?);
        };
        let file_err = |reason: String| ConfigError::File { path: path.clone(), reason };
        let text = std::fs::read_to_string(&path).map_err(|e| file_err(e.to_string()))?;
        let doc: serde_norway::Value = serde_norway::from_str(&text).map_err(|e| file_err(e.to_string()))?;
        if !matches!(doc, serde_norway::Value::Mapping(_) | serde_norway::Value::Null) {
            return Err(file_err("expected a mapping of settings".into()));
        }
        let mut settings = Vec::new();
        flatten_yaml("", &doc, &mut settings).map_err(file_err)?;
        for (key, values) in settings {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(key.as_str()))
                .filter(|a| a.get_id() != "config_file")
                .ok_or_else(|| {
                    file_err(format!("unknown setting {key:?} (keys are the long flag names, e.g. cur.path)"))
                })?;
            let id = arg.get_id().as_str();
            if matches!(matches.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable)) {
                continue;
            }
            let is_switch = matches!(arg.get_action(), clap::ArgAction::SetTrue);
            for v in values {
                if is_switch {
                    match v.as_str() {
                        "true" => argv.push(format!("--{key}").into()),
                        "false" => {}
                        _ => {
                            return Err(file_err(format!("{key}: expected true or false, found {v:?}")));
                        }
                    }
                } else {
                    argv.push(format!("--{key}={v}").into());
                }
            }
        }
        Ok(Self::try_parse_from(&argv)?)
    }

    /// Validates the arguments into a [`Config`].
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let invalid = ConfigError::Invalid;
        let kiro_cli = self.kiro_cli_enabled.then(|| KiroCliConfig {
            path: self.kiro_cli_path.clone(),
            interval: self.kiro_cli_interval,
            timeout: self.kiro_cli_timeout,
        });
        if kiro_cli.as_ref().is_some_and(|c| c.interval.is_zero() || c.timeout.is_zero()) {
            return Err(invalid("--kiro-cli.interval and --kiro-cli.timeout must be more than 0s".into()));
        }
        let athena = self.athena_config().map_err(invalid)?;
        let source = match (self.cur_path.as_deref().filter(|p| !p.trim().is_empty()), athena) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "both --cur.path and --athena.* are set: choose the embedded engine or Athena, not both".into(),
                ));
            }
            (None, Some(athena)) => Some(athena),
            (Some(path), None) => Some(SourceConfig::Embedded {
                location: Location::parse(path).map_err(|e| invalid(format!("--cur.path: {e}")))?,
            }),
            (None, None) if kiro_cli.is_some() => None,
            (None, None) => {
                return Err(invalid(
                    "no data source: set --cur.path to the CUR 2.0 Data Export (a local folder or s3://bucket/prefix), or --kiro-cli.enabled".into(),
                ));
            }
        };
        let billing_period = self
            .billing_period
            .as_deref()
            .map(|p| p.parse::<BillingPeriod>())
            .transpose()
            .map_err(|e| invalid(format!("--billing-period: {e}")))?;
        let plans = self
            .plans
            .iter()
            .map(|p| p.parse::<PlanSpec>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("--kiro.plan: {e}")))?;
        let overage: Decimal =
            self.overage_price.trim().parse().ok().filter(|d: &Decimal| !d.is_sign_negative()).ok_or_else(|| {
                invalid(format!("--kiro.overage-price: {:?} is not a non-negative number", self.overage_price))
            })?;
        let team_pattern = self
            .team_group_pattern
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| invalid(format!("--identity.team-group-pattern: {e}")))?;
        let hash_salt = self.hash_salt.clone().unwrap_or_default();
        if self.user_label == UserLabel::Hash && hash_salt.is_empty() {
            return Err(invalid(
                "--identity.user-label=hash needs --identity.hash-salt (a secret, stable value)".into(),
            ));
        }
        if self.identity_refresh_interval < Duration::from_secs(1) {
            return Err(invalid("--identity.refresh-interval must be at least 1s".into()));
        }
        let memory_limit = parse_bytes(&self.memory_limit).filter(|b| *b >= 16 << 20).ok_or_else(|| {
            invalid(format!(
                "--query.memory-limit: {:?} is not a size of at least 16MiB (e.g. 2GiB)",
                self.memory_limit
            ))
        })?;
        if self.max_series == 0 {
            return Err(invalid("--metrics.max-series must be at least 1".into()));
        }
        if self.max_users == Some(0) {
            return Err(invalid("--metrics.max-users must be at least 1".into()));
        }
        let identity = IdentityConfig {
            users_file: self.users_file.clone(),
            region: self.identity_region.clone().or_else(|| self.aws_region.clone()),
            identity_center: (self.identity_center || self.store_id.is_some())
                .then(|| self.store_id.clone().filter(|s| !s.trim().is_empty())),
            rules: LabelRules {
                user_label: self.user_label,
                team_pattern,
                default_team: self.default_team.clone(),
                hash_salt,
            },
            refresh_interval: self.identity_refresh_interval,
        };
        let idle_credits: Decimal =
            self.idle_credits.trim().parse().ok().filter(|d: &Decimal| !d.is_sign_negative()).ok_or_else(|| {
                invalid(format!("--kiro.idle-credits: {:?} is not a non-negative number", self.idle_credits))
            })?;
        let bedrock = BedrockConfig {
            tag_labels: tag_labels(&self.bedrock_tag_labels)
                .map_err(|e| invalid(format!("--bedrock.tag-label: {e}")))?,
            session_names: self.bedrock_session_names,
        };
        let activity_report = self
            .activity_report_path
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|p| Location::parse(p).map_err(|e| invalid(format!("--kiro.activity-report.path: {e}"))))
            .transpose()?;
        if activity_report.is_some() && source.is_none() {
            return Err(invalid(
                "--kiro.activity-report.path adds to the bill: set --cur.path or --athena.* as well".into(),
            ));
        }
        if let Some(path) = &self.web_config_file {
            crate::web::WebConfig::load(path).map_err(invalid)?;
        }
        let listen_address = parse_listen_address(&self.listen_address).ok_or_else(|| {
            invalid(format!("--web.listen-address: {:?} is not HOST:PORT or :PORT", self.listen_address))
        })?;
        if !self.telemetry_path.starts_with('/') || self.telemetry_path == "/" || self.telemetry_path.starts_with("/-/")
        {
            return Err(invalid(format!(
                "--web.telemetry-path: {:?} must start with / and not be / or under /-/",
                self.telemetry_path
            )));
        }
        if self.refresh_interval < Duration::from_secs(1) {
            return Err(invalid("--refresh-interval must be at least 1s".into()));
        }
        if self.refresh_timeout.is_zero() {
            return Err(invalid("--refresh-timeout must be more than 0s".into()));
        }
        Ok(Config {
            source,
            kiro_cli,
            s3: S3Settings::from_env(self.aws_region.clone()),
            billing_period,
            identity,
            max_users: self.max_users,
            max_series: self.max_series,
            memory_limit,
            plans: PlanCatalog::with_overrides(&plans, overage),
            idle: IdleRule { idle_credits, idle_after_days: self.idle_after },
            bedrock,
            activity_report,
            listen_address,
            telemetry_path: self.telemetry_path,
            web_config_file: self.web_config_file,
            health_without_auth: self.health_without_auth,
            log_level: self.log_level,
            log_format: self.log_format,
            refresh_interval: self.refresh_interval,
            refresh_timeout: self.refresh_timeout,
            once: self.once,
        })
    }
}

impl Args {
    /// The Athena source, when `--athena.database` or `--athena.table` is set.
    fn athena_config(&self) -> Result<Option<SourceConfig>, String> {
        let (db, table) = match (&self.athena_database, &self.athena_table) {
            (None, None) => return Ok(None),
            (Some(d), Some(t)) => (d.clone(), t.clone()),
            _ => return Err("Athena needs both --athena.database and --athena.table".into()),
        };
        validate_identifier("--athena.database", &db)?;
        validate_identifier("--athena.table", &table)?;
        validate_identifier("--athena.catalog", &self.athena_catalog)?;
        validate_identifier("--athena.workgroup", &self.athena_workgroup)?;
        if let Some(o) = &self.athena_output_location
            && !o.starts_with("s3://")
        {
            return Err(format!("--athena.output-location: {o:?} is not an s3:// URL"));
        }
        let export = match &self.athena_export_path {
            None => None,
            Some(p) if p.starts_with("s3://") => {
                Some(Location::parse(p).map_err(|e| format!("--athena.export-path: {e}"))?)
            }
            Some(p) => return Err(format!("--athena.export-path: {p:?} is not an s3:// URL")),
        };
        if self.athena_query_timeout.is_zero() {
            return Err("--athena.query-timeout must be more than 0s".into());
        }
        Ok(Some(SourceConfig::Athena {
            table: AthenaTable {
                catalog: self.athena_catalog.clone(),
                database: db,
                table,
                workgroup: self.athena_workgroup.clone(),
                output_location: self.athena_output_location.clone(),
                query_timeout: self.athena_query_timeout,
            },
            export,
        }))
    }
}

/// `HOST:PORT`, `[V6]:PORT` or `:PORT` (all interfaces).
fn parse_listen_address(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Some(port) = s.strip_prefix(':') {
        return Some(SocketAddr::from(([0, 0, 0, 0], port.parse().ok()?)));
    }
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    match host {
        "localhost" => Some(SocketAddr::from(([127, 0, 0, 1], port))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
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
