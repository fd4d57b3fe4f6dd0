//! One refresh: pick the billing period, look at its inputs, query what changed, read the activity
//! report, and hand everything to the pure assembly ([`crate::snapshot::assemble`]).
//!
//! This module does the I/O only. The expensive part (the aggregate query) is skipped when the export's
//! inputs for the period have the same fingerprint as at the last success: its rows are cached. The cheap
//! part (identity, model) runs every time, so a changed users file shows up without re-reading the bill.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{BedrockConfig, Config, CostConfig};
use crate::identity::IdentityMonitor;
use crate::identity::resolve::LabelRules;
use crate::metrics::{Exposition, RefreshResult, SelfMetrics};
use crate::model::activity::ActivityRow;
use crate::model::bedrock::BedrockLine;
use crate::model::cost::{foreign_currency, on_basis};
use crate::model::rightsizing::IdleRule;
use crate::model::{BillingPeriod, KiroLine, PlanCatalog};
use crate::snapshot::{ActivityInput, Inputs, PeriodSelection, Rules, assemble};
use crate::sources::activity::ActivityError;
use crate::sources::{ActivityReports, CurSource, PeriodInputs, SourceError};
use crate::sql::{
    BEDROCK_LINES, IAM_PRINCIPAL, IAM_PRINCIPAL_FIX, KIRO_LINES, NET_UNBLENDED_COST, Query, check_bedrock_lines,
    check_kiro_lines, parse_bedrock_lines, parse_kiro_lines,
};

/// Why a refresh failed. The last good snapshot stays published.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Activity(#[from] ActivityError),
    #[error("refresh did not finish within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// A bug (ours or a library's) panicked during the refresh; the daemon goes on with the last good data.
    #[error("the refresh panicked: {0}")]
    Panic(String),
    #[error(
        "billing period {period} is billed in {currency} (line_item_currency_code), but the metrics are in USD: kiro-exporter reads bills in USD only"
    )]
    Currency { period: BillingPeriod, currency: String },
    #[error(
        "the metrics would have {series} series, more than --metrics.max-series {max}: export fewer users with --metrics.max-users, or raise the limit"
    )]
    TooManySeries { series: usize, max: usize },
}

impl RefreshError {
    /// The `(source, kind)` pairs a refresh of the bill can count, so their counters start at 0.
    pub fn kinds() -> Vec<(&'static str, &'static str)> {
        let cur = SourceError::KINDS.iter().chain(&["currency"]).map(|k| ("cur", *k));
        cur.chain(["timeout", "too_many_series", "panic"].map(|k| ("refresh", k))).collect()
    }

    /// `source` label of `kiro_exporter_refresh_errors_total`.
    pub fn source_label(&self) -> &'static str {
        match self {
            Self::Source(_) | Self::Currency { .. } => "cur",
            Self::Activity(_) => "activity_report",
            Self::Timeout(_) | Self::TooManySeries { .. } | Self::Panic(_) => "refresh",
        }
    }

    /// `kind` label of `kiro_exporter_refresh_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Source(e) => e.kind(),
            Self::Activity(e) => e.kind(),
            Self::Currency { .. } => "currency",
            Self::Timeout(_) => "timeout",
            Self::Panic(_) => "panic",
            Self::TooManySeries { .. } => "too_many_series",
        }
    }
}

/// The query results of one period.
#[derive(Debug, Default)]
struct Lines {
    kiro: Vec<KiroLine>,
    bedrock: Vec<BedrockLine>,
    /// Whether the export has `line_item_iam_principal`.
    principal_column: bool,
    /// Whether the export has `line_item_net_unblended_cost`.
    net_column: bool,
}

impl Lines {
    fn is_empty(&self) -> bool {
        self.kiro.is_empty() && self.bedrock.is_empty()
    }
}

#[derive(Debug)]
struct Cached {
    fingerprint: String,
    lines: Arc<Lines>,
}

/// Builds snapshots from a source; holds the query cache between refreshes.
pub struct Refresher {
    source: Arc<dyn CurSource>,
    activity: Option<Arc<dyn ActivityReports>>,
    /// `--once`: a report that cannot be read fails the refresh.
    strict_activity: bool,
    identity: Arc<IdentityMonitor>,
    rules: LabelRules,
    max_users: Option<usize>,
    max_series: usize,
    plans: PlanCatalog,
    idle: IdleRule,
    bedrock: BedrockConfig,
    cost: CostConfig,
    tag_keys: Vec<String>,
    pinned: Option<BillingPeriod>,
    metrics: Arc<SelfMetrics>,
    cache: Mutex<std::collections::BTreeMap<BillingPeriod, Cached>>,
    warned_tiers: Mutex<BTreeSet<String>>,
    warned_principal: AtomicBool,
}

