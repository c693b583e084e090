//! Change events as Avro binary, written straight from [`Value`]s into a
//! byte buffer. This is the hot path: no intermediate `apache_avro::Value`,
//! no per-field allocation, no schema walk. The layout follows the schemas of
//! [`super::schema`] field by field; `tests/avro_roundtrip.rs` decodes the
//! output with apache_avro to hold the two together.

use thiserror::Error;

use crate::event::{
    ChangeEvent, Column, ColumnType, Op, Row, SnapshotMarker, SourceInfo, TableSchema, Value,
};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("table {table}: row has {got} values for {expected} columns")]
    RowLength {
        table: String,
        expected: usize,
        got: usize,
    },
    #[error("table {table}, column {column}: NULL in a NOT NULL column")]
    NullInNotNull { table: String, column: String },
    #[error("table {table}, column {column}: a {got} value does not fit column type {expected}")]
    TypeMismatch {
        table: String,
        column: String,
        expected: String,
        got: &'static str,
    },
    #[error(
        "table {table}, column {column}: unscaled value {value} has more than {precision} digits"
    )]
    DecimalOverflow {
        table: String,
        column: String,
        precision: u8,
        value: i128,
    },
    #[error("table {table}: a change with op {op} has no {which} row")]
    MissingRow {
        table: String,
        op: Op,
        which: &'static str,
    },
    #[error("the event is for table {got}, but this codec encodes {expected} (or another version of it)")]
    TableMismatch { expected: String, got: String },
}

/// `source.version`: the binlake release that wrote the message.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `source.connector`, as Debezium's MySQL connector writes it.
pub const CONNECTOR: &str = "mysql";

/// Debezium writes `"false"` for streamed changes (SPEC lists true/last/false).
pub fn snapshot_text(marker: SnapshotMarker) -> &'static str {
    marker.as_str().unwrap_or("false")
}

/// u64 counters as Avro long; values past i64::MAX cannot occur in practice.
pub(crate) fn long_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Appends a zig-zag varint (Avro int and long).
#[inline]
pub fn write_long(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

#[inline]
fn write_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    write_long(buf, b.len() as i64);
    buf.extend_from_slice(b);
}

// Union branch indexes of `["null", T]`, already zig-zag encoded.
const NULL_BRANCH: u8 = 0;
const VALUE_BRANCH: u8 = 2;

#[inline]
fn write_opt_str(buf: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => buf.push(NULL_BRANCH),
        Some(s) => {
            buf.push(VALUE_BRANCH);
            write_bytes(buf, s.as_bytes());
        }
    }
}

/// Big-endian two's complement in the fewest bytes (Java's
/// `BigInteger.toByteArray`), as Avro's decimal expects: 0 → `00`,
/// -1 → `ff`, 128 → `00 80`.
pub fn decimal_bytes(v: i128) -> Vec<u8> {
    let be = v.to_be_bytes();
    be[minimal_start(&be)..].to_vec()
}

#[inline]
fn minimal_start(be: &[u8; 16]) -> usize {
    let mut i = 0;
    // A leading byte is redundant when it only repeats the sign of the next.
    while i < 15 {
        let next_negative = be[i + 1] & 0x80 != 0;
        match be[i] {
            0x00 if !next_negative => i += 1,
            0xFF if next_negative => i += 1,
            _ => break,
        }
    }
    i
}

const fn pow10_table() -> [u128; 39] {
    let mut t = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
}
const POW10: [u128; 39] = pow10_table();

/// Whether an unscaled decimal has at most `precision` digits.
pub fn decimal_fits(v: i128, precision: u8) -> bool {
    match POW10.get(precision as usize) {
        Some(&limit) => v.unsigned_abs() < limit,
        None => true,
    }
}

/// The name of a value's variant, for errors.
pub fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Boolean(_) => "Boolean",
        Value::Int(_) => "Int",
        Value::Long(_) => "Long",
        Value::Float(_) => "Float",
        Value::Double(_) => "Double",
        Value::Decimal(_) => "Decimal",
        Value::String(_) => "String",
        Value::Bytes(_) => "Bytes",
        Value::Date(_) => "Date",
        Value::DateTime(_) => "DateTime",
        Value::Timestamp(_) => "Timestamp",
        Value::Time(_) => "Time",
    }
}

/// The error for a value that does not belong in its column (cold path).
pub(crate) fn mismatch(table: &TableSchema, column: &Column, value: &Value) -> EncodeError {
    match (value, &column.data_type) {
        (Value::Null, _) => EncodeError::NullInNotNull {
            table: table.qualified_name(),
            column: column.name.clone(),
        },
        (Value::Decimal(v), ColumnType::Decimal { precision, .. }) => {
            EncodeError::DecimalOverflow {
                table: table.qualified_name(),
                column: column.name.clone(),
                precision: *precision,
                value: *v,
            }
        }
        _ => EncodeError::TypeMismatch {
            table: table.qualified_name(),
            column: column.name.clone(),
            expected: format!("{:?}", column.data_type),
            got: value_kind(value),
        },
    }
}

