//! The approval check (`POST /upload/check-approval-required`): does this account's upload to
//! this manga in this language wait for a moderator? A protocol of its own, one request.

use super::options::{invalid, is_uuid, valid_language};
use super::login::required;
use super::wire::object;
use super::{status_verdict, PROVIDER};
use crate::core::json;
use crate::core::url::{is_absolute_http, join};
use crate::core::{codec, status_error, Body, ErrorCode, Json, Method, Outcome, Request, UploadError};
use crate::protocols::{network_retry, Next, Protocol, Verdict};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    requires_approval: Option<bool>,
}

/// `POST /upload/check-approval-required {manga, locale}` → `requiresApproval` (a boolean).
/// Read-only, so it is resent after a network error.
#[derive(Debug)]
pub struct ApprovalCheck {
    request: Request,
    token: String,
    manga: String,
    state: Option<Result<Json, UploadError>>,
    in_flight: bool,
}

impl ApprovalCheck {
    pub fn new(endpoint: &str, access_token: &str, manga: &str, locale: &str) -> Result<Self, UploadError> {
        // Each is given (empty is "`key` is required", checked in this order), then valid.
        required(access_token, "accessToken")?;
        required(manga, "manga")?;
        required(locale, "locale")?;
        if !is_absolute_http(endpoint) {
            return Err(invalid("endpoint must be an http(s) URL or a path on this site"));
        }
        if !is_uuid(manga) {
            return Err(invalid("manga must be a manga UUID"));
        }
        if !valid_language(locale) {
            return Err(invalid(format!("locale {} is not a language code like \"en\" or \"pt-br\"", crate::core::quoted(&crate::core::truncate(locale, 20)))));
        }
        let manga = manga.to_ascii_lowercase();
        let request = Request::new(Method::Post, join(endpoint, "/upload/check-approval-required"))
            .bearer(access_token)
            .body(Body::json(codec::encode(&json::object(vec![("manga", Some(manga.as_str().into())), ("locale", Some(locale.into()))]))));
        Ok(ApprovalCheck { request, token: access_token.into(), manga, state: None, in_flight: false })
    }

    fn settle(&mut self, r: Result<Json, UploadError>) -> Verdict {
        self.state = Some(r.clone());
        match r {
            Ok(_) => Verdict::Continue,
            Err(e) => Verdict::Fail(e),
        }
    }
}

impl Protocol for ApprovalCheck {
    fn provider(&self) -> &'static str {
        PROVIDER
    }
    fn total(&self) -> u64 {
        0
    }
    fn confirmed(&self) -> u64 {
        0
    }
    fn next(&mut self) -> Next {
        match &self.state {
            Some(Ok(j)) => Next::Done(j.clone()),
            Some(Err(e)) => Next::Fail(e.clone()),
            None if self.in_flight => Next::Wait,
            None => {
                self.in_flight = true;
                Next::Send(self.request.clone())
            }
        }
    }
    fn handle(&mut self, _req: &Request, outcome: Outcome) -> Verdict {
        self.in_flight = false;
        let resp = match outcome {
            Outcome::Network(d) => return network_retry(PROVIDER, "approval check", &d),
            Outcome::Response(r) => r,
        };
        if resp.is_success() {
            let flag = object::<Answer>(&resp.body).and_then(|a| a.requires_approval);
            return match flag {
                Some(b) => self.settle(Ok(Json::Bool(b))),
                None => self.settle(Err(UploadError::protocol(PROVIDER, "the approval check's answer has no requiresApproval").with_status(resp.status))),
            };
        }
        if resp.status == 404 {
            let e = UploadError::new(ErrorCode::Http, PROVIDER, format!("approval check: manga {} was not found", self.manga)).with_status(404);
            return self.settle(Err(e));
        }
        match status_verdict(status_error(PROVIDER, "approval check", &resp), &resp) {
            Ok(v) => v,
            Err(mut e) => {
                if resp.status == 403 {
                    e.code = ErrorCode::Auth;
                }
                self.settle(Err(e))
            }
        }
    }
    fn set_token(&mut self, token: &str) {
        self.request.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
        self.request.headers.push(("Authorization".into(), format!("Bearer {token}")));
        self.token = token.to_string();
    }
    fn secrets(&self) -> Vec<String> {
        vec![self.token.clone()]
    }
}
