//! What can stop the source, each with what to do next.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot connect to MySQL: {0}; check [source].url, the password variable and that the server is up")]
    Connect(String),
    #[error("MySQL query `{stmt}` failed: {message}")]
    Query { stmt: String, message: String },
    #[error("binlog stream: {0}")]
    Binlog(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("source position: {0}")]
    Position(String),
    /// The server's binlog history is not the one the stored position is
    /// in (a failover without GTIDs, `RESET MASTER`, a restore): resuming
    /// could skip changes, so the source stops.
    #[error("binlog history changed: {0}")]
    History(String),
    #[error("{0}")]
    Decode(String),
    /// A decoded change that does not fit its own Avro schema: a defect in
    /// binlake's schema or decoding, not in the data or the server.
    #[error("cannot encode the change as Avro: {0}")]
    Encode(#[from] crate::avro::encode::EncodeError),
    /// A backfill marker that cannot be written as JSON.
    #[error("cannot write the backfill marker: {0}")]
    Marker(#[source] serde_json::Error),
    /// A selected table binlake cannot capture as it is (missing, no key,
    /// a key column that does not exist or is excluded).
    #[error("table: {0}")]
    Table(String),
    /// The connector file cannot run a source (no `[source]` section).
    #[error("connector file: {0}")]
    Config(String),
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("schema registry: {0}")]
    Registry(String),
    #[error("schema registry unavailable: {0}")]
    RegistryUnavailable(String),
    #[error("MySQL server misconfigured: {0}")]
    ServerConfig(String),
    /// The server refused a snapshot query: a bad `--where`, a dropped table.
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// A DDL statement changed the table between its shape being read and
    /// a chunk being read: read the shape again, then the chunk.
    #[error("{0}: the table's columns changed while it was being snapshotted")]
    ShapeChanged(String),
}

impl SourceError {
    pub fn connect(e: impl std::fmt::Display) -> Self {
        SourceError::Connect(e.to_string())
    }

    /// A closure for `map_err` that names the statement that failed.
    pub fn query<E: std::fmt::Display>(stmt: &str) -> impl FnOnce(E) -> Self + '_ {
        move |e| SourceError::Query {
            stmt: stmt.to_string(),
            message: e.to_string(),
        }
    }

    /// Whether reconnecting may help (the server or network went away), as
    /// opposed to a problem that needs a person.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SourceError::Connect(_)
                | SourceError::Binlog(_)
                | SourceError::Kafka(_)
                | SourceError::RegistryUnavailable(_)
        )
    }

    /// Whether the error came from the Kafka/registry side: the writer's
    /// view of what Kafka holds is then unknown and it must be rebuilt.
    pub fn is_writer(&self) -> bool {
        matches!(
            self,
            SourceError::Kafka(_) | SourceError::Registry(_) | SourceError::RegistryUnavailable(_)
        )
    }
}

impl From<crate::kafka::KafkaError> for SourceError {
    fn from(e: crate::kafka::KafkaError) -> Self {
        match e {
            crate::kafka::KafkaError::Config { .. } | crate::kafka::KafkaError::Rejected { .. } => {
                SourceError::Unsupported(e.to_string())
            }
            e => SourceError::Kafka(e.to_string()),
        }
    }
}
