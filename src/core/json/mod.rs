//! Open-ended JSON values (results handed to the page as the provider wrote them, pass-through
//! fields, providers' error bodies, request bodies built field by field): the crate's own
//! [`Json`], with serde's `Serialize` / `Deserialize` (`serde` below). Text is decoded and encoded
//! only in [`crate::core::codec`] (the browser's `JSON.parse` / `JSON.stringify` through
//! serde-wasm-bindgen in wasm, serde_json natively); protocols read answers through their own
//! typed structs. Not `serde_json::Value`, so that the wasm build links one deserializer and no
//! serde_json (issue 14): objects are a `Vec` of fields in order, not an `IndexMap`.

mod serde;

use std::ops::Index;

/// A JSON value. Objects keep their keys in order (as written by the server or built).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Json {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Map),
}

/// A JSON number: an integer (as JS reads it: safe integers are exact) or a float.
#[derive(Clone, Copy, Debug)]
pub enum Number {
    /// 0 and up.
    Pos(u64),
    /// Below 0.
    Neg(i64),
    Float(f64),
}

impl Number {
    /// A float number; None when not finite (JSON has no NaN or infinities).
    pub fn from_f64(f: f64) -> Option<Number> {
        f.is_finite().then_some(Number::Float(f))
    }
    pub fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            Number::Pos(n) => n as f64,
            Number::Neg(n) => n as f64,
            Number::Float(f) => f,
        })
    }
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Number::Pos(n) => Some(n),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Number::Pos(n) => i64::try_from(n).ok(),
            Number::Neg(n) => Some(n),
            Number::Float(_) => None,
        }
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Number {
        if n < 0 {
            Number::Neg(n)
        } else {
            Number::Pos(n as u64)
        }
    }
}

/// Same value: integers by value, a float only equal to a float (as serde_json compares).
impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (*self, *other) {
            (Number::Pos(a), Number::Pos(b)) => a == b,
            (Number::Neg(a), Number::Neg(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b,
            _ => false,
        }
    }
}

/// A JSON object: its fields in order. Keys are unique ([`Map::insert`] replaces in place).
#[derive(Clone, Debug, Default)]
pub struct Map(Vec<(String, Json)>);

impl Map {
    pub fn new() -> Map {
        Map(Vec::new())
    }
    /// The fields of an object as a deserializer gave them, in linear time (an answer may hold
    /// many keys; [`Map::insert`] one by one would be quadratic). In wasm every object is read
    /// from a JS object (`JSON.parse`, serde-wasm-bindgen), whose keys are unique already.
    /// Natively serde_json hands a key given twice twice: it keeps its first place and its last
    /// value, as `JSON.parse` does.
    pub(crate) fn from_read(fields: Vec<(String, Json)>) -> Map {
        #[cfg(not(target_arch = "wasm32"))]
        let fields = {
            let mut seen = std::collections::HashMap::new();
            let mut kept: Vec<(String, Json)> = Vec::with_capacity(fields.len());
            for (k, v) in fields {
                match seen.get(&k).and_then(|&i| kept.get_mut(i)) {
                    Some((_, old)) => *old = v,
                    None => {
                        seen.insert(k.clone(), kept.len());
                        kept.push((k, v));
                    }
                }
            }
            kept
        };
        Map(fields)
    }
    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }
    /// Sets `key`; an existing key keeps its place and gives back its old value.
    pub fn insert(&mut self, key: String, value: Json) -> Option<Json> {
        match self.position(&key) {
            Some(i) => self.0.get_mut(i).map(|(_, v)| std::mem::replace(v, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }
    /// Removes `key`; the other fields keep their order.
    pub fn remove(&mut self, key: &str) -> Option<Json> {
        let i = self.position(key)?;
        Some(self.0.remove(i).1)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Json)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut Json)> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }
    pub fn values(&self) -> impl Iterator<Item = &Json> {
        self.0.iter().map(|(_, v)| v)
    }
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Json> {
        self.0.iter_mut().map(|(_, v)| v)
    }
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut Json) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v))
    }
}

