//! api.video delegated upload with an upload token (`POST /upload?token=…`), for a file of known
//! size or for a stream of unknown length (progressive upload), plus the upload-token API.
//! Wire details: shared/protocols/peertube-and-apivideo.md §2.
//!
//! Each part is multipart/form-data (`videoId` once known, then `file`) with
//! `Content-Range: part k/N` (`part k/*` while the length is unknown, `part k/k` for the last).
//! The `part` form is what api.video's own browser uploader sends to `/upload` in production;
//! the OAS shows only `bytes`, but part numbers also let a progressive upload close the video
//! without knowing its size up front.
//!
//! Retrying a part whose answer was lost (network error or 5xx after the server may have stored
//! it) gets 400 "part collides": that part is then known to be stored, so the upload moves on
//! instead of failing. If it was the last part, the Video object is lost with the answer and
//! `start()` resolves with `{ videoId }` only.

use super::oneshot::OneShot;
use crate::core::codec::{self, DecodeError};
use crate::core::retry::{parse_retry_after, status_is_retryable};
use crate::core::url::{encode_component, join};
use crate::core::{status_error, Body, ErrorCode, FileInfo, Json, Method, Outcome, Part, Request, Slice, UploadError};
use crate::protocols::{network_retry, Next, Protocol, Verdict};
use serde::{Deserialize, Serialize};

pub const PROVIDER: &str = "apivideo";
pub const DEFAULT_ENDPOINT: &str = "https://ws.api.video";
pub const MIN_CHUNK: u64 = 5 * 1024 * 1024;
pub const MAX_CHUNK: u64 = 128 * 1024 * 1024;
/// Default part size: large enough that api.video's upload rate limit (100 requests/min in
/// production, 40 in sandbox) does not cap a fast link, small enough that a retried part is cheap.
pub const DEFAULT_CHUNK: u64 = 32 * 1024 * 1024;
/// The largest `total` the API accepts (§2.2).
pub const MAX_TOTAL: u64 = 52_428_800_000;
/// Most parts per video.
pub const MAX_PARTS: u64 = 10_000;
/// Parts of a file upload in flight at once once the video exists (the first part creates it
/// and must finish first). api.video takes parts "concurrently or sequentially"; its official
/// clients send one at a time, which leaves a long or lossy link half idle between parts.
pub const DEFAULT_PARALLEL: usize = 2;
pub const MAX_PARALLEL: usize = 6;
/// With the default concurrency, a first part that went faster than this (bytes per ms, about
/// 150 MiB/s: more than any 1 Gbit/s uplink) shows a link that is not the limit, a LAN or loopback,
/// where parts in parallel only compete for CPU (TLS, the server's disk): the rest then go one at
/// a time. Measured on loopback over TLS, 256 MiB: 2 at once 6-18 % slower than 1 at a time;
/// over a 40 ms / 200 Mbit/s link 2 at once is 7-9 % faster (BENCHMARKS.md).
pub const FAST_LINK_BYTES_PER_MS: f64 = 150.0 * 1024.0 * 1024.0 / 1000.0;

// ---- What api.video answers and what this module writes (decoded / encoded by core::codec) ----

/// Every answer api.video code reads, as one type (one decoder in the module): a part's answer
/// (the Video object: `videoId`), an error body (`{type, title, name, status, detail?}`: its
/// `title` says whether a resent part collides), an upload token (`token`), a token listing
/// (`data`: tokens) and an access token (`access_token`). Every field is optional, so a field of
/// the wrong type (a number for `videoId`…) fails the decoding instead of reading as absent; each
/// reader then checks the fields it needs. Results handed to the page (the last part's Video, the
/// token API's answers) stay the provider's own JSON.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    video_id: Option<String>,
    title: Option<String>,
    token: Option<String>,
    data: Option<Vec<Answer>>,
    #[serde(rename = "access_token")]
    access_token: Option<String>,
}

/// The upload's session (`{videoId, partsDone}`) and resume record (plus `chunkSize`).
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    video_id: Option<String>,
    parts_done: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chunk_size: Option<u64>,
}

/// The `videoId` of an upload's session value (see [`Protocol::session`]), once known.
pub fn session_video_id(session: &Json) -> Option<String> {
    codec::from_json::<Record>(session).ok()?.video_id
}

/// JSON request bodies of the token API and auth: one field each.
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// api.video's own options, of every call (the upload, the progressive upload, the token API
/// and auth), decoded once from the page's plain-data options; other keys (`endpoint`,
/// `retryDelays`, callbacks…) are read elsewhere.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    pub upload_token: Option<String>,
    pub video_name: Option<String>,
    pub video_id: Option<String>,
    pub concurrency: Option<u64>,
    pub access_token: Option<String>,
    pub ttl: Option<u64>,
    pub token: Option<String>,
    pub api_key: Option<String>,
    pub refresh_token: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub current_page: Option<u64>,
    pub page_size: Option<u64>,
}

