//! Recovery: the file check after a session seemed gone (an expired token or session, a storage
//! credential that expired with it, a lost creation answer holding the file's lock), deleting
//! this upload's own stale session and starting over, bounded by [`MAX_NEW_SESSIONS`].

use super::transfer::{malformed_file, with_file, FileData};
use super::wire::{valid_session_id, verdict_error, Refusal, Route};
use super::{Cloudreve, Phase, Probe, ProbeFor, Transfer, MAX_NEW_SESSIONS, PROVIDER};
use crate::core::codec;
use crate::core::{ErrorCode, Outcome, UploadError};
use crate::protocols::{network_retry, Verdict};

impl Cloudreve {
    /// The answer to the file check after a chunk's 40011 (`ChunkGone`) or after creating the
    /// session again met the file's placeholder or lock (`LostCreate`).
    pub(super) fn handle_probe(&mut self, why: ProbeFor, outcome: Outcome) -> Verdict {
        let what = "file check";
        let resp = match outcome {
            Outcome::Network(d) => return network_retry(PROVIDER, what, &d),
            Outcome::Response(r) => r,
        };
        let ours = self.session.as_ref().map(|s| s.session_id.clone());
        match self.envelope_reply(what, &resp, Route::Api) {
            Ok(data) => {
                let Ok(file) = codec::from_json::<FileData>(&data) else {
                    return self.fail(malformed_file(what, resp.status));
                };
                // The token works, so a 40011 was not about the token: the session is gone.
                let recorded = file.session().filter(|s| valid_session_id(s)).map(str::to_string);
                match why {
                    ProbeFor::ChunkGone | ProbeFor::Finish => {
                        if self.final_maybe_done && recorded.is_none() && file.size == Some(self.total) && file.is_file() {
                            // The last step's lost answer (chunk, completion, callback) completed
                            // the upload.
                            return self.done(&with_file(data));
                        }
                        self.final_maybe_done = false;
                        match (recorded, ours) {
                            // Expired: Cloudreve keeps the placeholder, its upload entity and the
                            // metadata naming this session (the sentinel never deletes the
                            // placeholder); a plain create would get 40004. The session id is
                            // this upload's own, so deleting it touches nothing else.
                            (Some(r), Some(o)) if r == o => self.renew(o, resp.status),
                            // An earlier page's session that is gone without a trace: start anew.
                            (None, _) if self.resumed() => self.start_over(),
                            // Cancelled (the placeholder went with it) or taken over by another
                            // upload of the same path: not this upload's to touch.
                            _ => {
                                let e = self.gone_for_good(resp.status);
                                self.fail(e)
                            }
                        }
                    }
                    ProbeFor::LostCreate => match recorded {
                        // Whose session is this? Cloudreve cannot say which client created it:
                        // the create request's own metadata reaches the file only at
                        // completion (`dbfs/upload.go` `PrepareUpload` records just
                        // `sys:upload_session_id`), and the lock's owner is the user. It is
                        // deleted only when (1) this upload's create may have reached the
                        // server (its answer was lost, or a 5xx came back), (2) creating again
                        // met exactly this file's placeholder or upload lock (40004/40073), and
                        // (3) the file records an upload session, i.e. is an upload in progress
                        // rather than a finished file (a finished file is never touched: that
                        // is a plain "already exists"). What remains possible: another tab of
                        // the same user that began uploading the very same path before this
                        // upload's first create. That upload then fails with session-expired
                        // (its own file check finds the path recording another session, and
                        // it never deletes in turn), instead of this one failing with "Lock
                        // conflict" for up to a day; at most MAX_NEW_SESSIONS times per upload.
                        Some(r) => self.renew(r, resp.status),
                        None => {
                            let gone = match &mut self.phase {
                                Phase::Probe { gone, .. } => gone.take(),
                                _ => None,
                            };
                            let mut e = gone.unwrap_or_else(|| UploadError::new(ErrorCode::Http, PROVIDER, "upload session creation failed"));
                            e.retryable = false;
                            e.message.push_str("; the file there is not an upload in progress, so it is left alone");
                            self.fail(e)
                        }
                    },
                }
            }
            Err(Refusal { verdict: Verdict::Reauth(e), .. }) => {
                // The token was refused as well: the 40011 was (at least) an expired token.
                let mut err = UploadError::new(ErrorCode::Auth, PROVIDER, e.message.clone()).with_status(resp.status);
                if let (ProbeFor::ChunkGone | ProbeFor::Finish, Some(g)) = (why, self.gone_error()) {
                    err.message = format!("{}; the access token was refused as well ({}): it has most likely expired", g.message, e.message);
                }
                Verdict::Reauth(err)
            }
            Err(Refusal { verdict: Verdict::Fail(e), .. }) if matches!(e.code, ErrorCode::Http | ErrorCode::InvalidInput | ErrorCode::SessionExpired) => {
                // Not found (40016, 404) or similar: no file, so nothing holds the path.
                match why {
                    ProbeFor::ChunkGone if self.resumed() => self.start_over(),
                    ProbeFor::ChunkGone | ProbeFor::Finish => {
                        self.final_maybe_done = false;
                        let mut ie = self.gone_for_good(resp.status);
                        ie.message.push_str(" (");
                        ie.message.push_str(&e.message);
                        ie.message.push(')');
                        self.fail(ie)
                    }
                    // The lock went away meanwhile (its session was cancelled): create again.
                    ProbeFor::LostCreate => self.renew_without_discard(resp.status),
                }
            }
            Err(r) => self.apply(r.verdict),
        }
    }

