//! The sans-IO core: plain data and pure logic, no browser types. Tested natively.

pub mod codec;
pub mod digest;
pub mod error;
pub mod guard;
pub mod http;
pub mod json;
pub mod plan;
pub mod progress;
pub mod redact;
pub mod resume;
pub mod retry;
pub mod time;
pub mod url;

pub use error::{ErrorCode, UploadError};
pub use http::{Body, FileInfo, Method, Outcome, Part, Request, Response, Slice};
pub use json::{Json, JsonExt};

/// The provider's own error text from a response body, if it gave one: problem+json
/// (`detail`, `title`), uploadx (`error.message`), api.video (`title`), MangaDex
/// (`errors[0].detail`), Cloudreve (`msg`), or a short plain-text body.
pub fn server_message(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return None;
    }
    let text = match Json::parse(trimmed) {
        Ok(j) => {
            let pick = |path: &str| j.path(path).and_then(Json::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            let first_err = j.get("errors").and_then(Json::as_array).and_then(|a| a.first()).and_then(|e| {
                e.get("detail").or_else(|| e.get("title")).and_then(Json::as_str).map(str::to_string)
            });
            pick("detail")
                .or_else(|| pick("error.message"))
                .or_else(|| pick("error"))
                .or(first_err)
                .or_else(|| pick("msg"))
                .or_else(|| pick("message"))
                .or_else(|| pick("title"))?
        }
        Err(_) if trimmed.starts_with('<') => return None,
        Err(_) => trimmed.to_string(),
    };
    Some(truncate(&text, 300))
}

/// The provider's machine-readable error code (`code` in problem+json or `error.code`).
pub fn server_code(body: &str) -> Option<String> {
    let j = Json::parse(body.trim()).ok()?;
    j.get("code")
        .and_then(Json::as_str)
        .or_else(|| j.path("error.code").and_then(Json::as_str))
        .map(str::to_string)
}

/// `s` in double quotes, escaped like a JSON string: what `{:?}` shows for ordinary text, without
/// pulling core's `Debug` for `str` and its Unicode tables into the binary.
pub fn quoted(s: &str) -> String {
    Json::String(s.to_string()).to_json_string()
}

pub fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max_chars).collect();
        out.push('…');
        out
    }
}

/// Default mapping of an unexpected HTTP status to an `UploadError`; protocols refine it.
pub fn status_error(provider: &'static str, what: &str, resp: &Response) -> UploadError {
    let code = match resp.status {
        401 | 403 => ErrorCode::Auth,
        413 => ErrorCode::TooLarge,
        415 => ErrorCode::UnsupportedType,
        _ => ErrorCode::Http,
    };
    let mut message = format!("{what} failed with HTTP {}", resp.status);
    if let Some(m) = server_message(&resp.body) {
        message.push_str(": ");
        message.push_str(&m);
    }
    UploadError::new(code, provider, message)
        .with_status(resp.status)
        .retryable(retry::status_is_retryable(resp.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages() {
        assert_eq!(server_message(r#"{"status":413,"detail":"quota","code":"quota_reached","error":"quota"}"#).as_deref(), Some("quota"));
        assert_eq!(server_message(r#"{"error":{"code":"FileNotFound","message":"Not found"}}"#).as_deref(), Some("Not found"));
        assert_eq!(server_message(r#"{"result":"error","errors":[{"detail":"bad page"}]}"#).as_deref(), Some("bad page"));
        assert_eq!(server_message("<html>502</html>"), None);
        assert_eq!(server_message("Too many requests"), Some("Too many requests".into()));
        assert_eq!(server_code(r#"{"error":{"code":"FileNotFound"}}"#).as_deref(), Some("FileNotFound"));
        assert_eq!(server_message(&"x".repeat(1000)).map(|s| s.chars().count()), Some(301));
    }
}
