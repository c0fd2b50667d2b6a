//! PeerTube against the uploadx-backed fake, in headless Chromium (cross-origin: the page is served
//! by wasm-bindgen-test-runner, the fake listens on another port).
#![cfg(target_arch = "wasm32")]

#[path = "common/mod.rs"]
mod common;
use common::*;
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const KB: usize = 1024;
const MB: usize = 1024 * 1024;

fn entries(log: &Array) -> Vec<(String, String, f64, String)> {
    log.iter()
        .map(|e| (str_field(&e, "method"), str_field(&e, "route"), num_field(&e, "status"), str_field(&e, "contentRange")))
        .collect()
}

fn routes(log: &Array) -> Vec<String> {
    log.iter().map(|e| str_field(&e, "route")).collect()
}

async fn assert_stored(s: &Session, data: &[u8]) -> JsValue {
    let uploads = s.uploads().await;
    let done: Vec<JsValue> = uploads.iter().filter(|u| str_field(u, "state") == "complete").collect();
    assert_eq!(done.len(), 1, "one complete upload: {:?}", js_sys::JSON::stringify(&uploads));
    let u = done[0].clone();
    assert_eq!(num_field(&u, "received") as usize, data.len(), "size on the server");
    assert_eq!(str_field(&u, "sha256"), sha256_hex(data).await, "bytes on the server");
    u
}

fn progress_pairs(events: &Array) -> Vec<(f64, f64)> {
    events.iter().map(|p| { let a = Array::from(&p); (a.get(0).as_f64().unwrap(), a.get(1).as_f64().unwrap()) }).collect()
}

fn assert_progress(events: &Array, total: usize) {
    let pairs = progress_pairs(events);
    assert!(!pairs.is_empty(), "progress was reported");
    for w in pairs.windows(2) {
        assert!(w[1].0 >= w[0].0, "loaded never decreases: {:?}", pairs);
    }
    for (loaded, t) in &pairs {
        assert_eq!(*t, total as f64, "total is the file size");
        assert!(*loaded <= total as f64);
    }
    assert_eq!(pairs.last().unwrap().0, total as f64, "ends at total");
}

async fn expect_err(up: &chunkup::web::upload::Upload) -> JsValue {
    run(up).await.expect_err("upload must fail")
}

