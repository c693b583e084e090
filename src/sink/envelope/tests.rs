//! The compiled reader against apache-avro's generic reader: the same view
//! of every datum, on binlake's own envelopes and on random values of
//! envelopes with every shape a writer may give them.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{DecimalSchema, InnerDecimalSchema, Name, RecordSchema, ResolvedSchema};
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::{Decimal, Schema};

use super::*;
use crate::avro::codec::TableCodec;
use crate::event::{
    ChangeEvent, Column, ColumnType, Op, SnapshotMarker, SourceInfo, TableSchema, TransactionInfo,
    Value,
};

/// xorshift64*: reproducible values without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    /// Small, large and extreme integers alike.
    fn long(&mut self) -> i64 {
        match self.below(4) {
            0 => self.below(100) as i64 - 50,
            1 => i64::MIN + self.below(3) as i64,
            2 => i64::MAX - self.below(3) as i64,
            _ => self.next() as i64,
        }
    }
    fn int(&mut self) -> i32 {
        self.long() as i32
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        (0..self.below(max)).map(|_| self.next() as u8).collect()
    }
    fn text(&mut self) -> String {
        let pool = ["", "a", "é", "日本", "x y", "\u{1F600}", "0-1-42"];
        (0..self.below(4))
            .map(|_| pool[self.below(pool.len() as u64) as usize])
            .collect()
    }
}

fn generic(schema: &Schema, mut datum: &[u8]) -> Result<Envelope, String> {
    let reader = GenericDatumReader::builder(schema)
        .build()
        .map_err(|e| e.to_string())?;
    let value = reader.read_value(&mut datum).map_err(|e| e.to_string())?;
    Envelope::from_value(value)
}

fn encode(schema: &Schema, value: Avro) -> Vec<u8> {
    GenericDatumWriter::builder(schema)
        .build()
        .unwrap()
        .write_value_to_vec(value)
        .unwrap()
}

/// A random value of `schema`, as apache-avro encodes it.
fn random_value(
    rng: &mut Rng,
    schema: &Schema,
    names: &HashMap<Name, &Schema>,
    depth: usize,
) -> Avro {
    match schema {
        Schema::Null => Avro::Null,
        Schema::Boolean => Avro::Boolean(rng.chance(2)),
        Schema::Int => Avro::Int(rng.int()),
        Schema::Long => Avro::Long(rng.long()),
        Schema::Float => Avro::Float(rng.int() as f32 / 7.0),
        Schema::Double => Avro::Double(rng.long() as f64 / 3.0),
        Schema::Bytes => Avro::Bytes(rng.bytes(12)),
        Schema::String => Avro::String(rng.text()),
        Schema::Fixed(f) => Avro::Fixed(f.size, (0..f.size).map(|_| rng.next() as u8).collect()),
        Schema::Enum(e) => {
            let i = rng.below(e.symbols.len() as u64) as usize;
            Avro::Enum(i as u32, e.symbols[i].clone())
        }
        Schema::Date => Avro::Date(rng.int()),
        Schema::TimeMillis => Avro::TimeMillis(rng.int()),
        Schema::TimeMicros => Avro::TimeMicros(rng.long()),
        Schema::TimestampMillis => Avro::TimestampMillis(rng.long()),
        Schema::TimestampMicros => Avro::TimestampMicros(rng.long()),
        Schema::TimestampNanos => Avro::TimestampNanos(rng.long()),
        Schema::LocalTimestampMillis => Avro::LocalTimestampMillis(rng.long()),
        Schema::LocalTimestampMicros => Avro::LocalTimestampMicros(rng.long()),
        Schema::LocalTimestampNanos => Avro::LocalTimestampNanos(rng.long()),
        Schema::Decimal(DecimalSchema { inner, .. }) => match inner {
            InnerDecimalSchema::Bytes => {
                let len = 1 + rng.below(6) as usize;
                Avro::Decimal(Decimal::from(
                    (0..len).map(|_| rng.next() as u8).collect::<Vec<_>>(),
                ))
            }
            InnerDecimalSchema::Fixed(f) => Avro::Decimal(Decimal::from(
                (0..f.size).map(|_| rng.next() as u8).collect::<Vec<_>>(),
            )),
        },
        Schema::Array(a) => Avro::Array(
            (0..if depth > 3 { 0 } else { rng.below(3) })
                .map(|_| random_value(rng, &a.items, names, depth + 1))
                .collect(),
        ),
        Schema::Map(m) => Avro::Map(
            (0..if depth > 3 { 0 } else { rng.below(3) })
                .map(|i| {
                    (
                        format!("k{i}"),
                        random_value(rng, &m.types, names, depth + 1),
                    )
                })
                .collect(),
        ),
        Schema::Union(u) => {
            let i = rng.below(u.variants().len() as u64) as usize;
            Avro::Union(
                i as u32,
                Box::new(random_value(rng, &u.variants()[i], names, depth + 1)),
            )
        }
        Schema::Record(RecordSchema { fields, .. }) => Avro::Record(
            fields
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        random_value(rng, &f.schema, names, depth + 1),
                    )
                })
                .collect(),
        ),
        Schema::Ref { name } => random_value(rng, names[name], names, depth),
        other => panic!("no generator for {other:?}"),
    }
}

