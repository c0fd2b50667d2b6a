//! Reading the JS options object and input, with clear `invalid-input` errors.

use crate::core::{url, FileInfo, Json, UploadError};
use js_sys::{Array, Function, Object, Reflect};
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortSignal, Blob, File, FileList};

/// `PROVIDERS`, and `PROVIDER_LIST`: the same names as the error for an unknown one lists them
/// (joined at compile time: no joining code in the binary).
macro_rules! providers {
    ($first:literal $(, $rest:literal)*) => {
        pub const PROVIDERS: &[&str] = &[$first $(, $rest)*];
        const PROVIDER_LIST: &str = concat!($first $(, ", ", $rest)*);
    };
}
providers!("peertube", "peertube-import", "apivideo", "cloudreve", "mangadex");

/// The one file of a provider that uploads one file at a time.
pub fn single(provider: &'static str, infos: &[FileInfo]) -> Result<FileInfo, UploadError> {
    match infos {
        [one] => Ok(one.clone()),
        [] => Err(UploadError::invalid(provider, "no file given")),
        _ => Err(UploadError::invalid(provider, "this provider uploads one file at a time")),
    }
}


pub struct Options {
    pub raw: JsValue,
    /// Every plain-data option (functions and the AbortSignal left out), as JSON: the protocols
    /// read their own options from it.
    pub data: Json,
    pub provider: &'static str,
    /// The options every provider shares, typed.
    common: Common,
    /// Shared options whose value is of the wrong type (read as absent in `common`): each
    /// accessor reports its own, so errors come in the order the options are checked.
    bad: Vec<&'static str>,
}

/// The plain-data options every provider shares (see `CommonUploadOptions` in the TypeScript
/// types), read from the JS object with serde-wasm-bindgen. Numbers stay `f64` here (a JS
/// number, NaN and ±Infinity included): the range checks below refuse what is not usable.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Common {
    endpoint: Option<String>,
    chunk_size: Option<f64>,
    retry_delays: Option<Vec<f64>>,
    stall_timeout: Option<f64>,
    integrity: Option<bool>,
    user: Option<String>,
}

/// The keys of [`Common`], as the page spells them.
const COMMON_KEYS: [&str; 6] = ["endpoint", "chunkSize", "retryDelays", "stallTimeout", "integrity", "user"];

/// `raw`'s shared options. serde's errors do not name the field: when the whole object does not
/// decode, each key is tried alone (every field is optional, so only a culprit fails), and the
/// culprits are left out.
fn common(raw: &JsValue) -> (Common, Vec<&'static str>) {
    if let Ok(c) = serde_wasm_bindgen::from_value::<Common>(raw.clone()) {
        return (c, Vec::new());
    }
    let good = Object::new();
    let mut bad = Vec::new();
    for key in COMMON_KEYS {
        let Some(v) = get(raw, key) else { continue };
        let one = Object::new();
        let _ = Reflect::set(&one, &key.into(), &v);
        if serde_wasm_bindgen::from_value::<Common>(one.into()).is_ok() {
            let _ = Reflect::set(&good, &key.into(), &v);
        } else {
            bad.push(key);
        }
    }
    (serde_wasm_bindgen::from_value(good.into()).unwrap_or_default(), bad)
}

/// One option's value as JSON (serde-wasm-bindgen, no JSON text in between). JSON has no NaN or
/// ±Infinity: such numbers are kept as their names, so that the option's check refuses them
/// instead of reading the option as absent. A value serde-wasm-bindgen cannot read as data (an
/// object with methods, such as a `storage` object) is taken as `JSON.stringify` writes it.
fn option_value(v: &JsValue) -> Option<Json> {
    if too_deep(v, 0) {
        return None;
    }
    if let Some(n) = v.as_f64() {
        return Some(match n {
            _ if n.is_finite() => return serde_wasm_bindgen::from_value(v.clone()).ok(),
            _ if n.is_nan() => Json::from("NaN"),
            _ if n > 0.0 => Json::from("Infinity"),
            _ => Json::from("-Infinity"),
        });
    }
    serde_wasm_bindgen::from_value(v.clone()).ok().or_else(|| {
        let text = js_sys::JSON::stringify(v).ok()?.as_string()?;
        crate::core::codec::decode(&text).ok()
    })
}

/// Nesting past [`MAX_DEPTH`] objects and arrays (a cycle, say) is not plain data: decoding it
/// recursively could exhaust the wasm stack (`JSON.stringify` threw on a cycle). The same bound
/// as for server bodies.
use crate::core::codec::MAX_DEPTH;

