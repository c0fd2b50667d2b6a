//! The one engine every provider shares, itself sans-IO: it is polled for actions ("send this",
//! "sleep until", "get a new token", "finished") and fed events (responses, upload progress,
//! timers, pause/resume/abort). The browser shell (`crate::web`) runs it over `fetch`; native
//! tests run it against simulated servers.

use crate::core::progress::{Progress, Snapshot};
use crate::core::retry::RetryPolicy;
use crate::core::{ErrorCode, Json, Outcome, Request, UploadError};
use crate::protocols::{Next, Protocol, Verdict};

pub type RequestId = u64;

#[derive(Debug, PartialEq)]
pub enum Action {
    Send { id: RequestId, request: Request },
    /// Nothing to do until an event arrives, or until `until_ms` at the latest.
    Wait { until_ms: Option<f64> },
    /// Ask the page for a fresh token, then call `on_token`.
    RefreshToken,
    /// The upload is over: `start()` settles with this. Abort whatever is still in flight.
    Finished(Result<Json, UploadError>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    NotStarted,
    Running,
    Paused,
    Finished,
}

/// Consecutive responses that move nothing forward before the engine gives up: a guard against
/// a server that keeps answering "OK" without storing bytes.
const MAX_STALLED_STEPS: u32 = 64;
/// 429 answers in a row (without progress) that are waited out before giving up.
const MAX_THROTTLES: u32 = 30;
/// Fresh tokens tried in a row without progress before a 401 is final.
const MAX_TOKEN_REFRESHES: u32 = 2;
/// Times the confirmed offset may fall back (the server lost data, or its session was
/// re-created) before a new high-water mark is reached: a guard against a server that keeps
/// forgetting what it stored.
const MAX_REGRESSIONS: u32 = 16;
/// Default `stallTimeout` (ms): like Uppy's XHR timeout.
pub const DEFAULT_STALL_TIMEOUT_MS: f64 = 30_000.0;
/// Once a body that ends a file is sent, the server may take long to answer (PeerTube processes
/// the whole file after its last chunk): that wait gets this many stall timeouts.
const FINAL_ANSWER_STALL_FACTOR: f64 = 10.0;

/// A request on the wire.
struct InFlight {
    id: RequestId,
    request: Request,
    /// File bytes of the body sent so far (when the transport can tell).
    sent: u64,
    sent_at: f64,
    /// Last sign of life: handed out, upload or download progress, hashing its body.
    last_activity: f64,
    /// The body carries the last byte of one of the input files.
    ends_file: bool,
    /// Aborted by the stall watchdog: its network error says why.
    stalled: bool,
}

impl InFlight {
    /// How long this request may go without a sign of life.
    fn stall_limit(&self, timeout: f64) -> f64 {
        let body = self.request.body.file_bytes();
        if self.ends_file && body > 0 && self.sent >= body {
            timeout * FINAL_ANSWER_STALL_FACTOR
        } else {
            timeout
        }
    }
}

pub struct Engine<P: Protocol> {
    proto: P,
    policy: RetryPolicy,
    state: State,
    in_flight: Vec<InFlight>,
    /// No sign of life for this long (ms) makes a request stalled; 0 = never.
    stall_timeout_ms: f64,
    /// Size of each input file (to tell which bodies end a file).
    file_sizes: Vec<u64>,
    next_id: RequestId,
    attempt: u32,
    stalled: u32,
    throttled: u32,
    backoff_until: Option<f64>,
    /// Confirmed bytes after the previous outcome.
    last_confirmed: u64,
    /// The most bytes ever confirmed.
    high_water: u64,
    regressions: u32,
    progress: Progress,
    can_refresh_token: bool,
    token_refreshes: u32,
    want_token: bool,
    awaiting_token: bool,
    result: Option<Result<Json, UploadError>>,
    requests_sent: u64,
    /// The only origin a request carrying the user's credentials may go to (see `core::guard`).
    credential_origin: Option<String>,
    /// Every credential the protocol has held (tokens replaced by a refresh included), kept out
    /// of error messages.
    known_secrets: Vec<String>,
}

impl<P: Protocol> Engine<P> {
    pub fn new(proto: P, policy: RetryPolicy, can_refresh_token: bool) -> Self {
        let total = proto.total();
        let credential_origin = proto.credential_origin().and_then(|o| crate::core::url::origin(&o));
        Engine {
            proto,
            policy,
            state: State::NotStarted,
            in_flight: Vec::new(),
            stall_timeout_ms: DEFAULT_STALL_TIMEOUT_MS,
            file_sizes: Vec::new(),
            next_id: 1,
            attempt: 0,
            stalled: 0,
            throttled: 0,
            backoff_until: None,
            last_confirmed: 0,
            high_water: 0,
            regressions: 0,
            progress: Progress::new(total),
            can_refresh_token,
            token_refreshes: 0,
            want_token: false,
            awaiting_token: false,
            result: None,
            requests_sent: 0,
            credential_origin,
            known_secrets: Vec::new(),
        }
    }

