//! The stream's XA side: rows of a prepared XA transaction wait for its
//! outcome (published at `XA COMMIT`, dropped at `XA ROLLBACK`); and the
//! GTID helpers the stream starts from.

use mysql_async::binlog::events::GtidEvent;

use super::super::binlog::Flavour;
use super::super::gtid::{GtidState, MariaBinlogState, MysqlGtidSet};
use super::super::position::Position;
use super::super::xa::XaStatement;
use super::super::SourceError;
use super::ChangeStream;

impl ChangeStream {
    pub(super) fn on_xa(&mut self, statement: XaStatement, end: u64) -> Result<(), SourceError> {
        match statement {
            XaStatement::Start(xid) => {
                // MySQL marks an XA group only by this statement (MariaDB
                // also by a GTID flag): its rows wait for the outcome.
                if self.txn.is_none() {
                    self.begin(None, None, end, false);
                }
                if let Some(t) = self.txn.as_mut() {
                    t.xa = true;
                    t.began = true;
                    t.xa_id = Some(xid);
                }
                return Ok(());
            }
            XaStatement::End(xid) => {
                if let Some(t) = self.txn.as_mut() {
                    t.xa_id = Some(xid);
                }
                return Ok(());
            }
            XaStatement::Commit(xid) => {
                let one_phase = self.txn.as_mut().filter(|t| t.xa && !t.held.is_empty());
                let changes = match one_phase {
                    Some(t) => Some(std::mem::take(&mut t.held)),
                    None => self.prepared.resolve(&xid),
                };
                match changes {
                    Some(changes) => {
                        if let Some(t) = self.txn.as_mut() {
                            t.xa = false;
                        }
                        for change in changes {
                            self.publish(change);
                        }
                    }
                    None => tracing::warn!(
                        xid,
                        "XA COMMIT of a transaction prepared before binlake's start position: its rows were not seen"
                    ),
                }
            }
            XaStatement::Rollback(xid) => {
                self.prepared.resolve(&xid);
            }
        }
        self.commit(end);
        Ok(())
    }

    /// The end of an XA PREPARE group: its changes wait for the outcome,
    /// unless it was `XA COMMIT ... ONE PHASE` (committed right here).
    pub(super) fn on_xa_prepare(&mut self, end: u64, one_phase: bool) -> Result<(), SourceError> {
        if one_phase {
            if let Some(t) = self.txn.as_mut() {
                t.xa = false;
                let held = std::mem::take(&mut t.held);
                for change in held {
                    self.publish(change);
                }
            }
            self.commit(end);
            return Ok(());
        }
        if let Some(t) = self.txn.as_mut().filter(|t| t.xa) {
            let xid = t.xa_id.clone().unwrap_or_else(|| t.id.to_string());
            let held = std::mem::take(&mut t.held);
            self.prepared.prepare(xid, held, &self.last_commit)?;
        }
        self.commit(end);
        Ok(())
    }
}

/// The GTID state a stream starting at `from` has read: MariaDB's binlog
/// state when stored (else its per-domain position, a subset of it), or
/// MySQL's executed set.
pub(super) fn seed_state(flavour: Flavour, from: &Position) -> Option<GtidState> {
    match flavour {
        Flavour::MariaDb => from
            .gtid_state
            .as_deref()
            .or(from.gtid_set.as_deref())
            .and_then(MariaBinlogState::parse)
            .map(GtidState::Maria),
        Flavour::MySql => from
            .gtid_set
            .as_deref()
            .and_then(MysqlGtidSet::parse)
            .map(GtidState::Mysql),
    }
}

/// `uuid:gno` or, on MySQL 8.3+, `uuid:tag:gno`, as MySQL prints a GTID.
pub(super) fn mysql_gtid(g: &GtidEvent) -> String {
    let sid = g.sid();
    let hex: String = sid.iter().map(|b| format!("{b:02x}")).collect();
    let tag = g
        .tag()
        .map(|t| format!(":{}", t.as_str().to_ascii_lowercase()))
        .unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}{tag}:{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32],
        g.gno()
    )
}
