//! Test-side builders for open-ended JSON values (`chunkup::core::Json`): the tests write
//! options, states and answers compactly with these. Shipped code reads typed structs only.
#![allow(dead_code)]

use chunkup::core::codec;
use chunkup::core::Json;

pub trait JsonExt: Sized {
    fn parse(text: &str) -> Result<Json, codec::DecodeError>;
    fn object() -> Json;
    fn set(&mut self, key: &str, value: Json);
    fn with(self, key: &str, value: impl Into<Json>) -> Json;
    /// `a.b.c` lookup through objects.
    fn path(&self, dotted: &str) -> Option<&Json>;
    /// JSON Pointer (`/a/b/0`) lookup through objects and arrays (no `~` escapes).
    fn pointer(&self, pointer: &str) -> Option<&Json>;
    fn to_json_string(&self) -> String;
}

impl JsonExt for Json {
    fn parse(text: &str) -> Result<Json, codec::DecodeError> {
        codec::decode(text)
    }
    fn object() -> Json {
        Json::Object(chunkup::core::json::Map::new())
    }
    fn set(&mut self, key: &str, value: Json) {
        if let Json::Object(map) = self {
            map.insert(key.to_string(), value);
        }
    }
    fn with(mut self, key: &str, value: impl Into<Json>) -> Json {
        self.set(key, value.into());
        self
    }
    fn path(&self, dotted: &str) -> Option<&Json> {
        dotted.split('.').try_fold(self, |v, k| v.get(k))
    }
    fn pointer(&self, pointer: &str) -> Option<&Json> {
        let rest = pointer.strip_prefix('/')?;
        rest.split('/').try_fold(self, |v, k| match v {
            Json::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => v.get(k),
        })
    }
    fn to_json_string(&self) -> String {
        codec::encode(self)
    }
}
