//! /schemas routes: schemas by global id and the types this registry knows.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{raw, reply, run, Params, Shared};
use crate::registry::error::ApiError;

type Q = Query<Vec<(String, String)>>;

/// GET /schemas/types
pub async fn types() -> Response {
    reply(["AVRO"])
}

/// GET /schemas/ids/{id} → {"schema"}
pub async fn by_id(
    State(store): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let schema = schema_text(store, &id).await?;
    Ok(reply(json!({ "schema": schema })))
}

/// GET /schemas/ids/{id}/schema → the schema itself
pub async fn by_id_raw(
    State(store): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(raw(schema_text(store, &id).await?))
}

/// GET /schemas/ids/{id}/subjects (?deleted) → [subject]
pub async fn id_subjects(
    State(store): State<Shared>,
    Path(id): Path<String>,
    query: Q,
) -> Result<Response, ApiError> {
    let p = Params::from(query);
    let regs = registrations(store, &id, p.flag("deleted")).await?;
    let mut subjects: Vec<String> = regs.into_iter().map(|(s, _)| s).collect();
    subjects.dedup();
    Ok(reply(p.page(subjects)))
}

/// GET /schemas/ids/{id}/versions (?deleted) → [{subject, version}]
pub async fn id_versions(
    State(store): State<Shared>,
    Path(id): Path<String>,
    query: Q,
) -> Result<Response, ApiError> {
    let p = Params::from(query);
    let regs = registrations(store, &id, p.flag("deleted")).await?;
    let list: Vec<_> = regs
        .into_iter()
        .map(|(subject, version)| json!({ "subject": subject, "version": version }))
        .collect();
    Ok(reply(p.page(list)))
}

fn parse_id(id: &str) -> Result<u32, ApiError> {
    id.parse::<u32>().map_err(|_| ApiError::schema_not_found())
}

/// The schema text, while some version (even a soft-deleted one) uses the
/// id: decoders must still read old messages after a soft delete.
async fn schema_text(store: Shared, id: &str) -> Result<String, ApiError> {
    let id = parse_id(id)?;
    run(&store, move |s| {
        s.read(|st| {
            if st.registrations(id, true).is_empty() {
                return Err(ApiError::schema_not_found());
            }
            st.schema(id)
                .map(|s| s.text.clone())
                .ok_or_else(ApiError::schema_not_found)
        })
    })
    .await
}

/// (subject, version) pairs using the id, sorted; 40403 when the id has
/// no registration at all.
async fn registrations(
    store: Shared,
    id: &str,
    deleted: bool,
) -> Result<Vec<(String, u32)>, ApiError> {
    let id = parse_id(id)?;
    run(&store, move |s| {
        s.read(|st| {
            if st.registrations(id, true).is_empty() {
                return Err(ApiError::schema_not_found());
            }
            Ok(st
                .registrations(id, deleted)
                .into_iter()
                .map(|(subject, rec)| (subject.to_owned(), rec.version))
                .collect())
        })
    })
    .await
}
