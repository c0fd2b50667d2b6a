//! MangaDex in JS, beyond `new Upload(pages, { provider: 'mangadex', … })`: the approval check
//! and the personal-client login. MangaDex sends no CORS headers for other sites, so `endpoint`
//! and `authEndpoint` point at a proxy (same-origin, or one that adds CORS headers).

use super::options::resolve_endpoint;
use super::one_shot;
use crate::core::UploadError;
use crate::protocols::mangadex::{self as md, ApprovalCheck, HelperOptions, PROVIDER};
use crate::protocols::{required, Protocol};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_MANGADEX: &'static str = r#"
/** A chapter's metadata (MangaDex's `chapterDraft`). */
export interface MangaDexChapterDraft {
  /** Volume label such as "1" or "2.5"; null for none. A number is written as text. */
  volume: string | number | null;
  /** Chapter label such as "12", "12.5" or "3b"; null for a oneshot. */
  chapter: string | number | null;
  /** At most 255 characters; null for none. */
  title: string | null;
  /** Language code: "en", "pt-br", … */
  translatedLanguage: string;
  /** Needs MangaDex's permission. http(s), at most 512 characters. */
  externalUrl?: string | null;
  /** Delayed publication, "YYYY-MM-DDTHH:MM:SS" (no time zone). */
  publishAt?: string | null;
}

/**
 * Uploads one chapter: the input (File[] or FileList) holds its pages in reading order. JPEG, PNG
 * and GIF only (checked by content), at most 20 MB each, 150 MB and 500 pages per chapter,
 * below 10000 px in width and height; every bad page is reported at once, before any request.
 * `start()` resolves with the commit's answer, `{ result, response, data: { id, type: 'chapter', … } }`
 * (when that answer is lost, with the chapter the commit created, found in the chapter list).
 */
export interface MangaDexUploadOptions extends CommonUploadOptions {
  provider: 'mangadex';
  /** The MangaDex API through a proxy: MangaDex sends no CORS headers for other sites. */
  endpoint: string;
  /** An OAuth access token (they last 15 minutes: give `getAccessToken` for long uploads). */
  accessToken: string;
  /** The manga's UUID. */
  manga: string;
  /** Scanlation group UUIDs ([] for no group; at most 10). */
  groups: string[];
  chapter: MangaDexChapterDraft;
  /** Edit this chapter instead of creating one: its pages are replaced by the input. */
  chapterId?: string;
  /** With `chapterId`: the chapter's current version. */
  version?: number;
  /** Sends `termsAccepted: true` with the commit; set it once the user has accepted MangaDex's terms. */
  termsAccepted?: boolean;
  /**
   * MangaDex allows one open upload session per account. 'resume' (default): continue an open
   * session for the same manga and groups (or the same chapter edit), skipping pages it already
   * holds (same name and size, and the same SHA-256 as its `fileHash`: a page edited since is
   * deleted there and sent again), and fail if the open session is for something else. 'abandon':
   * discard any open session and begin anew. 'fail': fail if any session is open.
   */
  existingSession?: 'resume' | 'abandon' | 'fail';
  /** Pages per request, 1–10 (default 10). */
  batchSize?: number;
  /** Batches in flight at once, 1–3 (default 2). */
  concurrency?: number;
  /** Not used: pages are sent whole. */
  chunkSize?: never;
}

export interface MangaDexApprovalOptions {
  endpoint: string;
  accessToken: string;
  /** The manga's UUID. */
  manga: string;
  /** The chapter's language, e.g. "en". */
  locale: string;
  retryDelays?: number[];
  getAccessToken?: () => string | Promise<string>;
}

export interface MangaDexLoginOptions {
  /** The auth server through a proxy, e.g. '/mangadex-auth' for https://auth.mangadex.org. */
  authEndpoint: string;
  username: string;
  password: string;
  /** The personal client's id ("personal-client-…") and secret. */
  clientId: string;
  clientSecret: string;
  retryDelays?: number[];
}

export interface MangaDexRefreshOptions {
  authEndpoint: string;
  refreshToken: string;
  clientId: string;
  clientSecret: string;
  retryDelays?: number[];
}

/**
 * What `start()` resolves with for MangaDex: the commit's answer, the new chapter. If that answer
 * was not JSON (the chapter exists all the same), `{ result: 'ok', sessionId }`.
 */
