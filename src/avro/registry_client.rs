//! A small client for a Confluent-compatible schema registry: register a
//! schema under a subject (cached, so each table version costs one request),
//! fetch a schema by id, set a subject's compatibility level.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Client, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use thiserror::Error;

const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, Error)]
pub enum RegistryClientError {
    #[error("schema registry URL {url:?} is not valid: it must start with http:// or https://")]
    BadUrl { url: String },
    #[error("cannot set up the HTTP client for the schema registry at {url}: {source}")]
    Client {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot reach the schema registry at {url}: {source}; is it running? (retryable)")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "the new schema for subject {subject} is incompatible with the subject's compatibility \
         level at {url} ({message}). To accept the change, relax the level for this subject \
         (PUT {url}/config/{subject} with {{\"compatibility\": \"NONE\"}}, or a level that allows \
         it), or start afresh under a new connector name (new topics and subjects)"
    )]
    Incompatible {
        subject: String,
        url: String,
        message: String,
    },
    #[error("the schema registry at {url} rejected the schema for subject {subject} as invalid: {message}")]
    InvalidSchema {
        subject: String,
        url: String,
        message: String,
    },
    #[error("the schema registry at {url} answered {method} {path} with HTTP {status}: {message}")]
    Status {
        url: String,
        method: Method,
        path: String,
        status: u16,
        message: String,
    },
    #[error("unexpected answer from the schema registry at {url} to {path}: {reason}")]
    BadResponse {
        url: String,
        path: String,
        reason: String,
    },
}

impl RegistryClientError {
    /// Whether trying again later may succeed (registry down or overloaded).
    pub fn is_retryable(&self) -> bool {
        match self {
            RegistryClientError::Unreachable { .. } => true,
            RegistryClientError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Confluent's error body: `{"error_code": 40901, "message": "..."}`.
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

#[derive(Deserialize)]
struct IdBody {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaBody {
    schema: String,
}

#[derive(Deserialize)]
struct CompatibilityBody {
    compatibility: String,
}

/// Cheap to clone; clones share the caches.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    http: Client,
    /// HTTP basic credentials from the environment, never from the file.
    auth: Option<(String, String)>,
    ids: Mutex<HashMap<(String, String), u32>>,
    schemas: Mutex<HashMap<u32, Arc<str>>>,
}

/// Variables holding the registry's basic-auth user and password (what
/// Confluent clients call `basic.auth.user.info`).
pub const USER_ENV: &str = "BINLAKE_REGISTRY_USER";
pub const PASSWORD_ENV: &str = "BINLAKE_REGISTRY_PASSWORD";

fn credentials() -> Option<(String, String)> {
    let user = std::env::var(USER_ENV).ok().filter(|u| !u.is_empty())?;
    Some((user, std::env::var(PASSWORD_ENV).unwrap_or_default()))
}

/// Percent-encodes a path segment (subjects come from table names).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl RegistryClient {
    /// A client for the registry at `url` (e.g. `http://127.0.0.1:8081`).
    pub fn new(url: &str) -> Result<Self, RegistryClientError> {
        let trimmed = url.trim_end_matches('/');
        if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
            return Err(RegistryClientError::BadUrl {
                url: url.to_owned(),
            });
        }
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|source| RegistryClientError::Client {
                url: trimmed.to_owned(),
                source,
            })?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                url: trimmed.to_owned(),
                http,
                auth: credentials(),
                ids: Mutex::new(HashMap::new()),
                schemas: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The registry's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Registers `schema` (Avro schema JSON text) under `subject` and returns
    /// its global id; registering the same text again is answered from cache.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryClientError> {
        let key = (subject.to_owned(), schema.to_owned());
        if let Some(&id) = lock(&self.inner.ids).get(&key) {
            return Ok(id);
        }
        let path = format!("/subjects/{}/versions", path_segment(subject));
        let body = json!({ "schema": schema });
        let (status, text) = self.send(Method::POST, &path, Some(&body)).await?;
        let id = match status {
            s if s.is_success() => self.parse::<IdBody>(&path, &text)?.id,
            StatusCode::CONFLICT => {
                return Err(RegistryClientError::Incompatible {
                    subject: subject.to_owned(),
                    url: self.inner.url.clone(),
                    message: error_message(&text),
                })
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                return Err(RegistryClientError::InvalidSchema {
                    subject: subject.to_owned(),
                    url: self.inner.url.clone(),
                    message: error_message(&text),
                })
            }
            _ => return Err(self.status_error(Method::POST, path, status, &text)),
        };
        lock(&self.inner.ids).insert(key, id);
        lock(&self.inner.schemas).insert(id, Arc::from(schema));
        Ok(id)
    }

    /// [`Self::register`] for a parsed schema.
    pub async fn register_schema(
        &self,
        subject: &str,
        schema: &apache_avro::Schema,
    ) -> Result<u32, RegistryClientError> {
        let text = serde_json::to_string(schema).map_err(|e| RegistryClientError::BadResponse {
            url: self.inner.url.clone(),
            path: subject.to_owned(),
            reason: format!("cannot write the schema as JSON: {e}"),
        })?;
        self.register(subject, &text).await
    }

    /// The schema text registered under `id` (cached: ids never change meaning).
    pub async fn schema_by_id(&self, id: u32) -> Result<Arc<str>, RegistryClientError> {
        if let Some(s) = lock(&self.inner.schemas).get(&id) {
            return Ok(s.clone());
        }
        let path = format!("/schemas/ids/{id}");
        let (status, text) = self.send(Method::GET, &path, None).await?;
        if !status.is_success() {
            return Err(self.status_error(Method::GET, path, status, &text));
        }
        let schema: Arc<str> = Arc::from(self.parse::<SchemaBody>(&path, &text)?.schema);
        lock(&self.inner.schemas).insert(id, schema.clone());
        Ok(schema)
    }

