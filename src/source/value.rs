//! One field of a row image: cut its bytes out ([`take_field`]) and turn them
//! into a [`Value`] ([`convert`]) following the column's plan.

use super::column_meta::{Conv, Frame};
use super::cursor::{uint_le, Cursor};
use super::temporal::{self, Invalid};
use super::{decimal, jsonb};
use crate::event::Value;

/// Zero or impossible dates (`0000-00-00`, month or day 0) decoded to NULL
/// since the process started, for the warning metric.
pub fn zero_dates_total() -> u64 {
    crate::metrics::metrics().source_zero_dates_total.get()
}

fn zero_date() -> Value {
    count_zero_date();
    Value::Null
}

/// Counts one zero date written as NULL (the stream's and the snapshot's).
pub fn count_zero_date() {
    crate::metrics::metrics().source_zero_dates_total.inc();
}

/// The bytes of one non-NULL field, advancing the cursor past it.
pub fn take_field<'a>(frame: Frame, c: &mut Cursor<'a>) -> Result<&'a [u8], Invalid> {
    const SHORT: &str = "row data ends inside this value";
    match frame {
        Frame::Fixed(n) => c.take(n).map_err(|_| SHORT),
        Frame::Prefixed(k) => {
            let len = c.uint_le(usize::from(k)).map_err(|_| SHORT)?;
            c.take(usize::try_from(len).map_err(|_| SHORT)?)
                .map_err(|_| SHORT)
        }
    }
}

/// Signed little-endian integer of 1–8 bytes.
fn int_le(raw: &[u8]) -> i64 {
    if raw.is_empty() {
        return 0;
    }
    let bits = 8 * raw.len() as u32;
    let v = uint_le(raw);
    if bits < 64 && v >> (bits - 1) == 1 {
        v as i64 - (1i64 << bits)
    } else {
        v as i64
    }
}

