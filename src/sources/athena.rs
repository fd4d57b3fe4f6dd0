//! Amazon Athena: the same SQL texts, run by the distributed engine on the CUR table.
//!
//! Cheap and safe: one query per refresh for every aggregate of every changed period (Athena bills at
//! least 10 MB per query); the `billing_period` partition filter and the aggregates' columns only; no query
//! at all for a period whose manifest is unchanged (read from S3: a LIST and a GET, not a scan). The
//! periods are the table's partitions in Glue (`GetPartitions`, free), or the export's folders with
//! `--athena.export-path`; without that flag the export's folder is found from the partitions' locations
//! (`<export>/data/BILLING_PERIOD=...`), so the manifests still decide what is queried. The table's schema is checked first
//! with `GetTableMetadata` (free): a missing required column fails with the export setting that adds it, a
//! missing optional one is read as NULL (logged once). Queries carry a client request token so a retried
//! start is not billed twice, are polled with backoff, stopped when they outlive their timeout or the
//! daemon stops, and their results are read page by page as text (exact decimals, NULLs kept).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use sha2::{Digest, Sha256};

use super::export;
use super::store::{Location, Rooted, S3Settings};
use super::{CurSource, Inspected, PeriodInputs, QueryOutput, ResultSink, SourceError, absent_optional_columns};
use crate::exposition::{Family, Kind};
use crate::model::BillingPeriod;
use crate::sql::{Aggregate, Query, SqlType, Table, split_union, union_all};

/// Athena's price per byte scanned ($5 per TB), for the cost estimate.
const USD_PER_BYTE: f64 = 5.0 / 1e12;
/// Athena bills at least 10 MB per query.
const MIN_BILLED_BYTES: u64 = 10 * 1024 * 1024;

/// Where the CUR table is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaTable {
    pub catalog: String,
    pub database: String,
    pub table: String,
    pub workgroup: String,
    pub output_location: Option<String>,
    pub query_timeout: Duration,
}

