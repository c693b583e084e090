//! Semantic checks of `[source]`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::checker::Checker;
use super::interpolate::is_env_name;
use super::locate::join;
use super::model::*;
use super::patterns::{is_literal, ColumnPattern, TablePattern};
use super::raw::*;
use super::values::parse_mysql_url;

/// Default `source.heartbeat`.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

const TABLE_FIX: &str =
    "write DB.TABLE, e.g. \"shop.orders\" or \"shop.*\"; each part may use * ? [a-z] {a,b}";
const COLUMN_FIX: &str =
    "write DB.TABLE.COLUMN, e.g. \"shop.customers.ssn\"; each part may use * ? [a-z] {a,b}";

/// Checks `[source]`; with `need_password`, the password variable must be set.
pub fn source(raw: &RawSource, ck: &mut Checker, need_password: bool) -> Option<SourceConfig> {
    let url = match &raw.url {
        None => {
            ck.missing(
                &["source"],
                "source.url",
                "add url = \"mysql://USER@HOST:PORT\"",
            );
            None
        }
        Some(v) => ck.text(v, "source.url").and_then(|text| {
            parse_mysql_url(&text)
                .map_err(|e| ck.invalid(Some(v.span()), "source.url", e))
                .ok()
        }),
    };
    let (password_env, password) = password(raw.password_env.as_ref(), ck, need_password);
    let server_id = match &raw.server_id {
        None => {
            ck.missing(
                &["source"],
                "source.server_id",
                "add server_id = N, unique among the server's replicas",
            );
            None
        }
        Some(v) => match u32::try_from(*v.get_ref()) {
            Ok(id) if id > 0 => Some(id),
            _ => {
                ck.report(
                    Some(v.span()),
                    "source.server_id",
                    format!("{} is out of range", v.get_ref()),
                    "use 1..=4294967295, different from every MySQL server and replica in the topology",
                );
                None
            }
        },
    };
    let tables = match &raw.tables {
        None => {
            ck.missing(
                &["source"],
                "source.tables",
                "add tables = [\"DB.TABLE\", …], e.g. [\"shop.*\"]",
            );
            None
        }
        Some(list) if list.get_ref().is_empty() => {
            ck.report(
                Some(list.span()),
                "source.tables",
                "the list is empty, so nothing would be captured",
                "list at least one DB.TABLE pattern, e.g. [\"shop.*\"]",
            );
            None
        }
        Some(list) => patterns(
            list.get_ref(),
            "source.tables",
            ck,
            TablePattern::parse,
            TABLE_FIX,
        ),
    };
    let exclude_tables = patterns(
        &raw.exclude_tables,
        "source.exclude_tables",
        ck,
        TablePattern::parse,
        TABLE_FIX,
    );
    let exclude_columns = patterns(
        &raw.exclude_columns,
        "source.exclude_columns",
        ck,
        ColumnPattern::parse,
        COLUMN_FIX,
    );
    let key_columns = key_columns(&raw.key_columns, ck);
    let snapshot = ck.choice(
        raw.snapshot.as_ref(),
        "source.snapshot",
        &[
            ("initial", SnapshotMode::Initial),
            ("never", SnapshotMode::Never),
        ],
        SnapshotMode::Initial,
    );
    let snapshot_chunk_rows = bounded(
        raw.snapshot_chunk_rows.as_ref(),
        "source.snapshot_chunk_rows",
        DEFAULT_SNAPSHOT_CHUNK_ROWS,
        1..=1_000_000,
        "use 1..=1000000 rows; larger chunks read faster but hold more memory",
        ck,
    );
    let snapshot_parallelism = bounded(
        raw.snapshot_parallelism.as_ref(),
        "source.snapshot_parallelism",
        DEFAULT_SNAPSHOT_PARALLELISM,
        1..=64,
        "use 1..=64 concurrent reads; each holds one MySQL connection",
        ck,
    );
    let heartbeat = ck.duration(
        raw.heartbeat.as_ref(),
        "source.heartbeat",
        DEFAULT_HEARTBEAT,
    );
    let config = SourceConfig {
        url: url?,
        password_env: password_env?,
        password,
        server_id: server_id?,
        tables: tables?,
        exclude_tables: exclude_tables?,
        exclude_columns: exclude_columns?,
        key_columns: key_columns?,
        snapshot: snapshot?,
        snapshot_chunk_rows: snapshot_chunk_rows?,
        snapshot_parallelism: snapshot_parallelism?,
        heartbeat: heartbeat?,
    };
    check_key_columns_selected(&config, &raw.key_columns, ck);
    Some(config)
}

/// `password_env`: a valid name; with `need_password`, also set.
fn password(
    value: Option<&Str>,
    ck: &mut Checker,
    need_password: bool,
) -> (Option<String>, Option<Secret>) {
    let key = "source.password_env";
    let Some(value) = value else {
        ck.missing(
            &["source"],
            key,
            "add password_env = \"NAME\" naming the variable that holds the MySQL password",
        );
        return (None, None);
    };
    let Some(name) = ck.text(value, key) else {
        return (None, None);
    };
    if !is_env_name(&name) {
        ck.report(
            Some(value.span()),
            key,
            format!("{name:?} is not an environment variable name"),
            "name the variable holding the password (letters, digits, '_'), never the password itself",
        );
        return (None, None);
    }
    if !need_password {
        return (Some(name), None);
    }
    match ck.env(&name) {
        Some(secret) => (Some(name), Some(Secret::new(secret))),
        None => {
            ck.report(
                Some(value.span()),
                key,
                format!("environment variable {name} is not set"),
                format!("export {name}=<the MySQL password> (empty for none), or use `binlake check --offline`"),
            );
            (None, None)
        }
    }
}

