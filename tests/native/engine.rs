//! The shared engine, natively, with a scripted protocol: retry delays and their exhaustion,
//! `Retry-After` (seconds and HTTP-date, capped), which statuses are retried (never a 4xx that
//! means "you are wrong"), 429 throttling, token refresh, pause/resume, abort, the stall and
//! regression guards, progress (monotonic, ends at total, bytesPerSecond), parallel requests,
//! and a property test over random answers.
#![cfg(not(target_arch = "wasm32"))]

use chunkup::core::retry::{status_is_retryable, RetryPolicy};
#[path = "common/json_ext.rs"]
mod json_ext;
use json_ext::JsonExt as _;
use chunkup::core::{Body, ErrorCode, Json, Method, Outcome, Request, Response, Slice, UploadError};
use chunkup::engine::{Action, Engine, State};
use chunkup::protocols::{default_verdict, network_retry, Next, Protocol, Verdict};
use drive::{Drive, Order};
use proptest::prelude::*;

#[path = "common/drive.rs"]
mod drive;

const P: &str = "test";

/// Uploads `total` bytes in `step`-byte PUTs, up to `parallel` at once. A 2xx confirms the
/// slice (or, with a `Stored` header, sets the confirmed count to that value); everything else
/// goes through `default_verdict`.
struct Counter {
    total: u64,
    step: u64,
    parallel: usize,
    confirmed: u64,
    /// Offsets of slices not yet confirmed and not in flight.
    todo: Vec<u64>,
    in_flight: Vec<u64>,
    token: String,
    resyncs: u32,
    cancels: u32,
    cleanups: u32,
    fail_next: Option<UploadError>,
}

impl Counter {
    fn new(total: u64, step: u64, parallel: usize) -> Counter {
        let todo = (0..total.div_ceil(step)).map(|i| i * step).rev().collect();
        Counter { total, step, parallel, confirmed: 0, todo, in_flight: Vec::new(), token: "secret-token-1".into(), resyncs: 0, cancels: 0, cleanups: 0, fail_next: None }
    }
}

impl Counter {
    /// Plans the parts from what the server says it holds.
    fn replan(&mut self) {
        let (c, step) = (self.confirmed, self.step);
        self.todo = (c / step..self.total.div_ceil(step)).map(|i| (i * step).max(c)).filter(|o| !self.in_flight.contains(o)).rev().collect();
    }
}

impl Protocol for Counter {
    fn provider(&self) -> &'static str {
        P
    }
    fn total(&self) -> u64 {
        self.total
    }
    fn confirmed(&self) -> u64 {
        self.confirmed
    }
    fn max_parallel(&self) -> usize {
        self.parallel
    }
    fn next(&mut self) -> Next {
        if let Some(e) = self.fail_next.take() {
            return Next::Fail(e);
        }
        if self.confirmed >= self.total && self.in_flight.is_empty() {
            return Next::Done(Json::object().with("ok", true));
        }
        if self.todo.is_empty() && self.in_flight.is_empty() && self.confirmed < self.total {
            self.replan();
        }
        match self.todo.pop() {
            Some(start) => {
                self.in_flight.push(start);
                let end = (start + self.step).min(self.total);
                Next::Send(
                    Request::new(Method::Put, format!("http://x/{start}"))
                        .bearer(&self.token)
                        .body(Body::Slice(Slice { file: 0, start, end }))
                        .tag(start),
                )
            }
            None => Next::Wait,
        }
    }
    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        self.in_flight.retain(|s| *s != req.tag);
        let Body::Slice(s) = req.body else { return Verdict::Continue };
        match outcome {
            Outcome::Response(r) if r.is_success() => {
                match r.header("Stored").and_then(|v| v.parse::<u64>().ok()) {
                    Some(n) => {
                        self.confirmed = n.min(self.total);
                        self.replan();
                    }
                    None => self.confirmed = (self.confirmed + s.len()).min(self.total),
                }
                Verdict::Continue
            }
            other => {
                self.todo.push(s.start);
                match other {
                    Outcome::Network(d) => network_retry(P, "part", &d),
                    Outcome::Response(r) => default_verdict(P, "part", &r),
                }
            }
        }
    }
    fn set_token(&mut self, token: &str) {
        self.token = token.to_string();
    }
    fn resync(&mut self) {
        self.resyncs += 1;
    }
    fn cancel(&mut self) -> Vec<Request> {
        self.cancels += 1;
        vec![Request::new(Method::Delete, "http://x/session")]
    }
    fn cleanup_on_failure(&mut self) -> Vec<Request> {
        self.cleanups += 1;
        vec![Request::new(Method::Delete, "http://x/session")]
    }
    fn secrets(&self) -> Vec<String> {
        vec![self.token.clone()]
    }
}

