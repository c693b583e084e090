//! Drift between the live tables and `schemas/`, for `binlake check`: a
//! table altered since its files were written, a captured table without
//! files, files of a table no longer captured.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value as Json;

use super::layout::{self, SubjectKind};
use super::live::{live_schemas, LiveSchemas};
use crate::config::Connector;

/// One line per difference, naming the fix; empty when `dir` agrees with
/// the live tables, or holds no file of this connector (then `schemas/` is
/// not kept for it).
pub async fn drift(connector: &Connector, dir: &Path) -> Vec<String> {
    let files = match layout::read_dir(dir) {
        Ok(f) => f,
        Err(e) => return vec![format!("schemas: {e}")],
    };
    let prefix = format!("{}.", connector.name);
    if connector.source.is_none() || !files.keys().any(|s| s.starts_with(&prefix)) {
        return Vec::new();
    }
    match live_schemas(connector).await {
        Ok(live) => compare(connector, dir, &files, &live),
        Err(e) => vec![format!(
            "schemas: cannot compare {} with the live tables: {e}",
            dir.display()
        )],
    }
}

/// The lines [`drift`] prints, from files and live schemas already read.
pub fn compare(
    connector: &Connector,
    dir: &Path,
    files: &std::collections::BTreeMap<String, String>,
    live: &LiveSchemas,
) -> Vec<String> {
    let fix = format!(
        "run `binlake schemas write {}` and commit {}",
        connector.file.display(),
        dir.display()
    );
    let mut out = Vec::new();
    for s in &live.subjects {
        let path = dir.join(layout::file_name(&s.subject));
        match files.get(&s.subject) {
            None => out.push(format!(
                "table {}: {} is missing (subject {}); {fix}",
                s.table,
                path.display(),
                s.subject
            )),
            Some(text) if !layout::same_json(text, &s.registered) => {
                let kind = layout::subject_kind(&s.subject).unwrap_or(SubjectKind::Value);
                let changes = field_changes(text, &s.registered, kind);
                out.push(format!(
                    "table {}: the live table differs from {} ({}); {fix}",
                    s.table,
                    path.display(),
                    if changes.is_empty() {
                        "the schemas differ".to_string()
                    } else {
                        changes.join(", ")
                    }
                ));
            }
            Some(_) => {}
        }
    }
    // A table listed in `problems` could not be read, so which files are
    // stale is unknown until it can.
    if !live.problems.is_empty() {
        return out;
    }
    let live_subjects: BTreeSet<&str> = live.subjects.iter().map(|s| s.subject.as_str()).collect();
    for subject in files.keys() {
        if layout::owned_by(&connector.name, subject) && !live_subjects.contains(subject.as_str()) {
            out.push(format!(
                "{}: no captured table has subject {subject}; {fix}",
                dir.join(layout::file_name(subject)).display()
            ));
        }
    }
    out
}

/// The fields of the row record (`{ns}.Value` in a value subject, the key
/// record in a key subject) that were added, removed or changed between two
/// schema texts, as `added `x``, `removed `y``, `changed `z``.
pub fn field_changes(old: &str, new: &str, kind: SubjectKind) -> Vec<String> {
    let fields = |text: &str| -> Vec<(String, Json)> {
        let doc: Json = serde_json::from_str(text).unwrap_or(Json::Null);
        let record = match kind {
            SubjectKind::Key => &doc,
            // `before` is ["null", {Value record}].
            SubjectKind::Value => &doc["fields"][0]["type"][1],
        };
        record["fields"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        (
                            f["name"].as_str().unwrap_or_default().to_string(),
                            f.clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old, new) = (fields(old), fields(new));
    let mut changes = Vec::new();
    for (name, f) in &new {
        match old.iter().find(|(n, _)| n == name) {
            None => changes.push(format!("added `{name}`")),
            Some((_, o)) if o != f => changes.push(format!(
                "changed `{name}` from {} to {}",
                describe(o),
                describe(f)
            )),
            Some(_) => {}
        }
    }
    for (name, _) in &old {
        if !new.iter().any(|(n, _)| n == name) {
            changes.push(format!("removed `{name}`"));
        }
    }
    changes
}

/// A field's type and default, compactly.
fn describe(field: &Json) -> String {
    match field.get("default") {
        Some(d) => format!("{} (default {d})", field["type"]),
        None => field["type"].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r#"{"type":"record","name":"Envelope","fields":[{"name":"before","type":["null",
        {"type":"record","name":"Value","fields":[{"name":"id","type":"long","default":0},
        {"name":"n","type":"int","default":0},{"name":"gone","type":"string","default":""}]}]}]}"#;

    #[test]
    fn changes_name_the_fields() {
        let new = OLD
            .replace(
                r#"{"name":"n","type":"int","default":0}"#,
                r#"{"name":"n","type":"long","default":0}"#,
            )
            .replace(
                r#"{"name":"gone","type":"string","default":""}"#,
                r#"{"name":"extra","type":["null","string"],"default":null}"#,
            );
        assert_eq!(
            field_changes(OLD, &new, SubjectKind::Value),
            vec![
                "changed `n` from \"int\" (default 0) to \"long\" (default 0)".to_string(),
                "added `extra`".to_string(),
                "removed `gone`".to_string(),
            ]
        );
        assert!(field_changes(OLD, OLD, SubjectKind::Value).is_empty());
        let key_old = r#"{"type":"record","name":"Key","fields":[{"name":"id","type":"int"}]}"#;
        let key_new = r#"{"type":"record","name":"Key","fields":[{"name":"id","type":"long"}]}"#;
        assert_eq!(
            field_changes(key_old, key_new, SubjectKind::Key),
            vec!["changed `id` from \"int\" to \"long\"".to_string()]
        );
    }
}
