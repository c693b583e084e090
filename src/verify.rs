//! `binlake verify`: compares each selected MySQL table with its Delta table,
//! row by row, by primary key and a hash of every column's value.
//!
//! Both sides are brought to one canonical text per value, guided by the
//! Delta column's type (docs/contract.md, "Types"): integers and decimals as plain
//! numbers, floats by their bits, dates and times as ISO text (TIMESTAMP
//! read in UTC), binary as hex, zero dates as null. On a live pipeline a
//! row may differ only because its change is in flight, so differing keys
//! are compared again after the sink's flush interval and only those that
//! keep differing are reported.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use deltalake::arrow::array::{Array, ArrayRef, AsArray};
use deltalake::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType,
};
use mysql_async::prelude::Queryable;
use mysql_async::{Params, Value};
use serde::Serialize;

use crate::avro::names::avro_name;
use crate::config::{Connector, SourceConfig};
use crate::sink::delta::TableTarget;
use crate::source::{catalog, keyset};

/// Keys listed per kind of difference.
const SHOW: usize = 20;

#[derive(Debug, Default, Serialize)]
pub struct TableReport {
    pub table: String,
    pub mysql_rows: usize,
    pub delta_rows: usize,
    /// Primary-key chunks the MySQL side was read in
    /// (`source.snapshot_chunk_rows` rows each).
    pub chunks: usize,
    pub missing_in_delta: Vec<String>,
    pub extra_in_delta: Vec<String>,
    pub different: Vec<String>,
    /// Column-level problems (a column Delta lacks).
    pub problems: Vec<String>,
}

impl TableReport {
    pub fn is_equal(&self) -> bool {
        self.missing_in_delta.is_empty()
            && self.extra_in_delta.is_empty()
            && self.different.is_empty()
            && self.problems.is_empty()
    }
}

struct MysqlColumn {
    name: String,
    data_type: String,
}

/// One side of a table: key text → (row hash, key shown to people).
type Side = HashMap<String, u64>;

pub async fn verify(connector: &Connector, only: Option<&str>) -> anyhow::Result<Vec<TableReport>> {
    let source = connector
        .source
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("verify needs a [source] section (the MySQL side)"))?;
    let sink = connector
        .sink
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("verify needs a [sink] section (the Delta side)"))?;
    let pool = mysql_async::Pool::new(crate::source::connect::mysql_opts(source)?);
    let tables: Vec<(String, String)> = {
        let mut conn = pool.get_conn().await?;
        catalog::selected_tables(&mut conn, source)
            .await?
            .into_iter()
            .filter(|(d, t)| only.is_none_or(|o| o == format!("{d}.{t}")))
            .collect()
    };
    if tables.is_empty() {
        anyhow::bail!(
            "no selected table matches{}",
            only.map(|t| format!(" {t}")).unwrap_or_default()
        );
    }
    let mut reports = Vec::new();
    for (db, table) in tables {
        let location = sink.table_uri_for(&db, &table);
        let mut report = compare(&pool, source, &location, &sink.storage, &db, &table).await?;
        // Re-check on a live pipeline: keep only what keeps differing.
        let mut round = 0;
        while !report.is_equal() && round < 2 {
            round += 1;
            tokio::time::sleep(sink.flush_interval + Duration::from_secs(2)).await;
            let again = compare(&pool, source, &location, &sink.storage, &db, &table).await?;
            report = intersect(report, again);
        }
        reports.push(report);
    }
    pool.disconnect().await?;
    Ok(reports)
}

fn intersect(old: TableReport, new: TableReport) -> TableReport {
    let keep = |a: Vec<String>, b: &[String]| -> Vec<String> {
        let b: HashSet<&String> = b.iter().collect();
        a.into_iter().filter(|k| b.contains(k)).collect()
    };
    TableReport {
        missing_in_delta: keep(old.missing_in_delta, &new.missing_in_delta),
        extra_in_delta: keep(old.extra_in_delta, &new.extra_in_delta),
        different: keep(old.different, &new.different),
        problems: new.problems,
        ..new
    }
}

