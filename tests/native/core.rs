//! The sans-IO core, natively: chunk planning over u64 offsets (past 4 GiB), `Retry-After`
//! parsing and the retry policy, which statuses are retryable, progress accounting, URL
//! resolution (every `Location` form), JSON (defensive parser, writer round trip), error
//! codes, redaction and the server-message / status mapping.
#![cfg(not(target_arch = "wasm32"))]

use chunkup::core::plan::ChunkPlan;
#[path = "common/json_ext.rs"]
mod json_ext;
use json_ext::JsonExt as _;
use chunkup::core::codec::{decode, encode, DecodeError};
use chunkup::core::progress::Progress;
use chunkup::core::redact::redact;
use chunkup::core::retry::{parse_retry_after, status_is_retryable, RetryAfter, RetryPolicy};
use chunkup::core::url::{encode_component, form_urlencoded, is_absolute_http, join, origin, resolve, same_origin};
use chunkup::core::{server_code, server_message, status_error, truncate, Body, ErrorCode, Json, Part, Request, Method, Response, Slice, UploadError};
use proptest::prelude::*;

const GIB: u64 = 1 << 30;

// ---- chunk planning -------------------------------------------------------------------------------

fn walk(plan: &ChunkPlan, from: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut off = from;
    while off < plan.total {
        let (s, e) = plan.range_at(off);
        out.push((s, e));
        off = e;
    }
    out
}

#[test]
fn plans_past_4_gib_and_near_u64_max() {
    let total = 4 * GIB + 1;
    let plan = ChunkPlan::new(total, GIB, 1, u64::MAX);
    let r = walk(&plan, 0);
    assert_eq!(r, vec![(0, GIB), (GIB, 2 * GIB), (2 * GIB, 3 * GIB), (3 * GIB, 4 * GIB), (4 * GIB, 4 * GIB + 1)]);
    assert_eq!(plan.count(), 5);
    // An odd offset (the server confirmed part of a chunk) starts the next chunk there.
    assert_eq!(plan.range_at(GIB + 7), (GIB + 7, 2 * GIB + 7));
    // Near the top of u64 nothing overflows.
    let plan = ChunkPlan::new(u64::MAX, u64::MAX / 2, 1, u64::MAX);
    assert_eq!(plan.range_at(u64::MAX - 3), (u64::MAX - 3, u64::MAX));
    assert_eq!(plan.range_at(u64::MAX / 2 + 10), (u64::MAX / 2 + 10, u64::MAX));
    assert_eq!(plan.count(), 3);
    assert_eq!(ChunkPlan::new(u64::MAX, 1, 1, 1).count(), u64::MAX);
}

#[test]
fn plan_clamps_and_shrinks() {
    assert_eq!(ChunkPlan::new(100, 5, 10, 50).chunk, 10);
    assert_eq!(ChunkPlan::new(100, 500, 10, 50).chunk, 50);
    let p = ChunkPlan::new(100, 7, 20, 10);
    assert_eq!((p.min, p.max, p.chunk), (20, 20, 20), "max below min is raised to min");
    let p = ChunkPlan::new(100, 0, 0, 0);
    assert_eq!((p.min, p.chunk), (1, 1));
    let mut p = ChunkPlan::new(10 * GIB, 8 * GIB, 64 << 10, 16 * GIB);
    let mut sizes = vec![p.chunk];
    while p.shrink() {
        sizes.push(p.chunk);
        assert_eq!(p.max, p.chunk, "the cap follows the shrink");
    }
    assert_eq!(sizes.first(), Some(&(8 * GIB)));
    assert_eq!(sizes.last(), Some(&(64 << 10)));
    assert!(sizes.windows(2).all(|w| w[1] == w[0] / 2));
    // Odd sizes stop at min, not below.
    let mut p = ChunkPlan::new(100, 13, 5, 100);
    assert!(p.shrink());
    assert_eq!(p.chunk, 6);
    assert!(p.shrink());
    assert_eq!(p.chunk, 5);
    assert!(!p.shrink());
    assert_eq!(ChunkPlan::new(0, 10, 1, 10).range_at(0), (0, 0));
    assert_eq!(ChunkPlan::new(0, 10, 1, 10).count(), 0);
}

