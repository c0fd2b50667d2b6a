//! OneDrive policies: `Content-Range` PUTs to the Graph upload URL, a status query when an
//! answer was lost or a fragment overlapped, then Cloudreve's callback.

use super::wire::proto_err;
use super::{Cloudreve, Kind, Phase, SessionInfo, Transfer, PROVIDER};
use crate::core::codec;
use crate::core::retry::{parse_retry_after, status_is_retryable};
use crate::core::{status_error, truncate, Body, ErrorCode, Json, Method, Outcome, Request, Slice, UploadError};
use crate::protocols::{network_retry, Verdict};
use serde::Deserialize;

/// The Graph upload session's state (`uploadSession` resource): which bytes it still needs.
#[derive(Deserialize)]
struct UploadStatus {
    #[serde(rename = "nextExpectedRanges")]
    next_expected_ranges: Vec<String>,
}

impl Cloudreve {
    pub(super) fn onedrive_request(&self, s: &SessionInfo, offset: u64, query: bool) -> Request {
        let url = s.upload_urls.first().cloned().unwrap_or_default();
        if query {
            return Request::new(Method::Get, url).tag(Kind::Query.tag());
        }
        let start = offset.min(self.total);
        let end = if s.chunk_size == 0 { self.total } else { start.saturating_add(s.chunk_size).min(self.total) };
        Request::new(Method::Put, url)
            .tag(Kind::Chunk(start).tag())
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("bytes {}-{}/{}", start, end.saturating_sub(1), self.total))
            .body(Body::Slice(Slice { file: 0, start, end }))
    }

    /// `nextExpectedRanges[0]`'s start, e.g. `"26-"` or `"26-99"`.
    /// None when the body does not list them.
    fn next_expected(body: &str) -> Option<Option<u64>> {
        let status = codec::decode::<UploadStatus>(body).ok()?;
        match status.next_expected_ranges.first() {
            None => Some(None),
            Some(s) => {
                let start = s.split_once('-').map_or(s.as_str(), |(a, _)| a).trim();
                if start.is_empty() || !start.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some(Some(start.parse().ok()?))
            }
        }
    }

    /// Ask the upload URL which bytes it holds before sending more.
    fn onedrive_query(&mut self) {
        if let Phase::Upload(Transfer::OneDrive { query, .. }) = &mut self.phase {
            *query = true;
        }
    }

    fn onedrive_all_received(&mut self) -> Verdict {
        self.confirmed = self.total;
        self.final_maybe_done = false;
        self.phase = Phase::Callback;
        Verdict::Continue
    }

    fn onedrive_offset(&mut self, next: u64) -> Verdict {
        if next > self.total {
            return self.fail(proto_err("OneDrive expects bytes beyond the end of the file"));
        }
        if let Phase::Upload(Transfer::OneDrive { offset, query }) = &mut self.phase {
            *offset = next;
            *query = false;
        }
        self.confirmed = next;
        Verdict::Continue
    }

    pub(super) fn handle_onedrive(&mut self, req: &Request, query: bool, outcome: Outcome) -> Verdict {
        let what = if query { "OneDrive status query" } else { "OneDrive chunk" };
        let Phase::Upload(Transfer::OneDrive { offset, .. }) = self.phase else {
            return Verdict::Continue;
        };
        let end = match &req.body {
            Body::Slice(s) => s.end,
            _ => offset,
        };
        let resp = match outcome {
            Outcome::Network(d) => {
                if !query {
                    if end == self.total {
                        self.final_maybe_done = true;
                    }
                    self.onedrive_query();
                }
                return network_retry(PROVIDER, what, &d);
            }
            Outcome::Response(r) => r,
        };
        // Graph's error body `{error: {code, message}}` is open-ended (a provider's error body):
        // its message, when there is one, goes into ours.
        let graph_message = || {
            let body = codec::decode::<Json>(&resp.body).ok()?;
            body.get("error").and_then(|e| e.get("message")).and_then(Json::as_str).map(|m| truncate(m, 300))
        };
        match resp.status {
            200 | 201 if !query => self.onedrive_all_received(),
            202 if !query => match Self::next_expected(&resp.body) {
                Some(Some(next)) => self.onedrive_offset(next),
                Some(None) => {
                    self.onedrive_query();
                    Verdict::Continue
                }
                None => self.onedrive_offset(end),
            },
            200 if query => match Self::next_expected(&resp.body) {
                Some(Some(next)) => self.onedrive_offset(next),
                Some(None) => self.onedrive_all_received(),
                None => self.fail(proto_err("the OneDrive status has no readable nextExpectedRanges")),
            },
            404 => {
                if self.final_maybe_done {
                    // The session closes once the last byte is stored: let Cloudreve check.
                    return self.onedrive_all_received();
                }
                let mut e = UploadError::new(ErrorCode::SessionExpired, PROVIDER, format!("{what}: the OneDrive upload session is gone"))
                    .with_status(404);
                if let Some(m) = graph_message() {
                    e.message.push_str(" (");
                    e.message.push_str(&m);
                    e.message.push(')');
                }
                // Gone with Cloudreve's session (expired or cancelled)? The file check tells.
                self.probe_chunk_gone(Some(e));
                Verdict::Continue
            }
            409 | 416 if !query => {
                // Overlapping fragment: ask OneDrive what it still needs.
                self.onedrive_query();
                Verdict::Continue
            }
            401 | 403 => {
                // The upload URL is its own credential (like a presigned part URL): refused, and
                // no user token can renew it.
                let e = UploadError::new(ErrorCode::Auth, PROVIDER, format!("{what}: the OneDrive upload URL was refused (expired?)"))
                    .with_status(resp.status);
                self.fail(e)
            }
            s if status_is_retryable(s) => {
                if !query {
                    if end == self.total && s >= 500 {
                        self.final_maybe_done = true;
                    }
                    self.onedrive_query();
                }
                let mut e = status_error(PROVIDER, what, &resp);
                if let Some(m) = graph_message() {
                    e.message.push_str(": ");
                    e.message.push_str(&m);
                }
                let retry_after = resp.header("retry-after").and_then(parse_retry_after);
                if s == 429 {
                    Verdict::Throttled { error: e, retry_after }
                } else {
                    Verdict::Retry { error: e, retry_after }
                }
            }
            _ => {
                let mut e = status_error(PROVIDER, what, &resp);
                if let Some(m) = graph_message() {
                    e.message.push_str(": ");
                    e.message.push_str(&m);
                }
                self.fail(e)
            }
        }
    }
}
