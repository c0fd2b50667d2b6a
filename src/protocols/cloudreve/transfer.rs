//! The steps every upload shares and those that go through Cloudreve itself: requests to its
//! API, ending the protocol, chunk ranges and the result; the create call; local/relay chunks
//! and remote-node chunks; Cloudreve's callback after an S3-like or OneDrive upload; and the
//! file check after the session ended with the last step's answer lost.

use super::wire::{
    check_session, chunk_count, data_as, envelope_text, envelope_verdict, http_verdict, parse_envelope, proto_err, valid_session_id, verdict_error,
    Envelope, Refusal, Route, SessionData, MALFORMED_SESSION,
};
use super::{Cloudreve, Kind, Part, Phase, PolicyKind, Probe, SessionInfo, Transfer, PROVIDER};
use crate::core::codec;
use crate::core::url::{encode_component, join};
use crate::core::{Body, ErrorCode, Json, Method, Outcome, Request, Response, Slice, UploadError};
use crate::protocols::{network_retry, Verdict};
use serde::Deserialize;

/// What the file check reads of `GET /api/v4/file/info` (`service/explorer/response.go`
/// `FileResponse`); the answer itself is handed on as the result's `file`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct FileData {
    /// 0 = file, 1 = folder.
    #[serde(rename = "type")]
    pub kind: Option<i64>,
    pub size: Option<u64>,
    pub metadata: Option<FileMetadata>,
}

/// The file's metadata, as far as the upload reads it.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct FileMetadata {
    /// [`super::UPLOAD_SESSION_METADATA`]: set while an upload session writes the file.
    #[serde(rename = "sys:upload_session_id")]
    pub upload_session_id: Option<String>,
}

impl FileData {
    pub(super) fn is_file(&self) -> bool {
        self.kind.is_none_or(|t| t == 0)
    }
    /// The upload session the file records, if any.
    pub(super) fn session(&self) -> Option<&str> {
        self.metadata.as_ref().and_then(|m| m.upload_session_id.as_deref())
    }
}

/// What is said of a file check whose answer has fields of unexpected types.
pub(super) fn malformed_file(what: &str, status: u16) -> UploadError {
    proto_err(format!("{what}: the file's fields have unexpected types")).with_status(status)
}

/// The result's `file`: Cloudreve's own description of the file, as it sent it.
pub(super) fn with_file(data: Json) -> Json {
    crate::core::json::object(vec![("file", Some(data))])
}

impl Cloudreve {
    pub(super) fn api(&self, method: Method, path: &str) -> Request {
        let mut r = Request::new(method, join(&self.endpoint, path)).bearer(&self.token);
        if let Some(t) = &self.purchase_ticket {
            r = r.header("X-Cr-Purchase-Ticket", t.clone());
        }
        r
    }

    pub(super) fn fail(&mut self, e: UploadError) -> Verdict {
        self.phase = Phase::Failed(e.clone());
        Verdict::Fail(e)
    }

    /// A verdict from the mapping: a Fail also ends the protocol.
    pub(super) fn apply(&mut self, v: Verdict) -> Verdict {
        match v {
            Verdict::Fail(e) => self.fail(e),
            v => v,
        }
    }

    pub(super) fn range(&self, index: u64) -> (u64, u64) {
        let cs = self.session.as_ref().map_or(0, |s| s.chunk_size);
        if cs == 0 {
            return (0, self.total);
        }
        let start = index.saturating_mul(cs).min(self.total);
        (start, start.saturating_add(cs).min(self.total))
    }

    /// Cloudreve's answer (open-ended: handed to the page as it is), with the session's uri,
    /// id and policy type.
    fn result(&self, data: &Json) -> Json {
        let mut out = match data {
            Json::Object(map) => map.clone(),
            Json::Null => crate::core::json::Map::new(),
            other => {
                let mut map = crate::core::json::Map::new();
                map.insert("data".into(), other.clone());
                map
            }
        };
        if let Some(s) = &self.session {
            out.insert("uri".into(), Json::String(s.uri.clone()));
            out.insert("sessionId".into(), Json::String(s.session_id.clone()));
            out.insert("policyType".into(), Json::String(s.policy_type.clone()));
        }
        Json::Object(out)
    }

