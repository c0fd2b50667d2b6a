//! Cloudreve v4 upload sessions (sans-IO), plus the login helpers.
//! Wire details: shared/protocols/cloudreve-and-mangadex.md §1.
//!
//! `PUT /api/v4/file/upload` creates the session; the answer's storage policy says where the
//! bytes go:
//! - local (or any relayed policy): `POST /api/v4/file/upload/{id}/{index}`, in order, each chunk
//!   exactly `chunk_size` bytes but the last (Cloudreve completes by itself after the last chunk);
//! - remote (slave node): `POST {upload_urls[0]}?chunk={index}` with the session's `credential`
//!   as `Authorization`, never the user's token;
//! - S3, KS3, COS, OSS, OBS: one presigned `PUT` per part straight to the bucket (in parallel, up
//!   to `storage_policy.chunk_concurrency`), ETags collected, the multipart upload completed with
//!   `completeURL`, then Cloudreve's callback (S3, KS3, COS; OSS and OBS call back by themselves);
//! - OneDrive: `Content-Range` PUTs to the Graph upload URL, then Cloudreve's callback.
//!
//! Cloudreve answers with a JSON envelope `{code, msg, data}`, usually with HTTP 200 even for
//! errors: the code decides, see [`envelope_verdict`]. A retried chunk is re-sent at the same
//! index (Cloudreve overwrites at the offset). When the session is gone (40011) after an answer to
//! the last step was lost, the upload may have completed: the file is checked with
//! `GET /api/v4/file/info` before anything is concluded.
//!
//! Recovery (see [`Cloudreve::handle_probe`]): a 40011 on a local/relay chunk may mean an expired
//! access token (Cloudreve runs a request whose JWT does not parse as the anonymous user, whose
//! session lookup then fails) or an expired session; the file check tells them apart (401: get a
//! fresh token and send the chunk again; answered: the session is gone). The same check follows
//! a storage credential that expired with the session (an S3-like part or completion URL's 403
//! "Request has expired", a node's "sign expired", a OneDrive upload URL's 404) and Cloudreve's
//! callback answering 40011 after the bytes were stored. An expired session whose placeholder
//! still records it, and a session whose creation answer was lost (it holds the file's lock), are
//! deleted with the user's token and a new session is created, at most [`MAX_NEW_SESSIONS`]
//! times per upload; when that cannot be done, an expired session fails as `session-expired`.
//!
//! State: a [`Phase`] owns what only it needs (the transfer per policy family in `Upload`, the
//! ETags in `Complete`, the paused transfer and the session's end in `Probe`) and hands it on
//! with `std::mem::replace`; what lives across phases (the session, bytes confirmed, whether the
//! last step may have succeeded, renewals) stays on [`Cloudreve`].
//!
//! Files: `wire.rs` (envelopes, error mapping, XML, session parsing), `options.rs` (the caller's
//! options and the constructor), `transfer.rs` (shared steps, create, local/remote chunks,
//! callback, final check), `onedrive.rs`, `s3.rs`, `recovery.rs`, `auth.rs` (login helpers);
//! the [`Protocol`] impl is here.

mod auth;
mod onedrive;
mod options;
mod recovery;
mod s3;
mod transfer;
mod wire;

pub use auth::{accept_envelope, accept_login, accept_refresh, delete_session, login, login_2fa, login_flow, refresh_token, Login};
pub use options::{from_options, target_uri, HelperOptions, UploadParams};
pub use wire::{
    chunk_count, completion_xml, envelope_verdict, parse_envelope, parse_session, xml_field, Envelope, PolicyKind, Route, S3Flavor, SessionInfo,
};

use crate::core::codec;
use crate::core::{Body, Json, Method, Outcome, Request, UploadError};
use crate::protocols::{Next, Protocol, Verdict};
use serde::Deserialize;
use crate::core::json::object;
use wire::{delete_body, proto_err, text, valid_session_id};

pub const PROVIDER: &str = "cloudreve";
/// Parts in flight at once on S3-like policies when the policy does not say.
pub const DEFAULT_S3_CONCURRENCY: usize = 3;
/// Upper bound on parallel parts, whatever the policy says.
pub const MAX_CONCURRENCY: usize = 8;
/// More parts than any bucket accepts (S3: 10 000): a session asking for more is refused.
pub const MAX_PARTS: usize = 100_000;
/// The metadata key Cloudreve sets on a file while an upload session writes it.
pub const UPLOAD_SESSION_METADATA: &str = "sys:upload_session_id";

