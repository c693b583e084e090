//! Kafka → Delta: records are decoded ([`decode`], through each writer
//! schema's compiled reader, [`envelope`]), laid out as Arrow rows
//! of the table ([`rows`]) and applied to one Delta table per source table
//! ([`delta`]) by the consuming loop ([`runner`]); what cannot be applied
//! goes to the dead-letter topic ([`dlq`]); the Kafka offsets follow,
//! coalesced ([`offsets`]); a TRUNCATE waits for every partition
//! ([`truncate`]).

mod batch;
mod batch_clock;
mod consumer;
pub mod decode;
pub mod defaults;
pub mod delta;
pub mod dlq;
mod envelope;
mod fit;
pub mod freshness;
pub mod offsets;
pub mod predicate;
pub mod rows;
pub mod runner;
pub mod truncate;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SinkError {
    #[error("sink configuration: {0}")]
    Config(String),
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error(transparent)]
    Table(#[from] delta::TableError),
    #[error("cannot lay out the batch as table rows: {0}")]
    Rows(#[from] rows::RowsError),
    /// Records read while their schema fit the table no longer do: the
    /// table was changed outside binlake. They are read again on restart.
    #[error("{0}")]
    Refit(String),
    #[error("stopped")]
    Stopped,
}