proptest! {
    #[test]
    fn plan_covers_the_file_exactly(
        total in prop_oneof![0u64..10_000, (4 * GIB - 5)..(4 * GIB + 5), 0u64..(64 * GIB), (u64::MAX - 1000)..=u64::MAX],
        chunk in 1u64..u64::MAX,
        min in 0u64..(1 << 20),
        max in 0u64..u64::MAX,
        from_frac in 0.0f64..1.0,
    ) {
        let plan = ChunkPlan::new(total, chunk, min, max);
        prop_assert!(plan.min >= 1 && plan.min <= plan.chunk && plan.chunk <= plan.max);
        // Keep the walk short.
        prop_assume!(plan.count() <= 5000);
        let from = (total as f64 * from_frac) as u64;
        let from = from.min(total);
        let r = walk(&plan, from);
        let mut at = from;
        for (s, e) in &r {
            prop_assert_eq!(*s, at);
            prop_assert!(*e > *s && *e - *s <= plan.chunk && *e <= total);
            at = *e;
        }
        prop_assert_eq!(at, total);
        if from == 0 {
            prop_assert_eq!(r.len() as u64, plan.count());
        }
        prop_assert_eq!(plan.range_at(total), (total, total));
        prop_assert_eq!(plan.range_at(u64::MAX), (total, total));
    }

    #[test]
    fn shrinking_never_goes_below_min(chunk in 1u64..u64::MAX, min in 1u64..(1 << 30)) {
        let mut p = ChunkPlan::new(u64::MAX, chunk, min, u64::MAX);
        let mut n = 0;
        while p.shrink() {
            n += 1;
            prop_assert!(p.chunk >= p.min && p.max == p.chunk);
            prop_assert!(n <= 64);
        }
        prop_assert_eq!(p.chunk, p.min.max(p.chunk.min(p.min)));
    }
}

// ---- Retry-After and the retry policy -------------------------------------------------------------

#[test]
fn retry_after_delta_seconds() {
    assert_eq!(parse_retry_after("300"), Some(RetryAfter::Delay(300_000)));
    assert_eq!(parse_retry_after("0"), Some(RetryAfter::Delay(0)));
    assert_eq!(parse_retry_after("  42\t"), Some(RetryAfter::Delay(42_000)));
    assert_eq!(parse_retry_after("0.25"), Some(RetryAfter::Delay(250)));
    assert_eq!(parse_retry_after("18446744073709551615"), Some(RetryAfter::Delay(u64::MAX)));
    assert_eq!(parse_retry_after("1e3"), Some(RetryAfter::Delay(1_000_000)));
    for bad in ["", "  ", "-1", "-0.5", "NaN", "inf", "infinity", "1,5", "5s", "soon", "0x10"] {
        assert_eq!(parse_retry_after(bad), None, "{bad:?}");
    }
}

#[test]
fn retry_after_http_dates() {
    let cases = [
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0u64),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777_000),
        ("Thu, 29 Feb 2024 00:00:00 GMT", 1_709_164_800_000),
        ("Tue, 19 Jan 2038 03:14:08 GMT", 2_147_483_648_000),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 253_402_300_799_000),
        ("sun, 06 nov 1994 08:49:37 gmt", 784_111_777_000),
        ("Sun, 6 Nov 1994 08:49:37 GMT", 784_111_777_000),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1_445_412_480_000),
    ];
    for (v, ms) in cases {
        assert_eq!(parse_retry_after(v), Some(RetryAfter::At(ms)), "{v}");
    }
    for bad in [
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1969 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:49:37:01 GMT",
        "Sun, 06 Nov 10000 08:49:37 GMT",
    ] {
        assert_eq!(parse_retry_after(bad), None, "{bad:?}");
    }
    assert_eq!(RetryAfter::At(10_000).delay_from(4_000.0), 6_000);
    assert_eq!(RetryAfter::At(10_000).delay_from(10_000.0), 0);
    assert_eq!(RetryAfter::At(10_000).delay_from(f64::NAN), 10_000);
    assert_eq!(RetryAfter::At(10_000).delay_from(-5.0), 10_000);
    assert_eq!(RetryAfter::Delay(7).delay_from(1e12), 7);
}