    pub(super) fn done(&mut self, data: &Json) -> Verdict {
        self.confirmed = self.total;
        self.final_maybe_done = false;
        self.phase = Phase::Done(self.result(data));
        Verdict::Continue
    }

    /// The session is gone (40011). If the last step may have succeeded, check the file.
    fn gone(&mut self, v: Verdict) -> Verdict {
        if self.final_maybe_done {
            self.phase = Phase::Verify;
            return Verdict::Continue;
        }
        self.apply(v)
    }

    /// An answer from Cloudreve's API (or a node), decoded once: `Ok(data)` (open-ended; the
    /// caller decodes it into its answer type) for code 0, else the verdict (with the
    /// envelope's code and words, when it was one). Not generic: one copy for every answer.
    pub(super) fn envelope_reply(&self, what: &str, resp: &Response, route: Route) -> Result<Json, Refusal> {
        let refused = |verdict: Verdict, env: Option<&Envelope>| Refusal { verdict, code: env.map(|e| e.code), text: env.map(envelope_text).unwrap_or_default() };
        let mut env = match parse_envelope(&resp.body) {
            Some(env) => env,
            None if resp.is_success() => {
                let e = proto_err(format!("{what}: the answer is not a Cloudreve API response (is endpoint the Cloudreve site?)"));
                return Err(refused(Verdict::Fail(e.with_status(resp.status)), None));
            }
            None => return Err(refused(http_verdict(what, resp, route), None)),
        };
        if env.code != 0 {
            return Err(refused(envelope_verdict(what, resp.status, &env, route), Some(&env)));
        }
        if !resp.is_success() {
            return Err(refused(http_verdict(what, resp, route), Some(&env)));
        }
        Ok(std::mem::take(&mut env.data))
    }

    fn is_session_gone(v: &Verdict) -> bool {
        matches!(v, Verdict::Fail(e) if e.code == ErrorCode::SessionExpired)
    }

    // ---- create ------------------------------------------------------------------------

    pub(super) fn handle_create(&mut self, outcome: Outcome) -> Verdict {
        let what = "upload session creation";
        let resp = match outcome {
            Outcome::Network(d) => {
                self.phase = Phase::Create { maybe_received: true };
                return network_retry(PROVIDER, what, &d);
            }
            Outcome::Response(r) => r,
        };
        let data = match self.envelope_reply(what, &resp, Route::Api) {
            // No data (null or missing) is an empty answer, caught below as having no session id.
            Ok(loose) => match data_as::<SessionData>(&loose) {
                Ok(d) => d,
                Err(_) => {
                    // Fields of unexpected types: if the session id reads, keep it so that
                    // cleanup can delete the session (read from the answer as open-ended JSON:
                    // it failed to decode as a session).
                    if let Some(sid) = loose.get("session_id").and_then(Json::as_str).filter(|s| valid_session_id(s)) {
                        self.session = Some(SessionInfo::provisional(sid.to_string(), self.uri.clone()));
                    }
                    return self.fail(proto_err(MALFORMED_SESSION).with_status(resp.status));
                }
            },
            Err(Refusal { verdict: v, code, .. }) => {
                if resp.status >= 500 {
                    self.phase = Phase::Create { maybe_received: true };
                }
                if matches!(self.phase, Phase::Create { maybe_received: true }) && matches!(code, Some(40004 | 40073)) {
                    // An earlier attempt whose answer was lost may have created a session: its
                    // placeholder makes a plain create answer 40004 ("Object existed"), its lock
                    // makes a `version` create answer 40073. Find out whose it is.
                    self.phase = Phase::Probe { check: Probe::LostCreate, gone: verdict_error(&v) };
                    return Verdict::Continue;
                }
                return self.apply(v);
            }
        };
        let session_id = data.session_id.as_deref().unwrap_or("");
        if !valid_session_id(session_id) {
            return self.fail(proto_err("the upload session answer has no usable session_id").with_status(resp.status));
        }
        // Known from here on: even if the rest is unusable, cleanup can delete the session.
        let uri = data.uri.as_deref().filter(|u| u.starts_with("cloudreve://")).unwrap_or(&self.uri);
        self.session = Some(SessionInfo::provisional(session_id.to_string(), uri.to_string()));
        let info = match check_session(&data, session_id, &self.uri, &self.endpoint, self.total) {
            Ok(i) => i,
            Err(e) => return self.fail(e.with_status(resp.status)),
        };
        let count = chunk_count(self.total, info.chunk_size);
        let transfer = match info.kind {
            PolicyKind::S3(flavor) => Transfer::Parts { flavor, parts: vec![Part::Pending; count as usize] },
            PolicyKind::OneDrive => Transfer::OneDrive { offset: 0, query: false },
            PolicyKind::Local | PolicyKind::Remote => Transfer::Chunks { next: 0, count, resumed: false },
        };
        self.session = Some(info);
        self.phase = Phase::Upload(transfer);
        Verdict::Continue
    }

