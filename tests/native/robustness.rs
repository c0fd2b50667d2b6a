//! Never panic, always end. Property tests over every response parser (JSON, server messages,
//! `Retry-After`, `Range`, URLs, redaction, the credential guard, Cloudreve envelopes/sessions/XML,
//! MangaDex sessions/batches/rate limits/image heads, chunk plans, progress) and over every
//! protocol state machine driven through the real engine by a server that answers at random:
//! plausible answers mixed with arbitrary statuses, headers and bodies (truncated JSON, huge and
//! negative numbers, random `Range`/`Location`/`Retry-After`), network errors, out-of-order
//! answers, token refreshes, pauses and aborts. Each driven upload must reach Done or Fail within
//! a bounded number of steps, never wait for nothing, keep progress monotonic and within its total,
//! and fail only with a typed `UploadError`.
#![cfg(not(target_arch = "wasm32"))]

use chunkup::core::plan::ChunkPlan;
#[path = "common/json_ext.rs"]
mod json_ext;
use json_ext::JsonExt as _;
use chunkup::core::progress::Progress;
use chunkup::core::retry::{parse_retry_after, RetryPolicy};
use chunkup::core::{Body, ErrorCode, FileInfo, Json, Method, Outcome, Part, Request, Response, UploadError};
use chunkup::engine::{Action, Engine, State};
use chunkup::protocols::apivideo::{self as av, ApiVideo};
use chunkup::protocols::cloudreve::{self as cr, Cloudreve, UploadParams};
use chunkup::protocols::mangadex::{self as md, MangaDex, Params};
use chunkup::protocols::peertube::{parse_range, PeerTube};
use chunkup::protocols::{default_verdict, peertube_api as pta, Protocol};
use proptest::prelude::*;

// ---- a small deterministic RNG (the property tests vary its seed) -----------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03 | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    /// True with probability `pct` %.
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn pick_s<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// `cases` property cases, or `ROBUSTNESS_CASES` (to hunt longer: `ROBUSTNESS_CASES=20000`).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("ROBUSTNESS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---- random answers ---------------------------------------------------------------------------

const NUMBERS: &[&str] = &[
    "0", "1", "2", "-1", "-0", "1.5", "0.0001", "1e308", "-1e308", "1e-7", "9007199254740993", "18446744073709551615",
    "18446744073709551616", "99999999999999999999999999999", "4294967296", "65536", "3", "10",
];
const STRINGS: &[&str] = &["s1", "", "a b", "../x", "vi1", "x\u{0}y", "é", "5e55a000-0000-4000-8000-000000000001", "%2F", "\\\"", "k"];
const URLS: &[&str] = &[
    "http://pt.test/api/v1/videos/upload-resumable?upload_id=1",
    "/api/v1/videos/upload-resumable?upload_id=2",
    "//pt.test/api/v1/videos/upload-resumable?upload_id=3",
    "//evil.test/api/v1/videos/upload-resumable?upload_id=4",
    "http://evil.test/x?upload_id=5",
    "https://pt.test:0/x",
    "http://[::1]:99999/",
    "ftp://x/y",
    "javascript:alert(1)",
    "",
    "?upload_id=6",
    "http://node.test/api/v4/slave/upload/s1",
    "http://bucket.test/part/1?X-Amz-Signature=s",
    "http://od.test/session?tempauth=t",
    "http://a b/",
    "http://pt.test/%zz",
];

/// A number, maybe related to the upload's total.
fn number(rng: &mut Rng, total: u64) -> String {
    match rng.below(4) {
        0 => total.to_string(),
        1 => total.saturating_sub(1).to_string(),
        2 => rng.below(total.saturating_add(2)).to_string(),
        _ => rng.pick(NUMBERS).to_string(),
    }
}

/// Fills `{N}` (number), `{S}` (string) and `{U}` (URL) placeholders, each independently.
fn fill(template: &str, rng: &mut Rng, total: u64) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (rep, skip) = if tail.starts_with("{N}") {
            (number(rng, total), 3)
        } else if tail.starts_with("{S}") {
            (rng.pick(STRINGS).replace('\\', "\\\\").replace('"', "\\\""), 3)
        } else if tail.starts_with("{U}") {
            (rng.pick(URLS).to_string(), 3)
        } else {
            ("{".to_string(), 1)
        };
        out.push_str(&rep);
        rest = &tail[skip..];
    }
    out.push_str(rest);
    out
}

fn random_text(rng: &mut Rng, max: u64) -> String {
    let n = rng.below(max + 1) as usize;
    let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A body: a (filled) template, a truncated one, nested brackets, or noise.
fn body(rng: &mut Rng, total: u64, templates: &[&str]) -> String {
    const GENERIC: &[&str] = &[
        "",
        "{}",
        "[]",
        "null",
        "{\"detail\":\"{S}\",\"code\":\"quota_reached\",\"status\":{N}}",
        "{\"error\":{\"code\":\"FileNotFound\",\"message\":\"{S}\"}}",
        "{\"result\":\"error\",\"errors\":[{\"status\":{N},\"detail\":\"{S}\"}]}",
        "{\"code\":{N},\"msg\":\"{S}\",\"data\":{N}}",
        "<html><body>502 Bad Gateway</body></html>",
        "<Error><Code>NoSuchUpload</Code><ETag>\"e\"</ETag></Error>",
        "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":null}]}}}",
    ];
    match rng.below(10) {
        0 => random_text(rng, 60),
        1 => "[".repeat(rng.below(200) as usize),
        2 => {
            let t = fill(rng.pick_s(GENERIC), rng, total);
            let cut = rng.below(t.len() as u64 + 1) as usize;
            t.get(..cut).unwrap_or("").to_string()
        }
        3 | 4 => fill(rng.pick_s(GENERIC), rng, total),
        _ if templates.is_empty() => fill(rng.pick_s(GENERIC), rng, total),
        5 => {
            let t = fill(rng.pick_s(templates), rng, total);
            let cut = rng.below(t.len() as u64 + 1) as usize;
            t.get(..cut).unwrap_or("").to_string()
        }
        _ => fill(rng.pick_s(templates), rng, total),
    }
}

fn header_value(rng: &mut Rng, name: &str, total: u64) -> String {
    match name {
        "Location" => rng.pick(URLS).to_string(),
        "Range" => match rng.below(6) {
            0 => format!("bytes=0-{}", number(rng, total)),
            1 => "bytes=0--1".into(),
            2 => format!("bytes={}-{}", number(rng, total), number(rng, total)),
            3 => format!("0-{}", number(rng, total)),
            4 => random_text(rng, 12),
            _ => format!("bytes=0-{}", total.saturating_sub(1)),
        },
        "Retry-After" | "X-RateLimit-Retry-After" => match rng.below(5) {
            0 => number(rng, total),
            1 => "Sun, 06 Nov 1994 08:49:37 GMT".into(),
            2 => "Fri, 31 Dec 9999 23:59:60 GMT".into(),
            3 => "1700000001".into(),
            _ => random_text(rng, 10),
        },
        "Content-Range" => format!("bytes {}-{}/{}", number(rng, total), number(rng, total), number(rng, total)),
        "ETag" => rng.pick(&["\"e1\"", "", "W/\"x\"", "\"", "e\u{1}"]).to_string(),
        _ => random_text(rng, 10),
    }
}

