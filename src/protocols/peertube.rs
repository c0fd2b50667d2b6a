//! PeerTube resumable upload (uploadx protocol) for videos and user archive imports.
//! Wire details: shared/protocols/peertube-and-apivideo.md §1.2–1.5.
//!
//! init `POST` (201 + Location) → chunks `PUT Content-Range: bytes a-b/N` (308 + `Range`) →
//! last chunk 200 JSON. After any failed chunk: ask the offset with `PUT bytes */N` and continue
//! from what the server says. `abort()` sends `DELETE`.

use crate::core::codec;
use crate::core::digest::Checksum;
use crate::core::plan::ChunkPlan;
use crate::core::retry::{parse_retry_after, status_is_retryable};
use crate::core::{server_code, status_error, url, Body, ErrorCode, FileInfo, Json, Method, Outcome, Request, Response, Slice, UploadError};
use crate::protocols::{default_verdict, network_retry, Next, Protocol, Verdict};

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

/// Fields of PeerTube's resumable init body a caller may set (PT-dev whitelist, video part).
pub const VIDEO_FIELDS: &[&str] = &[
    "name", "channelId", "privacy", "category", "licence", "language", "description", "support", "tags",
    "commentsPolicy", "downloadEnabled", "nsfw", "nsfwSummary", "nsfwFlags", "waitTranscoding", "scheduleUpdate",
    "originallyPublishedAt", "videoPasswords", "generateTranscription", "pluginData", "filename",
];

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
/// the server confirmed. `restore` reads only the URL (the offset is asked of the server).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResumeState {
    upload_url: String,
    #[serde(default, skip_deserializing)]
    offset: u64,
}

/// The init body of a user archive import.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ImportInit<'a> {
    filename: &'a str,
    last_modified: Json,
}

/// The options a video upload reads itself (the other video fields pass through untouched).
/// `name` and `filename` stay open-ended: a name that is not a string is replaced by the file's.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VideoOptions {
    #[serde(default)]
    pub channel_id: Option<u64>,
    #[serde(default)]
    pub name: Option<Json>,
    #[serde(default)]
    pub filename: Option<Json>,
    /// The sources of a video import (`peertubeImportVideo`), sent as given.
    #[serde(default)]
    pub target_url: Option<Json>,
    #[serde(default)]
    pub magnet_uri: Option<Json>,
}

impl VideoOptions {
    /// Decodes the options a video upload or helper reads; `channelId` must be given and be a
    /// positive integer (the only field that can fail to decode, so it is the culprit).
    pub(crate) fn read(provider: &'static str, options: &Json, missing: &str) -> Result<(VideoOptions, u64), UploadError> {
        let bad = || UploadError::invalid(provider, "channelId must be a positive integer");
        let opts: VideoOptions = match codec::from_json(options) {
            Ok(o) => o,
            Err(_) if options.is_object() => return Err(bad()),
            Err(_) => VideoOptions::default(),
        };
        let channel = opts.channel_id.ok_or_else(|| UploadError::invalid(provider, missing))?;
        if channel == 0 {
            return Err(bad());
        }
        Ok((opts, channel))
    }
}

/// `GET /api/v1/users/me/videos`: `{ total, data: [Video] }`, of which the lookup reads a few
/// fields per video.
#[derive(serde::Deserialize)]
struct VideoList {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    data: Vec<ListedVideo>,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct ListedVideo {
    #[serde(default, skip_serializing)]
    name: Option<String>,
    #[serde(default, rename = "createdAt", skip_serializing)]
    created_at: Option<String>,
    #[serde(default, skip_serializing)]
    channel: Option<ChannelRef>,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default, rename = "shortUUID", skip_serializing_if = "Option::is_none")]
    short_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uuid: Option<String>,
}

#[derive(serde::Deserialize)]
struct ChannelRef {
    #[serde(default)]
    id: Option<u64>,
}

/// What the last chunk's answer carries, rebuilt from the video the lookup found:
/// `{video: {id, shortUUID, uuid}}`.
#[derive(serde::Serialize)]
struct FoundVideo<'a> {
    video: &'a ListedVideo,
}

