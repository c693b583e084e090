//! Where the source stands in the binlog, how that is stored, and how two
//! changes are ordered.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use super::gtid::{MariaBinlogState, MariaGtid, MariaGtidState, MysqlGtid, MysqlGtidSet};

/// A resume point: always the end of a committed transaction, never the
/// middle of one (a position inside a transaction gives the server garbage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Position {
    /// Binlog file name, e.g. `mysql-bin.000003`.
    pub file: String,
    /// Byte offset just after the transaction's commit event.
    pub pos: u64,
    /// MariaDB GTID state (`0-1-42,1-2-7`) or MySQL executed GTID set, when
    /// the server uses GTIDs. Preferred over file:pos when resuming, so a
    /// restart survives a binlog purge or rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid_set: Option<String>,
    /// MariaDB only: the last sequence number per domain *and server*
    /// (`@@gtid_binlog_state`), which tells whether a transaction was already
    /// read even across a failover (`gtid_set` keeps one GTID per domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid_state: Option<String>,
    /// The server whose binlog `file` and `pos` belong to (see
    /// [`ServerIdentity`]); file:pos is only comparable within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The creation time (seconds) of `file`, from its format description
    /// event: a file of the same name written after `RESET MASTER` has
    /// another, so a resume by file:pos cannot land in a different history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_created: Option<u32>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)?;
        if let Some(g) = &self.gtid_set {
            write!(f, " (gtid {g})")?;
        }
        Ok(())
    }
}

/// The order of a Kafka record within the binlog: binlog file sequence, the
/// position of its transaction, its change's 1-based index inside the
/// transaction, and 0 for the change or 1 for the tombstone after a delete.
/// Sent as a Kafka header with every record, so a restarted source without
/// Kafka transactions can skip what a partition already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChangeOrder {
    pub file_seq: u64,
    pub pos: u64,
    pub index: u64,
    pub part: u8,
}

impl ChangeOrder {
    pub fn new(file: &str, pos: u64, index: u64) -> Self {
        ChangeOrder {
            file_seq: file_sequence(file),
            pos,
            index,
            part: 0,
        }
    }

    /// The order of the tombstone that follows this (delete) record.
    pub fn tombstone(self) -> Self {
        ChangeOrder { part: 1, ..self }
    }

    /// `file_seq:pos:index:part`, the header value.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(40);
        self.encode_into(&mut out);
        out
    }

    /// [`encode`](Self::encode) into a buffer the caller reuses: it is
    /// written on every record, where `format!` showed in profiles.
    pub fn encode_into(&self, out: &mut String) {
        let mut digits = itoa::Buffer::new();
        out.clear();
        out.push_str(digits.format(self.file_seq));
        out.push(':');
        out.push_str(digits.format(self.pos));
        out.push(':');
        out.push_str(digits.format(self.index));
        out.push(':');
        out.push_str(digits.format(self.part));
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut it = text.split(':');
        let order = ChangeOrder {
            file_seq: it.next()?.parse().ok()?,
            pos: it.next()?.parse().ok()?,
            index: it.next()?.parse().ok()?,
            part: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(order)
    }
}

/// The numeric suffix of a binlog file name (`mysql-bin.000012` → 12); a
/// name without one sorts first.
pub fn file_sequence(file: &str) -> u64 {
    file.rsplit('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Orders two positions in one server's binlog.
pub fn compare_file_pos(a: (&str, u64), b: (&str, u64)) -> Ordering {
    (file_sequence(a.0), a.1).cmp(&(file_sequence(b.0), b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_order_sorts_across_files() {
        let a = ChangeOrder::new("mysql-bin.000009", 900, 3);
        let b = ChangeOrder::new("mysql-bin.000010", 4, 1);
        assert!(a < b);
        assert_eq!(ChangeOrder::decode(&a.encode()), Some(a));
        assert!(a < a.tombstone() && a.tombstone() < ChangeOrder::new("mysql-bin.000009", 900, 4));
        assert_eq!(
            ChangeOrder::decode(&a.tombstone().encode()),
            Some(a.tombstone())
        );
        assert_eq!(ChangeOrder::decode("1:2:3"), None);
        assert_eq!(ChangeOrder::decode("1:2:3:4:5"), None);
        assert_eq!(
            compare_file_pos(("b.000002", 4), ("b.000001", 999)),
            Ordering::Greater
        );
    }
}
