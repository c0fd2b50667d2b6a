//! MangaDex chapter upload session: the pages of one chapter, as image files in reading order.
//! Wire details: shared/protocols/cloudreve-and-mangadex.md §2.
//!
//! Flow: `GET /upload?includes[]=upload_session_file` (is a session already open?) → resume it,
//! abandon it (`DELETE /upload/{id}`), or refuse, per `existingSession` → `POST /upload/begin`
//! (`/upload/begin/{chapterId}` with `version` for an edit) → pages in batches of up to 10 files
//! (`POST /upload/{id}`, multipart, 2 batches in flight by default) → `POST /upload/{id}/commit`
//! with `pageOrder` in input order. `abort()` abandons the session.
//!
//! Every page is sent with a unique file name (`007_scan.png`: page number, file stem, the
//! extension of its real type), so that answers — which may accept some files of a batch and
//! refuse others inside an HTTP 200 — are matched back by `originalFileName`, and so that a
//! session left over from an earlier attempt can be resumed by name and size.
//!
//! After an answer that may have been lost (network error, 5xx, unreadable body) the session's
//! file list is read again before more pages go out: pages the server did store are kept, and
//! duplicates or files no longer wanted are deleted (`DELETE /upload/{id}/batch`, or
//! `/upload/{id}/{fileId}` for one). A failed session is kept on failure (not abandoned), so the
//! same pages can resume it later.
//!
//! Files: `options.rs` (the caller's options), `images.rs` (checks on the pages' sizes and first
//! bytes), `wire.rs` (reading the server's answers), `session.rs` (finding or opening the
//! session), `pages.rs` (batches, deletes, commit), `recovery.rs` (after lost answers),
//! `approval.rs` (the approval check), `login.rs` (personal-client login); the state and the
//! [`Protocol`] impl are here.

mod approval;
mod images;
mod login;
mod options;
mod pages;
mod recovery;
mod session;
mod wire;

pub use approval::ApprovalCheck;
pub use images::{check_head, check_sizes, dimensions, part_filename, sniff, ImageKind};
pub use login::{accept_token, login, refresh, token_url};
pub use options::{chapter_draft, from_options, ChapterDraft, HelperOptions, is_uuid, valid_language, valid_number_label, valid_publish_at, ExistingSession, Params};
pub use recovery::{CLOCK_SKEW_MS, FIND_ATTEMPTS, FIND_DELAYS_MS};
pub use wire::{hash_contradicts, parse_batch, parse_session, rate_limit_wait, FileError, RemoteFile, SessionInfo};

use crate::core::json::object;
use crate::core::retry::{parse_retry_after, status_is_retryable};
use crate::core::codec;
use crate::core::url::{is_absolute_http, join};
use crate::core::{status_error, Body, ErrorCode, FileInfo, Json, Method, Outcome, Request, Response, UploadError};
use crate::protocols::{network_retry, Next, Protocol, Verdict};
use images::{invalid_pages, page_label};
use options::{invalid, safe_id};
use serde::Deserialize;

pub const PROVIDER: &str = "mangadex";
/// Files per `POST /upload/{id}` request.
pub const MAX_FILES_PER_REQUEST: usize = 10;
/// Bytes per image. The docs say "20 MB"; the decimal reading is the stricter one.
pub const MAX_FILE_BYTES: u64 = 20_000_000;
/// Bytes per upload session ("150 MB").
pub const MAX_SESSION_BYTES: u64 = 150_000_000;
/// Pages per chapter (files per session, and `pageOrder` maxItems).
pub const MAX_PAGES: usize = 500;
/// Width and height must stay below this many pixels.
pub const MAX_DIMENSION: u32 = 10_000;
/// `groups` maxItems in the schema (the prose says 5; the server decides).
pub const MAX_GROUPS: usize = 10;
pub const DEFAULT_CONCURRENCY: usize = 2;
pub const MAX_CONCURRENCY: usize = 3;
/// Attempts per page when the server refuses it inside a batch answer.
pub const MAX_PAGE_ATTEMPTS: u32 = 3;
/// Head bytes read from each page: enough for the magic bytes and, nearly always, the dimensions.
pub const HEAD_BYTES: usize = 65_536;

