//! The CI check of `schemas/`: every subject file of the working tree
//! against its version at the base (a git revision or another directory),
//! at the subject's compatibility level, with the registry's own checker
//! ([`crate::registry::compat`]). Offline: it reads files and git only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use apache_avro::Schema;

use super::git::Repo;
use super::layout::{self, SubjectKind};
use super::SchemasError;
use crate::config::Connector;
use crate::registry::compat;
use crate::registry::compat::Level;

/// What the working tree is compared with.
#[derive(Debug, Clone)]
pub enum Base {
    /// A git revision of the repository holding the directory.
    Git(String),
    /// Another copy of the directory on disk.
    Dir(PathBuf),
}

/// Each subject's compatibility level: from the connector file whose name
/// the subject starts with (`[registry] compatibility` and
/// `subject_compatibility`), else BACKWARD, the registry's default.
#[derive(Debug, Default)]
pub struct Levels {
    connectors: Vec<Connector>,
}

impl Levels {
    pub fn new(connectors: Vec<Connector>) -> Self {
        Levels { connectors }
    }

    /// The level of `subject` and where it comes from.
    pub fn of(&self, subject: &str) -> (Level, String) {
        let owner = self
            .connectors
            .iter()
            .filter(|c| layout::owned_by(&c.name, subject))
            .max_by_key(|c| c.name.len());
        match owner {
            Some(c) => (c.registry.level_of(subject), c.file.display().to_string()),
            None => (Level::default(), "the default".to_string()),
        }
    }
}

/// The verdict on one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub subject: String,
    /// `None` when accepted; else why not, one reason a line.
    pub rejected: Option<Vec<String>>,
    /// What was found: `new`, `unchanged`, `compatible`, `removed`, ….
    pub note: String,
}

impl Finding {
    fn ok(subject: &str, note: impl Into<String>) -> Self {
        Finding {
            subject: subject.to_string(),
            rejected: None,
            note: note.into(),
        }
    }

    fn rejected(subject: &str, note: impl Into<String>, why: Vec<String>) -> Self {
        Finding {
            subject: subject.to_string(),
            rejected: Some(why),
            note: note.into(),
        }
    }
}

/// Checks every subject file of `dir` against `base`.
pub fn check(dir: &Path, base: &Base, levels: &Levels) -> Result<Vec<Finding>, SchemasError> {
    let current = layout::read_dir(dir)?;
    let mut previous: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let based: Vec<String>;
    match base {
        Base::Dir(base_dir) => {
            let files = layout::read_dir(base_dir)?;
            based = files.keys().cloned().collect();
            for (subject, text) in files {
                let label = format!("{}", base_dir.join(layout::file_name(&subject)).display());
                previous.insert(subject, vec![(label, text)]);
            }
        }
        Base::Git(rev) => {
            let repo = Repo::open(dir)?;
            let commit = repo.resolve(rev)?;
            let files = repo.files_at(&commit)?;
            based = files.keys().cloned().collect();
            for (subject, text) in files {
                let path = repo.path_of(&subject);
                let versions = if levels.of(&subject).0.is_transitive() {
                    repo.history(&commit, &subject)?
                        .into_iter()
                        .map(|(c, t)| (format!("{path} at {c}"), t))
                        .collect()
                } else {
                    vec![(format!("{path} at {rev}"), text)]
                };
                previous.insert(subject, versions);
            }
        }
    }
    let mut findings: Vec<Finding> = current
        .iter()
        .map(|(subject, text)| {
            let (level, from) = levels.of(subject);
            let none = Vec::new();
            let versions = previous.get(subject).unwrap_or(&none);
            check_subject(subject, text, versions, level, &from)
        })
        .collect();
    for subject in based.iter().filter(|s| !current.contains_key(*s)) {
        findings.push(Finding::ok(
            subject,
            "removed (its table is no longer captured; the registry keeps its versions)",
        ));
    }
    Ok(findings)
}