/// What a request was: carried in the core's `Request::tag` (kind in the top byte, the chunk's
/// number or first byte below it), converted only by [`Kind::tag`] and [`Kind::from_tag`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Create,
    /// Local/relay: the chunk's index; S3-like: the part's index; OneDrive: the fragment's first byte.
    Chunk(u64),
    Complete,
    Callback,
    Verify,
    /// OneDrive: the upload URL asked which bytes it holds.
    Query,
    Probe,
    Discard,
}

impl Kind {
    const SHIFT: u32 = 56;
    const LOW: u64 = (1 << Self::SHIFT) - 1;

    fn tag(self) -> u64 {
        let (kind, low) = match self {
            Kind::Create => (1, 0),
            Kind::Chunk(n) => (2, n & Self::LOW),
            Kind::Complete => (3, 0),
            Kind::Callback => (4, 0),
            Kind::Verify => (5, 0),
            Kind::Query => (6, 0),
            Kind::Probe => (7, 0),
            Kind::Discard => (8, 0),
        };
        kind << Self::SHIFT | low
    }

    fn from_tag(tag: u64) -> Option<Kind> {
        Some(match (tag >> Self::SHIFT, tag & Self::LOW) {
            (1, 0) => Kind::Create,
            (2, n) => Kind::Chunk(n),
            (3, 0) => Kind::Complete,
            (4, 0) => Kind::Callback,
            (5, 0) => Kind::Verify,
            (6, 0) => Kind::Query,
            (7, 0) => Kind::Probe,
            (8, 0) => Kind::Discard,
            _ => return None,
        })
    }
}

/// New sessions one upload may create after its session expired or after a lost answer to its
/// creation left a session holding the file's lock. Beyond this the upload fails (typed).
pub const MAX_NEW_SESSIONS: u32 = 2;

#[derive(Debug)]
enum Phase {
    /// `maybe_received`: a create call may have reached the server although its answer was lost.
    Create { maybe_received: bool },
    /// Sending the bytes; what has been sent is the policy's own.
    Upload(Transfer),
    /// S3-like: completing the multipart upload with the parts' ETags, in order.
    Complete { flavor: S3Flavor, etags: Vec<String> },
    Callback,
    Verify,
    /// `GET /api/v4/file/info`: whose session the file records, and whether the token still works.
    /// `gone`: what ended the session (40011 on a chunk, an expired storage credential, the
    /// create call's refusal), for messages.
    Probe { check: Probe, gone: Option<UploadError> },
    /// `DELETE /api/v4/file/upload` of this upload's own stale session, then a new session.
    Discard(String),
    Done(Json),
    Failed(UploadError),
}

/// How far the bytes went, per policy family.
#[derive(Debug)]
enum Transfer {
    /// Local, relay or remote node: chunks in order; `next` is the first chunk not confirmed.
    /// `resumed`: continuing a session from an earlier page, and no chunk has been accepted
    /// yet: if the session turns out to be gone, a fresh one is created.
    Chunks { next: u64, count: u64, resumed: bool },
    /// S3-like: presigned parts, in parallel.
    Parts { flavor: S3Flavor, parts: Vec<Part> },
    /// OneDrive: `offset` is the first byte the upload URL has not confirmed; `query`: ask it
    /// which bytes it holds before sending more.
    OneDrive { offset: u64, query: bool },
}

/// Why the file is being looked up, with what the check may hand back.
#[derive(Debug)]
enum Probe {
    /// The transfer that met the 40011 (or expired credential), continued if the token was it.
    ChunkGone(Transfer),
    LostCreate,
    Finish,
}

impl Probe {
    fn why(&self) -> ProbeFor {
        match self {
            Probe::ChunkGone(_) => ProbeFor::ChunkGone,
            Probe::LostCreate => ProbeFor::LostCreate,
            Probe::Finish => ProbeFor::Finish,
        }
    }
}

/// Why the file is being looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProbeFor {
    /// A local/relay chunk was answered 40011: expired token, or the session is gone?
    ChunkGone,
    /// Creating the session again met the file's lock or placeholder after a lost answer.
    LostCreate,
    /// The end of an S3-like or OneDrive upload found the session gone: the presigned
    /// completion URL answered 403 "Request has expired", or Cloudreve's callback 40011.
    Finish,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Pending,
    InFlight,
    Done(String),
}

