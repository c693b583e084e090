//! Reading back what a topic already holds: the last record of a partition
//! (its binlog order header) and the last value per key of a compacted topic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::{client_config, ClientKind, KafkaError};
use crate::config::KafkaConfig;
use crate::source::position::ChangeOrder;

const TIMEOUT: Duration = Duration::from_secs(30);

fn reader(kafka: &KafkaConfig) -> Result<BaseConsumer, KafkaError> {
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
    .create()
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
    consumer: &BaseConsumer,
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

/// The binlog order of the last record in each partition of `topic`
/// (`None` for an empty partition or a record without the header).
/// Blocking: call from a blocking task.
pub fn last_orders(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: i32,
) -> Result<Vec<Option<ChangeOrder>>, KafkaError> {
    let consumer = reader(kafka)?;
    let mut out = Vec::with_capacity(partitions as usize);
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(|e| read_err(topic, e))?;
        let mut found = None;
        if high > low {
            read_to(&consumer, topic, p, Offset::Offset(high - 1), high, |msg| {
                found = msg.headers().and_then(|h| {
                    h.iter()
                        .find(|h| h.key == ChangeOrder::HEADER)
                        .and_then(|h| h.value)
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .and_then(ChangeOrder::decode)
                });
            })?;
        }
        out.push(found);
    }
    Ok(out)
}

/// Every key's last value in partition 0 of a compacted topic, read to its
/// end (compaction runs late, so older values are still there). Blocking.
pub fn last_values(
    kafka: &KafkaConfig,
    topic: &str,
) -> Result<HashMap<Vec<u8>, Option<Vec<u8>>>, KafkaError> {
    let consumer = reader(kafka)?;
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .map_err(|e| read_err(topic, e))?;
    let mut values = HashMap::new();
    if high > low {
        read_to(&consumer, topic, 0, Offset::Beginning, high, |msg| {
            if let Some(key) = msg.key() {
                values.insert(key.to_vec(), msg.payload().map(<[u8]>::to_vec));
            }
        })?;
    }
    Ok(values)
}
