//! Kiro: plans and prices, right-sizing thresholds, the user activity report and kiro-cli.

use std::path::PathBuf;
use std::time::Duration;

use rust_decimal::Decimal;

use super::{ConfigError, KiroCliConfig};
use crate::model::rightsizing::IdleRule;
use crate::model::{PlanCatalog, PlanSpec};
use crate::sources::store::Location;

/// Kiro plans, the activity report and kiro-cli.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Kiro")]
pub struct KiroArgs {
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
}

/// What [`KiroArgs`] validate to.
#[derive(Debug, Clone)]
pub(super) struct Kiro {
    pub plans: PlanCatalog,
    pub idle: IdleRule,
    pub activity_report: Option<Location>,
    pub kiro_cli: Option<KiroCliConfig>,
}

impl KiroArgs {
    pub(super) fn validate(&self) -> Result<Kiro, ConfigError> {
        let invalid = ConfigError::Invalid;
        let kiro_cli = self.kiro_cli_enabled.then(|| KiroCliConfig {
            path: self.kiro_cli_path.clone(),
            interval: self.kiro_cli_interval,
            timeout: self.kiro_cli_timeout,
        });
        if kiro_cli.as_ref().is_some_and(|c| c.interval.is_zero() || c.timeout.is_zero()) {
            return Err(invalid("--kiro-cli.interval and --kiro-cli.timeout must be more than 0s".into()));
        }
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
        let idle_credits: Decimal =
            self.idle_credits.trim().parse().ok().filter(|d: &Decimal| !d.is_sign_negative()).ok_or_else(|| {
                invalid(format!("--kiro.idle-credits: {:?} is not a non-negative number", self.idle_credits))
            })?;
        let activity_report = self
            .activity_report_path
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|p| Location::parse(p).map_err(|e| invalid(format!("--kiro.activity-report.path: {e}"))))
            .transpose()?;
        Ok(Kiro {
            plans: PlanCatalog::with_overrides(&plans, overage),
            idle: IdleRule { idle_credits, idle_after_days: self.idle_after },
            activity_report,
            kiro_cli,
        })
    }
}