impl Refresher {
    pub fn new(
        source: Arc<dyn CurSource>,
        activity: Option<Arc<dyn ActivityReports>>,
        identity: Arc<IdentityMonitor>,
        config: &Config,
        metrics: Arc<SelfMetrics>,
    ) -> Self {
        Self {
            source,
            activity,
            strict_activity: config.once,
            identity,
            rules: config.identity.rules.clone(),
            max_users: config.max_users,
            max_series: config.max_series,
            plans: config.plans.clone(),
            idle: config.idle,
            bedrock: config.bedrock.clone(),
            cost: config.cost,
            tag_keys: config.bedrock.tag_labels.iter().map(|t| t.key.clone()).collect(),
            pinned: config.billing_period,
            metrics,
            cache: Mutex::new(std::collections::BTreeMap::new()),
            warned_tiers: Mutex::new(BTreeSet::new()),
            warned_principal: AtomicBool::new(false),
        }
    }

    /// Looks at a period's inputs, counting what that read.
    async fn inspect(&self, period: BillingPeriod) -> Result<PeriodInputs, SourceError> {
        let inputs = self.source.inspect(period).await?;
        self.metrics.observe_read(0, inputs.bytes_read);
        Ok(inputs)
    }

    /// Chooses the period: pinned, else the current month when it has rows, else the latest other one.
    /// Returns the chosen period's inputs, which the queries then read.
    async fn choose_period(&self, now: DateTime<Utc>) -> Result<(PeriodInputs, PeriodSelection), SourceError> {
        let periods = self.source.periods().await?;
        if let Some(p) = self.pinned {
            if !periods.contains(&p) {
                let have: Vec<String> = periods.iter().map(ToString::to_string).collect();
                return Err(SourceError::NoData(format!(
                    "the export has no billing period {p} (it has {})",
                    have.join(", ")
                )));
            }
            return Ok((self.inspect(p).await?, PeriodSelection::Pinned));
        }
        let current = BillingPeriod::containing(now);
        let mut current_inputs = None;
        if periods.contains(&current) {
            let inputs = self.inspect(current).await?;
            if inputs.rows > 0 {
                return Ok((inputs, PeriodSelection::Current));
            }
            current_inputs = Some(inputs);
        }
        match periods.iter().copied().filter(|p| *p != current).max() {
            Some(latest) => Ok((self.inspect(latest).await?, PeriodSelection::Latest)),
            None => match current_inputs {
                Some(inputs) => Ok((inputs, PeriodSelection::Current)),
                None => Ok((self.inspect(current).await?, PeriodSelection::Current)),
            },
        }
    }

