//! TRUNCATE on a topic of several partitions: a barrier.
//!
//! The source writes a truncate record to every partition of the table's
//! topic, in order with each partition's rows. Partitions are read at their
//! own pace, so one partition's truncate can arrive long before another's,
//! and rows that follow it in its partition are newer than the truncate
//! while rows still unread in the other partitions are older. So a
//! partition that reached a truncate is held there (its records from the
//! truncate on wait) while the others are applied as usual, until every
//! partition has reached the same truncate (same source position). Then one
//! Delta commit removes every file of the table and adds the rows after the
//! truncate, with the `txn` offsets of all partitions: rows before the
//! truncate are dropped rather than applied, since the truncate deletes
//! them anyway.
//!
//! Replays are harmless: before that commit no partition's `txn` version
//! reaches its truncate (only records before it were applied), so a sink
//! restarted after `kill -9` reads the truncates again and forms the same
//! barrier; after it, every partition's version is at or past its
//! truncate, so the truncates read again are skipped as applied.
//!
//! All partitions of a topic must be read by one sink process: a partition
//! assigned to another sink never reaches the barrier here (logged).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rdkafka::message::{Headers, Message, OwnedMessage};

use super::decode::SinkRecord;
use super::delta::{TableError, TableTarget};
use crate::event::Op;
use crate::wire::TRUNCATE_PARTITIONS_HEADER;

/// What the barrier needs to know of one pending record.
#[derive(Debug, Clone)]
pub struct Item {
    pub partition: i32,
    pub offset: i64,
    /// Set for a truncate record not yet applied.
    pub truncate: Option<Mark>,
}

/// One truncate: its source position and how many partitions received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub id: String,
    pub partitions: usize,
}

/// How to apply a topic's pending records.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cut {
    /// Every partition reached this truncate: its offset per partition.
    /// Records at or before it are dropped and the table is emptied in the
    /// same commit that applies the rest.
    pub truncate_at: Option<BTreeMap<i32, i64>>,
    /// Records held back (by index), to be looked at again next flush.
    pub held: Vec<usize>,
    /// A truncate some partitions have not reached yet: its id and the
    /// partitions still missing (for the log).
    pub waiting: Option<(String, usize)>,
}

/// The barrier's view of a pending record. A truncate record says how many
/// partitions received it (header `binlake.truncate.partitions`; a record
/// without it counts as sent to one partition).
pub fn item(
    partition: i32,
    offset: i64,
    record: Option<&SinkRecord>,
    message: Option<&OwnedMessage>,
) -> Item {
    let truncate = record.filter(|r| r.op == Op::Truncate).map(|r| {
        // A truncate keeps its message (the runner drops only others').
        let partitions = message
            .and_then(|m| m.headers())
            .and_then(|h| {
                h.iter()
                    .find(|h| h.key == TRUNCATE_PARTITIONS_HEADER)
                    .and_then(|h| h.value)
            })
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(1);
        Mark {
            id: format!("{}@{}", r.pos, r.ts_ms),
            partitions,
        }
    });
    Item {
        partition,
        offset,
        truncate,
    }
}

/// The `txn` versions the table holds for these partitions of `topic`.
pub async fn applied(
    target: &TableTarget,
    connector: &str,
    topic: &str,
    partitions: impl Iterator<Item = i32>,
) -> Result<HashMap<i32, i64>, TableError> {
    let mut out = HashMap::new();
    for p in partitions.collect::<BTreeSet<_>>() {
        if let Some(v) = target
            .txn_version(&format!("{connector}-{topic}-{p}"))
            .await?
        {
            out.insert(p, v);
        }
    }
    Ok(out)
}

/// Decides, for records in arrival order (each partition's offsets rising),
/// what the next commit applies.
pub fn cut(items: &[Item]) -> Cut {
    // The first truncate of each partition.
    let mut first: BTreeMap<i32, (usize, &Mark)> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        if let Some(m) = &it.truncate {
            first.entry(it.partition).or_insert((i, m));
        }
    }
    let Some((_, mark)) = first.values().min_by_key(|(i, _)| *i) else {
        return Cut::default();
    };
    let mark = (*mark).clone();
    // Partitions whose first truncate is this one.
    let reached: BTreeMap<i32, usize> = first
        .iter()
        .filter(|(_, (_, m))| **m == mark)
        .map(|(p, (i, _))| (*p, *i))
        .collect();
    let mut out = Cut::default();
    if reached.len() >= mark.partitions.max(1) {
        // Complete: apply up to (not including) each partition's next
        // truncate, which waits for the next flush.
        let mut at = BTreeMap::new();
        for (p, i) in &reached {
            at.insert(*p, items[*i].offset);
        }
        let mut seen: BTreeSet<i32> = BTreeSet::new();
        let mut stop: BTreeSet<i32> = BTreeSet::new();
        for (i, it) in items.iter().enumerate() {
            // From a partition's second truncate on, it waits.
            let next_truncate = it.truncate.is_some()
                && (!seen.insert(it.partition) || !reached.contains_key(&it.partition));
            if next_truncate {
                stop.insert(it.partition);
            }
            if stop.contains(&it.partition) {
                out.held.push(i);
            }
        }
        out.truncate_at = Some(at);
    } else {
        // Waiting: each partition that reached it is held from it on.
        for (i, it) in items.iter().enumerate() {
            if reached.get(&it.partition).is_some_and(|&start| i >= start) {
                out.held.push(i);
            }
        }
        out.waiting = Some((mark.id, mark.partitions - reached.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(partition: i32, offset: i64) -> Item {
        Item {
            partition,
            offset,
            truncate: None,
        }
    }

    fn trunc(partition: i32, offset: i64, id: &str, partitions: usize) -> Item {
        Item {
            partition,
            offset,
            truncate: Some(Mark {
                id: id.into(),
                partitions,
            }),
        }
    }

    #[test]
    fn no_truncate_applies_everything() {
        assert_eq!(cut(&[row(0, 1), row(1, 1)]), Cut::default());
    }

    #[test]
    fn one_partition_truncates_at_once() {
        let c = cut(&[row(0, 1), trunc(0, 2, "g1", 1), row(0, 3)]);
        assert_eq!(c.truncate_at, Some([(0, 2)].into()));
        assert!(c.held.is_empty());
    }

    #[test]
    fn a_partition_waits_at_its_truncate_for_the_others() {
        let items = [
            row(0, 1),
            trunc(0, 2, "g1", 3),
            row(0, 3),
            row(1, 1),
            trunc(1, 2, "g1", 3),
            row(2, 1),
            row(2, 2),
        ];
        let c = cut(&items);
        assert_eq!(c.truncate_at, None);
        // Partitions 0 and 1 wait from their truncate on; 2 goes on.
        assert_eq!(c.held, vec![1, 2, 4]);
        assert_eq!(c.waiting, Some(("g1".into(), 1)));
    }

    #[test]
    fn the_last_partition_completes_the_barrier_and_a_second_truncate_waits() {
        let items = [
            trunc(0, 2, "g1", 3),
            row(0, 3),
            trunc(0, 4, "g2", 3),
            row(0, 5),
            trunc(1, 2, "g1", 3),
            row(2, 1),
            trunc(2, 2, "g1", 3),
            row(2, 3),
        ];
        let c = cut(&items);
        assert_eq!(c.truncate_at, Some([(0, 2), (1, 2), (2, 2)].into()));
        assert_eq!(c.held, vec![2, 3]);
    }
}
