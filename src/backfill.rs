//! Backfills that repair: the marker a backfill chunk leaves in its table's
//! topic, telling the sink which key range the chunk covered, which keys
//! MySQL holds there, and from which binlog point the chunk's window was
//! open. The sink deletes lake rows in that range whose key MySQL does not
//! hold, whose lake image is older than that point, and (for `--where`)
//! whose lake values match the condition.
//!
//! Why it is safe in any order with the stream, on any partition count: a
//! key MySQL holds when the chunk is emitted is either in the chunk (so in
//! `keep`) or changed by the stream while the window was open (also in
//! `keep`); a key that is not in `keep` was absent when the chunk was
//! emitted, and any later change to it has a binlog position after
//! `since`, so a lake image at or after `since` is never deleted and an
//! older one is due to go anyway. The marker needs no place among the
//! table's other records: it is written to partition 0 only.

use serde::{Deserialize, Serialize};
use serde_json::Value as J;

use crate::event::{ColumnType, TableSchema, Value};
use crate::source::gtid::{Gtid, GtidState};
use crate::source::position::compare_file_pos;

/// One backfill chunk's cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairMarker {
    /// The backfill's id (as `binlake snapshot` printed it).
    pub job: String,
    /// `db.table`.
    pub table: String,
    /// The key columns, in key order.
    pub key: Vec<String>,
    /// The range starts after this key (exclusive); `None`: the first key.
    pub after: Option<Vec<J>>,
    /// The range ends at this key (inclusive); `None`: the last key.
    pub through: Option<Vec<J>>,
    /// Every key MySQL held in the range, and every key the stream changed
    /// while the chunk's window was open.
    pub keep: Vec<Vec<J>>,
    /// The backfill's `--where`: only lake rows matching it are covered.
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
    /// The binlog point at which the chunk's window opened.
    pub since: Since,
    /// How many leading `keep` keys are the chunk's own, in key order (the
    /// rest are the window's); used to split a marker, never written.
    #[serde(skip)]
    pub ranged: usize,
}

/// A marker's JSON above this size is written as several markers, each
/// over a part of the range, so no record nears Kafka's 1 MB default limit.
pub const MAX_MARKER_BYTES: usize = 256 * 1024;

impl RepairMarker {
    /// The marker as JSON records of at most about `max` bytes each: the
    /// range is cut between the chunk's keys; every part keeps the
    /// window's keys.
    pub fn to_records(&self, max: usize) -> Result<Vec<Vec<u8>>, serde_json::Error> {
        let whole = serde_json::to_vec(self)?;
        let ranged = self.ranged.min(self.keep.len());
        if whole.len() <= max || ranged < 2 {
            return Ok(vec![whole]);
        }
        let parts = whole.len().div_ceil(max).min(ranged);
        let per = ranged.div_ceil(parts);
        let window = &self.keep[ranged..];
        let mut out = Vec::with_capacity(parts);
        let mut after = self.after.clone();
        for (i, keys) in self.keep[..ranged].chunks(per).enumerate() {
            let last = (i + 1) * per >= ranged;
            let through = if last {
                self.through.clone()
            } else {
                keys.last().cloned()
            };
            let mut keep = keys.to_vec();
            keep.extend_from_slice(window);
            let part = RepairMarker {
                after: after.clone(),
                through: through.clone(),
                keep,
                ranged: 0,
                ..self.clone()
            };
            out.push(serde_json::to_vec(&part)?);
            after = through;
        }
        Ok(out)
    }
}

/// A binlog point: file and position, and the GTIDs read by then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Since {
    pub file: String,
    pub pos: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtids: Option<String>,
}

impl Since {
    /// Whether a lake row whose `__source_pos` is `pos` was written by a
    /// change before this point. A GTID is judged by the GTID state, a
    /// `file:pos` by file and position; anything else is not older (the row
    /// is kept).
    pub fn is_after(&self, pos: &str) -> bool {
        if let Some(g) = Gtid::parse(pos) {
            return self
                .gtids
                .as_deref()
                .and_then(GtidState::parse)
                .is_some_and(|s| s.contains(&g));
        }
        let Some((file, p)) = pos.rsplit_once(':') else {
            return false;
        };
        let Ok(p) = p.parse::<u64>() else {
            return false;
        };
        if file
            .rsplit_once('.')
            .is_none_or(|(_, n)| n.parse::<u64>().is_err())
        {
            return false;
        }
        compare_file_pos((file, p), (&self.file, self.pos)).is_lt()
    }
}

