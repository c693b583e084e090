//! The registry's operations: validate a request against the state, log the
//! resulting [`Op`] durably, then apply it. One mutex around state and log
//! keeps concurrent requests consistent (ids, versions, log order).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use apache_avro::Schema;

use super::compat::{self, Level};
use super::error::{ApiError, RegistryError};
use super::log::Log;
use super::schema::{parse_request, parse_schema, ParsedSchema};
use super::state::{Mode, Op, State, VersionRec, VersionSpec};

#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: State,
    log: Log,
}

/// What a lookup or version read returns.
#[derive(Debug, Clone)]
pub struct Registered {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub schema: String,
}

impl Store {
    /// Opens (creating if needed) and locks `dir`, replaying its log.
    pub fn open(dir: &Path) -> Result<Store, RegistryError> {
        let (log, ops) = Log::open(dir)?;
        let mut state = State::new();
        let count = ops.len();
        for op in ops {
            state.apply(op);
        }
        tracing::info!(
            log = %log.path().display(),
            ops = count,
            next_id = state.next_id(),
            "schema registry state loaded"
        );
        Ok(Store {
            inner: Mutex::new(Inner { state, log }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // State changes only after a successful append, so a panic elsewhere
        // cannot leave it half-updated: the poisoned data is still sound.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a read-only query on the current state.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock().state)
    }

    /// Decides on a mutation from the state, makes it durable, applies it.
    fn commit<R>(
        &self,
        decide: impl FnOnce(&State) -> Result<(Option<Op>, R), ApiError>,
    ) -> Result<R, ApiError> {
        let mut inner = self.lock();
        let (op, answer) = decide(&inner.state)?;
        if let Some(op) = op {
            inner.log.append(&op).map_err(|e| {
                tracing::error!(error = %e, "cannot write the registry log");
                ApiError::store(format!("Error while writing to the registry log: {e}"))
            })?;
            inner.state.apply(op);
        }
        Ok(answer)
    }

    /// POST /subjects/{s}/versions: the id of the schema under `subject`,
    /// registering it as a new version when it is not live there yet.
    pub fn register(&self, subject: &str, body: &[u8]) -> Result<u32, ApiError> {
        let req = parse_request(body)?;
        let parsed = parse_schema(&req.schema)?;
        self.commit(|st| {
            let mode = st.mode_for(subject);
            if mode == Mode::ReadOnly {
                return Err(read_only(subject));
            }
            let importing = mode == Mode::Import;
            if !importing && (req.id.is_some() || req.version.is_some()) {
                return Err(ApiError::not_permitted(format!(
                    "Subject '{subject}' is not in import mode: a schema id or version \
                     can only be given in IMPORT mode"
                )));
            }
            let all = st.versions(subject, true);
            let existing = all.iter().rev().find(|r| {
                !r.deleted
                    && st
                        .schema(r.id)
                        .is_some_and(|s| s.canonical == parsed.canonical)
                    && req.id.is_none_or(|id| id == r.id)
                    && req.version.is_none_or(|v| v == r.version)
            });
            if let Some(rec) = existing {
                return Ok((None, rec.id));
            }
            let id = match req.id {
                Some(id) => {
                    if st
                        .schema(id)
                        .is_some_and(|s| s.canonical != parsed.canonical)
                    {
                        return Err(ApiError::not_permitted(format!(
                            "Overwrite new schema with id {id} is not permitted."
                        )));
                    }
                    id
                }
                None => st.id_of(&parsed.canonical).unwrap_or(st.next_id()),
            };
            if id > i32::MAX as u32 {
                return Err(ApiError::store("schema ids are exhausted"));
            }
            let version = match req.version {
                Some(v) if all.iter().any(|r| r.version == v) => {
                    return Err(ApiError::not_permitted(format!(
                        "Version {v} already exists in subject '{subject}'"
                    )))
                }
                Some(v) => v,
                None => all.last().map_or(1, |r| r.version.saturating_add(1)),
            };
            if !importing {
                let live: Vec<VersionRec> =
                    all.iter().rev().filter(|r| !r.deleted).copied().collect();
                let messages = check_against(st, st.level_for(subject), &parsed.avro, &live);
                if !messages.is_empty() {
                    return Err(ApiError::incompatible(format!(
                        "Schema being registered is incompatible with an earlier schema for \
                         subject \"{subject}\", details: [{}]",
                        messages.join("; ")
                    )));
                }
            }
            tracing::info!(subject, version, id, "schema registered");
            let op = Op::Register {
                subject: subject.to_owned(),
                version,
                id,
                schema: parsed.text.clone(),
            };
            Ok((Some(op), id))
        })
    }

    /// POST /subjects/{s}: where the schema is registered under `subject`.
    pub fn lookup(
        &self,
        subject: &str,
        body: &[u8],
        include_deleted: bool,
    ) -> Result<Registered, ApiError> {
        let parsed = parse_body_schema(body)?;
        self.read(|st| {
            let recs = st.versions(subject, include_deleted);
            if recs.is_empty() {
                return Err(ApiError::subject_not_found(subject));
            }
            recs.iter()
                .rev()
                .find_map(|r| {
                    st.schema(r.id)
                        .filter(|s| s.canonical == parsed.canonical)
                        .map(|s| Registered {
                            subject: subject.to_owned(),
                            version: r.version,
                            id: r.id,
                            schema: s.text.clone(),
                        })
                })
                .ok_or_else(ApiError::schema_not_found)
        })
    }

    /// GET /subjects/{s}/versions/{v}.
    pub fn get_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        include_deleted: bool,
    ) -> Result<Registered, ApiError> {
        self.read(|st| {
            let rec = st.find(subject, spec, include_deleted)?;
            let schema = st.schema(rec.id).ok_or_else(ApiError::schema_not_found)?;
            Ok(Registered {
                subject: subject.to_owned(),
                version: rec.version,
                id: rec.id,
                schema: schema.text.clone(),
            })
        })
    }

    /// POST /compatibility/subjects/{s}/versions[/{v}]: failure messages
    /// (empty = compatible). Without a version the subject's level decides
    /// which live versions count; with one, only that version does.
    pub fn test_compatibility(
        &self,
        subject: &str,
        spec: Option<VersionSpec>,
        body: &[u8],
    ) -> Result<Vec<String>, ApiError> {
        let parsed = parse_body_schema(body)?;
        self.read(|st| {
            let level = st.level_for(subject);
            let targets: Vec<VersionRec> = match spec {
                Some(spec) => vec![st.find(subject, spec, false)?],
                None => st.versions(subject, false).into_iter().rev().collect(),
            };
            Ok(check_against(st, level, &parsed.avro, &targets))
        })
    }

    /// DELETE /subjects/{s}: the versions deleted.
    pub fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<u32>, ApiError> {
        self.commit(|st| {
            if st.mode_for(subject) == Mode::ReadOnly {
                return Err(read_only(subject));
            }
            let all = st.versions(subject, true);
            if all.is_empty() {
                return Err(ApiError::subject_not_found(subject));
            }
            let live: Vec<u32> = all
                .iter()
                .filter(|r| !r.deleted)
                .map(|r| r.version)
                .collect();
            let subject = subject.to_owned();
            if permanent {
                if !live.is_empty() {
                    return Err(ApiError::subject_not_soft_deleted(&subject));
                }
                let versions: Vec<u32> = all.iter().map(|r| r.version).collect();
                let op = Op::HardDelete {
                    subject,
                    versions: versions.clone(),
                };
                Ok((Some(op), versions))
            } else {
                if live.is_empty() {
                    return Err(ApiError::subject_soft_deleted(&subject));
                }
                let op = Op::SoftDelete {
                    subject,
                    versions: live.clone(),
                };
                Ok((Some(op), live))
            }
        })
    }

    /// DELETE /subjects/{s}/versions/{v}: the version deleted.
    pub fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<u32, ApiError> {
        self.commit(|st| {
            if st.mode_for(subject) == Mode::ReadOnly {
                return Err(read_only(subject));
            }
            // "latest" means the latest live version for a soft delete, the
            // latest of all for a permanent one.
            let rec = match spec {
                VersionSpec::Latest => st.find(subject, spec, permanent)?,
                VersionSpec::Number(_) => st.find(subject, spec, true)?,
            };
            let subject = subject.to_owned();
            let versions = vec![rec.version];
            let op = match (permanent, rec.deleted) {
                (false, true) => return Err(ApiError::version_soft_deleted(&subject, rec.version)),
                (true, false) => {
                    return Err(ApiError::version_not_soft_deleted(&subject, rec.version))
                }
                (false, false) => Op::SoftDelete { subject, versions },
                (true, true) => Op::HardDelete { subject, versions },
            };
            Ok((Some(op), rec.version))
        })
    }

    /// PUT/DELETE /config[/{s}]: sets (or with `None` removes) a level and
    /// returns the one it replaces.
    pub fn set_level(
        &self,
        subject: Option<&str>,
        level: Option<Level>,
    ) -> Result<Level, ApiError> {
        self.commit(|st| {
            let old = match subject {
                None => st.global_level(),
                Some(s) => match (st.subject_level(s), level) {
                    (Some(old), _) => old,
                    (None, Some(_)) => st.global_level(),
                    (None, None) => return Err(ApiError::subject_level_compat_not_configured(s)),
                },
            };
            let op = Op::SetLevel {
                subject: subject.map(str::to_owned),
                level,
            };
            Ok((Some(op), old))
        })
    }

    /// PUT/DELETE /mode[/{s}]: sets (or removes) a mode, returning the old
    /// one. Entering IMPORT needs an empty scope unless `force`.
    pub fn set_mode(
        &self,
        subject: Option<&str>,
        mode: Option<Mode>,
        force: bool,
    ) -> Result<Mode, ApiError> {
        self.commit(|st| {
            if mode == Some(Mode::Import) && !force {
                let busy = match subject {
                    None => !st.subjects(false).is_empty(),
                    Some(s) => !st.versions(s, false).is_empty(),
                };
                if busy {
                    return Err(ApiError::not_permitted(
                        "Cannot import since found existing subjects",
                    ));
                }
            }
            let old = match subject {
                None => st.global_mode(),
                Some(s) => match (st.subject_mode(s), mode) {
                    (Some(old), _) => old,
                    (None, Some(_)) => st.global_mode(),
                    (None, None) => return Err(ApiError::subject_level_mode_not_configured(s)),
                },
            };
            let op = Op::SetMode {
                subject: subject.map(str::to_owned),
                mode,
            };
            Ok((Some(op), old))
        })
    }
}

fn read_only(subject: &str) -> ApiError {
    ApiError::not_permitted(format!("Subject '{subject}' is in read-only mode"))
}

fn parse_body_schema(body: &[u8]) -> Result<ParsedSchema, ApiError> {
    let req = parse_request(body)?;
    parse_schema(&req.schema)
}

/// Checks a candidate against `targets` (newest first) at `level`.
fn check_against(
    st: &State,
    level: Level,
    candidate: &Schema,
    targets: &[VersionRec],
) -> Vec<String> {
    let mut parsed = Vec::with_capacity(targets.len());
    let mut messages = Vec::new();
    let needed = if level.is_transitive() {
        targets.len()
    } else {
        targets.len().min(1)
    };
    for rec in &targets[..needed] {
        match st.schema(rec.id).map(|s| Schema::parse_str(&s.text)) {
            Some(Ok(schema)) => parsed.push((rec.version, schema)),
            Some(Err(e)) => messages.push(format!(
                "stored version {} does not parse: {e}",
                rec.version
            )),
            None => messages.push(format!("stored version {} has no schema", rec.version)),
        }
    }
    let refs: Vec<(u32, &Schema)> = parsed.iter().map(|(v, s)| (*v, s)).collect();
    messages.extend(compat::check(level, candidate, &refs));
    messages
}
