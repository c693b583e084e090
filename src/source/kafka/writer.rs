//! Produces change events to their table topics: keyed Avro records in
//! binlog order, a tombstone after each delete, a bounded number of records
//! in flight, and records a partition already holds skipped after a restart
//! (see [`super::tails`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError as RdError;
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode;

use super::offsets::{PositionStore, StoredPosition};
use super::tails::{PartitionTails, TailReader};
use crate::avro::CodecCache;
use crate::clock::now_ms;
use crate::config::Connector;
use crate::event::{ChangeEvent, Op};
use crate::kafka::admin::{Admin, TopicSpec};
use crate::kafka::delivery::{record_bytes, Settled};
use crate::kafka::heartbeat::HeartbeatStore;
use crate::kafka::partition::partition_for;
use crate::kafka::produce::{self, TopicHandle, MAX_HEADERS};
use crate::kafka::producer::{SourceProducer, Window};
use crate::kafka::{refusal, KafkaError};
use crate::source::order::RecordPlace;
use crate::source::position::Position;
use crate::source::snapshot::SnapshotState;
use crate::source::SourceError;
use crate::wire::{
    self, HeaderName, BACKFILL_HEADER_C, ORDER_HEADER_C, TRUNCATE_PARTITIONS_HEADER_C,
};

/// How long an abandoned writer's records may take to land.
const DRAIN: Duration = Duration::from_secs(15);

struct TopicState {
    name: String,
    /// `binlake_source_events_total` by operation code.
    events: Vec<(&'static str, prometheus::IntCounter)>,
    partitions: i32,
    /// The topic as librdkafka resolved it for the producer.
    handle: TopicHandle,
    /// What each partition already holds.
    tails: PartitionTails,
}

/// One record for [`ChangeWriter::send`].
#[derive(Clone, Copy)]
struct Outgoing<'a> {
    partition: i32,
    /// Empty for a null key.
    key: &'a [u8],
    /// `None` for a tombstone.
    value: Option<&'a [u8]>,
    place: &'a RecordPlace,
    /// A backfill marker, sent as a header.
    marker: Option<&'a [u8]>,
    /// The Kafka timestamp: the clock reading the envelope's `ts_ms` took,
    /// so librdkafka need not read the clock again.
    timestamp_ms: i64,
}

/// What the writer did, for logs and metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriterStats {
    pub produced: u64,
    pub skipped: u64,
    /// Kafka transactions committed inside a MySQL transaction that
    /// outlasted half of `transaction.timeout.ms` (transactional mode).
    pub splits: u64,
}

pub struct ChangeWriter {
    connector: Arc<Connector>,
    producer: SourceProducer,
    admin: Admin,
    store: PositionStore,
    heartbeats: HeartbeatStore,
    codecs: CodecCache,
    /// Each topic written, found by name through `topic_ids` once per
    /// change (the last one without hashing: rows come in runs per table).
    topics: Vec<TopicState>,
    topic_ids: HashMap<String, usize>,
    last_topic: Option<usize>,
    /// Reads each topic's partition tails when the topic is first written.
    tail_reader: TailReader,
    /// A record was refused: no position is stored by this writer again.
    failed: bool,
    /// Records of a MySQL transaction whose commit has not been seen yet
    /// were sent: in transactional mode no Kafka transaction ends here.
    mid_transaction: bool,
    /// Records (and their bytes) handed to the producer: those not yet
    /// `settled` are in flight, bounded by `window` however large a MySQL
    /// transaction is.
    sent: u64,
    sent_bytes: u64,
    /// The refusal [`Self::settled`] holds was returned once already.
    refusal_reported: bool,
    window: Window,
    /// Encode buffers, reused record after record.
    key: Vec<u8>,
    value: Vec<u8>,
    order: String,
    pub stats: WriterStats,
}