/// One column value; nullable columns are a union with null.
#[inline]
fn write_column(
    buf: &mut Vec<u8>,
    table: &TableSchema,
    column: &Column,
    value: &Value,
) -> Result<(), EncodeError> {
    if column.nullable {
        // `[T, "null"]` when the column has a literal default (see schema).
        let first = super::schema::value_branch_first(column);
        if let Value::Null = value {
            buf.push(if first { VALUE_BRANCH } else { NULL_BRANCH });
            return Ok(());
        }
        buf.push(if first { NULL_BRANCH } else { VALUE_BRANCH });
    }
    match (&column.data_type, value) {
        (ColumnType::Boolean, Value::Boolean(b)) => buf.push(u8::from(*b)),
        (ColumnType::Int, Value::Int(v)) | (ColumnType::Date, Value::Date(v)) => {
            write_long(buf, i64::from(*v))
        }
        (ColumnType::Long, Value::Long(v))
        | (ColumnType::DateTime, Value::DateTime(v))
        | (ColumnType::Timestamp, Value::Timestamp(v))
        | (ColumnType::Time, Value::Time(v)) => write_long(buf, *v),
        (ColumnType::Float, Value::Float(v)) => buf.extend_from_slice(&v.to_le_bytes()),
        (ColumnType::Double, Value::Double(v)) => buf.extend_from_slice(&v.to_le_bytes()),
        (ColumnType::Decimal { precision, .. }, Value::Decimal(v))
            if decimal_fits(*v, *precision) =>
        {
            let be = v.to_be_bytes();
            write_bytes(buf, &be[minimal_start(&be)..]);
        }
        (ColumnType::String | ColumnType::DecimalString { .. }, Value::String(s)) => {
            write_bytes(buf, s.as_bytes())
        }
        (ColumnType::Bytes, Value::Bytes(b)) => write_bytes(buf, b),
        _ => return Err(mismatch(table, column, value)),
    }
    Ok(())
}

pub(crate) fn check_len(table: &TableSchema, row: &Row) -> Result<(), EncodeError> {
    if row.len() != table.columns.len() {
        return Err(EncodeError::RowLength {
            table: table.qualified_name(),
            expected: table.columns.len(),
            got: row.len(),
        });
    }
    Ok(())
}

/// Appends the `Key` record of a row: its key columns in key order.
pub fn write_key(buf: &mut Vec<u8>, table: &TableSchema, row: &Row) -> Result<(), EncodeError> {
    check_len(table, row)?;
    for &i in &table.key {
        write_column(buf, table, &table.columns[i], &row[i])?;
    }
    Ok(())
}

/// Appends the `Value` record of a row: every column in table order.
pub fn write_row(buf: &mut Vec<u8>, table: &TableSchema, row: &Row) -> Result<(), EncodeError> {
    check_len(table, row)?;
    for (column, value) in table.columns.iter().zip(row) {
        write_column(buf, table, column, value)?;
    }
    Ok(())
}

fn write_opt_row(
    buf: &mut Vec<u8>,
    table: &TableSchema,
    row: Option<&Row>,
) -> Result<(), EncodeError> {
    match row {
        None => buf.push(NULL_BRANCH),
        Some(row) => {
            buf.push(VALUE_BRANCH);
            write_row(buf, table, row)?;
        }
    }
    Ok(())
}

/// The row the key comes from, with the op's required rows present.
pub fn key_row(event: &ChangeEvent) -> Result<&Row, EncodeError> {
    let missing = |which| EncodeError::MissingRow {
        table: event.table.qualified_name(),
        op: event.op,
        which,
    };
    match event.op {
        Op::Delete => event.before.as_ref().ok_or_else(|| missing("before")),
        Op::Create | Op::Read | Op::Update => event.after.as_ref().ok_or_else(|| missing("after")),
        // A truncate has no row and a null Kafka key.
        Op::Truncate => Err(missing("key")),
    }
}

