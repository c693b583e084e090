//! MySQL's binary JSON (the JSON column type of MySQL 5.7+) → JSON text, in
//! the form MySQL itself prints (`{"a": 1, "b": [true, null]}`), keys in
//! stored order. MariaDB stores JSON as text and never reaches this module.

use std::fmt::Write;

use super::cursor::{uint_le, Cursor};
use super::temporal::Invalid;

const MAX_DEPTH: usize = 150;

/// Converts one binary JSON document; an empty value is JSON `null`.
pub fn to_text(doc: &[u8]) -> Result<String, Invalid> {
    let mut out = String::with_capacity(doc.len() * 2);
    match doc.split_first() {
        None => out.push_str("null"),
        Some((&ty, body)) => write_value(&mut out, ty, body, 0)?,
    }
    Ok(out)
}

fn write_value(out: &mut String, ty: u8, data: &[u8], depth: usize) -> Result<(), Invalid> {
    const SHORT: &str = "JSON value truncated";
    let fixed = |n: usize| data.get(..n).ok_or(SHORT);
    match ty {
        0x00 => write_container(out, data, false, true, depth),
        0x01 => write_container(out, data, true, true, depth),
        0x02 => write_container(out, data, false, false, depth),
        0x03 => write_container(out, data, true, false, depth),
        0x04 => {
            out.push_str(match fixed(1)?[0] {
                0 => "null",
                1 => "true",
                2 => "false",
                _ => return Err("unknown JSON literal"),
            });
            Ok(())
        }
        0x05 => write_num(out, i64::from(uint_le(fixed(2)?) as u16 as i16)),
        0x06 => write_num(out, uint_le(fixed(2)?)),
        0x07 => write_num(out, i64::from(uint_le(fixed(4)?) as u32 as i32)),
        0x08 => write_num(out, uint_le(fixed(4)?)),
        0x09 => write_num(out, uint_le(fixed(8)?) as i64),
        0x0a => write_num(out, uint_le(fixed(8)?)),
        0x0b => {
            let d = f64::from_bits(uint_le(fixed(8)?));
            let _ = write!(out, "{d:?}");
            Ok(())
        }
        0x0c => {
            let mut c = Cursor::new(data);
            let n = var_len(&mut c)?;
            let s = std::str::from_utf8(c.take(n).map_err(|_| SHORT)?)
                .map_err(|_| "JSON string is not UTF-8")?;
            write_string(out, s);
            Ok(())
        }
        0x0f => {
            let mut c = Cursor::new(data);
            let field_type = c.u8().map_err(|_| SHORT)?;
            let n = var_len(&mut c)?;
            write_opaque(out, field_type, c.take(n).map_err(|_| SHORT)?)
        }
        _ => Err("unknown JSON value type"),
    }
}

fn write_num(out: &mut String, n: impl std::fmt::Display) -> Result<(), Invalid> {
    let _ = write!(out, "{n}");
    Ok(())
}

/// Length prefix of strings and opaque values: 7 bits per byte, low first.
fn var_len(c: &mut Cursor<'_>) -> Result<usize, Invalid> {
    let mut len = 0usize;
    for i in 0..5 {
        let b = c.u8().map_err(|_| "JSON length truncated")?;
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(len);
        }
    }
    Err("JSON length too long")
}

/// An object or array: count, size, (key entries), value entries, then data.
/// Offsets count from the start of `data`.
fn write_container(
    out: &mut String,
    data: &[u8],
    large: bool,
    object: bool,
    depth: usize,
) -> Result<(), Invalid> {
    if depth > MAX_DEPTH {
        return Err("JSON nested too deeply");
    }
    let w = if large { 4 } else { 2 };
    let read = |pos: usize, n: usize| {
        data.get(pos..pos + n)
            .map(uint_le)
            .ok_or("JSON container truncated")
    };
    let count = read(0, w)? as usize;
    let size = read(w, w)? as usize;
    let data = data.get(..size).ok_or("JSON container truncated")?;
    let keys_at = 2 * w;
    let values_at = keys_at + if object { count * (w + 2) } else { 0 };
    out.push(if object { '{' } else { '[' });
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        if object {
            let k = keys_at + i * (w + 2);
            let (off, len) = (read(k, w)? as usize, read(k + w, 2)? as usize);
            let key = data.get(off..off + len).ok_or("JSON key out of bounds")?;
            write_string(
                out,
                std::str::from_utf8(key).map_err(|_| "JSON key is not UTF-8")?,
            );
            out.push_str(": ");
        }
        let e = values_at + i * (1 + w);
        let ty = *data.get(e).ok_or("JSON container truncated")?;
        let inlined = matches!(ty, 0x04..=0x06) || (large && matches!(ty, 0x07 | 0x08));
        if inlined {
            let v = data
                .get(e + 1..e + 1 + w)
                .ok_or("JSON container truncated")?;
            write_value(out, ty, v, depth + 1)?;
        } else {
            let off = read(e + 1, w)? as usize;
            let v = data.get(off..).ok_or("JSON offset out of bounds")?;
            write_value(out, ty, v, depth + 1)?;
        }
    }
    out.push(if object { '}' } else { ']' });
    Ok(())
}

