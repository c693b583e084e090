//! Change events as `apache_avro` values, for code that works with the
//! generic Avro API (tests, tools, cross-checks of the direct writer in
//! [`super::encode`]). Too slow for the hot path: every field allocates.

use apache_avro::types::Value as Avro;
use apache_avro::Decimal;

use super::encode::{self, check_len, key_row, long_of, mismatch, snapshot_text, EncodeError};
use super::names::TableNames;
use crate::event::{
    ChangeEvent, Column, ColumnType, Row, SourceInfo, TableSchema, TransactionInfo, Value,
};

/// One column value as its schema types it: `Union` for nullable columns.
pub fn column_value(
    table: &TableSchema,
    column: &Column,
    value: &Value,
) -> Result<Avro, EncodeError> {
    if column.nullable {
        let first = super::schema::value_branch_first(column);
        return Ok(match value {
            Value::Null => Avro::Union(u32::from(first), Box::new(Avro::Null)),
            v => Avro::Union(u32::from(!first), Box::new(plain_value(table, column, v)?)),
        });
    }
    plain_value(table, column, value)
}

fn plain_value(table: &TableSchema, column: &Column, value: &Value) -> Result<Avro, EncodeError> {
    Ok(match (&column.data_type, value) {
        (ColumnType::Boolean, Value::Boolean(b)) => Avro::Boolean(*b),
        (ColumnType::Int, Value::Int(v)) => Avro::Int(*v),
        (ColumnType::Long, Value::Long(v)) => Avro::Long(*v),
        (ColumnType::Float, Value::Float(v)) => Avro::Float(*v),
        (ColumnType::Double, Value::Double(v)) => Avro::Double(*v),
        (ColumnType::Decimal { precision, .. }, Value::Decimal(v))
            if encode::decimal_fits(*v, *precision) =>
        {
            Avro::Decimal(Decimal::from(encode::decimal_bytes(*v)))
        }
        (ColumnType::DecimalString { .. } | ColumnType::String, Value::String(s)) => {
            Avro::String(s.clone())
        }
        (ColumnType::Date, Value::Date(v)) => Avro::Date(*v),
        (ColumnType::DateTime, Value::DateTime(v)) => Avro::LocalTimestampMicros(*v),
        (ColumnType::Timestamp, Value::Timestamp(v)) => Avro::TimestampMicros(*v),
        (ColumnType::Time, Value::Time(v)) => Avro::Long(*v),
        (ColumnType::Bytes, Value::Bytes(b)) => Avro::Bytes(b.clone()),
        _ => return Err(mismatch(table, column, value)),
    })
}

/// The `Key` record of a row.
pub fn key_value(names: &TableNames, table: &TableSchema, row: &Row) -> Result<Avro, EncodeError> {
    check_len(table, row)?;
    let fields = table
        .key
        .iter()
        .map(|&i| {
            Ok((
                names.fields[i].clone(),
                column_value(table, &table.columns[i], &row[i])?,
            ))
        })
        .collect::<Result<Vec<_>, EncodeError>>()?;
    Ok(Avro::Record(fields))
}

/// The `Value` record of a row.
pub fn row_value(names: &TableNames, table: &TableSchema, row: &Row) -> Result<Avro, EncodeError> {
    check_len(table, row)?;
    let fields = table
        .columns
        .iter()
        .zip(row)
        .zip(&names.fields)
        .map(|((column, value), name)| Ok((name.clone(), column_value(table, column, value)?)))
        .collect::<Result<Vec<_>, EncodeError>>()?;
    Ok(Avro::Record(fields))
}

fn nullable(v: Option<Avro>) -> Avro {
    match v {
        None => Avro::Union(0, Box::new(Avro::Null)),
        Some(v) => Avro::Union(1, Box::new(v)),
    }
}

fn text(s: &str) -> Avro {
    Avro::String(s.to_owned())
}

/// The `source` record.
pub fn source_value(table: &TableSchema, s: &SourceInfo) -> Avro {
    Avro::Record(vec![
        ("version".into(), text(encode::VERSION)),
        ("connector".into(), text(encode::CONNECTOR)),
        ("name".into(), text(&s.name)),
        ("ts_ms".into(), Avro::Long(s.ts_ms)),
        (
            "snapshot".into(),
            nullable(Some(text(snapshot_text(s.snapshot)))),
        ),
        ("db".into(), text(&table.db)),
        ("table".into(), nullable(Some(text(&table.table)))),
        ("server_id".into(), Avro::Long(i64::from(s.server_id))),
        ("gtid".into(), nullable(s.gtid.as_deref().map(text))),
        ("file".into(), text(&s.file)),
        ("pos".into(), Avro::Long(long_of(s.pos))),
        (
            "row".into(),
            Avro::Int(i32::try_from(s.row).unwrap_or(i32::MAX)),
        ),
        (
            "thread".into(),
            nullable(s.thread.map(|t| Avro::Long(long_of(t)))),
        ),
        ("query".into(), nullable(s.query.as_deref().map(text))),
    ])
}

/// The `transaction` record.
pub fn transaction_value(t: &TransactionInfo) -> Avro {
    Avro::Record(vec![
        ("id".into(), text(&t.id)),
        ("total_order".into(), Avro::Long(long_of(t.total_order))),
        (
            "data_collection_order".into(),
            Avro::Long(long_of(t.data_collection_order)),
        ),
    ])
}

/// The `Envelope` record of a change.
pub fn envelope_value(
    names: &TableNames,
    event: &ChangeEvent,
    handled_ts_ms: i64,
) -> Result<Avro, EncodeError> {
    if event.op != crate::event::Op::Truncate {
        key_row(event)?;
    }
    let table = &*event.table;
    let row = |r: &Option<Row>| r.as_ref().map(|r| row_value(names, table, r)).transpose();
    Ok(Avro::Record(vec![
        ("before".into(), nullable(row(&event.before)?)),
        ("after".into(), nullable(row(&event.after)?)),
        ("source".into(), source_value(table, &event.source)),
        ("op".into(), text(event.op.code())),
        ("ts_ms".into(), nullable(Some(Avro::Long(handled_ts_ms)))),
        (
            "transaction".into(),
            nullable(event.transaction.as_ref().map(transaction_value)),
        ),
    ]))
}
