//! Source throughput: 1,000,000 inserted rows of 10 columns, in one
//! transaction, measured three ways in one run against the local servers:
//! 1. binlake's source, binlog → Kafka acknowledged (rows/s, peak RSS);
//! 2. the same binlog range read and decoded only, no Kafka (rows per CPU-s);
//! 3. a plain rdkafka producer writing records of the same size to the same
//!    broker (the broker's ceiling).
//!
//! It also prints the transaction's binlog range (`binlog range: FILE:POS..
//! FILE:POS (table DB.t)`), which `bench/pyrepl.py` decodes again with
//! python-mysql-replication (`bash bench/run.sh` runs both).
//!
//! Run: `scripts/servers.sh start && cargo bench --bench source_rate`
//! (env: BINLAKE_TEST_MYSQL_URL, BINLAKE_TEST_BROKERS, BINLAKE_TEST_REGISTRY,
//! BINLAKE_BENCH_ROWS to change the row count, BINLAKE_BENCH_BIN to run
//! another binlake binary).

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, Pool};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use binlake::config::Connector;
use binlake::source::binlog::{BinlogConnection, Flavour};
use binlake::source::catalog::Catalog;
use binlake::source::position::compare_file_pos;
use binlake::source::stream::{ChangeStream, StreamItem};

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

