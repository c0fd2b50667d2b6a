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

use crate::core::retry::{parse_retry_after, status_is_retryable, RetryAfter};
use crate::core::url::{is_absolute_http, join};
use crate::core::{server_message, status_error, Body, ErrorCode, FileInfo, Json, Method, Outcome, Part, Request, Response, Slice, UploadError};
use crate::protocols::{network_retry, Next, Protocol, Verdict};

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

const TAG_CHECK: u64 = 1;
const TAG_ABANDON: u64 = 2;
const TAG_BEGIN: u64 = 3;
const TAG_BATCH: u64 = 4;
const TAG_DELETE: u64 = 5;
const TAG_COMMIT: u64 = 6;
const TAG_RESYNC: u64 = 7;
const TAG_FIND: u64 = 8;

/// After a lost commit answer, the chapter list is read this many times at most: a committed
/// chapter goes through a processing queue before it is listed (docs `04-chapter/upload`).
pub const FIND_ATTEMPTS: u32 = 6;
/// The waits between those reads, in ms (the last one repeats).
pub const FIND_DELAYS_MS: [u64; 5] = [1_000, 2_000, 4_000, 8_000, 15_000];
/// How far before the session's begin (on the client's clock) a chapter may have been created
/// and still be this upload's, when the server did not say when the session was created.
pub const CLOCK_SKEW_MS: f64 = 5.0 * 60_000.0;

// ---- images -------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Gif,
}

impl ImageKind {
    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Gif => "image/gif",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Gif => "gif",
        }
    }
}

/// The image type from the first bytes (never from the name), or why the file is refused.
pub fn sniff(head: &[u8]) -> Result<ImageKind, String> {
    const REFUSED: &str = "MangaDex takes JPEG, PNG and GIF only";
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageKind::Jpeg);
    }
    if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Ok(ImageKind::Png);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Ok(ImageKind::Gif);
    }
    let what = if head.is_empty() {
        return Err("the file is empty".into());
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        "a WebP image"
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" {
        "an AVIF/HEIF image or a video"
    } else if head.starts_with(b"BM") {
        "a BMP image"
    } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        "a TIFF image"
    } else if head.starts_with(&[0xFF, 0x0A]) || head.starts_with(&[0, 0, 0, 0x0C, b'J', b'X', b'L', b' ']) {
        "a JPEG XL image"
    } else if head.starts_with(b"PK\x03\x04") {
        "a ZIP/CBZ archive"
    } else if head.starts_with(b"Rar!") {
        "a RAR/CBR archive"
    } else if head.starts_with(b"7z\xBC\xAF") {
        "a 7z archive"
    } else if head.starts_with(b"%PDF") {
        "a PDF document"
    } else if head.starts_with(b"GIF8") || head.starts_with(&[0x89, b'P', b'N', b'G']) {
        "a damaged image header"
    } else if looks_like_text(head) {
        "text, not an image"
    } else {
        "not a JPEG, PNG or GIF image"
    };
    Err(format!("it is {what}; {REFUSED}"))
}

fn looks_like_text(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(512)];
    let text = match std::str::from_utf8(sample) {
        Ok(s) => s,
        // A multi-byte character cut at the end of the sample is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&sample[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return false,
    };
    !text.is_empty() && text.chars().all(|c| !c.is_control() || c.is_whitespace())
}

/// Width and height from the image header, when the head holds them.
pub fn dimensions(kind: ImageKind, head: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| head.get(i..i + 2).map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])));
    let be32 = |i: usize| head.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    match kind {
        ImageKind::Png => {
            if head.get(12..16)? != b"IHDR" {
                return None;
            }
            Some((be32(16)?, be32(20)?))
        }
        ImageKind::Gif => {
            let b = head.get(6..10)?;
            Some((u32::from(u16::from_le_bytes([b[0], b[1]])), u32::from(u16::from_le_bytes([b[2], b[3]]))))
        }
        ImageKind::Jpeg => {
            let mut i = 2;
            loop {
                if *head.get(i)? != 0xFF {
                    return None;
                }
                let mut marker = *head.get(i + 1)?;
                while marker == 0xFF {
                    i += 1;
                    marker = *head.get(i + 1)?;
                }
                match marker {
                    0x01 | 0xD0..=0xD7 => i += 2,
                    0xD8..=0xDA => return None,
                    0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                        // SOFn: length(2) precision(1) height(2) width(2)
                        return Some((be16(i + 7)?, be16(i + 5)?));
                    }
                    _ => {
                        let len = be16(i + 2)? as usize;
                        if len < 2 {
                            return None;
                        }
                        i += 2 + len;
                    }
                }
            }
        }
    }
}

/// Type and dimensions of one page from its head.
pub fn check_head(head: &[u8]) -> Result<ImageKind, String> {
    let kind = sniff(head)?;
    if let Some((w, h)) = dimensions(kind, head) {
        if w >= MAX_DIMENSION || h >= MAX_DIMENSION {
            return Err(format!(
                "the image is {w}×{h} px; MangaDex takes images below {MAX_DIMENSION} px in width and height (split long strips)"
            ));
        }
    }
    Ok(kind)
}

fn page_label(index: usize, name: &str) -> String {
    let name = crate::core::truncate(name, 80);
    if name.is_empty() {
        format!("page {} (index {index})", index + 1)
    } else {
        format!("page {} (index {index}, {})", index + 1, crate::core::quoted(&name))
    }
}

/// "20.0 MB" (rounded half up to tenths; integer arithmetic, no float formatting in the binary).
fn megabytes(bytes: u64) -> String {
    let tenths = bytes.saturating_add(50_000) / 100_000;
    format!("{}.{} MB", tenths / 10, tenths % 10)
}

fn invalid_pages(problems: Vec<String>) -> UploadError {
    let n = problems.len();
    let noun = if n == 1 { "page cannot" } else { "pages cannot" };
    UploadError::invalid(PROVIDER, format!("{n} {noun} be uploaded to MangaDex: {}", problems.join("; ")))
}

/// Count and sizes, before anything is read: every bad page in one `invalid-input` error.
pub fn check_sizes(files: &[FileInfo]) -> Result<(), UploadError> {
    if files.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "no pages given: a chapter needs 1 to 500 images"));
    }
    if files.len() > MAX_PAGES {
        return Err(UploadError::invalid(
            PROVIDER,
            format!("{} pages given; MangaDex takes at most {MAX_PAGES} pages per chapter", files.len()),
        ));
    }
    let mut problems = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if f.size == 0 {
            problems.push(format!("{}: the file is empty", page_label(i, &f.name)));
        } else if f.size > MAX_FILE_BYTES {
            problems.push(format!(
                "{}: {} is over MangaDex's limit of {} per image",
                page_label(i, &f.name),
                megabytes(f.size),
                megabytes(MAX_FILE_BYTES)
            ));
        }
    }
    if !problems.is_empty() {
        return Err(invalid_pages(problems));
    }
    let total: u64 = files.iter().map(|f| f.size).sum();
    if total > MAX_SESSION_BYTES {
        let e = UploadError::invalid(
            PROVIDER,
            format!("the chapter is {}; MangaDex takes at most {} per upload session", megabytes(total), megabytes(MAX_SESSION_BYTES)),
        );
        return Err(e);
    }
    Ok(())
}

