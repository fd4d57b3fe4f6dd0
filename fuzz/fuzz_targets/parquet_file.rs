//! A data file of the export: the input is the bytes of the one Parquet file of a period's delivery, read
//! the way a refresh reads it (footer check, DataFusion's metadata reader, the column types, then the one
//! pass of both aggregates over it). Every input must end in `Ok` or an error, never a panic: a lying file
//! fails its refresh with its name and the daemon keeps serving. Seed it with the sample's files
//! (`scripts/fuzz` copies them into the corpus).
#![no_main]

use std::sync::LazyLock;

use kiro_exporter::model::BillingPeriod;
use kiro_exporter::sources::embedded::EmbeddedSource;
use kiro_exporter::sources::store::{Location, S3Settings, open};
use kiro_exporter::sources::{CurSource, Discard, Inspected};
use kiro_exporter::sql::{BEDROCK_LINES, KIRO_LINES, Query};
use libfuzzer_sys::fuzz_target;

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"));

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let partition = dir.path().join("data/BILLING_PERIOD=2026-10");
    std::fs::create_dir_all(&partition).expect("partition");
    std::fs::write(partition.join("fuzz-00001.snappy.parquet"), data).expect("file");
    let period: BillingPeriod = "2026-10".parse().expect("period");
    RUNTIME.block_on(async {
        let location = Location::Local(dir.path().to_path_buf());
        let Ok(root) = open(&location, &S3Settings::default(), None, false).await else { return };
        let Ok(source) = EmbeddedSource::new(root, 256 << 20) else { return };
        let Ok(Inspected::Changed(inputs)) = source.inspect(period, None).await else { return };
        let keys = ["iamPrincipal/team".to_owned()];
        let queries =
            [Query { aggregate: &KIRO_LINES, tag_keys: &[] }, Query { aggregate: &BEDROCK_LINES, tag_keys: &keys }];
        let _ = source.query(&inputs, &queries, &mut Discard).await;
    });
});
