//! The layout of a CUR 2.0 Data Export, as AWS writes it and `aws s3 sync` copies it:
//!
//! ```text
//! <export>/data/BILLING_PERIOD=2026-01/<name>-00001.snappy.parquet
//! <export>/metadata/BILLING_PERIOD=2026-01/<name>-Manifest.json   {"dataFiles": ["s3://..."], "executionId": ...}
//! ```
//!
//! The manifest is written after all data files of a delivery, so when present it decides which files form
//! the current delivery (left-over chunks of an older one are ignored). Without one, every Parquet file of
//! the partition is read. Zero-byte and zero-row chunks are skipped.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use datafusion::arrow::datatypes::SchemaRef;
use std::sync::Arc;

use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::PageIndexPolicy;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde::Deserialize;

use super::SourceError;
use super::store::Rooted;
use crate::model::BillingPeriod;

const PARTITION: &str = "BILLING_PERIOD=";

/// One data file of a delivery, with its schema as stored.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub meta: ObjectMeta,
    pub rows: u64,
    pub schema: SchemaRef,
}

/// The data files of one period and where the list came from.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub period: BillingPeriod,
    /// Non-empty files, in path order.
    pub files: Vec<DataFile>,
    pub from_manifest: bool,
    pub fingerprint: String,
    /// Bytes of the files (for logs).
    pub total_bytes: u64,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(rename = "dataFiles")]
    data_files: Vec<String>,
    #[serde(rename = "executionId", default)]
    execution_id: Option<String>,
}

fn child(prefix: &Path, parts: &[&str]) -> Path {
    parts.iter().fold(prefix.clone(), |p, part| p.join(*part))
}

fn display(root: &Rooted, path: &Path) -> String {
    match &root.location {
        super::store::Location::S3 { bucket, .. } => format!("s3://{bucket}/{path}"),
        super::store::Location::Local(_) => format!("/{path}"),
    }
}

/// Billing periods that have a `data/BILLING_PERIOD=` folder, oldest first.
pub async fn list_periods(root: &Rooted) -> Result<Vec<BillingPeriod>, SourceError> {
    let data = child(&root.prefix, &["data"]);
    let listing = root
        .store
        .list_with_delimiter(Some(&data))
        .await
        .map_err(|source| SourceError::List { location: display(root, &data), source })?;
    let mut periods: Vec<BillingPeriod> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename())
        .filter_map(|name| name.strip_prefix(PARTITION).or_else(|| name.strip_prefix("billing_period=")))
        .filter_map(|p| p.parse().ok())
        .collect();
    periods.sort();
    periods.dedup();
    if periods.is_empty() {
        return Err(SourceError::NoData(format!(
            "no data/BILLING_PERIOD=YYYY-MM folders under {}: --cur.path must name the export folder that holds data/ and metadata/",
            root.location.display()
        )));
    }
    Ok(periods)
}

async fn list_all(root: &Rooted, prefix: &Path) -> Result<Vec<ObjectMeta>, SourceError> {
    let mut v: Vec<ObjectMeta> = root
        .store
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(|source| SourceError::List { location: display(root, prefix), source })?;
    v.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(v)
}

/// The relative `data/BILLING_PERIOD=.../file` part of a manifest entry (an s3:// URI of the original export).
fn manifest_entry_suffix(entry: &str) -> Option<&str> {
    let i = entry.find("data/BILLING_PERIOD=").or_else(|| entry.find("data/billing_period="))?;
    Some(&entry[i..])
}

/// The files of a delivery and the manifest that named them, if any.
#[derive(Debug)]
struct Listed {
    files: Vec<ObjectMeta>,
    manifest: Option<ObjectMeta>,
}

