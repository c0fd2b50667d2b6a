//! Reliability in headless Chromium against the PeerTube fake: a stalled request (no progress
//! for `stallTimeout`) is aborted and retried; `offline` pauses and `online` resumes; and bad
//! input for every provider is refused by the constructor, before any request.
#![cfg(target_arch = "wasm32")]

#[path = "common/mod.rs"]
mod common;
use common::*;
use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const KB: usize = 1024;

async fn assert_stored(s: &Session, data: &[u8]) {
    let uploads = s.uploads().await;
    let done: Vec<JsValue> = uploads.iter().filter(|u| str_field(u, "state") == "complete").collect();
    assert_eq!(done.len(), 1, "one complete upload: {:?}", js_sys::JSON::stringify(&uploads));
    assert_eq!(num_field(&done[0], "received") as usize, data.len(), "size on the server");
    assert_eq!(str_field(&done[0], "sha256"), sha256_hex(data).await, "identical bytes on the server");
}

fn routes(log: &Array) -> Vec<String> {
    log.iter().map(|e| str_field(&e, "route")).collect()
}

fn dispatch(name: &str) {
    let target: web_sys::EventTarget = js_sys::global().unchecked_into();
    let ev = web_sys::Event::new(name).unwrap();
    target.dispatch_event(&ev).unwrap();
}

