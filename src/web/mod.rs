//! The browser shell: the only code that knows about `JsValue`, `fetch` and timers.

pub mod env;
pub mod error;
pub mod integrity;
#[cfg(feature = "apivideo")]
pub mod apivideo;
#[cfg(feature = "cloudreve")]
pub mod cloudreve;
#[cfg(feature = "mangadex")]
pub mod mangadex;
pub mod options;
#[cfg(feature = "peertube")]
pub mod peertube;
pub mod persist;
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
    js_sys::JSON::parse(&j.to_json_string()).unwrap_or(JsValue::NULL)
}

/// What a JS-facing function prepares before any request: the protocol, its files, the retry
/// policy and the token source.
pub type Prepared = (Box<dyn Protocol>, Vec<web_sys::Blob>, RetryPolicy, Option<js_sys::Function>);

/// Validates synchronously (a rejected promise before any request), then runs the protocol.
#[inline(always)]
pub fn spawn_protocol<F>(build: F) -> js_sys::Promise
where
    F: FnOnce() -> Result<Prepared, UploadError>,
{
    spawn_prepared(build())
}

/// The non-generic part of [`spawn_protocol`]: one copy in the binary, whatever the call site.
#[inline(never)]
pub fn spawn_prepared(prepared: Result<Prepared, UploadError>) -> js_sys::Promise {
    match prepared {
        Err(e) => js_sys::Promise::reject(&error::to_js(e)),
        Ok((proto, blobs, retry, token_source)) => wasm_bindgen_futures::future_to_promise(async move {
            run_protocol(proto, blobs, retry, token_source).await.map(|j| json_to_js(&j)).map_err(error::to_js)
        }),
    }
}

/// The retry policy from `retryDelays`, or the default.
pub fn retry_policy(opts: &options::Options) -> Result<RetryPolicy, UploadError> {
    Ok(opts.retry_delays()?.map(RetryPolicy::new).unwrap_or_default())
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