/// Whether `v` nests objects, arrays or Maps deeper than [`MAX_DEPTH`] (a cycle does).
fn too_deep(v: &JsValue, depth: usize) -> bool {
    if !v.is_object() {
        return false;
    }
    if depth >= MAX_DEPTH {
        return true;
    }
    let values = match v.dyn_ref::<js_sys::Map>() {
        Some(m) => Array::from(&m.values()),
        None => Object::values(v.unchecked_ref()),
    };
    values.iter().any(|x| too_deep(&x, depth + 1))
}

pub fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

impl Options {
    /// `provider_name` is used in errors before the provider is known.
    pub fn parse(raw: &JsValue, provider_fallback: &'static str) -> Result<Options, UploadError> {
        if !raw.is_object() || raw.is_function() {
            return Err(UploadError::invalid(provider_fallback, "options must be an object"));
        }
        let provider = match get(raw, "provider") {
            None => provider_fallback,
            Some(p) => {
                let name = p.as_string().ok_or_else(|| UploadError::invalid(provider_fallback, "provider must be a string"))?;
                PROVIDERS.iter().copied().find(|k| *k == name).ok_or_else(|| {
                    UploadError::invalid(
                        provider_fallback,
                        format!("unknown provider {}; expected one of {}", crate::core::quoted(&crate::core::truncate(&name, 40)), PROVIDER_LIST),
                    )
                })?
            }
        };
        // The keys of a JS object are unique: collected as they come (no lookup per key).
        let mut data = Vec::new();
        for key in Object::keys(&Object::from(raw.clone())).iter() {
            let Some(k) = key.as_string() else { continue };
            let Some(v) = get(raw, &k) else { continue };
            if v.is_function() || v.is_instance_of::<AbortSignal>() {
                continue;
            }
            let j = option_value(&v).ok_or_else(|| UploadError::invalid(provider, format!("option {} is not plain data", crate::core::quoted(&k))))?;
            data.push((k, j));
        }
        let (common, bad) = common(raw);
        Ok(Options { raw: raw.clone(), data: Json::Object(crate::core::json::Map::from_read(data)), provider, common, bad })
    }

    /// The shared option `key` had a value of the wrong type: `expected` says what it takes.
    fn check(&self, key: &str, expected: impl FnOnce() -> String) -> Result<(), UploadError> {
        if self.bad.contains(&key) {
            Err(self.err(expected()))
        } else {
            Ok(())
        }
    }

    fn err(&self, msg: impl Into<String>) -> UploadError {
        UploadError::invalid(self.provider, msg)
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, UploadError> {
        match self.data.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(format!("{key} must be a string"))),
        }
    }

    /// A non-negative integer (bytes, ids).
    pub fn integer(&self, key: &str) -> Result<Option<u64>, UploadError> {
        match self.data.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| self.err(format!("{key} must be a non-negative integer"))),
        }
    }

    pub fn function(&self, key: &str) -> Result<Option<Function>, UploadError> {
        match get(&self.raw, key) {
            None => Ok(None),
            Some(v) => v.dyn_into::<Function>().map(Some).map_err(|_| self.err(format!("{key} must be a function"))),
        }
    }

    pub fn signal(&self) -> Result<Option<AbortSignal>, UploadError> {
        match get(&self.raw, "signal") {
            None => Ok(None),
            Some(v) => v.dyn_into::<AbortSignal>().map(Some).map_err(|_| self.err("signal must be an AbortSignal")),
        }
    }

    pub fn retry_delays(&self) -> Result<Option<Vec<u64>>, UploadError> {
        const RANGE: &str = "retryDelays must be an array of delays in ms (0 to 3600000)";
        // An array, not any iterable (serde-wasm-bindgen reads a string or a Set as a sequence).
        if get(&self.raw, "retryDelays").is_some_and(|v| !Array::is_array(&v)) {
            return Err(self.err("retryDelays must be an array"));
        }
        self.check("retryDelays", || RANGE.into())?;
        let Some(items) = &self.common.retry_delays else { return Ok(None) };
        items
            .iter()
            .map(|n| (n.is_finite() && *n >= 0.0 && *n <= 3_600_000.0).then_some(*n as u64))
            .collect::<Option<Vec<u64>>>()
            .map(Some)
            .ok_or_else(|| self.err(RANGE))
    }

    /// `stallTimeout` in ms: None when absent; 0 disables the stall watchdog.
    pub fn stall_timeout(&self) -> Result<Option<f64>, UploadError> {
        const EXPECTED: &str = "stallTimeout must be a number of ms between 0 (off) and 86400000";
        self.check("stallTimeout", || EXPECTED.into())?;
        match self.common.stall_timeout {
            None => Ok(None),
            Some(n) if n.is_finite() && (0.0..=86_400_000.0).contains(&n) => Ok(Some(n)),
            Some(_) => Err(self.err(EXPECTED)),
        }
    }

    pub fn chunk_size(&self) -> Result<Option<u64>, UploadError> {
        const EXPECTED: &str = "chunkSize must be a positive integer number of bytes";
        self.check("chunkSize", || EXPECTED.into())?;
        match self.common.chunk_size {
            None => Ok(None),
            // Integers up to 2^53 (beyond, a JS number is no exact byte count).
            Some(n) if n.fract() == 0.0 && n > 0.0 && n <= 9_007_199_254_740_992.0 => Ok(Some(n as u64)),
            Some(_) => Err(self.err(EXPECTED)),
        }
    }

    /// `integrity`: false (default) or true.
    pub fn integrity(&self) -> Result<bool, UploadError> {
        self.check("integrity", || "integrity must be true or false".into())?;
        Ok(self.common.integrity.unwrap_or(false))
    }

    /// `user` (part of the resume fingerprint), "" when absent.
    pub fn user(&self) -> Result<String, UploadError> {
        self.check("user", || "user must be a string".into())?;
        Ok(self.common.user.clone().unwrap_or_default())
    }

    /// `endpoint` as an absolute URL; a relative one (e.g. `/mangadex-api`) is resolved
    /// against the page (or worker) location.
    pub fn endpoint(&self) -> Result<String, UploadError> {
        self.check("endpoint", || "endpoint must be a string".into())?;
        let e = self.common.endpoint.clone().filter(|s| !s.is_empty()).ok_or_else(|| self.err("endpoint is required"))?;
        resolve_endpoint(&e)
            .ok_or("is not a usable URL")
            .and_then(|resolved| check_endpoint(&resolved).map(|()| resolved))
            .map_err(|why| self.err(format!("endpoint {} {why}", crate::core::quoted(&crate::core::truncate(&e, 80)))))
    }
}