    fn remember_secrets(&mut self) {
        for s in self.proto.secrets().into_iter().chain(self.proto.credentials()) {
            if !s.is_empty() && !self.known_secrets.contains(&s) {
                self.known_secrets.push(s);
            }
        }
    }

    /// Credentials go only where they belong: a request carrying the user's credentials goes
    /// only to the configured endpoint's origin. Enforced here, for every provider.
    fn guard(&mut self, req: &Request) -> Result<(), String> {
        let creds = self.proto.credentials();
        if !crate::core::guard::carries_credential(req, &creds) {
            if self.credential_origin.is_none() {
                self.credential_origin = crate::core::url::origin(&req.url);
            }
            return Ok(());
        }
        let trusted = match &self.credential_origin {
            Some(o) => o.clone(),
            None => {
                let o = crate::core::url::origin(&req.url).ok_or("refusing to send the access token to a URL that is not absolute http(s)")?;
                self.credential_origin = Some(o.clone());
                o
            }
        };
        crate::core::guard::check(req, &trusted, &creds)
    }

    /// Requests sent best-effort (cancel, clean-up) that pass the credential guard.
    fn guarded(&mut self, requests: Vec<Request>) -> Vec<Request> {
        requests.into_iter().filter(|r| self.guard(r).is_ok()).collect()
    }

    pub fn protocol(&self) -> &P {
        &self.proto
    }
    pub fn state(&self) -> State {
        self.state
    }
    pub fn requests_sent(&self) -> u64 {
        self.requests_sent
    }
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn start(&mut self, now_ms: f64) {
        if self.state == State::NotStarted {
            self.state = State::Running;
            self.proto.set_now(now_ms);
            self.progress.update(now_ms, 0, 0);
        }
    }

    /// Continues a session an earlier page left (see `core::resume`) instead of creating one.
    /// Only before `start`.
    pub fn restore(&mut self, state: &Json) -> Result<(), UploadError> {
        if self.state != State::NotStarted {
            return Err(UploadError::invalid(self.proto.provider(), "resume from an earlier upload before start()"));
        }
        self.proto.restore(state)?;
        self.last_confirmed = self.proto.confirmed();
        self.high_water = self.last_confirmed;
        Ok(())
    }

    /// Every credential this upload has held (tokens replaced by a refresh included): what must
    /// never be written anywhere.
    pub fn secrets(&mut self) -> Vec<String> {
        self.remember_secrets();
        self.known_secrets.clone()
    }

    /// Stops issuing requests; in-flight ones settle. Server state is kept.
    pub fn pause(&mut self) {
        if self.state == State::Running {
            self.state = State::Paused;
        }
    }

    /// Continues from what the server confirms.
    pub fn resume(&mut self) {
        if self.state == State::Paused {
            self.state = State::Running;
            self.attempt = 0;
            self.backoff_until = None;
            self.proto.resync();
        }
    }

    /// Ends the upload as aborted; returns the requests that cancel it server-side.
    /// Nothing to cancel when it already finished.
    pub fn abort(&mut self) -> Vec<Request> {
        if self.state == State::Finished {
            return Vec::new();
        }
        let was_started = self.state != State::NotStarted;
        self.finish(Err(UploadError::aborted(self.proto.provider())));
        self.in_flight.clear();
        if was_started {
            let cancel = self.proto.cancel();
            self.guarded(cancel)
        } else {
            Vec::new()
        }
    }

