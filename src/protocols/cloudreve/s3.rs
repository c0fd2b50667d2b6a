//! S3-like policies (S3, KS3, COS, OSS, OBS): presigned part PUTs in parallel, ETags collected,
//! the multipart upload completed with `completeURL`.

use super::wire::{completion_xml, envelope_verdict, http_verdict, parse_envelope, proto_err, xml_field, Route};
use super::{Cloudreve, Kind, Part, Phase, Probe, S3Flavor, SessionInfo, Transfer, PROVIDER};
use crate::core::{status_error, text, truncate, Body, ErrorCode, Json, Method, Outcome, Request, Response, Slice, UploadError};
use crate::protocols::{network_retry, Verdict};

impl Cloudreve {
    pub(super) fn part_request(&self, s: &SessionInfo, i: usize) -> Request {
        let (start, end) = self.range(i as u64);
        let url = s.upload_urls.get(i).cloned().unwrap_or_default();
        Request::new(Method::Put, url)
            .tag(Kind::Chunk(i as u64).tag())
            .header("Content-Type", "application/octet-stream")
            .body(Body::Slice(Slice { file: 0, start, end }))
    }

    pub(super) fn handle_part(&mut self, i: usize, outcome: Outcome) -> Verdict {
        let what = format!("part {}", i + 1);
        let flavor = match &self.phase {
            Phase::Upload(Transfer::Parts { flavor, parts }) if matches!(parts.get(i), Some(Part::InFlight)) => *flavor,
            _ => return Verdict::Continue, // stale
        };
        let resp = match outcome {
            Outcome::Network(d) => {
                self.set_part(i, Part::Pending);
                return network_retry(PROVIDER, &what, &d);
            }
            Outcome::Response(r) => r,
        };
        if resp.is_success() {
            let etag = resp.header("etag").unwrap_or("");
            // OSS completes with `x-oss-complete-all` and needs no ETag (its CORS rule, as
            // Cloudreve sets it, exposes none).
            let oss = flavor == S3Flavor::Oss;
            if !(oss && etag.is_empty()) && (etag.is_empty() || etag.len() > 1024 || etag.chars().any(char::is_control)) {
                return self.fail(
                    proto_err(format!(
                        "{what}: the storage answered without a readable ETag header (the bucket's CORS rules must list ETag in Access-Control-Expose-Headers)"
                    ))
                    .with_status(resp.status),
                );
            }
            let (start, end) = self.range(i as u64);
            self.confirmed += end - start;
            self.set_part(i, Part::Done(etag.to_string()));
            return Verdict::Continue;
        }
        self.set_part(i, Part::Pending);
        match resp.status {
            404 => {
                let e = storage_error(status_error(PROVIDER, &what, &resp), ErrorCode::SessionExpired, &resp.body, false, " (the multipart upload is gone)");
                self.fail(e)
            }
            403 => {
                let note = " (the bucket refused the presigned part URL: expired, or a signature mismatch)";
                let mut e = storage_error(status_error(PROVIDER, &what, &resp), ErrorCode::Auth, &resp.body, false, note);
                if says_expired(&resp) {
                    // "Request has expired": the URLs are signed for the session's lifetime, so
                    // the session has expired. The file check tells whether it can be replaced;
                    // if not, the upload failed because its session expired, not for a refused
                    // credential of the user's.
                    e.code = ErrorCode::SessionExpired;
                    self.probe_chunk_gone(Some(e));
                    return Verdict::Continue;
                }
                self.fail(e)
            }
            _ => {
                let v = http_verdict(&what, &resp, Route::Node);
                self.apply(v)
            }
        }
    }

    fn set_part(&mut self, i: usize, state: Part) {
        if let Phase::Upload(Transfer::Parts { parts, .. }) = &mut self.phase {
            if let Some(p) = parts.get_mut(i) {
                *p = state;
            }
        }
    }

    pub(super) fn complete_request(&self, s: &SessionInfo, flavor: S3Flavor, etags: &[String]) -> Request {
        let url = s.complete_url.clone().unwrap_or_default();
        let req = Request::new(Method::Post, url).tag(Kind::Complete.tag());
        match flavor {
            S3Flavor::Oss => req
                .header("Content-Type", "application/octet-stream")
                .header("x-oss-forbid-overwrite", "true")
                .header("x-oss-complete-all", "yes"),
            _ => {
                let xml = completion_xml(etags);
                let req = req.body(Body::Text { content_type: "application/octet-stream".into(), text: xml });
                let req = req.header("Content-Type", "application/octet-stream");
                if flavor == S3Flavor::Cos {
                    req.header("x-cos-forbid-overwrite", "true")
                } else {
                    req
                }
            }
        }
    }

