//! Change events → Confluent-framed Avro → decoded back by apache_avro with
//! the writer schema, field by field; and the schemas against the real
//! embedded registry (`binlake registry`).

use std::sync::Arc;

use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;

use binlake::avro::{value, TableCodec};

use crate::avro_support::{
    assert_envelope, cases, decode, every_type_table, field, registry_tests, write_fixtures,
    HANDLED_TS, KEY_ID, VALUE_ID,
};

#[test]
fn every_op_round_trips_through_apache_avro() {
    let table = Arc::new(every_type_table());
    let codec = TableCodec::with_ids("shop", table.clone(), KEY_ID, VALUE_ID).unwrap();
    assert_eq!(codec.topic(), "shop.inventory.every-type");
    for case in cases(&table) {
        let key = codec.encode_key(&case.event).unwrap();
        assert_eq!(
            decode(codec.key_schema(), &key, KEY_ID),
            case.key,
            "{}: key",
            case.name
        );
        let framed = codec.encode_value(&case.event, HANDLED_TS).unwrap();
        let decoded = decode(codec.value_schema(), &framed, VALUE_ID);
        assert_envelope(&case, &decoded);
        // Minimal decimal bytes, exactly: -12345 is CF C7, u64::MAX 00 FF×8.
        if let Some(Avro::Record(after)) = case.after.as_ref() {
            let Avro::Union(1, row) = field(&decoded, "after") else {
                panic!("after")
            };
            for (name, want) in after {
                if let (Avro::Decimal(w), Avro::Decimal(g)) = (want, field(row, name)) {
                    assert_eq!(
                        Vec::<u8>::try_from(g).unwrap(),
                        Vec::<u8>::try_from(w).unwrap(),
                        "{name}"
                    );
                }
            }
        }
    }
}

#[test]
fn direct_writer_matches_apache_avro_writer_byte_for_byte() {
    let table = Arc::new(every_type_table());
    let codec = TableCodec::with_ids("shop", table.clone(), KEY_ID, VALUE_ID).unwrap();
    let key_writer = GenericDatumWriter::builder(codec.key_schema())
        .build()
        .unwrap();
    let value_writer = GenericDatumWriter::builder(codec.value_schema())
        .build()
        .unwrap();
    for case in cases(&table) {
        let row = case.event.key_row().unwrap();
        let key_value = value::key_value(codec.names(), &table, row).unwrap();
        let want_key = key_writer.write_value_to_vec(key_value).unwrap();
        assert_eq!(
            &codec.encode_key(&case.event).unwrap()[5..],
            &want_key[..],
            "{}",
            case.name
        );
        let envelope = value::envelope_value(codec.names(), &case.event, HANDLED_TS).unwrap();
        let want = value_writer.write_value_to_vec(envelope).unwrap();
        assert_eq!(
            &codec.encode_value(&case.event, HANDLED_TS).unwrap()[5..],
            &want[..],
            "{}",
            case.name
        );
    }
}

#[test]
fn encoding_many_rows_reuses_one_buffer() {
    // Not a timed assertion: exercises the hot path the way the producer
    // will (one buffer, cleared per message) over many rows.
    let table = Arc::new(every_type_table());
    let codec = TableCodec::with_ids("shop", table.clone(), KEY_ID, VALUE_ID).unwrap();
    let case = cases(&table).swap_remove(1);
    let mut buf = Vec::with_capacity(1024);
    let mut total = 0usize;
    for i in 0..20_000i64 {
        buf.clear();
        codec
            .encode_value_into(&case.event, HANDLED_TS + i, &mut buf)
            .unwrap();
        total += buf.len();
    }
    assert!(total > 20_000 * 100);
}

#[test]
fn fixtures_for_the_python_check() {
    // Writes framed messages and schemas when asked (tests/python/test_avro_wire.py).
    let Some(dir) = std::env::var_os("BINLAKE_AVRO_FIXTURE_DIR") else {
        return;
    };
    let table = Arc::new(every_type_table());
    let codec = TableCodec::with_ids("shop", table.clone(), KEY_ID, VALUE_ID).unwrap();
    let cases = cases(&table);
    write_fixtures(std::path::Path::new(&dir), &codec, &cases, HANDLED_TS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_in_the_embedded_registry() {
    let Some(bin) = option_env!("CARGO_BIN_EXE_binlake") else {
        eprintln!("no binlake binary in this build; skipped");
        return;
    };
    registry_tests(bin).await;
}
