//! Resume after a page reload or crash (sans-IO): the record an in-flight upload leaves in the
//! page's storage, the fingerprint it is filed under, and when it expires.
//!
//! A record names the provider, the endpoint, the file(s) it is for, what the server confirmed
//! and the protocol's own session state ([`crate::protocols::Protocol::resume_state`]: an upload
//! URL, a video id, a session id and chunk index, …). It never holds a token: the state is built
//! without credentials, and [`ResumeRecord::to_storage`] refuses to serialise a record in which
//! any of the upload's secrets appears. The fingerprint is a SHA-256 over the file(s) (name,
//! size, lastModified, type), the provider, the endpoint, the upload's target (channel, uri,
//! manga, …) and the caller's `user` string; the `user` string itself is never stored.

use super::json::Json;
use crate::core::JsonExt as _;
use super::FileInfo;
use sha2::{Digest, Sha256};

/// Storage keys of resume records start with this.
pub const KEY_PREFIX: &str = "chunkup:";
/// Record format version.
pub const VERSION: u64 = 1;
/// Default lifetime of a record after its last update (ms).
pub const DEFAULT_TTL_MS: f64 = 24.0 * 3600.0 * 1000.0;
/// PeerTube removes resumable uploads idle for 1 to 2 hours (its dangling-upload scheduler).
pub const PEERTUBE_TTL_MS: f64 = 2.0 * 3600.0 * 1000.0;

/// Option keys that name the upload's target, per provider: part of the fingerprint, so that
/// the same file sent to another channel, folder or chapter is another upload.
pub fn target_keys(provider: &str) -> &'static [&'static str] {
    match provider {
        "peertube" => &["channelId"],
        "peertube-import" => &["userId"],
        "apivideo" => &["videoId"],
        "cloudreve" => &["uri", "policyId", "overwrite"],
        "mangadex" => &["manga", "groups", "chapter", "chapterId"],
        _ => &[],
    }
}

/// The target part of the fingerprint from the caller's options (plain data).
pub fn target(provider: &str, options: &Json) -> String {
    let mut t = Json::object();
    for k in target_keys(provider) {
        if let Some(v) = options.get(k).filter(|v| !v.is_null()) {
            t.set(k, v.clone());
        }
    }
    t.to_json_string()
}

/// The fingerprint (32 lower-case hex digits) of an upload of `files` to `provider` at
/// `endpoint`, for `target` (see [`target`]) on behalf of `user` (any string the page uses to
/// tell its accounts apart; may be empty).
pub fn fingerprint(provider: &str, endpoint: &str, target: &str, user: &str, files: &[FileInfo]) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    field("chunkup-resume-v1");
    field(provider);
    field(endpoint.trim_end_matches('/'));
    field(target);
    field(user);
    for f in files {
        field(&f.name);
        field(&f.size.to_string());
        // Integral milliseconds in every browser: the same text as `{}` without float formatting.
        field(&super::json::number(f.last_modified).to_json_string());
        field(&f.mime);
    }
    let digest = h.finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The storage key of a fingerprint.
pub fn key(fingerprint: &str) -> String {
    format!("{KEY_PREFIX}{fingerprint}")
}

