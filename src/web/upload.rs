//! The JS `Upload` class (API contract: constructor validates synchronously; `start`, `pause`,
//! `resume`, `abort`).

use super::Lock;
use super::error::to_js;
use super::options::{files, Options};
use super::persist::{self, Identity, Persist, Store};
use super::runner::{self, Runner, Shared};
use crate::core::{FileInfo, UploadError};
use crate::engine::Engine;
use crate::protocols::Protocol;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use super::future_to_promise;

#[wasm_bindgen]
pub struct Upload {
    shared: Shared,
    /// What the upload is filed under for resuming.
    identity: Identity,
    /// Kept alive so the listener stays attached while the upload lives.
    _signal_listener: Option<Closure<dyn FnMut()>>,
}

/// The endpoint an upload goes to, resolved (api.video has a default).
fn endpoint_of(opts: &Options) -> Result<String, UploadError> {
    match opts.provider {
        #[cfg(feature = "apivideo")]
        "apivideo" => super::apivideo::endpoint(opts),
        _ => opts.endpoint(),
    }
}

/// Builds the provider's protocol from validated options. Sends nothing. A provider whose Cargo
/// feature is off is refused here, before any request.
fn build_protocol(opts: &Options, infos: &[FileInfo]) -> Result<Box<dyn Protocol>, UploadError> {
    let chunk = opts.chunk_size()?;
    match opts.provider {
        #[cfg(feature = "peertube")]
        "peertube" | "peertube-import" => super::peertube::upload_protocol(opts, infos, chunk),
        #[cfg(feature = "apivideo")]
        "apivideo" => super::apivideo::upload_protocol(opts, infos, chunk),
        #[cfg(feature = "cloudreve")]
        "cloudreve" => crate::protocols::cloudreve::from_options(&opts.endpoint()?, &opts.data, infos, chunk),
        #[cfg(feature = "mangadex")]
        "mangadex" => crate::protocols::mangadex::from_options(&opts.endpoint()?, &opts.data, infos, chunk),
        other => {
            let feature = other.split('-').next().unwrap_or(other);
            Err(UploadError::invalid(
                other,
                format!("provider \"{other}\" is not in this build of chunkup (built without the Cargo feature \"{feature}\")"),
            ))
        }
    }
}

/// What `new Upload` and `Upload.findPrevious` both read first, in this order (so errors come
/// in the same order): the options and the input. The constructor then builds the protocol,
/// and both go on with [`filing`].
#[inline(never)]
fn read_input(input: &JsValue, options: &JsValue) -> Result<(Options, Vec<(web_sys::Blob, FileInfo)>), UploadError> {
    let opts = Options::parse(options, "chunkup")?;
    if opts.provider == "chunkup" {
        return Err(UploadError::invalid("chunkup", "provider is required"));
    }
    let inputs = files(input, opts.provider)?;
    Ok((opts, inputs))
}

/// What the upload is filed under for resuming (its identity) and where (its store, none when
/// storage is off).
#[inline(never)]
fn filing(opts: &Options, infos: Vec<FileInfo>) -> Result<(Identity, Option<Store>), UploadError> {
    let identity = Identity::new(opts, endpoint_of(opts)?, infos)?;
    Ok((identity, Store::from_options(opts)?))
}

fn infos(inputs: &[(web_sys::Blob, FileInfo)]) -> Vec<FileInfo> {
    inputs.iter().map(|(_, i)| i.clone()).collect()
}

