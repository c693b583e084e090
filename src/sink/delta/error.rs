//! What can go wrong with a Delta table, and which of it a retry may mend.

use deltalake::arrow::error::ArrowError;
use deltalake::kernel::transaction::TransactionError;
use deltalake::parquet::errors::ParquetError;
use deltalake::DeltaTableError;
use thiserror::Error;
use url::Url;

use super::dv::DvError;

#[derive(Debug, Error)]
pub enum TableError {
    #[error("Delta table {uri}: {source}")]
    Delta {
        uri: String,
        // Boxed: keeps every Result carrying a TableError small.
        #[source]
        source: Box<DeltaTableError>,
    },
    #[error("Delta table location `{0}` is not a valid URL or path")]
    Location(String),
    #[error("another writer committed first: {0}")]
    Conflict(String),
    #[error("Delta table {uri}: column `{column}` is {table_type} in the table but the change has {change_type}; the table cannot take it")]
    Incompatible {
        uri: String,
        column: String,
        table_type: String,
        change_type: String,
    },
    #[error("Delta table {uri} has no column `{column}` for the key; it was not made by binlake for this topic")]
    NoKeyColumn { uri: String, column: String },
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    #[error(transparent)]
    Dv(#[from] DvError),
    #[error("object store: {0}")]
    Store(#[from] deltalake::ObjectStoreError),
    /// Where a partition would resume contradicts the table (see [`super::progress`]).
    #[error("{0}")]
    Progress(String),
}

impl TableError {
    /// Whether trying again may help: the store or the network failed
    /// (a timeout, a refused connection, an HTTP 5xx), not the table.
    pub fn is_transient(&self) -> bool {
        let store = match self {
            TableError::Store(e) => Some(e),
            TableError::Delta { source, .. } => match source.as_ref() {
                DeltaTableError::ObjectStore { source } => Some(source),
                DeltaTableError::Io { .. } => return true,
                _ => None,
            },
            _ => None,
        };
        matches!(store, Some(deltalake::ObjectStoreError::Generic { .. }))
    }
}

impl TableError {
    pub(super) fn delta(uri: &Url, source: DeltaTableError) -> TableError {
        if let DeltaTableError::Transaction { source } = &source {
            if matches!(
                source,
                TransactionError::VersionAlreadyExists(_)
                    | TransactionError::CommitConflict(_)
                    | TransactionError::MaxCommitAttempts(_)
            ) {
                return TableError::Conflict(source.to_string());
            }
        }
        TableError::Delta {
            uri: uri.to_string(),
            source: Box::new(source),
        }
    }
}
