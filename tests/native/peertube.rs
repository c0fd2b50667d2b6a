//! PeerTube, natively: the resumable upload (uploadx protocol) driven through the real engine
//! against a simulated uploadx server, every status the wire spec lists for init / chunk /
//! final / offset query, `Range` and `Location` handling, token refresh, abort, user imports,
//! the one-request operations (OAuth, captions, avatars, imports), and property tests that
//! random sizes (past 4 GiB), chunk sizes and server faults always end with the server holding
//! exactly the file's bytes, in order.
#![cfg(not(target_arch = "wasm32"))]

use chunkup::core::progress::Snapshot;
use chunkup::core::retry::{status_is_retryable, RetryPolicy};
use chunkup::core::{Body, ErrorCode, FileInfo, Json, Method, Outcome, Part, Request, Response, UploadError};
use chunkup::engine::{Action, Engine, State};
use chunkup::protocols::oneshot::OneShot;
use chunkup::protocols::peertube::{parse_range, PeerTube, IMPORT_PROVIDER, MAX_CHUNK, MAX_REINITS, MAX_REINITS_IN_A_ROW, MIN_CHUNK, PROVIDER};
use chunkup::protocols::peertube_api as api;
use chunkup::protocols::{Next, Protocol, Verdict};
use proptest::prelude::*;
use drive::{Drive, Order, Run};
use std::collections::HashMap;

#[path = "common/json_ext.rs"]
mod json_ext;
use json_ext::JsonExt as _;
#[path = "common/drive.rs"]
mod drive;

const EP: &str = "http://tube.test:9000";
const INIT: &str = "http://tube.test:9000/api/v1/videos/upload-resumable";
const TOKEN: &str = "tok-0123456789abcdef";
const LM: f64 = 1_700_000_000_123.0;

fn file(name: &str, size: u64, mime: &str) -> FileInfo {
    FileInfo { name: name.into(), size, mime: mime.into(), last_modified: LM }
}

fn opts(s: &str) -> Json {
    serde_json::from_str::<Json>(s).unwrap()
}