    pub(super) fn handle_complete(&mut self, flavor: S3Flavor, outcome: Outcome) -> Verdict {
        let what = "multipart completion";
        let resp = match outcome {
            Outcome::Network(d) => {
                self.final_maybe_done = true;
                return network_retry(PROVIDER, what, &d);
            }
            Outcome::Response(r) => r,
        };
        let after_complete = |me: &mut Self, data: &Json| -> Verdict {
            me.final_maybe_done = false;
            if flavor.client_callback() {
                me.phase = Phase::Callback;
                Verdict::Continue
            } else {
                me.done(data)
            }
        };
        match resp.status {
            200 => {
                // S3 may answer 200 and put an error in the body.
                if let Some(code) = xml_field(&resp.body, "Code").filter(|_| text::contains(&resp.body, "<Error>")) {
                    let msg = xml_field(&resp.body, "Message").unwrap_or_default();
                    let e = UploadError::new(ErrorCode::Http, PROVIDER, format!("{what} failed: {code} {}", truncate(&msg, 300))).with_status(200);
                    if matches!(code.as_str(), "InternalError" | "SlowDown" | "ServiceUnavailable" | "RequestTimeout") {
                        self.final_maybe_done = true;
                        return Verdict::Retry { error: e.retryable(true), retry_after: None };
                    }
                    return self.fail(e);
                }
                // OSS and OBS put Cloudreve's callback answer in the body.
                match parse_envelope(&resp.body) {
                    Some(env) if env.code != 0 => {
                        let v = envelope_verdict("storage callback to Cloudreve", resp.status, &env, Route::Callback);
                        self.apply(v)
                    }
                    Some(env) => after_complete(self, &env.data),
                    None => after_complete(self, &Json::Null),
                }
            }
            404 if self.final_maybe_done => {
                // NoSuchUpload after a lost answer: the earlier attempt completed it.
                if flavor.client_callback() {
                    after_complete(self, &Json::Null)
                } else {
                    self.phase = Phase::Verify;
                    Verdict::Continue
                }
            }
            404 => {
                let e = storage_error(status_error(PROVIDER, what, &resp), ErrorCode::SessionExpired, &resp.body, false, "");
                self.fail(e)
            }
            s if (200..300).contains(&s) => {
                // OSS answers 203 when its callback to Cloudreve failed.
                let mut e = status_error(PROVIDER, what, &resp);
                e.message = format!("{what}: the storage could not call Cloudreve back (HTTP {s})");
                let code = e.code;
                self.fail(storage_error(e, code, &resp.body, false, ""))
            }
            403 if says_expired(&resp) => {
                // "Request has expired": `completeURL` is presigned for the session's lifetime
                // (like the part URLs), so the session expired before the upload was finished.
                // The file check tells whether it is this upload's to replace.
                let note = " (the presigned completion URL expired with the upload session)";
                let e = storage_error(status_error(PROVIDER, what, &resp), ErrorCode::SessionExpired, &resp.body, false, note);
                self.phase = Phase::Probe { check: Probe::Finish, gone: Some(e) };
                Verdict::Continue
            }
            400 => {
                let e = storage_error(status_error(PROVIDER, what, &resp), ErrorCode::Protocol, &resp.body, true, "");
                self.fail(e)
            }
            s => {
                if s >= 500 {
                    self.final_maybe_done = true;
                }
                let v = http_verdict(what, &resp, Route::Node);
                self.apply(v)
            }
        }
    }
}

/// The storage's refusal of `what`: its status error as `code`, with the S3-style XML `Message`
/// (or, with `or_code`, its `Code`) appended, then `note`.
fn storage_error(mut e: UploadError, code: ErrorCode, body: &str, or_code: bool, note: &str) -> UploadError {
    e.code = code;
    let m = xml_field(body, "Message").or_else(|| xml_field(body, "Code").filter(|_| or_code));
    if let Some(m) = m {
        e.message.push_str(": ");
        e.message.push_str(&m);
    }
    e.message.push_str(note);
    e
}

/// A 403 whose XML `Message` says "Request has expired": the presigned URL expired with the session.
fn says_expired(resp: &Response) -> bool {
    xml_field(&resp.body, "Message").is_some_and(|m| text::contains(&m.to_ascii_lowercase(), "expired"))
}