#[wasm_bindgen_test]
async fn uploads_identical_bytes_in_chunks() {
    let s = Session::new(r#"{"user":"alice"}"#).await;
    let data = bytes(300 * KB + 17, 1);
    let f = file(&data, "clip.mp4", "video/mp4");
    let o = pt_options(&s, r#""chunkSize":65536"#);
    let (events, _cb) = record_progress(&o);
    let up = new_upload(&f.into(), &o).unwrap();
    let result = run(&up).await.expect("upload succeeds");
    let video = field(&result, "video");
    assert!(field(&video, "uuid").is_string() && field(&video, "shortUUID").is_string() && field(&video, "id").as_f64().is_some());
    let u = assert_stored(&s, &data).await;
    // The init body: name defaults to the file name, filename, channelId, lastModified.
    let meta = field(&u, "metadata");
    assert_eq!(str_field(&meta, "name"), "clip.mp4");
    assert_eq!(str_field(&meta, "filename"), "clip.mp4");
    assert_eq!(num_field(&meta, "channelId") as u64, s.channel_id);
    assert_eq!(num_field(&meta, "lastModified"), 1_700_000_000_000.0);
    assert_progress(&events, data.len());
    let log = s.log().await;
    let init = log.get(0);
    assert_eq!(str_field(&init, "xUploadContentLength"), data.len().to_string());
    assert_eq!(str_field(&init, "xUploadContentType"), "video/mp4");
    assert_eq!(num_field(&init, "status"), 201.0);
    let e = entries(&log);
    let total = data.len();
    let mut expected = vec![("POST".to_string(), "init".to_string(), 201.0, String::new())];
    let mut start = 0;
    while start < total {
        let end = (start + 65536).min(total);
        let status = if end == total { 200.0 } else { 308.0 };
        expected.push(("PUT".into(), "chunk".into(), status, format!("bytes {}-{}/{}", start, end - 1, total)));
        start = end;
    }
    assert_eq!(e, expected);
}

#[wasm_bindgen_test]
async fn sends_the_optional_video_fields() {
    let s = Session::new(r#"{"user":"bob"}"#).await;
    let data = bytes(10 * KB, 2);
    let f = file(&data, "holiday.webm", "video/webm");
    let o = pt_options(&s, r#""name":"My holiday","privacy":2,"nsfw":false,"tags":["sea","sun"],"description":"A week by the sea""#);
    let up = new_upload(&f.into(), &o).unwrap();
    run(&up).await.expect("upload succeeds");
    let u = assert_stored(&s, &data).await;
    let meta = field(&u, "metadata");
    assert_eq!(str_field(&meta, "name"), "My holiday");
    assert_eq!(num_field(&meta, "privacy"), 2.0);
    assert_eq!(Array::from(&field(&meta, "tags")).length(), 2, "{:?}", js_sys::JSON::stringify(&meta));
    assert_eq!(str_field(&meta, "filename"), "holiday.webm");
}

/// The "done means" upload: 50 MiB in 1 MiB chunks, one fault of each kind on the way.
#[wasm_bindgen_test]
async fn fifty_mib_survives_one_fault_of_each_kind() {
    let s = Session::new(r#"{"user":"alice"}"#).await;
    s.faults(
        r#"[{"route":"chunk","nth":3,"status":500},
            {"route":"chunk","nth":8,"status":503,"headers":{"Retry-After":"1"}},
            {"route":"chunk","nth":13,"status":429,"headers":{"Retry-After":"1"}},
            {"route":"chunk","nth":18,"drop":true,"afterBytes":100000},
            {"route":"chunk","nth":23,"drop":true,"keepPartial":true,"afterBytes":300000},
            {"route":"chunk","nth":28,"drop":true,"afterResponse":true},
            {"route":"chunk","nth":33,"delayMs":1500},
            {"route":"offset","nth":2,"status":502}]"#,
    )
    .await;
    let data = bytes(50 * MB, 3);
    let f = file(&data, "big.mp4", "video/mp4");
    let o = pt_options(&s, &format!(r#""chunkSize":{}"#, MB));
    let (events, _cb) = record_progress(&o);
    let up = new_upload(&f.into(), &o).unwrap();
    run(&up).await.expect("upload survives the faults");
    assert_stored(&s, &data).await;
    assert_progress(&events, data.len());
    let log = s.log().await;
    let faults: Vec<String> = log.iter().map(|e| str_field(&e, "fault")).filter(|f| !f.is_empty()).collect();
    for want in ["status:500", "status:503", "status:429", "drop", "drop-partial", "drop-after-response", "delay:1500", "status:502"] {
        assert!(faults.iter().any(|f| f == want), "{want} fired: {faults:?}");
    }
    // After every failed chunk the next request asks the offset, and chunks restart exactly there.
    let r = entries(&log);
    for (i, (_, route, status, _)) in r.iter().enumerate() {
        if route == "chunk" && (*status == 0.0 || *status >= 400.0) {
            assert_eq!(r[i + 1].1, "offset", "request after failed chunk #{i}: {:?}", r[i + 1]);
        }
    }
}

#[wasm_bindgen_test]
async fn after_a_failed_chunk_continues_from_the_server_offset() {
    let s = Session::new("{}").await;
    // The server keeps 10 000 bytes of the 2nd chunk, then the connection dies.
    s.faults(r#"[{"route":"chunk","nth":2,"drop":true,"keepPartial":true,"afterBytes":10000}]"#).await;
    let data = bytes(256 * KB, 4);
    let f = file(&data, "a.mp4", "video/mp4");
    let up = new_upload(&f.into(), &pt_options(&s, r#""chunkSize":65536"#)).unwrap();
    run(&up).await.expect("upload succeeds");
    assert_stored(&s, &data).await;
    let log = s.log().await;
    let e = entries(&log);
    assert_eq!(e[2].1, "chunk");
    assert_eq!(e[3].0, "PUT");
    assert_eq!(e[3].1, "offset");
    assert_eq!(e[3].3, format!("bytes */{}", data.len()));
    // The server stored 65536 + 10000 bytes: the next chunk starts there, not at 65536.
    assert_eq!(e[4].3, format!("bytes {}-{}/{}", 65536 + 10000, 65536 + 10000 + 65536 - 1, data.len()));
}

#[wasm_bindgen_test]
async fn each_retryable_status_is_retried() {
    for status in [500, 502, 503, 504, 408, 429] {
        let s = Session::new("{}").await;
        s.faults(&format!(r#"[{{"route":"chunk","nth":2,"status":{status}}}]"#)).await;
        let data = bytes(150 * KB, status as u64);
        let f = file(&data, "a.mp4", "video/mp4");
        let up = new_upload(&f.into(), &pt_options(&s, r#""chunkSize":65536"#)).unwrap();
        run(&up).await.unwrap_or_else(|e| panic!("status {status}: {:?}", js_sys::JSON::stringify(&e)));
        assert_stored(&s, &data).await;
        let r = routes(&s.log().await);
        assert_eq!(r, ["init", "chunk", "chunk", "offset", "chunk", "chunk"], "status {status}: {:?}", js_sys::JSON::stringify(&s.log().await.into()));
    }
}

#[wasm_bindgen_test]
async fn retry_after_is_honoured() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","nth":1,"status":503,"headers":{"Retry-After":"2"}}]"#).await;
    let data = bytes(20 * KB, 5);
    let f = file(&data, "a.mp4", "video/mp4");
    let up = new_upload(&f.into(), &pt_options(&s, "")).unwrap();
    let t0 = js_sys::Date::now();
    run(&up).await.expect("upload succeeds");
    let waited = js_sys::Date::now() - t0;
    assert!(waited >= 1900.0, "waited {waited} ms for Retry-After: 2");
    assert_stored(&s, &data).await;
}

#[wasm_bindgen_test]
async fn no_retry_with_empty_retry_delays() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","nth":1,"status":500}]"#).await;
    let data = bytes(20 * KB, 6);
    let f = file(&data, "a.mp4", "video/mp4");
    let o = pt_options(&s, "");
    set(&o, "retryDelays", &Array::new());
    let up = new_upload(&f.into(), &o).unwrap();
    let err = expect_err(&up).await;
    assert_eq!(code(&err), "http");
    assert_eq!(num_field(&err, "status"), 500.0);
    assert_eq!(field(&err, "retryable").as_bool(), Some(true));
    assert_eq!(str_field(&err, "provider"), "peertube");
    let chunks = routes(&s.log().await).iter().filter(|r| *r == "chunk").count();
    assert_eq!(chunks, 1, "no second attempt");
}

#[wasm_bindgen_test]
async fn a_client_error_is_not_retried() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","nth":1,"status":400,"body":{"status":400,"detail":"Bad chunk"}}]"#).await;
    let data = bytes(20 * KB, 7);
    let f = file(&data, "a.mp4", "video/mp4");
    let up = new_upload(&f.into(), &pt_options(&s, "")).unwrap();
    let err = expect_err(&up).await;
    assert_eq!(num_field(&err, "status"), 400.0);
    assert_eq!(field(&err, "retryable").as_bool(), Some(false));
    assert!(str_field(&err, "message").contains("Bad chunk"), "{}", str_field(&err, "message"));
    let chunks = routes(&s.log().await).iter().filter(|r| *r == "chunk").count();
    assert_eq!(chunks, 1, "a 400 is not retried");
}

#[wasm_bindgen_test]
async fn errors_map_to_clear_codes() {
    // 415: not a video type.
    let s = Session::new("{}").await;
    let f = file(&bytes(1000, 8), "notes.txt", "text/plain");
    let err = expect_err(&new_upload(&f.clone().into(), &pt_options(&s, "")).unwrap()).await;
    assert_eq!((code(&err), num_field(&err, "status")), ("unsupported-type".to_string(), 415.0));
    assert!(str_field(&err, "message").contains("not supported"), "{}", str_field(&err, "message"));
    // 413: over the instance's max file size.
    let s = Session::new(r#"{"maxFileSize":1000}"#).await;
    let f = file(&bytes(5000, 8), "a.mp4", "video/mp4");
    let err = expect_err(&new_upload(&f.clone().into(), &pt_options(&s, "")).unwrap()).await;
    assert_eq!((code(&err), num_field(&err, "status")), ("too-large".to_string(), 413.0));
    // 413 quota_reached.
    let s = Session::new(r#"{"quota":1000}"#).await;
    let err = expect_err(&new_upload(&f.clone().into(), &pt_options(&s, "")).unwrap()).await;
    assert_eq!((code(&err), num_field(&err, "status")), ("quota".to_string(), 413.0));
    assert_eq!(field(&err, "retryable").as_bool(), Some(false));
    // 401 without a way to refresh: auth, and the token never shows in the message.
    let s = Session::new("{}").await;
    s.expire_token().await;
    let err = expect_err(&new_upload(&f.clone().into(), &pt_options(&s, "")).unwrap()).await;
    assert_eq!((code(&err), num_field(&err, "status")), ("auth".to_string(), 401.0));
    assert!(!str_field(&err, "message").contains(&s.token));
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(str_field(&err, "name"), "UploadError");
    // Unknown channel: 400/404 from the server, not retried.
    let s = Session::new("{}").await;
    let o = pt_options(&s, "");
    set(&o, "channelId", &JsValue::from(9999));
    let err = expect_err(&new_upload(&f.clone().into(), &o).unwrap()).await;
    assert!(num_field(&err, "status") >= 400.0 && num_field(&err, "status") < 500.0);
    assert_eq!(field(&err, "retryable").as_bool(), Some(false));
}

#[wasm_bindgen_test]
async fn a_401_mid_upload_asks_the_page_for_a_token_and_continues() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","delayMs":150,"count":100}]"#).await;
    let data = bytes(640 * KB, 9);
    let f = file(&data, "a.mp4", "video/mp4");
    let o = pt_options(&s, r#""chunkSize":65536"#);
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let id = s.id.clone();
    let c = calls.clone();
    let cb = Closure::<dyn FnMut() -> Promise>::new(move || {
        c.set(c.get() + 1);
        let id = id.clone();
        future_to_promise(async move {
            let v = control(peertube_url(), "POST", &format!("/__control/session/{id}/new-token"), None).await;
            Ok(field(&v, "token"))
        })
    });
    set(&o, "getAccessToken", cb.as_ref());
    let up = new_upload(&f.into(), &o).unwrap();
    let p = up.start();
    sleep_ms(500.0).await;
    s.expire_token().await;
    JsFuture::from(p).await.expect("continues with the new token");
    assert_eq!(calls.get(), 1, "asked the page once");
    assert_stored(&s, &data).await;
    let statuses: Vec<f64> = s.log().await.iter().map(|e| num_field(&e, "status")).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 401.0).count(), 1, "{statuses:?}");
}

#[wasm_bindgen_test]
async fn pause_stops_requests_and_resume_continues_from_the_server_offset() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","delayMs":100,"count":100}]"#).await;
    let data = bytes(1280 * KB, 10);
    let f = file(&data, "a.mp4", "video/mp4");
    let o = pt_options(&s, r#""chunkSize":65536"#);
    let (events, _cb) = record_progress(&o);
    let up = new_upload(&f.into(), &o).unwrap();
    let p = up.start();
    sleep_ms(450.0).await;
    up.pause();
    sleep_ms(400.0).await; // the in-flight chunk settles
    let n = s.log().await.length();
    sleep_ms(600.0).await;
    assert_eq!(s.log().await.length(), n, "no request while paused");
    let partial = s.uploads().await.get(0);
    assert_eq!(str_field(&partial, "state"), "partial");
    assert!(num_field(&partial, "received") < data.len() as f64);
    up.resume();
    JsFuture::from(p).await.expect("finishes after resume");
    assert_stored(&s, &data).await;
    assert_progress(&events, data.len());
    let log = s.log().await;
    let after: Vec<String> = log.iter().skip(n as usize).map(|e| str_field(&e, "route")).collect();
    assert_eq!(after[0], "offset", "resume asks the server first: {after:?}");
}

/// Until the server holds the upload's session (read from the fake, not a fixed wait: a loaded
/// machine may take longer than any guess to send the init).
async fn wait_for_session(s: &Session) {
    for _ in 0..400 {
        if s.uploads().await.length() > 0 {
            return;
        }
        sleep_ms(25.0).await;
    }
    panic!("no upload session on the server after 10 s");
}

#[wasm_bindgen_test]
async fn abort_cancels_the_session_on_the_server() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","delayMs":100,"count":100}]"#).await;
    let data = bytes(1280 * KB, 11);
    let f = file(&data, "a.mp4", "video/mp4");
    let up = new_upload(&f.into(), &pt_options(&s, r#""chunkSize":65536"#)).unwrap();
    let p = up.start();
    wait_for_session(&s).await;
    JsFuture::from(up.abort()).await.expect("abort resolves");
    let err = JsFuture::from(p).await.expect_err("start rejects");
    assert_eq!(code(&err), "aborted");
    let log = s.log().await;
    assert!(log.iter().any(|e| str_field(&e, "method") == "DELETE" && num_field(&e, "status") == 204.0), "DELETE sent");
    let u = s.uploads().await.get(0);
    assert_eq!(str_field(&u, "state"), "deleted");
    // Nothing is sent after the DELETE.
    sleep_ms(300.0).await;
    let last = s.log().await;
    assert_eq!(str_field(&last.get(last.length() - 1), "method"), "DELETE");
}

#[wasm_bindgen_test]
async fn an_abort_signal_works_like_abort() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","delayMs":100,"count":100}]"#).await;
    let data = bytes(640 * KB, 12);
    let f = file(&data, "a.mp4", "video/mp4");
    let o = pt_options(&s, r#""chunkSize":65536"#);
    let ctl = web_sys::AbortController::new().unwrap();
    set(&o, "signal", &ctl.signal());
    let up = new_upload(&f.into(), &o).unwrap();
    let p = up.start();
    wait_for_session(&s).await;
    ctl.abort();
    let err = JsFuture::from(p).await.expect_err("start rejects");
    assert_eq!(code(&err), "aborted");
    sleep_ms(300.0).await;
    assert_eq!(str_field(&s.uploads().await.get(0), "state"), "deleted");
}

#[wasm_bindgen_test]
async fn constructor_validates_synchronously_and_sends_nothing() {
    let s = Session::new("{}").await;
    let f: JsValue = file(&bytes(100, 1), "a.mp4", "video/mp4").into();
    let cases = [
        r#"{"provider":"nope","endpoint":"http://x"}"#.to_string(),
        format!(r#"{{"provider":"peertube","endpoint":"{}","accessToken":"t"}}"#, peertube_url()),
        format!(r#"{{"provider":"peertube","endpoint":"{}","channelId":1}}"#, peertube_url()),
        r#"{"provider":"peertube","accessToken":"t","channelId":1}"#.to_string(),
        format!(r#"{{"provider":"peertube","endpoint":"{}","accessToken":"t","channelId":1,"chunkSize":10}}"#, peertube_url()),
        format!(r#"{{"provider":"peertube","endpoint":"{}","accessToken":"t","channelId":1,"retryDelays":"x"}}"#, peertube_url()),
        format!(r#"{{"provider":"peertube-import","endpoint":"{}","accessToken":"t","userId":1}}"#, peertube_url()),
    ];
    for c in &cases {
        let err = new_upload(&f, &options(c)).err().unwrap_or_else(|| panic!("accepted {c}"));
        assert_eq!(code(&err), "invalid-input", "{c}");
        assert!(err.is_instance_of::<js_sys::Error>(), "instanceof Error");
        let ctor = field(&js_sys::Object::get_prototype_of(&err).into(), "constructor");
        assert_eq!(str_field(&ctor, "name"), "UploadError", "an UploadError instance");
        assert_eq!(str_field(&err, "name"), "UploadError");
        assert!(!str_field(&err, "message").is_empty());
    }
    // Empty file: PeerTube refuses it, so it is refused before any request.
    let empty: JsValue = file(&[], "a.mp4", "video/mp4").into();
    let err = new_upload(&empty, &pt_options(&s, "")).err().expect("empty file refused");
    assert_eq!(code(&err), "invalid-input");
    // Not a file at all.
    let err = new_upload(&JsValue::from(5), &pt_options(&s, "")).err().expect("number refused");
    assert_eq!(code(&err), "invalid-input");
    assert_eq!(s.log().await.length(), 0, "no request sent");
}

/// PeerTube's own options are decoded into a typed struct; one of the wrong type is named, with
/// what it must be, and nothing is sent.
#[wasm_bindgen_test]
async fn a_bad_peertube_option_is_named() {
    let s = Session::new("{}").await;
    let f: JsValue = file(&bytes(100, 1), "a.mp4", "video/mp4").into();
    let ep = peertube_url();
    let cases = [
        (format!(r#"{{"provider":"peertube","endpoint":"{ep}","accessToken":5,"channelId":1}}"#), "accessToken must be a string"),
        (format!(r#"{{"provider":"peertube","endpoint":"{ep}","accessToken":"t","channelId":"1"}}"#), "channelId must be a positive integer"),
        (format!(r#"{{"provider":"peertube","endpoint":"{ep}","accessToken":"t","channelId":1.5}}"#), "channelId must be a positive integer"),
        (format!(r#"{{"provider":"peertube","endpoint":"{ep}","accessToken":"t","channelId":0}}"#), "channelId must be a positive integer"),
        (format!(r#"{{"provider":"peertube","endpoint":"{ep}","accessToken":"t"}}"#), "channelId is required"),
        (format!(r#"{{"provider":"peertube","endpoint":"{ep}","accessToken":""}}"#), "accessToken is required"),
        (format!(r#"{{"provider":"peertube-import","endpoint":"{ep}","accessToken":"t","userId":"7"}}"#), "userId must be a non-negative integer"),
        (format!(r#"{{"provider":"peertube-import","endpoint":"{ep}","accessToken":"t","userId":-1}}"#), "userId must be a non-negative integer"),
        (format!(r#"{{"provider":"peertube-import","endpoint":"{ep}","accessToken":"t"}}"#), "userId is required"),
    ];
    for (c, message) in &cases {
        let err = new_upload(&f, &options(c)).err().unwrap_or_else(|| panic!("accepted {c}"));
        assert_eq!(code(&err), "invalid-input", "{c}");
        assert!(str_field(&err, "message").contains(message), "{c}: {}", str_field(&err, "message"));
    }
    // An option the upload does not read is not looked at.
    let o = options(&format!(r#"{{"provider":"peertube","endpoint":"{ep}","accessToken":"t","channelId":1,"channel":5,"username":[]}}"#));
    assert!(new_upload(&f, &o).is_ok());
    // The one-request helpers name theirs too.
    let rejected = |p: js_sys::Promise, message: &'static str| async move {
        let err = JsFuture::from(p).await.expect_err(message);
        assert_eq!(code(&err), "invalid-input", "{message}");
        assert!(str_field(&err, "message").contains(message), "{message}: {}", str_field(&err, "message"));
    };
    let login = options(&format!(r#"{{"endpoint":"{ep}","username":5,"password":"p"}}"#));
    rejected(chunkup::web::peertube::peertube_login(login.into()), "username must be a string").await;
    let refresh = options(&format!(r#"{{"endpoint":"{ep}","refreshToken":"r","clientId":"c","clientSecret":false}}"#));
    rejected(chunkup::web::peertube::peertube_refresh_token(refresh.into()), "clientSecret must be a string").await;
    rejected(chunkup::web::peertube::peertube_import_status(auth_opts(&s, r#""userId":"7""#)), "userId must be a non-negative integer").await;
    let img: JsValue = file(&bytes(10, 2), "b.png", "image/png").into();
    rejected(chunkup::web::peertube::peertube_update_banner(img.clone(), auth_opts(&s, r#""channel":5"#)), "channel must be a string").await;
    rejected(chunkup::web::peertube::peertube_update_banner(img, auth_opts(&s, "")), "channel is required").await;
    assert_eq!(s.log().await.length(), 0, "no request sent");
}

#[wasm_bindgen_test]
async fn start_twice_is_refused() {
    let s = Session::new("{}").await;
    let f = file(&bytes(1000, 13), "a.mp4", "video/mp4");
    let up = new_upload(&f.into(), &pt_options(&s, "")).unwrap();
    let p = up.start();
    let err = JsFuture::from(up.start()).await.expect_err("second start rejects");
    assert_eq!(code(&err), "invalid-input");
    JsFuture::from(p).await.expect("first start succeeds");
}

#[wasm_bindgen_test]
async fn location_in_every_form_is_resolved_against_the_init_url() {
    for form in ["absolute", "protocol-relative", "path", "uploadx"] {
        let s = Session::new(&format!(r#"{{"locationForm":"{form}"}}"#)).await;
        let data = bytes(100 * KB, 14);
        let f = file(&data, "a.mp4", "video/mp4");
        let up = new_upload(&f.into(), &pt_options(&s, r#""chunkSize":65536"#)).unwrap();
        run(&up).await.unwrap_or_else(|e| panic!("{form}: {:?}", js_sys::JSON::stringify(&e)));
        assert_stored(&s, &data).await;
    }
}

#[wasm_bindgen_test]
async fn endpoint_with_a_trailing_slash_and_path_prefix() {
    let s = Session::new("{}").await;
    let data = bytes(10 * KB, 15);
    let f = file(&data, "a.mp4", "video/mp4");
    let o = pt_options(&s, "");
    set(&o, "endpoint", &format!("{}/", peertube_url()).into());
    run(&new_upload(&f.into(), &o).unwrap()).await.expect("trailing slash");
    assert_stored(&s, &data).await;
}

#[wasm_bindgen_test]
async fn progress_reports_bytes_per_second_and_the_progress_getter() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","delayMs":30,"count":100}]"#).await;
    let data = bytes(512 * KB, 16);
    let f = file(&data, "a.mp4", "video/mp4");
    let o = pt_options(&s, r#""chunkSize":65536"#);
    let seen = Array::new();
    let sv = seen.clone();
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| {
        sv.push(&p);
    });
    set(&o, "onProgress", cb.as_ref());
    let up = new_upload(&f.into(), &o).unwrap();
    run(&up).await.expect("upload");
    let last = seen.get(seen.length() - 1);
    assert_eq!(num_field(&last, "loaded"), data.len() as f64);
    assert!(num_field(&last, "bytesPerSecond") > 0.0, "bytesPerSecond");
    let p = up.progress();
    assert_eq!(num_field(&p, "loaded"), data.len() as f64);
    assert_eq!(num_field(&p, "total"), data.len() as f64);
}

#[wasm_bindgen_test]
async fn a_413_on_a_chunk_shrinks_the_chunk_and_continues() {
    let s = Session::new("{}").await;
    s.faults(r#"[{"route":"chunk","nth":1,"status":413,"body":"<html>413 Request Entity Too Large</html>","headers":{"Content-Type":"text/html"}}]"#)
        .await;
    let data = bytes(600 * KB, 17);
    let f = file(&data, "a.mp4", "video/mp4");
    let up = new_upload(&f.into(), &pt_options(&s, &format!(r#""chunkSize":{}"#, 512 * KB))).unwrap();
    run(&up).await.expect("continues with smaller chunks");
    assert_stored(&s, &data).await;
}

// ---- user archive import -------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn user_import_uploads_a_zip_and_reports_its_status() {
    let s = Session::new(r#"{"importCompleteMs":200}"#).await;
    let data = bytes(200 * KB, 18);
    let f = file(&data, "archive.zip", "application/zip");
    let o = options(&format!(
        r#"{{"provider":"peertube-import","endpoint":"{}","accessToken":"{}","userId":{},"chunkSize":65536}}"#,
        peertube_url(),
        s.token,
        s.user_id
    ));
    let result = run(&new_upload(&f.into(), &o).unwrap()).await.expect("import upload");
    assert!(field(&field(&result, "userImport"), "id").as_f64().is_some());
    let uploads = s.uploads().await;
    let u = uploads.get(0);
    assert_eq!(str_field(&u, "kind"), "import");
    assert_eq!(str_field(&u, "sha256"), sha256_hex(&data).await);
    let status_opts = options(&format!(r#"{{"endpoint":"{}","accessToken":"{}","userId":{}}}"#, peertube_url(), s.token, s.user_id));
    let st = JsFuture::from(chunkup::web::peertube::peertube_import_status(status_opts.clone().into())).await.expect("status");
    let state = num_field(&field(&st, "state"), "id");
    assert!(state == 1.0 || state == 3.0, "pending or completed: {state}");
    sleep_ms(400.0).await;
    let st = JsFuture::from(chunkup::web::peertube::peertube_import_status(status_opts.into())).await.expect("status");
    assert_eq!(num_field(&field(&st, "state"), "id"), 3.0);
}

#[wasm_bindgen_test]
async fn user_import_status_is_null_before_any_import_and_non_zip_is_refused() {
    let s = Session::new("{}").await;
    let status_opts = options(&format!(r#"{{"endpoint":"{}","accessToken":"{}","userId":{}}}"#, peertube_url(), s.token, s.user_id));
    let st = JsFuture::from(chunkup::web::peertube::peertube_import_status(status_opts.into())).await.expect("status");
    assert!(st.is_null(), "no import yet → null");
    let f = file(&bytes(1000, 19), "archive.tar", "application/x-tar");
    let o = options(&format!(
        r#"{{"provider":"peertube-import","endpoint":"{}","accessToken":"{}","userId":{}}}"#,
        peertube_url(),
        s.token,
        s.user_id
    ));
    let err = new_upload(&f.into(), &o).err().expect(".tar refused");
    assert_eq!(code(&err), "invalid-input");
    assert!(str_field(&err, "message").contains("zip"));
    assert_eq!(s.log().await.length(), 1, "only the status request was sent");
}

// ---- one-request operations ------------------------------------------------------------------------

fn auth_opts(s: &Session, extra: &str) -> JsValue {
    let sep = if extra.is_empty() { "" } else { "," };
    options(&format!(r#"{{"endpoint":"{}","accessToken":"{}"{sep}{extra}}}"#, peertube_url(), s.token)).into()
}

#[wasm_bindgen_test]
async fn login_and_refresh_give_working_tokens() {
    let o = options(&format!(r#"{{"endpoint":"{}","username":"alice","password":"secret"}}"#, peertube_url()));
    let tok = JsFuture::from(chunkup::web::peertube::peertube_login(o.into())).await.expect("login");
    let access = str_field(&tok, "access_token");
    let refresh = str_field(&tok, "refresh_token");
    assert!(!access.is_empty() && !refresh.is_empty());
    assert_eq!(str_field(&tok, "token_type").to_lowercase(), "bearer");
    let o = options(&format!(
        r#"{{"endpoint":"{}","refreshToken":"{}","clientId":"{}","clientSecret":"{}"}}"#,
        peertube_url(),
        refresh,
        str_field(&tok, "client_id"),
        str_field(&tok, "client_secret")
    ));
    let tok2 = JsFuture::from(chunkup::web::peertube::peertube_refresh_token(o.into())).await.expect("refresh");
    assert!(!str_field(&tok2, "access_token").is_empty());
    assert_ne!(str_field(&tok2, "access_token"), access);
    // Wrong password: auth error, and the password is not in the message.
    let o = options(&format!(r#"{{"endpoint":"{}","username":"alice","password":"hunter2-wrong"}}"#, peertube_url()));
    let err = JsFuture::from(chunkup::web::peertube::peertube_login(o.into())).await.expect_err("bad password");
    assert!(code(&err) == "auth" || code(&err) == "http", "{}", code(&err));
    assert!(!str_field(&err, "message").contains("hunter2-wrong"));
}

#[wasm_bindgen_test]
async fn legacy_upload_caption_avatar_banner_and_torrent_import() {
    let s = Session::new(r#"{"user":"alice"}"#).await;
    // Legacy single-request upload.
    let data = bytes(100 * KB, 20);
    let f = file(&data, "old.mp4", "video/mp4");
    let r = JsFuture::from(chunkup::web::peertube::peertube_legacy_upload(f.into(), auth_opts(&s, &format!(r#""channelId":{},"name":"Old way""#, s.channel_id))))
        .await
        .expect("legacy upload");
    let video = field(&r, "video");
    let uuid = str_field(&video, "uuid");
    assert!(!uuid.is_empty());
    let files = s.files().await;
    let legacy = files.iter().find(|f| str_field(f, "route") == "legacy-upload" || str_field(f, "fieldname") == "videofile").expect("file logged");
    assert_eq!(str_field(&legacy, "sha256"), sha256_hex(&data).await);
    // Caption.
    let vtt = b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n";
    let f = file(vtt, "en.vtt", "text/vtt");
    JsFuture::from(chunkup::web::peertube::peertube_upload_caption(f.into(), auth_opts(&s, &format!(r#""videoId":"{uuid}","language":"en""#))))
        .await
        .expect("caption");
    // Avatar (mine and the channel's) and banner.
    let png = bytes(2000, 21);
    let f = file(&png, "me.png", "image/png");
    let a = JsFuture::from(chunkup::web::peertube::peertube_update_avatar(f.clone().into(), auth_opts(&s, ""))).await.expect("avatar");
    assert!(Array::is_array(&field(&a, "avatars")));
    JsFuture::from(chunkup::web::peertube::peertube_update_avatar(f.clone().into(), auth_opts(&s, r#""channel":"alice_channel""#)))
        .await
        .expect("channel avatar");
    let b = JsFuture::from(chunkup::web::peertube::peertube_update_banner(f.into(), auth_opts(&s, r#""channel":"alice_channel""#))).await.expect("banner");
    assert!(Array::is_array(&field(&b, "banners")));
    // Torrent import and the listing.
    let t = file(b"d8:announce0:e", "movie.torrent", "application/x-bittorrent");
    JsFuture::from(chunkup::web::peertube::peertube_import_video(t.into(), auth_opts(&s, &format!(r#""channelId":{},"name":"From torrent""#, s.channel_id))))
        .await
        .expect("torrent import");
    let list = JsFuture::from(chunkup::web::peertube::peertube_list_imports(auth_opts(&s, ""))).await.expect("list");
    assert!(num_field(&list, "total") >= 1.0);
    let routes = routes(&s.log().await);
    for r in ["legacy-upload", "caption", "avatar", "banner", "video-import", "video-imports-list"] {
        assert!(routes.iter().any(|x| x == r), "{r} in {routes:?}");
    }
    // A caption for a video that does not exist: a clear 404.
    let f = file(vtt, "en.vtt", "text/vtt");
    let err = JsFuture::from(chunkup::web::peertube::peertube_upload_caption(f.into(), auth_opts(&s, r#""videoId":"nope","language":"en""#)))
        .await
        .expect_err("404");
    assert_eq!(num_field(&err, "status"), 404.0);
}

/// The last chunk's answer is lost after PeerTube created the video and deleted the upload (so
/// asking the offset gets 404): the upload resolves with that video, found among the user's
/// videos (`GET /api/v1/users/me/videos`), in the shape of the last chunk's answer.
#[wasm_bindgen_test]
async fn a_lost_final_answer_resolves_with_the_video_the_upload_created() {
    let s = Session::new(r#"{"user":"alice"}"#).await;
    // 300 KiB in 64 KiB chunks: the 5th chunk is the last.
    s.faults(r#"[{"route":"chunk","nth":5,"drop":true,"afterResponse":true}]"#).await;
    let data = bytes(300 * 1024, 21);
    let f = file(&data, "lost-answer.mp4", "video/mp4");
    let o = pt_options(&s, &format!(r#""chunkSize":{}"#, 64 * 1024));
    let up = new_upload(&f.into(), &o).unwrap();
    let result = run(&up).await.unwrap_or_else(|e| panic!("upload failed: {} {}", code(&e), str_field(&e, "message")));
    assert_stored(&s, &data).await;
    let videos = Array::from(&control(peertube_url(), "GET", &format!("/__control/session/{}/videos", s.id), None).await);
    assert_eq!(videos.length(), 1, "one video, created once");
    let (v, r) = (videos.get(0), field(&result, "video"));
    assert_eq!(num_field(&r, "id"), num_field(&v, "id"));
    assert_eq!(str_field(&r, "uuid"), str_field(&v, "uuid"));
    assert_eq!(str_field(&r, "shortUUID"), str_field(&v, "shortUUID"));
    let log = entries(&s.log().await);
    let routes: Vec<&str> = log.iter().map(|(_, route, _, _)| route.as_str()).collect();
    let last = routes.iter().rposition(|r| *r == "chunk").unwrap();
    assert_eq!(routes[last + 1..], ["offset", "my-videos"], "{log:?}");
    assert_eq!(log[last + 1].2, 404.0, "the upload is gone once the video exists");
    assert_eq!(routes.iter().filter(|r| **r == "init").count(), 1, "never uploaded twice");
}
