//! MangaDex's answers, decoded once into typed values ([`Entity`], [`Attrs`]: a value of the
//! wrong type makes the answer unreadable rather than silently absent): the upload session
//! entity ([`parse_session`]), a batch answer's stored files and per-file errors
//! ([`parse_batch`]), `fileHash` checks, and the wait after a 429 ([`rate_limit_wait`]).

use crate::core::codec;
use crate::core::retry::{parse_retry_after, status_is_retryable, RetryAfter};
use crate::core::{Json, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    pub id: String,
    pub name: Option<String>,
    pub size: Option<u64>,
    /// A page of the chapter being edited (`source: "remote"`), not one uploaded in this session.
    pub remote: bool,
    /// `fileHash`, as the server reports it.
    pub hash: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub closed: bool,
    pub manga: Option<String>,
    pub groups: Vec<String>,
    pub chapter: Option<String>,
    pub files: Vec<RemoteFile>,
    /// `attributes.createdAt` (the server's clock), when given.
    pub created_at: Option<String>,
    /// The session owner (`user` relationship), when given.
    pub user: Option<String>,
}

// ---- the answers as MangaDex writes them ------------------------------------------------------

/// The attributes MangaDex code reads, of every entity it meets (upload session, uploaded file,
/// chapter): one type, as no two of them use a name for different things.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Attrs {
    // upload_session
    pub is_committed: Option<bool>,
    pub is_deleted: Option<bool>,
    // upload_session, chapter
    pub created_at: Option<String>,
    // upload_session_file
    pub original_file_name: Option<String>,
    pub file_size: Option<u64>,
    pub source: Option<String>,
    pub file_hash: Option<String>,
    // chapter
    pub translated_language: Option<String>,
    pub chapter: Option<String>,
}

/// An entity (`{id, type, attributes, relationships}`), or an envelope holding one in `data`
/// (the spec shows the bare entity for `/upload`; real answers wrap it).
#[derive(Deserialize, Default)]
pub(super) struct Entity {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub attributes: Option<Attrs>,
    pub relationships: Option<Vec<Entity>>,
    pub data: Option<Box<Entity>>,
}

impl Entity {
    pub fn attrs(&self) -> &Attrs {
        const NONE: &Attrs = &Attrs {
            is_committed: None,
            is_deleted: None,
            created_at: None,
            original_file_name: None,
            file_size: None,
            source: None,
            file_hash: None,
            translated_language: None,
            chapter: None,
        };
        self.attributes.as_ref().unwrap_or(NONE)
    }

    pub fn relationships(&self) -> &[Entity] {
        self.relationships.as_deref().unwrap_or_default()
    }

    /// A relationship's `(type, lower-cased id)`, when both are given.
    pub fn link(&self) -> Option<(&str, String)> {
        Some((self.kind.as_deref()?, self.id.as_deref()?.to_ascii_lowercase()))
    }
}

/// A batch answer: `{result, errors: [...], data: [uploaded files]}`.
#[derive(Deserialize)]
struct BatchAnswer {
    data: Option<Vec<Entity>>,
    errors: Option<Vec<ErrorItem>>,
}

/// An item of `errors` (`{id, status, title, detail, context}`). `status` stays open-ended: a
/// non-number (seen as a string in the wild) is ignored rather than spoiling the whole answer.
#[derive(Deserialize)]
struct ErrorItem {
    status: Option<Json>,
    detail: Option<String>,
    title: Option<String>,
}

/// `body` decoded as `T` when it is a JSON object (serde would also fill a struct from an array).
pub(super) fn object<T: DeserializeOwned>(body: &str) -> Option<T> {
    let body = body.trim();
    if body.starts_with('{') {
        codec::decode(body).ok()
    } else {
        None
    }
}

fn uploaded_file(item: Entity) -> Option<RemoteFile> {
    let a = item.attributes.unwrap_or_default();
    Some(RemoteFile {
        id: item.id?,
        name: a.original_file_name,
        size: a.file_size,
        remote: a.source.as_deref() == Some("remote"),
        hash: a.file_hash,
    })
}

