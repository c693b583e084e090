//! A table's key schema and Debezium value envelope schema (SPEC, "Topics
//! and messages" and "Types"), as plain Avro: no `connect.*` attributes.

use apache_avro::Schema;
use serde_json::{json, Value as Json};
use thiserror::Error;

use super::encode::decimal_bytes;
use super::names::{NameError, TableNames};
use crate::event::{Column, ColumnType, DefaultValue, TableSchema, Value};

/// Debezium's names for the `source` and `transaction` records.
pub const SOURCE_RECORD: &str = "io.debezium.connector.mysql.Source";
pub const TRANSACTION_RECORD: &str = "event.block";

#[derive(Debug, Error)]
pub enum SchemaError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("table {table} has no key columns; set `key_columns` for it in the connector file")]
    NoKey { table: String },
    #[error("table {table}: key column index {index} is out of range ({columns} columns)")]
    BadKeyIndex {
        table: String,
        index: usize,
        columns: usize,
    },
    #[error(
        "table {table}, column {column}: DECIMAL({precision},{scale}) cannot be an Avro decimal \
         (needs 1 ≤ precision ≤ 38 and scale ≤ precision)"
    )]
    BadDecimal {
        table: String,
        column: String,
        precision: u8,
        scale: u8,
    },
    #[error("table {table}: the generated {what} schema is not valid Avro: {source}")]
    Avro {
        table: String,
        what: &'static str,
        #[source]
        source: Box<apache_avro::Error>,
    },
    #[error("table {table}: cannot write its Avro schema as JSON: {source}")]
    Json {
        table: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The Avro schemas of one table at one schema version, built once.
#[derive(Debug, Clone)]
pub struct TableAvroSchemas {
    pub names: TableNames,
    pub key: Schema,
    /// `key` as JSON text, what the registry receives.
    pub key_json: String,
    pub value: Schema,
    pub value_json: String,
}

impl TableAvroSchemas {
    pub fn new(connector: &str, table: &TableSchema) -> Result<Self, SchemaError> {
        let names = TableNames::new(connector, table)?;
        let key_doc = key_schema_json(&names, table)?;
        let value_doc = envelope_schema_json(&names, table)?;
        let (key, key_json) = parse(table, "key", &key_doc)?;
        let (value, value_json) = parse(table, "value", &value_doc)?;
        Ok(TableAvroSchemas {
            names,
            key,
            key_json,
            value,
            value_json,
        })
    }
}

fn parse(
    table: &TableSchema,
    what: &'static str,
    doc: &Json,
) -> Result<(Schema, String), SchemaError> {
    let avro_err = |source| SchemaError::Avro {
        table: table.qualified_name(),
        what,
        source: Box::new(source),
    };
    let schema = Schema::parse(doc).map_err(avro_err)?;
    // apache_avro's own serialisation is stable and ordered like the spec
    // (type, namespace, name, fields); serde_json's map would sort the keys.
    let text = serde_json::to_string(&schema).map_err(|source| SchemaError::Json {
        table: table.qualified_name(),
        source,
    })?;
    Ok((schema, text))
}

/// The Avro type of a column's non-null values.
pub fn column_type_json(table: &TableSchema, column: &Column) -> Result<Json, SchemaError> {
    Ok(match column.data_type {
        ColumnType::Boolean => json!("boolean"),
        ColumnType::Int => json!("int"),
        ColumnType::Long => json!("long"),
        ColumnType::Float => json!("float"),
        ColumnType::Double => json!("double"),
        ColumnType::Decimal { precision, scale } => {
            if precision == 0 || precision > 38 || scale > precision {
                return Err(SchemaError::BadDecimal {
                    table: table.qualified_name(),
                    column: column.name.clone(),
                    precision,
                    scale,
                });
            }
            json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale})
        }
        ColumnType::DecimalString { .. } => json!("string"),
        ColumnType::Date => json!({"type": "int", "logicalType": "date"}),
        ColumnType::DateTime => json!({"type": "long", "logicalType": "local-timestamp-micros"}),
        ColumnType::Timestamp => json!({"type": "long", "logicalType": "timestamp-micros"}),
        // Avro's time-micros cannot be negative or ≥ 24 h; MySQL TIME can.
        ColumnType::Time => json!("long"),
        ColumnType::String => json!("string"),
        ColumnType::Bytes => json!("bytes"),
    })
}

