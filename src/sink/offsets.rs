//! Kafka offset commits, coalesced. Delta's txn versions decide what is
//! applied; the committed offsets only report lag and spare a restart some
//! re-reading. A broker answers one client's group requests in order, so a
//! commit after every Delta commit (tens a second) queues up ahead of the
//! heartbeats until the group session times out and the partitions are
//! taken away. At most one commit is in flight, and at most one per
//! interval, carrying the newest offset of every partition.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::metrics::metrics;

/// A commit whose answer has not come after this long is taken as lost
/// (the broker went away), so commits do not stop for good.
const LOST_AFTER: Duration = Duration::from_secs(60);

pub struct OffsetCommits {
    /// Next offset to read, per topic and partition, not yet committed.
    wanted: BTreeMap<(String, i32), i64>,
    /// Next offset to apply, per topic and partition, as far as known.
    applied: BTreeMap<(String, i32), i64>,
    every: Duration,
    last_sent: Option<Instant>,
    /// Cleared by the consumer context when the broker answers.
    in_flight: Arc<AtomicBool>,
}

impl OffsetCommits {
    /// `in_flight` is the flag the consumer's commit callback clears.
    pub fn new(every: Duration, in_flight: Arc<AtomicBool>) -> Self {
        OffsetCommits {
            wanted: BTreeMap::new(),
            applied: BTreeMap::new(),
            every,
            last_sent: None,
            in_flight,
        }
    }

    /// Records that a partition is applied up to `next - 1`.
    pub fn want(&mut self, topic: &str, partition: i32, next: i64) {
        let e = self
            .wanted
            .entry((topic.to_string(), partition))
            .or_insert(next);
        *e = (*e).max(next);
        self.started_at(topic, partition, next);
    }

    /// Records that a partition is applied up to `next - 1` without asking
    /// for a commit: where an assigned partition starts.
    pub fn started_at(&mut self, topic: &str, partition: i32, next: i64) {
        let e = self
            .applied
            .entry((topic.to_string(), partition))
            .or_insert(next);
        *e = (*e).max(next);
    }

    /// The next offset to apply in a partition, if known.
    pub fn applied(&self, topic: &str, partition: i32) -> Option<i64> {
        self.applied.get(&(topic.to_string(), partition)).copied()
    }

    /// Whether a commit should be sent now.
    fn due(&self, now: Instant) -> bool {
        if self.wanted.is_empty() {
            return false;
        }
        let since = self.last_sent.map(|t| now.saturating_duration_since(t));
        if self.in_flight.load(Ordering::Acquire) && since.is_some_and(|s| s < LOST_AFTER) {
            return false;
        }
        since.is_none_or(|s| s >= self.every)
    }

    /// Sends the wanted offsets if one is due; never waits for the broker.
    pub fn maybe_commit<C: ConsumerContext>(&mut self, consumer: &StreamConsumer<C>) {
        let now = Instant::now();
        if !self.due(now) {
            return;
        }
        let Some(tpl) = self.take_list() else {
            return;
        };
        self.in_flight.store(true, Ordering::Release);
        self.last_sent = Some(now);
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            self.in_flight.store(false, Ordering::Release);
            commit_failed(&e);
        }
    }

    /// Commits what is wanted and waits for the answer (on shutdown).
    pub fn commit_now<C: ConsumerContext>(&mut self, consumer: &StreamConsumer<C>) {
        let Some(tpl) = self.take_list() else {
            return;
        };
        if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
            commit_failed(&e);
        }
    }

    fn take_list(&mut self) -> Option<TopicPartitionList> {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), next) in std::mem::take(&mut self.wanted) {
            if let Err(e) = tpl.add_partition_offset(&topic, partition, Offset::Offset(next)) {
                tracing::warn!(topic, partition, error = %e, "offset left out of the commit");
            }
        }
        (tpl.count() > 0).then_some(tpl)
    }
}

/// Counted and logged; only lag reporting depends on the committed offsets.
pub fn commit_failed(e: &KafkaError) {
    metrics().error("sink", "kafka");
    tracing::warn!(error = %e, "Kafka offset commit failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commits(every_ms: u64) -> (OffsetCommits, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (
            OffsetCommits::new(Duration::from_millis(every_ms), flag.clone()),
            flag,
        )
    }

    #[test]
    fn keeps_the_newest_offset_per_partition() {
        let (mut c, _) = commits(1000);
        c.want("t", 0, 10);
        c.want("t", 0, 7);
        c.want("t", 1, 3);
        c.want("u", 0, 5);
        let tpl = c.take_list().expect("offsets");
        let got: Vec<(String, i32, Offset)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition(), e.offset()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("t".into(), 0, Offset::Offset(10)),
                ("t".into(), 1, Offset::Offset(3)),
                ("u".into(), 0, Offset::Offset(5)),
            ]
        );
        assert!(c.take_list().is_none(), "taken offsets are not sent twice");
    }

    #[test]
    fn one_commit_in_flight_and_one_per_interval() {
        let (mut c, flag) = commits(1000);
        let t0 = Instant::now();
        assert!(!c.due(t0), "nothing wanted");
        c.want("t", 0, 1);
        assert!(c.due(t0), "the first commit goes at once");
        c.last_sent = Some(t0);
        flag.store(true, Ordering::Release);
        assert!(!c.due(t0 + Duration::from_secs(5)), "one in flight");
        flag.store(false, Ordering::Release);
        assert!(
            !c.due(t0 + Duration::from_millis(500)),
            "within the interval"
        );
        assert!(c.due(t0 + Duration::from_millis(1000)));
        flag.store(true, Ordering::Release);
        assert!(
            c.due(t0 + LOST_AFTER),
            "an unanswered commit stops blocking after a while"
        );
    }
}
