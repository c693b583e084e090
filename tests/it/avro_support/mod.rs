//! Shared data of `avro_roundtrip.rs`: a table with every column type, rows,
//! change events of every op, and what apache_avro must decode for them,
//! written out by hand rather than derived from the code under test.

use std::sync::Arc;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value as Avro;
use apache_avro::{Decimal, Schema};

use binlake::avro::wire;
use binlake::event::{
    ChangeEvent, Column, ColumnType, Op, SnapshotMarker, SourceInfo, TableSchema, TransactionInfo,
    Value,
};

mod registry;
pub use registry::{registry_tests, write_fixtures};

pub const KEY_ID: u32 = 11;
pub const VALUE_ID: u32 = 12;
pub const HANDLED_TS: i64 = 1_700_000_999_000;
pub const HUGE: &str = "-123456789012345678901234567890123456789012345.6789";

fn col(name: &str, data_type: ColumnType, nullable: bool) -> Column {
    Column::plain(name, data_type, nullable)
}

/// Every ColumnType, a sanitised name, and a two-column key in non-table order.
pub fn every_type_table() -> TableSchema {
    use ColumnType::*;
    TableSchema {
        db: "inventory".into(),
        table: "every-type".into(),
        columns: vec![
            col("id", Long, false),
            col("flag", Boolean, false),
            col("small", Int, false),
            col("f", Float, false),
            col("d", Double, false),
            col(
                "price",
                Decimal {
                    precision: 10,
                    scale: 2,
                },
                false,
            ),
            col(
                "huge",
                DecimalString {
                    precision: 65,
                    scale: 4,
                },
                true,
            ),
            col("day", Date, true),
            col("created", DateTime, true),
            col("updated", Timestamp, true),
            col("dur", Time, true),
            col("first name", String, true),
            col("blob", Bytes, true),
            col(
                "ubig",
                Decimal {
                    precision: 20,
                    scale: 0,
                },
                true,
            ),
            col("2fa", Boolean, true),
            col("tenant", Int, false),
        ],
        key: vec![15, 0],
    }
}

pub fn full_row() -> Vec<Value> {
    vec![
        Value::Long(42),
        Value::Boolean(true),
        Value::Int(-7),
        Value::Float(1.5),
        Value::Double(-2.25),
        Value::Decimal(-12345),
        Value::String(HUGE.into()),
        Value::Date(19_000),
        Value::DateTime(1_700_000_000_123_456),
        Value::Timestamp(1_700_000_000_654_321),
        Value::Time(-3_600_000_001),
        Value::String("Zoë €".into()),
        Value::Bytes(vec![0, 1, 255, 0]),
        Value::Decimal(u64::MAX as i128),
        Value::Boolean(false),
        Value::Int(3),
    ]
}

pub fn null_row() -> Vec<Value> {
    let mut row = vec![Value::Null; 16];
    row[..6].clone_from_slice(&[
        Value::Long(43),
        Value::Boolean(false),
        Value::Int(0),
        Value::Float(0.0),
        Value::Double(0.0),
        Value::Decimal(0),
    ]);
    row[15] = Value::Int(i32::MIN);
    row
}

