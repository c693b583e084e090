//! Kafka records back into row changes: the Confluent wire header, the
//! writer's schema from the registry, and the Debezium envelope.

use crate::event::Op;
use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{DecimalSchema, RecordSchema, UnionSchema};
use apache_avro::types::Value as Avro;
use apache_avro::Schema;
use deltalake::arrow::datatypes::{DataType, TimeUnit};
use thiserror::Error;

use super::envelope::{Envelope, EnvelopeReader, Image, Malformed, Source};
use crate::avro::registry_client::{RegistryClient, RegistryClientError};
use crate::avro::wire::{self, WireError};

#[derive(Debug, Error)]
pub enum DecodeError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("schema id {id}: {source}")]
    Registry {
        id: u32,
        #[source]
        source: RegistryClientError,
    },
    #[error("schema id {id} is not valid Avro: {source}")]
    BadSchema {
        id: u32,
        #[source]
        source: Box<apache_avro::Error>,
    },
    #[error("schema id {id} is not a Debezium change envelope: {reason}")]
    NotEnvelope { id: u32, reason: String },
    #[error("schema id {id}, field `{field}`: Avro type {avro} has no Delta column type")]
    UnsupportedType {
        id: u32,
        field: String,
        avro: String,
    },
    #[error("the Avro datum does not match writer schema {id}: {source}")]
    Datum {
        id: u32,
        #[source]
        source: Box<apache_avro::Error>,
    },
    #[error("the Avro datum does not match writer schema {id}: {source}")]
    Malformed {
        id: u32,
        #[source]
        source: Malformed,
    },
    #[error("record without a key: a change record needs its key")]
    NoKey,
    #[error("malformed envelope: {0}")]
    Envelope(String),
}

impl DecodeError {
    /// A registry that cannot be reached now may answer later; everything
    /// else is in the record itself and goes to the dead-letter topic.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DecodeError::Registry { source, .. } if source.is_retryable())
    }
}

/// One column of a writer's row record, with the Arrow type it lands as.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub data_type: DataType,
    /// The field's Avro default, when not null.
    pub default: Option<Avro>,
}

/// The row record of one writer schema.
#[derive(Debug)]
pub struct RowSchema {
    pub id: u32,
    pub columns: Vec<ColumnSpec>,
    pub index: HashMap<String, usize>,
}

impl RowSchema {
    /// Each column's name and Arrow type, as the table's schema is
    /// evolved by ([`super::delta::widen::evolve_schema`]).
    pub fn column_types(&self) -> Vec<(String, DataType)> {
        self.columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect()
    }
}

/// The change a record carries. A delete's row is its before image.
#[derive(Debug)]
pub struct SinkRecord {
    pub op: Op,
    pub schema: Arc<RowSchema>,
    /// Values in `schema.columns` order, unions unwrapped.
    pub row: Vec<Avro>,
    pub key_fields: Arc<[String]>,
    pub ts_ms: i64,
    /// The transaction's GTID, else `file:pos`.
    pub pos: String,
    /// The source database and table, as MySQL names them.
    pub db: String,
    pub table: String,
}

/// A writer schema with its names resolved once. `from_avro_datum`
/// resolves them again for every record: a tenth of the sink's thread in
/// a catch-up (bench/README.md).
#[ouroboros::self_referencing]
struct ValueReader {
    schema: Schema,
    #[borrows(schema)]
    #[covariant]
    reader: GenericDatumReader<'this>,
}

impl ValueReader {
    fn resolve(id: u32, schema: Schema) -> Result<Self, DecodeError> {
        ValueReaderTryBuilder {
            schema,
            reader_builder: |schema: &Schema| GenericDatumReader::builder(schema).build(),
        }
        .try_build()
        .map_err(|source| DecodeError::BadSchema {
            id,
            source: Box::new(source),
        })
    }

    fn read(&self, datum: &mut &[u8]) -> Result<Avro, apache_avro::Error> {
        self.borrow_reader().read_value(datum)
    }
}

/// How a writer schema's records are read: compiled when the envelope
/// has the usual shape, else by apache-avro's generic reader.
enum EnvelopeRead {
    Compiled(EnvelopeReader),
    Generic(ValueReader),
}

