//! The lake is the truth for the sink's progress: each partition resumes
//! after the offset its table's `txn` action records (appId
//! `{name}-{topic}-{partition}`), whatever offset Kafka's group holds. A
//! table reset (deleted) starts its partitions from the topic's beginning;
//! a topic whose end lies at or below the recorded offset was recreated,
//! and is refused loudly rather than skipped up to the old offset.

use std::collections::BTreeMap;
use std::time::Duration;

use deltalake::DeltaTableError;
use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::storage::{self, StorageOptions};
use super::{table_url, TableError};
use crate::config::SinkConfig;
use crate::metrics::metrics;

/// Where one partition starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The table records nothing for it: the topic's first record.
    Beginning,
    /// The offset after the last one applied.
    At(i64),
    /// The table records more than the topic holds: the topic was
    /// recreated (or truncated) under the same name.
    Backwards { applied: i64, end: i64 },
    /// Records after the last one applied were deleted by the topic's
    /// retention before the sink applied them.
    Expired { applied: i64, low: i64 },
}

/// The start for a partition holding offsets `low..high` whose table
/// applied up to `applied`.
pub fn start(applied: Option<i64>, low: i64, high: i64) -> Start {
    match applied {
        None => Start::Beginning,
        Some(v) if high <= v => Start::Backwards {
            applied: v,
            end: high,
        },
        Some(v) if v + 1 < low => Start::Expired { applied: v, low },
        Some(v) => Start::At(v + 1),
    }
}

impl Start {
    /// The error a refused start stops the sink with, naming the fix.
    pub fn refusal(&self, topic: &str, partition: i32, location: &str) -> Option<String> {
        match self {
            Start::Backwards { applied, end } => Some(format!(
                "topic {topic} partition {partition} ends at offset {end}, but the Delta table {location} \
                 has applied it up to offset {applied}: the topic was recreated or truncated, and its \
                 records would be skipped up to the old offset. If the topic is new on purpose (the \
                 source was reset and snapshots again), move the Delta table away so the sink rebuilds \
                 it from the new topic; otherwise restore the topic"
            )),
            Start::Expired { applied, low } => Some(format!(
                "topic {topic} partition {partition} starts at offset {low}, but the Delta table {location} \
                 has applied it only up to offset {applied}: records {}..{} expired from Kafka before the \
                 sink applied them. Move the Delta table away and snapshot the table again \
                 (binlake snapshot FILE --table DB.TABLE), or raise the topic's retention.ms",
                applied + 1,
                low - 1
            )),
            _ => None,
        }
    }
}

/// The last offset the table at `location` applied for each of
/// `app_ids` (partition → appId); `None` where it records none or the
/// table does not exist.
pub async fn applied_offsets(
    location: &str,
    options: &StorageOptions,
    app_ids: &BTreeMap<i32, String>,
) -> Result<BTreeMap<i32, Option<i64>>, TableError> {
    let uri = table_url(location)?;
    let err = |e: DeltaTableError| TableError::delta(&uri, e);
    let mut table = storage::builder(&uri, options)
        .map_err(err)?
        .build()
        .map_err(err)?;
    let mut out: BTreeMap<i32, Option<i64>> = app_ids.keys().map(|p| (*p, None)).collect();
    if !table.verify_deltatable_existence().await.map_err(err)? {
        return Ok(out);
    }
    table.load().await.map_err(err)?;
    let state = table.snapshot().map_err(err)?;
    for (p, app) in app_ids {
        let v = state
            .transaction_version(table.log_store().as_ref(), app)
            .await
            .map_err(err)?;
        out.insert(*p, v);
    }
    Ok(out)
}

/// [`applied_offsets`] for partitions of several topics, from code that
/// cannot await (a Kafka rebalance callback): run on a helper thread with
/// its own runtime. `tables` maps each topic to its table location.
pub fn applied_offsets_blocking(
    tables: BTreeMap<String, (String, BTreeMap<i32, String>)>,
    options: &StorageOptions,
) -> BTreeMap<String, Result<BTreeMap<i32, Option<i64>>, String>> {
    let work = async {
        let mut out = BTreeMap::new();
        for (topic, (location, apps)) in &tables {
            let r = applied_offsets(location, options, apps)
                .await
                .map_err(|e| e.to_string());
            out.insert(topic.clone(), r);
        }
        out
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(work))
                .map_err(|e| e.to_string())
        })
        .join()
    })
    .map_err(|_| "the Delta lookup thread panicked".to_string())
    .and_then(|r| r)
    .unwrap_or_else(|e| tables.keys().map(|t| (t.clone(), Err(e.clone()))).collect())
}

