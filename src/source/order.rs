//! Where each Kafka record stands in the binlog, and whether a partition
//! already holds a change: how a restarted source skips what the previous
//! run wrote after its last stored position, without ever skipping a change
//! that is not there.
//!
//! Every record carries, in headers, the server it was read from, its
//! transaction's GTID and the GTID state after that transaction. A change
//! is in a partition when its GTID is in the state of the partition's last
//! record (or is that record's own transaction, at or before its index).
//! GTIDs name transactions the same way on every server of a topology, so
//! this holds across a failover and a `RESET MASTER`-free binlog renumbering.
//! Without GTIDs the binlog file and position decide, but only between
//! records of one server identity; otherwise the writer stops with an error
//! rather than guess.

use std::cmp::Ordering;
use std::sync::Arc;

use super::gtid::{Gtid, GtidState};
use super::position::ChangeOrder;
use crate::wire::{HeaderName, GTIDS_HEADER_C, GTID_HEADER_C, SERVER_HEADER_C};

/// What one transaction stamps on its records (shared by all of them).
#[derive(Debug, PartialEq, Eq)]
pub struct TxnMark {
    /// The server identity the binlog was read from.
    pub server: Arc<str>,
    pub gtid: Option<Gtid>,
    /// Every transaction read up to and including this one.
    pub state: Option<Arc<GtidState>>,
    gtid_text: Option<String>,
    state_text: Option<String>,
}

impl TxnMark {
    pub fn new(server: Arc<str>, gtid: Option<Gtid>, state: Option<Arc<GtidState>>) -> Self {
        let state = state.filter(|s| !s.is_empty());
        TxnMark {
            gtid_text: gtid.as_ref().map(Gtid::to_string),
            state_text: state.as_ref().map(|s| s.to_string()),
            server,
            gtid,
            state,
        }
    }

    /// A mark read back from a record's headers.
    pub fn from_headers(server: Option<&str>, gtid: Option<&str>, state: Option<&str>) -> Self {
        TxnMark::new(
            Arc::from(server.unwrap_or_default()),
            gtid.and_then(Gtid::parse),
            state.and_then(GtidState::parse).map(Arc::new),
        )
    }

    /// `(header, value)` pairs to put on each record.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, &str)> {
        [
            Some((SERVER_HEADER_C, &*self.server)),
            self.gtid_text.as_deref().map(|g| (GTID_HEADER_C, g)),
            self.state_text.as_deref().map(|s| (GTIDS_HEADER_C, s)),
        ]
        .into_iter()
        .flatten()
    }
}

/// A record to write: its order, its transaction's mark, and whether it is
/// a snapshot read. Snapshot rows are read afresh after every restart and
/// emitted where the stream stands then, so they are never skipped (a read
/// row written twice is the same row) and never move a partition's tail.
#[derive(Debug, Clone)]
pub struct RecordPlace {
    pub order: ChangeOrder,
    pub mark: Arc<TxnMark>,
    pub snapshot: bool,
}

/// The last record of a partition: read back after a restart, or the last
/// one written since.
#[derive(Debug, Clone)]
pub struct Tail {
    pub order: ChangeOrder,
    /// `None` for a record written before marks existed.
    pub mark: Option<Arc<TxnMark>>,
}

impl From<&RecordPlace> for Tail {
    fn from(r: &RecordPlace) -> Self {
        Tail {
            order: r.order,
            mark: Some(r.mark.clone()),
        }
    }
}

/// A change whose place relative to a partition's tail cannot be known.
#[derive(Debug, PartialEq, Eq)]
pub struct Undecidable {
    pub tail_server: String,
    pub server: String,
}

impl std::fmt::Display for Undecidable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the partition's last record was read from server {} and binlake now reads server {}, \
             without GTIDs on both: it cannot tell which changes the partition already holds. \
             Enable GTIDs (MySQL gtid_mode=ON), or start a new pipeline (a new connector name) \
             with a snapshot",
            self.tail_server, self.server
        )
    }
}

/// Whether the partition whose last record is `tail` already holds `rec`.
pub fn already_written(tail: &Tail, rec: &RecordPlace) -> Result<bool, Undecidable> {
    if rec.snapshot {
        return Ok(false);
    }
    let Some(t) = &tail.mark else {
        // Written before marks: one server's file:pos, as it was then.
        return Ok(rec.order <= tail.order);
    };
    if let (Some(state), Some(g)) = (&t.state, &rec.mark.gtid) {
        if t.gtid.as_ref() == Some(g) {
            return Ok(within_txn(rec.order, tail.order) != Ordering::Greater);
        }
        return Ok(state.contains(g));
    }
    if t.server == rec.mark.server {
        return Ok(rec.order <= tail.order);
    }
    Err(Undecidable {
        tail_server: t.server.to_string(),
        server: rec.mark.server.to_string(),
    })
}

