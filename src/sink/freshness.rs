//! End-to-end staleness of each Delta table (SPEC metrics): now minus the
//! newest instant T such that every change committed in MySQL before T is
//! in the table. Two things move T: the commit time of the newest change
//! applied, and the source's heartbeats, which say "every change committed
//! before T is in Kafka". A heartbeat counts for a table once this sink has
//! applied each of its partitions up to the end the partition had *after*
//! the heartbeat was read — every change before T lies below that end — so
//! an idle, caught-up pipeline reads about heartbeat + flush interval.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::config::KafkaConfig;
use crate::kafka::heartbeat::Heartbeat;
use crate::kafka::{client_config, ClientKind};
use crate::wire;

/// Heartbeats waiting per topic; older ones are dropped first (a newer one
/// satisfied later says more anyway).
const MAX_OPEN: usize = 16;
const TIMEOUT: Duration = Duration::from_secs(10);

/// A heartbeat and the ends of the partitions assigned when it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub ts_ms: i64,
    /// Topic → (partition, end offset).
    pub ends: HashMap<String, Vec<(i32, i64)>>,
}

/// A heartbeat's instant and the partition ends it waits for.
type Open = (i64, Vec<(i32, i64)>);

/// Claims not yet satisfied, per topic, and the instant each table holds
/// everything before.
#[derive(Debug, Default)]
pub struct FreshTables {
    open: HashMap<String, VecDeque<Open>>,
    fresh: HashMap<String, i64>,
}

impl FreshTables {
    pub fn add(&mut self, claim: &Claim) {
        for (topic, ends) in &claim.ends {
            let q = self.open.entry(topic.clone()).or_default();
            q.push_back((claim.ts_ms, ends.clone()));
            while q.len() > MAX_OPEN {
                q.pop_front();
            }
        }
    }

    /// Moves each topic's instant to the newest claim whose partition ends
    /// `applied` (the next offset to apply, if known) has reached.
    pub fn advance(&mut self, applied: impl Fn(&str, i32) -> Option<i64>) {
        for (topic, q) in &mut self.open {
            let reached = |ends: &Vec<(i32, i64)>| {
                ends.iter()
                    .all(|(p, end)| *end <= 0 || applied(topic, *p).is_some_and(|a| a >= *end))
            };
            let best = q
                .iter()
                .filter(|(_, e)| reached(e))
                .map(|(ts, _)| *ts)
                .max();
            if let Some(ts) = best {
                let f = self.fresh.entry(topic.clone()).or_insert(ts);
                *f = (*f).max(ts);
                let now = *f;
                q.retain(|(ts, ends)| *ts > now && !reached(ends));
            }
        }
    }

    pub fn fresh_ts(&self, topic: &str) -> Option<i64> {
        self.fresh.get(topic).copied()
    }

    pub fn topics(&self) -> impl Iterator<Item = &String> {
        self.fresh.keys()
    }
}

/// Reads the heartbeat topic on a thread of its own (every sink of the
/// group reads all heartbeats) and publishes each one as a [`Claim`] over
/// the partitions the sink has assigned.
pub struct HeartbeatWatch {
    pub claims: watch::Receiver<Option<Claim>>,
    assignment: Arc<Mutex<Vec<(String, i32)>>>,
    stop: Arc<AtomicBool>,
}

