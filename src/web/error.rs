//! The JS `UploadError`: a wasm-bindgen class whose prototype chain is patched onto
//! `Error.prototype`, so `err instanceof Error` and `err instanceof UploadError` both hold.

use crate::core::UploadError as CoreError;
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(js_name = UploadError)]
pub struct JsUploadError {
    inner: CoreError,
}

#[wasm_bindgen(js_class = UploadError)]
impl JsUploadError {
    /// One of `invalid-input`, `network`, `http`, `auth`, `quota`, `too-large`,
    /// `unsupported-type`, `session-expired`, `protocol`, `aborted`.
    #[wasm_bindgen(getter, unchecked_return_type = "UploadErrorCode")]
    pub fn code(&self) -> JsValue {
        self.inner.code.as_str().into()
    }
    /// HTTP status when one was received.
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }
    /// Whether retrying the same call later could succeed.
    #[wasm_bindgen(getter)]
    pub fn retryable(&self) -> bool {
        self.inner.retryable
    }
    #[wasm_bindgen(getter, unchecked_return_type = "UploadProvider | 'chunkup'")]
    pub fn provider(&self) -> JsValue {
        self.inner.provider.into()
    }
    // The strings go out as JS values (`unchecked_return_type` keeps the .d.ts types): no
    // string-passing glue per getter.
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn message(&self) -> JsValue {
        self.inner.message.as_str().into()
    }
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn name(&self) -> JsValue {
        "UploadError".into()
    }
    #[wasm_bindgen(js_name = toString, unchecked_return_type = "string")]
    pub fn to_string_js(&self) -> JsValue {
        format!("UploadError [{}]: {}", self.inner.code.as_str(), self.inner.message).into()
    }
}

thread_local! {
    static PATCHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes `UploadError.prototype` inherit from `Error.prototype` (once).
fn patch_prototype(instance: &JsValue) {
    if PATCHED.with(|p| p.replace(true)) {
        return;
    }
    let proto = Object::get_prototype_of(instance);
    let error_proto = Object::get_prototype_of(&js_sys::Error::new(""));
    Object::set_prototype_of(&proto, &error_proto);
}

/// Converts a core error into the JS `UploadError` (with a stack trace).
pub fn to_js(e: CoreError) -> JsValue {
    let v: JsValue = JsUploadError { inner: e }.into();
    patch_prototype(&v);
    let carrier = js_sys::Error::new("");
    let key = JsValue::from_str("stack");
    if let Ok(stack) = Reflect::get(&carrier, &key) {
        let _ = Reflect::set(&v, &key, &stack);
    }
    v
}

// `private`: run at load, but not exported (no `on_load` in the package's JS API or `.d.ts`).
#[wasm_bindgen(start, private)]
fn on_load() {
    // Patch the prototype at load time so `instanceof Error` holds even before the first error.
    patch_prototype(&JsUploadError { inner: CoreError::invalid("chunkup", "") }.into());
}