pub const CONCURRENCY: &str = "concurrency must be an integer from 1 to 6";
const SORT_BY: &str = "sortBy must be 'createdAt' or 'ttl'";
const SORT_ORDER: &str = "sortOrder must be 'asc' or 'desc'";
const CURRENT_PAGE: &str = "currentPage must be an integer ≥ 1";
const PAGE_SIZE: &str = "pageSize must be 1 to 100";

/// What each option must be, as the message that names it says.
const EXPECTED: &[(&str, &str)] = &[
    ("uploadToken", "uploadToken must be a string"),
    ("videoName", "videoName must be a string"),
    ("videoId", "videoId must be a string"),
    ("concurrency", CONCURRENCY),
    ("accessToken", "accessToken must be a string"),
    ("ttl", "ttl must be a non-negative integer"),
    ("token", "token must be a string"),
    ("apiKey", "apiKey must be a string"),
    ("refreshToken", "refreshToken must be a string"),
    ("sortBy", SORT_BY),
    ("sortOrder", SORT_ORDER),
    ("currentPage", CURRENT_PAGE),
    ("pageSize", PAGE_SIZE),
];

/// Decodes `data` (the page's options) into [`Options`]. A value of the wrong type is refused
/// with its option's message: serde's error names no field, so each key is tried again alone
/// (every field is optional: only the culprit fails).
pub fn options(data: &Json, provider: &'static str) -> Result<Options, UploadError> {
    codec::from_json::<Options>(data).map_err(|_| {
        let culprit = codec::culprit(data, &mut EXPECTED.iter().map(|(key, _)| *key), &|one| codec::from_json::<Options>(one).is_ok());
        let why = EXPECTED.iter().find(|(key, _)| Some(*key) == culprit).map_or("options must be plain data", |(_, why)| *why);
        UploadError::invalid(provider, why)
    })
}

/// What a request was: carried in the core's `Request::tag`, converted only by [`Kind::tag`]
/// and [`Kind::from_tag`]. Every request of an upload sends a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The part at this index (the tag holds its part number, index + 1).
    Part(usize),
}

impl Kind {
    fn tag(self) -> u64 {
        match self {
            Kind::Part(idx) => idx as u64 + 1,
        }
    }

    fn from_tag(tag: u64) -> Option<Kind> {
        let idx = usize::try_from(tag.checked_sub(1)?).ok()?;
        Some(Kind::Part(idx))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartState {
    Pending,
    InFlight,
    Stored,
}

#[derive(Clone, Debug, PartialEq)]
struct PartSpec {
    slice: Slice,
    last: bool,
    state: PartState,
    /// This part may have been stored although no answer said so (lost answer, 5xx).
    maybe_stored: bool,
}

/// Every part so far, in order (part number k is `list[k - 1]`), and the bytes of those stored:
/// [`Parts::store`] is the one place a part becomes stored, so `confirmed` only grows with it.
#[derive(Debug, Default)]
struct Parts {
    list: Vec<PartSpec>,
    confirmed: u64,
}

impl Parts {
    /// A file of `size` bytes cut into parts of `chunk` bytes, none sent.
    fn plan(size: u64, chunk: u64) -> Self {
        let mut parts = Parts::default();
        let mut start = 0;
        while start < size {
            let end = start.saturating_add(chunk).min(size);
            parts.push(Slice { file: 0, start, end }, end == size);
            start = end;
        }
        parts
    }

    fn push(&mut self, slice: Slice, last: bool) {
        self.list.push(PartSpec { slice, last, state: PartState::Pending, maybe_stored: false });
    }

    fn len(&self) -> u64 {
        self.list.len() as u64
    }

    /// Part `idx` is stored (again, after a "collides" answer: counted once). False for a part
    /// that does not exist.
    fn store(&mut self, idx: usize) -> bool {
        let Some(part) = self.list.get_mut(idx) else {
            return false;
        };
        if part.state != PartState::Stored {
            part.state = PartState::Stored;
            part.maybe_stored = false;
            self.confirmed += part.slice.len();
        }
        true
    }

    /// Leading parts stored, in order (what a resumed upload can skip for sure).
    fn done(&self) -> u64 {
        self.list.iter().take_while(|p| p.state == PartState::Stored).count() as u64
    }

    /// The last part is known and every part is stored.
    fn complete(&self) -> bool {
        self.list.last().is_some_and(|p| p.last) && self.list.iter().all(|p| p.state == PartState::Stored)
    }

    fn in_flight(&self) -> usize {
        self.list.iter().filter(|p| p.state == PartState::InFlight).count()
    }

    fn untouched(&self) -> bool {
        self.list.iter().all(|p| p.state == PartState::Pending)
    }
}

/// What is uploaded: its size, how it is cut into parts and how many go at once.
#[derive(Debug)]
enum Source {
    /// A whole file: `total` bytes in parts of `chunk` bytes, numbered `part k/N` by it.
    File { total: u64, chunk: u64, concurrency: Concurrency },
    /// A stream of unknown length (progressive upload): parts arrive through
    /// [`Protocol::push_input`] and go one at a time, `part k/*` until the last (`part k/k`).
    /// `appended`: bytes pushed so far; `finished`: the last part was pushed.
    Progressive { appended: u64, finished: bool },
}

/// Parts of a file in flight at once once the video exists.
#[derive(Clone, Copy, Debug)]
enum Concurrency {
    /// [`DEFAULT_PARALLEL`], not chosen by the page: the first answered part's speed may lower
    /// it to 1 (decided once, see [`Protocol::observe`]).
    Auto,
    /// Chosen by the page, or decided by the first part.
    Fixed(usize),
}

#[derive(Debug)]
enum Phase {
    /// No `videoId` yet: part 1 alone is in flight (parts without `videoId` would each create a
    /// video); its answer names the video.
    First,
    /// The video is known (named by the page or by part 1's answer): every part carries it, and
    /// a file's parts go several at once.
    Parts { video_id: String },
    /// Every part stored: the Video object (as api.video sent it, `videoId` added if missing).
    Done { video_id: String, video: Json },
    Failed { video_id: Option<String>, error: UploadError },
}

impl Phase {
    fn video_id(&self) -> Option<&str> {
        match self {
            Phase::First => None,
            Phase::Parts { video_id } | Phase::Done { video_id, .. } => Some(video_id),
            Phase::Failed { video_id, .. } => video_id.as_deref(),
        }
    }

    fn ended(&self) -> bool {
        matches!(self, Phase::Done { .. } | Phase::Failed { .. })
    }
}

#[derive(Debug)]
pub struct ApiVideo {
    url: String,
    token: String,
    filename: String,
    mime: String,
    source: Source,
    parts: Parts,
    phase: Phase,
}

fn check_token(token: &str) -> Result<(), UploadError> {
    if token.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "uploadToken is required"));
    }
    if token.len() > 256 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(UploadError::invalid(PROVIDER, "uploadToken has unexpected characters"));
    }
    Ok(())
}

