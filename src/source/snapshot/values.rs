//! A `SELECT` value (binary protocol) → the [`Value`] the stream would have
//! decoded from the binlog for the same stored data.

use mysql_async::Value as My;

use super::table::ReadAs;
use crate::event::Value;
use crate::source::temporal::civil_days;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Why a value could not be converted.
pub type Invalid = String;

pub fn convert(how: ReadAs, v: My) -> Result<Value, Invalid> {
    if matches!(v, My::NULL) {
        return Ok(Value::Null);
    }
    Ok(match how {
        ReadAs::Int => {
            Value::Int(i32::try_from(int(&v)?).map_err(|_| format!("{v:?} overflows int"))?)
        }
        ReadAs::Long => {
            Value::Long(i64::try_from(int(&v)?).map_err(|_| format!("{v:?} overflows long"))?)
        }
        ReadAs::UnsignedBigint => Value::Decimal(int(&v)?),
        ReadAs::Decimal { scale } => Value::Decimal(decimal_unscaled(&text(v)?, scale)?),
        ReadAs::DecimalString { scale } => Value::String(decimal_plain(&text(v)?, scale)?),
        ReadAs::Float => match v {
            My::Float(f) => Value::Float(f),
            My::Double(d) => Value::Float(d as f32),
            other => Value::Float(text(other)?.parse().map_err(|e| format!("float: {e}"))?),
        },
        ReadAs::Double => match v {
            My::Double(d) => Value::Double(d),
            My::Float(f) => Value::Double(f64::from(f)),
            other => Value::Double(text(other)?.parse().map_err(|e| format!("double: {e}"))?),
        },
        ReadAs::Bool => match v {
            My::Bytes(b) => Value::Boolean(b.iter().any(|&x| x != 0)),
            other => Value::Boolean(int(&other)? != 0),
        },
        ReadAs::Bytes => Value::Bytes(bytes(v)?),
        ReadAs::Geometry => {
            let b = bytes(v)?;
            Value::Bytes(b.get(4..).ok_or("GEOMETRY shorter than its SRID")?.to_vec())
        }
        ReadAs::String => Value::String(
            String::from_utf8(bytes(v)?).map_err(|_| "text is not UTF-8".to_string())?,
        ),
        ReadAs::Date => match civil(&v)? {
            Some((days, _)) => Value::Date(i32::try_from(days).map_err(|_| "date out of range")?),
            None => zero_date(),
        },
        ReadAs::DateTime => match civil(&v)? {
            Some((days, us)) => Value::DateTime(days * MICROS_PER_DAY + us),
            None => zero_date(),
        },
        ReadAs::Timestamp => match civil(&v)? {
            Some((days, us)) => Value::Timestamp(days * MICROS_PER_DAY + us),
            None => zero_date(),
        },
        ReadAs::Time => match v {
            My::Time(neg, d, h, m, s, us) => {
                let t =
                    ((i64::from(d) * 24 + i64::from(h)) * 3600 + i64::from(m) * 60 + i64::from(s))
                        * 1_000_000
                        + i64::from(us);
                Value::Time(if neg { -t } else { t })
            }
            other => return Err(format!("TIME came as {other:?}")),
        },
    })
}

fn zero_date() -> Value {
    crate::source::value::count_zero_date();
    Value::Null
}

fn int(v: &My) -> Result<i128, Invalid> {
    match v {
        My::Int(i) => Ok(i128::from(*i)),
        My::UInt(u) => Ok(i128::from(*u)),
        My::Bytes(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("{v:?} is not an integer")),
        other => Err(format!("{other:?} is not an integer")),
    }
}

fn bytes(v: My) -> Result<Vec<u8>, Invalid> {
    match v {
        My::Bytes(b) => Ok(b),
        other => Ok(other.as_sql(true).into_bytes()),
    }
}

fn text(v: My) -> Result<String, Invalid> {
    String::from_utf8(bytes(v)?).map_err(|_| "number text is not UTF-8".into())
}

