//! How `schemas/` is laid out: `{subject}.avsc` per subject, the schema as
//! pretty-printed JSON in the field order the registry receives it.

use std::collections::BTreeMap;
use std::path::Path;

use apache_avro::Schema;
use serde::Serialize;
use serde_json::Value as Json;

use super::SchemasError;
use crate::wire;

/// The extension of a schema file.
pub const EXTENSION: &str = "avsc";

/// `{subject}.avsc`.
pub fn file_name(subject: &str) -> String {
    format!("{subject}.{EXTENSION}")
}

/// Whether the subject is a key subject (`-key`), a value subject
/// (`-value`), or neither (`None`).
pub fn subject_kind(subject: &str) -> Option<SubjectKind> {
    if subject.ends_with("-key") {
        Some(SubjectKind::Key)
    } else if subject.ends_with("-value") {
        Some(SubjectKind::Value)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    Key,
    Value,
}

impl SubjectKind {
    /// The simple name of the record a subject of this kind holds.
    pub fn record_name(self) -> &'static str {
        match self {
            SubjectKind::Key => "Key",
            SubjectKind::Value => "Envelope",
        }
    }
}

/// Whether `subject` is one of connector `name`'s: a table topic's
/// [`wire::key_subject`] or [`wire::value_subject`]. Databases and tables
/// whose names hold a dot cannot be told from a longer connector name, and
/// are not counted.
pub fn owned_by(name: &str, subject: &str) -> bool {
    let topic = subject
        .strip_suffix("-key")
        .or_else(|| subject.strip_suffix("-value"));
    topic.is_some_and(|t| wire::is_table_topic(name, t))
}

/// The file text of a schema: pretty JSON, two-space indent, in
/// apache_avro's field order (the order of the text the source registers),
/// with a final newline so diffs stay clean.
pub fn render(schema: &Schema) -> Result<String, SchemasError> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"  ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    schema.serialize(&mut ser)?;
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.push('\n');
    Ok(text)
}

/// Whether two schema texts are the same JSON document (layout and key
/// order aside). Text that is not JSON equals nothing.
pub fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Json>(a),
        serde_json::from_str::<Json>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Every `*.avsc` file of `dir` as subject → text; empty when `dir` does not
/// exist. Other files (a README) are left alone.
pub fn read_dir(dir: &Path) -> Result<BTreeMap<String, String>, SchemasError> {
    let mut files = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(SchemasError::io(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(SchemasError::io(dir))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(subject) = name.strip_suffix(&format!(".{EXTENSION}")) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(SchemasError::io(&path))?;
        files.insert(subject.to_string(), text);
    }
    Ok(files)
}

/// Parses a schema file's text.
pub fn parse(text: &str) -> Result<Schema, String> {
    Schema::parse_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_belong_to_their_connector_only() {
        assert!(owned_by("shop", "shop.shop.customers-key"));
        assert!(owned_by("shop", "shop.shop.customers-value"));
        assert!(!owned_by("shop", "shop.eu.shop.customers-value"));
        assert!(owned_by("shop.eu", "shop.eu.shop.customers-value"));
        assert!(!owned_by("shop", "shopx.shop.customers-key"));
        assert!(!owned_by("shop", "shop.shop.customers"));
        assert!(!owned_by("shop", "shop.customers-key"));
    }

    #[test]
    fn subject_kinds() {
        assert_eq!(subject_kind("a.b.c-key"), Some(SubjectKind::Key));
        assert_eq!(subject_kind("a.b.c-value"), Some(SubjectKind::Value));
        assert_eq!(subject_kind("a.b.c"), None);
    }

    #[test]
    fn rendered_text_is_the_registered_schema_pretty_printed() {
        let registered = r#"{"type":"record","name":"Key","namespace":"s.d.t","fields":[{"name":"id","type":"long","default":0}]}"#;
        let schema = Schema::parse_str(registered).unwrap();
        let text = render(&schema).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.starts_with("{\n  \"type\": \"record\",\n"), "{text}");
        assert!(same_json(&text, &serde_json::to_string(&schema).unwrap()));
        assert!(!same_json(
            &text,
            registered.replace("long", "int").as_str()
        ));
        assert!(!same_json(&text, "not json"));
        assert_eq!(parse(&text).unwrap(), schema);
    }

    #[test]
    fn read_dir_takes_avsc_files_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.b.c-key.avsc"), "{}").unwrap();
        std::fs::write(dir.path().join("README.md"), "x").unwrap();
        let files = read_dir(dir.path()).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), vec!["a.b.c-key"]);
        assert!(read_dir(&dir.path().join("missing")).unwrap().is_empty());
    }
}
