//! PeerTube resumable upload (uploadx protocol) for videos and user archive imports.
//! Wire details: shared/protocols/peertube-and-apivideo.md §1.2–1.5.
//!
//! init `POST` (201 + Location) → chunks `PUT Content-Range: bytes a-b/N` (308 + `Range`) →
//! last chunk 200 JSON. After any failed chunk: ask the offset with `PUT bytes */N` and continue
//! from what the server says. `abort()` sends `DELETE`.
//!
//! State: a [`Phase`] owns what only it needs: the upload URL with what the server confirmed
//! there (a [`Session`]) exists only while bytes go to it, while the video a lost final answer
//! created is looked for, and in the ends; it moves between them with `std::mem::replace`. What
//! spans upload URLs (re-init and checksum counters, the token, the chunk plan, what identifies
//! the video, the clock) stays on [`PeerTube`].
//!
//! Files: `options.rs` (the caller's options, the init bodies, the constructors), `transfer.rs`
//! (init, chunk and offset-query answers, `Range` and `Location`), `find.rs` (the video lookup
//! after a lost final answer); the [`Protocol`] impl is here.

mod find;
mod options;
mod transfer;

pub use find::{CLOCK_SKEW_MS, FIND_PAGE, FIND_PAGES};
pub(crate) use options::{pick, PeerTubeOptions};
pub use options::VIDEO_FIELDS;
pub use transfer::parse_range;

use crate::core::codec;
use crate::core::digest::Checksum;
use crate::core::plan::ChunkPlan;
use crate::core::retry::parse_retry_after;
use crate::core::{server_code, status_error, url, Body, ErrorCode, Json, Method, Outcome, Request, Response, Slice, UploadError};
use crate::protocols::{network_retry, Next, Protocol, Verdict};
use find::FindVideo;

pub const PROVIDER: &str = "peertube";
pub const IMPORT_PROVIDER: &str = "peertube-import";

pub const DEFAULT_CHUNK: u64 = 8 << 20;
pub const MIN_CHUNK: u64 = 64 << 10;
pub const MAX_CHUNK: u64 = 1 << 30;
/// Bounds of the adaptive chunk size (no `chunkSize` given): from [`DEFAULT_CHUNK`] it grows on
/// fast links up to 64 MiB (under the 100 MB body limit of common CDNs and proxies in front of
/// instances) and shrinks on slow ones down to 1 MiB.
pub const ADAPTIVE_MIN: u64 = 1 << 20;
pub const ADAPTIVE_MAX: u64 = 64 << 20;

/// Times one chunk is re-sent after the server found its checksum wrong (uploadx 460) before the
/// upload fails: data corrupted in transit again and again is not a passing glitch.
pub const MAX_CHECKSUM_RESENDS: u32 = 3;
/// A gone upload URL (404/410) starts the upload anew: at most this many times in a row without a
/// chunk confirmed in between, and [`MAX_REINITS`] times in all.
pub const MAX_REINITS_IN_A_ROW: u32 = 2;
pub const MAX_REINITS: u32 = 5;

/// What a request was: carried in the core's `Request::tag`, converted only by [`Kind::tag`]
/// and [`Kind::from_tag`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The `POST` that opens the resumable upload.
    Init,
    Chunk,
    /// `PUT` with `Content-Range: bytes */total`: which bytes does the server hold?
    Query,
    /// The video list read to find the video a lost final answer created.
    Find,
}

impl Kind {
    fn tag(self) -> u64 {
        match self {
            Kind::Init => 1,
            Kind::Chunk => 2,
            Kind::Query => 3,
            Kind::Find => 4,
        }
    }

    fn from_tag(tag: u64) -> Option<Kind> {
        Some(match tag {
            1 => Kind::Init,
            2 => Kind::Chunk,
            3 => Kind::Query,
            4 => Kind::Find,
            _ => return None,
        })
    }
}

/// The resume state (`session()`, `resume_state()`, `restore()`): the upload URL and the offset
/// the server confirmed, written by [`resume_json`]. `restore` reads only the URL (the offset is
/// asked of the server).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResumeState {
    upload_url: String,
}

/// `{uploadUrl, offset}`, as the page stores it.
fn resume_json(upload_url: &str, offset: u64) -> Json {
    crate::core::json::object(vec![("uploadUrl", Some(upload_url.into())), ("offset", Some(offset.into()))])
}

