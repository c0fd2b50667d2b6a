//! Resume after a reload: the storage port. Records (`core::resume`) go to `localStorage` by
//! default, or to a store the page passes as `storage` (any object with `getItem`, `setItem`,
//! `removeItem`; they may return Promises), or nowhere with `storage: false`. Where
//! `localStorage` does not exist or is blocked (a Worker, a sandboxed frame, privacy settings),
//! nothing is stored and nothing fails. A record is written once the session exists and again
//! as the confirmed offset moves (at most once a second, and at once on pause, `offline` and when
//! the page is hidden or unloaded: `core::resume::WritePolicy`), and removed when the upload
//! succeeds, is aborted or fails for good.

use super::options::{get, Options};
use crate::core::resume::{self, ResumeRecord, KEY_PREFIX};
use crate::core::{ErrorCode, FileInfo, Json, UploadError};
use crate::engine::Engine;
use crate::protocols::Protocol;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// An object with `getItem`, `setItem`, `removeItem` (and, to sweep expired entries, `key` and
/// `length`, as `localStorage` has).
#[derive(Clone)]
pub struct Store {
    obj: JsValue,
}

fn method(obj: &JsValue, name: &str) -> Option<Function> {
    Reflect::get(obj, &JsValue::from_str(name)).ok()?.dyn_into::<Function>().ok()
}

/// `localStorage` of this global, when it exists and can be used.
fn local_storage() -> Option<JsValue> {
    // Reading the property itself throws where storage is blocked.
    let s = Reflect::get(&js_sys::global(), &"localStorage".into()).ok().filter(|v| v.is_object())?;
    method(&s, "getItem")?;
    Some(s)
}

impl Store {
    /// The `storage` option: absent or `'local'` → `localStorage` (None where there is none);
    /// `false` → None; an object with the three methods → that object.
    pub fn from_options(opts: &Options) -> Result<Option<Store>, UploadError> {
        let Some(v) = get(&opts.raw, "storage") else { return Ok(local_storage().map(|obj| Store { obj })) };
        if v.as_bool() == Some(false) {
            return Ok(None);
        }
        if v.as_string().as_deref() == Some("local") {
            return Ok(local_storage().map(|obj| Store { obj }));
        }
        if v.is_object() && ["getItem", "setItem", "removeItem"].iter().all(|m| method(&v, m).is_some()) {
            return Ok(Some(Store { obj: v }));
        }
        Err(UploadError::invalid(
            opts.provider,
            "storage must be false, 'local', or an object with getItem, setItem and removeItem",
        ))
    }

    fn call(&self, name: &str, args: &[&JsValue]) -> Option<JsValue> {
        let f = method(&self.obj, name)?;
        let r = match args {
            [a] => f.call1(&self.obj, a),
            [a, b] => f.call2(&self.obj, a, b),
            _ => f.call0(&self.obj),
        };
        r.ok()
    }

    /// A call whose Promise (if any) is left to settle on its own; a rejection is swallowed.
    fn fire(&self, name: &str, args: &[&JsValue]) {
        if let Some(v) = self.call(name, args) {
            if v.is_instance_of::<Promise>() {
                let p = Promise::from(v);
                super::spawn_local(async move {
                    let _ = JsFuture::from(p).await;
                });
            }
        }
    }

    pub async fn get(&self, key: &str) -> Option<String> {
        let v = self.call("getItem", &[&JsValue::from_str(key)])?;
        let v = if v.is_instance_of::<Promise>() { JsFuture::from(Promise::from(v)).await.ok()? } else { v };
        v.as_string()
    }

    pub fn set(&self, key: &str, value: &str) {
        self.fire("setItem", &[&JsValue::from_str(key), &JsValue::from_str(value)]);
    }

    pub fn remove(&self, key: &str) {
        self.fire("removeItem", &[&JsValue::from_str(key)]);
    }

    /// Every key under [`KEY_PREFIX`], when the store can list its keys (`length`, `key(i)`).
    pub fn keys(&self) -> Vec<String> {
        let n = Reflect::get(&self.obj, &"length".into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let Some(key) = method(&self.obj, "key") else { return Vec::new() };
        (0..(n.clamp(0.0, 100_000.0) as u32))
            .filter_map(|i| key.call1(&self.obj, &JsValue::from(i)).ok()?.as_string())
            .filter(|k| k.starts_with(KEY_PREFIX))
            .collect()
    }
}

/// What identifies an upload for resuming: its fingerprint and where it goes.
#[derive(Clone)]
pub struct Identity {
    pub fingerprint: String,
    pub provider: &'static str,
    pub endpoint: String,
    pub files: Vec<FileInfo>,
}

impl Identity {
    /// From the options (plain data) and the input files. `endpoint` is the resolved one.
    pub fn new(opts: &Options, endpoint: String, files: Vec<FileInfo>) -> Result<Identity, UploadError> {
        let user = opts.user()?;
        let target = resume::target(opts.provider, &opts.data);
        let fingerprint = resume::fingerprint(opts.provider, &endpoint, &target, &user, &files);
        Ok(Identity { fingerprint, provider: opts.provider, endpoint, files })
    }
}

/// Keeps one upload's record up to date in its store.
pub struct Persist {
    pub store: Store,
    pub id: Identity,
    /// Kept from the record an upload was resumed from.
    pub created_at: Option<f64>,
    /// When to write (a new session at once, progress at most once a second).
    policy: resume::WritePolicy,
}

impl Persist {
    pub fn new(store: Store, id: Identity) -> Persist {
        Persist { store, id, created_at: None, policy: Default::default() }
    }

