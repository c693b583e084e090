//! The schemas the source registers for the live tables, built by the same
//! code the source uses (the snapshot's table reader and
//! [`TableAvroSchemas`]), and writing them to `schemas/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use apache_avro::Schema;

use super::layout;
use super::SchemasError;
use crate::avro::{topic_name, TableAvroSchemas};
use crate::config::Connector;
use crate::source::SourceError;
use crate::wire::{key_subject, value_subject};

/// One subject's schema as the source would register it.
#[derive(Debug, Clone)]
pub struct SubjectSchema {
    pub subject: String,
    /// `db.table`.
    pub table: String,
    pub schema: Schema,
    /// The text the source registers.
    pub registered: String,
}

/// The connector's captured tables, as subjects.
#[derive(Debug, Default)]
pub struct LiveSchemas {
    pub subjects: Vec<SubjectSchema>,
    /// Selected tables whose schema cannot be built (no key, a type binlake
    /// cannot capture), one line each naming the fix.
    pub problems: Vec<String>,
}

/// Reads every table the connector's `[source]` selects and builds its key
/// and value schemas.
pub async fn live_schemas(connector: &Connector) -> Result<LiveSchemas, SchemasError> {
    let Some(source) = &connector.source else {
        return Err(SchemasError::NoSource(format!(
            "{}: no [source] section; the schemas come from the tables a source captures",
            connector.file.display()
        )));
    };
    let pool = mysql_async::Pool::new(crate::source::connect::mysql_opts(source)?);
    let result = async {
        let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
        let flavour = crate::source::server::version(&mut conn).await?.flavour;
        let tables = crate::source::catalog::selected_tables(&mut conn, source)
            .await
            .map_err(SourceError::query("information_schema.TABLES"))?;
        drop(conn);
        let mut live = LiveSchemas::default();
        for (db, table) in tables {
            let t = match crate::source::snapshot::table::load(&pool, flavour, source, &db, &table)
                .await
            {
                Ok(t) => t,
                // A connection problem stops; a table's own problem is listed.
                Err(e @ (SourceError::Connect(_) | SourceError::Query { .. })) => {
                    return Err(e.into())
                }
                Err(e) => {
                    live.problems.push(format!("table {db}.{table}: {e}"));
                    continue;
                }
            };
            let schemas = match TableAvroSchemas::new(&connector.name, &t.schema) {
                Ok(s) => s,
                Err(e) => {
                    live.problems.push(format!("table {db}.{table}: {e}"));
                    continue;
                }
            };
            let topic = topic_name(&connector.name, &t.schema);
            let qualified = t.schema.qualified_name();
            live.subjects.push(SubjectSchema {
                subject: key_subject(&topic),
                table: qualified.clone(),
                schema: schemas.key,
                registered: schemas.key_json,
            });
            live.subjects.push(SubjectSchema {
                subject: value_subject(&topic),
                table: qualified,
                schema: schemas.value,
                registered: schemas.value_json,
            });
        }
        Ok(live)
    }
    .await;
    let _ = pool.disconnect().await;
    result
}

/// What [`write`] did, file by file.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub written: Vec<PathBuf>,
    pub unchanged: Vec<PathBuf>,
    /// Files of the connector's subjects no captured table has any more.
    pub removed: Vec<PathBuf>,
}

/// Writes one file per subject into `dir` (created when missing), leaving
/// files whose content is already right untouched. Files of connector
/// `name`'s subjects that no captured table has are removed, unless a table
/// could not be read (its files stay until it can).
pub fn write(dir: &Path, name: &str, live: &LiveSchemas) -> Result<WriteReport, SchemasError> {
    std::fs::create_dir_all(dir).map_err(SchemasError::io(dir))?;
    let existing = layout::read_dir(dir)?;
    let mut report = WriteReport::default();
    for s in &live.subjects {
        let path = dir.join(layout::file_name(&s.subject));
        let text = layout::render(&s.schema)?;
        if existing.get(&s.subject) == Some(&text) {
            report.unchanged.push(path);
        } else {
            std::fs::write(&path, text).map_err(SchemasError::io(&path))?;
            report.written.push(path);
        }
    }
    if live.problems.is_empty() {
        let current: BTreeSet<&str> = live.subjects.iter().map(|s| s.subject.as_str()).collect();
        for subject in existing.keys() {
            if layout::owned_by(name, subject) && !current.contains(subject.as_str()) {
                let path = dir.join(layout::file_name(subject));
                std::fs::remove_file(&path).map_err(SchemasError::io(&path))?;
                report.removed.push(path);
            }
        }
    }
    Ok(report)
}
