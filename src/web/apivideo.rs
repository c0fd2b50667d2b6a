//! api.video in JS: the progressive upload object (a stream of unknown length, e.g.
//! MediaRecorder output) and the upload-token API. The plain file upload is `new Upload(file,
//! { provider: 'apivideo', uploadToken })`.

use super::error::to_js;
use super::options::Options;
use super::runner::{self, Runner, Shared};
use super::{one_shot, retry_policy};
use crate::core::UploadError;
use crate::engine::Engine;
use crate::protocols::apivideo::{self as av, ApiVideo, CONCURRENCY, DEFAULT_ENDPOINT, MIN_CHUNK, PROVIDER};
use crate::protocols::{required, Protocol};
use wasm_bindgen::prelude::*;
use web_sys::Blob;

fn av_options(opts: &Options) -> Result<av::Options, UploadError> {
    av::options(&opts.data, opts.provider)
}

/// The `Upload` protocol for `provider: 'apivideo'` (a file, delegated upload token).
pub(super) fn upload_protocol(opts: &Options, infos: &[crate::core::FileInfo], chunk: Option<u64>) -> Result<Box<dyn Protocol>, UploadError> {
    let file = super::options::single(PROVIDER, infos)?;
    let endpoint = endpoint(opts)?;
    let mut o = av_options(opts)?;
    let token = required(opts.provider, o.upload_token.take(), "uploadToken")?;
    let mut up = ApiVideo::file(&endpoint, &token, &file, o.video_name.as_deref(), o.video_id.take(), chunk)?;
    if let Some(n) = o.concurrency {
        let n = usize::try_from(n).ok().filter(|n| *n <= 64).ok_or_else(|| UploadError::invalid(PROVIDER, CONCURRENCY))?;
        up = up.with_parallel(n)?;
    }
    Ok(Box::new(up))
}

/// `endpoint` option, defaulting to api.video's production host.
pub fn endpoint(opts: &Options) -> Result<String, UploadError> {
    match opts.string("endpoint")? {
        None => Ok(DEFAULT_ENDPOINT.to_string()),
        Some(_) => opts.endpoint(),
    }
}

/// Streams Blobs of unknown total length to api.video as they arrive.
///
/// ```js
/// const up = new ProgressiveUpload({ provider: 'apivideo', uploadToken, onProgress });
/// recorder.ondataavailable = (e) => up.append(e.data);
/// const video = await up.finish();   // after recorder.stop()
/// ```
/// Appended Blobs are merged (by reference, no copy) into parts of at least 5 MiB, sent in order
/// as `part k/*`; `finish()` sends the rest as the last part and resolves with the Video.
#[wasm_bindgen]
pub struct ProgressiveUpload {
    shared: Shared,
    pending: Vec<Blob>,
    pending_size: f64,
    finished: bool,
    done: js_sys::Promise,
}

#[wasm_bindgen]
impl ProgressiveUpload {
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "ProgressiveUploadOptions")] options: JsValue) -> Result<ProgressiveUpload, JsValue> {
        Self::build(options).map_err(to_js)
    }

    fn build(options: JsValue) -> Result<ProgressiveUpload, UploadError> {
        let opts = Options::parse(&options, PROVIDER)?;
        if opts.provider != PROVIDER {
            return Err(UploadError::invalid(opts.provider, "progressive upload is available for provider 'apivideo'"));
        }
        let mut o = av_options(&opts)?;
        let proto = ApiVideo::progressive(&endpoint(&opts)?, &required(opts.provider, o.upload_token.take(), "uploadToken")?, o.video_name.as_deref(), o.video_id.take())?;
        let engine = Engine::new(Box::new(proto) as Box<dyn Protocol>, retry_policy(&opts)?, false);
        let shared = Runner::new(engine, Vec::new(), opts.function("onProgress")?, None);
        shared.borrow_mut().started = true;
        let done = super::drive_promise(shared.clone());
        Ok(ProgressiveUpload { shared, pending: Vec::new(), pending_size: 0.0, finished: false, done })
    }

    fn flush(&mut self, last: bool) -> Result<(), UploadError> {
        let parts = js_sys::Array::new();
        for b in self.pending.drain(..) {
            parts.push(&b);
        }
        let size = self.pending_size;
        self.pending_size = 0.0;
        let blob = Blob::new_with_blob_sequence(&parts).map_err(|_| UploadError::invalid(PROVIDER, "could not combine the appended data"))?;
        let mut r = self.shared.borrow_mut();
        let idx = r.add_file(blob);
        r.engine.push_input(idx, size as u64, last, runner::now())?;
        drop(r);
        runner::wake(&self.shared);
        Ok(())
    }

    /// Adds data. Throws `UploadError` after `finish()` or when the upload has failed.
    pub fn append(&mut self, #[wasm_bindgen(unchecked_param_type = "Blob")] data: JsValue) -> Result<(), JsValue> {
        self.append_inner(data).map_err(to_js)
    }

    fn append_inner(&mut self, data: JsValue) -> Result<(), UploadError> {
        if self.finished {
            return Err(UploadError::invalid(PROVIDER, "finish() was already called"));
        }
        let blob: Blob = data.dyn_into().map_err(|_| UploadError::invalid(PROVIDER, "append() takes a Blob"))?;
        self.pending_size += blob.size();
        self.pending.push(blob);
        if self.pending_size >= MIN_CHUNK as f64 {
            self.flush(false)?;
        }
        Ok(())
    }

    /// Sends what is left (plus `data`, if given) as the last part; resolves with the Video.
    #[wasm_bindgen(unchecked_return_type = "Promise<ApiVideoVideo>")]
    pub fn finish(&mut self, #[wasm_bindgen(unchecked_optional_param_type = "Blob")] data: JsValue) -> js_sys::Promise {
        if !data.is_undefined() && !data.is_null() {
            if let Err(e) = self.append_inner(data) {
                return js_sys::Promise::reject(&to_js(e));
            }
        }
        if !self.finished {
            self.finished = true;
            if let Err(e) = self.flush(true) {
                return js_sys::Promise::reject(&to_js(e));
            }
        }
        self.done.clone()
    }

    /// Stops; `finish()` then rejects with code `aborted`. (api.video has no call to delete an
    /// upload in progress with an upload token.)
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn abort(&mut self) -> js_sys::Promise {
        self.finished = true;
        super::abort_promise(self.shared.clone())
    }

    /// The videoId, once the first part has been answered.
    #[wasm_bindgen(getter, js_name = videoId)]
    pub fn video_id(&self) -> Option<String> {
        // api.video's resume key is the videoId (`ApiVideo::resume_key`), known once part 1 is answered.
        self.shared.borrow().engine.protocol().resume_key().map(str::to_string)
    }
}

