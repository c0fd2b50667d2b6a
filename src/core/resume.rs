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

use super::codec;
use super::json::Json;
use super::FileInfo;
use serde::Deserialize;
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
    let mut t = crate::core::json::Map::new();
    for k in target_keys(provider) {
        if let Some(v) = options.get(k).filter(|v| !v.is_null()) {
            t.insert(k.to_string(), v.clone());
        }
    }
    codec::encode(&t)
}

/// `ms` as `JSON.stringify` writes it: an integral number of ms without a fraction.
fn ms_text(ms: f64) -> String {
    if ms.is_finite() && ms.fract() == 0.0 && ms.abs() <= 9_007_199_254_740_992.0 {
        (ms as i64).to_string()
    } else {
        codec::encode(&ms)
    }
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
        field(&ms_text(f.last_modified));
        field(&f.mime);
    }
    let digest = h.finalize();
    digest.first_chunk::<16>().map_or_else(String::new, |d| super::digest::hex(d))
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

/// A record as stored and as the page sees it, read back ([`ResumeRecord::to_json`] writes it).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    version: u64,
    fingerprint: String,
    provider: String,
    endpoint: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    files: Option<u64>,
    total: u64,
    offset: u64,
    created_at: f64,
    updated_at: f64,
    expires_at: f64,
    /// An object (the protocol's state), never another value.
    session: crate::core::json::Map,
}

/// The part of a protocol's resume state the record reads: a session's own expiry.
#[derive(Deserialize)]
struct SessionExpiry {
    /// Unix seconds (Cloudreve).
    #[serde(default)]
    expires: Option<f64>,
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
        let server = codec::from_json::<SessionExpiry>(&session).ok().and_then(|s| s.expires);
        if let Some(server) = server.filter(|e| e.is_finite() && *e > 0.0) {
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

    /// What the page sees (and what storage holds), in the stored text's field order: built as
    /// a JSON value (no `Serialize` code for `Stored` in the module; it is only read).
    pub fn to_json(&self) -> Json {
        use crate::core::json::{number, object};
        object(vec![
            ("version", Some(VERSION.into())),
            ("fingerprint", Some(self.fingerprint.as_str().into())),
            ("provider", Some(self.provider.as_str().into())),
            ("endpoint", Some(self.endpoint.as_str().into())),
            ("name", Some(self.name.as_str().into())),
            ("files", Some(self.files.into())),
            ("total", Some(self.total.into())),
            ("offset", Some(self.offset.into())),
            ("createdAt", Some(number(self.created_at))),
            ("updatedAt", Some(number(self.updated_at))),
            ("expiresAt", Some(number(self.expires_at))),
            ("session", Some(Json::Object(self.session.as_object().cloned().unwrap_or_default()))),
        ])
    }

    /// The stored text, or None when any of `secrets` (tokens) would end up in it.
    pub fn to_storage(&self, secrets: &[String]) -> Option<String> {
        let text = codec::encode(&self.to_json());
        let leaks = secrets.iter().filter(|s| s.len() >= 4).any(|s| crate::core::text::contains(&text, s) || crate::core::text::contains(&text, &crate::core::url::encode_component(s)));
        (!leaks).then_some(text)
    }

    /// A record read back from storage or handed in by the page; None when it is not one.
    pub fn from_json(j: &Json) -> Option<ResumeRecord> {
        Self::checked(codec::from_json(j).ok()?)
    }

    pub fn parse(text: &str) -> Option<ResumeRecord> {
        Self::checked(codec::decode(text).ok()?)
    }

    fn checked(s: Stored) -> Option<ResumeRecord> {
        let finite = |v: f64| v.is_finite().then_some(v);
        if s.version != VERSION || !is_hex_fingerprint(&s.fingerprint) || s.offset > s.total {
            return None;
        }
        Some(ResumeRecord {
            fingerprint: s.fingerprint,
            provider: s.provider,
            endpoint: s.endpoint,
            name: s.name.unwrap_or_default(),
            files: s.files.unwrap_or(1),
            total: s.total,
            offset: s.offset,
            created_at: finite(s.created_at)?,
            updated_at: finite(s.updated_at)?,
            expires_at: finite(s.expires_at)?,
            session: Json::Object(s.session),
        })
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
