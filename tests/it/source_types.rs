//! Row decoding against a real MariaDB (`bash scripts/servers.sh start mariadb`):
//! every type of docs/contract.md ("Types") is written, read back from the
//! binlog with `TableDecoder`, and compared value by value with what a
//! SELECT of the same row returns.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use binlake::event::{ColumnType as T, Row, Value};
use binlake::source::charset::charset_name;
use binlake::source::decode::{zero_dates_total, DecodeError, TableDecoder, TableHints};
use futures_util::StreamExt;
use mysql_async::binlog::events::{EventData, RowsEventData, TableMapEvent};
use mysql_async::prelude::*;
use mysql_async::{BinlogStreamRequest, Conn, Opts};

/// How a column's expected value is read back with SQL.
#[derive(Clone, Copy, Debug)]
enum K {
    Int,
    Long,
    BigUnsigned,
    Dec,
    DecStr,
    F32,
    F64,
    Bool,
    Bit(usize),
    Year,
    Bytes,
    Text,
    Date,
    DateTime,
    Ts,
    Time,
    Wkb,
}

/// (name, DDL type, how to read it back, expected logical type)
const COLS: &[(&str, &str, K, T)] = &[
    ("id", "INT NOT NULL PRIMARY KEY", K::Int, T::Int),
    ("yr", "YEAR", K::Year, T::Int),
    ("ti", "TINYINT", K::Int, T::Int),
    ("tiu", "TINYINT UNSIGNED", K::Int, T::Int),
    ("si", "SMALLINT", K::Int, T::Int),
    ("siu", "SMALLINT UNSIGNED", K::Int, T::Int),
    ("mi", "MEDIUMINT", K::Int, T::Int),
    ("miu", "MEDIUMINT UNSIGNED", K::Int, T::Int),
    ("i", "INT NOT NULL", K::Int, T::Int),
    ("iu", "INT UNSIGNED", K::Long, T::Long),
    ("bi", "BIGINT", K::Long, T::Long),
    (
        "biu",
        "BIGINT UNSIGNED",
        K::BigUnsigned,
        T::Decimal {
            precision: 20,
            scale: 0,
        },
    ),
    (
        "d65",
        "DECIMAL(65,30)",
        K::DecStr,
        T::DecimalString {
            precision: 65,
            scale: 30,
        },
    ),
    (
        "d38",
        "DECIMAL(38,10)",
        K::Dec,
        T::Decimal {
            precision: 38,
            scale: 10,
        },
    ),
    (
        "d10",
        "DECIMAL(10,2) UNSIGNED",
        K::Dec,
        T::Decimal {
            precision: 10,
            scale: 2,
        },
    ),
    ("f", "FLOAT", K::F32, T::Float),
    ("dbl", "DOUBLE", K::F64, T::Double),
    ("b1", "BIT(1)", K::Bool, T::Boolean),
    ("b13", "BIT(13)", K::Bit(2), T::Bytes),
    ("dt", "DATE", K::Date, T::Date),
    ("dtm", "DATETIME(6)", K::DateTime, T::DateTime),
    ("ts", "TIMESTAMP(6) NULL DEFAULT NULL", K::Ts, T::Timestamp),
    ("tm", "TIME(6)", K::Time, T::Time),
    ("dtm0", "DATETIME", K::DateTime, T::DateTime),
    ("tm3", "TIME(3)", K::Time, T::Time),
    ("ts2", "TIMESTAMP(2) NULL DEFAULT NULL", K::Ts, T::Timestamp),
    ("c", "CHAR(10) CHARACTER SET utf8mb4", K::Text, T::String),
    (
        "vc",
        "VARCHAR(300) CHARACTER SET utf8mb4",
        K::Text,
        T::String,
    ),
    ("geo", "GEOMETRY", K::Wkb, T::Bytes),
    (
        "lat",
        "VARCHAR(10) CHARACTER SET latin1",
        K::Text,
        T::String,
    ),
    ("latc", "CHAR(5) CHARACTER SET latin1", K::Text, T::String),
    ("bin", "BINARY(16)", K::Bytes, T::Bytes),
    ("vb", "VARBINARY(20)", K::Bytes, T::Bytes),
    ("bl", "BLOB", K::Bytes, T::Bytes),
    ("tx", "TEXT CHARACTER SET utf8mb4", K::Text, T::String),
    (
        "en",
        "ENUM('a','b','ç') CHARACTER SET utf8mb4",
        K::Text,
        T::String,
    ),
    ("st", "SET('x','y','z')", K::Text, T::String),
    ("js", "JSON", K::Text, T::String),
    ("pt", "POINT", K::Wkb, T::Bytes),
    ("u2", "VARCHAR(5) CHARACTER SET ucs2", K::Text, T::String),
    ("cp", "VARCHAR(5) CHARACTER SET cp1251", K::Text, T::String),
    ("sj", "CHAR(4) CHARACTER SET sjis", K::Text, T::String),
];

