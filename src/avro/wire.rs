//! Confluent wire format: magic byte 0, the schema id as 4 bytes big-endian,
//! then the Avro binary datum.

use thiserror::Error;

pub const MAGIC: u8 = 0;
pub const HEADER_LEN: usize = 5;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message of {0} bytes is too short for the Confluent wire format (5-byte header)")]
    TooShort(usize),
    #[error(
        "message starts with byte {0:#04x}, not the Confluent magic byte 0: not Confluent Avro"
    )]
    BadMagic(u8),
}

/// Appends the 5-byte header; the datum is written after it into the same
/// buffer, so framing costs no copy.
#[inline]
pub fn write_header(buf: &mut Vec<u8>, schema_id: u32) {
    buf.push(MAGIC);
    buf.extend_from_slice(&schema_id.to_be_bytes());
}

/// A framed message from a datum.
pub fn frame(schema_id: u32, datum: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER_LEN + datum.len());
    write_header(&mut buf, schema_id);
    buf.extend_from_slice(datum);
    buf
}

/// Splits a framed message into its schema id and datum.
pub fn parse(message: &[u8]) -> Result<(u32, &[u8]), WireError> {
    if message.len() < HEADER_LEN {
        return Err(WireError::TooShort(message.len()));
    }
    if message[0] != MAGIC {
        return Err(WireError::BadMagic(message[0]));
    }
    let id = u32::from_be_bytes([message[1], message[2], message[3], message[4]]);
    Ok((id, &message[HEADER_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_parses_back() {
        let msg = frame(0x0102_0304, b"\x02abc");
        assert_eq!(msg, b"\x00\x01\x02\x03\x04\x02abc");
        assert_eq!(parse(&msg), Ok((0x0102_0304, &b"\x02abc"[..])));
        for id in [0, 1, 255, 256, u32::MAX] {
            assert_eq!(parse(&frame(id, &[])), Ok((id, &[][..])));
        }
    }

    #[test]
    fn rejects_what_is_not_framed() {
        assert_eq!(parse(b""), Err(WireError::TooShort(0)));
        assert_eq!(parse(b"\x00\x00\x00\x01"), Err(WireError::TooShort(4)));
        assert_eq!(parse(b"{\"a\":1}"), Err(WireError::BadMagic(b'{')));
    }
}
