//! Opening the session: is one already open for the account (`GET /upload`) and is it this
//! upload's; resume it, abandon it or refuse, per `existingSession`; then `POST /upload/begin`
//! (`/upload/begin/{chapterId}` with `version` for an edit).

use super::options::safe_id;
use super::recovery::reconcile;
use super::{parse_session, ExistingSession, MangaDex, Opening, Phase, Session, SessionInfo, Step, Upload, PROVIDER};
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
        let part = |label: &str, v: &Option<String>| v.as_ref().map(|v| format!(", {label} {v}")).unwrap_or_default();
        format!(
            "session {}{}{}, groups [{}], {} file(s) uploaded",
            s.id,
            part("editing chapter", &s.chapter),
            part("manga", &s.manga),
            s.groups.join(", "),
            s.files.iter().filter(|f| !f.remote).count()
        )
    }

    /// Takes up this session: its file list says which pages it holds already.
    fn adopt(&mut self, s: &SessionInfo) -> Verdict {
        if !safe_id(&s.id) {
            return self.fail(UploadError::protocol(PROVIDER, "the server gave an upload session id that cannot be used in a URL"));
        }
        let session = Session {
            id: s.id.clone(),
            created_ms: s.created_at.as_deref().and_then(crate::core::time::parse_iso8601_ms),
            user: s.user.clone().filter(|u| safe_id(u)),
            began_ms: self.now_ms,
        };
        let mut deletes = Vec::new();
        reconcile(&mut self.pages, &mut self.wanted, &mut deletes, &s.files);
        self.phase = Phase::Upload(Upload { session, resync: false, deletes, batches: 0 });
        Verdict::Continue
    }

    /// The opening's state, while the session is being found or opened.
    fn opening(&mut self) -> Option<&mut Opening> {
        match &mut self.phase {
            Phase::Open(o) => Some(o),
            _ => None,
        }
    }

    fn step(&mut self, step: Step) {
        if let Some(o) = self.opening() {
            o.step = step;
        }
    }

    /// A begin request may have opened a session without our learning its id: look it up
    /// before beginning again.
    pub(super) fn begin_lost(&mut self) {
        if let Some(o) = self.opening() {
            o.begin_lost = true;
            o.step = Step::Check;
        }
    }

    pub(super) fn handle_check(&mut self, resp: Response) -> Verdict {
        if resp.status == 404 {
            self.step(Step::Begin);
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
            self.step(Step::Begin);
            return Verdict::Continue;
        }
        let ours = self.matches(&s);
        let begin_lost = matches!(self.phase, Phase::Open(Opening { begin_lost: true, .. }));
        if ours && (begin_lost || self.params.existing == ExistingSession::Resume) {
            return self.adopt(&s);
        }
        match self.params.existing {
            ExistingSession::Abandon => {
                if !safe_id(&s.id) {
                    return self.fail(UploadError::protocol(PROVIDER, "the server gave an upload session id that cannot be used in a URL"));
                }
                self.step(Step::AbandonOld(s.id));
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
            self.step(Step::Begin);
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
            return match parse_session(&resp.body) {
                Some(s) => {
                    let s = SessionInfo { files: Vec::new(), ..s };
                    self.adopt(&s)
                }
                None => {
                    // The session exists but we cannot tell its id: look it up.
                    self.begin_lost();
                    Verdict::Retry { error: UploadError::protocol(PROVIDER, format!("{what}: the answer is not a session")), retry_after: None }
                }
            };
        }
        if let Some(o) = self.opening().filter(|o| resp.status == 409 && !o.begin_conflicted) {
            // Most likely a session opened since we looked: look again, once.
            o.begin_conflicted = true;
            o.step = Step::Check;
            return Verdict::Continue;
        }
        if resp.status >= 500 {
            self.begin_lost();
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
