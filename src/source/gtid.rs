//! Global transaction ids, MariaDB's and MySQL's, and the sets of them a
//! server has executed. They name a transaction the same way on every server
//! of a replication topology, so "was this transaction already read?" is
//! answered by them across a failover, where binlog file names are not.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

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

fn parse_maria_list(text: &str) -> Option<Vec<MariaGtid>> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(MariaGtid::parse)
        .collect()
}

fn write_list<'a>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = &'a MariaGtid>,
) -> fmt::Result {
    for (i, g) in items.enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{g}")?;
    }
    Ok(())
}

/// MariaDB's replication position: the last GTID applied per domain
/// (`@@gtid_binlog_pos`, what `@slave_connect_state` takes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MariaGtidState {
    domains: BTreeMap<u32, MariaGtid>,
}

impl MariaGtidState {
    /// Parses `@@gtid_binlog_pos`-style text: comma-separated GTIDs.
    pub fn parse(text: &str) -> Option<Self> {
        let mut state = MariaGtidState::default();
        for g in parse_maria_list(text)? {
            state.apply(g);
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
        write_list(f, self.domains.values())
    }
}

/// MariaDB's binlog state: the last sequence number per domain and server
/// (`@@gtid_binlog_state`). Each server numbers its own transactions in
/// increasing order within a domain, so a GTID is in the state when its
/// server's last number in its domain is at least its own. That stays true
/// across a failover: the promoted replica's binlog holds the old
/// primary's GTIDs unchanged, and its own new ones are under its server id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MariaBinlogState {
    last: BTreeMap<(u32, u32), u64>,
}

impl MariaBinlogState {
    pub fn parse(text: &str) -> Option<Self> {
        let mut state = MariaBinlogState::default();
        for g in parse_maria_list(text)? {
            state.apply(g);
        }
        Some(state)
    }

    pub fn apply(&mut self, g: MariaGtid) {
        let seq = self.last.entry((g.domain, g.server_id)).or_insert(0);
        *seq = (*seq).max(g.seq);
    }

    pub fn contains(&self, g: &MariaGtid) -> bool {
        self.last
            .get(&(g.domain, g.server_id))
            .is_some_and(|&seq| seq >= g.seq)
    }

    /// Every GTID of `self` is in `other`.
    pub fn within(&self, other: &MariaBinlogState) -> bool {
        self.last.iter().all(|(&(domain, server_id), &seq)| {
            other.contains(&MariaGtid {
                domain,
                server_id,
                seq,
            })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

impl fmt::Display for MariaBinlogState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gtids: Vec<MariaGtid> = self
            .last
            .iter()
            .map(|(&(domain, server_id), &seq)| MariaGtid {
                domain,
                server_id,
                seq,
            })
            .collect();
        write_list(f, gtids.iter())
    }
}

/// The source of a MySQL GTID: the server UUID, and since MySQL 8.3 an
/// optional tag (`uuid:tag:n`). Tags compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MysqlSid {
    pub uuid: String,
    pub tag: Option<String>,
}

/// One MySQL GTID, `uuid:n` or `uuid:tag:n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlGtid {
    pub sid: MysqlSid,
    pub gno: u64,
}

impl MysqlGtid {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts: Vec<&str> = text.trim().split(':').collect();
        let gno = parts.pop()?.parse().ok()?;
        let uuid = parse_uuid(parts.first()?)?;
        let tag = match parts.len() {
            1 => None,
            2 => Some(parse_tag(parts[1])?),
            _ => return None,
        };
        Some(MysqlGtid {
            sid: MysqlSid { uuid, tag },
            gno,
        })
    }
}

impl fmt::Display for MysqlGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sid.uuid)?;
        if let Some(tag) = &self.sid.tag {
            write!(f, ":{tag}")?;
        }
        write!(f, ":{}", self.gno)
    }
}