#[derive(Debug)]
pub struct Cloudreve {
    endpoint: String,
    token: String,
    purchase_ticket: Option<String>,
    uri: String,
    total: u64,
    create_body: String,
    phase: Phase,
    in_flight: usize,
    session: Option<SessionInfo>,
    confirmed: u64,
    /// The last step (last chunk, completion, callback) may have succeeded without us knowing.
    final_maybe_done: bool,
    cleaned: bool,
    /// New sessions created so far after an expired session or a lost creation answer.
    renewals: u32,
}

/// What is said of the upload session: `session()` (with `confirmed`) and the resume record of
/// a local (or relayed) chunked session (with `nextChunk`), built by [`session_record`]. Read
/// back leniently: every field may be missing, and [`Cloudreve::restore`] says which one is
/// unusable.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SessionRecord {
    session_id: Option<String>,
    uri: Option<String>,
    policy_type: Option<String>,
    chunk_size: Option<u64>,
    /// What `session()` says; not used to resume, but a value of another type is still refused.
    #[serde(rename = "confirmed")]
    _confirmed: Option<u64>,
    next_chunk: Option<u64>,
    /// Unix seconds.
    expires: Option<u64>,
}

/// `{sessionId, uri, policyType, chunkSize, <key>: <value>, expires?}` (`key`: `confirmed` or
/// `nextChunk`), built as a value like the request bodies.
fn session_record(s: &SessionInfo, key: &str, value: u64) -> Json {
    object(vec![
        ("sessionId", text(&s.session_id)),
        ("uri", text(&s.uri)),
        ("policyType", text(&s.policy_type)),
        ("chunkSize", Some(s.chunk_size.into())),
        (key, Some(value.into())),
        ("expires", s.expires.map(Json::from)),
    ])
}

