//! MySQL's binary DECIMAL format → unscaled i128 (precision ≤ 38) or plain
//! decimal text (any precision).
//!
//! Layout: digits in groups of nine, each group a big-endian integer of 4
//! bytes; a leading integer group or trailing fraction group of fewer digits
//! takes 1–4 bytes. The first bit is inverted (1 = non-negative) and every byte
//! of a negative number is complemented, so the bytes sort like the numbers.

use super::temporal::Invalid;

const DIG_PER_GROUP: usize = 9;
const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];

/// Bytes a DECIMAL(precision, scale) value takes in the binlog.
pub fn bin_size(precision: u8, scale: u8) -> usize {
    let (p, s) = (usize::from(precision), usize::from(scale));
    let intg = p.saturating_sub(s);
    let d = |n: usize| (n / DIG_PER_GROUP) * 4 + DIG2BYTES[n % DIG_PER_GROUP];
    d(intg) + d(s)
}

/// One group of digits as read from the binlog.
struct Group {
    value: u32,
    digits: usize,
}

/// Splits `raw` into its digit groups (most significant first) and the sign.
fn groups(raw: &[u8], precision: u8, scale: u8, mut f: impl FnMut(Group)) -> Result<bool, Invalid> {
    if raw.len() != bin_size(precision, scale) || raw.is_empty() {
        return Err("DECIMAL of the wrong size");
    }
    let negative = raw[0] & 0x80 == 0;
    let mask: u8 = if negative { 0xff } else { 0 };
    let intg = usize::from(precision.saturating_sub(scale));
    let scale = usize::from(scale);
    let lead = std::iter::once(intg % DIG_PER_GROUP).filter(|&d| d > 0);
    let full = std::iter::repeat_n(DIG_PER_GROUP, intg / DIG_PER_GROUP + scale / DIG_PER_GROUP);
    let trail = std::iter::once(scale % DIG_PER_GROUP).filter(|&d| d > 0);
    let sizes = lead.chain(full).chain(trail);
    let mut pos = 0;
    for digits in sizes {
        let n = DIG2BYTES[digits];
        let bytes = raw.get(pos..pos + n).ok_or("DECIMAL of the wrong size")?;
        let value = bytes.iter().enumerate().fold(0u32, |acc, (i, &b)| {
            let b = if pos + i == 0 { b ^ 0x80 } else { b };
            (acc << 8) | u32::from(b ^ mask)
        });
        if u64::from(value) >= 10u64.pow(digits as u32) {
            return Err("DECIMAL digit group out of range");
        }
        f(Group { value, digits });
        pos += n;
    }
    Ok(negative)
}

/// The unscaled value of a DECIMAL with precision ≤ 38.
pub fn to_i128(raw: &[u8], precision: u8, scale: u8) -> Result<i128, Invalid> {
    let mut acc: i128 = 0;
    let mut overflow = false;
    let negative = groups(raw, precision, scale, |g| {
        match acc
            .checked_mul(10i128.pow(g.digits as u32))
            .and_then(|a| a.checked_add(i128::from(g.value)))
        {
            Some(v) => acc = v,
            None => overflow = true,
        }
    })?;
    if overflow {
        return Err("DECIMAL too large for 38 digits");
    }
    Ok(if negative { -acc } else { acc })
}

