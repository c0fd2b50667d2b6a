//! MangaDex's answers, read defensively: the upload session entity ([`parse_session`]), a batch
//! answer's stored files and per-file errors ([`parse_batch`]), `fileHash` checks, and the wait
//! after a 429 ([`rate_limit_wait`]).

use crate::core::retry::{parse_retry_after, status_is_retryable, RetryAfter};
use crate::core::JsonExt as _;
use crate::core::{Json, Response};

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

fn entity(body: &Json) -> Option<&Json> {
    match body.get("data") {
        Some(d @ Json::Object(_)) => Some(d),
        // The spec shows the bare entity; real answers wrap it.
        _ if body.get("id").is_some() => Some(body),
        _ => None,
    }
}

fn uploaded_file(item: &Json) -> Option<RemoteFile> {
    let id = item.get("id")?.as_str()?.to_string();
    let attrs = item.get("attributes");
    let attr = |k: &str| attrs.and_then(|a| a.get(k));
    Some(RemoteFile {
        id,
        name: attr("originalFileName").and_then(Json::as_str).map(str::to_string),
        size: attr("fileSize").and_then(Json::as_u64),
        remote: attr("source").and_then(Json::as_str) == Some("remote"),
        hash: attr("fileHash").and_then(Json::as_str).map(str::to_string),
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
    let j = Json::parse(body.trim()).ok()?;
    let d = entity(&j)?;
    let id = d.get("id")?.as_str()?.to_string();
    let attr = |k: &str| d.path(&format!("attributes.{k}")).and_then(Json::as_bool).unwrap_or(false);
    let mut info = SessionInfo {
        id,
        closed: attr("isCommitted") || attr("isDeleted"),
        manga: None,
        groups: Vec::new(),
        chapter: None,
        files: Vec::new(),
        created_at: d.path("attributes.createdAt").and_then(Json::as_str).map(str::to_string),
        user: None,
    };
    for rel in d.get("relationships").and_then(Json::as_array).map_or(&[][..], Vec::as_slice) {
        let rid = rel.get("id").and_then(Json::as_str).map(str::to_ascii_lowercase);
        match (rel.get("type").and_then(Json::as_str), rid) {
            (Some("manga"), Some(id)) => info.manga = Some(id),
            (Some("scanlation_group"), Some(id)) => info.groups.push(id),
            (Some("chapter"), Some(id)) => info.chapter = Some(id),
            (Some("user"), Some(id)) => info.user = Some(id),
            (Some("upload_session_file"), Some(_)) => info.files.extend(uploaded_file(rel)),
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
    let j = Json::parse(body.trim()).ok()?;
    if !matches!(j, Json::Object(_)) {
        return None;
    }
    let files = match j.get("data") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(items)) => items.iter().filter_map(uploaded_file).collect(),
        Some(_) => return None,
    };
    let errors = j
        .get("errors")
        .and_then(Json::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|e| FileError {
            status: e.get("status").and_then(Json::as_u64).filter(|s| (100..600).contains(s)).map(|s| s as u16),
            detail: e
                .get("detail")
                .and_then(Json::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| e.get("title").and_then(Json::as_str))
                .map(|s| crate::core::truncate(s, 200))
                .unwrap_or_else(|| "unspecified error".into()),
        })
        .collect();
    Some((files, errors))
}

/// MangaDex's wait after a 429: `X-RateLimit-Retry-After` is a Unix timestamp in seconds (a
/// small number is read as seconds to wait); else the standard `Retry-After`.
pub fn rate_limit_wait(resp: &Response) -> Option<RetryAfter> {
    let md = resp.header("x-ratelimit-retry-after").and_then(|v| {
        let n: f64 = v.trim().parse().ok()?;
        if !n.is_finite() || n < 0.0 {
            return None;
        }
        let ms = (n * 1000.0).min(u64::MAX as f64) as u64;
        Some(if n >= 1_000_000_000.0 { RetryAfter::At(ms) } else { RetryAfter::Delay(ms) })
    });
    md.or_else(|| resp.header("retry-after").and_then(parse_retry_after))
}
