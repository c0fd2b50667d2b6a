//! MangaDex chapter uploads against the fake, in headless Chromium: a 20-page chapter committed
//! in input order with identical bytes, a file refused inside a batch, bad pages refused before
//! any request, abort, an open session resumed, rate limits, the approval check, progress.
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

const KIB: usize = 1024;

fn base() -> &'static str {
    option_env!("CHUNKUP_MANGADEX_URL").unwrap_or("http://127.0.0.1:18084")
}

/// A control session on the MangaDex fake: one user with a manga and a group.
struct Md {
    id: String,
    token: String,
    manga: String,
    group: String,
}

impl Md {
    async fn new(opts: &str) -> Md {
        let v = control(base(), "POST", "/__control/session", Some(opts)).await;
        Md { id: str_field(&v, "id"), token: str_field(&v, "accessToken"), manga: str_field(&v, "mangaId"), group: str_field(&v, "groupId") }
    }
    async fn get(&self, what: &str) -> Vec<JsValue> {
        let a: Array = control(base(), "GET", &format!("/__control/session/{}/{what}", self.id), None).await.unchecked_into();
        a.iter().collect()
    }
    async fn post(&self, what: &str, body: &str) -> JsValue {
        control(base(), "POST", &format!("/__control/session/{}/{what}", self.id), Some(body)).await
    }
    fn options(&self, extra: &str) -> Object {
        let extra = if extra.is_empty() { String::new() } else { format!(",{extra}") };
        options(&format!(
            r#"{{"provider":"mangadex","endpoint":"{}","accessToken":"{}","manga":"{}","groups":["{}"],
                "chapter":{{"volume":"1","chapter":"3","title":"Test","translatedLanguage":"en"}},
                "termsAccepted":true,"retryDelays":[30,30,30,30]{extra}}}"#,
            base(),
            self.token,
            self.manga,
            self.group
        ))
    }
}

/// Log entries of one route.
fn route(log: &[JsValue], name: &str) -> Vec<JsValue> {
    log.iter().filter(|e| str_field(e, "route") == name).cloned().collect()
}

/// File names each upload request carried.
fn batches(log: &[JsValue]) -> Vec<Vec<String>> {
    route(log, "upload")
        .iter()
        .map(|e| {
            let files: Array = field(e, "files").dyn_into().unwrap_or_default();
            files.iter().map(|f| str_field(&f, "filename")).collect()
        })
        .collect()
}

fn jpeg(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    v.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x04, 0x00, 0x03, 0x00, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    v.extend_from_slice(&bytes(len.saturating_sub(v.len()), seed));
    v
}

/// `n` pages, PNG and JPEG alternating, of different sizes; name i is `page-i.png`/`.jpg`.
fn chapter(n: usize, seed: u64) -> Vec<(Vec<u8>, web_sys::File)> {
    (0..n)
        .map(|i| {
            let len = 3 * KIB + i * 1500 + (i % 3) * 777;
            let (data, name, mime) = if i % 2 == 0 {
                (png(800, 1200, len, seed * 100 + i as u64), format!("page-{i}.png"), "image/png")
            } else {
                (jpeg(len, seed * 100 + i as u64), format!("page-{i}.jpg"), "image/jpeg")
            };
            let f = file(&data, &name, mime);
            (data, f)
        })
        .collect()
}

fn input(pages: &[(Vec<u8>, web_sys::File)]) -> JsValue {
    let a = Array::new();
    for (_, f) in pages {
        a.push(f);
    }
    a.into()
}

/// The committed chapter on the fake has exactly these pages, in this order, byte for byte.
async fn assert_committed(s: &Md, pages: &[(Vec<u8>, web_sys::File)], result: &JsValue) -> JsValue {
    let chapters = s.get("chapters").await;
    assert_eq!(chapters.len(), 1);
    let ch = chapters[0].clone();
    assert_eq!(str_field(&field(result, "data"), "id"), str_field(&ch, "id"), "start() resolves with the committed chapter");
    assert_eq!(str_field(&field(result, "data"), "type"), "chapter");
    let stored: Array = field(&ch, "pages").unchecked_into();
    assert_eq!(stored.length() as usize, pages.len());
    for (i, (data, _)) in pages.iter().enumerate() {
        let p = stored.get(i as u32);
        assert!(str_field(&p, "originalFileName").starts_with(&format!("{:03}_page-{i}", i + 1)), "page {i}: {}", str_field(&p, "originalFileName"));
        assert_eq!(num_field(&p, "size") as usize, data.len(), "page {i} size");
        assert_eq!(str_field(&p, "sha256"), sha256_hex(data).await, "page {i}: identical bytes");
    }
    ch
}

