//! The upload's and the token API's unit tests, on requests and answers built by hand.

use super::*;
use crate::core::Response;

/// A JSON value from its text (the tests' options and expected results).
fn j(text: &str) -> Json {
    crate::core::codec::decode(text).unwrap()
}
use crate::protocols::oneshot::OneShot;

const MIB: u64 = 1024 * 1024;

fn info(size: u64) -> FileInfo {
    FileInfo { name: "movie.mp4".into(), size, mime: "video/mp4".into(), last_modified: 0.0 }
}

fn send(p: &mut ApiVideo) -> Request {
    match p.next() {
        Next::Send(r) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn ok(body: &str) -> Outcome {
    Outcome::Response(Response::new(201).with_body(body))
}

fn fields(req: &Request) -> (Option<String>, Slice, String) {
    let Body::Multipart(parts) = &req.body else { panic!("multipart expected") };
    let mut vid = None;
    let mut file = None;
    for p in parts {
        match p {
            Part::Field { name, value } if name == "videoId" => vid = Some(value.clone()),
            Part::File { name, slice, filename, .. } if name == "file" => file = Some((*slice, filename.clone())),
            other => panic!("unexpected part {other:?}"),
        }
    }
    let (slice, filename) = file.expect("file part");
    (vid, slice, filename)
}

#[test]
fn parts_carry_ranges_and_video_id() {
    let mut p = ApiVideo::file("http://127.0.0.1:1/", "to1abc", &info(12 * MIB + 3), Some("My clip"), None, Some(5 * MIB)).unwrap();
    let r1 = send(&mut p);
    assert_eq!(r1.url, "http://127.0.0.1:1/upload?token=to1abc");
    assert_eq!(r1.get_header("content-range"), Some("part 1/3"));
    let (vid, s, name) = fields(&r1);
    assert_eq!((vid, s.start, s.end, name.as_str()), (None, 0, 5 * MIB, "My clip"));
    assert_eq!(p.next(), Next::Wait, "part 2 waits for part 1's videoId");
    assert_eq!(p.handle(&r1, ok(r#"{"videoId":"vi123"}"#)), Verdict::Continue);
    let r2 = send(&mut p);
    assert_eq!(r2.get_header("content-range"), Some("part 2/3"));
    assert_eq!(fields(&r2).0.as_deref(), Some("vi123"));
    p.handle(&r2, ok(r#"{"videoId":"vi123"}"#));
    let r3 = send(&mut p);
    assert_eq!(r3.get_header("content-range"), Some("part 3/3"));
    assert_eq!(fields(&r3).1, Slice { file: 0, start: 10 * MIB, end: 12 * MIB + 3 });
    p.handle(&r3, ok(r#"{"videoId":"vi123","title":"My clip","assets":{"hls":"x"}}"#));
    assert_eq!(p.confirmed(), 12 * MIB + 3);
    match p.next() {
        Next::Done(j) => assert_eq!(j["title"].as_str(), Some("My clip")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lost_answer_then_collides_moves_on() {
    let mut p = ApiVideo::file("http://x", "tok1", &info(11 * MIB), None, Some("vi9".into()), Some(5 * MIB)).unwrap();
    let r1 = send(&mut p);
    assert_eq!(fields(&r1).0.as_deref(), Some("vi9"), "a given videoId goes in the first part");
    assert!(matches!(p.handle(&r1, Outcome::Network("reset".into())), Verdict::Retry { .. }));
    let again = send(&mut p);
    assert_eq!(again.get_header("content-range"), Some("part 1/3"));
    let collide = Outcome::Response(Response::new(400).with_body(r#"{"title":"The part 1 collides with a previously uploaded part.","status":400}"#));
    assert_eq!(p.handle(&again, collide), Verdict::Continue);
    let r2 = send(&mut p);
    assert_eq!(r2.get_header("content-range"), Some("part 2/3"));
    // A 400 "collides" without a lost answer is a real error.
    let collide = Outcome::Response(Response::new(400).with_body(r#"{"title":"part collides","status":400}"#));
    assert!(matches!(p.handle(&r2, collide), Verdict::Fail(e) if e.status == Some(400)));
}

#[test]
fn lost_last_answer_resolves_with_video_id() {
    let mut p = ApiVideo::file("http://x", "tok1", &info(3 * MIB), None, None, None).unwrap();
    let r = send(&mut p);
    p.handle(&r, Outcome::Response(Response::new(201).with_body(r#"{"videoId":"viA"}"#)));
    assert!(matches!(p.next(), Next::Done(j) if j["videoId"] == "viA"));

    let mut p = ApiVideo::file("http://x", "tok1", &info(6 * MIB), None, None, Some(5 * MIB)).unwrap();
    let r = send(&mut p);
    p.handle(&r, ok(r#"{"videoId":"viB"}"#));
    let last = send(&mut p);
    assert!(matches!(p.handle(&last, Outcome::Response(Response::new(502))), Verdict::Retry { .. }));
    let again = send(&mut p);
    let v = p.handle(&again, Outcome::Response(Response::new(400).with_body(r#"{"title":"video source already uploaded"}"#)));
    assert_eq!(v, Verdict::Continue);
    assert_eq!(p.next(), Next::Done(j(r#"{"videoId": "viB"}"#)));

    // The wording api.video really uses for a resent last part.
    let mut p = ApiVideo::file("http://x", "tok1", &info(6 * MIB), None, Some("viC".into()), Some(5 * MIB)).unwrap();
    let r = send(&mut p);
    p.handle(&r, ok(r#"{"videoId":"viC"}"#));
    let last = send(&mut p);
    assert!(matches!(p.handle(&last, Outcome::Network("reset".into())), Verdict::Retry { .. }));
    let again = send(&mut p);
    let body = r#"{"type":"https://docs.api.video/reference/video-source-already-uploaded","title":"This video source has already been uploaded.","name":"","status":400}"#;
    assert_eq!(p.handle(&again, Outcome::Response(Response::new(400).with_body(body))), Verdict::Continue);
    assert_eq!(p.next(), Next::Done(j(r#"{"videoId": "viC"}"#)));
}

#[test]
fn statuses() {
    let mk = || ApiVideo::file("http://x", "tok1", &info(MIB), None, None, None).unwrap();
    let mut p = mk();
    let r = send(&mut p);
    let v = p.handle(&r, Outcome::Response(Response::new(401).with_body(r#"{"title":"The upload token is invalid or expired","status":401}"#)));
    assert!(matches!(v, Verdict::Fail(ref e) if e.code == ErrorCode::Auth && e.status == Some(401) && !e.message.contains("tok1")));
    let mut p = mk();
    let r = send(&mut p);
    let v = p.handle(&r, Outcome::Response(Response::new(429).with_header("X-RateLimit-Retry-After", "7")));
    assert_eq!(
        v,
        Verdict::Throttled {
            error: status_error(PROVIDER, "part upload", &Response::new(429)),
            retry_after: Some(crate::core::retry::RetryAfter::Delay(7000))
        }
    );
    let mut p = mk();
    let r = send(&mut p);
    assert!(matches!(p.handle(&r, Outcome::Response(Response::new(201).with_body("<html>"))), Verdict::Fail(e) if e.code == ErrorCode::Protocol));
    let mut p = mk();
    let r = send(&mut p);
    assert!(matches!(p.handle(&r, Outcome::Response(Response::new(201).with_body("{}"))), Verdict::Fail(e) if e.code == ErrorCode::Protocol));
}

#[test]
fn validation() {
    let code = |r: Result<ApiVideo, UploadError>| r.err().map(|e| e.code);
    assert_eq!(code(ApiVideo::file("http://x", "", &info(MIB), None, None, None)), Some(ErrorCode::InvalidInput));
    assert_eq!(code(ApiVideo::file("http://x", "a b", &info(MIB), None, None, None)), Some(ErrorCode::InvalidInput));
    assert_eq!(code(ApiVideo::file("http://x", "t", &info(0), None, None, None)), Some(ErrorCode::InvalidInput));
    assert_eq!(code(ApiVideo::file("http://x", "t", &info(MIB), None, None, Some(5 * MIB - 1))), Some(ErrorCode::InvalidInput));
    assert_eq!(code(ApiVideo::file("http://x", "t", &info(MIB), None, None, Some(128 * MIB + 1))), Some(ErrorCode::InvalidInput));
    assert_eq!(code(ApiVideo::file("http://x", "t", &info(MAX_TOTAL + 1), None, None, None)), Some(ErrorCode::TooLarge));
    assert_eq!(code(ApiVideo::file("http://x", "t", &info(MIB), None, Some("../x".into()), None)), Some(ErrorCode::InvalidInput));
    assert_eq!(code(ApiVideo::file("relative", "t", &info(MIB), None, None, None)), Some(ErrorCode::InvalidInput));
    // Over 4 GiB: part ranges beyond 2^32.
    let mut p = ApiVideo::file("http://x", "t", &info(5 << 30), None, Some("vi1".into()), Some(128 * MIB)).unwrap();
    let r = send(&mut p);
    assert_eq!(r.get_header("content-range"), Some("part 1/40"));
}

#[test]
fn progressive_parts() {
    let mut p = ApiVideo::progressive("http://x", "tok1", None, None).unwrap();
    assert_eq!(p.next(), Next::Wait);
    assert!(p.push_input(0, MIB, false).is_err(), "non-last parts need 5 MiB");
    p.push_input(0, 6 * MIB, false).unwrap();
    let r1 = send(&mut p);
    assert_eq!(r1.get_header("content-range"), Some("part 1/*"));
    assert_eq!(fields(&r1).2, "file");
    p.handle(&r1, ok(r#"{"videoId":"viP"}"#));
    assert_eq!(p.next(), Next::Wait);
    assert_eq!(p.total(), 6 * MIB);
    p.push_input(1, 2 * MIB, true).unwrap();
    assert!(p.push_input(2, 1, true).is_err(), "no input after the last part");
    let r2 = send(&mut p);
    assert_eq!(r2.get_header("content-range"), Some("part 2/2"));
    assert_eq!(fields(&r2), (Some("viP".into()), Slice { file: 1, start: 0, end: 2 * MIB }, "file".into()));
    p.handle(&r2, ok(r#"{"videoId":"viP","title":"file"}"#));
    assert!(matches!(p.next(), Next::Done(_)));
    assert_eq!(p.confirmed(), 8 * MIB);
}

#[test]
fn token_api_requests() {
    let mut c = create_token("https://ws.api.video", "acc", Some(3600)).unwrap();
    let Next::Send(r) = c.next() else { panic!() };
    assert_eq!((r.method, r.url.as_str(), r.get_header("authorization")), (Method::Post, "https://ws.api.video/upload-tokens", Some("Bearer acc")));
    assert_eq!(r.body, Body::json(r#"{"ttl":3600}"#.into()));
    let q = j(r#"{"sortBy": "ttl", "sortOrder": "desc", "currentPage": 2, "pageSize": 10}"#);
    let mut l = list_tokens("https://ws.api.video", "acc", &q).unwrap();
    let Next::Send(r) = l.next() else { panic!() };
    assert_eq!(r.url, "https://ws.api.video/upload-tokens?sortBy=ttl&sortOrder=desc&currentPage=2&pageSize=10");
    assert!(list_tokens("h://x", "acc", &j(r#"{"pageSize": 101}"#)).is_err());
    assert!(list_tokens("h://x", "acc", &j(r#"{"sortBy": "name"}"#)).is_err());
    let mut d = delete_token("https://ws.api.video", "acc", "to1").unwrap();
    let Next::Send(r) = d.next() else { panic!() };
    assert_eq!((r.method, r.url.as_str()), (Method::Delete, "https://ws.api.video/upload-tokens/to1"));
    d.handle(&r, Outcome::Response(Response::new(204)));
    assert_eq!(d.next(), Next::Done(j(r#"{}"#)));
    assert!(get_token("x", "acc", "../admin").is_err());
    let mut a = auth_api_key("https://ws.api.video", "secretkey").unwrap();
    let Next::Send(r) = a.next() else { panic!() };
    let v = a.handle(&r, Outcome::Response(Response::new(400).with_body("bad key secretkey")));
    let Verdict::Fail(_) = v else { panic!("{v:?}") };
    assert!(a.secrets().contains(&"secretkey".to_string()));
}

/// What the typed answers refuse that the key lookups let through (a wrong type was read as
/// "absent", a word anywhere in an error body counted).
#[test]
fn typed_answers_refuse_wrong_shapes() {
    // A later part's answer whose videoId is not a string: the server speaks something else.
    let mut p = ApiVideo::file("http://x", "tok1", &info(11 * MIB), None, None, Some(5 * MIB)).unwrap();
    let r1 = send(&mut p);
    p.handle(&r1, ok(r#"{"videoId":"vi1"}"#));
    let r2 = send(&mut p);
    let v = p.handle(&r2, ok(r#"{"videoId":42}"#));
    assert!(matches!(v, Verdict::Fail(ref e) if e.code == ErrorCode::Protocol && e.message.contains("not a Video object")), "{v:?}");
    // A 2xx answer that is JSON but no object.
    for body in ["[]", "\"stored\"", "null"] {
        let mut p = ApiVideo::file("http://x", "tok1", &info(MIB), None, Some("vi1".into()), None).unwrap();
        let r = send(&mut p);
        assert!(matches!(p.handle(&r, ok(body)), Verdict::Fail(e) if e.code == ErrorCode::Protocol), "{body}");
    }
    // After a lost answer, only api.video's title says "collides": the word elsewhere in
    // another error (its detail, its field name) is that error.
    let mut p = ApiVideo::file("http://x", "tok1", &info(11 * MIB), None, Some("vi9".into()), Some(5 * MIB)).unwrap();
    let r1 = send(&mut p);
    p.handle(&r1, Outcome::Network("reset".into()));
    let again = send(&mut p);
    let other = r#"{"type":"https://docs.api.video/reference/invalid-attribute","title":"This attribute is invalid.","name":"collides","detail":"The part overlaps the end of the file.","status":400}"#;
    let v = p.handle(&again, Outcome::Response(Response::new(400).with_body(other)));
    assert!(matches!(v, Verdict::Fail(ref e) if e.status == Some(400) && e.code == ErrorCode::Http), "{v:?}");

    // Token API answers without their fields are protocol errors, not results.
    let token_answer = |shot: Result<OneShot, UploadError>, body: &str| {
        let mut c = shot.unwrap();
        let Next::Send(r) = c.next() else { panic!() };
        c.handle(&r, Outcome::Response(Response::new(200).with_body(body)))
    };
    let bad = |v: Verdict| matches!(v, Verdict::Fail(e) if e.code == ErrorCode::Protocol && e.message.contains("expected fields"));
    assert!(bad(token_answer(create_token("http://x", "acc", None), r#"{"ttl":0}"#)));
    assert!(bad(token_answer(get_token("http://x", "acc", "to1"), r#"{"token":7}"#)));
    assert!(bad(token_answer(list_tokens("http://x", "acc", &j(r#"{}"#)), r#"{"data":{},"pagination":{}}"#)));
    assert!(bad(token_answer(auth_api_key("http://x", "key"), r#"{"token_type":"Bearer"}"#)));
    // …and a complete one is the result, with the fields the page reads.
    let mut c = create_token("http://x", "acc", Some(60)).unwrap();
    let Next::Send(r) = c.next() else { panic!() };
    let body = r#"{"token":"to1","ttl":60,"createdAt":"2026-01-01T00:00:00+00:00","expiresAt":"2026-01-01T00:01:00+00:00"}"#;
    assert_eq!(c.handle(&r, Outcome::Response(Response::new(200).with_body(body))), Verdict::Continue);
    assert_eq!(c.next(), Next::Done(codec::decode::<Json>(body).unwrap()));
    let mut l = list_tokens("http://x", "acc", &j(r#"{}"#)).unwrap();
    let Next::Send(r) = l.next() else { panic!() };
    let body = r#"{"data":[{"token":"to1","ttl":0,"createdAt":"2026-01-01T00:00:00+00:00"}],"pagination":{"currentPage":1,"pageSize":25,"pagesTotal":1,"itemsTotal":1,"currentPageItems":1,"links":[{"rel":"self","uri":"/upload-tokens?currentPage=1"}]}}"#;
    l.handle(&r, Outcome::Response(Response::new(200).with_body(body)));
    assert_eq!(l.next(), Next::Done(codec::decode::<Json>(body).unwrap()), "no expiresAt for a token that never expires");

    // A listing option of the wrong type is refused by name (it used to be dropped).
    let e = list_tokens("http://x", "acc", &j(r#"{"sortBy": 5, "pageSize": 10}"#)).err().unwrap();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::InvalidInput, "sortBy must be 'createdAt' or 'ttl'"));
    let e = list_tokens("http://x", "acc", &j(r#"{"currentPage": 1.5}"#)).err().unwrap();
    assert_eq!(e.message, "currentPage must be an integer ≥ 1");
    let e = list_tokens("http://x", "acc", &j(r#"{"currentPage": 0}"#)).err().unwrap();
    assert_eq!(e.message, "currentPage must be an integer ≥ 1");
}

#[test]
fn session_and_record_are_typed() {
    let mut p = ApiVideo::file("http://x", "tok1", &info(11 * MIB), None, None, Some(5 * MIB)).unwrap();
    assert_eq!(p.session(), Json::Null);
    assert_eq!(session_video_id(&p.session()), None);
    let r1 = send(&mut p);
    p.handle(&r1, ok(r#"{"videoId":"viS"}"#));
    assert_eq!(codec::encode(&p.session()), r#"{"videoId":"viS","partsDone":1}"#);
    assert_eq!(session_video_id(&p.session()).as_deref(), Some("viS"));
    // A record field of another type is no record (it used to read as "absent").
    let mut q = ApiVideo::file("http://x", "tok1", &info(11 * MIB), None, None, Some(5 * MIB)).unwrap();
    let e = q.restore(&j(r#"{"videoId": "viS", "partsDone": "1", "chunkSize": 5242880}"#)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    q.restore(&p.resume_state().unwrap()).unwrap();
    assert_eq!(q.confirmed(), 5 * MIB);
}
