//! The exporter's own metrics (`kiro_exporter_*`): refreshes by result, errors by source and kind, the
//! refresh duration histogram, freshness and what the queries read. Updated by the refresh loop, rendered
//! live on every scrape.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exposition::{Families, Family, Kind, Sample, format_bound};

/// Refresh duration histogram bounds, seconds.
const DURATION_BOUNDS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// How a refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RefreshResult {
    Success,
    /// Succeeded without querying: the export's inputs had not changed since the last success.
    Unchanged,
    Failure,
}

impl RefreshResult {
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Unchanged => "unchanged",
            Self::Failure => "failure",
        }
    }
}

/// A cumulative histogram with fixed bounds (Prometheus' classic histogram).
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// Observations at or below each bound (cumulative, as exposed).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, v: f64) {
        for (n, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.counts[n] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    /// The `_bucket`, `_sum` and `_count` samples.
    fn samples(&self) -> Vec<Sample> {
        let mut out: Vec<Sample> = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(b, n)| Sample { suffix: "_bucket", labels: vec![("le".into(), format_bound(*b))], value: *n as f64 })
            .collect();
        out.push(Sample {
            suffix: "_bucket",
            labels: vec![("le".into(), "+Inf".to_owned())],
            value: self.count as f64,
        });
        out.push(Sample { suffix: "_sum", labels: vec![], value: self.sum });
        out.push(Sample { suffix: "_count", labels: vec![], value: self.count as f64 });
        out
    }
}

#[derive(Debug)]
struct Inner {
    refreshes: BTreeMap<RefreshResult, u64>,
    /// Per billing period (`YYYY-MM`) and result.
    period_refreshes: BTreeMap<(String, RefreshResult), u64>,
    errors: BTreeMap<(&'static str, &'static str), u64>,
    duration: Histogram,
    last_success: Option<SystemTime>,
    last_ok: Option<bool>,
    rows_read: u64,
    bytes_read: u64,
    spilled_bytes: u64,
}

/// The exporter's own metrics (`kiro_exporter_*`).
#[derive(Debug)]
pub struct SelfMetrics {
    inner: Mutex<Inner>,
    version: &'static str,
}