fn st(status: u16) -> Outcome {
    Outcome::Response(Response::new(status))
}

fn ok() -> Outcome {
    st(200)
}

fn with_ra(status: u16, ra: &str) -> Outcome {
    Outcome::Response(Response::new(status).with_header("Retry-After", ra))
}

fn engine(total: u64, step: u64, delays: Vec<u64>) -> Engine<Counter> {
    let mut e = Engine::new(Counter::new(total, step, 1), RetryPolicy::new(delays), true);
    e.start(0.0);
    e
}

fn send(e: &mut Engine<Counter>, now: f64) -> (u64, Request) {
    match e.poll(now) {
        Action::Send { id, request } => (id, request),
        a => panic!("expected a request at {now}, got {a:?}"),
    }
}

fn wait_until(e: &mut Engine<Counter>, now: f64) -> Option<f64> {
    match e.poll(now) {
        Action::Wait { until_ms } => until_ms,
        a => panic!("expected a wait at {now}, got {a:?}"),
    }
}

fn finished(e: &mut Engine<Counter>, now: f64) -> Result<Json, UploadError> {
    match e.poll(now) {
        Action::Finished(r) => r,
        a => panic!("expected the end, got {a:?}"),
    }
}

/// Answers each request with the next outcome, sleeping through every wait; returns the
/// result, the waits (ms) and how many requests went out.
fn run(e: &mut Engine<Counter>, outcomes: &[Outcome], start: f64) -> (Result<Json, UploadError>, Vec<f64>, usize) {
    let mut server = Answers { outcomes: outcomes.iter().cloned() };
    let r = drive::drive(e, &mut server, Drive::new(Order::Now, start, 0.0));
    (r.result, r.waits, r.sent)
}

/// Answers with the outcomes in turn, then `ok()`; the page hands over "secret-token-2".
struct Answers<I: Iterator<Item = Outcome>> {
    outcomes: I,
}

impl<I: Iterator<Item = Outcome>> drive::Server for Answers<I> {
    fn answer(&mut self, _: &Request) -> Outcome {
        self.outcomes.next().unwrap_or_else(ok)
    }
    fn token(&mut self) -> Option<String> {
        Some("secret-token-2".into())
    }
}

// ---- retry delays ----------------------------------------------------------------------------

#[test]
fn configured_delays_are_respected_exactly() {
    let mut e = engine(30, 10, vec![100, 250, 700]);
    let (id, _) = send(&mut e, 0.0);
    e.on_outcome(id, st(500), 10.0);
    assert_eq!(wait_until(&mut e, 10.0), Some(110.0));
    assert_eq!(wait_until(&mut e, 109.9), Some(110.0), "not a moment early");
    let (id, r) = send(&mut e, 110.0);
    assert_eq!(r.tag, 0, "the same part again");
    e.on_outcome(id, st(502), 120.0);
    assert_eq!(wait_until(&mut e, 120.0), Some(370.0));
    let (id, _) = send(&mut e, 370.0);
    e.on_outcome(id, Outcome::Network("reset".into()), 400.0);
    assert_eq!(wait_until(&mut e, 400.0), Some(1100.0));
    let (id, _) = send(&mut e, 1100.0);
    e.on_outcome(id, ok(), 1100.0);
    // Progress resets the budget: the next failure waits the first delay again.
    let (id, _) = send(&mut e, 1100.0);
    e.on_outcome(id, st(504), 1200.0);
    assert_eq!(wait_until(&mut e, 1200.0), Some(1300.0));
}

#[test]
fn retries_run_out_with_the_last_error() {
    let mut e = engine(30, 10, vec![100, 250, 700]);
    let (r, waits, n) = run(&mut e, &[st(500), st(502), st(503), with_ra(503, "1")], 0.0);
    let err = r.unwrap_err();
    assert_eq!((err.code, err.status, err.retryable), (ErrorCode::Http, Some(503), true));
    assert!(err.message.contains("after 3 retries"), "{}", err.message);
    assert_eq!(waits, vec![100.0, 250.0, 700.0]);
    assert_eq!(n, 4);
    assert_eq!(e.state(), State::Finished);
    assert_eq!(e.cleanup_after_failure().len(), 1, "a failed upload may clean up");
}