fn parse_uuid(text: &str) -> Option<String> {
    let uuid = text.trim().to_ascii_lowercase();
    let ok = uuid.len() == 36
        && uuid.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    ok.then_some(uuid)
}

/// A tag: a letter or underscore, then up to 31 letters, digits or
/// underscores (MySQL 8.3's rule), kept in lower case.
fn parse_tag(text: &str) -> Option<String> {
    let tag = text.trim().to_ascii_lowercase();
    let mut chars = tag.chars();
    let first = chars.next()?;
    let ok = (first.is_ascii_alphabetic() || first == '_')
        && tag.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(tag)
}

/// A MySQL GTID set (`uuid:1-5:7,uuid2:1-3:tag:1-9`): executed transactions
/// per source, as inclusive ranges kept merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqlGtidSet {
    sids: BTreeMap<MysqlSid, Vec<(u64, u64)>>,
}

impl MysqlGtidSet {
    /// Parses `@@gtid_executed` text (newlines allowed, as MySQL prints it).
    /// After the UUID, a token that is not a number or range is a tag that
    /// applies to the ranges after it (MySQL 8.3+).
    pub fn parse(text: &str) -> Option<Self> {
        let mut set = MysqlGtidSet::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut it = part.split(':');
            let uuid = parse_uuid(it.next()?)?;
            let mut sid = MysqlSid {
                uuid: uuid.clone(),
                tag: None,
            };
            let mut any = false;
            for token in it.map(str::trim) {
                if !token.starts_with(|c: char| c.is_ascii_digit()) {
                    sid = MysqlSid {
                        uuid: uuid.clone(),
                        tag: Some(parse_tag(token)?),
                    };
                    continue;
                }
                let (a, b) = match token.split_once('-') {
                    Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                    None => {
                        let n = token.parse().ok()?;
                        (n, n)
                    }
                };
                if a > b || a == 0 {
                    return None;
                }
                set.add_range(&sid, a, b);
                any = true;
            }
            if !any {
                return None;
            }
        }
        Some(set)
    }

    /// Adds one executed transaction.
    pub fn add(&mut self, gtid: &MysqlGtid) {
        self.add_range(&gtid.sid, gtid.gno, gtid.gno);
    }

    fn add_range(&mut self, sid: &MysqlSid, a: u64, b: u64) {
        let ranges = self.sids.entry(sid.clone()).or_default();
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

    pub fn contains(&self, gtid: &MysqlGtid) -> bool {
        self.sids
            .get(&gtid.sid)
            .is_some_and(|r| r.iter().any(|&(a, b)| a <= gtid.gno && gtid.gno <= b))
    }

    /// Every GTID of `self` is in `other`.
    pub fn within(&self, other: &MysqlGtidSet) -> bool {
        self.sids.iter().all(|(sid, ranges)| {
            let theirs = other.sids.get(sid).map(Vec::as_slice).unwrap_or(&[]);
            ranges
                .iter()
                .all(|&(a, b)| theirs.iter().any(|&(x, y)| x <= a && b <= y))
        })
    }

    /// Whether any GTID carries a tag (MySQL 8.3+).
    pub fn has_tags(&self) -> bool {
        self.sids.keys().any(|s| s.tag.is_some())
    }

    /// One `uuid[:tag]:ranges` text per source, as COM_BINLOG_DUMP_GTID's
    /// sid blocks take them.
    pub fn per_source(&self) -> Vec<String> {
        self.sids
            .iter()
            .map(|(sid, ranges)| {
                let mut one = MysqlGtidSet::default();
                one.sids.insert(sid.clone(), ranges.clone());
                one.to_string()
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.sids.is_empty()
    }
}

impl fmt::Display for MysqlGtidSet {
    /// MySQL's own form: one entry per UUID, its untagged ranges first,
    /// then each tag followed by its ranges.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last_uuid: Option<&str> = None;
        for (sid, ranges) in &self.sids {
            if last_uuid != Some(sid.uuid.as_str()) {
                if last_uuid.is_some() {
                    f.write_str(",")?;
                }
                f.write_str(&sid.uuid)?;
                last_uuid = Some(&sid.uuid);
            }
            if let Some(tag) = &sid.tag {
                write!(f, ":{tag}")?;
            }
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

/// One transaction's GTID, either flavour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gtid {
    Maria(MariaGtid),
    Mysql(Arc<MysqlGtid>),
}

impl Gtid {
    /// Parses either form: `D-S-N` (MariaDB) or `uuid[:tag]:n` (MySQL).
    pub fn parse(text: &str) -> Option<Self> {
        if text.contains(':') {
            MysqlGtid::parse(text).map(|g| Gtid::Mysql(Arc::new(g)))
        } else {
            MariaGtid::parse(text).map(Gtid::Maria)
        }
    }
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gtid::Maria(g) => write!(f, "{g}"),
            Gtid::Mysql(g) => write!(f, "{g}"),
        }
    }
}

/// Every transaction up to some point of a binlog, as GTIDs: what a record
/// stamped with it says was read before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GtidState {
    Maria(MariaBinlogState),
    Mysql(MysqlGtidSet),
}

