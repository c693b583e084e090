//! Per-column decode plan, built once per TABLE_MAP: how many bytes a value
//! takes in a row image ([`Frame`]), how those bytes become a [`Value`]
//! ([`Conv`]), and the logical [`ColumnType`] the rest of binlake sees.
//!
//! [`Value`]: crate::event::Value

use super::charset::Charset;
use super::decimal;
use super::table_map::{ty, RawColumn};
use super::temporal::frac_len;
use crate::event::ColumnType;

/// How a value is delimited inside a row image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Fixed(usize),
    /// A little-endian length of this many bytes, then the value.
    Prefixed(u8),
}

/// How a value's bytes become a `Value`.
#[derive(Debug, Clone, PartialEq)]
pub enum Conv {
    Int {
        unsigned: bool,
    },
    /// INT UNSIGNED (→ Long), BIGINT (→ Long), BIGINT UNSIGNED (→ Decimal(20,0)).
    Int32Unsigned,
    Int64,
    Int64Unsigned,
    Float,
    Double,
    Decimal {
        precision: u8,
        scale: u8,
    },
    DecimalText {
        precision: u8,
        scale: u8,
    },
    Year,
    Date,
    DateTime2,
    Timestamp2,
    Time2,
    DateTimeOld,
    TimestampOld,
    TimeOld,
    /// BIT(1).
    Bool,
    /// BIT(n>1), VARBINARY, BLOB: the bytes as they are.
    Bytes,
    /// BINARY(n): the server strips trailing 0x00, pad back to n.
    BinaryPadded(usize),
    Text(Charset),
    /// ENUM: 1-based index into the member texts (0 is the empty string).
    Enum(Vec<String>),
    /// SET: bitmask over the member texts.
    Set(Vec<String>),
    /// MySQL binary JSON.
    Json,
    /// GEOMETRY: 4-byte SRID, then WKB.
    Geometry,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnPlan {
    pub frame: Frame,
    pub conv: Conv,
    pub data_type: ColumnType,
    /// A COLUMN_TYPE-like description from the binlog type alone.
    pub binlog_type_name: String,
    /// The value can be a zero date that decodes to NULL.
    pub may_be_zero_date: bool,
}

/// A column the decoder cannot handle, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

fn int_name(base: &str, unsigned: bool) -> String {
    if unsigned {
        format!("{base} unsigned")
    } else {
        base.to_owned()
    }
}

fn with_fsp(base: &str, fsp: u8) -> String {
    if fsp == 0 {
        base.to_owned()
    } else {
        format!("{base}({fsp})")
    }
}

fn members_text(members: &[Vec<u8>], cs: Charset) -> Vec<String> {
    members.iter().map(|m| cs.decode(m)).collect()
}

fn quoted_list(kind: &str, members: &[String]) -> String {
    let items: Vec<String> = members
        .iter()
        .map(|m| format!("'{}'", m.replace('\'', "''")))
        .collect();
    format!("{kind}({})", items.join(","))
}

/// Length-prefix size of CHAR/BINARY, whose max byte length hides partly in
/// the real-type byte (MySQL bug #37426).
fn string_max_len(meta: &[u8]) -> usize {
    let byte = |i: usize| usize::from(meta.get(i).copied().unwrap_or(0));
    let (b0, b1) = (byte(0), byte(1));
    if b0 & 0x30 != 0x30 {
        b1 | (((b0 & 0x30) ^ 0x30) << 4)
    } else {
        b1
    }
}

fn lob_name(prefix: u8, binary: bool) -> String {
    let size = match prefix {
        1 => "tiny",
        3 => "medium",
        4 => "long",
        _ => "",
    };
    format!("{size}{}", if binary { "blob" } else { "text" })
}

pub fn plan(col: &RawColumn) -> Result<ColumnPlan, Unsupported> {
    use ColumnType as T;
    let m = |i: usize| col.meta.get(i).copied().unwrap_or(0);
    let charset = || {
        col.collation.map(Charset::from_collation).ok_or_else(|| {
            Unsupported(
                "no charset in the TABLE_MAP metadata (binlog_row_metadata must be FULL)".into(),
            )
        })
    };
    let u = col.unsigned;
    let (frame, conv, data_type, name) = match col.real_type {
        ty::TINY => (
            Frame::Fixed(1),
            Conv::Int { unsigned: u },
            T::Int,
            int_name("tinyint", u),
        ),
        ty::SHORT => (
            Frame::Fixed(2),
            Conv::Int { unsigned: u },
            T::Int,
            int_name("smallint", u),
        ),
        ty::INT24 => (
            Frame::Fixed(3),
            Conv::Int { unsigned: u },
            T::Int,
            int_name("mediumint", u),
        ),
        ty::LONG if u => (
            Frame::Fixed(4),
            Conv::Int32Unsigned,
            T::Long,
            int_name("int", u),
        ),
        ty::LONG => (
            Frame::Fixed(4),
            Conv::Int { unsigned: false },
            T::Int,
            int_name("int", u),
        ),
        ty::LONGLONG if u => (
            Frame::Fixed(8),
            Conv::Int64Unsigned,
            T::Decimal {
                precision: 20,
                scale: 0,
            },
            int_name("bigint", u),
        ),
        ty::LONGLONG => (Frame::Fixed(8), Conv::Int64, T::Long, int_name("bigint", u)),
        ty::FLOAT => (Frame::Fixed(4), Conv::Float, T::Float, int_name("float", u)),
        ty::DOUBLE => (
            Frame::Fixed(8),
            Conv::Double,
            T::Double,
            int_name("double", u),
        ),
        ty::NEWDECIMAL => {
            let (precision, scale) = (m(0), m(1));
            if precision == 0 || scale > precision || precision > 65 {
                return Err(Unsupported(format!(
                    "DECIMAL({precision},{scale}) metadata is invalid"
                )));
            }
            let frame = Frame::Fixed(decimal::bin_size(precision, scale));
            let name = int_name(&format!("decimal({precision},{scale})"), u);
            if precision <= 38 {
                (
                    frame,
                    Conv::Decimal { precision, scale },
                    T::Decimal { precision, scale },
                    name,
                )
            } else {
                (
                    frame,
                    Conv::DecimalText { precision, scale },
                    T::DecimalString { precision, scale },
                    name,
                )
            }
        }
        ty::YEAR => (Frame::Fixed(1), Conv::Year, T::Int, "year".into()),
        ty::NEWDATE => (Frame::Fixed(3), Conv::Date, T::Date, "date".into()),
        ty::DATETIME2 => (
            Frame::Fixed(5 + frac_len(m(0))),
            Conv::DateTime2,
            T::DateTime,
            with_fsp("datetime", m(0)),
        ),
        ty::TIMESTAMP2 => (
            Frame::Fixed(4 + frac_len(m(0))),
            Conv::Timestamp2,
            T::Timestamp,
            with_fsp("timestamp", m(0)),
        ),
        ty::TIME2 => (
            Frame::Fixed(3 + frac_len(m(0))),
            Conv::Time2,
            T::Time,
            with_fsp("time", m(0)),
        ),
        ty::DATETIME => (
            Frame::Fixed(8),
            Conv::DateTimeOld,
            T::DateTime,
            "datetime".into(),
        ),
        ty::TIMESTAMP => (
            Frame::Fixed(4),
            Conv::TimestampOld,
            T::Timestamp,
            "timestamp".into(),
        ),
        ty::TIME => (Frame::Fixed(3), Conv::TimeOld, T::Time, "time".into()),
        ty::BIT => {
            let bits = usize::from(m(1)) * 8 + usize::from(m(0));
            let frame = Frame::Fixed(bits.div_ceil(8));
            let name = format!("bit({bits})");
            if bits == 1 {
                (frame, Conv::Bool, T::Boolean, name)
            } else {
                (frame, Conv::Bytes, T::Bytes, name)
            }
        }
        ty::VARCHAR | ty::VAR_STRING => {
            let max = usize::from(m(0)) | (usize::from(m(1)) << 8);
            let frame = Frame::Prefixed(if max < 256 { 1 } else { 2 });
            match charset()? {
                Charset::Binary => (frame, Conv::Bytes, T::Bytes, format!("varbinary({max})")),
                cs => (frame, Conv::Text(cs), T::String, "varchar".into()),
            }
        }
        ty::STRING => {
            let max = string_max_len(&col.meta);
            let frame = Frame::Prefixed(if max < 256 { 1 } else { 2 });
            match charset()? {
                Charset::Binary => (
                    frame,
                    Conv::BinaryPadded(max),
                    T::Bytes,
                    format!("binary({max})"),
                ),
                cs => (frame, Conv::Text(cs), T::String, "char".into()),
            }
        }
        ty::ENUM | ty::SET => {
            let cs = charset().unwrap_or(Charset::Utf8);
            let members = members_text(&col.members, cs);
            if members.is_empty() {
                return Err(Unsupported("no ENUM/SET member texts in the TABLE_MAP metadata (binlog_row_metadata must be FULL)".into()));
            }
            let frame = Frame::Fixed(usize::from(m(1)).max(1));
            if col.real_type == ty::ENUM {
                let name = quoted_list("enum", &members);
                (frame, Conv::Enum(members), T::String, name)
            } else {
                let name = quoted_list("set", &members);
                (frame, Conv::Set(members), T::String, name)
            }
        }
        ty::BLOB | ty::TINY_BLOB | ty::MEDIUM_BLOB | ty::LONG_BLOB => {
            let p = m(0);
            if !(1..=4).contains(&p) {
                return Err(Unsupported(format!("BLOB length size {p} is invalid")));
            }
            match charset()? {
                Charset::Binary => (Frame::Prefixed(p), Conv::Bytes, T::Bytes, lob_name(p, true)),
                cs => (
                    Frame::Prefixed(p),
                    Conv::Text(cs),
                    T::String,
                    lob_name(p, false),
                ),
            }
        }
        ty::JSON => (
            Frame::Prefixed(m(0).clamp(1, 4)),
            Conv::Json,
            T::String,
            "json".into(),
        ),
        ty::GEOMETRY => (
            Frame::Prefixed(m(0).clamp(1, 4)),
            Conv::Geometry,
            T::Bytes,
            "geometry".into(),
        ),
        other => {
            return Err(Unsupported(format!(
                "binlog column type {other} is not supported"
            )))
        }
    };
    let may_be_zero_date = matches!(
        conv,
        Conv::Date | Conv::DateTime2 | Conv::Timestamp2 | Conv::DateTimeOld | Conv::TimestampOld
    );
    Ok(ColumnPlan {
        frame,
        conv,
        data_type,
        binlog_type_name: name,
        may_be_zero_date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(real_type: u8, meta: &[u8]) -> RawColumn {
        RawColumn {
            binlog_type: real_type,
            real_type,
            meta: meta.to_vec(),
            ..RawColumn::default()
        }
    }

    #[test]
    fn integer_widths_and_sign() {
        let mut c = col(ty::LONGLONG, &[]);
        c.unsigned = true;
        let p = plan(&c).unwrap();
        assert_eq!(
            p.data_type,
            ColumnType::Decimal {
                precision: 20,
                scale: 0
            }
        );
        assert_eq!(p.binlog_type_name, "bigint unsigned");
        c.real_type = ty::LONG;
        assert_eq!(plan(&c).unwrap().data_type, ColumnType::Long);
        c.unsigned = false;
        assert_eq!(plan(&c).unwrap().data_type, ColumnType::Int);
    }

    #[test]
    fn frames() {
        assert_eq!(
            plan(&col(ty::NEWDECIMAL, &[65, 30])).unwrap().frame,
            Frame::Fixed(30)
        );
        assert_eq!(
            plan(&col(ty::DATETIME2, &[6])).unwrap().frame,
            Frame::Fixed(8)
        );
        assert_eq!(plan(&col(ty::TIME2, &[3])).unwrap().frame, Frame::Fixed(5));
        assert_eq!(plan(&col(ty::BIT, &[5, 1])).unwrap().frame, Frame::Fixed(2));
        assert_eq!(plan(&col(ty::BIT, &[1, 0])).unwrap().conv, Conv::Bool);
        let mut c = col(ty::STRING, &[0xfe, 16]);
        c.collation = Some(63);
        let p = plan(&c).unwrap();
        assert_eq!(
            (p.frame, p.conv),
            (Frame::Prefixed(1), Conv::BinaryPadded(16))
        );
        // CHAR(255) in utf8mb4 = 1020 bytes: the high bits live in byte 0.
        c.meta = vec![0xce, 0xfc];
        c.collation = Some(45);
        assert_eq!(plan(&c).unwrap().frame, Frame::Prefixed(2));
    }

    #[test]
    fn missing_metadata_is_reported() {
        assert!(plan(&col(ty::VARCHAR, &[10, 0])).is_err());
        assert!(plan(&col(ty::ENUM, &[247, 1])).is_err());
        assert!(plan(&col(ty::NEWDECIMAL, &[10, 11])).is_err());
        assert!(plan(&col(20, &[])).is_err());
    }
}
