//! The one drive loop the native tests share: it runs a started `Engine` against a simulated
//! server until the upload ends, and returns what happened (`Run`). Include it with
//! `#[path = "common/drive.rs"] mod drive;`.
//!
//! The loop: poll the engine; a `Send` is answered at once (`Order::Now`) or queued and answered
//! when the engine waits (`Order::Fifo` oldest first, `Order::Lifo` newest first, so parallel
//! requests end out of order); a wait with nothing in flight sleeps to its deadline; a token
//! refresh asks the server for a fresh token; `abort_after` aborts once that many requests went out.
#![allow(dead_code)]

use chunkup::core::progress::Snapshot;
use chunkup::core::{Json, Outcome, Request, UploadError};
use chunkup::engine::{Action, Engine};
use chunkup::protocols::Protocol;

/// When the simulated server answers the requests the engine sends.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Order {
    /// Each request as soon as it is sent: one in flight at a time.
    Now,
    /// Queued while the engine sends; answered oldest first when it waits.
    Fifo,
    /// Queued while the engine sends; answered newest first when it waits.
    Lifo,
}

/// The simulated server (and the page around the engine, for tokens and digests).
pub trait Server {
    /// The answer to `req`.
    fn answer(&mut self, req: &Request) -> Outcome;
    /// The page's answer to `Action::RefreshToken`.
    fn token(&mut self) -> Option<String> {
        None
    }
    /// `req` went out; `in_flight` counts it with the requests not answered yet.
    fn sent(&mut self, _req: &Request, _in_flight: usize) {}
    /// Before each poll, e.g. to hand over the file digests the engine wants.
    fn before_poll<P: Protocol>(&mut self, _engine: &mut Engine<P>) {}
}

/// A scripted page's answer to `Action::RefreshToken`: the token it was given to hand out next,
/// if any, which from then on is the one the server accepts (`current`).
pub fn hand_out_token(next: &mut Option<String>, current: &mut String) -> Option<String> {
    let t = next.take();
    if let Some(t) = &t {
        current.clone_from(t);
    }
    t
}

/// A closure that answers each request is a server with no tokens to give.
impl<F: FnMut(&Request) -> Outcome> Server for F {
    fn answer(&mut self, req: &Request) -> Outcome {
        self(req)
    }
}

/// How to drive.
#[derive(Clone, Copy, Debug)]
pub struct Drive {
    pub order: Order,
    /// The clock (ms) the engine was started at.
    pub start: f64,
    /// Ms each answer takes.
    pub step: f64,
    /// Abort once this many requests went out.
    pub abort_after: Option<usize>,
    /// Report half of each request's file bytes as sent before its answer (`Order::Now` only),
    /// one ms after it went out.
    pub half_progress: bool,
    /// Give up (panic) after this many polls.
    pub max_polls: usize,
}

impl Drive {
    pub fn new(order: Order, start: f64, step: f64) -> Self {
        Drive { order, start, step, abort_after: None, half_progress: false, max_polls: 10_000 }
    }
}

/// What happened.
pub struct Run {
    pub result: Result<Json, UploadError>,
    /// After an abort: the requests that cancel the upload; after a failure: the cleanup the
    /// engine asks for; after success: whatever `cleanup_after_failure` gives (nothing).
    pub cleanup: Vec<Request>,
    /// The engine's progress at the start, after each upload-progress report and each answer,
    /// and at the end.
    pub progress: Vec<Snapshot>,
    /// Requests sent.
    pub sent: usize,
    /// Each sleep (ms) the engine asked for with nothing in flight.
    pub waits: Vec<f64>,
    /// The clock at the end.
    pub now: f64,
}

/// Drives the started `engine` to its end against `server`.
pub fn drive<P: Protocol, S: Server>(engine: &mut Engine<P>, server: &mut S, how: Drive) -> Run {
    let mut now = how.start;
    let mut pending: Vec<(u64, Request)> = Vec::new();
    let mut run = Run { result: Ok(Json::Null), cleanup: Vec::new(), progress: vec![engine.progress()], sent: 0, waits: Vec::new(), now };
    for _ in 0..how.max_polls {
        server.before_poll(engine);
        if how.abort_after.is_some_and(|k| run.sent >= k) {
            run.cleanup = engine.abort();
            let Action::Finished(result) = engine.poll(now) else { panic!("the engine goes on after an abort") };
            run.result = result;
            run.now = now;
            return run;
        }
        match engine.poll(now) {
            Action::Send { id, request } => {
                run.sent += 1;
                server.sent(&request, pending.len() + 1);
                if how.order != Order::Now {
                    pending.push((id, request));
                    continue;
                }
                let half = request.body.file_bytes() / 2;
                if how.half_progress && half > 0 {
                    now += 1.0;
                    engine.on_upload_progress(id, half, now);
                    run.progress.push(engine.progress());
                }
                let out = server.answer(&request);
                now += how.step;
                engine.on_outcome(id, out, now);
                run.progress.push(engine.progress());
            }
            Action::Wait { until_ms } => {
                if pending.is_empty() {
                    let t = until_ms.expect("the engine waits for nothing");
                    assert!(t >= now, "waits into the past");
                    run.waits.push(t - now);
                    now = t;
                    continue;
                }
                let (id, req) = if how.order == Order::Fifo { pending.remove(0) } else { pending.pop().expect("in flight") };
                let out = server.answer(&req);
                now += how.step;
                engine.on_outcome(id, out, now);
                run.progress.push(engine.progress());
            }
            Action::RefreshToken => engine.on_token(server.token()),
            Action::Finished(result) => {
                run.progress.push(engine.progress());
                run.result = result;
                run.cleanup = engine.cleanup_after_failure();
                run.now = now;
                return run;
            }
        }
    }
    panic!("the upload did not finish");
}
