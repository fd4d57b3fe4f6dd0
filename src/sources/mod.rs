//! Where the bill comes from: a CUR 2.0 Data Export behind the [`CurSource`] trait.
//!
//! The embedded engine ([`embedded`]) reads the export's Parquet files (a local copy or `s3://`) with
//! DataFusion. Every source answers the same three questions: which billing periods exist, what the inputs
//! of a period look like right now ([`CurSource::inspect`]: the delivery, with a fingerprint so an unchanged
//! one is not queried again), and the results of the aggregates' SQL over exactly that delivery
//! ([`CurSource::query`] consumes what `inspect` returned; no state is kept between the two).

pub mod activity;
pub mod athena;
pub mod embedded;
pub mod export;
pub mod kiro_cli;
pub mod store;

use std::sync::Arc;

use async_trait::async_trait;

use crate::model::BillingPeriod;
use crate::model::activity::ActivityRow;
use crate::sql::{Aggregate, Query, ResultRows};
use activity::ActivityError;

/// What a source found out about a period's inputs before querying them: the delivery that
/// [`CurSource::query`] then reads.
#[derive(Debug, Clone)]
pub struct PeriodInputs {
    pub period: BillingPeriod,
    /// Changes whenever the delivery changes (manifest, or the listed files when there is none).
    pub fingerprint: String,
    /// Whether the file set came from the export's manifest (else from listing the partition).
    pub from_manifest: bool,
    /// Rows in the period's files, from the Parquet footers.
    pub rows: u64,
    /// Bytes fetched to find out (manifest, footers not yet cached).
    pub bytes_read: u64,
    /// The files of the delivery, with their footers, when the engine reads them itself (embedded).
    pub delivery: Option<Arc<export::Delivery>>,
}

/// What [`CurSource::inspect`] found.
#[derive(Debug, Clone)]
pub enum Inspected {
    /// The delivery still has the fingerprint it was last queried with: nothing more was read.
    Unchanged {
        /// Bytes fetched to find out (the manifest).
        bytes_read: u64,
    },
    /// A new (or never queried) delivery, to be queried.
    Changed(PeriodInputs),
}

/// What one aggregate cost to compute (its rows went to the [`ResultSink`]).
#[derive(Debug, Clone, Default)]
pub struct QueryOutput {
    /// Rows in the files the query covered.
    pub rows_scanned: u64,
    /// Bytes fetched from the store (local or S3) while answering.
    pub bytes_read: u64,
    /// Optional columns the export lacks, read as NULL.
    pub absent_columns: Vec<&'static str>,
    /// Bytes of aggregation state the embedded engine wrote to temporary files, beyond
    /// `--query.memory-limit` (0 on Athena).
    pub spilled_bytes: u64,
}

/// Where a query's result rows go, a chunk at a time (a record batch of the embedded engine, read typed;
/// Athena's whole result of the period, as text), in order: on the embedded engine a bill of many users is
/// never held whole while the consumer folds it into what it keeps.
pub trait ResultSink: Send {
    /// The next rows of the result of `queries[query]`. `false`: the sink refused them (it keeps its own
    /// error) and wants no more; the source may stop early.
    fn rows(&mut self, query: usize, rows: &dyn ResultRows) -> bool;
}

/// Takes rows and keeps nothing (a pass run again only to find the file with a bad value).
pub struct Discard;

impl ResultSink for Discard {
    fn rows(&mut self, _query: usize, _rows: &dyn ResultRows) -> bool {
        true
    }
}

/// A billing data source.
#[async_trait]
pub trait CurSource: Send + Sync {
    /// Short engine name for logs and metrics (`embedded`, `athena`).
    fn engine(&self) -> &'static str;

    /// Billing periods present in the export, oldest first.
    async fn periods(&self) -> Result<Vec<BillingPeriod>, SourceError>;

    /// Looks at a period's inputs without reading its data. `known`: the fingerprint of the inputs last
    /// queried; when the delivery still has it, [`Inspected::Unchanged`] (nothing more is read, no footer).
    async fn inspect(&self, period: BillingPeriod, known: Option<&str>) -> Result<Inspected, SourceError>;

    /// How many periods [`CurSource::query_periods`] should get at once: all changed ones where the engine
    /// bills per query (Athena, bounded by its query length), one where each period is a pass of its own
    /// anyway (embedded: then each month is cached as soon as it is read).
    fn batch_periods(&self) -> usize {
        1
    }