impl GtidState {
    /// Parses either form; a text with `:` is a MySQL set.
    pub fn parse(text: &str) -> Option<Self> {
        if text.contains(':') {
            MysqlGtidSet::parse(text).map(GtidState::Mysql)
        } else {
            MariaBinlogState::parse(text).map(GtidState::Maria)
        }
    }

    /// Whether the transaction `g` is in the state; a GTID of the other
    /// flavour never is.
    pub fn contains(&self, g: &Gtid) -> bool {
        match (self, g) {
            (GtidState::Maria(s), Gtid::Maria(g)) => s.contains(g),
            (GtidState::Mysql(s), Gtid::Mysql(g)) => s.contains(g),
            _ => false,
        }
    }

    /// Every GTID of `self` is in `other`.
    pub fn within(&self, other: &GtidState) -> bool {
        match (self, other) {
            (GtidState::Maria(a), GtidState::Maria(b)) => a.within(b),
            (GtidState::Mysql(a), GtidState::Mysql(b)) => a.within(b),
            _ => false,
        }
    }

    /// The state after one more transaction.
    pub fn with(&self, g: &Gtid) -> GtidState {
        let mut next = self.clone();
        match (&mut next, g) {
            (GtidState::Maria(s), Gtid::Maria(g)) => s.apply(*g),
            (GtidState::Mysql(s), Gtid::Mysql(g)) => s.add(g),
            _ => {}
        }
        next
    }

    pub fn is_empty(&self) -> bool {
        match self {
            GtidState::Maria(s) => s.is_empty(),
            GtidState::Mysql(s) => s.is_empty(),
        }
    }
}