/// Where the upload stands. Each phase owns what only it needs: an upload URL exists only while
/// bytes go to it (`Transfer`), while the video its lost final answer created is looked for
/// (`FindVideo`), and in the ends that record it.
#[derive(Debug)]
enum Phase {
    /// `POST` that creates the upload. `confirmed`: what the previous upload URL had confirmed
    /// before it was gone (0 at first), still reported as progress until the new one answers.
    Init { confirmed: u64 },
    /// Sending bytes to the session's upload URL, or asking it which bytes it holds.
    Transfer { session: Session, step: Step },
    /// The upload is gone after its last chunk got no answer: look for the video it created
    /// among the user's videos (the page starting at `start`).
    FindVideo { gone: Session, start: u64 },
    /// The server's answer (or the one rebuilt from the video found), and the upload URL.
    Done { answer: Json, url: String },
    /// `url`: the upload URL there was when the upload failed (`cancel` deletes it);
    /// `confirmed`: what was confirmed then.
    Failed { error: UploadError, url: Option<String>, confirmed: u64 },
}

/// What goes to the upload URL next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The chunk at the session's offset.
    Chunk,
    /// `PUT bytes */total`: which bytes does the server hold?
    Query,
}

/// One upload URL the server gave (or a resumed one) and what happened at it.
#[derive(Debug)]
struct Session {
    url: String,
    /// The bytes the server confirmed at `url`. (After an init answered 200 without a Range,
    /// the figure reported before, until the offset query answers.)
    offset: u64,
    /// The last chunk went out and got no definite answer (lost, or a 5xx/408 after which the
    /// server may have completed the upload): a 404 now may mean "already done".
    final_sent: bool,
    /// The start of a chunk the server just refused for its checksum (460). uploadx truncates
    /// the file back to it, but a write of the refused body still pending can land after the
    /// truncation, and uploadx then reports those unverified bytes as stored. So the next offset
    /// answer is not trusted past this point: the chunk is sent again from here.
    rejected_from: Option<u64>,
}

impl Session {
    fn new(url: String, offset: u64) -> Session {
        Session { url, offset, final_sent: false, rejected_from: None }
    }
}

#[derive(Debug)]
pub struct PeerTube {
    provider: &'static str,
    init_url: String,
    token: String,
    total: u64,
    content_type: String,
    init_body: String,
    plan: ChunkPlan,
    phase: Phase,
    in_flight: bool,
    /// Uploads started anew since the last chunk the server confirmed (a gone upload URL: 404/410),
    /// and in all.
    reinits: u32,
    reinits_total: u32,
    no_progress: u32,
    /// 460 Checksum Mismatch answers in a row for the chunk at `mismatch_at` (across upload URLs:
    /// it is the data that gets corrupted on its way).
    mismatches: u32,
    mismatch_at: u64,
    /// Tokens replaced by `set_token`, still kept out of error messages.
    old_tokens: Vec<String>,
    /// What identifies the video this upload creates (videos only): `GET /api/v1/users/me/videos`,
    /// its name and channel.
    find: Option<FindVideo>,
    /// The client's clock (see `Protocol::set_now`) and when the upload began on it.
    now_ms: f64,
    began_ms: Option<f64>,
}

impl PeerTube {
    /// The upload URL in use (or, once ended, the last one); None while one is being created.
    pub fn upload_url(&self) -> Option<&str> {
        match &self.phase {
            Phase::Transfer { session, .. } | Phase::FindVideo { gone: session, .. } => Some(&session.url),
            Phase::Done { url, .. } => Some(url),
            Phase::Failed { url, .. } => url.as_deref(),
            Phase::Init { .. } => None,
        }
    }
    pub fn chunk_size(&self) -> u64 {
        self.plan.chunk
    }

    /// Takes the phase out to move what it owns into the next one (leaving a fresh `Init`,
    /// which the caller replaces).
    fn take_phase(&mut self) -> Phase {
        std::mem::replace(&mut self.phase, Phase::Init { confirmed: 0 })
    }

    /// The session bytes go to, while they do.
    fn transfer(&mut self) -> Option<&mut Session> {
        match &mut self.phase {
            Phase::Transfer { session, .. } => Some(session),
            _ => None,
        }
    }