/// One record field for a column. Every field has a default, as Debezium
/// writes them, so that adding a column is a BACKWARD-compatible change:
/// nullable columns are `["null", T]` with default null, or `[T, "null"]`
/// with their literal default (a union's default is of its first branch);
/// NOT NULL columns default to their literal default, else to the type's
/// zero value.
fn column_field(table: &TableSchema, field: &str, column: &Column) -> Result<Json, SchemaError> {
    let ty = column_type_json(table, column)?;
    Ok(match (column.nullable, literal_json(column)) {
        (true, Some(literal)) => json!({"name": field, "type": [ty, "null"], "default": literal}),
        (true, None) => json!({"name": field, "type": ["null", ty], "default": null}),
        (false, _) => json!({"name": field, "type": ty, "default": default_json(column)}),
    })
}

/// Whether a nullable column's union is `[T, "null"]` (it has a literal
/// default) rather than `["null", T]`.
/// On the encoding path: no allocation.
pub fn value_branch_first(column: &Column) -> bool {
    column.nullable
        && column
            .default
            .as_ref()
            .is_some_and(|DefaultValue(v)| literal_fits(&column.data_type, v))
}

/// Whether a default value is of the column's type (the same cases as
/// [`literal_json`]).
fn literal_fits(ty: &ColumnType, v: &Value) -> bool {
    matches!(
        (ty, v),
        (ColumnType::Boolean, Value::Boolean(_))
            | (ColumnType::Int, Value::Int(_))
            | (ColumnType::Long, Value::Long(_))
            | (ColumnType::Float, Value::Float(_))
            | (ColumnType::Double, Value::Double(_))
            | (ColumnType::Decimal { .. }, Value::Decimal(_))
            | (ColumnType::DecimalString { .. }, Value::String(_))
            | (ColumnType::Date, Value::Date(_))
            | (ColumnType::DateTime, Value::DateTime(_))
            | (ColumnType::Timestamp, Value::Timestamp(_))
            | (ColumnType::Time, Value::Time(_))
            | (ColumnType::String, Value::String(_))
            | (ColumnType::Bytes, Value::Bytes(_))
    )
}

/// Avro writes a bytes default as a string of code points U+0000..U+00FF.
fn bytes_json(b: &[u8]) -> Json {
    Json::String(b.iter().map(|&c| char::from(c)).collect())
}

/// A column's literal default as Avro JSON, when it has one of its type.
fn literal_json(column: &Column) -> Option<Json> {
    let DefaultValue(v) = column.default.as_ref()?;
    match (&column.data_type, v) {
        (ColumnType::Boolean, Value::Boolean(b)) => Some(json!(b)),
        (ColumnType::Int, Value::Int(i)) => Some(json!(i)),
        (ColumnType::Long, Value::Long(i)) => Some(json!(i)),
        (ColumnType::Float, Value::Float(f)) => Some(json!(f)),
        (ColumnType::Double, Value::Double(f)) => Some(json!(f)),
        (ColumnType::Decimal { .. }, Value::Decimal(d)) => Some(bytes_json(&decimal_bytes(*d))),
        (ColumnType::DecimalString { .. }, Value::String(s)) => Some(json!(s)),
        (ColumnType::Date, Value::Date(d)) => Some(json!(d)),
        (ColumnType::DateTime, Value::DateTime(t))
        | (ColumnType::Timestamp, Value::Timestamp(t))
        | (ColumnType::Time, Value::Time(t)) => Some(json!(t)),
        (ColumnType::String, Value::String(s)) => Some(json!(s)),
        (ColumnType::Bytes, Value::Bytes(b)) => Some(bytes_json(b)),
        _ => None,
    }
}