fn check_video_id(id: &Option<String>) -> Result<(), UploadError> {
    match id {
        Some(v) if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            Err(UploadError::invalid(PROVIDER, "videoId has unexpected characters"))
        }
        _ => Ok(()),
    }
}

impl ApiVideo {
    fn base(endpoint: &str, token: &str, filename: String, mime: String, video_id: Option<String>, source: Source, parts: Parts) -> Result<Self, UploadError> {
        check_token(token)?;
        check_video_id(&video_id)?;
        let url = format!("{}?token={}", join(endpoint, "/upload"), encode_component(token));
        if !crate::core::url::is_absolute_http(&url) {
            return Err(UploadError::invalid(PROVIDER, "endpoint must be an http(s) URL or a path on this site"));
        }
        Ok(ApiVideo {
            url,
            token: token.to_string(),
            filename,
            mime: if mime.is_empty() { "application/octet-stream".into() } else { mime },
            source,
            parts,
            // A video named by the page: part 1 already carries it.
            phase: match video_id {
                Some(video_id) => Phase::Parts { video_id },
                None => Phase::First,
            },
        })
    }

    /// Upload of a whole file. `chunk` must lie in [5 MiB, 128 MiB].
    pub fn file(endpoint: &str, token: &str, file: &FileInfo, video_name: Option<&str>, video_id: Option<String>, chunk: Option<u64>) -> Result<Self, UploadError> {
        let chunk = chunk.unwrap_or(DEFAULT_CHUNK);
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk) {
            return Err(UploadError::invalid(PROVIDER, format!("chunkSize must be between {MIN_CHUNK} and {MAX_CHUNK} bytes (got {chunk})")));
        }
        if file.size == 0 {
            return Err(UploadError::invalid(PROVIDER, "api.video does not accept an empty file"));
        }
        if file.size > MAX_TOTAL {
            return Err(UploadError::new(ErrorCode::TooLarge, PROVIDER, format!("api.video accepts at most {MAX_TOTAL} bytes")));
        }
        if file.size.div_ceil(chunk) > MAX_PARTS {
            return Err(UploadError::invalid(PROVIDER, format!("at most {MAX_PARTS} parts: use a larger chunkSize")));
        }
        let name = video_name.map(str::to_string).filter(|n| !n.is_empty()).unwrap_or_else(|| if file.name.is_empty() { "file".into() } else { file.name.clone() });
        let source = Source::File { total: file.size, chunk, concurrency: Concurrency::Auto };
        Self::base(endpoint, token, name, file.mime.clone(), video_id, source, Parts::plan(file.size, chunk))
    }

    /// Parts of a file upload in flight at once after the first (1 = strictly one after another,
    /// like the official clients).
    pub fn with_parallel(mut self, parallel: usize) -> Result<Self, UploadError> {
        match &mut self.source {
            Source::File { concurrency, .. } if (1..=MAX_PARALLEL).contains(&parallel) => *concurrency = Concurrency::Fixed(parallel),
            _ => return Err(UploadError::invalid(PROVIDER, format!("concurrency must be 1 to {MAX_PARALLEL} (parts of a file in flight at once)"))),
        }
        Ok(self)
    }

    /// A progressive upload: parts arrive through [`Protocol::push_input`].
    pub fn progressive(endpoint: &str, token: &str, video_name: Option<&str>, video_id: Option<String>) -> Result<Self, UploadError> {
        let name = video_name.filter(|n| !n.is_empty()).unwrap_or("file").to_string();
        Self::base(endpoint, token, name, String::new(), video_id, Source::Progressive { appended: 0, finished: false }, Parts::default())
    }

    pub fn video_id(&self) -> Option<&str> {
        self.phase.video_id()
    }

    fn fail(&mut self, error: UploadError) -> Verdict {
        let video_id = match std::mem::replace(&mut self.phase, Phase::First) {
            Phase::First => None,
            Phase::Parts { video_id } | Phase::Done { video_id, .. } => Some(video_id),
            Phase::Failed { video_id, .. } => video_id,
        };
        self.phase = Phase::Failed { video_id, error: error.clone() };
        Verdict::Fail(error)
    }

    /// `Content-Range` of part number `k`.
    fn content_range(&self, k: u64, last: bool) -> String {
        match (&self.source, last) {
            (Source::File { .. }, _) => format!("part {k}/{}", self.parts.len()),
            (Source::Progressive { .. }, true) => format!("part {k}/{k}"),
            (Source::Progressive { .. }, false) => format!("part {k}/*"),
        }
    }

    /// Part `idx` is stored: move on. The answer that completes the set carries the Video:
    /// `body` is its text (empty when there is none, e.g. after a "collides" answer).
    fn part_done(&mut self, idx: usize, answer: Answer, body: &str) -> Verdict {
        if !self.parts.store(idx) {
            return self.fail(UploadError::protocol(PROVIDER, "an answer for a part that was never sent"));
        }
        match (&mut self.phase, answer.video_id.filter(|s| !s.is_empty())) {
            (Phase::First, Some(video_id)) => self.phase = Phase::Parts { video_id },
            (Phase::First, None) => return self.fail(UploadError::protocol(PROVIDER, "the first part's answer carries no videoId")),
            (Phase::Parts { video_id }, Some(named)) => *video_id = named,
            // Answers are handled while the upload runs only.
            (Phase::Parts { .. } | Phase::Done { .. } | Phase::Failed { .. }, _) => {}
        }
        if self.parts.complete() {
            self.phase = match std::mem::replace(&mut self.phase, Phase::First) {
                Phase::Parts { video_id } => {
                    // The Video object as api.video sent it (a pass-through value for the page),
                    // with `videoId` added when the answer was lost or carried none.
                    let mut video = match codec::decode::<Json>(body) {
                        Ok(Json::Object(map)) => map,
                        _ => Default::default(),
                    };
                    video.entry("videoId").or_insert_with(|| Json::String(video_id.clone()));
                    Phase::Done { video_id, video: Json::Object(video) }
                }
                other => other,
            };
        }
        Verdict::Continue
    }
}

