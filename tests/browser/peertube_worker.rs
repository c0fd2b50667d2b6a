//! The same PeerTube upload inside a dedicated Web Worker (wasm-bindgen-test runs this whole binary
//! in a worker): Blob slicing, fetch/XHR transport, timers and the JS API must not need `window`.
#![cfg(target_arch = "wasm32")]

#[path = "common/mod.rs"]
mod common;
use common::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
async fn uploads_from_a_dedicated_worker() {
    assert!(js_sys::Reflect::has(&js_sys::global(), &"WorkerGlobalScope".into()).unwrap(), "runs in a worker");
    assert!(!js_sys::Reflect::has(&js_sys::global(), &"window".into()).unwrap());
    let s = Session::new(r#"{"user":"alice"}"#).await;
    s.faults(r#"[{"route":"chunk","nth":2,"status":503,"headers":{"Retry-After":"1"}}]"#).await;
    let data = bytes(700 * 1024 + 3, 42);
    let f = file(&data, "worker.mp4", "video/mp4");
    let o = options(&format!(
        r#"{{"provider":"peertube","endpoint":"{}","accessToken":"{}","channelId":{},"chunkSize":262144,"retryDelays":[50]}}"#,
        peertube_url(),
        s.token,
        s.channel_id
    ));
    let (events, _cb) = record_progress(&o);
    let up = new_upload(&f.into(), &o).unwrap();
    let result = run(&up).await.expect("upload from a worker succeeds");
    assert!(field(&field(&result, "video"), "uuid").is_string());
    let u = s.uploads().await.get(0);
    assert_eq!(str_field(&u, "state"), "complete");
    assert_eq!(str_field(&u, "sha256"), sha256_hex(&data).await);
    let last = js_sys::Array::from(&events.get(events.length() - 1));
    assert_eq!(last.get(0).as_f64(), Some(data.len() as f64));
    let routes: Vec<String> = s.log().await.iter().map(|e| str_field(&e, "route")).collect();
    assert_eq!(routes, ["init", "chunk", "chunk", "offset", "chunk", "chunk"]);
}

#[wasm_bindgen_test]
async fn validation_and_abort_work_in_a_worker() {
    let f = file(&bytes(10, 1), "a.mp4", "video/mp4");
    let err = new_upload(&f.clone().into(), &options(r#"{"provider":"peertube"}"#)).err().expect("invalid");
    assert_eq!(code(&err), "invalid-input");
    assert!(err.is_instance_of::<js_sys::Error>());
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","delayMs":200,"count":100}]"#).await;
    let data = bytes(512 * 1024, 43);
    let f = file(&data, "a.mp4", "video/mp4");
    let o = options(&format!(
        r#"{{"provider":"peertube","endpoint":"{}","accessToken":"{}","channelId":{},"chunkSize":65536}}"#,
        peertube_url(),
        s.token,
        s.channel_id
    ));
    let up = new_upload(&f.into(), &o).unwrap();
    let p = up.start();
    sleep_ms(300.0).await;
    wasm_bindgen_futures::JsFuture::from(up.abort()).await.expect("abort");
    let err = wasm_bindgen_futures::JsFuture::from(p).await.expect_err("aborted");
    assert_eq!(code(&err), "aborted");
    assert_eq!(str_field(&s.uploads().await.get(0), "state"), "deleted");
}
