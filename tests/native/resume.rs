//! Resume after a page reload, natively: the fingerprint, the stored record (round trip, no
//! token, expiry), and each provider's resume path — the state a first page leaves and what a
//! second page, built afresh from the same options, sends first when it restores it.
#![cfg(not(target_arch = "wasm32"))]

use chunkup::core::resume::{self, fingerprint, target, ResumeRecord, DEFAULT_TTL_MS, KEY_PREFIX, PEERTUBE_TTL_MS};
#[path = "common/json_ext.rs"]
mod json_ext;
use json_ext::JsonExt as _;
use chunkup::core::retry::RetryPolicy;
use chunkup::core::{Body, ErrorCode, FileInfo, Json, Method, Outcome, Part, Request, Response};
use chunkup::engine::{Action, Engine};
use chunkup::protocols::apivideo::ApiVideo;
use chunkup::protocols::cloudreve::{Cloudreve, UploadParams};
use chunkup::protocols::mangadex;
use chunkup::protocols::peertube::PeerTube;
use chunkup::protocols::{Next, Protocol, Verdict};

const MIB: u64 = 1024 * 1024;
const LM: f64 = 1_700_000_000_123.0;

fn file(name: &str, size: u64) -> FileInfo {
    FileInfo { name: name.into(), size, mime: "video/mp4".into(), last_modified: LM }
}