/// A 400 whose title says the part is stored already.
fn collides(body: &str) -> bool {
    let Ok(Answer { title: Some(title), .. }) = codec::decode::<Answer>(body) else {
        return false;
    };
    let m = title.to_ascii_lowercase();
    // "…collides with a previous one…", "…overlaps with a previous one…", and for a resent last
    // part: "This video source has already been uploaded." (api.video's error reference).
    m.contains("collide") || m.contains("overlap") || m.contains("already uploaded") || m.contains("already been uploaded")
}

impl Protocol for ApiVideo {
    fn provider(&self) -> &'static str {
        PROVIDER
    }
    fn total(&self) -> u64 {
        match self.source {
            Source::File { total, .. } => total,
            Source::Progressive { appended, .. } => appended,
        }
    }
    fn confirmed(&self) -> u64 {
        self.parts.confirmed
    }

    fn next(&mut self) -> Next {
        let limit = match &self.phase {
            Phase::Done { video, .. } => return Next::Done(video.clone()),
            Phase::Failed { error, .. } => return Next::Fail(error.clone()),
            Phase::First => 1,
            Phase::Parts { .. } => self.max_parallel(),
        };
        if self.parts.in_flight() >= limit {
            return Next::Wait;
        }
        let Some((idx, part)) = self.parts.list.iter_mut().enumerate().find(|(_, p)| p.state == PartState::Pending) else {
            return Next::Wait; // all sent (answers pending), or progressive: waiting for input
        };
        part.state = PartState::InFlight;
        let (slice, last) = (part.slice, part.last);
        let mut form = Vec::new();
        if let Some(id) = self.phase.video_id() {
            form.push(Part::Field { name: "videoId".into(), value: id.to_string() });
        }
        form.push(Part::File { name: "file".into(), filename: self.filename.clone(), content_type: self.mime.clone(), slice });
        let req = Request::new(Method::Post, self.url.clone())
            .tag(Kind::Part(idx).tag())
            .header("Content-Range", self.content_range(idx as u64 + 1, last))
            .body(Body::Multipart(form));
        Next::Send(req)
    }

    fn max_parallel(&self) -> usize {
        match self.source {
            Source::File { concurrency: Concurrency::Auto, .. } => DEFAULT_PARALLEL,
            Source::File { concurrency: Concurrency::Fixed(n), .. } => n.max(1),
            Source::Progressive { .. } => 1,
        }
    }

    fn observe(&mut self, _req: &Request, bytes: u64, elapsed_ms: f64) {
        // The first answered part went alone (it creates the video): its speed is the link's.
        // Decided once; a part too small to tell (under one MiB) decides nothing.
        if let Source::File { concurrency: concurrency @ Concurrency::Auto, .. } = &mut self.source {
            if bytes >= 1024 * 1024 {
                let fast = elapsed_ms > 0.0 && bytes as f64 / elapsed_ms >= FAST_LINK_BYTES_PER_MS;
                *concurrency = Concurrency::Fixed(if fast { 1 } else { DEFAULT_PARALLEL });
            }
        }
    }

    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        // The part this answers; a stale answer (or a tag that is no part) changes nothing.
        let Some(Kind::Part(idx)) = Kind::from_tag(req.tag) else {
            return Verdict::Continue;
        };
        let part = match self.parts.list.get_mut(idx) {
            Some(p) if p.state == PartState::InFlight => p,
            _ => return Verdict::Continue,
        };
        part.state = PartState::Pending;
        if self.phase.ended() {
            return Verdict::Continue;
        }
        let resp = match outcome {
            Outcome::Network(detail) => {
                part.maybe_stored = true;
                return network_retry(PROVIDER, "part upload", &detail);
            }
            Outcome::Response(r) => r,
        };
        if resp.is_success() {
            let body = resp.body.trim();
            let answer = match body {
                "" => Ok(Answer::default()),
                b => codec::decode::<Answer>(b),
            };
            return match answer {
                Ok(a) => self.part_done(idx, a, body),
                Err(DecodeError::Syntax) => self.fail(UploadError::protocol(PROVIDER, "a part's answer is not JSON").with_status(resp.status)),
                // JSON, but not a Video object: an array, a number, a videoId that is no string.
                Err(DecodeError::Shape) => {
                    self.fail(UploadError::protocol(PROVIDER, "a part's answer is not a Video object (videoId must be a string)").with_status(resp.status))
                }
            };
        }
        let err = status_error(PROVIDER, "part upload", &resp);
        match resp.status {
            400 if part.maybe_stored && collides(&resp.body) => self.part_done(idx, Answer::default(), ""),
            401 | 403 => {
                let mut e = err;
                e.code = ErrorCode::Auth;
                e.message.push_str(" (the upload token is invalid or expired)");
                self.fail(e)
            }
            429 => {
                let wait = resp.header("x-ratelimit-retry-after").or_else(|| resp.header("retry-after")).and_then(parse_retry_after);
                Verdict::Throttled { error: err, retry_after: wait }
            }
            s if status_is_retryable(s) => {
                // A 5xx may come after the part was stored.
                part.maybe_stored |= s >= 500;
                Verdict::Retry { error: err, retry_after: resp.header("retry-after").and_then(parse_retry_after) }
            }
            _ => self.fail(err),
        }
    }

    fn push_input(&mut self, file: usize, size: u64, last: bool) -> Result<(), UploadError> {
        let Source::Progressive { appended, finished: finished @ false } = &mut self.source else {
            return Err(UploadError::invalid(PROVIDER, "this upload takes no more data"));
        };
        if size == 0 && !last {
            return Ok(());
        }
        if !last && size < MIN_CHUNK {
            return Err(UploadError::invalid(PROVIDER, format!("a part other than the last must be at least {MIN_CHUNK} bytes")));
        }
        if size > MAX_CHUNK {
            return Err(UploadError::invalid(PROVIDER, format!("a part must be at most {MAX_CHUNK} bytes")));
        }
        if self.parts.len() + 1 > MAX_PARTS {
            return Err(UploadError::invalid(PROVIDER, format!("at most {MAX_PARTS} parts")));
        }
        if last && size == 0 && *appended == 0 {
            return Err(UploadError::invalid(PROVIDER, "nothing was uploaded"));
        }
        *appended += size;
        *finished = last;
        self.parts.push(Slice { file, start: 0, end: size }, last);
        Ok(())
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.token.clone()]
    }
    fn session(&self) -> Json {
        match self.phase.video_id() {
            Some(id) => codec::to_json(&Record { video_id: Some(id.to_string()), parts_done: Some(self.parts.done()), chunk_size: None }),
            None => Json::Null,
        }
    }

    /// A file upload whose first part is stored: the video, the parts stored and the part size
    /// (parts are numbered `k/N` by it, so a resumed upload keeps it).
    fn resume_state(&self) -> Option<Json> {
        match (&self.phase, &self.source) {
            (Phase::Parts { video_id }, Source::File { chunk, .. }) if self.parts.done() > 0 => {
                Some(codec::to_json(&Record { video_id: Some(video_id.clone()), parts_done: Some(self.parts.done()), chunk_size: Some(*chunk) }))
            }
            _ => None,
        }
    }

    fn resume_key(&self) -> Option<&str> {
        self.phase.video_id()
    }

    /// Continues the video with part `partsDone + 1`. api.video cannot be asked what it holds
    /// (that needs an API key), so the part that was in flight when the earlier page went away
    /// may be stored already: a "collides" answer to it then counts as stored, like after a
    /// lost answer.
    fn restore(&mut self, state: &Json) -> Result<(), UploadError> {
        let bad = |m: &str| UploadError::invalid(PROVIDER, format!("cannot resume: {m}"));
        // `given`: the video the page named (the videoId option).
        let (total, given) = match (&self.source, &self.phase) {
            (Source::File { total, .. }, Phase::First) if self.parts.untouched() => (*total, None),
            (Source::File { total, .. }, Phase::Parts { video_id }) if self.parts.untouched() => (*total, Some(video_id.as_str())),
            _ => return Err(bad("only a file upload that has not begun can be resumed")),
        };
        // A field of the wrong type (a record from elsewhere) is no usable record.
        let record = codec::from_json::<Record>(state).map_err(|_| bad("the record is not an api.video record"))?;
        let id = record.video_id;
        check_video_id(&id)?;
        let video_id = id.ok_or_else(|| bad("no videoId"))?;
        if given.is_some_and(|v| v != video_id) {
            return Err(bad("the videoId option names another video"));
        }
        let new_chunk = record.chunk_size.filter(|c| (MIN_CHUNK..=MAX_CHUNK).contains(c)).ok_or_else(|| bad("no usable chunkSize"))?;
        let done = record.parts_done.filter(|d| *d >= 1).ok_or_else(|| bad("no usable partsDone"))?;
        let mut parts = Parts::plan(total, new_chunk);
        if done >= parts.len() || parts.len() > MAX_PARTS {
            return Err(bad("partsDone does not fit the file"));
        }
        for p in &mut parts.list {
            // Sent in parallel before the reload, a part after `partsDone` may be stored already.
            p.maybe_stored = true;
        }
        for idx in 0..done as usize {
            parts.store(idx);
        }
        self.parts = parts;
        if let Source::File { chunk, .. } = &mut self.source {
            *chunk = new_chunk;
        }
        self.phase = Phase::Parts { video_id };
        Ok(())
    }
}

