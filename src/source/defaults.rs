//! Column defaults as information_schema states them, turned into values of
//! the column's logical type so the Avro schema can carry them (Debezium
//! does): a column added with a default is then a BACKWARD-compatible
//! schema version.
//!
//! `COLUMN_DEFAULT` differs by server: MariaDB quotes string literals
//! (`'abc'`), writes `NULL` for an explicit null default and expressions as
//! they are (`current_timestamp()`); MySQL 8 gives literals unquoted and
//! marks expressions `DEFAULT_GENERATED` in `EXTRA`. Anything that is not a
//! plain literal becomes "no literal": the schema then uses the type's zero
//! value, as Debezium does for `CURRENT_TIMESTAMP`.

use super::binlog::Flavour;
use crate::event::{ColumnType, DefaultValue, Value};

/// A column's default as information_schema gives it, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawDefault {
    /// A literal, unquoted and unescaped.
    Literal(String),
    /// An expression, or a default binlake does not read (taken as none).
    Expression(String),
}

/// Classifies `COLUMN_DEFAULT` (`None` = SQL NULL) and `EXTRA`; `None` when
/// the column has no default or defaults to NULL.
pub fn classify(flavour: Flavour, column_default: Option<&str>, extra: &str) -> Option<RawDefault> {
    let text = column_default?;
    if extra.to_ascii_uppercase().contains("DEFAULT_GENERATED") {
        return Some(RawDefault::Expression(text.to_owned()));
    }
    match flavour {
        Flavour::MySql => Some(RawDefault::Literal(text.to_owned())),
        Flavour::MariaDb => {
            let t = text.trim();
            if t.eq_ignore_ascii_case("NULL") {
                None
            } else if let Some(inner) = t.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                Some(RawDefault::Literal(unescape_mariadb(inner)))
            } else if is_number(t) || is_bit_literal(t) {
                Some(RawDefault::Literal(t.to_owned()))
            } else {
                Some(RawDefault::Expression(t.to_owned()))
            }
        }
    }
}

