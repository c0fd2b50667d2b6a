//! The init answer (the upload URL, from `Location`), then the answers to chunks and offset
//! queries (`Range`), checksum refusals, and a gone upload URL.

use super::{PeerTube, Phase, Session, Step, MAX_CHECKSUM_RESENDS, MAX_REINITS, MAX_REINITS_IN_A_ROW};
use crate::core::codec;
use crate::core::retry::status_is_retryable;
use crate::core::{text, url, Body, ErrorCode, Json, Outcome, Request, Response, UploadError};
use crate::protocols::{default_verdict, network_retry, Protocol, Verdict};

/// Parses uploadx's `Range: bytes=0-<last>` into the number of bytes stored.
/// `bytes=0--1` (nothing stored yet) gives 0. Anything else malformed gives None.
pub fn parse_range(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = match v.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("bytes=") => v.get(6..).unwrap_or(""),
        _ => v,
    };
    let rest = v.trim().strip_prefix("0-")?;
    if rest == "-1" {
        return Some(0);
    }
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse::<u64>().ok()?.checked_add(1)
}

impl PeerTube {
    /// The answer to the init `POST`: its `Location` is the upload URL of a new session.
    pub(super) fn handle_init(&mut self, resp: Response) -> Verdict {
        match resp.status {
            200 | 201 => {
                let Some(loc) = resp.header("location") else {
                    return self.protocol_error(
                        "the init response has no readable Location header (is it listed in Access-Control-Expose-Headers?)",
                    );
                };
                let Some(abs) = url::resolve(&self.init_url, loc).filter(|u| url::is_absolute_http(u)) else {
                    return self.protocol_error("the init response has an unusable Location header");
                };
                // Credentials go only where they belong. Every chunk PUT must carry the user's
                // OAuth token (PeerTube authenticates `upload-resumable` PUTs), so a PUT without it
                // is pointless: the decision is never to send the token to another origin, and to
                // refuse with a protocol error rather than send without it. One exception keeps
                // proxies working: PT-dev builds Location from its configured WEBSERVER URL, so
                // behind a same-origin proxy it names the real host. The upload URL is always the
                // init URL plus `?upload_id=…`, so such a Location is rebased onto the init URL
                // (the token stays on the configured origin). Anything else on another origin is
                // refused before anything is sent there. (The engine's guard, `core::guard`,
                // refuses any token-bearing request off the endpoint's origin too.)
                let abs = if url::same_origin(&abs, &self.init_url) {
                    abs
                } else if let Some(rebased) = rebase_upload_url(&self.init_url, &abs) {
                    rebased
                } else {
                    let msg = format!(
                        "the server's upload URL (Location) is on another origin ({}) than the endpoint ({}): refusing to send the access token there",
                        url::origin(&abs).unwrap_or_default(),
                        url::origin(&self.init_url).unwrap_or_default()
                    );
                    return self.protocol_error(&msg);
                };
                if resp.status == 201 {
                    self.phase = Phase::Transfer { session: Session::new(abs, 0), step: Step::Chunk };
                    return Verdict::Continue;
                }
                // 200: an upload of this file that uploadx already had. Until its offset is
                // known, what was confirmed before stays reported.
                let session = Session::new(abs, self.confirmed());
                self.phase = Phase::Transfer { session, step: Step::Query };
                match resp.header("range").and_then(parse_range) {
                    Some(stored) => self.accept_offset(stored, None),
                    None => Verdict::Continue,
                }
            }
            _ => match self.passing_refusal("init", &resp) {
                Ok(v) => v,
                Err(e) => self.fail(e),
            },
        }
    }

