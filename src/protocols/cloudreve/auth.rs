//! Login helpers (one request each, through the shared engine): login, two-factor login, token
//! refresh, and deleting a session left by an earlier page.

use super::wire::{data_as, delete_body, envelope_message, parse_envelope, text, valid_session_id, Envelope};
use super::PROVIDER;
use crate::core::codec;
use crate::core::url::{is_absolute_http, join};
use crate::core::json::object;
use crate::core::{Body, ErrorCode, Json, Method, Request, Response, UploadError};
use crate::core::Outcome;
use crate::protocols::oneshot::{Accept, OneShot};
use crate::protocols::{Next, Protocol, Verdict};
use serde::Deserialize;

/// Turns a 2xx envelope into its `data`, or an error (`code != 0`).
pub fn accept_envelope(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    match parse_envelope(&resp.body) {
        Some(env) if env.code == 0 => Ok(env.data),
        Some(env) => Err(login_error(provider, "request", resp.status, &env)),
        None => Err(not_api(provider, resp)),
    }
}

fn not_api(provider: &'static str, resp: &Response) -> UploadError {
    UploadError::protocol(provider, "the answer is not a Cloudreve API response").with_status(resp.status)
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

/// A login's or a refresh's `data`: a login nests the token pair under `token` next to `user`
/// (`service/user/response.go` `BuiltinLoginResponse`); a refresh's data is the pair itself
/// (`pkg/auth/jwt.go` `Token`; the expiry times are RFC 3339). One type for both: one decoder.
#[derive(Default, Deserialize)]
#[serde(default)]
struct TokenAnswer {
    token: Option<Box<TokenAnswer>>,
    /// The account as Cloudreve describes it: handed on as it is.
    user: Option<Json>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    access_expires: Option<String>,
    refresh_expires: Option<String>,
}

/// A login answer: the token pair (flattened), or `{ twoFactorRequired, sessionId }` (code 203,
/// read back by [`Login`] to send the one-time code). Results are built as values, like the
/// request bodies (one encoder for all, no serializer per result type).
pub fn accept_login(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    accept_token(provider, resp, true)
}

/// A refresh answer: the new token pair (flattened).
pub fn accept_refresh(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    accept_token(provider, resp, false)
}

/// A login's (`login`: the pair under `token`, code 203 for a second factor) or a refresh's
/// answer: one body for both.
fn accept_token(provider: &'static str, resp: &Response, login: bool) -> Result<Json, UploadError> {
    let what = if login { "login" } else { "token refresh" };
    // The envelope with open-ended `data` (one envelope decoder), then `data` as a token answer.
    let Some(env) = parse_envelope(&resp.body) else { return Err(not_api(provider, resp)) };
    match env.code {
        // Code 203's data is the two-factor session id, a string: not a `TokenAnswer`.
        203 if login => match env.data {
            Json::String(sid) if !sid.is_empty() => Ok(object(vec![("twoFactorRequired", Some(Json::Bool(true))), ("sessionId", Some(Json::String(sid)))])),
            _ => Err(UploadError::protocol(provider, "two-factor login without a session id").with_status(resp.status)),
        },
        0 => {
            match data_as::<TokenAnswer>(&env.data) {
                Ok(data) if login => flatten_token(provider, *data.token.unwrap_or_default(), data.user, resp.status),
                Ok(data) => flatten_token(provider, data, None, resp.status),
                Err(_) => Err(mistyped_token(provider, resp.status)),
            }
        }
        _ => Err(login_error(provider, what, resp.status, &env)),
    }
}

/// A success whose `data` is not a token answer: a field of another type (an expiry that is not
/// a string, a token that is a number), or no object at all.
fn mistyped_token(provider: &'static str, status: u16) -> UploadError {
    UploadError::protocol(provider, "the token answer has fields of unexpected types").with_status(status)
}

fn no_token(provider: &'static str, status: u16) -> UploadError {
    UploadError::protocol(provider, "the answer has no access_token/refresh_token").with_status(status)
}

fn flatten_token(provider: &'static str, token: TokenAnswer, user: Option<Json>, status: u16) -> Result<Json, UploadError> {
    let s = |v: Option<String>| v.filter(|v| !v.is_empty());
    let (Some(access_token), Some(refresh_token)) = (s(token.access_token), s(token.refresh_token)) else {
        return Err(no_token(provider, status));
    };
    // `{ accessToken, refreshToken, accessExpires?, refreshExpires?, user? }`.
    Ok(object(vec![
        ("accessToken", Some(Json::String(access_token))),
        ("refreshToken", Some(Json::String(refresh_token))),
        ("accessExpires", s(token.access_expires).map(Json::String)),
        ("refreshExpires", s(token.refresh_expires).map(Json::String)),
        ("user", user.filter(|u| !u.is_null())),
    ]))
}

fn api_url(endpoint: &str, path: &str) -> Result<String, UploadError> {
    let u = join(endpoint, path);
    if is_absolute_http(&u) {
        Ok(u)
    } else {
        Err(UploadError::invalid(PROVIDER, "endpoint must be an http(s) URL or a path on this site"))
    }
}

/// `POST {endpoint}{path}` with the JSON `body`, as one request whose answer `accept` reads;
/// `secret` is kept out of messages. One body for login, two-factor login and refresh.
fn post(endpoint: &str, path: &str, body: Json, what: &'static str, accept: Accept, secret: &str) -> Result<OneShot, UploadError> {
    let req = Request::new(Method::Post, api_url(endpoint, path)?).body(Body::json(codec::encode(&body)));
    Ok(OneShot::new(PROVIDER, what, req, accept).with_secret(secret))
}

/// `POST /api/v4/session/token {email, password, captcha?, ticket?}`.
pub fn login(endpoint: &str, email: &str, password: &str, captcha: Option<&str>, ticket: Option<&str>) -> Result<OneShot, UploadError> {
    if email.trim().is_empty() || password.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "email and password are required"));
    }
    // `service/user/login.go` `UserLoginService`.
    let optional = |v: Option<&str>| v.filter(|v| !v.is_empty()).and_then(text);
    let body = object(vec![("email", text(email.trim())), ("password", text(password)), ("captcha", optional(captcha)), ("ticket", optional(ticket))]);
    post(endpoint, "/api/v4/session/token", body, "login", accept_login, password)
}