    /// The query results of a period: from the cache while its inputs are unchanged, else queried.
    async fn lines_for(
        &self,
        inputs: &PeriodInputs,
        selection: PeriodSelection,
    ) -> Result<(Arc<Lines>, RefreshResult), RefreshError> {
        let period = inputs.period;
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.get(&period).filter(|c| c.fingerprint == inputs.fingerprint).map(|c| c.lines.clone())
        };
        if let Some(lines) = cached {
            tracing::debug!(%period, fingerprint = %inputs.fingerprint, "export unchanged since the last refresh; not querying");
            return Ok((lines, RefreshResult::Unchanged));
        }
        let queries = [
            Query { aggregate: &KIRO_LINES, tag_keys: &[] },
            Query { aggregate: &BEDROCK_LINES, tag_keys: &self.tag_keys },
        ];
        let [kiro, bedrock]: [_; 2] = self
            .source
            .query(inputs, &queries)
            .await?
            .try_into()
            .map_err(|_| SourceError::Config("the source did not answer every query".into()))?;
        // Both queries cover the same files: count the rows once, the bytes each query fetched.
        self.metrics.observe_read(kiro.rows_scanned, kiro.bytes_read);
        self.metrics.observe_read(0, bedrock.bytes_read);
        let mut parsed_kiro = parse_kiro_lines(&kiro.table).map_err(SourceError::from)?;
        let mut parsed_bedrock = parse_bedrock_lines(&bedrock.table, self.tag_keys.len()).map_err(SourceError::from)?;
        check_kiro_lines(&parsed_kiro).map_err(SourceError::from)?;
        check_bedrock_lines(&parsed_bedrock).map_err(SourceError::from)?;
        if let Some(currency) = foreign_currency(&parsed_kiro, &parsed_bedrock) {
            return Err(RefreshError::Currency { period, currency });
        }
        on_basis(&mut parsed_kiro, &mut parsed_bedrock, self.cost.basis);
        let mut lines = Lines {
            kiro: parsed_kiro,
            principal_column: !bedrock.absent_columns.contains(&IAM_PRINCIPAL),
            net_column: !kiro.absent_columns.contains(&NET_UNBLENDED_COST),
            bedrock: parsed_bedrock,
        };
        // A table may declare the column (Athena DDL) while the files lack it: then no row has a principal.
        lines.principal_column &= lines.bedrock.is_empty()
            || lines.bedrock.iter().any(|l| l.principal.as_deref().is_some_and(|p| !p.trim().is_empty()));
        let lines = Arc::new(lines);
        tracing::info!(
            %period, %selection, engine = self.source.engine(), manifest = inputs.from_manifest,
            rows_scanned = kiro.rows_scanned, bytes_read = kiro.bytes_read + bedrock.bytes_read,
            kiro_groups = lines.kiro.len(), bedrock_groups = lines.bedrock.len(),
            "queried the export"
        );
        if !lines.bedrock.is_empty() && !lines.principal_column && !self.warned_principal.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                %period,
                "the export has no {IAM_PRINCIPAL} column: Bedrock cost is exported per account and model only (principal=\"\"); to fix: {IAM_PRINCIPAL_FIX}"
            );
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(period, Cached { fingerprint: inputs.fingerprint.clone(), lines: lines.clone() });
        // The current month and the one shown while it has no data yet.
        while cache.len() > 2 {
            cache.pop_first();
        }
        Ok((lines, RefreshResult::Success))
    }

    /// The activity report's rows for a period and whether they were read now. A report that cannot be
    /// read must not take the bill's metrics down with it: the last good rows are used (or none), the
    /// error is logged, counted and shown by kiro_exporter_activity_report_up. `--once` fails instead, so
    /// a script notices.
    async fn activity_rows(
        &self,
        src: &dyn ActivityReports,
        period: BillingPeriod,
    ) -> Result<(Option<Arc<Vec<ActivityRow>>>, bool, bool), RefreshError> {
        match src.read(period).await {
            Ok((rows, changed)) => Ok((Some(rows), changed, true)),
            Err(e) if self.strict_activity => Err(e.into()),
            Err(e) => {
                tracing::error!(error = %crate::error::chain(&e), %period, "cannot read the activity report; using its last good rows, if any");
                self.metrics.observe_error("activity_report", e.kind());
                Ok((src.last_good(period).await, false, false))
            }
        }
    }

    /// Stops remote work a dropped refresh left behind (an Athena query), waiting for it to be sent.
    pub async fn cancel_running(&self) {
        self.source.cancel_running().await;
    }

    /// Runs one refresh and returns the new snapshot's exposition and how it was obtained.
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(Arc<Exposition>, RefreshResult), RefreshError> {
        let (mut inputs, mut selection) = self.choose_period(now).await?;
        let (mut lines, mut result) = self.lines_for(&inputs, selection).await?;
        if selection == PeriodSelection::Current && lines.is_empty() {
            // The new month has rows, but no Kiro or Bedrock rows yet: keep showing the last month.
            if let Some(latest) = self.source.periods().await?.into_iter().filter(|p| *p < inputs.period).max() {
                selection = PeriodSelection::Latest;
                inputs = self.inspect(latest).await?;
                (lines, result) = self.lines_for(&inputs, selection).await?;
            }
        }
        let period = inputs.period;
        let mut activity = None;
        if let Some(src) = &self.activity {
            let (rows, changed, up) = self.activity_rows(src.as_ref(), period).await?;
            if changed && result == RefreshResult::Unchanged {
                result = RefreshResult::Success;
            }
            activity = Some((rows, changed, up));
        }
        let directory = self.identity.current();
        let assembled = assemble(
            &Inputs {
                period,
                selection,
                now,
                kiro: &lines.kiro,
                bedrock: &lines.bedrock,
                principal_data: lines.principal_column,
                cost_basis: self.cost.basis.used(lines.net_column),
                activity: activity
                    .as_ref()
                    .map(|(rows, _, up)| ActivityInput { rows: rows.as_deref().map(Vec::as_slice), up: *up }),
                directory: directory.as_deref(),
                identity_configured: self.identity.is_configured(),
            },
            &Rules {
                plans: &self.plans,
                idle: self.idle,
                labels: &self.rules,
                max_users: self.max_users,
                session_names: self.bedrock.session_names,
                tag_labels: &self.bedrock.tag_labels,
                allocate_account_level: self.cost.allocate_account_level,
            },
        );
        if let (Some(a), Some((_, true, _))) = (assembled.activity, &activity) {
            tracing::info!(
                %period, rows = a.rows, replaced = a.replaced_rows, licences = a.licences, "read the activity report"
            );
        }
        {
            let mut warned = self.warned_tiers.lock().unwrap_or_else(|e| e.into_inner());
            for tier in assembled.snapshot.kiro.unknown_tiers.difference(&warned.clone()) {
                tracing::warn!(tier = %tier, "unknown Kiro tier in the bill; exported with its raw name and no plan credits (add it with --kiro.plan)");
                warned.insert(tier.clone());
            }
        }
        let exposition = Exposition::new(Arc::new(assembled.snapshot), self.max_series)
            .map_err(|e| RefreshError::TooManySeries { series: e.series, max: self.max_series })?;
        Ok((Arc::new(exposition), result))
    }
}
