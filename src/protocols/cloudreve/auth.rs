//! Login helpers (one request each, through the shared engine): login, two-factor login, token
//! refresh, and deleting a session left by an earlier page.

use super::wire::{envelope_message, parse_envelope, valid_session_id, Envelope};
use crate::core::JsonExt as _;
use super::PROVIDER;
use crate::core::url::{is_absolute_http, join};
use crate::core::{Body, ErrorCode, Json, Method, Request, Response, UploadError};
use crate::protocols::oneshot::OneShot;

/// Turns a 2xx envelope into its `data`, or an error (`code != 0`).
pub fn accept_envelope(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    match parse_envelope(&resp.body) {
        Some(env) if env.code == 0 => Ok(env.data),
        Some(env) => Err(login_error(provider, "request", resp.status, &env)),
        None => Err(UploadError::protocol(provider, "the answer is not a Cloudreve API response").with_status(resp.status)),
    }
}

fn login_error(provider: &'static str, what: &str, status: u16, env: &Envelope) -> UploadError {
    let message = envelope_message(what, env);
    let code = match env.code {
        401 | 403 | 40017 | 40018 | 40020 | 40021 | 40022 | 40069 | 40080 => ErrorCode::Auth,
        40001 | 40026 | 40027 => ErrorCode::InvalidInput,
        _ => ErrorCode::Http,
    };
    let retryable = env.code == -1 || (50000..60000).contains(&env.code);
    UploadError::new(code, provider, message).with_status(status).retryable(retryable)
}

/// A login answer: the token pair (flattened), or `{ twoFactorRequired, sessionId }` (code 203).
pub fn accept_login(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    match parse_envelope(&resp.body) {
        Some(env) if env.code == 203 => match env.data.as_str().filter(|s| !s.is_empty()) {
            Some(sid) => Ok(Json::object().with("twoFactorRequired", true).with("sessionId", sid)),
            None => Err(UploadError::protocol(provider, "two-factor login without a session id").with_status(resp.status)),
        },
        Some(env) if env.code == 0 => {
            let token = env.data.get("token").cloned().unwrap_or(Json::Null);
            flatten_token(provider, &token, env.data.get("user").cloned(), resp.status)
        }
        Some(env) => Err(login_error(provider, "login", resp.status, &env)),
        None => Err(UploadError::protocol(provider, "the answer is not a Cloudreve API response").with_status(resp.status)),
    }
}

/// A refresh answer: the new token pair (flattened).
pub fn accept_refresh(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    match parse_envelope(&resp.body) {
        Some(env) if env.code == 0 => flatten_token(provider, &env.data, None, resp.status),
        Some(env) => Err(login_error(provider, "token refresh", resp.status, &env)),
        None => Err(UploadError::protocol(provider, "the answer is not a Cloudreve API response").with_status(resp.status)),
    }
}

fn flatten_token(provider: &'static str, token: &Json, user: Option<Json>, status: u16) -> Result<Json, UploadError> {
    let s = |k: &str| token.get(k).and_then(Json::as_str).filter(|v| !v.is_empty()).map(str::to_string);
    let (Some(access), Some(refresh)) = (s("access_token"), s("refresh_token")) else {
        return Err(UploadError::protocol(provider, "the answer has no access_token/refresh_token").with_status(status));
    };
    let mut out = Json::object().with("accessToken", access).with("refreshToken", refresh);
    if let Some(v) = s("access_expires") {
        out.set("accessExpires", Json::String(v));
    }
    if let Some(v) = s("refresh_expires") {
        out.set("refreshExpires", Json::String(v));
    }
    if let Some(u) = user.filter(|u| !u.is_null()) {
        out.set("user", u);
    }
    Ok(out)
}

fn api_url(endpoint: &str, path: &str) -> Result<String, UploadError> {
    let u = join(endpoint, path);
    if is_absolute_http(&u) {
        Ok(u)
    } else {
        Err(UploadError::invalid(PROVIDER, "endpoint must be an http(s) URL or a path on this site"))
    }
}

/// `POST /api/v4/session/token {email, password, captcha?, ticket?}`.
pub fn login(endpoint: &str, email: &str, password: &str, captcha: Option<&str>, ticket: Option<&str>) -> Result<OneShot, UploadError> {
    if email.trim().is_empty() || password.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "email and password are required"));
    }
    let mut body = Json::object().with("email", email.trim()).with("password", password);
    if let Some(c) = captcha.filter(|c| !c.is_empty()) {
        body.set("captcha", Json::String(c.to_string()));
    }
    if let Some(t) = ticket.filter(|t| !t.is_empty()) {
        body.set("ticket", Json::String(t.to_string()));
    }
    let req = Request::new(Method::Post, api_url(endpoint, "/api/v4/session/token")?).body(Body::json(body.to_json_string()));
    Ok(OneShot::new(PROVIDER, "login", req, accept_login).with_secret(password))
}

/// `POST /api/v4/session/token/2fa {otp, session_id}` after a login answered 203.
pub fn login_2fa(endpoint: &str, otp: &str, session_id: &str) -> Result<OneShot, UploadError> {
    if otp.trim().is_empty() {
        return Err(UploadError::invalid(PROVIDER, "otp is required"));
    }
    let body = Json::object().with("otp", otp.trim()).with("session_id", session_id);
    let req = Request::new(Method::Post, api_url(endpoint, "/api/v4/session/token/2fa")?).body(Body::json(body.to_json_string()));
    Ok(OneShot::new(PROVIDER, "two-factor login", req, accept_login).with_secret(otp.trim()))
}

/// `POST /api/v4/session/token/refresh {refresh_token}`.
pub fn refresh_token(endpoint: &str, refresh: &str) -> Result<OneShot, UploadError> {
    if refresh.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "refreshToken is required"));
    }
    let body = Json::object().with("refresh_token", refresh);
    let req = Request::new(Method::Post, api_url(endpoint, "/api/v4/session/token/refresh")?).body(Body::json(body.to_json_string()));
    Ok(OneShot::new(PROVIDER, "token refresh", req, accept_refresh).with_secret(refresh))
}

/// `DELETE /api/v4/file/upload {id, uri}`: cancels a session left by an earlier page.
pub fn delete_session(endpoint: &str, access_token: &str, session_id: &str, uri: &str) -> Result<OneShot, UploadError> {
    if access_token.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "accessToken is required"));
    }
    if !valid_session_id(session_id) {
        return Err(UploadError::invalid(PROVIDER, "sessionId has unexpected characters"));
    }
    if !uri.starts_with("cloudreve://") {
        return Err(UploadError::invalid(PROVIDER, "uri must start with cloudreve://"));
    }
    let body = Json::object().with("id", session_id).with("uri", uri);
    let req = Request::new(Method::Delete, api_url(endpoint, "/api/v4/file/upload")?)
        .bearer(access_token)
        .body(Body::json(body.to_json_string()));
    Ok(OneShot::new(PROVIDER, "upload session deletion", req, accept_envelope).with_token(access_token))
}
