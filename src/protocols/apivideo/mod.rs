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
//!
//! State: the `Source` says what is sent (a `File` of known `total`, cut into `chunk`-byte
//! parts, several in flight per its `Concurrency`; or a `Progressive` stream, growing until its
//! last part, one part at a time); the `Phase` owns the video: none in `First` (part 1 alone in
//! flight: its answer names the video), `Parts { video_id }`, `Done { video_id, video }`,
//! `Failed { video_id?, error }`, handed on with `std::mem::replace`. What lives across phases
//! (the parts, sent and stored, and the bytes confirmed) is `parts::Parts`.
//!
//! Files: this one (the upload's phases and the [`Protocol`] impl), `parts.rs` (which parts are
//! sent and stored), `wire.rs` (answers, records, checks), `options.rs`, `tokens.rs` (the
//! upload-token API and auth), `tests.rs`.

mod options;
mod parts;
mod tokens;
mod wire;

pub use options::{options, Options, CONCURRENCY};
pub use tokens::{auth_api_key, auth_refresh, create_token, delete_token, get_token, list_tokens};
pub use wire::session_video_id;

use crate::core::codec::{self, DecodeError};
use crate::core::retry::{parse_retry_after, status_is_retryable};
use crate::core::url::{encode_component, join};
use crate::core::{status_error, Body, ErrorCode, FileInfo, Json, Method, Outcome, Part, Request, Slice, UploadError};
use crate::protocols::{network_retry, Next, Protocol, Verdict};
use parts::Parts;
use wire::{check_token, check_video_id, collides, record, Answer};

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
    /// `video_id`: the video part 1's answer or the page named, if any (the session still names
    /// it after the failure).
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

    /// Ends the upload with a protocol error (cold: one copy for every such case).
    #[inline(never)]
    fn fail_protocol(&mut self, why: &'static str, status: Option<u16>) -> Verdict {
        let mut e = UploadError::protocol(PROVIDER, why);
        e.status = status;
        self.fail(e)
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
            return self.fail_protocol("an answer for a part that was never sent", None);
        }
        match (&mut self.phase, answer.video_id.filter(|s| !s.is_empty())) {
            (Phase::First, Some(video_id)) => self.phase = Phase::Parts { video_id },
            (Phase::First, None) => return self.fail_protocol("the first part's answer carries no videoId", None),
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
                    if !video.contains_key("videoId") {
                        video.insert("videoId".into(), Json::String(video_id.clone()));
                    }
                    Phase::Done { video_id, video: Json::Object(video) }
                }
                other => other,
            };
        }
        Verdict::Continue
    }
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
        self.parts.confirmed()
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
        let Some((idx, slice, last)) = self.parts.send_next() else {
            return Next::Wait; // all sent (answers pending), or progressive: waiting for input
        };
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
        let Some(part) = self.parts.answered(idx) else {
            return Verdict::Continue;
        };
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
                Err(DecodeError::Syntax) => self.fail_protocol("a part's answer is not JSON", Some(resp.status)),
                // JSON, but not a Video object: an array, a number, a videoId that is no string.
                Err(DecodeError::Shape) => self.fail_protocol("a part's answer is not a Video object (videoId must be a string)", Some(resp.status)),
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
            Some(id) => record(id, self.parts.done(), None),
            None => Json::Null,
        }
    }

    /// A file upload whose first part is stored: the video, the parts stored and the part size
    /// (parts are numbered `k/N` by it, so a resumed upload keeps it).
    fn resume_state(&self) -> Option<Json> {
        match (&self.phase, &self.source) {
            (Phase::Parts { video_id }, Source::File { chunk, .. }) if self.parts.done() > 0 => {
                Some(record(video_id, self.parts.done(), Some(*chunk)))
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
        let not_begun = || bad("only a file upload that has not begun can be resumed");
        let Source::File { total, chunk, .. } = &mut self.source else {
            return Err(not_begun());
        };
        // `given`: the video the page named (the videoId option).
        let given = match &self.phase {
            Phase::First if self.parts.untouched() => None,
            Phase::Parts { video_id } if self.parts.untouched() => Some(video_id.as_str()),
            _ => return Err(not_begun()),
        };
        // A field of the wrong type (a record from elsewhere) is no usable record.
        let record = codec::from_json::<Answer>(state).map_err(|_| bad("the record is not an api.video record"))?;
        let id = record.video_id;
        check_video_id(&id)?;
        let video_id = id.ok_or_else(|| bad("no videoId"))?;
        if given.is_some_and(|v| v != video_id) {
            return Err(bad("the videoId option names another video"));
        }
        let new_chunk = record.chunk_size.filter(|c| (MIN_CHUNK..=MAX_CHUNK).contains(c)).ok_or_else(|| bad("no usable chunkSize"))?;
        let done = record.parts_done.filter(|d| *d >= 1).ok_or_else(|| bad("no usable partsDone"))?;
        let mut parts = Parts::plan(*total, new_chunk);
        if done >= parts.len() || parts.len() > MAX_PARTS {
            return Err(bad("partsDone does not fit the file"));
        }
        parts.resume(done);
        self.parts = parts;
        *chunk = new_chunk;
        self.phase = Phase::Parts { video_id };
        Ok(())
    }
}

#[cfg(test)]
mod tests;