#[test]
fn no_delays_means_no_retries() {
    let mut e = engine(30, 10, vec![]);
    let (r, waits, n) = run(&mut e, &[st(503)], 0.0);
    let err = r.unwrap_err();
    assert_eq!((err.status, n, waits.len()), (Some(503), 1, 0));
    assert!(!err.message.contains("retries"), "{}", err.message);
}

#[test]
fn network_errors_are_retried() {
    let mut e = engine(20, 10, vec![5, 5]);
    let (r, waits, n) = run(&mut e, &[Outcome::Network("refused".into()), ok(), Outcome::Network("x".into()), Outcome::Network("y".into()), ok()], 0.0);
    assert!(r.is_ok());
    assert_eq!((waits, n), (vec![5.0, 5.0, 5.0], 5));
    let mut e = engine(20, 10, vec![5]);
    let (r, _, _) = run(&mut e, &[Outcome::Network("a".into()), Outcome::Network("b".into())], 0.0);
    let err = r.unwrap_err();
    assert_eq!((err.code, err.status, err.retryable), (ErrorCode::Network, None, true));
}

// ---- Retry-After ----------------------------------------------------------------------------

#[test]
fn retry_after_seconds_replace_the_configured_delay() {
    for (ra, want) in [("7", vec![7000.0]), ("0", vec![]), ("1.5", vec![1500.0]), (" 2 ", vec![2000.0]), ("soon", vec![100.0]), ("-3", vec![100.0]), ("", vec![100.0])] {
        let mut e = engine(10, 10, vec![100]);
        let (r, waits, n) = run(&mut e, &[with_ra(503, ra)], 0.0);
        assert!(r.is_ok());
        assert_eq!(n, 2);
        assert_eq!(waits, want, "Retry-After {ra:?}");
    }
}

#[test]
fn retry_after_is_capped() {
    let mut e = Engine::new(Counter::new(10, 10, 1), RetryPolicy { delays: vec![100], max_retry_after_ms: 60_000 }, false);
    e.start(0.0);
    let (_, waits, _) = run(&mut e, &[with_ra(503, "86400")], 0.0);
    assert_eq!(waits, vec![60_000.0]);
    let mut e = engine(10, 10, vec![100]);
    let (_, waits, _) = run(&mut e, &[with_ra(503, "99999999999999999999999999")], 0.0);
    assert_eq!(waits, vec![300_000.0], "the default cap is 5 minutes");
}

#[test]
fn retry_after_http_dates_count_from_now() {
    // Sun, 06 Nov 1994 08:49:37 GMT = 784111777000 ms.
    let date = "Sun, 06 Nov 1994 08:49:37 GMT";
    let at = 784_111_777_000.0;
    for (now, want) in [(at - 10_000.0, vec![10_000.0]), (at, vec![]), (at + 5_000.0, vec![]), (at - 3_600_000.0, vec![300_000.0])] {
        let mut e = engine(10, 10, vec![100]);
        let (r, waits, n) = run(&mut e, &[with_ra(503, date)], now);
        assert!(r.is_ok());
        assert_eq!(n, 2, "retried at once when the date is past");
        assert_eq!(waits, want, "now = {now}");
    }
}

// ---- which statuses are retried ----------------------------------------------------------------

#[test]
fn a_4xx_that_means_you_are_wrong_is_never_retried() {
    let special = [401, 408, 423, 425, 429, 460];
    for status in (400..500).filter(|s| !special.contains(s)) {
        let mut e = engine(20, 10, vec![1, 1, 1]);
        let (r, waits, n) = run(&mut e, &[st(status)], 0.0);
        let err = r.unwrap_err();
        assert_eq!((n, waits.len()), (1, 0), "{status} must not be retried");
        assert_eq!((err.status, err.retryable), (Some(status), false), "{status}");
        let code = match status {
            403 => ErrorCode::Auth,
            413 => ErrorCode::TooLarge,
            415 => ErrorCode::UnsupportedType,
            _ => ErrorCode::Http,
        };
        assert_eq!(err.code, code, "{status}");
        assert!(err.message.contains(&status.to_string()));
    }
}