/// Orders two records of one transaction by their index and part.
fn within_txn(a: ChangeOrder, b: ChangeOrder) -> Ordering {
    (a.index, a.part).cmp(&(b.index, b.part))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(server: &str, gtid: Option<&str>, state: Option<&str>) -> Arc<TxnMark> {
        Arc::new(TxnMark::from_headers(Some(server), gtid, state))
    }

    fn rec(file: &str, pos: u64, index: u64, mark: &Arc<TxnMark>) -> RecordPlace {
        RecordPlace {
            order: ChangeOrder::new(file, pos, index),
            mark: mark.clone(),
            snapshot: false,
        }
    }

    #[test]
    fn failover_to_a_replica_with_lower_file_numbers_skips_only_what_is_there() {
        // The old primary wrote up to 0-1-510 from mysql-bin.000005.
        let old = mark("1/mysql-bin", Some("0-1-510"), Some("0-1-510"));
        let tail = Tail::from(&rec("mysql-bin.000005", 9000, 2, &old));
        // The promoted replica (server 2) replays 0-1-509 and 0-1-510 from
        // its own, lower-numbered files, then writes its own transactions.
        let replayed = mark("2/mysql-bin", Some("0-1-509"), Some("0-1-509"));
        assert_eq!(
            already_written(&tail, &rec("mysql-bin.000002", 400, 1, &replayed)),
            Ok(true)
        );
        let same = mark("2/mysql-bin", Some("0-1-510"), Some("0-1-510"));
        assert_eq!(
            already_written(&tail, &rec("mysql-bin.000002", 800, 2, &same)),
            Ok(true)
        );
        assert_eq!(
            already_written(&tail, &rec("mysql-bin.000002", 800, 3, &same)),
            Ok(false)
        );
        let new = mark("2/mysql-bin", Some("0-2-511"), Some("0-1-510,0-2-511"));
        assert_eq!(
            already_written(&tail, &rec("mysql-bin.000002", 1200, 1, &new)),
            Ok(false)
        );
    }

    #[test]
    fn without_gtids_file_positions_compare_only_within_one_server() {
        let a = mark("uuid-a/binlog", None, None);
        let tail = Tail::from(&rec("binlog.000005", 9000, 2, &a));
        assert_eq!(
            already_written(&tail, &rec("binlog.000005", 8000, 9, &a)),
            Ok(true)
        );
        assert_eq!(
            already_written(&tail, &rec("binlog.000006", 4, 1, &a)),
            Ok(false)
        );
        // After a failover or RESET MASTER without GTIDs: never a guess.
        let b = mark("uuid-b/binlog", None, None);
        let err = already_written(&tail, &rec("binlog.000001", 4, 1, &b)).unwrap_err();
        assert!(err.to_string().contains("gtid_mode=ON"), "{err}");
    }

    #[test]
    fn mysql_sets_decide_across_sources_and_tags() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let tail_mark = mark(
            "x",
            Some(&format!("{u}:7")),
            Some(&format!("{u}:1-7:etl:1-2")),
        );
        let tail = Tail::from(&rec("b.000009", 100, 1, &tail_mark));
        let tagged = mark(
            "y",
            Some(&format!("{u}:etl:2")),
            Some(&format!("{u}:1-6:etl:1-2")),
        );
        assert_eq!(
            already_written(&tail, &rec("b.000001", 4, 5, &tagged)),
            Ok(true)
        );
        let next = mark(
            "y",
            Some(&format!("{u}:8")),
            Some(&format!("{u}:1-8:etl:1-2")),
        );
        assert_eq!(
            already_written(&tail, &rec("b.000001", 4, 1, &next)),
            Ok(false)
        );
    }

    #[test]
    fn snapshot_rows_are_never_skipped_and_legacy_tails_compare_by_position() {
        let m = mark("s", Some("0-1-5"), Some("0-1-5"));
        let tail = Tail::from(&rec("b.000009", 100, 1, &m));
        let mut snap = rec("b.000001", 4, 1, &m);
        snap.snapshot = true;
        assert_eq!(already_written(&tail, &snap), Ok(false));
        let legacy = Tail {
            order: ChangeOrder::new("b.000003", 100, 1),
            mark: None,
        };
        assert_eq!(
            already_written(&legacy, &rec("b.000003", 50, 9, &m)),
            Ok(true)
        );
        assert_eq!(
            already_written(&legacy, &rec("b.000004", 4, 1, &m)),
            Ok(false)
        );
    }

    #[test]
    fn headers_round_trip() {
        let m = mark("1/mysql-bin", Some("0-1-5"), Some("0-1-5,0-2-3"));
        let h: Vec<_> = m.headers().collect();
        assert_eq!(
            h,
            vec![
                (SERVER_HEADER_C, "1/mysql-bin"),
                (GTID_HEADER_C, "0-1-5"),
                (GTIDS_HEADER_C, "0-1-5,0-2-3")
            ]
        );
        let back = TxnMark::from_headers(Some(h[0].1), Some(h[1].1), Some(h[2].1));
        assert_eq!(&back, &*m);
    }
}