impl ChangeWriter {
    pub async fn open(connector: Arc<Connector>, codecs: CodecCache) -> Result<Self, KafkaError> {
        let admin = Admin::new(&connector.kafka)?;
        let store = PositionStore::open(
            &admin,
            &connector.kafka,
            connector.offsets_topic(),
            wire::position_key(&connector.name),
        )
        .await?;
        let producer = SourceProducer::open(
            &connector.kafka,
            &connector.name,
            &connector.offsets_topic(),
        )
        .await?;
        let window = Window::of(&connector.kafka);
        let heartbeats = HeartbeatStore::new(&connector.name);
        let tail_reader = TailReader::new(connector.clone());
        Ok(ChangeWriter {
            connector,
            producer,
            admin,
            store,
            heartbeats,
            codecs,
            topics: Vec::new(),
            topic_ids: HashMap::new(),
            last_topic: None,
            tail_reader,
            failed: false,
            mid_transaction: false,
            sent: 0,
            sent_bytes: 0,
            refusal_reported: false,
            window,
            key: Vec::new(),
            value: Vec::new(),
            order: String::new(),
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
        self.write_at(event, place, now_ms()).await
    }

    /// [`Self::write`] at `now_ms`, a clock reading the caller took: the
    /// envelope's `ts_ms` and the record's Kafka timestamp.
    pub async fn write_at(
        &mut self,
        event: &ChangeEvent,
        place: &RecordPlace,
        now_ms: i64,
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
        let topic = codec.topic();
        // The encode buffers are reused: one allocation less per record.
        let (mut key, mut value) = (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.value),
        );
        key.clear();
        value.clear();
        codec
            .encode_key_into(event, &mut key)
            .and_then(|()| codec.encode_value_into(event, now_ms, &mut value))?;
        let result = self
            .write_encoded(event, place, topic, (&key, &value), now_ms)
            .await;
        (self.key, self.value) = (key, value);
        result
    }

    async fn write_encoded(
        &mut self,
        event: &ChangeEvent,
        place: &RecordPlace,
        topic: &str,
        (key, value): (&[u8], &[u8]),
        now_ms: i64,
    ) -> Result<(), SourceError> {
        let t = self.topic(topic).await?;
        let partition = partition_for(key, self.topics[t].partitions);
        let record = Outgoing {
            partition,
            key,
            value: Some(value),
            place,
            marker: None,
            timestamp_ms: now_ms,
        };
        if self.fresh(t, partition, place)? {
            self.send(t, &record).await?;
            self.count_event(t, event);
        }
        if event.op == Op::Delete {
            let tombstone = RecordPlace {
                order: place.order.tombstone(),
                ..place.clone()
            };
            if self.fresh(t, partition, &tombstone)? {
                let record = Outgoing {
                    value: None,
                    place: &tombstone,
                    ..record
                };
                self.send(t, &record).await?;
            }
        }
        Ok(())
    }

    /// `binlake_source_events_total`, its counters looked up once per topic
    /// and operation rather than per record.
    fn count_event(&mut self, t: usize, event: &ChangeEvent) {
        let state = &mut self.topics[t];
        let code = event.op.code();
        let counter = match state.events.iter().find(|(c, _)| *c == code) {
            Some((_, counter)) => counter,
            None => {
                let counter = crate::metrics::metrics()
                    .source_events_total
                    .with_label_values(&[&event.table.qualified_name(), code]);
                state.events.push((code, counter));
                &state.events[state.events.len() - 1].1
            }
        };
        counter.inc();
    }

    /// Whether partition `partition` of topic `t` still lacks the record
    /// (see [`PartitionTails::fresh`]).
    fn fresh(
        &mut self,
        t: usize,
        partition: i32,
        place: &RecordPlace,
    ) -> Result<bool, SourceError> {
        let state = &mut self.topics[t];
        let fresh = state.tails.fresh(&state.name, partition, place)?;
        if !fresh {
            self.stats.skipped += 1;
        }
        Ok(fresh)
    }

    /// The index of `topic` in `topics`; a topic not written before is
    /// created if missing and its partition tails read.
    async fn topic(&mut self, topic: &str) -> Result<usize, KafkaError> {
        if let Some(t) = self.last_topic.filter(|&t| &*self.topics[t].name == topic) {
            return Ok(t);
        }
        let t = match self.topic_ids.get(topic) {
            Some(&t) => t,
            None => {
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
                let last = self.tail_reader.take(topic, partitions).await?;
                let t = self.topics.len();
                let handle = TopicHandle::new(&self.producer.producer, topic).map_err(|e| {
                    KafkaError::Topic {
                        topic: topic.to_string(),
                        message: e.to_string(),
                    }
                })?;
                self.topics.push(TopicState {
                    name: topic.into(),
                    handle,
                    events: Vec::new(),
                    partitions,
                    tails: PartitionTails::new(last),
                });
                self.topic_ids.insert(topic.to_string(), t);
                t
            }
        };
        self.last_topic = Some(t);
        Ok(t)
    }

    /// Queues one record on topic `t`.
    async fn send(&mut self, t: usize, record: &Outgoing<'_>) -> Result<(), KafkaError> {
        let Outgoing {
            partition,
            key,
            value,
            place,
            marker,
            mut timestamp_ms,
        } = *record;
        let bytes = record_bytes(Some(key), value);
        // A record that waited is stamped when it is handed over, as
        // librdkafka stamps it: its Kafka timestamp says when it was produced.
        if self.make_room(bytes).await? {
            timestamp_ms = now_ms();
        }
        if self.producer.due_for_split() {
            self.split().await?;
            timestamp_ms = now_ms();
        }
        self.producer.begin()?;
        if !place.snapshot {
            self.mid_transaction = true;
        }
        // The order text's buffer is reused; it is lent out while the
        // record waits for queue room.
        let mut order = std::mem::take(&mut self.order);
        place.order.encode_into(&mut order);
        let mut headers: [(HeaderName, &[u8]); MAX_HEADERS] = [(ORDER_HEADER_C, &[]); MAX_HEADERS];
        headers[0].1 = order.as_bytes();
        let mut n = 1;
        for (name, value) in place.mark.headers() {
            headers[n] = (name, value.as_bytes());
            n += 1;
        }
        if let Some(m) = marker {
            headers[n] = (BACKFILL_HEADER_C, m);
            n += 1;
        }
        // An empty key is a null key: a truncate record, which also says how
        // many partitions received it (the sink waits for all of them).
        let partitions;
        if key.is_empty() && marker.is_none() {
            partitions = self.topics[t].partitions.to_string();
            headers[n] = (TRUNCATE_PARTITIONS_HEADER_C, partitions.as_bytes());
            n += 1;
        }
        let mut outgoing = produce::Record {
            partition,
            key: (!key.is_empty()).then_some(key),
            value,
            timestamp_ms,
            headers: &headers[..n],
        };
        let result = self.hand_over(t, &mut outgoing, bytes).await;
        self.order = order;
        result
    }

    /// Queues `outgoing` on topic `t`, waiting while librdkafka's queue is
    /// full.
    async fn hand_over(
        &mut self,
        t: usize,
        outgoing: &mut produce::Record<'_>,
        bytes: u64,
    ) -> Result<(), KafkaError> {
        loop {
            match self.topics[t].handle.produce(outgoing) {
                Ok(()) => {
                    self.sent += 1;
                    self.sent_bytes += bytes;
                    self.stats.produced += 1;
                    return Ok(());
                }
                Err(RDKafkaErrorCode::QueueFull) => {
                    outgoing.timestamp_ms = now_ms();
                    let (settled, _) = self.settled().counts();
                    if settled == self.sent {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    } else {
                        self.settled().reach(settled + 1, 0).await;
                        self.check_refused()?;
                    }
                }
                Err(code) => {
                    let size =
                        outgoing.key.map_or(0, <[u8]>::len) + outgoing.value.map_or(0, <[u8]>::len);
                    let topic = self.topics[t].name.to_string();
                    return Err(self.refused(topic, RdError::MessageProduction(code), size));
                }
            }
        }
    }

    /// What the producer has settled of the records this writer sent.
    fn settled(&self) -> &Settled {
        &self.producer.producer.context().settled
    }

    /// Waits, if the window is full, until about a batch of room is free:
    /// room for a record at a time would have this thread and the
    /// producer's polling thread take turns record by record. One record is
    /// always let through, however large. True if it waited.
    async fn make_room(&mut self, bytes: u64) -> Result<bool, KafkaError> {
        self.check_refused()?;
        let (records, settled_bytes) = self.settled().counts();
        let in_flight = self.sent - records;
        let window_records = self.window.records as u64;
        let window_bytes = self.window.bytes as u64;
        if in_flight == 0
            || (in_flight < window_records
                && self.sent_bytes - settled_bytes + bytes <= window_bytes)
        {
            return Ok(false);
        }
        let low_records = window_records * 2 / 3;
        let low_bytes = (window_bytes * 2 / 3).saturating_sub(bytes);
        self.settled()
            .reach(
                self.sent.saturating_sub(low_records),
                self.sent_bytes.saturating_sub(low_bytes),
            )
            .await;
        self.check_refused().map(|()| true)
    }

    /// The first refused record's error, once.
    fn check_refused(&mut self) -> Result<(), KafkaError> {
        if self.refusal_reported {
            return Ok(());
        }
        match self.settled().refusal() {
            Some(r) => {
                self.refusal_reported = true;
                Err(self.refused(r.topic, r.error, r.size))
            }
            None => Ok(()),
        }
    }

    /// A record failed: no position is stored by this writer again.
    fn refused(&mut self, topic: String, e: RdError, size: usize) -> KafkaError {
        self.failed = true;
        let fatal = self.producer.producer.client().fatal_error();
        if let Some((_, reason)) = &fatal {
            tracing::error!(%topic, %reason, "the Kafka producer failed");
        }
        refusal::delivery_error(topic, e, size, fatal)
    }

    /// Waits until the broker has every queued record.
    pub async fn flush(&mut self) -> Result<(), KafkaError> {
        self.settled().reach(self.sent, self.sent_bytes).await;
        self.check_refused()
    }

    /// Whether [`commit`](Self::commit) would store a position now: not in
    /// transactional mode inside a MySQL transaction.
    pub fn can_store(&self) -> bool {
        !(self.producer.transactional && self.mid_transaction)
    }

    /// The MySQL transaction whose changes were being written has committed
    /// (the stream handed on its commit position).
    pub fn end_of_transaction(&mut self) {
        self.mid_transaction = false;
    }

    /// Commits the open Kafka transaction inside a MySQL transaction that
    /// has outlasted half of `transaction.timeout.ms`, before the broker
    /// aborts it, without a position: the stored one stays before the
    /// MySQL transaction, and a restart inside it skips what landed by the
    /// partition tails, as on the default path.
    async fn split(&mut self) -> Result<(), KafkaError> {
        self.flush().await?;
        if self.failed {
            return Err(self.refused_earlier());
        }
        self.producer.commit().await?;
        self.stats.splits += 1;
        tracing::info!(
            after = ?self.producer.split_after,
            "a MySQL transaction outlasted half of transaction.timeout.ms: its Kafka transaction \
             committed without a position (a restart inside it skips what landed)"
        );
        Ok(())
    }

    fn refused_earlier(&self) -> KafkaError {
        // A record of this writer was refused: the position reached may
        // lie past it. The last position stored stays the truth.
        KafkaError::Delivery {
            topic: self.connector.offsets_topic(),
            message: "a record was refused earlier; the position is not stored past it".into(),
        }
    }

    /// Records a resume position once everything before it is in Kafka; in
    /// transactional mode the position commits with the data, and only at
    /// a MySQL transaction boundary: inside one it returns `Ok(false)`,
    /// storing nothing and leaving the Kafka transaction open.
    pub async fn commit(
        &mut self,
        position: &Position,
        source_ts_ms: i64,
        snapshot: Option<&SnapshotState>,
    ) -> Result<bool, KafkaError> {
        if !self.can_store() {
            return Ok(false);
        }
        self.flush().await?;
        if self.failed {
            return Err(self.refused_earlier());
        }
        self.producer.begin()?;
        let stored = StoredPosition {
            position: position.clone(),
            source_ts_ms,
            written_ts_ms: now_ms(),
            snapshot: snapshot.cloned(),
        };
        self.store.save(&self.producer.producer, &stored).await?;
        self.producer.commit().await?;
        Ok(true)
    }

    /// Stores the position and closes the writer (shutdown, or a stop on a
    /// lasting error). Stopped inside a MySQL transaction in transactional
    /// mode, the open Kafka transaction is aborted instead: the position
    /// stored last stays, and a restart writes the rest again from there.
    pub async fn close(
        mut self,
        position: &Position,
        source_ts_ms: i64,
        snapshot: Option<&SnapshotState>,
    ) -> Result<(), KafkaError> {
        if self.commit(position, source_ts_ms, snapshot).await? {
            return Ok(());
        }
        tracing::info!(
            "stopped inside a MySQL transaction: its open Kafka transaction is aborted; the restart \
             resumes from the position stored last"
        );
        self.abandon().await;
        Ok(())
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
}

// Truncates, backfill markers and heartbeats.
#[path = "writer_control.rs"]
mod control;