/// One subject's file against its base versions (newest first).
fn check_subject(
    subject: &str,
    text: &str,
    versions: &[(String, String)],
    level: Level,
    from: &str,
) -> Finding {
    let Some(kind) = layout::subject_kind(subject) else {
        return Finding::rejected(
            subject,
            "not a subject",
            vec![format!(
                "the file name must be SUBJECT.{} with SUBJECT ending in -key or -value \
                 (TopicNameStrategy); rename or remove it",
                layout::EXTENSION
            )],
        );
    };
    let candidate = match layout::parse(text) {
        Ok(s) => s,
        Err(e) => {
            return Finding::rejected(
                subject,
                "not valid Avro",
                vec![format!(
                    "not a valid Avro schema: {e}; write it again with `binlake schemas write`"
                )],
            )
        }
    };
    if let Some(why) = record_name_problem(&candidate, kind) {
        return Finding::rejected(subject, "wrong record", vec![why]);
    }
    let Some((_, newest)) = versions.first() else {
        return Finding::ok(subject, "new subject");
    };
    if layout::same_json(newest, text) {
        return Finding::ok(subject, "unchanged");
    }
    let mut old = Vec::with_capacity(versions.len());
    for (label, t) in versions {
        match layout::parse(t) {
            Ok(s) => old.push((label.clone(), s)),
            Err(e) => {
                return Finding::rejected(
                    subject,
                    "unreadable base",
                    vec![format!(
                        "{label} is not a valid Avro schema ({e}), so the change cannot be checked"
                    )],
                )
            }
        }
    }
    let refs: Vec<(String, &Schema)> = old.iter().map(|(l, s)| (l.clone(), s)).collect();
    let messages = compat::check_labelled(level, &candidate, &refs);
    if messages.is_empty() {
        return Finding::ok(subject, format!("compatible change ({level}, from {from})"));
    }
    // The nested record's reason names the field; the envelope's only says
    // that a union branch failed.
    let details = record_details(level, &candidate, &refs);
    let why = if details.is_empty() {
        messages
    } else {
        details
    };
    Finding::rejected(subject, format!("level {level} from {from}"), why)
}

/// A key subject holds `{ns}.Key`, a value subject `{ns}.Envelope`.
fn record_name_problem(schema: &Schema, kind: SubjectKind) -> Option<String> {
    let name = match schema {
        Schema::Record(r) => r.name.name().to_string(),
        _ => String::new(),
    };
    (name != kind.record_name()).then(|| {
        format!(
            "a {} subject holds the record `{}` binlake writes, this file holds `{}`",
            match kind {
                SubjectKind::Key => "key",
                SubjectKind::Value => "value",
            },
            kind.record_name(),
            if name.is_empty() { "no record" } else { &name }
        )
    })
}