impl fmt::Display for GtidState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtidState::Maria(s) => write!(f, "{s}"),
            GtidState::Mysql(s) => write!(f, "{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const V: &str = "4e11fa47-71ca-11e1-9e33-c80aa9429562";

    fn maria(d: u32, s: u32, n: u64) -> MariaGtid {
        MariaGtid {
            domain: d,
            server_id: s,
            seq: n,
        }
    }

    #[test]
    fn gtid_state_round_trip_keeps_last_per_domain() {
        let mut s = MariaGtidState::parse("0-1-42, 1-2-7").unwrap();
        s.apply(maria(0, 3, 43));
        assert_eq!(s.to_string(), "0-3-43,1-2-7");
        assert!(MariaGtidState::parse("0-1").is_none());
        assert!(MariaGtidState::parse("").unwrap().is_empty());
    }

    #[test]
    fn mariadb_binlog_state_contains_per_domain_and_server() {
        // Server 1 wrote up to 510 in domain 0; server 2, promoted after a
        // failover, continues the domain's numbering with its own id.
        let mut s = MariaBinlogState::parse("0-1-510").unwrap();
        assert!(s.contains(&maria(0, 1, 505)));
        assert!(!s.contains(&maria(0, 2, 505)), "another server's GTID");
        assert!(!s.contains(&maria(1, 1, 5)), "another domain");
        s.apply(maria(0, 2, 511));
        s.apply(maria(0, 1, 3)); // never lowers a server's last number
        assert_eq!(s.to_string(), "0-1-510,0-2-511");
        assert!(MariaBinlogState::parse("0-1-9").unwrap().within(&s));
        assert!(!MariaBinlogState::parse("0-2-600").unwrap().within(&s));
    }

    #[test]
    fn mysql_gtid_set_merges_ranges() {
        let mut set = MysqlGtidSet::parse(&format!("{U}:1-5:7,\n{V}:1-3")).unwrap();
        set.add(&MysqlGtid::parse(&format!("{U}:6")).unwrap());
        set.add(&MysqlGtid::parse(&format!("{U}:9")).unwrap());
        assert_eq!(set.to_string(), format!("{U}:1-7:9,{V}:1-3"));
        assert!(MysqlGtidSet::parse("short:1-2").is_none());
        assert!(MysqlGtidSet::parse(&format!("{U}:5-1")).is_none());
        assert!(MysqlGtidSet::parse(U).is_none());
        assert!(MysqlGtidSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn mysql_tagged_gtids_parse_and_print_as_mysql_does() {
        // MySQL 8.3+: untagged ranges, then each tag with its ranges.
        let text = format!("{U}:1-10:Batch:1-3:5,{V}:1-2");
        let set = MysqlGtidSet::parse(&text).unwrap();
        assert!(set.has_tags());
        assert_eq!(set.to_string(), format!("{U}:1-10:batch:1-3:5,{V}:1-2"));
        let tagged = MysqlGtid::parse(&format!("{U}:batch:2")).unwrap();
        assert!(set.contains(&tagged));
        assert!(!set.contains(&MysqlGtid::parse(&format!("{U}:batch:4")).unwrap()));
        assert!(set.contains(&MysqlGtid::parse(&format!("{U}:4")).unwrap()));
        assert!(!set.contains(&MysqlGtid::parse(&format!("{U}:other:4")).unwrap()));
        assert_eq!(tagged.to_string(), format!("{U}:batch:2"));
        assert!(MysqlGtidSet::parse(&format!("{U}:1-3:9bad:1")).is_none());
        assert_eq!(
            set.per_source(),
            vec![
                format!("{U}:1-10"),
                format!("{U}:batch:1-3:5"),
                format!("{V}:1-2")
            ]
        );
    }

    #[test]
    fn mysql_set_within() {
        let big = MysqlGtidSet::parse(&format!("{U}:1-100,{V}:1-5")).unwrap();
        assert!(MysqlGtidSet::parse(&format!("{U}:3-50"))
            .unwrap()
            .within(&big));
        assert!(!MysqlGtidSet::parse(&format!("{U}:3-150"))
            .unwrap()
            .within(&big));
        assert!(!MysqlGtidSet::parse(&format!("{V}:6")).unwrap().within(&big));
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
    fn state_of_either_flavour() {
        let s = GtidState::parse("0-1-10,0-2-4").unwrap();
        assert!(s.contains(&Gtid::parse("0-2-4").unwrap()));
        assert!(!s.contains(&Gtid::parse("0-2-5").unwrap()));
        let next = s.with(&Gtid::parse("0-2-5").unwrap());
        assert!(next.contains(&Gtid::parse("0-2-5").unwrap()));
        let m = GtidState::parse(&format!("{U}:1-3")).unwrap();
        assert!(m.contains(&Gtid::parse(&format!("{U}:2")).unwrap()));
        assert!(!m.contains(&Gtid::parse("0-1-2").unwrap()));
        assert!(s.within(&next) && !next.within(&s));
    }
}
