//! Collation id (as the binlog's TABLE_MAP metadata carries it) → charset,
//! and bytes in that charset → UTF-8 text.

use encoding_rs::Encoding;

/// How to turn a column's stored bytes into UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// utf8mb3 / utf8mb4: already UTF-8.
    Utf8,
    /// The `binary` pseudo-charset: BINARY, VARBINARY, BLOB (values stay bytes).
    Binary,
    /// A charset encoding_rs decodes (latin1 = windows-1252, cp1251, sjis, …).
    Encoded(&'static Encoding),
    /// ucs2 (UCS-2 big-endian) and utf16 (UTF-16 big-endian).
    Utf16Be,
    Utf16Le,
    Utf32Be,
    /// A charset with no decoder here (dec8, hp8, swe7, keybcs2, cp850,
    /// cp852, macce, armscii8, geostd8, or an unknown id): ASCII passes, every
    /// other byte becomes U+FFFD.
    Unsupported(u16),
}

impl Charset {
    pub fn from_collation(id: u16) -> Charset {
        match charset_name(id) {
            Some(name) => Charset::from_name(name).unwrap_or(Charset::Unsupported(id)),
            None => Charset::Unsupported(id),
        }
    }

    /// The charset for a MySQL charset name, `None` if no decoder exists.
    pub fn from_name(name: &str) -> Option<Charset> {
        use encoding_rs::*;
        let enc: &'static Encoding = match name {
            "utf8mb3" | "utf8" | "utf8mb4" => return Some(Charset::Utf8),
            "binary" => return Some(Charset::Binary),
            "ucs2" | "utf16" => return Some(Charset::Utf16Be),
            "utf16le" => return Some(Charset::Utf16Le),
            "utf32" => return Some(Charset::Utf32Be),
            // MySQL's latin1 is Windows-1252 (0x80 is '€'); ascii is its subset.
            "latin1" | "ascii" => WINDOWS_1252,
            "latin2" => ISO_8859_2,
            "latin5" => WINDOWS_1254,
            "latin7" => ISO_8859_13,
            "cp1250" => WINDOWS_1250,
            "cp1251" => WINDOWS_1251,
            "cp1256" => WINDOWS_1256,
            "cp1257" => WINDOWS_1257,
            "cp866" => IBM866,
            "koi8r" => KOI8_R,
            "koi8u" => KOI8_U,
            "greek" => ISO_8859_7,
            "hebrew" => ISO_8859_8,
            "tis620" => WINDOWS_874,
            "macroman" => MACINTOSH,
            "big5" => BIG5,
            "sjis" | "cp932" => SHIFT_JIS,
            "ujis" | "eucjpms" => EUC_JP,
            "euckr" => EUC_KR,
            // GBK is a superset of GB2312.
            "gb2312" | "gbk" => GBK,
            "gb18030" => GB18030,
            _ => return None,
        };
        Some(Charset::Encoded(enc))
    }

    /// Decodes stored bytes to text; malformed sequences become U+FFFD rather
    /// than stopping the stream.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Charset::Utf8 | Charset::Binary => match std::str::from_utf8(bytes) {
                Ok(s) => s.to_owned(),
                Err(_) => String::from_utf8_lossy(bytes).into_owned(),
            },
            Charset::Encoded(enc) => enc.decode_without_bom_handling(bytes).0.into_owned(),
            Charset::Utf16Be => encoding_rs::UTF_16BE
                .decode_without_bom_handling(bytes)
                .0
                .into_owned(),
            Charset::Utf16Le => encoding_rs::UTF_16LE
                .decode_without_bom_handling(bytes)
                .0
                .into_owned(),
            Charset::Utf32Be => bytes
                .chunks(4)
                .map(|c| match <[u8; 4]>::try_from(c) {
                    Ok(b) => char::from_u32(u32::from_be_bytes(b)).unwrap_or('\u{fffd}'),
                    Err(_) => '\u{fffd}',
                })
                .collect(),
            Charset::Unsupported(_) => bytes
                .iter()
                .map(|&b| if b.is_ascii() { b as char } else { '\u{fffd}' })
                .collect(),
        }
    }
}

