//! PeerTube resumable upload against the uploadx-backed fake, in headless Chromium.
#![cfg(target_arch = "wasm32")]

#[path = "common/mod.rs"]
mod common;
use common::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn uploads_identical_bytes_in_chunks() {
    let s = Session::new(r#"{"user":"alice"}"#).await;
    let data = bytes(300 * 1024 + 17, 1);
    let f = file(&data, "clip.mp4", "video/mp4");
    let o = options(&format!(
        r#"{{"provider":"peertube","endpoint":"{}","accessToken":"{}","channelId":{},"chunkSize":65536}}"#,
        peertube_url(), s.token, s.channel_id
    ));
    let (events, _cb) = record_progress(&o);
    let up = new_upload(&f.into(), &o).unwrap();
    let result = run(&up).await.expect("upload succeeds");
    assert!(field(&field(&result, "video"), "uuid").is_string(), "result has video.uuid");
    let uploads = s.uploads().await;
    assert_eq!(uploads.length(), 1);
    let u = uploads.get(0);
    assert_eq!(str_field(&u, "state"), "complete");
    assert_eq!(str_field(&u, "sha256"), sha256_hex(&data).await);
    assert_eq!(num_field(&u, "size") as usize, data.len());
    let last = events.get(events.length() - 1);
    assert_eq!(js_sys::Array::from(&last).get(0).as_f64(), Some(data.len() as f64));
    let log = s.log().await;
    // init + 5 chunks (4 × 64 KiB + 1 remainder)
    let methods: Vec<String> = log.iter().map(|e| str_field(&e, "method")).collect();
    assert_eq!(methods, ["POST", "PUT", "PUT", "PUT", "PUT", "PUT"], "{:?}", methods);
    let _ = JsValue::NULL;
}
