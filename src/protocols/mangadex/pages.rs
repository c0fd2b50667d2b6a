//! Sending the pages and committing: batches of up to 10 files (`POST /upload/{id}`, multipart),
//! answers matched back by file name (some files of a batch may be refused inside an HTTP 200),
//! deletes of duplicates and files no longer wanted, and the commit with `pageOrder` in input
//! order.

use super::images::page_label;
use super::options::safe_id;
use super::wire::object;
use super::{hash_contradicts, parse_batch, rate_limit_wait, FileError, Kind, MangaDex, PageState, Phase, Upload, MAX_PAGE_ATTEMPTS, PROVIDER};
use crate::core::json;
use crate::core::{codec, server_message, Body, ErrorCode, Json, Method, Outcome, Part, Request, Slice, UploadError};
use crate::protocols::{network_retry, Next, Protocol, Verdict};

/// The path (and body) of a delete: one file by its id, or several in a batch.
fn delete_target(sid: &str, ids: Vec<String>) -> (String, Option<Body>) {
    if let [one] = ids.as_slice() {
        return (format!("/upload/{sid}/{one}"), None);
    }
    (format!("/upload/{sid}/batch"), Some(Body::json(codec::encode(&Json::from(ids)))))
}

impl MangaDex {
    /// The upload in progress, while pages go out.
    pub(super) fn upload(&mut self) -> Option<&mut Upload> {
        match &mut self.phase {
            Phase::Upload(up) => Some(up),
            _ => None,
        }
    }

    /// An answer was lost: read the session's file list before more pages go out.
    fn needs_resync(&mut self) {
        if let Some(up) = self.upload() {
            up.resync = true;
        }
    }

    fn queue_deletes(&mut self, ids: Vec<String>) {
        if let Some(up) = self.upload() {
            up.deletes.extend(ids);
        }
    }

