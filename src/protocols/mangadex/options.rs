//! The caller's options, validated into [`Params`]: the `chapter` fields into MangaDex's
//! `chapterDraft`, ids, number labels, language codes and dates; and [`from_options`], which
//! builds the protocol from them.

use super::{MangaDex, DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MAX_FILES_PER_REQUEST, MAX_GROUPS, PROVIDER};
use crate::core::codec;
use crate::core::{FileInfo, Json, UploadError};
use crate::protocols::Protocol;
use serde::{Deserialize, Deserializer, Serialize};

/// The caller's MangaDex options, as given: those of `new Upload(…)` and those the one-request
/// helpers (`mangadexCheckApprovalRequired`, `mangadexLogin`, `mangadexRefreshToken`) read
/// besides `endpoint`; one type for both, so one decoder. The common options are read elsewhere
/// and ignored here. Every field may be missing or null: the upload's are checked into
/// [`Params`] by [`Params::from_options`]; each helper checks that the ones it needs are given
/// (`ApprovalCheck::new`, [`super::login`], [`super::refresh`]).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelperOptions {
    pub access_token: Option<String>,
    chapter_id: Option<String>,
    version: Option<u64>,
    pub manga: Option<String>,
    groups: Option<Vec<String>>,
    /// Checked field by field by [`chapter_draft`] (labels may be strings or numbers); `null`
    /// is kept, to be told apart from a missing `chapter`.
    #[serde(default, deserialize_with = "present")]
    chapter: Option<Json>,
    terms_accepted: Option<bool>,
    existing_session: Option<String>,
    batch_size: Option<u64>,
    concurrency: Option<u64>,
    pub auth_endpoint: Option<String>,
    pub locale: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
}

/// A field given as `null` is `Some(null)`, not `None` (missing).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The caller's `chapter`, as given: `volume` and `chapter` may be strings or numbers (written
/// as text), so they stay open-ended; a `null` is told apart from a missing field.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GivenChapter {
    #[serde(default, deserialize_with = "present")]
    volume: Option<Json>,
    #[serde(default, deserialize_with = "present")]
    chapter: Option<Json>,
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
    translated_language: Option<String>,
    external_url: Option<String>,
    publish_at: Option<String>,
}

/// The options whose type [`HelperOptions`] fixes, in the order they are checked (the
/// helpers' strings last).
const TYPED: [&str; 16] = [
    "accessToken",
    "chapterId",
    "version",
    "manga",
    "groups",
    "termsAccepted",
    "existingSession",
    "batchSize",
    "concurrency",
    "authEndpoint",
    "locale",
    "username",
    "password",
    "clientId",
    "clientSecret",
    "refreshToken",
];

/// Why `options` did not decode: the first option (in [`TYPED`] order) that does not decode on
/// its own, with the message that option has always had.
fn wrong_type(options: &Json) -> UploadError {
    let given = |k: &str| options.get(k).filter(|v| !v.is_null());
    let culprit = codec::culprit(options, &mut TYPED.iter().copied().filter(|k| given(k).is_some()), &|one| codec::from_json::<HelperOptions>(one).is_ok());
    invalid(match culprit {
        Some("accessToken") => "accessToken must be a string".to_string(),
        Some("chapterId") => "chapterId must be a chapter UUID".into(),
        Some("version") if given("chapterId").is_none() => VERSION_ALONE.into(),
        Some("version") => VERSION_REQUIRED.into(),
        Some("manga") => "manga must be a manga UUID".into(),
        Some("groups") if given("groups").is_some_and(Json::is_array) => GROUP_IDS.into(),
        Some("groups") => "groups must be an array of scanlation group UUIDs".into(),
        Some("termsAccepted") => "termsAccepted must be a boolean".into(),
        Some("existingSession") => "existingSession must be a string".into(),
        Some("batchSize") => bounded_message("batchSize", MAX_FILES_PER_REQUEST),
        Some("concurrency") => bounded_message("concurrency", MAX_CONCURRENCY),
        // The helpers' options are strings.
        Some(k) => format!("{k} must be a string"),
        None => "the options must be an object".into(),
    })
}

const VERSION_REQUIRED: &str = "version (the chapter's current version, an integer ≥ 1) is required with chapterId";
const VERSION_ALONE: &str = "version is only used with chapterId (to edit a chapter)";
const GROUP_IDS: &str = "groups must hold scanlation group UUIDs";

