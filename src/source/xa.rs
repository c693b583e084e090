//! XA transactions (MariaDB and MySQL): their rows are binlogged at XA PREPARE, the
//! outcome comes later as XA COMMIT or XA ROLLBACK. Prepared rows are held
//! here until then, and the resume position stays before the oldest
//! unresolved prepare so a restart reads its rows again.

use std::collections::HashMap;

use super::position::Position;
use super::SourceError;
use crate::event::ChangeEvent;

/// MariaDB GTID flags of an XA PREPARE group and of its XA COMMIT/ROLLBACK.
pub const FL_PREPARED_XA: u8 = 64;
/// The XA_PREPARE_LOG_EVENT that closes a prepared group.
pub const XA_PREPARE_LOG_EVENT: u8 = 38;
/// Prepared-but-unresolved row changes held in memory at most.
pub const MAX_HELD: usize = 100_000;

/// An XA statement found in a query event, with its XID text.
#[derive(Debug, PartialEq, Eq)]
pub enum XaStatement {
    Start(String),
    End(String),
    Commit(String),
    Rollback(String),
}

/// Recognises `XA START|BEGIN|END|COMMIT|ROLLBACK xid [ONE PHASE]`.
pub fn parse(query: &str) -> Option<XaStatement> {
    let q = query.trim();
    let rest = strip_prefix_ci(q, "XA ")?.trim_start();
    let (kind, xid) = rest.split_once(char::is_whitespace)?;
    let xid = xid.trim();
    let xid = strip_suffix_ci(xid, "ONE PHASE")
        .unwrap_or(xid)
        .trim()
        .to_string();
    match kind.to_ascii_uppercase().as_str() {
        "START" | "BEGIN" => Some(XaStatement::Start(xid)),
        "END" => Some(XaStatement::End(xid)),
        "COMMIT" => Some(XaStatement::Commit(xid)),
        "ROLLBACK" => Some(XaStatement::Rollback(xid)),
        _ => None,
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

/// Prepared XA groups awaiting their outcome.
#[derive(Default)]
pub struct PreparedXa {
    groups: HashMap<String, Vec<ChangeEvent>>,
    held: usize,
    /// Where to resume while any group is unresolved.
    hold: Option<Position>,
}

impl PreparedXa {
    /// Keeps a prepared group's changes; `before` is the resume position
    /// just before the group.
    pub fn prepare(
        &mut self,
        xid: String,
        changes: Vec<ChangeEvent>,
        before: &Position,
    ) -> Result<(), SourceError> {
        self.check_room(changes.len())?;
        self.held += changes.len();
        if self.hold.is_none() {
            self.hold = Some(before.clone());
        }
        self.groups.entry(xid).or_default().extend(changes);
        Ok(())
    }

    /// Fails when holding `more` changes would pass the bound.
    pub fn check_room(&self, more: usize) -> Result<(), SourceError> {
        if self.held + more > MAX_HELD {
            return Err(SourceError::Unsupported(format!(
                "prepared XA transactions hold more than {MAX_HELD} row changes awaiting XA COMMIT; \
                 binlake keeps them in memory until then: commit or roll back the prepared XA \
                 transactions (XA RECOVER lists them)"
            )));
        }
        Ok(())
    }

    /// The changes of `xid`, now decided; `None` for an XID prepared before
    /// the source started.
    pub fn resolve(&mut self, xid: &str) -> Option<Vec<ChangeEvent>> {
        let changes = self.groups.remove(xid)?;
        self.held -= changes.len();
        if self.groups.is_empty() {
            self.hold = None;
        }
        Some(changes)
    }

    /// The resume position to report while groups are unresolved.
    pub fn hold(&self) -> Option<&Position> {
        self.hold.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_xa_statements() {
        assert_eq!(
            parse("XA END X'61',X'',1"),
            Some(XaStatement::End("X'61',X'',1".into()))
        );
        assert_eq!(
            parse("xa commit X'62',X'',1 ONE PHASE"),
            Some(XaStatement::Commit("X'62',X'',1".into()))
        );
        assert_eq!(
            parse("XA ROLLBACK X'61',X'',1"),
            Some(XaStatement::Rollback("X'61',X'',1".into()))
        );
        assert_eq!(
            parse("XA START X'61',X'',1"),
            Some(XaStatement::Start("X'61',X'',1".into()))
        );
        assert_eq!(parse("XA RECOVER"), None);
        assert_eq!(parse("ALTER TABLE t ADD c INT"), None);
    }

    #[test]
    fn hold_lasts_until_every_group_is_resolved() {
        let mut xa = PreparedXa::default();
        let p = Position {
            file: "b.1".into(),
            pos: 4,
            gtid_set: None,
            ..Position::default()
        };
        xa.prepare("a".into(), vec![], &p).unwrap();
        xa.prepare(
            "b".into(),
            vec![],
            &Position {
                pos: 9,
                ..p.clone()
            },
        )
        .unwrap();
        assert_eq!(xa.hold(), Some(&p));
        assert!(xa.resolve("a").is_some());
        assert_eq!(xa.hold(), Some(&p));
        assert!(xa.resolve("unknown").is_none());
        assert!(xa.resolve("b").is_some());
        assert_eq!(xa.hold(), None);
        assert!(xa.check_room(MAX_HELD + 1).is_err());
    }
}
