//! Reading back what a topic already holds: the last record of a partition
//! (its binlog order header) and the last value per key of a compacted topic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::KafkaConfig;
use crate::kafka::{client_config, ClientKind, KafkaError};
use crate::source::order::{Tail, TxnMark};
use crate::source::position::ChangeOrder;
use crate::wire::{self, GTIDS_HEADER, GTID_HEADER, ORDER_HEADER, SERVER_HEADER};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Logs the partition ends it asks for at debug, not as errors.
type Reader = BaseConsumer<crate::logging::KafkaLogs>;

fn reader(kafka: &KafkaConfig) -> Result<Reader, KafkaError> {
    client_config(
        kafka,
        ClientKind::Other,
        &[
            ("group.id", "binlake-resume"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "true"),
            ("auto.offset.reset", "earliest"),
            // Records of aborted transactions never count as written.
            ("isolation.level", "read_committed"),
            // An empty fetch at a partition's end answers at once.
            ("fetch.wait.max.ms", "10"),
        ],
    )
    .create_with_context(crate::logging::KafkaLogs)
    .map_err(|e| KafkaError::Config {
        brokers: kafka.bootstrap_servers(),
        message: e.to_string(),
    })
}

fn read_err(topic: &str, e: impl ToString) -> KafkaError {
    KafkaError::Read {
        topic: topic.to_string(),
        message: e.to_string(),
    }
}

/// The last record of every partition of `topics` (name, partition count),
/// read with one consumer assigned to all of them at once, so resuming with
/// hundreds of table topics costs a few round trips, not one per partition.
/// A partition whose end holds only transaction markers is read again
/// further back. Blocking: call from a blocking task.
pub fn tails(
    kafka: &KafkaConfig,
    topics: &[(String, i32)],
) -> Result<HashMap<String, Vec<Option<Tail>>>, KafkaError> {
    let consumer = reader(kafka)?;
    let mut out: HashMap<String, Vec<Option<Tail>>> = topics
        .iter()
        .map(|(t, n)| (t.clone(), vec![None; *n as usize]))
        .collect();
    if topics.is_empty() {
        return Ok(out);
    }
    let mut ends = TopicPartitionList::new();
    for (topic, n) in topics {
        for p in 0..*n {
            ends.add_partition_offset(topic, p, Offset::End)
                .map_err(|e| read_err(topic, e))?;
        }
    }
    let mut starts = ends.clone();
    starts
        .set_all_offsets(Offset::Beginning)
        .map_err(|e| read_err("*", e))?;
    // Timestamp queries for "latest" and "earliest": one request each.
    let highs = consumer
        .offsets_for_times(ends, TIMEOUT)
        .map_err(|e| read_err("*", e))?;
    let lows = consumer
        .offsets_for_times(starts, TIMEOUT)
        .map_err(|e| read_err("*", e))?;
    let offset_of = |list: &TopicPartitionList, t: &str, p: i32| {
        list.find_partition(t, p)
            .and_then(|e| e.offset().to_raw())
            .unwrap_or(0)
            .max(0)
    };
    // (topic, partition) -> (low, high, how far back to start)
    let mut pending: HashMap<(String, i32), (i64, i64, i64)> = HashMap::new();
    for (topic, n) in topics {
        for p in 0..*n {
            let (low, high) = (offset_of(&lows, topic, p), offset_of(&highs, topic, p));
            if high > low {
                pending.insert((topic.clone(), p), (low, high, 1));
            }
        }
    }
    while !pending.is_empty() {
        let mut tpl = TopicPartitionList::new();
        for ((topic, p), (low, high, back)) in &pending {
            tpl.add_partition_offset(topic, *p, Offset::Offset((high - back).max(*low)))
                .map_err(|e| read_err(topic, e))?;
        }
        consumer.assign(&tpl).map_err(|e| read_err("*", e))?;
        let mut seen: HashMap<(String, i32), Option<Tail>> = HashMap::new();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(msg)) => {
                    seen.insert((msg.topic().to_string(), msg.partition()), tail_of(&msg));
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(e)) => return Err(read_err("*", e)),
            }
            // Positions pass transaction markers too: a partition is read
            // once its position reaches the end found above.
            let positions = consumer.position().map_err(|e| read_err("*", e))?;
            let done = pending.iter().all(|((t, p), (_, high, _))| {
                positions
                    .find_partition(t, *p)
                    .and_then(|e| e.offset().to_raw())
                    .is_some_and(|o| o >= *high)
            });
            if done {
                break;
            }
            if Instant::now() > deadline {
                return Err(read_err(
                    "*",
                    format!("{} partitions not read to their end in time", pending.len()),
                ));
            }
        }
        let mut again = HashMap::new();
        for ((topic, p), (low, high, back)) in pending {
            match seen.remove(&(topic.clone(), p)) {
                Some(tail) => {
                    if let Some(v) = out.get_mut(&topic) {
                        v[p as usize] = tail;
                    }
                }
                None if high - back > low => {
                    again.insert((topic, p), (low, high, back.saturating_mul(16)));
                }
                None => {}
            }
        }
        pending = again;
    }
    Ok(out)
}