// ---- Upload-token API and auth (for trusted back-office pages: never ship an API key) ----

fn bearer_json(
    method: Method,
    url: String,
    access_token: &str,
    body: Option<RequestBody>,
    what: &'static str,
    accept: crate::protocols::oneshot::Accept,
) -> Result<OneShot, UploadError> {
    if access_token.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "accessToken is required"));
    }
    let mut req = Request::new(method, url).bearer(access_token);
    if let Some(b) = body {
        req = req.body(Body::json(codec::encode(&b)));
    }
    Ok(OneShot::new(PROVIDER, what, req, accept).with_token(access_token))
}

/// A token API answer: decoded as [`Answer`] and refused unless `complete` says it has what it
/// must; the result is the answer as api.video sent it.
fn accept_answer(resp: &crate::core::Response, complete: fn(&Answer) -> bool) -> Result<Json, UploadError> {
    let refuse = |why: &str| UploadError::protocol(PROVIDER, format!("the response {why}")).with_status(resp.status);
    match codec::decode::<Answer>(&resp.body) {
        Ok(a) if complete(&a) => codec::decode::<Json>(&resp.body).map_err(|_| refuse("is not JSON")),
        Err(DecodeError::Syntax) => Err(refuse("is not JSON")),
        _ => Err(refuse("does not have the expected fields")),
    }
}