async fn compare(
    pool: &mysql_async::Pool,
    source: &SourceConfig,
    location: &str,
    storage: &crate::sink::delta::StorageOptions,
    db: &str,
    table: &str,
) -> anyhow::Result<TableReport> {
    let mut report = TableReport {
        table: format!("{db}.{table}"),
        ..TableReport::default()
    };
    let mut conn = pool.get_conn().await?;
    let cols: Vec<(String, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await?;
    let columns: Vec<MysqlColumn> = cols
        .into_iter()
        .filter(|(name, _)| !source.column_excluded(db, table, name))
        .map(|(name, data_type)| MysqlColumn {
            name,
            data_type: data_type.to_ascii_lowercase(),
        })
        .collect();
    let key = catalog::key_columns(&mut conn, source, db, table).await?;
    if key.is_empty() {
        report
            .problems
            .push("no primary key and no key_columns: rows cannot be matched".into());
        return Ok(report);
    }

    // The Delta side: types drive the canonical form of both sides.
    let target = TableTarget::open_with(location, storage).await?;
    let Some(schema) = target.schema().cloned() else {
        report
            .problems
            .push(format!("no Delta table at {location}"));
        let n: Option<u64> = conn
            .query_first(format!("SELECT COUNT(*) FROM `{db}`.`{table}`"))
            .await?;
        report.mysql_rows = n.unwrap_or(0) as usize;
        return Ok(report);
    };
    let mut compared: Vec<(usize, String, DataType)> = Vec::new(); // (mysql index, delta name, type)
    for (i, c) in columns.iter().enumerate() {
        let delta_name = avro_name(&c.name);
        match schema.field_with_name(&delta_name) {
            Ok(f) => compared.push((i, delta_name, f.data_type().clone())),
            Err(_) => report
                .problems
                .push(format!("column `{}` is not in the Delta table", c.name)),
        }
    }
    let key_idx: Vec<usize> = key
        .iter()
        .map(|k| compared.iter().position(|(i, _, _)| columns[*i].name == *k))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| anyhow::anyhow!("{db}.{table}: a key column is missing in Delta"))?;

    let mut delta: Side = HashMap::new();
    for batch in target.scan().await? {
        let arrays: Vec<&ArrayRef> = compared
            .iter()
            .map(|(_, name, _)| batch.column_by_name(name).expect("conformed to the schema"))
            .collect();
        for r in 0..batch.num_rows() {
            let values: Vec<Option<String>> = arrays.iter().map(|a| canon_arrow(a, r)).collect();
            let (k, h) = key_and_hash(&values, &key_idx, &key);
            if delta.insert(k.clone(), h).is_some() {
                report
                    .problems
                    .push(format!("key {k} appears more than once in Delta"));
            }
        }
    }
    report.delta_rows = delta.len();

    // The MySQL side in primary-key chunks (binary protocol: typed values):
    // one short query per chunk instead of one statement open for the whole
    // table on the production server.
    conn.query_drop("SET time_zone = '+00:00'").await?;
    let names: Vec<&str> = compared
        .iter()
        .map(|(i, _, _)| columns[*i].name.as_str())
        .collect();
    let key_names: Vec<&str> = key.iter().map(String::as_str).collect();
    let qualified = format!("{}.{}", keyset::quote(db), keyset::quote(table));
    let chunk_rows = source.snapshot_chunk_rows.max(1);
    let mut after: Option<Vec<Value>> = None;
    let mut mysql_rows = 0usize;
    let mut different = BTreeMap::new();
    let mut missing = BTreeMap::new();
    loop {
        let sql = keyset::select_sql(
            &qualified,
            &names,
            &key_names,
            after.is_some(),
            None,
            chunk_rows,
        );
        let params = match &after {
            Some(k) => Params::Positional(keyset::params(k)),
            None => Params::Empty,
        };
        let rows: Vec<mysql_async::Row> = conn.exec(sql, params).await?;
        report.chunks += 1;
        for row in &rows {
            mysql_rows += 1;
            let values: Vec<Option<String>> = compared
                .iter()
                .enumerate()
                .map(|(j, (i, _, ty))| {
                    let v = row.as_ref(j).unwrap_or(&Value::NULL);
                    canon_mysql(v, ty, is_geometry(&columns[*i].data_type))
                })
                .collect();
            let (k, h) = key_and_hash(&values, &key_idx, &key);
            match delta.remove(&k) {
                None => {
                    missing.insert(k, ());
                }
                Some(dh) if dh != h => {
                    different.insert(k, ());
                }
                Some(_) => {}
            }
        }
        match rows.last() {
            Some(last) if rows.len() >= chunk_rows => {
                after = Some(
                    key_idx
                        .iter()
                        .map(|&j| last.as_ref(j).cloned().unwrap_or(Value::NULL))
                        .collect(),
                );
            }
            _ => break,
        }
    }
    report.mysql_rows = mysql_rows;
    report.missing_in_delta = missing.into_keys().collect();
    report.different = different.into_keys().collect();
    let mut extra: Vec<String> = delta.into_keys().collect();
    extra.sort();
    report.extra_in_delta = extra;
    Ok(report)
}

