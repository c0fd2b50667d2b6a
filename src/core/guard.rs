//! Credentials go only where they belong. The one place that decides whether a request may
//! leave: a request that carries one of the user's credentials (a bearer token in a header, or
//! an upload token in the query) may only go to the configured endpoint's origin. The engine
//! applies this to every request a protocol produces (uploads, cancels, clean-ups), so a hostile
//! or misconfigured server cannot get a token by answering with an upload URL on another origin.
//! A session's own credentials (a Cloudreve node credential, a presigned URL) are not user
//! credentials: protocols list only the user's in `Protocol::credentials`.

use super::http::Request;
use super::url::{encode_component, origin};

/// Does `req` carry one of `credentials` in a header or in a query value?
pub fn carries_credential(req: &Request, credentials: &[String]) -> bool {
    credentials.iter().filter(|c| !c.is_empty()).any(|c| in_headers(req, c) || in_query(&req.url, c))
}

fn in_headers(req: &Request, cred: &str) -> bool {
    req.headers.iter().any(|(_, v)| {
        let v = v.trim();
        v == cred || v.split([' ', ',', ';', '\t']).any(|part| part == cred)
    })
}

fn in_query(url: &str, cred: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else { return false };
    let query = query.split('#').next().unwrap_or("");
    let encoded = encode_component(cred);
    query.split('&').any(|pair| {
        let value = pair.split_once('=').map_or("", |(_, v)| v);
        !value.is_empty() && (value == cred || value == encoded || value.eq_ignore_ascii_case(&encoded))
    })
}

/// Checks that a request carrying a user credential goes to `trusted_origin`.
/// Err is a message for a protocol error (it names origins, never the credential).
pub fn check(req: &Request, trusted_origin: &str, credentials: &[String]) -> Result<(), String> {
    if !carries_credential(req, credentials) {
        return Ok(());
    }
    match origin(&req.url) {
        Some(o) if o == trusted_origin => Ok(()),
        Some(o) => Err(format!(
            "refusing to send the access token to {o}: only the configured endpoint's origin ({trusted_origin}) gets it"
        )),
        None => Err("refusing to send the access token to a URL that is not absolute http(s)".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::http::Method;

    #[test]
    fn finds_credentials_in_headers_and_queries() {
        let creds = vec!["s3cr3t-token".to_string()];
        let r = Request::new(Method::Put, "https://a.b/x").bearer("s3cr3t-token");
        assert!(carries_credential(&r, &creds));
        assert!(check(&r, "https://a.b", &creds).is_ok());
        assert!(check(&r, "https://c.d", &creds).unwrap_err().contains("https://a.b"));
        let q = Request::new(Method::Post, "https://a.b/upload?x=1&token=s3cr3t-token");
        assert!(carries_credential(&q, &creds));
        let other = Request::new(Method::Put, "https://evil/x").header("Authorization", "Bearer node-credential");
        assert!(!carries_credential(&other, &creds));
        assert!(check(&other, "https://a.b", &creds).is_ok());
        assert!(!carries_credential(&Request::new(Method::Get, "https://a.b/s3cr3t-token-not"), &creds));
    }
}
