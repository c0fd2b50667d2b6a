//! JSON text in and out of typed values — the one place where text becomes data.
//!
//! The sans-IO core keeps taking response bodies as text; [`decode`] turns a body into any
//! `T: Deserialize` and [`encode`] turns a `Serialize` value into text (request bodies, resume
//! records). In the wasm build both go through the browser's own `JSON.parse` / `JSON.stringify`
//! and `serde_wasm_bindgen` (one deserializer in the module, no JSON parser or writer of ours or
//! serde_json's); natively (tests, property tests) through `serde_json`. Same inputs, same values.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a body could not be decoded: not JSON at all, or JSON of another shape. Deliberately
/// without serde's own message, which would pull float formatting into the module; callers say
/// what they expected in their own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The text is not JSON.
    Syntax,
    /// JSON, but not of the expected shape (a missing field, a string where a number belongs…).
    Shape,
}

/// Decodes `text` (JSON) into `T`. Nesting deeper than [`MAX_DEPTH`] is refused as `Syntax`
/// before decoding: `JSON.parse` takes any depth, and decoding it recursively could exhaust the
/// wasm stack (a trap that kills the module for the whole page).
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
    imp::decode(text)
}

/// serde_json's own recursion limit.
pub const MAX_DEPTH: usize = 128;

/// Whether brackets outside strings nest deeper than [`MAX_DEPTH`] (a scan, not a parse).
fn too_deep(text: &str) -> bool {
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        match (in_str, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_str = !in_str,
            (false, b'[' | b'{') => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Encodes `value` as JSON text. Never fails for the crate's own types (string keys, finite
/// numbers); an unencodable value gives `null`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> String {
    imp::encode(value)
}

/// A typed value from an open-ended one (a resume record read back, an option object): through
/// text, so the module keeps one deserializer (the JS one in wasm).
pub fn from_json<T: DeserializeOwned>(value: &crate::core::Json) -> Result<T, DecodeError> {
    decode(&encode(value))
}

/// The first of `keys` whose value in `object`, alone in a one-key object, `decodes` refuses: the
/// option that made a whole options object fail to decode, when every field of its type is
/// optional (serde's errors name no field). One function for every provider; keys absent from
/// `object` are skipped.
pub fn culprit<'k>(object: &crate::core::Json, keys: &mut dyn Iterator<Item = &'k str>, decodes: &dyn Fn(&crate::core::Json) -> bool) -> Option<&'k str> {
    let map = object.as_object()?;
    for k in keys {
        let Some(v) = map.get(k) else { continue };
        let mut one = crate::core::json::Map::new();
        one.insert(k.to_string(), v.clone());
        if !decodes(&crate::core::Json::Object(one)) {
            return Some(k);
        }
    }
    None
}

/// An open-ended value from a typed one (a result handed to the page, a resume record).
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> crate::core::Json {
    decode(&encode(value)).unwrap_or(crate::core::Json::Null)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use serde_wasm_bindgen::Serializer;
    use wasm_bindgen::JsValue;

    // Only the serde calls are generic (one copy per type); the JS calls around them are shared.
    pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
        serde_wasm_bindgen::from_value(parse(text)?).map_err(|_| DecodeError::Shape)
    }

    #[inline(never)]
    fn parse(text: &str) -> Result<JsValue, DecodeError> {
        if too_deep(text) {
            return Err(DecodeError::Syntax);
        }
        js_sys::JSON::parse(text).map_err(|_| DecodeError::Syntax)
    }

    pub fn encode<T: Serialize + ?Sized>(value: &T) -> String {
        // Plain objects for maps, numbers (not BigInt) for 64-bit integers: what JSON holds.
        stringify(value.serialize(&Serializer::json_compatible()).ok())
    }

    #[inline(never)]
    fn stringify(js: Option<JsValue>) -> String {
        js_sys::JSON::stringify(&js.unwrap_or(JsValue::NULL)).ok().and_then(|s| s.as_string()).unwrap_or_else(|| "null".into())
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;

    pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
        if too_deep(text) {
            return Err(DecodeError::Syntax);
        }
        serde_json::from_str(text).map_err(|e| if e.is_syntax() || e.is_eof() { DecodeError::Syntax } else { DecodeError::Shape })
    }

    pub fn encode<T: Serialize + ?Sized>(value: &T) -> String {
        serde_json::to_string(value).unwrap_or_else(|_| "null".into())
    }
}