fn high_watermark(brokers: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
    {
        Ok(c) => c,
        Err(_) => return 0,
    };
    consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(5))
        .map(|(_, high)| high)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let rows: u64 = env("BINLAKE_BENCH_ROWS", "1000000").parse()?;
    let admin_url = env(
        "BINLAKE_TEST_MYSQL_URL",
        "mysql://binlake_admin:admin-secret@127.0.0.1:3307",
    );
    let brokers = env("BINLAKE_TEST_BROKERS", "127.0.0.1:9092");
    let registry = env("BINLAKE_TEST_REGISTRY", "http://127.0.0.1:8081");
    let run_id = std::process::id();
    let name = format!("bench{run_id}");
    let db = format!("bench_src_{run_id}");
    let pool = Pool::new(Opts::from_url(&admin_url)?);
    let mut conn = pool.get_conn().await?;
    conn.query_drop(format!("CREATE DATABASE {db}")).await?;
    conn.query_drop(format!(
        "CREATE TABLE {db}.t (id BIGINT PRIMARY KEY, a INT, b VARCHAR(64), c DECIMAL(12,2), \
         d DATETIME(6), e DOUBLE, f INT UNSIGNED, g TEXT, h DATE, i BIGINT)"
    ))
    .await?;
    fresh_binlog_file(&mut conn).await?;

    let admin_opts = Opts::from_url(&admin_url)?;
    let password = admin_opts.pass().unwrap_or("").to_string();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"{name}\"\n[source]\nurl = \"mysql://{}@{}:{}\"\n\
             password_env = \"BINLAKE_BENCH_PASSWORD\"\nserver_id = {}\ntables = [\"{db}.*\"]\n\
             snapshot = \"never\"\n[kafka]\nbrokers = \"{brokers}\"\n[registry]\nurl = \"{registry}\"\n",
            admin_opts.user().unwrap_or("root"),
            admin_opts.ip_or_hostname(),
            admin_opts.tcp_port(),
            7000 + run_id % 1000,
        ),
    )?;

    // 1. binlake source, binlog → Kafka acknowledged.
    let log_path = dir.path().join("binlake.log");
    let mut source = SourceProcess(
        Command::new(env("BINLAKE_BENCH_BIN", env!("CARGO_BIN_EXE_binlake")))
            .args(["run", file.to_str().context("path")?, "--role", "source"])
            .env("BINLAKE_BENCH_PASSWORD", &password)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path)?)
            .spawn()?,
    );
    let started = Instant::now();
    // "streaming binlog" is logged once the start position is stored.
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("streaming binlog")
    {
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "the source is not streaming after 60 s: {}",
                std::fs::read_to_string(&log_path)?
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let start = master_position(&pool).await?;
    let cpu_at_start = thread_cpu(source.0.id());
    let insert = Instant::now();
    conn.query_drop(format!(
        "INSERT INTO {db}.t SELECT seq, seq % 100000, CONCAT('name-', seq), seq / 100, \
         '2026-11-23 12:34:56.123456' + INTERVAL seq SECOND, seq * 1.5, seq, REPEAT('x', 20), \
         '2026-01-01' + INTERVAL (seq % 3000) DAY, seq * 7 FROM {db}.seq_1_to_{rows}"
    ))
    .await?;
    let committed = insert.elapsed();
    let end = master_position(&pool).await?;
    let topic = format!("{name}.{db}.t");
    let mut last = Instant::now();
    let mut seen = 0;
    while seen < rows as i64 {
        let hw = high_watermark(&brokers, &topic);
        if hw != seen {
            seen = hw;
            last = Instant::now();
        } else if last.elapsed() > Duration::from_secs(120) {
            bail!("stalled at {seen} of {rows} records");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pipeline = insert.elapsed();
    let source_cpu = cpu_delta(&cpu_at_start, &thread_cpu(source.0.id()));
    let rss = peak_rss_mb(source.0.id());
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(source.0.id() as i32, libc::SIGTERM) };
    let _ = source.0.wait();

    // 2. Decode only, same binlog range.
    let connector = Connector::load_offline(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let source = Arc::new(connector.source.clone().context("source")?);
    let catalog = Catalog::new(source.clone(), pool.clone(), Flavour::MariaDb);
    let binlog = BinlogConnection::open(
        Opts::from_url(&admin_url)?,
        Flavour::MariaDb,
        source.server_id + 1,
        Duration::from_secs(10),
        &start,
    )
    .await?;
    let mut stream = ChangeStream::new(
        name.clone(),
        Flavour::MariaDb,
        binlog,
        catalog,
        &start,
        Arc::from("bench"),
    );
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let mut decoded = 0u64;
    while let Some(item) = stream.next().await? {
        match item {
            StreamItem::Change(..) => decoded += 1,
            StreamItem::Commit(p)
                if compare_file_pos((&p.file, p.pos), (&end.file, end.pos)).is_ge() =>
            {
                break
            }
            _ => {}
        }
    }
    let (decode_cpu, decode_wall) = (cpu_seconds() - cpu0, wall0.elapsed());
    drop(stream);

    // 3. The broker's ceiling: a plain producer, records of the same size.
    let sample = 300usize;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()?;
    let admin = binlake::kafka::admin::Admin::new(&connector.kafka)?;
    let spec = binlake::kafka::admin::TopicSpec {
        partitions: 1,
        compacted: false,
    };
    let ceiling_topic = format!("{name}.ceiling");
    admin.ensure_topic(&ceiling_topic, spec).await?;
    let payload = vec![b'x'; sample];
    let own_cpu = thread_cpu(std::process::id());
    let plain = plain_rate(&producer, &ceiling_topic, rows, &payload, false).await;
    let plain_cpu = cpu_delta(&own_cpu, &thread_cpu(std::process::id()));
    // The same with the four headers binlake puts on each record.
    let headed_topic = format!("{name}.ceiling-headers");
    admin.ensure_topic(&headed_topic, spec).await?;
    let headed = plain_rate(&producer, &headed_topic, rows, &payload, true).await;

    conn.query_drop(format!("DROP DATABASE {db}")).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "rows: {rows} (one transaction; INSERT took {:.1} s)",
        committed.as_secs_f64()
    )?;
    // The transaction's binlog range, for reading the same events with
    // another decoder (bench/pyrepl.py).
    writeln!(
        out,
        "binlog range: {}:{}..{}:{} (table {db}.t)",
        start.file, start.pos, end.file, end.pos
    )?;
    writeln!(
        out,
        "binlake source, binlog → Kafka acked: {:.1} s from INSERT start, {:.0} rows/s; peak RSS {}",
        pipeline.as_secs_f64(),
        rows as f64 / pipeline.as_secs_f64(),
        rss.map(|r| format!("{r:.0} MB")).unwrap_or_else(|| "n/a".into())
    )?;
    writeln!(out, "source CPU, INSERT start → last ack: {source_cpu}")?;
    writeln!(
        out,
        "decode only (same binlog): {decoded} rows, {:.2} CPU s, {:.0} rows/CPU-s, {:.0} rows/s wall",
        decode_cpu,
        decoded as f64 / decode_cpu,
        decoded as f64 / decode_wall.as_secs_f64()
    )?;
    writeln!(
        out,
        "plain producer ceiling ({sample}-byte records without headers, same broker): {:.0} records/s",
        rows as f64 / plain.as_secs_f64()
    )?;
    writeln!(out, "plain producer CPU: {plain_cpu}")?;
    writeln!(
        out,
        "plain producer, the same records with binlake's four headers (order, server, gtid, gtids): {:.0} records/s",
        rows as f64 / headed.as_secs_f64()
    )?;
    Ok(())
}

/// Time for a plain idempotent producer to have `rows` records of `payload`
/// acknowledged, at most 20,000 awaiting; with `headers`, each carries
/// headers named and sized as binlake's.
async fn plain_rate(
    producer: &FutureProducer,
    topic: &str,
    rows: u64,
    payload: &[u8],
    headers: bool,
) -> Duration {
    use rdkafka::message::{Header, OwnedHeaders};
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for i in 0..rows {
        let key = i.to_be_bytes();
        let order = [0u8; 24];
        // Built only when used: the headerless run allocates nothing here.
        let gtid = headers.then(|| format!("0-1-{}", 1_000_000 + i / 1000));
        loop {
            let mut record = FutureRecord::to(topic).key(&key[..]).payload(payload);
            if let Some(gtid) = &gtid {
                record = record.headers(
                    OwnedHeaders::new()
                        .insert(Header {
                            key: binlake::wire::ORDER_HEADER,
                            value: Some(&order[..]),
                        })
                        .insert(Header {
                            key: binlake::wire::SERVER_HEADER,
                            value: Some("1/mysql-bin"),
                        })
                        .insert(Header {
                            key: binlake::wire::GTID_HEADER,
                            value: Some(gtid.as_str()),
                        })
                        .insert(Header {
                            key: binlake::wire::GTIDS_HEADER,
                            value: Some(gtid.as_str()),
                        }),
                );
            }
            match producer.send_result(record) {
                Ok(f) => {
                    pending.push_back(f);
                    break;
                }
                Err(_) => {
                    if let Some(f) = pending.pop_front() {
                        let _ = f.await;
                    }
                }
            }
        }
        if pending.len() > 20_000 {
            if let Some(f) = pending.pop_front() {
                let _ = f.await;
            }
        }
    }
    for f in pending {
        let _ = f.await;
    }
    started.elapsed()
}