    pub(super) fn handle_batch(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        if let Some(up) = self.upload() {
            up.batches = up.batches.saturating_sub(1);
        }
        let idx: Vec<usize> = match &req.body {
            Body::Multipart(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::File { slice, .. } => Some(slice.file),
                    Part::Field { .. } => None,
                })
                .filter(|i| *i < self.pages.len())
                .collect(),
            _ => Vec::new(),
        };
        let back = |me: &mut Self| {
            for &i in &idx {
                if let Some(p) = me.pages.get_mut(i).filter(|p| matches!(p.state, PageState::Sending)) {
                    p.state = PageState::Pending;
                }
            }
        };
        let resp = match outcome {
            Outcome::Network(detail) => {
                back(self);
                self.needs_resync();
                return network_retry(PROVIDER, "page upload", &detail);
            }
            Outcome::Response(r) => r,
        };
        if !resp.is_success() {
            back(self);
            return match resp.status {
                404 | 410 => self.fail(
                    UploadError::new(ErrorCode::SessionExpired, PROVIDER, "the upload session is gone (expired, or abandoned elsewhere)")
                        .with_status(resp.status),
                ),
                413 => {
                    let mut e = self.error("page upload", &resp);
                    e.code = ErrorCode::TooLarge;
                    self.fail(e)
                }
                s => {
                    if s >= 500 {
                        self.needs_resync();
                    }
                    match self.common("page upload", &resp) {
                        Some(v) => v,
                        None => {
                            let e = self.error("page upload", &resp);
                            self.fail(e)
                        }
                    }
                }
            };
        }
        let Some((files, errors)) = parse_batch(&resp.body) else {
            back(self);
            self.needs_resync();
            let e = UploadError::protocol(PROVIDER, "a page upload's answer is not readable; checking what the server stored").with_status(resp.status);
            return Verdict::Retry { error: e, retry_after: None };
        };
        let mut corrupted = Vec::new();
        let mut deletes = Vec::new();
        for f in files {
            let page = idx.iter().copied().find(|&i| self.pages.get(i).is_some_and(|p| f.name.as_deref() == Some(p.name.as_str())));
            match page.and_then(|i| Some(i).zip(self.pages.get_mut(i))) {
                Some((i, p)) if matches!(p.state, PageState::Sending) && f.size.is_none_or(|s| s == p.size) => {
                    if hash_contradicts(f.hash.as_deref(), p.sha256.as_ref()) {
                        // Stored, but not the bytes we sent: delete that copy and send the page again.
                        corrupted.push(i);
                        if safe_id(&f.id) {
                            deletes.push(f.id);
                        }
                    } else {
                        p.state = PageState::Stored(f.id);
                    }
                }
                _ => {
                    if safe_id(&f.id) {
                        deletes.push(f.id);
                    }
                }
            }
        }
        self.queue_deletes(deletes);
        let failed: Vec<usize> = idx.iter().copied().filter(|&i| self.pages.get(i).is_some_and(|p| matches!(p.state, PageState::Sending))).collect();
        if failed.is_empty() {
            return Verdict::Continue;
        }
        let mut reasons: Vec<&str> = errors.iter().map(|e| e.detail.as_str()).collect();
        if !corrupted.is_empty() {
            reasons.push("the server's fileHash differs from the SHA-256 of the page sent (corrupted on the way)");
        }
        let reason = if reasons.is_empty() { "no reason given".to_string() } else { reasons.join("; ") };
        let mut worst = 0;
        let mut labels = Vec::new();
        for &i in &failed {
            if let Some(p) = self.pages.get_mut(i) {
                p.state = PageState::Pending;
                p.refusals += 1;
                worst = worst.max(p.refusals);
                labels.push(page_label(i, &p.original));
            }
        }
        if corrupted.is_empty() && !errors.is_empty() && errors.iter().all(FileError::is_final) {
            // The server judged the bytes themselves (type, size, dimensions): sending them again
            // cannot help.
            let code = match errors.iter().find_map(|e| e.status) {
                Some(413) => ErrorCode::TooLarge,
                Some(415) => ErrorCode::UnsupportedType,
                _ => ErrorCode::Http,
            };
            let status = errors.iter().find_map(|e| e.status).unwrap_or(resp.status);
            return self.fail(UploadError::new(code, PROVIDER, format!("MangaDex refused {}: {reason}", labels.join(", "))).with_status(status));
        }
        if worst >= MAX_PAGE_ATTEMPTS {
            let e = UploadError::new(
                ErrorCode::Http,
                PROVIDER,
                format!("MangaDex refused {} after {MAX_PAGE_ATTEMPTS} attempts: {reason}", labels.join(", ")),
            )
            .with_status(resp.status);
            return self.fail(e);
        }
        let e = UploadError::new(ErrorCode::Http, PROVIDER, format!("MangaDex refused {}: {reason}", labels.join(", ")))
            .with_status(resp.status)
            .retryable(true);
        Verdict::Retry { error: e, retry_after: None }
    }

    pub(super) fn handle_delete(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        let ids = || -> Vec<String> {
            match &req.body {
                Body::Text { text, .. } => codec::decode::<Vec<String>>(text).unwrap_or_default(),
                _ => req.url.rsplit('/').next().map(|s| vec![s.to_string()]).unwrap_or_default(),
            }
        };
        match outcome {
            Outcome::Response(r) if r.status == 429 => {
                self.queue_deletes(ids());
                Verdict::Throttled { error: self.error("deleting replaced pages", &r), retry_after: rate_limit_wait(&r) }
            }
            Outcome::Response(r) if r.status == 401 => {
                self.queue_deletes(ids());
                Verdict::Reauth(self.error("deleting replaced pages", &r))
            }
            // Done, already gone, or failed: best effort, as the commit drops every file that
            // is not in pageOrder anyway.
            _ => Verdict::Continue,
        }
    }

    /// The commit's answer may have been lost (network, 5xx): a 404 now means it went through.
    fn commit_lost(&mut self) {
        if let Phase::Commit { lost, .. } = &mut self.phase {
            *lost = true;
        }
    }

    pub(super) fn handle_commit(&mut self, outcome: Outcome) -> Verdict {
        let resp = match outcome {
            Outcome::Network(detail) => {
                self.commit_lost();
                return network_retry(PROVIDER, "commit", &detail);
            }
            Outcome::Response(r) => r,
        };
        if resp.is_success() {
            // The provider's own answer, passed through as it is.
            let answer = object::<Json>(&resp.body);
            self.advance(|from| match from {
                Phase::Commit { session, .. } => {
                    // The chapter exists: failing now would only make the caller upload it twice.
                    // What `start()` resolves with when the commit's answer is not a JSON object.
                    let answer = answer.unwrap_or_else(|| json::object(vec![("result", Some("ok".into())), ("sessionId", Some(session.id.as_str().into()))]));
                    Phase::Done { answer, session: session.id }
                }
                other => other,
            });
            return Verdict::Continue;
        }
        let lost = matches!(self.phase, Phase::Commit { lost: true, .. });
        if (resp.status == 404 || resp.status == 410) && lost && self.params.edit.is_none() {
            // The session is gone after a commit whose answer was lost: most likely the chapter
            // exists. Find it rather than guess.
            self.advance(|from| match from {
                Phase::Commit { session, .. } => Phase::FindChapter { session, tried: 0 },
                other => other,
            });
            return Verdict::Continue;
        }
        if resp.status == 404 || resp.status == 410 {
            let msg = if lost {
                "the commit's answer was lost and the upload session is gone: the chapter was most likely created; \
                 check the manga's chapters before uploading it again"
            } else {
                "the upload session is gone (expired, or abandoned elsewhere)"
            };
            return self.fail(UploadError::new(ErrorCode::SessionExpired, PROVIDER, msg).with_status(resp.status));
        }
        if resp.status >= 500 {
            self.commit_lost();
        }
        if let Some(v) = self.common("commit", &resp) {
            return v;
        }
        let mut e = self.error("commit", &resp);
        if server_message(&resp.body).is_some_and(|m| crate::core::text::contains(&m.to_ascii_lowercase(), "terms")) && !self.params.terms_accepted {
            e.message.push_str(" (set termsAccepted: true once the user has accepted MangaDex's terms)");
        }
        self.fail(e)
    }

    pub(super) fn commit_request(&self, sid: &str, page_order: &[String]) -> Request {
        // `{chapterDraft, pageOrder: the stored files' ids in reading order}`, and
        // `termsAccepted` only when the caller set it.
        let body = json::object(vec![
            ("chapterDraft", Some(self.params.draft.to_json())),
            ("pageOrder", Some(page_order.to_vec().into())),
            ("termsAccepted", self.params.terms_accepted.then_some(Json::Bool(true))),
        ]);
        self.request(Method::Post, &format!("/upload/{sid}/commit"), Kind::Commit).body(Body::json(codec::encode(&body)))
    }

    /// The stored pages' file ids in input order, once every page is stored.
    fn page_order(&self) -> Option<Vec<String>> {
        self.pages
            .iter()
            .map(|p| match &p.state {
                PageState::Stored(id) => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    pub(super) fn next_upload(&mut self) -> Next {
        if self.control_in_flight {
            // A delete may run beside batches; nothing else does.
            return self.batch_if_free().map_or(Next::Wait, Next::Send);
        }
        let Some(up) = self.upload() else { return Next::Wait };
        if up.resync {
            if up.batches > 0 {
                return Next::Wait;
            }
            self.control_in_flight = true;
            return Next::Send(self.request(Method::Get, "/upload?includes[]=upload_session_file", Kind::Resync));
        }
        if !up.deletes.is_empty() {
            let (path, body) = delete_target(&up.session.id, std::mem::take(&mut up.deletes));
            self.control_in_flight = true;
            let req = self.request(Method::Delete, &path, Kind::Delete);
            return Next::Send(match body {
                Some(b) => req.body(b),
                None => req,
            });
        }
        if let Some(r) = self.batch_if_free() {
            return Next::Send(r);
        }
        if self.upload().is_some_and(|up| up.batches == 0) {
            if let Some(page_order) = self.page_order() {
                self.advance(|from| match from {
                    Phase::Upload(up) => Phase::Commit { session: up.session, page_order, lost: false },
                    other => other,
                });
                return self.next();
            }
        }
        Next::Wait
    }

    /// The next batch of pending pages, unless the file list must be read first or enough
    /// batches are in flight.
    fn batch_if_free(&mut self) -> Option<Request> {
        let Phase::Upload(up) = &mut self.phase else { return None };
        if up.resync || up.batches >= self.params.concurrency {
            return None;
        }
        let picked: Vec<usize> =
            self.pages.iter().enumerate().filter(|(_, p)| matches!(p.state, PageState::Pending)).map(|(i, _)| i).take(self.params.batch_size).collect();
        if picked.is_empty() {
            return None;
        }
        let mut parts = Vec::with_capacity(picked.len());
        for (j, &i) in picked.iter().enumerate() {
            let Some(p) = self.pages.get_mut(i) else { continue };
            parts.push(Part::File {
                name: format!("file{j}"),
                filename: p.name.clone(),
                content_type: p.kind.mime().into(),
                slice: Slice { file: i, start: 0, end: p.size },
            });
            p.state = PageState::Sending;
        }
        up.batches += 1;
        let path = format!("/upload/{}", up.session.id);
        Some(self.request(Method::Post, &path, Kind::Batch).body(Body::Multipart(parts)))
    }
}
