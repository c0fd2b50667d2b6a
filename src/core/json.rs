//! Open-ended JSON values: `serde_json::Value` (pass-through results, providers' error bodies,
//! resume records until each protocol has its own typed record). Text is decoded and encoded
//! only in [`crate::core::codec`]; [`JsonExt`] adds the few builders the protocols use.

pub use serde_json::Value as Json;

use super::codec;

/// A JSON number for `n`: an integer when `n` is one (so `1700000000000.0` is written
/// `1700000000000`, as `JSON.stringify` does), else a float; `null` when not finite.
pub fn number(n: f64) -> Json {
    if n.is_finite() && n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0 {
        if n < 0.0 {
            Json::from(n as i64)
        } else {
            Json::from(n as u64)
        }
    } else {
        serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)
    }
}

pub trait JsonExt: Sized {
    /// JSON text to a value; the error says why (for messages that name the body).
    fn parse(text: &str) -> Result<Json, String>;
    fn object() -> Json;
    /// Sets `key` (replacing an earlier value). No-op on non-objects.
    fn set(&mut self, key: &str, value: Json);
    fn with(self, key: &str, value: impl Into<Json>) -> Json;
    /// `a.b.c` lookup through objects.
    fn path(&self, dotted: &str) -> Option<&Json>;
    fn to_json_string(&self) -> String;
}

impl JsonExt for Json {
    fn parse(text: &str) -> Result<Json, String> {
        codec::decode(text).map_err(|_| String::from("not JSON"))
    }
    fn object() -> Json {
        Json::Object(serde_json::Map::new())
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
    fn to_json_string(&self) -> String {
        codec::encode(self)
    }
}