#[test]
fn policy_delays() {
    let p = RetryPolicy::new(vec![500, 1000, 3000]);
    assert_eq!(p.delay(0, None, 0.0), Some(0));
    assert_eq!([1, 2, 3].map(|a| p.delay(a, None, 0.0)), [Some(500), Some(1000), Some(3000)]);
    assert_eq!(p.delay(4, None, 0.0), None);
    assert_eq!(p.delay(u32::MAX, None, 0.0), None);
    // Retry-After replaces the configured delay, capped; it does not add retries.
    assert_eq!(p.delay(1, Some(RetryAfter::Delay(2000)), 0.0), Some(2000));
    assert_eq!(p.delay(1, Some(RetryAfter::Delay(0)), 0.0), Some(0));
    assert_eq!(p.delay(2, Some(RetryAfter::Delay(10 * 60_000)), 0.0), Some(300_000));
    assert_eq!(p.delay(1, Some(RetryAfter::At(5000)), 1000.0), Some(4000));
    assert_eq!(p.delay(4, Some(RetryAfter::Delay(1)), 0.0), None);
    let capped = RetryPolicy { delays: vec![1], max_retry_after_ms: 10 };
    assert_eq!(capped.delay(1, Some(RetryAfter::Delay(11)), 0.0), Some(10));
    let d = RetryPolicy::default();
    assert!(!d.delays.is_empty() && d.delays.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(d.max_retry_after_ms, 300_000);
    assert_eq!(RetryPolicy::new(vec![]).delay(1, None, 0.0), None);
}

#[test]
fn retryable_statuses() {
    for s in [408, 423, 425, 429, 460, 500, 502, 503, 504, 507, 520, 599] {
        assert!(status_is_retryable(s), "{s}");
    }
    // "You are wrong": every other 4xx. Also 501/505, success, redirects and nonsense.
    for s in (400..500).filter(|s| ![408, 423, 425, 429, 460].contains(s)) {
        assert!(!status_is_retryable(s), "{s}");
    }
    for s in [0, 100, 200, 201, 204, 301, 308, 501, 505, 600, 999, u16::MAX] {
        assert!(!status_is_retryable(s), "{s}");
    }
}

proptest! {
    #[test]
    fn retry_after_never_panics(s in ".{0,40}", n in any::<u64>(), now in any::<f64>()) {
        if let Some(ra) = parse_retry_after(&s) {
            let _ = ra.delay_from(now);
        }
        prop_assert_eq!(parse_retry_after(&n.to_string()), Some(RetryAfter::Delay(n.saturating_mul(1000))));
    }

    #[test]
    fn policy_respects_the_cap(delays in prop::collection::vec(any::<u64>(), 0..8), attempt in 0u32..10, ra in any::<u64>(), cap in any::<u64>()) {
        let p = RetryPolicy { delays: delays.clone(), max_retry_after_ms: cap };
        match p.delay(attempt, Some(RetryAfter::Delay(ra)), 0.0) {
            Some(d) if attempt > 0 => prop_assert_eq!(d, ra.min(cap)),
            Some(d) => prop_assert_eq!(d, 0),
            None => prop_assert!(attempt as usize > delays.len()),
        }
        match p.delay(attempt, None, 0.0) {
            Some(d) if attempt > 0 => prop_assert_eq!(d, delays[attempt as usize - 1]),
            Some(_) => {}
            None => prop_assert!(attempt as usize > delays.len()),
        }
    }
}

// ---- progress -----------------------------------------------------------------------------------------

#[test]
fn progress_basics() {
    let mut p = Progress::new(1000);
    assert_eq!(p.snapshot().loaded, 0);
    assert!(p.update(0.0, 0, 100));
    assert!(!p.update(10.0, 50, 0), "lower than before: no move");
    assert_eq!(p.snapshot().loaded, 100);
    assert!(p.update(20.0, 2000, 0));
    assert_eq!(p.snapshot().loaded, 1000, "clamped to total");
    let mut p = Progress::new(1000);
    p.update(0.0, 0, 0);
    assert!(p.finish(100.0));
    assert_eq!(p.snapshot().loaded, 1000);
    // The total grows for streams, never shrinks.
    let mut p = Progress::new(10);
    p.set_total(100);
    p.set_total(5);
    assert_eq!(p.snapshot().total, 100);
    // Overflowing sums saturate.
    let mut p = Progress::new(u64::MAX);
    p.update(0.0, u64::MAX - 1, u64::MAX);
    assert_eq!(p.snapshot().loaded, u64::MAX);
}

#[test]
fn bytes_per_second() {
    let mut p = Progress::new(u64::MAX);
    p.update(0.0, 0, 0);
    assert_eq!(p.snapshot().bytes_per_second, 0.0);
    // 5 MB/s for 10 s.
    for i in 1..=100u64 {
        p.update(i as f64 * 100.0, i * 500_000, 0);
    }
    let bps = p.snapshot().bytes_per_second;
    assert!((bps - 5_000_000.0).abs() < 50_000.0, "{bps}");
    // Then it stalls: the average decays towards 0 but stays finite and non-negative.
    for i in 101..=200u64 {
        p.update(i as f64 * 100.0, 100 * 500_000, 0);
    }
    let bps = p.snapshot().bytes_per_second;
    // Five half-lives later: 5 MB/s / 32.
    assert!((0.0..200_000.0).contains(&bps), "{bps}");
    // Updates closer than 50 ms and clocks going backwards do not produce nonsense.
    let mut p = Progress::new(1000);
    p.update(1000.0, 0, 0);
    p.update(1001.0, 500, 0);
    p.update(500.0, 600, 0);
    p.update(f64::NAN, 700, 0);
    let s = p.snapshot();
    assert!(s.bytes_per_second.is_finite() && s.bytes_per_second >= 0.0);
    assert_eq!(s.loaded, 700);
}

proptest! {
    #[test]
    fn progress_is_monotonic_and_ends_at_total(
        total in any::<u64>(),
        steps in prop::collection::vec((0.0f64..1e4, any::<u64>(), any::<u64>()), 0..60),
    ) {
        let mut p = Progress::new(total);
        let mut now = 0.0;
        let mut last = 0;
        for (dt, c, f) in steps {
            now += dt;
            let moved = p.update(now, c % total.saturating_add(1), f % 1000);
            let s = p.snapshot();
            prop_assert!(s.loaded >= last && s.loaded <= total);
            prop_assert_eq!(moved, s.loaded > last);
            prop_assert!(s.bytes_per_second.is_finite() && s.bytes_per_second >= 0.0);
            last = s.loaded;
        }
        p.finish(now + 1.0);
        prop_assert_eq!(p.snapshot().loaded, total);
    }
}

// ---- URLs ------------------------------------------------------------------------------------------------

#[test]
fn location_forms() {
    let init = "http://127.0.0.1:9000/api/v1/videos/upload-resumable";
    let want = "http://127.0.0.1:9000/api/v1/videos/upload-resumable?upload_id=abc-1";
    for loc in [
        "//127.0.0.1:9000/api/v1/videos/upload-resumable?upload_id=abc-1",
        "http://127.0.0.1:9000/api/v1/videos/upload-resumable?upload_id=abc-1",
        "/api/v1/videos/upload-resumable?upload_id=abc-1",
        "?upload_id=abc-1",
        "upload-resumable?upload_id=abc-1",
        "./upload-resumable?upload_id=abc-1",
        "../videos/upload-resumable?upload_id=abc-1",
        " /api/v1/videos/upload-resumable?upload_id=abc-1 ",
    ] {
        assert_eq!(resolve(init, loc).as_deref(), Some(want), "{loc:?}");
    }
    // Other hosts and schemes are taken as given; protocol-relative takes the init's scheme.
    assert_eq!(resolve(init, "https://tube.example/x?upload_id=1").as_deref(), Some("https://tube.example/x?upload_id=1"));
    assert_eq!(resolve("https://a.example/api", "//b.example:8443/x").as_deref(), Some("https://b.example:8443/x"));
    // The init's own query is replaced by the Location's (uploadx keeps it in Location).
    assert_eq!(
        resolve("http://h/api/v1/videos/upload-resumable?x=1", "/api/v1/videos/upload-resumable?x=1&upload_id=z").as_deref(),
        Some("http://h/api/v1/videos/upload-resumable?x=1&upload_id=z")
    );
    assert_eq!(resolve("http://h/a/b?q=1", "#frag").as_deref(), Some("http://h/a/b?q=1#frag"));
    assert_eq!(resolve("http://h", "x").as_deref(), Some("http://h/x"));
    assert_eq!(resolve("http://h", "?q").as_deref(), Some("http://h/?q"));
    assert_eq!(resolve("http://h/a/b/c", "/../../x").as_deref(), Some("http://h/x"));
    assert_eq!(resolve("http://h/a/b/c", "/a/./b/../d?p=../q").as_deref(), Some("http://h/a/d?p=../q"));
    // A "://" inside a query does not make a reference absolute.
    assert_eq!(resolve("http://h/a/b", "/x?next=http://evil/").as_deref(), Some("http://h/x?next=http://evil/"));
    assert_eq!(resolve("http://h/a/b", "y?u=https://e").as_deref(), Some("http://h/a/y?u=https://e"));
    for (base, r) in [("http://h/", ""), ("http://h/", "   "), ("http://h/", "//"), ("/relative", "/x"), ("", "x"), ("http://", "/x")] {
        assert_eq!(resolve(base, r), None, "{base:?} + {r:?}");
    }
}

#[test]
fn origins_and_helpers() {
    assert_eq!(origin("https://Tube.Example:443/x").as_deref(), Some("https://tube.example"));
    assert_eq!(origin("http://tube.example:8080/x").as_deref(), Some("http://tube.example:8080"));
    assert_eq!(origin("http://user:pw@tube.example/x").as_deref(), Some("http://tube.example"));
    assert_eq!(origin("nope"), None);
    assert!(same_origin("http://a/x", "http://a:80/y"));
    assert!(!same_origin("http://a/x", "http://a:81/y"));
    assert!(!same_origin("nope", "nope"));
    assert!(is_absolute_http("HTTPS://x"));
    assert!(!is_absolute_http("http://"));
    assert!(!is_absolute_http("http://a b/"));
    assert!(!is_absolute_http("//x/y"));
    assert!(!is_absolute_http("javascript://x"));
    assert_eq!(join("http://x", "api/v1"), "http://x/api/v1");
    assert_eq!(join("http://x//", "//api"), "http://x/api");
    assert_eq!(encode_component("AZaz09-_.~"), "AZaz09-_.~");
    assert_eq!(encode_component(" +/?#[]@!$&'()*,;=%"), "%20%2B%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2C%3B%3D%25");
    assert_eq!(encode_component("日本"), "%E6%97%A5%E6%9C%AC");
    assert_eq!(form_urlencoded(&[]), "");
    assert_eq!(form_urlencoded(&[("a b", "c&d"), ("e", "")]), "a%20b=c%26d&e=");
}

proptest! {
    #[test]
    fn resolve_never_panics_and_absolute_wins(base in ".{0,30}", r in ".{0,30}", path in "[a-z0-9/._?=&-]{0,30}") {
        let _ = resolve(&base, &r);
        let _ = origin(&r);
        let _ = same_origin(&base, &r);
        let _ = is_absolute_http(&r);
        let abs = format!("https://other.example/{path}");
        prop_assert_eq!(resolve("http://h/a/b", &abs), Some(abs.clone()));
        let resolved = resolve("http://h:1/a/b", &format!("/p{path}")).unwrap();
        prop_assert!(resolved.starts_with("http://h:1/"));
        prop_assert!(is_absolute_http(&resolved));
        let pr = resolve("https://h/a", &format!("//x.example/{path}")).unwrap();
        prop_assert!(pr.starts_with("https://x.example/"));
    }

    #[test]
    fn encoding_is_reversible(s in ".{0,40}") {
        let enc = encode_component(&s);
        prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
        // Decode and compare.
        let bytes = enc.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        prop_assert_eq!(String::from_utf8(out).unwrap(), s);
    }
}

// ---- JSON (core::codec) -------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Video {
    id: u64,
    short_uuid: String,
    #[serde(default)]
    name: Option<String>,
}

