//! Reading the JS options object and input, with clear `invalid-input` errors.

use crate::core::{url, FileInfo, Json, UploadError};
use crate::core::JsonExt as _;
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortSignal, Blob, File, FileList};

pub const PROVIDERS: &[&str] = &["peertube", "peertube-import", "apivideo", "cloudreve", "mangadex"];

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
    /// Every plain-data option (functions and the AbortSignal left out), as JSON.
    pub data: Json,
    pub provider: &'static str,
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
                        format!("unknown provider {}; expected one of {}", crate::core::quoted(&crate::core::truncate(&name, 40)), PROVIDERS.join(", ")),
                    )
                })?
            }
        };
        let mut data = Json::object();
        for key in Object::keys(&Object::from(raw.clone())).iter() {
            let Some(k) = key.as_string() else { continue };
            let Some(v) = get(raw, &k) else { continue };
            if v.is_function() || v.is_instance_of::<AbortSignal>() {
                continue;
            }
            // JSON has no NaN or ±Infinity (JSON.stringify writes null): keep them as their names
            // so that the option's check refuses them instead of reading the option as absent.
            if let Some(n) = v.as_f64() {
                let value = match n {
                    _ if n.is_finite() => crate::core::json::number(n),
                    _ if n.is_nan() => Json::from("NaN"),
                    _ if n > 0.0 => Json::from("Infinity"),
                    _ => Json::from("-Infinity"),
                };
                data.set(&k, value);
                continue;
            }
            let j = js_sys::JSON::stringify(&v)
                .ok()
                .and_then(|s| s.as_string())
                .and_then(|s| Json::parse(&s).ok())
                .ok_or_else(|| UploadError::invalid(provider, format!("option {} is not plain data", crate::core::quoted(&k))))?;
            data.set(&k, j);
        }
        Ok(Options { raw: raw.clone(), data, provider })
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

    pub fn required_string(&self, key: &str) -> Result<String, UploadError> {
        self.string(key)?.filter(|s| !s.is_empty()).ok_or_else(|| self.err(format!("{key} is required")))
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
        match self.data.get("retryDelays") {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Array(items)) => items
                .iter()
                .map(|v| v.as_f64().filter(|n| n.is_finite() && *n >= 0.0 && *n <= 3_600_000.0).map(|n| n as u64))
                .collect::<Option<Vec<u64>>>()
                .map(Some)
                .ok_or_else(|| self.err("retryDelays must be an array of delays in ms (0 to 3600000)")),
            Some(_) => Err(self.err("retryDelays must be an array")),
        }
    }

    /// `stallTimeout` in ms: None when absent; 0 disables the stall watchdog.
    pub fn stall_timeout(&self) -> Result<Option<f64>, UploadError> {
        match self.data.get("stallTimeout") {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|n| n.is_finite() && *n >= 0.0 && *n <= 86_400_000.0)
                .map(Some)
                .ok_or_else(|| self.err("stallTimeout must be a number of ms between 0 (off) and 86400000")),
        }
    }

    pub fn chunk_size(&self) -> Result<Option<u64>, UploadError> {
        match self.data.get("chunkSize") {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| self.err("chunkSize must be a positive integer number of bytes")),
        }
    }

    /// `endpoint` as an absolute URL; a relative one (e.g. `/mangadex-api`) is resolved
    /// against the page (or worker) location.
    pub fn endpoint(&self) -> Result<String, UploadError> {
        let e = self.required_string("endpoint")?;
        let resolved =
            resolve_endpoint(&e).ok_or_else(|| self.err(format!("endpoint {} is not a usable URL", crate::core::quoted(&crate::core::truncate(&e, 80)))))?;
        check_endpoint(&resolved).map_err(|why| self.err(format!("endpoint {} {why}", crate::core::quoted(&crate::core::truncate(&e, 80)))))?;
        Ok(resolved)
    }
}

/// An API root must be a plain `http(s)://host[:port][/path]`: API paths are appended to it, so
/// a query or fragment would swallow them, and credentials in the URL would be sent with every
/// request (fetch refuses such URLs anyway).
pub fn check_endpoint(e: &str) -> Result<(), &'static str> {
    if e.contains(['?', '#']) {
        return Err("must not have a query or fragment (API paths are appended to it)");
    }
    let authority = e.split_once("://").map(|(_, r)| r.split('/').next().unwrap_or(r)).unwrap_or("");
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
    if let Some(list) = input.dyn_ref::<FileList>() {
        return (0..list.length()).filter_map(|i| list.get(i)).map(|f| one(f.into())).collect();
    }
    if Array::is_array(input) {
        return Array::from(input).iter().map(one).collect();
    }
    Err(UploadError::invalid(provider, "input must be a File, a Blob, an array of Files or a FileList"))
}