fn is_geometry(data_type: &str) -> bool {
    matches!(
        data_type,
        "geometry"
            | "point"
            | "linestring"
            | "polygon"
            | "multipoint"
            | "multilinestring"
            | "multipolygon"
            | "geometrycollection"
            | "geomcollection"
    )
}

fn key_and_hash(values: &[Option<String>], key_idx: &[usize], key: &[String]) -> (String, u64) {
    let k = key_idx
        .iter()
        .zip(key)
        .map(|(&i, name)| format!("{name}={}", values[i].as_deref().unwrap_or("NULL")))
        .collect::<Vec<_>>()
        .join(",");
    let mut h = DefaultHasher::new();
    values.hash(&mut h);
    (k, h.finish())
}

/// `unscaled` × 10^-`scale` as plain text.
fn decimal_text(unscaled: i128, scale: i8) -> String {
    if scale <= 0 {
        return unscaled.to_string();
    }
    let s = scale as usize;
    let digits = unscaled.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = s + 1);
    let (int, frac) = digits.split_at(digits.len() - s);
    format!("{}{int}.{frac}", if unscaled < 0 { "-" } else { "" })
}

/// MySQL's decimal text at `scale`, as `decimal_text` writes it.
fn mysql_decimal(text: &str, scale: i8) -> Option<String> {
    let text = text.trim();
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let s = scale.max(0) as usize;
    let mut frac: String = frac.chars().take(s).collect();
    while frac.len() < s {
        frac.push('0');
    }
    let unscaled: i128 = format!("{int}{frac}").parse().ok()?;
    Some(decimal_text(if neg { -unscaled } else { unscaled }, scale))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn date_text(y: u16, m: u8, d: u8) -> Option<String> {
    (y != 0 && m != 0 && d != 0).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

fn canon_mysql(v: &Value, ty: &DataType, geometry: bool) -> Option<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Some(match (v, ty) {
        (Value::NULL, _) => return None,
        (Value::Int(i), DataType::Boolean) => (*i != 0).to_string(),
        (Value::UInt(u), DataType::Boolean) => (*u != 0).to_string(),
        (Value::Bytes(b), DataType::Boolean) => b.iter().any(|x| *x != 0).to_string(),
        (Value::Int(i), _) => i.to_string(),
        (Value::UInt(u), _) => u.to_string(),
        (Value::Float(f), DataType::Float32) => format!("f32:{}", f.to_bits()),
        (Value::Double(d), DataType::Float32) => format!("f32:{}", (*d as f32).to_bits()),
        (Value::Double(d), _) => format!("f64:{}", d.to_bits()),
        (Value::Float(f), _) => format!("f64:{}", f64::from(*f).to_bits()),
        (Value::Bytes(b), DataType::Decimal128(_, s)) => mysql_decimal(&text(b), *s)?,
        (Value::Bytes(b), DataType::Binary) => {
            if geometry && b.len() >= 4 {
                hex(&b[4..])
            } else {
                hex(b)
            }
        }
        (Value::Bytes(b), DataType::Int32 | DataType::Int64) => text(b).trim().to_string(),
        (Value::Bytes(b), _) => text(b),
        (Value::Date(y, m, d, ..), DataType::Date32) => date_text(*y, *m, *d)?,
        (Value::Date(y, m, d, h, i, s, us), _) => {
            format!("{} {h:02}:{i:02}:{s:02}.{us:06}", date_text(*y, *m, *d)?)
        }
        (Value::Time(neg, days, h, i, s, us), _) => {
            let secs =
                (i64::from(*days) * 24 + i64::from(*h)) * 3600 + i64::from(*i) * 60 + i64::from(*s);
            let micros = secs * 1_000_000 + i64::from(*us);
            (if *neg { -micros } else { micros }).to_string()
        }
    })
}

fn canon_arrow(a: &ArrayRef, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Float32 => format!("f32:{}", a.as_primitive::<Float32Type>().value(i).to_bits()),
        DataType::Float64 => format!("f64:{}", a.as_primitive::<Float64Type>().value(i).to_bits()),
        DataType::Decimal128(_, s) => decimal_text(a.as_primitive::<Decimal128Type>().value(i), *s),
        DataType::Utf8 => a.as_string::<i32>().value(i).to_owned(),
        DataType::Binary => hex(a.as_binary::<i32>().value(i)),
        DataType::Date32 => {
            let d = a.as_primitive::<Date32Type>().value(i);
            deltalake::arrow::temporal_conversions::date32_to_datetime(d)?
                .format("%Y-%m-%d")
                .to_string()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let t = a.as_primitive::<TimestampMicrosecondType>().value(i);
            deltalake::arrow::temporal_conversions::timestamp_us_to_datetime(t)?
                .format("%Y-%m-%d %H:%M:%S%.6f")
                .to_string()
        }
        other => format!("<{other}>"),
    })
}