/// `cloudreveLogin`: the login, then, when the account answers that it needs a second factor
/// (code 203), `POST /api/v4/session/token/2fa` with `otp`; one protocol through the engine, so
/// the helper shares the one-request path of the others.
pub struct Login {
    step: OneShot,
    endpoint: String,
    /// The one-time code; taken when the two-factor step is built.
    otp: Option<String>,
    second: bool,
    /// The two-factor session id of a first answer with code 203 (see [`accept_login`]).
    two_factor: Option<String>,
    /// The password and the one-time code.
    secrets: Vec<String>,
    failed: Option<UploadError>,
}

/// [`login`], followed by [`login_2fa`] with `otp` when the account needs it.
pub fn login_flow(endpoint: &str, email: &str, password: &str, captcha: Option<&str>, ticket: Option<&str>, otp: Option<String>) -> Result<Login, UploadError> {
    let step = login(endpoint, email, password, captcha, ticket)?;
    Ok(Login { step, endpoint: endpoint.to_string(), otp, second: false, two_factor: None, secrets: vec![password.to_string()], failed: None })
}

impl Protocol for Login {
    fn provider(&self) -> &'static str {
        PROVIDER
    }
    /// The login accepted counts as progress (1 of 1): the engine then gives the two-factor
    /// request a retry budget of its own, as two separate runs had.
    fn total(&self) -> u64 {
        1
    }
    fn confirmed(&self) -> u64 {
        u64::from(self.second)
    }
    fn next(&mut self) -> Next {
        if let Some(e) = &self.failed {
            return Next::Fail(e.clone());
        }
        let session = match self.step.next() {
            // The login was accepted as `{ twoFactorRequired: true, sessionId }`.
            Next::Done(_) if !self.second && self.two_factor.is_some() => self.two_factor.take().unwrap_or_default(),
            n => return n,
        };
        let second = match self.otp.take().filter(|c| !c.is_empty()) {
            None => Err(UploadError::new(ErrorCode::Auth, PROVIDER, "this account uses two-factor authentication: pass otp")),
            Some(code) => {
                let step = login_2fa(&self.endpoint, &code, &session);
                self.secrets.push(code);
                step
            }
        };
        match second {
            Ok(step) => {
                self.step = step;
                self.second = true;
                self.step.next()
            }
            Err(e) => {
                self.failed = Some(e.clone());
                Next::Fail(e)
            }
        }
    }
    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        if let (false, Outcome::Response(resp)) = (self.second, &outcome) {
            // Code 203: the account needs its second factor (what `accept_login` answers with).
            self.two_factor = match parse_envelope(&resp.body) {
                Some(Envelope { code: 203, data: Json::String(sid), .. }) => Some(sid),
                _ => None,
            };
        }
        self.step.handle(req, outcome)
    }
    fn secrets(&self) -> Vec<String> {
        let mut v = self.step.secrets();
        v.extend(self.secrets.iter().cloned());
        v
    }
}

/// `POST /api/v4/session/token/2fa {otp, session_id}` after a login answered 203.
pub fn login_2fa(endpoint: &str, otp: &str, session_id: &str) -> Result<OneShot, UploadError> {
    if otp.trim().is_empty() {
        return Err(UploadError::invalid(PROVIDER, "otp is required"));
    }
    let body = object(vec![("otp", text(otp.trim())), ("session_id", text(session_id))]);
    post(endpoint, "/api/v4/session/token/2fa", body, "two-factor login", accept_login, otp.trim())
}

/// `POST /api/v4/session/token/refresh {refresh_token}`.
pub fn refresh_token(endpoint: &str, refresh: &str) -> Result<OneShot, UploadError> {
    if refresh.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "refreshToken is required"));
    }
    let body = object(vec![("refresh_token", text(refresh))]);
    post(endpoint, "/api/v4/session/token/refresh", body, "token refresh", accept_refresh, refresh)
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
    let body = delete_body(session_id, uri);
    let req = Request::new(Method::Delete, api_url(endpoint, "/api/v4/file/upload")?).bearer(access_token).body(Body::json(body));
    Ok(OneShot::new(PROVIDER, "upload session deletion", req, accept_envelope).with_token(access_token))
}
