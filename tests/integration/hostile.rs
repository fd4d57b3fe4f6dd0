//! Hostile and broken input: every case fails with a named error (file, column or line) and never panics
//! or hangs; the daemon keeps serving the last good snapshot through all of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::*;

const CHUNK: &str = "data/BILLING_PERIOD=2026-10/kiro-cur-00002.snappy.parquet";

/// Rewrites `line_item_usage_amount` of a Parquet file: Kiro `Credits` rows get `credits`; with `as_text`
/// the whole column becomes text.
fn rewrite_usage(path: &Path, credits: f64, as_text: bool) {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let schema = batches[0].schema();
    let idx = schema.index_of("line_item_usage_amount").unwrap();
    let op = schema.index_of("line_item_operation").unwrap();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    if as_text {
        fields[idx] = Field::new("line_item_usage_amount", DataType::Utf8, true);
    }
    let new_schema = Arc::new(Schema::new(fields));
    let out = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(out, new_schema.clone(), None).unwrap();
    for b in &batches {
        let amounts = b.column(idx).as_any().downcast_ref::<Float64Array>().unwrap();
        let ops = b.column(op).as_any().downcast_ref::<StringArray>().unwrap();
        let column: ArrayRef = if as_text {
            Arc::new(StringArray::from_iter((0..b.num_rows()).map(|i| Some(format!("{} credits", amounts.value(i))))))
        } else {
            Arc::new(Float64Array::from_iter(
                (0..b.num_rows()).map(|i| {
                    Some(if !ops.is_null(i) && ops.value(i) == "Credits" { credits } else { amounts.value(i) })
                }),
            ))
        };
        let mut columns = b.columns().to_vec();
        columns[idx] = column;
        w.write(&RecordBatch::try_new(new_schema.clone(), columns).unwrap()).unwrap();
    }
    w.close().unwrap();
}

/// The hostile variants of the chunk, each with what its error must say.
fn variants(good: &Path, dir: &Path) -> Vec<(&'static str, PathBuf, &'static str)> {
    let make = |name: &str, f: &dyn Fn(&Path)| {
        let p = dir.join(name);
        std::fs::copy(good, &p).unwrap();
        f(&p);
        p
    };
    vec![
        (
            "truncated",
            make("truncated", &|p| {
                let b = std::fs::read(p).unwrap();
                std::fs::write(p, &b[..b.len() / 2]).unwrap();
            }),
            "is not a readable Parquet file",
        ),
        (
            "wrong type",
            make("text", &|p| rewrite_usage(p, 0.0, true)),
            "column line_item_usage_amount is Utf8, expected Double",
        ),
        ("NaN", make("nan", &|p| rewrite_usage(p, f64::NAN, false)), "NaN"),
        ("1e300", make("huge", &|p| rewrite_usage(p, 1e300, false)), "1e300"),
        ("negative credits", make("negative", &|p| rewrite_usage(p, -500.0, false)), "negative credits used (-500)"),
    ]
}

#[test]
fn broken_exports_fail_with_the_file_and_column_named() {
    let export = small_export();
    let chunk = export.path().join(CHUNK);
    let good = tempfile::tempdir().unwrap();
    let good_chunk = good.path().join("good.parquet");
    std::fs::copy(&chunk, &good_chunk).unwrap();
    for (what, variant, want) in variants(&good_chunk, good.path()) {
        std::fs::copy(&variant, &chunk).unwrap();
        let msg = fails(&["--once", "--cur.path", export.path().to_str().unwrap()], &[]);
        assert!(msg.contains(want), "{what}: {msg}");
        if what != "negative credits" {
            assert!(msg.contains("kiro-cur-00002.snappy.parquet"), "{what}: the file is named: {msg}");
        }
        assert!(!msg.contains("panicked"), "{what}: {msg}");
    }
}

