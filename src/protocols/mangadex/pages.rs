//! Sending the pages and committing: batches of up to 10 files (`POST /upload/{id}`, multipart),
//! answers matched back by file name (some files of a batch may be refused inside an HTTP 200),
//! deletes of duplicates and files no longer wanted, and the commit with `pageOrder` in input
//! order.

use super::images::page_label;
use super::options::{safe_id, ChapterDraft};
use super::wire::object;
use super::{hash_contradicts, parse_batch, rate_limit_wait, FileError, Kind, MangaDex, PageState, Phase, MAX_PAGE_ATTEMPTS, PROVIDER};
use crate::core::{codec, server_message, Body, ErrorCode, Json, Method, Outcome, Part, Request, Slice, UploadError};
use crate::protocols::{network_retry, Next, Protocol, Verdict};
use serde::Serialize;

/// `POST /upload/{id}/commit`: `termsAccepted` only when the caller set it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Commit<'a> {
    chapter_draft: &'a ChapterDraft,
    /// The stored files' ids in reading order.
    page_order: Vec<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    terms_accepted: Option<bool>,
}

/// What `start()` resolves with when the commit's answer is not a JSON object (the chapter
/// exists all the same).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CommitFallback<'a> {
    result: &'a str,
    session_id: &'a str,
}