/// A JSON string literal with MySQL's escapes.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Opaque scalars: DECIMAL as a number, temporal values as quoted text, any
/// other type as MySQL's `"base64:typeN:…"`.
fn write_opaque(out: &mut String, field_type: u8, data: &[u8]) -> Result<(), Invalid> {
    match field_type {
        246 => {
            let (&p, rest) = data.split_first().ok_or("JSON decimal truncated")?;
            let (&s, bin) = rest.split_first().ok_or("JSON decimal truncated")?;
            let bin = bin
                .get(..super::decimal::bin_size(p, s))
                .ok_or("JSON decimal truncated")?;
            out.push_str(&super::decimal::to_plain_string(bin, p, s)?);
        }
        7 | 10 | 11 | 12 => {
            let packed = uint_le(data.get(..8).ok_or("JSON temporal truncated")?) as i64;
            let text = match field_type {
                11 => packed_time_text(packed),
                10 => packed_datetime_text(packed, false),
                _ => packed_datetime_text(packed, true),
            };
            write_string(out, &text);
        }
        t => write_string(out, &format!("base64:type{t}:{}", base64(data))),
    }
    Ok(())
}

fn packed_datetime_text(packed: i64, with_time: bool) -> String {
    let (int_part, us) = (packed >> 24, packed & 0xff_ffff);
    let (ymd, hms) = (int_part >> 17, int_part & 0x1_ffff);
    let (ym, d) = (ymd >> 5, ymd & 31);
    let date = format!("{:04}-{:02}-{:02}", ym / 13, ym % 13, d);
    if !with_time {
        return date;
    }
    format!(
        "{date} {:02}:{:02}:{:02}.{us:06}",
        hms >> 12,
        (hms >> 6) & 63,
        hms & 63
    )
}

fn packed_time_text(packed: i64) -> String {
    let us = super::temporal::time_from_packed(packed);
    let (sign, a) = if us < 0 { ("-", -us) } else { ("", us) };
    let s = a / 1_000_000;
    format!(
        "{sign}{:02}:{:02}:{:02}.{:06}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        a % 1_000_000
    )
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(to_text(&[]).unwrap(), "null");
        assert_eq!(to_text(&[4, 1]).unwrap(), "true");
        assert_eq!(to_text(&[5, 0xff, 0xff]).unwrap(), "-1");
        assert_eq!(
            to_text(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap(),
            u64::MAX.to_string()
        );
        let mut d = vec![0x0b];
        d.extend(1.5f64.to_le_bytes());
        assert_eq!(to_text(&d).unwrap(), "1.5");
        assert_eq!(
            to_text(&[0x0c, 3, b'a', b'"', b'\n']).unwrap(),
            r#""a\"\n""#
        );
        assert!(to_text(&[0x0c, 5, b'a']).is_err());
        assert!(to_text(&[0x0b, 1]).is_err());
    }

    #[test]
    fn small_object_with_nested_array() {
        // {"a": 1, "bb": [true, "x"]}
        let arr: Vec<u8> = vec![2, 0, 12, 0, 4, 1, 0, 0x0c, 10, 0, 1, b'x'];
        let mut obj = vec![2, 0, 0, 0]; // count 2, size patched below
        let keys_at = obj.len();
        obj.extend([0; 2 * 4]); // key entries
        obj.extend([0; 2 * 3]); // value entries
        let ka = obj.len();
        obj.extend(b"abb");
        let arr_at = obj.len();
        obj.extend(&arr);
        let size = obj.len() as u16;
        obj[2..4].copy_from_slice(&size.to_le_bytes());
        obj[keys_at..keys_at + 8].copy_from_slice(&[ka as u8, 0, 1, 0, ka as u8 + 1, 0, 2, 0]);
        let v = keys_at + 8;
        obj[v..v + 6].copy_from_slice(&[5, 1, 0, 2, arr_at as u8, 0]);
        let mut doc = vec![0u8];
        doc.extend(obj);
        assert_eq!(to_text(&doc).unwrap(), r#"{"a": 1, "bb": [true, "x"]}"#);
        // Truncated container data is an error, not a panic.
        for cut in 1..doc.len() {
            assert!(to_text(&doc[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn opaque_values() {
        // DECIMAL(4,2) 12.34 : precision, scale, binary decimal.
        let doc = [0x0f, 246, 4, 4, 2, 0x80 | 12, 34];
        assert_eq!(to_text(&doc).unwrap(), "12.34");
        let int_part: i64 = (((2015 * 13 + 1) << 5 | 15) << 17) | (23 << 12) | (24 << 6) | 25;
        let mut doc = vec![0x0f, 12, 8];
        doc.extend(((int_part << 24) + 5).to_le_bytes());
        assert_eq!(to_text(&doc).unwrap(), r#""2015-01-15 23:24:25.000005""#);
        assert_eq!(
            to_text(&[0x0f, 252, 2, 1, 2]).unwrap(),
            r#""base64:type252:AQI=""#
        );
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
    }
}