    /// Runs aggregates over the delivery `inputs` describes, handing their result rows to `sink`; one
    /// output per query, in order. On error the sink may have had part of the rows: drop it.
    async fn query(
        &self,
        inputs: &PeriodInputs,
        queries: &[Query<'_>],
        sink: &mut dyn ResultSink,
    ) -> Result<Vec<QueryOutput>, SourceError>;

    /// Runs the aggregates over several periods' deliveries, period `i`'s rows to `sinks[i]`: one list of
    /// outputs per period, in order. An engine that bills per query (Athena) answers them all in one; by
    /// default, one pass per period.
    async fn query_periods(
        &self,
        inputs: &[&PeriodInputs],
        queries: &[Query<'_>],
        sinks: &mut [&mut dyn ResultSink],
    ) -> Result<Vec<Vec<QueryOutput>>, SourceError> {
        let mut out = Vec::with_capacity(inputs.len());
        for (i, sink) in inputs.iter().zip(sinks.iter_mut()) {
            out.push(self.query(i, queries, &mut **sink).await?);
        }
        Ok(out)
    }

    /// Cancels work still running remotely after a query future was dropped (refresh timeout, shutdown),
    /// and waits for the cancellation to be sent. Nothing to do for the embedded engine.
    async fn cancel_running(&self) {}
}

/// Kiro's user activity report, read per billing period (see [`activity`]).
#[async_trait]
pub trait ActivityReports: Send + Sync {
    /// The period's rows, and whether they changed since the last read.
    async fn read(&self, period: BillingPeriod) -> Result<(Arc<Vec<ActivityRow>>, bool), ActivityError>;

    /// The rows of the last successful read of the period, if any.
    async fn last_good(&self, period: BillingPeriod) -> Option<Arc<Vec<ActivityRow>>>;

    /// Forgets the rows of every period but `periods` (those no longer served).
    async fn keep_only(&self, periods: &[BillingPeriod]) {
        let _ = periods;
    }
}

/// The optional columns of `aggregate` that the table lacks (`has` says which it has); a missing required
/// column is an error naming the export setting that adds it. Shared by every engine's schema check.
pub fn absent_optional_columns(
    aggregate: &'static Aggregate,
    has: impl Fn(&str) -> bool,
) -> Result<Vec<&'static crate::sql::Column>, SourceError> {
    let mut absent = Vec::new();
    for c in aggregate.columns.iter().filter(|c| !has(c.name)) {
        if !c.optional {
            return Err(SourceError::MissingColumn {
                column: c.name.to_owned(),
                aggregate: aggregate.name,
                fix: c.fix,
            });
        }
        absent.push(c);
    }
    Ok(absent)
}

/// Why a source could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Config(String),
    #[error("cannot list {location}")]
    List {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot read {location}")]
    Read {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{0}")]
    NoData(String),
    #[error("manifest {location}: {reason}")]
    Manifest { location: String, reason: String },
    #[error("{location} is not a readable Parquet file: {reason}")]
    Parquet { location: String, reason: String },
    #[error("the export has no column {column} (needed by {aggregate}); to fix: {fix}")]
    MissingColumn { column: String, aggregate: &'static str, fix: &'static str },
    #[error("files of the export disagree on column types: {0}")]
    Schema(String),
    #[error("query {aggregate} failed: {reason}")]
    Query { aggregate: &'static str, reason: String },
    /// A call to a remote engine's API failed (the SDK's error is kept as the source).
    #[error("query {aggregate} failed: {call}")]
    Api {
        aggregate: &'static str,
        call: String,
        #[source]
        source: crate::error::BoxError,
    },
    /// The table's metadata (`athena GetTableMetadata`, `glue GetPartitions`) could not be read.
    #[error("{call} {table}")]
    Metadata {
        call: &'static str,
        table: String,
        #[source]
        source: crate::error::BoxError,
    },
    #[error(transparent)]
    Result(#[from] crate::sql::ResultError),
}

impl SourceError {
    /// Every `kind` this error can have (`cur`), so its counters can start at 0.
    pub const KINDS: &'static [&'static str] =
        &["config", "list", "read", "no_data", "manifest", "parquet", "missing_column", "schema", "query", "result"];

    /// Metric label for `kiro_exporter_refresh_errors_total{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::List { .. } => "list",
            Self::Read { .. } => "read",
            Self::NoData(_) => "no_data",
            Self::Manifest { .. } => "manifest",
            Self::Parquet { .. } => "parquet",
            Self::MissingColumn { .. } => "missing_column",
            Self::Schema(_) => "schema",
            Self::Query { .. } | Self::Api { .. } => "query",
            Self::Metadata { .. } => "config",
            Self::Result(_) => "result",
        }
    }
}
