//! The watermark bookkeeping that merges chunks into the stream (DBLog).
//!
//! Before a chunk is read, a window opens at the stream's current point and
//! records the key of every change to that table the stream passes from
//! then on. The chunk, consistent with some binlog point `high`, is emitted
//! once the stream has read up to `high` and stands between transactions,
//! minus every key the window saw change: the stream already carried those
//! rows, at least as new as the chunk's. What is left had no change between
//! the read and the emission, so the chunk's image is the row's current one.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::chunk::{BinlogPoint, Chunk};
use crate::event::{ChangeEvent, Row, TableSchema, Value};
use crate::source::position::compare_file_pos;

/// A chunk read and waiting for the stream to reach its high watermark.
#[derive(Debug)]
pub struct ReadyChunk {
    pub window: u64,
    pub job: String,
    pub schema: Arc<TableSchema>,
    pub chunk: Chunk,
    /// The last chunk of its job.
    pub last: bool,
    /// Marks the job's final row `snapshot = "last"`.
    pub initial: bool,
    /// Told once the chunk's rows are handed to Kafka.
    pub ack: oneshot::Sender<()>,
    /// A repairing backfill's cover, written as a marker after the rows;
    /// the window's changed keys join its `keep`.
    pub repair: Option<Box<crate::backfill::RepairMarker>>,
}

struct Window {
    id: u64,
    db: String,
    table: String,
    changed: HashSet<Vec<u8>>,
    /// The same keys as marker JSON (for a repairing backfill's `keep`).
    changed_keys: Vec<Vec<serde_json::Value>>,
    /// A TRUNCATE passed: every row the chunk read is gone or streamed after it.
    truncated: bool,
}

#[derive(Default)]
pub struct Windows {
    next_id: u64,
    open: Vec<Window>,
    ready: Vec<ReadyChunk>,
    /// Per job, from the point its table appeared under its name (a
    /// `RENAME` into the capture) until its last chunk: every key the
    /// stream changed since. The stream carried those rows from their first
    /// change on, so no chunk of the job repeats them.
    since: Vec<(String, Window)>,
}

impl Windows {
    /// Opens a window for `db.table`; changes seen from now on are recorded.
    pub fn open(&mut self, db: &str, table: &str) -> u64 {
        self.next_id += 1;
        self.open.push(Window {
            id: self.next_id,
            db: db.to_string(),
            table: table.to_string(),
            changed: HashSet::new(),
            changed_keys: Vec::new(),
            truncated: false,
        });
        self.next_id
    }

    pub fn close(&mut self, id: u64) {
        self.open.retain(|w| w.id != id);
    }

    /// Opens the job-long window of `job` on `db.table`.
    pub fn open_since(&mut self, job: &str, db: &str, table: &str) {
        let window = Window {
            id: 0,
            db: db.to_string(),
            table: table.to_string(),
            changed: HashSet::new(),
            changed_keys: Vec::new(),
            truncated: false,
        };
        self.since.push((job.to_string(), window));
    }

    pub fn close_since(&mut self, job: &str) {
        self.since.retain(|(j, _)| j != job);
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.ready.is_empty()
    }

    /// Records the key a streamed change touched.
    pub fn observe(&mut self, event: &ChangeEvent) {
        if self.open.is_empty() && self.since.is_empty() {
            return;
        }
        let schema = &event.table;
        let mut key = None;
        for w in self
            .open
            .iter_mut()
            .chain(self.since.iter_mut().map(|(_, w)| w))
            .filter(|w| w.table == schema.table && w.db == schema.db)
        {
            if event.op == crate::event::Op::Truncate {
                w.truncated = true;
                continue;
            }
            let k = key.get_or_insert_with(|| event.key_row().map(|r| key_bytes(schema, r)));
            if let Some(k) = k {
                if w.changed.insert(k.clone()) {
                    if let Some(r) = event.key_row() {
                        w.changed_keys
                            .push(crate::backfill::row_key_json(schema, r));
                    }
                }
            }
        }
    }

    pub fn add_ready(&mut self, chunk: ReadyChunk) {
        self.ready.push(chunk);
    }

