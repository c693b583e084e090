//! The sink loop: consume `{name}.{db}.{table}` topics in group `{name}`,
//! batch per table, apply each batch to its Delta table in one commit with
//! the consumed offsets, then commit the offsets to Kafka (for lag only:
//! Delta's `txn` versions decide what is already applied).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message, OwnedMessage};
use tokio::sync::watch;

use super::decode::{DecodeError, EnvelopeDecoder, SinkRecord};
use super::delta::TableError;
use super::dlq::DeadLetters;
use super::freshness::{FreshTables, HeartbeatWatch};
use super::offsets::OffsetCommits;
use super::SinkError;
use crate::avro::RegistryClient;
use crate::backfill::RepairMarker;
use crate::clock::{now_ms, Backoff};
use crate::config::{Connector, PartitionMode};
use crate::event::Op;
use crate::metrics::metrics;
use crate::wire;

pub use super::batch::FAILPOINT_ENV;
use super::batch::{flush, Pending, TopicState};
use super::batch_clock;
use super::consumer::{subscribe, OwnPartitions, SinkContext};

pub async fn run(
    connector: Arc<Connector>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SinkError> {
    let sink = connector
        .sink
        .clone()
        .ok_or_else(|| SinkError::Config("the connector file has no [sink] section".into()))?;
    let name = connector.name.clone();
    let registry = RegistryClient::new(&connector.registry.url)
        .map_err(|e| SinkError::Config(e.to_string()))?;
    let mut decoder = EnvelopeDecoder::new(registry);

    let (consumer, mut offsets, pattern) = subscribe(&connector, &sink)?;
    let dlq = DeadLetters::new(&connector)?;
    let mut own = match sink.partitions {
        PartitionMode::Group => None,
        PartitionMode::All => Some(OwnPartitions::new(&connector)?),
    };
    tracing::info!(group = %name, pattern = %pattern, partitions = ?sink.partitions, "sink consuming");
    if let Some(own) = own.as_mut() {
        own.refresh(&consumer);
    }
    metrics().set_ready(true);

    let mut heartbeats = HeartbeatWatch::start(&connector.kafka, &name);
    let mut fresh = FreshTables::default();
    let mut topics: HashMap<String, TopicState> = HashMap::new();
    let mut last_summary = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The batch whose first record arrived longest ago is flushed when it is
    // due, not on the next tick: up to a tick less staleness. One timer,
    // moved only when that deadline changes (not once per record).
    let flush_timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(flush_timer);
    let mut armed: Option<Instant> = None;
    loop {
        let next_due = topics
            .values()
            .filter_map(|s| s.since)
            .min()
            .map(|t| t + sink.flush_interval);
        if next_due != armed {
            if let Some(at) = next_due {
                flush_timer.as_mut().reset(at.into());
            }
            armed = next_due;
        }
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    tracing::info!("sink draining before exit");
                    for state in topics.values_mut() {
                        flush(&connector, &sink, &mut offsets, &dlq, state).await?;
                    }
                    offsets.commit_now(&consumer);
                    return Ok(());
                }
            }
            _ = tick.tick() => {
                if let Some(own) = own.as_mut() {
                    own.refresh(&consumer);
                }
                if let Some(why) = consumer.context().starts.take_refusal() {
                    return Err(SinkError::Table(TableError::Progress(why)));
                }
                if last_summary.elapsed() >= SUMMARY_EVERY {
                    summarize(&mut topics, last_summary.elapsed());
                    last_summary = Instant::now();
                }
                follow_heartbeats(&consumer, &topics, &mut heartbeats, &mut fresh, &mut offsets);
                update_end_to_end(&name, &topics, &fresh);
                offsets.maybe_commit(&consumer);
            }
            () = &mut flush_timer, if armed.is_some() => {
                armed = None;
                for state in topics.values_mut() {
                    if state.since.is_some_and(|t| t.elapsed() >= sink.flush_interval) {
                        flush(&connector, &sink, &mut offsets, &dlq, state).await?;
                    }
                }
                offsets.maybe_commit(&consumer);
            }
            msg = consumer.recv() => {
                if let Some(why) = consumer.context().starts.take_refusal() {
                    return Err(SinkError::Table(TableError::Progress(why)));
                }
                // The record is read in place: a copy of it is made only
                // when it is kept, and its headers (which librdkafka parses
                // on first access) are read only by truncates and markers.
                let msg = match msg {
                    Ok(m) => m,
                    // No table topic yet: the source creates them on first change.
                    Err(e) if e.rdkafka_error_code()
                        == Some(rdkafka::error::RDKafkaErrorCode::UnknownTopicOrPartition) => {
                        tracing::info!(reason = %e, "waiting for table topics");
                        continue;
                    }
                    Err(e) => {
                        crate::metrics::metrics().error("sink", "kafka");
                        tracing::warn!(error = %e, "Kafka consumer error");
                        continue;
                    }
                };
                let record = match decode_retrying(&mut decoder, &msg, &mut shutdown).await? {
                    Ok(r) => r,
                    Err(e) => {
                        dlq.send(&msg, wire::DLQ_REASON_UNDECODABLE, &e.to_string()).await?;
                        None
                    }
                };
                let marker = match marker_of(&msg) {
                    Ok(m) => m,
                    Err(e) => {
                        dlq.send(&msg, wire::DLQ_REASON_UNDECODABLE, &e).await?;
                        None
                    }
                };
                let state = topic_state(&mut topics, msg.topic());
                let (partition, offset) = (msg.partition(), msg.offset());
                batch_clock::note_arrival(&mut state.since, msg.timestamp().to_millis(), sink.flush_interval);
                state.rewind_to(partition, offset);
                // A change keeps its message only while the table might
                // refuse its schema (for the dead-letter topic), and never
                // its headers, which only truncates are read for; a
                // tombstone or a backfill marker counts only as an offset.
                let message = match &record {
                    Some(r) if r.op == Op::Truncate => Some(msg.detach()),
                    Some(r) if state.fits(&sink, r).await? => None,
                    Some(_) => Some(without_headers(&msg)),
                    None => None,
                };
                drop(msg);
                if record.is_some() {
                    state.rows += 1;
                }
                state.pending.push(Pending { partition, offset, message: message.map(Box::new), record, marker });
                if state.rows >= sink.max_batch_rows {
                    flush(&connector, &sink, &mut offsets, &dlq, state).await?;
                    offsets.maybe_commit(&consumer);
                }
            }
        }
    }
}

