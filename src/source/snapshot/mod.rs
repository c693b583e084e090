//! Existing rows: read in primary-key chunks while the binlog keeps
//! streaming, merged into the stream by the watermark method (DBLog), so no
//! lock is held and writes keep flowing.
//!
//! - [`table`]: a table's schema and how to read its columns;
//! - [`chunk`]: one consistent chunk read and its high watermark;
//! - [`values`]: `SELECT` values → change-event values;
//! - [`window`]: which chunk rows the stream has overtaken;
//! - [`visible`]: on MySQL, a chunk waits until what the stream read is committed;
//! - [`state`]: progress stored with the source position;
//! - [`driver`]: the jobs, read in parallel;
//! - [`merge`]: the stream task's side: windows, emission, progress;
//! - [`signal`]: backfills asked for on `{name}.signals`;
//! - [`progress`]: bar, log lines and metrics.

pub mod chunk;
pub mod driver;
pub mod merge;
pub mod progress;
pub mod signal;
pub mod state;
pub mod table;
pub mod values;
pub mod visible;
pub mod window;

pub use state::{Job, SnapshotState};
