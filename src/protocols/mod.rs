//! Provider protocols as sans-IO state machines. Each says what to send next and digests what
//! came back; the engine (`crate::engine`) owns retries, backoff, progress, pause and abort.
//! Adding a provider = one file here implementing [`Protocol`] (or a folder, as `cloudreve/` and
//! `mangadex/` are), plus its tests.

use crate::core::retry::{parse_retry_after, RetryAfter};
use crate::core::{Json, Outcome, Request, Response, UploadError};

#[cfg(feature = "apivideo")]
pub mod apivideo;
#[cfg(feature = "cloudreve")]
pub mod cloudreve;
#[cfg(feature = "mangadex")]
pub mod mangadex;
pub mod oneshot;
#[cfg(feature = "peertube")]
pub mod peertube;
#[cfg(feature = "peertube")]
pub mod peertube_api;

/// What the protocol wants next.
#[derive(Debug, PartialEq)]
pub enum Next {
    /// Send this request.
    Send(Request),
    /// Nothing to send until an in-flight request settles.
    Wait,
    /// The upload is complete; this is what `start()` resolves with.
    Done(Json),
    /// Give up.
    Fail(UploadError),
}

/// What a response (or network failure) means.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Understood; ask `next()` again.
    Continue,
    /// A transient failure: wait (per the retry policy, or the server's `Retry-After`), then ask
    /// `next()` again. The protocol has already decided what a retry means (resend, or first ask
    /// the server what it has). `error` is reported if retries run out.
    Retry { error: UploadError, retry_after: Option<RetryAfter> },
    /// The server asks us to slow down (429): wait `retry_after` (or the next backoff delay)
    /// without using up a retry; the engine still bounds how many of these come in a row.
    Throttled { error: UploadError, retry_after: Option<RetryAfter> },
    /// The credential was refused: get a fresh token (`set_token`), then ask `next()` again.
    Reauth(UploadError),
    /// Unrecoverable.
    Fail(UploadError),
}

pub trait Protocol {
    fn provider(&self) -> &'static str;
    /// Total bytes of file data to upload.
    fn total(&self) -> u64;
    /// Bytes the server has confirmed.
    fn confirmed(&self) -> u64;
    /// How many requests may be in flight at once.
    fn max_parallel(&self) -> usize {
        1
    }
    fn next(&mut self) -> Next;
    /// The outcome of `req`, a request this protocol produced.
    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict;
    /// A fresh access token after `Verdict::Reauth`.
    fn set_token(&mut self, _token: &str) {}
    /// `req`, which carried `bytes` of file data, got an HTTP answer below 400 `elapsed_ms`
    /// after it was handed to the network (called before [`Protocol::handle`]). Protocols
    /// whose chunk size or parallelism may change mid-upload use it to fit them to the link.
    fn observe(&mut self, _req: &Request, _bytes: u64, _elapsed_ms: f64) {}
    /// Called when the upload resumes after a pause: re-sync with the server before sending data.
    fn resync(&mut self) {}
    /// Requests that cancel the server-side session (sent best-effort on abort).
    fn cancel(&mut self) -> Vec<Request> {
        Vec::new()
    }
    /// Requests sent best-effort after the upload failed for good (not on abort), e.g. to
    /// delete a session that cannot be continued.
    fn cleanup_on_failure(&mut self) -> Vec<Request> {
        Vec::new()
    }
    /// How many leading bytes of each input file the protocol must see before the first request
    /// (e.g. to check image types by their magic bytes). 0 = none; at most 65536.
    fn head_bytes(&self) -> usize {
        0
    }
    /// The leading bytes of each input file, in input order (only when `head_bytes() > 0`).
    /// An error here fails the upload before any request.
    fn set_heads(&mut self, _heads: Vec<Vec<u8>>) -> Result<(), UploadError> {
        Ok(())
    }
    /// More input for a stream of unknown length: file `file` (a Blob the shell holds) of
    /// `size` bytes; `last` closes the stream.
    fn push_input(&mut self, _file: usize, _size: u64, _last: bool) -> Result<(), UploadError> {
        Err(UploadError::invalid(self.provider(), "this upload does not take more input"))
    }
    /// Whether the protocol checks each input file's SHA-256 against what the server reports
    /// (asked only with the `integrity` option; the shell then hashes every input before the
    /// first request and hands the digests to [`Protocol::set_file_digests`]).
    fn wants_file_digests(&self) -> bool {
        false
    }
    /// The SHA-256 of each input file, in input order.
    fn set_file_digests(&mut self, _sha256: Vec<[u8; 32]>) {}
    /// Input files whose SHA-256 the protocol needs now, mid-upload, without the `integrity`
    /// option (e.g. to compare a page with a stored file of the same name and size). Each list is
    /// handed out once; the shell hashes those files and answers with
    /// [`Protocol::set_file_digest`]. Until then the protocol's `next()` may answer `Wait`.
    fn take_digests_wanted(&mut self) -> Vec<usize> {
        Vec::new()
    }
    /// The SHA-256 of input file `file` (asked for by [`Protocol::take_digests_wanted`]).
    fn set_file_digest(&mut self, _file: usize, _sha256: [u8; 32]) {}
    /// The current time (ms since the Unix epoch in the browser; the simulated clock in tests),
    /// given at start and before every `handle`: for protocols that must tell what the server
    /// created after the upload began.
    fn set_now(&mut self, _now_ms: f64) {}
    /// Credentials to keep out of error messages.
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
    /// The user's own credentials (bearer token, upload token), which the engine lets go only to
    /// [`Protocol::credential_origin`]. Default: [`Protocol::secrets`]. A protocol whose session
    /// hands out credentials of its own (a storage node's, a presigned URL's) lists only the
    /// user's here.
    fn credentials(&self) -> Vec<String> {
        self.secrets()
    }
    /// The configured endpoint's origin: the only origin a request carrying
    /// [`Protocol::credentials`] may go to. None: the origin of the first request the protocol
    /// sends (every protocol builds it from the configured endpoint).
    fn credential_origin(&self) -> Option<String> {
        None
    }
    /// What identifies the server-side session so far (upload URL, videoId, …), never a token.
    fn session(&self) -> Json {
        Json::Null
    }
    /// What a later page needs to continue this upload after a reload (`core::resume`), never a
    /// token. None when no session exists yet, or when this provider (or this kind of session)
    /// cannot be continued from another page.
    fn resume_state(&self) -> Option<Json> {
        None
    }
    /// What names the session of [`Protocol::resume_state`] (its URL or id), without the
    /// progress the state also carries: a change of it is written at once, progress at most once
    /// a second (`core::resume::WritePolicy`). None: the whole state names it.
    fn resume_key(&self) -> Option<&str> {
        None
    }
    /// Continues the session described by `state` (an earlier page's [`Protocol::resume_state`])
    /// instead of creating one. Called on a freshly built protocol, before any request.
    fn restore(&mut self, _state: &Json) -> Result<(), UploadError> {
        Err(UploadError::invalid(self.provider(), "this upload cannot be resumed from an earlier page"))
    }
}

