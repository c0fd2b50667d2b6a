//! Opening the session: is one already open for the account (`GET /upload`) and is it this
//! upload's; resume it, abandon it or refuse, per `existingSession`; then `POST /upload/begin`
//! (`/upload/begin/{chapterId}` with `version` for an edit).

use super::options::safe_id;
use super::{parse_session, ExistingSession, MangaDex, Phase, SessionInfo, PROVIDER};
use crate::core::{ErrorCode, Response, UploadError};
use crate::protocols::Verdict;

impl MangaDex {
    /// Does this open session belong to this upload?
    fn matches(&self, s: &SessionInfo) -> bool {
        match &self.params.edit {
            Some((chapter, _)) => s.chapter.as_deref() == Some(chapter.as_str()),
            None => {
                // The same groups, in any order (a few ids: counting beats sorting copies).
                let (a, b) = (&s.groups, &self.params.groups);
                let count = |v: &[String], g: &String| v.iter().filter(|x| *x == g).count();
                let same_groups = a.len() == b.len() && a.iter().all(|g| count(a, g) == count(b, g));
                s.chapter.is_none() && s.manga.is_some() && s.manga == self.params.manga && same_groups
            }
        }
    }

    fn describe(s: &SessionInfo) -> String {
        let mut d = format!("session {}", s.id);
        if let Some(c) = &s.chapter {
            d.push_str(&format!(", editing chapter {c}"));
        }
        if let Some(m) = &s.manga {
            d.push_str(&format!(", manga {m}"));
        }
        d.push_str(&format!(", groups [{}]", s.groups.join(", ")));
        let local = s.files.iter().filter(|f| !f.remote).count();
        d.push_str(&format!(", {local} file(s) uploaded"));
        d
    }

    fn adopt(&mut self, s: &SessionInfo) -> Verdict {
        if !safe_id(&s.id) {
            return self.fail(UploadError::protocol(PROVIDER, "the server gave an upload session id that cannot be used in a URL"));
        }
        self.session_id = Some(s.id.clone());
        self.session_created_ms = s.created_at.as_deref().and_then(crate::core::time::parse_iso8601_ms);
        self.session_user = s.user.clone().filter(|u| safe_id(u));
        self.began_ms.get_or_insert(self.now_ms);
        self.reconcile(&s.files);
        self.phase = Phase::Upload;
        Verdict::Continue
    }

    pub(super) fn handle_check(&mut self, resp: Response) -> Verdict {
        if resp.status == 404 {
            self.phase = Phase::Begin;
            return Verdict::Continue;
        }
        if !resp.is_success() {
            if let Some(v) = self.common("upload session lookup", &resp) {
                return v;
            }
            let e = self.error("upload session lookup", &resp);
            return self.fail(e);
        }
        let Some(s) = parse_session(&resp.body) else {
            return self.fail(UploadError::protocol(PROVIDER, "the upload session lookup answered with something that is not a session").with_status(resp.status));
        };
        if s.closed {
            self.phase = Phase::Begin;
            return Verdict::Continue;
        }
        let ours = self.matches(&s);
        if ours && (self.begin_lost || self.params.existing == ExistingSession::Resume) {
            return self.adopt(&s);
        }
        match self.params.existing {
            ExistingSession::Abandon => {
                if !safe_id(&s.id) {
                    return self.fail(UploadError::protocol(PROVIDER, "the server gave an upload session id that cannot be used in a URL"));
                }
                self.phase = Phase::AbandonOld(s.id.clone());
                Verdict::Continue
            }
            ExistingSession::Fail => self.fail(UploadError::new(
                ErrorCode::Http,
                PROVIDER,
                format!(
                    "an upload session is already open for this account ({}); MangaDex allows one at a time. \
                     Commit or abandon it first, or pass existingSession: 'resume' or 'abandon'",
                    Self::describe(&s)
                ),
            )),
            ExistingSession::Resume => self.fail(UploadError::new(
                ErrorCode::Http,
                PROVIDER,
                format!(
                    "another upload session is already open for this account ({}) and it is not for this chapter; \
                     MangaDex allows one at a time. Finish or abandon it first, or pass existingSession: 'abandon' to discard it",
                    Self::describe(&s)
                ),
            )),
        }
    }

    pub(super) fn handle_abandon_old(&mut self, resp: Response) -> Verdict {
        if resp.is_success() || resp.status == 404 {
            self.phase = Phase::Begin;
            return Verdict::Continue;
        }
        if let Some(v) = self.common("abandoning the open upload session", &resp) {
            return v;
        }
        let e = self.error("abandoning the open upload session", &resp);
        self.fail(e)
    }

    pub(super) fn handle_begin(&mut self, resp: Response) -> Verdict {
        let what = if self.params.edit.is_some() { "beginning the chapter edit" } else { "beginning the upload session" };
        if resp.is_success() {
            self.begin_lost = false;
            return match parse_session(&resp.body) {
                Some(s) => {
                    let s = SessionInfo { files: Vec::new(), ..s };
                    self.adopt(&s)
                }
                None => {
                    // The session exists but we cannot tell its id: look it up.
                    self.begin_lost = true;
                    self.phase = Phase::Check;
                    Verdict::Retry { error: UploadError::protocol(PROVIDER, format!("{what}: the answer is not a session")), retry_after: None }
                }
            };
        }
        if resp.status == 409 && self.begin_conflicts == 0 {
            // Most likely a session opened since we looked: look again, once.
            self.begin_conflicts += 1;
            self.phase = Phase::Check;
            return Verdict::Continue;
        }
        if resp.status >= 500 {
            self.begin_lost = true;
            self.phase = Phase::Check;
        }
        if let Some(v) = self.common(what, &resp) {
            return v;
        }
        let mut e = self.error(what, &resp);
        if resp.status == 409 {
            e.message.push_str(" (another upload session may be open: see existingSession)");
        }
        self.fail(e)
    }
}