export interface MangaDexChapterResult {
  result: 'ok' | string;
  response?: 'entity' | string;
  data?: {
    id: string;
    type: 'chapter';
    attributes?: { volume?: string | null; chapter?: string | null; title?: string | null; translatedLanguage?: string; pages?: number; [key: string]: unknown };
    relationships?: { id: string; type: string; [key: string]: unknown }[];
  };
  sessionId?: string;
  [key: string]: unknown;
}

export interface MangaDexToken {
  access_token: string;
  refresh_token: string;
  /** Seconds (access tokens last 15 minutes). */
  expires_in: number;
  token_type: string;
  [key: string]: unknown;
}
"#;

/// Which one-request helper: they share one path (one closure in the binary).
#[derive(Clone, Copy, PartialEq)]
enum Helper {
    Approval,
    Login,
    Refresh,
}

fn auth_endpoint(h: &mut HelperOptions) -> Result<String, UploadError> {
    let e = required(PROVIDER, h.auth_endpoint.take(), "authEndpoint")?;
    resolve_endpoint(&e)
        .ok_or_else(|| UploadError::invalid(PROVIDER, format!("authEndpoint {} is not a usable URL", crate::core::quoted(&crate::core::truncate(&e, 80)))))
}

/// Runs one helper: its options checked in the order each has always checked them (the
/// approval check's `endpoint` first), then its one request.
#[inline(never)]
fn helper(options: &JsValue, which: Helper) -> js_sys::Promise {
    one_shot(options, PROVIDER, which == Helper::Approval, &|o| {
        let endpoint = if which == Helper::Approval { o.endpoint()? } else { String::new() };
        let mut h = HelperOptions::read(&o.data)?;
        let p: Box<dyn Protocol> = match which {
            // `ApprovalCheck::new`, `md::login` and `md::refresh` check that each option is
            // given (in this order, with the same "`key` is required" as `required`).
            Helper::Approval => Box::new(ApprovalCheck::new(
                &endpoint,
                h.access_token.as_deref().unwrap_or_default(),
                h.manga.as_deref().unwrap_or_default(),
                h.locale.as_deref().unwrap_or_default(),
            )?),
            Helper::Login => Box::new(md::login(
                &auth_endpoint(&mut h)?,
                h.username.as_deref().unwrap_or_default(),
                h.password.as_deref().unwrap_or_default(),
                h.client_id.as_deref().unwrap_or_default(),
                h.client_secret.as_deref().unwrap_or_default(),
            )?),
            Helper::Refresh => Box::new(md::refresh(
                &auth_endpoint(&mut h)?,
                h.refresh_token.as_deref().unwrap_or_default(),
                h.client_id.as_deref().unwrap_or_default(),
                h.client_secret.as_deref().unwrap_or_default(),
            )?),
        };
        Ok((p, vec![]))
    })
}

/// Whether a chapter of `manga` in `locale` will wait for staff approval (a first upload, or a
/// new language): `{ endpoint, accessToken, manga, locale }` → `true` or `false`. Rejects with
/// code `http`, status 404, when the manga does not exist.
#[wasm_bindgen(js_name = mangadexCheckApprovalRequired, unchecked_return_type = "Promise<boolean>")]
pub fn check_approval_required(#[wasm_bindgen(unchecked_param_type = "MangaDexApprovalOptions")] options: JsValue) -> js_sys::Promise {
    helper(&options, Helper::Approval)
}

/// Personal-client login (OAuth password grant, form-encoded): `{ authEndpoint, username,
/// password, clientId, clientSecret }` → `{ access_token, refresh_token, expires_in, … }`.
/// The client secret must not reach browsers of people other than its owner.
#[wasm_bindgen(js_name = mangadexLogin, unchecked_return_type = "Promise<MangaDexToken>")]
pub fn login(#[wasm_bindgen(unchecked_param_type = "MangaDexLoginOptions")] options: JsValue) -> js_sys::Promise {
    helper(&options, Helper::Login)
}

/// Refreshes an access token: `{ authEndpoint, refreshToken, clientId, clientSecret }`.
#[wasm_bindgen(js_name = mangadexRefreshToken, unchecked_return_type = "Promise<MangaDexToken>")]
pub fn refresh_token(#[wasm_bindgen(unchecked_param_type = "MangaDexRefreshOptions")] options: JsValue) -> js_sys::Promise {
    helper(&options, Helper::Refresh)
}