/// How long a record lives after its last update, per provider (ms). Cloudreve sessions carry
/// their own expiry, which [`ResumeRecord::expires_at`] takes when it is sooner.
pub fn ttl_ms(provider: &str) -> f64 {
    match provider {
        "peertube" | "peertube-import" => PEERTUBE_TTL_MS,
        _ => DEFAULT_TTL_MS,
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResumeRecord {
    pub fingerprint: String,
    pub provider: String,
    pub endpoint: String,
    /// The (first) file's name and the number of files, for the page to show.
    pub name: String,
    pub files: u64,
    /// Bytes of file data in all.
    pub total: u64,
    /// Bytes the server has confirmed.
    pub offset: u64,
    /// ms since the epoch.
    pub created_at: f64,
    pub updated_at: f64,
    pub expires_at: f64,
    /// The protocol's resume state.
    pub session: Json,
}

fn is_hex_fingerprint(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl ResumeRecord {
    /// A record for an upload whose protocol state is `session`, written at `now_ms`.
    /// `created_at` is kept from an earlier record of the same upload. A session that names
    /// its own `expires` (Unix seconds) caps the expiry.
    #[allow(clippy::too_many_arguments)]
    pub fn new(fingerprint: &str, provider: &str, endpoint: &str, files: &[FileInfo], offset: u64, session: Json, created_at: Option<f64>, now_ms: f64) -> Self {
        let mut expires_at = now_ms + ttl_ms(provider);
        if let Some(server) = session.get("expires").and_then(Json::as_f64).filter(|e| e.is_finite() && *e > 0.0) {
            expires_at = expires_at.min(server * 1000.0);
        }
        ResumeRecord {
            fingerprint: fingerprint.to_string(),
            provider: provider.to_string(),
            endpoint: endpoint.to_string(),
            name: files.first().map(|f| f.name.clone()).unwrap_or_default(),
            files: files.len() as u64,
            total: files.iter().map(|f| f.size).sum(),
            offset,
            created_at: created_at.unwrap_or(now_ms),
            updated_at: now_ms,
            expires_at,
            session,
        }
    }

    pub fn is_expired(&self, now_ms: f64) -> bool {
        self.expires_at.is_nan() || now_ms >= self.expires_at
    }

    /// What the page sees (and what storage holds).
    pub fn to_json(&self) -> Json {
        Json::object()
            .with("version", VERSION)
            .with("fingerprint", self.fingerprint.as_str())
            .with("provider", self.provider.as_str())
            .with("endpoint", self.endpoint.as_str())
            .with("name", self.name.as_str())
            .with("files", self.files)
            .with("total", self.total)
            .with("offset", self.offset)
            .with("createdAt", self.created_at)
            .with("updatedAt", self.updated_at)
            .with("expiresAt", self.expires_at)
            .with("session", self.session.clone())
    }

    /// The stored text, or None when any of `secrets` (tokens) would end up in it.
    pub fn to_storage(&self, secrets: &[String]) -> Option<String> {
        let text = self.to_json().to_json_string();
        let leaks = secrets.iter().filter(|s| s.len() >= 4).any(|s| text.contains(s.as_str()) || text.contains(&crate::core::url::encode_component(s)));
        (!leaks).then_some(text)
    }

    /// A record read back from storage or handed in by the page; None when it is not one.
    pub fn from_json(j: &Json) -> Option<ResumeRecord> {
        if j.get("version").and_then(Json::as_u64) != Some(VERSION) {
            return None;
        }
        let s = |k: &str| j.get(k).and_then(Json::as_str).map(str::to_string);
        let n = |k: &str| j.get(k).and_then(Json::as_f64).filter(|v| v.is_finite());
        let fingerprint = s("fingerprint").filter(|f| is_hex_fingerprint(f))?;
        let total = j.get("total").and_then(Json::as_u64)?;
        let offset = j.get("offset").and_then(Json::as_u64).filter(|o| *o <= total)?;
        let session = j.get("session").filter(|s| matches!(s, Json::Object(_)))?.clone();
        Some(ResumeRecord {
            fingerprint,
            provider: s("provider")?,
            endpoint: s("endpoint")?,
            name: s("name").unwrap_or_default(),
            files: j.get("files").and_then(Json::as_u64).unwrap_or(1),
            total,
            offset,
            created_at: n("createdAt")?,
            updated_at: n("updatedAt")?,
            expires_at: n("expiresAt")?,
            session,
        })
    }

    pub fn parse(text: &str) -> Option<ResumeRecord> {
        Self::from_json(&Json::parse(text).ok()?)
    }
}

/// A record is rewritten for progress at most this often (ms). Writing `localStorage` on every
/// confirmed chunk cost about 0.6 ms a chunk (the benchmark's per-chunk gap).
pub const WRITE_INTERVAL_MS: f64 = 1000.0;

/// What to do with the record now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Write {
    /// Write it now.
    Now,
    /// Progress held back: ask again at this time (ms).
    At(f64),
    /// The session is gone: remove the record.
    Remove,
    /// Nothing to do.
    Nothing,
}

/// When the resume record is written: at once for a new session (or a changed one), for
/// progress on the same session at most once per [`WRITE_INTERVAL_MS`], and at once for any
/// change when `force`d (pause, `offline`, the page hidden or unloaded).
#[derive(Clone, Debug, Default)]
pub struct WritePolicy {
    /// The name of the session last written (its URL or id, `Protocol::resume_key`) and its
    /// confirmed offset.
    written: Option<(String, u64)>,
    written_ms: f64,
    held: bool,
}

impl WritePolicy {
    /// `state`: what names the protocol's resumable session, without its progress (None: no
    /// session to resume); `offset`: the bytes the server confirmed.
    pub fn check(&mut self, now_ms: f64, state: Option<&str>, offset: u64, force: bool) -> Write {
        let Some(state) = state else {
            self.held = false;
            return if self.written.take().is_some() { Write::Remove } else { Write::Nothing };
        };
        let elapsed = now_ms - self.written_ms;
        let write = match &self.written {
            None => true,
            Some((s, _)) if s != state => true,
            Some((_, o)) if *o == offset => {
                self.held = false;
                return Write::Nothing;
            }
            Some(_) => force || !(0.0..WRITE_INTERVAL_MS).contains(&elapsed),
        };
        if write {
            self.written = Some((state.to_string(), offset));
            self.written_ms = now_ms;
            self.held = false;
            Write::Now
        } else if self.held {
            Write::Nothing
        } else {
            self.held = true;
            Write::At(self.written_ms + WRITE_INTERVAL_MS)
        }
    }

    /// The record was removed (the upload is over): the next session starts afresh.
    pub fn reset(&mut self) {
        *self = WritePolicy::default();
    }
}

#[cfg(test)]
mod write_policy_tests {
    use super::*;

    #[test]
    fn a_new_session_is_written_at_once_progress_at_most_once_a_second() {
        let mut w = WritePolicy::default();
        assert_eq!(w.check(0.0, None, 0, false), Write::Nothing, "no session yet");
        assert_eq!(w.check(5.0, Some("u1"), 0, false), Write::Now, "a new session at once");
        assert_eq!(w.check(6.0, Some("u1"), 0, false), Write::Nothing);
        assert_eq!(w.check(10.0, Some("u1"), 100, false), Write::At(1005.0), "progress waits");
        assert_eq!(w.check(20.0, Some("u1"), 200, false), Write::Nothing, "already due later");
        assert_eq!(w.check(1005.0, Some("u1"), 200, false), Write::Now, "the held progress, one second on");
        assert_eq!(w.check(1006.0, Some("u2"), 0, false), Write::Now, "another session at once");
        assert_eq!(w.check(1010.0, None, 0, false), Write::Remove, "a session that went away");
        assert_eq!(w.check(1011.0, None, 0, false), Write::Nothing);
    }

    #[test]
    fn forced_writes_go_at_once_when_something_changed() {
        let mut w = WritePolicy::default();
        assert_eq!(w.check(0.0, Some("u"), 0, false), Write::Now);
        assert_eq!(w.check(1.0, Some("u"), 0, true), Write::Nothing, "nothing changed");
        assert_eq!(w.check(2.0, Some("u"), 50, false), Write::At(1000.0));
        assert_eq!(w.check(3.0, Some("u"), 50, true), Write::Now, "pause / offline / page hidden");
        w.reset();
        assert_eq!(w.check(4.0, Some("u"), 50, false), Write::Now, "after a reset, as new");
    }

    #[test]
    fn a_thousand_chunks_a_second_make_about_one_write_a_second() {
        let mut w = WritePolicy::default();
        let writes = (0..5000u64).filter(|i| w.check(*i as f64, Some("u"), i * 10, false) == Write::Now).count();
        assert!((5..=6).contains(&writes), "{writes}");
    }
}
