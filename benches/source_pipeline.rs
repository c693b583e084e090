//! binlake's own source pipeline without the test broker: binlog → change
//! events → Avro → the Kafka producer, into librdkafka's in-process mock
//! cluster, for BINLAKE_BENCH_ROWS (default 1,000,000) inserted rows of 10
//! columns in one transaction. Measured in one run, on the same binlog range:
//! 1. `binlake run --role source` into the mock cluster (which this bench
//!    process hosts): rows/s from the INSERT's COMMIT to the last record
//!    acknowledged, and the source's CPU by thread group. The table's first
//!    change (one row, before) is timed apart: the source reads the table's
//!    columns, registers its schemas and opens its topic once;
//! 2. decode only (binlog → change events), in this process;
//! 3. decode + Avro key and value, in this process (no producer).
//!
//! With BINLAKE_BENCH_ROUNDS=N (1–9, default 1), all three N times on fresh
//! tables: one line per round, then every figure of the round whose share
//! of decode only is the median (the upper middle one for an even N).
//!
//! With BINLAKE_BENCH_SNAPSHOT_ROWS set, also the initial snapshot of a
//! table of that many rows (same columns) into the mock cluster: rows/s
//! from "snapshot of table started" to the last record acknowledged, beside
//! a plain `SELECT *` of the same table through mysql_async (rows dropped).
//!
//! Run: `scripts/servers.sh start && cargo bench --bench source_pipeline`
//! (env: BINLAKE_TEST_MYSQL_URL, BINLAKE_TEST_REGISTRY, BINLAKE_BENCH_ROWS,
//! BINLAKE_BENCH_ROUNDS, BINLAKE_BENCH_SNAPSHOT_ROWS; BINLAKE_BENCH_BIN runs
//! another binlake binary).

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Pool};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::ClientConfig;

use binlake::avro::{CodecCache, RegistryClient};
use binlake::config::Connector;
use binlake::source::binlog::{BinlogConnection, Flavour};
use binlake::source::catalog::Catalog;
use binlake::source::position::{compare_file_pos, Position};
use binlake::source::stream::{ChangeStream, StreamItem};
use futures_util::StreamExt;

use common::{
    cpu_delta, cpu_seconds, env, fresh_binlog_file, master_position, peak_rss_mb, thread_cpu,
};

/// The source under test; killed if the bench fails before stopping it.
struct SourceProcess(Child);

