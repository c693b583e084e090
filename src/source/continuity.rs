//! Before each binlog connection: is this server's history the one the
//! stored position belongs to? A failover behind the same address, a
//! `RESET MASTER` or a restored backup all keep the address and change the
//! history. With GTIDs the source follows the transactions wherever they
//! are; without them it stops with the fix, because reading on by file and
//! position in another history would skip or repeat changes silently.

use mysql_async::prelude::Queryable;

use super::binlog::Flavour;
use super::gtid::{GtidState, MariaBinlogState, MysqlGtidSet};
use super::position::{file_sequence, Position};
use super::SourceError;

/// What a server says about its identity and history.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    /// `server_uuid` (MySQL) or `server_id` (MariaDB), then the binlog's
    /// base name: file:pos compare only within one identity.
    pub identity: String,
    /// Every transaction in its binlog history (MariaDB
    /// `@@gtid_binlog_state`, MySQL `@@gtid_executed`).
    pub gtids: Option<GtidState>,
    /// Its binlog files, oldest first.
    pub files: Vec<String>,
}

impl ServerFacts {
    pub async fn read(conn: &mut mysql_async::Conn, flavour: Flavour) -> Result<Self, SourceError> {
        let (id_sql, gtid_sql) = match flavour {
            Flavour::MariaDb => (
                "SELECT CAST(@@GLOBAL.server_id AS CHAR)",
                "SELECT @@GLOBAL.gtid_binlog_state",
            ),
            Flavour::MySql => (
                "SELECT @@GLOBAL.server_uuid",
                "SELECT @@GLOBAL.gtid_executed",
            ),
        };
        let id: Option<String> = conn
            .query_first(id_sql)
            .await
            .map_err(SourceError::query(id_sql))?;
        let stmt = "SELECT @@GLOBAL.log_bin_basename";
        let base: Option<Option<String>> = conn
            .query_first(stmt)
            .await
            .map_err(SourceError::query(stmt))?;
        let gtids: Option<String> = conn
            .query_first(gtid_sql)
            .await
            .map_err(SourceError::query(gtid_sql))?;
        let files = super::server::binary_logs(conn)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let base = base
            .flatten()
            .map(|b| b.rsplit('/').next().unwrap_or_default().to_string())
            .unwrap_or_default();
        Ok(ServerFacts {
            identity: format!("{}/{}", id.unwrap_or_default(), base),
            gtids: gtids.as_deref().and_then(|g| parse_state(flavour, g)),
            files,
        })
    }
}

fn parse_state(flavour: Flavour, text: &str) -> Option<GtidState> {
    let text = text.replace(['\n', ' '], "");
    let state = match flavour {
        Flavour::MariaDb => GtidState::Maria(MariaBinlogState::parse(&text)?),
        Flavour::MySql => GtidState::Mysql(MysqlGtidSet::parse(&text)?),
    };
    (!state.is_empty()).then_some(state)
}

/// How a connection may resume.
#[derive(Debug, PartialEq, Eq)]
pub enum Continuity {
    /// The server the position was read from.
    SameServer,
    /// Another server (a failover): resumed by GTID.
    NewServer { was: String },
    /// A position stored before binlake recorded identities, or a new one.
    Unknown,
}

/// Decides whether `stored` can be resumed on the server `facts` describes.
pub fn check(
    flavour: Flavour,
    stored: &Position,
    facts: &ServerFacts,
) -> Result<Continuity, SourceError> {
    let ours = stored_state(flavour, stored);
    let lacks = |why: &str| -> Result<(), SourceError> {
        match (&ours, &facts.gtids) {
            (Some(ours), theirs) if !theirs.as_ref().is_some_and(|t| ours.within(t)) => {
                Err(SourceError::History(format!(
                    "{why}: the server's GTID history ({}) lacks transactions binlake already read \
                     ({ours}): RESET MASTER, a restored backup, or a failover to a replica that was \
                     behind. Nothing was skipped; binlake stops rather than read another history. \
                     If the server is right, start a new pipeline (a new connector name) with a snapshot",
                    theirs.as_ref().map(ToString::to_string).unwrap_or_else(|| "empty".into())
                )))
            }
            _ => Ok(()),
        }
    };
    let Some(was) = stored.server.as_deref() else {
        return Ok(Continuity::Unknown);
    };
    if was != facts.identity {
        if ours.is_none() {
            return Err(SourceError::History(format!(
                "the server at this address is {} but the stored position {stored} was read from \
                 {was}, and there are no GTIDs to tell which changes the new server's binlog holds \
                 (its file names and positions are its own). Nothing was skipped. Enable GTIDs \
                 (MySQL gtid_mode=ON, enforce_gtid_consistency=ON) before a failover, or start a \
                 new pipeline (a new connector name) with a snapshot",
                facts.identity
            )));
        }
        lacks(&format!(
            "the server changed from {was} to {}",
            facts.identity
        ))?;
        return Ok(Continuity::NewServer {
            was: was.to_string(),
        });
    }
    if let Some(last) = facts.files.last() {
        if file_sequence(&stored.file) > file_sequence(last) {
            return Err(SourceError::History(format!(
                "the stored position {stored} is in a binlog file newer than the server's newest \
                 ({last}): the binlog was reset (RESET MASTER) or the server restored. Nothing was \
                 skipped; binlake stops rather than read another history. Start a new pipeline \
                 (a new connector name) with a snapshot"
            )));
        }
    }
    lacks("the same server")?;
    Ok(Continuity::SameServer)
}

