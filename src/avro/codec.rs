//! Per table schema version: the registered key and value schemas and the
//! encoding of change events into framed Kafka keys and values.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema;
use thiserror::Error;

use super::encode::{self, EncodeError};
use super::names::{topic_name, TableNames};
use super::registry_client::{RegistryClient, RegistryClientError};
use super::schema::{SchemaError, TableAvroSchemas};
use super::wire;
use crate::event::{ChangeEvent, TableSchema};
use crate::wire::{key_subject, value_subject};

#[derive(Debug, Error)]
pub enum CodecError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Registry(#[from] RegistryClientError),
}

impl CodecError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, CodecError::Registry(e) if e.is_retryable())
    }
}

/// Encodes the events of one table schema version. Build it once per
/// version (see [`CodecCache`]); encoding then only writes bytes.
#[derive(Debug)]
pub struct TableCodec {
    table: Arc<TableSchema>,
    /// `table` as registered: the same, or with columns kept nullable that
    /// the subject's newest version has nullable (see [`CodecCache::codec`]).
    encoding: Arc<TableSchema>,
    topic: String,
    schemas: TableAvroSchemas,
    key_schema_id: u32,
    value_schema_id: u32,
}

impl TableCodec {
    /// A codec whose schemas are already registered under the given ids.
    pub fn with_ids(
        connector: &str,
        table: Arc<TableSchema>,
        key_schema_id: u32,
        value_schema_id: u32,
    ) -> Result<Self, SchemaError> {
        let schemas = TableAvroSchemas::new(connector, &table)?;
        Ok(TableCodec {
            topic: topic_name(connector, &table),
            encoding: table.clone(),
            table,
            schemas,
            key_schema_id,
            value_schema_id,
        })
    }

    /// Builds the schemas and registers them under `{topic}-key` and
    /// `{topic}-value`.
    pub async fn register(
        connector: &str,
        table: Arc<TableSchema>,
        client: &RegistryClient,
    ) -> Result<Self, CodecError> {
        Self::register_as(connector, table.clone(), table, client).await
    }

    /// [`Self::register`] of `encoding`, a variant of `table` with more
    /// nullable columns, for events of `table`.
    async fn register_as(
        connector: &str,
        table: Arc<TableSchema>,
        encoding: Arc<TableSchema>,
        client: &RegistryClient,
    ) -> Result<Self, CodecError> {
        let schemas = TableAvroSchemas::new(connector, &encoding)?;
        let topic = topic_name(connector, &table);
        let key_schema_id = client
            .register(&key_subject(&topic), &schemas.key_json)
            .await?;
        let value_schema_id = client
            .register(&value_subject(&topic), &schemas.value_json)
            .await?;
        Ok(TableCodec {
            table,
            encoding,
            topic,
            schemas,
            key_schema_id,
            value_schema_id,
        })
    }

    pub fn table(&self) -> &Arc<TableSchema> {
        &self.table
    }
    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn names(&self) -> &TableNames {
        &self.schemas.names
    }
    pub fn key_schema(&self) -> &Schema {
        &self.schemas.key
    }
    pub fn value_schema(&self) -> &Schema {
        &self.schemas.value
    }
    pub fn key_schema_json(&self) -> &str {
        &self.schemas.key_json
    }
    pub fn value_schema_json(&self) -> &str {
        &self.schemas.value_json
    }
    pub fn key_schema_id(&self) -> u32 {
        self.key_schema_id
    }
    pub fn value_schema_id(&self) -> u32 {
        self.value_schema_id
    }

    fn check_table(&self, event: &ChangeEvent) -> Result<(), EncodeError> {
        // Pointer equality is the normal case; equal content is fine too.
        if Arc::ptr_eq(&self.table, &event.table) || *self.table == *event.table {
            return Ok(());
        }
        Err(EncodeError::TableMismatch {
            expected: self.table.qualified_name(),
            got: event.table.qualified_name(),
        })
    }

    /// The framed Kafka key of a change: its key columns, from `after`
    /// (`before` for a delete).
    pub fn encode_key(&self, event: &ChangeEvent) -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::with_capacity(wire::HEADER_LEN + 12 * self.table.key.len());
        self.encode_key_into(event, &mut buf)?;
        Ok(buf)
    }

    /// The framed Kafka value of a change; `handled_ts_ms` becomes the
    /// envelope's top-level `ts_ms`. Tombstones are not encoded: they are
    /// a null value.
    pub fn encode_value(
        &self,
        event: &ChangeEvent,
        handled_ts_ms: i64,
    ) -> Result<Vec<u8>, EncodeError> {
        let rows = usize::from(event.before.is_some()) + usize::from(event.after.is_some());
        let mut buf = Vec::with_capacity(128 + 16 * rows * self.table.columns.len());
        self.encode_value_into(event, handled_ts_ms, &mut buf)?;
        Ok(buf)
    }

    /// Appends the framed key to `buf` (left as it was on error).
    pub fn encode_key_into(
        &self,
        event: &ChangeEvent,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.check_table(event)?;
        let row = encode::key_row(event)?;
        let start = buf.len();
        wire::write_header(buf, self.key_schema_id);
        encode::write_key(buf, &self.encoding, row).inspect_err(|_| buf.truncate(start))
    }

    /// Appends the framed value to `buf` (left as it was on error).
    pub fn encode_value_into(
        &self,
        event: &ChangeEvent,
        handled_ts_ms: i64,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.check_table(event)?;
        let start = buf.len();
        wire::write_header(buf, self.value_schema_id);
        encode::write_envelope(buf, &self.encoding, event, handled_ts_ms)
            .inspect_err(|_| buf.truncate(start))
    }
}