/// What a request was: carried in the core's `Request::tag`, converted only by [`Kind::tag`]
/// and [`Kind::from_tag`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `GET /upload`: is an upload session open?
    Check,
    /// `DELETE /upload/{id}`: an old session abandoned (or this one, on cancel).
    Abandon,
    Begin,
    /// A batch of pages `POST`ed to the session.
    Batch,
    /// Pages deleted from the session.
    Delete,
    Commit,
    /// `GET /upload` again, to learn what the session holds.
    Resync,
    /// `GET /chapter`: the chapter a lost commit answer may have created.
    Find,
}

impl Kind {
    fn tag(self) -> u64 {
        match self {
            Kind::Check => 1,
            Kind::Abandon => 2,
            Kind::Begin => 3,
            Kind::Batch => 4,
            Kind::Delete => 5,
            Kind::Commit => 6,
            Kind::Resync => 7,
            Kind::Find => 8,
        }
    }

    fn from_tag(tag: u64) -> Option<Kind> {
        Some(match tag {
            1 => Kind::Check,
            2 => Kind::Abandon,
            3 => Kind::Begin,
            4 => Kind::Batch,
            5 => Kind::Delete,
            6 => Kind::Commit,
            7 => Kind::Resync,
            8 => Kind::Find,
            _ => return None,
        })
    }
}

// ---- request bodies and the resume record ----------------------------------------------------

/// What `session()` and `resume_state()` give: `{sessionId, pagesStored}`.
fn session_state(id: &str, stored: usize) -> Json {
    object(vec![("sessionId", Some(id.into())), ("pagesStored", Some(stored.into()))])
}

/// The part of a resume record `restore` reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Restored {
    session_id: String,
}

/// What 401, 429 and retryable statuses mean to every MangaDex request (a new token, the
/// rate limit's wait, a retry); `Err(e)` for any other status, for the caller to decide.
fn status_verdict(e: UploadError, resp: &Response) -> Result<Verdict, UploadError> {
    Ok(match resp.status {
        401 => Verdict::Reauth(e),
        429 => Verdict::Throttled { error: e, retry_after: rate_limit_wait(resp) },
        s if status_is_retryable(s) => Verdict::Retry { error: e, retry_after: resp.header("retry-after").and_then(parse_retry_after) },
        _ => return Err(e),
    })
}

// ---- the state ------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum PageState {
    Pending,
    Sending,
    Stored(String),
    /// The session holds a file of this page's name and size (`id`, whose `fileHash` is `hash`):
    /// it is reused only once the page's own SHA-256 matches (asked of the shell when unknown).
    Checking { id: String, hash: String },
}

#[derive(Clone, Debug)]
struct Page {
    size: u64,
    original: String,
    /// The multipart file name (set once the type is known).
    name: String,
    kind: ImageKind,
    state: PageState,
    /// Times the server refused this page inside a batch answer.
    refusals: u32,
    /// The page's SHA-256 (with `integrity`), compared with the server's `fileHash`.
    sha256: Option<[u8; 32]>,
}

/// The open upload session, held by the phases that have one.
#[derive(Debug)]
struct Session {
    id: String,
    /// The session's `createdAt` (server clock, ms) and owner, for finding the chapter after a
    /// lost commit answer.
    created_ms: Option<f64>,
    user: Option<String>,
    /// When the session was begun or adopted, on the client's clock (see `Protocol::set_now`).
    began_ms: f64,
}

/// Finding or opening the session (`session.rs`).
#[derive(Debug)]
struct Opening {
    step: Step,
    /// A begin request's answer was lost: a session found now may be the one it opened.
    begin_lost: bool,
    /// A begin was answered 409 already (looked again once).
    begin_conflicted: bool,
}

#[derive(Debug)]
enum Step {
    /// Is a session already open?
    Check,
    /// Abandoning a session we were told to discard.
    AbandonOld(String),
    Begin,
}

/// Sending the pages to the open session (`pages.rs`).
#[derive(Debug)]
struct Upload {
    session: Session,
    /// The session's file list must be read again before more pages go out.
    resync: bool,
    /// File ids to delete (duplicates, files no longer wanted).
    deletes: Vec<String>,
    /// Batches in flight.
    batches: usize,
}

