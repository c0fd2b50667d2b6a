//! Recovering from lost answers: the session's file list, read again, is taken as the truth
//! (pages it holds are kept by name, size and `fileHash`; the rest are sent again); and after a
//! lost commit answer, the chapter the commit created is looked up (`GET /chapter`).

use super::options::safe_id;
use super::wire::{object, sha256_hex, Entity};
use super::{parse_session, Kind, MangaDex, Page, PageState, Params, Phase, RemoteFile, Session, PROVIDER};
use crate::core::json;
use crate::core::retry::RetryAfter;
use crate::core::{codec, ErrorCode, Json, Method, Outcome, Request, Response, UploadError};
use crate::protocols::{network_retry, Verdict};
use serde::Deserialize;

/// A `GET /chapter` answer. The chapters stay as MangaDex wrote them (the one found is handed
/// to the caller); each is read as an [`Entity`] to tell whether it is ours.
#[derive(Deserialize)]
struct ChapterList {
    data: Vec<Json>,
}

/// After a lost commit answer, the chapter list is read this many times at most: a committed
/// chapter goes through a processing queue before it is listed (docs `04-chapter/upload`).
pub const FIND_ATTEMPTS: u32 = 6;
/// The waits between those reads, in ms (the last one repeats).
pub const FIND_DELAYS_MS: [u64; 5] = [1_000, 2_000, 4_000, 8_000, 15_000];
/// How far before the session's begin (on the client's clock) a chapter may have been created
/// and still be this upload's, when the server did not say when the session was created.
pub const CLOCK_SKEW_MS: f64 = 5.0 * 60_000.0;

/// Takes the server's file list as the truth: keeps what is stored under a page's name and
/// size once its `fileHash` (the SHA-256 of the stored bytes) matches the page's own SHA-256,
/// queues duplicates, stale copies (a page edited since: same name and size, other bytes)
/// and unknown files for deletion, and sends again what is missing. A page whose SHA-256 is
/// not known yet waits in `Checking` while the shell hashes it (its index goes to `wanted`).
pub(super) fn reconcile(pages: &mut [Page], wanted: &mut Vec<usize>, deletes: &mut Vec<String>, files: &[RemoteFile]) {
    let listed: Vec<&str> = files.iter().filter(|f| !f.remote).map(|f| f.id.as_str()).collect();
    for p in pages.iter_mut() {
        match &p.state {
            PageState::Stored(id) | PageState::Checking { id, .. } if !listed.contains(&id.as_str()) => p.state = PageState::Pending,
            PageState::Sending => p.state = PageState::Pending,
            _ => {}
        }
    }
    for f in files.iter().filter(|f| !f.remote) {
        let (Some(name), Some(size)) = (&f.name, f.size) else { continue };
        let Some((i, p)) = pages.iter_mut().enumerate().find(|(_, p)| &p.name == name && p.size == size) else {
            deletes.push(f.id.clone());
            continue;
        };
        match &p.state {
            PageState::Stored(id) | PageState::Checking { id, .. } if *id == f.id => {}
            PageState::Stored(_) | PageState::Checking { .. } => deletes.push(f.id.clone()),
            _ => match f.hash.as_deref().and_then(sha256_hex) {
                // No SHA-256 to compare with: name and size are all there is to go by.
                None => p.state = PageState::Stored(f.id.clone()),
                Some(hash) => match p.sha256 {
                    Some(d) if crate::core::digest::hex(&d) == hash => p.state = PageState::Stored(f.id.clone()),
                    Some(_) => deletes.push(f.id.clone()),
                    None => {
                        p.state = PageState::Checking { id: f.id.clone(), hash };
                        if !wanted.contains(&i) {
                            wanted.push(i);
                        }
                    }
                },
            },
        }
    }
    deletes.retain(|id| safe_id(id));
    deletes.dedup();
}

