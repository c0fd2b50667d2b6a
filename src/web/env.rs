//! The page's clocks, timers and Blob reads: the one place the shell asks the environment for
//! time or file bytes (the runner, integrity hashing and persistence all use it).

use super::transport::js_message;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: f64) -> JsValue;
}

/// Wall-clock time in ms since the epoch (`Date.now()`): what the engine, retries, progress and
/// resume records count in.
pub fn now() -> f64 {
    js_sys::Date::now()
}

/// A monotonic clock in ms (`performance.now()`, else `Date.now()`), for measuring how long a
/// piece of work held the thread.
pub fn monotonic() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .filter(|p| p.is_object())
        .and_then(|p| {
            let f = js_sys::Reflect::get(&p, &"now".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
            f.call0(&p).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

/// Resolves after `ms` (a `setTimeout`).
pub async fn sleep(ms: f64) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        let _ = set_timeout(&resolve, ms.max(0.0));
    });
    let _ = JsFuture::from(p).await;
}

/// Gives the page a turn: a fresh task through a `MessageChannel` (queued behind timers, input
/// and rendering like any task, and without the 4 ms clamp of nested `setTimeout`s), else a
/// `setTimeout`. (`scheduler.yield()` is not used: its continuation runs ahead of the page's own
/// tasks, so timers would still starve.)
pub async fn yield_now() {
    match message_turn() {
        Some(p) => {
            let _ = JsFuture::from(p).await;
        }
        None => sleep(0.0).await,
    }
}

fn message_turn() -> Option<js_sys::Promise> {
    let ctor = js_sys::Reflect::get(&js_sys::global(), &"MessageChannel".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
    let channel = js_sys::Reflect::construct(&ctor, &js_sys::Array::new()).ok()?;
    let port1 = js_sys::Reflect::get(&channel, &"port1".into()).ok()?;
    let port2 = js_sys::Reflect::get(&channel, &"port2".into()).ok()?;
    let post = js_sys::Reflect::get(&port2, &"postMessage".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
    let mut ok = true;
    let p = js_sys::Promise::new(&mut |resolve, _| {
        ok = js_sys::Reflect::set(&port1, &"onmessage".into(), &resolve).is_ok() && post.call1(&port2, &JsValue::NULL).is_ok();
    });
    ok.then_some(p)
}

/// Bytes `start..end` of `blob`, read from the browser's Blob store (only this range).
pub async fn read(blob: &Blob, start: f64, end: f64) -> Result<js_sys::Uint8Array, String> {
    let part = blob.slice_with_f64_and_f64_and_content_type(start, end, "").map_err(|e| js_message(&e))?;
    let buf = JsFuture::from(part.array_buffer()).await.map_err(|e| js_message(&e))?;
    Ok(js_sys::Uint8Array::new(&buf))
}