/// A retry verdict for a network failure.
pub fn network_retry(provider: &'static str, what: &str, detail: &str) -> Verdict {
    let msg = if detail.is_empty() { format!("{what}: network error") } else { format!("{what}: network error ({detail})") };
    Verdict::Retry { error: UploadError::network(provider, msg), retry_after: None }
}

/// A helper's required option: absent or empty is "`key` is required".
pub fn required(provider: &'static str, value: Option<String>, key: &str) -> Result<String, UploadError> {
    value.filter(|s| !s.is_empty()).ok_or_else(|| UploadError::invalid(provider, format!("{key} is required")))
}

/// The verdict for an error status that the protocol has no special meaning for:
/// retry what is retryable (honouring `Retry-After`), otherwise fail.
pub fn default_verdict(provider: &'static str, what: &str, resp: &Response) -> Verdict {
    let err = crate::core::status_error(provider, what, resp);
    if resp.status == 401 {
        return Verdict::Reauth(err);
    }
    let retry_after = resp.header("retry-after").and_then(parse_retry_after);
    if resp.status == 429 {
        Verdict::Throttled { error: err, retry_after }
    } else if err.retryable {
        Verdict::Retry { error: err, retry_after }
    } else {
        Verdict::Fail(err)
    }
}

impl<T: Protocol + ?Sized> Protocol for Box<T> {
    fn provider(&self) -> &'static str {
        (**self).provider()
    }
    fn total(&self) -> u64 {
        (**self).total()
    }
    fn confirmed(&self) -> u64 {
        (**self).confirmed()
    }
    fn max_parallel(&self) -> usize {
        (**self).max_parallel()
    }
    fn next(&mut self) -> Next {
        (**self).next()
    }
    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        (**self).handle(req, outcome)
    }
    fn set_token(&mut self, token: &str) {
        (**self).set_token(token)
    }
    fn observe(&mut self, req: &Request, bytes: u64, elapsed_ms: f64) {
        (**self).observe(req, bytes, elapsed_ms)
    }
    fn resync(&mut self) {
        (**self).resync()
    }
    fn cancel(&mut self) -> Vec<Request> {
        (**self).cancel()
    }
    fn push_input(&mut self, file: usize, size: u64, last: bool) -> Result<(), UploadError> {
        (**self).push_input(file, size, last)
    }
    fn cleanup_on_failure(&mut self) -> Vec<Request> {
        (**self).cleanup_on_failure()
    }
    fn head_bytes(&self) -> usize {
        (**self).head_bytes()
    }
    fn set_heads(&mut self, heads: Vec<Vec<u8>>) -> Result<(), UploadError> {
        (**self).set_heads(heads)
    }
    fn wants_file_digests(&self) -> bool {
        (**self).wants_file_digests()
    }
    fn set_file_digests(&mut self, sha256: Vec<[u8; 32]>) {
        (**self).set_file_digests(sha256)
    }
    fn take_digests_wanted(&mut self) -> Vec<usize> {
        (**self).take_digests_wanted()
    }
    fn set_file_digest(&mut self, file: usize, sha256: [u8; 32]) {
        (**self).set_file_digest(file, sha256)
    }
    fn set_now(&mut self, now_ms: f64) {
        (**self).set_now(now_ms)
    }
    fn secrets(&self) -> Vec<String> {
        (**self).secrets()
    }
    fn credentials(&self) -> Vec<String> {
        (**self).credentials()
    }
    fn credential_origin(&self) -> Option<String> {
        (**self).credential_origin()
    }
    fn session(&self) -> Json {
        (**self).session()
    }
    fn resume_state(&self) -> Option<Json> {
        (**self).resume_state()
    }
    fn resume_key(&self) -> Option<&str> {
        (**self).resume_key()
    }
    fn restore(&mut self, state: &Json) -> Result<(), UploadError> {
        (**self).restore(state)
    }
}
