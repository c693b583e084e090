//! Each change lands once across restarts: the writer reads the last record
//! of every partition it writes to (its tail, by the order headers) and
//! skips the changes a partition already holds.

use std::collections::HashMap;
use std::sync::Arc;

use super::resume;
use crate::config::Connector;
use crate::kafka::KafkaError;
use crate::source::order::{already_written, RecordPlace, Tail};
use crate::source::SourceError;

/// What the writer knows of one topic's partitions.
pub(super) struct PartitionTails {
    /// The last record known to be in each partition.
    last: Vec<Option<Tail>>,
    /// Records skipped in each partition because it already held them,
    /// and whether this writer has written to it since (after which a skip
    /// is no longer the expected replay of a restart).
    skipped: Vec<u64>,
    written: Vec<bool>,
}

impl PartitionTails {
    pub(super) fn new(last: Vec<Option<Tail>>) -> Self {
        let n = last.len();
        PartitionTails {
            last,
            skipped: vec![0; n],
            written: vec![false; n],
        }
    }

    /// Whether the partition still lacks the record, which then becomes its
    /// tail (snapshot rows excepted). A skip after this writer has written
    /// to the partition is not a restart's replay: it is logged as a warning.
    pub(super) fn fresh(
        &mut self,
        topic: &str,
        partition: i32,
        place: &RecordPlace,
    ) -> Result<bool, SourceError> {
        let p = partition as usize;
        let skip = match &self.last[p] {
            Some(tail) => already_written(tail, place)
                .map_err(|u| SourceError::History(format!("{topic} partition {partition}: {u}")))?,
            None => false,
        };
        if skip {
            self.skipped[p] += 1;
            crate::metrics::metrics().source_skipped_total.inc();
            if self.written[p] {
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
        if !self.written[p] && self.skipped[p] > 0 {
            tracing::info!(
                topic,
                partition,
                skipped = self.skipped[p],
                "skipped the changes the partition already held; writing from here"
            );
        }
        self.written[p] = true;
        if !place.snapshot {
            self.last[p] = Some(Tail::from(place));
        }
        Ok(true)
    }
}

/// Reads partition tails: those of every table topic in one pass before the
/// first topic is written (a restart then costs a few round trips, however
/// many tables there are), a topic's own when the pass did not cover it.
pub(super) struct TailReader {
    connector: Arc<Connector>,
    /// The one pass's tails, taken topic by topic; `None` until it is read.
    prefetched: Option<HashMap<String, Vec<Option<Tail>>>>,
}

impl TailReader {
    pub(super) fn new(connector: Arc<Connector>) -> Self {
        TailReader {
            connector,
            prefetched: None,
        }
    }

    /// The tails of `topic`, which has `partitions` partitions: from the one
    /// pass, else (a topic created since, or partitions added) read alone.
    pub(super) async fn take(
        &mut self,
        topic: &str,
        partitions: i32,
    ) -> Result<Vec<Option<Tail>>, KafkaError> {
        let prefetched = match &mut self.prefetched {
            Some(tails) => tails,
            None => self.prefetched.insert(self.prefetch().await?),
        };
        match prefetched.remove(topic) {
            Some(last) if last.len() == partitions as usize => Ok(last),
            _ => {
                let kafka = self.connector.kafka.clone();
                let one = vec![(topic.to_string(), partitions)];
                Ok(blocking_read(topic, move || resume::tails(&kafka, &one))
                    .await?
                    .remove(topic)
                    .unwrap_or_default())
            }
        }
    }

    async fn prefetch(&self) -> Result<HashMap<String, Vec<Option<Tail>>>, KafkaError> {
        let kafka = self.connector.kafka.clone();
        let name = self.connector.name.clone();
        let started = std::time::Instant::now();
        let tails = blocking_read("*", move || {
            let topics = resume::table_topics(&kafka, &name)?;
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
        Ok(tails)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::order::TxnMark;
    use crate::source::position::ChangeOrder;

    fn rec(pos: u64, snapshot: bool) -> RecordPlace {
        RecordPlace {
            order: ChangeOrder::new("mysql-bin.000001", pos, 0),
            mark: Arc::new(TxnMark::from_headers(Some("1/mysql-bin"), None, None)),
            snapshot,
        }
    }

    #[test]
    fn what_a_partition_holds_is_skipped_and_the_rest_becomes_its_tail() {
        let held = Tail::from(&rec(200, false));
        let mut tails = PartitionTails::new(vec![Some(held), None]);
        // Partition 0 holds everything up to 200.
        assert_eq!(tails.fresh("t", 0, &rec(100, false)).ok(), Some(false));
        assert_eq!(tails.fresh("t", 0, &rec(200, false)).ok(), Some(false));
        assert_eq!(tails.fresh("t", 0, &rec(300, false)).ok(), Some(true));
        // 300 is the tail now; snapshot rows are always written and move no tail.
        assert_eq!(tails.fresh("t", 0, &rec(300, false)).ok(), Some(false));
        assert_eq!(tails.fresh("t", 0, &rec(100, true)).ok(), Some(true));
        assert_eq!(tails.fresh("t", 0, &rec(301, false)).ok(), Some(true));
        assert_eq!(tails.skipped[0], 3);
        // An empty partition holds nothing.
        assert_eq!(tails.fresh("t", 1, &rec(1, false)).ok(), Some(true));
    }
}
