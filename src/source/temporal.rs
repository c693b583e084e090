//! DATE / DATETIME / TIMESTAMP / TIME as the binlog stores them → days or
//! microseconds. `Ok(None)` means a zero or otherwise impossible date
//! (`0000-00-00`, month or day 0, `2021-02-30`): the caller turns it into
//! NULL and counts it, never a wrong date.

use super::cursor::uint_be;

pub type Invalid = &'static str;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Bytes of the fractional part for `fsp` digits (DATETIME2, TIMESTAMP2, TIME2).
pub fn frac_len(fsp: u8) -> usize {
    usize::from(fsp.min(6)).div_ceil(2)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since the epoch of a calendar date, `None` if it is not a real date.
pub fn civil_days(y: i64, m: u32, d: u32) -> Option<i64> {
    (m >= 1 && d >= 1 && d <= days_in_month(y, m)).then(|| days_from_civil(y, m, d))
}

/// DATE (MYSQL_TYPE_NEWDATE): 3 bytes little-endian, `year << 9 | month << 5 | day`.
pub fn date(raw: &[u8]) -> Option<i32> {
    let v = raw
        .iter()
        .take(3)
        .rev()
        .fold(0u32, |a, &b| (a << 8) | u32::from(b));
    let days = civil_days(i64::from(v >> 9), (v >> 5) & 15, v & 31)?;
    i32::try_from(days).ok()
}

/// Big-endian fraction of `raw` (1–3 bytes) in its stored units, and the
/// factor that scales those units to microseconds.
fn frac_units(raw: &[u8]) -> (i64, i64) {
    let scale = match raw.len() {
        1 => 10_000,
        2 => 100,
        _ => 1,
    };
    (uint_be(raw) as i64, scale)
}

/// Fraction of DATETIME2 / TIMESTAMP2 in microseconds (never negative).
fn frac_micros(raw: &[u8]) -> i64 {
    let (units, scale) = frac_units(raw);
    units * scale
}

/// Microseconds of a date and time of day, `None` if the date is not real.
fn civil_micros(
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    us: i64,
) -> Result<Option<i64>, Invalid> {
    if h > 23 || mi > 59 || s > 59 || !(0..1_000_000).contains(&us) {
        return Err("time of day out of range");
    }
    Ok(civil_days(y, mo, d)
        .map(|days| days * MICROS_PER_DAY + i64::from(h * 3600 + mi * 60 + s) * 1_000_000 + us))
}

/// DATETIME2: 5 bytes big-endian (offset 2^39), then the fraction.
pub fn datetime2(raw: &[u8]) -> Result<Option<i64>, Invalid> {
    let (int_part, frac) = raw.split_at(raw.len().min(5));
    let packed = uint_be(int_part) as i64 - 0x80_0000_0000;
    if packed < 0 {
        return Err("negative DATETIME");
    }
    datetime_from_int_part(packed, frac_micros(frac))
}

/// The `ymd << 17 | hms` integer part MySQL uses for DATETIME2 and packed values.
pub fn datetime_from_int_part(int_part: i64, us: i64) -> Result<Option<i64>, Invalid> {
    let ymd = int_part >> 17;
    let ym = ymd >> 5;
    let hms = int_part & 0x1_ffff;
    civil_micros(
        ym / 13,
        (ym % 13) as u32,
        (ymd & 31) as u32,
        (hms >> 12) as u32,
        ((hms >> 6) & 63) as u32,
        (hms & 63) as u32,
        us,
    )
}

/// TIMESTAMP2: 4 bytes big-endian epoch seconds, then the fraction; UTC.
/// Epoch 0 is the zero timestamp (`0000-00-00 00:00:00`).
pub fn timestamp2(raw: &[u8]) -> Option<i64> {
    let (secs, frac) = raw.split_at(raw.len().min(4));
    let secs = uint_be(secs) as i64;
    let us = frac_micros(frac);
    (secs != 0 || us != 0).then_some(secs * 1_000_000 + us)
}

/// TIME2: 3 bytes big-endian (offset 2^23) plus the fraction, or 6 bytes
/// (offset 2^47) for fsp 5–6. Returns signed microseconds.
pub fn time2(raw: &[u8]) -> i64 {
    let packed: i64 = if raw.len() == 6 {
        uint_be(raw) as i64 - 0x8000_0000_0000
    } else {
        let (int_part, frac) = raw.split_at(raw.len().min(3));
        let mut int_part = uint_be(int_part) as i64 - 0x80_0000;
        let (mut units, scale) = frac_units(frac);
        // A negative time stores its fraction as a borrow from the integer
        // part (MySQL keeps binary sort order): shift up one and subtract.
        if int_part < 0 && units != 0 {
            int_part += 1;
            units -= 1 << (8 * frac.len());
        }
        (int_part << 24) + units * scale
    };
    time_from_packed(packed)
}

/// MySQL's packed TIME (`hms << 24 | micros`, negated when negative) → micros.
pub fn time_from_packed(packed: i64) -> i64 {
    let p = packed.unsigned_abs() as i64;
    let hms = p >> 24;
    let secs = ((hms >> 12) & 0x3ff) * 3600 + ((hms >> 6) & 63) * 60 + (hms & 63);
    let us = secs * 1_000_000 + (p & 0xff_ffff);
    if packed < 0 {
        -us
    } else {
        us
    }
}

/// Old DATETIME (before MySQL 5.6.4): 8 bytes LE, the decimal YYYYMMDDhhmmss.
pub fn datetime_old(raw: &[u8]) -> Result<Option<i64>, Invalid> {
    let v = super::cursor::uint_le(raw);
    let (d, t) = (v / 1_000_000, v % 1_000_000);
    civil_micros(
        (d / 10_000) as i64,
        (d / 100 % 100) as u32,
        (d % 100) as u32,
        (t / 10_000) as u32,
        (t / 100 % 100) as u32,
        (t % 100) as u32,
        0,
    )
}

/// Old TIMESTAMP: 4 bytes LE epoch seconds.
pub fn timestamp_old(raw: &[u8]) -> Option<i64> {
    let secs = super::cursor::uint_le(raw) as i64;
    (secs != 0).then_some(secs * 1_000_000)
}

/// Old TIME: 3 bytes LE signed, the decimal ±HHMMSS.
pub fn time_old(raw: &[u8]) -> i64 {
    let u = super::cursor::uint_le(raw) as i64;
    let v = if u & 0x80_0000 != 0 {
        u - 0x100_0000
    } else {
        u
    };
    let a = v.abs();
    let us = ((a / 10_000) * 3600 + (a / 100 % 100) * 60 + a % 100) * 1_000_000;
    if v < 0 {
        -us
    } else {
        us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be(v: u64, n: usize) -> Vec<u8> {
        v.to_be_bytes()[8 - n..].to_vec()
    }

    /// DATETIME2 bytes the way MySQL packs them.
    fn dt2(y: u64, mo: u64, d: u64, h: u64, mi: u64, s: u64, frac: &[u8]) -> Vec<u8> {
        let int = ((((y * 13 + mo) << 5) | d) << 17) | (h << 12) | (mi << 6) | s;
        let mut v = be(int + 0x80_0000_0000, 5);
        v.extend_from_slice(frac);
        v
    }

    #[test]
    fn civil_days_edges() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
        assert_eq!(days_from_civil(1000, 1, 1), -354_285);
        assert_eq!(civil_days(2021, 2, 29), None);
        assert_eq!(civil_days(2024, 2, 29), Some(19_782));
        assert_eq!(civil_days(2024, 0, 1), None);
    }

    #[test]
    fn date_zero_is_none() {
        assert_eq!(date(&[0, 0, 0]), None);
        let v: u32 = (1970 << 9) | (1 << 5) | 2;
        assert_eq!(date(&v.to_le_bytes()[..3]), Some(1));
        let v: u32 = (2020 << 9) | (5 << 5);
        assert_eq!(date(&v.to_le_bytes()[..3]), None);
    }

    #[test]
    fn datetime2_max_and_zero() {
        let raw = dt2(9999, 12, 31, 23, 59, 59, &be(999_999, 3));
        let want = days_from_civil(9999, 12, 31) * MICROS_PER_DAY + 86_399_999_999;
        assert_eq!(datetime2(&raw), Ok(Some(want)));
        assert_eq!(datetime2(&dt2(0, 0, 0, 0, 0, 0, &[])), Ok(None));
        // fsp 2: one byte of hundredths; fsp 4: two bytes of 1/10000 s.
        assert_eq!(
            datetime2(&dt2(1970, 1, 1, 0, 0, 1, &[12])),
            Ok(Some(1_120_000))
        );
        assert_eq!(
            datetime2(&dt2(1970, 1, 1, 0, 0, 0, &be(1234, 2))),
            Ok(Some(123_400))
        );
        assert!(datetime2(&dt2(1970, 1, 1, 25, 0, 0, &[])).is_err());
    }

    #[test]
    fn timestamp2_fraction() {
        let mut raw = be(1_700_000_000, 4);
        raw.extend(be(500_000, 3));
        assert_eq!(timestamp2(&raw), Some(1_700_000_000_500_000));
        assert_eq!(timestamp2(&[0, 0, 0, 0]), None);
        assert_eq!(timestamp2(&[0, 0, 0, 1, 0]), Some(1_000_000));
    }

    fn packed_time(neg: bool, h: i64, m: i64, s: i64, us: i64) -> i64 {
        let p = (((h << 12) | (m << 6) | s) << 24) + us;
        if neg {
            -p
        } else {
            p
        }
    }

    #[test]
    fn time2_all_precisions() {
        // fsp 6: 6 bytes, the packed value plus 2^47.
        let p = packed_time(true, 838, 59, 59, 0);
        let raw = be((p + 0x8000_0000_0000) as u64, 6);
        assert_eq!(time2(&raw), -(838 * 3600 + 59 * 60 + 59) * 1_000_000);
        let p = packed_time(false, 100, 0, 1, 5);
        assert_eq!(
            time2(&be((p + 0x8000_0000_0000) as u64, 6)),
            360_001_000_005
        );
        // fsp 0: 3 bytes of hms.
        let hms = (1 << 12) | (2 << 6) | 3;
        assert_eq!(time2(&be((0x80_0000 + hms) as u64, 3)), 3_723_000_000);
        assert_eq!(time2(&be((0x80_0000 - hms) as u64, 3)), -3_723_000_000);
        // fsp 2, -00:00:01.50 = int part -2 (borrowed) and fraction 0.50 → 256 - 50.
        let raw = [&be((0x80_0000 - 2) as u64, 3)[..], &[206u8]].concat();
        assert_eq!(time2(&raw), -1_500_000);
        // fsp 4, -00:00:00.0001.
        let raw = [&be((0x80_0000 - 1) as u64, 3)[..], &be(0x1_0000 - 1, 2)].concat();
        assert_eq!(time2(&raw), -100);
        assert_eq!(time2(&[0x80, 0, 0, 0, 1]), 100);
    }

    #[test]
    fn old_formats() {
        let v: u64 = 20_240_229_123_456;
        let want =
            days_from_civil(2024, 2, 29) * MICROS_PER_DAY + (12 * 3600 + 34 * 60 + 56) * 1_000_000;
        assert_eq!(datetime_old(&v.to_le_bytes()), Ok(Some(want)));
        assert_eq!(datetime_old(&0u64.to_le_bytes()), Ok(None));
        assert_eq!(timestamp_old(&5u32.to_le_bytes()), Some(5_000_000));
        let neg = (-8_385_959i32).to_le_bytes();
        assert_eq!(
            time_old(&neg[..3]),
            -(838 * 3600 + 59 * 60 + 59) * 1_000_000
        );
    }
}