/// The Avro JSON default of a NOT NULL column: its literal default when it
/// has one of its type, else the zero value (epoch 0 for temporal types).
pub fn default_json(column: &Column) -> Json {
    if let Some(literal) = literal_json(column) {
        return literal;
    }
    match &column.data_type {
        ColumnType::Boolean => json!(false),
        ColumnType::Int | ColumnType::Long | ColumnType::Date => json!(0),
        ColumnType::DateTime | ColumnType::Timestamp | ColumnType::Time => json!(0),
        ColumnType::Float | ColumnType::Double => json!(0.0),
        ColumnType::Decimal { .. } => bytes_json(&decimal_bytes(0)),
        ColumnType::DecimalString { scale, .. } => {
            let s = usize::from(*scale);
            json!(if s == 0 {
                "0".to_owned()
            } else {
                format!("0.{}", "0".repeat(s))
            })
        }
        ColumnType::String => json!(""),
        ColumnType::Bytes => json!(""),
    }
}

/// `{ns}.Key`: the key columns in key order.
pub fn key_schema_json(names: &TableNames, table: &TableSchema) -> Result<Json, SchemaError> {
    if table.key.is_empty() {
        return Err(SchemaError::NoKey {
            table: table.qualified_name(),
        });
    }
    let mut fields = Vec::with_capacity(table.key.len());
    for &i in &table.key {
        let column = table
            .columns
            .get(i)
            .ok_or_else(|| SchemaError::BadKeyIndex {
                table: table.qualified_name(),
                index: i,
                columns: table.columns.len(),
            })?;
        fields.push(column_field(table, &names.fields[i], column)?);
    }
    Ok(json!({"type": "record", "name": "Key", "namespace": names.namespace, "fields": fields}))
}

/// `{ns}.Value`: all captured columns in table order.
pub fn row_schema_json(names: &TableNames, table: &TableSchema) -> Result<Json, SchemaError> {
    let fields = table
        .columns
        .iter()
        .zip(&names.fields)
        .map(|(column, field)| column_field(table, field, column))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"type": "record", "name": "Value", "namespace": names.namespace, "fields": fields}))
}

/// Debezium's MySQL `source` block, fields and order as SPEC lists them.
pub fn source_schema_json() -> Json {
    let nullable =
        |name: &str, ty: &str| json!({"name": name, "type": ["null", ty], "default": null});
    let plain = |name: &str, ty: &str| json!({"name": name, "type": ty});
    json!({
        "type": "record",
        "name": "Source",
        "namespace": "io.debezium.connector.mysql",
        "fields": [
            plain("version", "string"),
            plain("connector", "string"),
            plain("name", "string"),
            plain("ts_ms", "long"),
            nullable("snapshot", "string"),
            plain("db", "string"),
            nullable("table", "string"),
            plain("server_id", "long"),
            nullable("gtid", "string"),
            plain("file", "string"),
            plain("pos", "long"),
            plain("row", "int"),
            nullable("thread", "long"),
            nullable("query", "string"),
        ]
    })
}

/// Debezium's `transaction` block (record `event.block`).
pub fn transaction_schema_json() -> Json {
    json!({
        "type": "record",
        "name": "block",
        "namespace": "event",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "total_order", "type": "long"},
            {"name": "data_collection_order", "type": "long"},
        ]
    })
}

