//! The validated connector: what the rest of binlake reads. Every value has
//! been checked, defaults are filled in and `${VAR}`s are expanded.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::patterns::{ColumnPattern, TablePattern};
pub use crate::registry::compat::Level;

/// One pipeline, as described by one connector file.
#[derive(Debug, Clone)]
pub struct Connector {
    /// The file it was loaded from.
    pub file: PathBuf,
    /// Topic prefix, consumer group and Delta app id (`[A-Za-z0-9._-]`, at
    /// most 200 characters).
    pub name: String,
    /// `[source]`: the database side; `None` in a sink-only file.
    pub source: Option<SourceConfig>,
    /// `[kafka]`: always present (a valid file has a source or a sink).
    pub kafka: KafkaConfig,
    /// `[registry]`: always present, as `kafka`.
    pub registry: RegistryConfig,
    /// `[sink]`: the Delta side; `None` in a source-only (sidecar) file.
    pub sink: Option<SinkConfig>,
    /// `[metrics]`: where to serve `/metrics`, `/healthz`, `/readyz`.
    pub metrics: Option<MetricsConfig>,
}

impl Connector {
    /// The Kafka topic of a table: `{name}.{db}.{table}`, characters Kafka
    /// rejects replaced by `_`.
    pub fn topic_for(&self, db: &str, table: &str) -> String {
        crate::wire::table_topic(&self.name, db, table)
    }

    /// The compacted topic holding the source position: `{name}.offsets`.
    pub fn offsets_topic(&self) -> String {
        crate::wire::offsets_topic(&self.name)
    }
}

/// `[source]`: which MySQL/MariaDB server to follow and which tables.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Where to connect (from `url`).
    pub url: MysqlUrl,
    /// Name of the environment variable holding the password.
    pub password_env: String,
    /// The password, read from `password_env` by [`Connector::load`];
    /// `None` after [`Connector::load_offline`].
    pub password: Option<Secret>,
    /// Replication client id; must differ from every other replica's.
    pub server_id: u32,
    /// Include patterns (`DB.TABLE` globs); never empty.
    pub tables: Vec<TablePattern>,
    /// Exclude patterns, applied after `tables`.
    pub exclude_tables: Vec<TablePattern>,
    /// Columns never captured (`DB.TABLE.COLUMN` globs).
    pub exclude_columns: Vec<ColumnPattern>,
    /// Key columns of tables without a primary key, by (db, table).
    pub key_columns: BTreeMap<(String, String), Vec<String>>,
    /// Whether to snapshot existing rows before streaming.
    pub snapshot: SnapshotMode,
    /// Rows per snapshot chunk (one primary-key range read per query).
    pub snapshot_chunk_rows: usize,
    /// Tables (or key ranges) snapshotted at once.
    pub snapshot_parallelism: usize,
    /// Heartbeat period (default 10 s).
    pub heartbeat: Duration,
}

impl SourceConfig {
    /// Whether `db`.`table` is captured: it matches an include pattern and
    /// no exclude pattern.
    pub fn table_selected(&self, db: &str, table: &str) -> bool {
        self.tables.iter().any(|p| p.matches(db, table))
            && !self.exclude_tables.iter().any(|p| p.matches(db, table))
    }

    /// Whether `column` of `db`.`table` is left out of the events.
    pub fn column_excluded(&self, db: &str, table: &str, column: &str) -> bool {
        self.exclude_columns
            .iter()
            .any(|p| p.matches(db, table, column))
    }

    /// The configured key columns of `db`.`table`, if any.
    pub fn key_columns_for(&self, db: &str, table: &str) -> Option<&[String]> {
        self.key_columns
            .get(&(db.to_string(), table.to_string()))
            .map(Vec::as_slice)
    }
}

/// The parts of a `mysql://USER@HOST:PORT[/DB]` URL (never a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port (default 3306).
    pub port: u16,
    /// User name.
    pub user: String,
    /// Default database, when the URL has a path.
    pub database: Option<String>,
    /// TLS, from the URL's `ssl-mode`, `ssl-ca`, `ssl-cert` and `ssl-key`.
    pub tls: MysqlTls,
}

/// `ssl-mode`, as MySQL's own clients name the modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    #[default]
    Disabled,
    /// Encrypted; the server's certificate is not checked.
    Required,
    /// Encrypted; the certificate must chain to a trusted CA and name the
    /// host connected to (or `ssl-hostname`).
    VerifyIdentity,
}

/// TLS to MySQL: the mode and the PEM files it uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqlTls {
    pub mode: SslMode,
    /// Trusted CA certificates; without it, the public web roots.
    pub ca: Option<std::path::PathBuf>,
    /// A client certificate (chain) and its key, for servers that ask for one.
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
    /// The name the server's certificate must carry, when it is not the
    /// host in the URL (a CNAME, a tunnel, an IP address).
    pub hostname: Option<String>,
}

