//! The browser shell: the only code that knows about `JsValue`, `fetch` and timers.

pub mod error;
pub mod options;
pub mod peertube;
pub mod runner;
pub mod transport;
mod types;
pub mod upload;

use crate::core::{Json, UploadError};
use crate::engine::Engine;
use crate::core::retry::RetryPolicy;
use crate::protocols::Protocol;
use wasm_bindgen::JsValue;

/// Json → plain JS value (objects as objects, not Maps).
pub fn json_to_js(j: &Json) -> JsValue {
    use serde::Serialize;
    j.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

/// Runs a protocol that needs no file input and no progress (logins, listings), or one whose
/// file parts are `files`, through the shared engine.
pub async fn run_protocol(
    proto: Box<dyn Protocol>,
    files: Vec<web_sys::Blob>,
    retry: RetryPolicy,
    token_source: Option<js_sys::Function>,
) -> Result<Json, UploadError> {
    let engine = Engine::new(proto, retry, token_source.is_some());
    let shared = runner::Runner::new(engine, files, None, token_source);
    runner::drive(shared).await
}