/// MariaDB doubles quotes and backslash-escapes inside a quoted default.
fn unescape_mariadb(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('Z') => out.push('\x1a'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn is_number(t: &str) -> bool {
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && t.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

fn is_bit_literal(t: &str) -> bool {
    bit_digits(t).is_some()
}

/// `b'101'` → `101`.
fn bit_digits(t: &str) -> Option<&str> {
    let inner = t
        .strip_prefix("b'")
        .or_else(|| t.strip_prefix("B'"))?
        .strip_suffix('\'')?;
    inner.chars().all(|c| c == '0' || c == '1').then_some(inner)
}

/// The literal as a value of `ty`; `None` for an expression or a literal
/// that does not read as the type (the schema then uses the zero value).
pub fn value_of(raw: &RawDefault, ty: &ColumnType) -> Option<DefaultValue> {
    let RawDefault::Literal(text) = raw else {
        return None;
    };
    let t = text.trim();
    let v = match ty {
        ColumnType::Boolean => Value::Boolean(match bit_digits(t).unwrap_or(t) {
            "1" | "01" => true,
            "0" | "00" | "" => false,
            _ => return None,
        }),
        ColumnType::Int => Value::Int(integer(t)?.try_into().ok()?),
        ColumnType::Long => Value::Long(integer(t)?),
        ColumnType::Float => Value::Float(t.parse::<f32>().ok().filter(|f| f.is_finite())?),
        ColumnType::Double => Value::Double(t.parse::<f64>().ok().filter(|f| f.is_finite())?),
        ColumnType::Decimal { scale, .. } => Value::Decimal(unscaled(t, *scale)?),
        ColumnType::DecimalString { scale, .. } => {
            let u = unscaled(t, *scale)?;
            Value::String(plain(u, *scale))
        }
        ColumnType::Time => Value::Time(time_micros(t)?),
        ColumnType::String => Value::String(text.clone()),
        ColumnType::Bytes => match bit_digits(t) {
            Some(bits) => Value::Bytes(bits_be(bits)?),
            None => Value::Bytes(text.as_bytes().to_vec()),
        },
        // Temporal columns other than TIME are always nullable (a zero date
        // arrives as null), so their default is null.
        ColumnType::Date | ColumnType::DateTime | ColumnType::Timestamp => return None,
    };
    Some(DefaultValue(v))
}

/// An integer literal; MySQL also accepts `1.0` or `1e2` for integers.
fn integer(t: &str) -> Option<i64> {
    if let Some(bits) = bit_digits(t) {
        return i64::from_str_radix(bits, 2).ok();
    }
    t.parse::<i64>().ok().or_else(|| {
        let f = t.parse::<f64>().ok()?;
        (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
    })
}

/// `-12.5` at scale 2 → -1250; more fraction digits than `scale` → None.
fn unscaled(t: &str, scale: u8) -> Option<i128> {
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > usize::from(scale)
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let mut s = String::with_capacity(int.len() + usize::from(scale));
    s.push_str(if int.is_empty() { "0" } else { int });
    s.push_str(frac);
    s.extend(std::iter::repeat_n('0', usize::from(scale) - frac.len()));
    let v: i128 = s.parse().ok()?;
    Some(if neg { -v } else { v })
}

fn plain(u: i128, scale: u8) -> String {
    let digits = u.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let sign = if u < 0 { "-" } else { "" };
    if scale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// `[-]HHH:MM:SS[.ffffff]` → signed microseconds.
fn time_micros(t: &str) -> Option<i64> {
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let mut parts = hms.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || frac.len() > 6 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let us: i64 = format!("{frac:0<6}").parse().ok()?;
    let v = ((h * 60 + m) * 60 + s) * 1_000_000 + us;
    Some(if neg { -v } else { v })
}

/// `101` → big-endian bytes of ⌈n/8⌉ bytes.
fn bits_be(bits: &str) -> Option<Vec<u8>> {
    let n = bits.len().max(1).div_ceil(8);
    let v = u64::from_str_radix(if bits.is_empty() { "0" } else { bits }, 2).ok()?;
    Some(v.to_be_bytes()[8 - n.min(8)..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> RawDefault {
        RawDefault::Literal(s.into())
    }

    #[test]
    fn mariadb_forms() {
        let m = Flavour::MariaDb;
        assert_eq!(classify(m, None, ""), None);
        assert_eq!(classify(m, Some("NULL"), ""), None);
        assert_eq!(classify(m, Some("1"), ""), Some(lit("1")));
        assert_eq!(classify(m, Some("-2.50"), ""), Some(lit("-2.50")));
        assert_eq!(classify(m, Some("'it''s'"), ""), Some(lit("it's")));
        assert_eq!(classify(m, Some("'a\\\\b'"), ""), Some(lit("a\\b")));
        assert_eq!(classify(m, Some("b'1'"), ""), Some(lit("b'1'")));
        assert_eq!(
            classify(
                m,
                Some("current_timestamp()"),
                "on update current_timestamp()"
            ),
            Some(RawDefault::Expression("current_timestamp()".into()))
        );
        assert_eq!(
            classify(m, Some("uuid()"), ""),
            Some(RawDefault::Expression("uuid()".into()))
        );
    }

    #[test]
    fn mysql_forms() {
        let m = Flavour::MySql;
        assert_eq!(classify(m, Some("abc"), ""), Some(lit("abc")));
        assert_eq!(
            classify(m, Some("CURRENT_TIMESTAMP"), "DEFAULT_GENERATED"),
            Some(RawDefault::Expression("CURRENT_TIMESTAMP".into()))
        );
        assert_eq!(classify(m, None, ""), None);
    }

    #[test]
    fn literals_become_typed_values() {
        let v = |s: &str, t: ColumnType| value_of(&lit(s), &t).map(|d| d.0);
        assert_eq!(v("1", ColumnType::Int), Some(Value::Int(1)));
        assert_eq!(v("-7", ColumnType::Long), Some(Value::Long(-7)));
        assert_eq!(v("x", ColumnType::Int), None);
        assert_eq!(v("1.5", ColumnType::Double), Some(Value::Double(1.5)));
        assert_eq!(
            v(
                "-12.5",
                ColumnType::Decimal {
                    precision: 10,
                    scale: 2
                }
            ),
            Some(Value::Decimal(-1250))
        );
        assert_eq!(
            v(
                "1.234",
                ColumnType::Decimal {
                    precision: 10,
                    scale: 2
                }
            ),
            None
        );
        assert_eq!(
            v(
                "3",
                ColumnType::DecimalString {
                    precision: 50,
                    scale: 3
                }
            ),
            Some(Value::String("3.000".into()))
        );
        assert_eq!(v("b'1'", ColumnType::Boolean), Some(Value::Boolean(true)));
        assert_eq!(
            v("b'100000001'", ColumnType::Bytes),
            Some(Value::Bytes(vec![1, 1]))
        );
        assert_eq!(
            v("-01:02:03.5", ColumnType::Time),
            Some(Value::Time(-3_723_500_000))
        );
        assert_eq!(v("2020-01-01", ColumnType::Date), None);
        assert_eq!(
            v("héllo", ColumnType::String),
            Some(Value::String("héllo".into()))
        );
        assert_eq!(
            value_of(
                &RawDefault::Expression("uuid()".into()),
                &ColumnType::String
            ),
            None
        );
    }
}
