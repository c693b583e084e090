//! One chunk: the next `chunk_rows` rows of a table after a key, read in a
//! consistent snapshot together with the binlog position it is consistent
//! with (the chunk's high watermark).

use mysql_async::prelude::Queryable;
use mysql_async::{Params, TxOpts, Value as My};
use serde::{Deserialize, Serialize};

use super::table::{ShapeRow, SnapshotTable, SHAPE_SQL};
use super::values;
use crate::event::Row;
use crate::source::binlog::Flavour;
use crate::source::keyset;
use crate::source::SourceError;

/// A key column value as bound to the next chunk's query; kept in the stored
/// progress, so it serialises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "lowercase")]
pub enum KeyParam {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// Hex.
    Bytes(String),
    Date(u16, u8, u8, u8, u8, u8, u32),
    Time(bool, u32, u8, u8, u8, u32),
}

impl KeyParam {
    fn from_my(v: &My) -> KeyParam {
        match v {
            My::NULL => KeyParam::Null,
            My::Int(i) => KeyParam::Int(*i),
            My::UInt(u) => KeyParam::UInt(*u),
            My::Float(f) => KeyParam::Float(*f),
            My::Double(d) => KeyParam::Double(*d),
            My::Bytes(b) => KeyParam::Bytes(b.iter().map(|x| format!("{x:02x}")).collect()),
            My::Date(y, m, d, h, mi, s, us) => KeyParam::Date(*y, *m, *d, *h, *mi, *s, *us),
            My::Time(n, d, h, m, s, us) => KeyParam::Time(*n, *d, *h, *m, *s, *us),
        }
    }

    pub fn to_my(&self) -> My {
        match self {
            KeyParam::Null => My::NULL,
            KeyParam::Int(i) => My::Int(*i),
            KeyParam::UInt(u) => My::UInt(*u),
            KeyParam::Float(f) => My::Float(*f),
            KeyParam::Double(d) => My::Double(*d),
            KeyParam::Bytes(h) => My::Bytes(
                (0..h.len() / 2)
                    .filter_map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect(),
            ),
            KeyParam::Date(y, m, d, h, mi, s, us) => My::Date(*y, *m, *d, *h, *mi, *s, *us),
            KeyParam::Time(n, d, h, m, s, us) => My::Time(*n, *d, *h, *m, *s, *us),
        }
    }
}

/// A binlog point: file and offset.
pub type BinlogPoint = (String, u64);

#[derive(Debug)]
pub struct Chunk {
    pub rows: Vec<Row>,
    /// Key of the last row, where the next chunk starts.
    pub last_key: Option<Vec<KeyParam>>,
    /// The binlog point the rows are consistent with (or later).
    pub high: BinlogPoint,
    /// Fewer rows than asked for: the range is read to its end.
    pub exhausted: bool,
    pub read_ts_ms: i64,
    /// A repairing backfill's chunk: the key of every row read (matching
    /// the predicate or not), for the marker's `keep`.
    pub keys: Vec<Vec<serde_json::Value>>,
}

/// `SELECT cols FROM t WHERE key > after AND (predicate) ORDER BY key LIMIT n`.
/// A repairing backfill reads every row of the key range instead, with the
/// predicate as a last column (`(predicate) IS TRUE`): the marker must list
/// every key MySQL holds in the range, matching or not.
pub fn select_sql(
    table: &SnapshotTable,
    after: bool,
    predicate: Option<&str>,
    limit: usize,
    repair: bool,
) -> String {
    let schema = &table.schema;
    let cols: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    let keys: Vec<&str> = schema.key_columns().map(|c| c.name.as_str()).collect();
    let quoted = &table.quoted_table();
    match predicate {
        Some(p) if repair => {
            let sql = keyset::select_sql(quoted, &cols, &keys, after, None, limit);
            let head: Vec<String> = cols.iter().map(|c| keyset::quote(c)).collect();
            let head = format!("SELECT {}", head.join(", "));
            format!("{head}, (({p}) IS TRUE){}", &sql[head.len()..])
        }
        _ => keyset::select_sql(quoted, &cols, &keys, after, predicate, limit),
    }
}