/// Sets each assigned partition's start to the offset after the one its
/// Delta table records (the lake is the truth for progress, not the
/// group's committed offsets), and keeps the refusal of a partition whose
/// topic went backwards for the loop to stop on.
pub struct DeltaStarts {
    pub name: String,
    pub sink: SinkConfig,
    pub refused: std::sync::Mutex<Option<String>>,
}

impl DeltaStarts {
    pub fn set_offsets<X: ConsumerContext, C: Consumer<X>>(
        &self,
        c: &C,
        tpl: &mut TopicPartitionList,
    ) {
        let mut tables: BTreeMap<String, (String, BTreeMap<i32, String>)> = BTreeMap::new();
        for e in tpl.elements() {
            let Some((db, table)) = crate::wire::split_table_topic(&self.name, e.topic()) else {
                continue;
            };
            let location = self.sink.table_uri_for(db, table);
            let app = crate::wire::delta_app_id(&self.name, e.topic(), e.partition());
            tables
                .entry(e.topic().to_owned())
                .or_insert_with(|| (location, BTreeMap::new()))
                .1
                .insert(e.partition(), app);
        }
        let applied = applied_offsets_blocking(tables.clone(), &self.sink.storage);
        for (topic, (location, apps)) in &tables {
            let found = match applied.get(topic) {
                Some(Ok(found)) => found,
                other => {
                    let error = match other {
                        Some(Err(e)) => e.clone(),
                        _ => "no answer".to_owned(),
                    };
                    metrics().error("sink", "delta");
                    tracing::warn!(topic = %topic, error = %error, "cannot read the Delta table's offsets; starting from the group's committed offsets (applied records are still skipped)");
                    continue;
                }
            };
            for partition in apps.keys() {
                let applied = found.get(partition).copied().flatten();
                let (low, high) = match c.fetch_watermarks(
                    topic,
                    *partition,
                    Duration::from_secs(10),
                ) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!(topic = %topic, partition = *partition, error = %e, "cannot read the partition's offsets; starting from the group's committed offset");
                        continue;
                    }
                };
                let from = start(applied, low, high);
                if let Some(why) = from.refusal(topic, *partition, location) {
                    tracing::error!("{why}");
                    self.refused
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(why);
                    continue;
                }
                let offset = match from {
                    Start::At(o) => Offset::Offset(o),
                    _ => Offset::Beginning,
                };
                tracing::info!(topic = %topic, partition = *partition, ?offset, applied = ?applied, "partition starts where its Delta table ends");
                let _ = tpl.set_partition_offset(topic, *partition, offset);
            }
        }
    }

    pub fn take_refusal(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_follow_the_table_and_refuse_a_topic_that_went_backwards() {
        assert_eq!(start(None, 0, 10), Start::Beginning);
        assert_eq!(start(Some(4), 0, 10), Start::At(5));
        assert_eq!(start(Some(9), 0, 10), Start::At(10));
        // A recreated topic: 3 records where 10 were applied.
        let s = start(Some(9), 0, 3);
        assert_eq!(s, Start::Backwards { applied: 9, end: 3 });
        assert!(s.refusal("t", 0, "s3://b/t").unwrap().contains("recreated"));
        assert_eq!(
            start(Some(9), 0, 9),
            Start::Backwards { applied: 9, end: 9 }
        );
        // Retention removed 10..19 before they were applied.
        assert_eq!(
            start(Some(9), 20, 30),
            Start::Expired {
                applied: 9,
                low: 20
            }
        );
        assert_eq!(start(Some(9), 10, 30), Start::At(10));
        assert!(Start::At(1).refusal("t", 0, "x").is_none());
    }
}