    /// Next, ask the upload URL which bytes it holds.
    fn ask_offset(&mut self) {
        if let Phase::Transfer { step, .. } = &mut self.phase {
            *step = Step::Query;
        }
    }

    fn fail(&mut self, error: UploadError) -> Verdict {
        let confirmed = self.confirmed();
        let url = match self.take_phase() {
            Phase::Transfer { session, .. } | Phase::FindVideo { gone: session, .. } => Some(session.url),
            Phase::Done { url, .. } => Some(url),
            Phase::Failed { url, .. } => url,
            Phase::Init { .. } => None,
        };
        self.phase = Phase::Failed { error: error.clone(), url, confirmed };
        Verdict::Fail(error)
    }

    /// The upload resolved with `answer`: its session ends.
    fn done(&mut self, answer: Json) -> Verdict {
        self.phase = match self.take_phase() {
            Phase::Transfer { session, .. } | Phase::FindVideo { gone: session, .. } => Phase::Done { answer, url: session.url },
            other => other, // nothing was being uploaded: no answer to take
        };
        Verdict::Continue
    }

    fn protocol_error(&mut self, msg: &str) -> Verdict {
        let e = UploadError::protocol(self.provider, msg);
        self.fail(e)
    }

    fn error_for(&self, what: &str, resp: &Response) -> UploadError {
        let mut e = status_error(self.provider, what, resp);
        if resp.status == 413 {
            e.code = match server_code(&resp.body).as_deref() {
                Some("quota_reached") => ErrorCode::Quota,
                _ => ErrorCode::TooLarge,
            };
        }
        e
    }

    fn retry(&mut self, e: UploadError, resp: Option<&Response>) -> Verdict {
        let retry_after = resp.and_then(|r| r.header("retry-after")).and_then(parse_retry_after);
        Verdict::Retry { error: e, retry_after }
    }

    fn throttled(&mut self, e: UploadError, resp: &Response) -> Verdict {
        Verdict::Throttled { error: e, retry_after: resp.header("retry-after").and_then(parse_retry_after) }
    }

    /// What a refusal that may pass means for a request that changes no state (the init, the
    /// video lookup): 401 asks for a new token, 429 waits, a retryable status is tried again.
    /// Any other status: its error, for the caller to end with.
    fn passing_refusal(&mut self, what: &str, resp: &Response) -> Result<Verdict, UploadError> {
        let e = self.error_for(what, resp);
        Ok(match resp.status {
            401 => Verdict::Reauth(e),
            429 => self.throttled(e, resp),
            s if crate::core::retry::status_is_retryable(s) => self.retry(e, Some(resp)),
            _ => return Err(e),
        })
    }
}