pub fn convert(conv: &Conv, raw: &[u8]) -> Result<Value, Invalid> {
    Ok(match conv {
        // Widths ≤ 3 bytes (and signed INT) always fit an i32.
        Conv::Int { unsigned: true } => Value::Int(uint_le(raw) as i32),
        Conv::Int { unsigned: false } => Value::Int(int_le(raw) as i32),
        Conv::Int32Unsigned => Value::Long(uint_le(raw) as i64),
        Conv::Int64 => Value::Long(uint_le(raw) as i64),
        Conv::Int64Unsigned => Value::Decimal(i128::from(uint_le(raw))),
        Conv::Float => Value::Float(f32::from_bits(uint_le(raw) as u32)),
        Conv::Double => Value::Double(f64::from_bits(uint_le(raw))),
        Conv::Decimal { precision, scale } => {
            Value::Decimal(decimal::to_i128(raw, *precision, *scale)?)
        }
        Conv::DecimalText { precision, scale } => {
            Value::String(decimal::to_plain_string(raw, *precision, *scale)?)
        }
        // YEAR stores year - 1900; 0 is the year 0000.
        Conv::Year => Value::Int(match uint_le(raw) {
            0 => 0,
            y => 1900 + y as i32,
        }),
        Conv::Date => temporal::date(raw).map_or_else(zero_date, Value::Date),
        Conv::DateTime2 => temporal::datetime2(raw)?.map_or_else(zero_date, Value::DateTime),
        Conv::DateTimeOld => temporal::datetime_old(raw)?.map_or_else(zero_date, Value::DateTime),
        Conv::Timestamp2 => temporal::timestamp2(raw).map_or_else(zero_date, Value::Timestamp),
        Conv::TimestampOld => temporal::timestamp_old(raw).map_or_else(zero_date, Value::Timestamp),
        Conv::Time2 => Value::Time(temporal::time2(raw)),
        Conv::TimeOld => Value::Time(temporal::time_old(raw)),
        Conv::Bool => Value::Boolean(raw.iter().any(|&b| b != 0)),
        Conv::Bytes => Value::Bytes(raw.to_vec()),
        Conv::BinaryPadded(n) => {
            let mut v = Vec::with_capacity(raw.len().max(*n));
            v.extend_from_slice(raw);
            v.resize(raw.len().max(*n), 0);
            Value::Bytes(v)
        }
        Conv::Text(cs) => Value::String(cs.decode(raw)),
        Conv::Enum(members) => match uint_le(raw) as usize {
            // Index 0 is the empty string MySQL stores for an invalid value.
            0 => Value::String(String::new()),
            i => Value::String(
                members
                    .get(i - 1)
                    .ok_or("ENUM index beyond its members")?
                    .clone(),
            ),
        },
        Conv::Set(members) => {
            let mask = uint_le(raw);
            if members.len() < 64 && mask >> members.len() != 0 {
                return Err("SET bit beyond its members");
            }
            let mut out = String::new();
            for (i, m) in members.iter().enumerate().take(64) {
                if mask & (1 << i) != 0 {
                    if !out.is_empty() {
                        out.push(',');
                    }
                    out.push_str(m);
                }
            }
            Value::String(out)
        }
        Conv::Json => Value::String(jsonb::to_text(raw)?),
        Conv::Geometry => Value::Bytes(
            raw.get(4..)
                .ok_or("GEOMETRY shorter than its SRID")?
                .to_vec(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::charset::Charset;

    #[test]
    fn integers_sign_extend() {
        let s = Conv::Int { unsigned: false };
        assert_eq!(convert(&s, &[0xff, 0xff, 0xff]), Ok(Value::Int(-1)));
        assert_eq!(convert(&s, &[0x00, 0x00, 0x80]), Ok(Value::Int(-8_388_608)));
        assert_eq!(
            convert(&Conv::Int { unsigned: true }, &[0xff, 0xff, 0xff]),
            Ok(Value::Int(16_777_215))
        );
        assert_eq!(convert(&s, &[0x80]), Ok(Value::Int(-128)));
        assert_eq!(
            convert(&s, &i32::MIN.to_le_bytes()),
            Ok(Value::Int(i32::MIN))
        );
        assert_eq!(
            convert(&Conv::Int32Unsigned, &u32::MAX.to_le_bytes()),
            Ok(Value::Long(4_294_967_295))
        );
        assert_eq!(
            convert(&Conv::Int64, &i64::MIN.to_le_bytes()),
            Ok(Value::Long(i64::MIN))
        );
        assert_eq!(
            convert(&Conv::Int64Unsigned, &u64::MAX.to_le_bytes()),
            Ok(Value::Decimal(18_446_744_073_709_551_615))
        );
    }

    #[test]
    fn year_zero_and_enum_set() {
        assert_eq!(convert(&Conv::Year, &[0]), Ok(Value::Int(0)));
        assert_eq!(convert(&Conv::Year, &[255]), Ok(Value::Int(2155)));
        let m = vec!["a".to_string(), "b".into(), "c".into()];
        assert_eq!(
            convert(&Conv::Enum(m.clone()), &[0]),
            Ok(Value::String(String::new()))
        );
        assert_eq!(
            convert(&Conv::Enum(m.clone()), &[3]),
            Ok(Value::String("c".into()))
        );
        assert!(convert(&Conv::Enum(m.clone()), &[4]).is_err());
        assert_eq!(
            convert(&Conv::Set(m.clone()), &[0b101]),
            Ok(Value::String("a,c".into()))
        );
        assert_eq!(
            convert(&Conv::Set(m.clone()), &[0]),
            Ok(Value::String(String::new()))
        );
        assert!(convert(&Conv::Set(m), &[0b1000]).is_err());
    }

    #[test]
    fn bytes_and_framing() {
        assert_eq!(
            convert(&Conv::BinaryPadded(4), &[1, 0]),
            Ok(Value::Bytes(vec![1, 0, 0, 0]))
        );
        assert_eq!(
            convert(&Conv::Geometry, &[0, 0, 0, 0, 1, 2]),
            Ok(Value::Bytes(vec![1, 2]))
        );
        assert!(convert(&Conv::Geometry, &[0, 0]).is_err());
        assert_eq!(
            convert(&Conv::Text(Charset::from_collation(8)), &[0x80]),
            Ok(Value::String("€".into()))
        );
        let mut c = Cursor::new(&[2, 0, b'h', b'i', 9]);
        assert_eq!(take_field(Frame::Prefixed(2), &mut c), Ok(&b"hi"[..]));
        assert!(take_field(Frame::Prefixed(1), &mut c).is_err());
    }

    #[test]
    fn zero_dates_are_counted() {
        let before = zero_dates_total();
        assert_eq!(convert(&Conv::Date, &[0, 0, 0]), Ok(Value::Null));
        assert_eq!(convert(&Conv::Timestamp2, &[0, 0, 0, 0]), Ok(Value::Null));
        assert!(zero_dates_total() >= before + 2);
    }
}
