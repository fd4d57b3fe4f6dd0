//! One refresh: pick the billing periods to serve (`--billing-periods`, or the pinned one), look at each
//! one's inputs, query the periods whose delivery changed (all in one go, so Athena runs one query), read
//! the activity report, and hand everything to the pure assembly ([`crate::snapshot::assemble`]), once
//! per period.
//!
//! This module does the I/O only. The expensive part (the aggregate query) is skipped for a period whose
//! inputs have the same fingerprint as when it was last queried: its rows are cached, and a closed,
//! unchanged month costs a listing and nothing else. The cheap part (identity, model) runs every time, so
//! a changed users file shows up without re-reading the bill.

use std::collections::{BTreeMap, BTreeSet};
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
use crate::model::{BillingPeriod, KiroReport, PlanCatalog, ReportBuilder};
use crate::snapshot::{ActivityInput, Inputs, PeriodSelection, Rules, Snapshot, Snapshots, assemble};
use crate::sources::activity::ActivityError;
use crate::sources::{ActivityReports, CurSource, Inspected, PeriodInputs, ResultSink, SourceError};
use crate::sql::{
    BEDROCK_LINES, IAM_PRINCIPAL, IAM_PRINCIPAL_FIX, KIRO_LINES, NET_UNBLENDED_COST, Query, ResultRows,
    check_bedrock_lines, check_kiro_lines, parse_bedrock_lines_at, parse_kiro_lines_at,
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
    /// Found while the bill was read: its licences alone are more series than allowed.
    #[error(
        "billing period {period} has {licences} or more licences, at least {series} series, more than --metrics.max-series {max} (refused while the bill was read): export fewer users with --metrics.max-users, or raise the limit"
    )]
    TooManyLicences { period: BillingPeriod, licences: usize, series: usize, max: usize },
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
            Self::Timeout(_) | Self::TooManySeries { .. } | Self::TooManyLicences { .. } | Self::Panic(_) => "refresh",
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
            Self::TooManySeries { .. } | Self::TooManyLicences { .. } => "too_many_series",
        }
    }
}

/// The query results of one period, as kept between refreshes: the Kiro lines built into the period's
/// licences (what the model needs of them, far smaller than the lines), the Bedrock lines as read.
#[derive(Debug, Default)]
struct Lines {
    kiro: Arc<KiroReport>,
    /// Kiro lines the query returned.
    kiro_lines: usize,
    bedrock: Vec<BedrockLine>,
    /// Whether the export has `line_item_iam_principal`.
    principal_column: bool,
    /// Whether the export has `line_item_net_unblended_cost`.
    net_column: bool,
}

impl Lines {
    fn is_empty(&self) -> bool {
        self.kiro_lines == 0 && self.bedrock.is_empty()
    }
}

/// One period's query results as they arrive, a chunk at a time ([`ResultSink`]), folded into what the
/// cache keeps: the Kiro rows checked, put on the cost basis and built into the period's licences at once
/// (a bill of many users never holds all its lines parsed), the Bedrock rows as read. The first error, in
/// the order the chunks come (each chunk parsed, then checked), is kept and ends the reading; a foreign
/// currency is reported only when nothing else failed.
struct Reading<'a> {
    basis: crate::model::cost::CostBasis,
    tag_count: usize,
    kiro: ReportBuilder<'a>,
    /// Kiro rows taken so far.
    kiro_lines: usize,
    bedrock: Vec<BedrockLine>,
    /// The first currency other than USD on any row.
    currency: Option<String>,
    /// `--metrics.max-series` when every user is exported one by one (no `--metrics.max-users`): a bill
    /// with more licences than its series allow is refused while it is read, not once its whole model is
    /// built and rendered (2.3 GiB, then 3.2 GB, on a bill of 500,000 users).
    max_series: Option<usize>,
    period: BillingPeriod,
    error: Option<RefreshError>,
}

