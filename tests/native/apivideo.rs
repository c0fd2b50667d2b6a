//! api.video protocol, natively, against a simulated server with api.video's rules (a part is
//! accepted once; a resend collides; the last part completes the video; later requests into a
//! complete video get "already been uploaded"). Property: whatever mix of 5xx, network errors
//! before storing and answers lost after storing, the upload completes with every byte stored
//! exactly once, in order — it never ends in a 400.
#![cfg(not(target_arch = "wasm32"))]

use chunkup::core::{Body, FileInfo, Json, Outcome, Part, Request, Response};
use chunkup::protocols::apivideo::ApiVideo;
use chunkup::protocols::{Next, Protocol, Verdict};
use proptest::prelude::*;
use std::collections::BTreeMap;

const MIB: u64 = 1024 * 1024;

#[derive(Default)]
struct Server {
    /// part number → (file index, start, end)
    parts: BTreeMap<u64, (usize, u64, u64)>,
    total: Option<u64>,
    complete: bool,
    video_id: Option<String>,
    requests: usize,
    collisions: usize,
    /// Containers left behind by a part 1 resent without videoId.
    orphans: usize,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    Status5xx,
    NetworkBefore,
    LostAnswer,
}

fn parse_range(req: &Request) -> (u64, Option<u64>) {
    let v = req.get_header("content-range").expect("Content-Range on every part");
    let rest = v.strip_prefix("part ").expect("part form");
    let (k, n) = rest.split_once('/').expect("k/n");
    (k.parse().expect("k"), if n == "*" { None } else { Some(n.parse().expect("n")) })
}

fn fields(req: &Request) -> (Option<String>, usize, u64, u64) {
    let Body::Multipart(parts) = &req.body else { panic!("multipart expected") };
    let mut vid = None;
    let mut slice = None;
    for p in parts {
        match p {
            Part::Field { name, value } if name == "videoId" => vid = Some(value.clone()),
            Part::File { name, slice: s, .. } if name == "file" => slice = Some(*s),
            other => panic!("unexpected part {other:?}"),
        }
    }
    let s = slice.expect("file part");
    (vid, s.file, s.start, s.end)
}

fn json_resp(status: u16, body: String) -> Outcome {
    Outcome::Response(Response::new(status).with_body(&body))
}