const MAX_ROW: &str = "(1, 2155, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
  9223372036854775807, 18446744073709551615,
  '99999999999999999999999999999999999.999999999999999999999999999999',
  '9999999999999999999999999999.9999999999', 99999999.99, 3.5, 1.7976931348623157e308,
  b'1', b'1111111111111', '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999',
  '838:59:59.000000', '9999-12-31 23:59:59', '838:59:59.999', '2038-01-19 03:14:07.99',
  '😀ab', REPEAT('€', 300), ST_GeomFromText('LINESTRING(0 0,1 1)'), X'80E9', 'abc',
  X'01020000', X'00FF00', X'DEADBEEF00', 'text ü 😀', 'ç', 'x,z', '{\"a\": [1, 2.5, \"x\"]}',
  POINT(1.5, -2), 'Ωa', X'C6E6', 'ｱ')";

const MIN_ROW: &str = "(2, 1901, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0,
  -9223372036854775808, 0,
  '-99999999999999999999999999999999999.999999999999999999999999999999',
  '-9999999999999999999999999999.9999999999', 0, -0.25, -2.5e-300,
  b'0', b'0', '1000-01-01', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000',
  '-838:59:59.000000', '1000-01-01 00:00:00', '-00:00:01.500', '1970-01-01 00:00:01.01',
  '', '', ST_GeomFromText('POINT(0 0)'), '', '', X'', X'', X'', '', '', '', '[]',
  POINT(0, 0), '', '', '')";

/// Zero dates (also with a zero month or day), negative MEDIUMINT, YEAR 0.
const ODD_ROW: &str = "(3, 0, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, '-123.45', '0.0000000001', 0.01,
  1e-3, 0.1, b'1', b'0000000000001', '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00',
  '-00:00:00.000001', '2020-00-15 00:00:00', '12:00:00.001', '2024-02-29 12:34:56.5',
  'a  ', 'é', NULL, X'80', 'x', X'00000000000000000000000000000000', X'00', X'00', 'x', 'b', 'y', '\"s\"',
  NULL, NULL, NULL, NULL)";

fn url() -> String {
    std::env::var("BINLAKE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://binlake_admin:admin-secret@127.0.0.1:3307".into())
}

async fn connect() -> Conn {
    let opts = Opts::from_url(&url()).expect("BINLAKE_TEST_MYSQL_URL");
    Conn::new(opts)
        .await
        .expect("MariaDB is not reachable: run `bash scripts/servers.sh start mariadb` (see scripts/env.sh)")
}

/// A fresh database and a session allowing zero dates, in UTC.
async fn setup(tag: &str) -> (Conn, String) {
    let mut conn = connect().await;
    let db = format!("bl_src_{tag}_{}", std::process::id());
    conn.query_drop(format!(
        "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}"
    ))
    .await
    .unwrap();
    conn.query_drop(format!(
        "USE {db}; SET SESSION sql_mode=''; SET time_zone='+00:00'"
    ))
    .await
    .unwrap();
    conn.query_drop("CREATE TABLE marker (id INT PRIMARY KEY)")
        .await
        .unwrap();
    (conn, db)
}

async fn binlog_pos(conn: &mut Conn) -> (String, u64) {
    let row: mysql_async::Row = conn
        .query_first("SHOW MASTER STATUS")
        .await
        .unwrap()
        .expect("binlog is on");
    (row.get(0).unwrap(), row.get(1).unwrap())
}