/// The name a page is sent under: unique per page, stable across attempts, safe in a multipart
/// header: `007_scan.png`.
pub fn part_filename(index: usize, original: &str, kind: ImageKind) -> String {
    let base = original.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = match base.rfind('.') {
        Some(dot) if dot > 0 => &base[..dot],
        _ => base,
    };
    let mut clean: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(60)
        .collect();
    if clean.trim_matches('_').is_empty() {
        clean = "page".into();
    }
    format!("{:03}_{clean}.{}", index + 1, kind.extension())
}

// ---- options --------------------------------------------------------------------------------

/// What to do about an upload session that is already open for the account (MangaDex allows one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExistingSession {
    /// Continue it when it is for the same manga and groups (or the same chapter edit), skipping
    /// pages it already holds; otherwise fail with a clear message. The default.
    Resume,
    /// Abandon whatever session is open, then begin a new one.
    Abandon,
    /// Fail when any session is open.
    Fail,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub access_token: String,
    /// Required for a new chapter; optional for an edit.
    pub manga: Option<String>,
    pub groups: Vec<String>,
    /// The validated `chapterDraft` object.
    pub draft: Json,
    /// `(chapterId, version)` to edit an existing chapter.
    pub edit: Option<(String, u64)>,
    pub terms_accepted: bool,
    pub existing: ExistingSession,
    pub batch_size: usize,
    pub concurrency: usize,
}

pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// Ids the server gives us go into URL paths: only plain id characters are accepted.
fn safe_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `^((0|[1-9]\d*)(\.\d+)?[a-z]?)?$`, at most 8 characters.
pub fn valid_number_label(s: &str) -> bool {
    if s.len() > 8 {
        return false;
    }
    if s.is_empty() {
        return true;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == 0 || (b[0] == b'0' && i > 1) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if i < b.len() && b[i].is_ascii_lowercase() {
        i += 1;
    }
    i == b.len()
}

/// `^[a-z]{2}(-[a-z]{2})?$`
pub fn valid_language(s: &str) -> bool {
    let b = s.as_bytes();
    let two = |x: &[u8]| x.len() == 2 && x.iter().all(u8::is_ascii_lowercase);
    match b.len() {
        2 => two(b),
        5 => two(&b[..2]) && b[2] == b'-' && two(&b[3..]),
        _ => false,
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, no time zone (MangaDex's format).
pub fn valid_publish_at(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 19 {
        return false;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return false;
        }
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    (1..=12).contains(&n(5..7)) && (1..=31).contains(&n(8..10)) && n(11..13) <= 23 && n(14..16) <= 59 && n(17..19) <= 59
}

fn invalid(msg: impl Into<String>) -> UploadError {
    UploadError::invalid(PROVIDER, msg)
}

/// A volume/chapter label: a string, a number (written as text), or null.
fn number_label(key: &str, v: Option<&Json>) -> Result<Json, UploadError> {
    let text = match v {
        None => return Err(invalid(format!("chapter.{key} is required (a string such as \"12\" or \"12.5\", or null)"))),
        Some(Json::Null) => return Ok(Json::Null),
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) if n.is_finite() && *n >= 0.0 => {
            // "12", "12.5": the JSON writer's shortest form (no float formatting in the binary).
            Json::Number(*n).to_json_string()
        }
        Some(_) => return Err(invalid(format!("chapter.{key} must be a string or null"))),
    };
    if !valid_number_label(&text) {
        return Err(invalid(format!(
            "chapter.{key} {} is not a valid label (digits, an optional .decimal part and letter, at most 8 characters, e.g. \"12\", \"12.5\", \"3b\")",
            crate::core::quoted(&crate::core::truncate(&text, 20))
        )));
    }
    Ok(Json::String(text))
}

fn optional_string(v: Option<&Json>, key: &str) -> Result<Option<String>, UploadError> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{key} must be a string"))),
    }
}

/// Validates `chapter` into MangaDex's `chapterDraft`.
pub fn chapter_draft(chapter: Option<&Json>) -> Result<Json, UploadError> {
    let c = match chapter {
        Some(c @ Json::Object(_)) => c,
        Some(_) => return Err(invalid("chapter must be an object { volume, chapter, title, translatedLanguage }")),
        None => return Err(invalid("chapter is required: { volume, chapter, title, translatedLanguage }")),
    };
    const KEYS: [&str; 6] = ["volume", "chapter", "title", "translatedLanguage", "externalUrl", "publishAt"];
    if let Some((k, _)) = c.entries().iter().find(|(k, _)| !KEYS.contains(&k.as_str())) {
        return Err(invalid(format!("chapter.{k} is not a chapter field; expected {}", KEYS.join(", "))));
    }
    let mut d = Json::object();
    d.set("volume", number_label("volume", c.get("volume"))?);
    d.set("chapter", number_label("chapter", c.get("chapter"))?);
    match c.get("title") {
        None => return Err(invalid("chapter.title is required (a string or null)")),
        Some(Json::Null) => d.set("title", Json::Null),
        Some(Json::String(t)) if t.chars().count() <= 255 => d.set("title", Json::String(t.clone())),
        Some(Json::String(_)) => return Err(invalid("chapter.title is longer than 255 characters")),
        Some(_) => return Err(invalid("chapter.title must be a string or null")),
    }
    let lang = optional_string(c.get("translatedLanguage"), "chapter.translatedLanguage")?
        .ok_or_else(|| invalid("chapter.translatedLanguage is required (e.g. \"en\", \"pt-br\")"))?;
    if !valid_language(&lang) {
        return Err(invalid(format!(
            "chapter.translatedLanguage {} is not a language code like \"en\" or \"pt-br\"",
            crate::core::quoted(&crate::core::truncate(&lang, 20))
        )));
    }
    d.set("translatedLanguage", Json::String(lang));
    if let Some(url) = optional_string(c.get("externalUrl"), "chapter.externalUrl")? {
        let lower = url.to_ascii_lowercase();
        if url.chars().count() > 512 || !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(invalid("chapter.externalUrl must be an http(s) URL of at most 512 characters"));
        }
        d.set("externalUrl", Json::String(url));
    }
    if let Some(at) = optional_string(c.get("publishAt"), "chapter.publishAt")? {
        if !valid_publish_at(&at) {
            return Err(invalid(format!(
                "chapter.publishAt {} must look like 2025-07-01T18:00:00 (no time zone)",
                crate::core::quoted(&crate::core::truncate(&at, 40))
            )));
        }
        d.set("publishAt", Json::String(at));
    }
    Ok(d)
}

