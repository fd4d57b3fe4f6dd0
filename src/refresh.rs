//! One refresh: pick the billing period, look at its inputs, query what changed, build a snapshot.
//!
//! The expensive part (the aggregate query) is skipped when the export's inputs for the period have the
//! same fingerprint as at the last success: its rows are cached. The cheap part (identity, model) runs
//! every time, so a changed users file shows up without re-reading the bill.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{BedrockConfig, Config};
use crate::identity::resolve::LabelRules;
use crate::identity::{Directory, IdentityError, IdentityMonitor};
use crate::metrics::{RefreshResult, SelfMetrics};
use crate::model::activity::{apply, summarise};
use crate::model::bedrock::{self, BedrockLine};
use crate::model::rightsizing::{IdleRule, analyse};
use crate::model::rows::build_rows;
use crate::model::{BillingPeriod, KiroLine, PlanCatalog, build_report};
use crate::snapshot::{PeriodSelection, Snapshot};
use crate::sources::activity::{ActivityError, ActivitySource};
use crate::sources::{CurSource, SourceError};
use crate::sql::{
    BEDROCK_LINES, IAM_PRINCIPAL, IAM_PRINCIPAL_FIX, KIRO_LINES, Query, check_bedrock_lines, check_kiro_lines,
    parse_bedrock_lines, parse_kiro_lines,
};

/// Why a refresh failed. The last good snapshot stays published.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Activity(#[from] ActivityError),
    #[error("refresh did not finish within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error(
        "the metrics would have {series} series, more than --metrics.max-series {max}: export fewer users with --metrics.max-users, or raise the limit"
    )]
    TooManySeries { series: usize, max: usize },
}

impl RefreshError {
    /// `source` label of `kiro_exporter_refresh_errors_total`.
    pub fn source_label(&self) -> &'static str {
        match self {
            Self::Source(_) => "cur",
            Self::Identity(_) => "identity",
            Self::Activity(_) => "activity_report",
            Self::Timeout(_) | Self::TooManySeries { .. } => "refresh",
        }
    }

    /// `kind` label of `kiro_exporter_refresh_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Source(e) => e.kind(),
            Self::Identity(e) => e.kind(),
            Self::Activity(e) => e.kind(),
            Self::Timeout(_) => "timeout",
            Self::TooManySeries { .. } => "too_many_series",
        }
    }
}

/// The whole error chain on one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let msg = inner.to_string();
        if !s.ends_with(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = inner.source();
    }
    s
}

/// The query results of one period.
#[derive(Debug, Default)]
struct Lines {
    kiro: Vec<KiroLine>,
    bedrock: Vec<BedrockLine>,
    /// Whether the export has `line_item_iam_principal`.
    principal_column: bool,
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
    activity: Option<ActivitySource>,
    /// `--once`: a report that cannot be read fails the refresh.
    strict_activity: bool,
    identity: Arc<IdentityMonitor>,
    rules: LabelRules,
    max_users: Option<usize>,
    max_series: usize,
    plans: PlanCatalog,
    idle: IdleRule,
    bedrock: BedrockConfig,
    tag_keys: Vec<String>,
    pinned: Option<BillingPeriod>,
    metrics: Arc<SelfMetrics>,
    cache: Mutex<std::collections::BTreeMap<BillingPeriod, Cached>>,
    warned_tiers: Mutex<BTreeSet<String>>,
    warned_principal: std::sync::atomic::AtomicBool,
}