    fn key(&self) -> String {
        resume::key(&self.id.fingerprint)
    }

    /// After responses were handled: write the record for a new session at once, for progress
    /// at most once a second, and for any change at once when `force`d (pause, `offline`, the
    /// page hidden or unloaded). Returns when to call again for progress held back.
    pub fn update(&mut self, engine: &mut Engine<Box<dyn Protocol>>, now_ms: f64, force: bool) -> Option<f64> {
        // Paused: what an in-flight chunk confirms after the pause goes at once, like the pause's
        // own write. (A held write landing later could re-file the record of an upload that this
        // page, or another Upload of the same file, has finished meanwhile.)
        let force = force || engine.state() == crate::engine::State::Paused;
        let p = engine.protocol();
        let state = p.resume_state();
        // The session's name, not the whole state: the state carries progress too (an offset, the
        // parts or pages stored), which must not count as a new session on every chunk.
        let key = state.as_ref().map(|s| p.resume_key().map_or_else(|| crate::core::codec::encode(s), str::to_string));
        let offset = p.confirmed();
        match self.policy.check(now_ms, key.as_deref(), offset, force) {
            resume::Write::Now => {}
            resume::Write::At(at) => return Some(at),
            resume::Write::Remove => {
                // A session that went away (and a fresh one not yet made) is nothing to resume.
                self.store.remove(&self.key());
                return None;
            }
            resume::Write::Nothing => return None,
        }
        let state = state?;
        let created = *self.created_at.get_or_insert(now_ms);
        let rec = ResumeRecord::new(&self.id.fingerprint, self.id.provider, &self.id.endpoint, &self.id.files, offset, state, Some(created), now_ms);
        // Never a token: a record that would hold one is not written at all.
        if let Some(text) = rec.to_storage(&engine.secrets()) {
            self.store.set(&self.key(), &text);
        }
        None
    }

    /// The upload is over: the record goes unless the failure may pass (a network that stayed
    /// down, say) and the session was kept on the server.
    pub fn finish(&mut self, result: &Result<Json, UploadError>, cleaned_up: bool) {
        let keep = match result {
            Err(e) => e.retryable && e.code != ErrorCode::Aborted && !cleaned_up,
            Ok(_) => false,
        };
        if !keep {
            self.store.remove(&self.key());
            self.policy.reset();
        }
    }
}

/// The record filed for `id` in `store`, if it is there, readable, for this upload and not
/// expired. Expired and unreadable entries (of any upload, where the store can list its keys)
/// are removed on the way.
pub async fn find(store: &Store, id: &Identity, now_ms: f64) -> Option<ResumeRecord> {
    let own = resume::key(&id.fingerprint);
    for k in store.keys() {
        if k == own {
            continue;
        }
        if let Some(text) = store.get(&k).await {
            if ResumeRecord::parse(&text).is_none_or(|r| r.is_expired(now_ms)) {
                store.remove(&k);
            }
        }
    }
    let text = store.get(&own).await?;
    match ResumeRecord::parse(&text) {
        Some(r) if r.fingerprint == id.fingerprint && r.provider == id.provider && !r.is_expired(now_ms) => Some(r),
        _ => {
            store.remove(&own);
            None
        }
    }
}

/// A record the page hands back (an entry of `Upload.findPrevious`), checked against `id`.
pub fn accept(previous: &JsValue, id: &Identity, now_ms: f64) -> Result<ResumeRecord, UploadError> {
    let p = id.provider;
    // Through JSON.stringify, as it was stored: a copy the page made or changed reads the same.
    let text = js_sys::JSON::stringify(previous).ok().and_then(|s| s.as_string());
    let rec = text
        .as_deref()
        .and_then(ResumeRecord::parse)
        .ok_or_else(|| UploadError::invalid(p, "resumeFrom takes an entry of Upload.findPrevious(…)"))?;
    if rec.fingerprint != id.fingerprint || rec.provider != p {
        return Err(UploadError::invalid(p, "this previous upload is for another file, provider, endpoint, target or user"));
    }
    if rec.is_expired(now_ms) {
        return Err(UploadError::new(ErrorCode::SessionExpired, p, "this previous upload has expired: start a new one"));
    }
    Ok(rec)
}