    /// The newest version registered under `subject`: its id and schema
    /// text, `None` when the subject has no version.
    pub async fn latest(
        &self,
        subject: &str,
    ) -> Result<Option<(u32, Arc<str>)>, RegistryClientError> {
        #[derive(Deserialize)]
        struct Version {
            id: u32,
            schema: String,
        }
        let path = format!("/subjects/{}/versions/latest", path_segment(subject));
        let (status, text) = self.send(Method::GET, &path, None).await?;
        match status {
            s if s.is_success() => {
                let v: Version = self.parse(&path, &text)?;
                let schema: Arc<str> = Arc::from(v.schema);
                lock(&self.inner.schemas).insert(v.id, schema.clone());
                Ok(Some((v.id, schema)))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(Method::GET, path, status, &text)),
        }
    }

    /// Whether `schema` may be registered under `subject` at the subject's
    /// compatibility level: `None` when the subject has no version yet, else
    /// the registry's verdict and its reasons.
    pub async fn check_compatibility(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<Option<(bool, Vec<String>)>, RegistryClientError> {
        #[derive(serde::Deserialize)]
        struct Verdict {
            is_compatible: bool,
            #[serde(default)]
            messages: Vec<String>,
        }
        let path = format!(
            "/compatibility/subjects/{}/versions?verbose=true",
            path_segment(subject)
        );
        let body = json!({ "schema": schema });
        let (status, text) = self.send(Method::POST, &path, Some(&body)).await?;
        match status {
            s if s.is_success() => {
                let v: Verdict = self.parse(&path, &text)?;
                Ok(Some((v.is_compatible, v.messages)))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(Method::POST, path, status, &text)),
        }
    }

    /// Sets a subject's compatibility level (`BACKWARD`, `NONE`, `FULL`, …).
    pub async fn set_compatibility(
        &self,
        subject: &str,
        level: &str,
    ) -> Result<(), RegistryClientError> {
        let path = format!("/config/{}", path_segment(subject));
        let body = json!({ "compatibility": level });
        let (status, text) = self.send(Method::PUT, &path, Some(&body)).await?;
        if !status.is_success() {
            return Err(self.status_error(Method::PUT, path, status, &text));
        }
        let answer = self.parse::<CompatibilityBody>(&path, &text)?;
        if !answer.compatibility.eq_ignore_ascii_case(level) {
            return Err(RegistryClientError::BadResponse {
                url: self.inner.url.clone(),
                path,
                reason: format!(
                    "asked for {level}, the registry set {}",
                    answer.compatibility
                ),
            });
        }
        Ok(())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, String), RegistryClientError> {
        let unreachable = |source| RegistryClientError::Unreachable {
            url: self.inner.url.clone(),
            source,
        };
        let mut request = self
            .inner
            .http
            .request(method, format!("{}{path}", self.inner.url))
            .header(ACCEPT, format!("{MEDIA_TYPE}, application/json"));
        if let Some((user, password)) = &self.inner.auth {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, MEDIA_TYPE)
                .body(body.to_string());
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        Ok((status, text))
    }

    fn parse<T: DeserializeOwned>(&self, path: &str, text: &str) -> Result<T, RegistryClientError> {
        serde_json::from_str(text).map_err(|e| RegistryClientError::BadResponse {
            url: self.inner.url.clone(),
            path: path.to_owned(),
            reason: format!("{e} in {}", excerpt(text)),
        })
    }

    fn status_error(
        &self,
        method: Method,
        path: String,
        status: StatusCode,
        text: &str,
    ) -> RegistryClientError {
        RegistryClientError::Status {
            url: self.inner.url.clone(),
            method,
            path,
            status: status.as_u16(),
            message: error_message(text),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave a half-written map entry: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `message` of a Confluent error body, or the start of the raw body.
fn error_message(text: &str) -> String {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(ErrorBody { message: Some(m) }) => m,
        _ => excerpt(text),
    }
}

fn excerpt(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None if t.is_empty() => "(empty body)".to_owned(),
        None => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_must_be_http() {
        assert!(matches!(
            RegistryClient::new("localhost:8081"),
            Err(RegistryClientError::BadUrl { .. })
        ));
        assert_eq!(
            RegistryClient::new("http://h:8081/").unwrap().url(),
            "http://h:8081"
        );
    }

    #[test]
    fn subjects_are_path_safe() {
        assert_eq!(path_segment("shop.db.t-value"), "shop.db.t-value");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(r#"{"error_code":409,"message":"nope"}"#),
            "nope"
        );
        assert_eq!(error_message("<html>"), "<html>");
        assert_eq!(error_message(""), "(empty body)");
        let e = RegistryClientError::Incompatible {
            subject: "s-value".into(),
            url: "http://r".into(),
            message: "field x changed".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("incompatible with the subject's compatibility level"),
            "{text}"
        );
        assert!(text.contains("PUT http://r/config/s-value"), "{text}");
        assert!(text.contains("new connector name"), "{text}");
        assert!(!e.is_retryable());
    }

    #[tokio::test]
    async fn connection_refused_is_retryable_and_names_the_url() {
        // A port just freed: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let client = RegistryClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let err = client.register("s-value", r#""string""#).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }
}