    fn finish(&mut self, result: Result<Json, UploadError>) {
        if self.state != State::Finished {
            self.state = State::Finished;
            self.remember_secrets();
            let secrets: Vec<&str> = self.known_secrets.iter().map(String::as_str).collect();
            self.result = Some(result.map_err(|mut e| {
                e.message = crate::core::redact::redact(&e.message, &secrets);
                e
            }));
        }
    }

    pub fn poll(&mut self, now_ms: f64) -> Action {
        match self.state {
            State::Finished => {
                return Action::Finished(self.result.clone().unwrap_or_else(|| {
                    Err(UploadError::protocol(self.proto.provider(), "finished without a result"))
                }))
            }
            State::NotStarted => return Action::Wait { until_ms: None },
            State::Paused => return Action::Wait { until_ms: None },
            State::Running => {}
        }
        if self.awaiting_token {
            return Action::Wait { until_ms: None };
        }
        if self.want_token {
            if !self.in_flight.is_empty() {
                return Action::Wait { until_ms: None };
            }
            self.want_token = false;
            self.awaiting_token = true;
            return Action::RefreshToken;
        }
        if let Some(until) = self.backoff_until {
            if now_ms < until {
                return Action::Wait { until_ms: Some(until) };
            }
            self.backoff_until = None;
        }
        if self.in_flight.len() >= self.proto.max_parallel().max(1) {
            return Action::Wait { until_ms: None };
        }
        match self.proto.next() {
            Next::Send(request) => {
                if let Err(msg) = self.guard(&request) {
                    self.finish(Err(UploadError::protocol(self.proto.provider(), msg)));
                    return self.poll(now_ms);
                }
                let id = self.next_id;
                self.next_id += 1;
                self.requests_sent += 1;
                let ends_file = self.ends_file(&request.body);
                self.in_flight.push(InFlight {
                    id,
                    request: request.clone(),
                    sent: 0,
                    sent_at: now_ms,
                    last_activity: now_ms,
                    ends_file,
                    stalled: false,
                });
                Action::Send { id, request }
            }
            Next::Wait => Action::Wait { until_ms: None },
            Next::Done(json) => {
                if self.in_flight.is_empty() {
                    self.progress.finish(now_ms);
                    self.finish(Ok(json));
                    self.poll(now_ms)
                } else {
                    Action::Wait { until_ms: None }
                }
            }
            Next::Fail(err) => {
                self.finish(Err(err));
                self.poll(now_ms)
            }
        }
    }

    /// Bytes of request `id`'s body sent so far (when the transport can tell).
    pub fn on_upload_progress(&mut self, id: RequestId, sent: u64, now_ms: f64) -> bool {
        if let Some(f) = self.in_flight.iter_mut().find(|f| f.id == id) {
            f.sent = sent.min(f.request.body.file_bytes());
            f.last_activity = now_ms;
        }
        self.update_progress(now_ms)
    }

    /// A sign of life from request `id` without a byte count (download progress, its body
    /// being hashed): it is not stalled.
    pub fn on_activity(&mut self, id: RequestId, now_ms: f64) {
        if let Some(f) = self.in_flight.iter_mut().find(|f| f.id == id) {
            f.last_activity = now_ms;
        }
    }

    /// `stallTimeout`: no sign of life for this long (ms) makes a request stalled; 0 = never.
    pub fn set_stall_timeout(&mut self, ms: f64) {
        self.stall_timeout_ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
    }

    /// The size of each input file (a stream's later inputs arrive through `push_input`).
    pub fn set_file_sizes(&mut self, sizes: Vec<u64>) {
        self.file_sizes = sizes;
    }

    fn ends_file(&self, body: &crate::core::Body) -> bool {
        use crate::core::{Body, Part};
        let ends = |s: &crate::core::Slice| self.file_sizes.get(s.file).is_some_and(|n| s.end >= *n);
        match body {
            Body::Slice(s) => ends(s),
            Body::Multipart(parts) => parts.iter().any(|p| matches!(p, Part::File { slice, .. } if ends(slice))),
            _ => false,
        }
    }

    /// The stall watchdog: the requests that have shown no sign of life for the stall timeout
    /// (ten times that once a body that ends a file is sent, while the server digests it). The
    /// shell aborts each; its network error is then reported as a stall, and the protocol
    /// retries it like any other. Each request is reported once.
    pub fn stalled(&mut self, now_ms: f64) -> Vec<RequestId> {
        let t = self.stall_timeout_ms;
        if t <= 0.0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        for f in self.in_flight.iter_mut().filter(|f| !f.stalled) {
            if now_ms - f.last_activity >= f.stall_limit(t) {
                f.stalled = true;
                out.push(f.id);
            }
        }
        out
    }