impl Refresher {
    pub fn new(
        source: Arc<dyn CurSource>,
        activity: Option<ActivitySource>,
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
            tag_keys: config.bedrock.tag_labels.iter().map(|t| t.key.clone()).collect(),
            pinned: config.billing_period,
            metrics,
            cache: Mutex::new(std::collections::BTreeMap::new()),
            warned_tiers: Mutex::new(BTreeSet::new()),
            warned_principal: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Chooses the period: pinned, else the current month when it has rows, else the latest other one.
    async fn choose_period(&self, now: DateTime<Utc>) -> Result<(BillingPeriod, PeriodSelection), SourceError> {
        let periods = self.source.periods().await?;
        if let Some(p) = self.pinned {
            if !periods.contains(&p) {
                let have: Vec<String> = periods.iter().map(ToString::to_string).collect();
                return Err(SourceError::NoData(format!(
                    "the export has no billing period {p} (it has {})",
                    have.join(", ")
                )));
            }
            return Ok((p, PeriodSelection::Pinned));
        }
        let current = BillingPeriod::containing(now);
        if periods.contains(&current) {
            let inputs = self.source.inspect(current).await?;
            self.metrics.observe_read(0, inputs.bytes_read);
            if inputs.rows > 0 {
                return Ok((current, PeriodSelection::Current));
            }
        }
        match periods.iter().copied().filter(|p| *p != current).max() {
            Some(latest) => Ok((latest, PeriodSelection::Latest)),
            None => Ok((current, PeriodSelection::Current)),
        }
    }

    /// The query results of a period: from the cache while its inputs are unchanged, else queried.
    async fn lines_for(
        &self,
        period: BillingPeriod,
        selection: PeriodSelection,
    ) -> Result<(Arc<Lines>, RefreshResult), RefreshError> {
        let inputs = self.source.inspect(period).await?;
        self.metrics.observe_read(0, inputs.bytes_read);
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.get(&period).filter(|c| c.fingerprint == inputs.fingerprint).map(|c| c.lines.clone())
        };
        if let Some(lines) = cached {
            tracing::debug!(%period, fingerprint = %inputs.fingerprint, "export unchanged since the last refresh; not querying");
            return Ok((lines, RefreshResult::Unchanged));
        }
        let kiro = self.source.query(Query { aggregate: &KIRO_LINES, tag_keys: &[] }, period).await?;
        self.metrics.observe_read(kiro.rows_scanned, kiro.bytes_read);
        let bedrock = self.source.query(Query { aggregate: &BEDROCK_LINES, tag_keys: &self.tag_keys }, period).await?;
        // Both queries cover the same files: count the rows once, the bytes each query fetched.
        self.metrics.observe_read(0, bedrock.bytes_read);
        let parsed_kiro = parse_kiro_lines(&kiro.table).map_err(SourceError::from)?;
        let parsed_bedrock = parse_bedrock_lines(&bedrock.table, self.tag_keys.len()).map_err(SourceError::from)?;
        check_kiro_lines(&parsed_kiro).map_err(SourceError::from)?;
        check_bedrock_lines(&parsed_bedrock).map_err(SourceError::from)?;
        let mut lines = Lines {
            kiro: parsed_kiro,
            principal_column: !bedrock.absent_columns.contains(&IAM_PRINCIPAL),
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
        if !lines.bedrock.is_empty()
            && !lines.principal_column
            && !self.warned_principal.swap(true, std::sync::atomic::Ordering::Relaxed)
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

    /// Stops remote work a dropped refresh left behind (an Athena query), waiting for it to be sent.
    pub async fn cancel_running(&self) {
        self.source.cancel_running().await;
    }

    /// Runs one refresh and returns the new snapshot and how it was obtained.
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(Arc<Snapshot>, RefreshResult), RefreshError> {
        let (mut period, mut selection) = self.choose_period(now).await?;
        let (mut lines, mut result) = self.lines_for(period, selection).await?;
        if selection == PeriodSelection::Current && lines.is_empty() {
            // The new month has rows, but no Kiro or Bedrock rows yet: keep showing the last month.
            if let Some(latest) = self.source.periods().await?.into_iter().filter(|p| *p < period).max() {
                (period, selection) = (latest, PeriodSelection::Latest);
                (lines, result) = self.lines_for(period, selection).await?;
            }
        }

        let mut report = build_report(&lines.kiro, &self.plans, period);
        // The activity report corrects the bill; a report that cannot be read must not take the bill's
        // metrics down with it: the last good report rows are used (or none), the error is logged, counted
        // and shown by kiro_exporter_activity_report_up. `--once` fails instead, so a script notices.
        let mut activity_up = None;
        let activity_last_date = match &self.activity {
            None => None,
            Some(src) => {
                let rows = match src.read(period).await {
                    Ok((rows, changed)) => {
                        if changed && result == RefreshResult::Unchanged {
                            result = RefreshResult::Success;
                        }
                        activity_up = Some(true);
                        Some((rows, changed))
                    }
                    Err(e) if self.strict_activity => return Err(e.into()),
                    Err(e) => {
                        tracing::error!(error = %error_chain(&e), %period, "cannot read the activity report; using its last good rows, if any");
                        self.metrics.observe_error("activity_report", e.kind());
                        activity_up = Some(false);
                        src.last_good(period).await.map(|rows| (rows, false))
                    }
                };
                rows.map(|(rows, changed)| {
                    let activity = summarise(&rows, period, &self.plans);
                    if changed {
                        tracing::info!(
                            %period, rows = rows.len(), replaced = activity.replaced_rows,
                            licences = activity.licences.len(), "read the activity report"
                        );
                    }
                    apply(&mut report, &activity, &self.plans);
                    activity.last_date
                })
                .or(Some(Default::default()))
            }
        };
        let rightsizing = analyse(&report, period, now, &self.plans, self.idle);
        {
            let mut warned = self.warned_tiers.lock().unwrap_or_else(|e| e.into_inner());
            for tier in report.unknown_tiers.difference(&warned.clone()) {
                tracing::warn!(tier = %tier, "unknown Kiro tier in the bill; exported with its raw name and no plan credits (add it with --kiro.plan)");
                warned.insert(tier.clone());
            }
        }
        // Names and teams as known now; a directory that is down or stale never fails the refresh.
        let directory = self.identity.current();
        let labels = |id: &str| self.rules.labels(id, directory.as_deref());
        let rows = build_rows(&report, &rightsizing, labels, self.max_users);
        // Per person only: a sum over rolled-up users would read as "paying twice" where nobody does.
        let kept: BTreeSet<&str> =
            rows.rows.iter().filter(|r| !r.rolled_up).map(|r| r.licence.key.user_id.as_str()).collect();
        let duplicates = rightsizing
            .duplicates
            .iter()
            .filter(|(id, _)| kept.contains(id.as_str()))
            .map(|(id, n)| (id.clone(), labels(id), *n))
            .collect();
        let names = directory.as_deref().map(Directory::name_index).unwrap_or_default();
        let link = |name: &str| names.get(&name.trim().to_lowercase()).map(|id| labels(id));
        let team_tag = self.bedrock.tag_labels.iter().position(|t| t.label == "team");
        let bedrock = bedrock::build_rows(
            bedrock::aggregate(&lines.bedrock, self.bedrock.session_names, |name| {
                names.contains_key(&name.trim().to_lowercase())
            }),
            link,
            team_tag,
            self.max_users,
        );
        let unresolved = (self.identity.is_configured()).then(|| {
            let ids: BTreeSet<&str> = report.licences.iter().map(|l| l.key.user_id.as_str()).collect();
            ids.into_iter().filter(|id| directory.as_deref().is_none_or(|d| d.get(id).is_none())).count()
        });
        let snapshot = Snapshot {
            period: Some(period),
            selection: Some(selection),
            kiro: report,
            rows,
            duplicates,
            unresolved_users: unresolved,
            bedrock,
            bedrock_tag_labels: self.bedrock.tag_labels.iter().map(|t| t.label).collect(),
            bedrock_principal_data: lines.principal_column,
            activity_last_date,
            activity_up,
            ..Snapshot::default()
        };
        let series: usize = crate::metrics::snapshot_families(&snapshot).iter().map(|f| f.samples.len()).sum();
        if series > self.max_series {
            return Err(RefreshError::TooManySeries { series, max: self.max_series });
        }
        Ok((Arc::new(snapshot), result))
    }
}
