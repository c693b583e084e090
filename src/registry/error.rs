//! Errors: `RegistryError` for starting and running the server, `ApiError`
//! for the Confluent-style `{"error_code", "message"}` answers to requests.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why the registry could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "data directory {dir} is in use by another schema registry (lock file {lock} is held); \
         stop that registry or use another --data-dir"
    )]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("registry log {path} is corrupt at line {line}: {reason}")]
    CorruptLog {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("schema registry server failed: {0}")]
    Serve(#[source] io::Error),
}

impl RegistryError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        RegistryError::Io {
            context: context.into(),
            source,
        }
    }
}

/// The media type Confluent clients expect on every answer.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A request failure with Confluent's error code; the HTTP status is the
/// code's first three digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        let head = if self.code >= 1000 {
            self.code / 100
        } else {
            self.code
        };
        u16::try_from(head)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
    pub fn subject_not_found(subject: &str) -> Self {
        Self::new(40401, format!("Subject '{subject}' not found."))
    }
    pub fn version_not_found(version: impl std::fmt::Display) -> Self {
        Self::new(40402, format!("Version {version} not found."))
    }
    pub fn schema_not_found() -> Self {
        Self::new(40403, "Schema not found")
    }
    pub fn subject_soft_deleted(subject: &str) -> Self {
        Self::new(
            40404,
            format!(
                "Subject '{subject}' was soft deleted. Set permanent=true to delete permanently"
            ),
        )
    }
    pub fn subject_not_soft_deleted(subject: &str) -> Self {
        Self::new(
            40405,
            format!("Subject '{subject}' was not deleted first before being permanently deleted"),
        )
    }
    pub fn version_soft_deleted(subject: &str, version: u32) -> Self {
        Self::new(
            40406,
            format!(
                "Subject '{subject}' Version {version} was soft deleted. \
                 Set permanent=true to delete permanently"
            ),
        )
    }
    pub fn version_not_soft_deleted(subject: &str, version: u32) -> Self {
        Self::new(
            40407,
            format!(
                "Subject '{subject}' Version {version} was not deleted first \
                 before being permanently deleted"
            ),
        )
    }
    pub fn subject_level_compat_not_configured(subject: &str) -> Self {
        Self::new(
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )
    }
    pub fn subject_level_mode_not_configured(subject: &str) -> Self {
        Self::new(
            40409,
            format!("Subject '{subject}' does not have subject-level mode configured"),
        )
    }
    pub fn incompatible(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }
    pub fn invalid_schema(message: impl Into<String>) -> Self {
        Self::new(42201, message)
    }
    pub fn invalid_version(version: &str) -> Self {
        Self::new(
            42202,
            format!(
                "The specified version '{version}' is not a valid version id. Allowed values are \
                 between [1, 2^31-1] and the string \"latest\""
            ),
        )
    }
    pub fn invalid_compatibility(level: &str) -> Self {
        Self::new(
            42203,
            format!(
                "Invalid compatibility level '{level}'. Valid values are NONE, BACKWARD, \
                 BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"
            ),
        )
    }
    pub fn invalid_mode(mode: &str) -> Self {
        Self::new(
            42204,
            format!("Invalid mode '{mode}'. Valid values are READWRITE, READONLY, IMPORT"),
        )
    }
    pub fn not_permitted(message: impl Into<String>) -> Self {
        Self::new(42205, message)
    }
    pub fn store(message: impl Into<String>) -> Self {
        Self::new(50001, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error_code": self.code, "message": self.message });
        (
            self.status(),
            [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_the_first_three_digits() {
        assert_eq!(
            ApiError::subject_not_found("s").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(ApiError::incompatible("x").status(), StatusCode::CONFLICT);
        assert_eq!(ApiError::invalid_mode("x").status().as_u16(), 422);
        assert_eq!(
            ApiError::store("x").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