/// Where the upload is, each phase holding what only it needs: the session exists from
/// `Upload` on, and moves from phase to phase (see [`MangaDex::advance`]).
#[derive(Debug)]
enum Phase {
    /// The file heads have not been checked yet: nothing may be sent.
    NeedHeads,
    Open(Opening),
    Upload(Upload),
    /// Every page is stored: `page_order` holds their file ids in input order. `lost`: a commit
    /// answer was lost (network, 5xx), so a 404 now means it most likely went through.
    Commit { session: Session, page_order: Vec<String>, lost: bool },
    /// The commit's answer was lost and the session is gone: look for the chapter it created
    /// (`tried` lookups done).
    FindChapter { session: Session, tried: u32 },
    Done { answer: Json, session: String },
    /// `session`: the one left open (kept, so that the same pages can resume it).
    Failed { error: UploadError, session: Option<String> },
}

impl Phase {
    fn session_id(&self) -> Option<&str> {
        match self {
            Phase::Upload(Upload { session, .. }) | Phase::Commit { session, .. } | Phase::FindChapter { session, .. } => Some(&session.id),
            Phase::Done { session, .. } => Some(session),
            Phase::Failed { session, .. } => session.as_deref(),
            Phase::NeedHeads | Phase::Open(_) => None,
        }
    }

    fn into_session_id(self) -> Option<String> {
        match self {
            Phase::Upload(Upload { session, .. }) | Phase::Commit { session, .. } | Phase::FindChapter { session, .. } => Some(session.id),
            Phase::Done { session, .. } => Some(session),
            Phase::Failed { session, .. } => session,
            Phase::NeedHeads | Phase::Open(_) => None,
        }
    }
}

#[derive(Debug)]
pub struct MangaDex {
    endpoint: String,
    params: Params,
    pages: Vec<Page>,
    total: u64,
    phase: Phase,
    /// A control request (check, abandon, begin, resync, delete, commit, find) is in flight.
    control_in_flight: bool,
    /// Pages whose SHA-256 the shell must compute (see `Protocol::take_digests_wanted`).
    wanted: Vec<usize>,
    /// The client's clock (see `Protocol::set_now`).
    now_ms: f64,
}

impl MangaDex {
    pub fn new(endpoint: &str, params: Params, files: &[FileInfo]) -> Result<Self, UploadError> {
        if !is_absolute_http(endpoint) {
            return Err(invalid("endpoint must be an http(s) URL or a path on this site (a proxy to api.mangadex.org)"));
        }
        check_sizes(files)?;
        let pages = files
            .iter()
            .enumerate()
            .map(|(i, f)| Page {
                size: f.size,
                original: f.name.clone(),
                name: format!("{:03}", i + 1),
                kind: ImageKind::Jpeg,
                state: PageState::Pending,
                refusals: 0,
                sha256: None,
            })
            .collect();
        Ok(MangaDex {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            params,
            pages,
            total: files.iter().map(|f| f.size).sum(),
            phase: Phase::NeedHeads,
            control_in_flight: false,
            wanted: Vec::new(),
            now_ms: 0.0,
        })
    }

    pub fn session_id(&self) -> Option<&str> {
        self.phase.session_id()
    }

    /// The names pages are sent under, in input order.
    pub fn page_names(&self) -> Vec<String> {
        self.pages.iter().map(|p| p.name.clone()).collect()
    }

    fn url(&self, path: &str) -> String {
        join(&self.endpoint, path)
    }

    fn request(&self, method: Method, path: &str, kind: Kind) -> Request {
        Request::new(method, self.url(path)).tag(kind.tag()).bearer(&self.params.access_token)
    }

    /// Moves to the phase `to` makes of the current one, which it takes by value: what the
    /// phases hold moves instead of being cloned. (`NeedHeads` only stands in during the move.)
    fn advance(&mut self, to: impl FnOnce(Phase) -> Phase) {
        let from = std::mem::replace(&mut self.phase, Phase::NeedHeads);
        self.phase = to(from);
    }

    /// An answer about the session itself: the lookup, abandoning an old one, beginning one, the resync.
    fn handle_session(&mut self, kind: Kind, outcome: Outcome) -> Verdict {
        let resp = match outcome {
            Outcome::Network(detail) => {
                let what = match kind {
                    Kind::Begin => {
                        // The session may have been opened: look before beginning again.
                        self.begin_lost();
                        "beginning the upload session"
                    }
                    Kind::Abandon => "abandoning the open upload session",
                    _ => "upload session lookup",
                };
                return network_retry(PROVIDER, what, &detail);
            }
            Outcome::Response(r) => r,
        };
        match kind {
            Kind::Check => self.handle_check(resp),
            Kind::Abandon => self.handle_abandon_old(resp),
            Kind::Begin => self.handle_begin(resp),
            Kind::Resync => self.handle_resync(resp),
            _ => Verdict::Continue,
        }
    }