impl Protocol for PeerTube {
    fn provider(&self) -> &'static str {
        self.provider
    }
    fn total(&self) -> u64 {
        self.total
    }
    fn confirmed(&self) -> u64 {
        match &self.phase {
            Phase::Init { confirmed } | Phase::Failed { confirmed, .. } => *confirmed,
            Phase::Transfer { session, .. } | Phase::FindVideo { gone: session, .. } => session.offset,
            Phase::Done { .. } => self.total,
        }
    }

    fn next(&mut self) -> Next {
        if self.in_flight {
            return Next::Wait;
        }
        let req = match &mut self.phase {
            Phase::Done { answer, .. } => return Next::Done(answer.clone()),
            Phase::Failed { error, .. } => return Next::Fail(error.clone()),
            Phase::FindVideo { start, .. } => {
                let start = *start;
                match self.find_request(start) {
                    Some(r) => r,
                    None => {
                        let e = UploadError::protocol(self.provider, "no video can be looked for");
                        let _ = self.fail(e.clone());
                        return Next::Fail(e);
                    }
                }
            }
            Phase::Init { .. } => Request::new(Method::Post, &self.init_url)
                .tag(Kind::Init.tag())
                .bearer(&self.token)
                .header("X-Upload-Content-Length", self.total.to_string())
                .header("X-Upload-Content-Type", self.content_type.clone())
                .body(Body::json(self.init_body.clone())),
            Phase::Transfer { session, step: Step::Query } => Request::new(Method::Put, session.url.clone())
                .tag(Kind::Query.tag())
                .bearer(&self.token)
                .header("Content-Range", format!("bytes */{}", self.total)),
            Phase::Transfer { session, step } => {
                let (start, end) = self.plan.range_at(session.offset);
                if start >= end {
                    *step = Step::Query;
                    return self.next();
                }
                Request::new(Method::Put, session.url.clone())
                    .tag(Kind::Chunk.tag())
                    .checksum(Checksum::DigestSha256)
                    .bearer(&self.token)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("bytes {}-{}/{}", start, end - 1, self.total))
                    .body(Body::Slice(Slice { file: 0, start, end }))
            }
        };
        self.in_flight = true;
        Next::Send(req)
    }

    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        self.in_flight = false;
        let Some(kind) = Kind::from_tag(req.tag) else {
            return Verdict::Continue; // not a request this upload sends
        };
        match (kind, &self.phase) {
            (Kind::Init, Phase::Init { .. }) => match outcome {
                Outcome::Network(detail) => network_retry(self.provider, "init", &detail),
                Outcome::Response(resp) => self.handle_init(resp),
            },
            (Kind::Chunk | Kind::Query, Phase::Transfer { .. }) => self.handle_data(req, kind == Kind::Chunk, outcome),
            (Kind::Find, Phase::FindVideo { start, .. }) => {
                let start = *start;
                self.handle_find(start, outcome)
            }
            _ => Verdict::Continue, // an answer that no longer matters (the upload ended, or moved on)
        }
    }

    fn set_token(&mut self, token: &str) {
        let old = std::mem::replace(&mut self.token, token.to_string());
        if !old.is_empty() && old != self.token && !self.old_tokens.contains(&old) {
            self.old_tokens.push(old);
        }
    }

    fn set_now(&mut self, now_ms: f64) {
        self.now_ms = now_ms;
        self.began_ms.get_or_insert(now_ms);
    }

    fn observe(&mut self, req: &Request, bytes: u64, elapsed_ms: f64) {
        if Kind::from_tag(req.tag) == Some(Kind::Chunk) {
            self.plan.adapt(bytes, elapsed_ms);
        }
    }

    fn resync(&mut self) {
        self.ask_offset();
    }

    /// Deletes the upload URL, unless the upload is done (or none exists).
    fn cancel(&mut self) -> Vec<Request> {
        match (&self.phase, self.upload_url()) {
            (Phase::Done { .. }, _) | (_, None) => Vec::new(),
            (_, Some(u)) => vec![Request::new(Method::Delete, u).bearer(&self.token)],
        }
    }

    fn secrets(&self) -> Vec<String> {
        let mut s = vec![self.token.clone()];
        s.extend(self.old_tokens.iter().cloned());
        s
    }

    fn credential_origin(&self) -> Option<String> {
        url::origin(&self.init_url)
    }

    fn session(&self) -> Json {
        match self.upload_url() {
            Some(u) => resume_json(u, self.confirmed()),
            None => Json::Null,
        }
    }

    /// The upload URL (on the endpoint's origin; the token is in a header, never in it) and the
    /// confirmed offset.
    fn resume_state(&self) -> Option<Json> {
        match &self.phase {
            Phase::Transfer { session, .. } => Some(resume_json(&session.url, session.offset)),
            _ => None,
        }
    }

    fn resume_key(&self) -> Option<&str> {
        self.upload_url()
    }

    /// Continues at a known upload URL: first asks the server what it holds (`PUT bytes */N`),
    /// then sends the rest. If the URL is gone (404/410), a fresh upload is created as after any
    /// lost session.
    fn restore(&mut self, state: &Json) -> Result<(), UploadError> {
        let bad = |m: &str| UploadError::invalid(self.provider, format!("cannot resume: {m}"));
        if !matches!(self.phase, Phase::Init { .. }) || self.in_flight {
            return Err(bad("the upload has already begun"));
        }
        let state = codec::from_json::<ResumeState>(state).map_err(|_| bad("no upload URL"))?;
        let u = state.upload_url;
        if !url::is_absolute_http(&u) || u.len() > 4096 || u.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad("the upload URL is not an http(s) URL"));
        }
        // The token goes with every request to this URL: only the endpoint's origin will do.
        if !url::same_origin(&u, &self.init_url) {
            return Err(bad("the upload URL is not on the endpoint's origin"));
        }
        self.phase = Phase::Transfer { session: Session::new(u, 0), step: Step::Query };
        Ok(())
    }
}
