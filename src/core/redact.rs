//! Keeps credentials out of messages.

use crate::core::text;

/// Replaces each non-empty secret, any credential-like query value (`token=`, `access_token=`,
/// `uploadToken=`, `X-Amz-Signature=`, `sig=`, `secret=`, `password=`, `credential=`, …) and
/// any `Bearer <value>` with `[redacted]`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    let mut left: Vec<&str> = secrets.iter().copied().filter(|s| s.len() >= 4).collect();
    // Longest first, so a secret that contains another is replaced whole (a handful of secrets:
    // picking the longest each time is cheaper in code size than a sort).
    while let Some(i) = left.iter().enumerate().max_by_key(|(_, s)| s.len()).map(|(i, _)| i) {
        out = text::replace(&out, left.swap_remove(i), "[redacted]");
    }
    redact_bearer(&redact_query_values(&out))
}

const REDACTED: &str = "[redacted]";

/// Is a query parameter with this name a credential?
fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let n = n.rsplit(['-', '.']).next().unwrap_or(&n).to_string();
    n.ends_with("token")
        || n.ends_with("signature")
        || n == "sig"
        || n.ends_with("secret")
        || n.ends_with("password")
        || n.ends_with("credential")
        || n == "apikey"
        || n == "api_key"
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'%')
}

fn value_end(value: &str) -> usize {
    value.find(['&', '#', ' ', '"', '\'', '\n', '\r', '\t', ')', '>', '<', ',']).unwrap_or(value.len())
}

/// `?name=value` / `&name=value` with a credential-like name: the value is replaced.
fn redact_query_values(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] == b'?' || bytes[i] == b'&' {
            let name_start = i + 1;
            let mut j = name_start;
            while j < bytes.len() && is_name_byte(bytes[j]) {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'=' && j > name_start && is_secret_name(text::slice(text, name_start, j)) {
                let value = text::tail(text, j + 1);
                let end = value_end(value);
                if text::slice(value, 0, end) != REDACTED {
                    out.push_str(text::slice(text, copied, j + 1));
                    out.push_str(REDACTED);
                    copied = j + 1 + end;
                    i = copied;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(text::tail(text, copied));
    out
}

/// `Bearer <value>` (any case): the value is replaced.
fn redact_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(pos) = text::find(text::tail(&lower, from), "bearer ") {
        let at = from + pos;
        let start = at + "bearer ".len();
        let value = text::tail(text, start);
        let end = value_end(value);
        // Only a credential-looking word: long enough, no prose.
        let word = text::slice(value, 0, end);
        if end >= 8 && word != REDACTED && !word.chars().all(|c| c.is_ascii_lowercase()) {
            out.push_str(text::slice(text, copied, start));
            out.push_str(REDACTED);
            copied = start + end;
        }
        from = start;
    }
    out.push_str(text::tail(text, copied));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn redacts_secrets_and_query_tokens() {
        assert_eq!(redact("bearer abcd1234 failed", &["abcd1234"]), "bearer [redacted] failed");
        assert_eq!(
            redact("POST https://x/upload?token=to1abc&x=1 failed", &[]),
            "POST https://x/upload?token=[redacted]&x=1 failed"
        );
        assert_eq!(redact("a?token=z", &[]), "a?token=[redacted]");
        assert_eq!(redact("mytoken=keep", &[]), "mytoken=keep");
        assert_eq!(redact("short", &["sh"]), "short");
        assert_eq!(redact("u?access_token=abc&uploadToken=def", &[]), "u?access_token=[redacted]&uploadToken=[redacted]");
        assert_eq!(
            redact("PUT https://b/p?X-Amz-Credential=AK%2F1&X-Amz-Signature=ff00&partNumber=2", &[]),
            "PUT https://b/p?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&partNumber=2"
        );
        assert_eq!(redact("Authorization: Bearer eyJhbGciOi.x.y refused", &[]), "Authorization: Bearer [redacted] refused");
        assert_eq!(redact("a bearer token is required", &[]), "a bearer token is required");
        assert_eq!(redact("tok abcdef abcdefgh", &["abcdef", "abcdefgh"]), "tok [redacted] [redacted]");
    }
}
