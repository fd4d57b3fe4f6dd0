//! The embedded engine: DataFusion over the export's Parquet files, local or in S3.
//!
//! Only the selected period's delivery is registered (partition pruning by construction), and DataFusion's
//! projection pushdown reads only the columns an aggregate names. The files' schemas are merged from their
//! footers; a required column that no file has fails with the export setting that adds it, an optional one
//! is read as NULL.

use std::num::NonZeroUsize;
use std::sync::Arc;

use async_trait::async_trait;
use std::borrow::Cow;

use datafusion::arrow::array::{Array, AsArray as _, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::datatypes::{
    Date32Type, Date64Type, Decimal128Type, DecimalType as _, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::lit;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt as _;

use super::export::{self, DataFile, Delivery};
use super::store::Rooted;
use super::{
    CurSource, Discard, Inspected, PeriodInputs, QueryOutput, ResultSink, SourceError, absent_optional_columns,
};
use crate::model::BillingPeriod;
use crate::sql::value::{parse_decimal, parse_timestamp};
use crate::sql::{Aggregate, Query, ResultRows, SqlType};
use rust_decimal::Decimal;

/// DataFusion over a Data Export.
pub struct EmbeddedSource {
    root: Rooted,
    /// Shared by all queries: holds the object store and the Parquet footer cache.
    runtime: Arc<RuntimeEnv>,
    /// `--query.memory-limit`, in bytes.
    memory_limit: usize,
}

impl EmbeddedSource {
    /// `memory_limit`: bytes a pass may hold as aggregation state (`--query.memory-limit`). Beyond it,
    /// DataFusion's grouped aggregation spills its state, sorted, to files in the OS temporary directory
    /// (its default disk manager: `$TMPDIR`, else `/tmp`) and merges them back as the results are read;
    /// what cannot spill fails the query ("Resources exhausted") instead of the process running out of
    /// memory.
    pub fn new(root: Rooted, memory_limit: usize) -> Result<Self, SourceError> {
        // Shared fairly among the operators that can spill (each pass's grouped aggregations): with the
        // greedy pool one partition's state could take it all, and another, holding nothing yet, could
        // then neither grow nor spill and failed the pass.
        let pool = TrackConsumersPool::new(FairSpillPool::new(memory_limit), NonZeroUsize::MIN.saturating_add(4));
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(pool))
            .build_arc()
            .map_err(|e| SourceError::Config(format!("DataFusion runtime: {e}")))?;
        runtime.register_object_store(&root.url, root.store.clone());
        Ok(Self { root, runtime, memory_limit })
    }

    /// A step of a pass failed with `e`: when it is the engine's own limit (the memory it may hold, or
    /// the temporary files it spills to beyond it), the message says which and what to change.
    fn pass_error(&self, aggregate: &'static str, e: datafusion::error::DataFusionError) -> PassError {
        use datafusion::error::DataFusionError as E;
        let limit = format!("--query.memory-limit ({} MiB)", self.memory_limit >> 20);
        let root = e.find_root();
        // A spill file that could not be created, or written (a full disk: from Arrow's IPC writer).
        let spill_io = matches!(root, E::IoError(_))
            || matches!(root, E::ArrowError(inner, _) if matches!(**inner, datafusion::arrow::error::ArrowError::IoError(..)));
        let reason = if spill_io {
            format!(
                "{e} (the pass needs more than {limit} and spills the rest to temporary files, in {}: make TMPDIR \
                 a writable directory with room, or raise the limit)",
                std::env::temp_dir().display()
            )
        } else if matches!(root, E::ResourcesExhausted(_)) {
            format!("{e} (the pass needs more than {limit} and its state could not be spilled: raise the limit)")
        } else {
            return PassError { aggregate, reason: e.to_string(), limit: false };
        };
        PassError { aggregate, reason, limit: true }
    }

    async fn inspect_delivery(
        &self,
        period: BillingPeriod,
        known: Option<&str>,
    ) -> Result<Option<Delivery>, SourceError> {
        let cache = self.runtime.cache_manager.get_file_metadata_cache();
        export::inspect(&self.root, &cache, period, known).await
    }

    /// One pass over `files` (all of a delivery, or one when locating a bad value): a single scan reads
    /// the union of the queries' columns for the rows any of them wants, once, and hands each record batch
    /// to every query's SQL text as it comes (a bounded channel per query, [`Fed`]), so the queries run
    /// alongside the scan and the rows of interest are never all held: on a bill of 500,000 users that
    /// was 170-360 MB (measured in the README). Their results go to `sink` a record batch at a time, in
    /// order, read typed ([`BatchRows`]), as the engine produces them. Returns the rows of each query the
    /// sink took and what the engine spilled; on error, the name of the aggregate whose step failed.
    async fn run(
        &self,
        queries: &[Query<'_>],
        period: BillingPeriod,
        schema: &SchemaRef,
        files: &[&DataFile],
        sink: &mut dyn ResultSink,
    ) -> Result<Pass, PassError> {
        let scan_name = "rows of interest";
        let err = |e: datafusion::error::DataFusionError| e.to_string();
        let mut config = SessionConfig::new()
            .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
            .with_information_schema(false);
        let parquet = &mut config.options_mut().execution.parquet;
        // Page indexes are of no use for these filters (product code and operation are not sorted).
        parquet.enable_page_index = false;
        // No filter pushdown (late materialization): the scan's filter, the OR of the aggregates' row
        // filters, reads the `product` map (Bedrock's Marketplace condition), which DataFusion's Parquet
        // reader cannot evaluate while decoding, so nothing was pushed down anyway. Pushing down its flat
        // part (product code, operation, family, billing entity: the map's condition taken as true) was
        // measured a loss on the 2M-row benchmark month: 0.51-0.55 s and 235-248 MiB against 0.43-0.45 s and
        // 169 MiB (hyperfine, 10 runs; the reader holds the filter's columns and selections per row group).
        parquet.pushdown_filters = false;
        // The scan's parallelism is its files and byte ranges: a round-robin repartition after it would
        // buffer batches against the memory limit (and spill them) whenever the queries read slower than
        // it decodes, where the file streams simply wait.
        config.options_mut().optimizer.enable_round_robin_repartition = false;
        let ctx = SessionContext::new_with_config_rt(config, self.runtime.clone());
        let scan = async {
            if files.is_empty() {
                let empty = MemTable::try_new(schema.clone(), vec![vec![]]).map_err(err)?;
                ctx.register_table("cur_files", Arc::new(empty)).map_err(err)?;
            } else {
                let urls = files
                    .iter()
                    .map(|f| {
                        let url = self
                            .root
                            .url
                            .join(f.meta.location.as_ref())
                            .map_err(|e| format!("{}: {e}", f.meta.location))?;
                        ListingTableUrl::parse(url.as_str()).map_err(err)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
                let config = ListingTableConfig::new_with_multi_paths(urls)
                    .with_listing_options(options)
                    .with_schema(schema.clone());
                let table = ListingTable::try_new(config).map_err(err)?;
                ctx.register_table("cur_files", Arc::new(table)).map_err(err)?;
            }
            ctx.sql(&scan_sql(queries, schema)).await.map_err(err)
        }
        .await
        .map_err(|e| (scan_name, e))?;
        let rows_schema: SchemaRef = Arc::new(scan.schema().as_arrow().clone());
        // The scan keeps its parallelism (it was planned above). Each query aggregates in one partition: its
        // input is the scan's one stream anyway, and a hash repartition of it into several would add
        // operators that hold batches against the memory limit too; under a fair share of that limit
        // among them (below, `EmbeddedSource::new`) they spilled nearly every batch and a pass could
        // stall for good (README, "Sample data and benchmarks").
        ctx.state_ref().write().config_mut().options_mut().execution.target_partitions = 1;
        // Every query is planned before the scan starts, each over a table of its own fed by the scan.
        let mut feeds = Vec::with_capacity(queries.len());
        let mut plans = Vec::with_capacity(queries.len());
        for (i, query) in queries.iter().enumerate() {
            let name = query.aggregate.name;
            let (tx, fed) = Fed::channel(rows_schema.clone());
            let table = datafusion::catalog::streaming::StreamingTable::try_new(rows_schema.clone(), vec![fed.clone()])
                .map_err(|e| (name, err(e)))?;
            // The export's partition column, as Athena sees it, so the SQL text is the same on both engines.
            let table_name = format!("cur_{i}");
            ctx.read_table(Arc::new(table))
                .and_then(|df| df.with_column("billing_period", lit(period.to_string())))
                .and_then(|df| ctx.register_table(table_name.as_str(), df.into_view()))
                .map_err(|e| (name, err(e)))?;
            let df = ctx.sql(&query.render(&table_name, period)).await.map_err(|e| (name, err(e)))?;
            let out_schema: Schema = df.schema().as_arrow().clone();
            plans.push((name, out_schema, df.create_physical_plan().await.map_err(|e| (name, err(e)))?, fed));
            feeds.push(tx);
        }
        let task = ctx.task_ctx();
        let feed = async move {
            let fed = async {
                let mut stream = scan.execute_stream().await?;
                let mut rows = 0usize;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    rows += batch.num_rows();
                    for tx in &feeds {
                        // A query that ended (done or failed) has dropped its end: it needs no more rows.
                        let _ = tx.send(Ok(batch.clone())).await;
                    }
                }
                tracing::debug!(rows, "rows of interest read");
                Ok::<_, datafusion::error::DataFusionError>(())
            }
            .await;
            // After an error the queries fail too, so none of them ends with a result of part of the rows.
            if let Err(e) = &fed {
                for tx in &feeds {
                    let _ =
                        tx.send(Err(datafusion::error::DataFusionError::Execution(format!("{scan_name}: {e}")))).await;
                }
            }
            // The queries see the end of their input.
            drop(feeds);
            fed
        };
        // Each output partition of each query is driven by a forwarder of its own, all polled in this task
        // (all of them read their input while the scan runs; the scan's and DataFusion's own tasks do the
        // decoding), and hands its result over a channel of one record batch. The results are taken in
        // order, query by query and partition by partition, a batch at a time, while the partitions not
        // yet taken wait with their state: held within `--query.memory-limit`, or spilled to sorted files
        // and merged back as they are read. So a bill of many users never holds its whole result, nor the
        // engine's whole aggregation state, beside the licences the sink builds from it (README, "Sample
        // data and benchmarks"). A query waiting to be taken never holds the scan back: each is a grouped
        // aggregation, whose first result row comes only once all its input has been read.
        let mut drivers = Vec::with_capacity(plans.len());
        let mut outputs = Vec::with_capacity(plans.len());
        let executed: Vec<_> = plans.iter().map(|(_, _, plan, _)| Arc::clone(plan)).collect();
        for (name, out_schema, plan, fed) in plans {
            let partitions = plan.properties().output_partitioning().partition_count();
            let mut receivers = Vec::with_capacity(partitions);
            let mut forwards = Vec::with_capacity(partitions);
            for partition in 0..partitions {
                let (tx, rx) = tokio::sync::mpsc::channel::<Rows>(1);
                receivers.push(rx);
                let stream = plan.execute(partition, task.clone());
                forwards.push(async move {
                    let mut stream = match stream {
                        Ok(stream) => stream,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    };
                    while let Some(batch) = stream.next().await {
                        let failed = batch.is_err();
                        // The consumer stopped (it refused rows or failed): the rest is of no use.
                        if tx.send(batch).await.is_err() || failed {
                            return;
                        }
                    }
                });
            }
            drivers.push(async move {
                futures::future::join_all(forwards).await;
                // A query that failed before reading all its input must not hold the scan back.
                fed.close();
            });
            outputs.push((name, out_schema, receivers));
        }
        let consume = async {
            let mut counts = Vec::with_capacity(outputs.len());
            for (q, (name, out_schema, receivers)) in outputs.into_iter().enumerate() {
                let mut rows = 0u64;
                for mut partition in receivers {
                    while let Some(batch) = partition.recv().await {
                        let batch = batch.map_err(|e| self.pass_error(name, e))?;
                        rows += batch.num_rows() as u64;
                        let cells = BatchRows::new(&batch, &out_schema).map_err(|e| (name, e))?;
                        if !sink.rows(q, &cells) {
                            // The sink keeps its error; the rest of the results are of no use.
                            return Ok::<_, PassError>(counts);
                        }
                    }
                    // A partition's result held in memory is one array per column, cut into record
                    // batches that share it: given back whole once its last batch is read. It was
                    // allocated by the engine's threads, whose pages the consumer's would not reuse.
                    crate::memory::release_freed();
                }
                counts.push(rows);
            }
            Ok(counts)
        };
        // The consumer returns early when the sink refuses rows or a query fails; dropping the receivers
        // then ends the drivers, and the scan's sends to the queries that ended fail at once.
        let (fed, _, counts) = futures::future::join3(feed, futures::future::join_all(drivers), consume).await;
        // The scan holds no state against the limit: its errors are the files'.
        fed.map_err(|e| (scan_name, err(e)))?;
        Ok(Pass { rows: counts?, spilled_bytes: executed.iter().map(|p| spilled_bytes(p.as_ref())).sum() })
    }
}

/// Why a pass failed.
struct PassError {
    /// The aggregate whose step failed, or the scan.
    aggregate: &'static str,
    reason: String,
    /// The engine's memory limit or its spill files, not a value in a file: no file is looked for.
    limit: bool,
}

impl From<(&'static str, String)> for PassError {
    fn from((aggregate, reason): (&'static str, String)) -> Self {
        Self { aggregate, reason, limit: false }
    }
}

/// What one pass did.
struct Pass {
    /// Rows of each query the sink took (fewer entries when it refused some).
    rows: Vec<u64>,
    /// Bytes the plans' operators wrote to temporary files (aggregation state beyond the memory limit).
    spilled_bytes: u64,
}

/// Bytes `plan` and its inputs spilled.
fn spilled_bytes(plan: &dyn ExecutionPlan) -> u64 {
    let own = plan.metrics().and_then(|m| m.spilled_bytes()).unwrap_or(0) as u64;
    own + plan.children().into_iter().map(|c| spilled_bytes(c.as_ref())).sum::<u64>()
}

type Rows = Result<RecordBatch, datafusion::error::DataFusionError>;

/// The one partition of a query's input in a pass: the record batches the pass's single scan sends. A
/// bounded channel, so the scan waits for the slowest query rather than queueing the bill in memory.
#[derive(Debug)]
struct Fed {
    schema: SchemaRef,
    rows: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<Rows>>>,
}

impl Fed {
    /// Batches the scan may be ahead of a query.
    const AHEAD: usize = 2;

    fn channel(schema: SchemaRef) -> (tokio::sync::mpsc::Sender<Rows>, Arc<Self>) {
        let (tx, rx) = tokio::sync::mpsc::channel(Self::AHEAD);
        (tx, Arc::new(Self { schema, rows: std::sync::Mutex::new(Some(rx)) }))
    }

    /// Drops the receiving end if the query never took it, so the scan's sends to it fail at once.
    fn close(&self) {
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl PartitionStream for Fed {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner()).take();
        let stream = match rows {
            Some(mut rx) => futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed(),
            // A plan runs its input once; a second run would see no rows, which must not pass for a result.
            None => futures::stream::once(async {
                Err(datafusion::error::DataFusionError::Internal("the scan's rows were already taken".into()))
            })
            .boxed(),
        };
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// The single scan of a pass: the union of the queries' columns, for the rows any query selects (the OR of
/// their row filters, as written in their SQL texts).
fn scan_sql(queries: &[Query<'_>], schema: &SchemaRef) -> String {
    let columns: Vec<String> = schema.fields().iter().map(|f| format!("\"{}\"", f.name())).collect();
    let filters: Vec<String> = queries.iter().map(|q| format!("({})", q.aggregate.rows_filter())).collect();
    format!("SELECT {} FROM cur_files WHERE {}", columns.join(", "), filters.join("\n  OR "))
}

fn arrow_type(ty: SqlType) -> DataType {
    match ty {
        // Plain strings, not views: the group keys are held per group, as a 4-byte offset and the bytes
        // where a view is 16 bytes and, past 12, the bytes again (about 50 bytes per group of a Kiro
        // licence's text keys). Measured on 1,000,000 groups (README, "Sample data and benchmarks"):
        // less state, and the pass is no slower (4.1-4.4 s against 4.9-5.6 s).
        SqlType::Varchar => DataType::Utf8,
        SqlType::Double => DataType::Float64,
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
        SqlType::MapVarchar => DataType::Map(
            Arc::new(Field::new(
                "key_value",
                DataType::Struct(Fields::from(vec![
                    Field::new("key", DataType::Utf8, false),
                    Field::new("value", DataType::Utf8, true),
                ])),
                false,
            )),
            false,
        ),
    }
}

/// Whether a file's column type can be read as the aggregate's declared type: the same kind of value, so
/// DataFusion's schema adapter casts it (timestamps of another unit or zone, other float or integer
/// widths, string views, any map layout for a map column).
fn compatible(file: &DataType, declared: SqlType) -> bool {
    match declared {
        SqlType::Varchar => matches!(file, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        SqlType::Double => file.is_floating() || file.is_integer() || matches!(file, DataType::Decimal128(..)),
        SqlType::Timestamp => matches!(file, DataType::Timestamp(..) | DataType::Date32 | DataType::Date64),
        SqlType::MapVarchar => matches!(file, DataType::Map(..)),
    }
}

/// The table schema for a pass: the union of the aggregates' columns, at the types they declare (maps keep
/// the files' layout). A file whose column has another kind of type (text where a number belongs) fails
/// with the file and column named; a required column no file has fails with the setting that adds it; an
/// absent optional column is read as NULL. Also returns, per aggregate, the optional columns it lacks.
fn table_schema(
    aggregates: &[&'static Aggregate],
    delivery: &Delivery,
) -> Result<(SchemaRef, Vec<Vec<&'static str>>), SourceError> {
    let mut columns: Vec<&'static crate::sql::Column> = Vec::new();
    for c in aggregates.iter().flat_map(|a| a.columns) {
        if !columns.iter().any(|k| k.name == c.name) {
            columns.push(c);
        }
    }
    let mut fields = Vec::with_capacity(columns.len());
    let mut present = std::collections::HashSet::new();
    for c in columns.iter().copied() {
        let mut ty = None;
        for f in &delivery.files {
            let Ok(field) = f.schema.field_with_name(c.name) else { continue };
            if !compatible(field.data_type(), c.ty) {
                return Err(SourceError::Schema(format!(
                    "{}: column {} is {}, expected {:?}",
                    f.meta.location,
                    c.name,
                    field.data_type(),
                    c.ty
                )));
            }
            if ty.is_none() {
                ty = Some(match c.ty {
                    SqlType::MapVarchar => field.data_type().clone(),
                    other => arrow_type(other),
                });
            }
        }
        if let Some(ty) = ty {
            present.insert(c.name);
            fields.push(Field::new(c.name, ty, true));
        }
    }
    if delivery.files.is_empty() {
        // Nothing to read: an empty table of the documented types gives the aggregates' empty results.
        let fields: Vec<Field> = columns.iter().map(|c| Field::new(c.name, arrow_type(c.ty), true)).collect();
        return Ok((Arc::new(Schema::new(fields)), vec![Vec::new(); aggregates.len()]));
    }
    let mut absent_per_aggregate = Vec::with_capacity(aggregates.len());
    for aggregate in aggregates {
        let absent = absent_optional_columns(aggregate, |name| present.contains(name))?;
        absent_per_aggregate.push(absent.iter().map(|c| c.name).collect());
    }
    for c in columns.iter().filter(|c| !present.contains(c.name)) {
        tracing::debug!(column = c.name, "optional column absent from the export; reading it as NULL");
        fields.push(Field::new(c.name, arrow_type(c.ty), true));
    }
    Ok((Arc::new(Schema::new(fields)), absent_per_aggregate))
}

/// A record batch of an aggregate's result, read typed: text columns as they are, decimals and
/// timestamps from their values, without printing each cell as text to parse it back. Any other type, and
/// a value the typed path does not take (a decimal beyond `rust_decimal`'s 96 bits, a timestamp beyond
/// chrono's range), is printed as DataFusion prints it and parsed as a text result is, so the outcome is
/// the one the text path gave, error messages included.
struct BatchRows<'a> {
    batch: &'a RecordBatch,
    /// Named as the query's result (the SQL text's aliases).
    names: Vec<&'a str>,
    formatters: Vec<ArrayFormatter<'a>>,
}

impl<'a> BatchRows<'a> {
    fn new(batch: &'a RecordBatch, schema: &'a Schema) -> Result<Self, String> {
        const OPTS: FormatOptions<'static> = FormatOptions::new();
        let formatters = batch
            .columns()
            .iter()
            .map(|a| ArrayFormatter::try_new(a.as_ref(), &OPTS))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(Self { batch, names: schema.fields().iter().map(|f| f.name().as_str()).collect(), formatters })
    }

    /// The cell, if it is not NULL.
    fn cell(&self, column: usize, row: usize) -> Option<&'a dyn Array> {
        let a = self.batch.columns().get(column)?.as_ref();
        (row < a.len() && !a.is_null(row)).then_some(a)
    }

    fn printed(&self, column: usize, row: usize) -> String {
        self.formatters[column].value(row).to_string()
    }
}

impl ResultRows for BatchRows<'_> {
    fn columns(&self) -> Vec<&str> {
        self.names.clone()
    }

    fn row_count(&self) -> usize {
        self.batch.num_rows()
    }

    fn text(&self, column: usize, row: usize) -> Option<Cow<'_, str>> {
        let a = self.cell(column, row)?;
        Some(match a.data_type() {
            DataType::Utf8View => Cow::Borrowed(a.as_string_view().value(row)),
            DataType::Utf8 => Cow::Borrowed(a.as_string::<i32>().value(row)),
            DataType::LargeUtf8 => Cow::Borrowed(a.as_string::<i64>().value(row)),
            _ => Cow::Owned(self.printed(column, row)),
        })
    }

    fn decimal(&self, column: usize, row: usize) -> Option<Result<Decimal, String>> {
        let a = self.cell(column, row)?;
        // A value beyond its declared precision is printed cut to it: such a value goes the printed way.
        if let DataType::Decimal128(precision, scale) = a.data_type()
            && let value = a.as_primitive::<Decimal128Type>().value(row)
            && Decimal128Type::is_valid_decimal_precision(value, *precision)
            && let Ok(scale) = u32::try_from(*scale)
            && let Ok(d) = Decimal::try_from_i128_with_scale(value, scale)
        {
            return Some(Ok(d));
        }
        Some(parse_decimal(&self.printed(column, row)))
    }

    fn timestamp(&self, column: usize, row: usize) -> Option<Result<i64, String>> {
        let a = self.cell(column, row)?;
        // A time with a zone is printed in local time with the offset rounded to minutes (and not as a
        // parseable text beyond year 9999): those go the printed way, so the outcome stays the text path's.
        let secs = match a.data_type() {
            DataType::Timestamp(_, Some(_)) => None,
            DataType::Timestamp(TimeUnit::Second, _) => Some(a.as_primitive::<TimestampSecondType>().value(row)),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                Some(a.as_primitive::<TimestampMillisecondType>().value(row).div_euclid(1_000))
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                Some(a.as_primitive::<TimestampMicrosecondType>().value(row).div_euclid(1_000_000))
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                Some(a.as_primitive::<TimestampNanosecondType>().value(row).div_euclid(1_000_000_000))
            }
            DataType::Date32 => Some(i64::from(a.as_primitive::<Date32Type>().value(row)) * 86_400),
            DataType::Date64 => Some(a.as_primitive::<Date64Type>().value(row).div_euclid(1_000)),
            _ => None,
        };
        match secs {
            Some(t) if chrono::DateTime::from_timestamp(t, 0).is_some() => Some(Ok(t)),
            _ => Some(parse_timestamp(&self.printed(column, row))),
        }
    }
}

#[async_trait]
impl CurSource for EmbeddedSource {
    fn engine(&self) -> &'static str {
        "embedded"
    }

    async fn periods(&self) -> Result<Vec<BillingPeriod>, SourceError> {
        export::list_periods(&self.root).await
    }

    async fn inspect(&self, period: BillingPeriod, known: Option<&str>) -> Result<Inspected, SourceError> {
        let before = self.root.store.bytes_read();
        let delivery = self.inspect_delivery(period, known).await?;
        let bytes_read = self.root.store.bytes_read().saturating_sub(before);
        let Some(d) = delivery else { return Ok(Inspected::Unchanged { bytes_read }) };
        Ok(Inspected::Changed(PeriodInputs {
            period,
            bytes_read,
            fingerprint: d.fingerprint.clone(),
            from_manifest: d.from_manifest,
            rows: d.files.iter().map(|f| f.rows).sum(),
            delivery: Some(Arc::new(d)),
        }))
    }

    async fn query(
        &self,
        inputs: &PeriodInputs,
        queries: &[Query<'_>],
        sink: &mut dyn ResultSink,
    ) -> Result<Vec<QueryOutput>, SourceError> {
        let delivery =
            match &inputs.delivery {
                Some(d) => d.clone(),
                None => Arc::new(self.inspect_delivery(inputs.period, None).await?.ok_or_else(|| {
                    SourceError::Config(format!("the delivery of {} was not inspected", inputs.period))
                })?),
            };
        let aggregates: Vec<&'static Aggregate> = queries.iter().map(|q| q.aggregate).collect();
        let period = delivery.period;
        let bytes_before = self.root.store.bytes_read();
        let (schema, absent) = table_schema(&aggregates, &delivery)?;
        let all: Vec<&DataFile> = delivery.files.iter().collect();
        let started = std::time::Instant::now();
        let pass = match self.run(queries, period, &schema, &all, sink).await {
            Ok(t) => t,
            Err(PassError { aggregate, reason, limit: true }) => {
                return Err(SourceError::Query { aggregate, reason });
            }
            Err(PassError { aggregate, reason: e, limit: false }) => {
                // A value the engine cannot take (NaN, 1e300 as an amount): find the file that has it, by
                // running the pass on each file alone, so the error names it.
                let mut located = None;
                if all.len() > 1 {
                    for f in &all {
                        if let Err(PassError { reason: e, .. }) =
                            self.run(queries, period, &schema, &[*f], &mut Discard).await
                        {
                            located = Some(format!("{}: {e}", f.meta.location));
                            break;
                        }
                    }
                } else if let Some(f) = all.first() {
                    located = Some(format!("{}: {e}", f.meta.location));
                }
                return Err(SourceError::Query { aggregate, reason: located.unwrap_or(e) });
            }
        };
        tracing::debug!(
            aggregates = queries.len(),
            ms = started.elapsed().as_millis() as u64,
            groups = pass.rows.iter().sum::<u64>(),
            spilled_bytes = pass.spilled_bytes,
            "pass done"
        );
        // One scan covered every query: its rows and bytes are the first output's, the others read nothing.
        let rows_scanned = delivery.files.iter().map(|f| f.rows).sum();
        let bytes_read = self.root.store.bytes_read().saturating_sub(bytes_before);
        Ok(absent
            .into_iter()
            .enumerate()
            .map(|(i, absent_columns)| QueryOutput {
                rows_scanned: if i == 0 { rows_scanned } else { 0 },
                bytes_read: if i == 0 { bytes_read } else { 0 },
                absent_columns,
                spilled_bytes: if i == 0 { pass.spilled_bytes } else { 0 },
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        ArrayRef, Date32Array, Decimal128Array, Int64Array, StringViewArray, TimestampMillisecondArray,
    };

    use super::*;

    /// Each cell read typed equals the same cell printed by DataFusion and parsed as a text result.
    #[test]
    fn typed_cells_equal_the_printed_ones_parsed() {
        let beyond_96_bits = 10_i128.pow(30);
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(
                Decimal128Array::from(vec![Some(12_345_600_000_000), Some(-5_000_000_000), None, Some(beyond_96_bits)])
                    .with_precision_and_scale(38, 10)
                    .unwrap(),
            ),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_767_312_000_999),
                Some(-1_500),
                None,
                Some(i64::MAX),
            ])),
            Arc::new(Date32Array::from(vec![Some(20_454), Some(-1), None, Some(0)])),
            Arc::new(StringViewArray::from(vec![Some("USE1-Kiro"), Some(""), None, Some("ü")])),
            Arc::new(Int64Array::from(vec![Some(7), Some(-7), None, Some(0)])),
        ];
        // A value beyond its precision (printed cut to it), and times with a zone (printed in local time).
        columns.push(Arc::new(
            Decimal128Array::from(vec![Some(1_234_567), Some(-99_999), None, Some(12_345)])
                .with_precision_and_scale(5, 2)
                .unwrap(),
        ));
        columns.push(Arc::new(
            TimestampMillisecondArray::from(vec![Some(0), Some(253_402_300_800_000), None, Some(-1_500)])
                .with_timezone("+05:00"),
        ));
        let names = ["amount", "end", "day", "text", "count", "narrow", "zoned"];
        let schema = Schema::new(
            names.iter().zip(&columns).map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>(),
        );
        let batch = RecordBatch::try_new(Arc::new(schema.clone()), columns).unwrap();
        let rows = BatchRows::new(&batch, &schema).unwrap();
        assert_eq!(rows.columns(), names);
        assert_eq!(rows.row_count(), 4);
        for row in 0..4 {
            let printed = |c: usize| rows.cell(c, row).map(|_| rows.printed(c, row));
            assert_eq!(rows.decimal(0, row), printed(0).map(|s| parse_decimal(&s)), "row {row}");
            assert_eq!(rows.timestamp(1, row), printed(1).map(|s| parse_timestamp(&s)), "row {row}");
            assert_eq!(rows.timestamp(2, row), printed(2).map(|s| parse_timestamp(&s)), "row {row}");
            assert_eq!(rows.text(3, row).map(Cow::into_owned), printed(3), "row {row}");
            assert_eq!(rows.text(4, row).map(Cow::into_owned), printed(4), "row {row}");
            assert_eq!(rows.decimal(5, row), printed(5).map(|s| parse_decimal(&s)), "row {row}");
            assert_eq!(rows.timestamp(6, row), printed(6).map(|s| parse_timestamp(&s)), "row {row}");
        }
        // The values themselves, and the scale a decimal has when printed (the model prints some sums).
        assert_eq!(rows.decimal(0, 0).unwrap().unwrap().to_string(), "1234.5600000000");
        assert_eq!(rows.timestamp(1, 0), Some(Ok(1_767_312_000)));
        assert_eq!(rows.timestamp(1, 1), Some(Ok(-2)), "seconds are floored, as the printed time is");
        assert_eq!(rows.timestamp(2, 0), Some(Ok(20_454 * 86_400)));
        assert_eq!(rows.decimal(0, 2), None);
        assert!(rows.decimal(0, 3).unwrap().is_ok(), "beyond 96 bits, parsed from its text as before");
    }
}