type Captured = Vec<(TableMapEvent<'static>, RowsEventData<'static>)>;

/// Reads the binlog from `pos` and keeps the rows events of `db` (with their
/// TABLE_MAP), until the TABLE_MAP of `db.marker` shows everything was seen.
async fn capture(db: &str, (file, pos): (String, u64)) -> Captured {
    static NEXT_ID: AtomicU32 = AtomicU32::new(0);
    let server_id =
        40_000 + (std::process::id() % 1000) * 10 + NEXT_ID.fetch_add(1, Ordering::SeqCst);
    let mut conn = connect().await;
    conn.query_drop("SET @mariadb_slave_capability=4")
        .await
        .unwrap();
    let req = BinlogStreamRequest::new(server_id)
        .with_filename(file.as_bytes())
        .with_pos(pos);
    let mut stream = conn.get_binlog_stream(req).await.unwrap();
    let mut maps: HashMap<u64, TableMapEvent<'static>> = HashMap::new();
    let mut out = Vec::new();
    let read = async {
        while let Some(ev) = stream.next().await {
            match ev.unwrap().read_data().unwrap() {
                Some(EventData::TableMapEvent(tme)) if tme.database_name() == db => {
                    if tme.table_name() == "marker" {
                        return;
                    }
                    maps.insert(tme.table_id(), tme.into_owned());
                }
                Some(EventData::RowsEvent(rows)) => {
                    if let Some(tme) = maps.get(&rows.table_id()) {
                        out.push((tme.clone(), rows.into_owned()));
                    }
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("binlog read timed out");
    out
}

async fn mark_done(conn: &mut Conn) {
    conn.query_drop("INSERT INTO marker VALUES (1)")
        .await
        .unwrap();
}

fn create_all_types(table: &str) -> String {
    let cols: Vec<String> = COLS
        .iter()
        .map(|(n, d, _, _)| format!("`{n}` {d}"))
        .collect();
    // MariaDB's JSON is LONGTEXT + json_valid check; the crate never sees JSON type 245.
    format!(
        "CREATE TABLE {table} ({}) CHARACTER SET utf8mb4",
        cols.join(", ")
    )
}

fn select_expr(name: &str, k: K) -> String {
    let c = format!("`{name}`");
    match k {
        K::Int | K::Long | K::BigUnsigned | K::Dec | K::DecStr | K::F32 | K::F64 => {
            format!("CAST({c} AS CHAR)")
        }
        K::Bool | K::Year => format!("{c}+0"),
        K::Bit(n) => format!("LPAD(HEX({c}), {}, '0')", 2 * n),
        K::Bytes => format!("HEX({c})"),
        K::Text => format!("HEX(CONVERT({c} USING utf8mb4))"),
        K::Date => format!("DATEDIFF({c}, '1970-01-01')"),
        K::DateTime | K::Ts => format!("TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {c})"),
        K::Time => format!("CAST(TIME_TO_SEC({c}) * 1000000 AS SIGNED)"),
        K::Wkb => format!("HEX(ST_AsBinary({c}))"),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn expected_value(k: K, text: Option<String>) -> Value {
    let Some(t) = text else { return Value::Null };
    let int = |t: &str| t.parse::<i64>().unwrap();
    match k {
        K::Int | K::Year => Value::Int(int(&t) as i32),
        K::Long => Value::Long(int(&t)),
        K::BigUnsigned => Value::Decimal(t.parse::<u64>().unwrap() as i128),
        K::Dec => Value::Decimal(t.replace('.', "").parse().unwrap()),
        K::DecStr => Value::String(t),
        K::F32 => Value::Float(t.parse().unwrap()),
        K::F64 => Value::Double(t.parse().unwrap()),
        K::Bool => Value::Boolean(t == "1"),
        K::Bit(_) | K::Bytes | K::Wkb => Value::Bytes(hex(&t)),
        K::Text => Value::String(String::from_utf8(hex(&t)).unwrap()),
        K::Date => Value::Date(int(&t) as i32),
        K::DateTime => Value::DateTime(int(&t)),
        K::Ts => Value::Timestamp(int(&t)),
        K::Time => Value::Time(int(&t)),
    }
}

/// What SELECT says the rows of `table` are, ordered by id, as decoder Values.
async fn expected_rows(conn: &mut Conn, table: &str, cols: &[(&str, K)]) -> Vec<Row> {
    let exprs: Vec<String> = cols.iter().map(|(n, k)| select_expr(n, *k)).collect();
    let sql = format!("SELECT {} FROM {table} ORDER BY id", exprs.join(", "));
    let rows: Vec<mysql_async::Row> = conn.query(sql).await.unwrap();
    rows.into_iter()
        .map(|r| {
            let vals: Vec<Option<String>> = (0..cols.len())
                .map(|i| r.get::<Option<String>, _>(i).unwrap())
                .collect();
            cols.iter()
                .zip(vals)
                .map(|((_, k), v)| expected_value(*k, v))
                .collect()
        })
        .collect()
}

fn all_cols() -> Vec<(&'static str, K)> {
    COLS.iter().map(|(n, _, k, _)| (*n, *k)).collect()
}

fn assert_rows_eq(got: &Row, want: &Row, names: &[&str], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: column count");
    for ((g, w), n) in got.iter().zip(want).zip(names) {
        assert_eq!(g, w, "{what}: column `{n}`");
    }
}

fn hints_json() -> TableHints {
    TableHints {
        json_columns: HashSet::from(["js".to_string()]),
        ..TableHints::default()
    }
}

#[tokio::test]
async fn every_type_matches_select() {
    let (mut conn, db) = setup("types").await;
    conn.query_drop(create_all_types("t")).await.unwrap();
    let pos = binlog_pos(&mut conn).await;
    let zero_before = zero_dates_total();
    conn.query_drop(format!("INSERT INTO t VALUES {MAX_ROW}, {MIN_ROW}"))
        .await
        .unwrap();
    conn.query_drop(format!("INSERT INTO t VALUES {ODD_ROW}"))
        .await
        .unwrap();
    conn.query_drop("INSERT INTO t (id, i) VALUES (4, 0)")
        .await
        .unwrap();
    mark_done(&mut conn).await;
    let events = capture(&db, pos).await;
    let want = expected_rows(&mut conn, "t", &all_cols()).await;

    let (tme, _) = &events[0];
    let dec = TableDecoder::new(tme, &hints_json()).unwrap();
    let schema = dec.schema();
    assert_eq!(
        (schema.db.as_str(), schema.table.as_str()),
        (db.as_str(), "t")
    );
    assert_eq!(schema.key, vec![0]);
    for (col, (name, ddl, _, ty)) in schema.columns.iter().zip(COLS) {
        assert_eq!(
            (col.name.as_str(), &col.data_type),
            (*name, ty),
            "schema of {name}"
        );
        let date_like = matches!(ty, T::Date | T::DateTime | T::Timestamp);
        assert_eq!(
            col.nullable,
            date_like || !ddl.contains("NOT NULL"),
            "nullability of {name}"
        );
    }
    assert_eq!(schema.columns[13].source_type, "decimal(38,10)");
    assert_eq!(schema.columns[37].source_type, "json");
    assert_eq!(schema.columns.len(), COLS.len());

    let mut got = Vec::new();
    for (tme, rows) in &events {
        assert!(dec.matches(tme), "same table, same plan");
        for (before, after) in dec.decode_rows(rows).unwrap() {
            assert!(before.is_none());
            got.push(after.unwrap());
        }
    }
    assert_eq!(got.len(), 4);
    let names: Vec<&str> = COLS.iter().map(|c| c.0).collect();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_rows_eq(g, w, &names, &format!("row {}", i + 1));
    }
    // Spot checks of the defects FACTS lists, independent of the SELECT mapping.
    assert_eq!(got[2][6], Value::Int(-1), "MEDIUMINT -1");
    assert_eq!(got[2][1], Value::Int(0), "YEAR 0");
    assert_eq!(got[0][29], Value::String("€é".into()), "latin1 0x80");
    assert_eq!(
        got[0][31],
        Value::Bytes([&[1u8, 2][..], &[0; 14]].concat()),
        "BINARY(16) padding"
    );
    assert_eq!(
        got[0][12],
        Value::String("99999999999999999999999999999999999.999999999999999999999999999999".into())
    );
    assert_eq!(
        got[1][22],
        Value::Time(-3_020_399_000_000),
        "TIME -838:59:59"
    );
    assert_eq!(
        got[0][11],
        Value::Decimal(u64::MAX as i128),
        "BIGINT UNSIGNED max"
    );
    assert_eq!(got[0][35], Value::String("ç".into()), "ENUM text");
    assert_eq!(got[2][35], Value::String("b".into()));
    assert_eq!(got[2][19], Value::Null, "zero DATE");
    assert!(zero_dates_total() >= zero_before + 4, "zero dates counted");
    conn.query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
    corrupt_data_never_panics(&dec, events[0].1.rows_data());
}

/// Every truncation and many single-byte changes of a real rows event decode
/// to rows or a DecodeError, never a panic.
fn corrupt_data_never_panics(dec: &TableDecoder, data: &[u8]) {
    let all = vec![true; COLS.len()];
    assert_eq!(dec.decode_images(None, Some(&all), data).unwrap().len(), 2);
    for cut in 0..data.len() {
        // Cut inside a row: an error; cut at a row boundary: fewer rows.
        if let Ok(rows) = dec.decode_images(None, Some(&all), &data[..cut]) {
            assert!(rows.len() < 2, "cut at {cut}");
        }
    }
    for pos in 0..data.len() {
        for b in [0x00, 0x7f, 0x80, 0xff] {
            let mut d = data.to_vec();
            d[pos] = b;
            let _ = dec.decode_images(Some(&all), Some(&all), &d);
            let _ = dec.decode_images(None, Some(&all), &d);
        }
    }
    let short = vec![true; COLS.len() - 1];
    assert!(matches!(
        dec.decode_images(None, Some(&short), data),
        Err(DecodeError::ColumnCountMismatch { .. })
    ));
    let mut missing = all.clone();
    missing[3] = false;
    assert!(matches!(
        dec.decode_images(None, Some(&missing), data),
        Err(DecodeError::MissingFromImage { .. })
    ));
}

#[tokio::test]
async fn update_and_delete_images() {
    let (mut conn, db) = setup("upd").await;
    conn.query_drop(create_all_types("t")).await.unwrap();
    conn.query_drop(format!(
        "INSERT INTO t VALUES {MAX_ROW}, {MIN_ROW}, {ODD_ROW}"
    ))
    .await
    .unwrap();
    let pos = binlog_pos(&mut conn).await;
    let cols = all_cols();
    let before_update = expected_rows(&mut conn, "t", &cols).await;
    conn.query_drop(
        "UPDATE t SET mi = -5, d65 = '-0.5', vc = 'ñ', dtm = '2001-02-03 04:05:06.7', en = 'a', bin = X'FF' WHERE id = 1",
    )
    .await
    .unwrap();
    conn.query_drop("UPDATE t SET id = 30, ts = '2000-01-01 00:00:00' WHERE id = 3")
        .await
        .unwrap();
    let after_update = expected_rows(&mut conn, "t", &cols).await;
    conn.query_drop("DELETE FROM t WHERE id = 2").await.unwrap();
    mark_done(&mut conn).await;
    let events = capture(&db, pos).await;
    assert_eq!(events.len(), 3, "two updates and a delete");
    let dec = TableDecoder::new(&events[0].0, &hints_json()).unwrap();
    let names: Vec<&str> = COLS.iter().map(|c| c.0).collect();

    let upd1 = dec.decode_rows(&events[0].1).unwrap();
    let (b, a) = upd1.into_iter().next().unwrap();
    assert_rows_eq(&b.unwrap(), &before_update[0], &names, "update 1 before");
    assert_rows_eq(&a.unwrap(), &after_update[0], &names, "update 1 after");

    let upd2 = dec.decode_rows(&events[1].1).unwrap();
    let (b, a) = upd2.into_iter().next().unwrap();
    assert_rows_eq(&b.unwrap(), &before_update[2], &names, "key update before");
    let a = a.unwrap();
    assert_rows_eq(&a, &after_update[2], &names, "key update after");
    assert_eq!(dec.schema().key_of(&a), vec![&Value::Int(30)]);

    let del = dec.decode_rows(&events[2].1).unwrap();
    assert_eq!(del.len(), 1);
    let (b, a) = del.into_iter().next().unwrap();
    assert!(a.is_none());
    assert_rows_eq(&b.unwrap(), &after_update[1], &names, "delete before");
    conn.query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn hints_exclude_columns_and_choose_keys() {
    let (mut conn, db) = setup("hints").await;
    conn.query_drop(
        "CREATE TABLE nokey (a INT, b VARCHAR(10), secret VARCHAR(10), c INT);
         CREATE TABLE pk2 (c1 INT, c2 INT, t VARCHAR(100), PRIMARY KEY (c2, c1));
         CREATE TABLE pkp (t TEXT NOT NULL, v INT, PRIMARY KEY (t(10)))",
    )
    .await
    .unwrap();
    let pos = binlog_pos(&mut conn).await;
    conn.query_drop(
        "INSERT INTO nokey VALUES (1, 'x', 'hide', 3), (NULL, NULL, NULL, NULL);
         INSERT INTO pk2 VALUES (1, 2, 'y'); INSERT INTO pkp VALUES ('long text key', 5)",
    )
    .await
    .unwrap();
    mark_done(&mut conn).await;
    let events = capture(&db, pos).await;
    let find = |t: &str| events.iter().find(|(m, _)| m.table_name() == t).unwrap();

    let (tme, rows) = find("nokey");
    assert!(matches!(
        TableDecoder::new(tme, &TableHints::default()),
        Err(DecodeError::NoKey { .. })
    ));
    let bad = TableHints {
        key_override: Some(vec!["zzz".into()]),
        ..TableHints::default()
    };
    assert!(matches!(
        TableDecoder::new(tme, &bad),
        Err(DecodeError::UnknownKeyColumn { .. })
    ));
    let hints = TableHints {
        key_override: Some(vec!["c".into(), "A".into()]),
        excluded_columns: HashSet::from(["SECRET".to_string()]),
        source_types: HashMap::from([("b".to_string(), "varchar(10)".to_string())]),
        ..TableHints::default()
    };
    let dec = TableDecoder::new(tme, &hints).unwrap();
    let names: Vec<&str> = dec
        .schema()
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(dec.schema().key, vec![2, 0]);
    assert_eq!(dec.schema().columns[1].source_type, "varchar(10)");
    assert_eq!(dec.schema().columns[0].source_type, "int");
    let got: Vec<Row> = dec
        .decode_rows(rows)
        .unwrap()
        .into_iter()
        .map(|(_, a)| a.unwrap())
        .collect();
    assert_eq!(
        got[0],
        vec![Value::Int(1), Value::String("x".into()), Value::Int(3)]
    );
    assert_eq!(got[1], vec![Value::Null, Value::Null, Value::Null]);
    let exclude_key = TableHints {
        excluded_columns: HashSet::from(["c".to_string()]),
        ..hints
    };
    assert!(matches!(
        TableDecoder::new(tme, &exclude_key),
        Err(DecodeError::ExcludedKeyColumn { .. })
    ));

    let (tme, rows) = find("pk2");
    let dec = TableDecoder::new(tme, &TableHints::default()).unwrap();
    assert_eq!(
        dec.schema().key,
        vec![1, 0],
        "primary key order, not table order"
    );
    assert!(!dec.schema().columns[0].nullable);
    assert_eq!(
        dec.decode_rows(rows).unwrap()[0].1.as_ref().unwrap()[2],
        Value::String("y".into())
    );

    let (tme, rows) = find("pkp");
    let dec = TableDecoder::new(tme, &TableHints::default()).unwrap();
    assert_eq!(dec.schema().key, vec![0], "prefix primary key");
    assert_eq!(
        dec.decode_rows(rows).unwrap()[0].1,
        Some(vec![Value::String("long text key".into()), Value::Int(5)])
    );
    conn.query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_server_collation_maps_to_its_charset() {
    let mut conn = connect().await;
    let rows: Vec<(u32, String)> = conn
        .query("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY")
        .await
        .unwrap();
    assert!(rows.len() > 200);
    for (id, name) in rows {
        assert_eq!(
            charset_name(id as u16),
            Some(name.as_str()),
            "collation id {id}"
        );
    }
}
