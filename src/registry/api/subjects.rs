//! /subjects routes: register, look up, list, read and delete versions.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{raw, reply, run, Params, Shared};
use crate::registry::error::ApiError;
use crate::registry::state::VersionSpec;
use crate::registry::store::Registered;

type Q = Query<Vec<(String, String)>>;

/// GET /subjects (?deleted, ?deleted_only, ?subjectPrefix, ?offset, ?limit)
pub async fn list_subjects(State(store): State<Shared>, query: Q) -> Result<Response, ApiError> {
    let p = Params::from(query);
    let (deleted, deleted_only) = (p.flag("deleted"), p.flag("deleted_only"));
    let prefix = p.get("subjectPrefix").unwrap_or("").to_owned();
    let subjects = run(&store, move |s| {
        Ok(s.read(|st| {
            let names = if deleted_only {
                st.deleted_subjects()
            } else {
                st.subjects(deleted)
            };
            names
                .into_iter()
                .filter(|n| n.starts_with(&prefix))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        }))
    })
    .await?;
    Ok(reply(p.page(subjects)))
}

/// GET /subjects/{s}/versions (?deleted, ?deleted_only)
pub async fn list_versions(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    query: Q,
) -> Result<Response, ApiError> {
    let p = Params::from(query);
    let (deleted, deleted_only) = (
        p.flag("deleted") || p.flag("deleted_only"),
        p.flag("deleted_only"),
    );
    let versions = run(&store, move |s| {
        let recs = s.read(|st| st.versions(&subject, deleted));
        if recs.is_empty() {
            return Err(ApiError::subject_not_found(&subject));
        }
        Ok(recs
            .into_iter()
            .filter(|r| !deleted_only || r.deleted)
            .map(|r| r.version)
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(reply(p.page(versions)))
}

/// POST /subjects/{s}/versions → {"id"}
pub async fn register(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = run(&store, move |s| s.register(&subject, &body)).await?;
    Ok(reply(json!({ "id": id })))
}

/// POST /subjects/{s} (?deleted) → {subject, id, version, schema}
pub async fn lookup(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    query: Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    let deleted = Params::from(query).flag("deleted");
    let found = run(&store, move |s| s.lookup(&subject, &body, deleted)).await?;
    Ok(reply(registered_json(&found)))
}

/// DELETE /subjects/{s} (?permanent) → [versions]
pub async fn delete_subject(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    query: Q,
) -> Result<Response, ApiError> {
    let permanent = Params::from(query).flag("permanent");
    let versions = run(&store, move |s| s.delete_subject(&subject, permanent)).await?;
    Ok(reply(versions))
}

/// GET /subjects/{s}/versions/{v} (?deleted) → {subject, version, id, schema}
pub async fn get_version(
    State(store): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    query: Q,
) -> Result<Response, ApiError> {
    let found = read_version(store, subject, &version, query).await?;
    Ok(reply(registered_json(&found)))
}

/// GET /subjects/{s}/versions/{v}/schema → the schema itself
pub async fn get_version_schema(
    State(store): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    query: Q,
) -> Result<Response, ApiError> {
    let found = read_version(store, subject, &version, query).await?;
    Ok(raw(found.schema))
}

/// GET /subjects/{s}/versions/{v}/referencedby → [] (references are not
/// supported, so nothing refers to anything)
pub async fn referenced_by(
    State(store): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    query: Q,
) -> Result<Response, ApiError> {
    read_version(store, subject, &version, query).await?;
    Ok(reply(Vec::<u32>::new()))
}

/// DELETE /subjects/{s}/versions/{v} (?permanent) → version
pub async fn delete_version(
    State(store): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    query: Q,
) -> Result<Response, ApiError> {
    let permanent = Params::from(query).flag("permanent");
    let spec = VersionSpec::parse(&version)?;
    let deleted = run(&store, move |s| s.delete_version(&subject, spec, permanent)).await?;
    Ok(reply(deleted))
}

async fn read_version(
    store: Shared,
    subject: String,
    version: &str,
    query: Q,
) -> Result<Registered, ApiError> {
    let deleted = Params::from(query).flag("deleted");
    let spec = VersionSpec::parse(version)?;
    run(&store, move |s| s.get_version(&subject, spec, deleted)).await
}

/// `schemaType` is left out: it is only sent for non-Avro schemas.
fn registered_json(r: &Registered) -> serde_json::Value {
    json!({
        "subject": r.subject,
        "version": r.version,
        "id": r.id,
        "schema": r.schema,
    })
}
