//! Personal-client login (Keycloak password grant) and token refresh, each one form-encoded
//! request to the auth server's token endpoint.

use super::options::invalid;
use super::PROVIDER;
use crate::core::url::{is_absolute_http, join};
use crate::core::{codec, Body, Json, Method, Request, Response, UploadError};
use crate::protocols::oneshot::{self, OneShot};
use serde::Deserialize;

/// The part of a token answer (`{access_token, refresh_token, expires_in, token_type, …}`)
/// checked here; the answer itself is handed to the caller as Keycloak wrote it.
#[derive(Deserialize)]
struct Token {
    access_token: String,
}

/// A 2xx token answer: the caller's result, once it holds an `access_token` (a string). A body
/// without one would resolve with nothing to upload with.
pub fn accept_token(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    let json = oneshot::accept_json(provider, resp)?;
    match codec::from_json::<Token>(&json) {
        Ok(t) if !t.access_token.is_empty() => Ok(json),
        _ => Err(UploadError::protocol(provider, "the token answer has no access_token").with_status(resp.status)),
    }
}

/// The token endpoint under an auth root such as `https://auth.mangadex.org` (or a proxy path).
pub fn token_url(auth_endpoint: &str) -> String {
    let e = auth_endpoint.trim_end_matches('/');
    if e.ends_with("/protocol/openid-connect/token") {
        e.to_string()
    } else {
        join(e, "/realms/mangadex/protocol/openid-connect/token")
    }
}

fn token_request(auth_endpoint: &str, pairs: &[(&str, &str)]) -> Result<Request, UploadError> {
    let url = token_url(auth_endpoint);
    if !is_absolute_http(&url) {
        return Err(invalid("authEndpoint must be an http(s) URL or a path on this site (a proxy to auth.mangadex.org)"));
    }
    Ok(Request::new(Method::Post, url).body(Body::Text {
        content_type: "application/x-www-form-urlencoded".into(),
        text: crate::core::url::form_urlencoded(pairs),
    }))
}

/// A helper's option that must be given: empty (or absent) is "`name` is required".
pub(super) fn required<'a>(v: &'a str, name: &str) -> Result<&'a str, UploadError> {
    if v.is_empty() {
        Err(invalid(format!("{name} is required")))
    } else {
        Ok(v)
    }
}

/// Personal-client login: `grant_type=password` (form-encoded, not JSON).
pub fn login(auth_endpoint: &str, username: &str, password: &str, client_id: &str, client_secret: &str) -> Result<OneShot, UploadError> {
    let req = token_request(
        auth_endpoint,
        &[
            ("grant_type", "password"),
            ("username", required(username, "username")?),
            ("password", required(password, "password")?),
            ("client_id", required(client_id, "clientId")?),
            ("client_secret", required(client_secret, "clientSecret")?),
        ],
    )?;
    Ok(OneShot::new(PROVIDER, "login", req, accept_token).with_secret(password).with_secret(client_secret))
}

/// `grant_type=refresh_token` on the same endpoint.
pub fn refresh(auth_endpoint: &str, refresh_token: &str, client_id: &str, client_secret: &str) -> Result<OneShot, UploadError> {
    let req = token_request(
        auth_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", required(refresh_token, "refreshToken")?),
            ("client_id", required(client_id, "clientId")?),
            ("client_secret", required(client_secret, "clientSecret")?),
        ],
    )?;
    Ok(OneShot::new(PROVIDER, "token refresh", req, accept_token)
        .with_secret(refresh_token)
        .with_secret(client_secret))
}