    // ---- local and remote chunks -------------------------------------------------------

    pub(super) fn chunk_request(&self, s: &SessionInfo, index: u64) -> Request {
        let (start, end) = self.range(index);
        let req = match s.kind {
            PolicyKind::Remote => {
                let base = s.upload_urls.first().cloned().unwrap_or_default();
                let sep = if base.contains('?') { '&' } else { '?' };
                // Exactly the session's credential; no X-Cr-* header (the node signs them).
                Request::new(Method::Post, format!("{base}{sep}chunk={index}"))
                    .header("Authorization", s.credential.clone().unwrap_or_default())
            }
            _ => self.api(Method::Post, &format!("/api/v4/file/upload/{}/{index}", s.session_id)),
        };
        req.tag(Kind::Chunk(index).tag())
            .header("Content-Type", "application/octet-stream")
            .body(Body::Slice(Slice { file: 0, start, end }))
    }

    pub(super) fn handle_chunk(&mut self, index: u64, outcome: Outcome) -> Verdict {
        let Phase::Upload(Transfer::Chunks { next, count, .. }) = self.phase else {
            return Verdict::Continue;
        };
        if index != next {
            return Verdict::Continue; // stale
        }
        let is_last = index + 1 >= count;
        let route = match self.session.as_ref().map(|s| s.kind) {
            Some(PolicyKind::Remote) => Route::Node,
            _ => Route::Api,
        };
        let what = format!("chunk {index}");
        let resp = match outcome {
            Outcome::Network(d) => {
                if is_last {
                    self.final_maybe_done = true;
                }
                return network_retry(PROVIDER, &what, &d);
            }
            Outcome::Response(r) => r,
        };
        match self.envelope_reply(&what, &resp, route) {
            Ok(data) => {
                let (_, end) = self.range(index);
                self.confirmed = end;
                if let Phase::Upload(Transfer::Chunks { next, resumed, .. }) = &mut self.phase {
                    *next += 1;
                    *resumed = false;
                }
                if is_last {
                    return self.done(&data);
                }
                Verdict::Continue
            }
            Err(Refusal { verdict: v, code, text }) => {
                let enveloped = code.is_some();
                let expired_sign = route == Route::Node && matches!(code, Some(40071 | 40005)) && crate::core::text::contains(&text, "expired");
                if expired_sign {
                    // The node's credential expires with the session ("sign expired"): the
                    // session has most likely expired. The file check tells; if it does not
                    // record this session, the refusal stands ('auth').
                    self.probe_chunk_gone(verdict_error(&v));
                    return Verdict::Continue;
                }
                if route == Route::Api && Self::is_session_gone(&v) {
                    // 40011 on Cloudreve's own chunk route: the session is gone (expired,
                    // cancelled, or completed by a chunk whose answer was lost), or the token
                    // expired (a JWT that does not parse makes the request anonymous, and the
                    // anonymous user owns no session: Cloudreve never answers 401 here). The
                    // file check tells which.
                    self.probe_chunk_gone(verdict_error(&v));
                    return Verdict::Continue;
                }
                if is_last && Self::is_session_gone(&v) {
                    return self.gone(v);
                }
                if enveloped {
                    // The server processed this attempt and the session still exists.
                    self.final_maybe_done = false;
                } else if is_last && resp.status >= 500 {
                    self.final_maybe_done = true;
                }
                self.apply(v)
            }
        }
    }