/// A key as bound to the chunk query, as marker JSON (see [`crate::backfill`]).
pub fn key_json(
    table: &SnapshotTable,
    key: &[KeyParam],
) -> Result<Vec<serde_json::Value>, SourceError> {
    key.iter()
        .zip(&table.schema.key)
        .map(|(p, &i)| {
            let how = *table.read_as.get(i).ok_or_else(|| {
                SourceError::Snapshot(format!(
                    "{}: key column {i} has no reader",
                    table.qualified_name()
                ))
            })?;
            let v = values::convert(how, p.to_my())
                .map_err(|e| SourceError::Decode(format!("{}: key {e}", table.qualified_name())))?;
            Ok(crate::backfill::key_json(&v))
        })
        .collect()
}

/// Parameters for [`select_sql`]'s key condition.
fn key_params(after: &[KeyParam]) -> Vec<My> {
    let after: Vec<My> = after.iter().map(KeyParam::to_my).collect();
    keyset::params(&after)
}

/// "Table definition has changed, please retry transaction".
const ER_TABLE_DEF_CHANGED: u16 = 1412;

/// Reads one chunk. On MariaDB the consistent snapshot reports its exact
/// binlog point; MySQL gives none, so its end of binlog after the read
/// serves (a later high watermark only drops more rows in favour of the
/// stream's own, newer changes).
pub async fn read(
    pool: &mysql_async::Pool,
    flavour: Flavour,
    table: &SnapshotTable,
    after: Option<&[KeyParam]>,
    predicate: Option<&str>,
    limit: usize,
    repair: bool,
) -> Result<Chunk, SourceError> {
    let sql = select_sql(table, after.is_some(), predicate, limit, repair);
    let flagged = repair && predicate.is_some();
    let mut conn = pool.get_conn().await.map_err(SourceError::connect)?;
    let mut opts = TxOpts::new();
    opts.with_consistent_snapshot(true).with_readonly(true);
    let mut tx = conn
        .start_transaction(opts)
        .await
        .map_err(SourceError::query(
            "START TRANSACTION WITH CONSISTENT SNAPSHOT",
        ))?;
    let exact = if flavour == Flavour::MariaDb {
        let stmt = "SHOW STATUS LIKE 'binlog_snapshot_%'";
        let vars: Vec<(String, String)> = tx.query(stmt).await.map_err(SourceError::query(stmt))?;
        let get = |n: &str| {
            vars.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        match (get("binlog_snapshot_file"), get("binlog_snapshot_position")) {
            (Some(f), Some(p)) if !f.is_empty() => p.parse().ok().map(|p| (f, p)),
            _ => None,
        }
    } else {
        None
    };
    // A DDL statement since the shape was read would leave the chunk's rows
    // without its columns (or misread them): the caller reads the shape
    // again. information_schema is not part of the snapshot, but a DDL
    // statement after the snapshot began fails the SELECT below instead.
    let shape: Vec<ShapeRow> = tx
        .exec(SHAPE_SQL, (&table.schema.db, &table.schema.table))
        .await
        .map_err(SourceError::query(SHAPE_SQL))?;
    if shape != table.shape {
        let _ = tx.rollback().await;
        return Err(SourceError::ShapeChanged(table.qualified_name()));
    }
    let params = after.map(key_params).unwrap_or_default();
    let params = if params.is_empty() {
        Params::Empty
    } else {
        Params::Positional(params)
    };
    let failed = |e: mysql_async::Error| match e {
        mysql_async::Error::Server(e) if e.code == ER_TABLE_DEF_CHANGED => {
            SourceError::ShapeChanged(table.qualified_name())
        }
        mysql_async::Error::Server(e) => {
            SourceError::Snapshot(format!("{}: {e} (query: {sql})", table.qualified_name()))
        }
        e => SourceError::connect(e),
    };
    // Each row is converted as it arrives: the protocol's rows are never
    // all held beside the converted ones.
    let key_idx = &table.schema.key;
    let mut read = 0usize;
    let mut last_key: Option<Vec<My>> = None;
    let mut rows = Vec::with_capacity(limit.min(100_000));
    let mut keys = Vec::new();
    let mut result = tx.exec_iter(sql.as_str(), params).await.map_err(failed)?;
    while let Some(r) = result.next().await.map_err(failed)? {
        read += 1;
        let mut values = r.unwrap();
        last_key = Some(
            key_idx
                .iter()
                .map(|&i| values.get(i).cloned().unwrap_or(My::NULL))
                .collect(),
        );
        // The predicate's column: 1 when the row matches.
        let matched = match flagged.then(|| values.pop()) {
            None => true,
            Some(Some(My::Int(1) | My::UInt(1))) => true,
            Some(Some(My::Bytes(b))) => b == b"1",
            Some(_) => false,
        };
        let mut row = Vec::with_capacity(values.len());
        for ((v, how), col) in values
            .into_iter()
            .zip(&table.read_as)
            .zip(&table.schema.columns)
        {
            row.push(values::convert(*how, v).map_err(|e| {
                SourceError::Decode(format!("{}.{}: {e}", table.qualified_name(), col.name))
            })?);
        }
        if repair {
            keys.push(crate::backfill::row_key_json(&table.schema, &row));
        }
        if matched {
            rows.push(row);
        }
    }
    drop(result);
    tx.commit().await.map_err(SourceError::query("COMMIT"))?;
    let high = match exact {
        Some(p) => p,
        // The status statement and its columns depend on the version.
        None => crate::source::server::end_of_binlog(&mut conn).await?,
    };
    let exhausted = read < limit;
    let last_key = last_key.map(|k| k.iter().map(KeyParam::from_my).collect());
    Ok(Chunk {
        rows,
        last_key,
        high,
        exhausted,
        read_ts_ms: crate::clock::now_ms(),
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Column, ColumnType, TableSchema};
    use std::sync::Arc;

    fn table(keys: Vec<usize>) -> SnapshotTable {
        let col = |n: &str| Column {
            name: n.into(),
            data_type: ColumnType::Int,
            nullable: false,
            source_type: "int".into(),
            default: None,
        };
        SnapshotTable {
            schema: Arc::new(TableSchema {
                db: "d".into(),
                table: "t".into(),
                columns: vec![col("a"), col("b"), col("c")],
                key: keys,
            }),
            read_as: vec![],
            shape: vec![],
        }
    }

    #[test]
    fn keyset_query_for_composite_keys() {
        let t = table(vec![0, 1]);
        assert_eq!(
            select_sql(&t, true, Some("c > 3"), 10, false),
            "SELECT `a`, `b`, `c` FROM `d`.`t` WHERE ((`a` > ?) OR (`a` = ? AND `b` > ?)) AND (c > 3) ORDER BY `a`, `b` LIMIT 10"
        );
        assert_eq!(
            select_sql(&t, false, None, 5, false),
            "SELECT `a`, `b`, `c` FROM `d`.`t` ORDER BY `a`, `b` LIMIT 5"
        );
        assert_eq!(
            select_sql(&t, false, Some("c > 3"), 5, true),
            "SELECT `a`, `b`, `c`, ((c > 3) IS TRUE) FROM `d`.`t` ORDER BY `a`, `b` LIMIT 5"
        );
        let p = [KeyParam::Int(1), KeyParam::Bytes("6162".into())];
        assert_eq!(
            key_params(&p),
            vec![My::Int(1), My::Int(1), My::Bytes(b"ab".to_vec())]
        );
    }

    #[test]
    fn key_params_round_trip_through_json() {
        let p = vec![
            KeyParam::UInt(7),
            KeyParam::Bytes("00ff".into()),
            KeyParam::Date(2026, 1, 2, 3, 4, 5, 6),
        ];
        let j = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Vec<KeyParam>>(&j).unwrap(), p);
        assert_eq!(p[1].to_my(), My::Bytes(vec![0, 255]));
    }
}