/// Inside the envelope the checker only sees a union branch fail; checking
/// each nested record that changed on its own names the field at fault.
fn record_details(level: Level, candidate: &Schema, previous: &[(String, &Schema)]) -> Vec<String> {
    let top = candidate.name().cloned();
    let new_types = compat::named_types(candidate);
    let mut details = Vec::new();
    let mut names: Vec<_> = new_types
        .keys()
        .filter(|n| Some(*n) != top.as_ref())
        .collect();
    names.sort_by_key(|n| n.fullname(None));
    for name in names {
        let new = &new_types[name];
        let olds: Vec<(String, Schema)> = previous
            .iter()
            .filter_map(|(label, s)| {
                compat::named_types(s)
                    .remove(name)
                    .map(|o| (label.clone(), o))
            })
            .collect();
        let refs: Vec<(String, &Schema)> = olds.iter().map(|(l, s)| (l.clone(), s)).collect();
        for m in compat::check_labelled(level, new, &refs) {
            details.push(format!("record {}: {m}", name.fullname(None)));
        }
    }
    details
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"type":"record","name":"Envelope","namespace":"s.d.t","fields":[
        {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
            {"name":"id","type":"long","default":0}]}],"default":null},
        {"name":"after","type":["null","Value"],"default":null},
        {"name":"op","type":"string"}]}"#;

    fn with_field(field: &str) -> String {
        V1.replace(
            r#"{"name":"id","type":"long","default":0}"#,
            &format!(r#"{{"name":"id","type":"long","default":0}},{field}"#),
        )
    }

    fn verdict(new: &str, old: &str, level: Level) -> Finding {
        check_subject(
            "s.d.t-value",
            new,
            &[("base".to_string(), old.to_string())],
            level,
            "test",
        )
    }

    #[test]
    fn a_new_field_with_a_default_is_accepted_under_backward() {
        let new = with_field(r#"{"name":"note","type":["null","string"],"default":null}"#);
        let f = verdict(&new, V1, Level::Backward);
        assert_eq!(f.rejected, None, "{f:?}");
        assert!(f.note.starts_with("compatible change"), "{f:?}");
    }

    #[test]
    fn a_new_field_without_a_default_is_rejected_naming_the_field() {
        let new = with_field(r#"{"name":"note","type":"string"}"#);
        let f = verdict(&new, V1, Level::Backward);
        let why = f.rejected.expect("rejected").join("\n");
        assert!(why.contains("BACKWARD"), "{why}");
        assert!(why.contains("record s.d.t.Value"), "{why}");
        assert!(why.contains("note"), "{why}");
        // FORWARD only asks that old readers read new data: fine here.
        assert_eq!(verdict(&new, V1, Level::Forward).rejected, None);
        assert_eq!(verdict(&new, V1, Level::None).rejected, None);
    }

    #[test]
    fn a_narrowed_type_is_rejected() {
        let narrowed = V1.replace(
            r#""type":"long","default":0"#,
            r#""type":"int","default":0"#,
        );
        let why = verdict(&narrowed, V1, Level::Backward)
            .rejected
            .expect("rejected")
            .join("\n");
        assert!(why.contains("id"), "{why}");
        // The widening the other way round is accepted.
        assert_eq!(verdict(V1, &narrowed, Level::Backward).rejected, None);
    }

    #[test]
    fn unchanged_new_and_malformed_files() {
        assert_eq!(verdict(V1, V1, Level::Full).note, "unchanged");
        let f = check_subject("s.d.t-value", V1, &[], Level::Backward, "test");
        assert_eq!((f.rejected, f.note.as_str()), (None, "new subject"));
        let f = check_subject("s.d.t-value", "{", &[], Level::Backward, "test");
        assert!(f.rejected.is_some());
        let f = check_subject("s.d.t", V1, &[], Level::Backward, "test");
        assert!(f.rejected.is_some());
        let f = check_subject("s.d.t-key", V1, &[], Level::Backward, "test");
        assert!(f.rejected.expect("wrong record")[0].contains("`Key`"));
    }

    #[test]
    fn levels_come_from_the_connector_owning_the_subject() {
        let file = |name: &str, registry: &str| {
            let text = format!(
                "name = \"{name}\"\n[sink]\ntable_uri = \"/d/{{table}}\"\n[kafka]\nbrokers = \"k:1\"\n\
                 [registry]\nurl = \"http://r\"\n{registry}"
            );
            Connector::from_toml(Path::new(&format!("{name}.toml")), &text, &|_| None, false)
                .expect("valid connector")
        };
        let levels = Levels::new(vec![
            file("shop", "compatibility = \"FULL\"\n"),
            file(
                "shop.eu",
                "subject_compatibility = { \"shop.eu.d.t-value\" = \"NONE\" }\n",
            ),
        ]);
        assert_eq!(
            levels.of("shop.d.t-key"),
            (Level::Full, "shop.toml".to_string())
        );
        assert_eq!(levels.of("shop.eu.d.t-value").0, Level::None);
        assert_eq!(levels.of("shop.eu.d.t-key").0, Level::Backward);
        assert_eq!(
            levels.of("other.d.t-key"),
            (Level::Backward, "the default".to_string())
        );
    }

    #[test]
    fn transitive_levels_check_every_version_in_the_git_history() {
        let repo = tempfile::tempdir().unwrap();
        let top = repo.path();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(top)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let dir = top.join("schemas");
        std::fs::create_dir(&dir).unwrap();
        let file = dir.join("s.d.t-value.avsc");
        git(&["init", "-q"]);
        // v1 has `x` as int, v2 drops it, v3 brings it back as a string.
        std::fs::write(
            &file,
            with_field(r#"{"name":"x","type":"int","default":0}"#),
        )
        .unwrap();
        git(&["add", "."]);
        git(&["commit", "-qm", "v1"]);
        std::fs::write(&file, V1).unwrap();
        git(&["commit", "-qam", "v2"]);
        std::fs::write(
            &file,
            with_field(r#"{"name":"x","type":"string","default":""}"#),
        )
        .unwrap();
        let run = |registry: &str| {
            let text = format!(
                "name = \"s\"\n[sink]\ntable_uri = \"/d/{{table}}\"\n[kafka]\nbrokers = \"k:1\"\n\
                 [registry]\nurl = \"http://r\"\n{registry}"
            );
            let c = Connector::from_toml(Path::new("s.toml"), &text, &|_| None, false).unwrap();
            check(&dir, &Base::Git("HEAD".into()), &Levels::new(vec![c])).unwrap()
        };
        let backward = run("");
        assert_eq!(backward[0].rejected, None, "{backward:?}");
        let transitive = run("compatibility = \"BACKWARD_TRANSITIVE\"\n");
        let why = transitive[0].rejected.clone().expect("rejected").join("\n");
        assert!(why.contains("schemas/s.d.t-value.avsc at "), "{why}");
        assert!(why.contains("'x'"), "{why}");
    }

    #[test]
    fn directories_are_compared_subject_by_subject() {
        let base = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        std::fs::write(base.path().join("s.d.t-value.avsc"), V1).unwrap();
        std::fs::write(base.path().join("s.d.gone-value.avsc"), V1).unwrap();
        std::fs::write(
            work.path().join("s.d.t-value.avsc"),
            with_field(r#"{"name":"n","type":"int"}"#),
        )
        .unwrap();
        let findings = check(
            work.path(),
            &Base::Dir(base.path().to_path_buf()),
            &Levels::default(),
        )
        .unwrap();
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert!(findings[0].rejected.is_some());
        assert_eq!(findings[1].subject, "s.d.gone-value");
        assert!(findings[1].rejected.is_none());
    }
}