fn video(size: u64, chunk: u64) -> PeerTube {
    PeerTube::video(EP, TOKEN, &file("clip.mp4", size, "video/mp4"), &opts(r#"{"channelId":3}"#), Some(chunk)).unwrap()
}

fn resp(status: u16) -> Response {
    Response::new(status)
}

fn out(r: Response) -> Outcome {
    Outcome::Response(r)
}

fn range(stored: u64) -> String {
    format!("bytes=0-{}", stored as i128 - 1)
}

fn r308(stored: u64) -> Outcome {
    out(resp(308).with_header("Range", &range(stored)))
}

fn created(loc: &str) -> Outcome {
    out(resp(201).with_header("Location", loc))
}

const UPLOAD_URL: &str = "http://tube.test:9000/api/v1/videos/upload-resumable?upload_id=u1";
const DONE_BODY: &str = r#"{"video":{"id":42,"shortUUID":"sU","uuid":"0000-1111"}}"#;

fn done() -> Outcome {
    out(resp(200).with_header("Content-Type", "application/json").with_body(DONE_BODY))
}

fn problem(status: u16, code: &str, detail: &str) -> Response {
    resp(status)
        .with_header("Content-Type", "application/problem+json")
        .with_body(&format!(r#"{{"status":{status},"code":"{code}","detail":"{detail}","error":"{detail}"}}"#))
}

fn policy() -> RetryPolicy {
    RetryPolicy::new(vec![100, 200, 400])
}

// ---- step-by-step driving -------------------------------------------------------------------

/// An engine driven one request at a time, with a virtual clock.
struct Step<P: Protocol> {
    e: Engine<P>,
    now: f64,
    waits: Vec<f64>,
}

impl<P: Protocol> Step<P> {
    fn new(p: P, refresh: bool) -> Self {
        let mut e = Engine::new(p, policy(), refresh);
        e.start(0.0);
        Step { e, now: 0.0, waits: Vec::new() }
    }
    /// Polls (sleeping through backoff) until a request goes out.
    fn send(&mut self) -> (u64, Request) {
        for _ in 0..100 {
            match self.e.poll(self.now) {
                Action::Send { id, request } => return (id, request),
                Action::Wait { until_ms: Some(t) } => {
                    self.waits.push(t - self.now);
                    self.now = t;
                }
                a => panic!("expected a request, got {a:?}"),
            }
        }
        panic!("no request");
    }
    fn answer(&mut self, id: u64, o: Outcome) {
        self.now += 1.0;
        self.e.on_outcome(id, o, self.now);
    }
    /// Sends the next request and answers it; returns the request.
    fn exchange(&mut self, o: Outcome) -> Request {
        let (id, r) = self.send();
        self.answer(id, o);
        r
    }
    /// Polls until finished (sleeping through backoff).
    fn finished(&mut self) -> Result<Json, UploadError> {
        for _ in 0..100 {
            match self.e.poll(self.now) {
                Action::Finished(r) => return r,
                Action::Wait { until_ms: Some(t) } => {
                    self.waits.push(t - self.now);
                    self.now = t;
                }
                a => panic!("expected the end, got {a:?}"),
            }
        }
        panic!("not finished");
    }
    fn err(&mut self) -> UploadError {
        self.finished().expect_err("the upload should fail")
    }
}

fn is_query(r: &Request, total: u64) -> bool {
    r.method == Method::Put && r.body == Body::Empty && r.get_header("Content-Range") == Some(&format!("bytes */{total}"))
}

fn chunk_of(r: &Request) -> (u64, u64) {
    match &r.body {
        Body::Slice(s) => (s.start, s.end),
        b => panic!("not a chunk: {b:?}"),
    }
}

/// A started upload of `size` bytes in `chunk`-byte chunks whose init was answered 201.
fn after_init(size: u64, chunk: u64) -> Step<PeerTube> {
    let mut s = Step::new(video(size, chunk), true);
    let init = s.exchange(created(UPLOAD_URL));
    assert_eq!((init.method, init.url.as_str()), (Method::Post, INIT));
    s
}

// ---- init request shape ---------------------------------------------------------------------

#[test]
fn init_request_shape() {
    let o = opts(
        r#"{"channelId":3,"privacy":2,"tags":["a","bb"],"description":"A long description","waitTranscoding":true,
            "nsfw":false,"scheduleUpdate":{"updateAt":"2030-01-01T00:00:00Z","privacy":1},"support":null,
            "bogus":"dropped","accessToken":"never-in-body","endpoint":"x"}"#,
    );
    let mut p = PeerTube::video(EP, TOKEN, &file("My Holiday.mp4", 123_456_789_012, "video/mp4"), &o, None).unwrap();
    let Next::Send(r) = p.next() else { panic!() };
    assert_eq!(r.method, Method::Post);
    assert_eq!(r.url, INIT);
    assert_eq!(r.get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(r.get_header("X-Upload-Content-Length"), Some("123456789012"));
    assert_eq!(r.get_header("X-Upload-Content-Type"), Some("video/mp4"));
    let Body::Text { content_type, text } = &r.body else { panic!("{:?}", r.body) };
    assert!(content_type.starts_with("application/json"));
    let body = serde_json::from_str::<Json>(text).unwrap();
    assert_eq!(body.get("name").and_then(Json::as_str), Some("My Holiday.mp4"), "name defaults to the file name");
    assert_eq!(body.get("filename").and_then(Json::as_str), Some("My Holiday.mp4"));
    assert_eq!(body.get("channelId").and_then(Json::as_u64), Some(3));
    assert_eq!(body.get("lastModified").and_then(Json::as_f64), Some(LM));
    assert_eq!(body.get("privacy").and_then(Json::as_u64), Some(2));
    assert_eq!(body.get("waitTranscoding").and_then(Json::as_bool), Some(true));
    assert_eq!(body.get("nsfw").and_then(Json::as_bool), Some(false));
    assert_eq!(body.pointer("/scheduleUpdate/updateAt").and_then(Json::as_str), Some("2030-01-01T00:00:00Z"));
    assert_eq!(body.get("tags").and_then(Json::as_array).map(|a| a.len()), Some(2));
    assert_eq!(body.get("description").and_then(Json::as_str), Some("A long description"));
    for absent in ["bogus", "accessToken", "endpoint", "support"] {
        assert!(body.get(absent).is_none(), "{absent} must not be sent");
    }
    assert!(!text.contains("never-in-body"));
    // Only one request until it is answered.
    assert_eq!(p.next(), Next::Wait);
}

#[test]
fn init_name_type_and_endpoint_variants() {
    let body = |p: &mut PeerTube| {
        let Next::Send(r) = p.next() else { panic!() };
        let Body::Text { text, .. } = &r.body else { panic!() };
        (r.clone(), serde_json::from_str::<Json>(text).unwrap())
    };
    // Explicit name and filename win; an empty mime type becomes application/octet-stream.
    let mut p = PeerTube::video(EP, TOKEN, &file("x.webm", 10, ""), &opts(r#"{"channelId":1,"name":"My title","filename":"other.webm"}"#), None).unwrap();
    let (r, b) = body(&mut p);
    assert_eq!(r.get_header("X-Upload-Content-Type"), Some("application/octet-stream"));
    assert_eq!(b.get("name").and_then(Json::as_str), Some("My title"));
    assert_eq!(b.get("filename").and_then(Json::as_str), Some("other.webm"));
    // A blank name falls back to the file name; short names are padded to PeerTube's 3 chars,
    // long ones cut to 120 characters (not bytes).
    let mut p = PeerTube::video(EP, TOKEN, &file("ab", 10, "video/mp4"), &opts(r#"{"channelId":1,"name":"  "}"#), None).unwrap();
    assert_eq!(body(&mut p).1.get("name").and_then(Json::as_str), Some("ab_"));
    let long = "é".repeat(300) + ".mp4";
    let mut p = PeerTube::video(EP, TOKEN, &file(&long, 10, "video/mp4"), &opts(r#"{"channelId":1}"#), None).unwrap();
    let (_, b) = body(&mut p);
    assert_eq!(b.get("name").and_then(Json::as_str).map(|n| n.chars().count()), Some(120));
    assert_eq!(b.get("filename").and_then(Json::as_str), Some(long.as_str()));
    let mut p = PeerTube::video(EP, TOKEN, &file("", 10, "video/mp4"), &opts(r#"{"channelId":1}"#), None).unwrap();
    let (_, b) = body(&mut p);
    assert_eq!((b.get("name").and_then(Json::as_str), b.get("filename").and_then(Json::as_str)), (Some("video"), Some("video")));
    // Endpoint with a trailing slash or a sub-path.
    let mut p = PeerTube::video("https://x.example/tube/", TOKEN, &file("a.mp4", 1, "video/mp4"), &opts(r#"{"channelId":1}"#), None).unwrap();
    assert_eq!(body(&mut p).0.url, "https://x.example/tube/api/v1/videos/upload-resumable");
}

#[test]
fn constructor_validation() {
    let f = file("a.mp4", 10, "video/mp4");
    let code = |r: Result<PeerTube, UploadError>| r.err().map(|e| (e.code, e.retryable));
    let inv = Some((ErrorCode::InvalidInput, false));
    assert_eq!(code(PeerTube::video(EP, "", &f, &opts(r#"{"channelId":1}"#), None)), inv, "token");
    assert_eq!(code(PeerTube::video(EP, TOKEN, &f, &opts(r#"{}"#), None)), inv, "channelId missing");
    for bad in [r#"0"#, r#""3""#, "-1", "1.5", "null", "[]"] {
        assert_eq!(code(PeerTube::video(EP, TOKEN, &f, &opts(&format!(r#"{{"channelId":{bad}}}"#)), None)), inv, "channelId {bad}");
    }
    assert_eq!(code(PeerTube::video(EP, TOKEN, &f, &opts(r#"{"channelId":1,"name":"ab"}"#), None)), inv, "name too short");
    let n121 = "n".repeat(121);
    assert_eq!(code(PeerTube::video(EP, TOKEN, &f, &opts(&format!(r#"{{"channelId":1,"name":"{n121}"}}"#)), None)), inv, "name too long");
    assert_eq!(code(PeerTube::video("/relative", TOKEN, &f, &opts(r#"{"channelId":1}"#), None)), inv, "endpoint");
    assert_eq!(code(PeerTube::video("ftp://x", TOKEN, &f, &opts(r#"{"channelId":1}"#), None)), inv, "endpoint scheme");
    for c in [0, 1, MIN_CHUNK - 1, MAX_CHUNK + 1, u64::MAX] {
        assert_eq!(code(PeerTube::video(EP, TOKEN, &f, &opts(r#"{"channelId":1}"#), Some(c))), inv, "chunk {c}");
    }
    assert!(PeerTube::video(EP, TOKEN, &f, &opts(r#"{"channelId":1}"#), Some(MIN_CHUNK)).is_ok());
    assert!(PeerTube::video(EP, TOKEN, &f, &opts(r#"{"channelId":1}"#), Some(MAX_CHUNK)).is_ok());
}

#[test]
fn empty_file_is_refused_before_any_request() {
    let e = PeerTube::video(EP, TOKEN, &file("empty.mp4", 0, "video/mp4"), &opts(r#"{"channelId":1}"#), None).unwrap_err();
    assert_eq!((e.code, e.provider, e.retryable, e.status), (ErrorCode::InvalidInput, PROVIDER, false, None));
    assert!(e.message.contains("empty"), "{}", e.message);
    let e = PeerTube::import(EP, TOKEN, &file("empty.zip", 0, "application/zip"), 7, None).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
}

// ---- Range parsing ---------------------------------------------------------------------------

#[test]
fn range_header_parsing() {
    let ok: &[(&str, u64)] = &[
        ("bytes=0-0", 1),
        ("bytes=0-99", 100),
        ("bytes=0--1", 0),
        ("  bytes=0-5  ", 6),
        ("BYTES=0-5", 6),
        ("Bytes=0--1", 0),
        ("0-9", 10),
        ("bytes=0-5368709119", 5 << 30),
        ("bytes=0-18446744073709551614", u64::MAX),
    ];
    for (v, n) in ok {
        assert_eq!(parse_range(v), Some(*n), "{v:?}");
    }
    for v in [
        "", "bytes=", "bytes=0-", "bytes=1-5", "bytes=0--2", "bytes=0---1", "bytes=-1", "bytes=0-abc", "bytes=0-5,7-9",
        "bytes=0- 5", "bytes 0-5", "bytes=0-18446744073709551615", "bytes=0-99999999999999999999999", "bytes=0-+5",
        "bytes=0-5/10", "items=0-5", "bytes=0x-5", "bytes=0-５",
    ] {
        assert_eq!(parse_range(v), None, "{v:?}");
    }
}

proptest! {
    #[test]
    fn range_parsing_never_panics_and_round_trips(s in ".{0,40}", n in 0u64..u64::MAX) {
        let _ = parse_range(&s);
        prop_assert_eq!(parse_range(&format!("bytes=0-{}", n)), Some(n + 1));
    }
}

// ---- Location --------------------------------------------------------------------------------

#[test]
fn location_forms_resolve_against_the_init_url() {
    let cases = [
        // PT ≤ 7: protocol-relative.
        ("//tube.test:9000/api/v1/videos/upload-resumable?upload_id=u1", "http://tube.test:9000/api/v1/videos/upload-resumable?upload_id=u1"),
        // PT-dev: absolute, possibly on another host or scheme (its WEBSERVER URL, e.g. behind a
        // proxy): the token stays on the endpoint's origin, the upload URL is rebased onto it.
        ("https://cdn.tube.example/api/v1/videos/upload-resumable?upload_id=u1", "http://tube.test:9000/api/v1/videos/upload-resumable?upload_id=u1"),
        // The openapi example: path only.
        ("/api/v1/videos/upload-resumable?upload_id=u1", "http://tube.test:9000/api/v1/videos/upload-resumable?upload_id=u1"),
        ("?upload_id=u1", "http://tube.test:9000/api/v1/videos/upload-resumable?upload_id=u1"),
        ("upload-resumable?upload_id=u1", "http://tube.test:9000/api/v1/videos/upload-resumable?upload_id=u1"),
        ("  //tube.test:9000/x?upload_id=u1  ", "http://tube.test:9000/x?upload_id=u1"),
    ];
    for (loc, want) in cases {
        let mut s = Step::new(video(10, MIN_CHUNK), false);
        s.exchange(created(loc));
        let (id, c) = s.send();
        assert_eq!(c.url, want, "{loc:?}");
        assert_eq!(s.e.protocol().upload_url(), Some(want));
        assert_eq!(c.get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        s.answer(id, done());
        assert!(s.finished().is_ok());
    }
    // An https endpoint gives https to a protocol-relative Location.
    let mut s = Step::new(
        PeerTube::video("https://tube.example", TOKEN, &file("a.mp4", 5, "video/mp4"), &opts(r#"{"channelId":1}"#), None).unwrap(),
        false,
    );
    s.exchange(created("//tube.example/api/v1/videos/upload-resumable?upload_id=z"));
    assert_eq!(s.send().1.url, "https://tube.example/api/v1/videos/upload-resumable?upload_id=z");
}

#[test]
fn missing_or_unusable_location_is_a_protocol_error() {
    for r in [resp(201), resp(201).with_header("Location", ""), resp(201).with_header("Location", "//"), resp(200).with_header("Range", "bytes=0-3")] {
        let mut s = Step::new(video(10, MIN_CHUNK), false);
        s.exchange(out(r.clone()));
        let e = s.err();
        assert_eq!((e.code, e.retryable), (ErrorCode::Protocol, false), "{r:?}");
        assert!(e.message.contains("Location"), "{}", e.message);
        assert_eq!(s.e.requests_sent(), 1);
    }
}

// ---- the happy path ---------------------------------------------------------------------------

#[test]
fn chunks_follow_the_servers_range_and_end_with_the_video() {
    let size = 3 * MIN_CHUNK + 5;
    let mut s = after_init(size, MIN_CHUNK);
    let mut expected = 0;
    loop {
        let (id, c) = s.send();
        let (a, b) = chunk_of(&c);
        assert_eq!(a, expected);
        assert_eq!(b, (a + MIN_CHUNK).min(size));
        assert_eq!(c.method, Method::Put);
        assert_eq!(c.url, UPLOAD_URL);
        assert_eq!(c.get_header("Content-Type"), Some("application/octet-stream"));
        assert_eq!(c.get_header("Content-Range"), Some(format!("bytes {}-{}/{}", a, b - 1, size).as_str()));
        assert_eq!(c.get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        if b == size {
            s.answer(id, done());
            break;
        }
        s.answer(id, r308(b));
        expected = b;
        assert_eq!(s.e.progress().loaded, b);
    }
    let j = s.finished().unwrap();
    assert_eq!(j.pointer("/video/uuid").and_then(Json::as_str), Some("0000-1111"));
    assert_eq!(s.e.progress().loaded, size);
    assert_eq!(s.e.requests_sent(), 5);
    assert_eq!(s.e.state(), State::Finished);
    // Nothing to cancel after completion.
    assert!(s.e.abort().is_empty());
}

#[test]
fn server_confirming_fewer_bytes_is_followed() {
    let size = 4 * MIN_CHUNK;
    let mut s = after_init(size, 2 * MIN_CHUNK);
    // The server stored only 1000 bytes of the first chunk.
    let c = s.exchange(r308(1000));
    assert_eq!(chunk_of(&c), (0, 2 * MIN_CHUNK));
    let (id, c) = s.send();
    assert_eq!(chunk_of(&c), (1000, 1000 + 2 * MIN_CHUNK));
    // A 2xx with a Range on a chunk that is not the last is followed too.
    s.answer(id, out(resp(200).with_header("Range", &range(3 * MIN_CHUNK))));
    let (id, c) = s.send();
    assert_eq!(chunk_of(&c), (3 * MIN_CHUNK, size));
    s.answer(id, done());
    assert!(s.finished().is_ok());
}

#[test]
fn server_storing_nothing_three_times_gives_up() {
    let mut s = after_init(4 * MIN_CHUNK, MIN_CHUNK);
    s.exchange(r308(MIN_CHUNK));
    for _ in 0..3 {
        let c = s.exchange(r308(MIN_CHUNK));
        assert_eq!(chunk_of(&c).0, MIN_CHUNK);
    }
    let e = s.err();
    assert_eq!((e.code, e.retryable), (ErrorCode::Protocol, false));
}

#[test]
fn server_claiming_more_than_the_file_is_a_protocol_error() {
    let mut s = after_init(100, MIN_CHUNK);
    s.exchange(r308(101));
    assert_eq!(s.err().code, ErrorCode::Protocol);
    let mut s = Step::new(video(100, MIN_CHUNK), false);
    s.exchange(out(resp(200).with_header("Location", UPLOAD_URL).with_header("Range", "bytes=0-100")));
    assert_eq!(s.err().code, ErrorCode::Protocol);
}

#[test]
fn two_hundred_before_the_last_chunk_without_range_is_a_protocol_error() {
    let mut s = after_init(2 * MIN_CHUNK, MIN_CHUNK);
    s.exchange(out(resp(200).with_body(DONE_BODY)));
    let e = s.err();
    assert_eq!(e.code, ErrorCode::Protocol);
}

#[test]
fn a_2xx_whose_range_shows_missing_bytes_is_not_completion() {
    // To the last chunk: the server kept only part of it.
    let size = 2 * MIN_CHUNK;
    let mut s = after_init(size, MIN_CHUNK);
    s.exchange(r308(MIN_CHUNK));
    s.exchange(out(resp(200).with_header("Range", &range(MIN_CHUNK + 5))));
    let (id, c) = s.send();
    assert_eq!(chunk_of(&c), (MIN_CHUNK + 5, size));
    // A Range covering everything on the last chunk's 200 is a completion.
    s.answer(id, out(resp(200).with_header("Range", &range(size)).with_body(DONE_BODY)));
    assert!(s.finished().is_ok());
    // To an offset query.
    let mut s = after_init(size, MIN_CHUNK);
    s.exchange(out(resp(500)));
    s.exchange(out(resp(204).with_header("Range", "bytes=0--1")));
    assert_eq!(chunk_of(&s.send().1).0, 0);
}

#[test]
fn final_answer_variants() {
    // 200 JSON, 201 JSON, 204 (replace-resumable), and an unreadable body.
    for (r, want) in [
        (resp(200).with_body(DONE_BODY), Ok(Some(42))),
        (resp(201).with_body(DONE_BODY), Ok(Some(42))),
        (resp(204), Ok(None)),
        (resp(200).with_body("  "), Ok(None)),
        (resp(200).with_body("<html>ok</html>"), Err(ErrorCode::Protocol)),
    ] {
        let mut s = after_init(10, MIN_CHUNK);
        s.exchange(out(r.clone()));
        match (s.finished(), want) {
            (Ok(j), Ok(id)) => assert_eq!(j.pointer("/video/id").and_then(Json::as_u64), id, "{r:?}"),
            (Err(e), Err(code)) => assert_eq!(e.code, code, "{r:?}"),
            (got, want) => panic!("{r:?}: {got:?} vs {want:?}"),
        }
    }
}

// ---- init statuses ------------------------------------------------------------------------------

#[test]
fn init_200_resumes_from_the_range() {
    // An earlier upload with the same id holds bytes: continue from there.
    let size = 3 * MIN_CHUNK;
    let mut s = Step::new(video(size, MIN_CHUNK), false);
    s.exchange(out(resp(200).with_header("Location", UPLOAD_URL).with_header("Range", &range(MIN_CHUNK + 7))));
    assert_eq!(s.e.progress().loaded, MIN_CHUNK + 7);
    let c = s.exchange(r308(2 * MIN_CHUNK + 7));
    assert_eq!(chunk_of(&c), (MIN_CHUNK + 7, 2 * MIN_CHUNK + 7));
    // 200 with bytes=0--1, and 200 without Range: ask first.
    for r in [resp(200).with_header("Range", "bytes=0--1"), resp(200), resp(200).with_header("Range", "garbage")] {
        let mut s = Step::new(video(size, MIN_CHUNK), false);
        s.exchange(out(r.clone().with_header("Location", UPLOAD_URL)));
        let c = s.exchange(r308(5));
        if r.header("Range") == Some("bytes=0--1") {
            assert_eq!(chunk_of(&c).0, 0);
            continue;
        }
        assert!(is_query(&c, size), "{r:?} → {c:?}");
        assert_eq!(chunk_of(&s.send().1).0, 5);
    }
    // 200 whose Range covers the whole file: the upload was never completed; the last byte
    // goes again so that uploadx completes it.
    let mut s = Step::new(video(size, MIN_CHUNK), false);
    s.exchange(out(resp(200).with_header("Location", UPLOAD_URL).with_header("Range", &range(size))));
    let (id, c) = s.send();
    assert_eq!(chunk_of(&c), (size - 1, size));
    s.answer(id, done());
    assert!(s.finished().is_ok());
}

fn init_status(r: Response, refresh: bool) -> (Step<PeerTube>, Result<Json, UploadError>) {
    let mut s = Step::new(video(10, MIN_CHUNK), refresh);
    s.exchange(out(r));
    let res = s.finished();
    (s, res)
}

#[test]
fn init_error_statuses_map_to_codes() {
    let cases: Vec<(Response, ErrorCode)> = vec![
        (problem(400, "", "channelId is invalid"), ErrorCode::Http),
        (problem(403, "", "Cannot manage this channel"), ErrorCode::Auth),
        (problem(404, "", "Video channel not found"), ErrorCode::Http),
        (problem(409, "", "conflict"), ErrorCode::Http),
        (problem(413, "max_file_size_reached", "The file is too big"), ErrorCode::TooLarge),
        (problem(413, "quota_reached", "The user video quota is exceeded with this video."), ErrorCode::Quota),
        (resp(413), ErrorCode::TooLarge),
        (resp(413).with_body("<html>413 Request Entity Too Large</html>"), ErrorCode::TooLarge),
        (problem(415, "", "This file is not supported"), ErrorCode::UnsupportedType),
        (problem(422, "", "unprocessable"), ErrorCode::Http),
        (resp(501), ErrorCode::Http),
        (resp(505), ErrorCode::Http),
        (resp(418), ErrorCode::Http),
        (resp(302).with_header("Location", "http://elsewhere"), ErrorCode::Http),
    ];
    for (r, code) in cases {
        let (s, res) = init_status(r.clone(), true);
        let e = res.unwrap_err();
        assert_eq!((e.code, e.status, e.retryable, e.provider), (code, Some(r.status), false, PROVIDER), "{r:?}");
        assert_eq!(s.e.requests_sent(), 1, "{} must not be retried", r.status);
        if let Some(detail) = serde_json::from_str::<Json>(&r.body).ok().and_then(|j| j.get("detail").and_then(Json::as_str).map(str::to_string)) {
            assert!(e.message.contains(&detail), "{}", e.message);
        }
    }
}

#[test]
fn init_transient_failures_are_retried_with_the_same_init() {
    for o in [
        out(resp(500)),
        out(resp(502)),
        out(resp(503).with_header("Retry-After", "2")),
        out(resp(504)),
        out(resp(408)),
        out(resp(429).with_header("Retry-After", "3")),
        Outcome::Network("connection refused".into()),
    ] {
        let mut s = Step::new(video(10, MIN_CHUNK), false);
        let first = s.exchange(o.clone());
        let again = s.exchange(created(UPLOAD_URL));
        assert_eq!(first, again, "{o:?}: the init is sent again unchanged");
        let expected_wait = match &o {
            Outcome::Response(r) if r.status == 503 => 2000.0,
            Outcome::Response(r) if r.status == 429 => 3000.0,
            _ => 100.0,
        };
        assert_eq!(s.waits, vec![expected_wait], "{o:?}");
        s.exchange(done());
        assert!(s.finished().is_ok());
    }
}

#[test]
fn init_retries_run_out() {
    let mut s = Step::new(video(10, MIN_CHUNK), false);
    for _ in 0..4 {
        s.exchange(out(resp(500).with_body(r#"{"error":{"code":"FileError","message":"disk full"}}"#)));
    }
    let e = s.err();
    assert_eq!((e.code, e.status, e.retryable), (ErrorCode::Http, Some(500), true));
    assert!(e.message.contains("disk full") && e.message.contains("after 3 retries"), "{}", e.message);
    assert_eq!(s.waits, vec![100.0, 200.0, 400.0]);
}

#[test]
fn init_401_without_refresh_is_auth() {
    let (s, res) = init_status(problem(401, "invalid_token", "Token is invalid"), false);
    let e = res.unwrap_err();
    assert_eq!((e.code, e.status, e.retryable), (ErrorCode::Auth, Some(401), false));
    assert_eq!(s.e.requests_sent(), 1);
}

// ---- chunk / offset-query statuses ----------------------------------------------------------

/// Sends two chunks of a 6×MIN upload in 2×MIN chunks, fails the second with `o`, and returns
/// the request after it (answered: the server holds 10 more bytes than the first chunk).
fn after_failed_chunk(o: Outcome) -> (Step<PeerTube>, Request) {
    let mut s = after_init(6 * MIN_CHUNK, 2 * MIN_CHUNK);
    s.exchange(r308(2 * MIN_CHUNK));
    let c = s.exchange(o);
    assert_eq!(chunk_of(&c).0, 2 * MIN_CHUNK);
    let (id, next) = s.send();
    s.answer(id, r308(2 * MIN_CHUNK + 10));
    (s, next)
}

#[test]
fn after_any_failed_chunk_the_offset_is_asked_and_followed() {
    let faults: Vec<Outcome> = vec![
        Outcome::Network("connection reset".into()),
        out(resp(500)),
        out(resp(502).with_body("<html>Bad Gateway</html>")),
        out(resp(503).with_header("Retry-After", "1")),
        out(resp(504)),
        out(resp(408)),
        out(resp(409).with_body(r#"{"error":{"code":"FileConflict","message":"conflict"}}"#)),
        out(resp(423)),
        out(resp(429).with_header("Retry-After", "1")),
        out(resp(429)),
        out(resp(460).with_body(r#"{"error":{"code":"ChecksumMismatch"}}"#)),
        out(resp(413)),
        out(resp(599)),
    ];
    for f in faults {
        let (mut s, next) = after_failed_chunk(f.clone());
        assert!(is_query(&next, 6 * MIN_CHUNK), "{f:?} → {next:?}");
        assert_eq!(next.url, UPLOAD_URL);
        assert_eq!(next.get_header("Content-Type"), None);
        assert_eq!(next.get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        // Continue from what the server says (10 bytes more than before), never from the plan;
        // except after a 460: the server refused those bytes, so what it reports past the
        // refused chunk's start is unverified (uploadx's late write) and the chunk goes again.
        let refused = matches!(&f, Outcome::Response(r) if r.status == 460);
        let from = if refused { 2 * MIN_CHUNK } else { 2 * MIN_CHUNK + 10 };
        let c = s.send().1;
        assert_eq!(chunk_of(&c).0, from, "{f:?}");
        assert_eq!(c.get_header("Content-Range").map(|v| v.starts_with(&format!("bytes {from}-"))), Some(true));
    }
}

#[test]
fn offset_query_answered_with_nothing_stored() {
    let mut s = after_init(2 * MIN_CHUNK, MIN_CHUNK);
    s.exchange(Outcome::Network("dropped".into()));
    let q = s.exchange(out(resp(308).with_header("Range", "bytes=0--1")));
    assert!(is_query(&q, 2 * MIN_CHUNK));
    assert_eq!(chunk_of(&s.send().1).0, 0);
}

#[test]
fn offset_query_that_completes_the_upload() {
    // The last chunk's answer was lost, but the server had not processed it yet: the query
    // triggers processing and returns the video.
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(Outcome::Network("lost".into()));
    let q = s.exchange(done());
    assert!(is_query(&q, 10));
    assert_eq!(s.finished().unwrap().pointer("/video/id").and_then(Json::as_u64), Some(42));
    assert_eq!(s.e.progress().loaded, 10);
}

#[test]
fn offset_query_saying_everything_is_stored_resends_the_last_byte() {
    let size = 2 * MIN_CHUNK;
    let mut s = after_init(size, MIN_CHUNK);
    s.exchange(r308(MIN_CHUNK));
    s.exchange(Outcome::Network("lost".into()));
    s.exchange(r308(size)); // the query
    let (id, c) = s.send();
    assert_eq!(chunk_of(&c), (size - 1, size));
    s.answer(id, done());
    assert!(s.finished().is_ok());
}

#[test]
fn malformed_or_missing_range_on_308() {
    for r in [resp(308), resp(308).with_header("Range", "bytes=5-9"), resp(308).with_header("Range", "bytes=0-x"), resp(308).with_header("Range", "")] {
        // On a chunk…
        let mut s = after_init(3 * MIN_CHUNK, MIN_CHUNK);
        s.exchange(out(r.clone()));
        let e = s.err();
        assert_eq!((e.code, e.retryable), (ErrorCode::Protocol, false), "{r:?}");
        assert!(e.message.contains("Range"), "{}", e.message);
        // …and on an offset query.
        let mut s = after_init(3 * MIN_CHUNK, MIN_CHUNK);
        s.exchange(out(resp(500)));
        s.exchange(out(r.clone()));
        assert_eq!(s.err().code, ErrorCode::Protocol, "{r:?}");
    }
}

#[test]
fn chunk_error_statuses_map_to_codes() {
    let cases: Vec<(Response, ErrorCode)> = vec![
        (problem(400, "", "Chunk size should be at least 16777216 bytes (except for the last chunk)"), ErrorCode::Http),
        (resp(400).with_body(r#"{"error":{"code":"UnsupportedChecksumAlgorithm","message":"bad digest"}}"#), ErrorCode::Http),
        (resp(403).with_body(r#"{"error":{"code":"Forbidden","message":"not yours"}}"#), ErrorCode::Auth),
        (problem(403, "", "Refused local video file"), ErrorCode::Auth),
        (problem(415, "", "unsupported"), ErrorCode::UnsupportedType),
        (problem(422, "", "Video file unreadable."), ErrorCode::Http),
        (resp(405), ErrorCode::Http),
        (resp(411), ErrorCode::Http),
        (resp(501), ErrorCode::Http),
        (resp(505), ErrorCode::Http),
    ];
    for (r, code) in cases {
        for last in [false, true] {
            let mut s = after_init(if last { 10 } else { 3 * MIN_CHUNK }, MIN_CHUNK);
            s.exchange(out(r.clone()));
            let e = s.err();
            assert_eq!((e.code, e.status, e.retryable), (code, Some(r.status), false), "{r:?} last={last}");
            assert_eq!(s.e.requests_sent(), 2, "{} must not be retried", r.status);
            if let Some(m) = chunkup::core::server_message(&r.body) {
                assert!(e.message.contains(&m), "{}", e.message);
            }
        }
    }
}

#[test]
fn chunk_retries_run_out_and_report_the_last_error() {
    let mut s = after_init(3 * MIN_CHUNK, MIN_CHUNK);
    for _ in 0..3 {
        s.exchange(out(resp(502)));
        s.exchange(r308(0)); // query: nothing more
    }
    s.exchange(out(resp(502)));
    let e = s.err();
    assert_eq!((e.code, e.status, e.retryable), (ErrorCode::Http, Some(502), true));
    assert_eq!(s.waits, vec![100.0, 200.0, 400.0]);
}

#[test]
fn progress_resets_the_retry_budget() {
    let size = 6 * MIN_CHUNK;
    let mut s = after_init(size, MIN_CHUNK);
    let mut stored = 0;
    // Every chunk fails once with 503, then the query shows nothing; the resend works.
    while stored < size {
        s.exchange(out(resp(503)));
        s.exchange(r308(stored));
        let (id, c) = s.send();
        let (_, b) = chunk_of(&c);
        if b == size {
            s.answer(id, done());
        } else {
            s.answer(id, r308(b));
        }
        stored = b;
    }
    assert!(s.finished().is_ok());
    assert!(s.waits.iter().all(|w| *w == 100.0), "{:?}", s.waits);
}

#[test]
fn retry_after_on_a_503_last_chunk_is_honoured_then_the_offset_asked() {
    // "The upload is already being processed": wait Retry-After (300 s), then ask.
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(out(problem(503, "", "The upload is already being processed").with_header("Retry-After", "300")));
    let q = s.exchange(done());
    assert!(is_query(&q, 10));
    assert_eq!(s.waits, vec![300_000.0]);
    assert!(s.finished().is_ok());
    // An HTTP-date far in the future is capped at 5 minutes.
    let mut s = after_init(10, MIN_CHUNK);
    s.now = 1_700_000_000_000.0;
    s.exchange(out(resp(503).with_header("Retry-After", "Fri, 01 Jan 2100 00:00:00 GMT")));
    s.exchange(done());
    assert_eq!(s.waits, vec![300_000.0]);
    // An HTTP-date 42 s ahead of the clock.
    let mut s = after_init(10, MIN_CHUNK);
    s.now = 784_111_777_000.0 - 42_000.0 - 1.0; // answer() adds 1 ms
    s.exchange(out(resp(503).with_header("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT")));
    s.exchange(done());
    assert_eq!(s.waits, vec![42_000.0]);
}

#[test]
fn rate_limit_waits_without_using_up_retries() {
    let mut s = after_init(2 * MIN_CHUNK, MIN_CHUNK);
    for _ in 0..10 {
        s.exchange(out(resp(429).with_header("Retry-After", "1").with_body("Too many requests, please try again later.")));
        let q = s.exchange(r308(0));
        assert!(is_query(&q, 2 * MIN_CHUNK));
    }
    s.exchange(r308(MIN_CHUNK));
    s.exchange(done());
    assert!(s.finished().is_ok());
    assert_eq!(s.waits, vec![1000.0; 10]);
}

#[test]
fn endless_rate_limiting_gives_up() {
    let mut s = after_init(2 * MIN_CHUNK, MIN_CHUNK);
    let mut n = 0;
    let e = loop {
        match s.e.poll(s.now) {
            Action::Send { id, request } => {
                n += 1;
                s.now += 1.0;
                s.e.on_outcome(id, out(resp(429)), s.now);
                let _ = request;
            }
            Action::Wait { until_ms: Some(t) } => s.now = t,
            Action::Finished(r) => break r.unwrap_err(),
            a => panic!("{a:?}"),
        }
        assert!(n < 100);
    };
    assert_eq!((e.code, e.status, e.retryable), (ErrorCode::Http, Some(429), true));
    assert!(e.message.contains("rate limited"), "{}", e.message);
}

#[test]
fn a_413_chunk_halves_the_chunk_size_until_the_minimum() {
    let size = 8 * MIN_CHUNK;
    let mut s = after_init(size, 4 * MIN_CHUNK);
    let c = s.exchange(out(resp(413).with_body("<html>413</html>")));
    assert_eq!(chunk_of(&c), (0, 4 * MIN_CHUNK));
    let q = s.exchange(r308(0));
    assert!(is_query(&q, size));
    let c = s.exchange(r308(2 * MIN_CHUNK));
    assert_eq!(chunk_of(&c), (0, 2 * MIN_CHUNK), "halved");
    assert_eq!(s.e.protocol().chunk_size(), 2 * MIN_CHUNK);
    s.exchange(out(resp(413)));
    s.exchange(r308(2 * MIN_CHUNK));
    let c = s.exchange(out(resp(413)));
    assert_eq!(chunk_of(&c), (2 * MIN_CHUNK, 3 * MIN_CHUNK));
    let e = s.err();
    assert_eq!((e.code, e.status, e.retryable), (ErrorCode::TooLarge, Some(413), false));
}

#[test]
fn a_413_quota_on_a_chunk_is_quota() {
    let mut s = after_init(2 * MIN_CHUNK, MIN_CHUNK);
    s.exchange(out(problem(413, "quota_reached", "The user video quota is exceeded with this video.")));
    let e = s.err();
    assert_eq!(e.code, ErrorCode::Quota);
}

#[test]
fn a_404_before_the_last_chunk_re_inits_and_resumes() {
    let size = 4 * MIN_CHUNK;
    let mut s = after_init(size, MIN_CHUNK);
    s.exchange(r308(MIN_CHUNK));
    s.exchange(out(resp(404).with_body(r#"{"error":{"code":"FileNotFound"}}"#)));
    let init = s.exchange(out(resp(200).with_header("Location", "/api/v1/videos/upload-resumable?upload_id=u2").with_header("Range", &range(MIN_CHUNK))));
    assert_eq!((init.method, init.url.as_str()), (Method::Post, INIT));
    let c = s.exchange(r308(2 * MIN_CHUNK));
    assert_eq!(c.url, "http://tube.test:9000/api/v1/videos/upload-resumable?upload_id=u2");
    assert_eq!(chunk_of(&c).0, MIN_CHUNK);
    // A 410 on a query works the same; the purged upload restarts from 0.
    s.exchange(out(resp(500)));
    s.exchange(out(resp(410)));
    s.exchange(created(UPLOAD_URL));
    assert_eq!(chunk_of(&s.send().1).0, 0);
}

/// A checksum refusal belongs to the upload URL that refused the bytes (uploadx's late write of
/// them can land only there): once that URL is gone and the upload is created anew, the new
/// URL's offsets are followed as they are.
#[test]
fn a_checksum_refusal_does_not_outlive_its_upload_url() {
    let size = 4 * MIN_CHUNK;
    let mut s = after_init(size, MIN_CHUNK);
    let c = s.exchange(out(resp(460).with_body(r#"{"error":{"code":"ChecksumMismatch"}}"#)));
    assert_eq!(chunk_of(&c).0, 0);
    let q = s.exchange(out(resp(404)));
    assert!(is_query(&q, size));
    let init = s.exchange(created("/api/v1/videos/upload-resumable?upload_id=u2"));
    assert_eq!(init.method, Method::Post);
    let c = s.exchange(r308(MIN_CHUNK));
    assert_eq!((c.url.as_str(), chunk_of(&c)), ("http://tube.test:9000/api/v1/videos/upload-resumable?upload_id=u2", (0, MIN_CHUNK)));
    assert_eq!(chunk_of(&s.send().1).0, MIN_CHUNK, "the new upload's first chunk is not sent again");
}

#[test]
fn repeated_404_gives_up_as_session_expired() {
    let mut s = after_init(3 * MIN_CHUNK, MIN_CHUNK);
    for _ in 0..2 {
        s.exchange(out(resp(404)));
        s.exchange(created(UPLOAD_URL));
    }
    s.exchange(out(resp(404)));
    let e = s.err();
    assert_eq!((e.code, e.status), (ErrorCode::SessionExpired, Some(404)));
}

/// "In a row" means without a chunk confirmed in between: an upload that keeps making progress
/// survives more gone upload URLs (each one restarts it from 0), up to MAX_REINITS in all.
#[test]
fn gone_upload_urls_with_progress_between_are_survived_up_to_a_total() {
    let mut s = after_init(8 * MIN_CHUNK, MIN_CHUNK);
    for round in 0..MAX_REINITS {
        // (`exchange` returns the request it answered.)
        let c = s.exchange(r308(MIN_CHUNK)); // progress: the first chunk is confirmed
        assert_eq!(chunk_of(&c).0, 0, "round {round}: from the start");
        let c = s.exchange(out(resp(404))); // the second chunk finds the upload gone
        assert_eq!(chunk_of(&c).0, MIN_CHUNK, "round {round}");
        let init = s.exchange(created(UPLOAD_URL));
        assert_eq!(init.method, Method::Post, "round {round}: started anew");
    }
    s.exchange(r308(MIN_CHUNK));
    s.exchange(out(resp(404)));
    let e = s.err();
    assert_eq!((e.code, e.status), (ErrorCode::SessionExpired, Some(404)));
    const { assert!(MAX_REINITS_IN_A_ROW < MAX_REINITS) };
}

#[test]
fn a_404_after_the_last_chunk_means_maybe_completed() {
    // The last chunk's answer was lost; the server processed and deleted the upload.
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(Outcome::Network("lost".into()));
    let q = s.exchange(out(resp(404)));
    assert!(is_query(&q, 10));
    // The user's videos hold none it could have created: then, and only then, it failed.
    let l = s.exchange(listing(0, &[]));
    assert!(is_lookup(&l), "{}", l.url);
    let e = s.err();
    assert_eq!((e.code, e.status, e.retryable), (ErrorCode::SessionExpired, Some(404), false));
    assert!(e.message.contains("may have completed"), "{}", e.message);
    assert_eq!(s.e.requests_sent(), 4, "no re-init: that would upload the video twice");
    // Same after the last chunk got 503 "being processed".
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(out(resp(503).with_header("Retry-After", "1")));
    s.exchange(out(resp(404)));
    s.exchange(listing(0, &[]));
    assert_eq!(s.err().code, ErrorCode::SessionExpired);
}

/// `GET /api/v1/users/me/videos` answers: (id, name, channel id, createdAt).
fn listing(total: u64, videos: &[(u64, &str, u64, &str)]) -> Outcome {
    let data: Vec<String> = videos
        .iter()
        .map(|(id, name, ch, at)| {
            format!(
                r#"{{"id":{id},"uuid":"uuid-{id}","shortUUID":"short{id}","name":"{name}","createdAt":"{at}","publishedAt":"{at}",
                    "privacy":{{"id":3,"label":"Private"}},"state":{{"id":2,"label":"To transcode"}},
                    "channel":{{"id":{ch},"name":"ch{ch}","displayName":"Channel {ch}"}}}}"#
            )
        })
        .collect();
    out(resp(200).with_header("Content-Type", "application/json").with_body(&format!(r#"{{"total":{total},"data":[{}]}}"#, data.join(","))))
}

fn is_lookup(r: &Request) -> bool {
    r.method == Method::Get && r.url.starts_with(&format!("{EP}/api/v1/users/me/videos?")) && r.get_header("Authorization") == Some(&format!("Bearer {TOKEN}"))
}

#[test]
fn a_lost_final_answer_is_resolved_with_the_video_the_upload_created() {
    // The clock of these tests starts at 0 (1970-01-01T00:00:00Z) when the upload begins.
    let mut s = after_init(2 * MIN_CHUNK, MIN_CHUNK);
    s.exchange(r308(MIN_CHUNK));
    s.exchange(Outcome::Network("reset".into()));
    s.exchange(out(resp(404)));
    let l = s.exchange(listing(
        5,
        &[
            (9, "clip.mp4", 4, "1970-01-01T00:00:03Z"),  // another channel
            (8, "clip.mp4 2", 3, "1970-01-01T00:00:02Z"), // another name (the search matches substrings)
            (7, "clip.mp4", 3, "1970-01-01T00:00:01.500Z"), // ours
            (6, "clip.mp4", 3, "1969-12-31T23:59:58Z"),  // also a match, but older: newest first wins
            (5, "clip.mp4", 3, "1969-12-31T23:50:00Z"),  // before the upload began, beyond any clock skew
        ],
    ));
    assert!(is_lookup(&l));
    let q = |k: &str| l.url.split(['?', '&']).find_map(|p| p.strip_prefix(&format!("{k}="))).map(str::to_string);
    assert_eq!(q("sort").as_deref(), Some("-createdAt"));
    assert_eq!(q("channelId").as_deref(), Some("3"));
    assert_eq!(q("search").as_deref(), Some("clip.mp4"));
    assert_eq!((q("start").as_deref(), q("count").as_deref()), (Some("0"), Some("100")));
    let json = s.finished().unwrap();
    assert_eq!(serde_json::to_string(&json).unwrap(), r#"{"video":{"id":7,"shortUUID":"short7","uuid":"uuid-7"}}"#, "the shape of the last chunk's answer");
    assert_eq!(s.e.progress().loaded, 2 * MIN_CHUNK);

    // Only an older namesake (an earlier upload of the same title): not this upload's video.
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(Outcome::Network("reset".into()));
    s.exchange(out(resp(404)));
    s.exchange(listing(1, &[(5, "clip.mp4", 3, "1969-12-31T23:50:00Z")]));
    let e = s.err();
    assert_eq!(e.code, ErrorCode::SessionExpired);
    assert_eq!(s.e.requests_sent(), 4, "one page: the newest video is already older than the upload");

    // A full page of newer videos: the next page is read.
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(Outcome::Network("reset".into()));
    s.exchange(out(resp(404)));
    let others: Vec<(u64, &str, u64, &str)> = (0..100).map(|i| (1000 + i, "clip.mp4", 4, "1970-01-01T00:00:05Z")).collect();
    s.exchange(listing(101, &others));
    let second = s.exchange(listing(101, &[(77, "clip.mp4", 3, "1970-01-01T00:00:04Z")]));
    assert!(second.url.contains("start=100"), "{}", second.url);
    assert_eq!(s.finished().unwrap().pointer("/video/id").and_then(Json::as_u64), Some(77));

    // The lookup itself is retried after a 5xx or a lost answer, and refreshes an expired token.
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(Outcome::Network("reset".into()));
    s.exchange(out(resp(404)));
    s.exchange(out(resp(502)));
    s.exchange(Outcome::Network("reset".into()));
    s.exchange(listing(1, &[(3, "clip.mp4", 3, "1970-01-01T00:00:00.900Z")]));
    assert_eq!(s.finished().unwrap().pointer("/video/uuid").and_then(Json::as_str), Some("uuid-3"));
}

#[test]
fn a_definite_answer_before_the_last_chunk_clears_maybe_completed() {
    // Last chunk lost, query shows the server had less than everything: a later 404 is a
    // plain expiry again and re-inits.
    let size = 2 * MIN_CHUNK;
    let mut s = after_init(size, MIN_CHUNK);
    s.exchange(r308(MIN_CHUNK));
    s.exchange(Outcome::Network("lost".into())); // the last chunk
    s.exchange(r308(10)); // query: only 10 bytes
    let c = s.exchange(out(resp(404)));
    assert_eq!(chunk_of(&c), (10, 10 + MIN_CHUNK));
    let init = s.send().1;
    assert_eq!(init.method, Method::Post);
}

// ---- tokens ------------------------------------------------------------------------------------

#[test]
fn a_401_asks_for_a_token_then_continues_with_it() {
    let size = 3 * MIN_CHUNK;
    let mut s = after_init(size, MIN_CHUNK);
    s.exchange(r308(MIN_CHUNK));
    s.exchange(out(problem(401, "invalid_token", "Token is invalid")));
    assert_eq!(s.e.poll(s.now), Action::RefreshToken);
    assert_eq!(s.e.poll(s.now), Action::Wait { until_ms: None }, "waits for the page");
    s.e.on_token(Some("fresh-token".into()));
    let q = s.exchange(r308(MIN_CHUNK));
    assert!(is_query(&q, size), "after a 401 the offset is asked first");
    assert_eq!(q.get_header("Authorization"), Some("Bearer fresh-token"));
    let c = s.exchange(r308(2 * MIN_CHUNK));
    assert_eq!(c.get_header("Authorization"), Some("Bearer fresh-token"));
    assert_eq!(chunk_of(&c).0, MIN_CHUNK);
    let c = s.exchange(done());
    assert_eq!(chunk_of(&c).1, size);
    assert!(s.finished().is_ok());
    // Abort after a refresh would use the new token; secrets include it.
    assert!(s.e.protocol().secrets().contains(&"fresh-token".to_string()));
}

#[test]
fn a_401_at_init_refreshes_and_re_sends_the_init() {
    let mut s = Step::new(video(10, MIN_CHUNK), true);
    s.exchange(out(problem(401, "invalid_token", "Token is invalid")));
    assert_eq!(s.e.poll(s.now), Action::RefreshToken);
    s.e.on_token(Some("t2".into()));
    let init = s.exchange(created(UPLOAD_URL));
    assert_eq!((init.method, init.get_header("Authorization")), (Method::Post, Some("Bearer t2")));
    s.exchange(done());
    assert!(s.finished().is_ok());
}

#[test]
fn refused_or_repeatedly_rejected_tokens_end_as_auth() {
    // The page has no token.
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(out(resp(401)));
    assert_eq!(s.e.poll(s.now), Action::RefreshToken);
    s.e.on_token(None);
    let e = s.err();
    assert_eq!((e.code, e.status, e.retryable), (ErrorCode::Auth, Some(401), false));
    // An empty token is no token.
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(out(resp(401)));
    assert_eq!(s.e.poll(s.now), Action::RefreshToken);
    s.e.on_token(Some(String::new()));
    assert_eq!(s.err().code, ErrorCode::Auth);
    // Every fresh token is refused too: stop after two.
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(out(resp(401)));
    let mut asked = 0;
    let e = loop {
        match s.e.poll(s.now) {
            Action::RefreshToken => {
                asked += 1;
                s.e.on_token(Some(format!("t{asked}")));
            }
            Action::Send { id, .. } => s.answer(id, out(problem(401, "invalid_token", "Token is invalid"))),
            Action::Finished(r) => break r.unwrap_err(),
            a => panic!("{a:?}"),
        }
    };
    assert_eq!(asked, 2);
    assert_eq!((e.code, e.status), (ErrorCode::Auth, Some(401)));
    assert!(e.message.contains("Token is invalid"));
    // Without a token callback, a 401 on a chunk is final.
    let mut s = Step::new(video(10, MIN_CHUNK), false);
    s.exchange(created(UPLOAD_URL));
    s.exchange(out(resp(401)));
    assert_eq!(s.err().code, ErrorCode::Auth);
}

#[test]
fn tokens_never_appear_in_error_messages() {
    let body = format!(r#"{{"detail":"token {TOKEN} is bad, so is fresh-token"}}"#);
    let mut s = after_init(10, MIN_CHUNK);
    s.exchange(out(resp(401)));
    assert_eq!(s.e.poll(s.now), Action::RefreshToken);
    s.e.on_token(Some("fresh-token".into()));
    s.exchange(out(resp(400).with_body(&body)));
    let e = s.err();
    assert!(!e.message.contains(TOKEN) && !e.message.contains("fresh-token"), "{}", e.message);
    assert!(e.message.contains("[redacted]"), "{}", e.message);
}

// ---- pause, resume, abort ------------------------------------------------------------------------

#[test]
fn pause_lets_the_chunk_settle_and_resume_asks_first() {
    let size = 3 * MIN_CHUNK;
    let mut s = after_init(size, MIN_CHUNK);
    let (id, _) = s.send();
    s.e.pause();
    assert_eq!(s.e.state(), State::Paused);
    s.answer(id, r308(MIN_CHUNK));
    assert_eq!(s.e.poll(s.now), Action::Wait { until_ms: None });
    assert_eq!(s.e.progress().loaded, MIN_CHUNK);
    s.e.resume();
    let q = s.exchange(r308(MIN_CHUNK + 1));
    assert!(is_query(&q, size));
    assert_eq!(chunk_of(&s.send().1).0, MIN_CHUNK + 1);
}

#[test]
fn abort_sends_delete_with_the_current_token() {
    let mut s = after_init(3 * MIN_CHUNK, MIN_CHUNK);
    s.exchange(out(resp(401)));
    assert_eq!(s.e.poll(s.now), Action::RefreshToken);
    s.e.on_token(Some("t2".into()));
    let (id, _) = s.send();
    let cancel = s.e.abort();
    assert_eq!(cancel.len(), 1);
    assert_eq!((cancel[0].method, cancel[0].url.as_str()), (Method::Delete, UPLOAD_URL));
    assert_eq!(cancel[0].get_header("Authorization"), Some("Bearer t2"));
    assert_eq!(cancel[0].body, Body::Empty);
    // The in-flight answer is stale now; the result stays "aborted".
    s.e.on_outcome(id, r308(MIN_CHUNK), s.now);
    match s.e.poll(s.now) {
        Action::Finished(Err(e)) => assert_eq!((e.code, e.retryable), (ErrorCode::Aborted, false)),
        a => panic!("{a:?}"),
    }
    assert!(s.e.abort().is_empty(), "abort twice sends nothing more");
    assert!(s.e.cleanup_after_failure().is_empty());
}

#[test]
fn abort_before_the_upload_url_is_known_sends_nothing() {
    let mut e = Engine::new(video(10, MIN_CHUNK), policy(), false);
    assert!(e.abort().is_empty(), "not started");
    let mut s = Step::new(video(10, MIN_CHUNK), false);
    s.send();
    assert!(s.e.abort().is_empty(), "init still in flight");
}

// ---- user archive import ----------------------------------------------------------------------

#[test]
fn import_request_shape_and_result() {
    let size = MIN_CHUNK + 3;
    let mut s = Step::new(PeerTube::import(EP, TOKEN, &file("archive.ZIP", size, "application/zip"), 7, Some(MIN_CHUNK)).unwrap(), false);
    let init = s.exchange(created("//tube.test:9000/api/v1/users/7/imports/import-resumable?upload_id=i1"));
    assert_eq!(init.url, "http://tube.test:9000/api/v1/users/7/imports/import-resumable");
    assert_eq!(init.get_header("X-Upload-Content-Length"), Some(size.to_string().as_str()));
    assert_eq!(init.get_header("X-Upload-Content-Type"), Some("application/zip"));
    let Body::Text { text, .. } = &init.body else { panic!() };
    let b = serde_json::from_str::<Json>(text).unwrap();
    assert_eq!(b.get("filename").and_then(Json::as_str), Some("archive.ZIP"));
    assert_eq!(b.get("lastModified").and_then(Json::as_f64), Some(LM));
    assert!(b.get("name").is_none() && b.get("channelId").is_none());
    let c = s.exchange(r308(MIN_CHUNK));
    assert_eq!(c.url, "http://tube.test:9000/api/v1/users/7/imports/import-resumable?upload_id=i1");
    s.exchange(out(resp(200).with_body(r#"{"userImport":{"id":9}}"#)));
    let j = s.finished().unwrap();
    assert_eq!(j.pointer("/userImport/id").and_then(Json::as_u64), Some(9));
    // openapi says 204: an empty result object.
    let mut s = Step::new(PeerTube::import(EP, TOKEN, &file("a.zip", 5, ""), 7, None).unwrap(), false);
    let init = s.exchange(created("/api/v1/users/7/imports/import-resumable?upload_id=i2"));
    assert_eq!(init.get_header("X-Upload-Content-Type"), Some("application/octet-stream"));
    s.exchange(out(resp(204)));
    assert_eq!(s.finished().unwrap(), Json::Object(Default::default()));
}

#[test]
fn import_refuses_what_is_not_a_zip() {
    for name in ["archive.tar.gz", "zip", "archive.zip.txt", "", "archive.zi"] {
        let e = PeerTube::import(EP, TOKEN, &file(name, 10, "application/zip"), 7, None).unwrap_err();
        assert_eq!((e.code, e.provider, e.retryable), (ErrorCode::InvalidInput, IMPORT_PROVIDER, false), "{name:?}");
        assert!(e.message.contains(".zip"), "{}", e.message);
    }
    assert_eq!(PeerTube::import(EP, TOKEN, &file("a.zip", 10, ""), 0, None).unwrap_err().code, ErrorCode::InvalidInput);
    assert_eq!(PeerTube::import(EP, "", &file("a.zip", 10, ""), 1, None).unwrap_err().code, ErrorCode::InvalidInput);
}

#[test]
fn import_server_refusals() {
    for (r, code) in [
        (problem(400, "", "An import is already being processed"), ErrorCode::Http),
        (problem(400, "", "User import is not enabled by the administrator"), ErrorCode::Http),
        (problem(403, "", "forbidden"), ErrorCode::Auth),
        (problem(413, "quota_reached", "quota"), ErrorCode::Quota),
    ] {
        let mut s = Step::new(PeerTube::import(EP, TOKEN, &file("a.zip", 10, ""), 7, None).unwrap(), false);
        s.exchange(out(r.clone()));
        let e = s.err();
        assert_eq!((e.code, e.provider), (code, IMPORT_PROVIDER), "{r:?}");
    }
}

// ---- a simulated uploadx server ----------------------------------------------------------------

#[derive(Clone, Debug)]
enum Fault {
    /// Answer this without processing the request.
    Status(u16, Option<&'static str>),
    /// Connection refused: the server never saw it.
    Refused,
    /// Processed, then the answer was lost.
    LoseAnswer,
    /// A chunk: the connection drops after `n` of its bytes were stored (n < len).
    Drop(u64),
    /// A chunk: the server stores only `n` bytes of it (1 ≤ n < len) and says so in `Range`.
    Short(u64),
    /// The upload is purged before this request (404 from now on).
    Expire,
    /// The access token expires before this request.
    RotateToken,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Loc {
    ProtocolRelative,
    Absolute,
    PathOnly,
}

struct Sim {
    total: u64,
    loc: Loc,
    generation: u32,
    session: Option<String>,
    stored: u64,
    /// The file's bytes as stored (only for small files).
    data: Option<Vec<u8>>,
    completed: bool,
    token: String,
    next_token: Option<String>,
    rotations_unprogressed: u32,
    expiries: u32,
    final_sent: bool,
    lost_final: bool,
    chunk_failed: bool,
    faults: HashMap<usize, Fault>,
    log: Vec<Request>,
    violations: Vec<String>,
    max_chunk: u64,
    cur_chunk: u64,
}

fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

impl Sim {
    fn new(total: u64, max_chunk: u64) -> Sim {
        Sim {
            total,
            loc: Loc::ProtocolRelative,
            generation: 0,
            session: None,
            stored: 0,
            data: if total <= 2 << 20 { Some(vec![0; total as usize]) } else { None },
            completed: false,
            token: TOKEN.into(),
            next_token: None,
            rotations_unprogressed: 0,
            expiries: 0,
            final_sent: false,
            lost_final: false,
            chunk_failed: false,
            faults: HashMap::new(),
            log: Vec::new(),
            violations: Vec::new(),
            max_chunk,
            cur_chunk: max_chunk,
        }
    }

    fn upload_url(&self) -> Option<String> {
        self.session.as_ref().map(|id| format!("http://tube.test:9000/api/v1/videos/upload-resumable?upload_id={id}"))
    }

    fn location(&self) -> String {
        let id = self.session.clone().unwrap_or_default();
        match self.loc {
            Loc::ProtocolRelative => format!("//tube.test:9000/api/v1/videos/upload-resumable?upload_id={id}"),
            Loc::Absolute => format!("http://tube.test:9000/api/v1/videos/upload-resumable?upload_id={id}"),
            Loc::PathOnly => format!("/api/v1/videos/upload-resumable?upload_id={id}"),
        }
    }

    fn violation(&mut self, what: String) {
        self.violations.push(what);
    }

    fn write(&mut self, start: u64, n: u64) {
        if let Some(d) = &mut self.data {
            for i in start..start + n {
                d[i as usize] = pattern(i);
            }
        }
        self.stored = start + n;
        if n > 0 {
            self.rotations_unprogressed = 0;
        }
    }

    fn finish(&mut self) -> Outcome {
        self.completed = true;
        done()
    }

    fn answer(&mut self, req: &Request) -> Outcome {
        let n = self.log.len();
        self.log.push(req.clone());
        let fault = self.faults.remove(&n);
        if self.is_final(req) {
            // From now on a 404 may rightly read as "maybe completed": no more expiries.
            self.final_sent = true;
        }
        let is_chunk = matches!(req.body, Body::Slice(_));
        let is_init = req.method == Method::Post;
        // Keep faults to what a healthy server can throw at a correct client: an init only
        // fails transiently, and a 413 only comes while the chunk size can still shrink.
        let fault = match fault {
            Some(Fault::Status(st, _)) if is_init && !status_is_retryable(st) => None,
            Some(Fault::Status(413, _)) if !is_chunk || self.cur_chunk <= MIN_CHUNK => None,
            Some(Fault::Status(413, ra)) => {
                self.cur_chunk = (self.cur_chunk / 2).max(MIN_CHUNK);
                Some(Fault::Status(413, ra))
            }
            f => f,
        };
        // Faults that change server state first.
        match &fault {
            Some(Fault::Expire) if !self.final_sent && !is_init && self.session.is_some() && self.expiries < 2 => {
                self.expiries += 1;
                self.session = None;
                self.stored = 0;
                if let Some(d) = &mut self.data {
                    d.iter_mut().for_each(|b| *b = 0);
                }
            }
            Some(Fault::RotateToken) if self.rotations_unprogressed == 0 => {
                self.rotations_unprogressed += 1;
                self.token = format!("{TOKEN}-{n}");
                self.next_token = Some(self.token.clone());
            }
            _ => {}
        }
        if req.get_header("Authorization") != Some(&format!("Bearer {}", self.token)) {
            if is_chunk {
                self.chunk_failed = true;
            }
            return out(problem(401, "invalid_token", "Token is invalid"));
        }
        match &fault {
            Some(Fault::Status(s, ra)) => {
                if is_chunk {
                    self.chunk_failed = true;
                    if self.is_final(req) {
                        self.final_sent = true;
                    }
                }
                let mut r = resp(*s);
                if let Some(v) = ra {
                    r = r.with_header("Retry-After", v);
                }
                return out(r);
            }
            Some(Fault::Refused) => {
                if is_chunk {
                    self.chunk_failed = true;
                }
                return Outcome::Network("connection refused".into());
            }
            _ => {}
        }
        let o = if is_init {
            self.init(req)
        } else {
            self.data_request(req, fault.as_ref())
        };
        match fault {
            Some(Fault::LoseAnswer) => {
                if is_chunk {
                    self.chunk_failed = true;
                    if self.completed {
                        self.lost_final = true;
                    }
                }
                Outcome::Network("the answer was lost".into())
            }
            Some(Fault::Drop(_)) if is_chunk => Outcome::Network("connection dropped mid-body".into()),
            _ => o,
        }
    }

    fn is_final(&self, req: &Request) -> bool {
        matches!(&req.body, Body::Slice(s) if s.end == self.total)
    }

    fn init(&mut self, req: &Request) -> Outcome {
        if req.url != INIT {
            self.violation(format!("init to {}", req.url));
        }
        if req.get_header("X-Upload-Content-Length") != Some(&self.total.to_string()) {
            self.violation("bad X-Upload-Content-Length".into());
        }
        if req.get_header("X-Upload-Content-Type") != Some("video/mp4") {
            self.violation("bad X-Upload-Content-Type".into());
        }
        if self.completed {
            self.violation("init after completion".into());
        }
        self.chunk_failed = false;
        if self.session.is_none() {
            self.generation += 1;
            self.session = Some(format!("7f-{}", self.generation));
        }
        let r = resp(if self.stored > 0 { 200 } else { 201 }).with_header("Location", &self.location());
        out(if self.stored > 0 { r.with_header("Range", &range(self.stored)) } else { r })
    }

    fn data_request(&mut self, req: &Request, fault: Option<&Fault>) -> Outcome {
        if self.completed || self.session.is_none() || self.upload_url().as_deref() != Some(req.url.as_str()) {
            if self.upload_url().is_some() && !self.completed && req.url.contains("upload_id=7f-") && self.session.is_some() {
                self.violation(format!("stale upload URL {}", req.url));
            }
            return out(resp(404).with_body(r#"{"error":{"code":"FileNotFound","message":"Not found"}}"#));
        }
        if req.method != Method::Put {
            self.violation(format!("{} to the upload URL", req.method.as_str()));
            return out(resp(405));
        }
        let cr = req.get_header("Content-Range").unwrap_or("").to_string();
        match &req.body {
            Body::Empty => {
                if cr != format!("bytes */{}", self.total) {
                    self.violation(format!("query with Content-Range {cr:?}"));
                }
                self.chunk_failed = false;
                if self.stored == self.total {
                    return self.finish();
                }
                out(resp(308).with_header("Range", &range(self.stored)))
            }
            Body::Slice(s) => {
                if self.chunk_failed {
                    self.violation(format!("chunk at {} right after a failed chunk, without asking the offset", s.start));
                }
                if req.get_header("Content-Type") != Some("application/octet-stream") {
                    self.violation("chunk without application/octet-stream".into());
                }
                if cr != format!("bytes {}-{}/{}", s.start, s.end.wrapping_sub(1), self.total) {
                    self.violation(format!("Content-Range {cr:?} does not match the body {}..{}", s.start, s.end));
                }
                if s.file != 0 || s.start >= s.end || s.end > self.total || s.len() > self.max_chunk {
                    self.violation(format!("bad slice {s:?}"));
                    return out(resp(400));
                }
                if s.start != self.stored {
                    self.violation(format!("chunk at {} while the server holds {}", s.start, self.stored));
                    return out(resp(409));
                }
                if s.end == self.total {
                    self.final_sent = true;
                }
                let keep = match fault {
                    Some(Fault::Drop(k)) => (*k).min(s.len() - 1),
                    Some(Fault::Short(k)) => (*k).clamp(1, s.len()),
                    _ => s.len(),
                };
                self.write(s.start, keep);
                if matches!(fault, Some(Fault::Drop(_))) {
                    self.chunk_failed = true;
                }
                if self.stored == self.total {
                    return self.finish();
                }
                out(resp(308).with_header("Range", &range(self.stored)))
            }
            b => {
                self.violation(format!("unexpected body {b:?}"));
                out(resp(400))
            }
        }
    }

    fn holds_the_file(&self) -> bool {
        self.stored == self.total
            && self.data.as_ref().is_none_or(|d| d.iter().enumerate().all(|(i, b)| *b == pattern(i as u64)))
    }
}

impl drive::Server for Sim {
    fn answer(&mut self, req: &Request) -> Outcome {
        Sim::answer(self, req)
    }
    fn token(&mut self) -> Option<String> {
        self.next_token.take()
    }
}

/// Answers each request with a chunk's half reported as sent first, 7 ms per answer.
fn drive(p: PeerTube, sim: &mut Sim, abort_at: Option<usize>) -> Run {
    let mut e = Engine::new(p, RetryPolicy::new(vec![1; 12]), true);
    e.start(1000.0);
    let how = Drive { abort_after: abort_at, half_progress: true, max_polls: 200_000, ..Drive::new(Order::Now, 1000.0, 7.0) };
    drive::drive(&mut e, sim, how)
}

fn monotonic(s: &[Snapshot]) -> bool {
    s.windows(2).all(|w| w[0].loaded <= w[1].loaded && w[1].loaded <= w[1].total)
}

#[test]
fn simulated_upload_with_every_fault_kind() {
    let size = 10 * MIN_CHUNK + 123;
    for loc in [Loc::ProtocolRelative, Loc::Absolute, Loc::PathOnly] {
        let mut sim = Sim::new(size, MIN_CHUNK);
        sim.loc = loc;
        for (i, f) in [
            (0, Fault::Status(503, Some("1"))),
            (1, Fault::Refused),
            (3, Fault::Status(500, None)),
            (6, Fault::Drop(1000)),
            (9, Fault::Short(77)),
            (11, Fault::Status(429, Some("2"))),
            (14, Fault::LoseAnswer),
            (17, Fault::RotateToken),
            (21, Fault::Expire),
            (24, Fault::Status(502, None)),
            (27, Fault::Drop(0)),
        ] {
            sim.faults.insert(i, f);
        }
        let run = drive(video(size, MIN_CHUNK), &mut sim, None);
        assert!(run.result.is_ok(), "{loc:?}: {:?}", run.result);
        assert!(sim.violations.is_empty(), "{loc:?}: {:?}", sim.violations);
        assert!(sim.holds_the_file());
        assert!(monotonic(&run.progress));
        assert_eq!(run.progress.last().map(|s| (s.loaded, s.total)), Some((size, size)));
        assert!(sim.generation >= 2, "the session was re-created after expiry");
    }
}

#[test]
fn simulated_abort_deletes_the_upload() {
    let mut sim = Sim::new(5 * MIN_CHUNK, MIN_CHUNK);
    let run = drive(video(5 * MIN_CHUNK, MIN_CHUNK), &mut sim, Some(3));
    assert_eq!(run.cleanup.len(), 1);
    assert_eq!(Some(run.cleanup[0].url.clone()), sim.upload_url());
    assert_eq!(run.cleanup[0].method, Method::Delete);
    assert!(run.result.is_err());
}

#[test]
fn simulated_upload_past_4_gib() {
    let size = (4u64 << 30) + 12_345;
    let mut sim = Sim::new(size, 256 << 20);
    sim.faults.insert(5, Fault::Drop(100 << 20));
    sim.faults.insert(9, Fault::Short(12_345_678));
    let run = drive(video(size, 256 << 20), &mut sim, None);
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
    assert_eq!(sim.stored, size);
    let last = &sim.log[sim.log.len() - 1];
    assert!(last.get_header("Content-Range").unwrap().ends_with(&format!("/{size}")));
    assert!(monotonic(&run.progress));
}

fn fault_strategy() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => prop::sample::select(vec![500u16, 502, 503, 504, 408, 409, 423, 460, 429]).prop_map(|s| Fault::Status(s, None)),
        1 => Just(Fault::Status(503, Some("1"))),
        1 => Just(Fault::Status(429, Some("0"))),
        1 => Just(Fault::Status(413, None)),
        2 => Just(Fault::Refused),
        2 => Just(Fault::LoseAnswer),
        2 => any::<u64>().prop_map(Fault::Drop),
        2 => any::<u64>().prop_map(Fault::Short),
        1 => Just(Fault::Expire),
        1 => Just(Fault::RotateToken),
    ]
}

fn size_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![1u64..4096, 4096u64..(3 << 20), (3u64 << 20)..(300 << 20), ((4u64 << 30) - 3)..(6u64 << 30)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Whatever the size, chunk size and faults, the server ends up holding exactly the file's
    /// bytes in order; every chunk starts where the server says it is; after a failed chunk
    /// the offset is asked; progress only grows and ends at the total.
    #[test]
    fn random_sizes_chunks_and_faults(
        size in size_strategy(),
        chunk_exp in 16u32..31,
        chunk_extra in any::<u64>(),
        faults in prop::collection::vec(prop::option::weighted(0.3, fault_strategy()), 0..120),
        loc in prop::sample::select(vec![Loc::ProtocolRelative, Loc::Absolute, Loc::PathOnly]),
    ) {
        let mut chunk = (1u64 << chunk_exp) + chunk_extra % (1u64 << chunk_exp);
        chunk = chunk.clamp(MIN_CHUNK, MAX_CHUNK).max(size.div_ceil(300)).min(MAX_CHUNK);
        let mut sim = Sim::new(size, chunk);
        sim.loc = loc;
        for (i, f) in faults.into_iter().enumerate() {
            if let Some(f) = f {
                sim.faults.insert(i, f);
            }
        }
        let run = drive(video(size, chunk), &mut sim, None);
        prop_assert!(sim.violations.is_empty(), "{:?}", sim.violations);
        prop_assert!(monotonic(&run.progress));
        match &run.result {
            Ok(j) => {
                prop_assert_eq!(j.pointer("/video/id").and_then(Json::as_u64), Some(42));
                prop_assert!(sim.completed && sim.holds_the_file());
                prop_assert_eq!(run.progress.last().map(|s| (s.loaded, s.total)), Some((size, size)));
            }
            Err(e) if e.code == ErrorCode::SessionExpired => {
                // Only when the last chunk's answer was lost after the server completed it.
                prop_assert!(sim.lost_final && sim.completed && sim.holds_the_file(), "{:?}", e);
            }
            Err(e) => prop_assert!(false, "unexpected failure {:?}", e),
        }
        prop_assert!(sim.log.iter().all(|r| !r.url.contains("//api")));
    }

    /// Random answers to whatever the protocol sends never panic and always end.
    #[test]
    fn random_answers_never_panic(
        size in 1u64..(4 * MIN_CHUNK),
        answers in prop::collection::vec(answer_strategy(), 1..80),
    ) {
        let mut e = Engine::new(video(size, MIN_CHUNK), RetryPolicy::new(vec![1, 1]), true);
        let mut now = 0.0;
        e.start(now);
        let mut answers = answers.into_iter().cycle();
        let mut last = 0;
        for _ in 0..2000 {
            match e.poll(now) {
                Action::Send { id, .. } => {
                    now += 1.0;
                    e.on_outcome(id, answers.next().unwrap(), now);
                    let l = e.progress().loaded;
                    prop_assert!(l >= last && l <= size);
                    last = l;
                }
                Action::Wait { until_ms: Some(t) } => now = t,
                Action::Wait { until_ms: None } => prop_assert!(false, "stuck"),
                Action::RefreshToken => e.on_token(Some("t".into())),
                Action::Finished(_) => return Ok(()),
            }
        }
        prop_assert!(false, "did not finish");
    }
}

fn answer_strategy() -> impl Strategy<Value = Outcome> {
    let status = prop_oneof![Just(200u16), Just(201), Just(204), Just(308), 100u16..600];
    let header = prop_oneof![
        Just(None),
        Just(Some(("Range", "bytes=0--1".to_string()))),
        (0u64..(5 * MIN_CHUNK)).prop_map(|n| Some(("Range", format!("bytes=0-{n}")))),
        ".{0,12}".prop_map(|s| Some(("Range", s))),
        Just(Some(("Location", UPLOAD_URL.to_string()))),
        Just(Some(("Location", "//tube.test:9000/x?upload_id=1".to_string()))),
        ".{0,12}".prop_map(|s| Some(("Location", s))),
        ".{0,12}".prop_map(|s| Some(("Retry-After", s))),
    ];
    let body = prop_oneof![Just(String::new()), Just(DONE_BODY.to_string()), ".{0,20}"];
    prop_oneof![
        9 => (status, prop::collection::vec(header, 0..3), body).prop_map(|(s, hs, b)| {
            let mut r = resp(s).with_body(&b);
            for (k, v) in hs.into_iter().flatten() {
                r = r.with_header(k, &v);
            }
            out(r)
        }),
        1 => Just(Outcome::Network("x".into())),
    ]
}

// ---- one-request operations ------------------------------------------------------------------

fn first(p: &mut OneShot) -> Request {
    match p.next() {
        Next::Send(r) => r,
        n => panic!("{n:?}"),
    }
}

fn form(r: &Request) -> (String, String) {
    match &r.body {
        Body::Text { content_type, text } => (content_type.clone(), text.clone()),
        b => panic!("{b:?}"),
    }
}

fn parts(r: &Request) -> Vec<(String, String)> {
    let Body::Multipart(ps) = &r.body else { panic!("{:?}", r.body) };
    ps.iter()
        .map(|p| match p {
            Part::Field { name, value } => (name.clone(), value.clone()),
            Part::File { name, filename, content_type, slice } => {
                (name.clone(), format!("<file {filename} {content_type} {}..{} #{}>", slice.start, slice.end, slice.file))
            }
        })
        .collect()
}

fn run_oneshot(p: OneShot, answers: Vec<Outcome>) -> (Result<Json, UploadError>, Vec<Request>) {
    run_oneshot_with(p, answers, true)
}

/// `refresh`: whether the page can hand over a fresh token (the shell gives logins none).
fn run_oneshot_with<P: Protocol>(p: P, answers: Vec<Outcome>, refresh: bool) -> (Result<Json, UploadError>, Vec<Request>) {
    let mut e = Engine::new(p, policy(), refresh);
    e.start(0.0);
    let mut server = Answers { answers: answers.into_iter(), sent: Vec::new() };
    let run = drive::drive(&mut e, &mut server, Drive::new(Order::Now, 0.0, 1.0));
    (run.result, server.sent)
}

/// Answers the requests in turn; the page hands over "new-token".
struct Answers {
    answers: std::vec::IntoIter<Outcome>,
    sent: Vec<Request>,
}

impl drive::Server for Answers {
    fn answer(&mut self, req: &Request) -> Outcome {
        self.sent.push(req.clone());
        self.answers.next().expect("more requests than answers")
    }
    fn token(&mut self) -> Option<String> {
        Some("new-token".into())
    }
}

#[test]
fn oauth_client_and_password_login() {
    let mut c = api::oauth_client("http://tube.test:9000/");
    let r = first(&mut c);
    assert_eq!((r.method, r.url.as_str(), r.body.clone()), (Method::Get, "http://tube.test:9000/api/v1/oauth-clients/local", Body::Empty));
    assert_eq!(r.get_header("Authorization"), None);

    let p = api::token_password(EP, "cid32", "secret32", "alice@example.org", "p&ss=wörd +1", None).unwrap();
    let (res, sent) = run_oneshot(
        p,
        vec![out(resp(200).with_body(
            r#"{"token_type":"Bearer","access_token":"at","refresh_token":"rt","expires_in":86400,"refresh_token_expires_in":1209600}"#,
        ))],
    );
    let r = &sent[0];
    assert_eq!((r.method, r.url.as_str()), (Method::Post, "http://tube.test:9000/api/v1/users/token"));
    assert_eq!(r.get_header("x-peertube-otp"), None);
    assert_eq!(r.get_header("Authorization"), None);
    let (ct, text) = form(r);
    assert_eq!(ct, "application/x-www-form-urlencoded");
    assert_eq!(
        text,
        "client_id=cid32&client_secret=secret32&grant_type=password&username=alice%40example.org&password=p%26ss%3Dw%C3%B6rd%20%2B1"
    );
    let j = res.unwrap();
    assert_eq!((j.get("access_token").and_then(Json::as_str), j.get("expires_in").and_then(Json::as_u64)), (Some("at"), Some(86400)));

    // Two-factor: the code goes in x-peertube-otp; an empty code is no header.
    let mut p = api::token_password(EP, "c", "s", "u", "p", Some("123456")).unwrap();
    assert_eq!(first(&mut p).get_header("x-peertube-otp"), Some("123456"));
    let mut p = api::token_password(EP, "c", "s", "u", "p", Some("")).unwrap();
    assert_eq!(first(&mut p).get_header("x-peertube-otp"), None);
    assert_eq!(api::token_password(EP, "c", "s", "", "p", None).err().map(|e| e.code), Some(ErrorCode::InvalidInput));
    assert_eq!(api::token_password(EP, "c", "s", "u", "", None).err().map(|e| e.code), Some(ErrorCode::InvalidInput));
}

/// `peertubeLogin` (`api::Login`): the client lookup, then the password grant with the client
/// found, each request with its own retry budget (3 retries here), as two engines gave them.
#[test]
fn login_looks_up_the_client_then_asks_for_a_token() {
    let login = || api::Login::new(EP, "alice".into(), "hunter2".into(), Some("123".into()), None).unwrap();
    let client = || out(resp(200).with_body(r#"{"client_id":"cid","client_secret":"csec"}"#));
    let token = || out(resp(200).with_body(r#"{"access_token":"at","refresh_token":"rt","expires_in":60}"#));
    let busy = || out(resp(503));
    let (res, sent) = run_oneshot_with(login(), vec![busy(), busy(), busy(), client(), busy(), busy(), busy(), token()], false);
    assert_eq!(res.unwrap(), opts(r#"{"access_token":"at","refresh_token":"rt","expires_in":60,"client_id":"cid","client_secret":"csec"}"#));
    assert_eq!(sent.len(), 8);
    assert!(sent[..4].iter().all(|r| r.method == Method::Get && r.url == format!("{EP}/api/v1/oauth-clients/local")));
    for r in &sent[4..] {
        assert_eq!((r.method, r.url.as_str(), r.get_header("x-peertube-otp")), (Method::Post, "http://tube.test:9000/api/v1/users/token", Some("123")));
        assert_eq!(form(r).1, "client_id=cid&client_secret=csec&grant_type=password&username=alice&password=hunter2");
    }
    // A fourth retry of the token request is one too many.
    let (res, sent) = run_oneshot_with(login(), vec![client(), busy(), busy(), busy(), busy()], false);
    assert_eq!((res.unwrap_err().status, sent.len()), (Some(503), 5));
    // A client given: no lookup.
    let given = api::Login::new(EP, "alice".into(), "pw".into(), None, Some(("c".into(), "s".into()))).unwrap();
    let (res, sent) = run_oneshot_with(given, vec![token()], false);
    assert_eq!(res.unwrap().get("client_secret").and_then(Json::as_str), Some("s"));
    assert_eq!((sent.len(), form(&sent[0]).1.as_str()), (1, "client_id=c&client_secret=s&grant_type=password&username=alice&password=pw"));
    // A lookup answer without the client; a refused password (never in the message).
    let (res, sent) = run_oneshot_with(login(), vec![out(resp(200).with_body(r#"{"client_id":"cid"}"#))], false);
    assert_eq!((res.unwrap_err().message, sent.len()), ("oauth-clients/local did not return client_id and client_secret".to_string(), 1));
    let refused = out(problem(400, "invalid_grant", "Invalid grant: user credentials are invalid (hunter2)"));
    let (res, sent) = run_oneshot_with(login(), vec![client(), refused], false);
    let e = res.unwrap_err();
    assert_eq!((e.code, e.status, sent.len()), (ErrorCode::Http, Some(400), 2));
    assert!(e.message.contains("Invalid grant") && !e.message.contains("hunter2"), "{}", e.message);
}

#[test]
fn login_errors() {
    // missing_two_factor is a 401 that a new token cannot fix: it is not a token refresh.
    let p = api::token_password(EP, "c", "s", "u", "hunter2", None).unwrap();
    let (res, sent) = run_oneshot_with(p, vec![out(problem(401, "missing_two_factor", "Missing two factor header"))], false);
    let e = res.unwrap_err();
    assert_eq!((e.code, e.status), (ErrorCode::Auth, Some(401)));
    assert_eq!(sent.len(), 1);
    // invalid_grant: 400, not retried. The password never shows in the message.
    let p = api::token_password(EP, "c", "s", "u", "hunter2", None).unwrap();
    let (res, sent) = run_oneshot(p, vec![out(problem(400, "invalid_grant", "Invalid grant: user credentials are invalid (hunter2)"))]);
    let e = res.unwrap_err();
    assert_eq!((e.code, e.status, e.retryable), (ErrorCode::Http, Some(400), false));
    assert!(e.message.contains("Invalid grant"));
    assert!(!e.message.contains("hunter2"), "{}", e.message);
    assert_eq!(sent.len(), 1);
    // A login POST is resent after 429/503 (the server did nothing), never after a lost answer.
    let p = api::token_password(EP, "c", "s", "u", "p", None).unwrap();
    let (res, sent) = run_oneshot(p, vec![out(resp(429).with_header("Retry-After", "1")), out(resp(503)), out(resp(200).with_body(r#"{"access_token":"at"}"#))]);
    assert!(res.is_ok());
    assert_eq!(sent.len(), 3);
    let p = api::token_password(EP, "c", "s", "u", "p", None).unwrap();
    let (res, sent) = run_oneshot(p, vec![Outcome::Network("reset".into())]);
    assert_eq!((res.unwrap_err().code, sent.len()), (ErrorCode::Network, 1));
    let p = api::token_password(EP, "c", "s", "u", "p", None).unwrap();
    let (res, sent) = run_oneshot(p, vec![out(resp(500))]);
    assert_eq!((res.unwrap_err().status, sent.len()), (Some(500), 1));
}

#[test]
fn refresh_grant() {
    let p = api::token_refresh(EP, "cid", "sec", "r/t+1").unwrap();
    let (res, sent) = run_oneshot(p, vec![out(resp(200).with_body(r#"{"access_token":"a2","refresh_token":"r2"}"#))]);
    let (ct, text) = form(&sent[0]);
    assert_eq!(ct, "application/x-www-form-urlencoded");
    assert_eq!(text, "client_id=cid&client_secret=sec&grant_type=refresh_token&refresh_token=r%2Ft%2B1");
    assert_eq!(sent[0].url, "http://tube.test:9000/api/v1/users/token");
    assert_eq!(res.unwrap().get("refresh_token").and_then(Json::as_str), Some("r2"));
    assert_eq!(api::token_refresh(EP, "c", "s", "").err().map(|e| e.code), Some(ErrorCode::InvalidInput));
    // The refresh token is kept out of error messages.
    let p = api::token_refresh(EP, "c", "s", "rtok-secret").unwrap();
    let (res, _) = run_oneshot(p, vec![out(problem(400, "invalid_grant", "refresh token rtok-secret is invalid"))]);
    assert!(!res.unwrap_err().message.contains("rtok-secret"));
}

#[test]
fn caption_upload_shape() {
    let p = api::caption(EP, TOKEN, "sU 1/2", "pt-BR", &file("subs.srt", 1234, "")).unwrap();
    let (res, sent) = run_oneshot(p, vec![out(resp(204))]);
    assert_eq!(res.unwrap(), Json::Object(Default::default()));
    let r = &sent[0];
    assert_eq!((r.method, r.url.as_str()), (Method::Put, "http://tube.test:9000/api/v1/videos/sU%201%2F2/captions/pt-BR"));
    assert_eq!(r.get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(parts(r), vec![("captionfile".to_string(), "<file subs.srt application/x-subrip 0..1234 #0>".to_string())]);
    let mut p = api::caption(EP, TOKEN, "1", "en", &file("a.VTT", 5, "text/vtt")).unwrap();
    assert_eq!(parts(&first(&mut p))[0].1, "<file a.VTT text/vtt 0..5 #0>");
    let mut p = api::caption(EP, TOKEN, "1", "en", &file("a.vtt", 5, "")).unwrap();
    assert_eq!(parts(&first(&mut p))[0].1, "<file a.vtt text/vtt 0..5 #0>");
    for (f, code) in [
        (file("a.txt", 5, "text/plain"), ErrorCode::UnsupportedType),
        (file("a.vtt", 0, ""), ErrorCode::InvalidInput),
        (file("a.vtt", 20 * 1024 * 1024 + 1, ""), ErrorCode::TooLarge),
    ] {
        assert_eq!(api::caption(EP, TOKEN, "1", "en", &f).err().map(|e| e.code), Some(code), "{f:?}");
    }
    assert!(api::caption(EP, TOKEN, "", "en", &file("a.vtt", 5, "")).is_err());
    assert!(api::caption(EP, TOKEN, "1", "", &file("a.vtt", 5, "")).is_err());
    assert!(api::caption(EP, "", "1", "en", &file("a.vtt", 5, "")).is_err());
    // 404 unknown video: not retried.
    let p = api::caption(EP, TOKEN, "1", "en", &file("a.vtt", 5, "")).unwrap();
    let (res, sent) = run_oneshot(p, vec![out(problem(404, "", "Video not found"))]);
    assert_eq!((res.unwrap_err().status, sent.len()), (Some(404), 1));
}

#[test]
fn avatar_and_banner_shapes() {
    let p = api::avatar(EP, TOKEN, None, &file("me.JPG", 100, "image/jpeg")).unwrap();
    let (res, sent) = run_oneshot(p, vec![out(resp(200).with_body(r#"{"avatars":[{"path":"/a.jpg","width":48}]}"#))]);
    assert_eq!(res.unwrap().get("avatars").and_then(Json::as_array).map(|a| a.len()), Some(1));
    assert_eq!((sent[0].method, sent[0].url.as_str()), (Method::Post, "http://tube.test:9000/api/v1/users/me/avatar/pick"));
    assert_eq!(parts(&sent[0]), vec![("avatarfile".to_string(), "<file me.JPG image/jpeg 0..100 #0>".to_string())]);
    let mut p = api::avatar(EP, TOKEN, Some("my_channel@tube.test"), &file("c.webp", 10, "")).unwrap();
    let r = first(&mut p);
    assert_eq!(r.url, "http://tube.test:9000/api/v1/video-channels/my_channel%40tube.test/avatar/pick");
    let mut p = api::avatar(EP, TOKEN, Some(""), &file("c.gif", 10, "image/gif")).unwrap();
    assert_eq!(first(&mut p).url, "http://tube.test:9000/api/v1/users/me/avatar/pick");
    let mut p = api::banner(EP, TOKEN, "chan", &file("b.png", 10, "image/png")).unwrap();
    let r = first(&mut p);
    assert_eq!((r.method, r.url.as_str()), (Method::Post, "http://tube.test:9000/api/v1/video-channels/chan/banner/pick"));
    assert_eq!(parts(&r)[0].0, "bannerfile");
    assert_eq!(r.body.file_bytes(), 10);
    for f in [file("a.svg", 10, "image/svg+xml"), file("a.bmp", 10, "")] {
        assert_eq!(api::avatar(EP, TOKEN, None, &f).err().map(|e| e.code), Some(ErrorCode::UnsupportedType));
    }
    assert_eq!(api::avatar(EP, TOKEN, None, &file("a.png", (4 << 20) + 1, "")).err().map(|e| e.code), Some(ErrorCode::TooLarge));
    assert!(api::avatar(EP, TOKEN, None, &file("a.png", 4 << 20, "")).is_ok());
    assert_eq!(api::banner(EP, TOKEN, "", &file("b.png", 10, "")).err().map(|e| e.code), Some(ErrorCode::InvalidInput));
    // A 413 from nginx (no body) is too-large.
    let p = api::avatar(EP, TOKEN, None, &file("me.png", 100, "")).unwrap();
    let (res, _) = run_oneshot(p, vec![out(resp(413))]);
    assert_eq!(res.unwrap_err().code, ErrorCode::TooLarge);
}

#[test]
fn avatar_401_refreshes_the_token_and_resends() {
    let p = api::avatar(EP, TOKEN, None, &file("me.png", 100, "")).unwrap();
    let (res, sent) = run_oneshot(p, vec![out(resp(401)), out(resp(200).with_body(r#"{"avatars":[]}"#))]);
    assert!(res.is_ok());
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(sent[1].get_header("Authorization"), Some("Bearer new-token"));
    assert_eq!(sent[1].headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("authorization")).count(), 1);
}

#[test]
fn video_import_and_legacy_upload_shapes() {
    let o = opts(r#"{"channelId":5,"name":"From torrent","privacy":1,"tags":["x"],"bogus":true}"#);
    let mut p = api::import_video(EP, TOKEN, Some(&file("a.torrent", 300, "")), &o).unwrap();
    let r = first(&mut p);
    assert_eq!((r.method, r.url.as_str()), (Method::Post, "http://tube.test:9000/api/v1/videos/imports"));
    assert_eq!(
        parts(&r),
        vec![
            ("channelId".into(), "5".into()),
            ("name".into(), "From torrent".into()),
            ("privacy".into(), "1".into()),
            ("tags[0]".into(), "x".into()),
            ("torrentfile".into(), "<file a.torrent application/x-bittorrent 0..300 #0>".into()),
        ]
    );
    let mut p = api::import_video(EP, TOKEN, None, &opts(r#"{"channelId":5,"targetUrl":"https://v.example/x"}"#)).unwrap();
    assert_eq!(parts(&first(&mut p)), vec![("channelId".into(), "5".into()), ("targetUrl".into(), "https://v.example/x".into())]);
    let mut p = api::import_video(EP, TOKEN, None, &opts(r#"{"channelId":5,"magnetUri":"magnet:?xt=urn:btih:abc"}"#)).unwrap();
    assert_eq!(parts(&first(&mut p))[1], ("magnetUri".into(), "magnet:?xt=urn:btih:abc".into()));
    for (f, o) in [
        (None, r#"{"channelId":5}"#),
        (None, r#"{"channelId":5,"targetUrl":"a","magnetUri":"b"}"#),
        (Some(file("a.torrent", 3, "")), r#"{"channelId":5,"targetUrl":"a"}"#),
        (None, r#"{"targetUrl":"a"}"#),
    ] {
        assert_eq!(api::import_video(EP, TOKEN, f.as_ref(), &opts(o)).err().map(|e| e.code), Some(ErrorCode::InvalidInput), "{o}");
    }
    assert_eq!(
        api::import_video(EP, TOKEN, Some(&file("a.mp4", 3, "")), &opts(r#"{"channelId":5}"#)).err().map(|e| e.code),
        Some(ErrorCode::UnsupportedType)
    );
    assert_eq!(
        api::import_video(EP, TOKEN, Some(&file("a.torrent", 200 * 1024 + 1, "")), &opts(r#"{"channelId":5}"#)).err().map(|e| e.code),
        Some(ErrorCode::TooLarge)
    );
    // Import disabled: 409, not retried.
    let p = api::import_video(EP, TOKEN, None, &opts(r#"{"channelId":5,"targetUrl":"https://v.example/x"}"#)).unwrap();
    let (res, sent) = run_oneshot(p, vec![out(problem(409, "", "Video import is disabled"))]);
    assert_eq!((res.unwrap_err().status, sent.len()), (Some(409), 1));

    // Legacy single-request upload.
    let mut p = api::legacy_upload(EP, TOKEN, &file("movie.mp4", 1000, "video/mp4"), &opts(r#"{"channelId":2}"#)).unwrap();
    let r = first(&mut p);
    assert_eq!((r.method, r.url.as_str()), (Method::Post, "http://tube.test:9000/api/v1/videos/upload"));
    assert_eq!(
        parts(&r),
        vec![
            ("channelId".into(), "2".into()),
            ("name".into(), "movie.mp4".into()),
            ("videofile".into(), "<file movie.mp4 video/mp4 0..1000 #0>".into()),
        ]
    );
    assert!(api::legacy_upload(EP, TOKEN, &file("movie.mp4", 0, ""), &opts(r#"{"channelId":2}"#)).is_err());
    assert!(api::legacy_upload(EP, TOKEN, &file("movie.mp4", 3, ""), &opts(r#"{}"#)).is_err());
    // A lost answer to a POST upload is not resent (it may have created the video).
    let p = api::legacy_upload(EP, TOKEN, &file("movie.mp4", 1000, "video/mp4"), &opts(r#"{"channelId":2}"#)).unwrap();
    let (res, sent) = run_oneshot(p, vec![Outcome::Network("lost".into())]);
    assert_eq!((res.unwrap_err().code, sent.len()), (ErrorCode::Network, 1));
    // 422 unreadable file.
    let p = api::legacy_upload(EP, TOKEN, &file("movie.mp4", 1000, "video/mp4"), &opts(r#"{"channelId":2}"#)).unwrap();
    let (res, _) = run_oneshot(p, vec![out(problem(422, "", "Video file unreadable."))]);
    let e = res.unwrap_err();
    assert_eq!((e.code, e.status), (ErrorCode::Http, Some(422)));
    assert!(e.message.contains("unreadable"));
}

#[test]
fn import_status_and_listing() {
    let p = api::import_latest(EP, TOKEN, 7).unwrap();
    let (res, sent) = run_oneshot(p, vec![out(resp(200).with_body(r#"{"id":3,"state":{"id":2,"label":"Processing"},"createdAt":"2024-01-01T00:00:00Z"}"#))]);
    assert_eq!(res.unwrap().pointer("/state/label").and_then(Json::as_str), Some("Processing"));
    assert_eq!((sent[0].method, sent[0].url.as_str()), (Method::Get, "http://tube.test:9000/api/v1/users/7/imports/latest"));
    let p = api::import_latest(EP, TOKEN, 7).unwrap();
    assert_eq!(run_oneshot(p, vec![out(resp(404).with_body("Not found"))]).0.unwrap(), Json::Null);
    // A GET is resent after a network error.
    let p = api::import_latest(EP, TOKEN, 7).unwrap();
    let status = r#"{"id":3,"state":{"id":3,"label":"Completed"},"createdAt":"2024-01-01T00:00:00Z"}"#;
    let (res, sent) = run_oneshot(p, vec![Outcome::Network("x".into()), out(resp(500)), out(resp(200).with_body(status))]);
    assert!(res.is_ok());
    assert_eq!(sent.len(), 3);

    let mut p = api::list_imports(EP, TOKEN, &opts(r#"{"start":0,"count":15,"sort":"-createdAt","search":"a b&c","bogus":1,"targetUrl":null}"#)).unwrap();
    let r = first(&mut p);
    assert_eq!(r.url, "http://tube.test:9000/api/v1/users/me/videos/imports?start=0&count=15&sort=-createdAt&search=a%20b%26c");
    let mut p = api::list_imports(EP, TOKEN, &Json::Object(Default::default())).unwrap();
    assert_eq!(first(&mut p).url, "http://tube.test:9000/api/v1/users/me/videos/imports");
    assert!(api::list_imports(EP, "", &Json::Object(Default::default())).is_err());
    // Non-JSON success body: a protocol error.
    let p = api::list_imports(EP, TOKEN, &Json::Object(Default::default())).unwrap();
    assert_eq!(run_oneshot(p, vec![out(resp(200).with_body("<html>"))]).0.unwrap_err().code, ErrorCode::Protocol);
}

#[test]
fn verdicts_are_consistent_for_one_shots() {
    // Sanity: OneShot on its own follows the same status rules.
    let mut p = api::import_latest(EP, TOKEN, 1).unwrap();
    let r = first(&mut p);
    assert!(matches!(p.handle(&r, out(resp(503))), Verdict::Retry { .. }));
    let r = first(&mut p);
    assert!(matches!(p.handle(&r, out(resp(429))), Verdict::Throttled { .. }));
    let r = first(&mut p);
    assert!(matches!(p.handle(&r, out(resp(401))), Verdict::Reauth(_)));
    let r = first(&mut p);
    assert!(matches!(p.handle(&r, out(resp(400))), Verdict::Fail(_)));
}

// ---- adaptive chunk size (no chunkSize given) -----------------------------------------------

/// Uploads `size` bytes with the default (adaptive) chunk size, each chunk answered `ms(len)`
/// after it left; returns the chunk lengths sent.
fn adaptive_lengths(size: u64, chunk: Option<u64>, ms: impl Fn(u64) -> f64) -> Vec<u64> {
    let p = PeerTube::video(EP, TOKEN, &file("clip.mp4", size, "video/mp4"), &opts(r#"{"channelId":3}"#), chunk).unwrap();
    let mut s = Step::new(p, false);
    s.exchange(created(UPLOAD_URL));
    let mut lens = Vec::new();
    loop {
        let (id, r) = s.send();
        let (a, b) = chunk_of(&r);
        lens.push(b - a);
        s.now += ms(b - a);
        let o = if b == size { done() } else { r308(b) };
        s.e.on_outcome(id, o, s.now);
        if b == size {
            break;
        }
    }
    assert!(s.finished().is_ok());
    lens
}

#[test]
fn default_chunk_size_grows_on_a_fast_link_up_to_64_mib() {
    let mib = 1u64 << 20;
    // 1 GB/s: every chunk takes well under 2 s.
    let lens = adaptive_lengths(300 * mib, None, |len| len as f64 / 1e6);
    assert_eq!(&lens[..6], &[8 * mib, 16 * mib, 32 * mib, 64 * mib, 64 * mib, 64 * mib]);
    assert_eq!(lens.iter().sum::<u64>(), 300 * mib);
}

#[test]
fn default_chunk_size_shrinks_on_a_slow_link_down_to_1_mib() {
    let mib = 1u64 << 20;
    // 100 kB/s: an 8 MiB chunk takes 84 s.
    let lens = adaptive_lengths(20 * mib, None, |len| len as f64 / 100.0);
    assert_eq!(&lens[..5], &[8 * mib, 4 * mib, 2 * mib, mib, mib]);
    assert_eq!(lens.iter().sum::<u64>(), 20 * mib);
}

#[test]
fn a_chunk_size_the_page_gives_is_kept_whatever_the_link() {
    let mib = 1u64 << 20;
    let fast = adaptive_lengths(40 * mib, Some(4 * mib), |len| len as f64 / 1e6);
    assert!(fast.iter().all(|&l| l == 4 * mib), "{fast:?}");
    let slow = adaptive_lengths(12 * mib, Some(4 * mib), |len| len as f64 / 100.0);
    assert!(slow.iter().all(|&l| l == 4 * mib), "{slow:?}");
}

#[test]
fn growth_stops_below_a_size_the_server_refused_with_413() {
    let mib = 1u64 << 20;
    let size = 200 * mib;
    let p = PeerTube::video(EP, TOKEN, &file("clip.mp4", size, "video/mp4"), &opts(r#"{"channelId":3}"#), None).unwrap();
    let mut s = Step::new(p, false);
    s.exchange(created(UPLOAD_URL));
    let (id, r) = s.send();
    assert_eq!(chunk_of(&r), (0, 8 * mib));
    s.now += 5.0;
    s.e.on_outcome(id, out(resp(413)), s.now);
    // After a 413 it asks the offset, then continues with half the size and never grows past it.
    let q = s.exchange(r308(0));
    assert!(is_query(&q, size));
    let mut lens = Vec::new();
    let mut at = 0;
    while at < size {
        let (id, r) = s.send();
        let (a, b) = chunk_of(&r);
        assert_eq!(a, at);
        lens.push(b - a);
        s.now += 5.0;
        s.e.on_outcome(id, if b == size { done() } else { r308(b) }, s.now);
        at = b;
    }
    assert!(lens.iter().all(|&l| l <= 4 * mib), "{lens:?}");
    assert!(s.finished().is_ok());
}

#[test]
fn a_404_to_the_first_attempt_of_the_last_chunk_starts_over_but_after_a_lost_answer_it_may_be_done() {
    // The upload expired before its last chunk: that chunk's 404 is a definite "gone".
    let mut s = after_init(3 * MIN_CHUNK, MIN_CHUNK);
    s.exchange(r308(MIN_CHUNK));
    s.exchange(r308(2 * MIN_CHUNK));
    let last = s.exchange(out(resp(404)));
    assert_eq!(chunk_of(&last), (2 * MIN_CHUNK, 3 * MIN_CHUNK));
    let again = s.exchange(created(UPLOAD_URL));
    assert_eq!((again.method, again.url.as_str()), (Method::Post, INIT), "a new upload");

    // The last chunk's answer was lost; then the upload is gone: it may have completed.
    let mut s = after_init(2 * MIN_CHUNK, MIN_CHUNK);
    s.exchange(r308(MIN_CHUNK));
    s.exchange(Outcome::Network("reset".into()));
    let q = s.exchange(out(resp(404)));
    assert!(is_query(&q, 2 * MIN_CHUNK));
    assert!(is_lookup(&s.exchange(listing(0, &[]))), "its video is looked for");
    let e = s.err();
    assert_eq!((e.code, e.status), (ErrorCode::SessionExpired, Some(404)));
    assert!(e.message.contains("may have completed"), "{}", e.message);

    // Same after a 5xx to the last chunk (the server may have finished it before failing).
    let mut s = after_init(2 * MIN_CHUNK, MIN_CHUNK);
    s.exchange(r308(MIN_CHUNK));
    s.exchange(out(resp(502)));
    s.exchange(out(resp(404)));
    assert!(is_lookup(&s.exchange(listing(0, &[]))));
    assert_eq!(s.err().code, ErrorCode::SessionExpired);
}

/// Answers are decoded into their types: a 2xx answer of another shape (a proxy's `{}`, a field
/// of the wrong type), which string lookups passed on to the page as if it were the answer, is a
/// protocol error naming what was expected.
#[test]
fn helper_answers_of_the_wrong_shape_are_protocol_errors() {
    let refused = |p: OneShot, body: &str| {
        let (res, sent) = run_oneshot(p, vec![out(resp(200).with_body(body))]);
        assert_eq!(sent.len(), 1, "not resent: {body}");
        let e = res.expect_err(body);
        assert_eq!((e.code, e.status, e.retryable), (ErrorCode::Protocol, Some(200), false), "{body}");
        e.message
    };
    let login = || api::token_password(EP, "c", "s", "u", "p", None).unwrap();
    for body in ["{}", r#"{"access_token":5}"#, r#"{"access_token":"a","expires_in":"soon"}"#, "[]"] {
        assert!(refused(login(), body).contains("access_token"), "{body}");
    }
    let refresh = api::token_refresh(EP, "c", "s", "r").unwrap();
    refused(refresh, r#"{"refresh_token":"r2"}"#);
    for body in [r#"{"client_id":"a"}"#, r#"{"client_id":"a","client_secret":7}"#] {
        let m = refused(api::oauth_client(EP), body);
        assert_eq!(m, "oauth-clients/local did not return client_id and client_secret");
    }
    for body in ["{}", r#"{"id":"3","state":{"id":2,"label":"Processing"},"createdAt":"2024"}"#, r#"{"id":3,"state":2,"createdAt":"2024"}"#] {
        refused(api::import_latest(EP, TOKEN, 7).unwrap(), body);
    }
    for body in ["{}", r#"{"total":"2","data":[]}"#, r#"{"total":1,"data":{}}"#] {
        refused(api::list_imports(EP, TOKEN, &opts("{}")).unwrap(), body);
    }
    let avatar = || api::avatar(EP, TOKEN, None, &file("me.png", 100, "")).unwrap();
    refused(avatar(), r#"{"avatars":{}}"#);
    refused(avatar(), "{}");
    refused(api::banner(EP, TOKEN, "chan", &file("b.png", 10, "")).unwrap(), r#"{"avatars":[]}"#);
    let legacy = || api::legacy_upload(EP, TOKEN, &file("movie.mp4", 1000, "video/mp4"), &opts(r#"{"channelId":2}"#)).unwrap();
    refused(legacy(), r#"{"video":{"id":"x"}}"#);
    refused(legacy(), "{}");
    // An answer of the right shape reaches the page as PeerTube sent it (more fields included).
    let (res, _) = run_oneshot(legacy(), vec![out(resp(200).with_body(r#"{"video":{"id":4,"uuid":"u","shortUUID":"s","x":1}}"#))]);
    assert_eq!(res.unwrap(), opts(r#"{"video":{"id":4,"uuid":"u","shortUUID":"s","x":1}}"#));
    let (res, _) = run_oneshot(api::list_imports(EP, TOKEN, &opts("{}")).unwrap(), vec![out(resp(200).with_body(r#"{"total":1,"data":[{"id":1,"x":[2]}]}"#))]);
    assert_eq!(res.unwrap(), opts(r#"{"total":1,"data":[{"id":1,"x":[2]}]}"#));
    // Not JSON at all: the one-request message, as before.
    assert!(refused(login(), "<html>").contains("not JSON"));
}
