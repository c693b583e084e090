//! The Kafka writer on a broker with transactions (librdkafka's in-process
//! mock cluster; tansu, used by the other end-to-end tests, has none) and
//! the embedded registry: records land in the partition Java clients would
//! pick, deletes get tombstones, the position commits, and a restarted
//! writer replaying the same changes skips every one of them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use binlake::avro::{CodecCache, RegistryClient};
use binlake::config::Connector;
use binlake::event::{ChangeEvent, Column, ColumnType, Op, SourceInfo, TableSchema, Value};
use binlake::kafka::partition::partition_for;
use binlake::source::kafka::writer::ChangeWriter;
use binlake::source::order::{RecordPlace, TxnMark};
use binlake::source::position::{ChangeOrder, Position};

pub(crate) const PARTITIONS: i32 = 3;

pub(crate) fn table() -> Arc<TableSchema> {
    Arc::new(TableSchema {
        db: "db".into(),
        table: "t".into(),
        columns: vec![
            Column {
                name: "id".into(),
                data_type: ColumnType::Long,
                nullable: false,
                source_type: "bigint".into(),
                default: None,
            },
            Column {
                name: "v".into(),
                data_type: ColumnType::String,
                nullable: true,
                source_type: "text".into(),
                default: None,
            },
        ],
        key: vec![0],
    })
}

pub(crate) fn change(
    table: &Arc<TableSchema>,
    op: Op,
    id: i64,
    index: u64,
) -> (ChangeEvent, RecordPlace) {
    let row = vec![Value::Long(id), Value::String(format!("v{id}"))];
    let (before, after) = match op {
        Op::Delete => (Some(row), None),
        _ => (None, Some(row)),
    };
    let event = ChangeEvent {
        table: table.clone(),
        op,
        before,
        after,
        source: SourceInfo {
            name: "w".into(),
            file: "mysql-bin.000001".into(),
            pos: 100,
            ..Default::default()
        },
        transaction: None,
    };
    let place = RecordPlace {
        order: ChangeOrder::new("mysql-bin.000001", 100, index),
        mark: Arc::new(TxnMark::new(Arc::from("1/mysql-bin"), None, None)),
        snapshot: false,
    };
    (event, place)
}

fn connector(brokers: &str, registry: &str) -> Arc<Connector> {
    connector_with(brokers, registry, "")
}

/// A transactional connector named `w`; `kafka_extra` adds lines to `[kafka]`.
pub(crate) fn connector_with(brokers: &str, registry: &str, kafka_extra: &str) -> Arc<Connector> {
    let text = format!(
        "name = \"w\"\n[source]\nurl = \"mysql://cdc@127.0.0.1:3306\"\npassword_env = \"UNUSED_PW\"\n\
         server_id = 9\ntables = [\"db.*\"]\n[kafka]\nbrokers = \"{brokers}\"\ntransactions = true\n{kafka_extra}\n\
         [registry]\nurl = \"{registry}\"\n"
    );
    let none = |_: &str| None;
    Arc::new(
        Connector::from_toml(Path::new("w.toml"), &text, &none, false).expect("valid connector"),
    )
}

pub(crate) async fn open(connector: &Arc<Connector>) -> ChangeWriter {
    let client = RegistryClient::new(&connector.registry.url).expect("registry client");
    ChangeWriter::open(connector.clone(), CodecCache::new("w", client))
        .await
        .expect("writer")
}

/// (partition, key, has value, order header) of every committed record.
pub(crate) fn read_all(brokers: &str, topic: &str) -> Vec<(i32, Vec<u8>, bool, String)> {
    read_partitions(brokers, topic, PARTITIONS)
}

/// The same for a topic of `partitions` partitions.
pub(crate) fn read_partitions(
    brokers: &str,
    topic: &str,
    partitions: i32,
) -> Vec<(i32, Vec<u8>, bool, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "reader")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut eof = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while eof < partitions && std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let order = m
                    .headers()
                    .and_then(|h| {
                        h.iter()
                            .find(|h| h.key == binlake::wire::ORDER_HEADER)
                            .and_then(|h| h.value)
                    })
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                out.push((
                    m.partition(),
                    m.key().unwrap_or_default().to_vec(),
                    m.payload().is_some(),
                    order,
                ));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => eof += 1,
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_writes_land_once_and_replays_are_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = binlake::registry::bind("127.0.0.1:0".parse().unwrap(), dir.path())
        .await
        .expect("registry");
    let registry = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(std::future::pending()));

    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster
        .create_topic("w.offsets", 1, 1)
        .expect("offsets topic");
    cluster
        .create_topic("w.db.t", PARTITIONS, 1)
        .expect("table topic");
    let brokers = cluster.bootstrap_servers();
    let connector = connector(&brokers, &registry);
    let t = table();
    let changes: Vec<_> = (1..=20)
        .map(|id| change(&t, Op::Create, id, id as u64))
        .chain([change(&t, Op::Delete, 7, 21)])
        .collect();

    let mut writer = open(&connector).await;
    assert!(writer.transactional(), "the mock cluster has transactions");
    for (event, order) in &changes {
        writer.write(event, order).await.expect("write");
    }
    let position = Position {
        file: "mysql-bin.000001".into(),
        pos: 4242,
        gtid_set: Some("0-1-9".into()),
        ..Position::default()
    };
    writer.end_of_transaction();
    assert!(writer.commit(&position, 1, None).await.expect("commit"));
    assert_eq!(
        writer.stats.produced, 22,
        "20 creates, a delete and its tombstone"
    );

    let records = read_all(&brokers, "w.db.t");
    assert_eq!(records.len(), 22);
    for (partition, key, _, _) in &records {
        assert_eq!(
            *partition,
            partition_for(key, PARTITIONS),
            "Java-compatible partitioning"
        );
    }
    let tombstones: Vec<_> = records.iter().filter(|r| !r.2).collect();
    assert_eq!(tombstones.len(), 1);
    assert!(
        tombstones[0].3.ends_with(":21:1"),
        "tombstone order header: {}",
        tombstones[0].3
    );

    // A restarted writer sees the stored position and skips every replayed change.
    let mut again = open(&connector).await;
    let stored = again
        .load_position()
        .await
        .expect("load")
        .expect("a stored position");
    assert_eq!(stored.position, position);
    for (event, order) in &changes {
        again.write(event, order).await.expect("replay");
    }
    let (next, order) = change(&t, Op::Create, 99, 22);
    again.write(&next, &order).await.expect("new change");
    again.end_of_transaction();
    assert!(again.commit(&position, 2, None).await.expect("commit"));
    assert_eq!((again.stats.produced, again.stats.skipped), (1, 22));
    assert_eq!(read_all(&brokers, "w.db.t").len(), 23);
}