/// Every table topic of pipeline `name` in the cluster, with its partition
/// count: the table topics the pipeline has written.
pub fn table_topics(kafka: &KafkaConfig, name: &str) -> Result<Vec<(String, i32)>, KafkaError> {
    let consumer = reader(kafka)?;
    let metadata = consumer
        .fetch_metadata(None, TIMEOUT)
        .map_err(|e| read_err("*", e))?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| wire::is_table_topic(name, t.name()))
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .filter(|(_, n)| *n > 0)
        .collect())
}

/// A record's place from its headers.
fn tail_of(msg: &BorrowedMessage<'_>) -> Option<Tail> {
    let headers = msg.headers()?;
    let get = |name: &str| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let order = get(ORDER_HEADER).and_then(ChangeOrder::decode)?;
    let mark = get(SERVER_HEADER).map(|server| {
        std::sync::Arc::new(TxnMark::from_headers(
            Some(server),
            get(GTID_HEADER),
            get(GTIDS_HEADER),
        ))
    });
    Some(Tail { order, mark })
}

/// Every key's last value in partition 0 of a compacted topic, read to its
/// end (compaction runs late, so older values are still there). Blocking.
///
/// The watermarks are not trusted here: tansu 0.6 reports stale ones for
/// compacted topics (even (0, 0) for a topic holding records) and serves
/// the partition's last records again when fetched past its end. So the
/// read goes on until end of partition, an offset that does not advance,
/// or a second without records once records came; for each key the value
/// at the highest offset wins. Nothing at all before the deadline is an
/// error, never an empty topic: a slow broker must not make a pipeline
/// look new (it would start over at the server's current position).
pub fn last_values(
    kafka: &KafkaConfig,
    topic: &str,
) -> Result<HashMap<Vec<u8>, Option<Vec<u8>>>, KafkaError> {
    let consumer = reader(kafka)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(|e| read_err(topic, e))?;
    consumer.assign(&tpl).map_err(|e| read_err(topic, e))?;
    let mut values: HashMap<Vec<u8>, (i64, Option<Vec<u8>>)> = HashMap::new();
    let deadline = Instant::now() + TIMEOUT;
    let mut last_offset = -1i64;
    let mut idle_since = Instant::now();
    loop {
        if Instant::now() > deadline {
            return Err(read_err(
                topic,
                "timed out reading the partition to its end",
            ));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {
                if last_offset >= 0 && idle_since.elapsed() > Duration::from_secs(1) {
                    break;
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(read_err(topic, e)),
            Some(Ok(msg)) => {
                if msg.offset() <= last_offset {
                    break;
                }
                last_offset = msg.offset();
                idle_since = Instant::now();
                if let Some(key) = msg.key() {
                    values.insert(
                        key.to_vec(),
                        (msg.offset(), msg.payload().map(<[u8]>::to_vec)),
                    );
                }
            }
        }
    }
    Ok(values.into_iter().map(|(k, (_, v))| (k, v)).collect())
}
