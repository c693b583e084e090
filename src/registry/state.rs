//! The registry's in-memory state and the mutations ([`Op`]) that change it.
//! Pure data: no I/O here, so replaying the log and serving a request apply
//! the very same code.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::compat::Level;
use super::error::ApiError;
use super::schema::normalise;

/// Read-write mode of the registry or of one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Mode {
    #[default]
    #[serde(rename = "READWRITE")]
    ReadWrite,
    #[serde(rename = "READONLY")]
    ReadOnly,
    #[serde(rename = "IMPORT")]
    Import,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::Import => "IMPORT",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, ApiError> {
        [Mode::ReadWrite, Mode::ReadOnly, Mode::Import]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ApiError::invalid_mode(s))
    }
}

/// One durable mutation: a line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `schema` is carried every time so a line is self-contained; it is
    /// only stored when `id` is new. Its identity key is recomputed on
    /// replay rather than logged, so it always matches the running code.
    Register {
        subject: String,
        version: u32,
        id: u32,
        schema: String,
    },
    SoftDelete {
        subject: String,
        versions: Vec<u32>,
    },
    HardDelete {
        subject: String,
        versions: Vec<u32>,
    },
    /// `subject: None` is the global level; `level: None` removes it.
    SetLevel {
        subject: Option<String>,
        level: Option<Level>,
    },
    SetMode {
        subject: Option<String>,
        mode: Option<Mode>,
    },
}

#[derive(Debug, Clone)]
pub struct StoredSchema {
    pub text: String,
    pub canonical: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRec {
    pub version: u32,
    pub id: u32,
    pub deleted: bool,
}

/// Which version a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Number(u32),
}

impl VersionSpec {
    /// "latest", -1, or 1..=2^31-1; anything else is 42202.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        if s.eq_ignore_ascii_case("latest") || s == "-1" {
            return Ok(VersionSpec::Latest);
        }
        match s.parse::<i64>() {
            Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => u32::try_from(n)
                .map(VersionSpec::Number)
                .map_err(|_| ApiError::invalid_version(s)),
            _ => Err(ApiError::invalid_version(s)),
        }
    }
}

#[derive(Debug, Default)]
pub struct State {
    /// Global id → schema; never shrinks, so an id always means one schema.
    schemas: BTreeMap<u32, StoredSchema>,
    by_canonical: HashMap<String, u32>,
    /// Subject → its versions in ascending order.
    subjects: BTreeMap<String, Vec<VersionRec>>,
    next_id: u32,
    global_level: Option<Level>,
    subject_levels: HashMap<String, Level>,
    global_mode: Option<Mode>,
    subject_modes: HashMap<String, Mode>,
}

impl State {
    pub fn new() -> Self {
        State {
            next_id: 1,
            ..State::default()
        }
    }

    /// Applies a mutation. Never fails: ops were validated before they were
    /// logged, and replay must accept whatever an earlier run logged.
    pub fn apply(&mut self, op: Op) {
        match op {
            Op::Register {
                subject,
                version,
                id,
                schema,
            } => {
                if !self.schemas.contains_key(&id) {
                    let canonical = serde_json::from_str(&schema)
                        .map(|json| normalise(&json))
                        .unwrap_or_else(|_| schema.clone());
                    self.by_canonical.entry(canonical.clone()).or_insert(id);
                    self.schemas.insert(
                        id,
                        StoredSchema {
                            text: schema,
                            canonical,
                        },
                    );
                }
                self.next_id = self.next_id.max(id.saturating_add(1));
                let versions = self.subjects.entry(subject).or_default();
                versions.retain(|v| v.version != version);
                let at = versions.partition_point(|v| v.version < version);
                versions.insert(
                    at,
                    VersionRec {
                        version,
                        id,
                        deleted: false,
                    },
                );
            }
            Op::SoftDelete { subject, versions } => {
                if let Some(recs) = self.subjects.get_mut(&subject) {
                    recs.iter_mut()
                        .filter(|r| versions.contains(&r.version))
                        .for_each(|r| r.deleted = true);
                }
            }
            Op::HardDelete { subject, versions } => {
                if let Some(recs) = self.subjects.get_mut(&subject) {
                    recs.retain(|r| !versions.contains(&r.version));
                    if recs.is_empty() {
                        self.subjects.remove(&subject);
                    }
                }
            }
            Op::SetLevel { subject, level } => match (subject, level) {
                (None, level) => self.global_level = level,
                (Some(s), Some(level)) => {
                    self.subject_levels.insert(s, level);
                }
                (Some(s), None) => {
                    self.subject_levels.remove(&s);
                }
            },
            Op::SetMode { subject, mode } => match (subject, mode) {
                (None, mode) => self.global_mode = mode,
                (Some(s), Some(mode)) => {
                    self.subject_modes.insert(s, mode);
                }
                (Some(s), None) => {
                    self.subject_modes.remove(&s);
                }
            },
        }
    }

    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    pub fn schema(&self, id: u32) -> Option<&StoredSchema> {
        self.schemas.get(&id)
    }

