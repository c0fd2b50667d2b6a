//! Cloudreve v4 uploads against the three-origin fake (Cloudreve, a slave node, a bucket), in
//! headless Chromium: every policy, faults, errors, abort, credential isolation, login helpers.
#![cfg(target_arch = "wasm32")]

#[path = "common/mod.rs"]
mod common;
use common::*;
use js_sys::{Array, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const KIB: usize = 1024;

fn base() -> &'static str {
    option_env!("CHUNKUP_CLOUDREVE_URL").unwrap_or("http://127.0.0.1:18083")
}

/// A control session on the Cloudreve fake.
struct Cr {
    id: String,
    token: String,
    refresh: String,
    email: String,
    password: String,
}

impl Cr {
    async fn new(opts: &str) -> Cr {
        let v = control(base(), "POST", "/__control/session", Some(opts)).await;
        Cr {
            id: str_field(&v, "id"),
            token: str_field(&v, "accessToken"),
            refresh: str_field(&v, "refreshToken"),
            email: str_field(&v, "email"),
            password: str_field(&v, "password"),
        }
    }
    async fn get(&self, what: &str) -> Array {
        control(base(), "GET", &format!("/__control/session/{}/{what}", self.id), None).await.unchecked_into()
    }
    async fn log(&self) -> Vec<JsValue> {
        self.get("log").await.iter().collect()
    }
    async fn uploads(&self) -> Vec<JsValue> {
        self.get("uploads").await.iter().collect()
    }
    async fn files(&self) -> Vec<JsValue> {
        self.get("files").await.iter().collect()
    }
    async fn faults(&self, rules: &str) {
        control(base(), "POST", &format!("/__control/session/{}/faults", self.id), Some(rules)).await;
    }
    async fn post(&self, what: &str) -> JsValue {
        control(base(), "POST", &format!("/__control/session/{}/{what}", self.id), None).await
    }
    fn options(&self, uri: &str, extra: &str) -> Object {
        let extra = if extra.is_empty() { String::new() } else { format!(",{extra}") };
        options(&format!(
            r#"{{"provider":"cloudreve","endpoint":"{}","uri":"{uri}","accessToken":"{}","retryDelays":[30,30,30,30]{extra}}}"#,
            base(),
            self.token
        ))
    }
}

/// Log entries of one route.
fn route(log: &[JsValue], name: &str) -> Vec<JsValue> {
    log.iter().filter(|e| str_field(e, "route") == name).cloned().collect()
}

fn fields(entries: &[JsValue], key: &str) -> Vec<String> {
    entries.iter().map(|e| str_field(e, key)).collect()
}

/// Waits until the fake has seen `n` chunk requests.
async fn wait_for_chunks(s: &Cr, n: usize) {
    for _ in 0..200 {
        if route(&s.log().await, "chunk").len() >= n {
            return;
        }
        sleep_ms(10.0).await;
    }
    panic!("the fake never saw {n} chunks");
}

/// Uploads `data` and checks the stored file has the same bytes.
async fn upload_ok(s: &Cr, data: &[u8], name: &str, extra: &str) -> JsValue {
    let uri = format!("cloudreve://my/tests/{name}");
    let f = file(data, name, "application/octet-stream");
    let up = new_upload(&f.into(), &s.options(&uri, extra)).expect("valid options");
    let result = run(&up).await.unwrap_or_else(|e| panic!("upload failed: {}", str_field(&e, "message")));
    assert_eq!(str_field(&result, "uri"), uri);
    assert!(!str_field(&result, "sessionId").is_empty());
    let files = s.files().await;
    let stored = files.iter().find(|f| str_field(f, "uri") == uri).expect("file stored");
    assert_eq!(str_field(stored, "state"), "complete");
    assert_eq!(num_field(stored, "size") as usize, data.len());
    assert_eq!(str_field(stored, "sha256"), sha256_hex(data).await, "identical bytes");
    result
}

async fn upload_err(s: &Cr, data: &[u8], name: &str, extra: &str) -> JsValue {
    let uri = format!("cloudreve://my/tests/{name}");
    let f = file(data, name, "application/octet-stream");
    let up = new_upload(&f.into(), &s.options(&uri, extra)).expect("valid options");
    match run(&up).await {
        Ok(v) => panic!("expected a failure, got {:?}", js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string())),
        Err(e) => e,
    }
}

// ---- local ----------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn local_chunks_in_order_with_exact_lengths() {
    let s = Cr::new(r#"{"policy":"local","chunkSize":65536}"#).await;
    let data = bytes(200 * KIB + 17, 11);
    let result = upload_ok(&s, &data, "local.bin", "").await;
    assert_eq!(str_field(&result, "policyType"), "local");
    let log = s.log().await;
    let create = route(&log, "create");
    assert_eq!(create.len(), 1);
    assert_eq!(str_field(&create[0], "method"), "PUT");
    let chunks = route(&log, "chunk");
    let paths = fields(&chunks, "path");
    let sid = str_field(&result, "sessionId");
    let expected: Vec<String> = (0..4).map(|i| format!("/api/v4/file/upload/{sid}/{i}")).collect();
    assert_eq!(paths, expected, "chunks 0..3 in order");
    let lengths: Vec<f64> = chunks.iter().map(|e| num_field(e, "contentLength")).collect();
    assert_eq!(lengths, [65536.0, 65536.0, 65536.0, (200 * KIB + 17 - 3 * 65536) as f64]);
    assert!(log.iter().all(|e| str_field(e, "auth") == "user-token"), "every request carries the user token");
    let up = &s.uploads().await[0];
    assert_eq!(str_field(up, "state"), "complete");
    assert_eq!(num_field(up, "lastModified"), 1_700_000_000_000.0, "last modified in ms");
    assert_eq!(str_field(up, "mimeType"), "application/octet-stream");
}