impl Params {
    pub fn from_options(options: &Json) -> Result<Params, UploadError> {
        let access_token = optional_string(options.get("accessToken"), "accessToken")?
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("accessToken is required"))?;
        let edit = match options.get("chapterId") {
            None | Some(Json::Null) => {
                if options.get("version").is_some_and(|v| !v.is_null()) {
                    return Err(invalid("version is only used with chapterId (to edit a chapter)"));
                }
                None
            }
            Some(Json::String(id)) if is_uuid(id) => {
                let version = options
                    .get("version")
                    .and_then(Json::as_u64)
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| invalid("version (the chapter's current version, an integer ≥ 1) is required with chapterId"))?;
                Some((id.to_ascii_lowercase(), version))
            }
            Some(_) => return Err(invalid("chapterId must be a chapter UUID")),
        };
        let manga = match options.get("manga") {
            None | Some(Json::Null) if edit.is_some() => None,
            None | Some(Json::Null) => return Err(invalid("manga (the manga's UUID) is required")),
            Some(Json::String(m)) if is_uuid(m) => Some(m.to_ascii_lowercase()),
            Some(_) => return Err(invalid("manga must be a manga UUID")),
        };
        let groups = match options.get("groups") {
            None | Some(Json::Null) if edit.is_some() => Vec::new(),
            None | Some(Json::Null) => {
                return Err(invalid("groups is required: an array of scanlation group UUIDs ([] for no group)"))
            }
            Some(Json::Array(items)) => {
                let mut out: Vec<String> = Vec::new();
                for g in items {
                    match g.as_str() {
                        Some(s) if is_uuid(s) => {
                            let s = s.to_ascii_lowercase();
                            if out.contains(&s) {
                                return Err(invalid(format!("groups lists {s} twice")));
                            }
                            out.push(s);
                        }
                        _ => return Err(invalid("groups must hold scanlation group UUIDs")),
                    }
                }
                if out.len() > MAX_GROUPS {
                    return Err(invalid(format!("at most {MAX_GROUPS} groups per chapter")));
                }
                out
            }
            Some(_) => return Err(invalid("groups must be an array of scanlation group UUIDs")),
        };
        let draft = chapter_draft(options.get("chapter"))?;
        let terms_accepted = match options.get("termsAccepted") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(_) => return Err(invalid("termsAccepted must be a boolean")),
        };
        let existing = match optional_string(options.get("existingSession"), "existingSession")?.as_deref() {
            None | Some("resume") => ExistingSession::Resume,
            Some("abandon") => ExistingSession::Abandon,
            Some("fail") => ExistingSession::Fail,
            Some(_) => return Err(invalid("existingSession must be 'resume', 'abandon' or 'fail'")),
        };
        let bounded = |key: &str, max: usize, default: usize| -> Result<usize, UploadError> {
            match options.get(key) {
                None | Some(Json::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .filter(|n| (1..=max as u64).contains(n))
                    .map(|n| n as usize)
                    .ok_or_else(|| invalid(format!("{key} must be an integer from 1 to {max}"))),
            }
        };
        Ok(Params {
            access_token,
            manga,
            groups,
            draft,
            edit,
            terms_accepted,
            existing,
            batch_size: bounded("batchSize", MAX_FILES_PER_REQUEST, MAX_FILES_PER_REQUEST)?,
            concurrency: bounded("concurrency", MAX_CONCURRENCY, DEFAULT_CONCURRENCY)?,
        })
    }
}

/// Builds the protocol from the caller's options (plain data; `endpoint` already absolute).
/// Validates everything; sends nothing.
pub fn from_options(endpoint: &str, options: &Json, files: &[FileInfo], chunk: Option<u64>) -> Result<Box<dyn Protocol>, UploadError> {
    if chunk.is_some() {
        return Err(invalid("chunkSize does not apply to MangaDex: pages are sent whole, up to 10 per request (see batchSize)"));
    }
    let params = Params::from_options(options)?;
    Ok(Box::new(MangaDex::new(endpoint, params, files)?))
}

