//! A single request through the engine (retries, abort, token refresh): logins, listings and the
//! small multipart uploads. The response body (JSON, or `{}` when empty) is the result.

use crate::core::codec;
use crate::core::{Json, Outcome, Request, UploadError};
use crate::protocols::{default_verdict, network_retry, Next, Protocol, Verdict};

/// Turns a success response into the result, or refuses it.
pub type Accept = fn(&'static str, &crate::core::Response) -> Result<Json, UploadError>;

pub struct OneShot {
    provider: &'static str,
    what: &'static str,
    request: Request,
    /// Safe to resend after a network error (GET, PUT, DELETE). A POST is resent only on a
    /// status that says the server did nothing (429, 503).
    idempotent: bool,
    accept: Accept,
    file_bytes: u64,
    token: Option<String>,
    /// Statuses answered with `null` instead of an error (e.g. 404 for "no import yet").
    null_on: Vec<u16>,
    secrets: Vec<String>,
    state: State,
}

enum State {
    Ready,
    InFlight,
    Done(Json),
    Failed(UploadError),
}

/// Parses a 2xx body as JSON (`{}` when empty).
pub fn accept_json(provider: &'static str, resp: &crate::core::Response) -> Result<Json, UploadError> {
    let body = resp.body.trim();
    if body.is_empty() {
        return Ok(Json::Object(Default::default()));
    }
    codec::decode(body).map_err(|_| UploadError::protocol(provider, "the response is not JSON").with_status(resp.status))
}

impl OneShot {
    pub fn new(provider: &'static str, what: &'static str, request: Request, accept: Accept) -> Self {
        let idempotent = !matches!(request.method, crate::core::Method::Post | crate::core::Method::Patch);
        let file_bytes = request.body.file_bytes();
        OneShot { provider, what, request, idempotent, accept, file_bytes, token: None, null_on: Vec::new(), secrets: Vec::new(), state: State::Ready }
    }

    /// Resolve with `null` when the server answers `status` (e.g. 404 = "none").
    pub fn null_on(mut self, status: u16) -> Self {
        self.null_on.push(status);
        self
    }

    /// A credential in the request body to keep out of error messages.
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.secrets.push(secret.to_string());
        self
    }

    /// Fails for good: `next` reports `e` from now on.
    #[inline(never)]
    fn fail(&mut self, e: UploadError) -> Verdict {
        self.state = State::Failed(e.clone());
        Verdict::Fail(e)
    }

    /// The bearer token in `request` that `set_token` may replace.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }
}

impl Protocol for OneShot {
    fn provider(&self) -> &'static str {
        self.provider
    }
    fn total(&self) -> u64 {
        self.file_bytes
    }
    fn confirmed(&self) -> u64 {
        match self.state {
            State::Done(_) => self.file_bytes,
            _ => 0,
        }
    }
    fn next(&mut self) -> Next {
        match &self.state {
            State::Ready => {
                self.state = State::InFlight;
                Next::Send(self.request.clone())
            }
            State::InFlight => Next::Wait,
            State::Done(j) => Next::Done(j.clone()),
            State::Failed(e) => Next::Fail(e.clone()),
        }
    }
    fn handle(&mut self, _req: &Request, outcome: Outcome) -> Verdict {
        self.state = State::Ready;
        match outcome {
            Outcome::Network(detail) => {
                let v = network_retry(self.provider, self.what, &detail);
                if self.idempotent {
                    v
                } else if let Verdict::Retry { error, .. } = v {
                    let mut e = error;
                    e.message.push_str("; not resent automatically, the server may have received it");
                    self.fail(e)
                } else {
                    v
                }
            }
            Outcome::Response(resp) if resp.is_success() => match (self.accept)(self.provider, &resp) {
                Ok(j) => {
                    self.state = State::Done(j);
                    Verdict::Continue
                }
                Err(e) => self.fail(e),
            },
            Outcome::Response(resp) if self.null_on.contains(&resp.status) => {
                self.state = State::Done(Json::Null);
                Verdict::Continue
            }
            Outcome::Response(resp) => {
                let v = default_verdict(self.provider, self.what, &resp);
                let resend_ok = self.idempotent || matches!(resp.status, 429 | 503);
                match v {
                    Verdict::Retry { error, .. } if !resend_ok => self.fail(error),
                    Verdict::Fail(e) => self.fail(e),
                    v => v,
                }
            }
        }
    }
    fn set_token(&mut self, token: &str) {
        if self.token.is_some() {
            self.request.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
            self.request.headers.push(("Authorization".into(), format!("Bearer {token}")));
            self.token = Some(token.to_string());
        }
    }
    fn secrets(&self) -> Vec<String> {
        self.token.iter().chain(self.secrets.iter()).cloned().collect()
    }
}