#[test]
fn retryable_statuses_are_exactly_the_transient_ones() {
    for status in 100..600u16 {
        let expected = matches!(status, 408 | 423 | 425 | 429 | 460) || ((500..600).contains(&status) && status != 501 && status != 505);
        assert_eq!(status_is_retryable(status), expected, "{status}");
    }
    // Through the engine: each transient status is retried, 501 and 505 are not.
    for status in [408, 423, 425, 460, 500, 502, 503, 504, 507, 520, 599] {
        let mut e = engine(10, 10, vec![3]);
        let (r, waits, n) = run(&mut e, &[st(status)], 0.0);
        assert!(r.is_ok(), "{status}");
        assert_eq!((waits, n), (vec![3.0], 2), "{status}");
    }
    for status in [501, 505] {
        let mut e = engine(10, 10, vec![3]);
        let (r, _, n) = run(&mut e, &[st(status)], 0.0);
        assert_eq!((r.unwrap_err().retryable, n), (false, 1), "{status}");
    }
}

#[test]
fn a_429_waits_without_using_up_retries() {
    // 10 × 429 with a budget of one retry: still fine.
    let mut e = engine(10, 10, vec![50]);
    let mut outs = vec![with_ra(429, "2"); 10];
    outs.push(ok());
    let (r, waits, n) = run(&mut e, &outs, 0.0);
    assert!(r.is_ok());
    assert_eq!((waits, n), (vec![2000.0; 10], 11));
    // Without Retry-After: the retry schedule, its last step once exhausted.
    let mut e = engine(10, 10, vec![10, 20, 30]);
    let (_, waits, _) = run(&mut e, &[st(429), st(429), st(429), st(429), st(429)], 0.0);
    assert_eq!(waits, vec![10.0, 20.0, 30.0, 30.0, 30.0]);
    // No schedule at all: one second.
    let mut e = engine(10, 10, vec![]);
    let (r, waits, _) = run(&mut e, &[st(429)], 0.0);
    assert!(r.is_ok());
    assert_eq!(waits, vec![1000.0]);
    // A 429 does not eat into the retries a 5xx gets.
    let mut e = engine(10, 10, vec![7]);
    let (r, waits, _) = run(&mut e, &[st(429), st(500), st(429)], 0.0);
    assert!(r.is_ok());
    assert_eq!(waits, vec![7.0, 7.0, 7.0]);
}

#[test]
fn endless_429_gives_up_after_thirty_waits() {
    let mut e = engine(10, 10, vec![1]);
    let (r, waits, n) = run(&mut e, &vec![st(429); 100], 0.0);
    let err = r.unwrap_err();
    assert_eq!((err.status, err.retryable, n, waits.len()), (Some(429), true, 31, 30));
    assert!(err.message.contains("rate limited"));
}

// ---- tokens -------------------------------------------------------------------------------------

#[test]
fn a_401_asks_for_a_token_once_nothing_is_in_flight() {
    let mut e = Engine::new(Counter::new(40, 10, 2), RetryPolicy::new(vec![1]), true);
    e.start(0.0);
    let (a, _) = send(&mut e, 0.0);
    let (b, _) = send(&mut e, 0.0);
    assert_eq!(e.in_flight(), 2);
    e.on_outcome(a, st(401), 1.0);
    assert_eq!(wait_until(&mut e, 1.0), None, "the other request settles first");
    e.on_outcome(b, ok(), 2.0);
    assert_eq!(e.poll(2.0), Action::RefreshToken);
    assert_eq!(wait_until(&mut e, 2.0), None, "waits for the page");
    e.on_token(Some("secret-token-2".into()));
    let (_, r) = send(&mut e, 3.0);
    assert_eq!(r.get_header("Authorization"), Some("Bearer secret-token-2"));
    // A token nobody asked for is ignored.
    e.on_token(Some("unasked".into()));
    assert_eq!(e.protocol().token, "secret-token-2");
}