/// Every datum of `count` random envelopes reads the same both ways;
/// returns how many had a row image, so a test can see it was exercised.
fn agree_on_random(schema_json: &str, seed: u64, count: usize) -> usize {
    let schema = Schema::parse_str(schema_json).unwrap();
    let reader = EnvelopeReader::compile(&schema).expect("compiles");
    let resolved = ResolvedSchema::new(&schema).unwrap();
    let mut rng = Rng(seed);
    let mut rows = 0;
    for _ in 0..count {
        let value = random_value(&mut rng, &schema, resolved.get_names(), 0);
        let datum = encode(&schema, value);
        let fast = reader.read(&datum).unwrap();
        assert_eq!(Ok(&fast), generic(&schema, &datum).as_ref(), "{datum:?}");
        rows += usize::from(matches!(fast.before, Image::Row(_)));
    }
    rows
}

fn every_type_table() -> Arc<TableSchema> {
    let types = [
        ColumnType::Boolean,
        ColumnType::Int,
        ColumnType::Long,
        ColumnType::Float,
        ColumnType::Double,
        ColumnType::Decimal {
            precision: 20,
            scale: 0,
        },
        ColumnType::Decimal {
            precision: 10,
            scale: 3,
        },
        ColumnType::DecimalString {
            precision: 60,
            scale: 2,
        },
        ColumnType::Date,
        ColumnType::DateTime,
        ColumnType::Timestamp,
        ColumnType::Time,
        ColumnType::String,
        ColumnType::Bytes,
    ];
    let mut columns = vec![Column::plain("id", ColumnType::Long, false)];
    for (i, t) in types.iter().enumerate() {
        columns.push(Column::plain(&format!("n{i}"), t.clone(), true));
        columns.push(Column::plain(&format!("v{i}"), t.clone(), false));
    }
    Arc::new(TableSchema {
        db: "shop".into(),
        table: "every_type".into(),
        columns,
        key: vec![0],
    })
}

fn random_row(rng: &mut Rng, table: &TableSchema) -> Vec<Value> {
    table
        .columns
        .iter()
        .map(|c| {
            if c.nullable && rng.chance(3) {
                return Value::Null;
            }
            match c.data_type {
                ColumnType::Boolean => Value::Boolean(rng.chance(2)),
                ColumnType::Int => Value::Int(rng.int()),
                ColumnType::Long => Value::Long(rng.long()),
                ColumnType::Float => Value::Float(rng.int() as f32),
                ColumnType::Double => Value::Double(rng.long() as f64),
                ColumnType::Decimal { .. } => {
                    Value::Decimal(rng.below(1_000_000) as i128 - 500_000)
                }
                ColumnType::DecimalString { .. } => Value::String("-12.50".into()),
                ColumnType::Date => Value::Date(rng.below(40_000) as i32),
                ColumnType::DateTime => Value::DateTime(rng.long()),
                ColumnType::Timestamp => Value::Timestamp(rng.long()),
                ColumnType::Time => Value::Time(rng.long()),
                ColumnType::String => Value::String(rng.text()),
                ColumnType::Bytes => Value::Bytes(rng.bytes(9)),
            }
        })
        .collect()
}