/// Videos asked for per page when looking for the one a lost final answer created, and pages
/// read at most (newest first, stopping at the first video older than the upload).
pub const FIND_PAGE: u64 = 100;
pub const FIND_PAGES: u32 = 5;
/// How far before the upload began (on the browser's clock) the video may have been created
/// (on the server's) and still be this upload's: the two clocks may differ. The video is created
/// only once the last chunk has arrived, so a clock behind the server's never hides it; one
/// ahead by more than this makes the lookup find nothing (and the upload fail as before, never
/// resolve with the wrong video).
pub const CLOCK_SKEW_MS: f64 = 5.0 * 60_000.0;

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

#[derive(Debug)]
struct FindVideo {
    list_url: String,
    name: String,
    channel: u64,
}

/// Parses uploadx's `Range: bytes=0-<last>` into the number of bytes stored.
/// `bytes=0--1` (nothing stored yet) gives 0. Anything else malformed gives None.
pub fn parse_range(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = match v.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("bytes=") => &v[6..],
        _ => v,
    };
    let rest = v.trim().strip_prefix("0-")?;
    if rest == "-1" {
        return Some(0);
    }
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse::<u64>().ok()?.checked_add(1)
}

impl PeerTube {
    /// Resumable video upload. `options` is the caller's options object; known video fields
    /// are copied into the init body.
    pub fn video(endpoint: &str, token: &str, file: &FileInfo, options: &Json, chunk: Option<u64>) -> Result<Self, UploadError> {
        let p = PROVIDER;
        if token.is_empty() {
            return Err(UploadError::invalid(p, "accessToken is required"));
        }
        let (opts, channel) = VideoOptions::read(p, options, "channelId is required")?;
        // The caller's video fields pass through as given (open-ended: PeerTube's own schema).
        let mut body = serde_json::Map::new();
        for (k, v) in options.as_object().into_iter().flatten() {
            if VIDEO_FIELDS.contains(&k.as_str()) && !v.is_null() {
                body.insert(k.clone(), v.clone());
            }
        }
        let name = match opts.name.as_ref().and_then(Json::as_str).filter(|n| !n.trim().is_empty()) {
            Some(given) => given.to_string(), // already in the body, where the caller put it
            None => {
                let name = default_name(&file.name);
                body.insert("name".into(), Json::String(name.clone()));
                name
            }
        };
        let name_len = name.chars().count();
        if opts.filename.is_none() {
            body.insert("filename".into(), Json::String(nonempty_name(&file.name, "video")));
        }
        if !(3..=120).contains(&name_len) {
            return Err(UploadError::invalid(p, format!("name must be 3 to 120 characters (got {name_len})")));
        }
        body.insert("lastModified".into(), crate::core::json::number(file.last_modified));
        let init_url = url::join(endpoint, "/api/v1/videos/upload-resumable");
        let find = FindVideo { list_url: url::join(endpoint, "/api/v1/users/me/videos"), name: name.trim().to_string(), channel };
        let mut me = Self::build(p, init_url, token, file, codec::encode(&body), chunk)?;
        me.find = Some(find);
        Ok(me)
    }

    /// User archive import (`.zip` only).
    pub fn import(endpoint: &str, token: &str, file: &FileInfo, user_id: u64, chunk: Option<u64>) -> Result<Self, UploadError> {
        let p = IMPORT_PROVIDER;
        if token.is_empty() {
            return Err(UploadError::invalid(p, "accessToken is required"));
        }
        if user_id == 0 {
            return Err(UploadError::invalid(p, "userId must be a positive integer"));
        }
        if !file.name.to_ascii_lowercase().ends_with(".zip") {
            return Err(UploadError::invalid(p, format!("a user import must be a .zip archive (got {})", crate::core::quoted(&file.name))));
        }
        let body = codec::encode(&ImportInit { filename: &file.name, last_modified: crate::core::json::number(file.last_modified) });
        let init_url = url::join(endpoint, &format!("/api/v1/users/{user_id}/imports/import-resumable"));
        Self::build(p, init_url, token, file, body, chunk)
    }