/// Whether the sink can order the table's keys as MySQL does (so a key
/// range means the same on both sides): integers, decimals, dates and
/// times, BIT and binary strings. Character strings sort by collation,
/// floats by rules the lake does not share.
pub fn key_is_orderable(schema: &TableSchema) -> bool {
    schema.key_columns().all(|c| {
        matches!(
            c.data_type,
            ColumnType::Boolean
                | ColumnType::Int
                | ColumnType::Long
                | ColumnType::Decimal { .. }
                | ColumnType::Date
                | ColumnType::DateTime
                | ColumnType::Timestamp
                | ColumnType::Time
                | ColumnType::Bytes
        )
    })
}

/// A key value as the marker writes it: numbers for integers, days and
/// microseconds, the unscaled integer as text for decimals, hex for bytes.
pub fn key_json(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Int(i) | Value::Date(i) => J::from(*i),
        Value::Long(i) | Value::DateTime(i) | Value::Timestamp(i) | Value::Time(i) => J::from(*i),
        Value::Decimal(d) => J::String(d.to_string()),
        Value::Bytes(b) => J::String(hex(b)),
        // Not orderable: never in a marker (see key_is_orderable).
        Value::Float(f) => J::from(f64::from(*f)),
        Value::Double(f) => J::from(*f),
        Value::String(s) => J::String(s.clone()),
    }
}

/// The key of `row` as marker JSON.
pub fn row_key_json(schema: &TableSchema, row: &[Value]) -> Vec<J> {
    schema
        .key
        .iter()
        .map(|&i| key_json(row.get(i).unwrap_or(&Value::Null)))
        .collect()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn since(gtids: Option<&str>) -> Since {
        Since {
            file: "mysql-bin.000007".into(),
            pos: 1000,
            gtids: gtids.map(str::to_string),
        }
    }

    #[test]
    fn positions_before_the_window_are_older_and_nothing_else_is() {
        let s = since(Some("0-1-50"));
        assert!(s.is_after("0-1-42"));
        assert!(s.is_after("0-1-50"));
        assert!(!s.is_after("0-1-51"));
        assert!(!s.is_after("1-1-3"), "another domain is not in the state");
        assert!(s.is_after("mysql-bin.000007:999"));
        assert!(s.is_after("mysql-bin.000006:5000"));
        assert!(!s.is_after("mysql-bin.000007:1000"));
        assert!(!s.is_after("mysql-bin.000008:4"));
        assert!(!s.is_after(""));
        assert!(!s.is_after("garbage"));
        // Without the window's GTIDs a GTID cannot be placed: kept.
        assert!(!since(None).is_after("0-1-1"));
    }

    #[test]
    fn a_large_marker_is_cut_between_the_chunks_keys() {
        let keys: Vec<Vec<J>> = (10..2010).map(|i| vec![J::from(i)]).collect();
        let mut m = RepairMarker {
            job: "j".into(),
            table: "d.t".into(),
            key: vec!["id".into()],
            after: Some(vec![J::from(5)]),
            through: None,
            keep: keys,
            predicate: None,
            since: since(None),
            ranged: 2000,
        };
        m.keep.push(vec![J::from(99_999)]);
        let parts: Vec<RepairMarker> = m
            .to_records(4096)
            .unwrap()
            .iter()
            .map(|b| {
                assert!(b.len() <= 4096 + 64, "{}", b.len());
                serde_json::from_slice(b).unwrap()
            })
            .collect();
        assert!(parts.len() > 2);
        // The parts tile the range: each starts where the previous ended.
        assert_eq!(parts[0].after, m.after);
        assert_eq!(parts.last().unwrap().through, None);
        for w in parts.windows(2) {
            assert_eq!(w[1].after, w[0].through);
        }
        let chunk_keys: usize = parts.iter().map(|p| p.keep.len() - 1).sum();
        assert_eq!(chunk_keys, 2000);
        assert!(parts
            .iter()
            .all(|p| p.keep.contains(&vec![J::from(99_999)])));
        // Small enough: one record.
        assert_eq!(m.to_records(usize::MAX).unwrap().len(), 1);
    }

    #[test]
    fn marker_json_round_trips() {
        let m = RepairMarker {
            job: "j".into(),
            table: "d.t".into(),
            key: vec!["id".into()],
            after: None,
            through: Some(vec![J::from(9)]),
            keep: vec![vec![J::from(3)], vec![J::String("12".into())]],
            predicate: Some("d > '2024-01-01'".into()),
            since: since(Some("0-1-5")),
            ranged: 0,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"where\""));
        assert_eq!(serde_json::from_str::<RepairMarker>(&text).unwrap(), m);
        assert_eq!(unhex(&hex(&[0, 255, 16])), Some(vec![0, 255, 16]));
        assert_eq!(key_json(&Value::Decimal(-12)), J::String("-12".into()));
    }
}
