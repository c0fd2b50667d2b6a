//! Keeps credentials out of messages.

/// Replaces each non-empty secret, and any `token=` query value, with `[redacted]`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= 4 {
            out = out.replace(s, "[redacted]");
        }
    }
    redact_query_tokens(&out)
}

fn redact_query_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = find_token_param(rest) {
        let (head, tail) = rest.split_at(pos);
        out.push_str(head);
        out.push_str("token=[redacted]");
        let value = &tail["token=".len()..];
        let end = value
            .find(['&', '#', ' ', '"', '\'', '\n'])
            .unwrap_or(value.len());
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

fn find_token_param(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find("token=") {
        let at = from + i;
        let prev = if at == 0 { None } else { bytes.get(at - 1).copied() };
        if matches!(prev, Some(b'?') | Some(b'&')) && !s[at + 6..].starts_with("[redacted]") {
            return Some(at);
        }
        from = at + 6;
    }
    None
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
    }
}
