//! /config, /mode and /compatibility routes.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::{reply, run, Params, Shared};
use crate::registry::compat::Level;
use crate::registry::error::ApiError;
use crate::registry::state::{Mode, VersionSpec};

type Q = Query<Vec<(String, String)>>;

/// GET /config → {"compatibilityLevel"}
pub async fn get_global_level(State(store): State<Shared>) -> Result<Response, ApiError> {
    let level = run(&store, |s| Ok(s.read(|st| st.global_level()))).await?;
    Ok(level_json(level))
}

/// PUT /config {"compatibility"} → {"compatibility"}
pub async fn put_global_level(
    State(store): State<Shared>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let level = parse_level(&body)?;
    run(&store, move |s| s.set_level(None, Some(level))).await?;
    Ok(reply(json!({ "compatibility": level })))
}

/// DELETE /config → the level it replaced (the default takes over)
pub async fn delete_global_level(State(store): State<Shared>) -> Result<Response, ApiError> {
    let old = run(&store, |s| s.set_level(None, None)).await?;
    Ok(level_json(old))
}

/// GET /config/{s} (?defaultToGlobal) → {"compatibilityLevel"}; 40408 when
/// the subject has no level of its own and the global one was not asked for.
pub async fn get_subject_level(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    query: Q,
) -> Result<Response, ApiError> {
    let fallback = Params::from(query).flag("defaultToGlobal");
    let level = run(&store, move |s| {
        s.read(|st| match st.subject_level(&subject) {
            Some(level) => Ok(level),
            None if fallback => Ok(st.global_level()),
            None => Err(ApiError::subject_level_compat_not_configured(&subject)),
        })
    })
    .await?;
    Ok(level_json(level))
}

/// PUT /config/{s} {"compatibility"} → {"compatibility"}
pub async fn put_subject_level(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let level = parse_level(&body)?;
    run(&store, move |s| s.set_level(Some(&subject), Some(level))).await?;
    Ok(reply(json!({ "compatibility": level })))
}

/// DELETE /config/{s} → the level it removed
pub async fn delete_subject_level(
    State(store): State<Shared>,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    let old = run(&store, move |s| s.set_level(Some(&subject), None)).await?;
    Ok(level_json(old))
}

/// GET /mode → {"mode"}
pub async fn get_global_mode(State(store): State<Shared>) -> Result<Response, ApiError> {
    let mode = run(&store, |s| Ok(s.read(|st| st.global_mode()))).await?;
    Ok(reply(json!({ "mode": mode })))
}

/// PUT /mode (?force) {"mode"} → {"mode"}
pub async fn put_global_mode(
    State(store): State<Shared>,
    query: Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    let force = Params::from(query).flag("force");
    let mode = parse_mode(&body)?;
    run(&store, move |s| s.set_mode(None, Some(mode), force)).await?;
    Ok(reply(json!({ "mode": mode })))
}

/// GET /mode/{s} (?defaultToGlobal) → {"mode"}; 40409 without a subject mode
pub async fn get_subject_mode(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    query: Q,
) -> Result<Response, ApiError> {
    let fallback = Params::from(query).flag("defaultToGlobal");
    let mode = run(&store, move |s| {
        s.read(|st| match st.subject_mode(&subject) {
            Some(mode) => Ok(mode),
            None if fallback => Ok(st.global_mode()),
            None => Err(ApiError::subject_level_mode_not_configured(&subject)),
        })
    })
    .await?;
    Ok(reply(json!({ "mode": mode })))
}

/// PUT /mode/{s} (?force) {"mode"} → {"mode"}
pub async fn put_subject_mode(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    query: Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    let force = Params::from(query).flag("force");
    let mode = parse_mode(&body)?;
    run(&store, move |s| {
        s.set_mode(Some(&subject), Some(mode), force)
    })
    .await?;
    Ok(reply(json!({ "mode": mode })))
}

/// DELETE /mode/{s} → the mode it removed
pub async fn delete_subject_mode(
    State(store): State<Shared>,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    let old = run(&store, move |s| s.set_mode(Some(&subject), None, false)).await?;
    Ok(reply(json!({ "mode": old })))
}

/// POST /compatibility/subjects/{s}/versions (?verbose): against the live
/// versions the subject's level names.
pub async fn compatibility_all(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    query: Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    let verbose = Params::from(query).flag("verbose");
    let messages = run(&store, move |s| s.test_compatibility(&subject, None, &body)).await?;
    Ok(compat_json(messages, verbose))
}

/// POST /compatibility/subjects/{s}/versions/{v} (?verbose): against one version.
pub async fn compatibility_version(
    State(store): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    query: Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    let verbose = Params::from(query).flag("verbose");
    let spec = VersionSpec::parse(&version)?;
    let messages = run(&store, move |s| {
        s.test_compatibility(&subject, Some(spec), &body)
    })
    .await?;
    Ok(compat_json(messages, verbose))
}

fn compat_json(messages: Vec<String>, verbose: bool) -> Response {
    let compatible = messages.is_empty();
    if verbose {
        reply(json!({ "is_compatible": compatible, "messages": messages }))
    } else {
        reply(json!({ "is_compatible": compatible }))
    }
}

fn level_json(level: Level) -> Response {
    reply(json!({ "compatibilityLevel": level }))
}

fn body_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

/// Accepts {"compatibility"} (the documented key) or {"compatibilityLevel"}
/// (what some clients' config objects serialise to).
fn parse_level(body: &[u8]) -> Result<Level, ApiError> {
    let map = body_object(body)?;
    let value = map
        .get("compatibility")
        .or_else(|| map.get("compatibilityLevel"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_compatibility("null"))?;
    value.parse()
}

fn parse_mode(body: &[u8]) -> Result<Mode, ApiError> {
    let map = body_object(body)?;
    let value = map
        .get("mode")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_mode("null"))?;
    value.parse()
}