struct ValueSchema {
    read: EnvelopeRead,
    row: Arc<RowSchema>,
}

impl ValueSchema {
    fn read(&self, id: u32, mut datum: &[u8]) -> Result<Envelope, DecodeError> {
        match &self.read {
            EnvelopeRead::Compiled(reader) => reader
                .read(datum)
                .map_err(|source| DecodeError::Malformed { id, source }),
            EnvelopeRead::Generic(reader) => {
                let value = reader
                    .read(&mut datum)
                    .map_err(|source| DecodeError::Datum {
                        id,
                        source: Box::new(source),
                    })?;
                Envelope::from_value(value).map_err(DecodeError::Envelope)
            }
        }
    }
}

/// Decodes records, fetching each writer schema once.
pub struct EnvelopeDecoder {
    client: RegistryClient,
    values: HashMap<u32, Arc<ValueSchema>>,
    keys: HashMap<u32, Arc<[String]>>,
}

impl EnvelopeDecoder {
    pub fn new(client: RegistryClient) -> Self {
        EnvelopeDecoder {
            client,
            values: HashMap::new(),
            keys: HashMap::new(),
        }
    }

    /// Decodes a record; `None` for a tombstone (no value).
    pub async fn decode(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<Option<SinkRecord>, DecodeError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let (id, datum) = wire::parse(value)?;
        let schema = self.value_schema(id).await?;
        let envelope = schema.read(id, datum)?;
        let op = match envelope.op.as_deref() {
            Some("c") => Op::Create,
            Some("u") => Op::Update,
            Some("d") => Op::Delete,
            Some("r") => Op::Read,
            Some("t") => Op::Truncate,
            Some(other) => return Err(DecodeError::Envelope(format!("unknown op `{other}`"))),
            None => return Err(DecodeError::Envelope("no `op` string".into())),
        };
        let Envelope {
            before,
            after,
            source,
            ..
        } = envelope;
        if op == Op::Truncate {
            let src = source_fields(source)?;
            return Ok(Some(SinkRecord {
                op,
                schema: schema.row.clone(),
                row: Vec::new(),
                key_fields: Arc::from(Vec::new()),
                ts_ms: src.ts_ms,
                pos: src.pos,
                db: src.db,
                table: src.table,
            }));
        }
        let key = key.ok_or(DecodeError::NoKey)?;
        let (key_id, _) = wire::parse(key)?;
        let key_fields = self.key_fields(key_id).await?;
        let image = if op == Op::Delete { before } else { after };
        let row = match image {
            Image::Row(row) => row,
            Image::Absent | Image::Other => {
                let which = if op == Op::Delete { "before" } else { "after" };
                return Err(DecodeError::Envelope(format!(
                    "op `{}` without a `{which}` row",
                    op.code()
                )));
            }
        };
        if row.len() != schema.row.columns.len() {
            return Err(DecodeError::Envelope(
                "row width differs from its schema".into(),
            ));
        }
        let src = source_fields(source)?;
        Ok(Some(SinkRecord {
            op,
            schema: schema.row.clone(),
            row,
            key_fields,
            ts_ms: src.ts_ms,
            pos: src.pos,
            db: src.db,
            table: src.table,
        }))
    }

    async fn key_fields(&mut self, id: u32) -> Result<Arc<[String]>, DecodeError> {
        if let Some(k) = self.keys.get(&id) {
            return Ok(k.clone());
        }
        let avro = self.fetch(id).await?;
        let fields: Arc<[String]> = match &avro {
            Schema::Record(RecordSchema { fields, .. }) => {
                fields.iter().map(|f| f.name.clone()).collect()
            }
            _ => {
                return Err(DecodeError::NotEnvelope {
                    id,
                    reason: "the key schema is not a record".into(),
                })
            }
        };
        self.keys.insert(id, fields.clone());
        Ok(fields)
    }