#[wasm_bindgen_test]
async fn a_stalled_chunk_is_aborted_and_retried() {
    let s = Session::new("{}").await;
    // The 3rd chunk gets no answer for 4 s: far longer than the 400 ms stall timeout.
    s.faults(r#"[{"route":"chunk","nth":3,"delayMs":4000}]"#).await;
    let data = bytes(320 * KB + 5, 71);
    let f = file(&data, "stall.mp4", "video/mp4");
    let o = pt_options(&s, r#""chunkSize":65536,"stallTimeout":400"#);
    let t0 = js_sys::Date::now();
    let up = new_upload(&f.into(), &o).unwrap();
    run(&up).await.expect("the upload completes after the stalled chunk is retried");
    // The upload moved on without the stalled request's answer: when run() is done, the fake has
    // not answered it (status still null), or logged 0 for a connection closed before it
    // answered (Chromium and Firefox close it on abort; WebKit may keep it open). Had the client
    // waited it out, the answer would have been logged before the client could read it.
    let log = s.log().await;
    let stalled: Vec<JsValue> = log.iter().filter(|e| num_field(e, "delayedMs") == 4000.0).collect();
    assert_eq!(stalled.len(), 1, "{:?}", js_sys::JSON::stringify(&log));
    let status = field(&stalled[0], "status");
    assert!(status.is_null() || status.as_f64() == Some(0.0), "the stalled chunk was aborted, not waited out: {:?}", js_sys::JSON::stringify(&log));
    // Let the delayed handler finish before looking at the server's state.
    sleep_ms(4300.0 - (js_sys::Date::now() - t0).min(4300.0)).await;
    assert_stored(&s, &data).await;
    let log = s.log().await;
    let faults: Vec<String> = log.iter().map(|e| str_field(&e, "fault")).filter(|f| !f.is_empty()).collect();
    assert_eq!(faults, vec!["delay:4000".to_string()], "{:?}", js_sys::JSON::stringify(&log));
    let r = routes(&log);
    let delayed = log.iter().position(|e| str_field(&e, "fault") == "delay:4000").unwrap();
    assert_eq!(r.get(delayed + 1).map(String::as_str), Some("offset"), "after the stall, the server is asked what it holds: {r:?}");
}

#[wasm_bindgen_test]
async fn stall_timeout_zero_waits_for_a_slow_answer() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","nth":2,"delayMs":1200}]"#).await;
    let data = bytes(200 * KB, 72);
    let f = file(&data, "slow.mp4", "video/mp4");
    let up = new_upload(&f.into(), &pt_options(&s, r#""chunkSize":65536,"stallTimeout":0"#)).unwrap();
    run(&up).await.expect("completes");
    assert_stored(&s, &data).await;
    let r = routes(&s.log().await);
    assert!(!r.contains(&"offset".to_string()), "no retry without a stall watchdog: {r:?}");
    // A slow answer within the timeout is no stall either.
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","nth":2,"delayMs":300}]"#).await;
    let up = new_upload(&file(&data, "slow.mp4", "video/mp4").into(), &pt_options(&s, r#""chunkSize":65536,"stallTimeout":5000"#)).unwrap();
    run(&up).await.expect("completes");
    assert!(!routes(&s.log().await).contains(&"offset".to_string()));
}

#[wasm_bindgen_test]
async fn offline_pauses_and_online_resumes() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","delayMs":80,"count":1000}]"#).await;
    let data = bytes(1280 * KB, 73);
    let f = file(&data, "net.mp4", "video/mp4");
    let o = pt_options(&s, r#""chunkSize":65536"#);
    let (events, _cb) = record_progress(&o);
    let up = new_upload(&f.into(), &o).unwrap();
    let p = up.start();
    sleep_ms(400.0).await;
    dispatch("offline");
    sleep_ms(400.0).await; // the in-flight chunk settles
    let n = s.log().await.length();
    sleep_ms(700.0).await;
    assert_eq!(s.log().await.length(), n, "no request while offline");
    let partial = s.uploads().await.get(0);
    assert!(num_field(&partial, "received") < data.len() as f64, "paused mid-way");
    dispatch("online");
    JsFuture::from(p).await.expect("finishes after online");
    assert_stored(&s, &data).await;
    let after = routes(&s.log().await).into_iter().skip(n as usize).collect::<Vec<_>>();
    assert_eq!(after[0], "offset", "online asks the server first: {after:?}");
    let loaded: Vec<f64> = events.iter().map(|p| Array::from(&p).get(0).as_f64().unwrap()).collect();
    assert!(loaded.windows(2).all(|w| w[1] >= w[0]), "loaded never decreases");
}

#[wasm_bindgen_test]
async fn a_page_pause_is_not_undone_by_online() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","delayMs":80,"count":1000}]"#).await;
    let data = bytes(640 * KB, 74);
    let up = new_upload(&file(&data, "p.mp4", "video/mp4").into(), &pt_options(&s, r#""chunkSize":65536"#)).unwrap();
    let p = up.start();
    sleep_ms(300.0).await;
    dispatch("offline");
    up.pause();
    dispatch("online");
    sleep_ms(400.0).await;
    let n = s.log().await.length();
    sleep_ms(500.0).await;
    assert_eq!(s.log().await.length(), n, "still paused by the page");
    up.resume();
    JsFuture::from(p).await.expect("finishes after resume");
    assert_stored(&s, &data).await;
}

// ---- bad input: a clear UploadError from the constructor, before any request --------------------

fn expect_invalid(input: &JsValue, o: &Object, what: &str) -> String {
    let err = match new_upload(input, o) {
        Ok(_) => panic!("accepted: {what}"),
        Err(e) => e,
    };
    assert_eq!(code(&err), "invalid-input", "{what}: {:?}", js_sys::JSON::stringify(&err));
    assert!(err.is_instance_of::<js_sys::Error>(), "{what}: instanceof Error");
    assert_eq!(str_field(&err, "name"), "UploadError", "{what}");
    let msg = str_field(&err, "message");
    assert!(!msg.is_empty(), "{what}: a message");
    msg
}

/// A valid options object per provider (the endpoints are never contacted).
fn valid(provider: &str) -> Object {
    let ep = peertube_url();
    options(&match provider {
        "peertube" => format!(r#"{{"provider":"peertube","endpoint":"{ep}","accessToken":"tok-123456","channelId":1}}"#),
        "peertube-import" => format!(r#"{{"provider":"peertube-import","endpoint":"{ep}","accessToken":"tok-123456","userId":1}}"#),
        "apivideo" => format!(r#"{{"provider":"apivideo","endpoint":"{ep}","uploadToken":"to1abcdef"}}"#),
        "cloudreve" => format!(r#"{{"provider":"cloudreve","endpoint":"{ep}","uri":"cloudreve://my/a.bin","accessToken":"tok-123456"}}"#),
        _ => format!(
            r#"{{"provider":"mangadex","endpoint":"{ep}","accessToken":"tok-123456","manga":"11111111-2222-4333-8444-555555555555","groups":[],"chapter":{{"volume":null,"chapter":"1","title":null,"translatedLanguage":"en"}}}}"#
        ),
    })
}

fn input_for(provider: &str) -> JsValue {
    match provider {
        "peertube-import" => file(&bytes(100, 1), "archive.zip", "application/zip").into(),
        "mangadex" => {
            let png = [0x89u8, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 10, 0, 0, 0, 10, 8, 6, 0, 0, 0];
            Array::of1(&file(&png, "p1.png", "image/png").into()).into()
        }
        _ => file(&bytes(100, 1), "a.mp4", "video/mp4").into(),
    }
}

const PROVIDERS: [&str; 5] = ["peertube", "peertube-import", "apivideo", "cloudreve", "mangadex"];

#[wasm_bindgen_test]
async fn bad_input_is_refused_for_every_provider() {
    let s = Session::new("{}").await;
    for p in PROVIDERS {
        // The valid baseline is accepted (nothing is sent by the constructor).
        new_upload(&input_for(p), &valid(p)).unwrap_or_else(|e| panic!("{p}: valid options refused: {:?}", js_sys::JSON::stringify(&e)));
        // Not a File / Blob / File[] / FileList.
        for (what, v) in [
            ("a number", JsValue::from(5)),
            ("a string", JsValue::from_str("a.mp4")),
            ("null", JsValue::NULL),
            ("undefined", JsValue::UNDEFINED),
            ("a plain object", Object::new().into()),
            ("an array of strings", Array::of1(&"x".into()).into()),
        ] {
            expect_invalid(&v, &valid(p), &format!("{p}: input {what}"));
        }
        // Options that are not an object.
        let err = new_upload(&input_for(p), &options("5")).err().expect("options 5");
        assert_eq!(code(&err), "invalid-input");
        // Absurd, negative, fractional, NaN, infinite or non-numeric chunk sizes.
        let nan = f64::NAN;
        for (what, v) in [
            ("-1", JsValue::from(-1.0)),
            ("0", JsValue::from(0.0)),
            ("1.5", JsValue::from(1.5)),
            ("NaN", JsValue::from(nan)),
            ("Infinity", JsValue::from(f64::INFINITY)),
            ("1e300", JsValue::from(1e300)),
            ("2^60", JsValue::from(2f64.powi(60))),
            ("a string", JsValue::from_str("8MB")),
            ("too small", JsValue::from(10.0)),
        ] {
            let o = valid(p);
            set(&o, "chunkSize", &v);
            expect_invalid(&input_for(p), &o, &format!("{p}: chunkSize {what}"));
        }
        // Invalid endpoints.
        for bad in ["ftp://x.example/", "http://", "javascript:alert(1)", "https://exa mple.com", "https://tube.example/?x=1", "https://tube.example/#f", "https://user:pw@tube.example"] {
            let o = valid(p);
            set(&o, "endpoint", &bad.into());
            expect_invalid(&input_for(p), &o, &format!("{p}: endpoint {bad:?}"));
        }
        // Bad retry delays and stall timeouts.
        for (key, v) in [
            ("retryDelays", JsValue::from_str("x")),
            ("retryDelays", Array::of1(&JsValue::from(-5.0)).into()),
            ("stallTimeout", JsValue::from(-1.0)),
            ("stallTimeout", JsValue::from(f64::NAN)),
            ("stallTimeout", JsValue::from_str("30s")),
            ("onProgress", JsValue::from(3)),
            ("signal", JsValue::from(3)),
        ] {
            let o = valid(p);
            set(&o, key, &v);
            expect_invalid(&input_for(p), &o, &format!("{p}: {key}"));
        }
    }
    // Empty files where the provider forbids them.
    for p in ["peertube", "peertube-import", "apivideo"] {
        let name = if p == "peertube-import" { "a.zip" } else { "a.mp4" };
        expect_invalid(&file(&[], name, "video/mp4").into(), &valid(p), &format!("{p}: empty file"));
    }
    expect_invalid(&Array::of1(&file(&[], "p.png", "image/png").into()).into(), &valid("mangadex"), "mangadex: empty page");
    expect_invalid(&Array::new().into(), &valid("mangadex"), "mangadex: no pages");
    for p in ["peertube", "apivideo", "cloudreve"] {
        expect_invalid(&Array::new().into(), &valid(p), &format!("{p}: no file"));
        let two = Array::of2(&file(&[1], "a.mp4", "video/mp4").into(), &file(&[2], "b.mp4", "video/mp4").into());
        expect_invalid(&two.into(), &valid(p), &format!("{p}: two files"));
    }
    // Sizes over the provider's limits (a sparse-looking Blob is not needed: MangaDex's per-image
    // limit is 20 MB, checked from the size alone).
    let big = vec![0u8; 21 * 1024 * 1024];
    let page = file(&big, "big.png", "image/png");
    expect_invalid(&Array::of1(&page.into()).into(), &valid("mangadex"), "mangadex: page over 20 MB");
    // Wrong type for a user import.
    expect_invalid(&file(&[1, 2], "a.tar", "application/x-tar").into(), &valid("peertube-import"), "import: not a zip");
    assert_eq!(s.log().await.length(), 0, "no request reached the server");
}

/// The shared options are read typed (serde-wasm-bindgen): a value of the wrong type still gets
/// a message that names the option and says what it takes.
#[wasm_bindgen_test]
async fn bad_shared_options_are_named_in_the_message() {
    let cyclic = Object::new();
    set(&cyclic, "self", &cyclic);
    let set_of_delays = js_sys::Set::new(&Array::of1(&JsValue::from(5.0)));
    for p in PROVIDERS {
        for (key, v, expected) in [
            ("chunkSize", JsValue::from_str("8MB"), "chunkSize must be a positive integer number of bytes"),
            ("chunkSize", JsValue::from(f64::NAN), "chunkSize must be a positive integer number of bytes"),
            ("retryDelays", JsValue::from_str("x"), "retryDelays must be an array"),
            ("retryDelays", JsValue::from_str(""), "retryDelays must be an array"),
            ("retryDelays", set_of_delays.clone().into(), "retryDelays must be an array"),
            ("retryDelays", Array::of1(&JsValue::from_str("1s")).into(), "retryDelays must be an array of delays in ms (0 to 3600000)"),
            ("retryDelays", Array::of1(&JsValue::from(f64::INFINITY)).into(), "retryDelays must be an array of delays in ms (0 to 3600000)"),
            ("stallTimeout", JsValue::from_str("30s"), "stallTimeout must be a number of ms between 0 (off) and 86400000"),
            ("stallTimeout", JsValue::from(f64::INFINITY), "stallTimeout must be a number of ms between 0 (off) and 86400000"),
            ("integrity", JsValue::from_str("yes"), "integrity must be true or false"),
            ("user", JsValue::from(5), "user must be a string"),
            ("endpoint", JsValue::from(5), "endpoint must be a string"),
            ("endpoint", JsValue::from_str(""), "endpoint is required"),
            ("extra", cyclic.clone().into(), "option \"extra\" is not plain data"),
        ] {
            if p == "apivideo" && key == "endpoint" {
                continue; // api.video has a default endpoint
            }
            let o = valid(p);
            set(&o, key, &v);
            let msg = expect_invalid(&input_for(p), &o, &format!("{p}: {key}"));
            assert_eq!(msg, expected, "{p}: {key}");
        }
        // Several bad shared options: the first one checked is named (chunkSize before the others).
        let o = valid(p);
        set(&o, "stallTimeout", &"x".into());
        set(&o, "chunkSize", &"x".into());
        let msg = expect_invalid(&input_for(p), &o, &format!("{p}: two bad options"));
        assert!(msg.starts_with("chunkSize"), "{p}: {msg}");
        // A store of the page's own (an object with methods) is no plain data, and is accepted.
        let o = valid(p);
        let store = Object::new();
        for m in ["getItem", "setItem", "removeItem"] {
            set(&store, m, &js_sys::Function::new_no_args("return null"));
        }
        set(&o, "storage", &store);
        set(&o, "integrity", &JsValue::TRUE);
        set(&o, "retryDelays", &Array::of1(&JsValue::from(0.0)));
        new_upload(&input_for(p), &o).unwrap_or_else(|e| panic!("{p}: {:?}", js_sys::JSON::stringify(&e)));
    }
}

#[wasm_bindgen_test]
async fn start_twice_is_refused_for_every_provider() {
    for p in PROVIDERS {
        let o = valid(p);
        set(&o, "retryDelays", &Array::new().into());
        let up = new_upload(&input_for(p), &o).unwrap();
        let first = up.start();
        let err = JsFuture::from(up.start()).await.expect_err("second start rejects");
        assert_eq!(code(&err), "invalid-input", "{p}");
        assert!(str_field(&err, "message").contains("already"), "{p}");
        let _ = JsFuture::from(up.abort()).await;
        let _ = JsFuture::from(first).await;
    }
}

#[wasm_bindgen_test]
async fn a_wrong_image_type_for_mangadex_fails_before_any_request() {
    let s = Session::new("{}").await;
    let o = valid("mangadex");
    let pdf = file(b"%PDF-1.7 not an image", "page.png", "image/png");
    let up = new_upload(&Array::of1(&pdf.into()).into(), &o).unwrap();
    let err = run(&up).await.expect_err("refused");
    assert_eq!(code(&err), "invalid-input", "{:?}", js_sys::JSON::stringify(&err));
    assert!(str_field(&err, "message").contains("PDF"), "{}", str_field(&err, "message"));
    assert_eq!(s.log().await.length(), 0, "no request sent");
}

#[wasm_bindgen_test]
async fn progress_reaches_the_page_at_most_once_per_50_ms_plus_the_final_value() {
    // 32 chunks on loopback are confirmed a few ms apart (and WebKit fires an upload progress
    // event every 8 KiB): without coalescing the page would be called for each.
    let s = Session::new("{}").await;
    let data = bytes(2048 * KB, 91);
    let f = file(&data, "rate.mp4", "video/mp4");
    let o = pt_options(&s, r#""chunkSize":65536"#);
    let times = Array::new();
    let loaded = Array::new();
    let (t2, l2) = (times.clone(), loaded.clone());
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| {
        t2.push(&js_sys::Date::now().into());
        l2.push(&field(&p, "loaded"));
    });
    set(&o, "onProgress", cb.as_ref());
    let began = js_sys::Date::now();
    run(&new_upload(&f.into(), &o).unwrap()).await.expect("uploaded");
    let ended = js_sys::Date::now();
    assert_stored(&s, &data).await;
    let t: Vec<f64> = times.iter().map(|v| v.as_f64().unwrap()).collect();
    let l: Vec<f64> = loaded.iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(l.last().copied(), Some(data.len() as f64), "the final value is reported");
    assert!(l.windows(2).all(|w| w[1] > w[0]), "each report has news: {l:?}");
    // The library decides to report at least 50 ms after its last report (core::progress, tested
    // natively to the millisecond), but the page's callback may run a little after that decision
    // on a loaded machine, so the times the page sees are not compared pairwise. What load cannot
    // bend: all decisions fall inside the upload, so n reports need (n - 2) * 50 ms of it (the
    // first and the final value go at once).
    let n = t.len();
    assert!(n >= 2, "at least the first and the final report: {t:?}");
    let bound = ((ended - began) / 50.0).floor() as usize + 2;
    assert!(n <= bound, "{n} reports in {} ms (at most {bound}): {t:?}", ended - began);
}
