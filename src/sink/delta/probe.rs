//! `binlake check`'s test of a Delta location: a real write and delete
//! where the table lives. On an object store the write is a conditional
//! create made twice: the second must be refused, or two writers of one
//! table could overwrite each other's commits.

use std::time::Duration;

use deltalake::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions};

use super::storage::{self, StorageOptions};
use super::table_url;
use crate::config::Provider;

const TIMEOUT: Duration = Duration::from_secs(20);

/// `None` when the table's location can be written, else one line naming
/// the problem and the fix.
pub async fn check_location(location: &str, options: &StorageOptions) -> Option<String> {
    let url = match table_url(location) {
        Ok(u) => u,
        Err(e) => return Some(format!("[sink].table_uri: {e}")),
    };
    if url.scheme() == "file" {
        return local(location, &url);
    }
    let provider = Provider::of(url.as_str());
    match tokio::time::timeout(TIMEOUT, remote(&url, options, provider)).await {
        Ok(r) => r.err().map(|e| format!("[sink].table_uri {location}: {e}")),
        Err(_) => Some(format!(
            "[sink].table_uri {location}: the store did not answer within {} s; \
             check [sink.storage] (endpoint, region) and the network",
            TIMEOUT.as_secs()
        )),
    }
}

async fn remote(
    url: &url::Url,
    options: &StorageOptions,
    provider: Provider,
) -> Result<(), String> {
    let log_store = storage::builder(url, options)
        .and_then(|b| b.build_storage())
        .map_err(|e| {
            format!(
                "cannot open the store ({}); check [sink.storage]",
                one_line(&e.to_string())
            )
        })?;
    let store = log_store.object_store(None);
    let probe = Path::from(format!(".binlake-check-{}", uuid::Uuid::new_v4()));
    let create = || PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    store
        .put_opts(&probe, "binlake check".into(), create())
        .await
        .map_err(|e| explain("cannot write", &e, provider))?;
    let second = store
        .put_opts(&probe, "binlake check".into(), create())
        .await;
    let deleted = store.delete(&probe).await;
    match second {
        Err(object_store::Error::AlreadyExists { .. })
        | Err(object_store::Error::Precondition { .. }) => {}
        Ok(_) => return Err(
            "the store overwrote an object a conditional create (If-None-Match) should have kept, \
                 so two writers could overwrite each other's commits; use a store with conditional \
                 writes (AWS S3, MinIO, Azure, GCS) or run a single sink per table"
                .into(),
        ),
        Err(e) => return Err(explain("a conditional create failed", &e, provider)),
    }
    deleted.map_err(|e| explain("cannot delete", &e, provider))
}

fn explain(what: &str, e: &object_store::Error, provider: Provider) -> String {
    let fix = match e {
        object_store::Error::Unauthenticated { .. } | object_store::Error::PermissionDenied { .. } => {
            format!("the store refused the credentials: give them through {}", provider.credentials())
        }
        object_store::Error::NotFound { .. } => {
            "the bucket or container does not exist: create it, or fix table_uri".into()
        }
        _ => format!(
            "check that the bucket or container exists, [sink.storage] (endpoint, region, allow_http) \
             and the credentials ({})",
            provider.credentials()
        ),
    };
    format!(
        "{what} a probe object ({}); {fix}",
        one_line(&e.to_string())
    )
}

/// A store's error on one line and short: some carry a multi-line XML body.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// A local table: the nearest existing ancestor must be a writable directory.
fn local(location: &str, url: &url::Url) -> Option<String> {
    let Ok(path) = url.to_file_path() else {
        return Some(format!("[sink].table_uri {location}: not a local path"));
    };
    let mut dir = path.as_path();
    while !dir.exists() {
        match dir.parent() {
            Some(p) => dir = p,
            None => break,
        }
    }
    let probe = dir.join(format!(".binlake-check-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!(
            "[sink].table_uri {location}: cannot write under {} ({e}); fix the path or its permissions",
            dir.display()
        )),
    }
}
