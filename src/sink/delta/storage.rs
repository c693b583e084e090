//! Object stores under the Delta tables: delta-rs's S3, Azure and GCS
//! handlers, and the `[sink.storage]` options every reader and writer of a
//! table opens it with.
//!
//! Credentials are never options: each store reads its provider's standard
//! environment and chain (the AWS SDK chain — variables, profiles, web
//! identity, instance metadata; Azure's variables, workload and managed
//! identity; GOOGLE_APPLICATION_CREDENTIALS or the metadata server).
//! Commits are conditional creates (`If-None-Match: *` on S3), so two
//! writers of one table never overwrite each other's log entry; no lock
//! table is needed, but the store must honour conditional writes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Once;

use deltalake::{DeltaTableBuilder, DeltaTableError};
use url::Url;

/// `[sink.storage]` as the config holds it.
pub type StorageOptions = BTreeMap<String, String>;

/// Registers the object-store handlers (`s3://`, `s3a://`, `az://`,
/// `abfs[s]://`, `gs://`) with delta-rs, once per process. The crate also
/// registers them from a constructor; this does not depend on the linker
/// keeping it.
pub fn register_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        deltalake::aws::register_handlers(None);
        deltalake::azure::register_handlers(None);
        deltalake::gcp::register_handlers(None);
    });
}

/// A builder for the table at `uri` with `options`.
pub fn builder(uri: &Url, options: &StorageOptions) -> Result<DeltaTableBuilder, DeltaTableError> {
    register_handlers();
    let opts: HashMap<String, String> = options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let b = DeltaTableBuilder::from_url(uri.clone())?;
    Ok(if opts.is_empty() {
        b
    } else {
        b.with_storage_options(opts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> StorageOptions {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Each scheme's handler is compiled in and takes binlake's options;
    /// building a store opens no connection. (GCS is tested this far only:
    /// no emulator here speaks the XML API object_store uses.)
    #[test]
    fn every_object_store_builds_with_its_options() {
        let cases = [
            (
                "s3://bucket/db/t/",
                opts(&[
                    ("endpoint", "http://127.0.0.1:1"),
                    ("region", "eu-west-1"),
                    ("allow_http", "true"),
                ]),
            ),
            (
                "az://container/db/t/",
                opts(&[
                    ("account_name", "acct"),
                    ("endpoint", "http://127.0.0.1:1/acct"),
                    ("allow_http", "true"),
                ]),
            ),
            (
                "abfss://container@acct.dfs.core.windows.net/db/t/",
                StorageOptions::new(),
            ),
            (
                "gs://bucket/db/t/",
                opts(&[("google_base_url", "http://127.0.0.1:1")]),
            ),
        ];
        for (uri, o) in cases {
            let url = Url::parse(uri).unwrap();
            let store = builder(&url, &o).and_then(|b| b.build_storage());
            assert!(store.is_ok(), "{uri}: {:?}", store.err());
        }
        let hdfs = Url::parse("hdfs://nn/t/").unwrap();
        assert!(builder(&hdfs, &StorageOptions::new())
            .and_then(|b| b.build_storage())
            .is_err());
    }
}