/// Lists a period's delivery: the manifest's files when there is a manifest, else the partition's Parquet files.
async fn list_delivery(root: &Rooted, period: BillingPeriod) -> Result<Listed, SourceError> {
    let part = format!("{PARTITION}{period}");
    let mut listed = list_all(root, &child(&root.prefix, &["data", &part])).await?;
    if listed.is_empty() {
        // Copies re-laid out for Hive-style tools (Athena emulators) use the lower-case partition name.
        listed = list_all(root, &child(&root.prefix, &["data", &format!("billing_period={period}")])).await?;
    }
    let manifest = list_all(root, &child(&root.prefix, &["metadata", &part]))
        .await?
        .into_iter()
        .filter(|m| m.location.filename().is_some_and(|f| f.ends_with("-Manifest.json")))
        .max_by_key(|m| (m.last_modified, m.location.clone()));
    let Some(manifest) = manifest else {
        let files =
            listed.into_iter().filter(|m| m.location.filename().is_some_and(|f| f.ends_with(".parquet"))).collect();
        return Ok(Listed { files, manifest: None });
    };
    let location = display(root, &manifest.location);
    let read_err = |source| SourceError::Read { location: location.clone(), source };
    let bytes = root.store.get(&manifest.location).await.map_err(read_err)?.bytes().await.map_err(read_err)?;
    let bad = |reason: String| SourceError::Manifest { location: location.clone(), reason };
    let parsed: Manifest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut files = Vec::with_capacity(parsed.data_files.len());
    for entry in &parsed.data_files {
        let suffix = manifest_entry_suffix(entry)
            .ok_or_else(|| bad(format!("data file {entry:?} is not under data/BILLING_PERIOD=...")))?;
        let want = Path::parse(suffix)
            .map(|rel| rel.parts().fold(root.prefix.clone(), |p, part| p.join(part)))
            .map_err(|e| bad(format!("data file {entry:?}: {e}")))?;
        let found = listed.iter().find(|m| m.location == want).ok_or_else(|| {
            bad(format!(
                "lists {entry} but {} does not exist (incomplete copy? run `aws s3 sync` again)",
                display(root, &want)
            ))
        })?;
        files.push(found.clone());
    }
    files.sort_by(|a, b| a.location.cmp(&b.location));
    files.dedup_by(|a, b| a.location == b.location);
    tracing::debug!(manifest = %location, execution_id = ?parsed.execution_id, files = files.len(), "using the export manifest");
    Ok(Listed { files, manifest: Some(manifest) })
}

/// A period's data files and the fingerprint of its delivery, without reading any data.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub files: Vec<ObjectMeta>,
    pub from_manifest: bool,
    pub fingerprint: String,
}

/// Lists a period's delivery and fingerprints it (manifest, else the listed files).
pub async fn fingerprint(root: &Rooted, period: BillingPeriod) -> Result<Fingerprint, SourceError> {
    let Listed { files, manifest } = list_delivery(root, period).await?;
    let from_manifest = manifest.is_some();
    let mut hasher = DefaultHasher::new();
    period.to_string().hash(&mut hasher);
    for m in manifest.iter().chain(files.iter()) {
        m.location.as_ref().hash(&mut hasher);
        m.size.hash(&mut hasher);
        m.last_modified.hash(&mut hasher);
        m.e_tag.hash(&mut hasher);
    }
    let fingerprint = format!("{}:{:016x}", if from_manifest { "manifest" } else { "listing" }, hasher.finish());
    Ok(Fingerprint { files, from_manifest, fingerprint })
}

/// Finds a period's files and fingerprints the delivery; unless the fingerprint is `known` (the delivery
/// is unchanged: `None`, no footer is read), reads the files' footers.
pub async fn inspect(
    root: &Rooted,
    cache: &Arc<FileMetadataCache>,
    period: BillingPeriod,
    known: Option<&str>,
) -> Result<Option<Delivery>, SourceError> {
    let Fingerprint { files, from_manifest, fingerprint } = fingerprint(root, period).await?;
    if known == Some(fingerprint.as_str()) {
        return Ok(None);
    }

    let footers = futures::stream::iter(files.into_iter().filter(|m| m.size > 0))
        .map(|meta| read_footer(root, cache, meta))
        .buffered(8)
        .try_collect::<Vec<_>>()
        .await?;
    let files: Vec<DataFile> = footers.into_iter().filter(|f| f.rows > 0).collect();
    let total_bytes = files.iter().map(|f| f.meta.size).sum();
    Ok(Some(Delivery { period, files, from_manifest, fingerprint, total_bytes }))
}