// ---- the session as the server describes it ---------------------------------------------------

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
fn sha256_hex(reported: &str) -> Option<String> {
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
    for rel in d.get("relationships").and_then(Json::as_array).unwrap_or(&[]) {
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
        .unwrap_or(&[])
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

// ---- the protocol ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
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

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// The file heads have not been checked yet: nothing may be sent.
    NeedHeads,
    /// Is a session already open?
    Check,
    /// Abandoning a session we were told to discard.
    AbandonOld(String),
    Begin,
    Upload,
    Commit,
    /// The commit's answer was lost and the session is gone: look for the chapter it created
    /// (this many lookups done).
    FindChapter(u32),
    Done(Json),
    Failed(UploadError),
}

#[derive(Debug)]
pub struct MangaDex {
    endpoint: String,
    params: Params,
    pages: Vec<Page>,
    total: u64,
    phase: Phase,
    session_id: Option<String>,
    /// A control request (check, abandon, begin, resync, delete, commit) is in flight.
    control_in_flight: bool,
    batches_in_flight: usize,
    /// The session's file list must be read again before more pages go out.
    resync: bool,
    /// File ids to delete (duplicates, files no longer wanted).
    deletes: Vec<String>,
    /// The begin request's answer was lost: a session found now may be the one it opened.
    begin_lost: bool,
    begin_conflicts: u32,
    /// The commit's answer was lost: a 404 now means it most likely went through.
    commit_lost: bool,
    /// Pages whose SHA-256 the shell must compute (see `Protocol::take_digests_wanted`).
    wanted: Vec<usize>,
    /// The session's `createdAt` (server clock, ms) and owner, for finding the chapter after a
    /// lost commit answer.
    session_created_ms: Option<f64>,
    session_user: Option<String>,
    /// The client's clock (see `Protocol::set_now`), and when the session was begun or adopted.
    now_ms: f64,
    began_ms: Option<f64>,
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
            session_id: None,
            control_in_flight: false,
            batches_in_flight: 0,
            resync: false,
            deletes: Vec::new(),
            begin_lost: false,
            begin_conflicts: 0,
            commit_lost: false,
            wanted: Vec::new(),
            session_created_ms: None,
            session_user: None,
            now_ms: 0.0,
            began_ms: None,
        })
    }

    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The names pages are sent under, in input order.
    pub fn page_names(&self) -> Vec<String> {
        self.pages.iter().map(|p| p.name.clone()).collect()
    }

    fn url(&self, path: &str) -> String {
        join(&self.endpoint, path)
    }

    fn request(&self, method: Method, path: &str, tag: u64) -> Request {
        Request::new(method, self.url(path)).tag(tag).bearer(&self.params.access_token)
    }

    fn fail(&mut self, e: UploadError) -> Verdict {
        self.phase = Phase::Failed(e.clone());
        Verdict::Fail(e)
    }

    fn stored(&self) -> usize {
        self.pages.iter().filter(|p| matches!(p.state, PageState::Stored(_))).count()
    }

    /// Does this open session belong to this upload?
    fn matches(&self, s: &SessionInfo) -> bool {
        match &self.params.edit {
            Some((chapter, _)) => s.chapter.as_deref() == Some(chapter.as_str()),
            None => {
                // The same groups, in any order (a few ids: counting beats sorting copies).
                let (a, b) = (&s.groups, &self.params.groups);
                let count = |v: &[String], g: &String| v.iter().filter(|x| *x == g).count();
                let same_groups = a.len() == b.len() && a.iter().all(|g| count(a, g) == count(b, g));
                s.chapter.is_none() && s.manga.is_some() && s.manga == self.params.manga && same_groups
            }
        }
    }

    fn describe(s: &SessionInfo) -> String {
        let mut d = format!("session {}", s.id);
        if let Some(c) = &s.chapter {
            d.push_str(&format!(", editing chapter {c}"));
        }
        if let Some(m) = &s.manga {
            d.push_str(&format!(", manga {m}"));
        }
        d.push_str(&format!(", groups [{}]", s.groups.join(", ")));
        let local = s.files.iter().filter(|f| !f.remote).count();
        d.push_str(&format!(", {local} file(s) uploaded"));
        d
    }

    /// Takes the server's file list as the truth: keeps what is stored under a page's name and
    /// size once its `fileHash` (the SHA-256 of the stored bytes) matches the page's own SHA-256,
    /// queues duplicates, stale copies (a page edited since: same name and size, other bytes)
    /// and unknown files for deletion, and sends again what is missing. A page whose SHA-256 is
    /// not known yet waits in `Checking` while the shell hashes it.
    fn reconcile(&mut self, files: &[RemoteFile]) {
        let listed: Vec<&str> = files.iter().filter(|f| !f.remote).map(|f| f.id.as_str()).collect();
        for p in &mut self.pages {
            match &p.state {
                PageState::Stored(id) | PageState::Checking { id, .. } if !listed.contains(&id.as_str()) => p.state = PageState::Pending,
                PageState::Sending => p.state = PageState::Pending,
                _ => {}
            }
        }
        for f in files.iter().filter(|f| !f.remote) {
            let (Some(name), Some(size)) = (&f.name, f.size) else { continue };
            let Some(i) = self.pages.iter().position(|p| &p.name == name && p.size == size) else {
                self.deletes.push(f.id.clone());
                continue;
            };
            let p = &mut self.pages[i];
            match &p.state {
                PageState::Stored(id) | PageState::Checking { id, .. } if *id == f.id => {}
                PageState::Stored(_) | PageState::Checking { .. } => self.deletes.push(f.id.clone()),
                _ => match f.hash.as_deref().and_then(sha256_hex) {
                    // No SHA-256 to compare with: name and size are all there is to go by.
                    None => p.state = PageState::Stored(f.id.clone()),
                    Some(hash) => match p.sha256 {
                        Some(d) if crate::core::digest::hex(&d) == hash => p.state = PageState::Stored(f.id.clone()),
                        Some(_) => self.deletes.push(f.id.clone()),
                        None => {
                            p.state = PageState::Checking { id: f.id.clone(), hash };
                            if !self.wanted.contains(&i) {
                                self.wanted.push(i);
                            }
                        }
                    },
                },
            }
        }
        self.deletes.retain(|id| safe_id(id));
        self.deletes.dedup();
    }

    fn adopt(&mut self, s: &SessionInfo) -> Verdict {
        if !safe_id(&s.id) {
            return self.fail(UploadError::protocol(PROVIDER, "the server gave an upload session id that cannot be used in a URL"));
        }
        self.session_id = Some(s.id.clone());
        self.session_created_ms = s.created_at.as_deref().and_then(crate::core::time::parse_iso8601_ms);
        self.session_user = s.user.clone().filter(|u| safe_id(u));
        self.began_ms.get_or_insert(self.now_ms);
        self.reconcile(&s.files);
        self.phase = Phase::Upload;
        Verdict::Continue
    }

    fn error(&self, what: &str, resp: &Response) -> UploadError {
        status_error(PROVIDER, what, resp)
    }

    /// Statuses every step treats alike. None: the step decides.
    fn common(&mut self, what: &str, resp: &Response) -> Option<Verdict> {
        let e = self.error(what, resp);
        match resp.status {
            401 => Some(Verdict::Reauth(e)),
            403 => {
                let mut e = e;
                e.code = ErrorCode::Auth;
                Some(self.fail(e))
            }
            429 => Some(Verdict::Throttled { error: e, retry_after: rate_limit_wait(resp) }),
            s if status_is_retryable(s) => Some(Verdict::Retry { error: e, retry_after: resp.header("retry-after").and_then(parse_retry_after) }),
            _ => None,
        }
    }

    fn handle_check(&mut self, resp: Response) -> Verdict {
        if resp.status == 404 {
            self.phase = Phase::Begin;
            return Verdict::Continue;
        }
        if !resp.is_success() {
            if let Some(v) = self.common("upload session lookup", &resp) {
                return v;
            }
            let e = self.error("upload session lookup", &resp);
            return self.fail(e);
        }
        let Some(s) = parse_session(&resp.body) else {
            return self.fail(UploadError::protocol(PROVIDER, "the upload session lookup answered with something that is not a session").with_status(resp.status));
        };
        if s.closed {
            self.phase = Phase::Begin;
            return Verdict::Continue;
        }
        let ours = self.matches(&s);
        if ours && (self.begin_lost || self.params.existing == ExistingSession::Resume) {
            return self.adopt(&s);
        }
        match self.params.existing {
            ExistingSession::Abandon => {
                if !safe_id(&s.id) {
                    return self.fail(UploadError::protocol(PROVIDER, "the server gave an upload session id that cannot be used in a URL"));
                }
                self.phase = Phase::AbandonOld(s.id.clone());
                Verdict::Continue
            }
            ExistingSession::Fail => self.fail(UploadError::new(
                ErrorCode::Http,
                PROVIDER,
                format!(
                    "an upload session is already open for this account ({}); MangaDex allows one at a time. \
                     Commit or abandon it first, or pass existingSession: 'resume' or 'abandon'",
                    Self::describe(&s)
                ),
            )),
            ExistingSession::Resume => self.fail(UploadError::new(
                ErrorCode::Http,
                PROVIDER,
                format!(
                    "another upload session is already open for this account ({}) and it is not for this chapter; \
                     MangaDex allows one at a time. Finish or abandon it first, or pass existingSession: 'abandon' to discard it",
                    Self::describe(&s)
                ),
            )),
        }
    }

    fn handle_abandon_old(&mut self, resp: Response) -> Verdict {
        if resp.is_success() || resp.status == 404 {
            self.phase = Phase::Begin;
            return Verdict::Continue;
        }
        if let Some(v) = self.common("abandoning the open upload session", &resp) {
            return v;
        }
        let e = self.error("abandoning the open upload session", &resp);
        self.fail(e)
    }

    fn handle_begin(&mut self, resp: Response) -> Verdict {
        let what = if self.params.edit.is_some() { "beginning the chapter edit" } else { "beginning the upload session" };
        if resp.is_success() {
            self.begin_lost = false;
            return match parse_session(&resp.body) {
                Some(s) => {
                    let s = SessionInfo { files: Vec::new(), ..s };
                    self.adopt(&s)
                }
                None => {
                    // The session exists but we cannot tell its id: look it up.
                    self.begin_lost = true;
                    self.phase = Phase::Check;
                    Verdict::Retry { error: UploadError::protocol(PROVIDER, format!("{what}: the answer is not a session")), retry_after: None }
                }
            };
        }
        if resp.status == 409 && self.begin_conflicts == 0 {
            // Most likely a session opened since we looked: look again, once.
            self.begin_conflicts += 1;
            self.phase = Phase::Check;
            return Verdict::Continue;
        }
        if resp.status >= 500 {
            self.begin_lost = true;
            self.phase = Phase::Check;
        }
        if let Some(v) = self.common(what, &resp) {
            return v;
        }
        let mut e = self.error(what, &resp);
        if resp.status == 409 {
            e.message.push_str(" (another upload session may be open: see existingSession)");
        }
        self.fail(e)
    }

    fn handle_batch(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        self.batches_in_flight = self.batches_in_flight.saturating_sub(1);
        let idx: Vec<usize> = match &req.body {
            Body::Multipart(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::File { slice, .. } => Some(slice.file),
                    Part::Field { .. } => None,
                })
                .filter(|i| *i < self.pages.len())
                .collect(),
            _ => Vec::new(),
        };
        let back = |me: &mut Self| {
            for &i in &idx {
                if me.pages[i].state == PageState::Sending {
                    me.pages[i].state = PageState::Pending;
                }
            }
        };
        let resp = match outcome {
            Outcome::Network(detail) => {
                back(self);
                self.resync = true;
                return network_retry(PROVIDER, "page upload", &detail);
            }
            Outcome::Response(r) => r,
        };
        if !resp.is_success() {
            back(self);
            return match resp.status {
                404 | 410 => self.fail(
                    UploadError::new(ErrorCode::SessionExpired, PROVIDER, "the upload session is gone (expired, or abandoned elsewhere)")
                        .with_status(resp.status),
                ),
                413 => {
                    let mut e = self.error("page upload", &resp);
                    e.code = ErrorCode::TooLarge;
                    self.fail(e)
                }
                s => {
                    if s >= 500 {
                        self.resync = true;
                    }
                    match self.common("page upload", &resp) {
                        Some(v) => v,
                        None => {
                            let e = self.error("page upload", &resp);
                            self.fail(e)
                        }
                    }
                }
            };
        }
        let Some((files, errors)) = parse_batch(&resp.body) else {
            back(self);
            self.resync = true;
            let e = UploadError::protocol(PROVIDER, "a page upload's answer is not readable; checking what the server stored").with_status(resp.status);
            return Verdict::Retry { error: e, retry_after: None };
        };
        let mut corrupted = Vec::new();
        for f in files {
            let page = idx.iter().copied().find(|&i| f.name.as_deref() == Some(self.pages[i].name.as_str()));
            match page {
                Some(i) if self.pages[i].state == PageState::Sending && f.size.is_none_or(|s| s == self.pages[i].size) => {
                    if hash_contradicts(f.hash.as_deref(), self.pages[i].sha256.as_ref()) {
                        // Stored, but not the bytes we sent: delete that copy and send the page again.
                        corrupted.push(i);
                        if safe_id(&f.id) {
                            self.deletes.push(f.id);
                        }
                    } else {
                        self.pages[i].state = PageState::Stored(f.id);
                    }
                }
                _ => {
                    if safe_id(&f.id) {
                        self.deletes.push(f.id);
                    }
                }
            }
        }
        let failed: Vec<usize> = idx.iter().copied().filter(|&i| self.pages[i].state == PageState::Sending).collect();
        if failed.is_empty() {
            return Verdict::Continue;
        }
        let mut reasons: Vec<&str> = errors.iter().map(|e| e.detail.as_str()).collect();
        if !corrupted.is_empty() {
            reasons.push("the server's fileHash differs from the SHA-256 of the page sent (corrupted on the way)");
        }
        let reason = if reasons.is_empty() { "no reason given".to_string() } else { reasons.join("; ") };
        let mut worst = 0;
        for &i in &failed {
            let p = &mut self.pages[i];
            p.state = PageState::Pending;
            p.refusals += 1;
            worst = worst.max(p.refusals);
        }
        let labels: Vec<String> = failed.iter().map(|&i| page_label(i, &self.pages[i].original)).collect();
        if corrupted.is_empty() && !errors.is_empty() && errors.iter().all(FileError::is_final) {
            // The server judged the bytes themselves (type, size, dimensions): sending them again
            // cannot help.
            let code = match errors.iter().find_map(|e| e.status) {
                Some(413) => ErrorCode::TooLarge,
                Some(415) => ErrorCode::UnsupportedType,
                _ => ErrorCode::Http,
            };
            let status = errors.iter().find_map(|e| e.status).unwrap_or(resp.status);
            return self.fail(UploadError::new(code, PROVIDER, format!("MangaDex refused {}: {reason}", labels.join(", "))).with_status(status));
        }
        if worst >= MAX_PAGE_ATTEMPTS {
            let e = UploadError::new(
                ErrorCode::Http,
                PROVIDER,
                format!("MangaDex refused {} after {MAX_PAGE_ATTEMPTS} attempts: {reason}", labels.join(", ")),
            )
            .with_status(resp.status);
            return self.fail(e);
        }
        let e = UploadError::new(ErrorCode::Http, PROVIDER, format!("MangaDex refused {}: {reason}", labels.join(", ")))
            .with_status(resp.status)
            .retryable(true);
        Verdict::Retry { error: e, retry_after: None }
    }

    fn handle_resync(&mut self, resp: Response) -> Verdict {
        if resp.status == 404 {
            return self.fail(
                UploadError::new(ErrorCode::SessionExpired, PROVIDER, "the upload session is gone (expired, or abandoned elsewhere)")
                    .with_status(404),
            );
        }
        if !resp.is_success() {
            if let Some(v) = self.common("upload session lookup", &resp) {
                return v;
            }
            let e = self.error("upload session lookup", &resp);
            return self.fail(e);
        }
        match parse_session(&resp.body) {
            Some(s) if Some(&s.id) == self.session_id.as_ref() && !s.closed => {
                self.resync = false;
                self.reconcile(&s.files);
                Verdict::Continue
            }
            Some(_) => self.fail(UploadError::new(
                ErrorCode::SessionExpired,
                PROVIDER,
                "the upload session was closed or replaced by another one while pages were uploading",
            )),
            None => self.fail(UploadError::protocol(PROVIDER, "the upload session lookup answered with something that is not a session").with_status(resp.status)),
        }
    }

    fn handle_delete(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        let requeue = |me: &mut Self| {
            let ids: Vec<String> = match &req.body {
                Body::Text { text, .. } => Json::parse(text)
                    .ok()
                    .and_then(|j| j.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()))
                    .unwrap_or_default(),
                _ => req.url.rsplit('/').next().map(|s| vec![s.to_string()]).unwrap_or_default(),
            };
            me.deletes.extend(ids);
        };
        match outcome {
            Outcome::Response(r) if r.status == 429 => {
                requeue(self);
                Verdict::Throttled { error: self.error("deleting replaced pages", &r), retry_after: rate_limit_wait(&r) }
            }
            Outcome::Response(r) if r.status == 401 => {
                requeue(self);
                Verdict::Reauth(self.error("deleting replaced pages", &r))
            }
            // Done, already gone, or failed: best effort, as the commit drops every file that
            // is not in pageOrder anyway.
            _ => Verdict::Continue,
        }
    }

    fn handle_commit(&mut self, outcome: Outcome) -> Verdict {
        let resp = match outcome {
            Outcome::Network(detail) => {
                self.commit_lost = true;
                return network_retry(PROVIDER, "commit", &detail);
            }
            Outcome::Response(r) => r,
        };
        if resp.is_success() {
            let json = match Json::parse(resp.body.trim()) {
                Ok(j @ Json::Object(_)) => j,
                // The chapter exists: failing now would only make the caller upload it twice.
                _ => Json::object().with("result", "ok").with("sessionId", self.session_id.clone().unwrap_or_default()),
            };
            self.phase = Phase::Done(json);
            return Verdict::Continue;
        }
        if (resp.status == 404 || resp.status == 410) && self.commit_lost && self.params.edit.is_none() {
            // The session is gone after a commit whose answer was lost: most likely the chapter
            // exists. Find it rather than guess.
            self.phase = Phase::FindChapter(0);
            return Verdict::Continue;
        }
        if resp.status == 404 || resp.status == 410 {
            let msg = if self.commit_lost {
                "the commit's answer was lost and the upload session is gone: the chapter was most likely created; \
                 check the manga's chapters before uploading it again"
            } else {
                "the upload session is gone (expired, or abandoned elsewhere)"
            };
            return self.fail(UploadError::new(ErrorCode::SessionExpired, PROVIDER, msg).with_status(resp.status));
        }
        if resp.status >= 500 {
            self.commit_lost = true;
        }
        if let Some(v) = self.common("commit", &resp) {
            return v;
        }
        let mut e = self.error("commit", &resp);
        if server_message(&resp.body).is_some_and(|m| m.to_ascii_lowercase().contains("terms")) && !self.params.terms_accepted {
            e.message.push_str(" (set termsAccepted: true once the user has accepted MangaDex's terms)");
        }
        self.fail(e)
    }

    /// `GET /chapter` for the chapter a lost commit created: this manga, language, chapter
    /// number and groups, newest first (query parameters of the spec's `GetChapter`; every
    /// content rating, as the default leaves out pornographic mangas).
    fn find_request(&self) -> Request {
        use crate::core::url::encode_component as enc;
        let mut q = vec![format!("manga={}", enc(self.params.manga.as_deref().unwrap_or("")))];
        if let Some(lang) = self.params.draft.get("translatedLanguage").and_then(Json::as_str) {
            q.push(format!("translatedLanguage[]={}", enc(lang)));
        }
        if let Some(c) = self.params.draft.get("chapter").and_then(Json::as_str) {
            q.push(format!("chapter={}", enc(c)));
        }
        for g in &self.params.groups {
            q.push(format!("groups[]={}", enc(g)));
        }
        if let Some(u) = &self.session_user {
            q.push(format!("uploader={}", enc(u)));
        }
        if let Some(ms) = self.session_created_ms {
            // `YYYY-MM-DDTHH:MM:SS` in UTC, no zone (the spec's pattern); a second early, as the
            // chapter's own stamp may be rounded.
            let t = crate::core::time::format_iso8601_ms(ms - 1000.0);
            q.push(format!("createdAtSince={}", t.get(..19).unwrap_or("")));
        }
        for r in ["safe", "suggestive", "erotica", "pornographic"] {
            q.push(format!("contentRating[]={r}"));
        }
        q.push("includeFuturePublishAt=1&includeEmptyPages=1&includeExternalUrl=1".into());
        q.push("order[createdAt]=desc&limit=20&offset=0".into());
        self.request(Method::Get, &format!("/chapter?{}", q.join("&")), TAG_FIND)
    }

    /// Is this chapter (an item of a `GET /chapter` answer) the one our commit created?
    fn is_our_chapter(&self, c: &Json) -> bool {
        if c.get("type").and_then(Json::as_str) != Some("chapter") || !c.get("id").and_then(Json::as_str).is_some_and(safe_id) {
            return false;
        }
        let attr = |k: &str| c.get("attributes").and_then(|a| a.get(k));
        let draft = |k: &str| self.params.draft.get(k).cloned().unwrap_or(Json::Null);
        if attr("translatedLanguage").cloned().unwrap_or(Json::Null) != draft("translatedLanguage")
            || attr("chapter").cloned().unwrap_or(Json::Null) != draft("chapter")
        {
            return false;
        }
        let mut manga = None;
        let mut groups: Vec<String> = Vec::new();
        let mut uploader = None;
        for rel in c.get("relationships").and_then(Json::as_array).unwrap_or(&[]) {
            let id = rel.get("id").and_then(Json::as_str).map(str::to_ascii_lowercase);
            match (rel.get("type").and_then(Json::as_str), id) {
                (Some("manga"), Some(id)) => manga = Some(id),
                (Some("scanlation_group"), Some(id)) => groups.push(id),
                (Some("user"), Some(id)) => uploader = Some(id),
                _ => {}
            }
        }
        let same_groups = groups.len() == self.params.groups.len() && self.params.groups.iter().all(|g| groups.contains(g));
        if manga.is_none() || manga != self.params.manga || !same_groups {
            return false;
        }
        if let (Some(u), Some(ours)) = (&uploader, &self.session_user) {
            if u != ours {
                return false;
            }
        }
        // Created after the session began: on the server's clock when it said when that was,
        // else on ours, allowing for the two clocks to differ.
        let created = attr("createdAt").and_then(Json::as_str).and_then(crate::core::time::parse_iso8601_ms);
        let since = match (self.session_created_ms, self.began_ms) {
            (Some(ms), _) => ms - 1000.0,
            (None, Some(ms)) => ms - CLOCK_SKEW_MS,
            (None, None) => return false,
        };
        created.is_some_and(|t| t >= since)
    }

    fn handle_find(&mut self, tried: u32, outcome: Outcome) -> Verdict {
        let resp = match outcome {
            Outcome::Network(detail) => return network_retry(PROVIDER, "looking up the committed chapter", &detail),
            Outcome::Response(r) => r,
        };
        if resp.is_success() {
            let found = Json::parse(resp.body.trim())
                .ok()
                .and_then(|j| j.get("data").and_then(Json::as_array).and_then(|d| d.iter().find(|c| self.is_our_chapter(c)).cloned()));
            if let Some(chapter) = found {
                // What a commit answers: the chapter entity.
                let json = Json::object().with("result", "ok").with("response", "entity").with("data", chapter);
                self.phase = Phase::Done(json);
                return Verdict::Continue;
            }
            let tried = tried + 1;
            if tried < FIND_ATTEMPTS {
                // Not listed yet: chapters are processed before they appear. Wait and look again.
                self.phase = Phase::FindChapter(tried);
                let wait = FIND_DELAYS_MS.get(tried as usize - 1).or(FIND_DELAYS_MS.last()).copied().unwrap_or(1_000);
                let e = UploadError::new(ErrorCode::SessionExpired, PROVIDER, "the committed chapter is not listed yet");
                return Verdict::Throttled { error: e, retry_after: Some(RetryAfter::Delay(wait)) };
            }
            return self.fail(
                UploadError::new(
                    ErrorCode::SessionExpired,
                    PROVIDER,
                    format!(
                        "the commit's answer was lost and the upload session is gone, and no matching chapter was listed after {FIND_ATTEMPTS} lookups: \
                         the chapter may still be in MangaDex's processing queue; check the manga's chapters before uploading it again"
                    ),
                )
                .with_status(404),
            );
        }
        if let Some(v) = self.common("looking up the committed chapter", &resp) {
            return v;
        }
        let e = self.error("looking up the committed chapter", &resp);
        self.fail(
            UploadError::new(
                ErrorCode::SessionExpired,
                PROVIDER,
                format!("the commit's answer was lost and the upload session is gone: the chapter was most likely created, but looking it up failed ({})", e.message),
            )
            .with_status(resp.status),
        )
    }

    fn batch_request(&mut self, sid: &str) -> Option<Request> {
        let picked: Vec<usize> =
            (0..self.pages.len()).filter(|&i| self.pages[i].state == PageState::Pending).take(self.params.batch_size).collect();
        if picked.is_empty() {
            return None;
        }
        let parts = picked
            .iter()
            .enumerate()
            .map(|(j, &i)| {
                let p = &self.pages[i];
                Part::File {
                    name: format!("file{j}"),
                    filename: p.name.clone(),
                    content_type: p.kind.mime().into(),
                    slice: Slice { file: i, start: 0, end: p.size },
                }
            })
            .collect();
        for &i in &picked {
            self.pages[i].state = PageState::Sending;
        }
        self.batches_in_flight += 1;
        Some(self.request(Method::Post, &format!("/upload/{sid}"), TAG_BATCH).body(Body::Multipart(parts)))
    }

    fn delete_request(&mut self, sid: &str) -> Request {
        let ids = std::mem::take(&mut self.deletes);
        if let [one] = ids.as_slice() {
            return self.request(Method::Delete, &format!("/upload/{sid}/{one}"), TAG_DELETE);
        }
        let body = Json::Array(ids.into_iter().map(Json::String).collect());
        self.request(Method::Delete, &format!("/upload/{sid}/batch"), TAG_DELETE).body(Body::json(body.to_json_string()))
    }

    fn commit_request(&self, sid: &str) -> Request {
        let order: Vec<Json> = self
            .pages
            .iter()
            .map(|p| match &p.state {
                PageState::Stored(id) => Json::String(id.clone()),
                _ => Json::Null,
            })
            .collect();
        let mut body = Json::object().with("chapterDraft", self.params.draft.clone()).with("pageOrder", Json::Array(order));
        if self.params.terms_accepted {
            body.set("termsAccepted", Json::Bool(true));
        }
        self.request(Method::Post, &format!("/upload/{sid}/commit"), TAG_COMMIT).body(Body::json(body.to_json_string()))
    }

    fn next_upload(&mut self) -> Next {
        let Some(sid) = self.session_id.clone() else {
            self.phase = Phase::Begin;
            return self.next();
        };
        if self.control_in_flight {
            // A delete may run beside batches; nothing else does.
            return match self.batch_if_free(&sid) {
                Some(r) => Next::Send(r),
                None => Next::Wait,
            };
        }
        if self.resync {
            if self.batches_in_flight > 0 {
                return Next::Wait;
            }
            self.control_in_flight = true;
            return Next::Send(self.request(Method::Get, "/upload?includes[]=upload_session_file", TAG_RESYNC));
        }
        if !self.deletes.is_empty() {
            self.control_in_flight = true;
            return Next::Send(self.delete_request(&sid));
        }
        if let Some(r) = self.batch_if_free(&sid) {
            return Next::Send(r);
        }
        if self.batches_in_flight == 0 && self.stored() == self.pages.len() {
            self.phase = Phase::Commit;
            return self.next();
        }
        Next::Wait
    }

    fn batch_if_free(&mut self, sid: &str) -> Option<Request> {
        if self.resync || self.batches_in_flight >= self.params.concurrency {
            return None;
        }
        self.batch_request(sid)
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
            Phase::Done(_) => self.total,
            _ => self.pages.iter().filter(|p| matches!(p.state, PageState::Stored(_))).map(|p| p.size).sum(),
        }
    }
    fn max_parallel(&self) -> usize {
        self.params.concurrency + 1
    }

    fn next(&mut self) -> Next {
        match &self.phase {
            Phase::Done(j) => return Next::Done(j.clone()),
            Phase::Failed(e) => return Next::Fail(e.clone()),
            Phase::NeedHeads => {
                let e = UploadError::protocol(PROVIDER, "the pages' first bytes were not checked before the upload (set_heads)");
                self.phase = Phase::Failed(e.clone());
                return Next::Fail(e);
            }
            Phase::Upload => return self.next_upload(),
            _ => {}
        }
        if self.control_in_flight || self.batches_in_flight > 0 {
            return Next::Wait;
        }
        let req = match self.phase.clone() {
            Phase::Check => self.request(Method::Get, "/upload?includes[]=upload_session_file", TAG_CHECK),
            Phase::AbandonOld(id) => self.request(Method::Delete, &format!("/upload/{id}"), TAG_ABANDON),
            Phase::Begin => match &self.params.edit {
                Some((chapter, version)) => self
                    .request(Method::Post, &format!("/upload/begin/{chapter}"), TAG_BEGIN)
                    .body(Body::json(Json::object().with("version", *version).to_json_string())),
                None => {
                    let groups = Json::Array(self.params.groups.iter().map(|g| Json::String(g.clone())).collect());
                    let body = Json::object().with("manga", self.params.manga.clone().unwrap_or_default()).with("groups", groups);
                    self.request(Method::Post, "/upload/begin", TAG_BEGIN).body(Body::json(body.to_json_string()))
                }
            },
            Phase::Commit => {
                let Some(sid) = self.session_id.clone() else {
                    self.phase = Phase::Begin;
                    return self.next();
                };
                if self.pages.iter().any(|p| !matches!(p.state, PageState::Stored(_))) {
                    self.phase = Phase::Upload;
                    return self.next();
                }
                self.commit_request(&sid)
            }
            Phase::FindChapter(_) => self.find_request(),
            _ => return Next::Wait,
        };
        self.control_in_flight = true;
        Next::Send(req)
    }

    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        if req.tag == TAG_BATCH {
            if matches!(self.phase, Phase::Done(_) | Phase::Failed(_)) {
                self.batches_in_flight = self.batches_in_flight.saturating_sub(1);
                return Verdict::Continue;
            }
            return self.handle_batch(req, outcome);
        }
        self.control_in_flight = false;
        if matches!(self.phase, Phase::Done(_) | Phase::Failed(_)) {
            return Verdict::Continue;
        }
        if req.tag == TAG_DELETE {
            return self.handle_delete(req, outcome);
        }
        if req.tag == TAG_COMMIT {
            return self.handle_commit(outcome);
        }
        if req.tag == TAG_FIND {
            return match self.phase {
                Phase::FindChapter(tried) => self.handle_find(tried, outcome),
                _ => Verdict::Continue,
            };
        }
        let resp = match outcome {
            Outcome::Network(detail) => {
                let what = match req.tag {
                    TAG_BEGIN => {
                        // The session may have been opened: look before beginning again.
                        self.begin_lost = true;
                        self.phase = Phase::Check;
                        "beginning the upload session"
                    }
                    TAG_ABANDON => "abandoning the open upload session",
                    _ => "upload session lookup",
                };
                return network_retry(PROVIDER, what, &detail);
            }
            Outcome::Response(r) => r,
        };
        match req.tag {
            TAG_CHECK => self.handle_check(resp),
            TAG_ABANDON => self.handle_abandon_old(resp),
            TAG_BEGIN => self.handle_begin(resp),
            TAG_RESYNC => self.handle_resync(resp),
            _ => Verdict::Continue,
        }
    }

    fn set_token(&mut self, token: &str) {
        self.params.access_token = token.to_string();
    }

    fn resync(&mut self) {
        if self.phase == Phase::Upload && self.session_id.is_some() {
            self.resync = true;
        }
    }

    fn cancel(&mut self) -> Vec<Request> {
        match &self.session_id {
            Some(sid) if !matches!(self.phase, Phase::Done(_)) => {
                vec![self.request(Method::Delete, &format!("/upload/{sid}"), TAG_ABANDON)]
            }
            _ => Vec::new(),
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
        for (i, head) in heads.iter().enumerate() {
            match check_head(head) {
                Ok(kind) => {
                    let p = &mut self.pages[i];
                    p.kind = kind;
                    p.name = part_filename(i, &p.original, kind);
                }
                Err(why) => problems.push(format!("{}: {why}", page_label(i, &self.pages[i].original))),
            }
        }
        if !problems.is_empty() {
            return Err(invalid_pages(problems));
        }
        if self.phase == Phase::NeedHeads {
            self.phase = Phase::Check;
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
        if let PageState::Checking { id, hash } = &p.state {
            if crate::core::digest::hex(&sha256) == *hash {
                p.state = PageState::Stored(id.clone());
            } else {
                if safe_id(id) && !self.deletes.contains(id) {
                    self.deletes.push(id.clone());
                }
                p.state = PageState::Pending;
            }
        }
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.params.access_token.clone()]
    }
    fn credential_origin(&self) -> Option<String> {
        crate::core::url::origin(&self.endpoint)
    }

    fn session(&self) -> Json {
        match &self.session_id {
            Some(id) => Json::object().with("sessionId", id.as_str()).with("pagesStored", self.stored() as u64),
            None => Json::Null,
        }
    }

    /// The open session and how many pages it holds. (MangaDex lists a session's files, so a
    /// resumed upload reads them again and sends only the pages missing.)
    fn resume_state(&self) -> Option<Json> {
        match (&self.session_id, &self.phase) {
            (Some(id), Phase::Upload) => Some(Json::object().with("sessionId", id.as_str()).with("pagesStored", self.stored() as u64)),
            _ => None,
        }
    }

    fn resume_key(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// Continues the account's open session when it is for this chapter, whatever
    /// `existingSession` says: its file list is read first, pages it holds (same name and size)
    /// are kept, the rest are sent. A session that is gone meanwhile is begun again.
    fn restore(&mut self, state: &Json) -> Result<(), UploadError> {
        if self.session_id.is_some() || self.control_in_flight || !matches!(self.phase, Phase::NeedHeads | Phase::Check) {
            return Err(invalid("cannot resume: the upload has already begun"));
        }
        if !state.get("sessionId").and_then(Json::as_str).is_some_and(safe_id) {
            return Err(invalid("cannot resume: no usable sessionId"));
        }
        self.params.existing = ExistingSession::Resume;
        Ok(())
    }
}

// ---- the approval check -------------------------------------------------------------------

/// `POST /upload/check-approval-required {manga, locale}` → `requiresApproval` (a boolean).
/// Read-only, so it is resent after a network error.
#[derive(Debug)]
pub struct ApprovalCheck {
    request: Request,
    token: String,
    manga: String,
    state: Option<Result<Json, UploadError>>,
    in_flight: bool,
}

impl ApprovalCheck {
    pub fn new(endpoint: &str, access_token: &str, manga: &str, locale: &str) -> Result<Self, UploadError> {
        if access_token.is_empty() {
            return Err(invalid("accessToken is required"));
        }
        if !is_absolute_http(endpoint) {
            return Err(invalid("endpoint must be an http(s) URL or a path on this site"));
        }
        if !is_uuid(manga) {
            return Err(invalid("manga must be a manga UUID"));
        }
        if !valid_language(locale) {
            return Err(invalid(format!("locale {} is not a language code like \"en\" or \"pt-br\"", crate::core::quoted(&crate::core::truncate(locale, 20)))));
        }
        let body = Json::object().with("manga", manga.to_ascii_lowercase()).with("locale", locale);
        let request = Request::new(Method::Post, join(endpoint, "/upload/check-approval-required"))
            .bearer(access_token)
            .body(Body::json(body.to_json_string()));
        Ok(ApprovalCheck { request, token: access_token.into(), manga: manga.to_ascii_lowercase(), state: None, in_flight: false })
    }

    fn settle(&mut self, r: Result<Json, UploadError>) -> Verdict {
        self.state = Some(r.clone());
        match r {
            Ok(_) => Verdict::Continue,
            Err(e) => Verdict::Fail(e),
        }
    }
}

impl Protocol for ApprovalCheck {
    fn provider(&self) -> &'static str {
        PROVIDER
    }
    fn total(&self) -> u64 {
        0
    }
    fn confirmed(&self) -> u64 {
        0
    }
    fn next(&mut self) -> Next {
        match &self.state {
            Some(Ok(j)) => Next::Done(j.clone()),
            Some(Err(e)) => Next::Fail(e.clone()),
            None if self.in_flight => Next::Wait,
            None => {
                self.in_flight = true;
                Next::Send(self.request.clone())
            }
        }
    }
    fn handle(&mut self, _req: &Request, outcome: Outcome) -> Verdict {
        self.in_flight = false;
        let resp = match outcome {
            Outcome::Network(d) => return network_retry(PROVIDER, "approval check", &d),
            Outcome::Response(r) => r,
        };
        if resp.is_success() {
            let flag = Json::parse(resp.body.trim()).ok().and_then(|j| j.get("requiresApproval").and_then(Json::as_bool));
            return match flag {
                Some(b) => self.settle(Ok(Json::Bool(b))),
                None => self.settle(Err(UploadError::protocol(PROVIDER, "the approval check's answer has no requiresApproval").with_status(resp.status))),
            };
        }
        let e = status_error(PROVIDER, "approval check", &resp);
        match resp.status {
            404 => {
                let e = UploadError::new(ErrorCode::Http, PROVIDER, format!("approval check: manga {} was not found", self.manga)).with_status(404);
                self.settle(Err(e))
            }
            401 => Verdict::Reauth(e),
            429 => Verdict::Throttled { error: e, retry_after: rate_limit_wait(&resp) },
            s if status_is_retryable(s) => Verdict::Retry { error: e, retry_after: resp.header("retry-after").and_then(parse_retry_after) },
            _ => {
                let mut e = e;
                if resp.status == 403 {
                    e.code = ErrorCode::Auth;
                }
                self.settle(Err(e))
            }
        }
    }
    fn set_token(&mut self, token: &str) {
        self.request.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
        self.request.headers.push(("Authorization".into(), format!("Bearer {token}")));
        self.token = token.to_string();
    }
    fn secrets(&self) -> Vec<String> {
        vec![self.token.clone()]
    }
}