use wasm_bindgen::JsCast;

/// Which token API or auth call a helper makes: the six helpers share one prepared path (one
/// closure, one copy of the option checks) instead of one each.
#[derive(Clone, Copy)]
enum Call {
    Create,
    List,
    Get,
    Delete,
    ApiKey,
    Refresh,
}

/// Runs one token API (`accessToken` required, refreshable through `getAccessToken`) or auth call.
#[inline(never)]
fn token_call(options: &JsValue, call: Call) -> js_sys::Promise {
    let auth = matches!(call, Call::ApiKey | Call::Refresh);
    one_shot(options, PROVIDER, !auth, &|o| {
        let e = endpoint(o)?;
        // Fields are taken, not moved out: `a` stays whole, dropped by one call on every path.
        let mut a = av_options(o)?;
        let need = |value: &mut Option<String>, key: &str| required(o.provider, value.take(), key);
        // `accessToken` is checked before `token`, as each helper always has.
        let shot = match call {
            Call::ApiKey => av::auth_api_key(&e, &need(&mut a.api_key, "apiKey")?)?,
            Call::Refresh => av::auth_refresh(&e, &need(&mut a.refresh_token, "refreshToken")?)?,
            Call::Create => av::create_token(&e, &need(&mut a.access_token, "accessToken")?, a.ttl)?,
            Call::List => av::list_tokens(&e, &need(&mut a.access_token, "accessToken")?, &o.data)?,
            Call::Get => {
                let t = need(&mut a.access_token, "accessToken")?;
                av::get_token(&e, &t, &need(&mut a.token, "token")?)?
            }
            Call::Delete => {
                let t = need(&mut a.access_token, "accessToken")?;
                av::delete_token(&e, &t, &need(&mut a.token, "token")?)?
            }
        };
        Ok((Box::new(shot) as Box<dyn Protocol>, vec![]))
    })
}

/// Creates a delegated upload token (`{ accessToken, ttl?, endpoint? }`). For trusted
/// back-office pages only: the access token must not reach untrusted browsers.
#[wasm_bindgen(js_name = apiVideoCreateUploadToken, unchecked_return_type = "Promise<ApiVideoUploadToken>")]
pub fn create_upload_token(#[wasm_bindgen(unchecked_param_type = "ApiVideoAuthOptions & { ttl?: number }")] options: JsValue) -> js_sys::Promise {
    token_call(&options, Call::Create)
}

/// Lists upload tokens (`sortBy`, `sortOrder`, `currentPage`, `pageSize`).
#[wasm_bindgen(js_name = apiVideoListUploadTokens, unchecked_return_type = "Promise<{ data: ApiVideoUploadToken[]; pagination: ApiVideoPagination }>")]
pub fn list_upload_tokens(#[wasm_bindgen(unchecked_param_type = "ApiVideoListTokensOptions")] options: JsValue) -> js_sys::Promise {
    token_call(&options, Call::List)
}

/// Gets one upload token (`{ accessToken, token }`).
#[wasm_bindgen(js_name = apiVideoGetUploadToken, unchecked_return_type = "Promise<ApiVideoUploadToken>")]
pub fn get_upload_token(#[wasm_bindgen(unchecked_param_type = "ApiVideoAuthOptions & { token: string }")] options: JsValue) -> js_sys::Promise {
    token_call(&options, Call::Get)
}

/// Deletes an upload token (`{ accessToken, token }`).
#[wasm_bindgen(js_name = apiVideoDeleteUploadToken, unchecked_return_type = "Promise<void>")]
pub fn delete_upload_token(#[wasm_bindgen(unchecked_param_type = "ApiVideoAuthOptions & { token: string }")] options: JsValue) -> js_sys::Promise {
    token_call(&options, Call::Delete)
}

/// Exchanges an API key for an access token (`POST /auth/api-key`). Never ship an API key to a
/// browser that the key's owner does not control.
#[wasm_bindgen(js_name = apiVideoAuthenticate, unchecked_return_type = "Promise<ApiVideoAccessToken>")]
pub fn authenticate(#[wasm_bindgen(unchecked_param_type = "{ apiKey: string; endpoint?: string; retryDelays?: number[] }")] options: JsValue) -> js_sys::Promise {
    token_call(&options, Call::ApiKey)
}

/// Refreshes an access token (`POST /auth/refresh`).
#[wasm_bindgen(js_name = apiVideoRefreshToken, unchecked_return_type = "Promise<ApiVideoAccessToken>")]
pub fn refresh_token(#[wasm_bindgen(unchecked_param_type = "{ refreshToken: string; endpoint?: string; retryDelays?: number[] }")] options: JsValue) -> js_sys::Promise {
    token_call(&options, Call::Refresh)
}
