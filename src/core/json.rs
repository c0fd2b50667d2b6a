//! Open-ended JSON values: `serde_json::Value` (results handed to the page as the provider wrote
//! them, pass-through fields, providers' error bodies). Text is decoded and encoded only in
//! [`crate::core::codec`]; protocols read answers through their own typed structs.

pub use serde_json::Value as Json;

/// A JSON object of these fields, in this order, leaving out those given as `None`: request
/// bodies, results and records are built this way rather than serialised from a type of their
/// own, as each serialised type would cost its own serde code in the wasm module.
pub fn object(entries: Vec<(&str, Option<Json>)>) -> Json {
    let mut map = serde_json::Map::new();
    for (key, value) in entries {
        if let Some(v) = value {
            map.insert(key.to_string(), v);
        }
    }
    Json::Object(map)
}

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