/// Same fields with the same values, in any order (as objects compare in JSON).
impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl FromIterator<(String, Json)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Json)>>(iter: I) -> Map {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl Extend<(String, Json)> for Map {
    fn extend<I: IntoIterator<Item = (String, Json)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for Map {
    type Item = (String, Json);
    type IntoIter = std::vec::IntoIter<(String, Json)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Json);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (String, Json)>, fn(&'a (String, Json)) -> (&'a String, &'a Json)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

static NULL: Json = Json::Null;

impl Json {
    /// A field of an object (None for a missing key or a value that is not an object).
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.as_object()?.get(key)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        self.as_object_mut()?.get_mut(key)
    }
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&Vec<Json>> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.as_u64(),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }
    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }
    pub fn is_array(&self) -> bool {
        matches!(self, Json::Array(_))
    }
    pub fn is_string(&self) -> bool {
        matches!(self, Json::String(_))
    }
    pub fn is_number(&self) -> bool {
        matches!(self, Json::Number(_))
    }
    /// The value, leaving `null` in its place.
    pub fn take(&mut self) -> Json {
        std::mem::take(self)
    }
}

/// `value["key"]`: the field, or `null` when absent or not an object.
impl Index<&str> for Json {
    type Output = Json;
    fn index(&self, key: &str) -> &Json {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `value[i]`: the element, or `null` when absent or not an array.
impl Index<usize> for Json {
    type Output = Json;
    fn index(&self, i: usize) -> &Json {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
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
impl From<&String> for Json {
    fn from(s: &String) -> Json {
        Json::String(s.clone())
    }
}
impl From<u64> for Json {
    fn from(n: u64) -> Json {
        Json::Number(Number::Pos(n))
    }
}
impl From<u32> for Json {
    fn from(n: u32) -> Json {
        Json::Number(Number::Pos(n.into()))
    }
}
impl From<usize> for Json {
    fn from(n: usize) -> Json {
        Json::Number(Number::Pos(n as u64))
    }
}
impl From<i64> for Json {
    fn from(n: i64) -> Json {
        Json::Number(n.into())
    }
}
impl From<i32> for Json {
    fn from(n: i32) -> Json {
        Json::Number(i64::from(n).into())
    }
}
/// A float; `null` when not finite.
impl From<f64> for Json {
    fn from(f: f64) -> Json {
        Number::from_f64(f).map_or(Json::Null, Json::Number)
    }
}
impl From<Map> for Json {
    fn from(m: Map) -> Json {
        Json::Object(m)
    }
}
impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(a: Vec<T>) -> Json {
        Json::Array(a.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(o: Option<T>) -> Json {
        o.map_or(Json::Null, Into::into)
    }
}

macro_rules! eq_via {
    ($($t:ty => $as:ident),*) => {$(
        impl PartialEq<$t> for Json {
            fn eq(&self, other: &$t) -> bool {
                self.$as().is_some_and(|v| v == *other)
            }
        }
    )*};
}
eq_via!(bool => as_bool, u64 => as_u64, i64 => as_i64, f64 => as_f64, &str => as_str);

impl PartialEq<str> for Json {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}
impl PartialEq<String> for Json {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}
impl PartialEq<i32> for Json {
    fn eq(&self, other: &i32) -> bool {
        self.as_i64() == Some(i64::from(*other))
    }
}

/// Test and native code: a `serde_json::Value` as a [`Json`] (same keys in the same order).
#[cfg(not(target_arch = "wasm32"))]
impl From<serde_json::Value> for Json {
    fn from(v: serde_json::Value) -> Json {
        use ::serde::Deserialize as _;
        Json::deserialize(v).unwrap_or(Json::Null)
    }
}

/// A JSON object of these fields, in this order, leaving out those given as `None`: request
/// bodies, results and records are built this way rather than serialised from a type of their
/// own, as each serialised type would cost its own serde code in the wasm module.
/// The keys are distinct (the callers' literals).
pub fn object(entries: Vec<(&str, Option<Json>)>) -> Json {
    Json::Object(Map(entries.into_iter().filter_map(|(key, value)| Some((key.to_string(), value?))).collect()))
}

/// A JSON number for `n`: an integer when `n` is a safe one (|n| < 2^53, so `1700000000000.0`
/// is written `1700000000000`, as `JSON.stringify` does), else a float (serde-wasm-bindgen
/// refuses an integer beyond the safe range, a float it takes); `null` when not finite.
pub fn number(n: f64) -> Json {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        if n < 0.0 {
            Json::from(n as i64)
        } else {
            Json::from(n as u64)
        }
    } else {
        Json::from(n)
    }
}