/// The codecs of one connector, registered on first use of each table
/// schema version.
pub struct CodecCache {
    connector: String,
    client: RegistryClient,
    // Keyed by the address of the caller's Arc, which the entry keeps alive
    // so the address cannot be reused: one pointer hash per event.
    by_ptr: HashMap<usize, (Arc<TableSchema>, Arc<TableCodec>)>,
    // Equal schemas in different Arcs share a codec.
    by_content: HashMap<Arc<TableSchema>, Arc<TableCodec>>,
}

impl CodecCache {
    pub fn new(connector: impl Into<String>, client: RegistryClient) -> Self {
        CodecCache {
            connector: connector.into(),
            client,
            by_ptr: HashMap::new(),
            by_content: HashMap::new(),
        }
    }

    /// The registry the codecs register with.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The codec for `table`, registering its schemas the first time.
    pub async fn codec(&mut self, table: &Arc<TableSchema>) -> Result<Arc<TableCodec>, CodecError> {
        let ptr = Arc::as_ptr(table) as usize;
        if let Some((_, codec)) = self.by_ptr.get(&ptr) {
            return Ok(codec.clone());
        }
        let codec = match self.by_content.get(table) {
            Some(codec) => codec.clone(),
            None => {
                let codec = Arc::new(self.register(table).await?);
                self.by_content.insert(table.clone(), codec.clone());
                codec
            }
        };
        self.by_ptr.insert(ptr, (table.clone(), codec.clone()));
        Ok(codec)
    }

    /// Registers `table`'s schemas. A column made NOT NULL (`MODIFY c INT
    /// NOT NULL`) turns `["null", T]` into `T`, which no BACKWARD reader
    /// accepts (old records may hold null): if the registry refuses the
    /// schema, columns the subject's newest version has nullable stay
    /// nullable, and that schema is registered instead. Once nullable, a
    /// column stays so in every later version.
    async fn register(&self, table: &Arc<TableSchema>) -> Result<TableCodec, CodecError> {
        let first = TableCodec::register(&self.connector, table.clone(), &self.client).await;
        let Err(CodecError::Registry(RegistryClientError::Incompatible { .. })) = &first else {
            return first;
        };
        let subject = value_subject(&topic_name(&self.connector, table));
        let Some((_, latest)) = self.client.latest(&subject).await? else {
            return first;
        };
        let names = TableNames::new(&self.connector, table).map_err(SchemaError::from)?;
        let nullable = nullable_fields(&latest);
        let mut sticky = (**table).clone();
        let mut changed = false;
        for (column, field) in sticky.columns.iter_mut().zip(&names.fields) {
            if !column.nullable && nullable.iter().any(|n| n == field) {
                column.nullable = true;
                changed = true;
            }
        }
        if !changed {
            return first;
        }
        tracing::info!(
            subject = %subject,
            "columns made NOT NULL stay nullable in the schema (BACKWARD compatibility)"
        );
        TableCodec::register_as(
            &self.connector,
            table.clone(),
            Arc::new(sticky),
            &self.client,
        )
        .await
    }
}

