//! One replication connection: asks MySQL or MariaDB for its binlog from a
//! position and hands back verified events, never panicking on bad input.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use mysql_async::binlog::events::{Event, RotateEvent};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn, Opts};
use mysql_common::packets::Sid;

use super::gtid::MysqlGtidSet;
use super::position::Position;
use super::SourceError;

/// Which server speaks: the two differ in GTIDs and in how to resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    MariaDb,
    MySql,
}

impl Flavour {
    /// Tells the flavour from `SELECT VERSION()`.
    pub fn from_version(version: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb") {
            Flavour::MariaDb
        } else {
            Flavour::MySql
        }
    }
}

// Raw event type codes the crate does not name or does not parse.
pub const ROTATE: u8 = 4;
pub const FORMAT_DESCRIPTION: u8 = 15;
pub const HEARTBEAT: u8 = 27;
pub const MARIADB_ANNOTATE_ROWS: u8 = 160;
pub const MARIADB_BINLOG_CHECKPOINT: u8 = 161;
pub const MARIADB_GTID: u8 = 162;
pub const MARIADB_GTID_LIST: u8 = 163;
/// MySQL 8's partial JSON update rows (`binlog_row_value_options=PARTIAL_JSON`)
/// and compressed transactions (`binlog_transaction_compression=ON`).
pub const PARTIAL_UPDATE_ROWS: u8 = 39;
pub const TRANSACTION_PAYLOAD: u8 = 40;
/// MariaDB's compressed query and rows events (`log_bin_compress=ON`): the
/// crate returns nothing for them, so a row change would vanish silently.
const MARIADB_COMPRESSED: std::ops::RangeInclusive<u8> = 165..=171;

const ARTIFICIAL_FLAG: u16 = 0x0020;

/// Where events come from: a server, or (in tests) a recorded sequence
/// such as MySQL 8 writes, for servers that cannot run here.
enum Events {
    Live(BinlogStream),
    Recorded(std::collections::VecDeque<Event>),
}

/// A live binlog stream plus the file name it is in.
pub struct BinlogConnection {
    stream: Events,
    /// Current binlog file, tracked through ROTATE events.
    pub file: String,
    verify_checksums: bool,
}

impl BinlogConnection {
    /// Opens a replication connection that starts right after `from`: by
    /// GTID when `from` has a GTID state (it survives rotation, purges and
    /// failover), otherwise by file and position.
    pub async fn open(
        opts: Opts,
        flavour: Flavour,
        server_id: u32,
        heartbeat: Duration,
        from: &Position,
    ) -> Result<Self, SourceError> {
        let mut conn = Conn::new(opts).await.map_err(SourceError::connect)?;
        let heartbeat_ns = heartbeat.as_nanos().min(u64::MAX as u128) as u64;
        let mut setup = vec![format!("SET @master_heartbeat_period = {heartbeat_ns}")];
        if flavour == Flavour::MariaDb {
            // Without capability 4 MariaDB replaces GTID events with dummies.
            setup.push("SET @mariadb_slave_capability = 4".into());
            if let Some(gtid) = from.gtid_set.as_deref() {
                if !gtid
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '-' || c == ',')
                {
                    return Err(SourceError::Position(format!("bad GTID state '{gtid}'")));
                }
                setup.push(format!("SET @slave_connect_state = '{gtid}'"));
                setup.push("SET @slave_gtid_strict_mode = 0".into());
                setup.push("SET @slave_gtid_ignore_duplicates = 0".into());
            }
        }
        for stmt in &setup {
            conn.query_drop(stmt)
                .await
                .map_err(SourceError::query(stmt))?;
        }
        let mut request = BinlogStreamRequest::new(server_id);
        match (flavour, from.gtid_set.as_deref()) {
            (Flavour::MariaDb, Some(_)) => {} // @slave_connect_state says where
            (Flavour::MySql, Some(set)) if !set.is_empty() => {
                // COM_BINLOG_DUMP_GTID: the server sends what the set lacks.
                // One sid block per source and tag (MySQL 8.3+ tags).
                let parsed = MysqlGtidSet::parse(set)
                    .ok_or_else(|| SourceError::Position(format!("bad GTID set '{set}'")))?;
                let sids = parsed
                    .per_source()
                    .iter()
                    .map(|s| s.parse::<Sid<'static>>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| SourceError::Position(format!("bad GTID set '{set}': {e}")))?;
                request = request.with_gtid().with_gtid_set(sids);
            }
            _ => {
                request = request
                    .with_filename(from.file.as_bytes())
                    .with_pos(from.pos)
            }
        }
        let stream = conn
            .get_binlog_stream(request)
            .await
            .map_err(|e| SourceError::Binlog(format!("binlog dump from {from} refused: {e}")))?;
        Ok(BinlogConnection {
            stream: Events::Live(stream),
            file: from.file.clone(),
            verify_checksums: true,
        })
    }

    /// The next event, checksum-verified. `Ok(None)` means the server closed
    /// the stream. ROTATE events are followed here (the caller still sees them).
    pub async fn next_event(&mut self) -> Result<Option<Event>, SourceError> {
        // The crate unwraps on a short packet; turn such a panic into an error
        // so the caller reconnects instead of the process dying.
        let live = match &mut self.stream {
            Events::Live(stream) => stream,
            Events::Recorded(events) => {
                let Some(event) = events.pop_front() else {
                    return Ok(None);
                };
                return self.check(event).map(Some);
            }
        };
        let next = AssertUnwindSafe(live.next()).catch_unwind().await;
        let event = match next {
            Err(_) => {
                return Err(SourceError::Binlog(
                    "corrupt or truncated binlog packet".into(),
                ))
            }
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(stream_error(e)),
            Ok(Some(Ok(event))) => event,
        };
        self.check(event).map(Some)
    }