#[test]
fn the_daemon_keeps_the_last_good_snapshot_through_hostile_input() {
    let export = small_export();
    let chunk = export.path().join(CHUNK);
    let spare = tempfile::tempdir().unwrap();
    let good_chunk = spare.path().join("good.parquet");
    std::fs::copy(&chunk, &good_chunk).unwrap();
    let variants = variants(&good_chunk, spare.path());

    let daemon = Daemon::start(&["--cur.path", export.path().to_str().unwrap(), "--refresh-interval", "1s"]);
    let addr = daemon.addr.clone();
    let wait = |what: &str, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let scrape = || parse(&String::from_utf8(http_get(&addr, "/metrics", &[]).2).unwrap());
    let cost = |s: &[(String, Labels, f64)]| -> Vec<(String, Labels, f64)> {
        s.iter().filter(|(n, _, _)| n.starts_with("kiro_credits") || n.starts_with("bedrock_")).cloned().collect()
    };
    wait("ready", &|| http_get(&addr, "/-/ready", &[]).0 == 200);
    let good = cost(&scrape());
    assert!(!good.is_empty());

    for (what, variant, _) in &variants {
        let failures = value(&scrape(), "kiro_exporter_refreshes_total", &[("result", "failure")]);
        std::fs::copy(variant, &chunk).unwrap();
        wait(what, &|| value(&scrape(), "kiro_exporter_refreshes_total", &[("result", "failure")]) > failures);
        let s = scrape();
        assert_eq!(cost(&s), good, "{what}: the last good data is still served");
        close(value(&s, "kiro_exporter_last_refresh_success", &[]), 0.0, what);
        assert_eq!(http_get(&addr, "/-/ready", &[]).0, 200);
        std::fs::copy(&good_chunk, &chunk).unwrap();
        wait("recovery", &|| value(&scrape(), "kiro_exporter_last_refresh_success", &[]) == 1.0);
    }
    daemon.stop();
}

#[test]
fn hostile_names_stay_bounded_valid_label_values() {
    let export = small_export();
    let users = export.users();
    let mut text = std::fs::read_to_string(&users).unwrap();
    let bob = kiro_exporter_generate::scenario::BOB;
    text = text.replace("\"Username\":\"bob\"", &format!("\"Username\":\"{}\\u0000\\u001b[31m\"", "b".repeat(10_000)));
    std::fs::write(&users, text).unwrap();
    let out =
        once(&["--cur.path", export.path().to_str().unwrap(), "--identity.users-file", users.to_str().unwrap()], &[]);
    let s = parse(&out);
    let user = &all(&s, "kiro_credits_used", &[("user_id", bob)])[0].1["user"];
    assert!(user.len() <= 1024 && user.contains('…'), "{} bytes", user.len());
    assert!(!user.chars().any(char::is_control));
    // The users file with a broken line is a named error of the identity source; costs are still exported.
    std::fs::write(&users, "{\"Username\":\"a\",\"UserId\":\"1\"}\n{\"Username\":\n").unwrap();
    let out = run(
        &["--once", "--cur.path", export.path().to_str().unwrap(), "--identity.users-file", users.to_str().unwrap()],
        &[],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("line 2"), "{log}");
}

/// The first data file of a partition.
fn first_parquet(partition: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(partition)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files.remove(0)
}

#[test]
fn symlinks_out_of_the_export_are_refused_unless_followed() {
    // A data file swapped for a link to a file outside the export.
    let export = small_export();
    let outside = tempfile::tempdir().unwrap();
    let file = first_parquet(&export.partition("2026-10"));
    let moved = outside.path().join("elsewhere.parquet");
    std::fs::copy(&file, &moved).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&moved, &file).unwrap();
    let cur = export.path().to_str().unwrap();
    let err = fails(&["--once", "--cur.path", cur, "--billing-period", "2026-10"], &[]);
    assert!(err.contains(file.to_str().unwrap()) && err.contains("--cur.follow-symlinks"), "{err}");
    let followed = once(&["--cur.path", cur, "--billing-period", "2026-10", "--cur.follow-symlinks"], &[]);
    assert!(followed.contains("kiro_credits_used{"));
    // A link that stays inside the export is fine.
    let inside = export.path().join("inside.parquet");
    std::fs::copy(&moved, &inside).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&inside, &file).unwrap();
    assert!(once(&["--cur.path", cur, "--billing-period", "2026-10"], &[]).contains("kiro_credits_used{"));

    // A whole partition folder that is a link out of the export.
    let export = small_export();
    let partition = export.partition("2026-10");
    let moved = outside.path().join("partition");
    std::fs::rename(&partition, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &partition).unwrap();
    let cur = export.path().to_str().unwrap();
    let err = fails(&["--once", "--cur.path", cur, "--billing-period", "2026-10"], &[]);
    assert!(err.contains(partition.to_str().unwrap()) && err.contains("--cur.follow-symlinks"), "{err}");
    let env = [("KIRO_EXPORTER_CUR_FOLLOW_SYMLINKS", "true")];
    assert!(once(&["--cur.path", cur, "--billing-period", "2026-10"], &env).contains("kiro_credits_used{"));
}