    // ---- callback and verification -----------------------------------------------------

    pub(super) fn callback_request(&self, s: &SessionInfo) -> Request {
        let secret = s.callback_secret.clone().unwrap_or_default();
        match s.kind {
            PolicyKind::OneDrive => self.api(Method::Post, &format!("/api/v4/callback/onedrive/{}/{secret}", s.session_id)),
            PolicyKind::S3(f) => self.api(Method::Get, &format!("/api/v4/callback/{}/{}/{secret}", f.name(), s.session_id)),
            _ => self.api(Method::Get, "/api/v4/callback/unknown"),
        }
        .tag(Kind::Callback.tag())
    }

    pub(super) fn handle_callback(&mut self, outcome: Outcome) -> Verdict {
        let what = "upload callback";
        let resp = match outcome {
            Outcome::Network(d) => {
                self.final_maybe_done = true;
                return network_retry(PROVIDER, what, &d);
            }
            Outcome::Response(r) => r,
        };
        match self.envelope_reply(what, &resp, Route::Callback) {
            Ok(data) => self.done(&data),
            Err(Refusal { verdict: v, code, .. }) => {
                if Self::is_session_gone(&v) && code == Some(40011) {
                    // The session is gone (the callback route ignores the JWT and takes the user
                    // from the session, `middleware/auth.go` `uploadCallbackCheck`, so this is
                    // never the token): completed by an attempt whose answer was lost, or expired
                    // after the bytes were stored. The file check tells which.
                    self.phase = Phase::Probe { check: Probe::Finish, gone: verdict_error(&v) };
                    return Verdict::Continue;
                }
                if Self::is_session_gone(&v) {
                    return self.gone(v);
                }
                if code.is_some() {
                    self.final_maybe_done = false;
                } else if resp.status >= 500 {
                    self.final_maybe_done = true;
                }
                self.apply(v)
            }
        }
    }

    /// The file this upload writes: the session's normalised uri, else the requested one.
    pub(super) fn target(&self) -> &str {
        self.session.as_ref().map_or(self.uri.as_str(), |s| s.uri.as_str())
    }

    pub(super) fn verify_request(&self) -> Request {
        self.api(Method::Get, &format!("/api/v4/file/info?uri={}", encode_component(self.target()))).tag(Kind::Verify.tag())
    }

    pub(super) fn handle_verify(&mut self, outcome: Outcome) -> Verdict {
        let what = "file check after the session ended";
        let resp = match outcome {
            Outcome::Network(d) => return network_retry(PROVIDER, what, &d),
            Outcome::Response(r) => r,
        };
        match self.envelope_reply(what, &resp, Route::Api) {
            Ok(data) => {
                let Ok(file) = codec::from_json::<FileData>(&data) else {
                    return self.fail(malformed_file(what, resp.status));
                };
                let sid = self.session.as_ref().map(|s| s.session_id.as_str());
                let still_uploading = file.session().is_some() && file.session() == sid;
                if file.size == Some(self.total) && !still_uploading && file.is_file() {
                    self.done(&with_file(data))
                } else {
                    // Known incomplete: deleting the session now only removes its placeholder.
                    self.final_maybe_done = false;
                    let e = self.ended_incomplete(resp.status);
                    self.fail(e)
                }
            }
            Err(Refusal { verdict: Verdict::Fail(e), .. }) if matches!(e.code, ErrorCode::Http | ErrorCode::InvalidInput | ErrorCode::SessionExpired) => {
                // Not found (40016, 40044, 404) or similar: nothing completed there.
                let mut ie = self.ended_incomplete(resp.status);
                ie.message.push_str(" (");
                ie.message.push_str(&e.message);
                ie.message.push(')');
                self.final_maybe_done = false;
                self.fail(ie)
            }
            Err(r) => self.apply(r.verdict),
        }
    }
}
