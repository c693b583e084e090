//! Produces change events to their table topics: keyed Avro records in
//! binlog order, a tombstone after each delete, a bounded number of records
//! in flight, and records a partition already holds skipped after a restart.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::admin::{Admin, TopicSpec};
use super::offsets::{PositionStore, StoredPosition};
use super::partition::partition_for;
use super::producer::SourceProducer;
use super::{resume, KafkaError};
use crate::avro::names::{topic_for, value_subject};
use crate::avro::{encode, wire, CodecCache};
use crate::config::Connector;
use crate::event::{ChangeEvent, Op};
use crate::source::order::{already_written, RecordPlace, Tail};
use crate::source::position::{ChangeOrder, Position};
use crate::source::snapshot::SnapshotState;
use crate::source::SourceError;

/// Records awaiting the broker's acknowledgement before more are queued:
/// bounds memory however large a MySQL transaction is.
const MAX_IN_FLIGHT: usize = 20_000;
/// How long an abandoned writer's records may take to land.
const DRAIN: Duration = Duration::from_secs(15);

struct TopicState {
    partitions: i32,
    /// The last record known to be in each partition.
    last: Vec<Option<Tail>>,
    /// Records skipped in each partition because it already held them,
    /// and whether this writer has written to it since (after which a skip
    /// is no longer the expected replay of a restart).
    skipped: Vec<u64>,
    written: Vec<bool>,
}

/// What the writer did, for logs and metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriterStats {
    pub produced: u64,
    pub skipped: u64,
}

pub struct ChangeWriter {
    connector: Arc<Connector>,
    producer: SourceProducer,
    admin: Admin,
    store: PositionStore,
    codecs: CodecCache,
    topics: HashMap<String, TopicState>,
    /// Partition tails read ahead for every table topic (taken as used).
    prefetched: bool,
    /// A record was refused: no position is stored by this writer again.
    failed: bool,
    tails: HashMap<String, Vec<Option<Tail>>>,
    in_flight: VecDeque<(String, DeliveryFuture)>,
    pub stats: WriterStats,
}

impl ChangeWriter {
    pub async fn open(connector: Arc<Connector>, codecs: CodecCache) -> Result<Self, KafkaError> {
        let admin = Admin::new(&connector.kafka)?;
        let store = PositionStore::open(
            &admin,
            &connector.kafka,
            connector.offsets_topic(),
            connector.name.clone(),
        )
        .await?;
        let producer = SourceProducer::open(
            &connector.kafka,
            &connector.name,
            &connector.offsets_topic(),
        )
        .await?;
        Ok(ChangeWriter {
            connector,
            producer,
            admin,
            store,
            codecs,
            topics: HashMap::new(),
            prefetched: false,
            failed: false,
            tails: HashMap::new(),
            in_flight: VecDeque::new(),
            stats: WriterStats::default(),
        })
    }

    /// The last stored source position.
    pub async fn load_position(&self) -> Result<Option<StoredPosition>, KafkaError> {
        self.store.load().await
    }

    /// Queues one change (and its tombstone after a delete), unless the
    /// partition already holds it.
    pub async fn write(
        &mut self,
        event: &ChangeEvent,
        place: &RecordPlace,
    ) -> Result<(), SourceError> {
        if event.op == Op::Truncate {
            return self.write_truncate(event, place).await;
        }
        let codec = self
            .codecs
            .codec(&event.table)
            .await
            .map_err(|e| match e.is_retryable() {
                true => SourceError::RegistryUnavailable(e.to_string()),
                false => SourceError::Registry(e.to_string()),
            })?;
        let topic = codec.topic().to_string();
        let key = codec
            .encode_key(event)
            .map_err(|e| SourceError::Decode(e.to_string()))?;
        let value = codec
            .encode_value(event, now_ms())
            .map_err(|e| SourceError::Decode(e.to_string()))?;
        let partition = self.partition_of(&topic, &key).await?;
        if self.fresh(&topic, partition, place)? {
            self.send(&topic, partition, &key, Some(&value), place, None)
                .await?;
            crate::metrics::metrics()
                .source_events_total
                .with_label_values(&[&event.table.qualified_name(), event.op.code()])
                .inc();
        }
        if event.op == Op::Delete {
            let tombstone = RecordPlace {
                order: place.order.tombstone(),
                ..place.clone()
            };
            if self.fresh(&topic, partition, &tombstone)? {
                self.send(&topic, partition, &key, None, &tombstone, None)
                    .await?;
            }
        }
        Ok(())
    }