/// An API root must be a plain `http(s)://host[:port][/path]`: API paths are appended to it, so
/// a query or fragment would swallow them, and credentials in the URL would be sent with every
/// request (fetch refuses such URLs anyway).
pub fn check_endpoint(e: &str) -> Result<(), &'static str> {
    if e.contains(['?', '#']) {
        return Err("must not have a query or fragment (API paths are appended to it)");
    }
    let authority = crate::core::text::split_once(e, "://").map(|(_, r)| r.split('/').next().unwrap_or(r)).unwrap_or("");
    if authority.contains('@') {
        return Err("must not contain a user name or password");
    }
    // Host names are ASCII once parsed (IDN in punycode); anything else (a space escaped as
    // %20 by a lenient URL parser, say) cannot be a real host.
    if authority.is_empty() || !authority.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')) {
        return Err("does not have a valid host name");
    }
    Ok(())
}

pub fn resolve_endpoint(e: &str) -> Option<String> {
    let e = e.trim();
    if url::is_absolute_http(e) {
        return Some(e.to_string());
    }
    let base = Reflect::get(&js_sys::global(), &"location".into())
        .ok()
        .and_then(|l| Reflect::get(&l, &"href".into()).ok())
        .and_then(|h| h.as_string())?;
    let resolved = web_sys::Url::new_with_base(e, &base).ok()?.href();
    url::is_absolute_http(&resolved).then_some(resolved)
}

/// The input: File | Blob | File[] | FileList → blobs and what the core needs to know.
pub fn files(input: &JsValue, provider: &'static str) -> Result<Vec<(Blob, FileInfo)>, UploadError> {
    let one = |v: JsValue| -> Result<(Blob, FileInfo), UploadError> {
        let blob = v
            .dyn_into::<Blob>()
            .map_err(|_| UploadError::invalid(provider, "input must be a File, a Blob, an array of Files or a FileList"))?;
        let (name, last_modified) = match blob.dyn_ref::<File>() {
            Some(f) => (f.name(), f.last_modified()),
            None => (String::new(), 0.0),
        };
        let size = blob.size();
        if !(size.is_finite() && size >= 0.0) {
            return Err(UploadError::invalid(provider, "the input has no readable size"));
        }
        let info = FileInfo { name, size: size as u64, mime: blob.type_(), last_modified };
        Ok((blob, info))
    };
    if input.is_instance_of::<Blob>() {
        return Ok(vec![one(input.clone())?]);
    }
    // A FileList is taken with `Array.from` as an array is (fewer imported JS functions).
    if input.is_instance_of::<FileList>() || Array::is_array(input) {
        return Array::from(input).iter().map(one).collect();
    }
    Err(UploadError::invalid(provider, "input must be a File, a Blob, an array of Files or a FileList"))
}
