//! Everything binlake asks a MySQL or MariaDB server about itself, in the
//! statements that server's version understands: its version, the binlog
//! settings binlake depends on, the end of its binlog, its binary logs and
//! an atomic start position.
//!
//! Result rows are read by column name, never by arity: MySQL's binlog
//! status has 5 columns to MariaDB's 4, and `SHOW BINARY LOGS` gained a
//! third column in MySQL 8.0.14.

use std::fmt;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool, Row, Value};
use tokio::sync::watch;

use super::binlog::Flavour;
use super::position::{compare_file_pos, Position};
use super::SourceError;
use crate::metrics::metrics;

/// The servers binlake runs against, as the refusal of any other names them.
pub const SUPPORTED: &str = "MySQL 8.0, 8.4 LTS and 9.x, and MariaDB 10.5 and later";

/// How often the MariaDB start position is read again when a transaction
/// committed between its two GTID reads.
const START_POSITION_TRIES: u32 = 20;

/// `SELECT VERSION()`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    pub flavour: Flavour,
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// The full text, e.g. `8.4.3` or `10.11.6-MariaDB-0+deb12u1`.
    pub text: String,
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.flavour {
            Flavour::MySql => "MySQL",
            Flavour::MariaDb => "MariaDB",
        };
        write!(f, "{name} {}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl ServerVersion {
    /// Parses `8.0.36`, `8.4.3-commercial`, `9.1.0`, `5.7.44-log`,
    /// `10.11.6-MariaDB-0+deb12u1` or the replication-handshake form
    /// `5.5.5-10.11.6-MariaDB`. `None` when no `major.minor` leads the text.
    pub fn parse(text: &str) -> Option<Self> {
        let flavour = Flavour::from_version(text);
        let mut numbers = text.trim();
        // MariaDB's handshake prefixes a fake 5.5.5 for old clients.
        if flavour == Flavour::MariaDb {
            if let Some(rest) = numbers.strip_prefix("5.5.5-") {
                numbers = rest;
            }
        }
        let numbers = numbers
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap_or("");
        let mut parts = numbers.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next().flatten()?;
        let minor = parts.next().flatten()?;
        let patch = parts.next().flatten().unwrap_or(0);
        Some(ServerVersion {
            flavour,
            major,
            minor,
            patch,
            text: text.to_string(),
        })
    }

    fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Why binlake refuses this server, naming the supported versions;
    /// `None` when it is supported.
    pub fn refusal(&self) -> Option<ServerProblem> {
        let supported = match self.flavour {
            Flavour::MySql => self.at_least(8, 0),
            Flavour::MariaDb => self.at_least(10, 5),
        };
        (!supported).then(|| ServerProblem::Unsupported(self.clone()))
    }

    /// The statement that reports the end of the binlog: MySQL 8.2 added
    /// `SHOW BINARY LOG STATUS` and 8.4 removed `SHOW MASTER STATUS`.
    pub fn status_statement(&self) -> &'static str {
        match self.flavour {
            Flavour::MySql if self.at_least(8, 2) => "SHOW BINARY LOG STATUS",
            _ => "SHOW MASTER STATUS",
        }
    }

    /// The global variables the settings check reads: only those this
    /// server knows.
    fn checked_variables(&self) -> &'static [&'static str] {
        match self.flavour {
            Flavour::MySql => &[
                "log_bin",
                "binlog_format",
                "binlog_row_image",
                "binlog_row_metadata",
                "binlog_transaction_compression",
                "binlog_row_value_options",
            ],
            Flavour::MariaDb => &[
                "log_bin",
                "binlog_format",
                "binlog_row_image",
                "binlog_row_metadata",
                "log_bin_compress",
            ],
        }
    }
}

/// A result row with its column names, read by name (case-insensitive).
#[derive(Debug, Clone)]
pub struct NamedRow {
    names: Vec<String>,
    values: Vec<Value>,
}

impl NamedRow {
    pub fn new(names: Vec<String>, values: Vec<Value>) -> Self {
        NamedRow { names, values }
    }

    pub fn from_row(row: Row) -> Self {
        let names = row
            .columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        NamedRow {
            names,
            values: row.unwrap(),
        }
    }