impl Server {
    /// Handles one request (no fault): the answer api.video would give.
    fn handle(&mut self, req: &Request) -> Outcome {
        self.requests += 1;
        let (k, n) = parse_range(req);
        let (vid, file, start, end) = fields(req);
        if self.complete && vid.is_some() {
            self.collisions += 1;
            return json_resp(400, r#"{"title":"This video source has already been uploaded.","status":400}"#.into());
        }
        if let (Some(v), Some(mine)) = (&vid, &self.video_id) {
            assert_eq!(v, mine, "the videoId from the first answer");
        }
        if self.video_id.is_some() && vid.is_none() {
            // No videoId: api.video makes a new container (the old one is left as it is).
            assert_eq!(k, 1, "only part 1 may go without videoId");
            self.orphans += 1;
            self.parts.clear();
            self.total = None;
            self.complete = false;
            self.video_id = Some(format!("viSIM{}", self.orphans));
        }
        if self.parts.contains_key(&k) {
            self.collisions += 1;
            return json_resp(400, r#"{"title":"The \"part\" value in the \"Content-Range\" header collides with a previous one you already sent for this video.","status":400}"#.into());
        }
        let last = n == Some(k);
        if !last {
            assert!(end - start >= 5 * MIB, "non-last parts are at least 5 MiB");
        }
        if let (Some(t), Some(n)) = (self.total, n) {
            assert_eq!(t, n, "total_parts never changes");
        }
        if n.is_some() {
            self.total = n;
        }
        self.parts.insert(k, (file, start, end));
        let id = self.video_id.get_or_insert_with(|| "viSIM".into()).clone();
        if self.total.is_some_and(|t| self.parts.len() as u64 == t) {
            self.complete = true;
            return json_resp(201, format!(r#"{{"videoId":"{id}","title":"t","assets":{{"hls":"x"}}}}"#));
        }
        json_resp(201, format!(r#"{{"videoId":"{id}"}}"#))
    }

    fn answer(&mut self, req: &Request, fault: Fault) -> Outcome {
        match fault {
            Fault::None => self.handle(req),
            Fault::Status5xx => Outcome::Response(Response::new(503)),
            Fault::NetworkBefore => Outcome::Network("connection reset".into()),
            Fault::LostAnswer => {
                let _ = self.handle(req);
                Outcome::Network("connection reset after the server answered".into())
            }
        }
    }
}

/// Drives `p` to the end; `faults[i]` is applied to request i (None past the end).
fn drive(p: &mut ApiVideo, server: &mut Server, faults: &[Fault]) -> Result<Json, String> {
    let mut i = 0;
    for _ in 0..10_000 {
        match p.next() {
            Next::Send(req) => {
                let fault = faults.get(i).copied().unwrap_or(Fault::None);
                i += 1;
                match p.handle(&req, server.answer(&req, fault)) {
                    Verdict::Fail(e) => return Err(format!("{e:?}")),
                    _ => continue,
                }
            }
            Next::Done(j) => return Ok(j),
            Next::Fail(e) => return Err(format!("{e:?}")),
            Next::Wait => return Err("waiting with nothing in flight".into()),
            #[allow(unreachable_patterns)]
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    Err("no end".into())
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        6 => Just(Fault::None),
        1 => Just(Fault::Status5xx),
        1 => Just(Fault::NetworkBefore),
        1 => Just(Fault::LostAnswer),
    ]
}

/// The end of the bytes the stored parts cover, if they follow each other from 0 in part order.
fn covered(server: &Server) -> Result<u64, String> {
    let mut next = 0;
    for (k, (_, s, e)) in &server.parts {
        if *s != next {
            return Err(format!("part {k} starts at {s}, expected {next}"));
        }
        next = *e;
    }
    Ok(next)
}

fn info(size: u64) -> FileInfo {
    FileInfo { name: "movie.mp4".into(), size, mime: "video/mp4".into(), last_modified: 0.0 }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn file_upload_survives_faults(size in 1u64..(40 * MIB), chunk_mib in 5u64..12, faults in proptest::collection::vec(fault(), 0..30), vid in any::<bool>()) {
        let chunk = chunk_mib * MIB;
        // With a caller-given videoId, even a lost first answer is recoverable.
        let given = vid.then(|| "viSIM".to_string());
        let mut p = ApiVideo::file("http://av.test", "tok1", &info(size), None, given.clone(), Some(chunk)).unwrap();
        let mut server = Server { video_id: given.clone(), ..Server::default() };
        // Without a videoId, a lost answer of part 1 makes the resend create a new video: the
        // upload still completes, in that new video.
        let result = drive(&mut p, &mut server, &faults);
        prop_assert!(result.is_ok(), "{:?}", result);
        prop_assert!(server.complete);
        // Parts cover [0, size) in order, each once.
        prop_assert_eq!(covered(&server), Ok(size));
        prop_assert_eq!(p.confirmed(), size);
        let j = result.unwrap();
        prop_assert_eq!(j.get("videoId").and_then(Json::as_str), server.video_id.as_deref());
        if given.is_some() {
            prop_assert_eq!(server.orphans, 0);
        }
    }

    #[test]
    fn progressive_upload_survives_faults(blocks in proptest::collection::vec(5u64..9, 1..6), tail in 0u64..(3 * MIB), faults in proptest::collection::vec(fault(), 0..20)) {
        let mut p = ApiVideo::progressive("http://av.test", "tok1", None, Some("viSIM".into())).unwrap();
        let mut server = Server { video_id: Some("viSIM".into()), ..Server::default() };
        let mut total = 0;
        let mut fi = 0;
        for (idx, b) in blocks.iter().enumerate() {
            p.push_input(idx, b * MIB, false).unwrap();
            total += b * MIB;
            // Send what can be sent now.
            loop {
                match p.next() {
                    Next::Send(req) => {
                        let f = faults.get(fi).copied().unwrap_or(Fault::None);
                        fi += 1;
                        let v = p.handle(&req, server.answer(&req, f));
                        prop_assert!(!matches!(v, Verdict::Fail(_)), "{:?}", v);
                    }
                    Next::Wait => break,
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
        }
        let last_size = if tail == 0 && total > 0 { 0 } else { tail };
        p.push_input(blocks.len(), last_size, true).unwrap();
        total += last_size;
        let rest: Vec<Fault> = faults.iter().skip(fi).copied().collect();
        let result = drive(&mut p, &mut server, &rest);
        prop_assert!(result.is_ok(), "{:?}", result);
        prop_assert!(server.complete);
        let stored: u64 = server.parts.values().map(|(_, s, e)| e - s).sum();
        prop_assert_eq!(stored, total);
        // Part k carries input k, in order.
        for (k, (file, _, _)) in &server.parts {
            prop_assert_eq!(*file as u64, k - 1);
        }
    }
}

#[test]
fn lost_first_answer_without_video_id_starts_over_in_a_new_video() {
    // Documented limit: with no videoId the resend of part 1 cannot be linked to the first
    // container; api.video makes a new one, and the upload completes there (the first container
    // keeps part 1 only).
    let mut p = ApiVideo::file("http://av.test", "tok1", &info(12 * MIB), None, None, Some(5 * MIB)).unwrap();
    let Next::Send(r1) = p.next() else { panic!("part 1") };
    assert!(matches!(p.handle(&r1, Outcome::Network("lost".into())), Verdict::Retry { .. }));
    let Next::Send(again) = p.next() else { panic!("resend") };
    assert_eq!(fields(&again).0, None, "still no videoId to send");
    assert_eq!(again.get_header("content-range"), Some("part 1/3"));
    let mut fresh = Server::default();
    let result = drive_from(&mut p, &mut fresh, again);
    assert!(result.is_ok(), "{result:?}");
    assert!(fresh.complete);
    assert_eq!(fresh.collisions, 0);
}

/// Like `drive`, starting with an already taken request.
fn drive_from(p: &mut ApiVideo, server: &mut Server, first: Request) -> Result<Json, String> {
    if let Verdict::Fail(e) = p.handle(&first, server.handle(&first)) {
        return Err(format!("{e:?}"));
    }
    drive(p, server, &[])
}

/// Drives `p` with up to `max_parallel()` parts in flight, answering them in the order `order`
/// picks (an index into the parts in flight), with `faults[i]` on request i.
fn drive_parallel(p: &mut ApiVideo, server: &mut Server, faults: &[Fault], order: &[usize]) -> Result<(Json, usize), String> {
    let mut in_flight: Vec<Request> = Vec::new();
    let (mut sent, mut answered, mut most) = (0usize, 0usize, 0usize);
    for _ in 0..10_000 {
        // Fill the window.
        while in_flight.len() < p.max_parallel() {
            match p.next() {
                Next::Send(req) => {
                    in_flight.push(req);
                    sent += 1;
                }
                Next::Done(j) if in_flight.is_empty() => return Ok((j, most)),
                Next::Fail(e) => return Err(format!("{e:?}")),
                _ => break,
            }
        }
        most = most.max(in_flight.len());
        if in_flight.is_empty() {
            return match p.next() {
                Next::Done(j) => Ok((j, most)),
                other => Err(format!("nothing in flight and {other:?}")),
            };
        }
        let pick = order.get(answered).copied().unwrap_or(0) % in_flight.len();
        let req = in_flight.remove(pick);
        let fault = faults.get(answered).copied().unwrap_or(Fault::None);
        answered += 1;
        if let Verdict::Fail(e) = p.handle(&req, server.answer(&req, fault)) {
            return Err(format!("{e:?}"));
        }
    }
    Err(format!("no end after {sent} requests"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Parts in parallel, answered in any order, through any faults: every byte stored once, in
    /// its place; never more than `concurrency` parts in flight, and only one until the video
    /// exists.
    #[test]
    fn parallel_parts_survive_faults_in_any_order(
        size in 1u64..(60 * MIB),
        parallel in 1usize..=4,
        faults in proptest::collection::vec(fault(), 0..30),
        order in proptest::collection::vec(0usize..8, 0..40),
        vid in any::<bool>(),
    ) {
        let given = vid.then(|| "viSIM".to_string());
        let mut p = ApiVideo::file("http://av.test", "tok1", &info(size), None, given.clone(), Some(5 * MIB)).unwrap().with_parallel(parallel).unwrap();
        let mut server = Server { video_id: given.clone(), ..Server::default() };
        let result = drive_parallel(&mut p, &mut server, &faults, &order);
        prop_assert!(result.is_ok(), "{:?}", result);
        let (j, most) = result.unwrap();
        prop_assert!(most <= parallel);
        prop_assert!(server.complete);
        prop_assert_eq!(covered(&server), Ok(size));
        prop_assert_eq!(p.confirmed(), size);
        prop_assert_eq!(j.get("videoId").and_then(Json::as_str), server.video_id.as_deref());
    }
}

#[test]
fn parts_after_the_first_go_out_together() {
    let mut p = ApiVideo::file("http://av.test", "tok1", &info(21 * MIB), None, None, Some(5 * MIB)).unwrap();
    assert_eq!(p.max_parallel(), 2, "two parts at once by default");
    let Next::Send(r1) = p.next() else { panic!("part 1") };
    assert_eq!(p.next(), Next::Wait, "part 1 creates the video: nothing else until it answers");
    let mut server = Server::default();
    p.handle(&r1, server.handle(&r1));
    let Next::Send(r2) = p.next() else { panic!("part 2") };
    let Next::Send(r3) = p.next() else { panic!("part 3 alongside part 2") };
    assert_eq!((r2.get_header("content-range"), r3.get_header("content-range")), (Some("part 2/5"), Some("part 3/5")));
    assert_eq!(fields(&r3).0.as_deref(), Some("viSIM"), "later parts name the video");
    // Part 3 answers first; part 2 is lost after storing and its resend collides: still complete.
    p.handle(&r3, server.handle(&r3));
    p.handle(&r2, server.answer(&r2, Fault::LostAnswer));
    let rest = drive(&mut p, &mut server, &[]);
    assert!(rest.is_ok(), "{rest:?}");
    assert!(server.complete);
    assert_eq!(server.collisions, 1);
    // One at a time when asked.
    let p = ApiVideo::file("http://av.test", "tok1", &info(21 * MIB), None, None, Some(5 * MIB)).unwrap().with_parallel(1).unwrap();
    assert_eq!(p.max_parallel(), 1);
    assert!(ApiVideo::file("http://av.test", "tok1", &info(MIB), None, None, None).unwrap().with_parallel(0).is_err());
    assert!(ApiVideo::file("http://av.test", "tok1", &info(MIB), None, None, None).unwrap().with_parallel(7).is_err());
    assert!(ApiVideo::progressive("http://av.test", "tok1", None, None).unwrap().with_parallel(2).is_err(), "a stream goes part by part");
}

/// With the default concurrency, the first part's speed decides: faster than any 1 Gbit/s uplink
/// (a LAN or loopback, where parallel parts only compete for CPU) → one at a time; slower → two.
/// A concurrency the page chose is kept whatever the speed.
#[test]
fn default_concurrency_follows_the_first_parts_speed() {
    let start = |parallel: Option<usize>| {
        let p = ApiVideo::file("http://av.test", "tok1", &info(21 * MIB), None, None, Some(5 * MIB)).unwrap();
        let mut p = match parallel {
            Some(n) => p.with_parallel(n).unwrap(),
            None => p,
        };
        let mut server = Server::default();
        let Next::Send(r1) = p.next() else { panic!("part 1") };
        (p, server.handle(&r1), r1, server)
    };
    let part = 5 * MIB;
    // 5 MiB in 20 ms = 250 MiB/s: loopback-fast.
    let (mut p, answer, r1, mut server) = start(None);
    p.observe(&r1, part, 20.0);
    p.handle(&r1, answer);
    assert_eq!(p.max_parallel(), 1, "a fast first part: the rest go one at a time");
    let Next::Send(r2) = p.next() else { panic!("part 2") };
    assert_eq!(p.next(), Next::Wait, "no second part in flight on a fast link");
    p.handle(&r2, server.handle(&r2));
    assert!(drive(&mut p, &mut server, &[]).is_ok());
    assert!(server.complete);
    // 5 MiB in 500 ms = 10 MiB/s: a real uplink keeps two parts in flight.
    let (mut p, answer, r1, _) = start(None);
    p.observe(&r1, part, 500.0);
    p.handle(&r1, answer);
    assert_eq!(p.max_parallel(), 2);
    assert!(matches!((p.next(), p.next()), (Next::Send(_), Next::Send(_))), "two parts at once on a slow link");
    // Decided once: a later fast part does not lower it.
    let (mut p, answer, r1, _) = start(None);
    p.observe(&r1, part, 500.0);
    p.handle(&r1, answer);
    let Next::Send(r2) = p.next() else { panic!("part 2") };
    p.observe(&r2, part, 1.0);
    assert_eq!(p.max_parallel(), 2, "only the first part decides");
    // A concurrency the page chose stays, however fast the link.
    let (mut p, answer, r1, _) = start(Some(3));
    p.observe(&r1, part, 1.0);
    p.handle(&r1, answer);
    assert_eq!(p.max_parallel(), 3);
    // A part under 1 MiB tells nothing: the next one decides.
    let (mut p, _, r1, _) = start(None);
    p.observe(&r1, 1000, 0.01);
    assert_eq!(p.max_parallel(), 2, "too small to tell");
    p.observe(&r1, part, 20.0);
    assert_eq!(p.max_parallel(), 1);
}

/// A failed upload keeps the video it made (the page's `videoId` getter reads the session) but
/// no longer offers to be resumed, sends nothing more, and a late answer changes nothing. An
/// upload that failed cannot be restored either, even before any part was stored: it has begun.
#[test]
fn a_failed_upload_keeps_its_video_and_is_no_longer_resumable() {
    let mut p = ApiVideo::file("http://av.test", "tok1", &info(21 * MIB), None, None, Some(5 * MIB)).unwrap().with_parallel(2).unwrap();
    let mut server = Server::default();
    let Next::Send(r1) = p.next() else { panic!("part 1") };
    p.handle(&r1, server.handle(&r1));
    assert!(p.resume_state().is_some(), "part 1 stored: resumable");
    let Next::Send(r2) = p.next() else { panic!("part 2") };
    let Next::Send(r3) = p.next() else { panic!("part 3") };
    let expired = Outcome::Response(Response::new(401).with_body(r#"{"title":"The upload token is invalid or expired","status":401}"#));
    assert!(matches!(p.handle(&r2, expired), Verdict::Fail(ref e) if e.status == Some(401)));
    assert_eq!(p.session(), Json::from(serde_json::json!({"videoId": "viSIM", "partsDone": 1})));
    assert_eq!(p.resume_key(), Some("viSIM"));
    assert_eq!(p.resume_state(), None, "a failed upload is not offered for resuming");
    assert_eq!(p.handle(&r3, server.handle(&r3)), Verdict::Continue, "a late answer changes nothing");
    assert!(matches!(p.next(), Next::Fail(e) if e.status == Some(401)));
    assert_eq!(p.confirmed(), 5 * MIB, "the late answer is not counted");

    let mut p = ApiVideo::file("http://av.test", "tok1", &info(12 * MIB), None, None, Some(5 * MIB)).unwrap();
    let Next::Send(r1) = p.next() else { panic!("part 1") };
    assert!(matches!(p.handle(&r1, Outcome::Response(Response::new(403))), Verdict::Fail(_)));
    assert_eq!(p.session(), Json::Null, "no video was made");
    let record = Json::from(serde_json::json!({"videoId": "vi1", "partsDone": 1, "chunkSize": 5 * MIB}));
    let e = p.restore(&record).unwrap_err();
    assert_eq!(e.message, "cannot resume: only a file upload that has not begun can be resumed");
    assert!(matches!(p.next(), Next::Fail(e) if e.status == Some(403)));
}