impl Drop for SourceProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the range `start..end` of the binlog: decoding only, or also
/// encoding each change's Avro key and value. Returns rows, CPU s, wall s.
async fn read_range(
    file: &std::path::Path,
    admin_url: &str,
    pool: &Pool,
    start: &Position,
    end: &Position,
    mut codecs: Option<CodecCache>,
) -> Result<(u64, f64, f64)> {
    let connector = Connector::load_offline(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let source = Arc::new(connector.source.clone().context("source")?);
    let catalog = Catalog::new(source.clone(), pool.clone(), Flavour::MariaDb);
    let binlog = BinlogConnection::open(
        Opts::from_url(admin_url)?,
        Flavour::MariaDb,
        source.server_id + 1,
        Duration::from_secs(10),
        start,
    )
    .await?;
    let mut stream = ChangeStream::new(
        connector.name.clone(),
        Flavour::MariaDb,
        binlog,
        catalog,
        start,
        Arc::from("bench"),
    );
    let (mut key, mut value) = (Vec::new(), Vec::new());
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let mut rows = 0u64;
    while let Some(item) = stream.next().await? {
        match item {
            StreamItem::Change(event, _) => {
                if let Some(codecs) = codecs.as_mut() {
                    let codec = codecs.codec(&event.table).await?;
                    key.clear();
                    value.clear();
                    codec.encode_key_into(&event, &mut key)?;
                    codec.encode_value_into(&event, 0, &mut value)?;
                }
                rows += 1;
            }
            StreamItem::Commit(p)
                if compare_file_pos((&p.file, p.pos), (&end.file, end.pos)).is_ge() =>
            {
                break
            }
            _ => {}
        }
    }
    Ok((rows, cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64()))
}

/// What every measurement of this bench runs against: the mock cluster it
/// hosts, MariaDB, the registry, and a directory for connector files and logs.
struct Bench {
    cluster: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    pool: Pool,
    admin_url: String,
    registry: String,
    dir: tempfile::TempDir,
}

impl Bench {
    /// Makes `topics` in the mock cluster, which has no CreateTopics (the
    /// source finds its topics made), and database `db` with the bench
    /// table; returns the cluster's bootstrap servers and a connection.
    async fn prepare(&self, db: &str, topics: &[String]) -> Result<(String, Conn)> {
        for topic in topics {
            self.cluster.create_topic(topic, 1, 1)?;
        }
        let mut conn = self.pool.get_conn().await?;
        conn.query_drop(format!("CREATE DATABASE {db}")).await?;
        conn.query_drop(format!("CREATE TABLE {db}.t {COLUMNS}"))
            .await?;
        Ok((self.cluster.bootstrap_servers(), conn))
    }
}

/// One round's figures: the source into the mock cluster, then decode
/// only and decode + Avro on the same binlog range.
struct Round {
    insert_s: f64,
    range: String,
    first_change: Duration,
    pipeline_s: f64,
    first_record: Option<Duration>,
    rss: Option<f64>,
    cpu: String,
    decoded: u64,
    decode_s: f64,
    decode_cpu: f64,
    encoded: u64,
    encode_s: f64,
    encode_cpu: f64,
}

impl Round {
    fn rate(&self, rows: u64) -> f64 {
        rows as f64 / self.pipeline_s
    }
    fn decode_rate(&self) -> f64 {
        self.decoded as f64 / self.decode_s
    }
    fn share(&self, rows: u64) -> f64 {
        self.rate(rows) / self.decode_rate()
    }
}

/// `rows` inserted in one transaction into a fresh database and topic,
/// measured three ways (see the file's head).
async fn round(k: u32, rows: u64, bench: &Bench) -> Result<Round> {
    let (pool, admin_url, registry) = (&bench.pool, &*bench.admin_url, &*bench.registry);
    let dir = bench.dir.path();
    let run_id = std::process::id();
    let name = format!("benchmock{run_id}r{k}");
    let db = format!("bench_mock_{run_id}_{k}");
    let topic = format!("{name}.{db}.t");

    let (brokers, mut conn) = bench
        .prepare(&db, &[format!("{name}.offsets"), topic.clone()])
        .await?;
    fresh_binlog_file(&mut conn).await?;

    let file = write_config(
        &dir.join(format!("bench{k}.toml")),
        admin_url,
        &name,
        &db,
        &brokers,
        registry,
        "never",
        8000 + (run_id % 100) * 10 + k,
    )?;

    // 1. The whole source into the mock cluster.
    let log_path = dir.join(format!("binlake{k}.log"));
    let mut source = start_source(&file, admin_url, &log_path)?;
    let pid = source.0.id();
    wait_for_line(&log_path, "streaming binlog").await?;
    let watermarks: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()?;
    // The table's first change, timed apart: the source reads the table's
    // columns, registers its schemas and opens its topic once, and that
    // one-time cost is not the pipeline's rate.
    conn.query_drop(format!("INSERT INTO {db}.t {VALUES} FROM {db}.seq_0_to_0"))
        .await?;
    let warm_committed = Instant::now();
    wait_for_records(&watermarks, &topic, 0, 1, warm_committed).await?;
    let first_change = warm_committed.elapsed();
    let start = master_position(pool).await?;
    let insert = Instant::now();
    conn.query_drop(format!(
        "INSERT INTO {db}.t {VALUES} FROM {db}.seq_1_to_{rows}"
    ))
    .await?;
    let committed = Instant::now();
    let cpu_at_commit = thread_cpu(pid);
    let end = master_position(pool).await?;
    let first_record = wait_for_records(&watermarks, &topic, 1, rows + 1, committed).await?;
    let pipeline_s = committed.elapsed().as_secs_f64();
    let (cpu_at_end, rss) = stop(&mut source);

    // 2. and 3. The same binlog range, decoded; then decoded and encoded.
    // A range that never reaches its end (seen once) fails the bench.
    let limit = Duration::from_secs(300);
    let (decoded, decode_cpu, decode_s) = tokio::time::timeout(
        limit,
        read_range(&file, admin_url, pool, &start, &end, None),
    )
    .await
    .with_context(|| format!("decoding {start:?}..{end:?} did not end in {limit:?}"))??;
    let codecs = CodecCache::new(name.clone(), RegistryClient::new(registry)?);
    let (encoded, encode_cpu, encode_s) = tokio::time::timeout(
        limit,
        read_range(&file, admin_url, pool, &start, &end, Some(codecs)),
    )
    .await
    .with_context(|| format!("encoding {start:?}..{end:?} did not end in {limit:?}"))??;
    conn.query_drop(format!("DROP DATABASE {db}")).await?;
    Ok(Round {
        insert_s: (committed - insert).as_secs_f64(),
        range: format!(
            "{}:{}..{}:{} (table {db}.t)",
            start.file, start.pos, end.file, end.pos
        ),
        first_change,
        pipeline_s,
        first_record,
        rss,
        cpu: cpu_delta(&cpu_at_commit, &cpu_at_end),
        decoded,
        decode_s,
        decode_cpu,
        encoded,
        encode_s,
        encode_cpu,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let rows: u64 = env("BINLAKE_BENCH_ROWS", "1000000").parse()?;
    // The share of decode only moves with the machine on both sides from
    // run to run; rounds on fresh tables give its spread and median.
    let rounds: u32 = env("BINLAKE_BENCH_ROUNDS", "1").parse()?;
    if rounds == 0 || rounds > 9 {
        bail!("BINLAKE_BENCH_ROUNDS must be 1 to 9, not {rounds}");
    }
    let admin_url = env(
        "BINLAKE_TEST_MYSQL_URL",
        "mysql://binlake_admin:admin-secret@127.0.0.1:3307",
    );
    let bench = Bench {
        cluster: MockCluster::new(1)?,
        pool: Pool::new(Opts::from_url(&admin_url)?),
        registry: env("BINLAKE_TEST_REGISTRY", "http://127.0.0.1:8081"),
        admin_url,
        dir: tempfile::tempdir()?,
    };

    let mut done = Vec::new();
    for k in 1..=rounds {
        let r = round(k, rows, &bench).await?;
        if rounds > 1 {
            println!(
                "round {k} of {rounds}: pipeline {:.0} rows/s, decode only {:.0} rows/s, \
                 pipeline / decode only {:.0}%",
                r.rate(rows),
                r.decode_rate(),
                100.0 * r.share(rows)
            );
        }
        done.push(r);
    }
    // The round with the median share, all of its figures from that round.
    done.sort_by(|a, b| a.share(rows).total_cmp(&b.share(rows)));
    let r = &done[done.len() / 2];
    let mut out = std::io::stdout().lock();
    if rounds > 1 {
        writeln!(
            out,
            "median round by pipeline / decode only ({rounds} rounds, {:.0}%–{:.0}%):",
            100.0 * done[0].share(rows),
            100.0 * done[done.len() - 1].share(rows)
        )?;
    }
    writeln!(
        out,
        "rows: {rows} (one transaction; INSERT and COMMIT took {:.1} s)",
        r.insert_s
    )?;
    writeln!(out, "binlog range: {}", r.range)?;
    writeln!(
        out,
        "the table's first change (one row; columns read, schemas registered, topic opened): \
         COMMIT → acked {} ms",
        r.first_change.as_millis()
    )?;
    writeln!(
        out,
        "binlake source → mock cluster, COMMIT → last record acked: {:.2} s, {:.0} rows/s \
         (first record after {} ms); peak RSS {}",
        r.pipeline_s,
        r.rate(rows),
        r.first_record.map_or(0, |f| f.as_millis()),
        r.rss
            .map(|m| format!("{m:.0} MB"))
            .unwrap_or_else(|| "n/a".into())
    )?;
    writeln!(out, "source CPU, COMMIT → last ack: {}", r.cpu)?;
    writeln!(
        out,
        "decode only (same binlog): {} rows, {:.2} s, {:.2} CPU s, {:.0} rows/s wall",
        r.decoded,
        r.decode_s,
        r.decode_cpu,
        r.decode_rate()
    )?;
    writeln!(
        out,
        "decode + Avro key and value (same binlog): {} rows, {:.2} s, {:.2} CPU s, {:.0} rows/s wall",
        r.encoded,
        r.encode_s,
        r.encode_cpu,
        r.encoded as f64 / r.encode_s
    )?;
    writeln!(out, "pipeline / decode only: {:.0}%", 100.0 * r.share(rows))?;
    drop(out);

    let snapshot_rows: u64 = env("BINLAKE_BENCH_SNAPSHOT_ROWS", "0").parse()?;
    if snapshot_rows > 0 {
        snapshot(snapshot_rows, &bench).await?;
    }
    Ok(())
}

/// The initial snapshot of a `rows`-row table into the mock cluster, then a
/// plain `SELECT *` of the same table.
async fn snapshot(rows: u64, bench: &Bench) -> Result<()> {
    let (admin_url, registry) = (&*bench.admin_url, &*bench.registry);
    let dir = bench.dir.path();
    let run_id = std::process::id();
    let name = format!("benchsnap{run_id}");
    let db = format!("bench_snap_{run_id}");
    let topic = format!("{name}.{db}.t");
    let topics = [
        format!("{name}.offsets"),
        format!("{name}.signals"),
        topic.clone(),
    ];
    let (brokers, mut conn) = bench.prepare(&db, &topics).await?;
    let filled = Instant::now();
    // Transactions of a million rows: the binlog cache stays reasonable.
    for from in (1..=rows).step_by(1_000_000) {
        let to = (from + 999_999).min(rows);
        conn.query_drop(format!(
            "INSERT INTO {db}.t {VALUES} FROM {db}.seq_1_to_{rows} WHERE seq BETWEEN {from} AND {to}"
        ))
        .await?;
    }
    let fill = filled.elapsed().as_secs_f64();

    let file = write_config(
        &dir.join("snapshot.toml"),
        admin_url,
        &name,
        &db,
        &brokers,
        registry,
        "initial",
        9000 + run_id % 1000,
    )?;
    let log_path = dir.join("snapshot.log");
    let mut source = start_source(&file, admin_url, &log_path)?;
    let pid = source.0.id();
    wait_for_line(&log_path, "snapshot of table started").await?;
    let started = Instant::now();
    let cpu_at_start = thread_cpu(pid);
    let watermarks: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()?;
    wait_for_records(&watermarks, &topic, 0, rows, started).await?;
    let took = started.elapsed().as_secs_f64();
    let (cpu_at_end, rss) = stop(&mut source);

    let (plain, plain_wall) = {
        let t = Instant::now();
        let mut n = 0u64;
        let mut result = conn.exec_iter(format!("SELECT * FROM {db}.t"), ()).await?;
        let mut stream = result
            .stream::<mysql_async::Row>()
            .await?
            .context("a result set")?;
        while let Some(row) = stream.next().await {
            row?;
            n += 1;
        }
        (n, t.elapsed().as_secs_f64())
    };
    conn.query_drop(format!("DROP DATABASE {db}")).await?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "snapshot table: {rows} rows (filled in {fill:.1} s)")?;
    writeln!(
        out,
        "binlake snapshot → mock cluster, started → last record acked: {took:.2} s, {:.0} rows/s; \
         peak RSS {}",
        rows as f64 / took,
        rss.map(|r| format!("{r:.0} MB"))
            .unwrap_or_else(|| "n/a".into())
    )?;
    writeln!(
        out,
        "source CPU, snapshot: {}",
        cpu_delta(&cpu_at_start, &cpu_at_end)
    )?;
    writeln!(
        out,
        "plain SELECT * (mysql_async, rows dropped): {plain} rows, {plain_wall:.2} s, {:.0} rows/s",
        plain as f64 / plain_wall
    )?;
    Ok(())
}

/// The bench table's shape and the values its rows get from `seq`.
const COLUMNS: &str = "(id BIGINT PRIMARY KEY, a INT, b VARCHAR(64), c DECIMAL(12,2), \
     d DATETIME(6), e DOUBLE, f INT UNSIGNED, g TEXT, h DATE, i BIGINT)";
const VALUES: &str = "SELECT seq, seq % 100000, CONCAT('name-', seq), seq / 100, \
     '2026-11-23 12:34:56.123456' + INTERVAL seq SECOND, seq * 1.5, seq, REPEAT('x', 20), \
     '2026-01-01' + INTERVAL (seq % 3000) DAY, seq * 7";

#[allow(clippy::too_many_arguments)]
fn write_config(
    path: &std::path::Path,
    admin_url: &str,
    name: &str,
    db: &str,
    brokers: &str,
    registry: &str,
    snapshot: &str,
    server_id: u32,
) -> Result<std::path::PathBuf> {
    let admin = Opts::from_url(admin_url)?;
    std::fs::write(
        path,
        format!(
            "name = \"{name}\"\n[source]\nurl = \"mysql://{}@{}:{}\"\n\
             password_env = \"BINLAKE_BENCH_PASSWORD\"\nserver_id = {server_id}\n\
             tables = [\"{db}.*\"]\nsnapshot = \"{snapshot}\"\n[kafka]\nbrokers = \"{brokers}\"\n\
             [registry]\nurl = \"{registry}\"\n",
            admin.user().unwrap_or("root"),
            admin.ip_or_hostname(),
            admin.tcp_port(),
        ),
    )?;
    Ok(path.to_path_buf())
}

fn start_source(
    file: &std::path::Path,
    admin_url: &str,
    log: &std::path::Path,
) -> Result<SourceProcess> {
    let password = Opts::from_url(admin_url)?.pass().unwrap_or("").to_string();
    Ok(SourceProcess(
        Command::new(env("BINLAKE_BENCH_BIN", env!("CARGO_BIN_EXE_binlake")))
            .args(["run", file.to_str().context("path")?, "--role", "source"])
            .env("BINLAKE_BENCH_PASSWORD", password)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()?,
    ))
}

/// Waits until partition 0 of `topic`, holding `from` records before,
/// holds `to`; returns when the first new one arrived, after `since`.
async fn wait_for_records(
    watermarks: &BaseConsumer,
    topic: &str,
    from: u64,
    to: u64,
    since: Instant,
) -> Result<Option<Duration>> {
    let (mut seen, mut last, mut first) = (from as i64, Instant::now(), None);
    while seen < to as i64 {
        let (_, hw) = watermarks.fetch_watermarks(topic, 0, Duration::from_secs(5))?;
        if hw != seen {
            if first.is_none() {
                first = Some(since.elapsed());
            }
            seen = hw;
            last = Instant::now();
        } else if last.elapsed() > Duration::from_secs(120) {
            bail!("stalled at {seen} of {to} records");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(first)
}

/// The source's CPU by thread and peak RSS, then SIGTERM.
fn stop(source: &mut SourceProcess) -> (std::collections::BTreeMap<String, f64>, Option<f64>) {
    let pid = source.0.id();
    let cpu = thread_cpu(pid);
    let rss = peak_rss_mb(pid);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = source.0.wait();
    (cpu, rss)
}

async fn wait_for_line(log: &std::path::Path, line: &str) -> Result<()> {
    let started = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(line)
    {
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "no \"{line}\" from the source after 60 s: {}",
                std::fs::read_to_string(log)?
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