const STATUSES: &[u16] = &[
    0, 100, 200, 200, 201, 202, 204, 206, 299, 301, 302, 304, 308, 308, 400, 401, 403, 404, 405, 409, 410, 413, 415, 416, 422, 423, 425,
    429, 451, 460, 500, 501, 502, 503, 504, 505, 507, 599, 600, 999, 65535,
];

/// An arbitrary answer: a network failure or a random status with random headers and body.
fn chaos(rng: &mut Rng, total: u64, templates: &[&str]) -> Outcome {
    if rng.chance(12) {
        return Outcome::Network(random_text(rng, 10));
    }
    let status = if rng.chance(10) { rng.below(1000) as u16 } else { *rng.pick(STATUSES) };
    let mut r = Response::new(status).with_body(&body(rng, total, templates));
    for name in ["Location", "Range", "Retry-After", "X-RateLimit-Retry-After", "ETag", "Content-Range", "Content-Type"] {
        if rng.chance(25) {
            let v = header_value(rng, name, total);
            r = r.with_header(if rng.chance(50) { name } else { "x-other" }, &v);
            if rng.chance(50) {
                r.headers.last_mut().unwrap().0 = name.to_ascii_lowercase();
            }
        }
    }
    Outcome::Response(r)
}

fn ok(status: u16, body: &str) -> Outcome {
    Outcome::Response(Response::new(status).with_body(body))
}

// ---- the driver -------------------------------------------------------------------------------

/// How a driven upload ended.
#[derive(Debug)]
struct Ended {
    result: Result<Json, UploadError>,
    steps: u32,
}

const MAX_STEPS: u32 = 20_000;

/// Drives `engine` to its end. `answer` plays the server; the RNG picks which in-flight request
/// is answered next, sends upload progress, pauses/resumes, refreshes tokens (or not) and rarely
/// aborts. Err: the engine broke a promise (never ended, waited for nothing, progress went back).
fn drive<P: Protocol>(mut engine: Engine<P>, rng: &mut Rng, mut answer: impl FnMut(&Request, &mut Rng) -> Outcome) -> Result<Ended, String> {
    let mut now = 1_700_000_000_000.0;
    engine.start(now);
    let mut pending: Vec<(u64, Request)> = Vec::new();
    let mut last_loaded = 0u64;
    let mut awaiting_token = false;
    let abort_pct = if rng.chance(20) { 1 } else { 0 };
    for step in 0..MAX_STEPS {
        let snap = engine.progress();
        if snap.loaded < last_loaded {
            return Err(format!("progress went back from {last_loaded} to {}", snap.loaded));
        }
        if snap.loaded > snap.total {
            return Err(format!("progress {} over total {}", snap.loaded, snap.total));
        }
        last_loaded = snap.loaded;
        if rng.chance(abort_pct) {
            let cancel = engine.abort();
            for r in &cancel {
                let _ = answer(r, rng);
            }
            return match engine.poll(now) {
                Action::Finished(result) => {
                    if let Err(e) = &result {
                        if e.code != ErrorCode::Aborted && engine.state() == State::Finished && step == 0 {
                            return Err(format!("abort gave {e:?}"));
                        }
                    }
                    Ok(Ended { result, steps: step })
                }
                other => Err(format!("after abort the engine says {other:?}")),
            };
        }
        if engine.state() == State::Running && rng.chance(2) {
            engine.pause();
        }
        match engine.poll(now) {
            Action::Send { id, request } => {
                if rng.chance(30) {
                    let n = request.body.file_bytes();
                    engine.on_upload_progress(id, rng.below(n.saturating_add(1)), now);
                }
                pending.push((id, request));
            }
            Action::Wait { until_ms } => {
                if awaiting_token && (pending.is_empty() || rng.chance(50)) {
                    awaiting_token = false;
                    let t = if rng.chance(85) { Some(format!("fresh-token-{}", rng.below(1000))) } else { None };
                    engine.on_token(t);
                    continue;
                }
                if engine.state() == State::Paused && (pending.is_empty() || rng.chance(30)) {
                    engine.resume();
                    continue;
                }
                if pending.is_empty() {
                    match until_ms {
                        Some(t) if t.is_finite() && t >= now => {
                            now = t.max(now + 1.0);
                            continue;
                        }
                        other => return Err(format!("the engine waits ({other:?}) with nothing in flight")),
                    }
                }
                let i = rng.below(pending.len() as u64) as usize;
                let (id, req) = pending.remove(i);
                let out = answer(&req, rng);
                now += 1.0 + rng.below(50) as f64;
                engine.on_outcome(id, out, now);
            }
            Action::RefreshToken => {
                // The page answers now, or later (while the engine waits); 15 % of the time with
                // no token at all.
                if rng.chance(50) {
                    awaiting_token = true;
                } else {
                    let t = if rng.chance(85) { Some(format!("fresh-token-{}", rng.below(1000))) } else { None };
                    engine.on_token(t);
                }
            }
            Action::Finished(result) => {
                let _ = engine.cleanup_after_failure();
                let snap = engine.progress();
                if result.is_ok() && snap.loaded != snap.total {
                    return Err(format!("done with progress {} of {}", snap.loaded, snap.total));
                }
                // A stale answer after the end changes nothing.
                for (id, req) in pending.drain(..) {
                    let out = answer(&req, rng);
                    engine.on_outcome(id, out, now);
                }
                match engine.poll(now) {
                    Action::Finished(again) if again == result => {}
                    other => return Err(format!("after the end the engine says {other:?}")),
                }
                return Ok(Ended { result, steps: step });
            }
        }
    }
    Err(format!("the upload did not end within {MAX_STEPS} steps (sent {})", engine.requests_sent()))
}

fn policy(rng: &mut Rng) -> RetryPolicy {
    let n = rng.below(6) as usize;
    let mut p = RetryPolicy::new((0..n).map(|_| rng.below(3000)).collect());
    p.max_retry_after_ms = rng.below(400_000);
    p
}

fn engine<P: Protocol>(p: P, rng: &mut Rng) -> Engine<P> {
    let refresh = rng.chance(70);
    Engine::new(p, policy(rng), refresh)
}