// ---- personal-client login (Keycloak password grant) -----------------------------------------

/// The token endpoint under an auth root such as `https://auth.mangadex.org` (or a proxy path).
pub fn token_url(auth_endpoint: &str) -> String {
    let e = auth_endpoint.trim_end_matches('/');
    if e.ends_with("/protocol/openid-connect/token") {
        e.to_string()
    } else {
        join(e, "/realms/mangadex/protocol/openid-connect/token")
    }
}

fn token_request(auth_endpoint: &str, pairs: &[(&str, &str)]) -> Result<Request, UploadError> {
    let url = token_url(auth_endpoint);
    if !is_absolute_http(&url) {
        return Err(invalid("authEndpoint must be an http(s) URL or a path on this site (a proxy to auth.mangadex.org)"));
    }
    Ok(Request::new(Method::Post, url).body(Body::Text {
        content_type: "application/x-www-form-urlencoded".into(),
        text: crate::core::url::form_urlencoded(pairs),
    }))
}

fn required<'a>(v: &'a str, name: &str) -> Result<&'a str, UploadError> {
    if v.is_empty() {
        Err(invalid(format!("{name} is required")))
    } else {
        Ok(v)
    }
}

/// Personal-client login: `grant_type=password` (form-encoded, not JSON).
pub fn login(auth_endpoint: &str, username: &str, password: &str, client_id: &str, client_secret: &str) -> Result<super::oneshot::OneShot, UploadError> {
    let req = token_request(
        auth_endpoint,
        &[
            ("grant_type", "password"),
            ("username", required(username, "username")?),
            ("password", required(password, "password")?),
            ("client_id", required(client_id, "clientId")?),
            ("client_secret", required(client_secret, "clientSecret")?),
        ],
    )?;
    Ok(super::oneshot::OneShot::new(PROVIDER, "login", req, super::oneshot::accept_json).with_secret(password).with_secret(client_secret))
}

/// `grant_type=refresh_token` on the same endpoint.
pub fn refresh(auth_endpoint: &str, refresh_token: &str, client_id: &str, client_secret: &str) -> Result<super::oneshot::OneShot, UploadError> {
    let req = token_request(
        auth_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", required(refresh_token, "refreshToken")?),
            ("client_id", required(client_id, "clientId")?),
            ("client_secret", required(client_secret, "clientSecret")?),
        ],
    )?;
    Ok(super::oneshot::OneShot::new(PROVIDER, "token refresh", req, super::oneshot::accept_json)
        .with_secret(refresh_token)
        .with_secret(client_secret))
}
