//! Runs the sans-IO engine in the browser: sends what it asks (see `transport`), sleeps with
//! `setTimeout`, feeds responses back, reports progress, and cleans up on abort. Works the same
//! in a window and in a dedicated worker (only global `fetch`/`setTimeout`/events are used).
//!
//! Network changes: the upload pauses on the global `offline` event and continues on `online`
//! (unless the page paused it itself). The engine's stall watchdog (`Engine::stalled`) names
//! the requests with no sign of life for `stallTimeout`; the runner aborts them, and the engine
//! reports their network errors as stalls, which the protocol retries like any other.

use super::Lock;
use super::transport;
use crate::core::{Json, Outcome, Request, UploadError};
use crate::engine::{Action, Engine, RequestId, State};
use crate::protocols::Protocol;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::*;
use super::spawn_local;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Blob, EventTarget};

/// XHR progress events closer together than this (ms) are not passed on (but the last one).
const PROGRESS_EVENT_GAP_MS: f64 = 16.0;


pub use super::env::{now, sleep};

enum Event {
    Outcome(RequestId, Outcome),
    /// Bytes of a request's body sent so far; negative: download progress (activity only).
    Sent(RequestId, f64),
    Wake,
}

pub struct Runner {
    pub engine: Engine<Box<dyn Protocol>>,
    events: Vec<Event>,
    waker: Option<Waker>,
    controller: Option<AbortController>,
    files: Rc<RefCell<Vec<Blob>>>,
    pub on_progress: Option<js_sys::Function>,
    pub token_source: Option<js_sys::Function>,
    /// Coalesces calls to `on_progress` (at most one per 50 ms, plus the final one).
    reporter: crate::core::progress::Reporter,
    pub started: bool,
    /// Requests in flight, each with its own AbortController (so a stalled one can be aborted
    /// alone; the engine's watchdog says which).
    requests: Vec<(RequestId, AbortController)>,
    /// When the pending stall-watchdog timer fires, if one is pending.
    stall_timer_at: Option<f64>,
    /// Paused by an `offline` event (not by the page): `online` resumes.
    pub net_paused: bool,
    finished: bool,
    /// `integrity` option: checksum headers where the protocol asks, `sha256` in the result.
    pub integrity: Option<super::integrity::Shared>,
    /// The resume record in the page's storage (see `persist`).
    pub persist: Option<super::persist::Persist>,
}

pub type Shared = Rc<RefCell<Runner>>;

impl Runner {
    /// Adds an input Blob (a stream of unknown length grows this way); returns its index.
    pub fn add_file(&mut self, blob: Blob) -> usize {
        let mut f = self.files.write();
        f.push(blob);
        f.len() - 1
    }

    pub fn new(
        engine: Engine<Box<dyn Protocol>>,
        files: Vec<Blob>,
        on_progress: Option<js_sys::Function>,
        token_source: Option<js_sys::Function>,
    ) -> Shared {
        Rc::new(RefCell::new(Runner {
            engine,
            events: Vec::new(),
            waker: None,
            controller: None,
            files: Rc::new(RefCell::new(files)),
            on_progress,
            token_source,
            reporter: Default::default(),
            started: false,
            requests: Vec::new(),
            stall_timer_at: None,
            net_paused: false,
            finished: false,
            integrity: None,
            persist: None,
        }))
    }
}