/// `{token, ttl, createdAt, expiresAt?}`.
fn accept_token(_: &'static str, resp: &crate::core::Response) -> Result<Json, UploadError> {
    accept_answer(resp, |a| a.token.is_some())
}

/// `{data: [token…], pagination}`.
fn accept_token_list(_: &'static str, resp: &crate::core::Response) -> Result<Json, UploadError> {
    accept_answer(resp, |a| a.data.as_ref().is_some_and(|d| d.iter().all(|t| t.token.is_some())))
}

/// `{token_type, access_token, refresh_token, expires_in}`.
fn accept_access_token(_: &'static str, resp: &crate::core::Response) -> Result<Json, UploadError> {
    accept_answer(resp, |a| a.access_token.is_some())
}

/// `DELETE` answers 204 without a body: the result is `{}`, whatever came with it.
fn accept_empty(_: &'static str, _: &crate::core::Response) -> Result<Json, UploadError> {
    Ok(Json::Object(Default::default()))
}

/// `POST /upload-tokens {ttl}` (seconds; 0 = never expires).
pub fn create_token(endpoint: &str, access_token: &str, ttl: Option<u64>) -> Result<OneShot, UploadError> {
    if ttl.is_some_and(|t| t > 2_147_483_647) {
        return Err(UploadError::invalid(PROVIDER, "ttl must be 0 to 2147483647 seconds"));
    }
    let body = RequestBody { ttl: Some(ttl.unwrap_or(0)), ..Default::default() };
    bearer_json(Method::Post, join(endpoint, "/upload-tokens"), access_token, Some(body), "upload token creation", accept_token)
}

