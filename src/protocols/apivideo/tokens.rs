//! Upload-token API and auth (for trusted back-office pages: never ship an API key).

use super::options::{options, CURRENT_PAGE, PAGE_SIZE, SORT_BY, SORT_ORDER};
use super::wire::{check_token, request_body, Answer};
use super::PROVIDER;
use crate::core::codec::{self, DecodeError};
use crate::core::url::join;
use crate::core::{Body, Json, Method, Request, UploadError};
use crate::protocols::oneshot::OneShot;

fn bearer_json(
    method: Method,
    url: String,
    access_token: &str,
    body: Option<String>,
    what: &'static str,
    accept: crate::protocols::oneshot::Accept,
) -> Result<OneShot, UploadError> {
    if access_token.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "accessToken is required"));
    }
    let mut req = Request::new(method, url).bearer(access_token);
    if let Some(b) = body {
        req = req.body(Body::json(b));
    }
    Ok(OneShot::new(PROVIDER, what, req, accept).with_token(access_token))
}

/// A token API answer: decoded as [`Answer`] and refused unless `complete` says it has what it
/// must; the result is the answer as api.video sent it.
fn accept_answer(resp: &crate::core::Response, complete: fn(&Answer) -> bool) -> Result<Json, UploadError> {
    let refuse = |why: &str| UploadError::protocol(PROVIDER, format!("the response {why}")).with_status(resp.status);
    match codec::decode::<Answer>(&resp.body) {
        Ok(a) if complete(&a) => codec::decode::<Json>(&resp.body).map_err(|_| refuse("is not JSON")),
        Err(DecodeError::Syntax) => Err(refuse("is not JSON")),
        _ => Err(refuse("does not have the expected fields")),
    }
}

/// `{token, ttl, createdAt, expiresAt?}`.
fn accept_token(_: &'static str, resp: &crate::core::Response) -> Result<Json, UploadError> {
    accept_answer(resp, |a| a.token.is_some())
}

/// `{data: [token…], pagination}`.
fn accept_token_list(_: &'static str, resp: &crate::core::Response) -> Result<Json, UploadError> {
    accept_answer(resp, |a| a.data.as_ref().is_some_and(|d| d.iter().all(|t| t.token.is_some())))
}

/// `{token_type, access_token, refresh_token, expires_in}`.
fn accept_access_token(_: &'static str, resp: &crate::core::Response) -> Result<Json, UploadError> {
    accept_answer(resp, |a| a.access_token.is_some())
}

/// `DELETE` answers 204 without a body: the result is `{}`, whatever came with it.
fn accept_empty(_: &'static str, _: &crate::core::Response) -> Result<Json, UploadError> {
    Ok(Json::Object(Default::default()))
}

/// `POST /upload-tokens {ttl}` (seconds; 0 = never expires).
pub fn create_token(endpoint: &str, access_token: &str, ttl: Option<u64>) -> Result<OneShot, UploadError> {
    if ttl.is_some_and(|t| t > 2_147_483_647) {
        return Err(UploadError::invalid(PROVIDER, "ttl must be 0 to 2147483647 seconds"));
    }
    let body = request_body("ttl", Json::from(ttl.unwrap_or(0)));
    bearer_json(Method::Post, join(endpoint, "/upload-tokens"), access_token, Some(body), "upload token creation", accept_token)
}

/// `GET /upload-tokens?sortBy&sortOrder&currentPage&pageSize`.
/// `query` holds the page's options (`sortBy`, `sortOrder`, `currentPage`, `pageSize`; the
/// others are not looked at here).
pub fn list_tokens(endpoint: &str, access_token: &str, query: &Json) -> Result<OneShot, UploadError> {
    let q = options(query, PROVIDER)?;
    // Each given parameter: whether it is valid, its text, and the message when it is not.
    let params = [
        ("sortBy", q.sort_by.map(|s| (matches!(s.as_str(), "createdAt" | "ttl"), s)), SORT_BY),
        ("sortOrder", q.sort_order.map(|s| (matches!(s.as_str(), "asc" | "desc"), s)), SORT_ORDER),
        ("currentPage", q.current_page.map(|n| (n >= 1, n.to_string())), CURRENT_PAGE),
        ("pageSize", q.page_size.map(|n| ((1..=100).contains(&n), n.to_string())), PAGE_SIZE),
    ];
    let mut url = join(endpoint, "/upload-tokens");
    let mut sep = '?';
    for (key, given, why) in params {
        let Some((valid, value)) = given else { continue };
        if !valid {
            return Err(UploadError::invalid(PROVIDER, why));
        }
        url.push(sep);
        url.push_str(key);
        url.push('=');
        url.push_str(&value);
        sep = '&';
    }
    bearer_json(Method::Get, url, access_token, None, "upload token listing", accept_token_list)
}

/// `GET /upload-tokens/{token}`.
pub fn get_token(endpoint: &str, access_token: &str, token: &str) -> Result<OneShot, UploadError> {
    bearer_json(Method::Get, token_url(endpoint, token)?, access_token, None, "upload token lookup", accept_token)
}

/// `{endpoint}/upload-tokens/{token}`, once the token is checked.
fn token_url(endpoint: &str, token: &str) -> Result<String, UploadError> {
    check_token(token)?;
    Ok(join(endpoint, &format!("/upload-tokens/{token}")))
}

/// `DELETE /upload-tokens/{token}` (204).
pub fn delete_token(endpoint: &str, access_token: &str, token: &str) -> Result<OneShot, UploadError> {
    bearer_json(Method::Delete, token_url(endpoint, token)?, access_token, None, "upload token deletion", accept_empty)
}

/// `POST /auth/api-key {apiKey}` → `{access_token, refresh_token, expires_in}`.
pub fn auth_api_key(endpoint: &str, api_key: &str) -> Result<OneShot, UploadError> {
    auth_call(endpoint, "/auth/api-key", "apiKey", api_key, "authentication")
}

/// `POST /auth/refresh {refreshToken}`.
pub fn auth_refresh(endpoint: &str, refresh_token: &str) -> Result<OneShot, UploadError> {
    auth_call(endpoint, "/auth/refresh", "refreshToken", refresh_token, "token refresh")
}

/// `POST {path} {key: secret}` → an access token; `secret` (required) never shows in a message.
fn auth_call(endpoint: &str, path: &str, key: &'static str, secret: &str, what: &'static str) -> Result<OneShot, UploadError> {
    if secret.is_empty() {
        return Err(UploadError::invalid(PROVIDER, format!("{key} is required")));
    }
    let req = Request::new(Method::Post, join(endpoint, path)).body(Body::json(request_body(key, Json::from(secret))));
    Ok(OneShot::new(PROVIDER, what, req, accept_access_token).with_secret(secret))
}