fn bounded_message(key: &str, max: usize) -> String {
    format!("{key} must be an integer from 1 to {max}")
}

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
    pub draft: ChapterDraft,
    /// `(chapterId, version)` to edit an existing chapter.
    pub edit: Option<(String, u64)>,
    pub terms_accepted: bool,
    pub existing: ExistingSession,
    pub batch_size: usize,
    pub concurrency: usize,
}

/// MangaDex's `chapterDraft`, validated; written in this order (the commit body's).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChapterDraft {
    pub volume: Option<String>,
    pub chapter: Option<String>,
    pub title: Option<String>,
    pub translated_language: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_at: Option<String>,
}

impl ChapterDraft {
    /// As the commit body writes it (`externalUrl` and `publishAt` only when given).
    pub fn to_json(&self) -> Json {
        // `volume`, `chapter` and `title` are written as null when not given.
        crate::core::json::object(vec![
            ("volume", Some(self.volume.clone().into())),
            ("chapter", Some(self.chapter.clone().into())),
            ("title", Some(self.title.clone().into())),
            ("translatedLanguage", Some(self.translated_language.as_str().into())),
            ("externalUrl", self.external_url.as_deref().map(Json::from)),
            ("publishAt", self.publish_at.as_deref().map(Json::from)),
        ])
    }
}

pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// Ids the server gives us go into URL paths: only plain id characters are accepted.
pub(super) fn safe_id(s: &str) -> bool {
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
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|d| d.parse::<u32>().ok()).unwrap_or(99);
    (1..=12).contains(&n(5..7)) && (1..=31).contains(&n(8..10)) && n(11..13) <= 23 && n(14..16) <= 59 && n(17..19) <= 59
}

pub(super) fn invalid(msg: impl Into<String>) -> UploadError {
    UploadError::invalid(PROVIDER, msg)
}

/// A volume/chapter label: a string, a number (written as text), or null.
fn number_label(key: &str, v: Option<Json>) -> Result<Option<String>, UploadError> {
    let text = match v {
        None => return Err(invalid(format!("chapter.{key} is required (a string such as \"12\" or \"12.5\", or null)"))),
        Some(Json::Null) => return Ok(None),
        Some(Json::String(s)) => s,
        Some(n @ Json::Number(_)) if n.as_f64().is_some_and(|f| f >= 0.0) => {
            // "12", "12.5": the JSON encoder's shortest form (no float formatting of ours).
            codec::encode(&n)
        }
        Some(_) => return Err(invalid(format!("chapter.{key} must be a string or null"))),
    };
    if !valid_number_label(&text) {
        return Err(invalid(format!(
            "chapter.{key} {} is not a valid label (digits, an optional .decimal part and letter, at most 8 characters, e.g. \"12\", \"12.5\", \"3b\")",
            crate::core::quoted(&crate::core::truncate(&text, 20))
        )));
    }
    Ok(Some(text))
}

/// Validates `chapter` into MangaDex's `chapterDraft`.
pub fn chapter_draft(chapter: Option<&Json>) -> Result<ChapterDraft, UploadError> {
    let c = match chapter {
        Some(Json::Object(c)) => c,
        Some(_) => return Err(invalid("chapter must be an object { volume, chapter, title, translatedLanguage }")),
        None => return Err(invalid("chapter is required: { volume, chapter, title, translatedLanguage }")),
    };
    const KEYS: [&str; 6] = ["volume", "chapter", "title", "translatedLanguage", "externalUrl", "publishAt"];
    if let Some(k) = c.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(invalid(format!("chapter.{k} is not a chapter field; expected {}", KEYS.join(", "))));
    }
    let given: GivenChapter = codec::from_json(chapter.unwrap_or(&Json::Null)).map_err(|_| {
        // The first field of another type, on its own (every field is optional).
        let culprit = codec::culprit(chapter.unwrap_or(&Json::Null), &mut c.keys().map(String::as_str), &|one| codec::from_json::<GivenChapter>(one).is_ok());
        match culprit {
            Some("title") => invalid("chapter.title must be a string or null"),
            Some(k) => invalid(format!("chapter.{k} must be a string")),
            None => invalid("chapter must be an object { volume, chapter, title, translatedLanguage }"),
        }
    })?;
    let volume = number_label("volume", given.volume)?;
    let chapter = number_label("chapter", given.chapter)?;
    let title = match given.title {
        None => return Err(invalid("chapter.title is required (a string or null)")),
        Some(Some(t)) if t.chars().count() > 255 => return Err(invalid("chapter.title is longer than 255 characters")),
        Some(t) => t,
    };
    let lang = given.translated_language.ok_or_else(|| invalid("chapter.translatedLanguage is required (e.g. \"en\", \"pt-br\")"))?;
    if !valid_language(&lang) {
        return Err(invalid(format!(
            "chapter.translatedLanguage {} is not a language code like \"en\" or \"pt-br\"",
            crate::core::quoted(&crate::core::truncate(&lang, 20))
        )));
    }
    if let Some(url) = &given.external_url {
        let lower = url.to_ascii_lowercase();
        if url.chars().count() > 512 || !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(invalid("chapter.externalUrl must be an http(s) URL of at most 512 characters"));
        }
    }
    if let Some(at) = &given.publish_at {
        if !valid_publish_at(at) {
            return Err(invalid(format!(
                "chapter.publishAt {} must look like 2025-07-01T18:00:00 (no time zone)",
                crate::core::quoted(&crate::core::truncate(at, 40))
            )));
        }
    }
    Ok(ChapterDraft { volume, chapter, title, translated_language: lang, external_url: given.external_url, publish_at: given.publish_at })
}