#[test]
fn binlake_envelopes_read_the_same_as_the_generic_reader() {
    let table = every_type_table();
    let codec = TableCodec::with_ids("cdc", table.clone(), 1, 2).unwrap();
    let schema = codec.value_schema();
    let reader = EnvelopeReader::compile(schema).expect("binlake's envelope compiles");
    let mut rng = Rng(7);
    for i in 0..300u32 {
        let op = [Op::Create, Op::Update, Op::Delete, Op::Read, Op::Truncate][i as usize % 5];
        let before = matches!(op, Op::Update | Op::Delete).then(|| random_row(&mut rng, &table));
        let after =
            matches!(op, Op::Create | Op::Update | Op::Read).then(|| random_row(&mut rng, &table));
        let event = ChangeEvent {
            table: table.clone(),
            op,
            before,
            after,
            source: SourceInfo {
                name: "cdc".into(),
                ts_ms: rng.long(),
                snapshot: [
                    SnapshotMarker::False,
                    SnapshotMarker::True,
                    SnapshotMarker::Last,
                ][i as usize % 3],
                server_id: 1,
                gtid: rng.chance(2).then(|| Arc::from(format!("0-1-{i}"))),
                file: "mysql-bin.000001".into(),
                pos: u64::from(i) * 100,
                row: i,
                thread: rng.chance(2).then_some(9),
                query: rng.chance(4).then(|| "UPDATE t SET v = 1".to_owned()),
            },
            transaction: rng.chance(2).then(|| TransactionInfo {
                id: "0-1-7".into(),
                total_order: 3,
                data_collection_order: 2,
            }),
        };
        let framed = codec.encode_value(&event, rng.long()).unwrap();
        let (_, datum) = crate::avro::wire::parse(&framed).unwrap();
        let fast = reader.read(datum).unwrap();
        assert_eq!(Ok(&fast), generic(schema, datum).as_ref());
        assert_eq!(fast.op.as_deref(), Some(op.code()));
        let source = fast.source.as_ref().unwrap();
        assert_eq!(
            (source.db.as_str(), source.table.as_str()),
            ("shop", "every_type")
        );
        assert_eq!(source.ts_ms, Some(event.source.ts_ms));
        let image = if op == Op::Delete {
            &fast.before
        } else {
            &fast.after
        };
        match image {
            Image::Row(row) => assert_eq!(row.len(), table.columns.len()),
            other => assert_eq!(op, Op::Truncate, "{other:?}"),
        }
    }
}

