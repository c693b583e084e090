//! One table topic's batch: the records waiting for its Delta table, and
//! the flush that applies them in one commit with the consumed offsets —
//! TRUNCATE barriers, incompatible records sent to the dead-letter topic,
//! conflicts and store failures retried from a fresh read of the table.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deltalake::kernel::Transaction;
use rdkafka::message::OwnedMessage;

use super::decode::SinkRecord;
use super::defaults::ColumnHistory;
use super::delta::{widen, TableError, TableTarget};
use super::dlq::DeadLetters;
use super::fit::{self, SchemaFit};
use super::offsets::OffsetCommits;
use super::rows;
use super::truncate;
use super::SinkError;
use crate::backfill::RepairMarker;
use crate::config::{Connector, DeleteMode, SinkConfig};
use crate::event::Op;
use crate::metrics::metrics;
use crate::wire;

/// Set to `sink_after_delta_commit` to abort right after a Delta commit and
/// before the Kafka offset commit (used by the crash tests).
pub const FAILPOINT_ENV: &str = "BINLAKE_FAILPOINT";
pub(super) struct Pending {
    pub(super) partition: i32,
    pub(super) offset: i64,
    /// Kept to send to the dead-letter topic should the table refuse it;
    /// `None` once its schema is known to fit the table ([`SchemaFit`]).
    pub(super) message: Option<Box<OwnedMessage>>,
    /// `None`: a tombstone, which only advances the offset.
    pub(super) record: Option<SinkRecord>,
    /// A repairing backfill's marker (a record with no key and no value).
    pub(super) marker: Option<Arc<RepairMarker>>,
}

/// One topic's table and the records waiting for it.
pub(super) struct TopicState {
    pub(super) topic: String,
    pub(super) target: Option<TableTarget>,
    pub(super) pending: Vec<Pending>,
    pub(super) rows: usize,
    pub(super) since: Option<Instant>,
    pub(super) newest_ts_ms: Option<i64>,
    pub(super) table_label: String,
    /// The key columns, from the records' key schema.
    pub(super) key: Vec<String>,
    pub(super) last_vacuum: Option<Instant>,
    /// Changes applied and commits since the last summary line.
    pub(super) applied: u64,
    pub(super) commits: u64,
    /// Where each column first appeared, for records that lack it.
    pub(super) history: ColumnHistory,
    /// The writer schemas known to fit the table.
    pub(super) fit: SchemaFit,
}

impl TopicState {
    pub(super) fn new(topic: &str) -> Self {
        TopicState {
            topic: topic.to_owned(),
            target: None,
            pending: Vec::new(),
            rows: 0,
            since: None,
            newest_ts_ms: None,
            table_label: topic.to_owned(),
            key: Vec::new(),
            last_vacuum: None,
            applied: 0,
            commits: 0,
            history: ColumnHistory::default(),
            fit: SchemaFit::default(),
        }
    }

    /// Whether `record`'s schema fits the table, so that it need not keep
    /// its Kafka message; opens the table on the first record.
    pub(super) async fn fits(
        &mut self,
        sink: &SinkConfig,
        record: &SinkRecord,
    ) -> Result<bool, SinkError> {
        open_target(sink, self, &record.db, &record.table).await?;
        let table = self.target.as_ref().and_then(|t| t.schema());
        Ok(self
            .fit
            .fits(&record.schema, table, sink.deletes == DeleteMode::Soft))
    }

    /// A partition handed back after a rebalance is read again from its
    /// committed offset: pending records from there on are replaced by the
    /// ones read again, so each partition's pending offsets keep rising.
    pub(super) fn rewind_to(&mut self, partition: i32, offset: i64) {
        // Called per record: with rising offsets, the partition's newest
        // pending record, found from the end, decides. A scan of the whole
        // batch here made a batch's cost quadratic in its size.
        let rewound = self
            .pending
            .iter()
            .rev()
            .find(|p| p.partition == partition)
            .is_some_and(|p| p.offset >= offset);
        if rewound {
            self.pending
                .retain(|p| p.partition != partition || p.offset < offset);
            self.rows = self.pending.iter().filter(|p| p.record.is_some()).count();
        }
    }
}

