//! Reading back what a topic already holds: the last record of a partition
//! (its binlog order header) and the last value per key of a compacted topic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::{client_config, ClientKind, KafkaError};
use crate::config::KafkaConfig;
use crate::source::order::{Tail, TxnMark, GTID_HEADER, SERVER_HEADER, STATE_HEADER};
use crate::source::position::ChangeOrder;

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

/// Hands every record of partition `p` from `from` up to the high
/// watermark `high` to `each`; a read that does not reach `high` in time is
/// an error, never a silently short answer. Blocking.
fn read_to(
    consumer: &Reader,
    topic: &str,
    p: i32,
    from: Offset,
    high: i64,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), KafkaError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, p, from)
        .map_err(|e| read_err(topic, e))?;
    consumer.assign(&tpl).map_err(|e| read_err(topic, e))?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if Instant::now() > deadline {
            return Err(read_err(
                topic,
                format!("partition {p} timed out before offset {high}"),
            ));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return Ok(()),
            Some(Err(e)) => return Err(read_err(topic, e)),
            Some(Ok(msg)) => {
                each(&msg);
                if msg.offset() >= high - 1 {
                    return Ok(());
                }
            }
        }
    }
}

/// The place of the last record in each partition of `topic`: its binlog
/// order and, when it has them, its server and GTID headers (`None` for an
/// empty partition or a record without the order header).
/// Blocking: call from a blocking task.
pub fn last_orders(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: i32,
) -> Result<Vec<Option<Tail>>, KafkaError> {
    let consumer = reader(kafka)?;
    let mut out = Vec::with_capacity(partitions as usize);
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(|e| read_err(topic, e))?;
        // On a topic written with transactions the last offsets are commit
        // markers, which a read skips: step back until a record shows up.
        let mut found = None;
        let mut back = 1;
        while high > low {
            let from = (high - back).max(low);
            let mut seen = false;
            read_to(&consumer, topic, p, Offset::Offset(from), high, |msg| {
                seen = true;
                found = tail_of(msg);
            })?;
            if seen || from == low {
                break;
            }
            back = back.saturating_mul(16);
        }
        out.push(found);
    }
    Ok(out)
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
    let order = get(ChangeOrder::HEADER).and_then(ChangeOrder::decode)?;
    let mark = get(SERVER_HEADER).map(|server| {
        std::sync::Arc::new(TxnMark::from_headers(
            Some(server),
            get(GTID_HEADER),
            get(STATE_HEADER),
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