/// Checks the end of a driven upload; panics with the seed on a broken promise.
fn check(seed: u64, what: &str, ended: Result<Ended, String>) -> Result<(), TestCaseError> {
    match ended {
        Ok(e) => {
            if let Err(err) = &e.result {
                prop_assert!(!err.provider.is_empty());
                prop_assert!(!err.code.as_str().is_empty());
            }
            prop_assert!(e.steps < MAX_STEPS);
            if e.steps > 3000 {
                eprintln!("{what} (seed {seed}): {} steps", e.steps);
            }
            Ok(())
        }
        Err(msg) => Err(TestCaseError::fail(format!("{what} (seed {seed}): {msg}"))),
    }
}

fn file(size: u64, name: &str, mime: &str) -> FileInfo {
    FileInfo { name: name.into(), size, mime: mime.into(), last_modified: 1_700_000_000_000.0 }
}

fn mixed<'a>(fault_pct: u64, plausible: impl Fn(&Request, &mut Rng) -> Outcome + 'a, templates: &'a [&'a str], total: u64) -> impl FnMut(&Request, &mut Rng) -> Outcome + 'a {
    move |req, rng| if rng.chance(fault_pct) { chaos(rng, total, templates) } else { plausible(req, rng) }
}

fn content_range_end(req: &Request) -> Option<(u64, u64)> {
    let v = req.get_header("content-range")?;
    let v = v.strip_prefix("bytes ")?;
    let (range, total) = v.split_once('/')?;
    let (_, end) = range.split_once('-')?;
    Some((end.parse().ok()?, total.parse().ok()?))
}

// ---- PeerTube -----------------------------------------------------------------------------------

const PT_TEMPLATES: &[&str] = &[
    "{\"video\":{\"id\":{N},\"uuid\":\"{S}\",\"shortUUID\":\"{S}\"}}",
    "{\"userImport\":{\"id\":{N}}}",
    "{\"error\":{\"code\":\"ChecksumMismatch\",\"message\":\"{S}\"}}",
    "{\"status\":413,\"code\":\"quota_reached\",\"detail\":\"{S}\"}",
    "{\"status\":413,\"code\":\"max_file_size_reached\"}",
    "{\"code\":\"invalid_token\",\"detail\":\"Token is invalid\"}",
];