/// The names of the row fields that are unions with null in an envelope
/// schema's text.
fn nullable_fields(envelope: &str) -> Vec<String> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(envelope) else {
        return Vec::new();
    };
    let row = doc["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "before"))
        .and_then(|f| f["type"].as_array())
        .and_then(|u| u.iter().find(|t| t.is_object()));
    let Some(fields) = row.and_then(|r| r["fields"].as_array()) else {
        return Vec::new();
    };
    fields
        .iter()
        .filter(|f| {
            f["type"]
                .as_array()
                .is_some_and(|u| u.iter().any(|t| t == "null"))
        })
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Column, ColumnType, Op, SourceInfo, Value};

    fn table() -> Arc<TableSchema> {
        Arc::new(TableSchema {
            db: "db".into(),
            table: "t".into(),
            columns: vec![
                Column {
                    name: "id".into(),
                    data_type: ColumnType::Int,
                    nullable: false,
                    source_type: "int".into(),
                    default: None,
                },
                Column {
                    name: "v".into(),
                    data_type: ColumnType::String,
                    nullable: true,
                    source_type: "text".into(),
                    default: None,
                },
            ],
            key: vec![0],
        })
    }

    fn event(
        table: Arc<TableSchema>,
        op: Op,
        before: Option<Vec<Value>>,
        after: Option<Vec<Value>>,
    ) -> ChangeEvent {
        ChangeEvent {
            table,
            op,
            before,
            after,
            source: SourceInfo::default(),
            transaction: None,
        }
    }

    #[test]
    fn frames_key_and_value_with_their_ids() {
        let codec = TableCodec::with_ids("shop", table(), 7, 8).unwrap();
        assert_eq!(codec.topic(), "shop.db.t");
        let ev = event(
            codec.table().clone(),
            Op::Create,
            None,
            Some(vec![Value::Int(-3), Value::Null]),
        );
        let key = codec.encode_key(&ev).unwrap();
        assert_eq!(key, [0, 0, 0, 0, 7, 0x05]);
        let value = codec.encode_value(&ev, 1).unwrap();
        assert_eq!(&value[..5], &[0, 0, 0, 0, 8]);
        // before null, after present: id -3, v null.
        assert_eq!(&value[5..9], &[0x00, 0x02, 0x05, 0x00]);
    }

    #[test]
    fn a_truncate_has_no_rows_and_decodes_with_the_value_schema() {
        let codec = TableCodec::with_ids("shop", table(), 7, 8).unwrap();
        let ev = ChangeEvent::truncate(codec.table().clone(), SourceInfo::default());
        assert!(codec.encode_key(&ev).is_err(), "a truncate has no key");
        let value = codec.encode_value(&ev, 5).unwrap();
        #[allow(deprecated)]
        let decoded =
            apache_avro::from_avro_datum(codec.value_schema(), &mut &value[5..], None).unwrap();
        let apache_avro::types::Value::Record(fields) = decoded else {
            panic!("not a record")
        };
        let get = |n: &str| fields.iter().find(|(k, _)| k == n).unwrap().1.clone();
        use apache_avro::types::Value as A;
        assert_eq!(get("op"), A::String("t".into()));
        assert_eq!(get("before"), A::Union(0, Box::new(A::Null)));
        assert_eq!(get("after"), A::Union(0, Box::new(A::Null)));
    }

    #[test]
    fn nullable_fields_of_an_envelope() {
        let text = r#"{"type":"record","name":"Envelope","fields":[
          {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
             {"name":"id","type":"long","default":0},
             {"name":"n","type":["null","int"],"default":null}]}],"default":null},
          {"name":"op","type":"string"}]}"#;
        assert_eq!(nullable_fields(text), vec!["n".to_string()]);
        assert!(nullable_fields("not json").is_empty());
    }

    #[test]
    fn errors_leave_the_buffer_alone() {
        let codec = TableCodec::with_ids("shop", table(), 1, 2).unwrap();
        let mut buf = vec![9u8];
        let bad = event(
            codec.table().clone(),
            Op::Create,
            None,
            Some(vec![Value::Null, Value::Null]),
        );
        assert!(matches!(
            codec.encode_key_into(&bad, &mut buf),
            Err(EncodeError::NullInNotNull { .. })
        ));
        assert!(codec.encode_value_into(&bad, 0, &mut buf).is_err());
        assert_eq!(buf, [9]);
        let no_before = event(codec.table().clone(), Op::Delete, None, None);
        assert!(matches!(
            codec.encode_key(&no_before),
            Err(EncodeError::MissingRow {
                which: "before",
                ..
            })
        ));
        let short = event(
            codec.table().clone(),
            Op::Read,
            None,
            Some(vec![Value::Int(1)]),
        );
        assert!(matches!(
            codec.encode_value(&short, 0),
            Err(EncodeError::RowLength { .. })
        ));
        let wrong = event(
            codec.table().clone(),
            Op::Read,
            None,
            Some(vec![Value::Long(1), Value::Null]),
        );
        assert!(matches!(
            codec.encode_key(&wrong),
            Err(EncodeError::TypeMismatch { got: "Long", .. })
        ));
    }

    #[test]
    fn equal_table_in_another_arc_is_accepted_other_tables_not() {
        let codec = TableCodec::with_ids("shop", table(), 1, 2).unwrap();
        let ev = event(
            table(),
            Op::Create,
            None,
            Some(vec![Value::Int(1), Value::Null]),
        );
        assert!(codec.encode_key(&ev).is_ok());
        let mut other = (*table()).clone();
        other.table = "u".into();
        let ev = event(
            Arc::new(other),
            Op::Create,
            None,
            Some(vec![Value::Int(1), Value::Null]),
        );
        assert!(matches!(
            codec.encode_key(&ev),
            Err(EncodeError::TableMismatch { .. })
        ));
    }
}