    async fn value_schema(&mut self, id: u32) -> Result<Arc<ValueSchema>, DecodeError> {
        if let Some(s) = self.values.get(&id) {
            return Ok(s.clone());
        }
        let avro = self.fetch(id).await?;
        let row = Arc::new(row_schema(id, &avro)?);
        let read = match EnvelopeReader::compile(&avro) {
            Some(reader) => EnvelopeRead::Compiled(reader),
            None => EnvelopeRead::Generic(ValueReader::resolve(id, avro)?),
        };
        let s = Arc::new(ValueSchema { read, row });
        self.values.insert(id, s.clone());
        Ok(s)
    }

    async fn fetch(&self, id: u32) -> Result<Schema, DecodeError> {
        let text = self
            .client
            .schema_by_id(id)
            .await
            .map_err(|source| DecodeError::Registry { id, source })?;
        Schema::parse_str(&text).map_err(|source| DecodeError::BadSchema {
            id,
            source: Box::new(source),
        })
    }
}

struct SourceFields {
    ts_ms: i64,
    pos: String,
    db: String,
    table: String,
}

fn source_fields(source: Option<Source>) -> Result<SourceFields, DecodeError> {
    let Some(Source {
        ts_ms,
        gtid,
        file,
        pos,
        db,
        table,
    }) = source
    else {
        return Err(DecodeError::Envelope("no `source` record".into()));
    };
    let ts_ms = ts_ms.ok_or_else(|| DecodeError::Envelope("no `source.ts_ms`".into()))?;
    let pos = match (gtid, file, pos) {
        (Some(g), _, _) if !g.is_empty() => g,
        (_, Some(f), Some(p)) => format!("{f}:{p}"),
        _ => String::new(),
    };
    if db.is_empty() || table.is_empty() {
        return Err(DecodeError::Envelope(
            "no `source.db` or `source.table`".into(),
        ));
    }
    Ok(SourceFields {
        ts_ms,
        pos,
        db,
        table,
    })
}

/// The row record inside an envelope schema, as Delta-bound columns.
pub fn row_schema(id: u32, envelope: &Schema) -> Result<RowSchema, DecodeError> {
    let not_envelope = |reason: &str| DecodeError::NotEnvelope {
        id,
        reason: reason.into(),
    };
    let Schema::Record(RecordSchema { fields, .. }) = envelope else {
        return Err(not_envelope("not a record"));
    };
    // `before` defines the row record; `after` refers to it by name.
    let before = fields
        .iter()
        .find(|f| f.name == "before")
        .ok_or_else(|| not_envelope("no `before` field"))?;
    let row = match &before.schema {
        Schema::Union(u) => non_null(u),
        other => Some(other),
    };
    let Some(Schema::Record(RecordSchema { fields: cols, .. })) = row else {
        return Err(not_envelope("`before` is not a nullable record"));
    };
    let mut columns = Vec::with_capacity(cols.len());
    let mut index = HashMap::with_capacity(cols.len());
    for f in cols {
        let inner = match &f.schema {
            Schema::Union(u) => non_null(u).ok_or_else(|| not_envelope("an all-null union"))?,
            other => other,
        };
        let data_type = arrow_type(inner).ok_or_else(|| DecodeError::UnsupportedType {
            id,
            field: f.name.clone(),
            avro: format!("{inner:?}"),
        })?;
        index.insert(f.name.clone(), columns.len());
        columns.push(ColumnSpec {
            name: f.name.clone(),
            data_type,
            default: f.default.as_ref().and_then(|d| default_value(inner, d)),
        });
    }
    Ok(RowSchema { id, columns, index })
}

/// A field's JSON default as the Avro value a record would carry; `None`
/// for null or a default binlake does not write.
fn default_value(s: &Schema, d: &serde_json::Value) -> Option<Avro> {
    use serde_json::Value as J;
    let bytes = |t: &str| -> Option<Vec<u8>> {
        t.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
    };
    Some(match (s, d) {
        (_, J::Null) => return None,
        (Schema::Boolean, J::Bool(b)) => Avro::Boolean(*b),
        (Schema::Int | Schema::Date, J::Number(n)) => Avro::Int(i32::try_from(n.as_i64()?).ok()?),
        (
            Schema::Long
            | Schema::TimestampMicros
            | Schema::LocalTimestampMicros
            | Schema::TimestampMillis
            | Schema::LocalTimestampMillis,
            J::Number(n),
        ) => Avro::Long(n.as_i64()?),
        (Schema::Float, J::Number(n)) => Avro::Float(n.as_f64()? as f32),
        (Schema::Double, J::Number(n)) => Avro::Double(n.as_f64()?),
        (Schema::String, J::String(t)) => Avro::String(t.clone()),
        (Schema::Bytes | Schema::Decimal(_), J::String(t)) => Avro::Bytes(bytes(t)?),
        _ => return None,
    })
}