    /// Whether the partition still lacks the record, which then becomes its
    /// tail (snapshot rows excepted). A skip after this writer has written
    /// to the partition is not a restart's replay: it is logged as a warning.
    fn fresh(
        &mut self,
        topic: &str,
        partition: i32,
        place: &RecordPlace,
    ) -> Result<bool, SourceError> {
        let Some(state) = self.topics.get_mut(topic) else {
            return Ok(true);
        };
        let p = partition as usize;
        let skip = match &state.last[p] {
            Some(tail) => already_written(tail, place)
                .map_err(|u| SourceError::History(format!("{topic} partition {partition}: {u}")))?,
            None => false,
        };
        if skip {
            self.stats.skipped += 1;
            state.skipped[p] += 1;
            crate::metrics::metrics().source_skipped_total.inc();
            if state.written[p] {
                tracing::warn!(
                    topic,
                    partition,
                    order = %place.order.encode(),
                    "a change was skipped as already in Kafka after newer records were written to \
                     its partition"
                );
            }
            return Ok(false);
        }
        if !state.written[p] && state.skipped[p] > 0 {
            tracing::info!(
                topic,
                partition,
                skipped = state.skipped[p],
                "skipped the changes the partition already held; writing from here"
            );
        }
        state.written[p] = true;
        if !place.snapshot {
            state.last[p] = Some(Tail::from(place));
        }
        Ok(true)
    }

    async fn partition_of(&mut self, topic: &str, key: &[u8]) -> Result<i32, KafkaError> {
        if !self.topics.contains_key(topic) {
            let partitions = self
                .admin
                .ensure_topic(
                    topic,
                    TopicSpec {
                        partitions: 1,
                        compacted: false,
                    },
                )
                .await?;
            if !self.prefetched {
                self.prefetch().await?;
            }
            let last = match self.tails.remove(topic) {
                Some(last) if last.len() == partitions as usize => last,
                _ => {
                    let kafka = self.connector.kafka.clone();
                    let one = vec![(topic.to_string(), partitions)];
                    blocking_read(topic, move || resume::tails(&kafka, &one))
                        .await?
                        .remove(topic)
                        .unwrap_or_default()
                }
            };
            let n = last.len();
            self.topics.insert(
                topic.to_string(),
                TopicState {
                    partitions,
                    last,
                    skipped: vec![0; n],
                    written: vec![false; n],
                },
            );
        }
        let state = &self.topics[topic];
        Ok(partition_for(key, state.partitions))
    }

    /// Reads the tails of every table topic the pipeline has written, in
    /// one pass, before the first record is written: a restart then costs a
    /// few round trips, however many tables there are.
    async fn prefetch(&mut self) -> Result<(), KafkaError> {
        let kafka = self.connector.kafka.clone();
        let prefix = format!("{}.", self.connector.name);
        let started = std::time::Instant::now();
        let tails = blocking_read("*", move || {
            let topics = resume::table_topics(&kafka, &prefix)?;
            resume::tails(&kafka, &topics)
        })
        .await?;
        let partitions: usize = tails.values().map(Vec::len).sum();
        tracing::info!(
            topics = tails.len(),
            partitions,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "read the last record of every table topic partition"
        );
        self.tails = tails;
        self.prefetched = true;
        Ok(())
    }