impl HeartbeatWatch {
    pub fn start(kafka: &KafkaConfig, name: &str) -> Self {
        let (tx, claims) = watch::channel(None);
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kafka, topic, key) = (
            kafka.clone(),
            wire::offsets_topic(name),
            wire::heartbeat_key(name),
        );
        let (shared, stopped) = (assignment.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("binlake-heartbeats".into())
            .spawn(move || {
                if let Err(e) = read_heartbeats(&kafka, &topic, &key, &shared, &stopped, &tx) {
                    tracing::warn!(%topic, error = %e, "cannot read the source's heartbeats; end-to-end lag follows the newest applied change only");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the heartbeat reader");
        }
        HeartbeatWatch {
            claims,
            assignment,
            stop,
        }
    }

    /// The partitions this sink holds now (for the next claim).
    pub fn set_assignment(&self, parts: Vec<(String, i32)>) {
        if let Ok(mut a) = self.assignment.lock() {
            *a = parts;
        }
    }
}

impl Drop for HeartbeatWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn read_heartbeats(
    kafka: &KafkaConfig,
    topic: &str,
    key: &str,
    assignment: &Mutex<Vec<(String, i32)>>,
    stop: &AtomicBool,
    tx: &watch::Sender<Option<Claim>>,
) -> Result<(), rdkafka::error::KafkaError> {
    let consumer: BaseConsumer<crate::logging::KafkaLogs> = client_config(
        kafka,
        ClientKind::Other,
        &[
            ("group.id", "binlake-heartbeats"),
            ("enable.auto.commit", "false"),
            ("isolation.level", "read_committed"),
            ("allow.auto.create.topics", "false"),
        ],
    )
    .create_with_context(crate::logging::KafkaLogs)?;
    // The source creates the topic when it starts; wait for it quietly.
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let exists = consumer
            .fetch_metadata(Some(topic), TIMEOUT)
            .ok()
            .is_some_and(|m| {
                m.topics()
                    .iter()
                    .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            });
        if exists {
            break;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
    // From the last heartbeat on: with ends read now, an old heartbeat
    // only asks for more than it needs.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::OffsetTail(1))?;
    consumer.assign(&tpl)?;
    while !stop.load(Ordering::Acquire) && !tx.is_closed() {
        let Some(msg) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let Some(beat) = msg
            .ok()
            .filter(|m| m.key() == Some(key.as_bytes()))
            .and_then(|m| m.payload().and_then(Heartbeat::parse))
        else {
            continue;
        };
        let parts = assignment.lock().map(|a| a.clone()).unwrap_or_default();
        match partition_ends(&consumer, &parts) {
            Ok(ends) => {
                tx.send_replace(Some(Claim {
                    ts_ms: beat.ts_ms,
                    ends,
                }));
            }
            Err(e) => tracing::debug!(error = %e, "cannot read partition ends for a heartbeat"),
        }
    }
    Ok(())
}

/// The end offset of every partition, in one request.
fn partition_ends<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    parts: &[(String, i32)],
) -> Result<HashMap<String, Vec<(i32, i64)>>, rdkafka::error::KafkaError> {
    let mut out: HashMap<String, Vec<(i32, i64)>> = HashMap::new();
    if parts.is_empty() {
        return Ok(out);
    }
    let mut tpl = TopicPartitionList::new();
    for (topic, p) in parts {
        tpl.add_partition_offset(topic, *p, Offset::End)?;
    }
    let ends = consumer.offsets_for_times(tpl, TIMEOUT)?;
    for e in ends.elements() {
        // An end that cannot be told leaves the topic out of this claim.
        let Offset::Offset(end) = e.offset() else {
            continue;
        };
        out.entry(e.topic().to_string())
            .or_default()
            .push((e.partition(), end));
    }
    // A topic with a partition whose end is unknown says nothing.
    out.retain(|topic, ends| ends.len() == parts.iter().filter(|(t, _)| t == topic).count());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(ts_ms: i64, topic: &str, ends: &[(i32, i64)]) -> Claim {
        Claim {
            ts_ms,
            ends: HashMap::from([(topic.to_string(), ends.to_vec())]),
        }
    }

    #[test]
    fn a_heartbeat_counts_once_every_partition_reaches_its_end() {
        let mut f = FreshTables::default();
        f.add(&claim(1_000, "s.db.t", &[(0, 10), (1, 5)]));
        let applied = HashMap::from([(0, 10), (1, 4)]);
        f.advance(|_, p| applied.get(&p).copied());
        assert_eq!(
            f.fresh_ts("s.db.t"),
            None,
            "partition 1 is one record short"
        );
        let applied = HashMap::from([(0, 10), (1, 5)]);
        f.advance(|_, p| applied.get(&p).copied());
        assert_eq!(f.fresh_ts("s.db.t"), Some(1_000));
    }

    #[test]
    fn an_empty_partition_needs_nothing_and_an_unknown_one_blocks() {
        let mut f = FreshTables::default();
        f.add(&claim(1_000, "s.db.t", &[(0, 0), (1, 3)]));
        f.advance(|_, _| None);
        assert_eq!(f.fresh_ts("s.db.t"), None);
        f.advance(|_, p| (p == 1).then_some(3));
        assert_eq!(f.fresh_ts("s.db.t"), Some(1_000));
    }

    #[test]
    fn the_newest_reached_heartbeat_wins_and_time_never_goes_back() {
        let mut f = FreshTables::default();
        f.add(&claim(1_000, "t", &[(0, 5)]));
        f.add(&claim(2_000, "t", &[(0, 8)]));
        f.add(&claim(3_000, "t", &[(0, 12)]));
        f.advance(|_, _| Some(9));
        assert_eq!(f.fresh_ts("t"), Some(2_000));
        f.add(&claim(1_500, "t", &[(0, 1)]));
        f.advance(|_, _| Some(9));
        assert_eq!(f.fresh_ts("t"), Some(2_000));
        f.advance(|_, _| Some(12));
        assert_eq!(f.fresh_ts("t"), Some(3_000));
    }
}