    /// Fails the upload, keeping the session it had (if any) for `session()` and `resume_key()`.
    fn fail(&mut self, e: UploadError) -> Verdict {
        let error = e.clone();
        self.advance(|from| Phase::Failed { error, session: from.into_session_id() });
        Verdict::Fail(e)
    }

    fn stored(&self) -> usize {
        self.pages.iter().filter(|p| matches!(p.state, PageState::Stored(_))).count()
    }

    fn error(&self, what: &str, resp: &Response) -> UploadError {
        status_error(PROVIDER, what, resp)
    }

    /// Statuses every step treats alike. None: the step decides.
    fn common(&mut self, what: &str, resp: &Response) -> Option<Verdict> {
        let mut e = self.error(what, resp);
        if resp.status == 403 {
            e.code = ErrorCode::Auth;
            return Some(self.fail(e));
        }
        status_verdict(e, resp).ok()
    }

    fn begin_request(&self) -> Request {
        match &self.params.edit {
            Some((chapter, version)) => self
                .request(Method::Post, &format!("/upload/begin/{chapter}"), Kind::Begin)
                .body(Body::json(codec::encode(&object(vec![("version", Some((*version).into()))])))),
            None => {
                let body = object(vec![("manga", Some(self.params.manga.as_deref().unwrap_or_default().into())), ("groups", Some(self.params.groups.clone().into()))]);
                self.request(Method::Post, "/upload/begin", Kind::Begin).body(Body::json(codec::encode(&body)))
            }
        }
    }
}