/// The GTIDs the stored position says were read.
fn stored_state(flavour: Flavour, stored: &Position) -> Option<GtidState> {
    let text = match flavour {
        Flavour::MariaDb => stored.gtid_state.as_deref().or(stored.gtid_set.as_deref()),
        Flavour::MySql => stored.gtid_set.as_deref(),
    }?;
    parse_state(flavour, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    fn pos(
        file: &str,
        server: Option<&str>,
        gtid_set: Option<&str>,
        gtid_state: Option<&str>,
    ) -> Position {
        Position {
            file: file.into(),
            pos: 400,
            gtid_set: gtid_set.map(Into::into),
            gtid_state: gtid_state.map(Into::into),
            server: server.map(Into::into),
            file_created: None,
        }
    }

    fn facts(identity: &str, gtids: Option<&str>, flavour: Flavour, last: &str) -> ServerFacts {
        ServerFacts {
            identity: identity.into(),
            gtids: gtids.and_then(|g| parse_state(flavour, g)),
            files: vec!["mysql-bin.000001".into(), last.into()],
        }
    }

    #[test]
    fn mariadb_failover_to_a_caught_up_replica_resumes_by_gtid() {
        let stored = pos(
            "mysql-bin.000005",
            Some("1/mysql-bin"),
            Some("0-1-510"),
            Some("0-1-510"),
        );
        let replica = facts(
            "2/mysql-bin",
            Some("0-1-510"),
            Flavour::MariaDb,
            "mysql-bin.000002",
        );
        assert_eq!(
            check(Flavour::MariaDb, &stored, &replica).unwrap(),
            Continuity::NewServer {
                was: "1/mysql-bin".into()
            }
        );
        // A replica that never got 0-1-510: its binlog cannot hold our place.
        let behind = facts(
            "2/mysql-bin",
            Some("0-1-505"),
            Flavour::MariaDb,
            "mysql-bin.000002",
        );
        let err = check(Flavour::MariaDb, &stored, &behind).unwrap_err();
        assert!(matches!(err, SourceError::History(_)), "{err}");
    }

    #[test]
    fn reset_master_is_a_stop_with_or_without_gtids() {
        // MariaDB: the GTID history restarted.
        let stored = pos(
            "mysql-bin.000005",
            Some("1/mysql-bin"),
            Some("0-1-510"),
            Some("0-1-510"),
        );
        let reset = facts(
            "1/mysql-bin",
            Some("0-1-3"),
            Flavour::MariaDb,
            "mysql-bin.000001",
        );
        assert!(check(Flavour::MariaDb, &stored, &reset).is_err());
        // MySQL without GTIDs: the files were renumbered below ours.
        let stored = pos("binlog.000005", Some(&format!("{U}/binlog")), None, None);
        let reset = facts(
            &format!("{U}/binlog"),
            None,
            Flavour::MySql,
            "binlog.000002",
        );
        let err = check(Flavour::MySql, &stored, &reset).unwrap_err();
        assert!(err.to_string().contains("RESET MASTER"), "{err}");
        let fine = facts(
            &format!("{U}/binlog"),
            None,
            Flavour::MySql,
            "binlog.000009",
        );
        assert_eq!(
            check(Flavour::MySql, &stored, &fine).unwrap(),
            Continuity::SameServer
        );
    }

    #[test]
    fn another_server_without_gtids_is_a_stop() {
        let stored = pos("binlog.000005", Some(&format!("{U}/binlog")), None, None);
        let other = facts(
            "9e11fa47-71ca-11e1-9e33-c80aa9429562/binlog",
            None,
            Flavour::MySql,
            "binlog.000007",
        );
        let err = check(Flavour::MySql, &stored, &other).unwrap_err();
        assert!(err.to_string().contains("gtid_mode=ON"), "{err}");
    }

    #[test]
    fn mysql_gtid_failover_and_unknown_identity() {
        let stored = pos(
            "binlog.000005",
            Some(&format!("{U}/binlog")),
            Some(&format!("{U}:1-100")),
            None,
        );
        let v = "9e11fa47-71ca-11e1-9e33-c80aa9429562";
        let replica = facts(
            &format!("{v}/binlog"),
            Some(&format!("{U}:1-100,\n{v}:1-3")),
            Flavour::MySql,
            "binlog.000002",
        );
        assert!(matches!(
            check(Flavour::MySql, &stored, &replica).unwrap(),
            Continuity::NewServer { .. }
        ));
        let old = pos("binlog.000005", None, Some(&format!("{U}:1-100")), None);
        assert_eq!(
            check(Flavour::MySql, &old, &replica).unwrap(),
            Continuity::Unknown
        );
    }
}