impl Reading<'_> {
    /// `query`: 0 for `kiro_lines`, 1 for `bedrock_lines` (the order [`Refresher::read_window`] asks in).
    fn take(&mut self, query: usize, rows: &dyn ResultRows) -> Result<(), RefreshError> {
        if query == 0 {
            let mut lines = parse_kiro_lines_at(rows, self.kiro_lines).map_err(SourceError::from)?;
            self.kiro_lines += lines.len();
            check_kiro_lines(&lines).map_err(SourceError::from)?;
            if self.currency.is_none() {
                self.currency = foreign_currency(&lines, &[]);
            }
            on_basis(&mut lines, &mut [], self.basis);
            lines.iter().for_each(|l| self.kiro.add(l));
            let licences = self.kiro.licences();
            let series = licences.saturating_mul(crate::metrics::bill::SERIES_PER_ROW);
            if let Some(max) = self.max_series
                && series > max
            {
                return Err(RefreshError::TooManyLicences { period: self.period, licences, series, max });
            }
        } else {
            let mut lines =
                parse_bedrock_lines_at(rows, self.tag_count, self.bedrock.len()).map_err(SourceError::from)?;
            check_bedrock_lines(&lines).map_err(SourceError::from)?;
            if self.currency.is_none() {
                self.currency = foreign_currency(&[], &lines);
            }
            on_basis(&mut [], &mut lines, self.basis);
            self.bedrock.append(&mut lines);
        }
        Ok(())
    }
}

impl ResultSink for Reading<'_> {
    fn rows(&mut self, query: usize, rows: &dyn ResultRows) -> bool {
        if self.error.is_none()
            && let Err(e) = self.take(query, rows)
        {
            self.error = Some(e);
        }
        self.error.is_none()
    }
}

#[derive(Debug)]
struct Cached {
    fingerprint: String,
    lines: Arc<Lines>,
}

/// A period's activity report rows (`None`: none yet), whether they changed, and whether the read worked.
type ActivityRead = (Option<Arc<Vec<ActivityRow>>>, bool, bool);

/// How a period was read this time: its lines and whether they were queried or unchanged, or the error.
type Outcome = Result<(Arc<Lines>, RefreshResult), RefreshError>;

/// What a published snapshot was assembled from, held (so no pointer is reused) and compared by identity:
/// the same inputs in the same calendar month give the same snapshot, which is then not built again.
struct Assembly {
    current: BillingPeriod,
    directory: Option<Arc<crate::identity::Directory>>,
    periods: Vec<(BillingPeriod, PeriodSelection, Arc<Lines>, ActivityKey)>,
}

/// A period's activity report rows and whether they were read this time (`None`: no report configured).
type ActivityKey = Option<(Option<Arc<Vec<ActivityRow>>>, bool)>;

impl Assembly {
    fn same(&self, other: &Self) -> bool {
        let same_arc = |a: &Option<Arc<Vec<ActivityRow>>>, b: &Option<Arc<Vec<ActivityRow>>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        self.current == other.current
            && match (&self.directory, &other.directory) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
            && self.periods.len() == other.periods.len()
            && self.periods.iter().zip(&other.periods).all(|(a, b)| {
                a.0 == b.0
                    && a.1 == b.1
                    && Arc::ptr_eq(&a.2, &b.2)
                    && match (&a.3, &b.3) {
                        (Some((ra, ua)), Some((rb, ub))) => ua == ub && same_arc(ra, rb),
                        (None, None) => true,
                        _ => false,
                    }
            })
    }
}