#[test]
fn codec_decodes_typed_answers_and_says_why_not() {
    let v: Video = decode(r#"{"id":42,"shortUuid":"sU","uuid":"0000-1111"}"#).unwrap();
    assert_eq!(v, Video { id: 42, short_uuid: "sU".into(), name: None }, "unknown fields are ignored");
    assert_eq!(decode::<Video>(r#"{"id":"42","shortUuid":"sU"}"#), Err(DecodeError::Shape), "a string where a number belongs");
    assert_eq!(decode::<Video>(r#"{"shortUuid":"sU"}"#), Err(DecodeError::Shape), "a required field missing");
    assert_eq!(decode::<Video>(r#"{"id":-1,"shortUuid":"sU"}"#), Err(DecodeError::Shape), "negative where unsigned");
    for bad in ["", " ", "{", "}", "[1,]", "{\"a\":}", "{a:1}", "'a'", "NaN", "Infinity", "+1", ".5", "1e", "[1]x", "\"\\u12\""] {
        assert_eq!(decode::<Json>(bad), Err(DecodeError::Syntax), "{bad:?}");
    }
    let v: Json = decode("\"\\ud83d\\ude00 \\u00e9 x \\/\"").unwrap();
    assert_eq!(v.as_str(), Some("😀 é x /"));
    assert!(decode::<Json>(&format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000))).is_err(), "no stack overflow");
    assert_eq!(Json::parse(r#"{"video":{"id":42}}"#).unwrap().path("video.id").and_then(Json::as_u64), Some(42));
}

#[test]
fn codec_encodes_like_json_stringify() {
    let v = Json::object()
        .with("s", "a\"b\\c\n\r\t\u{1}é")
        .with("n", chunkup::core::json::number(1_700_000_000_123.0))
        .with("f", 0.5f64)
        .with("nan", chunkup::core::json::number(f64::NAN))
        .with("b", true)
        .with("u", 12u64);
    assert_eq!(encode(&v), r#"{"s":"a\"b\\c\n\r\t\u0001é","n":1700000000123,"f":0.5,"nan":null,"b":true,"u":12}"#);
    assert_eq!(encode(&Video { id: 7, short_uuid: "x".into(), name: Some("n".into()) }), r#"{"id":7,"shortUuid":"x","name":"n"}"#);
    let mut not_obj = Json::Array(vec![]);
    not_obj.set("a", Json::Null);
    assert_eq!(not_obj, Json::Array(vec![]));
}

fn json_strategy() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<f64>().prop_map(chunkup::core::json::number),
        any::<i64>().prop_map(Json::from),
        ".{0,12}".prop_map(Json::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::vec((".{0,6}", inner), 0..6).prop_map(|kv| Json::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn codec_round_trips(v in json_strategy()) {
        prop_assert_eq!(decode::<Json>(&encode(&v)), Ok(v));
    }

    #[test]
    fn codec_never_panics(s in ".{0,64}", v in json_strategy(), cut in any::<usize>()) {
        let _ = decode::<Json>(&s);
        let _ = decode::<Video>(&s);
        let text = encode(&v);
        let mut at = cut % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let _ = decode::<Json>(&text[..at]);
    }
}

// ---- errors, messages, redaction ------------------------------------------------------------------------

#[test]
fn error_codes_match_the_api_contract() {
    let all = [
        (ErrorCode::InvalidInput, "invalid-input"),
        (ErrorCode::Network, "network"),
        (ErrorCode::Http, "http"),
        (ErrorCode::Auth, "auth"),
        (ErrorCode::Quota, "quota"),
        (ErrorCode::TooLarge, "too-large"),
        (ErrorCode::UnsupportedType, "unsupported-type"),
        (ErrorCode::SessionExpired, "session-expired"),
        (ErrorCode::Protocol, "protocol"),
        (ErrorCode::Aborted, "aborted"),
    ];
    for (c, s) in all {
        assert_eq!(c.as_str(), s);
    }
    let e = UploadError::network("peertube", "x");
    assert_eq!((e.code, e.retryable, e.status), (ErrorCode::Network, true, None));
    let e = UploadError::aborted("peertube");
    assert_eq!((e.code, e.retryable), (ErrorCode::Aborted, false));
    let e = UploadError::invalid("p", "m").with_status(400).retryable(true);
    assert_eq!((e.status, e.retryable), (Some(400), true));
    assert_eq!(e.to_string(), "invalid-input (p): m");
    let e = UploadError::protocol("p", "Bearer abcdef123 leaked").redact("abcdef123");
    assert_eq!(e.message, "Bearer [redacted] leaked");
}

#[test]
fn redaction() {
    assert_eq!(redact("a tok1234 b tok1234", &["tok1234"]), "a [redacted] b [redacted]");
    assert_eq!(redact("abc", &["abc"]), "abc", "secrets under 4 bytes are not hunted (too many false hits)");
    assert_eq!(redact("x", &[""]), "x");
    assert_eq!(redact("GET http://h/p?a=1&token=s3cr3t#f and ?token=two", &[]), "GET http://h/p?a=1&token=[redacted]#f and ?token=[redacted]");
    assert_eq!(redact("access_token=zz", &[]), "access_token=zz");
    assert_eq!(redact("?token=", &[]), "?token=[redacted]");
}

#[test]
fn server_messages_and_codes() {
    let problem = r#"{"type":"https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/quota_reached","title":"Payload Too Large","status":413,"detail":"The user video quota is exceeded with this video.","code":"quota_reached","error":"The user video quota is exceeded with this video."}"#;
    assert_eq!(server_message(problem).as_deref(), Some("The user video quota is exceeded with this video."));
    assert_eq!(server_code(problem).as_deref(), Some("quota_reached"));
    let uploadx = r#"{"error":{"code":"FileConflict","message":"File conflict"}}"#;
    assert_eq!(server_message(uploadx).as_deref(), Some("File conflict"));
    assert_eq!(server_code(uploadx).as_deref(), Some("FileConflict"));
    assert_eq!(server_message(r#"{"error":"legacy text"}"#).as_deref(), Some("legacy text"));
    assert_eq!(server_message(r#"{"title":"Only a title"}"#).as_deref(), Some("Only a title"));
    assert_eq!(server_message(r#"{"msg":"cloudreve"}"#).as_deref(), Some("cloudreve"));
    assert_eq!(server_message(r#"{"message":"m"}"#).as_deref(), Some("m"));
    assert_eq!(server_message("Too many requests, please try again later.").as_deref(), Some("Too many requests, please try again later."));
    assert_eq!(server_message("<html><body>502</body></html>"), None);
    assert_eq!(server_message("   "), None);
    assert_eq!(server_message(r#"{"detail":""}"#), None);
    assert_eq!(server_message("[1,2]"), None);
    assert_eq!(server_code("not json"), None);
    assert_eq!(server_code(r#"{"code":5}"#), None);
    assert_eq!(truncate("abcdef", 3), "abc…");
    assert_eq!(truncate("ééé", 3), "ééé");
}

#[test]
fn status_errors() {
    let cases = [
        (400, ErrorCode::Http, false),
        (401, ErrorCode::Auth, false),
        (403, ErrorCode::Auth, false),
        (404, ErrorCode::Http, false),
        (409, ErrorCode::Http, false),
        (413, ErrorCode::TooLarge, false),
        (415, ErrorCode::UnsupportedType, false),
        (422, ErrorCode::Http, false),
        (429, ErrorCode::Http, true),
        (500, ErrorCode::Http, true),
        (501, ErrorCode::Http, false),
        (503, ErrorCode::Http, true),
    ];
    for (s, code, retryable) in cases {
        let e = status_error("peertube", "chunk", &Response::new(s).with_body(r#"{"detail":"why"}"#));
        assert_eq!((e.code, e.status, e.retryable, e.provider), (code, Some(s), retryable, "peertube"), "{s}");
        assert_eq!(e.message, format!("chunk failed with HTTP {s}: why"));
    }
    let e = status_error("p", "init", &Response::new(500).with_body(&"x".repeat(5000)));
    assert!(e.message.chars().count() < 400);
}

#[test]
fn http_types() {
    let r = Response::new(308).with_header("RANGE", " bytes=0-9 ");
    assert_eq!(r.header("range"), Some("bytes=0-9"));
    assert!(!r.is_success());
    assert!(Response::new(204).is_success());
    assert!(!Response::new(300).is_success());
    let q = Request::new(Method::Put, "http://x").bearer("").header("Content-Range", "bytes */5");
    assert_eq!(q.get_header("authorization"), None, "no token, no header");
    assert_eq!(q.get_header("content-range"), Some("bytes */5"));
    assert_eq!(Request::new(Method::Get, "u").bearer("t").get_header("Authorization"), Some("Bearer t"));
    let s = Slice { file: 0, start: 5 * GIB, end: 5 * GIB + 10 };
    assert_eq!((s.len(), s.is_empty()), (10, false));
    assert_eq!(Slice { file: 0, start: 10, end: 5 }.len(), 0);
    assert_eq!(Body::Slice(s).file_bytes(), 10);
    assert_eq!(Body::json("{}".into()).file_bytes(), 0);
    let mp = Body::Multipart(vec![
        Part::Field { name: "a".into(), value: "b".into() },
        Part::File { name: "f".into(), filename: "f.bin".into(), content_type: "x/y".into(), slice: s },
        Part::File { name: "g".into(), filename: "g.bin".into(), content_type: "x/y".into(), slice: Slice { file: 1, start: 0, end: 3 } },
    ]);
    assert_eq!(mp.file_bytes(), 13);
    assert_eq!(Body::Empty.file_bytes(), 0);
    assert_eq!([Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete].map(Method::as_str), ["GET", "POST", "PUT", "PATCH", "DELETE"]);
}

#[test]
fn retry_after_decimal_seconds_without_a_float_parser() {
    let d = |v: &str| parse_retry_after(v);
    for (v, ms) in [
        ("1.5", 1500u64), (".5", 500), ("5.", 5000), ("+2", 2000), ("0.0001", 0), ("0.0019", 1), ("1E3", 1_000_000),
        ("1.5e-1", 150), ("25e-3", 25), ("0e999999999", 0), ("1e-9999999", 0), ("000.250", 250), ("1e300", u64::MAX),
    ] {
        assert_eq!(d(v), Some(RetryAfter::Delay(ms)), "{v}");
    }
    for bad in ["1e", "1e+", "e3", ".", "1.2.3", "1e3.5", "1e400", "9e309", "++1", "1 2", "1_000"] {
        assert_eq!(d(bad), None, "{bad:?}");
    }
}

proptest! {
    #[test]
    fn retry_after_decimal_seconds_agree_with_the_float_parser(int in 0u64..100_000, frac in "[0-9]{0,6}", exp in -8i32..8) {
        let s = if frac.is_empty() { format!("{int}e{exp}") } else { format!("{int}.{frac}e{exp}") };
        let float: f64 = s.parse().unwrap();
        let expected = (float * 1000.0) as u64;
        let RetryAfter::Delay(got) = parse_retry_after(&s).unwrap() else { panic!("{s}") };
        // The float product may land just below a whole ms where the exact value is on it.
        prop_assert!(got == expected || got == expected + 1, "{} -> {} (float {})", s, got, expected);
    }
}

/// `core::json::Json`, the crate's own open-ended value: keys keep their order (also when a
/// field is replaced or removed), a key given twice keeps its first place and its last value,
/// numbers keep their kind, objects compare as objects, and text round-trips.
#[test]
fn open_ended_values_keep_order_numbers_and_nesting() {
    use chunkup::core::json::{number, object, Map};
    let text = r#"{"z":1,"a":[true,false,null,"x",{"k":[]}],"neg":-42,"big":18446744073709551615,"f":-0.25,"o":{"b":{},"a":""}}"#;
    let v: Json = decode(text).unwrap();
    assert_eq!(encode(&v), text);
    assert_eq!(v.as_object().unwrap().keys().map(String::as_str).collect::<Vec<_>>(), ["z", "a", "neg", "big", "f", "o"]);
    assert_eq!((v["neg"].as_i64(), v["neg"].as_u64(), v["neg"].as_f64()), (Some(-42), None, Some(-42.0)));
    assert_eq!(v["big"].as_u64(), Some(u64::MAX));
    assert_eq!(v["big"].as_i64(), None);
    assert_eq!(v["f"].as_f64(), Some(-0.25));
    assert_eq!(v["f"].as_u64(), None);
    assert_eq!(v["a"][4]["k"], Json::Array(vec![]));
    assert_eq!((&v["missing"], &v["a"][9], &v["z"]["x"]), (&Json::Null, &Json::Null, &Json::Null));
    assert_eq!(encode(&decode::<Json>(r#"{"a":1,"b":2,"a":3}"#).unwrap()), r#"{"a":3,"b":2}"#);
    assert_eq!(decode::<Json>(r#"{"a":1,"b":[2]}"#), decode::<Json>(r#"{"b":[2],"a":1}"#));
    assert_ne!(decode::<Json>(r#"{"a":1}"#), decode::<Json>(r#"{"a":1,"b":null}"#));
    assert_ne!(decode::<Json>("1"), decode::<Json>("1.5"));
    let mut m = Map::new();
    assert_eq!(m.insert("x".into(), 1u64.into()), None);
    m.insert("y".into(), "s".into());
    m.insert("z".into(), true.into());
    assert_eq!(m.insert("x".into(), 2u64.into()), Some(Json::from(1u64)), "replaced in place");
    assert_eq!(m.remove("y"), Some(Json::from("s")));
    assert_eq!(encode(&Json::Object(m)), r#"{"x":2,"z":true}"#, "order kept after replace and remove");
    assert_eq!(encode(&object(vec![("b", Some(number(3.0))), ("gone", None), ("a", Some(number(-0.5)))])), r#"{"b":3,"a":-0.5}"#);
    assert_eq!(number(f64::INFINITY), Json::Null);
    // Integers only within JS's safe range (serde-wasm-bindgen writes no larger one): 2^53 and
    // beyond stay floats.
    assert_eq!(number(9_007_199_254_740_991.0).as_u64(), Some(9_007_199_254_740_991));
    assert_eq!(number(-9_007_199_254_740_991.0).as_i64(), Some(-9_007_199_254_740_991));
    assert_eq!((number(9_007_199_254_740_992.0).as_u64(), number(9_007_199_254_740_992.0).as_f64()), (None, Some(9_007_199_254_740_992.0)));
    assert_eq!(number(-9_007_199_254_740_992.0).as_i64(), None);
}

/// An answer object with many keys decodes in linear time (keys are not looked up one by one as
/// they arrive), and a key given twice still keeps its first place and its last value.
#[test]
fn an_object_with_many_keys_decodes() {
    let n = 200_000;
    let mut text = String::from("{");
    for i in 0..n {
        text.push_str(&format!("\"k{i}\":{i},"));
    }
    text.push_str("\"k0\":\"last\"}");
    let v: Json = decode(&text).unwrap();
    let m = v.as_object().unwrap();
    assert_eq!(m.len(), n);
    assert_eq!(m.keys().next().map(String::as_str), Some("k0"));
    assert_eq!(v["k0"], "last");
    assert_eq!(v[&*format!("k{}", n - 1)].as_u64(), Some(n as u64 - 1));
}