impl Protocol for Cloudreve {
    fn provider(&self) -> &'static str {
        PROVIDER
    }
    fn total(&self) -> u64 {
        self.total
    }
    fn confirmed(&self) -> u64 {
        match self.phase {
            Phase::Done(_) => self.total,
            _ => self.confirmed.min(self.total),
        }
    }
    fn max_parallel(&self) -> usize {
        match (&self.phase, &self.session) {
            (Phase::Upload(Transfer::Parts { .. }), Some(s)) => s.concurrency.clamp(1, MAX_CONCURRENCY),
            _ => 1,
        }
    }

    fn next(&mut self) -> Next {
        let kind = match &mut self.phase {
            Phase::Done(j) => return Next::Done(j.clone()),
            Phase::Failed(e) => return Next::Fail(e.clone()),
            Phase::Upload(Transfer::Parts { flavor, parts }) => {
                let limit = self.session.as_ref().map_or(1, |s| s.concurrency.max(1));
                match parts.iter().position(|p| *p == Part::Pending) {
                    Some(i) => {
                        if self.in_flight >= limit {
                            return Next::Wait;
                        }
                        if let Some(p) = parts.get_mut(i) {
                            *p = Part::InFlight;
                        }
                        Kind::Chunk(i as u64)
                    }
                    None if parts.contains(&Part::InFlight) => return Next::Wait,
                    None => {
                        let etags = std::mem::take(parts)
                            .into_iter()
                            .filter_map(|p| match p {
                                Part::Done(e) => Some(e),
                                _ => None,
                            })
                            .collect();
                        self.phase = Phase::Complete { flavor: *flavor, etags };
                        return self.next();
                    }
                }
            }
            _ if self.in_flight > 0 => return Next::Wait,
            Phase::Create { .. } => Kind::Create,
            Phase::Upload(Transfer::OneDrive { offset, query }) => {
                if *offset >= self.total {
                    *query = true;
                }
                if *query {
                    Kind::Query
                } else {
                    Kind::Chunk(*offset)
                }
            }
            Phase::Upload(Transfer::Chunks { next, count, .. }) => {
                if *next >= *count {
                    let _ = self.done(&Json::Null);
                    return self.next();
                }
                Kind::Chunk(*next)
            }
            Phase::Complete { .. } => Kind::Complete,
            Phase::Callback => Kind::Callback,
            Phase::Verify => Kind::Verify,
            Phase::Probe { .. } => Kind::Probe,
            Phase::Discard(_) => Kind::Discard,
        };
        match self.request(kind) {
            Ok(req) => {
                self.in_flight += 1;
                Next::Send(req)
            }
            Err(e) => {
                self.phase = Phase::Failed(e);
                self.next()
            }
        }
    }

    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        self.in_flight = self.in_flight.saturating_sub(1);
        if matches!(self.phase, Phase::Done(_) | Phase::Failed(_)) {
            return Verdict::Continue;
        }
        let Some(kind) = Kind::from_tag(req.tag) else {
            return Verdict::Continue; // not a request this upload sends
        };
        match (kind, &self.phase) {
            (Kind::Create, Phase::Create { .. }) => self.handle_create(outcome),
            (Kind::Chunk(n), Phase::Upload(Transfer::Parts { .. })) => self.handle_part(n as usize, outcome),
            (Kind::Chunk(_), Phase::Upload(Transfer::OneDrive { .. })) => self.handle_onedrive(req, false, outcome),
            (Kind::Chunk(n), Phase::Upload(Transfer::Chunks { .. })) => self.handle_chunk(n, outcome),
            (Kind::Query, Phase::Upload(Transfer::OneDrive { .. })) => self.handle_onedrive(req, true, outcome),
            (Kind::Complete, Phase::Complete { flavor, .. }) => {
                let flavor = *flavor;
                self.handle_complete(flavor, outcome)
            }
            (Kind::Callback, Phase::Callback) => self.handle_callback(outcome),
            (Kind::Verify, Phase::Verify) => self.handle_verify(outcome),
            (Kind::Probe, Phase::Probe { check, .. }) => {
                let why = check.why();
                self.handle_probe(why, outcome)
            }
            (Kind::Discard, Phase::Discard(_)) => self.handle_discard(outcome),
            _ => Verdict::Continue, // an answer that no longer matters
        }
    }

    fn set_token(&mut self, token: &str) {
        self.token = token.to_string();
        if matches!(self.phase, Phase::Probe { check: Probe::ChunkGone(_), .. }) {
            // The 40011 came from the expired token: send the chunk again with the fresh one
            // (OneDrive: ask its upload URL what it has first; S3-like: parts whose answers
            // came while the file was checked were not recorded, so they go again).
            let phase = std::mem::replace(&mut self.phase, Phase::Verify);
            self.phase = match phase {
                Phase::Probe { check: Probe::ChunkGone(mut t), .. } => {
                    if let Transfer::Parts { parts, .. } = &mut t {
                        for p in parts {
                            if *p == Part::InFlight {
                                *p = Part::Pending;
                            }
                        }
                    }
                    Phase::Upload(t)
                }
                other => other,
            };
            self.resync();
        }
    }

    fn resync(&mut self) {
        if let Phase::Upload(Transfer::OneDrive { offset, query }) = &mut self.phase {
            if *offset > 0 {
                *query = true;
            }
        }
    }

    fn cancel(&mut self) -> Vec<Request> {
        self.cleanup()
    }

    fn cleanup_on_failure(&mut self) -> Vec<Request> {
        // Deleting the session could destroy an upload that completed unseen.
        if self.final_maybe_done {
            return Vec::new();
        }
        self.cleanup()
    }

    fn secrets(&self) -> Vec<String> {
        let mut v = vec![self.token.clone()];
        if let Some(t) = &self.purchase_ticket {
            v.push(t.clone());
        }
        if let Some(s) = &self.session {
            if let Some(c) = &s.credential {
                v.push(c.clone());
                if let Some(tail) = c.rsplit(' ').next() {
                    v.push(tail.to_string());
                }
            }
            if let Some(c) = &s.callback_secret {
                v.push(c.clone());
            }
        }
        v
    }

    /// Only the user's token (and purchase ticket) are the user's: the node credential and the
    /// callback secret belong to the session and go where the session says.
    fn credentials(&self) -> Vec<String> {
        let mut v = vec![self.token.clone()];
        if let Some(t) = &self.purchase_ticket {
            v.push(t.clone());
        }
        v
    }

    fn credential_origin(&self) -> Option<String> {
        crate::core::url::origin(&self.endpoint)
    }

    fn session(&self) -> Json {
        match &self.session {
            Some(s) => session_record(s, "confirmed", self.confirmed()),
            None => Json::Null,
        }
    }

    /// Local (or relayed) chunked sessions only: their chunks go to Cloudreve itself with the
    /// user's token, so the session id, chunk size and next chunk are all a later page needs.
    /// Remote-node, S3-like and OneDrive sessions hand out credentials of their own (a node
    /// credential, presigned URLs, an upload URL that is its own key), which are never stored.
    fn resume_state(&self) -> Option<Json> {
        let s = self.session.as_ref()?;
        // While a chunk's 40011 is being checked the session may well be alive (an expired token).
        let next = match &self.phase {
            Phase::Upload(Transfer::Chunks { next, .. }) | Phase::Probe { check: Probe::ChunkGone(Transfer::Chunks { next, .. }), .. } => *next,
            _ => return None,
        };
        if s.kind != PolicyKind::Local || s.chunk_size == 0 || next == 0 {
            return None;
        }
        Some(session_record(s, "nextChunk", next))
    }

    fn resume_key(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.session_id.as_str())
    }

    /// Continues a local session at `nextChunk` (Cloudreve rewrites a chunk sent twice at the
    /// same offset). A session that has expired meanwhile (40011) is replaced by a new one.
    fn restore(&mut self, state: &Json) -> Result<(), UploadError> {
        let bad = |m: &'static str| UploadError::invalid(PROVIDER, m);
        if !matches!(self.phase, Phase::Create { .. }) || self.session.is_some() || self.in_flight > 0 {
            return Err(bad("cannot resume: the upload has already begun"));
        }
        let state = codec::from_json::<SessionRecord>(state).map_err(|_| bad("cannot resume: the record has fields of unexpected types"))?;
        let sid = state.session_id.filter(|s| valid_session_id(s)).ok_or_else(|| bad("cannot resume: no usable sessionId"))?;
        let uri = state.uri.filter(|u| u.starts_with("cloudreve://") && u.len() <= 4096).ok_or_else(|| bad("cannot resume: no usable uri"))?;
        let chunk = state.chunk_size.filter(|c| *c > 0).ok_or_else(|| bad("cannot resume: no usable chunkSize"))?;
        let count = chunk_count(self.total, chunk);
        let next = state.next_chunk.filter(|n| *n >= 1 && *n < count).ok_or_else(|| bad("cannot resume: nextChunk does not fit the file"))?;
        self.session = Some(SessionInfo {
            policy_type: state.policy_type.unwrap_or_else(|| "local".into()),
            chunk_size: chunk,
            expires: state.expires,
            ..SessionInfo::provisional(sid, uri)
        });
        self.confirmed = self.range(next).0;
        self.phase = Phase::Upload(Transfer::Chunks { next, count, resumed: true });
        Ok(())
    }
}