/// Applies a topic's pending records to its table, then queues the offsets
/// for the next Kafka commit. Conflicts with another writer are retried
/// from a fresh read of the table.
/// Tries of one object-store step before the sink gives up (about 90 s).
pub(super) const STORE_ATTEMPTS: u32 = 10;

pub(super) async fn store_retry(topic: &str, attempt: u32, e: &TableError) {
    let wait = Duration::from_millis(500 * 2u64.pow(attempt.min(5)));
    metrics().error("sink", "delta");
    tracing::warn!(topic, attempt, error = %e, retry_in = ?wait, "the Delta table's store failed; retrying");
    tokio::time::sleep(wait).await;
}

/// Opens the table of `state`'s topic, source table `db`.`table`, unless
/// it is open.
async fn open_target(
    sink: &SinkConfig,
    state: &mut TopicState,
    db: &str,
    table: &str,
) -> Result<(), SinkError> {
    if state.target.is_some() {
        return Ok(());
    }
    let location = sink.table_uri_for(db, table);
    state.table_label = format!("{db}.{table}");
    let mut attempt = 0;
    let target = loop {
        attempt += 1;
        match TableTarget::open_with(&location, &sink.storage).await {
            Ok(t) => break t,
            Err(e) if e.is_transient() && attempt < STORE_ATTEMPTS => {
                store_retry(&state.topic, attempt, &e).await
            }
            Err(e) => return Err(e.into()),
        }
    };
    state.target = Some(target);
    Ok(())
}

