//! Retry policy: which failures are worth another try, and how long to wait first.

/// A server's `Retry-After`, parsed without a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// Delay in milliseconds.
    Delay(u64),
    /// An HTTP-date, as milliseconds since the Unix epoch.
    At(u64),
}

impl RetryAfter {
    /// Milliseconds to wait from `now_ms` (Unix epoch ms).
    pub fn delay_from(self, now_ms: f64) -> u64 {
        match self {
            RetryAfter::Delay(ms) => ms,
            RetryAfter::At(at) => {
                let now = if now_ms.is_finite() && now_ms > 0.0 { now_ms as u64 } else { 0 };
                at.saturating_sub(now)
            }
        }
    }
}

/// Parses `Retry-After` (delta-seconds or IMF-fixdate); also accepts fractional seconds.
pub fn parse_retry_after(value: &str) -> Option<RetryAfter> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = v.parse().unwrap_or(u64::MAX);
        return Some(RetryAfter::Delay(secs.saturating_mul(1000)));
    }
    if v.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '+') {
        return seconds_as_ms(v).map(RetryAfter::Delay);
    }
    parse_http_date(v).map(RetryAfter::At)
}

/// A non-negative decimal number of seconds (`2`, `0.25`, `1e3`, `1.5E-1`) as whole milliseconds,
/// truncated and capped at `u64::MAX`; None for anything else and for a number of more than 309
/// integer digits (beyond f64's range: what `str::parse::<f64>` reads as infinite). Integer
/// arithmetic only: a float parser brings ~14 KB (its tables) into the wasm module for headers
/// that are nearly always integers.
pub fn seconds_as_ms(v: &str) -> Option<u64> {
    let v = v.strip_prefix('+').unwrap_or(v);
    let (mantissa, exp) = match v.find(['e', 'E']) {
        Some(i) => (v.get(..i)?, v.get(i + 1..)?),
        None => (v, "0"),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return None;
    }
    let exp_digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
    if exp_digits.is_empty() || !digits(exp_digits) {
        return None;
    }
    let magnitude: i64 = if exp_digits.len() > 6 { 1_000_000 } else { exp_digits.parse().ok()? };
    let exp = if exp.starts_with('-') { -magnitude } else { magnitude };
    // The significant digits, leading zeros dropped, and the power of ten of the last one.
    let all = format!("{int}{frac}");
    let sig = all.trim_start_matches('0').trim_end_matches('0');
    if sig.is_empty() {
        return Some(0);
    }
    let trailing_zeros = all.len() - all.trim_end_matches('0').len();
    // value = sig × 10^pow (in seconds); in ms, one more factor of 1000.
    let pow = exp + trailing_zeros as i64 - frac.len() as i64;
    if pow + sig.len() as i64 > 309 {
        return None;
    }
    let ms_pow = pow + 3;
    let mut ms: u64 = 0;
    let kept = if ms_pow >= 0 { sig.len() } else { (sig.len() as i64 + ms_pow).max(0) as usize };
    for b in sig.bytes().take(kept) {
        ms = ms.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    for _ in 0..ms_pow.clamp(0, 40) {
        ms = ms.saturating_mul(10);
    }
    Some(ms)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → Unix ms.
fn parse_http_date(v: &str) -> Option<u64> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    if parts.len() != 6 || !parts[5].eq_ignore_ascii_case("GMT") {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let month = MONTHS.iter().position(|m| parts[2].eq_ignore_ascii_case(m))? as u64 + 1;
    let year: u64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4].split(':').map(|x| x.parse().ok()).collect::<Option<Vec<_>>>()?;
    if hms.len() != 3 || !(1..=31).contains(&day) || !(1970..=9999).contains(&year) || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
        return None;
    }
    let days = super::time::days_from_civil(year as i64, month as i64, day as i64);
    let secs = days * 86_400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    u64::try_from(secs).ok().map(|s| s * 1000)
}

/// Statuses that mean "try again later" rather than "you are wrong": request timeout, locked
/// (uploadx v6), too early, too many requests, checksum mismatch (uploadx 460), and every 5xx
/// but 501 Not Implemented and 505 HTTP Version Not Supported.
pub fn status_is_retryable(status: u16) -> bool {
    matches!(status, 408 | 423 | 425 | 429 | 460) || ((500..600).contains(&status) && status != 501 && status != 505)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before retry number i+1, in ms. Its length is the number of retries; `[]` = none.
    pub delays: Vec<u64>,
    /// Cap on a server-given `Retry-After`.
    pub max_retry_after_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { delays: vec![500, 1000, 3000, 5000, 10_000, 20_000, 30_000], max_retry_after_ms: 300_000 }
    }
}

impl RetryPolicy {
    pub fn new(delays: Vec<u64>) -> Self {
        RetryPolicy { delays, ..Default::default() }
    }

    /// How long to wait before retry number `attempt` (1-based), or None when retries are used
    /// up. A server's `Retry-After` replaces the configured delay (capped).
    pub fn delay(&self, attempt: u32, retry_after: Option<RetryAfter>, now_ms: f64) -> Option<u64> {
        if attempt == 0 {
            return Some(0);
        }
        let base = *self.delays.get(attempt as usize - 1)?;
        Some(match retry_after {
            Some(ra) => ra.delay_from(now_ms).min(self.max_retry_after_ms),
            None => base,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(RetryAfter::Delay(120_000)));
        assert_eq!(parse_retry_after(" 0 "), Some(RetryAfter::Delay(0)));
        assert_eq!(parse_retry_after("1.5"), Some(RetryAfter::Delay(1500)));
        assert_eq!(parse_retry_after("99999999999999999999999"), Some(RetryAfter::Delay(u64::MAX)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(RetryAfter::At(784_111_777_000)));
        assert_eq!(parse_retry_after("-5"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("Sun, 32 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(RetryAfter::At(10_000).delay_from(4_000.0), 6_000);
        assert_eq!(RetryAfter::At(10_000).delay_from(40_000.0), 0);
    }

    #[test]
    fn which_statuses_retry() {
        for s in [408, 423, 429, 460, 500, 502, 503, 504, 599] {
            assert!(status_is_retryable(s), "{s}");
        }
        for s in [200, 308, 400, 401, 403, 404, 409, 410, 413, 415, 422, 501, 505] {
            assert!(!status_is_retryable(s), "{s}");
        }
    }

    #[test]
    fn delays_and_caps() {
        let p = RetryPolicy::new(vec![10, 20]);
        assert_eq!(p.delay(1, None, 0.0), Some(10));
        assert_eq!(p.delay(2, None, 0.0), Some(20));
        assert_eq!(p.delay(3, None, 0.0), None);
        assert_eq!(p.delay(1, Some(RetryAfter::Delay(7000)), 0.0), Some(7000));
        assert_eq!(p.delay(1, Some(RetryAfter::Delay(u64::MAX)), 0.0), Some(300_000));
        assert_eq!(RetryPolicy::new(vec![]).delay(1, Some(RetryAfter::Delay(1)), 0.0), None);
    }
}