    fn build(provider: &'static str, init_url: String, token: &str, file: &FileInfo, init_body: String, chunk: Option<u64>) -> Result<Self, UploadError> {
        if !url::is_absolute_http(&init_url) {
            return Err(UploadError::invalid(provider, "endpoint must be an http(s) URL or a path on this site"));
        }
        if file.size == 0 {
            return Err(UploadError::invalid(provider, "PeerTube does not accept an empty file"));
        }
        let plan = match chunk {
            None => ChunkPlan::adaptive(file.size, DEFAULT_CHUNK, ADAPTIVE_MIN, ADAPTIVE_MAX),
            Some(c) => ChunkPlan::new(file.size, c, MIN_CHUNK.min(c), MAX_CHUNK),
        };
        let chunk = chunk.unwrap_or(DEFAULT_CHUNK);
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk) {
            return Err(UploadError::invalid(
                provider,
                format!("chunkSize must be between {MIN_CHUNK} and {MAX_CHUNK} bytes (got {chunk})"),
            ));
        }
        let content_type = if file.mime.trim().is_empty() { "application/octet-stream".to_string() } else { file.mime.clone() };
        Ok(PeerTube {
            provider,
            init_url,
            token: token.to_string(),
            total: file.size,
            content_type,
            init_body,
            plan,
            phase: Phase::Init { confirmed: 0 },
            in_flight: false,
            reinits: 0,
            reinits_total: 0,
            no_progress: 0,
            mismatches: 0,
            mismatch_at: 0,
            old_tokens: Vec::new(),
            find: None,
            now_ms: 0.0,
            began_ms: None,
        })
    }

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

    /// The server says the session's upload URL holds `stored` bytes.
    fn accept_offset(&mut self, stored: u64, after_chunk_from: Option<u64>) -> Verdict {
        let Phase::Transfer { session, step } = &mut self.phase else {
            return Verdict::Continue;
        };
        let stored = match session.rejected_from.take() {
            Some(from) if stored > from => from,
            _ => stored,
        };
        if stored > self.total {
            return self.protocol_error("the server claims more bytes than the file has");
        }
        if stored == self.total {
            // Everything is stored but the upload was not completed: send the last byte again,
            // which makes uploadx finish it (a bare offset query may not).
            self.no_progress += 1;
            if self.no_progress >= 3 {
                return self.protocol_error("the server holds every byte but never completes the upload");
            }
            session.offset = self.total - 1;
            *step = Step::Chunk;
            return Verdict::Continue;
        }
        match after_chunk_from {
            Some(from) if stored <= from => {
                self.no_progress += 1;
                if self.no_progress >= 3 {
                    return self.protocol_error("the server did not store the chunks it was sent");
                }
            }
            Some(_) => {
                self.no_progress = 0;
                self.mismatches = 0;
                self.reinits = 0;
            }
            None => {}
        }
        session.offset = stored;
        *step = Step::Chunk;
        Verdict::Continue
    }

    fn completed(&mut self, resp: &Response) -> Verdict {
        let body = resp.body.trim();
        // The server's own answer (`{video: {…}}`, `{userImport: {…}}`) goes to the page as it is.
        let json = if body.is_empty() {
            Json::Object(serde_json::Map::new())
        } else {
            match codec::decode::<Json>(body) {
                Ok(j) => j,
                Err(_) => return self.protocol_error("the server finished the upload but its answer is not JSON"),
            }
        };
        self.done(json)
    }

    /// The upload URL is gone (404/410).
    fn gone(&mut self, resp: &Response) -> Verdict {
        let final_sent = self.transfer().is_some_and(|s| s.final_sent);
        if final_sent && self.find.is_some() {
            // Most likely completed, and its answer lost: PeerTube deletes the upload once the
            // video exists. Find that video rather than guess.
            self.phase = match self.take_phase() {
                Phase::Transfer { session, .. } => Phase::FindVideo { gone: session, start: 0 },
                other => other,
            };
            return Verdict::Continue;
        }
        if final_sent {
            let e = UploadError::new(
                ErrorCode::SessionExpired,
                self.provider,
                "the upload is gone after its last chunk was sent: it may have completed, check your videos",
            )
            .with_status(resp.status);
            return self.fail(e);
        }
        // Started anew twice without a single chunk confirmed since, or five times in all: the
        // server keeps losing the upload, so give up rather than loop.
        if self.reinits >= MAX_REINITS_IN_A_ROW || self.reinits_total >= MAX_REINITS {
            let e = UploadError::new(ErrorCode::SessionExpired, self.provider, "the upload session expired on the server")
                .with_status(resp.status);
            return self.fail(e);
        }
        self.reinits += 1;
        self.reinits_total += 1;
        // The gone URL is forgotten (nothing to cancel there); what it confirmed stays reported.
        self.phase = Phase::Init { confirmed: self.confirmed() };
        Verdict::Continue
    }

    /// `GET /api/v1/users/me/videos` (PeerTube `controllers/api/users/me.ts` `getUserVideos`:
    /// `start`, `count` ≤ 100, `sort`, `search` on the name, `channelId`), newest first.
    fn find_request(&self, start: u64) -> Option<Request> {
        let f = self.find.as_ref()?;
        let url = format!(
            "{}?channelId={}&search={}&sort=-createdAt&start={start}&count={FIND_PAGE}",
            f.list_url,
            f.channel,
            url::encode_component(&f.name)
        );
        Some(Request::new(Method::Get, url).tag(Kind::Find.tag()).bearer(&self.token))
    }

    fn not_found(&mut self, why: &str) -> Verdict {
        let e = UploadError::new(
            ErrorCode::SessionExpired,
            self.provider,
            format!("the upload is gone after its last chunk was sent, and {why}: it may have completed, check your videos"),
        )
        .with_status(404);
        self.fail(e)
    }

    /// An answer to the video lookup: the video this upload created resolves the upload as its
    /// final answer would have; nothing found leaves the upload failed as gone.
    fn handle_find(&mut self, start: u64, outcome: Outcome) -> Verdict {
        let resp = match outcome {
            Outcome::Network(detail) => return network_retry(self.provider, "video lookup", &detail),
            Outcome::Response(r) => r,
        };
        if !resp.is_success() {
            return match resp.status {
                401 => Verdict::Reauth(self.error_for("video lookup", &resp)),
                429 => {
                    let e = self.error_for("video lookup", &resp);
                    self.throttled(e, &resp)
                }
                s if status_is_retryable(s) => {
                    let e = self.error_for("video lookup", &resp);
                    self.retry(e, Some(&resp))
                }
                _ => {
                    let detail = self.error_for("video lookup", &resp).message;
                    self.not_found(&format!("looking for the video it created failed ({detail})"))
                }
            };
        }
        let Some(f) = self.find.as_ref() else { return self.not_found("no video can be looked for") };
        let since = self.began_ms.unwrap_or(self.now_ms) - CLOCK_SKEW_MS;
        // A listing that is not JSON, or not of PeerTube's shape, holds no video of ours.
        let list = codec::decode::<VideoList>(resp.body.trim()).unwrap_or(VideoList { total: 0, data: Vec::new() });
        let data = list.data;
        let created = |v: &ListedVideo| v.created_at.as_deref().and_then(crate::core::time::parse_iso8601_ms);
        let found = data.iter().find(|v| {
            v.name.as_deref().map(str::trim) == Some(f.name.as_str())
                && v.channel.as_ref().and_then(|c| c.id) == Some(f.channel)
                && created(v).is_some_and(|t| t >= since)
                && v.id.is_some()
        });
        if let Some(v) = found {
            let answer = codec::to_json(&FoundVideo { video: v });
            return self.done(answer);
        }
        let total = list.total;
        let next = start + data.len() as u64;
        let older_reached = data.last().is_none_or(|v| created(v).is_none_or(|t| t < since));
        if !older_reached && next < total && next < FIND_PAGE * u64::from(FIND_PAGES) {
            if let Phase::FindVideo { start, .. } = &mut self.phase {
                *start = next;
            }
            return Verdict::Continue;
        }
        self.not_found("no video of its name was created in its channel since it began")
    }

    fn retry(&mut self, e: UploadError, resp: Option<&Response>) -> Verdict {
        let retry_after = resp.and_then(|r| r.header("retry-after")).and_then(parse_retry_after);
        Verdict::Retry { error: e, retry_after }
    }

    fn throttled(&mut self, e: UploadError, resp: &Response) -> Verdict {
        Verdict::Throttled { error: e, retry_after: resp.header("retry-after").and_then(parse_retry_after) }
    }

    fn handle_init(&mut self, resp: Response) -> Verdict {
        match resp.status {
            200 | 201 => {
                let Some(loc) = resp.header("location") else {
                    return self.protocol_error(
                        "the init response has no readable Location header (is it listed in Access-Control-Expose-Headers?)",
                    );
                };
                let Some(abs) = url::resolve(&self.init_url, loc).filter(|u| url::is_absolute_http(u)) else {
                    return self.protocol_error("the init response has an unusable Location header");
                };
                // Credentials go only where they belong. Every chunk PUT must carry the user's
                // OAuth token (PeerTube authenticates `upload-resumable` PUTs), so a PUT without it
                // is pointless: the decision is never to send the token to another origin, and to
                // refuse with a protocol error rather than send without it. One exception keeps
                // proxies working: PT-dev builds Location from its configured WEBSERVER URL, so
                // behind a same-origin proxy it names the real host. The upload URL is always the
                // init URL plus `?upload_id=…`, so such a Location is rebased onto the init URL
                // (the token stays on the configured origin). Anything else on another origin is
                // refused before anything is sent there. (The engine's guard, `core::guard`,
                // refuses any token-bearing request off the endpoint's origin too.)
                let abs = if url::same_origin(&abs, &self.init_url) {
                    abs
                } else if let Some(rebased) = rebase_upload_url(&self.init_url, &abs) {
                    rebased
                } else {
                    let msg = format!(
                        "the server's upload URL (Location) is on another origin ({}) than the endpoint ({}): refusing to send the access token there",
                        url::origin(&abs).unwrap_or_default(),
                        url::origin(&self.init_url).unwrap_or_default()
                    );
                    return self.protocol_error(&msg);
                };
                if resp.status == 201 {
                    self.phase = Phase::Transfer { session: Session::new(abs, 0), step: Step::Chunk };
                    return Verdict::Continue;
                }
                // 200: an upload of this file that uploadx already had. Until its offset is
                // known, what was confirmed before stays reported.
                let session = Session::new(abs, self.confirmed());
                self.phase = Phase::Transfer { session, step: Step::Query };
                match resp.header("range").and_then(parse_range) {
                    Some(stored) => self.accept_offset(stored, None),
                    None => Verdict::Continue,
                }
            }
            401 => Verdict::Reauth(self.error_for("init", &resp)),
            429 => {
                let e = self.error_for("init", &resp);
                self.throttled(e, &resp)
            }
            s if status_is_retryable(s) => {
                let e = self.error_for("init", &resp);
                self.retry(e, Some(&resp))
            }
            _ => {
                let e = self.error_for("init", &resp);
                self.fail(e)
            }
        }
    }

    /// What came of a chunk or of an offset query (`chunk` says which) sent to the session's
    /// upload URL.
    fn handle_data(&mut self, req: &Request, chunk: bool, outcome: Outcome) -> Verdict {
        let what = if chunk { "chunk" } else { "offset query" };
        let (chunk_from, is_last) = match &req.body {
            Body::Slice(s) => (Some(s.start), s.end == self.total),
            _ => (None, true),
        };
        let resp = match outcome {
            Outcome::Network(detail) => {
                self.ask_offset();
                if let (Some(session), Some(_), true) = (self.transfer(), chunk_from, is_last) {
                    session.final_sent = true;
                }
                return network_retry(self.provider, what, &detail);
            }
            Outcome::Response(resp) => resp,
        };
        // A definite answer to a chunk that was not the last: the final chunk has not been sent
        // yet, whatever an earlier lost answer suggested. An answer to the final chunk after
        // which the server may have finished it (5xx, 408) makes a later 404 ambiguous; a 404
        // to its first attempt is just "gone".
        if let (Some(session), Some(_)) = (self.transfer(), chunk_from) {
            if !is_last {
                session.final_sent = false;
            } else if resp.status >= 500 || resp.status == 408 {
                session.final_sent = true;
            }
        }
        match resp.status {
            308 => match resp.header("range").map(parse_range) {
                Some(Some(stored)) => self.accept_offset(stored, chunk_from),
                Some(None) => self.protocol_error("the server sent a malformed Range header"),
                None => self.protocol_error(
                    "a 308 without a readable Range header (is Range listed in Access-Control-Expose-Headers?)",
                ),
            },
            200..=299 => {
                // A 2xx whose Range shows bytes still missing is not a completion, whatever
                // was asked: follow what the server says it holds.
                let stored = resp.header("range").and_then(parse_range);
                if is_last && stored.is_none_or(|n| n >= self.total) {
                    if let Some(from) = self.transfer().and_then(|s| s.rejected_from).filter(|_| !chunk) {
                        // Only the refused chunk's own bytes can have completed the file.
                        let e = UploadError::protocol(
                            self.provider,
                            format!("the server refused the checksum of the bytes from {from} on, then completed the upload with them: the stored file may be corrupt"),
                        )
                        .with_status(resp.status)
                        .retryable(false);
                        return self.fail(e);
                    }
                    return self.completed(&resp);
                }
                match stored {
                    Some(stored) => self.accept_offset(stored, chunk_from),
                    None => self.protocol_error("the server answered 2xx before the upload was complete"),
                }
            }
            404 | 410 => self.gone(&resp),
            401 => {
                self.ask_offset();
                Verdict::Reauth(self.error_for(what, &resp))
            }
            413 if chunk => {
                if self.plan.shrink() {
                    self.ask_offset();
                    Verdict::Continue
                } else {
                    let e = self.error_for(what, &resp);
                    self.fail(e)
                }
            }
            460 if chunk => {
                // The server hashed what arrived and it does not match the `Digest` we sent
                // (uploadx truncates the file back to the chunk's start): resend the chunk at
                // once, from the offset the server confirms, a bounded number of times.
                let offset = self.confirmed();
                let (from, to) = match &req.body {
                    Body::Slice(s) => (s.start, s.end),
                    _ => (offset, offset),
                };
                if self.mismatch_at != from {
                    self.mismatch_at = from;
                    self.mismatches = 0;
                }
                self.mismatches += 1;
                if let Some(session) = self.transfer() {
                    session.rejected_from = Some(from);
                }
                if self.mismatches > MAX_CHECKSUM_RESENDS {
                    let mut e = self.error_for(what, &resp).retryable(false);
                    e.message = format!(
                        "the server found the checksum of bytes {from}-{} wrong {} times in a row: the data is being corrupted on its way ({})",
                        to.saturating_sub(1),
                        self.mismatches,
                        e.message
                    );
                    return self.fail(e);
                }
                self.ask_offset();
                Verdict::Continue
            }
            409 => {
                self.ask_offset();
                let e = self.error_for(what, &resp).retryable(true);
                self.retry(e, None)
            }
            429 => {
                // Rate limited. Like after any failed chunk, ask the server what it holds
                // after the wait rather than assuming the chunk was not stored.
                self.ask_offset();
                let e = self.error_for(what, &resp);
                self.throttled(e, &resp)
            }
            s if status_is_retryable(s) => {
                self.ask_offset();
                let e = self.error_for(what, &resp);
                self.retry(e, Some(&resp))
            }
            _ => match default_verdict(self.provider, what, &resp) {
                Verdict::Fail(_) => {
                    let e = self.error_for(what, &resp);
                    self.fail(e)
                }
                v => v,
            },
        }
    }
}