fn push(shared: &Shared, ev: Event) {
    let waker = {
        let mut r = shared.write();
        r.events.push(ev);
        r.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// Wakes the driver (after pause/resume/abort from JS).
pub fn wake(shared: &Shared) {
    push(shared, Event::Wake);
}

/// Wakes the driver at `at` (ms, [`now`]'s clock): one timer task for every "look again then".
/// `then` runs first (clears the timer's mark).
#[inline(never)]
fn wake_at(shared: &Shared, at: f64, then: Option<fn(&mut Runner, f64)>) {
    let sh = shared.clone();
    spawn_local(async move {
        // setTimeout keeps its own clock: by `now()` (Date.now, rounded to 100 ms or more where
        // the browser blurs timers, e.g. Firefox's resistFingerprinting) it can fire before `at`,
        // and a check that finds its held-back value not yet due arms no timer again (the value
        // would wait for the next event, none while paused). So sleep on until `at` has come by
        // `now()`, a few rounds at most. (Always one sleep, even for an `at` already past: a
        // timer turn, never a wake-up within the same task.)
        let mut left = (at - now()).max(0.0);
        for _ in 0..4 {
            sleep(left).await;
            left = at - now();
            if left <= 0.0 {
                break;
            }
            left += 1.0;
        }
        if let Some(f) = then {
            f(&mut sh.write(), at);
        }
        push(&sh, Event::Wake);
    });
}

/// Writes the resume record if it is due (`force`: pause, `offline`, page hidden or unloaded:
/// whatever changed goes now); schedules a wake for progress held back. Does nothing while the
/// runner is borrowed (an event handler cannot run then, but be safe).
pub fn update_record(shared: &Shared, force: bool) {
    let at = {
        let Ok(mut r) = shared.try_borrow_mut() else { return };
        let r = &mut *r;
        match r.persist.as_mut() {
            Some(p) => p.update(&mut r.engine, now(), force),
            None => None,
        }
    };
    if let Some(at) = at {
        wake_at(shared, at, None);
    }
}

/// Aborts every request in flight (the upload is over).
fn abort_requests(r: &mut Runner) {
    for (_, controller) in r.requests.drain(..) {
        controller.abort();
    }
}

/// The engine's stall watchdog: aborts each request it finds stalled (its outcome then comes
/// back as a network error the engine reports as a stall), and sets a timer for the next look.
fn watch_stalls(shared: &Shared) {
    let t = now();
    let next = {
        let mut r = shared.write();
        for id in r.engine.stalled(t) {
            if let Some((_, c)) = r.requests.iter().find(|(i, _)| *i == id) {
                c.abort();
            }
        }
        let next = r.engine.next_stall_check();
        match next {
            Some(at) if r.stall_timer_at.is_none_or(|p| at < p) => {
                r.stall_timer_at = Some(at);
                Some(at)
            }
            _ => None,
        }
    };
    if let Some(at) = next {
        wake_at(
            shared,
            at,
            Some(|r, at| {
                if r.stall_timer_at == Some(at) {
                    r.stall_timer_at = None;
                }
            }),
        );
    }
}

/// `offline`: pause (in-flight requests settle or fail; nothing new is sent).
fn net_offline(shared: &Shared) {
    {
        let mut r = shared.write();
        if r.engine.state() == State::Running {
            r.engine.pause();
            r.net_paused = true;
        }
    }
    update_record(shared, true);
    wake(shared);
}

/// `online`: continue from what the server confirms, if `offline` paused it.
fn net_online(shared: &Shared) {
    {
        let mut r = shared.write();
        if std::mem::replace(&mut r.net_paused, false) {
            r.engine.resume();
        }
    }
    wake(shared);
}

/// The `offline`/`online` listeners on the global (window or worker), and `pagehide` /
/// `visibilitychange` (a window's), which write the resume record at once; removed on drop.
struct NetListeners {
    target: EventTarget,
    document: Option<EventTarget>,
    offline: Closure<dyn FnMut()>,
    online: Closure<dyn FnMut()>,
    hidden: Closure<dyn FnMut()>,
}

impl NetListeners {
    fn attach(shared: &Shared) -> Option<NetListeners> {
        // Unchecked: where the global (or `document`) is no EventTarget, `addEventListener`
        // fails and nothing is attached, as a type check would do (one imported check less).
        let target: EventTarget = js_sys::global().unchecked_into();
        let (a, b, c) = (shared.clone(), shared.clone(), shared.clone());
        let offline = Closure::<dyn FnMut()>::new(move || net_offline(&a));
        let online = Closure::<dyn FnMut()>::new(move || net_online(&b));
        let hidden = Closure::<dyn FnMut()>::new(move || update_record(&c, true));
        target.add_event_listener_with_callback("offline", offline.as_ref().unchecked_ref()).ok()?;
        let _ = target.add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
        let _ = target.add_event_listener_with_callback("pagehide", hidden.as_ref().unchecked_ref());
        let document = js_sys::Reflect::get(&target, &"document".into()).ok().filter(|d| d.is_object()).map(|d| d.unchecked_into::<EventTarget>());
        if let Some(d) = &document {
            let _ = d.add_event_listener_with_callback("visibilitychange", hidden.as_ref().unchecked_ref());
        }
        Some(NetListeners { target, document, offline, online, hidden })
    }
}

impl Drop for NetListeners {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback("offline", self.offline.as_ref().unchecked_ref());
        let _ = self.target.remove_event_listener_with_callback("online", self.online.as_ref().unchecked_ref());
        let _ = self.target.remove_event_listener_with_callback("pagehide", self.hidden.as_ref().unchecked_ref());
        if let Some(d) = &self.document {
            let _ = d.remove_event_listener_with_callback("visibilitychange", self.hidden.as_ref().unchecked_ref());
        }
    }
}

/// `navigator.onLine === false`.
fn known_offline() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .ok()
        .filter(|n| n.is_object())
        .and_then(|n| js_sys::Reflect::get(&n, &"onLine".into()).ok())
        .and_then(|v| v.as_bool())
        == Some(false)
}