/// The topic's state, made on its first record; the topic's name is
/// copied only then.
fn topic_state<'a>(topics: &'a mut HashMap<String, TopicState>, topic: &str) -> &'a mut TopicState {
    if !topics.contains_key(topic) {
        topics.insert(topic.to_owned(), TopicState::new(topic));
    }
    topics
        .get_mut(topic)
        .expect("the topic's state was just inserted")
}

/// A copy of a record without its headers.
fn without_headers(msg: &BorrowedMessage<'_>) -> OwnedMessage {
    OwnedMessage::new(
        msg.payload().map(<[u8]>::to_vec),
        msg.key().map(<[u8]>::to_vec),
        msg.topic().to_owned(),
        msg.timestamp(),
        msg.partition(),
        msg.offset(),
        None,
    )
}

/// The backfill marker a record without key and value carries, if any.
fn marker_of(msg: &impl Message) -> Result<Option<Arc<RepairMarker>>, String> {
    use rdkafka::message::Headers;
    if msg.payload().is_some() || msg.key().is_some() {
        return Ok(None);
    }
    let Some(h) = msg
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == wire::BACKFILL_HEADER))
    else {
        return Ok(None);
    };
    serde_json::from_slice(h.value.unwrap_or_default())
        .map(|m| Some(Arc::new(m)))
        .map_err(|e| {
            format!(
                "a {} header that is not a backfill marker: {e}",
                wire::BACKFILL_HEADER
            )
        })
}

/// How often the sink logs what it applied and how far behind it is.
const SUMMARY_EVERY: Duration = Duration::from_secs(30);