/// `GET /upload-tokens?sortBy&sortOrder&currentPage&pageSize`.
/// `query` holds the page's options (`sortBy`, `sortOrder`, `currentPage`, `pageSize`; the
/// others are not looked at here).
pub fn list_tokens(endpoint: &str, access_token: &str, query: &Json) -> Result<OneShot, UploadError> {
    let q = options(query, PROVIDER)?;
    let mut qs = Vec::new();
    if let Some(s) = q.sort_by {
        if !matches!(s.as_str(), "createdAt" | "ttl") {
            return Err(UploadError::invalid(PROVIDER, SORT_BY));
        }
        qs.push(format!("sortBy={s}"));
    }
    if let Some(s) = q.sort_order {
        if !matches!(s.as_str(), "asc" | "desc") {
            return Err(UploadError::invalid(PROVIDER, SORT_ORDER));
        }
        qs.push(format!("sortOrder={s}"));
    }
    if let Some(n) = q.current_page {
        if n < 1 {
            return Err(UploadError::invalid(PROVIDER, CURRENT_PAGE));
        }
        qs.push(format!("currentPage={n}"));
    }
    if let Some(n) = q.page_size {
        if !(1..=100).contains(&n) {
            return Err(UploadError::invalid(PROVIDER, PAGE_SIZE));
        }
        qs.push(format!("pageSize={n}"));
    }
    let mut url = join(endpoint, "/upload-tokens");
    if !qs.is_empty() {
        url = format!("{url}?{}", qs.join("&"));
    }
    bearer_json(Method::Get, url, access_token, None, "upload token listing", accept_token_list)
}

/// `GET /upload-tokens/{token}`.
pub fn get_token(endpoint: &str, access_token: &str, token: &str) -> Result<OneShot, UploadError> {
    check_token(token)?;
    bearer_json(Method::Get, join(endpoint, &format!("/upload-tokens/{token}")), access_token, None, "upload token lookup", accept_token)
}

/// `DELETE /upload-tokens/{token}` (204).
pub fn delete_token(endpoint: &str, access_token: &str, token: &str) -> Result<OneShot, UploadError> {
    check_token(token)?;
    bearer_json(Method::Delete, join(endpoint, &format!("/upload-tokens/{token}")), access_token, None, "upload token deletion", accept_empty)
}

/// `POST /auth/api-key {apiKey}` → `{access_token, refresh_token, expires_in}`.
pub fn auth_api_key(endpoint: &str, api_key: &str) -> Result<OneShot, UploadError> {
    if api_key.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "apiKey is required"));
    }
    let body = RequestBody { api_key: Some(api_key), ..Default::default() };
    let req = Request::new(Method::Post, join(endpoint, "/auth/api-key")).body(Body::json(codec::encode(&body)));
    Ok(OneShot::new(PROVIDER, "authentication", req, accept_access_token).with_secret(api_key))
}

