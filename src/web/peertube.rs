//! JS functions for PeerTube's one-request operations. Each returns a Promise and rejects with
//! `UploadError`; all run through the shared engine (retries, typed errors, token refresh).

use crate::core::codec;
use super::options::{files, Options};
use crate::core::{Json, UploadError};
use crate::protocols::peertube::PROVIDER;
use crate::protocols::peertube_api as api;
use crate::protocols::required;
use wasm_bindgen::prelude::*;
use web_sys::Blob;

/// The `Upload` protocol for `provider: 'peertube'` (a video) or `'peertube-import'` (a user
/// archive).
pub(super) fn upload_protocol(
    opts: &Options,
    infos: &[crate::core::FileInfo],
    chunk: Option<u64>,
) -> Result<Box<dyn crate::protocols::Protocol>, UploadError> {
    use crate::protocols::peertube::PeerTube;
    let p = opts.provider;
    let file = super::options::single(p, infos)?;
    let endpoint = opts.endpoint()?;
    let po = PeerTubeOptions::read(opts, &["accessToken", "userId"])?;
    let token = required(opts.provider, po.access_token, "accessToken")?;
    if p == "peertube-import" {
        let user = po.user_id.ok_or_else(|| UploadError::invalid(p, "userId is required"))?;
        Ok(Box::new(PeerTube::import(&endpoint, &token, &file, user, chunk)?))
    } else {
        Ok(Box::new(PeerTube::video(&endpoint, &token, &file, &opts.data, chunk)?))
    }
}

use crate::protocols::peertube::{pick, PeerTubeOptions};

/// What each option must be, for the message naming the one that did not decode.
/// The others are strings.
const EXPECTED: &[(&str, &str)] = &[("userId", "must be a non-negative integer")];

impl PeerTubeOptions {
    /// Decodes the options in `keys` (those the caller reads; the others are not looked at).
    fn read(o: &Options, keys: &[&str]) -> Result<Self, UploadError> {
        let all = pick(&o.data, keys);
        if let Ok(v) = codec::from_json::<Self>(&all) {
            return Ok(v);
        }
        // Every field is optional, so only the culprit fails on its own.
        match codec::culprit(&all, &mut keys.iter().copied(), &|one| codec::from_json::<Self>(one).is_ok()) {
            Some(key) => {
                let what = EXPECTED.iter().find(|(k, _)| *k == key).map_or("must be a string", |(_, w)| w);
                Err(UploadError::invalid(o.provider, format!("{key} {what}")))
            }
            None => Err(UploadError::invalid(o.provider, "options must be an object")),
        }
    }
}

/// One file from `input` (File or Blob).
fn one_file(input: &JsValue) -> Result<(Blob, crate::core::FileInfo), UploadError> {
    let mut v = files(input, PROVIDER)?;
    if v.len() != 1 {
        return Err(UploadError::invalid(PROVIDER, "exactly one file is expected"));
    }
    v.pop().ok_or_else(|| UploadError::invalid(PROVIDER, "no file given"))
}

/// Logs in with the OAuth password grant: `{ endpoint, username, password, otp?, clientId?,
/// clientSecret? }`. Resolves with PeerTube's token response plus `client_id`/`client_secret`
/// (needed to refresh).
#[wasm_bindgen(js_name = peertubeLogin, unchecked_return_type = "Promise<PeerTubeToken>")]
pub fn peertube_login(#[wasm_bindgen(unchecked_param_type = "PeerTubeLoginOptions")] options: JsValue) -> js_sys::Promise {
    helper(Op::Login, None, &options)
}

/// Refreshes a token: `{ endpoint, refreshToken, clientId, clientSecret }`.
#[wasm_bindgen(js_name = peertubeRefreshToken, unchecked_return_type = "Promise<PeerTubeToken>")]
pub fn peertube_refresh_token(#[wasm_bindgen(unchecked_param_type = "PeerTubeRefreshOptions")] options: JsValue) -> js_sys::Promise {
    helper(Op::Refresh, None, &options)
}

/// PeerTube's one-request helpers (the login: two requests), each built by [`helper`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Login,
    Refresh,
    ImportStatus,
    ListImports,
    LegacyUpload,
    Caption,
    Avatar,
    Banner,
    ImportVideo,
}