/// (days since the epoch, microseconds into the day), `None` for a zero or
/// impossible date.
fn civil(v: &My) -> Result<Option<(i64, i64)>, Invalid> {
    match *v {
        My::Date(y, mo, d, h, mi, s, us) => {
            Ok(
                civil_days(i64::from(y), u32::from(mo), u32::from(d)).map(|days| {
                    let secs = i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
                    (days, secs * 1_000_000 + i64::from(us))
                }),
            )
        }
        ref other => Err(format!("{other:?} is not a date")),
    }
}

/// `-123.4500` at scale 4 → -1234500.
pub fn decimal_unscaled(text: &str, scale: u8) -> Result<i128, Invalid> {
    let plain = decimal_plain(text, scale)?;
    let digits: String = plain.chars().filter(|c| *c != '.').collect();
    digits
        .parse()
        .map_err(|_| format!("decimal {text} does not fit 38 digits"))
}

/// The plain text with exactly `scale` fraction digits, as the stream writes it.
pub fn decimal_plain(text: &str, scale: u8) -> Result<String, Invalid> {
    let t = text.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int_part, frac) = body.split_once('.').unwrap_or((body, ""));
    if int_part.is_empty() && frac.is_empty()
        || !int_part
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(format!("{text} is not a decimal"));
    }
    let scale = usize::from(scale);
    let mut frac = frac.to_string();
    if frac.len() > scale {
        return Err(format!("{text} has more than {scale} fraction digits"));
    }
    frac.extend(std::iter::repeat_n('0', scale - frac.len()));
    let int_part = int_part.trim_start_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    let zero = int_part == "0" && frac.bytes().all(|b| b == b'0');
    let sign = if neg && !zero { "-" } else { "" };
    Ok(if scale == 0 {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(decimal_unscaled("-123.45", 4).unwrap(), -1_234_500);
        assert_eq!(decimal_unscaled("0.00", 2).unwrap(), 0);
        assert_eq!(decimal_plain("-0.0", 2).unwrap(), "0.00");
        assert_eq!(decimal_plain("00012", 0).unwrap(), "12");
        assert!(decimal_plain("1e5", 0).is_err());
        assert!(decimal_plain("1.234", 2).is_err());
    }

    #[test]
    fn temporal_and_zero_dates() {
        assert_eq!(
            convert(ReadAs::Date, My::Date(1970, 1, 2, 0, 0, 0, 0)).unwrap(),
            Value::Date(1)
        );
        assert_eq!(
            convert(ReadAs::Date, My::Date(0, 0, 0, 0, 0, 0, 0)).unwrap(),
            Value::Null
        );
        assert_eq!(
            convert(ReadAs::DateTime, My::Date(1970, 1, 1, 1, 0, 0, 5)).unwrap(),
            Value::DateTime(3_600_000_005)
        );
        assert_eq!(
            convert(ReadAs::Time, My::Time(true, 1, 2, 0, 0, 7)).unwrap(),
            Value::Time(-(26 * 3_600_000_000 + 7))
        );
    }

    #[test]
    fn integers_and_bits() {
        assert_eq!(
            convert(ReadAs::UnsignedBigint, My::UInt(u64::MAX)).unwrap(),
            Value::Decimal(18_446_744_073_709_551_615)
        );
        assert_eq!(
            convert(ReadAs::Int, My::Int(-8_388_608)).unwrap(),
            Value::Int(-8_388_608)
        );
        assert!(convert(ReadAs::Int, My::Int(1 << 40)).is_err());
        assert_eq!(
            convert(ReadAs::Bool, My::Bytes(vec![1])).unwrap(),
            Value::Boolean(true)
        );
        assert_eq!(
            convert(ReadAs::Geometry, My::Bytes(vec![0, 0, 0, 0, 1, 2])).unwrap(),
            Value::Bytes(vec![1, 2])
        );
        assert_eq!(convert(ReadAs::String, My::NULL).unwrap(), Value::Null);
    }
}
