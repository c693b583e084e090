//! When a table's batch is due: `flush_interval` after its oldest record
//! was produced (the record's Kafka timestamp), so time a record spent in
//! Kafka counts against the staleness the interval bounds instead of
//! adding to it.

use std::time::{Duration, Instant};

use crate::clock::now_ms;

/// Counts a record that has just arrived towards its batch's clock
/// (`since`, the instant the batch's interval runs from): the oldest
/// record's start wins.
pub(super) fn note_arrival(
    since: &mut Option<Instant>,
    produced_ms: Option<i64>,
    flush_interval: Duration,
) {
    let start = batch_start(Instant::now(), now_ms(), produced_ms, flush_interval);
    *since = Some(since.map_or(start, |s| s.min(start)));
}

/// When a record arriving `now` started its batch's clock: its age (the
/// time since it was produced) counts, up to half the interval, so a
/// batch still collects for at least half the interval after its first
/// record came and a broker slow to hand records over cannot have the
/// sink commit more than twice as often. An age past the interval (a
/// backlog being read, or a producer clock far behind) or below zero (a
/// clock ahead) counts as none: the batch waits its interval from now, as
/// it would without timestamps.
fn batch_start(
    now: Instant,
    now_ms: i64,
    produced_ms: Option<i64>,
    flush_interval: Duration,
) -> Instant {
    let limit = i64::try_from(flush_interval.as_millis()).unwrap_or(i64::MAX);
    let age = produced_ms
        .map(|p| now_ms.saturating_sub(p))
        .filter(|a| (0..=limit).contains(a))
        .and_then(|a| u64::try_from(a).ok())
        .map_or(Duration::ZERO, Duration::from_millis)
        .min(flush_interval / 2);
    now.checked_sub(age).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_that_waited_in_kafka_brings_its_batch_due_sooner() {
        let (now, now_ms, interval) = (Instant::now(), 1_000_000, Duration::from_secs(1));
        let start = batch_start(now, now_ms, Some(now_ms - 400), interval);
        assert_eq!(now - start, Duration::from_millis(400));
        // The oldest record sets the batch's clock, whatever order they come in.
        let mut since = None;
        note_arrival(&mut since, Some(crate::clock::now_ms() - 100), interval);
        note_arrival(&mut since, Some(crate::clock::now_ms() - 400), interval);
        note_arrival(&mut since, Some(crate::clock::now_ms() - 200), interval);
        let waited = since.map(|t| t.elapsed()).unwrap_or_default();
        assert!(waited >= Duration::from_millis(400), "{waited:?}");
        assert!(waited < interval, "{waited:?}");
    }

    #[test]
    fn ages_count_up_to_half_the_interval_and_not_past_it_or_from_the_future() {
        let (now, now_ms, interval) = (Instant::now(), 1_000_000, Duration::from_secs(1));
        for produced in [Some(now_ms - 5_000), Some(now_ms + 300), None] {
            assert_eq!(
                batch_start(now, now_ms, produced, interval),
                now,
                "{produced:?}"
            );
        }
        // Counted up to half the interval.
        for produced in [now_ms - 500, now_ms - 800, now_ms - 1_000] {
            assert_eq!(
                now - batch_start(now, now_ms, Some(produced), interval),
                interval / 2
            );
        }
    }
}