    /// When the watchdog should look again (the earliest moment a request in flight can stall).
    pub fn next_stall_check(&self) -> Option<f64> {
        let t = self.stall_timeout_ms;
        if t <= 0.0 {
            return None;
        }
        self.in_flight.iter().filter(|f| !f.stalled).map(|f| f.last_activity + f.stall_limit(t)).reduce(f64::min)
    }

    fn update_progress(&mut self, now_ms: f64) -> bool {
        let in_flight: u64 = self.in_flight.iter().map(|f| f.sent).sum();
        self.progress.set_total(self.proto.total());
        self.progress.update(now_ms, self.proto.confirmed(), in_flight)
    }

    /// Bytes of each file's head the protocol needs before starting (see `Protocol::head_bytes`).
    pub fn head_bytes(&self) -> usize {
        self.proto.head_bytes().min(65_536)
    }

    /// See [`Protocol::wants_file_digests`].
    pub fn wants_file_digests(&self) -> bool {
        self.proto.wants_file_digests()
    }

    /// The SHA-256 of each input file (see [`Protocol::set_file_digests`]).
    pub fn set_file_digests(&mut self, sha256: Vec<[u8; 32]>) {
        self.proto.set_file_digests(sha256);
    }

    /// Input files the protocol wants hashed now (see [`Protocol::take_digests_wanted`]): the
    /// shell hashes them and answers with [`Engine::set_file_digest`], or
    /// [`Engine::digests_failed`] when a file cannot be read.
    pub fn digests_wanted(&mut self) -> Vec<usize> {
        if self.state == State::Finished {
            return Vec::new();
        }
        self.proto.take_digests_wanted()
    }

    /// The SHA-256 of input file `file` (see [`Engine::digests_wanted`]).
    pub fn set_file_digest(&mut self, file: usize, sha256: [u8; 32]) {
        if self.state != State::Finished {
            self.proto.set_file_digest(file, sha256);
        }
    }

    /// An input file asked for by [`Engine::digests_wanted`] could not be read: the upload fails.
    pub fn digests_failed(&mut self, detail: &str) {
        let e = UploadError::invalid(self.proto.provider(), format!("could not read the input files to hash them: {detail}"));
        self.finish(Err(e));
    }

    /// Hands the file heads over; an error ends the upload before any request.
    pub fn set_heads(&mut self, heads: Vec<Vec<u8>>) {
        if self.state == State::Finished {
            return;
        }
        if let Err(e) = self.proto.set_heads(heads) {
            self.finish(Err(e));
        }
    }

    /// After a failure (not an abort): requests that clean up the server-side session.
    pub fn cleanup_after_failure(&mut self) -> Vec<Request> {
        match &self.result {
            Some(Err(e)) if e.code != ErrorCode::Aborted => {
                let cleanup = self.proto.cleanup_on_failure();
                self.guarded(cleanup)
            }
            _ => Vec::new(),
        }
    }

    /// More input for a stream of unknown length (see `Protocol::push_input`).
    pub fn push_input(&mut self, file: usize, size: u64, last: bool, now_ms: f64) -> Result<(), UploadError> {
        if self.state == State::Finished {
            return Err(UploadError::invalid(self.proto.provider(), "the upload has already finished"));
        }
        self.proto.push_input(file, size, last)?;
        if self.file_sizes.len() <= file {
            self.file_sizes.resize(file + 1, 0);
        }
        if let Some(n) = self.file_sizes.get_mut(file) {
            *n = size;
        }
        self.update_progress(now_ms);
        Ok(())
    }

    pub fn progress(&self) -> Snapshot {
        self.progress.snapshot()
    }