/// Checks a database or table name: letters, digits, `_` and `-` only, so it can be quoted safely.
pub fn validate_identifier(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err(format!("{what} must be 1 to 255 characters"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(format!("{what} {name:?} contains {c:?}; only letters, digits, '_' and '-' are allowed"));
    }
    Ok(())
}

/// `"name"` with embedded quotes doubled (names are validated too, this is the second fence).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[derive(Debug, Default)]
struct Stats {
    queries: BTreeMap<&'static str, u64>,
    scanned: u64,
    cost_usd: f64,
}

/// The Athena source.
pub struct AthenaSource {
    client: aws_sdk_athena::Client,
    glue: aws_sdk_glue::Client,
    /// To open the export found from the partitions' locations.
    sdk: aws_config::SdkConfig,
    s3: S3Settings,
    table: AthenaTable,
    /// The export in S3 (`--athena.export-path`), for periods and manifests.
    export: Option<Rooted>,
    /// Without `--athena.export-path`: the export found from the partitions' locations (`None`: not found,
    /// or not readable yet; looked for again at every listing, and until found every refresh queries).
    derived: tokio::sync::Mutex<Option<Rooted>>,
    /// Whether the export not being found was logged.
    warned_derived: std::sync::atomic::AtomicBool,
    /// Columns of the table (lower case) and the position of `billing_period` among its partition keys,
    /// read once.
    columns: tokio::sync::OnceCell<(HashSet<String>, usize)>,
    warned: Mutex<BTreeSet<String>>,
    stats: Mutex<Stats>,
    tokens: AtomicU64,
    /// Queries started and not yet seen to finish: stopped by `cancel_running` after a refresh timeout and
    /// at shutdown.
    running: Arc<Mutex<HashSet<String>>>,
}

impl AthenaSource {
    pub fn new(sdk: &aws_config::SdkConfig, s3: S3Settings, table: AthenaTable, export: Option<Rooted>) -> Self {
        let retry = aws_config::retry::RetryConfig::standard().with_max_attempts(6);
        let conf = aws_sdk_athena::config::Builder::from(sdk).retry_config(retry.clone()).build();
        let glue = aws_sdk_glue::config::Builder::from(sdk).retry_config(retry).build();
        Self {
            client: aws_sdk_athena::Client::from_conf(conf),
            glue: aws_sdk_glue::Client::from_conf(glue),
            sdk: sdk.clone(),
            s3,
            table,
            export,
            derived: tokio::sync::Mutex::new(None),
            warned_derived: std::sync::atomic::AtomicBool::new(false),
            columns: tokio::sync::OnceCell::new(),
            warned: Mutex::new(BTreeSet::new()),
            stats: Mutex::new(Stats::default()),
            tokens: AtomicU64::new(0),
            running: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    fn count(&self, result: &'static str, scanned: u64) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        *s.queries.entry(result).or_default() += 1;
        s.scanned += scanned;
        if result == "succeeded" || result == "failed" {
            s.cost_usd += scanned.max(MIN_BILLED_BYTES) as f64 * USD_PER_BYTE;
        }
    }

    /// The table's columns, from `GetTableMetadata` (no query, no cost).
    async fn columns(&self) -> Result<&HashSet<String>, SourceError> {
        Ok(&self.table_metadata().await?.0)
    }

    /// The table's columns and partition key position, from `GetTableMetadata` (no query, no cost).
    async fn table_metadata(&self) -> Result<&(HashSet<String>, usize), SourceError> {
        self.columns
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .get_table_metadata()
                    .catalog_name(&self.table.catalog)
                    .database_name(&self.table.database)
                    .table_name(&self.table.table)
                    .send()
                    .await
                    .map_err(|e| SourceError::Metadata {
                        call: "athena GetTableMetadata",
                        table: self.shown(),
                        source: Box::new(e),
                    })?;
                let meta = out
                    .table_metadata()
                    .ok_or_else(|| SourceError::Config(format!("athena: no table {}", self.shown())))?;
                let cols: HashSet<String> = meta.columns().iter().map(|c| c.name().to_ascii_lowercase()).collect();
                let Some(key) =
                    meta.partition_keys().iter().position(|k| k.name().eq_ignore_ascii_case("billing_period"))
                else {
                    return Err(SourceError::Config(format!(
                        "athena table {} is not partitioned by billing_period (see the README's table DDL)",
                        self.shown()
                    )));
                };
                Ok((cols, key))
            })
            .await
    }

    /// The table's `billing_period` partitions registered in Glue, with their locations (`GetPartitions`:
    /// metadata only, no scan). Only for the account's own catalog (`AwsDataCatalog`).
    async fn partitions(&self) -> Result<BTreeMap<BillingPeriod, Option<String>>, SourceError> {
        let key = self.table_metadata().await?.1;
        if self.table.catalog != "AwsDataCatalog" {
            // Another catalog (a federated or cross-account one): its partitions are not in this account's
            // Glue. Only a pinned period, or --athena.export-path, can say which months exist.
            return Ok(BTreeMap::new());
        }
        let mut pages = self
            .glue
            .get_partitions()
            .database_name(&self.table.database)
            .table_name(&self.table.table)
            .exclude_column_schema(true)
            .into_paginator()
            .send();
        let mut out = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| SourceError::Metadata {
                call: "glue GetPartitions",
                table: self.shown(),
                source: Box::new(e),
            })?;
            for p in page.partitions() {
                let Some(value) = p.values().get(key) else { continue };
                match value.parse::<BillingPeriod>() {
                    Ok(period) => {
                        out.insert(period, p.storage_descriptor().and_then(|sd| sd.location()).map(str::to_owned));
                    }
                    Err(e) => tracing::debug!(table = %self.shown(), error = %e, "partition skipped"),
                }
            }
        }
        Ok(out)
    }

    /// The export's folder, from the partitions' locations (`<export>/data/BILLING_PERIOD=YYYY-MM/`), when
    /// they all agree on it and it can be listed; else `None` (logged once: every refresh then queries).
    async fn open_derived(&self, partitions: &BTreeMap<BillingPeriod, Option<String>>) -> Option<Rooted> {
        let roots: BTreeSet<Option<String>> = partitions.values().map(|l| l.as_deref().and_then(export_root)).collect();
        let hint = "pass --athena.export-path so that unchanged months are not queried again";
        let [Some(root)] = Vec::from_iter(roots).try_into().unwrap_or([None]) else {
            if !self.warned_derived.swap(true, Ordering::Relaxed) {
                tracing::warn!(table = %self.shown(), "the table's partition locations do not name one export folder (<export>/data/BILLING_PERIOD=YYYY-MM): every refresh queries every served period; {hint}");
            }
            return None;
        };
        let opened = match Location::parse(&root) {
            Ok(location) => super::store::open(&location, &self.s3, Some(&self.sdk), false).await,
            Err(e) => Err(e),
        };
        match opened {
            Ok(rooted) => match export::list_periods(&rooted).await {
                Ok(_) => {
                    tracing::info!(export = %root, table = %self.shown(), "found the export from the table's partitions: its manifests decide which months are queried");
                    Some(rooted)
                }
                Err(e) => {
                    if !self.warned_derived.swap(true, Ordering::Relaxed) {
                        tracing::warn!(export = %root, error = %crate::error::chain(&e), "cannot list the export the table's partitions point to (tried again at each refresh): until then every refresh queries every served period; {hint}");
                    }
                    None
                }
            },
            Err(e) => {
                if !self.warned_derived.swap(true, Ordering::Relaxed) {
                    tracing::warn!(export = %root, error = %crate::error::chain(&e), "cannot open the export the table's partitions point to; {hint}");
                }
                None
            }
        }
    }

    fn shown(&self) -> String {
        format!("{}.{}.{}", self.table.catalog, self.table.database, self.table.table)
    }

    /// The table reference for an aggregate: the table itself, or a sub-select adding NULLs for absent
    /// optional columns.
    async fn table_ref(&self, aggregate: &'static Aggregate) -> Result<(String, Vec<&'static str>), SourceError> {
        let cols = self.columns().await?;
        let base = format!("{}.{}", quote(&self.table.database), quote(&self.table.table));
        let mut nulls = Vec::new();
        let absent = absent_optional_columns(aggregate, |name| cols.contains(name))?;
        for c in &absent {
            if self.warned.lock().unwrap_or_else(|e| e.into_inner()).insert(c.name.to_owned()) {
                tracing::info!(column = c.name, table = %self.shown(), "optional column absent from the Athena table; reading it as NULL");
            }
            let ty = match c.ty {
                SqlType::Varchar => "VARCHAR",
                SqlType::Double => "DOUBLE",
                SqlType::Timestamp => "TIMESTAMP",
                SqlType::MapVarchar => "MAP(VARCHAR, VARCHAR)",
            };
            nulls.push(format!("CAST(NULL AS {ty}) AS {}", quote(c.name)));
        }
        let table = if nulls.is_empty() { base } else { format!("(SELECT *, {} FROM {base})", nulls.join(", ")) };
        Ok((table, absent.iter().map(|c| c.name).collect()))
    }

    fn token(&self, sql: &str) -> String {
        // Unique per logical query, identical across the SDK's retries of the same StartQueryExecution.
        let n = self.tokens.fetch_add(1, Ordering::Relaxed);
        let mut h = Sha256::new();
        h.update(sql.as_bytes());
        h.update(n.to_le_bytes());
        h.update(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos()).to_le_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Runs one query: its whole result and the bytes Athena scanned.
    async fn run(&self, aggregate: &'static Aggregate, sql: String) -> Result<(Table, u64), SourceError> {
        let err = |reason: String| SourceError::Query { aggregate: aggregate.name, reason };
        let api = |call: String| {
            move |e: Box<dyn std::error::Error + Send + Sync>| SourceError::Api {
                aggregate: aggregate.name,
                call,
                source: e,
            }
        };
        let mut start = self
            .client
            .start_query_execution()
            .query_string(&sql)
            .client_request_token(self.token(&sql))
            .work_group(&self.table.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder().catalog(&self.table.catalog).database(&self.table.database).build(),
            );
        if let Some(out) = &self.table.output_location {
            start = start.result_configuration(ResultConfiguration::builder().output_location(out).build());
        }
        let id = start
            .send()
            .await
            .map_err(|e| api("StartQueryExecution".into())(e.into()))?
            .query_execution_id()
            .map(str::to_owned)
            .ok_or_else(|| err("StartQueryExecution returned no id".into()))?;
        // Stops the query if this future is dropped (timeout, shutdown) before it finished; the id is also
        // registered so that `cancel_running` can stop it and wait for the answer (a spawned stop may not
        // run before the process exits).
        self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone());
        let mut guard =
            StopOnDrop { client: Some(self.client.clone()), id: id.clone(), running: Some(self.running.clone()) };

        let deadline = tokio::time::Instant::now() + self.table.query_timeout;
        let mut delay = Duration::from_millis(200);
        let (state, reason, scanned) = loop {
            let out = self
                .client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| api(format!("GetQueryExecution {id}"))(e.into()))?;
            let exec = out.query_execution();
            let status = exec.and_then(|e| e.status());
            let state = status.and_then(|s| s.state()).cloned();
            let scanned = exec.and_then(|e| e.statistics()).and_then(|s| s.data_scanned_in_bytes()).unwrap_or(0);
            if let Some(QueryExecutionState::Succeeded | QueryExecutionState::Failed | QueryExecutionState::Cancelled) =
                state
            {
                break (state, status.and_then(|s| s.state_change_reason()).map(str::to_owned), scanned.max(0) as u64);
            }
            if tokio::time::Instant::now() + delay > deadline {
                guard.stop().await;
                self.count("timeout", 0);
                return Err(err(format!(
                    "query {id} did not finish within {}; stopped",
                    humantime::format_duration(self.table.query_timeout)
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        };
        guard.finished();
        match state {
            Some(QueryExecutionState::Succeeded) => {}
            Some(QueryExecutionState::Failed) => {
                self.count("failed", scanned);
                return Err(err(format!("query {id} failed: {}", reason.unwrap_or_else(|| "no reason given".into()))));
            }
            _ => {
                self.count("cancelled", scanned);
                return Err(err(format!(
                    "query {id} was cancelled: {}",
                    reason.unwrap_or_else(|| "no reason given".into())
                )));
            }
        }
        self.count("succeeded", scanned);

        let mut table = Table::default();
        let mut pages =
            self.client.get_query_results().query_execution_id(&id).max_results(1000).into_paginator().send();
        let mut first = true;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| api(format!("GetQueryResults {id}"))(e.into()))?;
            let Some(rs) = page.result_set() else { continue };
            if table.columns.is_empty()
                && let Some(meta) = rs.result_set_metadata()
            {
                table.columns = meta.column_info().iter().map(|c| c.name().to_owned()).collect();
            }
            for (i, row) in rs.rows().iter().enumerate() {
                // The first row of a SELECT's first page repeats the column names.
                if first && i == 0 {
                    continue;
                }
                table.rows.push(row.data().iter().map(|d| d.var_char_value().map(str::to_owned)).collect());
            }
            first = false;
        }
        Ok((table, scanned))
    }
}

