//! Personal-client login (Keycloak password grant) and token refresh, each one form-encoded
//! request to the auth server's token endpoint.

use super::options::invalid;
use super::PROVIDER;
use crate::core::url::{is_absolute_http, join};
use crate::core::{Body, Method, Request, UploadError};
use crate::protocols::oneshot::{self, OneShot};

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

fn required<'a>(v: &'a str, name: &str) -> Result<&'a str, UploadError> {
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
    Ok(OneShot::new(PROVIDER, "login", req, oneshot::accept_json).with_secret(password).with_secret(client_secret))
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
    Ok(OneShot::new(PROVIDER, "token refresh", req, oneshot::accept_json)
        .with_secret(refresh_token)
        .with_secret(client_secret))
}