/// The report for a person: one line per table, then the differing keys.
pub fn render(reports: &[TableReport]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for r in reports {
        if r.is_equal() {
            let _ = writeln!(
                out,
                "ok    {}: {} rows equal ({} key chunks)",
                r.table, r.mysql_rows, r.chunks
            );
            continue;
        }
        let _ = writeln!(
            out,
            "DIFF  {}: MySQL {} rows, Delta {} rows; {} missing in Delta, {} extra in Delta, {} different",
            r.table,
            r.mysql_rows,
            r.delta_rows,
            r.missing_in_delta.len(),
            r.extra_in_delta.len(),
            r.different.len()
        );
        for p in &r.problems {
            let _ = writeln!(out, "  problem: {p}");
        }
        for (what, keys) in [
            ("missing in Delta", &r.missing_in_delta),
            ("extra in Delta", &r.extra_in_delta),
            ("different", &r.different),
        ] {
            for k in keys.iter().take(SHOW) {
                let _ = writeln!(out, "  {what}: {k}");
            }
            if keys.len() > SHOW {
                let _ = writeln!(out, "  {what}: … and {} more", keys.len() - SHOW);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_agree_between_sides() {
        assert_eq!(decimal_text(-1250, 2), "-12.50");
        assert_eq!(decimal_text(5, 3), "0.005");
        assert_eq!(decimal_text(42, 0), "42");
        assert_eq!(mysql_decimal("-12.50", 2).as_deref(), Some("-12.50"));
        assert_eq!(mysql_decimal("0.005", 3).as_deref(), Some("0.005"));
        assert_eq!(
            mysql_decimal("18446744073709551615", 0).as_deref(),
            Some("18446744073709551615")
        );
    }

    #[test]
    fn zero_dates_are_null_and_times_are_micros() {
        assert_eq!(
            canon_mysql(&Value::Date(0, 0, 0, 0, 0, 0, 0), &DataType::Date32, false),
            None
        );
        assert_eq!(
            canon_mysql(&Value::Time(true, 1, 2, 3, 4, 5), &DataType::Int64, false).as_deref(),
            Some("-93784000005")
        );
        assert_eq!(
            canon_mysql(
                &Value::Bytes(vec![0, 0, 0, 0, 1, 2]),
                &DataType::Binary,
                true
            )
            .as_deref(),
            Some("0102")
        );
    }
}
