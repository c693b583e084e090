//! Delta upsert cost per batch, against a local Delta table:
//! 1. load N rows (default 1,000,000) in key-ordered commits of L rows
//!    (default 100,000, the sink's `max_batch_rows`), compacting when the
//!    table asks for it, as the sink does;
//! 2. apply B batches (default 20) of 10,000 changes — 70% updates of random
//!    existing keys, 25% inserts of new keys, 5% deletes of random existing
//!    keys — each as one commit with its offsets, as the sink does;
//! 3. append the same 10,000-row batches with delta-rs's own writer, no key
//!    handling (the plain append rate).
//!
//! Run: `cargo bench --bench sink_merge` (env: BINLAKE_BENCH_ROWS,
//! BINLAKE_BENCH_BATCHES, BINLAKE_BENCH_LOAD_ROWS, BINLAKE_BENCH_DIR for
//! where the tables go). Peak RSS is printed after the load and at the end:
//! the load's commit size bounds what the bench itself holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use deltalake::arrow::array::{
    ArrayRef, Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::Transaction;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};

use binlake::sink::delta::TableTarget;

const BATCH: usize = 10_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("customer_id", DataType::Int64, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("amount", DataType::Decimal128(12, 2), true),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("note", DataType::Utf8, true),
        Field::new("__op", DataType::Utf8, true),
        Field::new("__source_ts_ms", DataType::Int64, true),
        Field::new("__source_pos", DataType::Utf8, true),
    ]))
}

