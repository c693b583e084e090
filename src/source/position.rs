//! Where the source stands in the binlog, how that is stored, and how two
//! changes are ordered.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

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

/// A MariaDB GTID, `domain-server-sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MariaGtid {
    pub domain: u32,
    pub server_id: u32,
    pub seq: u64,
}

impl fmt::Display for MariaGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server_id, self.seq)
    }
}

impl MariaGtid {
    /// Reads the body of a MariaDB GTID event (type 162): sequence u64 LE,
    /// domain u32 LE, flags u8, then optional extras we do not need.
    pub fn from_event_body(server_id: u32, body: &[u8]) -> Option<(Self, u8)> {
        let seq = u64::from_le_bytes(body.get(0..8)?.try_into().ok()?);
        let domain = u32::from_le_bytes(body.get(8..12)?.try_into().ok()?);
        let flags = *body.get(12)?;
        Some((
            MariaGtid {
                domain,
                server_id,
                seq,
            },
            flags,
        ))
    }

    /// Parses `D-S-N`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut it = text.trim().splitn(3, '-');
        let domain = it.next()?.parse().ok()?;
        let server_id = it.next()?.parse().ok()?;
        let seq = it.next()?.parse().ok()?;
        Some(MariaGtid {
            domain,
            server_id,
            seq,
        })
    }
}

/// MariaDB's replication state: the last GTID applied per domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MariaGtidState {
    domains: BTreeMap<u32, MariaGtid>,
}

impl MariaGtidState {
    /// Parses `@@gtid_binlog_pos`-style text: comma-separated GTIDs.
    pub fn parse(text: &str) -> Option<Self> {
        let mut state = MariaGtidState::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            state.apply(MariaGtid::parse(part)?);
        }
        Some(state)
    }

    pub fn apply(&mut self, gtid: MariaGtid) {
        self.domains.insert(gtid.domain, gtid);
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

impl fmt::Display for MariaGtidState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for g in self.domains.values() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

/// A MySQL GTID set (`uuid:1-5:7,uuid2:1-3`): executed transactions per
/// source server, as inclusive ranges kept merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqlGtidSet {
    sids: BTreeMap<String, Vec<(u64, u64)>>,
}

impl MysqlGtidSet {
    /// Parses `@@gtid_executed` text (newlines allowed, as MySQL prints it).
    pub fn parse(text: &str) -> Option<Self> {
        let mut set = MysqlGtidSet::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut it = part.split(':');
            let uuid = it.next()?.trim().to_ascii_lowercase();
            if uuid.len() != 36 {
                return None;
            }
            for range in it {
                let (a, b) = match range.split_once('-') {
                    Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                    None => {
                        let n = range.parse().ok()?;
                        (n, n)
                    }
                };
                if a > b {
                    return None;
                }
                set.add_range(&uuid, a, b);
            }
        }
        Some(set)
    }

    /// Adds one executed transaction.
    pub fn add(&mut self, uuid: &str, gno: u64) {
        self.add_range(&uuid.to_ascii_lowercase(), gno, gno);
    }

    fn add_range(&mut self, uuid: &str, a: u64, b: u64) {
        let ranges = self.sids.entry(uuid.to_string()).or_default();
        ranges.push((a, b));
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for &(a, b) in ranges.iter() {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *ranges = merged;
    }

    pub fn is_empty(&self) -> bool {
        self.sids.is_empty()
    }
}

impl fmt::Display for MysqlGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (uuid, ranges)) in self.sids.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(uuid)?;
            for (a, b) in ranges {
                if a == b {
                    write!(f, ":{a}")?;
                } else {
                    write!(f, ":{a}-{b}")?;
                }
            }
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
    pub const HEADER: &'static str = "binlake.order";

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
        format!(
            "{}:{}:{}:{}",
            self.file_seq, self.pos, self.index, self.part
        )
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
    fn gtid_state_round_trip_keeps_last_per_domain() {
        let mut s = MariaGtidState::parse("0-1-42, 1-2-7").unwrap();
        s.apply(MariaGtid {
            domain: 0,
            server_id: 3,
            seq: 43,
        });
        assert_eq!(s.to_string(), "0-3-43,1-2-7");
        assert!(MariaGtidState::parse("0-1").is_none());
        assert!(MariaGtidState::parse("").unwrap().is_empty());
    }

    #[test]
    fn mysql_gtid_set_merges_ranges() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let mut set =
            MysqlGtidSet::parse(&format!("{u}:1-5:7,\n{}:1-3", u.replace('3', "4"))).unwrap();
        set.add(u, 6);
        set.add(u, 9);
        assert_eq!(
            set.to_string(),
            format!("{u}:1-7:9,{}:1-3", u.replace('3', "4"))
        );
        assert!(MysqlGtidSet::parse("short:1-2").is_none());
        assert!(MysqlGtidSet::parse(&format!("{u}:5-1")).is_none());
        assert!(MysqlGtidSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn gtid_event_body() {
        let mut body = 42u64.to_le_bytes().to_vec();
        body.extend(7u32.to_le_bytes());
        body.push(1);
        let (g, flags) = MariaGtid::from_event_body(5, &body).unwrap();
        assert_eq!(g.to_string(), "7-5-42");
        assert_eq!(flags, 1);
        assert!(MariaGtid::from_event_body(5, &body[..10]).is_none());
    }

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