    async fn send(
        &mut self,
        topic: &str,
        partition: i32,
        key: &[u8],
        value: Option<&[u8]>,
        place: &RecordPlace,
        marker: Option<&[u8]>,
    ) -> Result<(), KafkaError> {
        while self.in_flight.len() >= MAX_IN_FLIGHT {
            self.await_oldest().await?;
        }
        self.producer.begin()?;
        let order = place.order.encode();
        let mut headers = OwnedHeaders::new().insert(Header {
            key: ChangeOrder::HEADER,
            value: Some(&order),
        });
        for (key, value) in place.mark.headers() {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        if let Some(m) = marker {
            headers = headers.insert(Header {
                key: crate::backfill::MARKER_HEADER,
                value: Some(m),
            });
        }
        // An empty key is a null key: a truncate record, which also says how
        // many partitions received it (the sink waits for all of them).
        if key.is_empty() && marker.is_none() {
            let n = self
                .topics
                .get(topic)
                .map_or(1, |s| s.partitions)
                .to_string();
            headers = headers.insert(Header {
                key: TRUNCATE_PARTITIONS_HEADER,
                value: Some(n.as_bytes()),
            });
        }
        let mut record = FutureRecord::to(topic)
            .partition(partition)
            .headers(headers);
        if !key.is_empty() {
            record = record.key(key);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        loop {
            match self.producer.producer.send_result(record) {
                Ok(delivery) => {
                    self.in_flight.push_back((topic.to_string(), delivery));
                    self.stats.produced += 1;
                    return Ok(());
                }
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    if self.in_flight.is_empty() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    } else {
                        self.await_oldest().await?;
                    }
                }
                Err((e, _)) => {
                    return Err(delivery_error(
                        topic.to_string(),
                        e,
                        key.len() + value.map_or(0, <[u8]>::len),
                    ))
                }
            }
        }
    }

    async fn await_oldest(&mut self) -> Result<(), KafkaError> {
        let Some((topic, delivery)) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let result = match delivery.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((e, msg))) => {
                let size = msg.key().map_or(0, <[u8]>::len) + msg.payload().map_or(0, <[u8]>::len);
                // With the gapless guarantee a refusal turns the producer
                // fatal; its first error says what was refused.
                let e = match self.producer.producer.client().fatal_error() {
                    Some((code, reason))
                        if e.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) =>
                    {
                        tracing::error!(%topic, %reason, "the Kafka producer failed on a refused record");
                        RdError::MessageProduction(code)
                    }
                    _ => e,
                };
                Err(delivery_error(topic, e, size))
            }
            Err(_) => Err(KafkaError::Delivery {
                topic,
                message: "producer dropped the record".into(),
            }),
        };
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Waits until the broker has every queued record.
    pub async fn flush(&mut self) -> Result<(), KafkaError> {
        while !self.in_flight.is_empty() {
            self.await_oldest().await?;
        }
        Ok(())
    }

    /// Records a resume position once everything before it is in Kafka; in
    /// transactional mode the position commits with the data.
    pub async fn commit(
        &mut self,
        position: &Position,
        source_ts_ms: i64,
        snapshot: Option<&SnapshotState>,
    ) -> Result<(), KafkaError> {
        self.flush().await?;
        if self.failed {
            // A record of this writer was refused: the position reached
            // may lie past it. The last position stored stays the truth.
            return Err(KafkaError::Delivery {
                topic: self.connector.offsets_topic(),
                message: "a record was refused earlier; the position is not stored past it".into(),
            });
        }
        self.producer.begin()?;
        let stored = StoredPosition {
            position: position.clone(),
            source_ts_ms,
            written_ts_ms: now_ms(),
            snapshot: snapshot.cloned(),
        };
        self.store.save(&self.producer.producer, &stored).await?;
        self.producer.commit().await
    }

    /// Whether data and position are written in Kafka transactions.
    pub fn transactional(&self) -> bool {
        self.producer.transactional
    }

    /// Gives up on this writer after an error: whatever is not committed is
    /// aborted (transactional) or left to the next writer's dedup.
    pub async fn abandon(mut self) {
        self.producer.abort().await;
        // Drain what is still in flight before the next writer reads the
        // partition tails, so no late record lands after that read.
        let producer = self.producer.producer.clone();
        let drained = tokio::task::spawn_blocking(move || producer.flush(DRAIN)).await;
        if !matches!(drained, Ok(Ok(()))) {
            tracing::warn!(
                "records of the abandoned Kafka writer still in flight after {DRAIN:?}; the next writer reads partition tails anyway"
            );
        }
    }

    /// A truncate event (SPEC): one record with a null key on every
    /// partition of the table's topic, so each partition holds it in order
    /// with its rows. The value is the envelope (before and after null)
    /// under the subject's newest value schema, which can express it
    /// whatever the table's shape; a table with no schema registered has
    /// nothing in Kafka to truncate.
    pub async fn write_truncate(
        &mut self,
        event: &ChangeEvent,
        place: &RecordPlace,
    ) -> Result<(), SourceError> {
        let table = &event.table;
        let topic = topic_for(&self.connector.name, &table.db, &table.table);
        let latest = self
            .codecs
            .client()
            .latest(&value_subject(&topic))
            .await
            .map_err(|e| match e.is_retryable() {
                true => SourceError::RegistryUnavailable(e.to_string()),
                false => SourceError::Registry(e.to_string()),
            })?;
        let Some((schema_id, _)) = latest else {
            tracing::info!(table = %table.qualified_name(), "TRUNCATE of a table never written to Kafka: nothing to truncate");
            return Ok(());
        };
        let mut value = Vec::with_capacity(128);
        wire::write_header(&mut value, schema_id);
        encode::write_envelope(&mut value, table, event, now_ms())
            .map_err(|e| SourceError::Decode(e.to_string()))?;
        self.partition_of(&topic, &[]).await?;
        let partitions = self.topics.get(&topic).map_or(1, |s| s.partitions);
        for partition in 0..partitions {
            if self.fresh(&topic, partition, place)? {
                self.send(&topic, partition, &[], Some(&value), place, None)
                    .await?;
            }
        }
        tracing::info!(table = %table.qualified_name(), partitions, "TRUNCATE written to every partition");
        crate::metrics::metrics()
            .source_events_total
            .with_label_values(&[&table.qualified_name(), event.op.code()])
            .inc();
        Ok(())
    }
}

