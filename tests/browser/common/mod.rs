//! Helpers shared by the browser tests: the fake servers' control API, test files with known
//! bytes, SHA-256 in the browser, and building/awaiting `Upload`s.
#![allow(dead_code)]

use chunkup::web::upload::Upload;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

pub fn peertube_url() -> &'static str {
    option_env!("CHUNKUP_PEERTUBE_URL").unwrap_or("http://127.0.0.1:18081")
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(input: &str, init: &JsValue) -> Promise;
}

/// Calls the fake server's control API and returns the parsed JSON (or null).
pub async fn control(base: &str, method: &str, path: &str, body: Option<&str>) -> JsValue {
    let init = Object::new();
    Reflect::set(&init, &"method".into(), &method.into()).unwrap();
    if let Some(b) = body {
        Reflect::set(&init, &"body".into(), &b.into()).unwrap();
        let h = Object::new();
        Reflect::set(&h, &"Content-Type".into(), &"application/json".into()).unwrap();
        Reflect::set(&init, &"headers".into(), &h).unwrap();
    }
    let url = format!("{base}{path}");
    let resp: web_sys::Response = JsFuture::from(global_fetch(&url, &init)).await.expect("control fetch").unchecked_into();
    assert!(resp.ok(), "control {method} {path} -> {}", resp.status());
    let text = JsFuture::from(resp.text().unwrap()).await.unwrap().as_string().unwrap();
    if text.is_empty() {
        JsValue::NULL
    } else {
        js_sys::JSON::parse(&text).unwrap()
    }
}

pub fn field(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}
pub fn str_field(v: &JsValue, key: &str) -> String {
    field(v, key).as_string().unwrap_or_default()
}
pub fn num_field(v: &JsValue, key: &str) -> f64 {
    field(v, key).as_f64().unwrap_or(f64::NAN)
}

/// PeerTube upload options for session `s` (short retry delays), plus `extra` JSON members.
pub fn pt_options(s: &Session, extra: &str) -> Object {
    let sep = if extra.is_empty() { "" } else { "," };
    options(&format!(
        r#"{{"provider":"peertube","endpoint":"{}","accessToken":"{}","channelId":{},"retryDelays":[20,50,100]{sep}{extra}}}"#,
        peertube_url(),
        s.token,
        s.channel_id
    ))
}

/// A control session on the PeerTube fake.
pub struct Session {
    pub id: String,
    pub token: String,
    pub user_id: u64,
    pub channel_id: u64,
}

impl Session {
    pub async fn new(opts: &str) -> Session {
        let v = control(peertube_url(), "POST", "/__control/session", Some(opts)).await;
        Session {
            id: str_field(&v, "id"),
            token: str_field(&v, "token"),
            user_id: num_field(&v, "userId") as u64,
            channel_id: num_field(&v, "channelId") as u64,
        }
    }
    pub async fn faults(&self, rules: &str) {
        control(peertube_url(), "POST", &format!("/__control/session/{}/faults", self.id), Some(rules)).await;
    }
    pub async fn log(&self) -> Array {
        control(peertube_url(), "GET", &format!("/__control/session/{}/log", self.id), None).await.unchecked_into()
    }
    pub async fn uploads(&self) -> Array {
        control(peertube_url(), "GET", &format!("/__control/session/{}/uploads", self.id), None).await.unchecked_into()
    }
    pub async fn files(&self) -> Array {
        control(peertube_url(), "GET", &format!("/__control/session/{}/files", self.id), None).await.unchecked_into()
    }
    pub async fn expire_token(&self) {
        control(peertube_url(), "POST", &format!("/__control/session/{}/expire-token", self.id), None).await;
    }
    pub async fn new_token(&self) -> String {
        let v = control(peertube_url(), "POST", &format!("/__control/session/{}/new-token", self.id), None).await;
        str_field(&v, "token")
    }
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn file(data: &[u8], name: &str, mime: &str) -> web_sys::File {
    let parts = Array::new();
    parts.push(&Uint8Array::from(data));
    let opts = web_sys::FilePropertyBag::new();
    opts.set_type(mime);
    opts.set_last_modified(1_700_000_000_000.0);
    web_sys::File::new_with_u8_array_sequence_and_options(&parts, name, &opts).unwrap()
}

pub async fn sha256_hex(data: &[u8]) -> String {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).unwrap();
    let subtle = Reflect::get(&crypto, &"subtle".into()).unwrap();
    let digest: Function = Reflect::get(&subtle, &"digest".into()).unwrap().unchecked_into();
    let p: Promise = digest.call2(&subtle, &"SHA-256".into(), &Uint8Array::from(data)).unwrap().unchecked_into();
    let buf = JsFuture::from(p).await.unwrap();
    Uint8Array::new(&buf).to_vec().iter().map(|b| format!("{b:02x}")).collect()
}

/// Options object from JSON text, plus optional functions.
pub fn options(json: &str) -> Object {
    js_sys::JSON::parse(json).unwrap().unchecked_into()
}

pub fn set(o: &Object, key: &str, v: &JsValue) {
    Reflect::set(o, &key.into(), v).unwrap();
}

/// Sets `onProgress` to a recorder; returns the array it fills with `[loaded, total]` pairs.
pub fn record_progress(o: &Object) -> (Array, Closure<dyn FnMut(JsValue)>) {
    let events = Array::new();
    let ev = events.clone();
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| {
        let pair = Array::of2(&field(&p, "loaded"), &field(&p, "total"));
        ev.push(&pair);
    });
    set(o, "onProgress", cb.as_ref());
    (events, cb)
}

pub async fn run(upload: &Upload) -> Result<JsValue, JsValue> {
    JsFuture::from(upload.start()).await
}

pub fn new_upload(input: &JsValue, opts: &Object) -> Result<Upload, JsValue> {
    Upload::new(input.clone(), opts.clone().into())
}

/// `code` of a JS UploadError.
pub fn code(err: &JsValue) -> String {
    str_field(err, "code")
}

pub async fn sleep_ms(ms: f64) {
    chunkup::web::runner::sleep(ms).await
}

/// A PNG of `len` bytes: a valid signature and IHDR (`w` × `h`), then seeded bytes.
pub fn png(w: u32, h: u32, len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
    v.extend_from_slice(b"IHDR");
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0]);
    v.extend_from_slice(&bytes(len.saturating_sub(v.len()), seed));
    v
}

/// A `getAccessToken` callback that fetches a fresh token from the fake at `base`
/// (`POST /__control/session/<id>/new-token`, field `accessToken`) and counts its calls.
pub fn token_source(base: &'static str, id: &str) -> (std::rc::Rc<std::cell::Cell<u32>>, Closure<dyn FnMut() -> Promise>) {
    let calls = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let c = calls.clone();
    let id = id.to_string();
    let cb = Closure::<dyn FnMut() -> Promise>::new(move || {
        c.set(c.get() + 1);
        let id = id.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let v = control(base, "POST", &format!("/__control/session/{id}/new-token"), None).await;
            Ok(field(&v, "accessToken"))
        })
    });
    (calls, cb)
}