/// One body for PeerTube's helpers (one copy of the option reading, the file taking and the
/// wrapping, through [`super::one_shot`]): reads the endpoint and the options `op` reads (all
/// but the login and the refresh: `accessToken` first, required, and a fresh token may be asked
/// of `getAccessToken`), then takes `file` (None: the helper takes none; for `ImportVideo`
/// null/undefined is none), then builds `op`'s request, in that order (the first error rejects).
fn helper(op: Op, file: Option<&JsValue>, options: &JsValue) -> js_sys::Promise {
    let authed = !matches!(op, Op::Login | Op::Refresh);
    super::one_shot(options, PROVIDER, authed, &|o| {
        let keys: &[&str] = match op {
            Op::Login => &["username", "password", "otp", "clientId", "clientSecret"],
            Op::Refresh => &["clientId", "clientSecret", "refreshToken"],
            Op::ImportStatus => &["accessToken", "userId"],
            Op::Caption => &["accessToken", "videoId", "language"],
            Op::Avatar | Op::Banner => &["accessToken", "channel"],
            _ => &["accessToken"],
        };
        let endpoint = o.endpoint()?;
        let mut po = PeerTubeOptions::read(o, keys)?;
        let req = |v: Option<String>, key: &str| required(o.provider, v, key);
        let (e, token) = (&endpoint, if authed { req(po.access_token.take(), "accessToken")? } else { String::new() });
        let t = &token;
        let (blobs, info) = match file {
            Some(f) if !(op == Op::ImportVideo && (f.is_null() || f.is_undefined())) => {
                let (b, i) = one_file(f)?;
                (vec![b], Some(i))
            }
            _ => (vec![], None),
        };
        let file = || info.as_ref().ok_or_else(|| UploadError::invalid(PROVIDER, "no file given"));
        let p = match op {
            Op::Login => {
                let user = req(po.username, "username")?;
                let pass = req(po.password, "password")?;
                return Ok((Box::new(api::Login::new(e, user, pass, po.otp, po.client_id.zip(po.client_secret))?), vec![]));
            }
            Op::Refresh => {
                let client_id = req(po.client_id.take(), "clientId")?;
                let client_secret = req(po.client_secret.take(), "clientSecret")?;
                api::token_refresh(e, &client_id, &client_secret, &req(po.refresh_token.take(), "refreshToken")?)?
            }
            Op::ImportStatus => {
                let user = po.user_id.filter(|u| *u > 0).ok_or_else(|| UploadError::invalid(PROVIDER, "userId is required"))?;
                api::import_latest(e, t, user)?
            }
            Op::ListImports => api::list_imports(e, t, &o.data)?,
            Op::LegacyUpload => api::legacy_upload(e, t, file()?, &o.data)?,
            Op::Caption => {
                let video = match po.video_id.take() {
                    Some(Json::String(s)) => s,
                    Some(n) => n.as_f64().map(|n| (n as u64).to_string()).unwrap_or_default(),
                    None => String::new(),
                };
                api::caption(e, t, &video, &req(po.language.take(), "language")?, file()?)?
            }
            Op::Avatar => api::avatar(e, t, po.channel.as_deref(), file()?)?,
            Op::Banner => api::banner(e, t, &req(po.channel.take(), "channel")?, file()?)?,
            Op::ImportVideo => api::import_video(e, t, info.as_ref(), &o.data)?,
        };
        Ok((Box::new(p) as _, blobs))
    })
}

/// The latest user archive import: `{ endpoint, accessToken, userId }` → `{ id, state, createdAt }`
/// or `null` when there is none.
#[wasm_bindgen(js_name = peertubeImportStatus, unchecked_return_type = "Promise<PeerTubeUserImport | null>")]
pub fn peertube_import_status(#[wasm_bindgen(unchecked_param_type = "PeerTubeAuthOptions & { userId: number }")] options: JsValue) -> js_sys::Promise {
    helper(Op::ImportStatus, None, &options)
}

/// Lists my video imports: `{ endpoint, accessToken, start?, count?, sort?, search?, targetUrl? }`.
#[wasm_bindgen(js_name = peertubeListImports, unchecked_return_type = "Promise<{ total: number; data: PeerTubeVideoImport[] }>")]
pub fn peertube_list_imports(#[wasm_bindgen(unchecked_param_type = "PeerTubeListImportsOptions")] options: JsValue) -> js_sys::Promise {
    helper(Op::ListImports, None, &options)
}

/// Legacy single-request video upload: `file`, `{ endpoint, accessToken, channelId, name?, …video fields }`.
#[wasm_bindgen(js_name = peertubeLegacyUpload, unchecked_return_type = "Promise<PeerTubeVideoResult>")]
pub fn peertube_legacy_upload(
    #[wasm_bindgen(unchecked_param_type = "File | Blob")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PeerTubeLegacyUploadOptions")] options: JsValue,
) -> js_sys::Promise {
    helper(Op::LegacyUpload, Some(&file), &options)
}

/// Adds or replaces a caption: `file` (.vtt/.srt), `{ endpoint, accessToken, videoId, language }`.
#[wasm_bindgen(js_name = peertubeUploadCaption, unchecked_return_type = "Promise<void>")]
pub fn peertube_upload_caption(
    #[wasm_bindgen(unchecked_param_type = "File")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PeerTubeAuthOptions & { videoId: string | number; language: string }")] options: JsValue,
) -> js_sys::Promise {
    helper(Op::Caption, Some(&file), &options)
}

/// Sets my avatar, or a channel's when `channel` (its handle) is given.
#[wasm_bindgen(js_name = peertubeUpdateAvatar, unchecked_return_type = "Promise<{ avatars: PeerTubeActorImage[] }>")]
pub fn peertube_update_avatar(
    #[wasm_bindgen(unchecked_param_type = "File")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PeerTubeAuthOptions & { channel?: string }")] options: JsValue,
) -> js_sys::Promise {
    helper(Op::Avatar, Some(&file), &options)
}

/// Sets a channel's banner: `{ endpoint, accessToken, channel }`.
#[wasm_bindgen(js_name = peertubeUpdateBanner, unchecked_return_type = "Promise<{ banners: PeerTubeActorImage[] }>")]
pub fn peertube_update_banner(
    #[wasm_bindgen(unchecked_param_type = "File")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PeerTubeAuthOptions & { channel: string }")] options: JsValue,
) -> js_sys::Promise {
    helper(Op::Banner, Some(&file), &options)
}

/// Imports a video from a `.torrent` file (or `targetUrl`/`magnetUri` with `file` = null).
#[wasm_bindgen(js_name = peertubeImportVideo, unchecked_return_type = "Promise<PeerTubeVideoImport>")]
pub fn peertube_import_video(
    #[wasm_bindgen(unchecked_param_type = "File | null")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PeerTubeImportVideoOptions")] options: JsValue,
) -> js_sys::Promise {
    helper(Op::ImportVideo, Some(&file), &options)
}