impl Default for SelfMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl SelfMetrics {
    pub fn new() -> Self {
        let mut inner = Inner {
            refreshes: BTreeMap::new(),
            period_refreshes: BTreeMap::new(),
            errors: BTreeMap::new(),
            duration: Histogram::new(DURATION_BOUNDS),
            last_success: None,
            last_ok: None,
            rows_read: 0,
            bytes_read: 0,
            spilled_bytes: 0,
        };
        for r in [RefreshResult::Success, RefreshResult::Unchanged, RefreshResult::Failure] {
            inner.refreshes.insert(r, 0);
        }
        Self { inner: Mutex::new(inner), version: env!("CARGO_PKG_VERSION") }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// Records a finished refresh.
    pub fn observe_refresh(&self, result: RefreshResult, took: Duration, at: SystemTime) {
        self.with(|i| {
            *i.refreshes.entry(result).or_default() += 1;
            i.duration.observe(took.as_secs_f64());
            i.last_ok = Some(result != RefreshResult::Failure);
            if result != RefreshResult::Failure {
                i.last_success = Some(at);
            }
        });
    }

    /// Records how one served period was refreshed (queried, unchanged, or failed); its three counters
    /// appear together at the first one, so `increase()` sees the first failure.
    pub fn observe_period(&self, period: &str, result: RefreshResult) {
        self.with(|i| {
            for r in [RefreshResult::Success, RefreshResult::Unchanged, RefreshResult::Failure] {
                i.period_refreshes.entry((period.to_owned(), r)).or_insert(0);
            }
            *i.period_refreshes.entry((period.to_owned(), result)).or_default() += 1;
        });
    }

    /// Makes the error counters of `kinds` exist at 0 (a configured source's), so `increase()` sees the
    /// first error and a fresh install shows 0 rather than no data.
    pub fn expect_errors(&self, kinds: impl IntoIterator<Item = (&'static str, &'static str)>) {
        self.with(|i| {
            for k in kinds {
                i.errors.entry(k).or_insert(0);
            }
        });
    }

    /// Counts an error of a refresh by source and kind.
    pub fn observe_error(&self, source: &'static str, kind: &'static str) {
        self.with(|i| *i.errors.entry((source, kind)).or_default() += 1);
    }

    /// Adds what a query read.
    pub fn observe_read(&self, rows: u64, bytes: u64) {
        self.with(|i| {
            i.rows_read += rows;
            i.bytes_read += bytes;
        });
    }

    /// Adds what a query spilled to temporary files.
    pub fn observe_spill(&self, bytes: u64) {
        self.with(|i| i.spilled_bytes += bytes);
    }

    /// Time of the last successful refresh.
    pub fn last_success(&self) -> Option<SystemTime> {
        self.with(|i| i.last_success)
    }
}

impl Families for SelfMetrics {
    /// The self-metric families, as of `now`.
    fn families(&self, now: SystemTime) -> Vec<Family> {
        self.with(|i| {
            let mut build = Family::new(
                "kiro_exporter_build",
                Kind::Info,
                "Version of kiro-exporter, the git revision it was built from, and the Rust compiler.",
            );
            build.push(
                vec![
                    ("version", self.version.to_owned()),
                    ("revision", env!("KIRO_EXPORTER_REVISION").to_owned()),
                    ("rustversion", env!("KIRO_EXPORTER_RUSTVERSION").to_owned()),
                ],
                1.0,
            );
            let mut refreshes = Family::new("kiro_exporter_refreshes", Kind::Counter, "Refreshes of the billing data, by result (success, unchanged: inputs had not changed so no query ran, failure).");
            for (r, n) in &i.refreshes {
                refreshes.push(vec![("result", r.label().to_owned())], *n as f64);
            }
            let mut periods = Family::new("kiro_exporter_period_refreshes", Kind::Counter, "Refreshes of each served billing period, by result (success: queried; unchanged: its delivery had not changed, so no query and no data read; failure).");
            for ((p, r), n) in &i.period_refreshes {
                periods.push(vec![("billing_period", p.clone()), ("result", r.label().to_owned())], *n as f64);
            }
            let mut errors = Family::new("kiro_exporter_refresh_errors", Kind::Counter, "Errors of refreshes, by source and kind.");
            for ((source, kind), n) in &i.errors {
                errors.push(vec![("source", (*source).to_owned()), ("kind", (*kind).to_owned())], *n as f64);
            }
            let mut duration = Family::new("kiro_exporter_refresh_duration_seconds", Kind::Histogram, "Duration of refreshes, successful or not.");
            duration.samples = i.duration.samples();
            let mut last_success = Family::new("kiro_exporter_last_success_timestamp_seconds", Kind::Gauge, "Time of the last successful refresh (Unix seconds).");
            let mut age = Family::new("kiro_exporter_snapshot_age_seconds", Kind::Gauge, "Seconds since the served data was last refreshed successfully.");
            if let Some(t) = i.last_success {
                last_success.push(vec![], unix(t));
                age.push(vec![], now.duration_since(t).map_or(0.0, |d| d.as_secs_f64()));
            }
            let mut last_ok = Family::new("kiro_exporter_last_refresh_success", Kind::Gauge, "1 if the last refresh succeeded, 0 if it failed and an older snapshot is being served.");
            if let Some(ok) = i.last_ok {
                last_ok.push(vec![], if ok { 1.0 } else { 0.0 });
            }
            let mut rows = Family::new("kiro_exporter_rows_read", Kind::Counter, "CUR rows in the files covered by the queries run.");
            rows.push(vec![], i.rows_read as f64);
            let mut bytes = Family::new("kiro_exporter_bytes_read", Kind::Counter, "Bytes fetched from the export (local files or S3): manifests, Parquet footers and the column chunks the queries need.");
            bytes.push(vec![], i.bytes_read as f64);
            let mut spilled = Family::new("kiro_exporter_query_spilled_bytes", Kind::Counter, "Bytes of aggregation state the embedded engine wrote to temporary files because a pass needed more than --query.memory-limit.");
            spilled.push(vec![], i.spilled_bytes as f64);
            vec![build, refreshes, periods, errors, duration, last_success, age, last_ok, rows, bytes, spilled]
        })
    }
}