/// Plain notation with exactly `scale` fraction digits: `-123.4500`, `0.5`, `7`.
pub fn to_plain_string(raw: &[u8], precision: u8, scale: u8) -> Result<String, Invalid> {
    let mut digits = String::with_capacity(usize::from(precision) + 2);
    let negative = groups(raw, precision, scale, |g| {
        use std::fmt::Write;
        let _ = write!(digits, "{:0width$}", g.value, width = g.digits);
    })?;
    let split = digits.len() - usize::from(scale).min(digits.len());
    let (int_part, frac_part) = digits.split_at(split);
    let int_part = int_part.trim_start_matches('0');
    let is_zero = int_part.is_empty() && frac_part.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(digits.len() + 3);
    if negative && !is_zero {
        out.push('-');
    }
    out.push_str(if int_part.is_empty() { "0" } else { int_part });
    if !frac_part.is_empty() {
        out.push('.');
        out.push_str(frac_part);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a decimal text the way MySQL does (test helper).
    fn encode(text: &str, precision: u8, scale: u8) -> Vec<u8> {
        let negative = text.starts_with('-');
        let t = text.trim_start_matches('-');
        let (i, f) = t.split_once('.').unwrap_or((t, ""));
        let intg = usize::from(precision - scale);
        let s = usize::from(scale);
        let i = if intg == 0 {
            String::new()
        } else {
            format!("{:0>intg$}", i)
        };
        let f = format!("{:0<s$}", f);
        let mut out = Vec::new();
        let mut push = |digits: &str| {
            if digits.is_empty() {
                return;
            }
            let v: u32 = digits.parse().unwrap();
            let n = DIG2BYTES[digits.len()];
            out.extend_from_slice(&v.to_be_bytes()[4 - n..]);
        };
        let lead = intg % 9;
        push(&i[..lead]);
        for c in i.as_bytes()[lead..].chunks(9) {
            push(std::str::from_utf8(c).unwrap());
        }
        for c in f.as_bytes().chunks(9) {
            push(std::str::from_utf8(c).unwrap());
        }
        out[0] ^= 0x80;
        if negative {
            out.iter_mut().for_each(|b| *b = !*b);
        }
        out
    }

    #[test]
    fn sizes() {
        assert_eq!(bin_size(10, 2), 5);
        assert_eq!(bin_size(65, 30), 30);
        assert_eq!(bin_size(38, 10), 18);
        assert_eq!(bin_size(1, 0), 1);
    }

    #[test]
    fn small_precision_roundtrip() {
        for (t, p, s, v) in [
            ("1234567.89", 10, 2, 123456789i128),
            ("-1234567.89", 10, 2, -123456789),
            ("0.00", 10, 2, 0),
            ("-0.01", 10, 2, -1),
            (
                "99999999999999999999999999999999999999",
                38,
                0,
                10i128.pow(38) - 1,
            ),
            (
                "-9999999999999999999999999999.9999999999",
                38,
                10,
                -(10i128.pow(38) - 1),
            ),
            ("18446744073709551615", 20, 0, u64::MAX as i128),
            ("5", 1, 0, 5),
            ("-0.5", 1, 1, -5),
        ] {
            assert_eq!(to_i128(&encode(t, p, s), p, s), Ok(v), "{t}");
        }
    }

    #[test]
    fn plain_text_keeps_scale() {
        for (t, p, s, want) in [
            ("-123.45", 65, 30, "-123.450000000000000000000000000000"),
            ("0", 65, 30, "0.000000000000000000000000000000"),
            ("-0", 65, 30, "0.000000000000000000000000000000"),
            (
                "12345678901234567890123456789012345",
                65,
                30,
                "12345678901234567890123456789012345.000000000000000000000000000000",
            ),
            (
                "-99999999999999999999999999999999999.999999999999999999999999999999",
                65,
                30,
                "-99999999999999999999999999999999999.999999999999999999999999999999",
            ),
            ("-123.4500", 40, 4, "-123.4500"),
            ("7", 40, 0, "7"),
            ("0.5", 40, 40, "0.5000000000000000000000000000000000000000"),
        ] {
            assert_eq!(
                to_plain_string(&encode(t, p, s), p, s).as_deref(),
                Ok(want),
                "{t}"
            );
        }
    }

    #[test]
    fn corrupt_input_is_an_error() {
        assert!(to_i128(&[0x80], 10, 2).is_err());
        assert!(to_i128(&[], 0, 0).is_err());
        // Group value 999_999_999 + 1 does not fit nine digits.
        let mut raw = encode("0", 18, 0);
        raw[4..8].copy_from_slice(&1_000_000_000u32.to_be_bytes());
        assert!(to_i128(&raw, 18, 0).is_err());
    }
}