/// Trino (Athena) fails a whole query with "Key not present in map" when `m['k']` meets a row whose map
/// lacks the key (DataFusion and DuckDB return NULL). The aggregates keep the portable subscript, and this
/// engine guards each lookup of a CUR map column as `CASE WHEN contains(map_keys(m), 'k') THEN m['k'] END`,
/// which Trino evaluates lazily and DuckDB (the emulator) also runs. Select list and GROUP BY are rewritten
/// alike, so they still match.
pub fn null_safe_map_lookups(sql: &str) -> String {
    static LOOKUP: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\b(product|tags|resource_tags|cost_category)\['([^']*)'\]")
            .unwrap_or_else(|_| unreachable!())
    });
    LOOKUP.replace_all(sql, "CASE WHEN contains(map_keys($1), '$2') THEN $1['$2'] END").into_owned()
}

/// The export folder of a partition location `s3://b/p/<export>/data/BILLING_PERIOD=2026-03/` (either case
/// of the partition name): `s3://b/p/<export>`.
pub fn export_root(location: &str) -> Option<String> {
    let l = location.trim_end_matches('/');
    let (data, part) = l.rsplit_once('/')?;
    let period = part.strip_prefix("BILLING_PERIOD=").or_else(|| part.strip_prefix("billing_period="))?;
    period.parse::<BillingPeriod>().ok()?;
    let root = data.strip_suffix("/data")?;
    (root.starts_with("s3://") && root.len() > "s3://".len()).then(|| root.to_owned())
}