/// `{ns}.Envelope`: before, after, source, op, ts_ms, transaction.
pub fn envelope_schema_json(names: &TableNames, table: &TableSchema) -> Result<Json, SchemaError> {
    let row = row_schema_json(names, table)?;
    Ok(json!({
        "type": "record",
        "name": "Envelope",
        "namespace": names.namespace,
        "fields": [
            {"name": "before", "type": ["null", row], "default": null},
            // Defined once above; a second definition would be an error.
            {"name": "after", "type": ["null", names.value_record()], "default": null},
            {"name": "source", "type": source_schema_json()},
            {"name": "op", "type": "string"},
            {"name": "ts_ms", "type": ["null", "long"], "default": null},
            {"name": "transaction", "type": ["null", transaction_schema_json()], "default": null},
        ]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, data_type: ColumnType, nullable: bool) -> Column {
        Column::plain(name, data_type, nullable)
    }

    fn every_type_table() -> TableSchema {
        use ColumnType::*;
        TableSchema {
            db: "inv".into(),
            table: "all".into(),
            columns: vec![
                col("id", Long, false),
                col("b", Boolean, false),
                col("i", Int, false),
                col("f", Float, false),
                col("d", Double, false),
                col(
                    "dec",
                    Decimal {
                        precision: 10,
                        scale: 2,
                    },
                    false,
                ),
                col(
                    "big",
                    DecimalString {
                        precision: 65,
                        scale: 4,
                    },
                    false,
                ),
                col("day", Date, false),
                col("dt", DateTime, false),
                col("ts", Timestamp, false),
                col("tm", Time, false),
                col("s", String, false),
                col("bin", Bytes, false),
                col("n", Int, true),
                col("tenant", Int, false),
            ],
            key: vec![14, 0],
        }
    }

    fn parsed(text: &str) -> Json {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn key_schema_has_key_columns_in_key_order() {
        let s = TableAvroSchemas::new("shop", &every_type_table()).unwrap();
        assert_eq!(
            parsed(&s.key_json),
            json!({"type": "record", "name": "Key", "namespace": "shop.inv.all", "fields": [
                {"name": "tenant", "type": "int", "default": 0},
                {"name": "id", "type": "long", "default": 0},
            ]})
        );
        assert_eq!(s.key.name().unwrap().fullname(None), "shop.inv.all.Key");
    }

    #[test]
    fn every_column_type_maps_as_spec_says() {
        let s = TableAvroSchemas::new("shop", &every_type_table()).unwrap();
        let doc = parsed(&s.value_json);
        let row = &doc["fields"][0]["type"][1];
        assert_eq!(row["name"], "Value");
        assert_eq!(row["namespace"], "shop.inv.all");
        assert_eq!(
            row["fields"],
            json!([
                {"name": "id", "type": "long", "default": 0},
                {"name": "b", "type": "boolean", "default": false},
                {"name": "i", "type": "int", "default": 0},
                {"name": "f", "type": "float", "default": 0.0},
                {"name": "d", "type": "double", "default": 0.0},
                {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}, "default": "\u{0}"},
                {"name": "big", "type": "string", "default": "0.0000"},
                {"name": "day", "type": {"type": "int", "logicalType": "date"}, "default": 0},
                {"name": "dt", "type": {"type": "long", "logicalType": "local-timestamp-micros"}, "default": 0},
                {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}, "default": 0},
                {"name": "tm", "type": "long", "default": 0},
                {"name": "s", "type": "string", "default": ""},
                {"name": "bin", "type": "bytes", "default": ""},
                {"name": "n", "type": ["null", "int"], "default": null},
                {"name": "tenant", "type": "int", "default": 0},
            ])
        );
    }

    #[test]
    fn envelope_layout_is_debeziums() {
        let s = TableAvroSchemas::new("shop", &every_type_table()).unwrap();
        let mut doc = parsed(&s.value_json);
        assert_eq!(doc["name"], "Envelope");
        assert_eq!(doc["namespace"], "shop.inv.all");
        doc["fields"][0]["type"][1] = json!("(row)");
        assert_eq!(
            doc["fields"],
            json!([
                {"name": "before", "type": ["null", "(row)"], "default": null},
                {"name": "after", "type": ["null", "shop.inv.all.Value"], "default": null},
                {"name": "source", "type": {
                    "type": "record", "name": "Source", "namespace": "io.debezium.connector.mysql",
                    "fields": [
                        {"name": "version", "type": "string"},
                        {"name": "connector", "type": "string"},
                        {"name": "name", "type": "string"},
                        {"name": "ts_ms", "type": "long"},
                        {"name": "snapshot", "type": ["null", "string"], "default": null},
                        {"name": "db", "type": "string"},
                        {"name": "table", "type": ["null", "string"], "default": null},
                        {"name": "server_id", "type": "long"},
                        {"name": "gtid", "type": ["null", "string"], "default": null},
                        {"name": "file", "type": "string"},
                        {"name": "pos", "type": "long"},
                        {"name": "row", "type": "int"},
                        {"name": "thread", "type": ["null", "long"], "default": null},
                        {"name": "query", "type": ["null", "string"], "default": null},
                    ]}},
                {"name": "op", "type": "string"},
                {"name": "ts_ms", "type": ["null", "long"], "default": null},
                {"name": "transaction", "type": ["null", {
                    "type": "record", "name": "block", "namespace": "event",
                    "fields": [
                        {"name": "id", "type": "string"},
                        {"name": "total_order", "type": "long"},
                        {"name": "data_collection_order", "type": "long"},
                    ]}], "default": null},
            ])
        );
        // The registered text parses back to the same schema.
        assert_eq!(Schema::parse_str(&s.value_json).unwrap(), s.value);
    }

    #[test]
    fn literal_defaults_reach_the_schema() {
        let mut t = every_type_table();
        t.columns[2].default = Some(DefaultValue(Value::Int(1)));
        t.columns[5].default = Some(DefaultValue(Value::Decimal(-1250)));
        t.columns[11].default = Some(DefaultValue(Value::String("x'y".into())));
        // A default of another type than the column's is not used.
        t.columns[1].default = Some(DefaultValue(Value::Int(1)));
        let s = TableAvroSchemas::new("shop", &t).unwrap();
        let doc = parsed(&s.value_json);
        let fields = &doc["fields"][0]["type"][1]["fields"];
        assert_eq!(fields[2]["default"], json!(1));
        // -1250 = 0xFB1E, big-endian two's complement.
        assert_eq!(fields[5]["default"], json!("\u{fb}\u{1e}"));
        assert_eq!(fields[11]["default"], json!("x'y"));
        assert_eq!(fields[1]["default"], json!(false));
        // Readers fill the default in for records written before the column.
        let old = TableAvroSchemas::new("shop", &{
            let mut o = t.clone();
            o.columns.remove(2);
            o.key = vec![13, 0];
            o
        })
        .unwrap();
        let level = crate::registry::compat::Level::Backward;
        let why = crate::registry::compat::check(level, &s.value, &[(1, &old.value)]);
        assert!(why.is_empty(), "{why:?}");
    }

    #[test]
    fn nullable_key_column_is_a_union() {
        let mut t = every_type_table();
        t.key = vec![13];
        let s = TableAvroSchemas::new("shop", &t).unwrap();
        assert_eq!(
            parsed(&s.key_json)["fields"][0],
            json!({"name": "n", "type": ["null", "int"], "default": null})
        );
    }

    #[test]
    fn sanitised_names_reach_the_schema() {
        let mut t = every_type_table();
        t.db = "my-db".into();
        t.columns[1].name = "is active".into();
        let s = TableAvroSchemas::new("shop", &t).unwrap();
        let doc = parsed(&s.value_json);
        assert_eq!(doc["namespace"], "shop.my_db.all");
        assert_eq!(
            doc["fields"][0]["type"][1]["fields"][1]["name"],
            "is_active"
        );
        t.columns[2].name = "is-active".into();
        assert!(matches!(
            TableAvroSchemas::new("shop", &t),
            Err(SchemaError::Name(_))
        ));
    }

    #[test]
    fn bad_tables_are_errors() {
        let mut t = every_type_table();
        t.key.clear();
        assert!(matches!(
            TableAvroSchemas::new("shop", &t),
            Err(SchemaError::NoKey { .. })
        ));
        let mut t = every_type_table();
        t.key = vec![99];
        assert!(matches!(
            TableAvroSchemas::new("shop", &t),
            Err(SchemaError::BadKeyIndex { .. })
        ));
        let mut t = every_type_table();
        t.columns[5].data_type = ColumnType::Decimal {
            precision: 5,
            scale: 6,
        };
        assert!(matches!(
            TableAvroSchemas::new("shop", &t),
            Err(SchemaError::BadDecimal { .. })
        ));
    }
}