/// A Location on another origin whose path is the init URL's path (or its tail, as behind a
/// path-prefix proxy) and whose query has an `upload_id`: the same upload URL on the init URL's
/// origin. None for anything else.
fn rebase_upload_url(init_url: &str, location: &str) -> Option<String> {
    let after_scheme = location.split_once("://")?.1;
    let path_query = &after_scheme[after_scheme.find('/')?..];
    let path_query = path_query.split('#').next().unwrap_or("");
    let (path, query) = path_query.split_once('?')?;
    if !query.split('&').any(|p| p.starts_with("upload_id=") && p.len() > "upload_id=".len()) {
        return None;
    }
    let init_base = init_url.split(['?', '#']).next().unwrap_or(init_url);
    let init_path = init_base.split_once("://")?.1;
    let init_path = &init_path[init_path.find('/')?..];
    if path.len() < 2 || !init_path.ends_with(path) {
        return None;
    }
    Some(format!("{init_base}?{query}"))
}

fn nonempty_name(name: &str, fallback: &str) -> String {
    let n = name.trim();
    if n.is_empty() {
        fallback.to_string()
    } else {
        n.to_string()
    }
}

/// The video title PeerTube needs (3–120 chars) from a file name.
fn default_name(file_name: &str) -> String {
    let mut n: String = nonempty_name(file_name, "video").chars().take(120).collect();
    while n.chars().count() < 3 {
        n.push('_');
    }
    n
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
            Some(u) => codec::to_json(&ResumeState { upload_url: u.to_string(), offset: self.confirmed() }),
            None => Json::Null,
        }
    }

    /// The upload URL (on the endpoint's origin; the token is in a header, never in it) and the
    /// confirmed offset.
    fn resume_state(&self) -> Option<Json> {
        match &self.phase {
            Phase::Transfer { session, .. } => Some(codec::to_json(&ResumeState { upload_url: session.url.clone(), offset: session.offset })),
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