    pub fn id_of(&self, canonical: &str) -> Option<u32> {
        self.by_canonical.get(canonical).copied()
    }

    /// A subject's versions, ascending; soft-deleted ones only on request.
    pub fn versions(&self, subject: &str, include_deleted: bool) -> Vec<VersionRec> {
        self.subjects
            .get(subject)
            .map(|recs| {
                recs.iter()
                    .filter(|r| include_deleted || !r.deleted)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Subjects with a live version (or with any version, on request).
    pub fn subjects(&self, include_deleted: bool) -> Vec<&str> {
        self.subjects
            .iter()
            .filter(|(_, recs)| include_deleted || recs.iter().any(|r| !r.deleted))
            .map(|(s, _)| s.as_str())
            .collect()
    }

    /// Subjects whose every version is soft-deleted.
    pub fn deleted_subjects(&self) -> Vec<&str> {
        self.subjects
            .iter()
            .filter(|(_, recs)| recs.iter().all(|r| r.deleted))
            .map(|(s, _)| s.as_str())
            .collect()
    }

    /// Resolves a version request: 40401 for an unknown subject, 40402 for
    /// an unknown version.
    pub fn find(
        &self,
        subject: &str,
        spec: VersionSpec,
        include_deleted: bool,
    ) -> Result<VersionRec, ApiError> {
        let recs = self.versions(subject, include_deleted);
        let found = match spec {
            VersionSpec::Latest => recs.last().copied(),
            VersionSpec::Number(n) => recs.iter().find(|r| r.version == n).copied(),
        };
        match (recs.is_empty(), found, spec) {
            (true, _, _) => Err(ApiError::subject_not_found(subject)),
            (false, Some(rec), _) => Ok(rec),
            (false, None, VersionSpec::Number(n)) => Err(ApiError::version_not_found(n)),
            (false, None, VersionSpec::Latest) => Err(ApiError::version_not_found("latest")),
        }
    }

    /// Every (subject, version) registered with `id`.
    pub fn registrations(&self, id: u32, include_deleted: bool) -> Vec<(&str, VersionRec)> {
        self.subjects
            .iter()
            .flat_map(|(s, recs)| recs.iter().map(move |r| (s.as_str(), *r)))
            .filter(|(_, r)| r.id == id && (include_deleted || !r.deleted))
            .collect()
    }

    pub fn global_level(&self) -> Level {
        self.global_level.unwrap_or_default()
    }

    pub fn subject_level(&self, subject: &str) -> Option<Level> {
        self.subject_levels.get(subject).copied()
    }

    pub fn level_for(&self, subject: &str) -> Level {
        self.subject_level(subject).unwrap_or(self.global_level())
    }

    pub fn global_mode(&self) -> Mode {
        self.global_mode.unwrap_or_default()
    }

    pub fn subject_mode(&self, subject: &str) -> Option<Mode> {
        self.subject_modes.get(subject).copied()
    }

    pub fn mode_for(&self, subject: &str) -> Mode {
        self.subject_mode(subject).unwrap_or(self.global_mode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(state: &mut State, subject: &str, version: u32, id: u32) {
        state.apply(Op::Register {
            subject: subject.into(),
            version,
            id,
            schema: format!("\"s{id}\""),
        });
    }

    #[test]
    fn ids_and_versions_follow_the_ops() {
        let mut st = State::new();
        register(&mut st, "a", 1, 1);
        register(&mut st, "a", 2, 2);
        register(&mut st, "b", 1, 1);
        assert_eq!(st.next_id(), 3);
        assert_eq!(
            st.find("a", VersionSpec::Latest, false).map(|r| r.id),
            Ok(2)
        );
        st.apply(Op::SoftDelete {
            subject: "a".into(),
            versions: vec![2],
        });
        assert_eq!(
            st.find("a", VersionSpec::Latest, false).map(|r| r.id),
            Ok(1)
        );
        assert_eq!(
            st.find("a", VersionSpec::Number(2), true)
                .map(|r| r.deleted),
            Ok(true)
        );
        assert_eq!(st.registrations(1, false).len(), 2);
        st.apply(Op::HardDelete {
            subject: "b".into(),
            versions: vec![1],
        });
        assert_eq!(st.subjects(true), vec!["a"]);
        assert_eq!(
            st.find("b", VersionSpec::Latest, true).map_err(|e| e.code),
            Err(40401)
        );
    }

    #[test]
    fn version_specs() {
        assert_eq!(VersionSpec::parse("latest").ok(), Some(VersionSpec::Latest));
        assert_eq!(VersionSpec::parse("-1").ok(), Some(VersionSpec::Latest));
        assert_eq!(VersionSpec::parse("7").ok(), Some(VersionSpec::Number(7)));
        for bad in ["0", "-2", "x", "2147483648"] {
            assert_eq!(
                VersionSpec::parse(bad).err().map(|e| e.code),
                Some(42202),
                "{bad}"
            );
        }
    }
}
