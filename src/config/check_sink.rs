//! Semantic checks of `[sink]`.

use std::time::Duration;

use std::collections::BTreeMap;

use super::checker::Checker;
use super::locate::join;
use super::model::{DeleteMode, PartitionMode, SinkConfig};
use super::raw::{OptionValue, RawSink};
use super::storage::{check_key, Provider};
use super::values;

/// Default `sink.flush_interval`.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// Default `sink.max_batch_rows`.
pub const DEFAULT_MAX_BATCH_ROWS: usize = 100_000;
/// Default `sink.vacuum_retention`: Delta's own default for deleted files.
pub const DEFAULT_VACUUM_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default `sink.vacuum_interval`.
pub const DEFAULT_VACUUM_INTERVAL: Duration = Duration::from_secs(3600);
/// Largest `sink.max_batch_rows`: bounds the memory one batch may take.
pub const MAX_BATCH_ROWS: i64 = 10_000_000;

/// Checks `[sink]`, filling in defaults.
pub fn sink(raw: &RawSink, ck: &mut Checker) -> Option<SinkConfig> {
    let table_uri = match &raw.table_uri {
        None => {
            ck.missing(
                &["sink"],
                "sink.table_uri",
                "add table_uri = \"s3://bucket/{db}/{table}\" (or file:// or a path)",
            );
            None
        }
        Some(v) => {
            ck.text(v, "sink.table_uri")
                .and_then(|text| match values::check_table_uri(&text) {
                    Ok(()) => Some(text),
                    Err(e) => {
                        ck.invalid(Some(v.span()), "sink.table_uri", e);
                        None
                    }
                })
        }
    };
    let flush_interval = ck.duration(
        raw.flush_interval.as_ref(),
        "sink.flush_interval",
        DEFAULT_FLUSH_INTERVAL,
    );
    let max_batch_rows = match &raw.max_batch_rows {
        None => Some(DEFAULT_MAX_BATCH_ROWS),
        Some(v) if (1..=MAX_BATCH_ROWS).contains(v.get_ref()) => usize::try_from(*v.get_ref()).ok(),
        Some(v) => {
            ck.report(
                Some(v.span()),
                "sink.max_batch_rows",
                format!("{} is out of range", v.get_ref()),
                format!("use 1..={MAX_BATCH_ROWS}"),
            );
            None
        }
    };
    let deletes = ck.choice(
        raw.deletes.as_ref(),
        "sink.deletes",
        &[("hard", DeleteMode::Hard), ("soft", DeleteMode::Soft)],
        DeleteMode::Hard,
    );
    let partitions = ck.choice(
        raw.partitions.as_ref(),
        "sink.partitions",
        &[("group", PartitionMode::Group), ("all", PartitionMode::All)],
        PartitionMode::Group,
    );
    let vacuum_retention = ck.duration(
        raw.vacuum_retention.as_ref(),
        "sink.vacuum_retention",
        DEFAULT_VACUUM_RETENTION,
    );
    let vacuum_interval = ck.duration(
        raw.vacuum_interval.as_ref(),
        "sink.vacuum_interval",
        DEFAULT_VACUUM_INTERVAL,
    );
    // The expanded location decides (table_uri may be `${LAKE}/{table}`).
    let provider = match (&table_uri, &raw.table_uri) {
        (Some(t), _) => Provider::of(t),
        (None, Some(v)) => Provider::of(v.get_ref()),
        (None, None) => Provider::Local,
    };
    let storage = storage(raw, provider, ck);
    Some(SinkConfig {
        table_uri: table_uri?,
        flush_interval: flush_interval?,
        max_batch_rows: max_batch_rows?,
        deletes: deletes?,
        vacuum_retention: vacuum_retention?,
        vacuum_interval: vacuum_interval?,
        deletion_vectors: raw.deletion_vectors.as_ref().is_none_or(|v| *v.get_ref()),
        partitions: partitions?,
        storage: storage?,
    })
}

/// `[sink.storage]`: keys the table's object store knows, no credentials.
fn storage(
    raw: &RawSink,
    provider: Provider,
    ck: &mut Checker,
) -> Option<BTreeMap<String, String>> {
    let mut out = Some(BTreeMap::new());
    for (name, value) in &raw.storage {
        let key = format!("sink.storage.{}", join(&[name.get_ref().clone()]));
        let span = Some(name.span());
        let checked = match check_key(provider, name.get_ref()) {
            Ok(k) => Some(k),
            Err(e) => {
                ck.invalid(span.clone(), &key, e);
                None
            }
        };
        let text = match value {
            OptionValue::Text(t) => ck.expand(t, span, &key),
            other => Some(other.to_text()),
        };
        match (checked, text, out.as_mut()) {
            (Some(k), Some(t), Some(map)) => {
                map.insert(k, t);
            }
            _ => out = None,
        }
    }
    out
}