#[wasm_bindgen_test]
async fn a_twenty_page_chapter_is_committed_in_order_with_identical_bytes() {
    let s = Md::new("{}").await;
    let pages = chapter(20, 1);
    let up = new_upload(&input(&pages), &s.options("")).expect("valid options");
    let result = run(&up).await.unwrap_or_else(|e| panic!("upload failed: {}", str_field(&e, "message")));
    let ch = assert_committed(&s, &pages, &result).await;
    assert_eq!(str_field(&ch, "chapter"), "3");
    assert_eq!(str_field(&ch, "translatedLanguage"), "en");
    assert_eq!(field(&ch, "termsAccepted"), JsValue::TRUE);
    let log = s.get("log").await;
    assert_eq!(route(&log, "session").len(), 1);
    assert_eq!(route(&log, "begin").len(), 1);
    assert_eq!(route(&log, "commit").len(), 1);
    let b = batches(&log);
    assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10], "two full batches");
    assert!(log.iter().all(|e| field(e, "hasAuth") == JsValue::TRUE));
    let ups = s.get("uploads").await;
    assert_eq!(str_field(&ups[0], "state"), "committed");
}

#[wasm_bindgen_test]
async fn progress_covers_the_whole_chapter() {
    let s = Md::new("{}").await;
    let pages = chapter(13, 2);
    let total: usize = pages.iter().map(|(d, _)| d.len()).sum();
    // Progress reaches the page at most once per 50 ms (plus the final value): two batches at a
    // time, each answered 120 ms late, leave room for a report between the rounds on any machine.
    s.post("faults", r#"[{"route":"upload","delayMs":120,"count":1000}]"#).await;
    let o = s.options(r#""batchSize":4,"concurrency":2"#);
    let (events, _cb) = record_progress(&o);
    let up = new_upload(&input(&pages), &o).unwrap();
    run(&up).await.expect("uploaded");
    let ev: Vec<(f64, f64)> = events.iter().map(|p| {
        let a: Array = p.unchecked_into();
        (a.get(0).as_f64().unwrap(), a.get(1).as_f64().unwrap())
    }).collect();
    assert!(ev.len() >= 3, "several progress events: {ev:?}");
    assert!(ev.iter().all(|(_, t)| *t == total as f64), "total is every page's bytes");
    assert!(ev.windows(2).all(|w| w[0].0 <= w[1].0), "loaded never decreases");
    assert_eq!(ev.last().unwrap().0, total as f64);
    assert!(ev.iter().any(|(l, _)| *l > 0.0 && *l < total as f64), "intermediate values");
    // Batches go out in parallel: the short last one may arrive before a full one.
    let mut sizes: Vec<usize> = batches(&s.get("log").await).iter().map(Vec::len).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(sizes, [4, 4, 4, 1]);
}

#[wasm_bindgen_test]
async fn a_file_refused_inside_a_batch_is_sent_again_alone() {
    let s = Md::new("{}").await;
    s.post("file-faults", r#"[{"name":"005_page-4","detail":"Failed to store the file"}]"#).await;
    let pages = chapter(12, 3);
    let up = new_upload(&input(&pages), &s.options("")).unwrap();
    let result = run(&up).await.unwrap_or_else(|e| panic!("upload failed: {}", str_field(&e, "message")));
    assert_committed(&s, &pages, &result).await;
    let b = batches(&s.get("log").await);
    let all: Vec<&String> = b.iter().flatten().collect();
    assert_eq!(all.iter().filter(|n| n.starts_with("005_")).count(), 2, "page 5 twice: {b:?}");
    for i in (0..12).filter(|i| *i != 4) {
        assert_eq!(all.iter().filter(|n| n.starts_with(&format!("{:03}_", i + 1))).count(), 1, "page {} once: {b:?}", i + 1);
    }
    assert_eq!(all.len(), 13, "12 pages + page 5 again, not the whole batch: {b:?}");
    // Nothing stale left: the session had exactly the chapter's pages.
    let ups = s.get("uploads").await;
    let files: Array = field(&ups[0], "files").unchecked_into();
    assert_eq!(files.length(), 12);
}

#[wasm_bindgen_test]
async fn bad_pages_are_refused_before_any_request() {
    let s = Md::new("{}").await;
    let mut pages = chapter(6, 4);
    // Page 2: a WebP named .png; page 4: text named .jpg; page 6: too tall.
    pages[1] = { let d = b"RIFF\x10\0\0\0WEBPVP8 \0\0\0\0".to_vec(); let f = file(&d, "page-1.png", "image/png"); (d, f) };
    pages[3] = { let d = b"this is not an image".to_vec(); let f = file(&d, "page-3.jpg", "image/jpeg"); (d, f) };
    pages[5] = { let d = png(800, 12_000, 4 * KIB, 9); let f = file(&d, "page-5.png", "image/png"); (d, f) };
    let up = new_upload(&input(&pages), &s.options("")).expect("sizes are fine: the content is checked in start()");
    let e = run(&up).await.expect_err("refused");
    assert_eq!(code(&e), "invalid-input");
    let msg = str_field(&e, "message");
    assert!(msg.starts_with("3 pages cannot be uploaded"), "{msg}");
    assert!(msg.contains("page 2 (index 1, \"page-1.png\"): it is a WebP image"), "{msg}");
    assert!(msg.contains("page 4 (index 3, \"page-3.jpg\"): it is text"), "{msg}");
    assert!(msg.contains("page 6 (index 5, \"page-5.png\"): the image is 800×12000 px"), "{msg}");
    assert!(s.get("log").await.is_empty(), "no request at all");
    // Empty and oversized pages are refused synchronously, all at once.
    let empty = file(&[], "empty.png", "image/png");
    let list = Array::of2(&pages[0].1, &empty);
    let e = new_upload(&list.into(), &s.options("")).err().expect("refused at once");
    assert_eq!(code(&e), "invalid-input");
    assert!(str_field(&e, "message").contains("page 2 (index 1, \"empty.png\"): the file is empty"));
    let e = new_upload(&Array::new().into(), &s.options("")).err().expect("no pages");
    assert_eq!(code(&e), "invalid-input");
    let e = new_upload(&input(&pages), &s.options(r#""chunkSize":65536"#)).err().expect("no chunkSize");
    assert_eq!(code(&e), "invalid-input");
}

#[wasm_bindgen_test]
async fn abort_abandons_the_session() {
    let s = Md::new("{}").await;
    s.post("faults", r#"[{"route":"upload","delayMs":1500,"count":5}]"#).await;
    let pages = chapter(30, 5);
    let up = new_upload(&input(&pages), &s.options("")).unwrap();
    let p = up.start();
    for _ in 0..300 {
        if !route(&s.get("log").await, "upload").is_empty() {
            break;
        }
        sleep_ms(10.0).await;
    }
    JsFuture::from(up.abort()).await.unwrap();
    let err = JsFuture::from(p).await.expect_err("aborted");
    assert_eq!(code(&err), "aborted");
    let ups = s.get("uploads").await;
    assert_eq!(ups.len(), 1);
    assert_eq!(str_field(&ups[0], "state"), "deleted");
    let log = s.get("log").await;
    let abandon = route(&log, "abandon");
    assert_eq!(abandon.len(), 1);
    assert_eq!(str_field(&abandon[0], "method"), "DELETE");
    assert!(route(&log, "commit").is_empty());
    assert!(s.get("chapters").await.is_empty());
    // The account can begin again at once.
    let pages = chapter(2, 6);
    let up = new_upload(&input(&pages), &s.options(r#""existingSession":"fail""#)).unwrap();
    run(&up).await.expect("a new session");
}

#[wasm_bindgen_test]
async fn an_open_session_is_resumed_or_reported() {
    let s = Md::new("{}").await;
    let pages = chapter(5, 7);
    // Another tab left pages 1 and 2 in a session for the same chapter.
    let mut files = Vec::new();
    for (i, (data, _)) in pages.iter().enumerate().take(2) {
        let name = format!("{:03}_page-{i}.{}", i + 1, if i % 2 == 0 { "png" } else { "jpg" });
        files.push(format!(r#"{{"originalFileName":"{name}","size":{},"sha256":"{}"}}"#, data.len(), sha256_hex(data).await));
    }
    let seeded = s.post("upload-session", &format!(r#"{{"files":[{}]}}"#, files.join(","))).await;
    let up = new_upload(&input(&pages), &s.options("")).unwrap();
    let result = run(&up).await.unwrap_or_else(|e| panic!("upload failed: {}", str_field(&e, "message")));
    let log = s.get("log").await;
    assert!(route(&log, "begin").is_empty(), "the open session was continued");
    assert_eq!(batches(&log).iter().flatten().count(), 3, "only the missing pages");
    assert_committed(&s, &pages, &result).await;
    assert_eq!(str_field(&s.get("uploads").await[0], "id"), str_field(&seeded, "id"));
    // A session for other groups is reported, not touched.
    let other = Md::new("{}").await;
    other.post("upload-session", r#"{"groupIds":[]}"#).await;
    let up = new_upload(&input(&pages), &other.options("")).unwrap();
    let e = run(&up).await.expect_err("another session is open");
    let msg = str_field(&e, "message");
    assert!(msg.contains("already open") && msg.contains("existingSession"), "{msg}");
    assert_eq!(str_field(&other.get("uploads").await[0], "state"), "open", "left alone");
    // existingSession 'abandon' discards it and begins anew.
    let up = new_upload(&input(&pages), &other.options(r#""existingSession":"abandon""#)).unwrap();
    run(&up).await.expect("after abandoning the old one");
    let states: Vec<String> = other.get("uploads").await.iter().map(|u| str_field(u, "state")).collect();
    assert_eq!(states, ["deleted", "committed"]);
}

#[wasm_bindgen_test]
async fn rate_limits_and_lost_answers_are_survived() {
    let s = Md::new("{}").await;
    let reset = (js_sys::Date::now() / 1000.0).ceil() as u64 + 1;
    s.post(
        "faults",
        &format!(
            r#"[{{"route":"upload","nth":2,"status":429,"headers":{{"X-RateLimit-Retry-After":"{reset}"}},
                 "body":{{"result":"error","errors":[{{"status":429,"title":"Too Many Requests","detail":"You have been rate limited"}}]}}}},
                {{"route":"upload","nth":3,"drop":true,"afterResponse":true}}]"#
        ),
    )
    .await;
    let pages = chapter(25, 8);
    let t0 = js_sys::Date::now();
    let up = new_upload(&input(&pages), &s.options(r#""concurrency":1"#)).unwrap();
    let result = run(&up).await.unwrap_or_else(|e| panic!("upload failed: {}", str_field(&e, "message")));
    assert!(js_sys::Date::now() - t0 >= 500.0, "waited for the rate-limit window");
    assert_committed(&s, &pages, &result).await;
    let log = s.get("log").await;
    assert!(!route(&log, "session").is_empty());
    assert_eq!(route(&log, "session").len(), 2, "the lost answer made it look at the session again");
}

#[wasm_bindgen_test]
async fn approval_check() {
    let s = Md::new("{}").await;
    let check = |manga: &str, locale: &str| {
        let o = options(&format!(r#"{{"endpoint":"{}","accessToken":"{}","manga":"{manga}","locale":"{locale}"}}"#, base(), s.token));
        JsFuture::from(chunkup::web::mangadex::check_approval_required(o.into()))
    };
    assert_eq!(check(&s.manga, "en").await.unwrap(), JsValue::TRUE, "a first chapter in a language needs approval");
    let pages = chapter(2, 9);
    run(&new_upload(&input(&pages), &s.options("")).unwrap()).await.unwrap();
    assert_eq!(check(&s.manga, "en").await.unwrap(), JsValue::FALSE, "the language exists now");
    assert_eq!(check(&s.manga, "fr").await.unwrap(), JsValue::TRUE);
    let e = check("00000000-0000-4000-8000-000000000000", "en").await.expect_err("unknown manga");
    assert_eq!((code(&e), num_field(&e, "status")), ("http".to_string(), 404.0));
    let e = check("not-a-uuid", "en").await.expect_err("bad manga");
    assert_eq!(code(&e), "invalid-input");
    let forced = Md::new(r#"{"approvalRequired":false}"#).await;
    let o = options(&format!(r#"{{"endpoint":"{}","accessToken":"{}","manga":"{}","locale":"en"}}"#, base(), forced.token, forced.manga));
    assert_eq!(JsFuture::from(chunkup::web::mangadex::check_approval_required(o.into())).await.unwrap(), JsValue::FALSE);
}

#[wasm_bindgen_test]
async fn an_access_token_expiring_mid_chapter_is_replaced_and_the_upload_continues() {
    let s = Md::new("{}").await;
    // Every page batch is held 150 ms before its token is checked, so the token can expire
    // while some pages are stored and one batch is on its way.
    s.post("faults", r#"[{"route":"upload","delayMs":150,"count":1000}]"#).await;
    let pages = chapter(12, 21);
    let o = s.options(r#""batchSize":2,"concurrency":1"#);
    let (calls, _cb) = token_source(base(), &s.id);
    set(&o, "getAccessToken", _cb.as_ref());
    let up = new_upload(&input(&pages), &o).unwrap();
    let p = up.start();
    // Wait until two batches (4 pages) are stored, then expire the token.
    for _ in 0..500 {
        let stored = route(&s.get("log").await, "upload").iter().filter(|e| num_field(e, "status") == 200.0).count();
        if stored >= 2 {
            break;
        }
        sleep_ms(10.0).await;
    }
    s.post("expire-token", "{}").await;
    let result = JsFuture::from(p).await.unwrap_or_else(|e| panic!("upload failed: {}", str_field(&e, "message")));
    assert_eq!(calls.get(), 1, "asked the page once");
    assert_committed(&s, &pages, &result).await;
    let log = s.get("log").await;
    let refused: Vec<&JsValue> = log.iter().filter(|e| num_field(e, "status") == 401.0).collect();
    assert_eq!(refused.len(), 1, "one request refused: {:?}", log.iter().map(|e| (str_field(e, "route"), num_field(e, "status"))).collect::<Vec<_>>());
    assert_eq!(str_field(refused[0], "route"), "upload", "the token expired under a page batch");
    // Continued where it was: every page stored exactly once, no stored page sent again; the
    // one refused batch is the only extra upload request.
    let uploads = route(&log, "upload");
    let stored_names: Vec<String> = uploads
        .iter()
        .filter(|e| num_field(e, "status") == 200.0)
        .flat_map(|e| {
            let files: Array = field(e, "files").dyn_into().unwrap_or_default();
            files.iter().map(|f| str_field(&f, "filename")).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(stored_names.len(), 12, "{stored_names:?}");
    for i in 0..12 {
        assert_eq!(stored_names.iter().filter(|n| n.starts_with(&format!("{:03}_", i + 1))).count(), 1, "page {} once: {stored_names:?}", i + 1);
    }
    assert_eq!(uploads.len(), 6 + 1, "6 batches of 2 pages + the refused one");
    assert_eq!(route(&log, "begin").len(), 1, "the same upload session throughout");
    let ups = s.get("uploads").await;
    assert_eq!(ups.len(), 1);
    let files: Array = field(&ups[0], "files").unchecked_into();
    assert_eq!(files.length(), 12, "no page stored twice in the session");
}

/// Resuming an open session: a page edited since it was stored (same name, same size, other
/// bytes) is deleted from the session and sent again, its `fileHash` compared with the page's
/// SHA-256 — with or without the `integrity` option.
#[wasm_bindgen_test]
async fn an_edited_page_is_sent_again_when_a_session_is_resumed() {
    for integrity in [false, true] {
        let s = Md::new("{}").await;
        let pages = chapter(5, 11);
        // Another tab left pages 1-3 in a session for this chapter; page 2 has been edited since
        // (same size, other bytes).
        let mut files = Vec::new();
        for (i, (data, _)) in pages.iter().enumerate().take(3) {
            let stored = if i == 1 { jpeg(data.len(), 999) } else { data.clone() };
            assert_eq!(stored.len(), data.len());
            let name = format!("{:03}_page-{i}.{}", i + 1, if i % 2 == 0 { "png" } else { "jpg" });
            files.push(format!(r#"{{"originalFileName":"{name}","size":{},"sha256":"{}"}}"#, data.len(), sha256_hex(&stored).await));
        }
        let seeded = s.post("upload-session", &format!(r#"{{"files":[{}]}}"#, files.join(","))).await;
        let stale: Array = field(&seeded, "files").unchecked_into();
        let stale_id = str_field(&stale.get(1), "id");
        let extra = if integrity { r#""integrity":true"# } else { "" };
        let up = new_upload(&input(&pages), &s.options(extra)).unwrap();
        let result = run(&up).await.unwrap_or_else(|e| panic!("integrity {integrity}: upload failed: {}", str_field(&e, "message")));
        assert_committed(&s, &pages, &result).await;
        let log = s.get("log").await;
        assert!(route(&log, "begin").is_empty(), "integrity {integrity}: the open session was continued");
        let sent: Vec<String> = batches(&log).into_iter().flatten().collect();
        assert_eq!(sent.len(), 3, "integrity {integrity}: the edited page and the two missing ones: {sent:?}");
        assert!(sent.iter().any(|n| n.starts_with("002_page-1")), "integrity {integrity}: {sent:?}");
        let deleted: Vec<String> = route(&log, "delete-file").iter().map(|e| str_field(e, "path")).collect();
        assert!(deleted.len() == 1 && deleted[0].ends_with(&stale_id), "integrity {integrity}: the stale copy is deleted: {deleted:?}");
    }
}

/// The commit's answer is lost and the session is gone: the chapter the commit created is found
/// in the chapter list — once MangaDex's processing queue lets it appear — and the upload resolves
/// with it, in the shape of the commit's answer.
#[wasm_bindgen_test]
async fn a_lost_commit_answer_resolves_with_the_chapter_it_created() {
    let s = Md::new(r#"{"listingDelayMs":2500}"#).await;
    s.post("faults", r#"[{"route":"commit","nth":1,"drop":true,"afterResponse":true}]"#).await;
    let pages = chapter(4, 12);
    let up = new_upload(&input(&pages), &s.options("")).unwrap();
    let result = run(&up).await.unwrap_or_else(|e| panic!("upload failed: {} {}", code(&e), str_field(&e, "message")));
    assert_committed(&s, &pages, &result).await;
    assert_eq!(str_field(&result, "response"), "entity");
    let log = s.get("log").await;
    assert_eq!(route(&log, "commit").len(), 2, "committed, then asked again (404: the session is gone)");
    let lookups = route(&log, "chapter-list");
    assert!(lookups.len() >= 2, "looked again until the chapter was listed: {}", lookups.len());
    assert!(lookups.iter().all(|e| num_field(e, "status") == 200.0));
}

/// The helpers' options go through serde-wasm-bindgen into a derived struct: a value of the
/// wrong type is named, a missing one is required, and nothing is sent for either.
#[wasm_bindgen_test]
async fn helper_options_are_named_when_wrong() {
    use chunkup::web::mangadex::{check_approval_required, login, refresh_token};
    let ep = base();
    let auth = format!("{ep}/auth");
    let cases: [(js_sys::Promise, &str); 5] = [
        (login(options(&format!(r#"{{"authEndpoint":"{auth}","username":"u","password":"p","clientId":7,"clientSecret":"s"}}"#)).into()), "clientId must be a string"),
        (login(options(&format!(r#"{{"authEndpoint":"{auth}","username":"u","password":"p","clientId":"c"}}"#)).into()), "clientSecret is required"),
        (login(options(r#"{"username":"u","password":"p","clientId":"c","clientSecret":"s"}"#).into()), "authEndpoint is required"),
        (refresh_token(options(&format!(r#"{{"authEndpoint":"{auth}","refreshToken":{{}},"clientId":"c","clientSecret":"s"}}"#)).into()), "refreshToken must be a string"),
        (check_approval_required(options(&format!(r#"{{"endpoint":"{ep}","accessToken":"t","manga":"m","locale":false}}"#)).into()), "locale must be a string"),
    ];
    for (promise, want) in cases {
        let e = JsFuture::from(promise).await.expect_err(want);
        assert_eq!((code(&e), str_field(&e, "message")), ("invalid-input".to_string(), want.to_string()));
    }
}