fn non_null(u: &UnionSchema) -> Option<&Schema> {
    u.variants().iter().find(|s| !matches!(s, Schema::Null))
}

/// SPEC's Avro → Delta column types.
pub fn arrow_type(s: &Schema) -> Option<DataType> {
    Some(match s {
        Schema::Boolean => DataType::Boolean,
        Schema::Int => DataType::Int32,
        Schema::Long => DataType::Int64,
        Schema::Float => DataType::Float32,
        Schema::Double => DataType::Float64,
        Schema::String | Schema::Enum(_) | Schema::Uuid(_) => DataType::Utf8,
        Schema::Bytes | Schema::Fixed(_) => DataType::Binary,
        Schema::Date => DataType::Date32,
        Schema::LocalTimestampMicros | Schema::LocalTimestampMillis => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        Schema::TimestampMicros | Schema::TimestampMillis => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        Schema::Decimal(DecimalSchema {
            precision, scale, ..
        }) if *precision >= 1 && *precision <= 38 && scale <= precision => {
            DataType::Decimal128(*precision as u8, *scale as i8)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_schema_of_an_envelope() {
        let text = r#"{"type":"record","name":"Envelope","namespace":"s.d.t","fields":[
          {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
             {"name":"id","type":"long"},
             {"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":20,"scale":0}],"default":null},
             {"name":"at","type":{"type":"long","logicalType":"local-timestamp-micros"}},
             {"name":"ts","type":["null",{"type":"long","logicalType":"timestamp-micros"}],"default":null},
             {"name":"d","type":{"type":"int","logicalType":"date"}}]}],"default":null},
          {"name":"after","type":["null","Value"],"default":null},
          {"name":"op","type":"string"}]}"#;
        let s = Schema::parse_str(text).unwrap();
        let row = row_schema(7, &s).unwrap();
        let types: Vec<_> = row.columns.iter().map(|c| c.data_type.clone()).collect();
        assert_eq!(
            types,
            vec![
                DataType::Int64,
                DataType::Decimal128(20, 0),
                DataType::Timestamp(TimeUnit::Microsecond, None),
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                DataType::Date32,
            ]
        );
        assert_eq!(row.index["at"], 2);
    }

    #[test]
    fn field_defaults_become_record_values() {
        let text = r#"{"type":"record","name":"Envelope","namespace":"s.d.t","fields":[
          {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
             {"name":"id","type":"long","default":0},
             {"name":"flag","type":"int","default":1},
             {"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}],"default":null},
             {"name":"d","type":[{"type":"bytes","logicalType":"decimal","precision":10,"scale":2},"null"],"default":"\u00fb\u001e"},
             {"name":"s","type":"string","default":"x"}]}],"default":null},
          {"name":"after","type":["null","Value"],"default":null},
          {"name":"op","type":"string"}]}"#;
        let s = Schema::parse_str(text).unwrap();
        let row = row_schema(1, &s).unwrap();
        let defaults: Vec<_> = row.columns.iter().map(|c| c.default.clone()).collect();
        assert_eq!(
            defaults,
            vec![
                Some(Avro::Long(0)),
                Some(Avro::Int(1)),
                None,
                Some(Avro::Bytes(vec![0xfb, 0x1e])),
                Some(Avro::String("x".into())),
            ]
        );
    }

    #[test]
    fn a_schema_without_before_is_not_an_envelope() {
        let s = Schema::parse_str(
            r#"{"type":"record","name":"X","fields":[{"name":"a","type":"int"}]}"#,
        )
        .unwrap();
        assert!(matches!(
            row_schema(1, &s),
            Err(DecodeError::NotEnvelope { .. })
        ));
    }
}
