//! Decoder tests on synthetic TABLE_MAP events: shapes a MariaDB test
//! server never writes (MySQL binary JSON, pre-5.6 temporal types, missing metadata).

use super::*;
use mysql_common::binlog::{consts::BinlogVersion, events::FormatDescriptionEvent, BinlogCtx};
use mysql_common::io::ParseBuf;

fn tlv(t: u8, v: &[u8]) -> Vec<u8> {
    [&[t, v.len() as u8][..], v].concat()
}

fn names(ns: &[&str]) -> Vec<u8> {
    let v: Vec<u8> = ns
        .iter()
        .flat_map(|n| [&[n.len() as u8][..], n.as_bytes()].concat())
        .collect();
    tlv(4, &v)
}

/// Decoder for a synthetic TABLE_MAP `db.t` of `(type, metadata)` columns.
fn decoder(cols: &[(u8, &[u8])], optional: &[u8]) -> Result<TableDecoder, DecodeError> {
    let mut b = vec![
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        2,
        b'd',
        b'b',
        0,
        1,
        b't',
        0,
        cols.len() as u8,
    ];
    b.extend(cols.iter().map(|c| c.0));
    let meta: Vec<u8> = cols.iter().flat_map(|c| c.1.iter().copied()).collect();
    b.push(meta.len() as u8);
    b.extend(meta);
    b.extend(vec![0xff; cols.len().div_ceil(8)]);
    b.extend(optional);
    let fde = FormatDescriptionEvent::new(BinlogVersion::Version4);
    let tme: TableMapEvent<'_> = ParseBuf(&b)
        .parse(BinlogCtx::new(b.len(), &fde, 19))
        .unwrap();
    TableDecoder::new(&tme, &TableHints::default())
}

#[test]
fn missing_row_metadata_is_explained() {
    let err = decoder(&[(3, &[])], &[]).unwrap_err();
    assert!(matches!(err, DecodeError::MissingMetadata { .. }));
    assert!(
        err.to_string().contains("binlog_row_metadata=FULL"),
        "{err}"
    );
}

/// MySQL-only shapes MariaDB never writes: binary JSON, pre-5.6 temporal types.
#[test]
fn mysql_json_and_old_temporal_types() {
    let cols: &[(u8, &[u8])] = &[
        (3, &[]),
        (245, &[4]),
        (12, &[]),
        (11, &[]),
        (7, &[]),
        (15, &[10, 0]),
    ];
    let mut opt = names(&["id", "js", "dt", "tm", "ts", "v"]);
    opt.extend(tlv(1, &[0x00])); // id is signed
    opt.extend(tlv(3, &[8])); // v: latin1
    opt.extend(tlv(8, &[0])); // primary key (id)
    let dec = decoder(cols, &opt).unwrap();
    let s = dec.schema();
    assert_eq!(s.key, vec![0]);
    assert!(s.columns[2].nullable && s.columns[2].source_type == "datetime");
    let mut row = vec![0u8];
    row.extend((-7i32).to_le_bytes());
    let doc = [4u8, 2]; // JSON literal false
    row.extend((doc.len() as u32).to_le_bytes());
    row.extend(doc);
    row.extend(20_240_229_000_001u64.to_le_bytes());
    row.extend(&(-10_203i32).to_le_bytes()[..3]);
    row.extend(0u32.to_le_bytes()); // zero TIMESTAMP
    row.extend([1, 0x80]);
    let rows = dec.decode_images(None, Some(&[true; 6]), &row).unwrap();
    let days = crate::source::temporal::days_from_civil(2024, 2, 29);
    assert_eq!(
        rows[0].1.as_deref().unwrap(),
        &[
            Value::Int(-7),
            Value::String("false".into()),
            Value::DateTime(days * 86_400_000_000 + 1_000_000),
            Value::Time(-(3600 + 2 * 60 + 3) * 1_000_000),
            Value::Null,
            Value::String("€".into()),
        ][..]
    );
}

#[test]
fn unsupported_column_names_the_column() {
    let mut opt = names(&["id", "arr"]);
    opt.extend(tlv(8, &[0]));
    let err = decoder(&[(3, &[]), (20, &[])], &opt).unwrap_err();
    // Type 20 (typed array) has metadata of unknown length: the map is unreadable.
    assert!(matches!(err, DecodeError::BadTableMap { .. }), "{err}");
}