/// uploadx, statelessly: init → 201 + Location; a chunk → 308 with its end as Range, or 200 +
/// JSON on the last; an offset query → 308 with a random stored count.
fn peertube_plausible(total: u64) -> impl Fn(&Request, &mut Rng) -> Outcome {
    move |req, rng| match req.method {
        Method::Post => Outcome::Response(Response::new(201).with_header("Location", "/api/v1/videos/upload-resumable?upload_id=abc")),
        Method::Put => match (&req.body, content_range_end(req)) {
            // Well-formed but wrong: any stored count, 0 to total.
            (Body::Slice(_), _) if rng.chance(15) => {
                let stored = rng.below(total + 1);
                Outcome::Response(Response::new(308).with_header("Range", &format!("bytes=0-{}", stored as i128 - 1)))
            }
            (Body::Slice(_), Some((end, t))) if end + 1 >= t => ok(200, "{\"video\":{\"id\":1,\"uuid\":\"u\",\"shortUUID\":\"s\"}}"),
            (Body::Slice(_), Some((end, _))) => Outcome::Response(Response::new(308).with_header("Range", &format!("bytes=0-{end}"))),
            _ => {
                let stored = rng.below(total + 1);
                if stored == 0 {
                    Outcome::Response(Response::new(308).with_header("Range", "bytes=0--1"))
                } else {
                    Outcome::Response(Response::new(308).with_header("Range", &format!("bytes=0-{}", stored - 1)))
                }
            }
        },
        _ => ok(204, ""),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn peertube_video_and_import_always_end(seed in any::<u64>(), size in 1u64..400_000, fault_pct in 0u64..100, import in any::<bool>()) {
        let mut rng = Rng::new(seed);
        let chunk = 65_536 * (1 + rng.below(3));
        let opts = Json::parse(r#"{"channelId":3,"name":"robust video","privacy":1}"#).unwrap();
        let p = if import {
            PeerTube::import("http://pt.test", "tok-123456", &file(size, "a.zip", "application/zip"), 7, Some(chunk)).unwrap()
        } else {
            PeerTube::video("http://pt.test", "tok-123456", &file(size, "a.mp4", "video/mp4"), &opts, Some(chunk)).unwrap()
        };
        let e = engine(p, &mut rng);
        let ended = drive(e, &mut rng, mixed(fault_pct, peertube_plausible(size), PT_TEMPLATES, size));
        check(seed, "peertube", ended)?;
    }
}

// ---- one-request helpers (PeerTube API, api.video token API, logins, approval check) -----------

const ONESHOT_TEMPLATES: &[&str] = &[
    "{\"client_id\":\"{S}\",\"client_secret\":\"{S}\"}",
    "{\"access_token\":\"{S}\",\"refresh_token\":\"{S}\",\"expires_in\":{N}}",
    "{\"token\":\"{S}\",\"ttl\":{N}}",
    "{\"data\":[{\"token\":\"{S}\"}],\"pagination\":{\"itemsTotal\":{N}}}",
    "{\"total\":{N},\"data\":[{\"id\":{N},\"state\":{\"id\":{N}}}]}",
    "{\"code\":0,\"data\":{\"token\":{\"access_token\":\"{S}\",\"refresh_token\":\"{S}\"},\"user\":{\"id\":\"{S}\"}}}",
    "{\"code\":203,\"msg\":\"{S}\",\"data\":\"{S}\"}",
    "{\"result\":\"ok\",\"requiresApproval\":true}",
    "{\"result\":\"ok\",\"requiresApproval\":{N}}",
    "{\"videoCaption\":{\"captionPath\":\"{U}\"}}",
];

fn oneshots(rng: &mut Rng) -> Vec<Box<dyn Protocol>> {
    let ep = "http://svc.test";
    let f = file(1 + rng.below(5000), "a.vtt", "text/vtt");
    let img = file(1 + rng.below(5000), "a.png", "image/png");
    let vid = file(1 + rng.below(5000), "a.mp4", "video/mp4");
    let opts = Json::parse(r#"{"channelId":3,"name":"legacy video","targetUrl":"https://x.test/v.mp4","start":0,"count":5}"#).unwrap();
    let mut v: Vec<Box<dyn Protocol>> = vec![Box::new(pta::oauth_client(ep))];
    let results: Vec<Result<Box<dyn Protocol>, UploadError>> = vec![
        pta::token_password(ep, "cid", "csecret", "alice", "pw", Some("123456")).map(|p| Box::new(p) as Box<dyn Protocol>),
        pta::token_refresh(ep, "cid", "csecret", "refresh-1").map(|p| Box::new(p) as _),
        pta::import_latest(ep, "tok-1", 7).map(|p| Box::new(p) as _),
        pta::list_imports(ep, "tok-1", &opts).map(|p| Box::new(p) as _),
        pta::legacy_upload(ep, "tok-1", &vid, &opts).map(|p| Box::new(p) as _),
        pta::caption(ep, "tok-1", "vid-uuid", "en", &f).map(|p| Box::new(p) as _),
        pta::avatar(ep, "tok-1", None, &img).map(|p| Box::new(p) as _),
        pta::avatar(ep, "tok-1", Some("chan"), &img).map(|p| Box::new(p) as _),
        pta::banner(ep, "tok-1", "chan", &img).map(|p| Box::new(p) as _),
        pta::import_video(ep, "tok-1", Some(&file(1 + rng.below(500), "a.torrent", "application/x-bittorrent")), &Json::parse(r#"{"channelId":3,"name":"torrent video"}"#).unwrap()).map(|p| Box::new(p) as _),
        pta::import_video(ep, "tok-1", None, &opts).map(|p| Box::new(p) as _),
        av::create_token(ep, "tok-1", Some(60)).map(|p| Box::new(p) as _),
        av::list_tokens(ep, "tok-1", &Json::object()).map(|p| Box::new(p) as _),
        av::get_token(ep, "tok-1", "to1234567890").map(|p| Box::new(p) as _),
        av::delete_token(ep, "tok-1", "to1234567890").map(|p| Box::new(p) as _),
        av::auth_api_key(ep, "key-1").map(|p| Box::new(p) as _),
        av::auth_refresh(ep, "refresh-1").map(|p| Box::new(p) as _),
        cr::login(ep, "a@b.test", "pw", None, None).map(|p| Box::new(p) as _),
        cr::login_2fa(ep, "123456", "sess").map(|p| Box::new(p) as _),
        cr::refresh_token(ep, "refresh-1").map(|p| Box::new(p) as _),
        cr::delete_session(ep, "tok-1", "sess1", "cloudreve://my/a.bin").map(|p| Box::new(p) as _),
        md::login("http://auth.test/realms/mangadex", "alice", "pw", "cid", "csecret").map(|p| Box::new(p) as _),
        md::refresh("http://auth.test/realms/mangadex", "refresh-1", "cid", "csecret").map(|p| Box::new(p) as _),
        md::ApprovalCheck::new(ep, "tok-1", "11111111-2222-4333-8444-555555555555", "en").map(|p| Box::new(p) as _),
    ];
    for r in results {
        match r {
            Ok(p) => v.push(p),
            Err(e) => panic!("helper refused valid input: {e:?}"),
        }
    }
    v
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn every_one_request_helper_always_ends(seed in any::<u64>(), fault_pct in 0u64..100) {
        let mut rng = Rng::new(seed);
        for (i, p) in oneshots(&mut rng).into_iter().enumerate() {
            let e = engine(p, &mut rng);
            let plausible = |_: &Request, rng: &mut Rng| ok(*rng.pick(&[200u16, 201, 204]), &fill(rng.pick_s(ONESHOT_TEMPLATES), rng, 10));
            let ended = drive(e, &mut rng, mixed(fault_pct, plausible, ONESHOT_TEMPLATES, 10));
            check(seed, &format!("helper {i}"), ended)?;
        }
    }
}

// ---- api.video ----------------------------------------------------------------------------------

const AV_TEMPLATES: &[&str] = &[
    "{\"videoId\":\"{S}\"}",
    "{\"videoId\":{N}}",
    "{\"videoId\":\"vi1\",\"title\":\"{S}\",\"assets\":{\"hls\":\"{U}\"}}",
    "{\"type\":\"https://docs.api.video/reference/invalid-attribute\",\"title\":\"The part collides with a previous one.\",\"status\":400}",
    "{\"title\":\"This video source has already been uploaded.\",\"status\":400}",
    "{\"title\":\"The upload token is invalid or expired.\",\"status\":401}",
];

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn apivideo_file_and_progressive_always_end(seed in any::<u64>(), parts in 1u64..5, fault_pct in 0u64..100, progressive in any::<bool>(), with_id in any::<bool>()) {
        let mut rng = Rng::new(seed);
        let video_id = if with_id { Some("vi-existing".to_string()) } else { None };
        let plausible = |_: &Request, rng: &mut Rng| {
            if rng.chance(10) { ok(201, "{\"videoId\":\"vi1\",\"title\":\"x\"}") } else { ok(201, "{\"videoId\":\"vi1\"}") }
        };
        if progressive {
            let p = ApiVideo::progressive("http://av.test", "to-upload-1", Some("name"), video_id).unwrap();
            let mut e = engine(p, &mut rng);
            for k in 0..parts {
                let last = k + 1 == parts;
                let size = if last { 1 + rng.below(av::MIN_CHUNK) } else { av::MIN_CHUNK + rng.below(1000) };
                e.push_input(k as usize, size, last, 0.0).unwrap();
            }
            let ended = drive(e, &mut rng, mixed(fault_pct, plausible, AV_TEMPLATES, 1 << 20));
            check(seed, "apivideo progressive", ended)?;
        } else {
            let size = parts * av::MIN_CHUNK - rng.below(av::MIN_CHUNK);
            let p = ApiVideo::file("http://av.test", "to-upload-1", &file(size, "v.mp4", "video/mp4"), None, video_id, Some(av::MIN_CHUNK)).unwrap();
            let e = engine(p, &mut rng);
            let ended = drive(e, &mut rng, mixed(fault_pct, plausible, AV_TEMPLATES, size));
            check(seed, "apivideo file", ended)?;
        }
    }
}

// ---- Cloudreve ----------------------------------------------------------------------------------

const CR_EP: &str = "http://cr.test";

const CR_TEMPLATES: &[&str] = &[
    "{\"code\":0,\"data\":{\"session_id\":\"{S}\",\"chunk_size\":{N},\"expires\":{N},\"storage_policy\":{\"type\":\"local\"}}}",
    "{\"code\":0,\"data\":{\"session_id\":\"s1\",\"chunk_size\":{N},\"storage_policy\":{\"type\":\"s3\",\"chunk_concurrency\":{N}},\"upload_urls\":[\"{U}\",\"{U}\"],\"completeURL\":\"{U}\",\"callback_secret\":\"{S}\"}}",
    "{\"code\":0,\"data\":{\"session_id\":\"s1\",\"chunk_size\":{N},\"storage_policy\":{\"type\":\"onedrive\"},\"upload_urls\":[\"{U}\"],\"callback_secret\":\"k\"}}",
    "{\"code\":0,\"data\":{\"session_id\":\"s1\",\"chunk_size\":{N},\"storage_policy\":{\"type\":\"remote\"},\"upload_urls\":[\"{U}\"],\"credential\":\"{S}\"}}",
    "{\"code\":0,\"data\":{\"session_id\":\"s1\",\"storage_policy\":{\"type\":\"{S}\",\"relay\":true}}}",
    "{\"code\":{N},\"msg\":\"{S}\"}",
    "{\"code\":40011,\"msg\":\"Upload session not exist or expired\"}",
    "{\"code\":40004,\"msg\":\"Object existed\"}",
    "{\"code\":401,\"msg\":\"Login required\"}",
    "{\"nextExpectedRanges\":[\"{N}-\"]}",
    "{\"nextExpectedRanges\":[\"{N}-{N}\",\"{S}\"]}",
    "{\"code\":0,\"data\":{\"size\":{N},\"type\":0,\"metadata\":{\"sys:upload_session_id\":\"{S}\"}}}",
    "<CompleteMultipartUploadResult><ETag>\"{S}\"</ETag></CompleteMultipartUploadResult>",
];

/// A Cloudreve session for `policy` over `total` bytes, chunked by `chunk`.
fn cr_session(policy: &str, total: u64, chunk: u64) -> String {
    let count = if total == 0 || chunk == 0 { 1 } else { total.div_ceil(chunk) };
    let (urls, extra) = match policy {
        "remote" => (r#","upload_urls":["http://node.test/api/v4/slave/upload/s1"]"#.to_string(), r#","credential":"Bearer Cr c2ln:1""#.to_string()),
        "onedrive" => (r#","upload_urls":["http://od.test/session?tempauth=t"]"#.to_string(), String::new()),
        "s3" | "oss" | "cos" | "obs" | "ks3" => {
            let list: Vec<String> = (1..=count).map(|i| format!("\"http://bucket.test/part/{i}?X-Amz-Signature=s\"")).collect();
            (format!(r#","upload_urls":[{}]"#, list.join(",")), r#","completeURL":"http://bucket.test/complete?X-Amz-Signature=c""#.to_string())
        }
        _ => (String::new(), String::new()),
    };
    let (typ, relay) = if policy == "relay" { ("s3", r#","relay":true"#) } else { (policy, "") };
    let cs = if policy == "relay" { 0 } else { chunk };
    format!(
        r#"{{"code":0,"msg":"","data":{{"session_id":"s1","chunk_size":{cs},"expires":1800000000,"storage_policy":{{"id":"p","type":"{typ}","chunk_concurrency":3{relay}}},"callback_secret":"SeCrEt1"{urls}{extra}}}}}"#
    )
}

fn cloudreve_plausible(policy: &'static str, total: u64, chunk: u64) -> impl Fn(&Request, &mut Rng) -> Outcome {
    move |req, rng| {
        let u = req.url.as_str();
        if u == format!("{CR_EP}/api/v4/file/upload") && req.method == Method::Put {
            return ok(200, &cr_session(policy, total, chunk));
        }
        if u.starts_with("http://bucket.test/part/") {
            return Outcome::Response(Response::new(200).with_header("ETag", &format!("\"e{}\"", rng.below(9))));
        }
        if u.starts_with("http://bucket.test/complete") {
            return if rng.chance(50) { ok(200, "<CompleteMultipartUploadResult><ETag>\"x\"</ETag></CompleteMultipartUploadResult>") } else { ok(200, r#"{"code":0}"#) };
        }
        if u.starts_with("http://od.test/") {
            let next = match (req.method, content_range_end(req)) {
                (Method::Put, Some((end, t))) if end + 1 >= t => return ok(201, r#"{"id":"x"}"#),
                (Method::Put, Some((end, _))) if !rng.chance(15) => end + 1,
                _ => rng.below(total + 1),
            };
            return ok(if req.method == Method::Put { 202 } else { 200 }, &format!(r#"{{"nextExpectedRanges":["{next}-"]}}"#));
        }
        if u.starts_with(&format!("{CR_EP}/api/v4/file/info")) {
            let meta = if rng.chance(30) { r#"{"sys:upload_session_id":"s1"}"# } else { "{}" };
            return ok(200, &format!(r#"{{"code":0,"data":{{"type":0,"size":{},"metadata":{meta}}}}}"#, if rng.chance(20) { rng.below(total + 2) } else { total }));
        }
        ok(200, r#"{"code":0,"msg":""}"#)
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn cloudreve_every_policy_always_ends(seed in any::<u64>(), size in 0u64..5000, fault_pct in 0u64..100, policy in 0usize..9) {
        let mut rng = Rng::new(seed);
        let policy = ["local", "relay", "remote", "s3", "oss", "cos", "obs", "ks3", "onedrive"][policy];
        let chunk = 1 + rng.below(2000);
        let params = UploadParams { uri: "cloudreve://my/dir/a.bin".into(), access_token: "user-token-1".into(), overwrite: rng.chance(50), ..Default::default() };
        let p = Cloudreve::new(CR_EP, &file(size, "a.bin", "application/octet-stream"), params).unwrap();
        let e = engine(p, &mut rng);
        let ended = drive(e, &mut rng, mixed(fault_pct, cloudreve_plausible(policy, size, chunk), CR_TEMPLATES, size));
        check(seed, policy, ended)?;
    }
}

// ---- MangaDex -----------------------------------------------------------------------------------

const MD_EP: &str = "http://md.test";
const MANGA: &str = "11111111-2222-4333-8444-555555555555";
const GROUP: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const SID: &str = "5e55a000-0000-4000-8000-000000000001";

const MD_TEMPLATES: &[&str] = &[
    "{\"result\":\"ok\",\"data\":{\"id\":\"{S}\",\"type\":\"upload_session\",\"attributes\":{\"isCommitted\":{N}},\"relationships\":[{\"id\":\"{S}\",\"type\":\"manga\"},{\"id\":\"{S}\",\"type\":\"upload_session_file\",\"attributes\":{\"originalFileName\":\"{S}\",\"fileSize\":{N}}}]}}",
    "{\"result\":\"ok\",\"errors\":[{\"status\":{N},\"detail\":\"{S}\"}],\"data\":[{\"id\":\"{S}\",\"attributes\":{\"originalFileName\":\"{S}\",\"fileSize\":{N}}}]}",
    "{\"result\":\"ok\",\"data\":{\"id\":\"{S}\",\"type\":\"chapter\"}}",
    "{\"result\":\"error\",\"errors\":[{\"status\":404,\"detail\":\"No upload session found\"}]}",
    "{\"id\":\"{S}\",\"attributes\":{\"isDeleted\":true}}",
];

fn md_session(files: &str) -> String {
    format!(
        r#"{{"result":"ok","data":{{"id":"{SID}","type":"upload_session","attributes":{{"isCommitted":false,"isProcessed":false,"isDeleted":false}},"relationships":[{{"id":"{MANGA}","type":"manga"}},{{"id":"{GROUP}","type":"scanlation_group"}}{files}]}}}}"#
    )
}

fn mangadex_plausible() -> impl Fn(&Request, &mut Rng) -> Outcome {
    move |req, rng| {
        let path = req.url.strip_prefix(MD_EP).unwrap_or("");
        match req.method {
            Method::Get if path.starts_with("/upload?") => {
                if rng.chance(70) {
                    ok(404, r#"{"result":"error","errors":[{"status":404,"detail":"No upload session found"}]}"#)
                } else {
                    // An open session, maybe holding pages (of this chapter or not).
                    let files: String = (0..rng.below(4))
                        .map(|i| format!(r#",{{"id":"f{i}","type":"upload_session_file","attributes":{{"originalFileName":"{:03}_p{:02}.png","fileSize":{}}}}}"#, i + 1, i, 100 + i))
                        .collect();
                    ok(200, &md_session(&files))
                }
            }
            Method::Post if path.starts_with("/upload/begin") => ok(200, &md_session("")),
            Method::Post if path.ends_with("/commit") => ok(200, r#"{"result":"ok","data":{"id":"c0000000-0000-4000-8000-000000000009","type":"chapter"}}"#),
            Method::Post if path.starts_with("/upload/") => {
                let Body::Multipart(parts) = &req.body else { return ok(400, "{}") };
                let twist = rng.chance(20);
                let mut data: Vec<String> = Vec::new();
                for p in parts {
                    if twist && rng.chance(40) {
                        continue;
                    }
                    if let Part::File { filename, slice, .. } = p {
                        data.push(format!(
                            r#"{{"id":"f{}-0000-4000-8000-000000000000","type":"upload_session_file","attributes":{{"originalFileName":"{}","fileSize":{}}}}}"#,
                            if twist { rng.below(3) } else { rng.below(1 << 30) },
                            if twist && rng.chance(30) { "other.png" } else { filename.as_str() },
                            if twist && rng.chance(30) { slice.len() + 1 } else { slice.len() }
                        ));
                    }
                }
                ok(200, &format!(r#"{{"result":"ok","errors":[],"data":[{}]}}"#, data.join(",")))
            }
            _ => ok(200, r#"{"result":"ok"}"#),
        }
    }
}

fn png_head(w: u32, h: u32) -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
    v.extend_from_slice(b"IHDR");
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0]);
    v
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mangadex_always_ends(seed in any::<u64>(), n in 1usize..14, fault_pct in 0u64..100, mode in 0usize..5) {
        let mut rng = Rng::new(seed);
        let extra = ["", r#","batchSize":3"#, r#","existingSession":"abandon""#, r#","concurrency":3,"batchSize":2"#,
            r#","chapterId":"c0000000-0000-4000-8000-000000000009","version":3"#][mode];
        let opts = Json::parse(&format!(
            r#"{{"accessToken":"md-token-1","manga":"{MANGA}","groups":["{GROUP}"],"chapter":{{"volume":"1","chapter":"7","title":"T","translatedLanguage":"en"}}{extra}}}"#
        )).unwrap();
        let files: Vec<FileInfo> = (0..n).map(|i| file(100 + i as u64, &format!("p{i:02}.png"), "image/png")).collect();
        let p = MangaDex::new(MD_EP, Params::from_options(&opts).unwrap(), &files).unwrap();
        let mut e = engine(p, &mut rng);
        e.set_heads((0..n).map(|i| png_head(800 + i as u32, 1200)).collect());
        let ended = drive(e, &mut rng, mixed(fault_pct, mangadex_plausible(), MD_TEMPLATES, 1000));
        check(seed, "mangadex", ended)?;
    }
}

// ---- the engine with random verdict sequences is covered in engine.rs; here: coverage sanity ----

/// The random servers above are not so hostile that nothing ever completes: over fixed seeds,
/// each protocol both completes and fails (otherwise the properties would test little).
#[test]
fn the_random_servers_reach_both_ends() {
    let mut counts = std::collections::BTreeMap::<&str, (u32, u32)>::new();
    for seed in 0..120u64 {
        let mut rng = Rng::new(seed);
        let fault = seed % 40;
        let size = 1 + rng.below(300_000);
        let opts = Json::parse(r#"{"channelId":3,"name":"robust video"}"#).unwrap();
        let p = PeerTube::video("http://pt.test", "tok-123456", &file(size, "a.mp4", "video/mp4"), &opts, Some(65_536)).unwrap();
        let e = engine(p, &mut rng);
        let r = drive(e, &mut rng, mixed(fault, peertube_plausible(size), PT_TEMPLATES, size)).unwrap();
        let c = counts.entry("peertube").or_default();
        if r.result.is_ok() { c.0 += 1 } else { c.1 += 1 }

        let policy = ["local", "remote", "s3", "onedrive", "relay", "oss"][seed as usize % 6];
        let size = rng.below(3000);
        let params = UploadParams { uri: "cloudreve://my/dir/a.bin".into(), access_token: "user-token-1".into(), ..Default::default() };
        let p = Cloudreve::new(CR_EP, &file(size, "a.bin", ""), params).unwrap();
        let e = engine(p, &mut rng);
        let chunk = 1 + rng.below(1000);
        let r = drive(e, &mut rng, mixed(fault, cloudreve_plausible(policy, size, chunk), CR_TEMPLATES, size)).unwrap();
        let c = counts.entry("cloudreve").or_default();
        if r.result.is_ok() { c.0 += 1 } else { c.1 += 1 }

        let opts = Json::parse(&format!(
            r#"{{"accessToken":"md-token-1","manga":"{MANGA}","groups":["{GROUP}"],"chapter":{{"volume":"1","chapter":"7","title":"T","translatedLanguage":"en"}}}}"#
        )).unwrap();
        let files: Vec<FileInfo> = (0..5).map(|i| file(100 + i as u64, &format!("p{i:02}.png"), "image/png")).collect();
        let p = MangaDex::new(MD_EP, Params::from_options(&opts).unwrap(), &files).unwrap();
        let mut e = engine(p, &mut rng);
        e.set_heads((0..5).map(|_| png_head(800, 1200)).collect());
        let r = drive(e, &mut rng, mixed(fault, mangadex_plausible(), MD_TEMPLATES, 1000)).unwrap();
        let c = counts.entry("mangadex").or_default();
        if r.result.is_ok() { c.0 += 1 } else { c.1 += 1 }

        let size = 2 * av::MIN_CHUNK + 1;
        let p = ApiVideo::file("http://av.test", "to-1", &file(size, "v.mp4", "video/mp4"), None, None, Some(av::MIN_CHUNK)).unwrap();
        let e = engine(p, &mut rng);
        let r = drive(e, &mut rng, mixed(fault, |_: &Request, _: &mut Rng| ok(201, r#"{"videoId":"vi1"}"#), AV_TEMPLATES, size)).unwrap();
        let c = counts.entry("apivideo").or_default();
        if r.result.is_ok() { c.0 += 1 } else { c.1 += 1 }
    }
    println!("random servers over 120 seeds (done, failed): {counts:?}");
    for (name, (done, failed)) in &counts {
        assert!(*done >= 10 && *failed >= 10, "{name}: {done} done, {failed} failed over 120 seeds");
    }
}

// ---- parsers ------------------------------------------------------------------------------------

fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<f64>().prop_map(chunkup::core::json::number),
        (-1_000_000i64..1_000_000).prop_map(Json::from),
        "\\PC{0,12}".prop_map(Json::String),
        "[\\x00-\\x1f\"\\\\\u{2028}\u{1F600}]{0,6}".prop_map(Json::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            proptest::collection::vec(("\\PC{0,6}", inner), 0..6).prop_map(|kv| Json::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn json_parse_never_panics(s in "\\PC{0,80}", bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = Json::parse(&s);
        let _ = Json::parse(&String::from_utf8_lossy(&bytes));
        let _ = chunkup::core::server_message(&s);
        let _ = chunkup::core::server_code(&s);
    }

    #[test]
    fn json_round_trips_and_every_prefix_is_handled(v in json_value()) {
        let text = v.to_json_string();
        let back = Json::parse(&text);
        prop_assert_eq!(back.as_ref(), Ok(&v), "{}", text);
        for cut in 0..text.len() {
            if let Some(prefix) = text.get(..cut) {
                let _ = Json::parse(prefix);
                let _ = chunkup::core::server_message(prefix);
            }
        }
    }

    #[test]
    fn json_numbers_and_nesting_at_the_limits(depth in 0usize..5000, digits in "[0-9]{1,400}", exp in -9999i32..9999, neg in any::<bool>()) {
        let _ = Json::parse(&"[".repeat(depth));
        let _ = Json::parse(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
        let _ = Json::parse(&"{\"a\":".repeat(depth.min(2000)));
        let n = format!("{}{digits}e{exp}", if neg { "-" } else { "" });
        if let Ok(j) = Json::parse(&n) {
            let _ = j.as_u64();
            let _ = j.as_f64();
        }
        let _ = Json::parse(&format!("{{\"size\":{n},\"chunk_size\":{digits}.{digits}}}")).map(|j| j.get("size").and_then(Json::as_u64));
    }

    #[test]
    fn retry_after_never_panics(s in "\\PC{0,40}", secs in any::<u64>(), now in any::<f64>(), d in 1u32..32, mo in 0usize..14, y in 0u64..20000, h in 0u64..30, mi in 0u64..70) {
        let _ = parse_retry_after(&s);
        for v in [secs.to_string(), format!("{secs}.5"), format!("-{secs}"), format!("{}e{}", secs % 100, secs % 400)] {
            if let Some(ra) = parse_retry_after(&v) {
                let _ = ra.delay_from(now);
                let _ = ra.delay_from(f64::NAN);
            }
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo", ""];
        let date = format!("Sun, {d:02} {} {y} {h:02}:{mi:02}:{mi:02} GMT", months[mo]);
        if let Some(ra) = parse_retry_after(&date) {
            let _ = ra.delay_from(now);
        }
        let p = RetryPolicy { delays: vec![secs % 10_000; (secs % 5) as usize], max_retry_after_ms: secs };
        let _ = p.delay(d, parse_retry_after(&s), now);
    }

    #[test]
    fn range_headers_never_panic(s in "\\PC{0,30}", a in any::<u64>(), b in any::<i64>()) {
        let _ = parse_range(&s);
        for v in [format!("bytes=0-{a}"), format!("bytes=0-{b}"), format!("bytes={b}-{a}"), format!("0-{a}"), format!("BYTES=0-{a}"), format!("bytes=0-{a}/{b}")] {
            if let Some(n) = parse_range(&v) {
                prop_assert!(n == 0 || n == a.wrapping_add(1) || n as i128 == b as i128 + 1, "{} -> {}", v, n);
            }
        }
        prop_assert_eq!(parse_range(&format!("bytes=0-{}", u64::MAX)), None, "no overflow");
    }

    #[test]
    fn urls_never_panic(base in "\\PC{0,40}", reference in "\\PC{0,40}", path in "[a-z/?#%.]{0,20}", host in "[a-z0-9.:\\[\\]@]{0,20}") {
        use chunkup::core::url;
        let bases = [base.clone(), format!("http://{host}/{path}"), format!("https://{host}"), "http://pt.test/a/b?c#d".to_string()];
        let refs = [reference.clone(), format!("//{host}/{path}"), format!("/{path}"), format!("?{path}"), format!("../{path}"), path.clone()];
        for b in &bases {
            let _ = url::is_absolute_http(b);
            let _ = url::origin(b);
            let _ = url::join(b, &path);
            for r in &refs {
                if let Some(u) = url::resolve(b, r) {
                    let _ = url::origin(&u);
                    let _ = url::same_origin(&u, b);
                }
            }
        }
        let _ = url::encode_component(&base);
        let _ = url::form_urlencoded(&[(base.as_str(), reference.as_str())]);
    }

    #[test]
    fn redaction_and_the_guard_never_panic_and_hide_secrets(text in "\\PC{0,60}", secret in "[A-Za-z0-9._~-]{8,24}", url in "\\PC{0,40}") {
        let msg = format!("{text} Bearer {secret} ?token={secret}&x=1 {text}");
        let red = chunkup::core::redact::redact(&msg, &[&secret, ""]);
        prop_assert!(!red.contains(&secret), "{}", red);
        let creds = vec![secret.clone()];
        for u in [url.clone(), format!("http://a.test/?token={secret}"), format!("http://b.test/{secret}")] {
            let req = Request::new(Method::Put, u).bearer(&secret).header("X-Token", secret.clone());
            let _ = chunkup::core::guard::carries_credential(&req, &creds);
            let _ = chunkup::core::guard::check(&req, "http://a.test", &creds);
        }
    }

    #[test]
    fn status_errors_and_default_verdicts_never_panic(status in any::<u16>(), body in "\\PC{0,60}", ra in "\\PC{0,12}") {
        let r = Response::new(status).with_body(&body).with_header("Retry-After", &ra);
        let e = chunkup::core::status_error("test", "thing", &r);
        prop_assert_eq!(e.status, Some(status));
        let _ = default_verdict("test", "thing", &r);
    }

    #[test]
    fn chunk_plans_and_progress_never_panic(total in any::<u64>(), chunk in any::<u64>(), min in any::<u64>(), max in any::<u64>(), offset in any::<u64>(), steps in proptest::collection::vec((any::<u64>(), any::<u64>(), -1e3f64..1e15), 0..20)) {
        let mut plan = ChunkPlan::new(total, chunk, min, max);
        let (s, e) = plan.range_at(offset);
        prop_assert!(s <= e && e <= total);
        let _ = plan.count();
        let mut shrinks = 0;
        while plan.shrink() {
            shrinks += 1;
            prop_assert!(shrinks <= 64, "shrink ends");
        }
        let mut adaptive = ChunkPlan::adaptive(total, chunk, min, max);
        let mut p = Progress::new(total);
        let mut last = 0;
        for (c, f, t) in steps {
            adaptive.adapt(c, t);
            prop_assert!(adaptive.chunk >= adaptive.min.min(adaptive.max));
            p.update(t, c, f);
            let s = p.snapshot();
            prop_assert!(s.loaded >= last && s.loaded <= s.total.max(last));
            prop_assert!(s.bytes_per_second.is_finite() && s.bytes_per_second >= 0.0);
            last = s.loaded;
        }
        p.finish(1e9);
    }

    #[test]
    fn cloudreve_parsers_never_panic(body in "\\PC{0,80}", data in json_value(), total in any::<u64>(), chunk in any::<u64>(), code in any::<i64>(), status in any::<u16>(), uri in "\\PC{0,30}", name in "\\PC{0,12}") {
        let _ = cr::parse_envelope(&body);
        let _ = cr::xml_field(&body, "ETag");
        let _ = cr::xml_field(&format!("<ETag>{body}</ETag>"), "ETag");
        let _ = cr::chunk_count(total, chunk);
        let _ = cr::target_uri(&uri, &name);
        let _ = cr::target_uri(&format!("cloudreve://{uri}"), &name);
        let _ = cr::completion_xml(&[body.clone(), String::new()]);
        for route in [cr::Route::Api, cr::Route::Node, cr::Route::Callback] {
            let env = cr::Envelope { code, msg: body.clone(), error: name.clone(), data: Json::Null };
            let _ = cr::envelope_verdict("x", status, &env, route);
        }
        let _ = cr::parse_session(&data, "s1", "cloudreve://my/a", CR_EP, total);
        let wrapped = Json::object().with("storage_policy", Json::object().with("type", "s3")).with("chunk_size", data.clone()).with("upload_urls", data.clone());
        let _ = cr::parse_session(&wrapped, "s1", "cloudreve://my/a", CR_EP, total);
        let _ = cr::accept_envelope("cloudreve", &Response::new(status).with_body(&body));
        let _ = cr::accept_login("cloudreve", &Response::new(status).with_body(&body));
        let _ = cr::accept_refresh("cloudreve", &Response::new(status).with_body(&body));
    }

    #[test]
    fn mangadex_parsers_never_panic(body in "\\PC{0,80}", data in json_value(), head in proptest::collection::vec(any::<u8>(), 0..64), w in any::<u32>(), h in any::<u32>(), ra in "\\PC{0,16}", s in "\\PC{0,16}") {
        let _ = md::parse_session(&body);
        let _ = md::parse_batch(&body);
        let as_text = data.to_json_string();
        let _ = md::parse_session(&as_text);
        let _ = md::parse_batch(&as_text);
        let _ = md::parse_session(&format!(r#"{{"data":{{"id":"x","relationships":{as_text}}}}}"#));
        let _ = md::parse_batch(&format!(r#"{{"data":[{as_text}],"errors":[{as_text}]}}"#));
        let r = Response::new(429).with_header("X-RateLimit-Retry-After", &ra).with_header("Retry-After", &ra);
        let _ = md::rate_limit_wait(&r);
        let _ = md::rate_limit_wait(&Response::new(429).with_header("X-RateLimit-Retry-After", &format!("{w}.{h}")));
        let _ = md::sniff(&head);
        let _ = md::check_head(&head);
        let mut png = png_head(w, h);
        png.extend_from_slice(&head);
        if let Ok(k) = md::check_head(&png) {
            let _ = md::dimensions(k, &png);
        }
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        jpeg.extend_from_slice(&head);
        for cut in 0..jpeg.len() {
            let _ = md::check_head(&jpeg[..cut]);
        }
        let _ = md::is_uuid(&s);
        let _ = md::valid_number_label(&s);
        let _ = md::valid_language(&s);
        let _ = md::valid_publish_at(&s);
        let _ = md::chapter_draft(Some(&data));
        let _ = md::Params::from_options(&data);
        let _ = md::token_url(&s);
        for kind in [md::ImageKind::Png, md::ImageKind::Jpeg, md::ImageKind::Gif] {
            let _ = md::part_filename(w as usize, &s, kind);
            let _ = md::dimensions(kind, &head);
        }
    }

    #[test]
    fn protocol_constructors_refuse_bad_input_without_panicking(size in any::<u64>(), chunk in any::<u64>(), name in "\\PC{0,12}", mime in "\\PC{0,12}", lm in any::<f64>(), opts in json_value(), ep in "\\PC{0,20}") {
        let f = FileInfo { name: name.clone(), size, mime, last_modified: lm };
        for endpoint in [ep.as_str(), "http://x.test", "http://x.test/sub/"] {
            let _ = PeerTube::video(endpoint, "t", &f, &opts, Some(chunk));
            let _ = PeerTube::import(endpoint, "t", &f, size, Some(chunk));
            let _ = ApiVideo::file(endpoint, "t", &f, Some(&name), None, Some(chunk));
            let _ = ApiVideo::progressive(endpoint, &name, None, Some(name.clone()));
            let _ = cr::from_options(endpoint, &opts, std::slice::from_ref(&f), None);
            let _ = md::from_options(endpoint, &opts, std::slice::from_ref(&f), Some(chunk));
            let _ = pta::list_imports(endpoint, "t", &opts);
            let _ = av::list_tokens(endpoint, "t", &opts);
        }
    }
}

/// The driver itself catches what it is meant to catch: a protocol that waits for nothing.
#[test]
fn the_driver_reports_an_upload_that_waits_for_nothing() {
    struct Stuck;
    impl Protocol for Stuck {
        fn provider(&self) -> &'static str {
            "stuck"
        }
        fn total(&self) -> u64 {
            10
        }
        fn confirmed(&self) -> u64 {
            0
        }
        fn next(&mut self) -> chunkup::protocols::Next {
            chunkup::protocols::Next::Wait
        }
        fn handle(&mut self, _: &Request, _: Outcome) -> chunkup::protocols::Verdict {
            chunkup::protocols::Verdict::Continue
        }
    }
    let mut found = 0;
    for seed in 0..20 {
        let mut rng = Rng::new(seed);
        let e = Engine::new(Stuck, RetryPolicy::new(vec![1]), false);
        match drive(e, &mut rng, |_: &Request, _: &mut Rng| ok(200, "")) {
            Err(msg) => {
                assert!(msg.contains("nothing in flight"), "{msg}");
                found += 1;
            }
            Ok(ended) => assert_eq!(ended.result.unwrap_err().code, ErrorCode::Aborted, "only a random abort ends it"),
        }
    }
    assert!(found >= 10);
}
