//! The connector file (`connectors/*.toml`): one pipeline per file.
//!
//! [`Connector::load`] reads and checks a file and returns the validated
//! [`Connector`], or [`ConfigErrors`] listing every problem found, each as
//! `FILE:LINE:COL: key `a.b`: what is wrong; how to fix it`.
//!
//! Stages, one module each: `raw` (serde types with spans) → `validate`
//! (semantic checks, with `check_source`, `check_kafka`,
//! `check_sink`, `values`, `patterns`, `duration`, and `${VAR}` expansion
//! from `interpolate`) → `model` (what the rest of binlake uses).
//! `locate` turns serde errors into positions and dotted keys.

mod check_kafka;
mod check_sink;
mod check_source;
mod checker;
mod duration;
mod error;
mod interpolate;
mod load;
mod locate;
mod model;
mod patterns;
mod position;
mod raw;
mod storage;
mod validate;
mod values;

pub use check_sink::{DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_BATCH_ROWS, MAX_BATCH_ROWS};
pub use check_source::DEFAULT_HEARTBEAT;
pub use checker::EnvLookup;
pub use error::{ConfigError, ConfigErrors};
pub use model::{
    Connector, DeleteMode, KafkaConfig, MetricsConfig, MysqlTls, MysqlUrl, PartitionMode,
    RegistryConfig, Secret, SinkConfig, SnapshotMode, SourceConfig, SslMode,
};
pub use patterns::{ColumnPattern, TablePattern};
pub use position::Position;
pub use storage::Provider;

#[cfg(test)]
mod tests;
