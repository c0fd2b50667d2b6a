//! The browser shell: the only code that knows about `JsValue`, `fetch` and timers.

mod alloc;
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

/// A future the browser layer hands to wasm-bindgen-futures, boxed.
type LocalFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T>>>;

/// `future_to_promise`, through one boxed instance: wasm-bindgen-futures' task and promise
/// machinery is then in the binary once instead of once per future type.
#[inline(always)]
pub fn future_to_promise<F: std::future::Future<Output = Result<JsValue, JsValue>> + 'static>(f: F) -> js_sys::Promise {
    promise_boxed(Box::pin(f))
}

#[inline(never)]
fn promise_boxed(f: LocalFuture<Result<JsValue, JsValue>>) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(f)
}

/// `spawn_local`, through one boxed instance (see [`future_to_promise`]).
#[inline(always)]
pub fn spawn_local<F: std::future::Future<Output = ()> + 'static>(f: F) {
    spawn_boxed(Box::pin(f))
}

#[inline(never)]
fn spawn_boxed(f: LocalFuture<()>) {
    wasm_bindgen_futures::spawn_local(f)
}

/// `RefCell` borrows through one non-inlined function per cell type: a borrow conflict (a bug)
/// still panics, but the binary holds one panic location per type instead of one per call site.
pub trait Lock<T> {
    /// `borrow()`.
    fn read(&self) -> std::cell::Ref<'_, T>;
    /// `borrow_mut()`.
    fn write(&self) -> std::cell::RefMut<'_, T>;
}

impl<T> Lock<T> for std::cell::RefCell<T> {
    #[inline(never)]
    fn read(&self) -> std::cell::Ref<'_, T> {
        self.borrow()
    }
    #[inline(never)]
    fn write(&self) -> std::cell::RefMut<'_, T> {
        self.borrow_mut()
    }
}

/// Json → plain JS value (objects as objects, not Maps; null, not undefined), directly with
/// serde-wasm-bindgen (no JSON text in between).
pub fn json_to_js(j: &Json) -> JsValue {
    use serde::Serialize as _;
    j.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

/// What a JS-facing function prepares before any request: the protocol, its files, the retry
/// policy and the token source.
pub type Prepared = (Box<dyn Protocol>, Vec<web_sys::Blob>, RetryPolicy, Option<js_sys::Function>);

/// What a one-request helper builds from its parsed options: the protocol and the files it sends.
pub type Parts = (Box<dyn Protocol>, Vec<web_sys::Blob>);

/// The body every one-request JS helper (token calls, listings, captions, images…) shares:
/// parses `options` (errors name `provider`), lets `build` make the protocol from them, reads
/// `retryDelays` and, when `refreshable`, `getAccessToken`, in that order; a validation error
/// rejects the promise before any request. One copy in the binary: each JS-visible function is a
/// thin wrapper that passes its own `build`.
#[inline(never)]
pub fn one_shot(
    options: &JsValue,
    provider: &'static str,
    refreshable: bool,
    build: &dyn Fn(&options::Options) -> Result<Parts, UploadError>,
) -> js_sys::Promise {
    spawn_prepared((|| {
        let o = options::Options::parse(options, provider)?;
        let (proto, files) = build(&o)?;
        let retry = retry_policy(&o)?;
        let token_source = if refreshable { o.function("getAccessToken")? } else { None };
        Ok((proto, files, retry, token_source))
    })())
}

/// Rejects with the validation error, or runs the prepared protocol: one copy in the binary.
#[inline(never)]
pub fn spawn_prepared(prepared: Result<Prepared, UploadError>) -> js_sys::Promise {
    match prepared {
        Err(e) => js_sys::Promise::reject(&error::to_js(e)),
        Ok((proto, blobs, retry, token_source)) => {
            let engine = Engine::new(proto, retry, token_source.is_some());
            drive_promise(runner::Runner::new(engine, blobs, None, token_source))
        }
    }
}

/// Runs an upload or request to its end: resolves with its result as a JS value, rejects with
/// `UploadError`. One copy for `start()`, `ProgressiveUpload` and the one-request helpers.
#[inline(never)]
pub fn drive_promise(shared: runner::Shared) -> js_sys::Promise {
    future_to_promise(async move { runner::drive(shared).await.map(|j| json_to_js(&j)).map_err(error::to_js) })
}

/// Aborts an upload; resolves (with undefined) once its cleanup requests have been answered.
#[inline(never)]
pub fn abort_promise(shared: runner::Shared) -> js_sys::Promise {
    future_to_promise(async move {
        runner::abort(shared).await;
        Ok(JsValue::UNDEFINED)
    })
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