/// `POST /auth/refresh {refreshToken}`.
pub fn auth_refresh(endpoint: &str, refresh_token: &str) -> Result<OneShot, UploadError> {
    if refresh_token.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "refreshToken is required"));
    }
    let body = RequestBody { refresh_token: Some(refresh_token), ..Default::default() };
    let req = Request::new(Method::Post, join(endpoint, "/auth/refresh")).body(Body::json(codec::encode(&body)));
    Ok(OneShot::new(PROVIDER, "token refresh", req, accept_access_token).with_secret(refresh_token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Response;

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
        assert_eq!(p.next(), Next::Done(serde_json::json!({"videoId": "viB"})));

        // The wording api.video really uses for a resent last part.
        let mut p = ApiVideo::file("http://x", "tok1", &info(6 * MIB), None, Some("viC".into()), Some(5 * MIB)).unwrap();
        let r = send(&mut p);
        p.handle(&r, ok(r#"{"videoId":"viC"}"#));
        let last = send(&mut p);
        assert!(matches!(p.handle(&last, Outcome::Network("reset".into())), Verdict::Retry { .. }));
        let again = send(&mut p);
        let body = r#"{"type":"https://docs.api.video/reference/video-source-already-uploaded","title":"This video source has already been uploaded.","name":"","status":400}"#;
        assert_eq!(p.handle(&again, Outcome::Response(Response::new(400).with_body(body))), Verdict::Continue);
        assert_eq!(p.next(), Next::Done(serde_json::json!({"videoId": "viC"})));
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
        let q = serde_json::json!({"sortBy": "ttl", "sortOrder": "desc", "currentPage": 2, "pageSize": 10});
        let mut l = list_tokens("https://ws.api.video", "acc", &q).unwrap();
        let Next::Send(r) = l.next() else { panic!() };
        assert_eq!(r.url, "https://ws.api.video/upload-tokens?sortBy=ttl&sortOrder=desc&currentPage=2&pageSize=10");
        assert!(list_tokens("h://x", "acc", &serde_json::json!({"pageSize": 101})).is_err());
        assert!(list_tokens("h://x", "acc", &serde_json::json!({"sortBy": "name"})).is_err());
        let mut d = delete_token("https://ws.api.video", "acc", "to1").unwrap();
        let Next::Send(r) = d.next() else { panic!() };
        assert_eq!((r.method, r.url.as_str()), (Method::Delete, "https://ws.api.video/upload-tokens/to1"));
        d.handle(&r, Outcome::Response(Response::new(204)));
        assert_eq!(d.next(), Next::Done(serde_json::json!({})));
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
        assert!(bad(token_answer(list_tokens("http://x", "acc", &serde_json::json!({})), r#"{"data":{},"pagination":{}}"#)));
        assert!(bad(token_answer(auth_api_key("http://x", "key"), r#"{"token_type":"Bearer"}"#)));
        // …and a complete one is the result, with the fields the page reads.
        let mut c = create_token("http://x", "acc", Some(60)).unwrap();
        let Next::Send(r) = c.next() else { panic!() };
        let body = r#"{"token":"to1","ttl":60,"createdAt":"2026-01-01T00:00:00+00:00","expiresAt":"2026-01-01T00:01:00+00:00"}"#;
        assert_eq!(c.handle(&r, Outcome::Response(Response::new(200).with_body(body))), Verdict::Continue);
        assert_eq!(c.next(), Next::Done(codec::decode::<Json>(body).unwrap()));
        let mut l = list_tokens("http://x", "acc", &serde_json::json!({})).unwrap();
        let Next::Send(r) = l.next() else { panic!() };
        let body = r#"{"data":[{"token":"to1","ttl":0,"createdAt":"2026-01-01T00:00:00+00:00"}],"pagination":{"currentPage":1,"pageSize":25,"pagesTotal":1,"itemsTotal":1,"currentPageItems":1,"links":[{"rel":"self","uri":"/upload-tokens?currentPage=1"}]}}"#;
        l.handle(&r, Outcome::Response(Response::new(200).with_body(body)));
        assert_eq!(l.next(), Next::Done(codec::decode::<Json>(body).unwrap()), "no expiresAt for a token that never expires");

        // A listing option of the wrong type is refused by name (it used to be dropped).
        let e = list_tokens("http://x", "acc", &serde_json::json!({"sortBy": 5, "pageSize": 10})).err().unwrap();
        assert_eq!((e.code, e.message.as_str()), (ErrorCode::InvalidInput, "sortBy must be 'createdAt' or 'ttl'"));
        let e = list_tokens("http://x", "acc", &serde_json::json!({"currentPage": 1.5})).err().unwrap();
        assert_eq!(e.message, "currentPage must be an integer ≥ 1");
        let e = list_tokens("http://x", "acc", &serde_json::json!({"currentPage": 0})).err().unwrap();
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
        let e = q.restore(&serde_json::json!({"videoId": "viS", "partsDone": "1", "chunkSize": 5 * MIB})).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        q.restore(&p.resume_state().unwrap()).unwrap();
        assert_eq!(q.confirmed(), 5 * MIB);
    }
}
