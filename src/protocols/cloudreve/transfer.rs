//! The steps every upload shares and those that go through Cloudreve itself: requests to its
//! API, ending the protocol, chunk ranges and the result; the create call; local/relay chunks
//! and remote-node chunks; Cloudreve's callback after an S3-like or OneDrive upload; and the
//! file check after the session ended with the last step's answer lost.

use super::wire::{chunk_count, envelope_verdict, http_verdict, parse_envelope, parse_session, proto_err, valid_session_id, verdict_error, Route};
use crate::core::JsonExt as _;
use super::{Cloudreve, Kind, Part, Phase, PolicyKind, Probe, SessionInfo, Transfer, PROVIDER, UPLOAD_SESSION_METADATA};
use crate::core::url::{encode_component, join};
use crate::core::{Body, ErrorCode, Json, Method, Outcome, Request, Response, Slice, UploadError};
use crate::protocols::{network_retry, Verdict};

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

    fn result(&self, data: &Json) -> Json {
        let mut out = match data {
            Json::Object(_) => data.clone(),
            Json::Null => Json::object(),
            other => Json::object().with("data", other.clone()),
        };
        if let Some(s) = &self.session {
            out.set("uri", Json::String(s.uri.clone()));
            out.set("sessionId", Json::String(s.session_id.clone()));
            out.set("policyType", Json::String(s.policy_type.clone()));
        }
        out
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

    /// An answer from Cloudreve's API (or a node): `Ok(data)` for code 0, else the verdict.
    pub(super) fn envelope_reply(&mut self, what: &str, resp: &Response, route: Route) -> Result<Json, Verdict> {
        match parse_envelope(&resp.body) {
            Some(env) if env.code == 0 && resp.is_success() => Ok(env.data),
            Some(env) if env.code == 0 => Err(http_verdict(what, resp, route)),
            Some(env) => Err(envelope_verdict(what, resp.status, &env, route)),
            None if resp.is_success() => Err(Verdict::Fail(
                proto_err(format!("{what}: the answer is not a Cloudreve API response (is endpoint the Cloudreve site?)")).with_status(resp.status),
            )),
            None => Err(http_verdict(what, resp, route)),
        }
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
            Ok(d) => d,
            Err(v) => {
                if resp.status >= 500 {
                    self.phase = Phase::Create { maybe_received: true };
                }
                let code = parse_envelope(&resp.body).map(|x| x.code);
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
        let session_id = data.get("session_id").and_then(Json::as_str).unwrap_or("");
        if !valid_session_id(session_id) {
            return self.fail(proto_err("the upload session answer has no usable session_id").with_status(resp.status));
        }
        // Known from here on: even if the rest is unusable, cleanup can delete the session.
        let provisional = SessionInfo {
            session_id: session_id.to_string(),
            policy_type: String::new(),
            kind: PolicyKind::Local,
            chunk_size: 0,
            expires: None,
            upload_urls: Vec::new(),
            credential: None,
            complete_url: None,
            callback_secret: None,
            uri: data.get("uri").and_then(Json::as_str).filter(|u| u.starts_with("cloudreve://")).unwrap_or(&self.uri).to_string(),
            concurrency: 1,
        };
        self.session = Some(provisional);
        let info = match parse_session(&data, session_id, &self.uri, &self.endpoint, self.total) {
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
            Err(v) => {
                let enveloped = parse_envelope(&resp.body).is_some();
                let expired_sign = route == Route::Node
                    && parse_envelope(&resp.body).is_some_and(|e| matches!(e.code, 40071 | 40005) && format!("{} {}", e.msg, e.error).to_ascii_lowercase().contains("expired"));
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
            Err(v) => {
                if Self::is_session_gone(&v) && parse_envelope(&resp.body).is_some_and(|e| e.code == 40011) {
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
                if parse_envelope(&resp.body).is_some() {
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
        let incomplete = |status: u16| {
            UploadError::new(
                ErrorCode::SessionExpired,
                PROVIDER,
                "the upload session ended before the file was complete (it expired or was cancelled)",
            )
            .with_status(status)
        };
        match self.envelope_reply(what, &resp, Route::Api) {
            Ok(data) => {
                let sid = self.session.as_ref().map(|s| s.session_id.clone()).unwrap_or_default();
                let size = data.get("size").and_then(Json::as_u64);
                let still_uploading = data.get("metadata").and_then(|m| m.get(UPLOAD_SESSION_METADATA)).and_then(Json::as_str) == Some(sid.as_str());
                let is_file = data.get("type").and_then(Json::as_f64).is_none_or(|t| t == 0.0);
                if size == Some(self.total) && !still_uploading && is_file {
                    self.done(&Json::object().with("file", data))
                } else {
                    // Known incomplete: deleting the session now only removes its placeholder.
                    self.final_maybe_done = false;
                    self.fail(incomplete(resp.status))
                }
            }
            Err(Verdict::Fail(e)) if matches!(e.code, ErrorCode::Http | ErrorCode::InvalidInput | ErrorCode::SessionExpired) => {
                // Not found (40016, 40044, 404) or similar: nothing completed there.
                let mut ie = incomplete(resp.status);
                ie.message.push_str(&format!(" ({})", e.message));
                self.final_maybe_done = false;
                self.fail(ie)
            }
            Err(v) => self.apply(v),
        }
    }
}