    fn value(&self, name: &str) -> Option<&Value> {
        let i = self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        self.values.get(i)
    }

    /// The column as text; `None` when the server has no such column or it
    /// is NULL.
    pub fn opt_text(&self, name: &str) -> Option<String> {
        match self.value(name)? {
            Value::NULL => None,
            v => mysql_async::from_value_opt::<String>(v.clone()).ok(),
        }
    }

    pub fn text(&self, name: &str) -> Result<String, String> {
        self.opt_text(name).ok_or_else(|| self.missing(name))
    }

    pub fn u64(&self, name: &str) -> Result<u64, String> {
        let v = self.value(name).ok_or_else(|| self.missing(name))?;
        mysql_async::from_value_opt::<u64>(v.clone())
            .map_err(|_| format!("column {name} is not a number ({v:?})"))
    }

    fn missing(&self, name: &str) -> String {
        format!(
            "no column {name} in the result (columns: {})",
            self.names.join(", ")
        )
    }
}

/// Runs `stmt` and returns its rows with their column names.
async fn named_rows(conn: &mut Conn, stmt: &str) -> Result<Vec<NamedRow>, SourceError> {
    let rows: Vec<Row> = conn.query(stmt).await.map_err(SourceError::query(stmt))?;
    Ok(rows.into_iter().map(NamedRow::from_row).collect())
}

fn column_error(stmt: &str) -> impl FnOnce(String) -> SourceError + '_ {
    SourceError::query(stmt)
}

/// The server's version.
pub async fn version(conn: &mut Conn) -> Result<ServerVersion, SourceError> {
    let stmt = "SELECT VERSION()";
    let text: Option<String> = conn
        .query_first(stmt)
        .await
        .map_err(SourceError::query(stmt))?;
    let text = text.unwrap_or_default();
    ServerVersion::parse(&text).ok_or_else(|| {
        SourceError::Unsupported(format!(
            "cannot read the server version from '{text}': binlake supports {SUPPORTED}"
        ))
    })
}

/// The end of the server's binlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogStatus {
    pub file: String,
    pub pos: u64,
    /// MySQL's `Executed_Gtid_Set` without its line breaks; `None` on
    /// MariaDB and when GTIDs are off.
    pub executed_gtid_set: Option<String>,
}

impl BinlogStatus {
    /// Reads a status row by column name: `File`, `Position` and, on MySQL,
    /// `Executed_Gtid_Set`.
    pub fn from_row(row: &NamedRow) -> Result<Self, String> {
        Ok(BinlogStatus {
            file: row.text("File")?,
            pos: row.u64("Position")?,
            executed_gtid_set: row
                .opt_text("Executed_Gtid_Set")
                .map(|g| g.replace(['\n', '\r', ' '], ""))
                .filter(|g| !g.is_empty()),
        })
    }
}

/// `SHOW BINARY LOG STATUS` (MySQL 8.2+) or `SHOW MASTER STATUS`.
pub async fn binlog_status(
    conn: &mut Conn,
    version: &ServerVersion,
) -> Result<BinlogStatus, SourceError> {
    let stmt = version.status_statement();
    let rows = named_rows(conn, stmt).await?;
    let row = rows.first().ok_or_else(|| {
        SourceError::ServerConfig(format!(
            "{stmt} is empty: the binlog is off (set log_bin=ON)"
        ))
    })?;
    BinlogStatus::from_row(row).map_err(column_error(stmt))
}

/// The end of the binlog as `(file, pos)`, on a connection whose server
/// version is not known yet.
pub async fn end_of_binlog(conn: &mut Conn) -> Result<(String, u64), SourceError> {
    let v = version(conn).await?;
    let status = binlog_status(conn, &v).await?;
    Ok((status.file, status.pos))
}

/// Reads `SHOW BINARY LOGS` rows by name: `Log_name`, `File_size` (MySQL
/// 8.0.14+ adds `Encrypted`).
pub fn binary_log_sizes(rows: &[NamedRow]) -> Result<Vec<(String, u64)>, String> {
    rows.iter()
        .map(|r| Ok((r.text("Log_name")?, r.u64("File_size")?)))
        .collect()
}

