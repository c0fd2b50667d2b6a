//! cloudreve-specific JS functions (beyond `new Upload(…, { provider: 'cloudreve' })`): login,
//! token refresh, and cancelling a session left by an earlier page. Each returns a Promise and
//! rejects with `UploadError`; all run through the shared engine.

use super::options::Options;
use super::{one_shot, Parts};
use crate::core::UploadError;
use crate::protocols::cloudreve::{self as cr, PROVIDER};
use crate::protocols::{required, Protocol};
use wasm_bindgen::prelude::*;

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

/// The three helpers, for [`helper`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Helper {
    Login,
    Refresh,
    DeleteSession,
}

/// The protocol a helper runs, from its options: one function for the three.
fn helper(o: &Options, which: Helper) -> Result<Parts, UploadError> {
    let endpoint = o.endpoint()?;
    // Fields are taken, not moved out: `h` stays whole and is dropped in one piece on every
    // early return (a partly moved struct is dropped field by field at each of them).
    let mut h = cr::HelperOptions::read(&o.data)?;
    let need = |v: Option<String>, key: &str| required(PROVIDER, v, key);
    let p: Box<dyn Protocol> = match which {
        Helper::Login => {
            let password = need(h.password.take(), "password")?;
            let email = need(h.email.take(), "email")?;
            Box::new(cr::login_flow(&endpoint, &email, &password, h.captcha.as_deref(), h.ticket.as_deref(), h.otp.take())?)
        }
        Helper::Refresh => Box::new(cr::refresh_token(&endpoint, &need(h.refresh_token.take(), "refreshToken")?)?),
        Helper::DeleteSession => Box::new(cr::delete_session(
            &endpoint,
            &need(h.access_token.take(), "accessToken")?,
            &need(h.session_id.take(), "sessionId")?,
            &need(h.uri.take(), "uri")?,
        )?),
    };
    Ok((p, vec![]))
}

/// Runs a helper through the shared one-request path (deleting a session may refresh its token).
#[inline(never)]
fn run(options: &JsValue, which: Helper) -> js_sys::Promise {
    one_shot(options, PROVIDER, which == Helper::DeleteSession, &|o| helper(o, which))
}

/// Logs in with email and password (`POST /api/v4/session/token`, then `…/2fa` with `otp` when
/// the account uses two-factor authentication). Resolves with `{ accessToken, refreshToken,
/// accessExpires, refreshExpires, user }`.
#[wasm_bindgen(js_name = cloudreveLogin, unchecked_return_type = "Promise<CloudreveToken>")]
pub fn cloudreve_login(#[wasm_bindgen(unchecked_param_type = "CloudreveLoginOptions")] options: JsValue) -> js_sys::Promise {
    run(&options, Helper::Login)
}

/// Exchanges a refresh token for a new token pair (`POST /api/v4/session/token/refresh`).
#[wasm_bindgen(js_name = cloudreveRefreshToken, unchecked_return_type = "Promise<CloudreveToken>")]
pub fn cloudreve_refresh_token(#[wasm_bindgen(unchecked_param_type = "CloudreveRefreshOptions")] options: JsValue) -> js_sys::Promise {
    run(&options, Helper::Refresh)
}

/// Cancels an upload session (`DELETE /api/v4/file/upload {id, uri}`), e.g. one an earlier page
/// left behind. `upload.abort()` already does this for its own session.
#[wasm_bindgen(js_name = cloudreveDeleteUploadSession, unchecked_return_type = "Promise<void>")]
pub fn cloudreve_delete_upload_session(#[wasm_bindgen(unchecked_param_type = "CloudreveDeleteSessionOptions")] options: JsValue) -> js_sys::Promise {
    run(&options, Helper::DeleteSession)
}