/// Debezium's own envelope shape, with the kinds of fields other writers
/// put in `source` and at the top level, and every column type the sink
/// maps, both orders of nullable unions and a union of two types.
const WIDE_ENVELOPE: &str = r#"{"type":"record","name":"Envelope","namespace":"dbserver1.inventory.customers","fields":[
  {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
     {"name":"id","type":"int"},
     {"name":"b","type":["null","boolean"]},
     {"name":"l","type":["long","null"]},
     {"name":"f","type":"float"},
     {"name":"d","type":"double"},
     {"name":"s","type":"string"},
     {"name":"raw","type":"bytes"},
     {"name":"fx","type":{"type":"fixed","name":"Four","size":4}},
     {"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}},
     {"name":"day","type":{"type":"int","logicalType":"date"}},
     {"name":"tm","type":{"type":"int","logicalType":"time-millis"}},
     {"name":"tu","type":{"type":"long","logicalType":"time-micros"}},
     {"name":"ms","type":{"type":"long","logicalType":"timestamp-millis"}},
     {"name":"us","type":["null",{"type":"long","logicalType":"timestamp-micros"}]},
     {"name":"ns","type":{"type":"long","logicalType":"timestamp-nanos"}},
     {"name":"lms","type":{"type":"long","logicalType":"local-timestamp-millis"}},
     {"name":"lus","type":{"type":"long","logicalType":"local-timestamp-micros"}},
     {"name":"lns","type":{"type":"long","logicalType":"local-timestamp-nanos"}},
     {"name":"dec","type":["null",{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}]},
     {"name":"decf","type":{"type":"fixed","name":"Dec","size":6,"logicalType":"decimal","precision":10,"scale":1}},
     {"name":"either","type":["null","int","string"]},
     {"name":"again","type":["null","Four"]}
  ]}],"default":null},
  {"name":"after","type":["null","Value"],"default":null},
  {"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.mysql","fields":[
     {"name":"version","type":"string"},
     {"name":"connector","type":"string"},
     {"name":"name","type":"string"},
     {"name":"ts_ms","type":"long"},
     {"name":"snapshot","type":["null",{"type":"enum","name":"SnapshotRecord","symbols":["true","last","false","incremental"]}]},
     {"name":"db","type":"string"},
     {"name":"sequence","type":["null","string"]},
     {"name":"table","type":["null","string"]},
     {"name":"server_id","type":"long"},
     {"name":"gtid","type":["null","string","long"]},
     {"name":"file","type":"string"},
     {"name":"pos","type":["int","long"]},
     {"name":"row","type":"int"},
     {"name":"thread","type":["null","long"]},
     {"name":"query","type":["null","string"]},
     {"name":"tags","type":{"type":"array","items":"string"}},
     {"name":"props","type":{"type":"map","values":["null","double"]}},
     {"name":"nested","type":{"type":"record","name":"Nested","fields":[
        {"name":"flag","type":"boolean"},{"name":"f","type":"float"},{"name":"nothing","type":"null"},
        {"name":"units","type":{"type":"array","items":"null"}}]}}
  ]}},
  {"name":"op","type":"string"},
  {"name":"ts_ms","type":["null","long"],"default":null},
  {"name":"ts_us","type":["null",{"type":"long","logicalType":"timestamp-micros"}],"default":null},
  {"name":"transaction","type":["null",{"type":"record","name":"block","namespace":"event","fields":[
     {"name":"id","type":"string"},{"name":"total_order","type":"long"},
     {"name":"data_collection_order","type":"long"},
     {"name":"shape","type":{"type":"enum","name":"Shape","symbols":["A","B"]}}]}],"default":null}
]}"#;

#[test]
fn random_envelopes_of_every_shape_read_the_same_as_the_generic_reader() {
    let rows = agree_on_random(WIDE_ENVELOPE, 0x9e37_79b9_7f4a_7c15, 2_000);
    assert!(rows > 500, "{rows} of 2,000 had a before image");
}

#[test]
fn fields_in_another_order_and_images_without_a_union_read_the_same() {
    let schema = r#"{"type":"record","name":"E","fields":[
      {"name":"op","type":"string"},
      {"name":"source","type":{"type":"record","name":"S","fields":[
         {"name":"table","type":"string"},{"name":"pos","type":"long"},
         {"name":"db","type":"string"},{"name":"ts_ms","type":["null","long"]},
         {"name":"file","type":"bytes"}]}},
      {"name":"after","type":{"type":"record","name":"R","namespace":"other","fields":[
         {"name":"k","type":"long"}]}},
      {"name":"before","type":["other.R","null"]}
    ]}"#;
    assert!(agree_on_random(schema, 3, 500) > 100);
}

#[test]
fn a_truncated_datum_is_an_error_at_every_length() {
    let schema = Schema::parse_str(WIDE_ENVELOPE).unwrap();
    let reader = EnvelopeReader::compile(&schema).unwrap();
    let resolved = ResolvedSchema::new(&schema).unwrap();
    let mut rng = Rng(11);
    for _ in 0..20 {
        let value = random_value(&mut rng, &schema, resolved.get_names(), 0);
        let datum = encode(&schema, value);
        for cut in 0..datum.len() {
            let err = reader.read(&datum[..cut]).unwrap_err();
            assert!(matches!(err, Malformed::Truncated { .. }), "{err}");
        }
    }
}

