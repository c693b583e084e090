//! `schemas/`: the key and value schema of every captured table, one file
//! per subject (`{subject}.avsc`), written from the live tables and kept in
//! git beside the connector files.
//!
//! - [`layout`]: file names, reading a directory, the file text;
//! - [`live`]: the schemas the source would register for the live tables,
//!   and writing them out;
//! - [`ci`]: the offline check of a change to `schemas/` against its base
//!   at each subject's compatibility level;
//! - [`git`]: the base versions of `schemas/` at a git revision;
//! - [`drift`]: what `binlake check` reports when the live tables and
//!   `schemas/` differ.

pub mod ci;
pub mod drift;
pub mod git;
pub mod layout;
pub mod live;

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SchemasError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`git {args}` failed: {why}")]
    Git { args: String, why: String },
    #[error("{0}")]
    NoSource(String),
    #[error("cannot read the live tables: {0}")]
    Source(#[from] crate::source::SourceError),
    #[error("cannot write a schema as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl SchemasError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SchemasError {
        let path = path.into();
        move |source| SchemasError::Io { path, source }
    }
}
