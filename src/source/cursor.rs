//! A bounds-checked reader over binlog bytes: every read either returns the
//! bytes asked for or [`Truncated`], never panics.

/// The data ended before a value did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn remaining(&self) -> &'a [u8] {
        self.buf
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        if n > self.buf.len() {
            return Err(Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.take(1)?[0])
    }

    /// Little-endian unsigned integer of `n` ≤ 8 bytes.
    pub fn uint_le(&mut self, n: usize) -> Result<u64, Truncated> {
        Ok(uint_le(self.take(n)?))
    }

    /// MySQL's length-encoded integer (1, 3, 4 or 9 bytes).
    pub fn lenenc(&mut self) -> Result<u64, Truncated> {
        match self.u8()? {
            0xfc => self.uint_le(2),
            0xfd => self.uint_le(3),
            0xfe => self.uint_le(8),
            b => Ok(u64::from(b)),
        }
    }

    /// A length-encoded byte string.
    pub fn lenenc_bytes(&mut self) -> Result<&'a [u8], Truncated> {
        let n = usize::try_from(self.lenenc()?).map_err(|_| Truncated)?;
        self.take(n)
    }
}

/// Little-endian unsigned integer of up to 8 bytes (extra bytes ignored).
pub fn uint_le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .rev()
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

/// Big-endian unsigned integer of up to 8 bytes (extra bytes ignored).
pub fn uint_be(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert_eq!(c.uint_le(2), Ok(0x0201));
        assert_eq!(c.take(2), Err(Truncated));
        assert_eq!(c.u8(), Ok(3));
        assert_eq!(c.u8(), Err(Truncated));
    }

    #[test]
    fn lenenc_forms() {
        let mut c = Cursor::new(&[0xfa, 0xfc, 0x34, 0x12, 0xfd, 1, 2, 3, 0xfe]);
        assert_eq!(c.lenenc(), Ok(0xfa));
        assert_eq!(c.lenenc(), Ok(0x1234));
        assert_eq!(c.lenenc(), Ok(0x030201));
        assert_eq!(c.lenenc(), Err(Truncated));
        assert_eq!(uint_be(&[1, 2]), 0x0102);
    }
}