/// `SHOW BINARY LOGS`: each binlog file with its size, oldest first.
pub async fn binary_logs(conn: &mut Conn) -> Result<Vec<(String, u64)>, SourceError> {
    let stmt = "SHOW BINARY LOGS";
    let rows = named_rows(conn, stmt).await?;
    binary_log_sizes(&rows).map_err(column_error(stmt))
}

/// Where a new pipeline starts: the end of the binlog and the GTID state
/// at exactly that point, so no transaction falls between the two.
pub async fn start_position(
    conn: &mut Conn,
    version: &ServerVersion,
) -> Result<Position, SourceError> {
    match version.flavour {
        // One row carries file, position and executed set together.
        Flavour::MySql => {
            let s = binlog_status(conn, version).await?;
            Ok(Position {
                file: s.file,
                pos: s.pos,
                gtid_set: s.executed_gtid_set,
                ..Position::default()
            })
        }
        // The status has no GTID: read the GTID state on both sides of it;
        // when the two agree, nothing committed in between.
        Flavour::MariaDb => {
            let stmt = "SELECT @@GLOBAL.gtid_binlog_pos";
            for attempt in 0..START_POSITION_TRIES {
                let before: Option<String> = conn
                    .query_first(stmt)
                    .await
                    .map_err(SourceError::query(stmt))?;
                let s = binlog_status(conn, version).await?;
                let after: Option<String> = conn
                    .query_first(stmt)
                    .await
                    .map_err(SourceError::query(stmt))?;
                if before == after {
                    return Ok(Position {
                        file: s.file,
                        pos: s.pos,
                        gtid_set: after.filter(|g| !g.is_empty()),
                        ..Position::default()
                    });
                }
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt + 1))).await;
            }
            Err(SourceError::Position(format!(
                "the server's GTID position moved during each of {START_POSITION_TRIES} reads of \
                 the start position; retry when it is less busy"
            )))
        }
    }
}

/// One reason binlake cannot run against a server; it prints as one line
/// that names the fix (`check` prints each, the source refuses to start
/// with all of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerProblem {
    /// A version binlake does not support: the only problem given for it.
    Unsupported(ServerVersion),
    /// A setting whose value is not the one binlake needs.
    Setting {
        name: &'static str,
        /// The server's value, upper-cased.
        found: String,
        want: &'static str,
        why: &'static str,
    },
    /// A setting binlake needs that this server does not have.
    UnknownSetting {
        name: &'static str,
        want: &'static str,
    },
    /// A setting that makes the binlog unreadable to binlake.
    Unreadable {
        /// `name=VALUE` as the server has it.
        setting: &'static str,
        why: &'static str,
        fix: &'static str,
    },
}

impl fmt::Display for ServerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerProblem::Unsupported(v) => {
                let eol = match (v.flavour, v.major) {
                    (Flavour::MySql, 5) => " (MySQL 5.7 and older are past their end of life)",
                    _ => "",
                };
                write!(
                    f,
                    "{v} is not supported{eol}: binlake supports {SUPPORTED}; upgrade the server"
                )
            }
            ServerProblem::Setting {
                name,
                found,
                want,
                why,
            } => write!(f, "MySQL setting {name}={found} (set {name}={want}); {why}"),
            ServerProblem::UnknownSetting { name, want } => write!(
                f,
                "MySQL setting {name} is unknown to this server (binlake needs {name}={want}); \
                 binlake supports {SUPPORTED}"
            ),
            ServerProblem::Unreadable { setting, why, fix } => {
                write!(f, "MySQL setting {setting}: {why}; {fix}")
            }
        }
    }
}

/// The server's version and every reason binlake cannot run against it.
/// An unsupported version is the only reason given for it.
pub async fn check(conn: &mut Conn) -> Result<(ServerVersion, Vec<ServerProblem>), SourceError> {
    let v = version(conn).await?;
    if let Some(refusal) = v.refusal() {
        return Ok((v, vec![refusal]));
    }
    let names = v.checked_variables();
    let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    let stmt = format!(
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN ({})",
        list.join(",")
    );
    let rows = named_rows(conn, &stmt).await?;
    let mut vars = Vec::new();
    for r in &rows {
        let name = r.text("Variable_name").map_err(column_error(&stmt))?;
        vars.push((name, r.opt_text("Value").unwrap_or_default()));
    }
    Ok((v, settings_problems(&vars)))
}