/// Parses each pattern of a list, reporting each bad one.
fn patterns<T>(
    list: &[Str],
    key: &str,
    ck: &mut Checker,
    parse: fn(&str) -> Result<T, String>,
    fix: &str,
) -> Option<Vec<T>> {
    let mut out = Some(Vec::with_capacity(list.len()));
    for (i, value) in list.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let parsed = ck.text(value, &key).and_then(|text| {
            parse(&text)
                .map_err(|problem| ck.report(Some(value.span()), &key, problem, fix))
                .ok()
        });
        match (parsed, out.as_mut()) {
            (Some(p), Some(v)) => v.push(p),
            _ => out = None,
        }
    }
    out
}

fn key_columns(
    raw: &BTreeMap<Str, Vec<Str>>,
    ck: &mut Checker,
) -> Option<BTreeMap<(String, String), Vec<String>>> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (table, columns) in raw {
        let key = format!("source.key_columns.{}", join(&[table.get_ref().clone()]));
        let span = Some(table.span());
        let name = table.get_ref();
        let parts: Vec<&str> = name.split('.').collect();
        let [db, tbl] = parts[..] else {
            ck.report(
                span,
                &key,
                format!("{name:?} is not DB.TABLE"),
                "name one table as \"DB.TABLE\" (quoted, because of the dot)",
            );
            ok = false;
            continue;
        };
        if db.is_empty() || tbl.is_empty() || !is_literal(name) {
            ck.report(
                span,
                &key,
                format!("{name:?} is not a plain DB.TABLE name"),
                "name one table exactly, without globs",
            );
            ok = false;
            continue;
        }
        if columns.is_empty() {
            ck.report(
                span,
                &key,
                "the list of key columns is empty",
                "list the columns that identify a row, e.g. [\"event_id\"]",
            );
            ok = false;
            continue;
        }
        let mut names: Vec<String> = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let ckey = format!("{key}[{i}]");
            let Some(text) = ck.text(column, &ckey) else {
                ok = false;
                continue;
            };
            if text.is_empty() || !is_literal(&text) {
                ck.report(
                    Some(column.span()),
                    &ckey,
                    format!("{text:?} is not a column name"),
                    "write the column's exact name",
                );
                ok = false;
            } else if names.iter().any(|n| n.eq_ignore_ascii_case(&text)) {
                ck.report(
                    Some(column.span()),
                    &ckey,
                    format!("column {text:?} is listed twice"),
                    "list each key column once",
                );
                ok = false;
            } else {
                names.push(text);
            }
        }
        out.insert((db.to_string(), tbl.to_string()), names);
    }
    ok.then_some(out)
}

/// A key-columns entry for a table the source does not capture is a typo,
/// and an excluded key column could not identify rows.
fn check_key_columns_selected(
    config: &SourceConfig,
    raw: &BTreeMap<Str, Vec<Str>>,
    ck: &mut Checker,
) {
    for (table, columns) in raw {
        let Some((db, tbl)) = table.get_ref().split_once('.') else {
            continue;
        };
        let key = format!("source.key_columns.{}", join(&[table.get_ref().clone()]));
        if !config.table_selected(db, tbl) {
            ck.report(
                Some(table.span()),
                &key,
                format!(
                    "table {db}.{tbl} is not captured (no match in source.tables, or excluded)"
                ),
                "fix the name or add a matching pattern to source.tables",
            );
            continue;
        }
        for (i, column) in columns.iter().enumerate() {
            if config.column_excluded(db, tbl, column.get_ref()) {
                ck.report(
                    Some(column.span()),
                    &format!("{key}[{i}]"),
                    format!(
                        "key column {:?} is excluded by source.exclude_columns",
                        column.get_ref()
                    ),
                    "stop excluding it, or choose other key columns",
                );
            }
        }
    }
}

/// Default `source.snapshot_chunk_rows`.
pub const DEFAULT_SNAPSHOT_CHUNK_ROWS: usize = 20_000;
/// Default `source.snapshot_parallelism`.
pub const DEFAULT_SNAPSHOT_PARALLELISM: usize = 2;

/// An optional integer key within `range`, else its default.
fn bounded(
    value: Option<&toml::Spanned<i64>>,
    key: &str,
    default: usize,
    range: std::ops::RangeInclusive<i64>,
    fix: &str,
    ck: &mut Checker,
) -> Option<usize> {
    match value {
        None => Some(default),
        Some(v) if range.contains(v.get_ref()) => usize::try_from(*v.get_ref()).ok(),
        Some(v) => {
            ck.report(
                Some(v.span()),
                key,
                format!("{} is out of range", v.get_ref()),
                fix,
            );
            None
        }
    }
}
