//! Where the bill comes from: `--cur.path` (the embedded engine) or `--athena.*`, the billing period, the
//! AWS region and the embedded engine's memory limit.

use std::time::Duration;

use super::{ConfigError, SourceConfig};
use crate::model::BillingPeriod;
use crate::sources::athena::{AthenaTable, validate_identifier};
use crate::sources::store::{Location, S3Settings};

/// The billing data source.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Source")]
pub struct SourceArgs {
    /// The CUR 2.0 Data Export: a local folder or s3://bucket/prefix holding data/ and metadata/.
    #[arg(long = "cur.path", env = "KIRO_EXPORTER_CUR_PATH", value_name = "PATH|URL")]
    pub cur_path: Option<String>,

    /// Follow symlinks in a local --cur.path (or --kiro.activity-report.path) that lead out of it; by
    /// default such a link is an error naming it.
    #[arg(long = "cur.follow-symlinks", env = "KIRO_EXPORTER_CUR_FOLLOW_SYMLINKS")]
    pub follow_symlinks: bool,

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

    /// Pin one billing period (YYYY-MM) instead of serving the most recent ones (--billing-periods).
    #[arg(long = "billing-period", env = "KIRO_EXPORTER_BILLING_PERIOD", value_name = "YYYY-MM")]
    pub billing_period: Option<String>,

    /// Serve the N most recent billing periods the export holds, up to the current UTC month (which
    /// counts only once it has Kiro or Bedrock data): 2 is this month and the previous one, which AWS
    /// restates after it ends; 13 is a rolling year. A closed month is queried again only when its
    /// delivery changes.
    #[arg(
        long = "billing-periods",
        env = "KIRO_EXPORTER_BILLING_PERIODS",
        default_value_t = 2,
        value_parser = clap::value_parser!(u16).range(1..=120),
        conflicts_with = "billing_period",
        value_name = "N"
    )]
    pub billing_periods: u16,

    /// AWS region for S3 (default: from the AWS configuration chain, else us-east-1).
    #[arg(long = "aws.region", env = "KIRO_EXPORTER_AWS_REGION", value_name = "REGION")]
    pub aws_region: Option<String>,

    /// Memory the embedded engine may hold for one pass's aggregation state (e.g. 128MiB, 2GiB). Beyond
    /// it the state is spilled, sorted, to temporary files (in $TMPDIR, else /tmp) and merged back as the
    /// results are read, so a bill of many users costs disk and time instead of memory; what cannot spill
    /// fails with a clear error instead of the process running out of memory.
    #[arg(
        long = "query.memory-limit",
        env = "KIRO_EXPORTER_QUERY_MEMORY_LIMIT",
        default_value = "128MiB",
        value_name = "BYTES"
    )]
    pub memory_limit: String,
}

/// What [`SourceArgs`] validate to.
#[derive(Debug, Clone)]
pub(super) struct Source {
    pub source: Option<SourceConfig>,
    pub billing_period: Option<BillingPeriod>,
    pub billing_periods: usize,
    pub memory_limit: usize,
    pub s3: S3Settings,
    pub follow_symlinks: bool,
}

impl SourceArgs {
    /// The source; none is an error unless kiro-cli runs alone (`cli_alone`).
    pub(super) fn validate(&self, cli_alone: bool) -> Result<Source, ConfigError> {
        let invalid = ConfigError::Invalid;
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
            (None, None) if cli_alone => None,
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
        let memory_limit = parse_bytes(&self.memory_limit).filter(|b| *b >= 16 << 20).ok_or_else(|| {
            invalid(format!(
                "--query.memory-limit: {:?} is not a size of at least 16MiB (e.g. 2GiB)",
                self.memory_limit
            ))
        })?;
        Ok(Source {
            source,
            billing_period,
            billing_periods: usize::from(self.billing_periods),
            memory_limit,
            s3: S3Settings::from_env(self.aws_region.clone()),
            follow_symlinks: self.follow_symlinks,
        })
    }

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

/// `2GiB`, `512MiB`, `100MB`, `1048576`.
pub(super) fn parse_bytes(s: &str) -> Option<usize> {
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