impl ChangeWriter {
    /// A repairing backfill chunk's marker (see [`crate::backfill`]): a
    /// record with a null key and a null value, the marker in its header,
    /// on partition 0 of the table's topic. Its place among the table's
    /// records does not matter, so one partition suffices.
    pub async fn write_marker(
        &mut self,
        table: &crate::event::TableSchema,
        marker: &crate::backfill::RepairMarker,
        place: &RecordPlace,
    ) -> Result<(), SourceError> {
        let topic = topic_for(&self.connector.name, &table.db, &table.table);
        let records = marker
            .to_records(crate::backfill::MAX_MARKER_BYTES)
            .map_err(|e| SourceError::Decode(e.to_string()))?;
        self.partition_of(&topic, &[]).await?;
        for json in records {
            if self.fresh(&topic, 0, place)? {
                self.send(&topic, 0, &[], None, place, Some(&json)).await?;
            }
        }
        Ok(())
    }
}

/// Header of a truncate record: how many partitions the truncate went to.
pub const TRUNCATE_PARTITIONS_HEADER: &str = "binlake.truncate.partitions";

/// Runs a blocking read of partition tails off the async workers.
async fn blocking_read<T: Send + 'static>(
    topic: &str,
    f: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KafkaError::Read {
            topic: topic.to_string(),
            message: e.to_string(),
        })?
}

/// A failed record: retrying cannot help when Kafka refuses the record
/// itself, so that stops the source with the fix; anything else is retried.
fn delivery_error(topic: String, e: RdError, size: usize) -> KafkaError {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidRecord) => KafkaError::Rejected {
            topic,
            message: format!(
                "a record of {size} bytes was refused ({e}); raise \"message.max.bytes\" in [kafka.options] \
                 and the topic's max.message.bytes"
            ),
        },
        Some(RDKafkaErrorCode::TopicAuthorizationFailed) => KafkaError::Rejected {
            topic,
            message: format!("{e}; grant the connector's Kafka user write access to the topic"),
        },
        _ => KafkaError::Delivery { topic, message: e.to_string() },
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