fn send(p: &mut dyn Protocol) -> Request {
    match p.next() {
        Next::Send(r) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn resp(status: u16) -> Response {
    Response::new(status)
}

// ---- fingerprint and record -----------------------------------------------------------------

#[test]
fn fingerprint_covers_file_provider_endpoint_target_and_user() {
    let f = [file("clip.mp4", 1000)];
    let base = fingerprint("peertube", "https://tube.example", r#"{"channelId":3}"#, "alice", &f);
    assert_eq!(base.len(), 32);
    assert!(base.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(base, fingerprint("peertube", "https://tube.example", r#"{"channelId":3}"#, "alice", &f), "stable");
    assert_eq!(base, fingerprint("peertube", "https://tube.example/", r#"{"channelId":3}"#, "alice", &f), "trailing slash");
    let mut changed = vec![
        fingerprint("peertube-import", "https://tube.example", r#"{"channelId":3}"#, "alice", &f),
        fingerprint("peertube", "https://other.example", r#"{"channelId":3}"#, "alice", &f),
        fingerprint("peertube", "https://tube.example", r#"{"channelId":4}"#, "alice", &f),
        fingerprint("peertube", "https://tube.example", r#"{"channelId":3}"#, "bob", &f),
        fingerprint("peertube", "https://tube.example", r#"{"channelId":3}"#, "", &f),
    ];
    let variants = [
        FileInfo { name: "clip2.mp4".into(), ..f[0].clone() },
        FileInfo { size: 1001, ..f[0].clone() },
        FileInfo { last_modified: LM + 1.0, ..f[0].clone() },
        FileInfo { mime: "video/webm".into(), ..f[0].clone() },
    ];
    for v in variants {
        changed.push(fingerprint("peertube", "https://tube.example", r#"{"channelId":3}"#, "alice", &[v]));
    }
    // Field boundaries are unambiguous: moving a character between fields changes it.
    changed.push(fingerprint("peertube", "https://tube.example", r#"{"channelId":3}"#, "alic", &[FileInfo { name: "eclip.mp4".into(), ..f[0].clone() }]));
    // Several files: order matters.
    let (a, b) = (file("a.png", 1), file("b.png", 2));
    let ab = fingerprint("mangadex", "https://md", "{}", "", &[a.clone(), b.clone()]);
    let ba = fingerprint("mangadex", "https://md", "{}", "", &[b, a]);
    assert_ne!(ab, ba);
    let mut all = changed.clone();
    all.push(base.clone());
    all.sort();
    all.dedup();
    assert_eq!(all.len(), changed.len() + 1, "every change gives another fingerprint");
    assert_eq!(resume::key(&base), format!("{KEY_PREFIX}{base}"));
}

#[test]
fn target_takes_only_the_providers_target_options() {
    let o = Json::parse(r#"{"channelId":3,"accessToken":"secret-token","name":"x","uri":"cloudreve://my/a","manga":"m","groups":["g"]}"#).unwrap();
    assert_eq!(target("peertube", &o), r#"{"channelId":3}"#);
    assert_eq!(target("cloudreve", &o), r#"{"uri":"cloudreve://my/a"}"#);
    assert_eq!(target("mangadex", &o), r#"{"manga":"m","groups":["g"]}"#);
    assert_eq!(target("apivideo", &o), "{}");
    for p in ["peertube", "peertube-import", "apivideo", "cloudreve", "mangadex"] {
        assert!(!target(p, &o).contains("secret-token"));
    }
}

fn record(now: f64) -> ResumeRecord {
    let session = Json::object().with("uploadUrl", "https://tube.example/api/v1/videos/upload-resumable?upload_id=abc").with("offset", 2 * MIB);
    ResumeRecord::new("0123456789abcdef0123456789abcdef", "peertube", "https://tube.example", &[file("clip.mp4", 5 * MIB)], 2 * MIB, session, None, now)
}

#[test]
fn records_round_trip_and_never_hold_a_token() {
    let r = record(1000.0);
    assert_eq!((r.total, r.offset, r.files, r.name.as_str()), (5 * MIB, 2 * MIB, 1, "clip.mp4"));
    assert_eq!((r.created_at, r.updated_at), (1000.0, 1000.0));
    let text = r.to_storage(&["tok-secret-1".into()]).expect("no secret in it");
    for key in ["\"version\":1", "\"fingerprint\"", "\"provider\":\"peertube\"", "\"createdAt\"", "\"expiresAt\"", "\"session\""] {
        assert!(text.contains(key), "{key} in {text}");
    }
    assert_eq!(ResumeRecord::parse(&text), Some(r.clone()));
    // A record that would carry a secret (raw or URL-encoded) is never serialised.
    assert_eq!(r.to_storage(&["upload_id=abc".into()]), None);
    let mut with_query = r.clone();
    with_query.session.set("uploadUrl", Json::String("https://x/?token=a%2Bb%3D".into()));
    assert_eq!(with_query.to_storage(&["a+b=".into()]), None);
    // A later update keeps createdAt.
    let later = ResumeRecord::new(&r.fingerprint, "peertube", &r.endpoint, &[file("clip.mp4", 5 * MIB)], 3 * MIB, r.session.clone(), Some(r.created_at), 5000.0);
    assert_eq!((later.created_at, later.updated_at, later.offset), (1000.0, 5000.0, 3 * MIB));
}

#[test]
fn malformed_records_are_refused() {
    let good = record(0.0).to_json();
    assert!(ResumeRecord::from_json(&good).is_some());
    let broken = |k: &str, v: Json| {
        let mut j = good.clone();
        j.set(k, v);
        ResumeRecord::from_json(&j)
    };
    assert!(broken("version", Json::from(2u64)).is_none());
    assert!(broken("fingerprint", Json::from("../../etc")).is_none());
    assert!(broken("fingerprint", Json::from("0123456789ABCDEF0123456789ABCDEF")).is_none());
    assert!(broken("offset", Json::from(6 * MIB)).is_none(), "offset past total");
    assert!(broken("session", Json::Null).is_none());
    assert!(broken("session", Json::from("x")).is_none());
    assert!(broken("expiresAt", Json::from("soon")).is_none());
    assert!(broken("provider", Json::from(3u64)).is_none());
    assert!(broken("session", Json::Array(vec![])).is_none());
    // Typed records: a field of the wrong type is no record (it used to read as absent).
    assert!(broken("name", Json::from(5u64)).is_none());
    assert!(broken("files", Json::from("2")).is_none());
    // Absent or null optional fields read as before.
    assert_eq!(broken("name", Json::Null).map(|r| r.name), Some(String::new()));
    assert_eq!(broken("files", Json::Null).map(|r| r.files), Some(1));
    for bad in ["", "null", "[]", "{", "{}"] {
        assert!(ResumeRecord::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn records_expire() {
    let now = 1_000_000.0;
    let r = record(now);
    assert_eq!(r.expires_at, now + PEERTUBE_TTL_MS, "PeerTube drops idle uploads after 1-2 h");
    assert!(!r.is_expired(now + PEERTUBE_TTL_MS - 1.0));
    assert!(r.is_expired(now + PEERTUBE_TTL_MS));
    let a = ResumeRecord::new(&r.fingerprint, "apivideo", "https://ws.api.video", &[file("a", 1)], 0, Json::object(), None, now);
    assert_eq!(a.expires_at, now + DEFAULT_TTL_MS);
    // A Cloudreve session's own expiry (Unix seconds) caps the record's.
    let soon = Json::object().with("sessionId", "s").with("expires", 1_500u64);
    let c = ResumeRecord::new(&r.fingerprint, "cloudreve", "https://cr", &[file("a", 1)], 0, soon, None, now);
    assert_eq!(c.expires_at, 1_500_000.0);
    let late = Json::object().with("sessionId", "s").with("expires", 9_999_999_999u64);
    let c = ResumeRecord::new(&r.fingerprint, "cloudreve", "https://cr", &[file("a", 1)], 0, late, None, now);
    assert_eq!(c.expires_at, now + DEFAULT_TTL_MS);
    let mut nan = r.clone();
    nan.expires_at = f64::NAN;
    assert!(nan.is_expired(now), "an unreadable expiry counts as expired");
}

// ---- PeerTube -------------------------------------------------------------------------------

const PT: &str = "http://tube.test:9000";
const PT_TOKEN: &str = "pt-token-0123456789";
const UPLOAD_URL: &str = "http://tube.test:9000/api/v1/videos/upload-resumable?upload_id=u1";

fn peertube(size: u64) -> PeerTube {
    let o = Json::parse(r#"{"channelId":3}"#).unwrap();
    PeerTube::video(PT, PT_TOKEN, &file("clip.mp4", size), &o, Some(MIB)).unwrap()
}

/// A first page: init, then `chunks` chunks confirmed.
fn peertube_first_page(size: u64, chunks: u64) -> PeerTube {
    let mut p = peertube(size);
    assert_eq!(p.resume_state(), None, "nothing to resume before the session exists");
    let init = send(&mut p);
    p.handle(&init, Outcome::Response(resp(201).with_header("Location", UPLOAD_URL)));
    for k in 0..chunks {
        let c = send(&mut p);
        let end = (k + 1) * MIB;
        p.handle(&c, Outcome::Response(resp(308).with_header("Range", &format!("bytes=0-{}", end - 1))));
    }
    p
}

#[test]
fn peertube_resumes_at_the_upload_url_after_asking_the_offset() {
    let size = 5 * MIB + 7;
    let first = peertube_first_page(size, 2);
    let state = first.resume_state().expect("resumable");
    assert_eq!(state.get("uploadUrl").and_then(Json::as_str), Some(UPLOAD_URL));
    assert_eq!(state.get("offset").and_then(Json::as_u64), Some(2 * MIB));
    assert!(!state.to_json_string().contains(PT_TOKEN));

    let mut p = peertube(size);
    p.restore(&state).unwrap();
    let q = send(&mut p);
    assert_eq!((q.method, q.url.as_str(), q.get_header("content-range")), (Method::Put, UPLOAD_URL, Some("bytes */5242887")));
    assert_eq!(q.body, Body::Empty);
    // The server has a little more than the first page saw confirmed (a chunk in flight at the
    // reload arrived): the next chunk starts there.
    p.handle(&q, Outcome::Response(resp(308).with_header("Range", &format!("bytes=0-{}", 3 * MIB - 1))));
    assert_eq!(p.confirmed(), 3 * MIB);
    let c = send(&mut p);
    assert_eq!(c.get_header("content-range"), Some(format!("bytes {}-{}/{size}", 3 * MIB, 4 * MIB - 1).as_str()));
    assert!(matches!(&c.body, Body::Slice(s) if s.start == 3 * MIB));
    // Restoring twice, or after starting, is refused.
    assert_eq!(p.restore(&state).unwrap_err().code, ErrorCode::InvalidInput);
}

#[test]
fn peertube_restarts_when_the_stored_upload_is_gone() {
    let state = peertube_first_page(4 * MIB, 1).resume_state().unwrap();
    let mut p = peertube(4 * MIB);
    p.restore(&state).unwrap();
    let q = send(&mut p);
    assert_eq!(p.handle(&q, Outcome::Response(resp(404))), Verdict::Continue);
    let init = send(&mut p);
    assert_eq!((init.method, init.url.as_str()), (Method::Post, "http://tube.test:9000/api/v1/videos/upload-resumable"));
}

#[test]
fn peertube_refuses_a_record_pointing_elsewhere() {
    let mut p = peertube(MIB);
    for bad in [
        r#"{"uploadUrl":"https://evil.example/api/v1/videos/upload-resumable?upload_id=u1"}"#,
        r#"{"uploadUrl":"http://tube.test:9001/x?upload_id=u1"}"#,
        r#"{"uploadUrl":"javascript:alert(1)"}"#,
        r#"{"uploadUrl":3}"#,
        r#"{}"#,
    ] {
        let e = p.restore(&Json::parse(bad).unwrap()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput, "{bad}");
    }
    // Still a fresh upload.
    assert_eq!(send(&mut p).method, Method::Post);
}

// ---- api.video ------------------------------------------------------------------------------

const AV: &str = "http://av.test";
const AV_TOKEN: &str = "to1R3sumeTok";

fn apivideo(size: u64, chunk: u64) -> ApiVideo {
    ApiVideo::file(AV, AV_TOKEN, &file("clip.mp4", size), None, None, Some(chunk)).unwrap()
}

fn multipart_video_id(req: &Request) -> Option<String> {
    let Body::Multipart(parts) = &req.body else { panic!("multipart expected") };
    parts.iter().find_map(|p| match p {
        Part::Field { name, value } if name == "videoId" => Some(value.clone()),
        _ => None,
    })
}

#[test]
fn apivideo_resumes_with_the_next_part_number_and_the_recorded_part_size() {
    let size = 17 * MIB;
    let mut first = apivideo(size, 5 * MIB);
    let p1 = send(&mut first);
    assert_eq!(first.resume_state(), None, "no video yet");
    first.handle(&p1, Outcome::Response(resp(201).with_body(r#"{"videoId":"viR1"}"#)));
    let p2 = send(&mut first);
    first.handle(&p2, Outcome::Response(resp(201).with_body(r#"{"videoId":"viR1"}"#)));
    let state = first.resume_state().unwrap();
    assert_eq!(state.to_json_string(), format!(r#"{{"videoId":"viR1","partsDone":2,"chunkSize":{}}}"#, 5 * MIB));
    assert!(!state.to_json_string().contains(AV_TOKEN));

    // The second page asked for another chunk size: the recorded one wins (parts are numbered by it).
    let mut p = apivideo(size, 8 * MIB);
    p.restore(&state).unwrap();
    assert_eq!(p.confirmed(), 10 * MIB);
    let r3 = send(&mut p);
    assert_eq!(r3.get_header("content-range"), Some("part 3/4"));
    assert_eq!(multipart_video_id(&r3).as_deref(), Some("viR1"));
    // Part 3 was in flight when the first page went away and did arrive: "collides" = stored.
    let collide = r#"{"title":"The part 3 collides with a previously uploaded part.","status":400}"#;
    assert_eq!(p.handle(&r3, Outcome::Response(resp(400).with_body(collide))), Verdict::Continue);
    let r4 = send(&mut p);
    assert_eq!(r4.get_header("content-range"), Some("part 4/4"));
    p.handle(&r4, Outcome::Response(resp(201).with_body(r#"{"videoId":"viR1","title":"clip"}"#)));
    assert!(matches!(p.next(), Next::Done(j) if j.get("title").is_some()));
    assert_eq!(p.resume_state(), None, "nothing to resume once done");
}

#[test]
fn apivideo_refuses_records_that_do_not_fit() {
    let size = 12 * MIB;
    let bad = [
        r#"{"videoId":"vi1","partsDone":3,"chunkSize":5242880}"#, // the file has 3 parts: nothing left
        r#"{"videoId":"vi1","partsDone":0,"chunkSize":5242880}"#,
        r#"{"videoId":"vi1","partsDone":1,"chunkSize":1024}"#,
        r#"{"videoId":"../x","partsDone":1,"chunkSize":5242880}"#,
        r#"{"partsDone":1,"chunkSize":5242880}"#,
    ];
    for b in bad {
        let mut p = apivideo(size, 5 * MIB);
        assert_eq!(p.restore(&Json::parse(b).unwrap()).unwrap_err().code, ErrorCode::InvalidInput, "{b}");
    }
    let mut other = ApiVideo::file(AV, AV_TOKEN, &file("c", size), None, Some("viOther".into()), None).unwrap();
    assert!(other.restore(&Json::parse(r#"{"videoId":"vi1","partsDone":1,"chunkSize":5242880}"#).unwrap()).is_err());
    let mut prog = ApiVideo::progressive(AV, AV_TOKEN, None, None).unwrap();
    assert!(prog.restore(&Json::parse(r#"{"videoId":"vi1","partsDone":1,"chunkSize":5242880}"#).unwrap()).is_err());
}

// ---- Cloudreve ------------------------------------------------------------------------------

const CR: &str = "http://cr.test";
const CR_TOKEN: &str = "cr-user-token";

fn cloudreve(size: u64) -> Cloudreve {
    let params = UploadParams { uri: "cloudreve://my/dir/data.bin".into(), access_token: CR_TOKEN.into(), ..Default::default() };
    Cloudreve::new(CR, &file("data.bin", size), params).unwrap()
}

fn cr_ok(data: &str) -> Outcome {
    Outcome::Response(resp(200).with_body(&format!(r#"{{"code":0,"msg":"","data":{data}}}"#)))
}

fn cr_session(policy: &str, extra: &str) -> String {
    format!(
        r#"{{"session_id":"sess-1","chunk_size":1048576,"expires":1900000000,"uri":"cloudreve://my/dir/data.bin","storage_policy":{{"id":"p","name":"n","type":"{policy}"}}{extra}}}"#
    )
}

#[test]
fn cloudreve_local_sessions_resume_at_the_next_chunk() {
    let size = 3 * MIB + 5;
    let mut first = cloudreve(size);
    let create = send(&mut first);
    first.handle(&create, cr_ok(&cr_session("local", "")));
    assert_eq!(first.resume_state(), None, "no chunk stored yet");
    let c0 = send(&mut first);
    first.handle(&c0, cr_ok("null"));
    let state = first.resume_state().unwrap();
    assert_eq!(
        state.to_json_string(),
        r#"{"sessionId":"sess-1","uri":"cloudreve://my/dir/data.bin","policyType":"local","chunkSize":1048576,"nextChunk":1,"expires":1900000000}"#
    );
    let rec = ResumeRecord::new(&"0".repeat(32), "cloudreve", CR, &[file("data.bin", size)], MIB, state.clone(), None, 1_899_990_000_000.0);
    assert_eq!(rec.expires_at, 1_900_000_000_000.0, "the session's own expiry");

    let mut p = cloudreve(size);
    p.restore(&state).unwrap();
    assert_eq!(p.confirmed(), MIB);
    let c1 = send(&mut p);
    assert_eq!((c1.method, c1.url.as_str()), (Method::Post, "http://cr.test/api/v4/file/upload/sess-1/1"));
    assert!(matches!(&c1.body, Body::Slice(s) if (s.start, s.end) == (MIB, 2 * MIB)));
    p.handle(&c1, cr_ok("null"));
    let c2 = send(&mut p);
    p.handle(&c2, cr_ok("null"));
    let c3 = send(&mut p);
    assert!(matches!(&c3.body, Body::Slice(s) if (s.start, s.end) == (3 * MIB, size)));
    p.handle(&c3, cr_ok("null"));
    assert!(matches!(p.next(), Next::Done(j) if j.get("sessionId").and_then(Json::as_str) == Some("sess-1")));
}

#[test]
fn cloudreve_creates_a_new_session_when_the_stored_one_expired() {
    let state = Json::parse(r#"{"sessionId":"old-1","uri":"cloudreve://my/dir/data.bin","policyType":"local","chunkSize":1048576,"nextChunk":2}"#).unwrap();
    let mut p = cloudreve(4 * MIB);
    p.restore(&state).unwrap();
    let c = send(&mut p);
    assert!(c.url.ends_with("/old-1/2"));
    let gone = Outcome::Response(resp(200).with_body(r#"{"code":40011,"msg":"Upload session not exist or expired"}"#));
    assert_eq!(p.handle(&c, gone), Verdict::Continue);
    // The file check: the token works and the placeholder still records the old session (an
    // expired session keeps it), so that session is deleted before a new one is created.
    let check = send(&mut p);
    assert_eq!((check.method, check.url.as_str()), (Method::Get, "http://cr.test/api/v4/file/info?uri=cloudreve%3A%2F%2Fmy%2Fdir%2Fdata.bin"));
    p.handle(&check, cr_ok(r#"{"type":0,"size":0,"metadata":{"sys:upload_session_id":"old-1"}}"#));
    let del = send(&mut p);
    assert_eq!(del.method, Method::Delete);
    assert!(matches!(&del.body, Body::Text { text, .. } if text.contains(r#""id":"old-1""#)));
    p.handle(&del, cr_ok("null"));
    assert_eq!(p.confirmed(), 0);
    let create = send(&mut p);
    assert_eq!((create.method, create.url.as_str()), (Method::Put, "http://cr.test/api/v4/file/upload"));
    // Once a new session is running, "gone" with no placeholder left (cancelled) is an error.
    p.handle(&create, cr_ok(&cr_session("local", "")));
    let c0 = send(&mut p);
    let gone = Outcome::Response(resp(200).with_body(r#"{"code":40011,"msg":"Upload session not exist or expired"}"#));
    assert_eq!(p.handle(&c0, gone), Verdict::Continue);
    let check = send(&mut p);
    let gone = Outcome::Response(resp(200).with_body(r#"{"code":40016,"msg":"Path not exist"}"#));
    assert!(matches!(p.handle(&check, gone), Verdict::Fail(e) if e.code == ErrorCode::SessionExpired));
}

#[test]
fn cloudreve_sessions_with_their_own_credentials_are_not_resumable() {
    let remote = r#","upload_urls":["http://node.test/api/v4/slave/upload/sess-1"],"credential":"Bearer Cr c2ln:1900000000""#;
    let s3 = r#","upload_urls":["http://bucket.test/o?partNumber=1&X-Amz-Signature=aa","http://bucket.test/o?partNumber=2&X-Amz-Signature=bb"],"completeURL":"http://bucket.test/o?uploadId=1&X-Amz-Signature=cc","callback_secret":"cbsecret""#;
    let onedrive = r#","upload_urls":["http://graph.test/up/xyz"],"callback_secret":"cbsecret""#;
    for (policy, extra) in [("remote", remote), ("s3", s3), ("onedrive", onedrive)] {
        let mut p = cloudreve(2 * MIB);
        let create = send(&mut p);
        p.handle(&create, cr_ok(&cr_session(policy, extra)));
        let c = send(&mut p);
        let ok = if policy == "s3" {
            Outcome::Response(resp(200).with_header("ETag", "\"e1\""))
        } else if policy == "onedrive" {
            Outcome::Response(resp(202).with_body(r#"{"nextExpectedRanges":["1048576-"]}"#))
        } else {
            cr_ok("null")
        };
        p.handle(&c, ok);
        assert!(p.confirmed() > 0, "{policy}");
        assert_eq!(p.resume_state(), None, "{policy}");
    }
    // And a record cannot be restored into a protocol that has begun.
    let mut p = cloudreve(2 * MIB);
    let _ = send(&mut p);
    let state = Json::parse(r#"{"sessionId":"s","uri":"cloudreve://my/x","chunkSize":1048576,"nextChunk":1}"#).unwrap();
    assert!(p.restore(&state).is_err());
    for bad in [
        r#"{"sessionId":"s","uri":"cloudreve://my/x","chunkSize":1048576,"nextChunk":0}"#,
        r#"{"sessionId":"s","uri":"cloudreve://my/x","chunkSize":1048576,"nextChunk":2}"#,
        r#"{"sessionId":"s/../x","uri":"cloudreve://my/x","chunkSize":1048576,"nextChunk":1}"#,
        r#"{"sessionId":"s","uri":"http://x","chunkSize":1048576,"nextChunk":1}"#,
        r#"{"sessionId":"s","uri":"cloudreve://my/x","chunkSize":0,"nextChunk":1}"#,
    ] {
        assert!(cloudreve(2 * MIB).restore(&Json::parse(bad).unwrap()).is_err(), "{bad}");
    }
}

// ---- MangaDex -------------------------------------------------------------------------------

const MD: &str = "http://md.test";
const MD_TOKEN: &str = "md-token-123456";
const MANGA: &str = "11111111-2222-4333-8444-555555555555";
const GROUP: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const SID: &str = "5e55a000-0000-4000-8000-000000000001";

fn png() -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
    v.extend_from_slice(b"IHDR");
    v.extend_from_slice(&100u32.to_be_bytes());
    v.extend_from_slice(&100u32.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0]);
    v
}

fn mangadex(existing: &str) -> Box<dyn Protocol> {
    let o = Json::parse(&format!(
        r#"{{"accessToken":"{MD_TOKEN}","manga":"{MANGA}","groups":["{GROUP}"],"existingSession":"{existing}","chapter":{{"volume":"1","chapter":"7","title":"T","translatedLanguage":"en"}}}}"#
    ))
    .unwrap();
    let files: Vec<FileInfo> = (0..3).map(|i| FileInfo { name: format!("p{i}.png"), size: 100, mime: "image/png".into(), last_modified: LM }).collect();
    let mut p = mangadex::from_options(MD, &o, &files, None).unwrap();
    p.set_heads(vec![png(); 3]).unwrap();
    p
}

fn md_session(files: &str) -> Outcome {
    Outcome::Response(resp(200).with_body(&format!(
        r#"{{"result":"ok","response":"entity","data":{{"id":"{SID}","type":"upload_session","attributes":{{"isCommitted":false,"isDeleted":false}},"relationships":[{{"id":"{MANGA}","type":"manga"}},{{"id":"{GROUP}","type":"scanlation_group"}}{files}]}}}}"#
    )))
}

#[test]
fn mangadex_resumes_the_open_session_and_sends_only_missing_pages() {
    // First page: begin, then one page stored.
    let mut first = mangadex("resume");
    let check = send(first.as_mut());
    first.handle(&check, Outcome::Response(resp(404).with_body(r#"{"result":"error","errors":[{"status":404,"detail":"No upload session found"}]}"#)));
    assert_eq!(first.resume_state(), None);
    let begin = send(first.as_mut());
    first.handle(&begin, md_session(""));
    let state = first.resume_state().unwrap();
    assert_eq!(state.to_json_string(), format!(r#"{{"sessionId":"{SID}","pagesStored":0}}"#));

    // Second page: even with existingSession 'fail', a restored upload continues the session.
    let mut p = mangadex("fail");
    p.restore(&state).unwrap();
    let check = send(p.as_mut());
    assert_eq!(check.url, format!("{MD}/upload?includes[]=upload_session_file"));
    let stored = r#",{"id":"f1","type":"upload_session_file","attributes":{"originalFileName":"001_p0.png","fileSize":100}}"#;
    assert_eq!(p.handle(&check, md_session(stored)), Verdict::Continue);
    let batch = send(p.as_mut());
    assert_eq!(batch.url, format!("{MD}/upload/{SID}"));
    let Body::Multipart(parts) = &batch.body else { panic!() };
    let names: Vec<&str> = parts.iter().filter_map(|p| if let Part::File { filename, .. } = p { Some(filename.as_str()) } else { None }).collect();
    assert_eq!(names, ["002_p1.png", "003_p2.png"], "page 1 is not sent again");

    // Without restore, 'fail' refuses the open session.
    let mut q = mangadex("fail");
    let check = send(q.as_mut());
    assert!(matches!(q.handle(&check, md_session(stored)), Verdict::Fail(_)));
    assert!(mangadex("resume").restore(&Json::parse(r#"{"sessionId":"a/b"}"#).unwrap()).is_err());
}

// ---- through the engine -----------------------------------------------------------------------

#[test]
fn the_engine_restores_only_before_start_and_reports_the_restored_bytes() {
    let mut first = apivideo(12 * MIB, 5 * MIB);
    let p1 = send(&mut first);
    first.handle(&p1, Outcome::Response(resp(201).with_body(r#"{"videoId":"viE"}"#)));
    let state = first.resume_state().unwrap();

    let mut e = Engine::new(apivideo(12 * MIB, 5 * MIB), RetryPolicy::new(vec![]), false);
    e.restore(&state).unwrap();
    e.start(0.0);
    let Action::Send { id, request } = e.poll(0.0) else { panic!() };
    assert_eq!(request.get_header("content-range"), Some("part 2/3"));
    e.on_outcome(id, Outcome::Response(resp(201).with_body(r#"{"videoId":"viE"}"#)), 1.0);
    assert_eq!(e.progress().loaded, 10 * MIB);
    assert!(e.restore(&state).is_err(), "not after start");
    assert!(e.secrets().contains(&AV_TOKEN.to_string()));
    // A provider without resume refuses.
    let p = ApiVideo::progressive(AV, AV_TOKEN, None, None).unwrap();
    assert_eq!(p.resume_state(), None);
}

/// Feeds `WritePolicy` what `Persist::update` feeds it (the session's name and the confirmed
/// offset) after each step, one millisecond apart; returns how many writes it asks for.
fn writes_for(steps: &[(Option<String>, u64)]) -> usize {
    let mut w = resume::WritePolicy::default();
    steps.iter().enumerate().filter(|(t, (key, offset))| w.check(*t as f64, key.as_deref(), *offset, false) == resume::Write::Now).count()
}

fn step(p: &dyn Protocol) -> (Option<String>, u64) {
    let key = p.resume_state().map(|s| p.resume_key().map_or_else(|| s.to_json_string(), str::to_string));
    (key, p.confirmed())
}

#[test]
fn progress_within_one_session_is_not_a_new_session_for_the_record() {
    // The resume state carries progress (PeerTube's offset, api.video's parts, Cloudreve's next
    // chunk), but the session's name does not change with it: chunks confirmed within a second of
    // each other write the record once (the new session), not once per chunk.
    let size = 6 * MIB;
    let pages: Vec<PeerTube> = (1..=5).map(|k| peertube_first_page(size, k)).collect();
    assert_ne!(pages[0].resume_state(), pages[4].resume_state(), "the state carries the offset");
    assert!(pages.iter().all(|p| p.resume_key() == Some(UPLOAD_URL)));
    assert_eq!(writes_for(&pages.iter().map(|p| step(p)).collect::<Vec<_>>()), 1);

    let mut av = apivideo(20 * MIB, 5 * MIB);
    let mut steps = Vec::new();
    for _ in 0..3 {
        let r = send(&mut av);
        av.handle(&r, Outcome::Response(resp(201).with_body(r#"{"videoId":"viK"}"#)));
        assert_eq!(av.resume_key(), Some("viK"));
        steps.push(step(&av));
    }
    assert_eq!(writes_for(&steps), 1);

    let mut cr = cloudreve(4 * MIB);
    let create = send(&mut cr);
    cr.handle(&create, cr_ok(&cr_session("local", "")));
    let mut steps = Vec::new();
    for _ in 0..3 {
        let c = send(&mut cr);
        cr.handle(&c, cr_ok("null"));
        assert_eq!(cr.resume_key(), Some("sess-1"));
        steps.push(step(&cr));
    }
    assert_eq!(writes_for(&steps), 1);
    // A new session's name is written at once however recent the last write.
    let mut w = resume::WritePolicy::default();
    assert_eq!(w.check(0.0, Some("sess-1"), MIB, false), resume::Write::Now);
    assert_eq!(w.check(1.0, Some("sess-2"), 0, false), resume::Write::Now);
}