#[wasm_bindgen_test]
async fn local_empty_file_is_one_empty_chunk_and_relay_is_one_request() {
    let s = Cr::new(r#"{"policy":"local","chunkSize":65536}"#).await;
    upload_ok(&s, &[], "empty.bin", "").await;
    let chunks = route(&s.log().await, "chunk");
    assert_eq!(chunks.len(), 1);
    assert!(str_field(&chunks[0], "path").ends_with("/0"));
    assert_eq!(num_field(&chunks[0], "contentLength"), 0.0);

    let r = Cr::new(r#"{"policy":"s3","relay":true,"chunkSize":65536}"#).await;
    let data = bytes(150 * KIB, 12);
    let result = upload_ok(&r, &data, "relay.bin", "").await;
    assert_eq!(str_field(&result, "policyType"), "s3");
    let chunks = route(&r.log().await, "chunk");
    assert_eq!(chunks.len(), 1, "chunk_size 0: the whole file in one request");
    assert_eq!(num_field(&chunks[0], "contentLength") as usize, data.len());
}

#[wasm_bindgen_test]
async fn local_survives_a_dropped_connection_and_a_502() {
    let s = Cr::new(r#"{"policy":"local","chunkSize":65536}"#).await;
    s.faults(r#"[{"route":"chunk","drop":true,"nth":2},{"route":"chunk","status":502,"nth":4,"body":"<html>bad gateway</html>"}]"#).await;
    let data = bytes(256 * KIB + 3, 13);
    let result = upload_ok(&s, &data, "faulty.bin", "").await;
    let sid = str_field(&result, "sessionId");
    let log = s.log().await;
    let idx: Vec<String> = route(&log, "chunk").iter().map(|e| str_field(e, "path").rsplit('/').next().unwrap().to_string()).collect();
    assert_eq!(idx, ["0", "1", "1", "2", "2", "3", "4"], "a failed chunk is re-sent at the same index: {idx:?}");
    assert_eq!(route(&log, "create").len(), 1, "the same session continues");
    assert!(route(&log, "chunk").iter().all(|e| str_field(e, "path").contains(&sid)));
}

#[wasm_bindgen_test]
async fn local_lost_answer_to_the_last_chunk_is_checked_not_assumed() {
    let s = Cr::new(r#"{"policy":"local","chunkSize":65536}"#).await;
    // The last chunk (index 2) is stored and the session completed, but its answer is lost.
    s.faults(r#"[{"route":"chunk","drop":true,"afterResponse":true,"nth":3}]"#).await;
    let data = bytes(130 * KIB, 14);
    let result = upload_ok(&s, &data, "lost-last.bin", "").await;
    assert_eq!(num_field(&field(&result, "file"), "size") as usize, data.len(), "confirmed by a file lookup");
    let log = s.log().await;
    let chunks = route(&log, "chunk");
    assert_eq!(chunks.len(), 4, "the last chunk was re-sent once");
    assert_eq!(route(&log, "file-info").len(), 1);
    assert_eq!(route(&log, "delete").len(), 0, "a completed upload is never deleted");
}

#[wasm_bindgen_test]
async fn pause_and_resume_continue_the_same_session() {
    let s = Cr::new(r#"{"policy":"local","chunkSize":32768}"#).await;
    s.faults(r#"[{"route":"chunk","delayMs":400,"nth":3}]"#).await;
    let data = bytes(200 * KIB, 15);
    let uri = "cloudreve://my/tests/paused.bin";
    let up = new_upload(&file(&data, "paused.bin", "").into(), &s.options(uri, "")).unwrap();
    let p = up.start();
    // Pause while the third chunk (held 400 ms by the server) is in flight.
    wait_for_chunks(&s, 3).await;
    up.pause();
    sleep_ms(700.0).await;
    let before = route(&s.log().await, "chunk").len();
    sleep_ms(300.0).await;
    assert_eq!(route(&s.log().await, "chunk").len(), before, "nothing is sent while paused");
    assert_eq!(before, 3, "the in-flight chunk settled, nothing more was sent");
    up.resume();
    JsFuture::from(p).await.expect("resumed upload completes");
    let log = s.log().await;
    assert_eq!(route(&log, "create").len(), 1);
    let idx: Vec<String> = route(&log, "chunk").iter().map(|e| str_field(e, "path").rsplit('/').next().unwrap().to_string()).collect();
    assert_eq!(idx, (0..7).map(|i| i.to_string()).collect::<Vec<_>>());
    let f = &s.files().await[0];
    assert_eq!(str_field(f, "sha256"), sha256_hex(&data).await);
}

// ---- remote node ----------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn remote_node_gets_only_the_session_credential() {
    let s = Cr::new(r#"{"policy":"remote","chunkSize":65536}"#).await;
    let data = bytes(180 * KIB + 5, 16);
    s.faults(r#"[{"route":"node-chunk","status":503,"nth":2}]"#).await;
    let result = upload_ok(&s, &data, "remote.bin", r#""purchaseTicket":"ticket-123""#).await;
    assert_eq!(str_field(&result, "policyType"), "remote");
    let log = s.log().await;
    let node: Vec<JsValue> = log.iter().filter(|e| str_field(e, "server") == "node").cloned().collect();
    assert_eq!(node.len(), 4, "3 chunks + 1 retried");
    for e in &node {
        assert_eq!(str_field(e, "auth"), "node-credential", "the node sees only the session credential");
        assert_eq!(Array::from(&field(e, "xCr")).length(), 0, "no X-Cr-* header to the node");
        assert_eq!(str_field(e, "method"), "POST");
    }
    let chunks: Vec<String> = node.iter().map(|e| str_field(&field(e, "query"), "chunk")).collect();
    assert_eq!(chunks, ["0", "1", "1", "2"]);
    for e in log.iter().filter(|e| str_field(e, "server") == "master") {
        assert_eq!(str_field(e, "auth"), "user-token", "Cloudreve itself gets the user token");
        assert!(Array::from(&field(e, "xCr")).iter().any(|h| h.as_string().as_deref() == Some("x-cr-purchase-ticket")));
    }
    assert!(!log.iter().any(|e| str_field(e, "server") == "node" && str_field(e, "auth") == "user-token"));
}

// ---- S3-like --------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn s3_parts_in_parallel_with_etags_and_callback() {
    let s = Cr::new(r#"{"policy":"s3","chunkSize":65536,"concurrency":3}"#).await;
    s.faults(r#"[{"route":"part","delayMs":700,"nth":1},{"route":"part","status":503,"nth":3,"body":"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"},{"route":"part","drop":true,"nth":6}]"#).await;
    let data = bytes(7 * 64 * KIB - 100, 17);
    let result = upload_ok(&s, &data, "s3.bin", r#""purchaseTicket":"ticket-9""#).await;
    assert_eq!(str_field(&result, "policyType"), "s3");
    let up = &s.uploads().await[0];
    let completed = Array::from(&field(up, "completedWith"));
    assert_eq!(completed.length(), 7, "every part listed in the completion");
    let numbers: Vec<f64> = completed.iter().map(|p| num_field(&p, "n")).collect();
    assert_eq!(numbers, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    assert_eq!(str_field(&field(up, "completeHeaders"), "contentType"), "application/octet-stream");
    // The first part request to arrive was held 700 ms: a later part finished first (parallel parts,
    // out-of-order completion). Which part that was is read from the log: engines may put parts sent
    // together on the wire in any order (Firefox does).
    let log = s.log().await;
    let slow_path = str_field(log.iter().find(|e| str_field(e, "fault") == "delay:700").expect("the delay fired"), "path");
    let slow: f64 = slow_path.rsplit('/').next().and_then(|n| n.parse().ok()).expect("part number in the path");
    let chunks = Array::from(&field(up, "chunks"));
    let stored = |n: f64| chunks.iter().find(|c| num_field(c, "index") == n).map(|c| num_field(&c, "storedAt")).unwrap();
    assert!((1.0..=3.0).contains(&slow), "one of the first three parts was held: {slow_path}");
    assert!(
        (4..=7).any(|n| stored(n as f64) < stored(slow)),
        "a part after the first three was stored before the slow part {slow}"
    );
    for e in log.iter().filter(|e| str_field(e, "server") == "bucket") {
        assert_eq!(str_field(e, "auth"), "none", "nothing but the presigned URL goes to the bucket");
        assert_eq!(Array::from(&field(e, "xCr")).length(), 0);
    }
    let callback = route(&log, "callback");
    assert_eq!(callback.len(), 1);
    assert_eq!(str_field(&callback[0], "method"), "GET");
    assert!(str_field(&callback[0], "path").starts_with("/api/v4/callback/s3/"));
    assert_eq!(route(&log, "complete").len(), 1);
}

#[wasm_bindgen_test]
async fn s3_unreadable_etag_is_a_protocol_error_and_the_session_is_deleted() {
    let s = Cr::new(r#"{"policy":"s3","chunkSize":65536,"exposeEtag":false}"#).await;
    let err = upload_err(&s, &bytes(100 * KIB, 18), "noetag.bin", "").await;
    assert_eq!(code(&err), "protocol");
    assert!(str_field(&err, "message").contains("ETag"), "{}", str_field(&err, "message"));
    assert_eq!(str_field(&s.uploads().await[0], "state"), "deleted", "cleanup deleted the session");
    let del = route(&s.log().await, "delete");
    assert_eq!(del.len(), 1);
    assert_eq!(str_field(&del[0], "auth"), "user-token");
}

#[wasm_bindgen_test]
async fn oss_completes_with_complete_all_and_no_client_callback() {
    let s = Cr::new(r#"{"policy":"oss","chunkSize":65536}"#).await;
    let data = bytes(150 * KIB, 19);
    let result = upload_ok(&s, &data, "oss.bin", "").await;
    assert_eq!(str_field(&result, "policyType"), "oss");
    let log = s.log().await;
    assert_eq!(route(&log, "callback").len(), 0, "OSS calls Cloudreve back itself");
    let up = &s.uploads().await[0];
    assert_eq!(str_field(&field(up, "completeHeaders"), "completeAll"), "yes");
}

// ---- OneDrive -------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn onedrive_ranges_resume_after_a_lost_answer_then_callback() {
    let s = Cr::new(r#"{"policy":"onedrive","chunkSize":65536}"#).await;
    // Chunk 2 is stored but its answer is lost: the client asks the upload URL where to go on.
    s.faults(r#"[{"route":"onedrive-chunk","drop":true,"afterResponse":true,"nth":2}]"#).await;
    let data = bytes(200 * KIB + 9, 20);
    upload_ok(&s, &data, "onedrive.bin", "").await;
    let log = s.log().await;
    let puts = route(&log, "onedrive-chunk");
    let ranges: Vec<String> = puts.iter().map(|e| str_field(e, "contentRange")).collect();
    let total = data.len();
    assert_eq!(
        ranges,
        [
            format!("bytes 0-65535/{total}"),
            format!("bytes 65536-131071/{total}"),
            format!("bytes 131072-196607/{total}"),
            format!("bytes 196608-{}/{total}", total - 1),
        ],
        "no range sent twice: the status query said chunk 2 had arrived"
    );
    assert_eq!(route(&log, "onedrive-status").len(), 1);
    for e in log.iter().filter(|e| str_field(e, "server") == "bucket") {
        assert_eq!(str_field(e, "auth"), "none", "no token to the OneDrive upload URL");
    }
    let callback = route(&log, "callback");
    assert_eq!(callback.len(), 1);
    assert_eq!(str_field(&callback[0], "method"), "POST");
    assert!(str_field(&callback[0], "path").starts_with("/api/v4/callback/onedrive/"));
}

// ---- errors, abort, auth --------------------------------------------------------------------

#[wasm_bindgen_test]
async fn cloudreve_error_codes_map_to_upload_errors() {
    let quota = Cr::new(r#"{"policy":"local","capacity":1000}"#).await;
    let e = upload_err(&quota, &bytes(2000, 1), "big.bin", "").await;
    assert_eq!((code(&e).as_str(), field(&e, "status").as_f64()), ("quota", Some(200.0)));
    assert!(str_field(&e, "message").contains("40051"));

    let too_large = Cr::new(r#"{"policy":"local","maxSize":1000}"#).await;
    let e = upload_err(&too_large, &bytes(2000, 1), "big.bin", "").await;
    assert_eq!(code(&e), "too-large");

    let exists = Cr::new(r#"{"policy":"local","existing":["cloudreve://my/tests/there.bin"]}"#).await;
    let e = upload_err(&exists, &bytes(100, 1), "there.bin", "").await;
    assert_eq!(code(&e), "http");
    assert!(str_field(&e, "message").contains("already exists"), "{}", str_field(&e, "message"));
    assert!(!field(&e, "retryable").as_bool().unwrap_or(true));
    // …and overwrite: true uploads a new version.
    upload_ok(&exists, &bytes(100, 2), "there.bin", r#""overwrite":true"#).await;
    assert_eq!(num_field(&exists.files().await[0], "versions"), 2.0);

    let suffix = Cr::new(r#"{"policy":"local","allowedSuffix":["txt"]}"#).await;
    let e = upload_err(&suffix, &bytes(100, 1), "x.exe", "").await;
    assert_eq!(code(&e), "unsupported-type");

    let qiniu = Cr::new(r#"{"policy":"qiniu"}"#).await;
    let e = upload_err(&qiniu, &bytes(100, 1), "q.bin", "").await;
    assert_eq!(code(&e), "protocol");
    assert!(str_field(&e, "message").contains("qiniu"));
    assert_eq!(str_field(&qiniu.uploads().await[0], "state"), "deleted", "an unusable session is deleted");

    let sync = new_upload(&file(&[1], "a", "").into(), &quota.options("cloudreve://my/a", r#""chunkSize":65536"#)).err().expect("chunkSize refused");
    assert_eq!(code(&sync), "invalid-input");
    let sync = new_upload(&file(&[1], "a", "").into(), &quota.options("https://x/a", "")).err().expect("bad uri refused");
    assert_eq!(code(&sync), "invalid-input");
}

#[wasm_bindgen_test]
async fn abort_deletes_the_session() {
    let s = Cr::new(r#"{"policy":"local","chunkSize":32768}"#).await;
    s.faults(r#"[{"route":"chunk","delayMs":1500,"nth":2}]"#).await;
    let up = new_upload(&file(&bytes(200 * KIB, 21), "abort.bin", "").into(), &s.options("cloudreve://my/tests/abort.bin", "")).unwrap();
    let p = up.start();
    wait_for_chunks(&s, 2).await;
    JsFuture::from(up.abort()).await.unwrap();
    let err = JsFuture::from(p).await.expect_err("aborted");
    assert_eq!(code(&err), "aborted");
    let ups = s.uploads().await;
    assert_eq!(str_field(&ups[0], "state"), "deleted");
    let del = route(&s.log().await, "delete");
    assert_eq!(del.len(), 1);
    assert_eq!(str_field(&del[0], "method"), "DELETE");
    assert!(s.files().await.is_empty(), "no placeholder left");
}

#[wasm_bindgen_test]
async fn expired_token_is_replaced_through_get_access_token() {
    let s = Cr::new(r#"{"policy":"local","chunkSize":65536}"#).await;
    s.post("expire-token").await;
    let fresh = str_field(&s.post("new-token").await, "accessToken");
    let o = s.options("cloudreve://my/tests/reauth.bin", "");
    let cb = Closure::<dyn FnMut() -> JsValue>::new(move || Promise::resolve(&JsValue::from_str(&fresh)).into());
    set(&o, "getAccessToken", cb.as_ref());
    let data = bytes(100 * KIB, 22);
    let up = new_upload(&file(&data, "reauth.bin", "").into(), &o).unwrap();
    run(&up).await.expect("continues with the fresh token");
    let log = s.log().await;
    assert_eq!(route(&log, "create").len(), 2, "the refused create is sent again");
    assert_eq!(str_field(&s.files().await[0], "sha256"), sha256_hex(&data).await);
}

// ---- recovery: expired tokens and sessions, lost create answers ---------------------------

fn codes(entries: &[JsValue]) -> Vec<i64> {
    entries.iter().map(|e| field(e, "code").as_f64().map_or(-999, |c| c as i64)).collect()
}

/// Starts an upload of `data` to `uri`, pauses it while request `nth` of `data_route` is in flight
/// (held 300 ms by the server), lets that settle, posts `event` to the control API (e.g.
/// `expire-token`; several separated by commas), resumes, and returns the outcome.
async fn with_event_mid_upload(s: &Cr, data: &[u8], uri: &str, o: &Object, data_route: &str, nth: usize, event: &str) -> Result<JsValue, JsValue> {
    s.faults(&format!(r#"[{{"route":"{data_route}","delayMs":300,"nth":{nth}}}]"#)).await;
    let name = uri.rsplit('/').next().unwrap_or("x.bin");
    let up = new_upload(&file(data, name, "application/octet-stream").into(), o).unwrap();
    let p = up.start();
    for _ in 0..300 {
        if route(&s.log().await, data_route).len() >= nth {
            break;
        }
        sleep_ms(10.0).await;
    }
    up.pause();
    sleep_ms(600.0).await;
    let before = route(&s.log().await, data_route).len();
    assert_eq!(before, nth, "paused after request {nth}");
    for ev in event.split(',') {
        s.post(ev).await;
    }
    up.resume();
    JsFuture::from(p).await
}

#[wasm_bindgen_test]
async fn expired_token_on_a_chunk_gets_a_fresh_token_not_a_new_session() {
    // Cloudreve answers a chunk whose JWT expired with HTTP 200 {code: 40011} (the request runs
    // as the anonymous user), never 401. The file check (401) shows it is the token.
    let s = Cr::new(r#"{"policy":"local","chunkSize":32768}"#).await;
    let uri = "cloudreve://my/tests/token-mid.bin";
    let o = s.options(uri, "");
    let (calls, cb) = token_source(base(), &s.id);
    set(&o, "getAccessToken", cb.as_ref());
    let data = bytes(200 * KIB + 5, 31);
    let result = with_event_mid_upload(&s, &data, uri, &o, "chunk", 3, "expire-token").await.unwrap_or_else(|e| panic!("{}", str_field(&e, "message")));
    assert_eq!(calls.get(), 1, "one fresh token");
    let log = s.log().await;
    let chunks = route(&log, "chunk");
    assert_eq!(codes(&chunks).iter().filter(|c| **c == 40011).count(), 1, "{:?}", codes(&chunks));
    assert_eq!(codes(&route(&log, "file-info")), [401], "the check shows the token expired");
    assert_eq!(route(&log, "create").len(), 1, "the same session continues");
    assert!(route(&log, "delete").is_empty());
    let sid = str_field(&result, "sessionId");
    assert!(chunks.iter().all(|e| str_field(e, "path").contains(&sid)));
    let f = s.files().await.into_iter().find(|f| str_field(f, "uri") == uri).expect("stored");
    assert_eq!(str_field(&f, "sha256"), sha256_hex(&data).await);

    // Without getAccessToken: 'auth' (the token was refused), not 'session-expired'.
    let s = Cr::new(r#"{"policy":"local","chunkSize":32768}"#).await;
    let uri = "cloudreve://my/tests/token-mid-2.bin";
    let e = with_event_mid_upload(&s, &bytes(200 * KIB, 32), uri, &s.options(uri, ""), "chunk", 3, "expire-token").await.expect_err("no fresh token");
    assert_eq!(code(&e), "auth", "{}", str_field(&e, "message"));
    assert!(str_field(&e, "message").contains("40011"), "{}", str_field(&e, "message"));
    assert!(!str_field(&e, "message").contains(&s.token));
}

#[wasm_bindgen_test]
async fn expired_session_is_deleted_and_replaced_by_a_new_one() {
    let s = Cr::new(r#"{"policy":"local","chunkSize":32768}"#).await;
    let uri = "cloudreve://my/tests/session-mid.bin";
    let o = s.options(uri, "");
    let (calls, cb) = token_source(base(), &s.id);
    set(&o, "getAccessToken", cb.as_ref());
    let data = bytes(160 * KIB + 9, 33);
    let result = with_event_mid_upload(&s, &data, uri, &o, "chunk", 3, "expire-uploads").await.unwrap_or_else(|e| panic!("{}", str_field(&e, "message")));
    assert_eq!(calls.get(), 0, "the token was fine");
    let ups = s.uploads().await;
    assert_eq!(ups.len(), 2, "one new session");
    assert_eq!(str_field(&ups[0], "state"), "deleted", "the expired session (its placeholder and lock) is deleted");
    assert_eq!(str_field(&ups[1], "state"), "complete");
    assert_eq!(str_field(&result, "sessionId"), str_field(&ups[1], "sessionId"));
    let log = s.log().await;
    assert_eq!(codes(&route(&log, "create")), [0, 0], "the plain create works again once the placeholder is gone");
    assert_eq!(route(&log, "delete").len(), 1);
    let f = s.files().await.into_iter().find(|f| str_field(f, "uri") == uri).expect("stored");
    assert_eq!((str_field(&f, "state").as_str(), num_field(&f, "versions")), ("complete", 1.0));
    assert_eq!(str_field(&f, "sha256"), sha256_hex(&data).await);
}

/// Checks a recovered upload: two sessions (the first deleted), identical bytes.
async fn replaced_once(s: &Cr, uri: &str, data: &[u8]) {
    let ups = s.uploads().await;
    assert_eq!(ups.len(), 2, "one new session");
    assert_eq!((str_field(&ups[0], "state").as_str(), str_field(&ups[1], "state").as_str()), ("deleted", "complete"));
    let f = s.files().await.into_iter().find(|f| str_field(f, "uri") == uri).expect("stored");
    assert_eq!(str_field(&f, "sha256"), sha256_hex(data).await);
}

#[wasm_bindgen_test]
async fn storage_credentials_expiring_with_the_session_lead_to_a_new_session() {
    // S3: presigned part URLs are signed for the session's lifetime; afterwards the bucket answers
    // 403 "Request has expired". The file still records the session: deleted, created again.
    let s = Cr::new(r#"{"policy":"s3","chunkSize":32768,"concurrency":1}"#).await;
    let uri = "cloudreve://my/tests/s3-expired.bin";
    let data = bytes(200 * KIB, 37);
    with_event_mid_upload(&s, &data, uri, &s.options(uri, ""), "part", 3, "expire-uploads").await.unwrap_or_else(|e| panic!("{}", str_field(&e, "message")));
    let parts = route(&s.log().await, "part");
    assert!(parts.iter().any(|e| num_field(e, "status") == 403.0), "the bucket refused the expired URL");
    replaced_once(&s, uri, &data).await;

    // Remote node: its credential expires with the session ("sign expired", 40071).
    let s = Cr::new(r#"{"policy":"remote","chunkSize":32768}"#).await;
    let uri = "cloudreve://my/tests/node-expired.bin";
    let data = bytes(200 * KIB, 35);
    with_event_mid_upload(&s, &data, uri, &s.options(uri, ""), "node-chunk", 3, "expire-uploads").await.unwrap_or_else(|e| panic!("{}", str_field(&e, "message")));
    assert!(codes(&route(&s.log().await, "node-chunk")).contains(&40071));
    replaced_once(&s, uri, &data).await;

    // OneDrive: the upload URL goes with the expired session (404).
    let s = Cr::new(r#"{"policy":"onedrive","chunkSize":32768}"#).await;
    let uri = "cloudreve://my/tests/od-expired.bin";
    let data = bytes(150 * KIB + 1, 38);
    with_event_mid_upload(&s, &data, uri, &s.options(uri, ""), "onedrive-chunk", 3, "expire-uploads").await.unwrap_or_else(|e| panic!("{}", str_field(&e, "message")));
    replaced_once(&s, uri, &data).await;
}

#[wasm_bindgen_test]
async fn session_expiring_before_completion_or_callback_leads_to_a_new_session() {
    // Every part stored, then the session expires: the presigned completion URL answers 403
    // "Request has expired" (OSS would have called Cloudreve back itself). The file still records
    // the session: deleted, created again, every byte sent again.
    for policy in ["cos", "oss"] {
        let s = Cr::new(&format!(r#"{{"policy":"{policy}","chunkSize":32768,"concurrency":1}}"#)).await;
        let uri = format!("cloudreve://my/tests/{policy}-complete-expired.bin");
        let data = bytes(100 * KIB + 3, 41);
        let result = with_event_mid_upload(&s, &data, &uri, &s.options(&uri, ""), "part", 4, "expire-uploads")
            .await
            .unwrap_or_else(|e| panic!("{policy}: {}", str_field(&e, "message")));
        let log = s.log().await;
        let statuses: Vec<f64> = route(&log, "complete").iter().map(|e| num_field(e, "status")).collect();
        assert_eq!(statuses, [403.0, 200.0], "{policy}: the expired completion URL, then the new session's");
        assert_eq!(route(&log, "part").len(), 8, "{policy}: every part again");
        assert_eq!(route(&log, "delete").len(), 1);
        replaced_once(&s, &uri, &data).await;
        assert_eq!(str_field(&result, "sessionId"), str_field(&s.uploads().await[1], "sessionId"));
    }

    // Every byte stored (S3: the multipart upload completed; OneDrive: its upload URL took the
    // last of 4 chunks), then the session expired before the client's callback: Cloudreve answers
    // 40011 (HTTP 401). Same recovery.
    for (policy, data_route, n) in [("s3", "complete", 1), ("onedrive", "onedrive-chunk", 4)] {
        let s = Cr::new(&format!(r#"{{"policy":"{policy}","chunkSize":32768,"concurrency":1}}"#)).await;
        let uri = format!("cloudreve://my/tests/{policy}-callback-expired.bin");
        let data = bytes(100 * KIB + 7, 42);
        let result = with_event_mid_upload(&s, &data, &uri, &s.options(&uri, ""), data_route, n, "expire-uploads")
            .await
            .unwrap_or_else(|e| panic!("{policy}: {}", str_field(&e, "message")));
        let log = s.log().await;
        assert_eq!(codes(&route(&log, "callback")), [40011, 0], "{policy}");
        assert_eq!(codes(&route(&log, "file-info")), [0], "{policy}: the check, with the token that still works");
        assert_eq!(route(&log, data_route).len(), 2 * n, "{policy}: every byte again");
        replaced_once(&s, &uri, &data).await;
        assert_eq!(str_field(&result, "sessionId"), str_field(&s.uploads().await[1], "sessionId"));
    }

    // Token and session both expired before the callback: the callback route ignores the JWT
    // (still 40011), the file check does not (401): one fresh token, then the same recovery.
    let s = Cr::new(r#"{"policy":"s3","chunkSize":32768,"concurrency":1}"#).await;
    let uri = "cloudreve://my/tests/s3-callback-both-expired.bin";
    let o = s.options(uri, "");
    let (calls, cb) = token_source(base(), &s.id);
    set(&o, "getAccessToken", cb.as_ref());
    let data = bytes(100 * KIB + 11, 43);
    with_event_mid_upload(&s, &data, uri, &o, "complete", 1, "expire-token,expire-uploads").await.unwrap_or_else(|e| panic!("{}", str_field(&e, "message")));
    assert_eq!(calls.get(), 1, "one fresh token");
    let log = s.log().await;
    assert_eq!(codes(&route(&log, "callback")), [40011, 0]);
    assert_eq!(codes(&route(&log, "file-info")), [401, 0]);
    assert_eq!(codes(&route(&log, "delete")), [0], "deleted with the fresh token");
    replaced_once(&s, uri, &data).await;

    // The file no longer records the session (deleted meanwhile): 'session-expired', not 'auth'.
    let s = Cr::new(r#"{"policy":"cos","chunkSize":32768,"concurrency":1}"#).await;
    let uri = "cloudreve://my/tests/cos-complete-expired-gone.bin";
    s.faults(r#"[{"route":"file-info","nth":1,"status":200,"body":{"code":40016,"msg":"Path not exist"}}]"#).await;
    let e = with_event_mid_upload(&s, &bytes(100 * KIB, 44), uri, &s.options(uri, ""), "part", 4, "expire-uploads").await.expect_err("cannot be replaced");
    assert_eq!(code(&e), "session-expired", "{}", str_field(&e, "message"));
    assert!(str_field(&e, "message").contains("Request has expired"), "{}", str_field(&e, "message"));
    assert_eq!(route(&s.log().await, "create").len(), 1);
}

#[wasm_bindgen_test]
async fn lost_answer_to_session_creation_is_recovered() {
    // The session is created but the answer is lost: the retry meets its placeholder (40004),
    // whose sys:upload_session_id names it; it is deleted and created again.
    let s = Cr::new(r#"{"policy":"local","chunkSize":65536}"#).await;
    s.faults(r#"[{"route":"create","drop":true,"afterResponse":true,"nth":1}]"#).await;
    let data = bytes(150 * KIB, 34);
    upload_ok(&s, &data, "lost-create.bin", "").await;
    let log = s.log().await;
    assert_eq!(codes(&route(&log, "create")), [0, 40004, 0]);
    assert_eq!(route(&log, "file-info").len(), 1);
    let ups = s.uploads().await;
    assert_eq!(ups.len(), 2);
    assert_eq!((str_field(&ups[0], "state").as_str(), str_field(&ups[1], "state").as_str()), ("deleted", "complete"));

    // A new version of an existing file: the retry reaches the lock (40073) instead.
    let s = Cr::new(r#"{"policy":"local","chunkSize":65536,"existing":[{"uri":"cloudreve://my/tests/v.bin","size":3}]}"#).await;
    s.faults(r#"[{"route":"create","drop":true,"afterResponse":true,"nth":1}]"#).await;
    upload_ok(&s, &data, "v.bin", r#""overwrite":true"#).await;
    assert_eq!(codes(&route(&s.log().await, "create")), [0, 40073, 0]);
    assert_eq!(num_field(&s.files().await[0], "versions"), 2.0);
}

#[wasm_bindgen_test]
async fn storage_node_refusals_are_auth() {
    // SignRequired keeps the inner code, as an HTTP 200 envelope: 40071 "invalid sign", 403
    // "authorization header is missing" (not 40020). No user token can renew the credential.
    for (c, msg) in [(40071, "invalid sign"), (403, "authorization header is missing")] {
        let s = Cr::new(r#"{"policy":"remote","chunkSize":32768}"#).await;
        s.faults(&format!(r#"[{{"route":"node-chunk","nth":2,"status":200,"body":{{"code":{c},"msg":"{msg}"}}}}]"#)).await;
        let e = upload_err(&s, &bytes(100 * KIB, 36), "node-refused.bin", "").await;
        assert_eq!(code(&e), "auth", "{c}: {}", str_field(&e, "message"));
        assert!(str_field(&e, "message").contains(msg) && str_field(&e, "message").contains(&c.to_string()), "{}", str_field(&e, "message"));
        assert!(route(&s.log().await, "file-info").is_empty(), "a plain refusal is final");
    }
    // "signature expired" (40005) for a session the file no longer records: the refusal stands.
    let s = Cr::new(r#"{"policy":"remote","chunkSize":32768}"#).await;
    s.faults(r#"[{"route":"node-chunk","nth":2,"status":200,"body":{"code":40005,"msg":"signature expired"}},{"route":"file-info","nth":1,"status":200,"body":{"code":40016,"msg":"Path not exist"}}]"#).await;
    let e = upload_err(&s, &bytes(100 * KIB, 39), "node-sig-expired.bin", "").await;
    assert_eq!(code(&e), "auth", "{}", str_field(&e, "message"));
    assert!(str_field(&e, "message").contains("signature expired"));
}

#[wasm_bindgen_test]
async fn login_two_factor_and_refresh_helpers() {
    let s = Cr::new(r#"{"policy":"local","twoFactor":true}"#).await;
    let opts = |extra: &str| options(&format!(r#"{{"endpoint":"{}","email":"{}","password":"{}"{extra}}}"#, base(), s.email, s.password));
    let e = JsFuture::from(chunkup::web::cloudreve::cloudreve_login(opts("").into())).await.expect_err("needs otp");
    assert_eq!(code(&e), "auth");
    let tok = JsFuture::from(chunkup::web::cloudreve::cloudreve_login(opts(r#","otp":"123456""#).into())).await.expect("login");
    let access = str_field(&tok, "accessToken");
    assert!(!access.is_empty() && !str_field(&tok, "refreshToken").is_empty());
    assert_eq!(str_field(&field(&tok, "user"), "email"), s.email);
    let bad = options(&format!(r#"{{"endpoint":"{}","email":"{}","password":"wrong-pw"}}"#, base(), s.email));
    let e = JsFuture::from(chunkup::web::cloudreve::cloudreve_login(bad.into())).await.expect_err("bad password");
    assert_eq!(code(&e), "auth");
    assert!(!str_field(&e, "message").contains("wrong-pw"));
    let r = options(&format!(r#"{{"endpoint":"{}","refreshToken":"{}"}}"#, base(), str_field(&tok, "refreshToken")));
    let again = JsFuture::from(chunkup::web::cloudreve::cloudreve_refresh_token(r.clone().into())).await.expect("refresh");
    assert_ne!(str_field(&again, "accessToken"), access);
    let e = JsFuture::from(chunkup::web::cloudreve::cloudreve_refresh_token(r.into())).await.expect_err("a used refresh token is revoked");
    assert_eq!(code(&e), "auth");
    let _ = (&s.token, &s.refresh);
}

/// The helpers' options go through serde-wasm-bindgen into a derived struct: a value of the
/// wrong type is named, a missing one is required, and nothing is sent for either.
#[wasm_bindgen_test]
async fn helper_options_are_named_when_wrong() {
    use chunkup::web::cloudreve::{cloudreve_delete_upload_session, cloudreve_login, cloudreve_refresh_token};
    let ep = base();
    let cases: [(js_sys::Promise, &str); 5] = [
        (cloudreve_login(options(&format!(r#"{{"endpoint":"{ep}","email":5,"password":"p"}}"#)).into()), "email must be a string"),
        (cloudreve_login(options(&format!(r#"{{"endpoint":"{ep}","email":"a@b.c"}}"#)).into()), "password is required"),
        (cloudreve_login(options(&format!(r#"{{"endpoint":"{ep}","email":"a@b.c","password":"p","otp":123456}}"#)).into()), "otp must be a string"),
        (cloudreve_refresh_token(options(&format!(r#"{{"endpoint":"{ep}","refreshToken":["r"]}}"#)).into()), "refreshToken must be a string"),
        (cloudreve_delete_upload_session(options(&format!(r#"{{"endpoint":"{ep}","accessToken":"t","sessionId":"s"}}"#)).into()), "uri is required"),
    ];
    for (promise, want) in cases {
        let e = JsFuture::from(promise).await.expect_err(want);
        assert_eq!((code(&e), str_field(&e, "message")), ("invalid-input".to_string(), want.to_string()));
    }
}