/// The MySQL/MariaDB charset name of a collation id.
pub fn charset_name(id: u16) -> Option<&'static str> {
    match id {
        0 => None,
        1..=255 => classic(id),
        // MySQL 8 utf8mb4_0900_* collations.
        256..=511 => Some("utf8mb4"),
        // MariaDB's extra UCA collations (croatian, myanmar, thai): one block of
        // 32 ids per Unicode charset.
        576..=607 => Some("utf8mb3"),
        608..=639 => Some("utf8mb4"),
        640..=671 => Some("ucs2"),
        672..=703 => Some("utf16"),
        704..=735 => Some("utf16le"),
        736..=767 => Some("utf32"),
        // MariaDB NO PAD variants: the base id plus 1024.
        1024..=2047 => charset_name(id - 1024),
        // MariaDB 10.10+ uca1400 collations: 256 ids per charset.
        2048..=3327 => match id >> 8 {
            8 => Some("utf8mb3"),
            9 => Some("utf8mb4"),
            10 => Some("ucs2"),
            11 => Some("utf16"),
            12 => Some("utf32"),
            _ => None,
        },
        _ => None,
    }
}

/// Ids 1..=255, shared by MySQL and MariaDB.
fn classic(id: u16) -> Option<&'static str> {
    Some(match id {
        1 | 84 => "big5",
        2 | 9 | 21 | 27 | 77 => "latin2",
        3 | 69 => "dec8",
        4 | 80 => "cp850",
        5 | 8 | 15 | 31 | 47 | 48 | 49 | 94 => "latin1",
        6 | 72 => "hp8",
        7 | 74 => "koi8r",
        10 | 82 => "swe7",
        11 | 65 => "ascii",
        12 | 91 => "ujis",
        13 | 88 => "sjis",
        14 | 23 | 50 | 51 | 52 => "cp1251",
        16 | 71 => "hebrew",
        18 | 89 => "tis620",
        19 | 85 => "euckr",
        20 | 41 | 42 | 79 => "latin7",
        22 | 75 => "koi8u",
        24 | 86 => "gb2312",
        25 | 70 => "greek",
        26 | 34 | 44 | 66 | 99 => "cp1250",
        28 | 87 => "gbk",
        29 | 58 | 59 => "cp1257",
        30 | 78 => "latin5",
        32 | 64 => "armscii8",
        33 | 76 | 83 | 192..=215 | 223 => "utf8mb3",
        35 | 90 | 128..=151 | 159 => "ucs2",
        36 | 68 => "cp866",
        37 | 73 => "keybcs2",
        38 | 43 => "macce",
        39 | 53 => "macroman",
        40 | 81 => "cp852",
        45 | 46 | 224..=247 | 255 => "utf8mb4",
        54 | 55 | 101..=124 => "utf16",
        56 | 62 => "utf16le",
        57 | 67 => "cp1256",
        60 | 61 | 160..=183 => "utf32",
        63 => "binary",
        92 | 93 => "geostd8",
        95 | 96 => "cp932",
        97 | 98 => "eucjpms",
        248..=250 => "gb18030",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_windows_1252() {
        let cs = Charset::from_collation(8);
        assert_eq!(cs.decode(&[0x80, b'a', 0xe9]), "€aé");
        // NO PAD variant (MariaDB) maps to the same charset.
        assert_eq!(Charset::from_collation(1032), cs);
    }

    #[test]
    fn utf8_and_uca1400() {
        assert_eq!(Charset::from_collation(45), Charset::Utf8);
        assert_eq!(Charset::from_collation(2304 + 5), Charset::Utf8);
        assert_eq!(Charset::from_collation(255), Charset::Utf8);
        assert_eq!(Charset::Utf8.decode("😀x".as_bytes()), "😀x");
        assert_eq!(Charset::Utf8.decode(&[0xff]), "\u{fffd}");
    }

    #[test]
    fn wide_charsets() {
        assert_eq!(Charset::from_collation(35).decode(&[0x20, 0xac]), "€");
        assert_eq!(Charset::from_collation(56).decode(&[0xac, 0x20]), "€");
        assert_eq!(
            Charset::from_collation(60).decode(&[0, 1, 0xf6, 0x00]),
            "😀"
        );
        assert_eq!(Charset::from_collation(60).decode(&[0, 1]), "\u{fffd}");
    }

    #[test]
    fn unsupported_keeps_ascii() {
        assert_eq!(Charset::from_collation(3), Charset::Unsupported(3));
        assert_eq!(Charset::from_collation(3).decode(b"ab\x80"), "ab\u{fffd}");
        assert_eq!(Charset::from_collation(9999), Charset::Unsupported(9999));
    }
}