/// A period's lines and how this refresh obtained them (queried, or unchanged from the cache).
type Looked = (BillingPeriod, Arc<Lines>, RefreshResult);

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
    /// `--billing-periods`.
    periods: usize,
    metrics: Arc<SelfMetrics>,
    /// Per period: the lines of its last queried delivery.
    cache: Mutex<BTreeMap<BillingPeriod, Cached>>,
    warned_tiers: Mutex<BTreeSet<String>>,
    warned_principal: AtomicBool,
    warned_no_periods: AtomicBool,
    /// The last snapshot built and what it was built from.
    last: Mutex<Option<(Assembly, Arc<Exposition>)>>,
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
            periods: config.billing_periods.max(1),
            metrics,
            cache: Mutex::new(BTreeMap::new()),
            warned_tiers: Mutex::new(BTreeSet::new()),
            warned_principal: AtomicBool::new(false),
            warned_no_periods: AtomicBool::new(false),
            last: Mutex::new(None),
        }
    }

    /// The periods to look at, newest first: the pinned one, or the `--billing-periods` most recent ones
    /// up to the current month, plus one more while the current month may have no data yet (it is served
    /// only once it has some; until then the month before it is the latest).
    async fn candidates(&self, current: BillingPeriod) -> Result<Vec<BillingPeriod>, SourceError> {
        let have = self.source.periods().await?;
        if let Some(p) = self.pinned {
            // A pinned period always works where the engine cannot list periods (an Athena table with
            // partition projection); where it can, a period it does not have is an error naming those it has.
            if !have.is_empty() && !have.contains(&p) {
                let have: Vec<String> = have.iter().map(ToString::to_string).collect();
                return Err(SourceError::NoData(format!(
                    "the export has no billing period {p} (it has {})",
                    have.join(", ")
                )));
            }
            return Ok(vec![p]);
        }
        let mut periods: Vec<BillingPeriod> = if have.is_empty() {
            // The engine cannot list them (an Athena table with partition projection, or another catalog):
            // the months ending with the current one.
            if !self.warned_no_periods.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "the Athena table lists no partitions in Glue: serving the months up to the current one by the clock; pass --athena.export-path to list the export's months (and not query unchanged ones)"
                );
            }
            std::iter::successors(Some(current), |p| Some(p.previous())).take(self.periods + 1).collect()
        } else {
            have.iter().copied().filter(|p| *p <= current).rev().collect()
        };
        if periods.is_empty() {
            // Only months after this one (a clock behind the bill's): the current month, empty.
            return Ok(vec![current]);
        }
        let current_may_be_empty = periods.first() == Some(&current) && {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.get(&current).is_none_or(|c| c.lines.is_empty())
        };
        periods.truncate(self.periods + usize::from(current_may_be_empty));
        Ok(periods)
    }

    /// The lines of the periods to serve, newest first, until `wanted` are served: each from the cache
    /// while its delivery is unchanged, else queried, [`CurSource::batch_periods`] at a time (Athena: all
    /// changed months in one query) and cached as soon as read. A month that fails is counted and logged;
    /// the newest one (or any, with `--once`) fails the refresh, an older one is served from its last good
    /// delivery if it has one (else left out), so one bad month does not hold back the others.
    async fn lines_of(
        &self,
        periods: &[BillingPeriod],
        wanted: usize,
        current: BillingPeriod,
    ) -> Result<Vec<Looked>, RefreshError> {
        let skip_empty_current = self.pinned.is_none() && periods.len() > 1;
        let mut looked: Vec<Looked> = Vec::new();
        let mut served = 0;
        let batch = self.source.batch_periods().max(1);
        for (w, window) in periods.chunks(batch).enumerate() {
            if served >= wanted {
                break;
            }
            let outcomes = self.read_window(window).await;
            for (k, (period, outcome)) in window.iter().zip(outcomes).enumerate() {
                if served >= wanted {
                    break;
                }
                let (lines, result) = match outcome {
                    Ok(found) => found,
                    Err(e) => {
                        self.metrics.observe_period(&period.to_string(), RefreshResult::Failure);
                        // Too many series is the whole refresh's limit, not the month's fault: it fails
                        // the refresh as the count of the rendered months does.
                        if (w == 0 && k == 0)
                            || self.strict_activity
                            || matches!(e, RefreshError::TooManyLicences { .. })
                        {
                            return Err(e);
                        }
                        self.metrics.observe_error(e.source_label(), e.kind());
                        let last = {
                            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                            cache.get(period).map(|c| c.lines.clone())
                        };
                        let error = crate::error::chain(&e);
                        match last {
                            Some(lines) => {
                                tracing::error!(%period, %error, "cannot refresh the billing period; serving its last good data");
                                (lines, RefreshResult::Failure)
                            }
                            None => {
                                tracing::error!(%period, %error, "cannot read the billing period; it is not served until it can be");
                                continue;
                            }
                        }
                    }
                };
                if result != RefreshResult::Failure {
                    self.metrics.observe_period(&period.to_string(), result);
                }
                if !(skip_empty_current && *period == current && lines.is_empty()) {
                    served += 1;
                }
                looked.push((*period, lines, result));
            }
        }
        // Only the periods looked at stay cached: memory follows --billing-periods.
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).retain(|p, _| periods.contains(p));
        Ok(looked)
    }

    /// Inspects each period of `window` and queries the changed ones together (one by one again if that
    /// fails, so the error is the failing month's); caches what was read. One outcome per period, in order.
    async fn read_window(&self, window: &[BillingPeriod]) -> Vec<Outcome> {
        let mut out: Vec<Option<Outcome>> = window.iter().map(|_| None).collect();
        let mut changed: Vec<(usize, PeriodInputs)> = Vec::new();
        for (i, &period) in window.iter().enumerate() {
            let cached = {
                let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                cache.get(&period).map(|c| (c.fingerprint.clone(), c.lines.clone()))
            };
            match self.source.inspect(period, cached.as_ref().map(|(f, _)| f.as_str())).await {
                Ok(Inspected::Unchanged { bytes_read }) => {
                    self.metrics.observe_read(0, bytes_read);
                    out[i] = Some(match cached {
                        Some((fingerprint, lines)) => {
                            tracing::debug!(%period, %fingerprint, "delivery unchanged since it was queried; not querying");
                            Ok((lines, RefreshResult::Unchanged))
                        }
                        None => Err(SourceError::Config(format!("{period}: unchanged but never queried")).into()),
                    });
                }
                Ok(Inspected::Changed(inputs)) => {
                    self.metrics.observe_read(0, inputs.bytes_read);
                    changed.push((i, inputs));
                }
                Err(e) => out[i] = Some(Err(e.into())),
            }
        }
        if !changed.is_empty() {
            let queries = [
                Query { aggregate: &KIRO_LINES, tag_keys: &[] },
                Query { aggregate: &BEDROCK_LINES, tag_keys: &self.tag_keys },
            ];
            let inputs: Vec<&PeriodInputs> = changed.iter().map(|(_, i)| i).collect();
            let mut readings: Vec<Reading<'_>> = inputs.iter().map(|i| self.reading(i.period)).collect();
            let answered = {
                let mut sinks: Vec<&mut dyn ResultSink> =
                    readings.iter_mut().map(|r| r as &mut dyn ResultSink).collect();
                self.source.query_periods(&inputs, &queries, &mut sinks).await
            };
            let answered: Vec<(Reading<'_>, Result<_, SourceError>)> = match answered {
                Ok(o) if o.len() == inputs.len() => readings.into_iter().zip(o.into_iter().map(Ok)).collect(),
                Ok(_) => readings
                    .into_iter()
                    .map(|r| (r, Err(SourceError::Config("the source did not answer every period".into()))))
                    .collect(),
                Err(e) if inputs.len() < 2 => {
                    readings.into_iter().next().map(|r| vec![(r, Err(e))]).unwrap_or_default()
                }
                Err(e) => {
                    tracing::warn!(error = %crate::error::chain(&e), "the query of several billing periods failed; querying them one by one");
                    drop(readings);
                    let mut each = Vec::with_capacity(inputs.len());
                    for i in &inputs {
                        let mut reading = self.reading(i.period);
                        let answer = self.source.query(i, &queries, &mut reading).await;
                        each.push((reading, answer));
                    }
                    each
                }
            };
            for ((i, inputs), (reading, answer)) in changed.iter().zip(answered) {
                out[*i] = Some(answer.map_err(RefreshError::from).and_then(|outputs| {
                    let lines = self.finish(reading, inputs, outputs)?;
                    let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                    cache.insert(
                        inputs.period,
                        Cached { fingerprint: inputs.fingerprint.clone(), lines: lines.clone() },
                    );
                    Ok((lines, RefreshResult::Success))
                }));
            }
        }
        // The pass's buffers are dropped: give their pages back before the next month's.
        crate::memory::release_freed();
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(SourceError::Config("a billing period was not looked at".into()).into())))
            .collect()
    }

    /// An empty [`Reading`] of `period`'s query results.
    fn reading(&self, period: BillingPeriod) -> Reading<'_> {
        Reading {
            basis: self.cost.basis,
            tag_count: self.tag_keys.len(),
            kiro: ReportBuilder::new(&self.plans, period),
            kiro_lines: 0,
            bedrock: Vec::new(),
            currency: None,
            max_series: self.max_users.is_none().then_some(self.max_series),
            period,
            error: None,
        }
    }

    /// A period's lines from its reading, once the query is done.
    fn finish(
        &self,
        reading: Reading<'_>,
        inputs: &PeriodInputs,
        outputs: Vec<crate::sources::QueryOutput>,
    ) -> Result<Arc<Lines>, RefreshError> {
        let period = inputs.period;
        let [kiro, bedrock]: [_; 2] =
            outputs.try_into().map_err(|_| SourceError::Config("the source did not answer every query".into()))?;
        // Both queries cover the same files: count the rows once, the bytes each query fetched.
        self.metrics.observe_read(kiro.rows_scanned, kiro.bytes_read);
        self.metrics.observe_read(0, bedrock.bytes_read);
        self.metrics.observe_spill(kiro.spilled_bytes + bedrock.spilled_bytes);
        let Reading { kiro: report, kiro_lines, bedrock: parsed_bedrock, currency, error, .. } = reading;
        if let Some(e) = error {
            return Err(e);
        }
        if let Some(currency) = currency {
            return Err(RefreshError::Currency { period, currency });
        }
        let report = report.finish();
        let mut parsed_bedrock = parsed_bedrock;
        parsed_bedrock.shrink_to_fit();
        let mut lines = Lines {
            kiro_lines,
            kiro: Arc::new(report),
            principal_column: !bedrock.absent_columns.contains(&IAM_PRINCIPAL),
            net_column: !kiro.absent_columns.contains(&NET_UNBLENDED_COST),
            bedrock: parsed_bedrock,
        };
        // A table may declare the column (Athena DDL) while the files lack it: then no row has a principal.
        lines.principal_column &= lines.bedrock.is_empty()
            || lines.bedrock.iter().any(|l| l.principal.as_deref().is_some_and(|p| !p.trim().is_empty()));
        tracing::info!(
            %period, engine = self.source.engine(), manifest = inputs.from_manifest,
            rows_scanned = kiro.rows_scanned, bytes_read = kiro.bytes_read + bedrock.bytes_read,
            kiro_groups = lines.kiro_lines, bedrock_groups = lines.bedrock.len(),
            "queried the export"
        );
        if !lines.bedrock.is_empty() && !lines.principal_column && !self.warned_principal.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                %period,
                "the export has no {IAM_PRINCIPAL} column: Bedrock cost is exported per account and model only (principal=\"\"); to fix: {IAM_PRINCIPAL_FIX}"
            );
        }
        Ok(Arc::new(lines))
    }

    /// The activity report's rows for a period and whether they were read now. A report that cannot be
    /// read must not take the bill's metrics down with it: the last good rows are used (or none), the
    /// error is logged, counted and shown by kiro_exporter_activity_report_up. `--once` fails instead, so
    /// a script notices.
    async fn activity_rows(
        &self,
        src: &dyn ActivityReports,
        period: BillingPeriod,
    ) -> Result<ActivityRead, RefreshError> {
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

    /// Runs one refresh and returns the new snapshot's exposition and how it was obtained (`success` when
    /// anything was read anew, `unchanged` when every period came from the cache).
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(Arc<Exposition>, RefreshResult), RefreshError> {
        let current = BillingPeriod::containing(now);
        let candidates = self.candidates(current).await?;
        let wanted = if self.pinned.is_some() { 1 } else { self.periods };
        let looked = self.lines_of(&candidates, wanted, current).await?;
        let mut result = if looked.iter().any(|(_, _, r)| *r == RefreshResult::Success) {
            RefreshResult::Success
        } else {
            RefreshResult::Unchanged
        };
        let several = candidates.len() > 1;
        let served: Vec<&Looked> = looked
            .iter()
            // The current month without Kiro or Bedrock rows yet: the month before it is the latest.
            .filter(|(p, lines, _)| !(self.pinned.is_none() && several && *p == current && lines.is_empty()))
            .take(wanted)
            .collect();
        let newest_is_current = served.first().is_some_and(|(p, _, _)| *p == current);
        let directory = self.identity.current();
        let mut inputs = Assembly { current, directory: directory.clone(), periods: Vec::with_capacity(served.len()) };
        let mut activities = Vec::with_capacity(served.len());
        for (rank, (period, lines, _)) in served.into_iter().enumerate() {
            let selection = match self.pinned {
                Some(_) => PeriodSelection::Pinned,
                None => PeriodSelection::of_rank(rank, newest_is_current),
            };
            let mut activity = None;
            if let Some(src) = &self.activity {
                let (rows, changed, up) = self.activity_rows(src.as_ref(), *period).await?;
                if changed {
                    result = RefreshResult::Success;
                }
                activity = Some((rows, changed, up));
            }
            inputs.periods.push((
                *period,
                selection,
                lines.clone(),
                activity.as_ref().map(|(r, _, up)| (r.clone(), *up)),
            ));
            activities.push(activity);
        }
        if let Some(src) = &self.activity {
            let served: Vec<BillingPeriod> = inputs.periods.iter().map(|p| p.0).collect();
            src.keep_only(&served).await;
        }
        // Nothing changed (the usual hourly refresh of a closed month, or of a month between deliveries):
        // the published snapshot is the one these inputs give.
        {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((before, published)) = last.as_ref()
                && before.same(&inputs)
            {
                return Ok((published.clone(), result));
            }
        }
        let snapshots: Vec<Snapshot> = inputs
            .periods
            .iter()
            .zip(&activities)
            .map(|((period, selection, lines, _), activity)| {
                self.assemble(*period, *selection, now, lines, activity.as_ref(), directory.as_deref())
            })
            .collect();
        drop(activities);
        let exposition = Exposition::new(Arc::new(Snapshots { periods: snapshots }), self.max_series)
            .map_err(|e| RefreshError::TooManySeries { series: e.series, max: self.max_series });
        crate::memory::release_freed();
        let exposition = Arc::new(exposition?);
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((inputs, exposition.clone()));
        Ok((exposition, result))
    }

    /// One period's snapshot from its lines, the activity report's rows and the directory.
    fn assemble(
        &self,
        period: BillingPeriod,
        selection: PeriodSelection,
        now: DateTime<Utc>,
        lines: &Lines,
        activity: Option<&ActivityRead>,
        directory: Option<&crate::identity::Directory>,
    ) -> Snapshot {
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
                    .map(|(rows, _, up)| ActivityInput { rows: rows.as_deref().map(Vec::as_slice), up: *up }),
                directory,
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
        if let (Some(a), Some((_, true, _))) = (assembled.activity, activity) {
            tracing::info!(
                %period, rows = a.rows, replaced = a.replaced_rows, licences = a.licences, "read the activity report"
            );
        }
        let mut warned = self.warned_tiers.lock().unwrap_or_else(|e| e.into_inner());
        for tier in assembled.snapshot.kiro.unknown_tiers.difference(&warned.clone()) {
            tracing::warn!(tier = %tier, "unknown Kiro tier in the bill; exported with its raw name and no plan credits (add it with --kiro.plan)");
            warned.insert(tier.clone());
        }
        assembled.snapshot
    }
}