struct NextEvent(Shared);

impl Future for NextEvent {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut r = self.0.write();
        if r.events.is_empty() {
            r.waker = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// Calls the page's progress callback when `loaded` moved, at most once per
/// [`crate::core::progress::REPORT_INTERVAL_MS`] (a value held back is reported when the interval
/// ends) and always for the final value. Never while a borrow is held: the callback may call
/// `pause()` or `abort()`.
fn report_progress(shared: &Shared) {
    use crate::core::progress::Report;
    let (cb, snap) = {
        let mut r = shared.write();
        let snap = r.engine.progress();
        match r.reporter.check(now(), &snap) {
            Report::Now => (r.on_progress.clone(), snap),
            Report::Nothing => return,
            Report::At(at) => {
                wake_at(shared, at, None);
                return;
            }
        }
    };
    if let Some(cb) = cb {
        // A throwing callback must not kill the upload.
        let _ = cb.call1(&JsValue::NULL, &progress_js(&snap));
    }
}

/// `{ loaded, total, bytesPerSecond }`: what `onProgress` gets and `Upload.progress` returns.
#[inline(never)]
pub fn progress_js(snap: &crate::core::progress::Snapshot) -> JsValue {
    let o = js_sys::Object::new();
    for (key, v) in [("loaded", snap.loaded as f64), ("total", snap.total as f64), ("bytesPerSecond", snap.bytes_per_second.round())] {
        let _ = js_sys::Reflect::set(&o, &key.into(), &JsValue::from_f64(v));
    }
    o.into()
}

async fn ask_token(source: Option<js_sys::Function>) -> Option<String> {
    let f = source?;
    let v = f.call0(&JsValue::NULL).ok()?;
    let v = if v.is_instance_of::<js_sys::Promise>() {
        JsFuture::from(js_sys::Promise::from(v)).await.ok()?
    } else {
        v
    };
    v.as_string().filter(|s| !s.is_empty())
}

/// The input files (handles: the bytes stay in the Blobs).
#[inline(never)]
fn files_of(shared: &Shared) -> Vec<Blob> {
    shared.read().files.read().clone()
}

/// Reads the first `n` bytes of each input file (only the head: the rest stays in the Blob).
async fn read_heads(shared: &Shared, n: usize) -> Result<Vec<Vec<u8>>, String> {
    let files = files_of(shared);
    let mut heads = Vec::with_capacity(files.len());
    for f in files {
        heads.push(super::env::read(&f, 0.0, (n as f64).min(f.size())).await?.to_vec());
    }
    Ok(heads)
}

/// What the protocol needs read from the input before the first request: the files' heads,
/// and, with `integrity` where the protocol compares each file's SHA-256 with the server's
/// report, every input's hash.
async fn read_inputs(shared: &Shared) -> Result<(), String> {
    let head = shared.read().engine.head_bytes();
    if head > 0 {
        let h = read_heads(shared, head).await?;
        shared.write().engine.set_heads(h);
    }
    let digests = {
        let r = shared.read();
        r.integrity.clone().filter(|_| r.engine.wants_file_digests())
    };
    if let Some(state) = digests {
        let d = super::integrity::file_digests(&state, &files_of(shared)).await?;
        shared.write().engine.set_file_digests(d);
    }
    Ok(())
}

/// Runs the upload to its end.
pub async fn drive(shared: Shared) -> Result<Json, UploadError> {
    if let Err(e) = read_inputs(&shared).await {
        let provider = shared.read().engine.protocol().provider();
        return Err(UploadError::invalid(provider, format!("could not read the input files: {e}")));
    }
    {
        let mut r = shared.write();
        let sizes = r.files.read().iter().map(|b| b.size() as u64).collect();
        r.engine.set_file_sizes(sizes);
        r.engine.start(now());
        if r.controller.is_none() {
            r.controller = AbortController::new().ok();
        }
    }
    let _net = NetListeners::attach(&shared);
    if known_offline() {
        net_offline(&shared);
    }
    let result = drive_loop(&shared).await;
    shared.write().finished = true;
    let integrity = shared.read().integrity.clone();
    if let Some(state) = integrity {
        super::integrity::stop_ahead(&state);
    }
    result
}

/// Files the protocol wants hashed mid-upload (e.g. MangaDex pages with a stored namesake).
async fn hash_wanted(shared: &Shared) {
    let wanted = shared.write().engine.digests_wanted();
    if wanted.is_empty() {
        return;
    }
    let state = shared.read().integrity.clone().unwrap_or_else(super::integrity::new_state);
    let files = files_of(shared);
    match super::integrity::some_digests(&state, &files, &wanted).await {
        Ok(d) => {
            let mut r = shared.write();
            for (i, h) in d {
                r.engine.set_file_digest(i, h);
            }
        }
        Err(e) => shared.write().engine.digests_failed(&e),
    }
}

/// Before a request goes out: the input files, its own AbortController's signal (so a stalled
/// request can be aborted alone) and the `integrity` state.
#[inline(never)]
fn request_setup(shared: &Shared, id: RequestId) -> (Vec<Blob>, Option<web_sys::AbortSignal>, Option<super::integrity::Shared>) {
    let files = files_of(shared);
    let mut r = shared.write();
    let child = if r.controller.is_some() { AbortController::new().ok() } else { None };
    let signal = child.as_ref().map(|c| c.signal());
    if let Some(controller) = child {
        r.requests.push((id, controller));
    }
    (files, signal, r.integrity.clone())
}

/// Feeds the queued events (outcomes, upload progress, wake-ups) to the engine, then looks for
/// stalls, writes the resume record if due and reports progress.
#[inline(never)]
fn take_events(shared: &Shared) {
    {
        let mut r = shared.write();
        let r = &mut *r;
        // In arrival order. Nothing is queued meanwhile: events come from JS callbacks and
        // tasks, which cannot run while the engine handles these.
        for ev in std::mem::take(&mut r.events) {
            match ev {
                Event::Outcome(id, outcome) => {
                    r.requests.retain(|(i, _)| *i != id);
                    r.engine.on_outcome(id, outcome, now());
                }
                Event::Sent(id, sent) if sent.is_finite() && sent >= 0.0 => {
                    r.engine.on_upload_progress(id, sent as u64, now());
                }
                Event::Sent(id, _) => r.engine.on_activity(id, now()),
                Event::Wake => {}
            }
        }
    }
    watch_stalls(shared);
    update_record(shared, false);
    report_progress(shared);
}

/// The upload is over: aborts what is still in flight, updates the resume record and returns
/// the protocol's cleanup requests after a failure.
#[inline(never)]
fn finish_requests(shared: &Shared, result: &Result<Json, UploadError>) -> Vec<Request> {
    let mut r = shared.write();
    if let Some(c) = r.controller.take() {
        c.abort();
    }
    abort_requests(&mut r);
    let cleanup = r.engine.cleanup_after_failure();
    if let Some(p) = r.persist.as_mut() {
        p.finish(result, !cleanup.is_empty());
    }
    cleanup
}

async fn drive_loop(shared: &Shared) -> Result<Json, UploadError> {
    let shared = shared.clone();
    report_progress(&shared);
    loop {
        hash_wanted(&shared).await;
        let action = shared.write().engine.poll(now());
        match action {
            Action::Send { id, request } => {
                let (files, signal, integrity) = request_setup(&shared, id);
                let sh = shared.clone();
                spawn_local(async move {
                    // `integrity`: hash exactly the bytes this request sends, add the header.
                    let mut request = request;
                    let mut hash_error = None;
                    if let (Some(state), Some(_), crate::core::Body::Slice(slice)) = (&integrity, request.checksum, &request.body) {
                        let slice = *slice;
                        match super::integrity::hash_slice(state, &files, slice).await {
                            Ok(h) => {
                                request.add_checksum(&h);
                                // Hash the chunk that most likely comes next while this one
                                // is on the wire.
                                super::integrity::hash_ahead(state, &files, slice);
                            }
                            Err(e) => hash_error = Some(Outcome::Network(format!("could not read the bytes to hash: {e}"))),
                        }
                        push(&sh, Event::Sent(id, -1.0)); // hashing is activity, not a stall
                    }
                    let outcome = match signal {
                        _ if hash_error.is_some() => hash_error.take().unwrap_or_else(|| Outcome::Network(String::new())),
                        // A body with file data goes with XHR: its upload progress events feed the
                        // progress bar and the stall watchdog. Everything else with gloo-net.
                        Some(s) if request.body.file_bytes() > 0 => {
                            let sh2 = sh.clone();
                            // WebKit fires an upload progress event every 8 KiB on loopback: pass
                            // one on every 16 ms (enough for progress and the stall watchdog), and
                            // each that reaches the end of the file bytes (the body is sent).
                            let body_bytes = request.body.file_bytes() as f64;
                            let last = std::cell::Cell::new(f64::NEG_INFINITY);
                            let progress = Box::new(move |sent: f64| {
                                let t = now();
                                if sent >= body_bytes || t - last.get() >= PROGRESS_EVENT_GAP_MS {
                                    last.set(t);
                                    push(&sh2, Event::Sent(id, sent));
                                }
                            });
                            transport::send_with_progress(&request, &files, &s, progress).await
                        }
                        Some(s) => transport::send(&request, &files, &s).await,
                        None => Outcome::Network("AbortController unavailable".into()),
                    };
                    push(&sh, Event::Outcome(id, outcome));
                });
            }
            Action::Wait { until_ms } => {
                if let Some(until) = until_ms {
                    wake_at(&shared, until, None);
                }
                watch_stalls(&shared);
                NextEvent(shared.clone()).await;
                take_events(&shared);
            }
            Action::RefreshToken => {
                let source = shared.read().token_source.clone();
                let token = ask_token(source).await;
                shared.write().engine.on_token(token);
            }
            Action::Finished(result) => {
                let cleanup = finish_requests(&shared, &result);
                send_cleanup(&shared, cleanup).await;
                let integrity = shared.read().integrity.clone();
                let result = match (result, integrity) {
                    (Ok(json), Some(state)) => Ok(super::integrity::finish(&state, &files_of(&shared), json).await),
                    (result, _) => result,
                };
                if result.is_ok() {
                    report_progress(&shared);
                }
                return result;
            }
        }
    }
}

/// Aborts: stops in-flight requests, then sends the protocol's cancel requests (best effort).
pub async fn abort(shared: Shared) {
    let (cleanup, controller) = {
        let mut r = shared.write();
        abort_requests(&mut r);
        (r.engine.abort(), r.controller.take())
    };
    if let Some(c) = controller {
        c.abort();
    }
    wake(&shared);
    send_cleanup(&shared, cleanup).await;
}

async fn send_cleanup(shared: &Shared, requests: Vec<Request>) {
    if requests.is_empty() {
        return;
    }
    let Ok(c) = AbortController::new() else { return };
    let files = files_of(shared);
    let signal = c.signal();
    for req in requests {
        let _ = transport::send(&req, &files, &signal).await;
    }
}