    /// Feeds the outcome of request `id`. Returns true when progress moved.
    pub fn on_outcome(&mut self, id: RequestId, outcome: Outcome, now_ms: f64) -> bool {
        let Some(pos) = self.in_flight.iter().position(|f| f.id == id) else {
            return false; // stale (after abort or finish)
        };
        let InFlight { request, sent_at, stalled, .. } = self.in_flight.remove(pos);
        if self.state == State::Finished {
            return false;
        }
        let outcome = match outcome {
            Outcome::Network(_) if stalled => Outcome::Network(format!(
                "no progress for {} ms, the stalled request was aborted",
                self.stall_timeout_ms.round() as u64
            )),
            o => o,
        };
        let bytes = request.body.file_bytes();
        if let Outcome::Response(r) = &outcome {
            if bytes > 0 && r.status < 400 {
                self.proto.observe(&request, bytes, now_ms - sent_at);
            }
        }
        self.proto.set_now(now_ms);
        let verdict = self.proto.handle(&request, outcome);
        let confirmed = self.proto.confirmed();
        // Progress is measured against the previous answer, not the best ever seen: after a
        // session is re-created from offset 0, its chunks are progress again.
        let advanced = confirmed > self.last_confirmed;
        if confirmed < self.last_confirmed {
            self.regressions += 1;
        }
        self.last_confirmed = confirmed;
        if confirmed > self.high_water {
            self.high_water = confirmed;
            self.regressions = 0;
        }
        if advanced {
            self.attempt = 0;
            self.stalled = 0;
            self.throttled = 0;
            self.token_refreshes = 0;
        }
        if self.regressions > MAX_REGRESSIONS {
            self.finish(Err(UploadError::protocol(
                self.proto.provider(),
                "the server keeps losing the data it confirmed; giving up",
            )));
            return self.update_progress(now_ms);
        }
        match verdict {
            Verdict::Continue => {
                if !advanced {
                    self.stalled += 1;
                    if self.stalled > MAX_STALLED_STEPS {
                        self.finish(Err(UploadError::protocol(
                            self.proto.provider(),
                            "the server keeps answering without accepting data; giving up",
                        )));
                    }
                }
            }
            Verdict::Retry { error, retry_after } => {
                self.attempt += 1;
                match self.policy.delay(self.attempt, retry_after, now_ms) {
                    Some(delay) => {
                        let until = now_ms + delay as f64;
                        self.backoff_until = Some(self.backoff_until.map_or(until, |u| u.max(until)));
                    }
                    None => {
                        let mut e = error;
                        if self.attempt > 1 {
                            e.message.push_str(&format!(" (after {} retries)", u64::from(self.attempt - 1)));
                        }
                        self.finish(Err(e));
                    }
                }
            }
            Verdict::Throttled { error, retry_after } => {
                self.throttled += 1;
                if self.throttled > MAX_THROTTLES {
                    let mut e = error;
                    e.message.push_str(&format!(" (still rate limited after {} waits)", u64::from(MAX_THROTTLES)));
                    self.finish(Err(e));
                } else {
                    // Server's delay, else the retry schedule's (its last step once exhausted).
                    let step = self.throttled.min(self.policy.delays.len() as u32);
                    let fallback = step.checked_sub(1).and_then(|i| self.policy.delays.get(i as usize)).copied().unwrap_or(1000);
                    let delay = retry_after.map_or(fallback, |ra| ra.delay_from(now_ms).min(self.policy.max_retry_after_ms));
                    let until = now_ms + delay as f64;
                    self.backoff_until = Some(self.backoff_until.map_or(until, |u| u.max(until)));
                }
            }
            Verdict::Reauth(error) => {
                if !self.can_refresh_token || self.token_refreshes >= MAX_TOKEN_REFRESHES {
                    let mut e = error;
                    e.code = ErrorCode::Auth;
                    self.finish(Err(e));
                } else {
                    self.want_token = true;
                }
            }
            Verdict::Fail(error) => self.finish(Err(error)),
        }
        self.update_progress(now_ms)
    }

    /// The page's answer to `Action::RefreshToken`: a token, or None (no token: fail).
    pub fn on_token(&mut self, token: Option<String>) {
        if !self.awaiting_token {
            return;
        }
        self.awaiting_token = false;
        match token {
            Some(t) if !t.is_empty() => {
                self.remember_secrets();
                self.token_refreshes += 1;
                self.proto.set_token(&t);
            }
            _ => {
                let e = UploadError::new(ErrorCode::Auth, self.proto.provider(), "the access token was refused and no new token was given")
                    .with_status(401);
                self.finish(Err(e));
            }
        }
    }
}