/// A small xorshift generator: reproducible, no extra dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn rows(ids: &[i64], op: &str, seq: u64) -> Result<RecordBatch> {
    let n = ids.len();
    let statuses = ["new", "paid", "shipped", "done"];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.to_vec())),
        Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|i| i % 100_000),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.iter()
                .map(|i| statuses[(*i as usize + seq as usize) % 4]),
        )),
        Arc::new(
            Decimal128Array::from_iter_values(
                ids.iter()
                    .map(|i| (*i as i128 * 37 + seq as i128) % 10_000_000),
            )
            .with_precision_and_scale(12, 2)?,
        ),
        Arc::new(TimestampMicrosecondArray::from_iter_values(
            ids.iter()
                .map(|i| 1_700_000_000_000_000 + i * 1000 + seq as i64),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|i| format!("order {i} revision {seq}")),
        )),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(op, n))),
        Arc::new(Int64Array::from_iter_values(std::iter::repeat_n(
            1_700_000_000_000 + seq as i64,
            n,
        ))),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            format!("0-1-{seq}"),
            n,
        ))),
    ];
    Ok(RecordBatch::try_new(schema(), cols)?)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<()> {
    let total = env_usize("BINLAKE_BENCH_ROWS", 1_000_000);
    let load_rows = env_usize("BINLAKE_BENCH_LOAD_ROWS", 100_000).max(1);
    let batches = env_usize("BINLAKE_BENCH_BATCHES", 20);
    let base = std::env::var("BINLAKE_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(&base)?;
    let key = vec!["id".to_string()];
    let app = "bench-bench.db.t-0";

    // 1. Load.
    let path = dir.path().join("upsert");
    let mut t = TableTarget::open(path.to_str().context("path")?).await?;
    t.create(schema(), true).await?;
    let started = Instant::now();
    let mut offset = 0i64;
    let mut loaded = 0usize;
    while loaded < total {
        let n = (total - loaded).min(load_rows);
        let ids: Vec<i64> = (loaded as i64 + 1..=(loaded + n) as i64).collect();
        let b = rows(&ids, "r", 0)?;
        offset += n as i64;
        t.apply(
            &key,
            &b,
            &vec![false; n],
            vec![Transaction::new(app, offset)],
            None,
        )
        .await?;
        loaded += n;
        if t.needs_compaction() {
            t.compact(&key).await?;
        }
    }
    let load = started.elapsed();
    println!(
        "load: {total} rows in {:.1} s = {:.0} rows/s ({} files, {load_rows} rows a commit); peak RSS {:.0} MB",
        load.as_secs_f64(),
        total as f64 / load.as_secs_f64(),
        t.file_count(),
        peak_rss_mb()
    );

    // 2. Upsert batches.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut next_id = total as i64 + 1;
    let mut times = Vec::with_capacity(batches);
    let mut compaction = Duration::ZERO;
    let mut compactions = 0;
    let mut batch_rows: Vec<RecordBatch> = Vec::new();
    for seq in 1..=batches as u64 {
        let mut ids = Vec::with_capacity(BATCH);
        let mut deletes = Vec::with_capacity(BATCH);
        for _ in 0..7_000 {
            ids.push(1 + rng.below(next_id as u64 - 1) as i64);
            deletes.push(false);
        }
        for _ in 0..2_500 {
            ids.push(next_id);
            next_id += 1;
            deletes.push(false);
        }
        for _ in 0..500 {
            ids.push(1 + rng.below(next_id as u64 - 1) as i64);
            deletes.push(true);
        }
        let b = rows(&ids, "u", seq)?;
        offset += BATCH as i64;
        let started = Instant::now();
        let r = t
            .apply(
                &key,
                &b,
                &deletes,
                vec![Transaction::new(app, offset)],
                None,
            )
            .await?;
        let took = started.elapsed();
        times.push(took);
        if t.needs_compaction() {
            let c = Instant::now();
            t.compact(&key).await?;
            compaction += c.elapsed();
            compactions += 1;
        }
        if seq <= 3 || seq == batches as u64 {
            println!(
                "batch {seq}: {:.0} ms, replaced {} rows in {} files, {} files live",
                took.as_secs_f64() * 1000.0,
                r.replaced,
                r.files_touched,
                t.file_count()
            );
        }
        batch_rows.push(b);
    }
    let sum: Duration = times.iter().sum();
    let mut sorted = times.clone();
    sorted.sort();
    println!(
        "upsert: {batches} batches of {BATCH} changes on a {total}-row table: median {:.0} ms, p90 {:.0} ms, max {:.0} ms per batch; {:.0} changes/s",
        percentile(&sorted, 0.5).as_secs_f64() * 1000.0,
        percentile(&sorted, 0.9).as_secs_f64() * 1000.0,
        sorted[sorted.len() - 1].as_secs_f64() * 1000.0,
        (batches * BATCH) as f64 / sum.as_secs_f64()
    );
    println!(
        "compaction: {compactions} runs, {:.1} s in all; live rows {}, key index {:.1} MB, peak RSS {:.0} MB",
        compaction.as_secs_f64(),
        t.live_rows(),
        t.index_bytes() as f64 / 1e6,
        peak_rss_mb()
    );

    // 3. Plain appends of the same batches, by delta-rs's writer.
    let apath = dir.path().join("append");
    std::fs::create_dir_all(&apath)?;
    let url = url::Url::from_directory_path(&apath).map_err(|_| anyhow::anyhow!("bad path"))?;
    let mut table = deltalake::operations::create::CreateBuilder::new()
        .with_location(url.as_str())
        .with_columns(
            deltalake::kernel::StructType::try_from_arrow(schema().as_ref())?
                .fields()
                .cloned(),
        )
        .await?;
    let started = Instant::now();
    for b in &batch_rows {
        let mut w = RecordBatchWriter::for_table(&table)?;
        w.write(b.clone()).await?;
        w.flush_and_commit(&mut table).await?;
    }
    let took = started.elapsed();
    println!(
        "append: {} batches of {BATCH} rows: {:.0} ms per batch, {:.0} rows/s",
        batch_rows.len(),
        took.as_secs_f64() * 1000.0 / batch_rows.len() as f64,
        (batch_rows.len() * BATCH) as f64 / took.as_secs_f64()
    );
    Ok(())
}

use delta_kernel::engine::arrow_conversion::TryFromArrow;