    /// What came of a chunk or of an offset query (`chunk` says which) sent to the session's
    /// upload URL.
    pub(super) fn handle_data(&mut self, req: &Request, chunk: bool, outcome: Outcome) -> Verdict {
        let what = if chunk { "chunk" } else { "offset query" };
        let (chunk_from, is_last) = match &req.body {
            Body::Slice(s) => (Some(s.start), s.end == self.total),
            _ => (None, true),
        };
        let resp = match outcome {
            Outcome::Network(detail) => {
                self.ask_offset();
                if let (Some(session), Some(_), true) = (self.transfer(), chunk_from, is_last) {
                    session.final_sent = true;
                }
                return network_retry(self.provider, what, &detail);
            }
            Outcome::Response(resp) => resp,
        };
        // A definite answer to a chunk that was not the last: the final chunk has not been sent
        // yet, whatever an earlier lost answer suggested. An answer to the final chunk after
        // which the server may have finished it (5xx, 408) makes a later 404 ambiguous; a 404
        // to its first attempt is just "gone".
        if let (Some(session), Some(_)) = (self.transfer(), chunk_from) {
            if !is_last {
                session.final_sent = false;
            } else if resp.status >= 500 || resp.status == 408 {
                session.final_sent = true;
            }
        }
        match resp.status {
            308 => match resp.header("range").map(parse_range) {
                Some(Some(stored)) => self.accept_offset(stored, chunk_from),
                Some(None) => self.protocol_error("the server sent a malformed Range header"),
                None => self.protocol_error(
                    "a 308 without a readable Range header (is Range listed in Access-Control-Expose-Headers?)",
                ),
            },
            200..=299 => {
                // A 2xx whose Range shows bytes still missing is not a completion, whatever
                // was asked: follow what the server says it holds.
                let stored = resp.header("range").and_then(parse_range);
                if is_last && stored.is_none_or(|n| n >= self.total) {
                    if let Some(from) = self.transfer().and_then(|s| s.rejected_from).filter(|_| !chunk) {
                        // Only the refused chunk's own bytes can have completed the file.
                        let e = UploadError::protocol(
                            self.provider,
                            format!("the server refused the checksum of the bytes from {from} on, then completed the upload with them: the stored file may be corrupt"),
                        )
                        .with_status(resp.status)
                        .retryable(false);
                        return self.fail(e);
                    }
                    return self.completed(&resp);
                }
                match stored {
                    Some(stored) => self.accept_offset(stored, chunk_from),
                    None => self.protocol_error("the server answered 2xx before the upload was complete"),
                }
            }
            404 | 410 => self.gone(&resp),
            401 => {
                self.ask_offset();
                Verdict::Reauth(self.error_for(what, &resp))
            }
            413 if chunk => {
                if self.plan.shrink() {
                    self.ask_offset();
                    Verdict::Continue
                } else {
                    let e = self.error_for(what, &resp);
                    self.fail(e)
                }
            }
            460 if chunk => {
                // The server hashed what arrived and it does not match the `Digest` we sent
                // (uploadx truncates the file back to the chunk's start): resend the chunk at
                // once, from the offset the server confirms, a bounded number of times.
                let offset = self.confirmed();
                let (from, to) = match &req.body {
                    Body::Slice(s) => (s.start, s.end),
                    _ => (offset, offset),
                };
                if self.mismatch_at != from {
                    self.mismatch_at = from;
                    self.mismatches = 0;
                }
                self.mismatches += 1;
                if let Some(session) = self.transfer() {
                    session.rejected_from = Some(from);
                }
                if self.mismatches > MAX_CHECKSUM_RESENDS {
                    let mut e = self.error_for(what, &resp).retryable(false);
                    e.message = format!(
                        "the server found the checksum of bytes {from}-{} wrong {} times in a row: the data is being corrupted on its way ({})",
                        to.saturating_sub(1),
                        self.mismatches,
                        e.message
                    );
                    return self.fail(e);
                }
                self.ask_offset();
                Verdict::Continue
            }
            409 => {
                self.ask_offset();
                let e = self.error_for(what, &resp).retryable(true);
                self.retry(e, None)
            }
            429 => {
                // Rate limited. Like after any failed chunk, ask the server what it holds
                // after the wait rather than assuming the chunk was not stored.
                self.ask_offset();
                let e = self.error_for(what, &resp);
                self.throttled(e, &resp)
            }
            s if status_is_retryable(s) => {
                self.ask_offset();
                let e = self.error_for(what, &resp);
                self.retry(e, Some(&resp))
            }
            _ => match default_verdict(self.provider, what, &resp) {
                Verdict::Fail(_) => {
                    let e = self.error_for(what, &resp);
                    self.fail(e)
                }
                v => v,
            },
        }
    }

