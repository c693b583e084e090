//! The HTTP surface: the routes Confluent clients call, and the helpers
//! their handlers share (query flags, paging, JSON answers).

mod config;
mod schemas;
mod subjects;

use std::sync::Arc;

use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

use super::error::{ApiError, CONTENT_TYPE};
use super::store::Store;

pub type Shared = Arc<Store>;

/// All routes over one store.
pub fn router(store: Shared) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/subjects", get(subjects::list_subjects))
        .route(
            "/subjects/{subject}",
            post(subjects::lookup).delete(subjects::delete_subject),
        )
        .route(
            "/subjects/{subject}/versions",
            get(subjects::list_versions).post(subjects::register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(subjects::get_version).delete(subjects::delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(subjects::get_version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(subjects::referenced_by),
        )
        .route("/schemas/types", get(schemas::types))
        .route("/schemas/ids/{id}", get(schemas::by_id))
        .route("/schemas/ids/{id}/schema", get(schemas::by_id_raw))
        .route("/schemas/ids/{id}/subjects", get(schemas::id_subjects))
        .route("/schemas/ids/{id}/versions", get(schemas::id_versions))
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(config::compatibility_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(config::compatibility_version),
        )
        .route(
            "/config",
            get(config::get_global_level)
                .put(config::put_global_level)
                .delete(config::delete_global_level),
        )
        .route(
            "/config/{subject}",
            get(config::get_subject_level)
                .put(config::put_subject_level)
                .delete(config::delete_subject_level),
        )
        .route(
            "/mode",
            get(config::get_global_mode).put(config::put_global_mode),
        )
        .route(
            "/mode/{subject}",
            get(config::get_subject_mode)
                .put(config::put_subject_mode)
                .delete(config::delete_subject_mode),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(store)
}

async fn root() -> Response {
    reply(serde_json::json!({}))
}

async fn not_found() -> ApiError {
    ApiError::not_found("HTTP 404 Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(405, "HTTP 405 Method Not Allowed")
}

/// A 200 answer with Confluent's media type.
pub(super) fn reply(value: impl Serialize) -> Response {
    match serde_json::to_string(&value) {
        Ok(body) => raw(body),
        Err(e) => ApiError::store(format!("cannot encode the answer: {e}")).into_response(),
    }
}

/// A 200 answer whose body is already JSON text (a raw schema).
pub(super) fn raw(body: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

/// Runs a store call off the async workers: writes fsync, and every call
/// may wait on the store's mutex while another request fsyncs.
pub(super) async fn run<R: Send + 'static>(
    store: &Shared,
    f: impl FnOnce(&Store) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::store(format!("request worker failed: {e}")))?
}

/// Query parameters. Flags are compared case-insensitively because some
/// clients send Python's `True`/`False`.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn from(query: Query<Vec<(String, String)>>) -> Self {
        Params(query.0)
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Applies `offset` and `limit` (-1 or absent: no limit).
    pub(super) fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let offset = self
            .get("offset")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let limit = self
            .get("limit")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|l| *l >= 0)
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(usize::MAX);
        items.into_iter().skip(offset).take(limit).collect()
    }
}