/// Appends the `io.debezium.connector.mysql.Source` record.
pub fn write_source(buf: &mut Vec<u8>, table: &TableSchema, s: &SourceInfo) {
    write_bytes(buf, VERSION.as_bytes());
    write_bytes(buf, CONNECTOR.as_bytes());
    write_bytes(buf, s.name.as_bytes());
    write_long(buf, s.ts_ms);
    write_opt_str(buf, Some(snapshot_text(s.snapshot)));
    write_bytes(buf, table.db.as_bytes());
    write_opt_str(buf, Some(&table.table));
    write_long(buf, i64::from(s.server_id));
    write_opt_str(buf, s.gtid.as_deref());
    write_bytes(buf, s.file.as_bytes());
    write_long(buf, long_of(s.pos));
    write_long(buf, i64::from(i32::try_from(s.row).unwrap_or(i32::MAX)));
    match s.thread {
        None => buf.push(NULL_BRANCH),
        Some(t) => {
            buf.push(VALUE_BRANCH);
            write_long(buf, long_of(t));
        }
    }
    write_opt_str(buf, s.query.as_deref());
}

/// Appends the `Envelope` record of a change; `handled_ts_ms` is when
/// binlake handled it (top-level `ts_ms`). `table` is the codec's schema,
/// which the caller has checked against `event.table`.
pub fn write_envelope(
    buf: &mut Vec<u8>,
    table: &TableSchema,
    event: &ChangeEvent,
    handled_ts_ms: i64,
) -> Result<(), EncodeError> {
    if event.op != Op::Truncate {
        key_row(event)?;
    }
    write_opt_row(buf, table, event.before.as_ref())?;
    write_opt_row(buf, table, event.after.as_ref())?;
    write_source(buf, table, &event.source);
    write_bytes(buf, event.op.code().as_bytes());
    buf.push(VALUE_BRANCH);
    write_long(buf, handled_ts_ms);
    match &event.transaction {
        None => buf.push(NULL_BRANCH),
        Some(t) => {
            buf.push(VALUE_BRANCH);
            write_bytes(buf, t.id.as_bytes());
            write_long(buf, long_of(t.total_order));
            write_long(buf, long_of(t.data_collection_order));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_bytes_are_minimal_twos_complement() {
        assert_eq!(decimal_bytes(0), [0x00]);
        assert_eq!(decimal_bytes(-1), [0xFF]);
        assert_eq!(decimal_bytes(127), [0x7F]);
        assert_eq!(decimal_bytes(128), [0x00, 0x80]);
        assert_eq!(decimal_bytes(-128), [0x80]);
        assert_eq!(decimal_bytes(-129), [0xFF, 0x7F]);
        assert_eq!(decimal_bytes(255), [0x00, 0xFF]);
        assert_eq!(decimal_bytes(256), [0x01, 0x00]);
        let max38 = 10i128.pow(38) - 1;
        // 10^38 - 1 = 0x4B3B4CA85A86C47A098A223FFFFFFFFF: 16 bytes, top bit clear.
        assert_eq!(decimal_bytes(max38), max38.to_be_bytes());
        assert_eq!(decimal_bytes(-max38), (-max38).to_be_bytes());
        assert_eq!(decimal_bytes(i128::MAX), i128::MAX.to_be_bytes());
        assert_eq!(decimal_bytes(i128::MIN), i128::MIN.to_be_bytes());
        for v in [
            0i128,
            1,
            -1,
            127,
            128,
            -128,
            1 << 70,
            -(1 << 70),
            max38,
            -max38,
        ] {
            let b = decimal_bytes(v);
            // Sign-extend back and compare.
            let mut full = if b[0] & 0x80 != 0 {
                [0xFF; 16]
            } else {
                [0; 16]
            };
            full[16 - b.len()..].copy_from_slice(&b);
            assert_eq!(i128::from_be_bytes(full), v);
        }
    }

    #[test]
    fn decimal_precision_bounds() {
        let max38 = 10i128.pow(38) - 1;
        assert!(decimal_fits(max38, 38));
        assert!(decimal_fits(-max38, 38));
        assert!(!decimal_fits(max38 + 1, 38));
        assert!(decimal_fits(99_999, 5));
        assert!(!decimal_fits(-100_000, 5));
        assert!(!decimal_fits(i128::MIN, 38));
    }

    #[test]
    fn zigzag_varints() {
        let enc = |v: i64| {
            let mut b = Vec::new();
            write_long(&mut b, v);
            b
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(-1), [0x01]);
        assert_eq!(enc(1), [0x02]);
        assert_eq!(enc(-64), [0x7F]);
        assert_eq!(enc(64), [0x80, 0x01]);
        assert_eq!(
            enc(i64::MAX),
            [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
        assert_eq!(
            enc(i64::MIN),
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
    }

    #[test]
    fn snapshot_marker_text() {
        assert_eq!(snapshot_text(SnapshotMarker::False), "false");
        assert_eq!(snapshot_text(SnapshotMarker::True), "true");
        assert_eq!(snapshot_text(SnapshotMarker::Last), "last");
    }
}