/// Whether a `fileHash` the server reports contradicts the page's SHA-256. MangaDex does not
/// document the algorithm: only a SHA-256-shaped value (64 hex digits) is compared; anything
/// else is no evidence either way.
pub fn hash_contradicts(reported: Option<&str>, sha256: Option<&[u8; 32]>) -> bool {
    let (Some(r), Some(d)) = (reported, sha256) else { return false };
    let r = r.trim();
    r.len() == 64 && r.bytes().all(|b| b.is_ascii_hexdigit()) && !r.eq_ignore_ascii_case(&crate::core::digest::hex(d))
}

/// A `fileHash` that is a SHA-256 in hex (64 hex digits), lower-cased; None for anything else.
pub(super) fn sha256_hex(reported: &str) -> Option<String> {
    let r = reported.trim();
    (r.len() == 64 && r.bytes().all(|b| b.is_ascii_hexdigit())).then(|| r.to_ascii_lowercase())
}

/// The upload session entity (`GET /upload`, `POST /upload/begin`), enveloped or bare.
pub fn parse_session(body: &str) -> Option<SessionInfo> {
    let mut answer: Entity = object(body)?;
    let d = match answer.data.take() {
        Some(d) => *d,
        None => answer,
    };
    let a = d.attrs();
    let mut info = SessionInfo {
        id: d.id.clone()?,
        closed: a.is_committed == Some(true) || a.is_deleted == Some(true),
        manga: None,
        groups: Vec::new(),
        chapter: None,
        files: Vec::new(),
        created_at: a.created_at.clone(),
        user: None,
    };
    for rel in d.relationships.unwrap_or_default() {
        match rel.link() {
            Some(("manga", id)) => info.manga = Some(id),
            Some(("scanlation_group", id)) => info.groups.push(id),
            Some(("chapter", id)) => info.chapter = Some(id),
            Some(("user", id)) => info.user = Some(id),
            Some(("upload_session_file", _)) => info.files.extend(uploaded_file(rel)),
            _ => {}
        }
    }
    Some(info)
}

/// One item of a batch answer's `errors`: its `status` (when it is a sane HTTP status) and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub status: Option<u16>,
    pub detail: String,
}

impl FileError {
    /// A refusal that sending the same bytes again cannot change (a 4xx other than 408/429).
    pub fn is_final(&self) -> bool {
        matches!(self.status, Some(s) if (400..500).contains(&s) && !status_is_retryable(s))
    }
}

/// `{id, attributes: {originalFileName, fileSize}}` items of a batch answer, and its errors.
pub fn parse_batch(body: &str) -> Option<(Vec<RemoteFile>, Vec<FileError>)> {
    let answer: BatchAnswer = object(body)?;
    let files = answer.data.unwrap_or_default().into_iter().filter_map(uploaded_file).collect();
    let errors = answer
        .errors
        .unwrap_or_default()
        .into_iter()
        .map(|e| FileError {
            status: e.status.as_ref().and_then(Json::as_u64).filter(|s| (100..600).contains(s)).map(|s| s as u16),
            detail: e
                .detail
                .filter(|s| !s.is_empty())
                .or(e.title)
                .map(|s| crate::core::truncate(&s, 200))
                .unwrap_or_else(|| "unspecified error".into()),
        })
        .collect();
    Some((files, errors))
}

/// MangaDex's wait after a 429: `X-RateLimit-Retry-After` is a Unix timestamp in seconds (a
/// small number is read as seconds to wait); else the standard `Retry-After`.
pub fn rate_limit_wait(resp: &Response) -> Option<RetryAfter> {
    let md = resp.header("x-ratelimit-retry-after").and_then(|v| {
        let ms = crate::core::retry::seconds_as_ms(v.trim())?;
        Some(if ms >= 1_000_000_000_000 { RetryAfter::At(ms) } else { RetryAfter::Delay(ms) })
    });
    md.or_else(|| resp.header("retry-after").and_then(parse_retry_after))
}