/// A secret read from the environment; `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret itself, for handing to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `source.snapshot`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Read the existing rows first (op `r`), then stream. The default.
    #[default]
    Initial,
    /// Stream from the current binlog position only.
    Never,
}

/// `[kafka]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, each `HOST:PORT`.
    pub brokers: Vec<String>,
    /// Extra librdkafka properties, values as text.
    pub options: BTreeMap<String, String>,
    /// Write changes and the source position in Kafka transactions instead
    /// of the idempotent producer with tail-based de-duplication (the
    /// default, and the path this project's tests run).
    pub transactions: bool,
}

impl KafkaConfig {
    /// The brokers as librdkafka's `bootstrap.servers` wants them.
    pub fn bootstrap_servers(&self) -> String {
        self.brokers.join(",")
    }
}

/// `[registry]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Base URL of the Confluent-compatible schema registry, without a
    /// trailing slash (so `format!("{url}/subjects")` works).
    pub url: String,
    /// The compatibility level `schemas/` changes are held to (default
    /// BACKWARD, the registry's own default).
    pub compatibility: Level,
    /// Levels of single subjects, overriding `compatibility`.
    pub subject_compatibility: BTreeMap<String, Level>,
}

impl RegistryConfig {
    /// The compatibility level of `subject`.
    pub fn level_of(&self, subject: &str) -> Level {
        self.subject_compatibility
            .get(subject)
            .copied()
            .unwrap_or(self.compatibility)
    }
}

/// `[sink]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    /// Delta table location template with `{table}` and optionally `{db}`.
    pub table_uri: String,
    /// Longest wait before a batch is committed (default 5 s).
    pub flush_interval: Duration,
    /// Most rows in one batch (default 100 000).
    pub max_batch_rows: usize,
    /// What a delete does to the Delta row.
    pub deletes: DeleteMode,
    /// Files unreferenced for longer than this are deleted by VACUUM
    /// (default 7 days: readers of older versions keep working that long).
    pub vacuum_retention: Duration,
    /// How often each table is vacuumed (default 1 h).
    pub vacuum_interval: Duration,
    /// New tables mark replaced rows in deletion vectors (default) instead
    /// of rewriting the files that hold them.
    pub deletion_vectors: bool,
    /// How the sink finds the partitions it reads.
    pub partitions: PartitionMode,
    /// `[sink.storage]`: non-secret object-store options for delta-rs
    /// (endpoint, region, allow_http, …); credentials come from the
    /// provider's environment.
    pub storage: BTreeMap<String, String>,
}

impl SinkConfig {
    /// The Delta table location of `db`.`table`.
    pub fn table_uri_for(&self, db: &str, table: &str) -> String {
        // One pass, so a db name containing "{table}" is not substituted again.
        let mut out = String::with_capacity(self.table_uri.len() + db.len() + table.len());
        let mut rest = self.table_uri.as_str();
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let after = &rest[i..];
            if let Some(r) = after.strip_prefix("{db}") {
                out.push_str(db);
                rest = r;
            } else if let Some(r) = after.strip_prefix("{table}") {
                out.push_str(table);
                rest = r;
            } else {
                out.push('{');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        out
    }
}

/// `sink.deletes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeleteMode {
    /// Remove the row. The default.
    #[default]
    Hard,
    /// Keep the row with `__deleted = true`.
    Soft,
}

/// `sink.partitions`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PartitionMode {
    /// Sinks share the table topics' partitions through consumer group
    /// `{name}`. The default.
    #[default]
    Group,
    /// This sink reads every partition of every table topic itself, found
    /// by listing the broker's topics, with no group membership: one sink
    /// per connector, on brokers whose group coordinator cannot be relied on.
    All,
}

/// `[metrics]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Address of the HTTP server for metrics and health.
    pub listen: SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(template: &str) -> SinkConfig {
        SinkConfig {
            table_uri: template.into(),
            flush_interval: Duration::from_secs(5),
            max_batch_rows: 1,
            vacuum_retention: Duration::from_secs(3600),
            vacuum_interval: Duration::from_secs(0),
            deletion_vectors: true,
            deletes: DeleteMode::Hard,
            partitions: PartitionMode::Group,
            storage: BTreeMap::new(),
        }
    }

    #[test]
    fn table_uri_for_fills_placeholders_once() {
        let s = sink("s3://bucket/{db}/{table}");
        assert_eq!(s.table_uri_for("shop", "orders"), "s3://bucket/shop/orders");
        assert_eq!(s.table_uri_for("{table}", "t"), "s3://bucket/{table}/t");
        assert_eq!(sink("/d/{table}_{table}").table_uri_for("a", "b"), "/d/b_b");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