impl MangaDex {
    pub(super) fn handle_resync(&mut self, resp: Response) -> Verdict {
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
            Some(s) if Some(s.id.as_str()) == self.session_id() && !s.closed => {
                if let Phase::Upload(up) = &mut self.phase {
                    up.resync = false;
                    reconcile(&mut self.pages, &mut self.wanted, &mut up.deletes, &s.files);
                }
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

    /// `GET /chapter` for the chapter a lost commit created: this manga, language, chapter
    /// number and groups, newest first (query parameters of the spec's `GetChapter`; every
    /// content rating, as the default leaves out pornographic mangas).
    pub(super) fn find_request(&self, session: &Session) -> Request {
        let mut q = String::from("/chapter?");
        // `key=value&`, the value percent-encoded unless `raw`.
        let mut add = |key: &str, value: &str, raw: bool| {
            q.push_str(key);
            q.push('=');
            if raw {
                q.push_str(value);
            } else {
                q.push_str(&crate::core::url::encode_component(value));
            }
            q.push('&');
        };
        add("manga", self.params.manga.as_deref().unwrap_or(""), false);
        add("translatedLanguage[]", &self.params.draft.translated_language, false);
        if let Some(c) = &self.params.draft.chapter {
            add("chapter", c, false);
        }
        for g in &self.params.groups {
            add("groups[]", g, false);
        }
        if let Some(u) = &session.user {
            add("uploader", u, false);
        }
        if let Some(ms) = session.created_ms {
            // `YYYY-MM-DDTHH:MM:SS` in UTC, no zone (the spec's pattern); a second early, as the
            // chapter's own stamp may be rounded.
            let t = crate::core::time::format_iso8601_ms(ms - 1000.0);
            add("createdAtSince", t.get(..19).unwrap_or(""), true);
        }
        for r in ["safe", "suggestive", "erotica", "pornographic"] {
            add("contentRating[]", r, true);
        }
        q.push_str("includeFuturePublishAt=1&includeEmptyPages=1&includeExternalUrl=1&order[createdAt]=desc&limit=20&offset=0");
        self.request(Method::Get, &q, Kind::Find)
    }

}

/// Is this chapter (an item of a `GET /chapter` answer) the one our commit (to `session`) created?
fn is_our_chapter(params: &Params, session: &Session, c: &Entity) -> bool {
    if c.kind.as_deref() != Some("chapter") || !c.id.as_deref().is_some_and(safe_id) {
        return false;
    }
    let a = c.attrs();
    let draft = &params.draft;
    if a.translated_language.as_ref() != Some(&draft.translated_language) || a.chapter != draft.chapter {
        return false;
    }
    let mut manga = None;
    let mut groups: Vec<String> = Vec::new();
    let mut uploader = None;
    for rel in c.relationships() {
        match rel.link() {
            Some(("manga", id)) => manga = Some(id),
            Some(("scanlation_group", id)) => groups.push(id),
            Some(("user", id)) => uploader = Some(id),
            _ => {}
        }
    }
    let same_groups = groups.len() == params.groups.len() && params.groups.iter().all(|g| groups.contains(g));
    if manga.is_none() || manga != params.manga || !same_groups {
        return false;
    }
    if let (Some(u), Some(ours)) = (&uploader, &session.user) {
        if u != ours {
            return false;
        }
    }
    // Created after the session began: on the server's clock when it said when that was,
    // else on ours, allowing for the two clocks to differ.
    let created = a.created_at.as_deref().and_then(crate::core::time::parse_iso8601_ms);
    let since = match session.created_ms {
        Some(ms) => ms - 1000.0,
        None => session.began_ms - CLOCK_SKEW_MS,
    };
    created.is_some_and(|t| t >= since)
}

impl MangaDex {
    pub(super) fn handle_find(&mut self, outcome: Outcome) -> Verdict {
        let resp = match outcome {
            Outcome::Network(detail) => return network_retry(PROVIDER, "looking up the committed chapter", &detail),
            Outcome::Response(r) => r,
        };
        if resp.is_success() {
            let Phase::FindChapter { session, tried } = &mut self.phase else { return Verdict::Continue };
            let list = object::<ChapterList>(&resp.body).map(|l| l.data).unwrap_or_default();
            let found = list.iter().find(|c| codec::from_json::<Entity>(c).is_ok_and(|c| is_our_chapter(&self.params, session, &c)));
            if let Some(chapter) = found {
                // What a commit answers: the chapter entity.
                let answer = json::object(vec![("result", Some("ok".into())), ("response", Some("entity".into())), ("data", Some(chapter.clone()))]);
                self.advance(|from| match from {
                    Phase::FindChapter { session, .. } => Phase::Done { answer, session: session.id },
                    other => other,
                });
                return Verdict::Continue;
            }
            *tried += 1;
            if *tried < FIND_ATTEMPTS {
                // Not listed yet: chapters are processed before they appear. Wait and look again.
                let wait = FIND_DELAYS_MS.get(*tried as usize - 1).or(FIND_DELAYS_MS.last()).copied().unwrap_or(1_000);
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
}