    /// A recorded sequence of events read as if from `file`.
    pub fn recorded(file: &str, events: Vec<Event>) -> Self {
        BinlogConnection {
            stream: Events::Recorded(events.into()),
            file: file.to_string(),
            verify_checksums: false,
        }
    }

    /// Refuses events binlake cannot read, verifies checksums and follows
    /// rotations.
    fn check(&mut self, event: Event) -> Result<Event, SourceError> {
        let header = event.header();
        let kind = header.event_type_raw();
        if MARIADB_COMPRESSED.contains(&kind) {
            return Err(SourceError::Unsupported(
                "the server writes compressed binlog events (log_bin_compress=ON); \
                 binlake cannot read them: SET GLOBAL log_bin_compress=OFF"
                    .into(),
            ));
        }
        if kind == PARTIAL_UPDATE_ROWS {
            return Err(SourceError::Unsupported(
                "the server writes partial JSON updates (binlog_row_value_options=PARTIAL_JSON); \
                 binlake needs full row images: SET PERSIST binlog_row_value_options=''"
                    .into(),
            ));
        }
        if kind == TRANSACTION_PAYLOAD {
            return Err(SourceError::Unsupported(
                "the server compresses binlog transactions (binlog_transaction_compression=ON); \
                 binlake cannot read them yet: SET PERSIST binlog_transaction_compression=OFF"
                    .into(),
            ));
        }
        if self.verify_checksums && kind != FORMAT_DESCRIPTION {
            self.verify(&event)?;
        }
        if kind == ROTATE {
            let rotate: RotateEvent<'_> = event
                .read_event()
                .map_err(|e| SourceError::Binlog(format!("bad ROTATE event: {e}")))?;
            let name = rotate_file_name(&rotate, header.flags_raw() & ARTIFICIAL_FLAG != 0);
            if !name.is_empty() {
                self.file = name;
            }
        }
        Ok(event)
    }

    fn verify(&self, event: &Event) -> Result<(), SourceError> {
        let (Some(expected), Ok(Some(alg))) = (event.checksum(), event.footer().get_checksum_alg())
        else {
            return Ok(());
        };
        let expected = u32::from_le_bytes(expected);
        let actual = event.calc_checksum(alg);
        if expected != actual && event.header().flags_raw() & ARTIFICIAL_FLAG == 0 {
            return Err(SourceError::Binlog(format!(
                "binlog event checksum mismatch in {} at {} (expected {expected:08x}, got {actual:08x})",
                self.file,
                event.header().log_pos()
            )));
        }
        Ok(())
    }

    pub async fn close(self) {
        if let Events::Live(stream) = self.stream {
            let _ = stream.close().await;
        }
    }
}

/// ER_MASTER_FATAL_ERROR_READING_BINLOG: the server cannot send from the
/// requested position (its file or GTIDs were purged or never existed).
const ER_SOURCE_FATAL_ERROR_READING_BINLOG: u16 = 1236;

/// A stream error. A refused position does not heal by reconnecting: it
/// stops the source with the server's reason, never a silent skip.
fn stream_error(e: mysql_async::Error) -> SourceError {
    match e {
        mysql_async::Error::Server(s) if s.code == ER_SOURCE_FATAL_ERROR_READING_BINLOG => {
            SourceError::History(format!(
                "the server cannot send the binlog from binlake's position: {} \
                 (the binlog holding it was purged or reset, or this server never had it). \
                 Nothing was skipped; if the changes since are gone, start a new pipeline \
                 (a new connector name) with a snapshot",
                s.message
            ))
        }
        e => SourceError::Binlog(e.to_string()),
    }
}

/// The file name of a ROTATE event. The first, artificial one is read before
/// the format description event tells the crate that checksums are on, so
/// its name still carries the 4 checksum bytes.
fn rotate_file_name(rotate: &RotateEvent<'_>, artificial: bool) -> String {
    let raw = rotate.name_raw();
    let raw = if artificial && raw.len() > 4 && !is_binlog_name(raw) {
        &raw[..raw.len() - 4]
    } else {
        raw
    };
    String::from_utf8_lossy(raw).into_owned()
}

/// Binlog names end in `.NNNNNN`: a name with trailing garbage does not.
fn is_binlog_name(raw: &[u8]) -> bool {
    match raw.iter().rposition(|&b| b == b'.') {
        Some(dot) => raw.len() > dot + 1 && raw[dot + 1..].iter().all(u8::is_ascii_digit),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artificial_rotate_name_loses_checksum_bytes() {
        let with_crc = RotateEvent::new(4, &b"mysql-bin.000007\x01\x02\x03\x04"[..]);
        assert_eq!(rotate_file_name(&with_crc, true), "mysql-bin.000007");
        let clean = RotateEvent::new(4, &b"mysql-bin.000007"[..]);
        assert_eq!(rotate_file_name(&clean, true), "mysql-bin.000007");
        assert_eq!(rotate_file_name(&clean, false), "mysql-bin.000007");
    }

    #[test]
    fn flavour_from_version() {
        assert_eq!(
            Flavour::from_version("10.11.19-MariaDB-0+deb12u1-log"),
            Flavour::MariaDb
        );
        assert_eq!(Flavour::from_version("8.4.3"), Flavour::MySql);
    }
}