    /// The server says the session's upload URL holds `stored` bytes.
    fn accept_offset(&mut self, stored: u64, after_chunk_from: Option<u64>) -> Verdict {
        let Phase::Transfer { session, step } = &mut self.phase else {
            return Verdict::Continue;
        };
        let stored = match session.rejected_from.take() {
            Some(from) if stored > from => from,
            _ => stored,
        };
        if stored > self.total {
            return self.protocol_error("the server claims more bytes than the file has");
        }
        if stored == self.total {
            // Everything is stored but the upload was not completed: send the last byte again,
            // which makes uploadx finish it (a bare offset query may not).
            self.no_progress += 1;
            if self.no_progress >= 3 {
                return self.protocol_error("the server holds every byte but never completes the upload");
            }
            session.offset = self.total - 1;
            *step = Step::Chunk;
            return Verdict::Continue;
        }
        match after_chunk_from {
            Some(from) if stored <= from => {
                self.no_progress += 1;
                if self.no_progress >= 3 {
                    return self.protocol_error("the server did not store the chunks it was sent");
                }
            }
            Some(_) => {
                self.no_progress = 0;
                self.mismatches = 0;
                self.reinits = 0;
            }
            None => {}
        }
        session.offset = stored;
        *step = Step::Chunk;
        Verdict::Continue
    }

    fn completed(&mut self, resp: &Response) -> Verdict {
        let body = resp.body.trim();
        // The server's own answer (`{video: {…}}`, `{userImport: {…}}`) goes to the page as it is.
        let json = if body.is_empty() {
            Json::Object(crate::core::json::Map::new())
        } else {
            match codec::decode::<Json>(body) {
                Ok(j) => j,
                Err(_) => return self.protocol_error("the server finished the upload but its answer is not JSON"),
            }
        };
        self.done(json)
    }

    /// The upload URL is gone (404/410).
    fn gone(&mut self, resp: &Response) -> Verdict {
        let final_sent = self.transfer().is_some_and(|s| s.final_sent);
        if final_sent && self.find.is_some() {
            // Most likely completed, and its answer lost: PeerTube deletes the upload once the
            // video exists. Find that video rather than guess.
            self.phase = match self.take_phase() {
                Phase::Transfer { session, .. } => Phase::FindVideo { gone: session, start: 0 },
                other => other,
            };
            return Verdict::Continue;
        }
        if final_sent {
            let e = UploadError::new(
                ErrorCode::SessionExpired,
                self.provider,
                "the upload is gone after its last chunk was sent: it may have completed, check your videos",
            )
            .with_status(resp.status);
            return self.fail(e);
        }
        // Started anew twice without a single chunk confirmed since, or five times in all: the
        // server keeps losing the upload, so give up rather than loop.
        if self.reinits >= MAX_REINITS_IN_A_ROW || self.reinits_total >= MAX_REINITS {
            let e = UploadError::new(ErrorCode::SessionExpired, self.provider, "the upload session expired on the server")
                .with_status(resp.status);
            return self.fail(e);
        }
        self.reinits += 1;
        self.reinits_total += 1;
        // The gone URL is forgotten (nothing to cancel there); what it confirmed stays reported.
        self.phase = Phase::Init { confirmed: self.confirmed() };
        Verdict::Continue
    }
}

/// A Location on another origin whose path is the init URL's path (or its tail, as behind a
/// path-prefix proxy) and whose query has an `upload_id`: the same upload URL on the init URL's
/// origin. None for anything else.
fn rebase_upload_url(init_url: &str, location: &str) -> Option<String> {
    let after_scheme = text::split_once(location, "://")?.1;
    let path_query = after_scheme.get(after_scheme.find('/')?..)?;
    let path_query = path_query.split('#').next().unwrap_or("");
    let (path, query) = path_query.split_once('?')?;
    if !query.split('&').any(|p| p.starts_with("upload_id=") && p.len() > "upload_id=".len()) {
        return None;
    }
    let init_base = init_url.split(['?', '#']).next().unwrap_or(init_url);
    let init_path = text::split_once(init_base, "://")?.1;
    let init_path = init_path.get(init_path.find('/')?..)?;
    if path.len() < 2 || !init_path.ends_with(path) {
        return None;
    }
    Some(format!("{init_base}?{query}"))
}