async fn read_footer(root: &Rooted, cache: &Arc<FileMetadataCache>, meta: ObjectMeta) -> Result<DataFile, SourceError> {
    let shown = display(root, &meta.location);
    if !meta.location.as_ref().ends_with(".parquet") {
        let reason = if meta.location.as_ref().ends_with(".csv.gz") || meta.location.as_ref().ends_with(".csv") {
            "CSV exports are not supported: create the Data Export with the Parquet file format".to_owned()
        } else {
            "not a .parquet file".to_owned()
        };
        return Err(SourceError::Parquet { location: shown, reason });
    }
    // A footer cached for this very version of the file (size and time) was checked when it was read.
    if !cache.get(&meta.location).is_some_and(|c| c.is_valid_for(&meta)) {
        check_footer(root, &meta, &shown).await?;
    }
    // DataFusion's metadata reader, with the session's cache: the scan that follows finds the footer there
    // and does not fetch it again.
    let md = DFParquetMetadata::new(root.store.as_ref(), &meta)
        .with_metadata_size_hint(Some(FOOTER_PREFETCH))
        .with_file_metadata_cache(Some(cache.clone()))
        // The aggregates filter on unsorted text columns: page indexes would be fetched and never used.
        .with_page_index_policy(Some(PageIndexPolicy::Skip))
        .fetch_metadata()
        .await
        .map_err(|e| SourceError::Parquet { location: shown.clone(), reason: e.to_string() })?;
    let fm = md.file_metadata();
    let schema = parquet_to_arrow_schema(fm.schema_descr(), fm.key_value_metadata())
        .map_err(|e| SourceError::Parquet { location: shown, reason: e.to_string() })?;
    Ok(DataFile { schema: std::sync::Arc::new(schema), rows: u64::try_from(fm.num_rows()).unwrap_or(0), meta })
}

/// Checks a file's tail before a Parquet reader sees it: `PAR1` magic, and a footer length that fits in the
/// file. The parquet crate panics on a length beyond the file ("range start must not be greater than end")
/// instead of returning an error; a lying file must fail its refresh with its name, not take the process
/// down. Read once per file version (a footer already cached was checked when it was read).
async fn check_footer(root: &Rooted, meta: &ObjectMeta, shown: &str) -> Result<(), SourceError> {
    let bad = |reason: String| SourceError::Parquet { location: shown.to_owned(), reason };
    if meta.size < 12 {
        return Err(bad(format!("{} bytes is too small for a Parquet file", meta.size)));
    }
    let tail = root
        .store
        .get_range(&meta.location, meta.size - 8..meta.size)
        .await
        .map_err(|source| SourceError::Read { location: shown.to_owned(), source })?;
    footer_fits(&tail, meta.size).map_err(bad)
}

/// Whether the last 8 bytes of a file of `size` bytes end a Parquet file whose footer fits in it.
fn footer_fits(tail: &[u8], size: u64) -> Result<(), String> {
    let [a, b, c, d, magic @ ..] = tail else { return Err("cannot read its last 8 bytes".into()) };
    if magic != b"PAR1" {
        return Err("no PAR1 magic at its end (not Parquet, or cut short)".into());
    }
    let footer = u64::from(u32::from_le_bytes([*a, *b, *c, *d]));
    // Header magic (4) + footer + its length (4) + trailing magic (4) must fit in the file.
    if footer + 12 > size {
        return Err(format!("its footer length ({footer} bytes) exceeds the file ({size} bytes): the file is corrupt"));
    }
    Ok(())
}

/// Bytes fetched from the end of a file to read its footer in one request (CUR 2.0 footers with ~125
/// columns and a few row groups fit).
const FOOTER_PREFETCH: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footer_length_beyond_the_file_is_refused_before_any_reader_sees_it() {
        let tail = |len: u32| [len.to_le_bytes().as_slice(), b"PAR1"].concat();
        assert_eq!(footer_fits(&tail(100), 112), Ok(()));
        let e = footer_fits(&tail(0x7fff_ffff), 5_000).unwrap_err();
        assert_eq!(e, "its footer length (2147483647 bytes) exceeds the file (5000 bytes): the file is corrupt");
        assert!(footer_fits(&tail(101), 112).is_err());
        assert!(footer_fits(b"1234PAR2", 5_000).unwrap_err().contains("no PAR1 magic"));
        assert!(footer_fits(b"PAR1", 5_000).is_err());
    }

    #[test]
    fn manifest_entries_map_to_the_local_copy() {
        assert_eq!(
            manifest_entry_suffix("s3://bkt/cur/exp/data/BILLING_PERIOD=2026-01/exp-00001.snappy.parquet"),
            Some("data/BILLING_PERIOD=2026-01/exp-00001.snappy.parquet")
        );
        assert_eq!(manifest_entry_suffix("s3://bkt/elsewhere/x.parquet"), None);
    }
}