pub fn some(v: Avro) -> Avro {
    Avro::Union(1, Box::new(v))
}
pub fn none() -> Avro {
    Avro::Union(0, Box::new(Avro::Null))
}
fn s(v: &str) -> Avro {
    Avro::String(v.into())
}
fn record(fields: Vec<(&str, Avro)>) -> Avro {
    Avro::Record(fields.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
}

/// What apache_avro must decode for [`full_row`], written out by hand.
fn full_row_avro() -> Avro {
    record(vec![
        ("id", Avro::Long(42)),
        ("flag", Avro::Boolean(true)),
        ("small", Avro::Int(-7)),
        ("f", Avro::Float(1.5)),
        ("d", Avro::Double(-2.25)),
        ("price", Avro::Decimal(Decimal::from(vec![0xCF, 0xC7]))),
        ("huge", some(s(HUGE))),
        ("day", some(Avro::Date(19_000))),
        (
            "created",
            some(Avro::LocalTimestampMicros(1_700_000_000_123_456)),
        ),
        (
            "updated",
            some(Avro::TimestampMicros(1_700_000_000_654_321)),
        ),
        ("dur", some(Avro::Long(-3_600_000_001))),
        ("first_name", some(s("Zoë €"))),
        ("blob", some(Avro::Bytes(vec![0, 1, 255, 0]))),
        (
            "ubig",
            some(Avro::Decimal(Decimal::from(vec![
                0, 255, 255, 255, 255, 255, 255, 255, 255,
            ]))),
        ),
        ("_2fa", some(Avro::Boolean(false))),
        ("tenant", Avro::Int(3)),
    ])
}

fn null_row_avro() -> Avro {
    let mut fields = vec![
        ("id", Avro::Long(43)),
        ("flag", Avro::Boolean(false)),
        ("small", Avro::Int(0)),
        ("f", Avro::Float(0.0)),
        ("d", Avro::Double(0.0)),
        ("price", Avro::Decimal(Decimal::from(vec![0]))),
    ];
    for name in [
        "huge",
        "day",
        "created",
        "updated",
        "dur",
        "first_name",
        "blob",
        "ubig",
        "_2fa",
    ] {
        fields.push((name, none()));
    }
    fields.push(("tenant", Avro::Int(i32::MIN)));
    record(fields)
}

pub struct Case {
    pub name: &'static str,
    pub event: ChangeEvent,
    pub before: Option<Avro>,
    pub after: Option<Avro>,
    pub key: Avro,
}

fn source(snapshot: SnapshotMarker, streamed: bool) -> SourceInfo {
    SourceInfo {
        name: "shop".into(),
        ts_ms: 1_700_000_000_000,
        snapshot,
        server_id: 5401,
        gtid: streamed.then(|| "0-1-42".into()),
        file: "mysql-bin.000003".into(),
        pos: 4_294_967_300,
        row: 2,
        thread: streamed.then_some(77),
        query: streamed.then(|| "UPDATE t SET x = 1".into()),
    }
}

fn tx(n: u64) -> Option<TransactionInfo> {
    Some(TransactionInfo {
        id: "0-1-42".into(),
        total_order: n,
        data_collection_order: n + 100,
    })
}

pub fn cases(table: &Arc<TableSchema>) -> Vec<Case> {
    let key_full = record(vec![("tenant", Avro::Int(3)), ("id", Avro::Long(42))]);
    let key_null = record(vec![
        ("tenant", Avro::Int(i32::MIN)),
        ("id", Avro::Long(43)),
    ]);
    let ev = |op, before, after, source, transaction| ChangeEvent {
        table: table.clone(),
        op,
        before,
        after,
        source,
        transaction,
    };
    vec![
        Case {
            name: "create",
            event: ev(
                Op::Create,
                None,
                Some(full_row()),
                source(SnapshotMarker::False, true),
                None,
            ),
            before: None,
            after: Some(full_row_avro()),
            key: key_full.clone(),
        },
        Case {
            name: "update_tx",
            event: ev(
                Op::Update,
                Some(null_row()),
                Some(full_row()),
                source(SnapshotMarker::False, true),
                tx(1),
            ),
            before: Some(null_row_avro()),
            after: Some(full_row_avro()),
            key: key_full.clone(),
        },
        Case {
            name: "delete_tx",
            event: ev(
                Op::Delete,
                Some(full_row()),
                None,
                source(SnapshotMarker::False, true),
                tx(2),
            ),
            before: Some(full_row_avro()),
            after: None,
            key: key_full,
        },
        Case {
            name: "read",
            event: ev(
                Op::Read,
                None,
                Some(null_row()),
                source(SnapshotMarker::True, false),
                None,
            ),
            before: None,
            after: Some(null_row_avro()),
            key: key_null.clone(),
        },
        Case {
            name: "read_last",
            event: ev(
                Op::Read,
                None,
                Some(null_row()),
                source(SnapshotMarker::Last, false),
                None,
            ),
            before: None,
            after: Some(null_row_avro()),
            key: key_null,
        },
    ]
}

/// Splits the frame, checks the id, decodes the whole datum.
pub fn decode(schema: &Schema, framed: &[u8], id: u32) -> Avro {
    let (got_id, mut datum) = wire::parse(framed).expect("framed");
    assert_eq!(got_id, id);
    let value = GenericDatumReader::builder(schema)
        .build()
        .unwrap()
        .read_value(&mut datum)
        .unwrap();
    assert!(
        datum.is_empty(),
        "{} bytes left after the datum",
        datum.len()
    );
    value
}

pub fn field<'a>(v: &'a Avro, name: &str) -> &'a Avro {
    match v {
        Avro::Record(fields) => {
            &fields
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("no field {name}"))
                .1
        }
        other => panic!("not a record: {other:?}"),
    }
}

fn expected_source(case: &Case) -> Avro {
    let src = &case.event.source;
    let streamed = src.gtid.is_some();
    let snapshot = match src.snapshot {
        SnapshotMarker::False => "false",
        SnapshotMarker::True => "true",
        SnapshotMarker::Last => "last",
    };
    let opt = |v: Avro| if streamed { some(v) } else { none() };
    record(vec![
        ("version", s(env!("CARGO_PKG_VERSION"))),
        ("connector", s("mysql")),
        ("name", s("shop")),
        ("ts_ms", Avro::Long(1_700_000_000_000)),
        ("snapshot", some(s(snapshot))),
        ("db", s("inventory")),
        ("table", some(s("every-type"))),
        ("server_id", Avro::Long(5401)),
        ("gtid", opt(s("0-1-42"))),
        ("file", s("mysql-bin.000003")),
        ("pos", Avro::Long(4_294_967_300)),
        ("row", Avro::Int(2)),
        ("thread", opt(Avro::Long(77))),
        ("query", opt(s("UPDATE t SET x = 1"))),
    ])
}

/// Asserts every field of a decoded envelope.
pub fn assert_envelope(case: &Case, decoded: &Avro) {
    let name = case.name;
    let opt = |v: &Option<Avro>| v.clone().map_or_else(none, some);
    assert_eq!(
        field(decoded, "before"),
        &opt(&case.before),
        "{name}: before"
    );
    assert_eq!(field(decoded, "after"), &opt(&case.after), "{name}: after");
    assert_eq!(
        field(decoded, "source"),
        &expected_source(case),
        "{name}: source"
    );
    assert_eq!(field(decoded, "op"), &s(case.event.op.code()), "{name}: op");
    assert_eq!(
        field(decoded, "ts_ms"),
        &some(Avro::Long(HANDLED_TS)),
        "{name}: ts_ms"
    );
    let transaction = case.event.transaction.as_ref().map(|t| {
        record(vec![
            ("id", s("0-1-42")),
            ("total_order", Avro::Long(t.total_order as i64)),
            (
                "data_collection_order",
                Avro::Long(t.total_order as i64 + 100),
            ),
        ])
    });
    assert_eq!(
        field(decoded, "transaction"),
        &opt(&transaction),
        "{name}: transaction"
    );
    let Avro::Record(fields) = decoded else {
        unreachable!()
    };
    assert_eq!(fields.len(), 6, "{name}: envelope fields");
}