#[test]
fn corrupt_bytes_are_refused_where_the_generic_reader_refuses_them() {
    let schema = Schema::parse_str(WIDE_ENVELOPE).unwrap();
    let reader = EnvelopeReader::compile(&schema).unwrap();
    let resolved = ResolvedSchema::new(&schema).unwrap();
    let mut rng = Rng(5);
    let (mut refused, mut read) = (0, 0);
    for _ in 0..3_000 {
        let value = random_value(&mut rng, &schema, resolved.get_names(), 0);
        let mut datum = encode(&schema, value);
        for _ in 0..=rng.below(3) {
            let at = rng.below(datum.len() as u64) as usize;
            datum[at] = rng.next() as u8;
        }
        // Never a panic; where the compiled reader reads a datum, the
        // generic one reads the same; where the generic one refuses, so
        // does the compiled one. (The generic reader alone reads a datum
        // that ends early, as nulls.)
        match (reader.read(&datum), generic(&schema, &datum)) {
            (Ok(fast), slow) => {
                assert_eq!(Ok(fast), slow);
                read += 1;
            }
            (Err(_), Err(_)) => refused += 1,
            (Err(fast), Ok(_)) => {
                assert!(matches!(fast, Malformed::Truncated { .. }), "{fast}");
                refused += 1;
            }
        }
    }
    assert!(
        refused > 100 && read > 100,
        "refused {refused}, read {read}"
    );
}

#[test]
fn a_huge_count_of_empty_items_does_not_spin() {
    let schema = r#"{"type":"record","name":"E","fields":[
      {"name":"op","type":"string"},
      {"name":"before","type":["null",{"type":"record","name":"R","fields":[{"name":"k","type":"long"}]}]},
      {"name":"after","type":["null","R"]},
      {"name":"source","type":{"type":"record","name":"S","fields":[
         {"name":"units","type":{"type":"array","items":"null"}},
         {"name":"longs","type":{"type":"array","items":"long"}}]}}
    ]}"#;
    let schema = Schema::parse_str(schema).unwrap();
    let reader = EnvelopeReader::compile(&schema).unwrap();
    let mut datum = vec![2, b'c', 0, 0];
    crate::avro::encode::write_long(&mut datum, i64::MAX);
    datum.push(0);
    let read = reader.read(&datum);
    // The units are read in no time; the longs array then has no bytes.
    assert_eq!(read.unwrap_err(), Malformed::Truncated { needed: 1 });
    datum.push(0);
    assert!(reader.read(&datum).is_ok());
    // A huge count of items that take bytes is refused at once.
    let mut datum = vec![2, b'c', 0, 0, 0];
    crate::avro::encode::write_long(&mut datum, i64::MAX);
    assert!(matches!(
        reader.read(&datum),
        Err(Malformed::Truncated { .. })
    ));
}

#[test]
fn unusual_envelopes_are_left_to_the_generic_reader() {
    let with = |op: &str, before: &str, after: &str, source: &str| {
        format!(
            r#"{{"type":"record","name":"E","fields":[
              {{"name":"op","type":{op}}},
              {{"name":"before","type":{before}}},
              {{"name":"after","type":{after}}},
              {{"name":"source","type":{source}}}]}}"#
        )
    };
    let row = r#"["null",{"type":"record","name":"R","fields":[{"name":"k","type":"long"}]}]"#;
    let source = r#"{"type":"record","name":"S","fields":[{"name":"db","type":"string"}]}"#;
    let compiles =
        |text: String| EnvelopeReader::compile(&Schema::parse_str(&text).unwrap()).is_some();
    let (string, after) = (r#""string""#, r#"["null","R"]"#);
    assert!(compiles(with(string, row, after, source)));
    // `after` may be a string: not a row image.
    assert!(!compiles(with(string, row, r#"["null","string"]"#, source)));
    // `op` in a union.
    assert!(!compiles(with(r#"["null","string"]"#, row, after, source)));
    // `source` in a union.
    let nullable_source = format!(r#"["null",{source}]"#);
    assert!(!compiles(with(string, row, after, &nullable_source)));
    // A uuid column.
    let uuid = r#"["null",{"type":"record","name":"R","fields":[{"name":"k","type":{"type":"string","logicalType":"uuid"}}]}]"#;
    assert!(!compiles(with(string, uuid, after, source)));
    // No `source`.
    let no_source = format!(
        r#"{{"type":"record","name":"E","fields":[
          {{"name":"op","type":"string"}},{{"name":"before","type":{row}}},
          {{"name":"after","type":["null","R"]}}]}}"#
    );
    assert!(!compiles(no_source));
}