    /// The chunks being checked continue an earlier page's session, none accepted yet.
    fn resumed(&self) -> bool {
        matches!(self.phase, Phase::Probe { check: Probe::ChunkGone(Transfer::Chunks { resumed: true, .. }), .. })
    }

    /// What ended the session being checked, if known.
    fn gone_error(&self) -> Option<&UploadError> {
        match &self.phase {
            Phase::Probe { gone, .. } => gone.as_ref(),
            _ => None,
        }
    }

    /// The error when the session cannot be continued or replaced: a refused storage credential
    /// stays 'auth'; anything else is an ended session.
    fn gone_for_good(&self, status: u16) -> UploadError {
        match self.gone_error() {
            Some(g) if g.code == ErrorCode::Auth => g.clone(),
            _ => self.ended_incomplete(status),
        }
    }

    /// The session ended with the file incomplete (with what ended it, when known).
    pub(super) fn ended_incomplete(&self, status: u16) -> UploadError {
        let mut e = UploadError::new(
            ErrorCode::SessionExpired,
            PROVIDER,
            "the upload session ended before the file was complete (it expired or was cancelled)",
        )
        .with_status(status);
        if let Some(g) = self.gone_error() {
            e.message.push_str(": ");
            e.message.push_str(&g.message);
        }
        e
    }

    /// Deletes session `sid` (this upload's own, see [`Cloudreve::handle_probe`]), then creates
    /// a new one; bounded by [`MAX_NEW_SESSIONS`].
    fn renew(&mut self, sid: String, status: u16) -> Verdict {
        if let Some(e) = self.renewals_exhausted(status) {
            return self.fail(e);
        }
        self.renewals += 1;
        self.phase = Phase::Discard(sid);
        Verdict::Continue
    }

    fn renew_without_discard(&mut self, status: u16) -> Verdict {
        if let Some(e) = self.renewals_exhausted(status) {
            return self.fail(e);
        }
        self.renewals += 1;
        self.start_over()
    }

    fn renewals_exhausted(&mut self, status: u16) -> Option<UploadError> {
        if self.renewals < MAX_NEW_SESSIONS {
            return None;
        }
        let mut e = match self.gone_error() {
            Some(g) if g.code != ErrorCode::SessionExpired => g.clone(),
            _ => self.ended_incomplete(status),
        };
        e.retryable = false;
        e.message.push_str(&format!(" (gave up after {MAX_NEW_SESSIONS} new upload sessions)"));
        Some(e)
    }

    /// A new session from the first byte (the old one's bytes cannot be reused).
    fn start_over(&mut self) -> Verdict {
        self.session = None;
        self.confirmed = 0;
        self.final_maybe_done = false;
        self.cleaned = false;
        self.phase = Phase::Create { maybe_received: false };
        Verdict::Continue
    }

    /// The answer to deleting a stale session of this upload.
    pub(super) fn handle_discard(&mut self, outcome: Outcome) -> Verdict {
        let what = "deleting the stale upload session";
        let resp = match outcome {
            Outcome::Network(d) => return network_retry(PROVIDER, what, &d),
            Outcome::Response(r) => r,
        };
        match self.envelope_reply(what, &resp, Route::Api) {
            Ok(_) => self.start_over(),
            Err(Refusal { verdict: Verdict::Reauth(e), .. }) => Verdict::Reauth(e),
            Err(Refusal { verdict: v, code, .. }) => match code {
                // Already gone (the file or the session): nothing left to delete.
                Some(40016 | 404 | 40011) => self.start_over(),
                // Another session holds the file's lock now: not this upload's to break.
                Some(40073) => {
                    let mut e = verdict_error(&v).unwrap_or_else(|| UploadError::new(ErrorCode::Http, PROVIDER, what));
                    e.retryable = false;
                    e.message.push_str("; another upload of this file holds its lock");
                    self.fail(e)
                }
                _ => self.apply(v),
            },
        }
    }
}