impl Cloudreve {
    /// The request of `kind` that the current phase sends.
    fn request(&self, kind: Kind) -> Result<Request, UploadError> {
        let session = self.session.as_ref().ok_or_else(|| proto_err("no upload session"));
        Ok(match (kind, &self.phase) {
            (Kind::Create, _) => self.api(Method::Put, "/api/v4/file/upload").tag(Kind::Create.tag()).body(Body::json(self.create_body.clone())),
            (Kind::Chunk(i), Phase::Upload(Transfer::Parts { .. })) => self.part_request(session?, i as usize),
            (Kind::Chunk(_) | Kind::Query, Phase::Upload(Transfer::OneDrive { offset, query })) => self.onedrive_request(session?, *offset, *query),
            (Kind::Chunk(i), _) => self.chunk_request(session?, i),
            (Kind::Complete, Phase::Complete { flavor, etags }) => self.complete_request(session?, *flavor, etags),
            (Kind::Callback, _) => self.callback_request(session.map_err(|_| proto_err("callback without a session"))?),
            (Kind::Verify, _) => self.verify_request(),
            (Kind::Probe, _) => self.verify_request().tag(Kind::Probe.tag()),
            (Kind::Discard, Phase::Discard(sid)) => {
                let body = delete_body(sid, self.target());
                self.api(Method::Delete, "/api/v4/file/upload").tag(Kind::Discard.tag()).body(Body::json(body))
            }
            _ => return Err(proto_err("no request for this upload state")),
        })
    }

    /// A chunk, part or fragment met a gone session (or an expired credential): the transfer
    /// waits in [`Probe::ChunkGone`] while the file is checked.
    fn probe_chunk_gone(&mut self, gone: Option<UploadError>) {
        let phase = std::mem::replace(&mut self.phase, Phase::Verify);
        self.phase = match phase {
            Phase::Upload(t) => Phase::Probe { check: Probe::ChunkGone(t), gone },
            other => other,
        };
    }

    /// `DELETE /api/v4/file/upload {id, uri}`, once, while the session may still exist.
    fn cleanup(&mut self) -> Vec<Request> {
        if self.cleaned || matches!(self.phase, Phase::Done(_)) {
            return Vec::new();
        }
        let Some(s) = &self.session else { return Vec::new() };
        self.cleaned = true;
        let body = delete_body(&s.session_id, &s.uri);
        vec![self.api(Method::Delete, "/api/v4/file/upload").body(Body::json(body))]
    }
}
