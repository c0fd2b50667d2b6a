//! JS functions for PeerTube's one-request operations. Each returns a Promise and rejects with
//! `UploadError`; all run through the shared engine (retries, typed errors, token refresh).

use crate::core::codec;
use super::options::{files, Options};
use crate::core::{Json, UploadError};
use crate::protocols::oneshot::OneShot;
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

/// PeerTube's own options, as the JS object gives them (`rename_all = "camelCase"`). Endpoint,
/// retry and the other shared options are read by [`Options`].
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PeerTubeOptions {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    user_id: Option<u64>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    otp: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    /// A video id (number) or its uuid / short uuid (string).
    #[serde(default)]
    video_id: Option<Json>,
}

/// What each option must be, for the message naming the one that did not decode.
/// The others are strings.
const EXPECTED: &[(&str, &str)] = &[("userId", "must be a non-negative integer")];

impl PeerTubeOptions {
    /// Decodes the options in `keys` (those the caller reads; the others are not looked at).
    fn read(o: &Options, keys: &[&str]) -> Result<Self, UploadError> {
        let mut mine = serde_json::Map::new();
        for (key, value) in o.data.as_object().into_iter().flatten() {
            if keys.contains(&key.as_str()) {
                mine.insert(key.clone(), value.clone());
            }
        }
        let all = Json::Object(mine);
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

/// What a PeerTube one-request helper builds: its request and the files it sends.
type Built = (OneShot, Vec<Blob>);

/// A one-request helper of PeerTube (see [`super::one_shot`]).
fn spawn(options: &JsValue, refreshable: bool, build: &dyn Fn(&Options) -> Result<Built, UploadError>) -> js_sys::Promise {
    super::one_shot(options, PROVIDER, refreshable, &|o| build(o).map(|(p, b)| (Box::new(p) as Box<dyn crate::protocols::Protocol>, b)))
}

/// One file from `input` (File or Blob).
fn one_file(input: &JsValue) -> Result<(Blob, crate::core::FileInfo), UploadError> {
    let mut v = files(input, PROVIDER)?;
    if v.len() != 1 {
        return Err(UploadError::invalid(PROVIDER, "exactly one file is expected"));
    }
    v.pop().ok_or_else(|| UploadError::invalid(PROVIDER, "no file given"))
}

/// The endpoint, the access token and PeerTube's other options.
fn authed(o: &Options, keys: &[&str]) -> Result<(String, String, PeerTubeOptions), UploadError> {
    let endpoint = o.endpoint()?;
    let mut po = PeerTubeOptions::read(o, &[&["accessToken"][..], keys].concat())?;
    let token = required(o.provider, po.access_token.take(), "accessToken")?;
    Ok((endpoint, token, po))
}

/// Logs in with the OAuth password grant: `{ endpoint, username, password, otp?, clientId?,
/// clientSecret? }`. Resolves with PeerTube's token response plus `client_id`/`client_secret`
/// (needed to refresh).
#[wasm_bindgen(js_name = peertubeLogin, unchecked_return_type = "Promise<PeerTubeToken>")]
pub fn peertube_login(#[wasm_bindgen(unchecked_param_type = "PeerTubeLoginOptions")] options: JsValue) -> js_sys::Promise {
    super::one_shot(&options, PROVIDER, false, &|o| {
        let endpoint = o.endpoint()?;
        let po = PeerTubeOptions::read(o, &["username", "password", "otp", "clientId", "clientSecret"])?;
        let user = required(o.provider, po.username, "username")?;
        let pass = required(o.provider, po.password, "password")?;
        let login = api::Login::new(&endpoint, user, pass, po.otp, po.client_id.zip(po.client_secret))?;
        Ok((Box::new(login), vec![]))
    })
}

/// Refreshes a token: `{ endpoint, refreshToken, clientId, clientSecret }`.
#[wasm_bindgen(js_name = peertubeRefreshToken, unchecked_return_type = "Promise<PeerTubeToken>")]
pub fn peertube_refresh_token(#[wasm_bindgen(unchecked_param_type = "PeerTubeRefreshOptions")] options: JsValue) -> js_sys::Promise {
    spawn(&options, false, &|o| {
        let endpoint = o.endpoint()?;
        let po = PeerTubeOptions::read(o, &["clientId", "clientSecret", "refreshToken"])?;
        let client_id = required(o.provider, po.client_id, "clientId")?;
        let client_secret = required(o.provider, po.client_secret, "clientSecret")?;
        let p = api::token_refresh(&endpoint, &client_id, &client_secret, &required(o.provider, po.refresh_token, "refreshToken")?)?;
        Ok((p, vec![]))
    })
}

/// The latest user archive import: `{ endpoint, accessToken, userId }` → `{ id, state, createdAt }`
/// or `null` when there is none.
#[wasm_bindgen(js_name = peertubeImportStatus, unchecked_return_type = "Promise<PeerTubeUserImport | null>")]
pub fn peertube_import_status(#[wasm_bindgen(unchecked_param_type = "PeerTubeAuthOptions & { userId: number }")] options: JsValue) -> js_sys::Promise {
    spawn(&options, true, &|o| {
        let (endpoint, token, po) = authed(o, &["userId"])?;
        let user = po.user_id.filter(|u| *u > 0).ok_or_else(|| UploadError::invalid(PROVIDER, "userId is required"))?;
        Ok((api::import_latest(&endpoint, &token, user)?, vec![]))
    })
}

/// Lists my video imports: `{ endpoint, accessToken, start?, count?, sort?, search?, targetUrl? }`.
#[wasm_bindgen(js_name = peertubeListImports, unchecked_return_type = "Promise<{ total: number; data: PeerTubeVideoImport[] }>")]
pub fn peertube_list_imports(#[wasm_bindgen(unchecked_param_type = "PeerTubeListImportsOptions")] options: JsValue) -> js_sys::Promise {
    spawn(&options, true, &|o| {
        let (endpoint, token, _) = authed(o, &[])?;
        Ok((api::list_imports(&endpoint, &token, &o.data)?, vec![]))
    })
}

/// Legacy single-request video upload: `file`, `{ endpoint, accessToken, channelId, name?, …video fields }`.
#[wasm_bindgen(js_name = peertubeLegacyUpload, unchecked_return_type = "Promise<PeerTubeVideoResult>")]
pub fn peertube_legacy_upload(
    #[wasm_bindgen(unchecked_param_type = "File | Blob")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PeerTubeLegacyUploadOptions")] options: JsValue,
) -> js_sys::Promise {
    spawn(&options, true, &|o| {
        let (endpoint, token, _) = authed(o, &[])?;
        let (blob, info) = one_file(&file)?;
        Ok((api::legacy_upload(&endpoint, &token, &info, &o.data)?, vec![blob]))
    })
}

/// Adds or replaces a caption: `file` (.vtt/.srt), `{ endpoint, accessToken, videoId, language }`.
#[wasm_bindgen(js_name = peertubeUploadCaption, unchecked_return_type = "Promise<void>")]
pub fn peertube_upload_caption(
    #[wasm_bindgen(unchecked_param_type = "File")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PeerTubeAuthOptions & { videoId: string | number; language: string }")] options: JsValue,
) -> js_sys::Promise {
    spawn(&options, true, &|o| {
        let (endpoint, token, po) = authed(o, &["videoId", "language"])?;
        let video = match po.video_id {
            Some(Json::String(s)) => s,
            Some(n) => n.as_f64().map(|n| (n as u64).to_string()).unwrap_or_default(),
            None => String::new(),
        };
        let (blob, info) = one_file(&file)?;
        let p = api::caption(&endpoint, &token, &video, &required(o.provider, po.language, "language")?, &info)?;
        Ok((p, vec![blob]))
    })
}

/// Sets my avatar, or a channel's when `channel` (its handle) is given.
#[wasm_bindgen(js_name = peertubeUpdateAvatar, unchecked_return_type = "Promise<{ avatars: PeerTubeActorImage[] }>")]
pub fn peertube_update_avatar(
    #[wasm_bindgen(unchecked_param_type = "File")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PeerTubeAuthOptions & { channel?: string }")] options: JsValue,
) -> js_sys::Promise {
    spawn(&options, true, &|o| {
        let (endpoint, token, po) = authed(o, &["channel"])?;
        let (blob, info) = one_file(&file)?;
        let p = api::avatar(&endpoint, &token, po.channel.as_deref(), &info)?;
        Ok((p, vec![blob]))
    })
}

/// Sets a channel's banner: `{ endpoint, accessToken, channel }`.
#[wasm_bindgen(js_name = peertubeUpdateBanner, unchecked_return_type = "Promise<{ banners: PeerTubeActorImage[] }>")]
pub fn peertube_update_banner(
    #[wasm_bindgen(unchecked_param_type = "File")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PeerTubeAuthOptions & { channel: string }")] options: JsValue,
) -> js_sys::Promise {
    spawn(&options, true, &|o| {
        let (endpoint, token, po) = authed(o, &["channel"])?;
        let (blob, info) = one_file(&file)?;
        let p = api::banner(&endpoint, &token, &required(o.provider, po.channel, "channel")?, &info)?;
        Ok((p, vec![blob]))
    })
}

/// Imports a video from a `.torrent` file (or `targetUrl`/`magnetUri` with `file` = null).
#[wasm_bindgen(js_name = peertubeImportVideo, unchecked_return_type = "Promise<PeerTubeVideoImport>")]
pub fn peertube_import_video(
    #[wasm_bindgen(unchecked_param_type = "File | null")] file: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PeerTubeImportVideoOptions")] options: JsValue,
) -> js_sys::Promise {
    spawn(&options, true, &|o| {
        let (endpoint, token, _) = authed(o, &[])?;
        let (blobs, info) = if file.is_null() || file.is_undefined() {
            (vec![], None)
        } else {
            let (b, i) = one_file(&file)?;
            (vec![b], Some(i))
        };
        let p = api::import_video(&endpoint, &token, info.as_ref(), &o.data)?;
        Ok((p, blobs))
    })
}