#[test]
fn no_token_or_no_callback_ends_as_auth() {
    let mut e = engine(10, 10, vec![1]);
    let (id, _) = send(&mut e, 0.0);
    e.on_outcome(id, st(401), 1.0);
    assert_eq!(e.poll(1.0), Action::RefreshToken);
    e.on_token(None);
    let err = finished(&mut e, 1.0).unwrap_err();
    assert_eq!((err.code, err.status, err.retryable), (ErrorCode::Auth, Some(401), false));

    let mut e = Engine::new(Counter::new(10, 10, 1), RetryPolicy::new(vec![1]), false);
    e.start(0.0);
    let (id, _) = send(&mut e, 0.0);
    e.on_outcome(id, Outcome::Response(Response::new(401).with_body(r#"{"detail":"Token is invalid"}"#)), 1.0);
    let err = finished(&mut e, 1.0).unwrap_err();
    assert_eq!((err.code, err.status), (ErrorCode::Auth, Some(401)));
    assert!(err.message.contains("Token is invalid"));
}

#[test]
fn fresh_tokens_are_tried_twice_without_progress_then_progress_resets() {
    let mut e = engine(30, 10, vec![1]);
    let (r, _, n) = run(&mut e, &[st(401), st(401), ok(), st(401), st(401), ok(), ok()], 0.0);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(n, 7);
    let mut e = engine(30, 10, vec![1]);
    let (r, _, n) = run(&mut e, &[st(401), st(401), st(401)], 0.0);
    assert_eq!((r.unwrap_err().code, n), (ErrorCode::Auth, 3));
}

#[test]
fn secrets_are_redacted_from_errors() {
    let mut e = engine(10, 10, vec![]);
    let body = r#"{"detail":"bad token secret-token-1 at http://x/?token=abc&y=1"}"#;
    let (r, _, _) = run(&mut e, &[Outcome::Response(Response::new(400).with_body(body))], 0.0);
    let m = r.unwrap_err().message;
    assert!(!m.contains("secret-token-1") && !m.contains("token=abc"), "{m}");
}

// ---- pause, resume, abort --------------------------------------------------------------------------

#[test]
fn pause_and_resume() {
    let mut e = engine(30, 10, vec![100]);
    let (id, _) = send(&mut e, 0.0);
    e.pause();
    assert_eq!(e.state(), State::Paused);
    e.on_outcome(id, st(500), 1.0);
    assert_eq!(wait_until(&mut e, 500.0), None, "paused: no request, no timer");
    e.resume();
    assert_eq!(e.protocol().resyncs, 1);
    // Resume skips the remaining backoff and starts fresh.
    let (id, r) = send(&mut e, 2.0);
    assert_eq!(r.tag, 0);
    e.on_outcome(id, ok(), 3.0);
    e.resume();
    assert_eq!(e.protocol().resyncs, 1, "resume while running does nothing");
    // Pause before start does nothing.
    let mut n = Engine::new(Counter::new(10, 10, 1), RetryPolicy::default(), false);
    n.pause();
    assert_eq!(n.state(), State::NotStarted);
    assert_eq!(n.poll(0.0), Action::Wait { until_ms: None });
}

#[test]
fn abort() {
    // Not started: nothing to cancel server-side.
    let mut e = Engine::new(Counter::new(10, 10, 1), RetryPolicy::default(), false);
    assert!(e.abort().is_empty());
    assert_eq!(finished(&mut e, 0.0).unwrap_err().code, ErrorCode::Aborted);
    // Running, with a request in flight.
    let mut e = engine(30, 10, vec![100]);
    let (id, _) = send(&mut e, 0.0);
    let cancel = e.abort();
    assert_eq!(cancel.len(), 1);
    assert_eq!(cancel[0].method, Method::Delete);
    assert_eq!(e.in_flight(), 0);
    assert!(!e.on_outcome(id, ok(), 1.0), "a stale answer changes nothing");
    assert_eq!(e.progress().loaded, 0);
    let err = finished(&mut e, 1.0).unwrap_err();
    assert_eq!((err.code, err.retryable, err.status), (ErrorCode::Aborted, false, None));
    assert!(e.abort().is_empty(), "twice");
    assert!(e.cleanup_after_failure().is_empty(), "abort is not a failure");
    assert_eq!(e.protocol().cancels, 1);
    // Paused, then aborted.
    let mut e = engine(30, 10, vec![100]);
    let (id, _) = send(&mut e, 0.0);
    e.on_outcome(id, ok(), 1.0);
    e.pause();
    assert_eq!(e.abort().len(), 1);
    // Finished: nothing.
    let mut e = engine(10, 10, vec![]);
    let (r, _, _) = run(&mut e, &[], 0.0);
    assert!(r.is_ok());
    assert!(e.abort().is_empty());
    assert!(finished(&mut e, 0.0).is_ok(), "the result stays");
}

// ---- guards ----------------------------------------------------------------------------------------

/// A protocol whose server keeps answering "fine" without ever confirming anything.
struct Stuck {
    sent: u32,
}

impl Protocol for Stuck {
    fn provider(&self) -> &'static str {
        P
    }
    fn total(&self) -> u64 {
        10
    }
    fn confirmed(&self) -> u64 {
        0
    }
    fn next(&mut self) -> Next {
        self.sent += 1;
        Next::Send(Request::new(Method::Put, "http://x/"))
    }
    fn handle(&mut self, _: &Request, _: Outcome) -> Verdict {
        Verdict::Continue
    }
}

#[test]
fn a_server_that_never_stores_anything_is_given_up_on() {
    let mut e = Engine::new(Stuck { sent: 0 }, RetryPolicy::default(), false);
    e.start(0.0);
    let err = loop {
        match e.poll(0.0) {
            Action::Send { id, .. } => {
                e.on_outcome(id, ok(), 0.0);
            }
            Action::Finished(r) => break r.unwrap_err(),
            a => panic!("{a:?}"),
        }
    };
    assert_eq!((err.code, err.retryable), (ErrorCode::Protocol, false));
    assert_eq!(e.protocol().sent, 65);
}

fn stored(n: u64) -> Outcome {
    Outcome::Response(Response::new(200).with_header("Stored", &n.to_string()))
}

#[test]
fn a_session_restarted_from_zero_counts_as_progress_again() {
    // 200 parts; at part 150 the server loses everything (its session was re-created), then
    // the upload climbs back up through more than 64 answers: that is progress, not a stall.
    let step = 10;
    let mut e = engine(200 * step, step, vec![1]);
    let mut outs: Vec<Outcome> = (1..=150).map(|i| stored(i * step)).collect();
    outs.push(stored(0));
    outs.extend((1..=200).map(|i| stored(i * step)));
    let (r, _, n) = run(&mut e, &outs, 0.0);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(n, 351);
    assert_eq!(e.progress().loaded, 200 * step);
}

#[test]
fn a_server_that_keeps_losing_data_is_given_up_on() {
    // Up 10, back to 0, again and again: never past the first 10 bytes.
    let mut e = engine(100, 10, vec![1]);
    let outs: Vec<Outcome> = (0..100).map(|i| if i % 2 == 0 { stored(10) } else { stored(0) }).collect();
    let (r, _, n) = run(&mut e, &outs, 0.0);
    let err = r.unwrap_err();
    assert_eq!(err.code, ErrorCode::Protocol);
    assert!(err.message.contains("losing"), "{}", err.message);
    assert_eq!(n, 34, "17 regressions");
    // Losing data a few times while still getting further each time is fine.
    let mut e = engine(100, 10, vec![1]);
    let mut outs = Vec::new();
    for top in 1..=10 {
        for i in 1..=top {
            outs.push(stored(i * 10));
        }
        outs.push(stored(0));
    }
    let (r, _, _) = run(&mut e, &outs, 0.0);
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn protocol_failure_from_next_ends_the_upload() {
    let mut p = Counter::new(10, 10, 1);
    p.fail_next = Some(UploadError::protocol(P, "secret-token-1 broke"));
    let mut e2 = Engine::new(p, RetryPolicy::default(), false);
    e2.start(0.0);
    let err = finished(&mut e2, 0.0).unwrap_err();
    assert_eq!(err.code, ErrorCode::Protocol);
    assert!(!err.message.contains("secret-token-1"));
    assert_eq!(e2.requests_sent(), 0);
}

// ---- parallel requests and completion --------------------------------------------------------------

#[test]
fn parallel_limit_and_completion_waits_for_in_flight() {
    let mut e = Engine::new(Counter::new(30, 10, 2), RetryPolicy::new(vec![1]), false);
    e.start(0.0);
    let (a, _) = send(&mut e, 0.0);
    let (b, _) = send(&mut e, 0.0);
    assert_eq!(wait_until(&mut e, 0.0), None, "two at most");
    e.on_outcome(b, ok(), 1.0);
    let (c, _) = send(&mut e, 1.0);
    e.on_outcome(c, ok(), 2.0);
    assert_eq!(wait_until(&mut e, 2.0), None, "the first part is still in flight");
    assert_eq!(e.progress().loaded, 20);
    e.on_outcome(a, ok(), 3.0);
    let r = finished(&mut e, 3.0).unwrap();
    assert_eq!(r.get("ok").and_then(Json::as_bool), Some(true));
    assert_eq!(e.requests_sent(), 3);
    assert!(!e.on_outcome(a, ok(), 4.0), "unknown id");
}

// ---- progress ---------------------------------------------------------------------------------------

#[test]
fn progress_counts_bytes_in_flight_and_never_goes_back() {
    let mut e = engine(100, 50, vec![10]);
    assert_eq!(e.progress().total, 100);
    let (id, _) = send(&mut e, 0.0);
    assert!(e.on_upload_progress(id, 20, 100.0));
    assert_eq!(e.progress().loaded, 20);
    e.on_upload_progress(id, 1_000_000, 200.0);
    assert_eq!(e.progress().loaded, 50, "clamped to the body");
    e.on_upload_progress(9999, 10, 200.0);
    e.on_outcome(id, st(500), 300.0);
    assert_eq!(e.progress().loaded, 50, "a failed part does not move loaded back");
    let (id, _) = send(&mut e, 310.0);
    e.on_upload_progress(id, 10, 400.0);
    assert_eq!(e.progress().loaded, 50);
    e.on_upload_progress(id, 50, 500.0);
    e.on_outcome(id, ok(), 600.0);
    assert_eq!(e.progress().loaded, 50);
    let (id, _) = send(&mut e, 600.0);
    e.on_upload_progress(id, 25, 700.0);
    assert_eq!(e.progress().loaded, 75);
    e.on_outcome(id, ok(), 800.0);
    assert!(finished(&mut e, 800.0).is_ok());
    let p = e.progress();
    assert_eq!((p.loaded, p.total), (100, 100));
    assert!(p.bytes_per_second > 0.0);
}

#[test]
fn bytes_per_second_follows_the_rate() {
    // 1000 bytes every 100 ms = 10 000 B/s.
    let mut e = engine(1_000_000, 1000, vec![]);
    let mut now = 0.0;
    for _ in 0..200 {
        let (id, _) = send(&mut e, now);
        now += 100.0;
        e.on_outcome(id, ok(), now);
    }
    let bps = e.progress().bytes_per_second;
    assert!((bps - 10_000.0).abs() < 200.0, "{bps}");
    assert!(e.progress().bytes_per_second.is_finite());
}

#[test]
fn empty_upload_finishes_at_zero_of_zero() {
    let mut e = engine(0, 10, vec![]);
    let r = finished(&mut e, 0.0);
    assert!(r.is_ok());
    let p = e.progress();
    assert_eq!((p.loaded, p.total), (0, 0));
    assert_eq!(e.requests_sent(), 0);
}

// ---- property ----------------------------------------------------------------------------------------

fn outcome_strategy() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        6 => Just(ok()),
        3 => (100u16..600).prop_map(st),
        1 => (prop::sample::select(vec![429u16, 503, 500]), prop_oneof![Just("1".to_string()), Just("Sun, 06 Nov 1994 08:49:37 GMT".to_string()), ".{0,6}"])
            .prop_map(|(s, ra)| with_ra(s, &ra)),
        1 => Just(Outcome::Network("x".into())),
        1 => (0u64..400).prop_map(stored),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Random answers, any parallelism: the engine always ends, never has more requests in
    /// flight than allowed, never waits into the past, and `loaded` only grows (to `total` on
    /// success).
    #[test]
    fn random_answers(
        total in 0u64..400,
        step in 1u64..60,
        parallel in 1usize..4,
        delays in prop::collection::vec(0u64..50, 0..4),
        outs in prop::collection::vec(outcome_strategy(), 0..200),
        pause_at in prop::option::of(0usize..50),
        refresh in any::<bool>(),
    ) {
        let mut e = Engine::new(Counter::new(total, step, parallel), RetryPolicy::new(delays), refresh);
        let mut now = 784_111_000_000.0;
        e.start(now);
        let mut it = outs.into_iter();
        let mut pending: Vec<u64> = Vec::new();
        let mut last = 0;
        let mut steps = 0usize;
        loop {
            steps += 1;
            prop_assert!(steps < 20_000, "did not finish");
            if Some(steps) == pause_at && e.state() == State::Running {
                e.pause();
                prop_assert_eq!(e.poll(now), Action::Wait { until_ms: None });
                e.resume();
            }
            match e.poll(now) {
                Action::Send { id, request } => {
                    pending.push(id);
                    prop_assert!(pending.len() <= parallel);
                    e.on_upload_progress(id, request.body.file_bytes() / 2, now);
                }
                Action::Wait { until_ms } => {
                    if let Some(id) = pending.pop() {
                        now += 3.0;
                        e.on_outcome(id, it.next().unwrap_or_else(ok), now);
                    } else {
                        let t = until_ms.expect("waiting for nothing");
                        prop_assert!(t >= now);
                        now = t;
                    }
                }
                Action::RefreshToken => {
                    prop_assert!(pending.is_empty());
                    e.on_token(Some("t2".into()));
                }
                Action::Finished(r) => {
                    if r.is_ok() {
                        prop_assert_eq!(e.progress().loaded, total);
                    }
                    break;
                }
            }
            let p = e.progress();
            prop_assert!(p.loaded >= last && p.loaded <= p.total);
            prop_assert!(p.bytes_per_second.is_finite() && p.bytes_per_second >= 0.0);
            last = p.loaded;
        }
    }
}

// ---- stall watchdog ----------------------------------------------------------------------------

#[test]
fn a_request_without_a_sign_of_life_for_the_stall_timeout_is_named_once_and_its_error_says_so() {
    let mut e = engine(30, 10, vec![100]);
    e.set_stall_timeout(400.0);
    let (id, _) = send(&mut e, 0.0);
    assert_eq!(e.next_stall_check(), Some(400.0));
    assert!(e.stalled(399.0).is_empty(), "not a moment early");
    e.on_upload_progress(id, 4, 300.0);
    assert_eq!(e.next_stall_check(), Some(700.0), "progress is a sign of life");
    e.on_activity(id, 600.0);
    assert!(e.stalled(900.0).is_empty(), "download progress / hashing too");
    assert_eq!(e.stalled(1000.0), vec![id]);
    assert!(e.stalled(5000.0).is_empty(), "named once");
    assert_eq!(e.next_stall_check(), None, "nothing else to watch");
    // The shell aborts it; the network error that comes back is reported as a stall and retried.
    e.on_outcome(id, Outcome::Network("aborted".into()), 1001.0);
    assert_eq!(wait_until(&mut e, 1001.0), Some(1101.0));
    let (id2, _) = send(&mut e, 1101.0);
    e.on_outcome(id2, Outcome::Network("aborted".into()), 1102.0);
    let err = finished(&mut e, 1102.0).expect_err("retries are used up");
    assert_eq!(err.code, ErrorCode::Network);
    assert!(!err.message.contains("stalled"), "only a stalled request's error says so: {}", err.message);
}

#[test]
fn a_stalled_requests_error_names_the_timeout() {
    let mut e = engine(10, 10, vec![]);
    e.set_stall_timeout(250.0);
    let (id, _) = send(&mut e, 0.0);
    assert_eq!(e.stalled(250.0), vec![id]);
    e.on_outcome(id, Outcome::Network("aborted".into()), 251.0);
    let err = finished(&mut e, 251.0).expect_err("no retries");
    assert!(err.message.contains("no progress for 250 ms, the stalled request was aborted"), "{}", err.message);
}

#[test]
fn the_answer_to_a_body_that_ends_the_file_gets_ten_stall_timeouts_once_it_is_sent() {
    let mut e = engine(20, 10, vec![100]);
    e.set_file_sizes(vec![20]);
    e.set_stall_timeout(100.0);
    let (id, _) = send(&mut e, 0.0);
    e.on_upload_progress(id, 10, 10.0);
    assert_eq!(e.next_stall_check(), Some(110.0), "a body in the middle of the file: one timeout");
    e.on_outcome(id, ok(), 20.0);
    let (id, _) = send(&mut e, 20.0);
    e.on_upload_progress(id, 5, 30.0);
    assert_eq!(e.next_stall_check(), Some(130.0), "the last body, still being sent: one timeout");
    e.on_upload_progress(id, 10, 40.0);
    assert_eq!(e.next_stall_check(), Some(1040.0), "sent: the server digests the whole file");
    assert!(e.stalled(1039.0).is_empty());
    assert_eq!(e.stalled(1040.0), vec![id]);
}

#[test]
fn a_stall_timeout_of_zero_turns_the_watchdog_off() {
    let mut e = engine(10, 10, vec![]);
    e.set_stall_timeout(0.0);
    let _ = send(&mut e, 0.0);
    assert_eq!(e.next_stall_check(), None);
    assert!(e.stalled(1e12).is_empty());
}

#[test]
fn the_watchdog_looks_again_at_the_earliest_deadline_of_parallel_requests() {
    let mut e = Engine::new(Counter::new(40, 10, 3), RetryPolicy::new(vec![]), true);
    e.start(0.0);
    e.set_stall_timeout(500.0);
    let (a, _) = send(&mut e, 0.0);
    let (b, _) = send(&mut e, 10.0);
    let (_c, _) = send(&mut e, 20.0);
    e.on_activity(a, 300.0);
    assert_eq!(e.next_stall_check(), Some(510.0), "b is the first that can stall");
    assert_eq!(e.stalled(520.0).len(), 2, "b and c");
    assert_eq!(e.next_stall_check(), Some(800.0), "then a");
    let _ = b;
}