fn summarize(topics: &mut HashMap<String, TopicState>, over: Duration) {
    let applied: u64 = topics.values().map(|t| t.applied).sum();
    let commits: u64 = topics.values().map(|t| t.commits).sum();
    let pending: usize = topics.values().map(|t| t.rows).sum();
    let now = now_ms();
    let oldest_newest = topics
        .values()
        .filter_map(|t| t.newest_ts_ms)
        .min()
        .map(|ts| (now - ts).max(0) as f64 / 1000.0);
    tracing::info!(
        changes_per_s = (applied as f64 / over.as_secs_f64()).round(),
        commits,
        pending,
        tables = topics.len(),
        end_to_end_lag_s = oldest_newest,
        "sink summary"
    );
    for t in topics.values_mut() {
        t.applied = 0;
        t.commits = 0;
    }
}

async fn decode_retrying(
    decoder: &mut EnvelopeDecoder,
    msg: &impl Message,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Result<Option<SinkRecord>, DecodeError>, SinkError> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        match decoder.decode(msg.key(), msg.payload()).await {
            Err(e) if e.is_retryable() => {
                crate::metrics::metrics().error("sink", "registry");
                tracing::warn!(error = %e, retry_in = ?backoff.current(), "schema registry unreachable; retrying");
                if backoff.wait(shutdown).await {
                    return Err(SinkError::Stopped);
                }
            }
            other => return Ok(other),
        }
    }
}

/// Hands the heartbeat reader the current assignment and moves each
/// table's "holds everything before T" by the heartbeats its partitions
/// have reached.
fn follow_heartbeats(
    consumer: &StreamConsumer<SinkContext>,
    topics: &HashMap<String, TopicState>,
    heartbeats: &mut HeartbeatWatch,
    fresh: &mut FreshTables,
    offsets: &mut OffsetCommits,
) {
    if let Ok(started) = consumer.context().started.lock().as_deref_mut() {
        for (topic, p, o) in started.drain(..) {
            offsets.started_at(&topic, p, o);
        }
    }
    if let Ok(tpl) = consumer.assignment() {
        let parts = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        heartbeats.set_assignment(parts);
    }
    if heartbeats.claims.has_changed().unwrap_or(false) {
        if let Some(claim) = heartbeats.claims.borrow_and_update().clone() {
            fresh.add(&claim);
        }
    }
    // A partition with nothing pending is applied up to the consumer's
    // position too, which also steps over transaction markers.
    let mut read_to: HashMap<(String, i32), i64> = HashMap::new();
    let positions = consumer.position().ok();
    if let Some(tpl) = &positions {
        for e in tpl.elements() {
            let (topic, p) = (e.topic(), e.partition());
            let idle = topics
                .get(topic)
                .is_none_or(|s| s.pending.iter().all(|r| r.partition != p));
            if let (true, rdkafka::Offset::Offset(o)) = (idle, e.offset()) {
                read_to.insert((topic.to_string(), p), o);
            }
        }
    }
    fresh.advance(|topic, p| {
        let pos = read_to.get(&(topic.to_string(), p)).copied();
        offsets.applied(topic, p).max(pos)
    });
}

/// `binlake_end_to_end_lag_seconds`: now minus the newer of the newest
/// applied change's commit time and the newest heartbeat the table holds.
fn update_end_to_end(name: &str, topics: &HashMap<String, TopicState>, fresh: &FreshTables) {
    let now = now_ms();
    let prefix = format!("{name}.");
    let set = |label: &str, ts: i64| {
        metrics()
            .end_to_end_lag_seconds
            .with_label_values(&[label])
            .set(((now - ts).max(0)) as f64 / 1000.0);
    };
    for (topic, state) in topics {
        let newest = state.newest_ts_ms.max(fresh.fresh_ts(topic));
        if let Some(ts) = newest {
            set(&state.table_label, ts);
        }
    }
    for topic in fresh.topics().filter(|t| !topics.contains_key(*t)) {
        if let Some(ts) = fresh.fresh_ts(topic) {
            set(topic.strip_prefix(&prefix).unwrap_or(topic), ts);
        }
    }
}