    /// Whether a chunk waits for the stream.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The chunks whose high watermark the stream has read past, in arrival
    /// order, each with the rows to emit; their windows close. Call only
    /// between transactions.
    pub fn take_reached(&mut self, read: &BinlogPoint) -> Vec<(ReadyChunk, Vec<Row>)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.ready.len() {
            let high = &self.ready[i].chunk.high;
            if compare_file_pos((&read.0, read.1), (&high.0, high.1)).is_lt() {
                i += 1;
                continue;
            }
            let mut ready = self.ready.remove(i);
            let rows = std::mem::take(&mut ready.chunk.rows);
            let (changed, changed_keys, truncated) = self
                .open
                .iter()
                .position(|w| w.id == ready.window)
                .map(|p| self.open.remove(p))
                .map(|w| (w.changed, w.changed_keys, w.truncated))
                .unwrap_or_default();
            if let Some(m) = ready.repair.as_mut() {
                m.keep.extend(changed_keys);
            }
            // A truncate since the job began does not matter: this chunk
            // was read after it, or its own window saw it.
            let since = self
                .since
                .iter()
                .find(|(j, _)| *j == ready.job)
                .map(|(_, w)| &w.changed)
                .filter(|s| !s.is_empty());
            let rows = if truncated {
                Vec::new()
            } else if changed.is_empty() && since.is_none() {
                rows
            } else {
                rows.into_iter()
                    .filter(|r| {
                        let k = key_bytes(&ready.schema, r);
                        !changed.contains(&k) && !since.is_some_and(|s| s.contains(&k))
                    })
                    .collect()
            };
            if ready.last {
                self.close_since(&ready.job);
            }
            out.push((ready, rows));
        }
        out
    }
}

