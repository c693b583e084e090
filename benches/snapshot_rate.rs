//! Snapshot read rate without the broker: a table of BINLAKE_BENCH_ROWS rows
//! (default 1,000,000; 7 columns) read three ways in one run:
//! 1. a plain `SELECT *` streamed through mysql_async, rows dropped;
//! 2. binlake's chunk reads (keyset chunks of BINLAKE_BENCH_CHUNK rows, each
//!    in a consistent snapshot, values converted to change-event values);
//! 3. the same chunks, each row also encoded to its Avro key and value.
//!
//! Run: `scripts/servers.sh start && cargo bench --bench snapshot_rate`
//! (env: BINLAKE_TEST_MYSQL_URL, BINLAKE_TEST_REGISTRY). The rate into Kafka
//! is `python3 bench/snapshot.py`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool};

use binlake::avro::{CodecCache, RegistryClient};
use binlake::config::SourceConfig;
use binlake::event::{ChangeEvent, Op, SourceInfo};
use binlake::source::binlog::Flavour;
use binlake::source::snapshot::{chunk, table};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn source_config(url: &str, db: &str) -> Result<SourceConfig> {
    let text = format!(
        "name = \"bench\"\n[source]\nurl = \"{url}\"\npassword_env = \"BINLAKE_BENCH_PW\"\nserver_id = 77\n\
         tables = [\"{db}.orders\"]\n[kafka]\nbrokers = \"127.0.0.1:1\"\n[registry]\nurl = \"http://127.0.0.1:1\"\n"
    );
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, text)?;
    let c = binlake::config::Connector::load_offline(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    c.source.ok_or_else(|| anyhow::anyhow!("no source"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let rows: u64 = env("BINLAKE_BENCH_ROWS", "1000000").parse()?;
    let chunk_rows: usize = env("BINLAKE_BENCH_CHUNK", "20000").parse()?;
    let admin_url = env(
        "BINLAKE_TEST_MYSQL_URL",
        "mysql://binlake_admin:admin-secret@127.0.0.1:3307",
    );
    let registry = env("BINLAKE_TEST_REGISTRY", "http://127.0.0.1:8081");
    let db = format!("bench_snap_{}", std::process::id());
    let opts = Opts::from_url(&admin_url)?;
    let admin = Pool::new(opts.clone());
    let mut conn = admin.get_conn().await?;
    conn.query_drop("SET SESSION sql_log_bin = 0").await?;
    conn.query_drop(format!("CREATE DATABASE `{db}`")).await?;
    // The SEQUENCE engine's seq_1_to_N tables need a current database.
    conn.query_drop(format!("USE `{db}`")).await?;
    conn.query_drop(format!(
        "CREATE TABLE `{db}`.orders (id BIGINT NOT NULL PRIMARY KEY, customer_id INT NOT NULL, \
         status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL, note VARCHAR(64), \
         created_at DATETIME(3) NOT NULL, score DOUBLE)"
    ))
    .await?;
    let fill = Instant::now();
    let mut lo = 1;
    while lo <= rows {
        let hi = (lo + 999_999).min(rows);
        conn.query_drop(format!(
            "INSERT INTO `{db}`.orders SELECT seq, seq % 100000, ELT(1 + seq % 4, 'new', 'paid', 'sent', 'done'), \
             (seq % 100000) / 100, CONCAT('order note ', seq), \
             TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND, seq * 0.5 FROM seq_{lo}_to_{hi}"
        ))
        .await?;
        lo = hi + 1;
    }
    eprintln!(
        "filled {rows} rows in {:.1} s",
        fill.elapsed().as_secs_f64()
    );
    let result = measure(&opts, &db, rows, chunk_rows, &registry).await;
    conn.query_drop(format!("DROP DATABASE `{db}`")).await?;
    drop(conn);
    admin.disconnect().await?;
    result
}

async fn measure(
    opts: &Opts,
    db: &str,
    rows: u64,
    chunk_rows: usize,
    registry: &str,
) -> Result<()> {
    let pool =
        Pool::new(OptsBuilder::from_opts(opts.clone()).init(vec!["SET time_zone = '+00:00'"]));

    // 1. Plain scan.
    let (t, c) = (Instant::now(), cpu_seconds());
    let mut conn = pool.get_conn().await?;
    let mut result = conn
        .exec_iter(format!("SELECT * FROM `{db}`.orders"), ())
        .await?;
    let mut n = 0u64;
    let mut stream = result
        .stream::<mysql_async::Row>()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no result"))?;
    while let Some(row) = stream.next().await {
        row?;
        n += 1;
    }
    drop(stream);
    drop(result);
    drop(conn);
    let plain = (n, t.elapsed().as_secs_f64(), cpu_seconds() - c);

    // 2. and 3. binlake's chunks, without and with Avro encoding.
    let config = source_config("mysql://root@127.0.0.1:3307", db)?;
    let snap = Arc::new(table::load(&pool, Flavour::MariaDb, &config, db, "orders").await?);
    let mut codecs = CodecCache::new("bench".to_string(), RegistryClient::new(registry)?);
    let codec = codecs.codec(&snap.schema).await?;
    let mut runs = Vec::new();
    for encode in [false, true] {
        let (t, c) = (Instant::now(), cpu_seconds());
        let mut after: Option<Vec<chunk::KeyParam>> = None;
        let mut n = 0u64;
        let mut bytes = 0usize;
        loop {
            let ch = chunk::read(
                &pool,
                Flavour::MariaDb,
                &snap,
                after.as_deref(),
                None,
                chunk_rows,
                false,
            )
            .await?;
            n += ch.rows.len() as u64;
            if encode {
                for row in ch.rows {
                    let event = ChangeEvent {
                        table: snap.schema.clone(),
                        op: Op::Read,
                        before: None,
                        after: Some(row),
                        source: SourceInfo::default(),
                        transaction: None,
                    };
                    bytes += codec.encode_key(&event)?.len();
                    bytes += codec.encode_value(&event, 0)?.len();
                }
            }
            if ch.exhausted {
                break;
            }
            after = ch.last_key;
        }
        runs.push((
            encode,
            n,
            t.elapsed().as_secs_f64(),
            cpu_seconds() - c,
            bytes,
        ));
    }
    pool.disconnect().await?;

    println!("| snapshot read ({rows} rows, chunk {chunk_rows}) | rows | seconds | rows/s | binlake CPU s |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| plain `SELECT *` (mysql_async, rows dropped) | {} | {:.2} | {:.0} | {:.2} |",
        plain.0,
        plain.1,
        plain.0 as f64 / plain.1,
        plain.2
    );
    for (encode, n, secs, cpu, bytes) in runs {
        let what = if encode {
            format!(
                "binlake chunks + Avro key and value ({} MB)",
                bytes / 1_000_000
            )
        } else {
            "binlake chunks, values converted".to_string()
        };
        println!(
            "| {what} | {n} | {secs:.2} | {:.0} | {cpu:.2} |",
            n as f64 / secs
        );
    }
    Ok(())
}
