//! A permanent refusal from the broker in the middle of a large MySQL
//! transaction, with later records in flight, on the default path
//! (idempotent producer, no Kafka transactions). The source runs in this
//! process against the local MariaDB (`bash scripts/servers.sh start
//! mariadb`), an embedded registry and librdkafka's mock cluster, which
//! can refuse a Produce request on demand (tansu enforces no record size
//! limit). The refusal is injected as MSG_SIZE_TOO_LARGE, what a broker
//! answers for a record over the topic's `max.message.bytes`.
//!
//! Checked: the source stops with an error naming the setting; the stored
//! position lies before the transaction; after the fault is gone and the
//! source restarts, every row of the transaction is in the topic exactly
//! once (no gap, no double).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;
use tokio::sync::watch;

use binlake::config::Connector;
use binlake::source::kafka::offsets::StoredPosition;
use binlake::source::kafka::resume;
use binlake::source::runner;
use binlake::source::SourceError;

use super::kafka_writer::read_partitions;

/// The mock keeps at most 5 MB per partition (older batches are dropped):
/// 60,000 rows of ~300 bytes over 6 partitions stay well under it.
const ROWS: u64 = 60_000;
const PARTITIONS: i32 = 6;
/// Produce requests of the transaction the broker accepts before the
/// refused one (the transaction takes at least 18 requests of 1 MB).
const ACCEPTED: usize = 5;

fn admin_url() -> String {
    std::env::var("BINLAKE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://binlake_admin:admin-secret@127.0.0.1:3307".into())
}

async fn admin() -> Conn {
    Conn::new(Opts::from_url(&admin_url()).expect("BINLAKE_TEST_MYSQL_URL"))
        .await
        .expect("MariaDB is not reachable: run `bash scripts/servers.sh start mariadb`")
}

/// The password of the `cdc` user: `BINLAKE_MYSQL_PASSWORD`, else the one
/// scripts/servers.sh creates.
pub(super) fn cdc_password() -> String {
    std::env::var("BINLAKE_MYSQL_PASSWORD").unwrap_or_else(|_| "cdc-secret".into())
}

/// A connector file reading `db`'s tables as `cdc` from the local MariaDB
/// (password from `BINLAKE_MYSQL_PASSWORD`), with a server id of its own.
pub(super) fn connector_toml(name: &str, db: &str, brokers: &str, registry: &str) -> String {
    let opts = Opts::from_url(&admin_url()).expect("BINLAKE_TEST_MYSQL_URL");
    let server_id = 100_000 + (uuid::Uuid::new_v4().as_u128() % 3_000_000_000) as u64;
    format!(
        "name = \"{name}\"\n[source]\nurl = \"mysql://cdc@{host}:{port}\"\n\
         password_env = \"BINLAKE_MYSQL_PASSWORD\"\nserver_id = {server_id}\n\
         tables = [\"{db}.*\"]\nsnapshot = \"never\"\nheartbeat = \"1s\"\n\
         [kafka]\nbrokers = \"{brokers}\"\n[registry]\nurl = \"{registry}\"\n",
        host = opts.ip_or_hostname(),
        port = opts.tcp_port(),
    )
}

fn connector(name: &str, db: &str, brokers: &str, registry: &str) -> Arc<Connector> {
    let text = connector_toml(name, db, brokers, registry);
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .or_else(|| (k == "BINLAKE_MYSQL_PASSWORD").then(cdc_password))
    };
    Arc::new(Connector::from_toml(Path::new("refusal.toml"), &text, &env, true).expect("connector"))
}

/// Records in `topic` (blocking calls, on a runtime with other workers).
fn count(consumer: &BaseConsumer, topic: &str) -> i64 {
    tokio::task::block_in_place(|| {
        (0..PARTITIONS)
            .map(|p| {
                let (low, high) = consumer
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .expect("watermarks");
                assert_eq!(low, 0, "the mock dropped old records of partition {p}");
                high
            })
            .sum()
    })
}

fn stored(connector: &Connector) -> Option<StoredPosition> {
    let values = tokio::task::block_in_place(|| {
        resume::last_values(&connector.kafka, &connector.offsets_topic())
    })
    .ok()?;
    let bytes = values.get(connector.name.as_bytes())?.as_ref()?;
    Some(serde_json::from_slice(bytes).expect("stored position JSON"))
}

/// The sequence number of `domain` in a MariaDB GTID list `d-s-n,...`.
fn seq_of(gtids: Option<&str>, domain: &str) -> u64 {
    gtids
        .unwrap_or_default()
        .split(',')
        .filter_map(|g| {
            let mut parts = g.trim().split('-');
            let d = parts.next()?;
            let n = parts.nth(1)?.parse().ok()?;
            (d == domain).then_some(n)
        })
        .next()
        .unwrap_or(0)
}

async fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_mid_transaction_stops_the_source_and_loses_nothing() {
    // The source's log on stderr (shown with --nocapture), at RUST_LOG or info.
    let _ = binlake::logging::init(binlake::logging::LogFormat::Text, None);
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let (db, name) = (format!("refuse_{tag}"), format!("rf{tag}"));
    let topic = format!("{name}.{db}.big");
    let mut sql = admin().await;
    sql.query_drop(format!(
        "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE big (id INT PRIMARY KEY, v INT NOT NULL)"
    ))
    .await
    .expect("create table");

    let registry = super::kafka_txn::registry().await;

    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster
        .create_topic(&format!("{name}.offsets"), 1, 1)
        .expect("offsets topic");
    cluster
        .create_topic(&topic, PARTITIONS, 1)
        .expect("table topic");
    // The mock has no CreateTopics: the signal topic the source reads too.
    cluster
        .create_topic(&format!("{name}.signals"), 1, 1)
        .expect("signals topic");
    // Slow answers keep several Produce requests in flight at once.
    cluster
        .broker_round_trip_time(1, Duration::from_millis(40))
        .expect("rtt");
    let brokers = cluster.bootstrap_servers();
    let connector = connector(&name, &db, &brokers, &registry);
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("consumer");

    let (stop_tx, stop_rx) = watch::channel(false);
    let first = tokio::spawn(runner::run(connector.clone(), stop_rx));
    wait_until("the start position", Duration::from_secs(60), || {
        stored(&connector).is_some()
    })
    .await;
    let before = stored(&connector).expect("start position");
    // The broker takes the transaction's first requests, then refuses one
    // while later ones are in flight (40 ms answers, 5 requests in flight).
    let mut errors = vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR; ACCEPTED];
    errors.push(RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    cluster.request_errors(RDKafkaApiKey::Produce, &errors);

    sql.query_drop(format!(
        "INSERT INTO `{db}`.big SELECT seq, seq % 1000 FROM seq_1_to_{ROWS}"
    ))
    .await
    .expect("insert");
    let gtid: String = sql
        .query_first("SELECT @@last_gtid")
        .await
        .expect("gtid")
        .expect("a GTID");
    let (domain, seq) = {
        let parts: Vec<&str> = gtid.split('-').collect();
        (parts[0].to_string(), parts[2].parse::<u64>().expect("seq"))
    };

    let outcome = tokio::time::timeout(Duration::from_secs(120), first)
        .await
        .expect("the source stops")
        .expect("source task");
    let err = match outcome {
        Err(e) => e,
        Ok(()) => panic!("the source must stop on a refused record"),
    };
    assert!(
        matches!(err, SourceError::Unsupported(_)) && err.to_string().contains("message.max.bytes"),
        "the error names the setting: {err}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let landed = count(&watcher, &topic);
    assert!(
        landed > 0 && (landed as u64) < ROWS,
        "the refusal fell inside the transaction: {landed} of {ROWS} landed"
    );
    let after_stop = stored(&connector).expect("position");
    assert!(
        seq_of(after_stop.position.gtid_set.as_deref(), &domain) < seq,
        "stored {:?} must lie before the refused transaction {gtid}",
        after_stop.position
    );
    assert_eq!(after_stop.position.file, before.position.file);

    // The fault is gone (the broker accepts again): restart.
    cluster.clear_request_errors(RDKafkaApiKey::Produce);
    let (stop_tx2, stop_rx2) = watch::channel(false);
    let second = tokio::spawn(runner::run(connector.clone(), stop_rx2));
    wait_until("every row", Duration::from_secs(300), || {
        count(&watcher, &topic) >= ROWS as i64
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_tx2.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("the source stops")
        .expect("source task")
        .expect("a clean stop");
    drop(stop_tx);

    let records = tokio::task::spawn_blocking({
        let (brokers, topic) = (brokers.clone(), topic.clone());
        move || read_partitions(&brokers, &topic, PARTITIONS)
    })
    .await
    .expect("read");
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (_, _, has_value, order) in &records {
        assert!(has_value, "only inserts: {order}");
        let index: u64 = order
            .split(':')
            .nth(2)
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("order header {order}"));
        *seen.entry(index).or_default() += 1;
    }
    let doubles = seen.values().filter(|n| **n > 1).count();
    let missing = (1..=ROWS).filter(|i| !seen.contains_key(i)).count();
    assert_eq!(
        (records.len() as u64, doubles, missing),
        (ROWS, 0, 0),
        "every row exactly once after the restart"
    );
    let last = stored(&connector).expect("position");
    assert!(seq_of(last.position.gtid_set.as_deref(), &domain) >= seq);
    println!(
        "refusal after {landed} of {ROWS} rows: source stopped with \"{err}\"; after the restart \
         {} records, 0 doubles, 0 missing",
        records.len()
    );
    sql.query_drop(format!("DROP DATABASE `{db}`"))
        .await
        .expect("drop");
}