pub(super) async fn flush(
    connector: &Connector,
    sink: &SinkConfig,
    offsets: &mut OffsetCommits,
    dlq: &DeadLetters,
    state: &mut TopicState,
) -> Result<(), SinkError> {
    if state.pending.is_empty() {
        state.since = None;
        return Ok(());
    }
    // The last offset consumed per partition, tombstones included.
    let mut last = last_offsets(&state.pending);
    if state.target.is_none() {
        let first = state.pending.iter().find_map(|p| p.record.as_ref());
        if let Some((db, table)) = first.map(|r| (r.db.clone(), r.table.clone())) {
            open_target(sink, state, &db, &table).await?;
        }
    }
    let (held, truncate_at) = truncate_cut(connector, state).await?;
    if !held.is_empty() || truncate_at.is_some() {
        last = last_offsets(&state.pending);
    }
    fit::refuse_incompatible(dlq, state).await?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apply_once(connector, sink, state, &last, truncate_at.as_ref()).await {
            Ok(()) => break,
            Err(SinkError::Table(TableError::Conflict(msg))) if attempt < 20 => {
                tracing::info!(topic = %state.topic, attempt, reason = %msg, "Delta commit conflict; re-reading the table");
                if let Some(t) = state.target.as_mut() {
                    t.reload().await?;
                }
            }
            // The store or the network failed: nothing was committed (a
            // commit is one conditional write), so the batch is applied
            // again from a fresh read of the table.
            Err(SinkError::Table(e)) if e.is_transient() && attempt < STORE_ATTEMPTS => {
                store_retry(&state.topic, attempt, &e).await;
                if let Some(t) = state.target.as_mut() {
                    t.reload().await?;
                }
            }
            Err(e) => return Err(e),
        }
    }
    if std::env::var(FAILPOINT_ENV).as_deref() == Ok("sink_after_delta_commit") {
        tracing::error!(
            "failpoint sink_after_delta_commit: aborting before the Kafka offset commit"
        );
        std::process::abort();
    }
    let failpoint = std::env::var(FAILPOINT_ENV);
    if truncate_at.is_some() && failpoint.as_deref() == Ok("sink_after_truncate_commit") {
        tracing::error!("failpoint sink_after_truncate_commit: aborting after a TRUNCATE's commit");
        std::process::abort();
    }
    for (partition, offset) in &last {
        offsets.want(&state.topic, *partition, offset + 1);
    }
    // Records held at a TRUNCATE barrier wait for the next flush (by
    // time: they do not count towards a full batch).
    state.pending = held;
    state.rows = 0;
    state.since = (!state.pending.is_empty()).then(Instant::now);

    if let Some(t) = state.target.as_mut() {
        if t.needs_compaction() && !state.key.is_empty() {
            {
                let key = state.key.clone();
                let started = Instant::now();
                match t.compact(&key).await {
                    Ok(Some(v)) => {
                        // A compaction is a commit of the sink's too: the
                        // gauge names the table's latest version.
                        metrics()
                            .sink_delta_version
                            .with_label_values(&[state.table_label.as_str()])
                            .set(v);
                        tracing::info!(table = %state.table_label, version = v, took = ?started.elapsed(), files = t.file_count(), "compacted")
                    }
                    Ok(None) => {}
                    Err(TableError::Conflict(e)) => {
                        tracing::info!(table = %state.table_label, reason = %e, "compaction lost a race; retried later");
                        t.reload().await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let due =
            state.last_vacuum.get_or_insert_with(Instant::now).elapsed() >= sink.vacuum_interval;
        if due {
            state.last_vacuum = Some(Instant::now());
            match t.vacuum(sink.vacuum_retention).await {
                Ok(n) => {
                    tracing::info!(table = %state.table_label, files_deleted = n, retention = ?sink.vacuum_retention, "vacuumed")
                }
                Err(e) => {
                    crate::metrics::metrics().error("sink", "delta");
                    tracing::warn!(table = %state.table_label, error = %e, "vacuum failed; retried at the next interval")
                }
            }
            t.reload().await?;
        }
    }
    Ok(())
}

/// The last offset consumed per partition, tombstones included.
pub(super) fn last_offsets(pending: &[Pending]) -> BTreeMap<i32, i64> {
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for p in pending {
        let e = last.entry(p.partition).or_insert(p.offset);
        *e = (*e).max(p.offset);
    }
    last
}

/// Takes out of `state.pending` the records held at an unfinished TRUNCATE
/// barrier, after forgetting truncates the table already applied, and
/// returns them with the truncate to apply now, if any ([`truncate`]).
pub(super) async fn truncate_cut(
    connector: &Connector,
    state: &mut TopicState,
) -> Result<(Vec<Pending>, Option<BTreeMap<i32, i64>>), SinkError> {
    let is_truncate = |p: &Pending| p.record.as_ref().is_some_and(|r| r.op == Op::Truncate);
    if !state.pending.iter().any(is_truncate) {
        return Ok((Vec::new(), None));
    }
    if let Some(t) = state.target.as_ref() {
        let partitions = state.pending.iter().map(|p| p.partition);
        let applied = truncate::applied(t, &connector.name, &state.topic, partitions).await?;
        for p in &mut state.pending {
            if applied.get(&p.partition).is_some_and(|&v| p.offset <= v) {
                p.record = None;
            }
        }
    }
    let items: Vec<_> = state
        .pending
        .iter()
        .map(|p| {
            truncate::item(
                p.partition,
                p.offset,
                p.record.as_ref(),
                p.message.as_deref(),
            )
        })
        .collect();
    let cut = truncate::cut(&items);
    if let Some((id, missing)) = &cut.waiting {
        tracing::info!(topic = %state.topic, truncate = %id, partitions_missing = missing, "TRUNCATE: partitions wait at it until every partition has reached it");
    }
    let held_at: std::collections::HashSet<usize> = cut.held.iter().copied().collect();
    let (held, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut state.pending)
        .into_iter()
        .enumerate()
        .partition(|(i, _)| held_at.contains(i));
    state.pending = keep.into_iter().map(|(_, p)| p).collect();
    if let Some(at) = &cut.truncate_at {
        tracing::info!(topic = %state.topic, partitions = at.len(), "TRUNCATE reached on every partition: emptying the table");
    }
    Ok((held.into_iter().map(|(_, p)| p).collect(), cut.truncate_at))
}

pub(super) async fn apply_once(
    connector: &Connector,
    sink: &SinkConfig,
    state: &mut TopicState,
    last: &BTreeMap<i32, i64>,
    truncate_at: Option<&BTreeMap<i32, i64>>,
) -> Result<(), SinkError> {
    let Some(target) = state.target.as_mut() else {
        // Only tombstones so far, and no table yet: nothing to write.
        return Ok(());
    };
    let soft = sink.deletes == DeleteMode::Soft;
    let mut txns = Vec::with_capacity(last.len());
    let mut applied_before: HashMap<i32, i64> = HashMap::new();
    for (&partition, &offset) in last {
        let app_id = wire::delta_app_id(&connector.name, &state.topic, partition);
        let before = target.txn_version(&app_id).await?;
        if let Some(v) = before {
            applied_before.insert(partition, v);
        }
        // Only progress is recorded: a partition replayed after a rebalance
        // (every record at or below its version) neither moves its offset
        // backwards nor states the same version again.
        if before.is_none_or(|v| offset > v) {
            txns.push(Transaction::new(app_id, offset));
        }
    }
    let unapplied = |p: &&Pending| {
        applied_before
            .get(&p.partition)
            .is_none_or(|&v| p.offset > v)
            // Rows before a truncate are dropped: it deletes them anyway.
            && truncate_at.is_none_or(|at| at.get(&p.partition).is_none_or(|&t| p.offset > t))
    };
    let markers: Vec<&RepairMarker> = state
        .pending
        .iter()
        .filter(unapplied)
        .filter_map(|p| p.marker.as_deref())
        .collect();
    let fresh: Vec<&SinkRecord> = state
        .pending
        .iter()
        .filter(unapplied)
        .filter_map(|p| p.record.as_ref())
        .filter(|r| r.op != Op::Truncate)
        .collect();
    let skipped = state.pending.iter().filter(|p| p.record.is_some()).count() - fresh.len();
    if skipped > 0 {
        tracing::info!(topic = %state.topic, skipped, "records already in Delta skipped");
    }
    // Every partition already applied up to here: nothing to commit.
    if txns.is_empty() {
        return Ok(());
    }
    if !target.exists() {
        let Some(r) = fresh.first() else {
            return Ok(());
        };
        target
            .create(
                rows::table_schema(&r.schema.columns, soft),
                sink.deletion_vectors,
            )
            .await?;
    }
    if let Some(r) = fresh.first() {
        state.key = r.key_fields.to_vec();
    } else if let (true, Some(m)) = (state.key.is_empty(), markers.first()) {
        state.key = m.key.clone();
    }
    let key = state.key.clone();

    // Columns of every writer schema in the batch (new ones widen the table).
    let mut seen = std::collections::HashSet::new();
    let mut incoming = Vec::new();
    for r in &fresh {
        if seen.insert(r.schema.id) {
            state.history.observe(&r.schema);
            for c in &r.schema.columns {
                // The widest type of a column across the batch's schemas.
                match incoming
                    .iter_mut()
                    .find(|(n, _): &&mut (String, _)| n == &c.name)
                {
                    None => incoming.push((c.name.clone(), c.data_type.clone())),
                    Some((_, t)) => {
                        if let Some(w) = widen::wider(t, &c.data_type) {
                            *t = w;
                        }
                    }
                }
            }
        }
    }
    let mut new_schema = target.evolve(&incoming)?;
    if let Some(next) = new_schema.clone() {
        // Widened types, or new columns whose default existing rows hold:
        // the table is rewritten first (see delta::widen).
        let mut fills = Vec::new();
        for f in next.fields() {
            let new = target
                .schema()
                .is_some_and(|s| s.field_with_name(f.name()).is_err());
            if let Some(d) = state.history.default_of(f.name()).filter(|_| new) {
                fills.push((f.name().clone(), rows::constant(f, d)?));
            }
        }
        let widened = target.changes_types(&next);
        if widened || (!fills.is_empty() && target.live_rows() > 0) {
            let started = Instant::now();
            let version = target.rewrite(next, &fills).await?;
            tracing::info!(table = %state.table_label, version, widened, defaults = fills.len(), rows = target.live_rows(), took_ms = started.elapsed().as_millis() as u64, "table rewritten for widened columns or new columns with defaults");
            new_schema = None;
        }
    }
    if let Some(s) = &new_schema {
        tracing::info!(table = %state.table_label, columns = s.fields().len(), "adding new source columns to the Delta table");
    }
    let schema = new_schema
        .clone()
        .or_else(|| target.schema().cloned())
        .ok_or_else(|| SinkError::Config("table without schema".into()))?;
    let images = rows::build_batch(&schema, &fresh, &state.history)?;
    let mut hard_delete: Vec<bool> = fresh.iter().map(|r| r.op == Op::Delete && !soft).collect();
    // Rows a repairing backfill covers that MySQL no longer holds: deletes
    // after the batch's own changes (see crate::backfill).
    let repaired = target.backfill_deletes(&key, &images, &markers).await?;
    let repaired_rows = repaired.as_ref().map_or(0, |b| b.num_rows());
    let images = match repaired {
        Some(deletes) => {
            hard_delete.extend(std::iter::repeat_n(!soft, deletes.num_rows()));
            deltalake::arrow::compute::concat_batches(&schema, [&images, &deletes])
                .map_err(rows::RowsError::from)?
        }
        None => images,
    };
    let started = Instant::now();
    let applied = target
        .apply_with(
            &key,
            &images,
            &hard_delete,
            txns,
            new_schema,
            truncate_at.is_some(),
        )
        .await?;
    let took = started.elapsed();
    let m = metrics();
    m.sink_commit_seconds.observe(took.as_secs_f64());
    m.sink_delta_version
        .with_label_values(&[state.table_label.as_str()])
        .set(applied.version);
    for r in &fresh {
        m.sink_rows_total
            .with_label_values(&[state.table_label.as_str(), r.op.code()])
            .inc();
    }
    if repaired_rows > 0 {
        m.sink_rows_total
            .with_label_values(&[state.table_label.as_str(), "d"])
            .inc_by(repaired_rows as u64);
    }
    state.applied += fresh.len() as u64;
    state.commits += 1;
    if let Some(ts) = fresh.iter().map(|r| r.ts_ms).max() {
        state.newest_ts_ms = Some(state.newest_ts_ms.map_or(ts, |t| t.max(ts)));
    }
    tracing::info!(
        table = %state.table_label,
        version = applied.version,
        changes = fresh.len(),
        upserted = applied.upserted,
        deleted = applied.deleted,
        replaced = applied.replaced,
        files_touched = applied.files_touched,
        took_ms = took.as_millis() as u64,
        "Delta commit"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;

    fn pending(partition: i32, offset: i64) -> Pending {
        let message = OwnedMessage::new(
            None,
            None,
            "t".into(),
            Timestamp::NotAvailable,
            partition,
            offset,
            None,
        );
        Pending {
            partition,
            offset,
            message: Some(Box::new(message)),
            record: None,
            marker: None,
        }
    }

    fn state(pending: Vec<Pending>) -> TopicState {
        TopicState {
            pending,
            ..TopicState::new("t")
        }
    }

    fn offsets(s: &TopicState) -> Vec<(i32, i64)> {
        s.pending.iter().map(|p| (p.partition, p.offset)).collect()
    }

    #[test]
    fn a_partition_read_again_replaces_its_pending_tail_only() {
        let mut s = state(vec![
            pending(0, 5),
            pending(1, 7),
            pending(0, 6),
            pending(0, 7),
        ]);
        s.rewind_to(0, 6);
        assert_eq!(offsets(&s), vec![(0, 5), (1, 7)]);
        // Reading on in order trims nothing.
        s.rewind_to(1, 8);
        s.rewind_to(0, 6);
        assert_eq!(offsets(&s), vec![(0, 5), (1, 7)]);
    }
}