/// The settings binlake depends on, from `(Variable_name, Value)` pairs of
/// the variables [`ServerVersion::checked_variables`] names.
pub fn settings_problems(vars: &[(String, String)]) -> Vec<ServerProblem> {
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_uppercase())
    };
    let mut problems = Vec::new();
    for (name, want, why) in [
        (
            "log_bin",
            "ON",
            "without the binlog there is nothing to capture",
        ),
        (
            "binlog_format",
            "ROW",
            "statement or mixed binlogs carry no row images",
        ),
        (
            "binlog_row_image",
            "FULL",
            "without full images updates and deletes lose columns",
        ),
        (
            "binlog_row_metadata",
            "FULL",
            "without it column names cannot be tracked",
        ),
    ] {
        match get(name) {
            Some(v) if v == want => {}
            Some(found) => problems.push(ServerProblem::Setting {
                name,
                found,
                want,
                why,
            }),
            None => problems.push(ServerProblem::UnknownSetting { name, want }),
        }
    }
    if get("log_bin_compress").as_deref() == Some("ON") {
        problems.push(ServerProblem::Unreadable {
            setting: "log_bin_compress=ON",
            why: "binlake cannot read compressed events",
            fix: "SET GLOBAL log_bin_compress=OFF",
        });
    }
    if get("binlog_transaction_compression").as_deref() == Some("ON") {
        problems.push(ServerProblem::Unreadable {
            setting: "binlog_transaction_compression=ON",
            why: "binlake cannot read compressed transaction payloads",
            fix: "SET PERSIST binlog_transaction_compression=OFF",
        });
    }
    if get("binlog_row_value_options").is_some_and(|v| v.contains("PARTIAL_JSON")) {
        problems.push(ServerProblem::Unreadable {
            setting: "binlog_row_value_options=PARTIAL_JSON",
            why: "JSON updates are written as diffs, not whole values",
            fix: "SET PERSIST binlog_row_value_options=''",
        });
    }
    problems
}

/// The server's flavour after checking its version and settings; every
/// problem found is in the error.
pub async fn check_server(pool: &Pool) -> Result<Flavour, SourceError> {
    let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
    let (version, problems) = check(&mut conn).await?;
    if problems.is_empty() {
        return Ok(version.flavour);
    }
    // The error is one message: its problems on one line.
    let text = problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if problems
        .iter()
        .any(|p| matches!(p, ServerProblem::Unsupported(_)))
    {
        Err(SourceError::Unsupported(text))
    } else {
        Err(SourceError::ServerConfig(text))
    }
}

/// The server's current end of binlog, where a new pipeline starts.
pub async fn current_position(pool: &Pool) -> Result<Position, SourceError> {
    let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
    let v = version(&mut conn).await?;
    start_position(&mut conn, &v).await
}

/// Keeps `binlake_source_binlog_bytes_behind` current: the sizes of the
/// server's binlogs after the source's position. Ends with the runtime.
pub async fn report_bytes_behind(pool: Pool, mut position: watch::Receiver<Position>) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let at = position.borrow_and_update().clone();
        if at.file.is_empty() {
            continue;
        }
        let logs = async {
            let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
            binary_logs(&mut conn).await
        }
        .await;
        match logs {
            Ok(logs) => metrics()
                .source_binlog_bytes_behind
                .set(bytes_behind(logs.into_iter(), &at) as i64),
            Err(e) => tracing::debug!(error = %e, "SHOW BINARY LOGS failed"),
        }
    }
}

/// Bytes from `at` to the end of the last binlog.
pub fn bytes_behind(logs: impl Iterator<Item = (String, u64)>, at: &Position) -> u64 {
    logs.map(
        |(file, size)| match compare_file_pos((&file, 0), (&at.file, 0)) {
            std::cmp::Ordering::Less => 0,
            std::cmp::Ordering::Equal => size.saturating_sub(at.pos),
            std::cmp::Ordering::Greater => size,
        },
    )
    .sum()
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