#[wasm_bindgen]
impl Upload {
    /// Validates everything synchronously; throws `UploadError` (`invalid-input`). Sends nothing.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "File | Blob | File[] | FileList")] input: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UploadOptions")] options: JsValue,
    ) -> Result<Upload, JsValue> {
        Self::build(input, options).map_err(to_js)
    }

    fn build(input: JsValue, options: JsValue) -> Result<Upload, UploadError> {
        let (opts, inputs) = read_input(&input, &options)?;
        let infos = infos(&inputs);
        let proto = build_protocol(&opts, &infos)?;
        let (identity, store) = filing(&opts, infos)?;
        let policy = super::retry_policy(&opts)?;
        let on_progress = opts.function("onProgress")?;
        let token_source = opts.function("getAccessToken")?;
        let signal = opts.signal()?;
        let stall_timeout = opts.stall_timeout()?;
        let engine = Engine::new(proto, policy, token_source.is_some());
        let blobs = inputs.into_iter().map(|(b, _)| b).collect();
        let shared = Runner::new(engine, blobs, on_progress, token_source);
        if let Some(t) = stall_timeout {
            shared.write().engine.set_stall_timeout(t);
        }
        if opts.integrity()? {
            shared.write().integrity = Some(super::integrity::new_state());
        }
        if let Some(store) = store {
            shared.write().persist = Some(Persist::new(store, identity.clone()));
        }
        let mut listener = None;
        if let Some(sig) = signal {
            if sig.aborted() {
                shared.write().engine.abort();
            } else {
                let sh = shared.clone();
                let cb = Closure::<dyn FnMut()>::new(move || {
                    super::spawn_local(runner::abort(sh.clone()));
                });
                let _ = sig.add_event_listener_with_callback("abort", cb.as_ref().unchecked_ref());
                listener = Some(cb);
            }
        }
        Ok(Upload { shared, identity, _signal_listener: listener })
    }

    /// The resumable uploads an earlier page left for this input and these options (same file
    /// name, size, lastModified and type, provider, endpoint, target and `user`): an array of
    /// at most one entry, `[]` when there is none, it expired (expired entries are removed) or
    /// storage is off. Sends nothing.
    #[wasm_bindgen(js_name = findPrevious, unchecked_return_type = "Promise<PreviousUpload[]>")]
    pub fn find_previous(
        #[wasm_bindgen(unchecked_param_type = "File | Blob | File[] | FileList")] input: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UploadOptions")] options: JsValue,
    ) -> js_sys::Promise {
        match read_input(&input, &options).and_then(|(opts, inputs)| filing(&opts, infos(&inputs))) {
            Err(e) => js_sys::Promise::reject(&to_js(e)),
            Ok((identity, store)) => future_to_promise(async move {
                let out = js_sys::Array::new();
                if let Some(store) = store {
                    if let Some(rec) = persist::find(&store, &identity, runner::now()).await {
                        out.push(&super::json_to_js(&rec.to_json()));
                    }
                }
                Ok(out.into())
            }),
        }
    }

    /// Continues the upload an earlier page left (an entry of `Upload.findPrevious` for this same
    /// input and options) instead of creating a new session. Call before `start()`. Throws
    /// `invalid-input` for an entry of another upload, `session-expired` for an expired one.
    #[wasm_bindgen(js_name = resumeFrom)]
    pub fn resume_from(&self, #[wasm_bindgen(unchecked_param_type = "PreviousUpload")] previous: JsValue) -> Result<(), JsValue> {
        let rec = persist::accept(&previous, &self.identity, runner::now()).map_err(to_js)?;
        let mut r = self.shared.write();
        if r.started {
            return Err(to_js(UploadError::invalid(self.identity.provider, "resumeFrom() must come before start()")));
        }
        r.engine.restore(&rec.session).map_err(to_js)?;
        if let Some(p) = r.persist.as_mut() {
            p.created_at = Some(rec.created_at);
        }
        Ok(())
    }

    /// Runs the upload; resolves once with the provider's result, rejects with `UploadError`.
    #[wasm_bindgen(unchecked_return_type = "Promise<UploadResult>")]
    pub fn start(&self) -> js_sys::Promise {
        let shared = self.shared.clone();
        let provider = shared.read().engine.protocol().provider();
        if std::mem::replace(&mut shared.write().started, true) {
            let e = UploadError::invalid(provider, "start() was already called on this upload");
            return js_sys::Promise::reject(&to_js(e));
        }
        super::drive_promise(shared)
    }

    /// Stops after in-flight requests settle; server state is kept.
    pub fn pause(&self) {
        let mut r = self.shared.write();
        // The page's pause wins over the network: `online` does not undo it.
        r.net_paused = false;
        r.engine.pause();
        drop(r);
        runner::update_record(&self.shared, true);
        runner::wake(&self.shared);
    }

    /// Continues from the offset the server confirms.
    pub fn resume(&self) {
        let mut r = self.shared.write();
        r.net_paused = false;
        r.engine.resume();
        drop(r);
        runner::wake(&self.shared);
    }

    /// Stops and cancels the server-side session where the provider allows it; `start()` then
    /// rejects with code `aborted`. Resolves when the cleanup request has been answered.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn abort(&self) -> js_sys::Promise {
        super::abort_promise(self.shared.clone())
    }

    /// Progress so far: `{ loaded, total, bytesPerSecond }`.
    #[wasm_bindgen(getter, unchecked_return_type = "UploadProgress")]
    pub fn progress(&self) -> JsValue {
        // The borrow ends before the JS object is built (a page's setter could call `pause()`).
        let snapshot = self.shared.read().engine.progress();
        runner::progress_js(&snapshot)
    }
}
