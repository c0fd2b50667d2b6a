//! A small JSON value with a defensive parser (depth and size limits, no panics) and a writer.
//! Server bodies are parsed here so that protocols can be tested natively.

use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    /// Keys keep their order; duplicate keys keep the last value on lookup.
    Object(Vec<(String, Json)>),
}

const MAX_DEPTH: usize = 64;

impl Json {
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser { s: text.as_bytes(), i: 0 };
        p.ws();
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing characters at {}", p.i));
        }
        Ok(v)
    }

    pub fn object() -> Json {
        Json::Object(Vec::new())
    }

    /// Sets `key` (replacing an earlier value). No-op on non-objects.
    pub fn set(&mut self, key: &str, value: Json) {
        if let Json::Object(entries) = self {
            if let Some(slot) = entries.iter_mut().find(|(k, _)| k == key) {
                slot.1 = value;
            } else {
                entries.push((key.to_string(), value));
            }
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Json {
        self.set(key, value.into());
        self
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// `a.b.c` lookup through objects.
    pub fn path(&self, dotted: &str) -> Option<&Json> {
        dotted.split('.').try_fold(self, |v, k| v.get(k))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => Some(*n),
            _ => None,
        }
    }
    /// A non-negative integer that fits exactly in an f64 (≤ 2^53).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) if n.is_finite() && *n >= 0.0 && n.fract() == 0.0 && *n <= 9_007_199_254_740_992.0 => {
                Some(*n as u64)
            }
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn entries(&self) -> &[(String, Json)] {
        match self {
            Json::Object(e) => e,
            _ => &[],
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn to_json_string(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => {
                if !n.is_finite() {
                    out.push_str("null");
                } else if n.fract() == 0.0 && n.abs() < 1e15 {
                    let _ = write!(out, "{}", *n as i64);
                } else {
                    if *n < 0.0 {
                        out.push('-');
                    }
                    write_f64(n.abs(), out);
                }
            }
            Json::String(s) => write_str(s, out),
            Json::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Object(e) => {
                out.push('{');
                for (i, (k, v)) in e.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `digits × 10^exp` as a JSON number, the way JavaScript's `Number#toString` lays it out:
/// plain decimals for 1e-7 < |x| < 1e21, exponent form otherwise.
fn layout(digits: u64, exp: i32, out: &mut String) {
    let all = digits.to_string();
    let s = all.trim_end_matches('0');
    let exp = exp + (all.len() - s.len()) as i32;
    let k = s.len() as i32;
    let pos = k + exp; // digits before the decimal point
    if 0 < pos && pos <= 21 {
        if exp >= 0 {
            out.push_str(s);
            (0..exp).for_each(|_| out.push('0'));
        } else {
            let (a, b) = s.split_at(pos as usize);
            out.push_str(a);
            out.push('.');
            out.push_str(b);
        }
    } else if -6 < pos && pos <= 0 {
        out.push_str("0.");
        (0..-pos).for_each(|_| out.push('0'));
        out.push_str(s);
    } else {
        let (a, b) = s.split_at(1);
        out.push_str(a);
        if !b.is_empty() {
            out.push('.');
            out.push_str(b);
        }
        out.push('e');
        out.push(if pos > 0 { '+' } else { '-' });
        out.push_str(&(pos - 1).unsigned_abs().to_string());
    }
}

/// Does `digits × 10^exp` read back as exactly `x`?
fn reads_back(digits: u64, exp: i32, x: f64) -> bool {
    let mut s = String::new();
    layout(digits, exp, &mut s);
    s.parse::<f64>() == Ok(x)
}

/// `x × 10^k` in f64 (inexact; steps of at most 10^300 so intermediates stay finite).
fn scale(mut x: f64, mut k: i32) -> f64 {
    while k != 0 {
        let step = k.clamp(-300, 300);
        x *= 10f64.powi(step);
        k -= step;
    }
    x
}

/// Writes a finite positive `x` with the fewest significant digits that read back as exactly
/// `x` (checked with the same `f64::from_str` the parser uses). Hand-written rather than
/// `{}`: core's float formatting (Grisu + Dragon4) costs ~15 KB of wasm, and this path is rare
/// (non-integer numbers in option pass-through and results).
fn write_f64(x: f64, out: &mut String) {
    // Decimal exponent estimate from the binary one (× log10 2), then corrected so that
    // the 17-digit mantissa m = x × 10^(16-e) lies in [1e16, 1e17).
    let bexp = ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let mut e = (bexp as f64 * std::f64::consts::LOG10_2) as i32;
    let mut m = scale(x, 16 - e);
    for _ in 0..4 {
        if m >= 1e17 {
            e += 1;
        } else if m < 1e16 {
            e -= 1;
        } else {
            break;
        }
        m = scale(x, 16 - e);
    }
    let exp = e - 16;
    // 17 significant digits always suffice; find them exactly: the smallest m whose decimal
    // reads back ≥ x (reading back is monotonic in m).
    let guess = m as u64;
    let mut span = 1u64 << 12;
    let (mut lo, mut hi);
    loop {
        lo = guess.saturating_sub(span).max(1);
        hi = guess.saturating_add(span);
        let below = |d: u64| {
            let mut s = String::new();
            layout(d, exp, &mut s);
            s.parse::<f64>().is_ok_and(|v| v < x)
        };
        if (lo == 1 || below(lo)) && !below(hi) || span >= 1 << 60 {
            // invariant: reads(lo) < x (or lo == 1), reads(hi) >= x
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if below(mid) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            break;
        }
        span <<= 4;
    }
    let full = if reads_back(lo, exp, x) { lo } else { hi };
    // Fewer digits: if some shorter decimal reads back as x, so does `full` cut to that length
    // and rounded down or up (the decimals reading back as x form an interval around `full`).
    let len = full.ilog10() + 1;
    for keep in 1..len {
        let p = 10u64.pow(len - keep);
        let (q, r) = (full / p, full % p);
        let (a, b) = if r * 2 >= p { (q + 1, q) } else { (q, q + 1) };
        let e = exp + (len - keep) as i32;
        for d in [a, b] {
            if d > 0 && reads_back(d, e, x) {
                return layout(d, e, out);
            }
        }
    }
    layout(full, exp, out);
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::String(s.to_string())
    }
}
impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::String(s)
    }
}
impl From<u64> for Json {
    fn from(n: u64) -> Json {
        Json::Number(n as f64)
    }
}
impl From<f64> for Json {
    fn from(n: f64) -> Json {
        Json::Number(n)
    }
}
impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }
    fn lit(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.s.get(self.i..self.i + word.len()) == Some(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }
    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        match self.s.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'n') => self.lit("null", Json::Null),
            Some(b't') => self.lit("true", Json::Bool(true)),
            Some(b'f') => self.lit("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return self.err("expected , or ]"),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Object(entries));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return self.err("expected a key");
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return self.err("expected :");
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Object(entries));
                        }
                        _ => return self.err("expected , or }"),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("unexpected character"),
        }
    }
    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let from = p.i;
            while let Some(b'0'..=b'9') = p.s.get(p.i) {
                p.i += 1;
            }
            p.i > from
        };
        if !digits(self) {
            return self.err("invalid number");
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return self.err("invalid number");
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if !digits(self) {
                return self.err("invalid number");
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| "invalid number".to_string())?;
        text.parse::<f64>().map(Json::Number).map_err(|_| format!("invalid number at byte {start}"))
    }
    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.s.get(self.i..self.i + 4).ok_or_else(|| "truncated \\u escape".to_string())?;
        let h = std::str::from_utf8(h).map_err(|_| "bad \\u escape".to_string())?;
        let v = u32::from_str_radix(h, 16).map_err(|_| "bad \\u escape".to_string())?;
        self.i += 4;
        Ok(v)
    }
    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.i;
            while let Some(&b) = self.s.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            let run = std::str::from_utf8(&self.s[run_start..self.i]).map_err(|_| "invalid UTF-8".to_string())?;
            out.push_str(run);
            match self.s.get(self.i) {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.s.get(self.i) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) == Some(b"\\u") {
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                    } else {
                                        0xFFFD
                                    }
                                } else {
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                            continue;
                        }
                        _ => return self.err("bad escape"),
                    };
                    self.i += 1;
                    out.push(c);
                }
                Some(_) => return self.err("control character in string"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes() {
        let v = Json::parse(r#" {"video":{"id":12,"uuid":"a-b","ok":true,"x":null,"f":-1.5e2,"s":"q\"\u00e9\ud83d\ude00"},"a":[1,2]} "#)
            .unwrap();
        assert_eq!(v.path("video.id").and_then(Json::as_u64), Some(12));
        assert_eq!(v.path("video.f").and_then(Json::as_f64), Some(-150.0));
        assert_eq!(v.path("video.s").and_then(Json::as_str), Some("q\"é😀"));
        let back = Json::parse(&v.to_json_string()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "{", "[1,", "{\"a\"}", "tru", "01x", "\"abc", "{\"a\":1,}", "[1 2]", "-", "1.", "\"\\x\"", "nul"] {
            assert!(Json::parse(bad).is_err(), "{bad:?} should fail");
        }
        let deep = "[".repeat(10_000);
        assert!(Json::parse(&deep).is_err());
    }

    #[test]
    fn huge_numbers_are_not_integers() {
        let v = Json::parse("[1e400, 18446744073709551616, -1, 2.5]").unwrap();
        let a = v.as_array().unwrap();
        assert_eq!(a[0].as_u64(), None);
        assert_eq!(a[1].as_u64(), None);
        assert_eq!(a[2].as_u64(), None);
        assert_eq!(a[3].as_u64(), None);
    }

    /// Parses back to the same f64, with as few significant digits as core's `{:e}`.
    fn number_round_trips(x: f64) {
        let text = Json::Number(x).to_json_string();
        assert_eq!(text.parse::<f64>(), Ok(x), "{x:e} written as {text}");
        assert_eq!(Json::parse(&text), Ok(Json::Number(x)));
        let digits = |s: &str| {
            let m = s.split(['e', 'E']).next().unwrap_or("");
            let d: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
            d.trim_start_matches('0').trim_end_matches('0').len().max(1)
        };
        if x.fract() != 0.0 || x.abs() >= 1e15 {
            assert_eq!(digits(&text), digits(&format!("{x:e}")), "{x:e} written as {text}");
        }
    }

    #[test]
    fn writes_floats_exactly() {
        for x in [0.1, 0.3, 1.5, -2.5, 123.456, 1e21, 1e22, 1e23, 1e15, 1e16 + 2.0, 1.7976931348623157e308, 5e-324,
            2.2250738585072014e-308, 1e-7, 1.2345e-6, 0.1 + 0.2, -0.000001, 4.35, 2f64.powi(60)]
        {
            number_round_trips(x);
        }
        assert_eq!(Json::Number(0.5).to_json_string(), "0.5");
        assert_eq!(Json::Number(-1.25e-9).to_json_string(), "-1.25e-9");
        assert_eq!(Json::Number(2e21).to_json_string(), "2e+21");
        assert_eq!(Json::Number(1e20).to_json_string(), "100000000000000000000");
        assert_eq!(Json::Number(0.001).to_json_string(), "0.001");
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        #[test]
        fn any_finite_f64_round_trips(bits in proptest::prelude::any::<u64>()) {
            let x = f64::from_bits(bits);
            if x.is_finite() {
                number_round_trips(x);
            }
        }
        #[test]
        fn decimal_like_f64_round_trips(m in 1u64..10_000_000_000, e in -30i32..30) {
            number_round_trips(m as f64 * 10f64.powi(e));
        }
    }
}