impl MangaDex {
    pub(super) fn handle_batch(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        self.batches_in_flight = self.batches_in_flight.saturating_sub(1);
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
                if me.pages[i].state == PageState::Sending {
                    me.pages[i].state = PageState::Pending;
                }
            }
        };
        let resp = match outcome {
            Outcome::Network(detail) => {
                back(self);
                self.resync = true;
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
                        self.resync = true;
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
            self.resync = true;
            let e = UploadError::protocol(PROVIDER, "a page upload's answer is not readable; checking what the server stored").with_status(resp.status);
            return Verdict::Retry { error: e, retry_after: None };
        };
        let mut corrupted = Vec::new();
        for f in files {
            let page = idx.iter().copied().find(|&i| f.name.as_deref() == Some(self.pages[i].name.as_str()));
            match page {
                Some(i) if self.pages[i].state == PageState::Sending && f.size.is_none_or(|s| s == self.pages[i].size) => {
                    if hash_contradicts(f.hash.as_deref(), self.pages[i].sha256.as_ref()) {
                        // Stored, but not the bytes we sent: delete that copy and send the page again.
                        corrupted.push(i);
                        if safe_id(&f.id) {
                            self.deletes.push(f.id);
                        }
                    } else {
                        self.pages[i].state = PageState::Stored(f.id);
                    }
                }
                _ => {
                    if safe_id(&f.id) {
                        self.deletes.push(f.id);
                    }
                }
            }
        }
        let failed: Vec<usize> = idx.iter().copied().filter(|&i| self.pages[i].state == PageState::Sending).collect();
        if failed.is_empty() {
            return Verdict::Continue;
        }
        let mut reasons: Vec<&str> = errors.iter().map(|e| e.detail.as_str()).collect();
        if !corrupted.is_empty() {
            reasons.push("the server's fileHash differs from the SHA-256 of the page sent (corrupted on the way)");
        }
        let reason = if reasons.is_empty() { "no reason given".to_string() } else { reasons.join("; ") };
        let mut worst = 0;
        for &i in &failed {
            let p = &mut self.pages[i];
            p.state = PageState::Pending;
            p.refusals += 1;
            worst = worst.max(p.refusals);
        }
        let labels: Vec<String> = failed.iter().map(|&i| page_label(i, &self.pages[i].original)).collect();
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
        let requeue = |me: &mut Self| {
            let ids: Vec<String> = match &req.body {
                Body::Text { text, .. } => codec::decode::<Vec<String>>(text).unwrap_or_default(),
                _ => req.url.rsplit('/').next().map(|s| vec![s.to_string()]).unwrap_or_default(),
            };
            me.deletes.extend(ids);
        };
        match outcome {
            Outcome::Response(r) if r.status == 429 => {
                requeue(self);
                Verdict::Throttled { error: self.error("deleting replaced pages", &r), retry_after: rate_limit_wait(&r) }
            }
            Outcome::Response(r) if r.status == 401 => {
                requeue(self);
                Verdict::Reauth(self.error("deleting replaced pages", &r))
            }
            // Done, already gone, or failed: best effort, as the commit drops every file that
            // is not in pageOrder anyway.
            _ => Verdict::Continue,
        }
    }

    pub(super) fn handle_commit(&mut self, outcome: Outcome) -> Verdict {
        let resp = match outcome {
            Outcome::Network(detail) => {
                self.commit_lost = true;
                return network_retry(PROVIDER, "commit", &detail);
            }
            Outcome::Response(r) => r,
        };
        if resp.is_success() {
            // The provider's own answer, passed through as it is.
            let json = match object::<Json>(&resp.body) {
                Some(j) => j,
                // The chapter exists: failing now would only make the caller upload it twice.
                _ => codec::to_json(&CommitFallback { result: "ok", session_id: self.session_id.as_deref().unwrap_or_default() }),
            };
            self.phase = Phase::Done(json);
            return Verdict::Continue;
        }
        if (resp.status == 404 || resp.status == 410) && self.commit_lost && self.params.edit.is_none() {
            // The session is gone after a commit whose answer was lost: most likely the chapter
            // exists. Find it rather than guess.
            self.phase = Phase::FindChapter(0);
            return Verdict::Continue;
        }
        if resp.status == 404 || resp.status == 410 {
            let msg = if self.commit_lost {
                "the commit's answer was lost and the upload session is gone: the chapter was most likely created; \
                 check the manga's chapters before uploading it again"
            } else {
                "the upload session is gone (expired, or abandoned elsewhere)"
            };
            return self.fail(UploadError::new(ErrorCode::SessionExpired, PROVIDER, msg).with_status(resp.status));
        }
        if resp.status >= 500 {
            self.commit_lost = true;
        }
        if let Some(v) = self.common("commit", &resp) {
            return v;
        }
        let mut e = self.error("commit", &resp);
        if server_message(&resp.body).is_some_and(|m| m.to_ascii_lowercase().contains("terms")) && !self.params.terms_accepted {
            e.message.push_str(" (set termsAccepted: true once the user has accepted MangaDex's terms)");
        }
        self.fail(e)
    }

    fn batch_request(&mut self, sid: &str) -> Option<Request> {
        let picked: Vec<usize> =
            (0..self.pages.len()).filter(|&i| self.pages[i].state == PageState::Pending).take(self.params.batch_size).collect();
        if picked.is_empty() {
            return None;
        }
        let parts = picked
            .iter()
            .enumerate()
            .map(|(j, &i)| {
                let p = &self.pages[i];
                Part::File {
                    name: format!("file{j}"),
                    filename: p.name.clone(),
                    content_type: p.kind.mime().into(),
                    slice: Slice { file: i, start: 0, end: p.size },
                }
            })
            .collect();
        for &i in &picked {
            self.pages[i].state = PageState::Sending;
        }
        self.batches_in_flight += 1;
        Some(self.request(Method::Post, &format!("/upload/{sid}"), Kind::Batch).body(Body::Multipart(parts)))
    }

    fn delete_request(&mut self, sid: &str) -> Request {
        let ids = std::mem::take(&mut self.deletes);
        if let [one] = ids.as_slice() {
            return self.request(Method::Delete, &format!("/upload/{sid}/{one}"), Kind::Delete);
        }
        self.request(Method::Delete, &format!("/upload/{sid}/batch"), Kind::Delete).body(Body::json(codec::encode(&ids)))
    }

    pub(super) fn commit_request(&self, sid: &str) -> Request {
        let body = Commit {
            chapter_draft: &self.params.draft,
            page_order: self
                .pages
                .iter()
                .map(|p| match &p.state {
                    PageState::Stored(id) => Some(id.as_str()),
                    _ => None,
                })
                .collect(),
            terms_accepted: self.params.terms_accepted.then_some(true),
        };
        self.request(Method::Post, &format!("/upload/{sid}/commit"), Kind::Commit).body(Body::json(codec::encode(&body)))
    }

    pub(super) fn next_upload(&mut self) -> Next {
        let Some(sid) = self.session_id.clone() else {
            self.phase = Phase::Begin;
            return self.next();
        };
        if self.control_in_flight {
            // A delete may run beside batches; nothing else does.
            return match self.batch_if_free(&sid) {
                Some(r) => Next::Send(r),
                None => Next::Wait,
            };
        }
        if self.resync {
            if self.batches_in_flight > 0 {
                return Next::Wait;
            }
            self.control_in_flight = true;
            return Next::Send(self.request(Method::Get, "/upload?includes[]=upload_session_file", Kind::Resync));
        }
        if !self.deletes.is_empty() {
            self.control_in_flight = true;
            return Next::Send(self.delete_request(&sid));
        }
        if let Some(r) = self.batch_if_free(&sid) {
            return Next::Send(r);
        }
        if self.batches_in_flight == 0 && self.stored() == self.pages.len() {
            self.phase = Phase::Commit;
            return self.next();
        }
        Next::Wait
    }

    fn batch_if_free(&mut self, sid: &str) -> Option<Request> {
        if self.resync || self.batches_in_flight >= self.params.concurrency {
            return None;
        }
        self.batch_request(sid)
    }
}
