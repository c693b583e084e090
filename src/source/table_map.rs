//! The parts of a TABLE_MAP event the decoder needs, read from its raw bytes
//! with our own bounds-checked parser: the crate's optional-metadata helpers
//! mis-assign charsets after a GEOMETRY column and fail on unknown fields.

use mysql_async::binlog::events::TableMapEvent;
use mysql_common::proto::MySerialize;

use super::cursor::{Cursor, Truncated};

/// Binlog column type codes (`enum_field_types`).
pub mod ty {
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const TIMESTAMP2: u8 = 17;
    pub const DATETIME2: u8 = 18;
    pub const TIME2: u8 = 19;
    pub const JSON: u8 = 245;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const TINY_BLOB: u8 = 249;
    pub const MEDIUM_BLOB: u8 = 250;
    pub const LONG_BLOB: u8 = 251;
    pub const BLOB: u8 = 252;
    pub const VAR_STRING: u8 = 253;
    pub const STRING: u8 = 254;
    pub const GEOMETRY: u8 = 255;
}

/// One column as the TABLE_MAP describes it.
#[derive(Debug, Clone, Default)]
pub struct RawColumn {
    /// Type code from the column-type array (STRING for CHAR, ENUM and SET).
    pub binlog_type: u8,
    /// The real type: ENUM/SET/STRING resolved from the metadata.
    pub real_type: u8,
    pub meta: Vec<u8>,
    pub nullable: bool,
    pub name: Option<String>,
    pub unsigned: bool,
    /// Collation id of character, ENUM and SET columns.
    pub collation: Option<u16>,
    /// ENUM or SET member texts, raw bytes in the column's charset.
    pub members: Vec<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct RawTableMap {
    pub db: String,
    pub table: String,
    pub columns: Vec<RawColumn>,
    /// Primary key column indexes in key order; `None` if the metadata had no
    /// primary key field.
    pub primary_key: Option<Vec<usize>>,
    /// The event body minus table id and flags: equal bytes mean an equal plan.
    pub fingerprint: Vec<u8>,
}

/// Why a TABLE_MAP could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableMapError {
    Truncated(&'static str),
    UnknownMetadataLength(u8),
}

impl From<Truncated> for TableMapError {
    fn from(_: Truncated) -> Self {
        TableMapError::Truncated("table map")
    }
}

/// Optional-metadata field types (`Table_map_log_event::Optional_metadata_field_type`).
mod field {
    pub const SIGNEDNESS: u8 = 1;
    pub const DEFAULT_CHARSET: u8 = 2;
    pub const COLUMN_CHARSET: u8 = 3;
    pub const COLUMN_NAME: u8 = 4;
    pub const SET_STR_VALUE: u8 = 5;
    pub const ENUM_STR_VALUE: u8 = 6;
    pub const SIMPLE_PRIMARY_KEY: u8 = 8;
    pub const PRIMARY_KEY_WITH_PREFIX: u8 = 9;
    pub const ENUM_AND_SET_DEFAULT_CHARSET: u8 = 10;
    pub const ENUM_AND_SET_COLUMN_CHARSET: u8 = 11;
}

/// Bytes of TABLE_MAP metadata each binlog type carries.
fn meta_len(binlog_type: u8) -> Result<usize, TableMapError> {
    use ty::*;
    Ok(match binlog_type {
        FLOAT | DOUBLE | TIMESTAMP2 | DATETIME2 | TIME2 | JSON | TINY_BLOB | MEDIUM_BLOB
        | LONG_BLOB | BLOB | GEOMETRY => 1,
        VARCHAR | VAR_STRING | BIT | NEWDECIMAL | STRING | ENUM | SET => 2,
        DECIMAL | TINY | SHORT | LONG | TIMESTAMP | LONGLONG | INT24 | DATE | TIME | DATETIME
        | YEAR | NEWDATE | 6 => 0,
        other => return Err(TableMapError::UnknownMetadataLength(other)),
    })
}

/// Columns whose values carry a charset, as the server counts them for the
/// DEFAULT_CHARSET / COLUMN_CHARSET fields (GEOMETRY included: it is a BLOB inside).
fn is_character(c: &RawColumn) -> bool {
    use ty::*;
    matches!(
        c.real_type,
        STRING | VAR_STRING | VARCHAR | BLOB | TINY_BLOB | MEDIUM_BLOB | LONG_BLOB | GEOMETRY
    )
}

fn is_enum_or_set(c: &RawColumn) -> bool {
    matches!(c.real_type, ty::ENUM | ty::SET)
}

/// Columns the SIGNEDNESS bitmap covers. YEAR is one of them (it is a TINYINT
/// inside the server); skipping it shifts every later flag (seen on MariaDB 10.11).
fn is_numeric(c: &RawColumn) -> bool {
    use ty::*;
    matches!(
        c.binlog_type,
        TINY | SHORT | INT24 | LONG | LONGLONG | NEWDECIMAL | FLOAT | DOUBLE | DECIMAL | YEAR
    )
}

/// The event body after table id (6 bytes as serialized) and flags (2).
pub fn fingerprint(tme: &TableMapEvent<'_>) -> Vec<u8> {
    let mut raw = Vec::with_capacity(256);
    tme.serialize(&mut raw);
    raw.drain(..raw.len().min(8));
    raw
}

pub fn parse(tme: &TableMapEvent<'_>) -> Result<RawTableMap, TableMapError> {
    let body = fingerprint(tme);
    let mut c = Cursor::new(&body);
    let db_len = usize::from(c.u8()?);
    let db = lossy(c.take(db_len)?);
    c.take(1)?;
    let table_len = usize::from(c.u8()?);
    let table = lossy(c.take(table_len)?);
    c.take(1)?;
    let n = usize::try_from(c.lenenc()?).map_err(|_| TableMapError::Truncated("column count"))?;
    let types = c.take(n)?;
    let mut meta = Cursor::new(c.lenenc_bytes()?);
    let null_bits = c.take(n.div_ceil(8))?;
    let mut columns = Vec::with_capacity(n);
    for (i, &binlog_type) in types.iter().enumerate() {
        let m = meta.take(meta_len(binlog_type)?)?.to_vec();
        let real_type = match (binlog_type, m.first()) {
            // CHAR, ENUM and SET all travel as STRING with the real type in
            // the first metadata byte (a long CHAR steals bits of it).
            (ty::STRING, Some(&b)) if b != 0 => b | 0x30,
            (ty::DATE, _) => ty::NEWDATE,
            _ => binlog_type,
        };
        columns.push(RawColumn {
            binlog_type,
            real_type,
            meta: m,
            nullable: null_bits
                .get(i / 8)
                .is_some_and(|b| b & (1 << (i % 8)) != 0),
            ..RawColumn::default()
        });
    }
    let mut map = RawTableMap {
        db,
        table,
        columns,
        primary_key: None,
        fingerprint: Vec::new(),
    };
    read_optional(&mut map, c.remaining())?;
    map.fingerprint = body;
    Ok(map)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn read_optional(map: &mut RawTableMap, data: &[u8]) -> Result<(), TableMapError> {
    let mut c = Cursor::new(data);
    while !c.is_empty() {
        let t = c.u8()?;
        let mut v = Cursor::new(c.lenenc_bytes()?);
        let cols = &mut map.columns;
        match t {
            field::SIGNEDNESS => {
                let bits = v.remaining();
                for (k, col) in cols.iter_mut().filter(|c| is_numeric(c)).enumerate() {
                    col.unsigned = bits.get(k / 8).is_some_and(|b| b & (0x80 >> (k % 8)) != 0);
                }
            }
            field::DEFAULT_CHARSET => default_charsets(&mut v, cols, is_character)?,
            field::ENUM_AND_SET_DEFAULT_CHARSET => default_charsets(&mut v, cols, is_enum_or_set)?,
            field::COLUMN_CHARSET => column_charsets(&mut v, cols, is_character)?,
            field::ENUM_AND_SET_COLUMN_CHARSET => column_charsets(&mut v, cols, is_enum_or_set)?,
            field::COLUMN_NAME => {
                for col in cols.iter_mut() {
                    col.name = Some(lossy(v.lenenc_bytes()?));
                }
            }
            field::ENUM_STR_VALUE => members(&mut v, cols, ty::ENUM)?,
            field::SET_STR_VALUE => members(&mut v, cols, ty::SET)?,
            field::SIMPLE_PRIMARY_KEY | field::PRIMARY_KEY_WITH_PREFIX => {
                let mut key = Vec::new();
                while !v.is_empty() {
                    key.push(usize::try_from(v.lenenc()?).map_err(|_| Truncated)?);
                    if t == field::PRIMARY_KEY_WITH_PREFIX {
                        v.lenenc()?; // prefix length: the key is still the column
                    }
                }
                map.primary_key = Some(key);
            }
            // GEOMETRY_TYPE, COLUMN_VISIBILITY, VECTOR_DIMENSIONALITY and any
            // future field: not needed to decode values.
            _ => {}
        }
    }
    Ok(())
}

/// A default collation, then `(index among matching columns, collation)` pairs.
fn default_charsets(
    v: &mut Cursor<'_>,
    cols: &mut [RawColumn],
    f: fn(&RawColumn) -> bool,
) -> Result<(), TableMapError> {
    let default = v.lenenc()? as u16;
    let mut overrides = Vec::new();
    while !v.is_empty() {
        overrides.push((v.lenenc()? as usize, v.lenenc()? as u16));
    }
    for (k, col) in cols.iter_mut().filter(|c| f(c)).enumerate() {
        let over = overrides.iter().find(|(i, _)| *i == k).map(|&(_, id)| id);
        col.collation = Some(over.unwrap_or(default));
    }
    Ok(())
}

/// One collation per matching column, in column order.
fn column_charsets(
    v: &mut Cursor<'_>,
    cols: &mut [RawColumn],
    f: fn(&RawColumn) -> bool,
) -> Result<(), TableMapError> {
    for col in cols.iter_mut().filter(|c| f(c)) {
        col.collation = Some(v.lenenc()? as u16);
    }
    Ok(())
}

/// Member lists (count, then texts) of each ENUM or SET column in order.
fn members(v: &mut Cursor<'_>, cols: &mut [RawColumn], real_type: u8) -> Result<(), TableMapError> {
    for col in cols.iter_mut().filter(|c| c.real_type == real_type) {
        let count = v.lenenc()?;
        col.members = (0..count)
            .map(|_| v.lenenc_bytes().map(<[u8]>::to_vec))
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}
