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
pub mod text;
pub mod time;
pub mod url;

pub use error::{ErrorCode, UploadError};
pub use http::{Body, FileInfo, Method, Outcome, Part, Request, Response, Slice};
pub use json::Json;


/// A string field of an error body; any other value (a number, an object, null) reads as
/// absent, so that one field of an unexpected type does not hide the others (Cloudreve's `code`
/// is a number, PeerTube's a string).
#[derive(Default)]
struct Text(Option<String>);

/// `error` (a string, or an object with `message` / `code`) and `errors` (MangaDex: an array whose
/// first entry has `detail` / `title`): the strings found in it; other shapes read as empty.
#[derive(Default)]
struct Entry {
    text: Option<String>,
    detail: Option<String>,
    title: Option<String>,
    message: Option<String>,
    code: Option<String>,
}

/// A provider's error body: problem+json (`detail`, `title`, `code`), uploadx (`error.message`,
/// `error.code`), api.video (`title`), MangaDex (`errors[0].detail`), Cloudreve (`msg`).
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct ErrorBody {
    detail: Text,
    title: Text,
    msg: Text,
    message: Text,
    code: Text,
    error: Entry,
    errors: Entry,
}

mod lenient {
    //! The visitors of [`super::Text`] and [`super::Entry`]: strings are kept, everything else
    //! is read and dropped.
    use super::{Entry, Text};
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    struct TextVisitor;

    impl<'de> Visitor<'de> for TextVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any value")
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(TextVisitor).map(Text)
        }
    }

    struct EntryVisitor;

    impl<'de> Visitor<'de> for EntryVisitor {
        type Value = Entry;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any value")
        }
        fn visit_str<E>(self, v: &str) -> Result<Entry, E> {
            Ok(Entry { text: Some(v.to_string()), ..Entry::default() })
        }
        fn visit_bool<E>(self, _: bool) -> Result<Entry, E> {
            Ok(Entry::default())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Entry, E> {
            Ok(Entry::default())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Entry, E> {
            Ok(Entry::default())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Entry, E> {
            Ok(Entry::default())
        }
        fn visit_unit<E>(self) -> Result<Entry, E> {
            Ok(Entry::default())
        }
        fn visit_none<E>(self) -> Result<Entry, E> {
            Ok(Entry::default())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Entry, D::Error> {
            d.deserialize_any(self)
        }
        /// An array: its first entry's fields (`errors: [{detail, title}, …]`), not a string.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
            let mut first = seq.next_element::<Entry>()?.unwrap_or_default();
            first.text = None;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(first)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
            let mut e = Entry::default();
            while let Some(key) = map.next_key::<Text>()? {
                let slot = match key.0.as_deref() {
                    Some("detail") => &mut e.detail,
                    Some("title") => &mut e.title,
                    Some("message") => &mut e.message,
                    Some("code") => &mut e.code,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                };
                *slot = map.next_value::<Text>()?.0;
            }
            Ok(e)
        }
    }

    impl<'de> Deserialize<'de> for Entry {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(EntryVisitor)
        }
    }
}

/// The provider's own error text from a response body, if it gave one: problem+json
/// (`detail`, `title`), uploadx (`error.message`), api.video (`title`), MangaDex
/// (`errors[0].detail`), Cloudreve (`msg`), or a short plain-text body.
pub fn server_message(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return None;
    }
    let text = match codec::decode::<ErrorBody>(trimmed) {
        // (serde reads a struct from an array too, by position: an array is no error body.)
        Ok(_) if trimmed.starts_with('[') => return None,
        Ok(b) => {
            let full = |s: Option<String>| s.filter(|s| !s.is_empty());
            let first_err = b.errors.detail.or(b.errors.title);
            full(b.detail.0)
                .or_else(|| full(b.error.message))
                .or_else(|| full(b.error.text))
                .or(first_err)
                .or_else(|| full(b.msg.0))
                .or_else(|| full(b.message.0))
                .or_else(|| full(b.title.0))?
        }
        // JSON of another shape (an array, a string): nothing to show.
        Err(codec::DecodeError::Shape) => return None,
        Err(_) if trimmed.starts_with('<') => return None,
        Err(_) => trimmed.to_string(),
    };
    Some(truncate(&text, 300))
}

/// The provider's machine-readable error code (`code` in problem+json or `error.code`).
pub fn server_code(body: &str) -> Option<String> {
    let body = body.trim();
    let b = codec::decode::<ErrorBody>(body).ok().filter(|_| !body.starts_with('['))?;
    b.code.0.or(b.error.code)
}

/// `s` in double quotes, escaped like a JSON string: what `{:?}` shows for ordinary text, without
/// pulling core's `Debug` for `str` and its Unicode tables into the binary.
pub fn quoted(s: &str) -> String {
    codec::encode(s)
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
    // As u64: the integer type the module formats anyway (no u16 formatting code of its own).
    let mut message = format!("{what} failed with HTTP {}", u64::from(resp.status));
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
        // A field of another type does not hide the others; Cloudreve's numeric code is no code.
        assert_eq!(server_message(r#"{"code":40001,"msg":"Path not exist","data":null}"#).as_deref(), Some("Path not exist"));
        assert_eq!(server_code(r#"{"code":40001,"msg":"x"}"#), None);
        assert_eq!(server_message(r#"{"detail":5,"error":["a"],"message":"m"}"#).as_deref(), Some("m"));
        assert_eq!(server_message(r#"{"error":"bad token","code":"invalid_token"}"#).as_deref(), Some("bad token"));
        assert_eq!(server_code(r#"{"error":"bad token","code":"invalid_token"}"#).as_deref(), Some("invalid_token"));
        assert_eq!(server_message(r#"{"errors":[{"detail":null,"title":"Forbidden"},{"detail":"later"}]}"#).as_deref(), Some("Forbidden"));
        assert_eq!(server_message(r#"{"errors":{"detail":"x"},"title":"T"}"#).as_deref(), Some("x"));
        assert_eq!(server_message(r#"["a"]"#), None);
        assert_eq!(server_message(r#""just a string""#), None);
        assert_eq!(server_message("{} trailing"), Some("{} trailing".into()));
    }
}