/// Stops a running query when dropped (shutdown or timeout while waiting).
struct StopOnDrop {
    client: Option<aws_sdk_athena::Client>,
    id: String,
    /// Removes the id from the source's running set once the query is over (or stopped).
    running: Option<Arc<Mutex<HashSet<String>>>>,
}

impl StopOnDrop {
    /// The query finished: nothing to stop.
    fn finished(&mut self) {
        self.client = None;
        if let Some(r) = self.running.take() {
            r.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
        }
    }

    async fn stop(&mut self) {
        if let Some(c) = self.client.take()
            && let Err(e) = c.stop_query_execution().query_execution_id(&self.id).send().await
        {
            tracing::warn!(query = %self.id, error = %crate::error::chain(&e), "could not stop the Athena query");
        }
        self.finished();
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.client.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let id = std::mem::take(&mut self.id);
            tracing::info!(query = %id, "stopping the unfinished Athena query");
            rt.spawn(async move {
                let _ = c.stop_query_execution().query_execution_id(id).send().await;
            });
        }
    }
}

#[async_trait]
impl CurSource for AthenaSource {
    fn engine(&self) -> &'static str {
        "athena"
    }

    /// The export's folders with `--athena.export-path`, else the table's partitions in Glue (empty when
    /// Glue has none registered: partition projection; then only a pinned period can be read).
    async fn periods(&self) -> Result<Vec<BillingPeriod>, SourceError> {
        match &self.export {
            Some(root) => export::list_periods(root).await,
            None => {
                let partitions = self.partitions().await?;
                let mut derived = self.derived.lock().await;
                if derived.is_none() && !partitions.is_empty() {
                    *derived = self.open_derived(&partitions).await;
                }
                Ok(partitions.into_keys().collect())
            }
        }
    }

    fn batch_periods(&self) -> usize {
        // About 7 KB of SQL per period: 12 stay far below Athena's 262,144-byte query limit.
        12
    }

    async fn inspect(&self, period: BillingPeriod, known: Option<&str>) -> Result<Inspected, SourceError> {
        self.columns().await?;
        let derived = self.derived.lock().await.clone();
        let Some(root) = self.export.as_ref().or(derived.as_ref()) else {
            // Nothing to compare: every refresh queries (the fingerprint never repeats).
            return Ok(Inspected::Changed(PeriodInputs {
                period,
                fingerprint: self.token("no-export"),
                from_manifest: false,
                rows: 1,
                bytes_read: 0,
                delivery: None,
            }));
        };
        let before = root.store.bytes_read();
        let f = export::fingerprint(root, period).await?;
        let bytes_read = root.store.bytes_read().saturating_sub(before);
        if known == Some(f.fingerprint.as_str()) {
            return Ok(Inspected::Unchanged { bytes_read });
        }
        Ok(Inspected::Changed(PeriodInputs {
            period,
            fingerprint: f.fingerprint,
            from_manifest: f.from_manifest,
            rows: f.files.iter().filter(|m| m.size > 0).count() as u64,
            bytes_read,
            delivery: None,
        }))
    }

    async fn cancel_running(&self) {
        let ids: Vec<String> = self.running.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        for id in ids {
            tracing::info!(query = %id, "stopping the unfinished Athena query");
            let stop = self.client.stop_query_execution().query_execution_id(&id).send();
            match tokio::time::timeout(Duration::from_secs(5), stop).await {
                Ok(Ok(_)) => self.count("cancelled", 0),
                Ok(Err(e)) => {
                    tracing::warn!(query = %id, error = %crate::error::chain(&e), "could not stop the Athena query")
                }
                Err(_) => tracing::warn!(query = %id, "StopQueryExecution did not answer within 5s"),
            }
        }
    }

    async fn query(
        &self,
        inputs: &PeriodInputs,
        queries: &[Query<'_>],
        sink: &mut dyn ResultSink,
    ) -> Result<Vec<QueryOutput>, SourceError> {
        Ok(self.query_periods(&[inputs], queries, &mut [sink]).await?.pop().unwrap_or_default())
    }

    /// One Athena query for every aggregate of every period (Athena bills at least 10 MB and schedules per
    /// query): the texts joined by `UNION ALL`, the result split by aggregate and period again.
    async fn query_periods(
        &self,
        inputs: &[&PeriodInputs],
        queries: &[Query<'_>],
        sinks: &mut [&mut dyn ResultSink],
    ) -> Result<Vec<Vec<QueryOutput>>, SourceError> {
        let Some(first) = queries.first() else { return Ok(inputs.iter().map(|_| Vec::new()).collect()) };
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let mut parts = Vec::with_capacity(queries.len() * inputs.len());
        let mut absent = Vec::with_capacity(queries.len());
        for query in queries {
            let (_, absent_columns) = self.table_ref(query.aggregate).await?;
            absent.push(absent_columns);
        }
        for i in inputs {
            for query in queries {
                let (table_ref, _) = self.table_ref(query.aggregate).await?;
                // The tag is a plain literal: aggregate names are identifiers, periods print as YYYY-MM.
                parts.push((format!("{} {}", query.aggregate.name, i.period), query.render(&table_ref, i.period)));
            }
        }
        let sql = match parts.as_slice() {
            [(_, only)] => only.clone(),
            _ => union_all(&parts),
        };
        let (table, scanned) = self.run(first.aggregate, null_safe_map_lookups(&sql)).await?;
        let tables = if parts.len() == 1 {
            vec![table]
        } else {
            let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
            split_union(table, &names)?
        };
        let mut tables = tables.into_iter();
        let mut result = Vec::with_capacity(inputs.len());
        for (p, sink) in (0..inputs.len()).zip(sinks.iter_mut()) {
            let mut outputs = Vec::with_capacity(absent.len());
            let mut open = true;
            for (q, absent_columns) in absent.iter().enumerate() {
                let table = tables.next().unwrap_or_default();
                // A sink that refused rows keeps its error; the other periods still get theirs.
                open = open && sink.rows(q, &table);
                outputs.push(QueryOutput {
                    rows_scanned: 0,
                    // The query's scan is counted once.
                    bytes_read: if p == 0 && q == 0 { scanned } else { 0 },
                    absent_columns: absent_columns.clone(),
                    spilled_bytes: 0,
                });
            }
            result.push(outputs);
        }
        Ok(result)
    }
}

impl crate::exposition::Families for AthenaSource {
    fn families(&self, _now: SystemTime) -> Vec<Family> {
        let s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let mut queries = Family::new(
            "kiro_exporter_athena_queries",
            Kind::Counter,
            "Athena queries run, by result (succeeded, failed, cancelled, timeout).",
        );
        for r in ["succeeded", "failed", "cancelled", "timeout"] {
            queries.push(vec![("result", r.to_owned())], s.queries.get(r).copied().unwrap_or(0) as f64);
        }
        let mut scanned = Family::new(
            "kiro_exporter_athena_data_scanned_bytes",
            Kind::Counter,
            "Bytes Athena scanned for the exporter's queries.",
        );
        scanned.push(vec![], s.scanned as f64);
        let mut cost = Family::new(
            "kiro_exporter_athena_estimated_cost_usd",
            Kind::Counter,
            "Estimated Athena cost of the exporter's queries: $5 per TB scanned, at least 10 MB per query.",
        );
        cost.push(vec![], s.cost_usd);
        vec![queries, scanned, cost]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_lookups_are_guarded_for_trino() {
        assert_eq!(
            null_safe_map_lookups(
                "SELECT product['region'] AS r, tags['iamPrincipal/cost-center'] FROM t GROUP BY product['region']"
            ),
            "SELECT CASE WHEN contains(map_keys(product), 'region') THEN product['region'] END AS r, \
             CASE WHEN contains(map_keys(tags), 'iamPrincipal/cost-center') THEN tags['iamPrincipal/cost-center'] END \
             FROM t GROUP BY CASE WHEN contains(map_keys(product), 'region') THEN product['region'] END"
        );
        assert_eq!(
            null_safe_map_lookups("SELECT my_product['x'], 'tags' FROM t"),
            "SELECT my_product['x'], 'tags' FROM t"
        );
    }

    #[test]
    fn the_export_is_found_from_a_partition_location() {
        let root = export_root("s3://billing/cur/kiro-cur/data/BILLING_PERIOD=2026-03/");
        assert_eq!(root.as_deref(), Some("s3://billing/cur/kiro-cur"));
        assert_eq!(export_root("s3://b/e/data/billing_period=2026-03").as_deref(), Some("s3://b/e"));
        for other in [
            "s3://b/e/billing_period=2026-03",
            "s3://b/e/data/BILLING_PERIOD=26-3",
            "/data/x",
            "s3://data/BILLING_PERIOD=2026-03",
        ] {
            assert_eq!(export_root(other), None, "{other}");
        }
    }

    #[test]
    fn identifiers_cannot_carry_sql() {
        assert!(validate_identifier("--athena.table", "cur_v2-data").is_ok());
        for bad in ["", "a\"b", "a.b", "x; DROP TABLE y", "t`", "a b"] {
            assert!(validate_identifier("--athena.table", bad).is_err(), "{bad:?}");
        }
        assert_eq!(quote("cur-v2data"), "\"cur-v2data\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }
}