impl Protocol for MangaDex {
    fn provider(&self) -> &'static str {
        PROVIDER
    }
    fn total(&self) -> u64 {
        self.total
    }
    fn confirmed(&self) -> u64 {
        match self.phase {
            Phase::Done { .. } => self.total,
            _ => self.pages.iter().filter(|p| matches!(p.state, PageState::Stored(_))).map(|p| p.size).sum(),
        }
    }
    fn max_parallel(&self) -> usize {
        self.params.concurrency + 1
    }

    fn next(&mut self) -> Next {
        match &self.phase {
            Phase::Done { answer, .. } => return Next::Done(answer.clone()),
            Phase::Failed { error, .. } => return Next::Fail(error.clone()),
            Phase::NeedHeads => {
                let e = UploadError::protocol(PROVIDER, "the pages' first bytes were not checked before the upload (set_heads)");
                self.phase = Phase::Failed { error: e.clone(), session: None };
                return Next::Fail(e);
            }
            Phase::Upload(_) => return self.next_upload(),
            Phase::Open(_) | Phase::Commit { .. } | Phase::FindChapter { .. } => {}
        }
        if self.control_in_flight {
            return Next::Wait;
        }
        let req = match &self.phase {
            Phase::Open(Opening { step: Step::Check, .. }) => self.request(Method::Get, "/upload?includes[]=upload_session_file", Kind::Check),
            Phase::Open(Opening { step: Step::AbandonOld(id), .. }) => self.request(Method::Delete, &format!("/upload/{id}"), Kind::Abandon),
            Phase::Open(Opening { step: Step::Begin, .. }) => self.begin_request(),
            Phase::Commit { session, page_order, .. } => self.commit_request(&session.id, page_order),
            Phase::FindChapter { session, .. } => self.find_request(session),
            _ => return Next::Wait,
        };
        self.control_in_flight = true;
        Next::Send(req)
    }

    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        let Some(kind) = Kind::from_tag(req.tag) else {
            return Verdict::Continue; // not a request this upload sends
        };
        if kind == Kind::Batch {
            return match self.phase {
                Phase::Upload(_) => self.handle_batch(req, outcome),
                _ => Verdict::Continue, // a batch that was in flight when the upload ended
            };
        }
        self.control_in_flight = false;
        // Each request is answered in the phase that sent it; anything else (the upload ended
        // meanwhile) is not acted upon.
        match (&self.phase, kind) {
            (Phase::Open(_), Kind::Check | Kind::Abandon | Kind::Begin) | (Phase::Upload(_), Kind::Resync) => self.handle_session(kind, outcome),
            (Phase::Upload(_), Kind::Delete) => self.handle_delete(req, outcome),
            (Phase::Commit { .. }, Kind::Commit) => self.handle_commit(outcome),
            (Phase::FindChapter { .. }, Kind::Find) => self.handle_find(outcome),
            _ => Verdict::Continue,
        }
    }

    fn set_token(&mut self, token: &str) {
        self.params.access_token = token.to_string();
    }

    fn resync(&mut self) {
        if let Phase::Upload(up) = &mut self.phase {
            up.resync = true;
        }
    }

    fn cancel(&mut self) -> Vec<Request> {
        match (&self.phase, self.phase.session_id()) {
            (Phase::Done { .. }, _) | (_, None) => Vec::new(),
            (_, Some(sid)) => vec![self.request(Method::Delete, &format!("/upload/{sid}"), Kind::Abandon)],
        }
    }

    fn head_bytes(&self) -> usize {
        HEAD_BYTES
    }

    fn set_heads(&mut self, heads: Vec<Vec<u8>>) -> Result<(), UploadError> {
        if heads.len() != self.pages.len() {
            return Err(UploadError::protocol(PROVIDER, format!("{} file heads for {} pages", heads.len(), self.pages.len())));
        }
        let mut problems = Vec::new();
        for (i, (head, p)) in heads.iter().zip(self.pages.iter_mut()).enumerate() {
            match check_head(head) {
                Ok(kind) => {
                    p.kind = kind;
                    p.name = part_filename(i, &p.original, kind);
                }
                Err(why) => problems.push(format!("{}: {why}", page_label(i, &p.original))),
            }
        }
        if !problems.is_empty() {
            return Err(invalid_pages(problems));
        }
        if let Phase::NeedHeads = self.phase {
            self.phase = Phase::Open(Opening { step: Step::Check, begin_lost: false, begin_conflicted: false });
        }
        Ok(())
    }

    fn wants_file_digests(&self) -> bool {
        true
    }

    fn set_file_digests(&mut self, sha256: Vec<[u8; 32]>) {
        for (i, d) in sha256.into_iter().enumerate() {
            self.set_file_digest(i, d);
        }
    }

    fn set_now(&mut self, now_ms: f64) {
        self.now_ms = now_ms;
    }

    fn take_digests_wanted(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.wanted)
    }

    /// Settles a page in `Checking`: its stored namesake is reused when the hashes match, else
    /// deleted and the page sent again.
    fn set_file_digest(&mut self, file: usize, sha256: [u8; 32]) {
        let Some(p) = self.pages.get_mut(file) else { return };
        p.sha256 = Some(sha256);
        p.state = match std::mem::replace(&mut p.state, PageState::Pending) {
            PageState::Checking { id, hash } if crate::core::digest::hex(&sha256) == hash => PageState::Stored(id),
            PageState::Checking { id, .. } => {
                // Only an upload in progress has deletes to send.
                if let Phase::Upload(up) = &mut self.phase {
                    if safe_id(&id) && !up.deletes.contains(&id) {
                        up.deletes.push(id);
                    }
                }
                PageState::Pending
            }
            other => other,
        };
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.params.access_token.clone()]
    }
    fn credential_origin(&self) -> Option<String> {
        crate::core::url::origin(&self.endpoint)
    }

    fn session(&self) -> Json {
        match self.phase.session_id() {
            Some(id) => session_state(id, self.stored()),
            None => Json::Null,
        }
    }

    /// The open session and how many pages it holds. (MangaDex lists a session's files, so a
    /// resumed upload reads them again and sends only the pages missing.)
    fn resume_state(&self) -> Option<Json> {
        match &self.phase {
            Phase::Upload(up) => Some(session_state(&up.session.id, self.stored())),
            _ => None,
        }
    }

    fn resume_key(&self) -> Option<&str> {
        self.phase.session_id()
    }

    /// Continues the account's open session when it is for this chapter, whatever
    /// `existingSession` says: its file list is read first, pages it holds (same name and size)
    /// are kept, the rest are sent. A session that is gone meanwhile is begun again.
    fn restore(&mut self, state: &Json) -> Result<(), UploadError> {
        if self.control_in_flight || !matches!(self.phase, Phase::NeedHeads | Phase::Open(Opening { step: Step::Check, .. })) {
            return Err(invalid("cannot resume: the upload has already begun"));
        }
        if !codec::from_json::<Restored>(state).is_ok_and(|r| safe_id(&r.session_id)) {
            return Err(invalid("cannot resume: no usable sessionId"));
        }
        self.params.existing = ExistingSession::Resume;
        Ok(())
    }
}