/// A key as comparable bytes: one tagged, length-framed field per column.
pub fn key_bytes(schema: &TableSchema, row: &Row) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    for &i in &schema.key {
        let v = row.get(i).unwrap_or(&Value::Null);
        let (tag, body): (u8, Vec<u8>) = match v {
            Value::Null => (0, vec![]),
            Value::Boolean(b) => (1, vec![u8::from(*b)]),
            Value::Int(x) => (2, i64::from(*x).to_be_bytes().to_vec()),
            Value::Long(x) => (2, x.to_be_bytes().to_vec()),
            Value::Float(x) => (3, f64::from(*x).to_bits().to_be_bytes().to_vec()),
            Value::Double(x) => (3, x.to_bits().to_be_bytes().to_vec()),
            Value::Decimal(x) => (4, x.to_be_bytes().to_vec()),
            Value::String(s) => (5, s.as_bytes().to_vec()),
            Value::Bytes(b) => (6, b.clone()),
            Value::Date(x) => (7, x.to_be_bytes().to_vec()),
            Value::DateTime(x) | Value::Timestamp(x) | Value::Time(x) => {
                (8, x.to_be_bytes().to_vec())
            }
        };
        out.push(tag);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Column, ColumnType, Op, SourceInfo};

    fn schema() -> Arc<TableSchema> {
        let col = |n: &str| Column {
            name: n.into(),
            data_type: ColumnType::Int,
            nullable: false,
            source_type: "int".into(),
            default: None,
        };
        Arc::new(TableSchema {
            db: "d".into(),
            table: "t".into(),
            columns: vec![col("id"), col("v")],
            key: vec![0],
        })
    }

    fn change(op: Op, id: i32) -> ChangeEvent {
        let row = vec![Value::Int(id), Value::Int(0)];
        ChangeEvent {
            table: schema(),
            op,
            before: (op == Op::Delete).then(|| row.clone()),
            after: (op != Op::Delete).then_some(row),
            source: SourceInfo::default(),
            transaction: None,
        }
    }

    fn ready(window: u64, ids: &[i32], high: u64) -> (ReadyChunk, oneshot::Receiver<()>) {
        let (ack, rx) = oneshot::channel();
        let chunk = Chunk {
            rows: ids
                .iter()
                .map(|&i| vec![Value::Int(i), Value::Int(1)])
                .collect(),
            last_key: None,
            high: ("b.000001".into(), high),
            exhausted: false,
            read_ts_ms: 0,
            keys: vec![],
        };
        let r = ReadyChunk {
            window,
            job: "j".into(),
            schema: schema(),
            chunk,
            last: false,
            initial: true,
            ack,
            repair: None,
        };
        (r, rx)
    }

    #[test]
    fn rows_changed_while_the_window_was_open_give_way_to_the_stream() {
        let mut w = Windows::default();
        w.observe(&change(Op::Update, 1)); // before the window: kept
        let id = w.open("d", "t");
        w.observe(&change(Op::Update, 2));
        w.observe(&change(Op::Delete, 3));
        let (r, _rx) = ready(id, &[1, 2, 3, 4], 500);
        w.add_ready(r);
        w.observe(&change(Op::Create, 4)); // after the read, before emission
        assert!(w.take_reached(&("b.000001".into(), 499)).is_empty());
        let out = w.take_reached(&("b.000001".into(), 500));
        assert_eq!(out.len(), 1);
        let ids: Vec<&Value> = out[0].1.iter().map(|r| &r[0]).collect();
        assert_eq!(ids, vec![&Value::Int(1)]);
        assert!(w.is_empty());
    }

    #[test]
    fn the_next_chunks_window_opened_before_this_chunk_is_emitted_keeps_its_own_keys() {
        let mut w = Windows::default();
        let first = w.open("d", "t");
        let (r, _rx) = ready(first, &[1, 2, 3], 500);
        w.add_ready(r);
        // The reader opens the next window before handing its chunk over.
        let next = w.open("d", "t");
        w.observe(&change(Op::Update, 2));
        let out = w.take_reached(&("b.000001".into(), 500));
        let ids: Vec<&Value> = out[0].1.iter().map(|r| &r[0]).collect();
        assert_eq!(ids, vec![&Value::Int(1), &Value::Int(3)]);
        // The next chunk is read after that change: key 2 is the stream's too.
        w.observe(&change(Op::Update, 5));
        let (r, _rx) = ready(next, &[2, 4, 5, 6], 700);
        w.add_ready(r);
        let out = w.take_reached(&("b.000001".into(), 700));
        let ids: Vec<&Value> = out[0].1.iter().map(|r| &r[0]).collect();
        assert_eq!(ids, vec![&Value::Int(4), &Value::Int(6)]);
        assert!(w.is_empty());
    }

    #[test]
    fn a_job_long_window_drops_every_key_streamed_since_the_table_appeared() {
        let mut w = Windows::default();
        w.observe(&change(Op::Update, 9)); // before the table appeared: kept
        w.open_since("j", "d", "t");
        w.observe(&change(Op::Create, 1)); // streamed before the chunk's window
        let id = w.open("d", "t");
        w.observe(&change(Op::Update, 2));
        let (r, _rx) = ready(id, &[1, 2, 3, 9], 500);
        w.add_ready(r);
        let out = w.take_reached(&("b.000001".into(), 500));
        let ids: Vec<&Value> = out[0].1.iter().map(|r| &r[0]).collect();
        assert_eq!(ids, vec![&Value::Int(3), &Value::Int(9)]);
        // The next chunk of the job still gives way to key 1.
        let id = w.open("d", "t");
        let (mut r, _rx) = ready(id, &[1, 4], 600);
        r.last = true;
        w.add_ready(r);
        let out = w.take_reached(&("b.000001".into(), 600));
        let ids: Vec<&Value> = out[0].1.iter().map(|r| &r[0]).collect();
        assert_eq!(ids, vec![&Value::Int(4)]);
        // The job's last chunk closed its window.
        assert!(w.is_empty() && w.since.is_empty());
    }

    #[test]
    fn keys_the_stream_changed_in_the_window_join_a_repairing_chunks_keep() {
        let mut w = Windows::default();
        let id = w.open("d", "t");
        let (mut r, _rx) = ready(id, &[1, 2], 500);
        r.repair = Some(Box::new(crate::backfill::RepairMarker {
            job: "j".into(),
            table: "d.t".into(),
            key: vec!["id".into()],
            after: None,
            through: None,
            keep: vec![vec![1.into()], vec![2.into()]],
            predicate: None,
            since: crate::backfill::Since {
                file: "b.000001".into(),
                pos: 4,
                gtids: None,
            },
            ranged: 2,
        }));
        w.observe(&change(Op::Delete, 7));
        w.observe(&change(Op::Update, 7));
        w.add_ready(r);
        let out = w.take_reached(&("b.000001".into(), 500));
        let keep = &out[0].0.repair.as_ref().unwrap().keep;
        let ids: Vec<Vec<serde_json::Value>> = [1, 2, 7].iter().map(|&i| vec![i.into()]).collect();
        assert_eq!(keep, &ids);
    }

    #[test]
    fn a_truncate_in_the_window_drops_the_chunk() {
        let mut w = Windows::default();
        let id = w.open("d", "t");
        let (r, _rx) = ready(id, &[1, 2], 500);
        w.add_ready(r);
        w.observe(&ChangeEvent::truncate(schema(), SourceInfo::default()));
        let out = w.take_reached(&("b.000001".into(), 500));
        assert_eq!(out.len(), 1);
        assert!(
            out[0].1.is_empty(),
            "rows read before the truncate must not come back"
        );
    }

    #[test]
    fn a_later_binlog_file_is_past_the_watermark_and_other_tables_do_not_count() {
        let mut w = Windows::default();
        let id = w.open("d", "t");
        let mut other = change(Op::Update, 2);
        other.table = Arc::new(TableSchema {
            table: "u".into(),
            ..(*schema()).clone()
        });
        w.observe(&other);
        let (r, _rx) = ready(id, &[2], 900);
        w.add_ready(r);
        let out = w.take_reached(&("b.000002".into(), 4));
        assert_eq!(out[0].1.len(), 1);
    }
}
