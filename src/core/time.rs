//! Timestamps servers send (ISO 8601 / RFC 3339), as milliseconds since the Unix epoch: used to
//! tell what a server created after an upload began.

/// `YYYY-MM-DDTHH:MM:SS[.fff…][Z|±HH:MM|±HHMM]` as ms since the epoch. No zone is read as UTC.
/// None for anything else (or an impossible date).
pub fn parse_iso8601_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || !b.is_ascii() {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && (sep(10, b'T') || sep(10, b't') || sep(10, b' ')) && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (num(0, 4)?, num(5, 7)?, num(8, 10)?, num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut frac_ms = 0.0;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Integer arithmetic (no float parser in the module): the first 9 digits are plenty.
        let kept = digits.min(9);
        let frac: u64 = f.get(..kept)?.parse().ok()?;
        frac_ms = frac as f64 / 10f64.powi(kept as i32 - 3);
        rest = f.get(digits..)?;
    }
    let offset_min: i64 = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let z: String = rest.get(1..)?.chars().filter(|c| *c != ':').collect();
            if z.len() != 4 || !z.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let (oh, om): (i64, i64) = (z.get(..2)?.parse().ok()?, z.get(2..)?.parse().ok()?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 60 + om)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs as f64 * 1000.0 + frac_ms)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Ms since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (for tests and fakes built on the same clock).
pub fn format_iso8601_ms(ms: f64) -> String {
    let total_ms = ms.floor() as i64;
    let (secs, milli) = (total_ms.div_euclid(1000), total_ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Inverse of days_from_civil (civil_from_days).
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_timestamps() {
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_iso8601_ms("2024-02-29T12:00:00.250Z"), Some(1_709_208_000_250.0));
        // MangaDex's form, and PeerTube's (JS toISOString).
        assert_eq!(parse_iso8601_ms("2018-04-11T20:23:32+00:00"), Some(1_523_478_212_000.0));
        assert_eq!(parse_iso8601_ms("2018-04-11T22:23:32+02:00"), Some(1_523_478_212_000.0));
        assert_eq!(parse_iso8601_ms("2018-04-11T20:23:32"), Some(1_523_478_212_000.0));
        for bad in ["", "2018-04-11", "2018-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2018-04-11T20:23:32+0", "x018-04-11T20:23:32Z", "2018-04-11T20:23:32.Z"] {
            assert_eq!(parse_iso8601_ms(bad), None, "{bad}");
        }
        for ms in [0.0, 1_523_478_212_345.0, 1_709_208_000_250.0, 4_102_444_800_000.0] {
            assert_eq!(parse_iso8601_ms(&format_iso8601_ms(ms)), Some(ms));
        }
    }
}