impl Params {
    pub fn from_options(options: &Json) -> Result<Params, UploadError> {
        let o = HelperOptions::read(options)?;
        let access_token = o.access_token.filter(|t| !t.is_empty()).ok_or_else(|| invalid("accessToken is required"))?;
        let edit = match o.chapter_id {
            None => {
                if o.version.is_some() {
                    return Err(invalid(VERSION_ALONE));
                }
                None
            }
            Some(id) if is_uuid(&id) => {
                let version = o.version.filter(|v| *v >= 1).ok_or_else(|| invalid(VERSION_REQUIRED))?;
                Some((id.to_ascii_lowercase(), version))
            }
            Some(_) => return Err(invalid("chapterId must be a chapter UUID")),
        };
        let manga = match o.manga {
            None if edit.is_some() => None,
            None => return Err(invalid("manga (the manga's UUID) is required")),
            Some(m) if is_uuid(&m) => Some(m.to_ascii_lowercase()),
            Some(_) => return Err(invalid("manga must be a manga UUID")),
        };
        let groups = match o.groups {
            None if edit.is_some() => Vec::new(),
            None => return Err(invalid("groups is required: an array of scanlation group UUIDs ([] for no group)")),
            Some(items) => {
                let mut out: Vec<String> = Vec::new();
                for s in items {
                    if !is_uuid(&s) {
                        return Err(invalid(GROUP_IDS));
                    }
                    let s = s.to_ascii_lowercase();
                    if out.contains(&s) {
                        return Err(invalid(format!("groups lists {s} twice")));
                    }
                    out.push(s);
                }
                if out.len() > MAX_GROUPS {
                    return Err(invalid(format!("at most {MAX_GROUPS} groups per chapter")));
                }
                out
            }
        };
        let draft = chapter_draft(o.chapter.as_ref())?;
        let existing = match o.existing_session.as_deref() {
            None | Some("resume") => ExistingSession::Resume,
            Some("abandon") => ExistingSession::Abandon,
            Some("fail") => ExistingSession::Fail,
            Some(_) => return Err(invalid("existingSession must be 'resume', 'abandon' or 'fail'")),
        };
        let bounded = |key: &str, v: Option<u64>, max: usize, default: usize| -> Result<usize, UploadError> {
            match v {
                None => Ok(default),
                Some(n) if (1..=max as u64).contains(&n) => Ok(n as usize),
                Some(_) => Err(invalid(bounded_message(key, max))),
            }
        };
        Ok(Params {
            access_token,
            manga,
            groups,
            draft,
            edit,
            terms_accepted: o.terms_accepted.unwrap_or(false),
            existing,
            batch_size: bounded("batchSize", o.batch_size, MAX_FILES_PER_REQUEST, MAX_FILES_PER_REQUEST)?,
            concurrency: bounded("concurrency", o.concurrency, MAX_CONCURRENCY, DEFAULT_CONCURRENCY)?,
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

impl HelperOptions {
    /// The options, typed; a value of the wrong type is named (see [`wrong_type`]).
    pub fn read(options: &Json) -> Result<Self, UploadError> {
        codec::from_json(options).map_err(|_| wrong_type(options))
    }
}
