//! cloudreve-specific JS functions (beyond `new Upload(…, { provider: 'cloudreve' })`): login,
//! token refresh, and cancelling a session left by an earlier page. Each returns a Promise and
//! rejects with `UploadError`; all run through the shared engine.

use super::error::to_js;
use super::options::Options;
use super::{json_to_js, one_shot, retry_policy, run_protocol};
use crate::core::{codec, ErrorCode, UploadError};
use crate::protocols::cloudreve::{self as cr, PROVIDER};
use crate::protocols::{required, Protocol};
use wasm_bindgen::prelude::*;
use super::future_to_promise;

#[wasm_bindgen(typescript_custom_section)]
const TS_CLOUDREVE: &'static str = r#"
export interface CloudreveUploadOptions extends CommonUploadOptions {
  provider: 'cloudreve';
  /** The Cloudreve site, e.g. `https://cloud.example` (or a path on this site behind a proxy). */
  endpoint: string;
  /** Target file, e.g. `cloudreve://my/folder/file.bin`; a uri ending in `/` names a folder (the file's name is appended). */
  uri: string;
  /** A Cloudreve v4 access token (see `cloudreveLogin`). Never sent to storage nodes or buckets. */
  accessToken: string;
  /** Storage policy id (hashid) from the folder listing; the server may use the user group's policy instead. */
  policyId?: string;
  /** Sent as `X-Cr-Purchase-Ticket` on requests to Cloudreve itself. */
  purchaseTicket?: string;
  /** Upload a new version when the file exists (otherwise Cloudreve refuses with code 40004). */
  overwrite?: boolean;
  /** Overrides the file's MIME type. */
  mimeType?: string;
  /** Metadata stored with the file (at most 256 entries). */
  metadata?: Record<string, string>;
  /** Not accepted: the storage policy decides the chunk size. */
  chunkSize?: never;
}

/** What `start()` resolves with for Cloudreve. */
export interface CloudreveUploadResult {
  uri: string;
  sessionId: string;
  /** The storage policy type: local, remote, s3, ks3, cos, oss, obs, onedrive. */
  policyType: string;
  /** The file, when the upload was confirmed by looking it up after a lost answer. */
  file?: CloudreveFile;
  [key: string]: unknown;
}

/** Cloudreve's FileResponse, as far as chunkup relies on it (the server sends more). */
export interface CloudreveFile {
  type?: number;
  id?: string;
  name?: string;
  path?: string;
  size?: number;
  created_at?: string;
  updated_at?: string;
  metadata?: Record<string, string>;
  [key: string]: unknown;
}

export interface CloudreveLoginOptions {
  endpoint: string;
  email: string;
  password: string;
  /** Two-factor code, when the account needs one. */
  otp?: string;
  /** Login captcha answer and its ticket (`GET /api/v4/site/captcha`). */
  captcha?: string;
  ticket?: string;
  retryDelays?: number[];
}

export interface CloudreveRefreshOptions {
  endpoint: string;
  refreshToken: string;
  retryDelays?: number[];
}

export interface CloudreveToken {
  accessToken: string;
  refreshToken: string;
  /** RFC 3339 times. */
  accessExpires?: string;
  refreshExpires?: string;
  /** The account, as Cloudreve describes it (login only). */
  user?: { id?: string; email?: string; nickname?: string; [key: string]: unknown };
}

export interface CloudreveDeleteSessionOptions {
  endpoint: string;
  accessToken: string;
  sessionId: string;
  uri: string;
  retryDelays?: number[];
}
"#;

fn opts(raw: &JsValue) -> Result<Options, UploadError> {
    Options::parse(raw, PROVIDER)
}

/// Logs in with email and password (`POST /api/v4/session/token`, then `…/2fa` with `otp` when
/// the account uses two-factor authentication). Resolves with `{ accessToken, refreshToken,
/// accessExpires, refreshExpires, user }`.
#[wasm_bindgen(js_name = cloudreveLogin, unchecked_return_type = "Promise<CloudreveToken>")]
pub fn cloudreve_login(#[wasm_bindgen(unchecked_param_type = "CloudreveLoginOptions")] options: JsValue) -> js_sys::Promise {
    let prepared = (|| -> Result<_, UploadError> {
        let o = opts(&options)?;
        let endpoint = o.endpoint()?;
        let h = cr::HelperOptions::read(&o.data)?;
        let password = required(PROVIDER, h.password, "password")?;
        let first = cr::login(&endpoint, &required(PROVIDER, h.email, "email")?, &password, h.captcha.as_deref(), h.ticket.as_deref())?;
        Ok((endpoint, password, h.otp, first, retry_policy(&o)?))
    })();
    let (endpoint, password, otp, first, retry) = match prepared {
        Ok(p) => p,
        Err(e) => return js_sys::Promise::reject(&to_js(e)),
    };
    future_to_promise(async move {
        let answer = run_protocol(Box::new(first) as Box<dyn Protocol>, vec![], retry.clone(), None).await.map_err(|e| to_js(e.redact(&password)))?;
        let two_factor = codec::from_json::<cr::TwoFactor>(&answer).unwrap_or_default();
        if !two_factor.two_factor_required {
            return Ok(json_to_js(&answer));
        }
        let session = two_factor.session_id;
        let Some(code) = otp.filter(|c| !c.is_empty()) else {
            return Err(to_js(UploadError::new(ErrorCode::Auth, PROVIDER, "this account uses two-factor authentication: pass otp")));
        };
        let second = cr::login_2fa(&endpoint, &code, &session).map_err(to_js)?;
        let token = run_protocol(Box::new(second), vec![], retry, None).await.map_err(|e| to_js(e.redact(&code)))?;
        Ok(json_to_js(&token))
    })
}

/// Exchanges a refresh token for a new token pair (`POST /api/v4/session/token/refresh`).
#[wasm_bindgen(js_name = cloudreveRefreshToken, unchecked_return_type = "Promise<CloudreveToken>")]
pub fn cloudreve_refresh_token(#[wasm_bindgen(unchecked_param_type = "CloudreveRefreshOptions")] options: JsValue) -> js_sys::Promise {
    one_shot(&options, PROVIDER, false, &|o| {
        let endpoint = o.endpoint()?;
        let p = cr::refresh_token(&endpoint, &required(PROVIDER, cr::HelperOptions::read(&o.data)?.refresh_token, "refreshToken")?)?;
        Ok((Box::new(p) as Box<dyn Protocol>, vec![]))
    })
}

/// Cancels an upload session (`DELETE /api/v4/file/upload {id, uri}`), e.g. one an earlier page
/// left behind. `upload.abort()` already does this for its own session.
#[wasm_bindgen(js_name = cloudreveDeleteUploadSession, unchecked_return_type = "Promise<void>")]
pub fn cloudreve_delete_upload_session(#[wasm_bindgen(unchecked_param_type = "CloudreveDeleteSessionOptions")] options: JsValue) -> js_sys::Promise {
    one_shot(&options, PROVIDER, true, &|o| {
        let endpoint = o.endpoint()?;
        let h = cr::HelperOptions::read(&o.data)?;
        let p = cr::delete_session(
            &endpoint,
            &required(PROVIDER, h.access_token, "accessToken")?,
            &required(PROVIDER, h.session_id, "sessionId")?,
            &required(PROVIDER, h.uri, "uri")?,
        )?;
        Ok((Box::new(p) as Box<dyn Protocol>, vec![]))
    })
}
