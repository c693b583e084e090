//! The source's heartbeats in the compacted `{name}.offsets` topic, under
//! key `{name}.heartbeat` (names: [`crate::wire`]): one record per heartbeat
//! interval while the source is caught up, saying
//! "every change committed in MySQL before `ts_ms` is in Kafka". The sink
//! carries that instant to its Delta tables, so end-to-end staleness stays
//! small on a pipeline that has nothing to write (SPEC metrics).

use std::time::{Duration, Instant};

use crate::kafka::delivery::CountingProducer;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::{client_config, ClientKind, KafkaError};
use crate::config::KafkaConfig;
use crate::wire;

const TIMEOUT: Duration = Duration::from_secs(10);
/// How many of the topic's last records `status` looks through.
const LOOK_BACK: i64 = 100;

/// One heartbeat: the instant before which every committed change is in
/// Kafka (ms since the epoch, binlake's clock when the server's heartbeat
/// came, which the server sends only when it has nothing newer).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Heartbeat {
    pub ts_ms: i64,
}

impl Heartbeat {
    pub fn parse(payload: &[u8]) -> Option<Heartbeat> {
        serde_json::from_slice(payload).ok()
    }
}

pub struct HeartbeatStore {
    topic: String,
    key: String,
}

impl HeartbeatStore {
    /// The topic already exists: the source's position store made it.
    pub fn new(name: &str) -> Self {
        HeartbeatStore {
            topic: wire::offsets_topic(name),
            key: wire::heartbeat_key(name),
        }
    }

    /// Writes one heartbeat and waits until Kafka has it.
    pub async fn send(
        &self,
        producer: &CountingProducer,
        beat: Heartbeat,
    ) -> Result<(), KafkaError> {
        super::producer::send_keyed_json(producer, &self.topic, &self.key, &beat).await
    }
}

/// The newest heartbeat in the topic, if any: its last record only, so the
/// read costs the same however long the topic has run.
pub fn last_heartbeat(kafka: &KafkaConfig, name: &str) -> Result<Option<Heartbeat>, KafkaError> {
    let topic = wire::offsets_topic(name);
    let err = |e: rdkafka::error::KafkaError| KafkaError::Read {
        topic: topic.clone(),
        message: e.to_string(),
    };
    let consumer: BaseConsumer<crate::logging::KafkaLogs> = client_config(
        kafka,
        ClientKind::Other,
        &[
            ("group.id", "binlake-heartbeats"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "true"),
            ("isolation.level", "read_committed"),
            ("fetch.wait.max.ms", "10"),
        ],
    )
    .create_with_context(crate::logging::KafkaLogs)
    .map_err(err)?;
    let (low, high) = match consumer.fetch_watermarks(&topic, 0, TIMEOUT) {
        Ok(w) => w,
        Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
            return Ok(None)
        }
        Err(e) => return Err(err(e)),
    };
    if high <= low {
        return Ok(None);
    }
    let mut tpl = TopicPartitionList::new();
    // Positions are written beside heartbeats, at most one a second: the
    // last records hold a heartbeat if the source was idle lately.
    tpl.add_partition_offset(&topic, 0, Offset::OffsetTail(LOOK_BACK))
        .map_err(err)?;
    consumer.assign(&tpl).map_err(err)?;
    let key = wire::heartbeat_key(name);
    let mut last = None;
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) => {
                if msg.key() == Some(key.as_bytes()) {
                    last = msg.payload().and_then(Heartbeat::parse).or(last);
                }
                if msg.offset() + 1 >= high {
                    return Ok(last);
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return Ok(last),
            Some(Err(e)) => return Err(err(e)),
            None => {}
        }
    }
    Err(err(rdkafka::error::KafkaError::MessageConsumption(
        RDKafkaErrorCode::RequestTimedOut,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_reads_back_and_garbage_does_not() {
        let beat = Heartbeat {
            ts_ms: 1_700_000_000_123,
        };
        let bytes = serde_json::to_vec(&beat).unwrap();
        assert_eq!(Heartbeat::parse(&bytes), Some(beat));
        assert_eq!(Heartbeat::parse(b"{\"ts\":1}"), None);
        assert_eq!(Heartbeat::parse(b"not json"), None);
    }
}
