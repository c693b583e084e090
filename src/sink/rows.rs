//! Decoded changes as one Arrow batch in the Delta table's schema: source
//! columns by name (null where a writer schema lacks them) plus binlake's
//! metadata columns.

use std::sync::Arc;

use apache_avro::types::Value as Avro;
use deltalake::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef, TimeUnit};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use thiserror::Error;

use super::decode::SinkRecord;
use super::defaults::ColumnHistory;
use crate::event::Op;

pub const OP: &str = "__op";
pub const SOURCE_TS_MS: &str = "__source_ts_ms";
pub const SOURCE_POS: &str = "__source_pos";
pub const DELETED: &str = "__deleted";

#[derive(Debug, Error)]
pub enum RowsError {
    #[error("column `{column}`: a {value} value cannot be stored in a {column_type} column")]
    Type {
        column: String,
        value: String,
        column_type: DataType,
    },
    #[error("column `{column}`: Delta type {column_type} is not one binlake writes")]
    Unsupported {
        column: String,
        column_type: DataType,
    },
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// The metadata columns SPEC adds after the source columns.
pub fn metadata_fields(soft_deletes: bool) -> Vec<Field> {
    let mut f = vec![
        Field::new(OP, DataType::Utf8, true),
        Field::new(SOURCE_TS_MS, DataType::Int64, true),
        Field::new(SOURCE_POS, DataType::Utf8, true),
    ];
    if soft_deletes {
        f.push(Field::new(DELETED, DataType::Boolean, true));
    }
    f
}

pub fn is_metadata(name: &str) -> bool {
    matches!(name, OP | SOURCE_TS_MS | SOURCE_POS | DELETED)
}

/// `records` as rows of `schema`. A delete's row is its before image, with
/// `__op = d` and `__deleted = true` (soft deletes keep it).
/// A column a record's writer schema lacks holds what `history` says (the
/// column's default for a record that predates it, else null).
pub fn build_batch(
    schema: &SchemaRef,
    records: &[&SinkRecord],
    history: &ColumnHistory,
) -> Result<RecordBatch, RowsError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name().as_str();
        let array: ArrayRef = match name {
            OP => Arc::new(
                records
                    .iter()
                    .map(|r| Some(r.op.code()))
                    .collect::<deltalake::arrow::array::StringArray>(),
            ),
            SOURCE_TS_MS => Arc::new(
                records
                    .iter()
                    .map(|r| Some(r.ts_ms))
                    .collect::<deltalake::arrow::array::Int64Array>(),
            ),
            SOURCE_POS => Arc::new(
                records
                    .iter()
                    .map(|r| Some(r.pos.as_str()))
                    .collect::<deltalake::arrow::array::StringArray>(),
            ),
            DELETED => Arc::new(
                records
                    .iter()
                    .map(|r| Some(r.op == Op::Delete))
                    .collect::<deltalake::arrow::array::BooleanArray>(),
            ),
            _ => source_column(field, records, history)?,
        };
        columns.push(array);
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn cell<'a>(r: &'a SinkRecord, name: &str, history: &'a ColumnHistory) -> Option<&'a Avro> {
    match r.schema.index.get(name) {
        Some(&i) => r.row.get(i).filter(|v| !matches!(v, Avro::Null)),
        None => history.missing_value(name, r.schema.id),
    }
}

fn type_error(field: &Field, v: &Avro) -> RowsError {
    RowsError::Type {
        column: field.name().clone(),
        value: format!("{:?}", std::mem::discriminant(v)).replace("Discriminant", "Avro"),
        column_type: field.data_type().clone(),
    }
}

macro_rules! fill {
    ($builder:expr, $field:expr, $records:expr, |$v:ident| $conv:expr) => {{
        let mut b = $builder;
        for c in $records.iter() {
            match *c {
                None => b.append_null(),
                Some($v) => match $conv {
                    Some(x) => b.append_value(x),
                    None => return Err(type_error($field, $v)),
                },
            }
        }
        Arc::new(b.finish()) as ArrayRef
    }};
}

fn source_column(
    field: &Field,
    recs: &[&SinkRecord],
    history: &ColumnHistory,
) -> Result<ArrayRef, RowsError> {
    let n = recs.len();
    let records: Vec<Option<&Avro>> = recs
        .iter()
        .map(|r| cell(r, field.name(), history))
        .collect();
    Ok(match field.data_type() {
        DataType::Boolean => fill!(
            BooleanBuilder::with_capacity(n),
            field,
            records,
            |v| match v {
                Avro::Boolean(b) => Some(*b),
                _ => None,
            }
        ),
        DataType::Int32 => fill!(
            Int32Builder::with_capacity(n),
            field,
            records,
            |v| match v {
                Avro::Int(i) => Some(*i),
                _ => None,
            }
        ),
        DataType::Int64 => fill!(
            Int64Builder::with_capacity(n),
            field,
            records,
            |v| match v {
                Avro::Long(i) | Avro::TimeMicros(i) => Some(*i),
                // A column widened from int keeps its older values.
                Avro::Int(i) => Some(i64::from(*i)),
                _ => None,
            }
        ),
        DataType::Float32 => fill!(
            Float32Builder::with_capacity(n),
            field,
            records,
            |v| match v {
                Avro::Float(f) => Some(*f),
                _ => None,
            }
        ),
        DataType::Float64 => fill!(
            Float64Builder::with_capacity(n),
            field,
            records,
            |v| match v {
                Avro::Double(f) => Some(*f),
                Avro::Float(f) => Some(f64::from(*f)),
                _ => None,
            }
        ),
        DataType::Utf8 => fill!(
            StringBuilder::with_capacity(n, n * 16),
            field,
            records,
            |v| {
                match v {
                    Avro::String(s) | Avro::Enum(_, s) => Some(s.as_str()),
                    _ => None,
                }
            }
        ),
        DataType::Binary => fill!(
            BinaryBuilder::with_capacity(n, n * 16),
            field,
            records,
            |v| {
                match v {
                    Avro::Bytes(b) | Avro::Fixed(_, b) => Some(b.as_slice()),
                    _ => None,
                }
            }
        ),
        DataType::Date32 => fill!(
            Date32Builder::with_capacity(n),
            field,
            records,
            |v| match v {
                Avro::Date(d) | Avro::Int(d) => Some(*d),
                _ => None,
            }
        ),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone_opt(tz.clone());
            fill!(b, field, records, |v| match v {
                Avro::LocalTimestampMicros(t) | Avro::TimestampMicros(t) | Avro::Long(t) =>
                    Some(*t),
                Avro::LocalTimestampMillis(t) | Avro::TimestampMillis(t) => t.checked_mul(1000),
                _ => None,
            })
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::with_capacity(n).with_precision_and_scale(*p, *s)?;
            for (r, c) in recs.iter().zip(&records) {
                let Some(v) = *c else {
                    b.append_null();
                    continue;
                };
                let unscaled = match v {
                    Avro::Decimal(d) => Vec::<u8>::try_from(d).ok().and_then(|b| be_i128(&b)),
                    Avro::Bytes(b) => be_i128(b),
                    _ => None,
                };
                // A record written before the column's scale grew.
                let from = writer_scale(r, field.name()).unwrap_or(*s);
                match unscaled.and_then(|u| rescale(u, from, *s)) {
                    Some(x) => b.append_value(x),
                    None => return Err(type_error(field, v)),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }
        other => {
            return Err(RowsError::Unsupported {
                column: field.name().clone(),
                column_type: other.clone(),
            })
        }
    })
}

/// `value` as a one-row array of `field`'s type.
pub fn constant(field: &Field, value: &Avro) -> Result<ArrayRef, RowsError> {
    let schema = Arc::new(super::decode::RowSchema {
        id: 0,
        columns: vec![super::decode::ColumnSpec {
            name: field.name().clone(),
            data_type: field.data_type().clone(),
            default: None,
        }],
        index: [(field.name().clone(), 0)].into(),
    });
    let r = SinkRecord {
        op: Op::Create,
        schema,
        row: vec![value.clone()],
        key_fields: Arc::from(Vec::new()),
        ts_ms: 0,
        pos: String::new(),
        db: String::new(),
        table: String::new(),
    };
    source_column(field, &[&r], &ColumnHistory::default())
}

/// The scale of a decimal column in the record's own (writer) schema.
fn writer_scale(r: &SinkRecord, name: &str) -> Option<i8> {
    let i = *r.schema.index.get(name)?;
    match r.schema.columns.get(i)?.data_type {
        DataType::Decimal128(_, s) => Some(s),
        _ => None,
    }
}

/// An unscaled decimal at scale `from` as one at scale `to` ≥ `from`.
fn rescale(unscaled: i128, from: i8, to: i8) -> Option<i128> {
    let up = u32::try_from(i32::from(to) - i32::from(from)).ok()?;
    unscaled.checked_mul(10i128.checked_pow(up)?)
}

/// Avro decimal bytes (big-endian two's complement) as an i128.
fn be_i128(b: &[u8]) -> Option<i128> {
    if b.len() > 16 {
        return None;
    }
    if b.is_empty() {
        return Some(0);
    }
    let fill = if b[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut buf = [fill; 16];
    buf[16 - b.len()..].copy_from_slice(b);
    Some(i128::from_be_bytes(buf))
}

/// The Arrow schema of a new table: the writer's columns (all nullable, so
/// later schema versions can leave them out) and the metadata columns.
pub fn table_schema(columns: &[super::decode::ColumnSpec], soft_deletes: bool) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, c.data_type.clone(), true))
        .collect();
    fields.extend(metadata_fields(soft_deletes));
    Arc::new(ArrowSchema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::decode::{ColumnSpec, RowSchema};
    use deltalake::arrow::array::{Array, AsArray};
    use deltalake::arrow::datatypes::{Decimal128Type, Int64Type};

    fn record(schema: &Arc<RowSchema>, op: Op, row: Vec<Avro>) -> SinkRecord {
        SinkRecord {
            op,
            schema: schema.clone(),
            row,
            key_fields: Arc::from(vec!["id".to_string()]),
            ts_ms: 1_700_000_000_000,
            pos: "0-1-5".into(),
            db: "d".into(),
            table: "t".into(),
        }
    }

    #[test]
    fn columns_by_name_and_metadata() {
        let cols = vec![
            ColumnSpec {
                name: "id".into(),
                data_type: DataType::Int64,
                default: None,
            },
            ColumnSpec {
                name: "price".into(),
                data_type: DataType::Decimal128(20, 0),
                default: None,
            },
        ];
        let rs = Arc::new(RowSchema {
            id: 1,
            index: [("id".to_string(), 0), ("price".to_string(), 1)].into(),
            columns: cols.clone(),
        });
        let mut table_cols = cols.clone();
        table_cols.push(ColumnSpec {
            name: "note".into(),
            data_type: DataType::Utf8,
            default: None,
        });
        let schema = table_schema(&table_cols, true);
        let a = record(
            &rs,
            Op::Create,
            vec![Avro::Long(1), Avro::Bytes(vec![0xff, 0xff])],
        );
        let b = record(&rs, Op::Delete, vec![Avro::Long(2), Avro::Null]);
        let batch = build_batch(&schema, &[&a, &b], &ColumnHistory::default()).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(1), 2);
        assert_eq!(
            batch.column(1).as_primitive::<Decimal128Type>().value(0),
            -1
        );
        assert!(batch.column(1).is_null(1));
        assert_eq!(
            batch.column(2).null_count(),
            2,
            "a column the writer lacks is null"
        );
        assert_eq!(
            batch
                .column_by_name(OP)
                .unwrap()
                .as_string::<i32>()
                .value(1),
            "d"
        );
        assert!(batch.column_by_name(DELETED).unwrap().as_boolean().value(1));
    }

    #[test]
    fn a_wrong_value_type_is_an_error() {
        let rs = Arc::new(RowSchema {
            id: 1,
            index: [("id".to_string(), 0)].into(),
            columns: vec![ColumnSpec {
                name: "id".into(),
                data_type: DataType::Utf8,
                default: None,
            }],
        });
        let schema = Arc::new(ArrowSchema::new(vec![Field::new(
            "id",
            DataType::Int64,
            true,
        )]));
        let a = record(&rs, Op::Create, vec![Avro::String("x".into())]);
        assert!(matches!(
            build_batch(&schema, &[&a], &ColumnHistory::default()),
            Err(RowsError::Type { .. })
        ));
    }

    #[test]
    fn decimals_rescale_up_only() {
        assert_eq!(rescale(125, 2, 4), Some(12_500));
        assert_eq!(rescale(-7, 0, 0), Some(-7));
        assert_eq!(rescale(125, 4, 2), None);
    }

    #[test]
    fn decimal_bytes_sign_extend() {
        assert_eq!(be_i128(&[0x01, 0x00]), Some(256));
        assert_eq!(be_i128(&[0x80]), Some(-128));
        assert_eq!(be_i128(&[0u8; 17]), None);
    }
}
