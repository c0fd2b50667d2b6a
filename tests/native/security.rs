//! Credentials go only where they belong, for every provider (issue 7, item 6):
//! - a request carrying the user's token (bearer header, or api.video's upload token in the
//!   query) goes only to the configured endpoint's origin: the engine's guard refuses anything
//!   else, whatever the protocol built;
//! - PeerTube: a Location on another origin is rebased onto the endpoint when it is the same
//!   upload URL (PT-dev behind a proxy), else refused with a protocol error before anything is
//!   sent there;
//! - Cloudreve: a storage node gets only the session's credential, a bucket / OneDrive upload URL
//!   no credential at all, never the user's token;
//! - error messages never contain a token (current or replaced) or a `token=`-like query value.
#![cfg(not(target_arch = "wasm32"))]

use chunkup::core::guard::{carries_credential, check};
#[path = "common/json_ext.rs"]
mod json_ext;
use json_ext::JsonExt as _;
use chunkup::core::redact::redact;
use chunkup::core::retry::RetryPolicy;
use chunkup::core::url::origin;
use chunkup::core::{ErrorCode, FileInfo, Json, Method, Outcome, Request, Response, UploadError};
use chunkup::engine::{Action, Engine};
use chunkup::protocols::apivideo::ApiVideo;
use chunkup::protocols::peertube::PeerTube;
use chunkup::protocols::{Next, Protocol, Verdict};

const TOKEN: &str = "user-secret-token-42";

fn file(name: &str, size: u64, mime: &str) -> FileInfo {
    FileInfo { name: name.into(), size, mime: mime.into(), last_modified: 1_700_000_000_000.0 }
}

fn engine<P: Protocol>(p: P, refresh: bool) -> Engine<P> {
    let mut e = Engine::new(p, RetryPolicy::new(vec![0, 0, 0]), refresh);
    e.start(0.0);
    e
}

/// Polls until a request is to be sent (or the upload finished).
fn next_send<P: Protocol>(e: &mut Engine<P>) -> Result<(u64, Request), Result<Json, UploadError>> {
    for _ in 0..100 {
        match e.poll(1_000_000.0) {
            Action::Send { id, request } => return Ok((id, request)),
            Action::Finished(r) => return Err(r),
            Action::RefreshToken => e.on_token(Some("fresh-token-0001".into())),
            Action::Wait { .. } => {}
        }
    }
    panic!("the engine neither sent nor finished");
}

fn assert_no_secret(msg: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!msg.contains(s), "{s:?} leaked in {msg:?}");
    }
    assert!(!msg.contains("token=") || msg.contains("token=[redacted]"), "a token= value leaked in {msg:?}");
}

// ---- the guard itself ------------------------------------------------------------------------

#[test]
fn guard_finds_user_credentials_in_headers_and_queries_only() {
    let creds = vec![TOKEN.to_string()];
    let bearer = Request::new(Method::Put, "https://tube.example/x").bearer(TOKEN);
    assert!(carries_credential(&bearer, &creds));
    assert!(check(&bearer, "https://tube.example", &creds).is_ok());
    let err = check(&Request::new(Method::Put, "https://evil.example/x").bearer(TOKEN), "https://tube.example", &creds).unwrap_err();
    assert!(err.contains("https://evil.example") && err.contains("https://tube.example") && !err.contains(TOKEN), "{err}");
    let query = Request::new(Method::Post, format!("https://evil.example/upload?token={TOKEN}"));
    assert!(check(&query, "https://ws.api.video", &creds).is_err());
    // Same origin with a default port spelled out, other scheme, other port, subdomain, userinfo trick.
    assert!(check(&Request::new(Method::Get, "HTTPS://Tube.Example:443/a").bearer(TOKEN), "https://tube.example", &creds).is_ok());
    for other in ["http://tube.example/a", "https://tube.example:8443/a", "https://cdn.tube.example/a", "https://tube.example@evil.example/a"] {
        assert!(check(&Request::new(Method::Get, other).bearer(TOKEN), "https://tube.example", &creds).is_err(), "{other}");
    }
    // Someone else's credential (a node's, a presigned URL) is not the user's.
    let node = Request::new(Method::Post, "https://node.example/u?chunk=0").header("Authorization", "Bearer Cr sig:1");
    assert!(!carries_credential(&node, &creds));
    assert!(!carries_credential(&Request::new(Method::Put, "https://bucket/p?X-Amz-Signature=ab"), &creds));
}

/// A protocol that builds whatever it is told to: stands for a buggy or tricked provider.
struct Rogue {
    requests: Vec<Request>,
    cancel: Vec<Request>,
    origin: Option<String>,
}

impl Protocol for Rogue {
    fn provider(&self) -> &'static str {
        "rogue"
    }
    fn total(&self) -> u64 {
        0
    }
    fn confirmed(&self) -> u64 {
        0
    }
    fn next(&mut self) -> Next {
        if self.requests.is_empty() {
            Next::Done(Json::Null)
        } else {
            Next::Send(self.requests.remove(0))
        }
    }
    fn handle(&mut self, _req: &Request, _outcome: Outcome) -> Verdict {
        Verdict::Continue
    }
    fn cancel(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.cancel)
    }
    fn secrets(&self) -> Vec<String> {
        vec![TOKEN.to_string()]
    }
    fn credential_origin(&self) -> Option<String> {
        self.origin.clone()
    }
}

#[test]
fn the_engine_refuses_a_token_for_another_origin_whatever_the_protocol_builds() {
    // Explicit endpoint origin.
    let rogue = Rogue {
        requests: vec![
            Request::new(Method::Post, "https://tube.example/init").bearer(TOKEN),
            Request::new(Method::Put, "https://evil.example/steal").bearer(TOKEN),
        ],
        cancel: vec![],
        origin: Some("https://tube.example/api/".into()),
    };
    let mut e = engine(rogue, false);
    let (id, first) = next_send(&mut e).unwrap();
    assert_eq!(origin(&first.url).as_deref(), Some("https://tube.example"));
    e.on_outcome(id, Outcome::Response(Response::new(200)), 1.0);
    let err = next_send(&mut e).expect_err("the second request is refused").expect_err("an error");
    assert_eq!(err.code, ErrorCode::Protocol);
    assert!(err.message.contains("https://evil.example"), "{}", err.message);
    assert_eq!(e.requests_sent(), 1, "nothing was sent to the other origin");

    // Without an explicit origin: the first request's origin (built from the endpoint) is pinned.
    // api.video style: the token in the query.
    let rogue = Rogue {
        requests: vec![
            Request::new(Method::Post, format!("https://ws.api.video/upload?token={TOKEN}")),
            Request::new(Method::Post, format!("https://evil.example/upload?token={TOKEN}")),
        ],
        cancel: vec![],
        origin: None,
    };
    let mut e = engine(rogue, false);
    let (id, _) = next_send(&mut e).unwrap();
    e.on_outcome(id, Outcome::Response(Response::new(200)), 1.0);
    let err = next_send(&mut e).unwrap_err().unwrap_err();
    assert!(err.message.contains("refusing") && !err.message.contains(TOKEN), "{}", err.message);

    // A request without the token may go anywhere (e.g. a presigned URL).
    let rogue = Rogue {
        requests: vec![
            Request::new(Method::Post, "https://tube.example/init").bearer(TOKEN),
            Request::new(Method::Put, "https://bucket.example/part?X-Amz-Signature=s"),
        ],
        cancel: vec![],
        origin: Some("https://tube.example".into()),
    };
    let mut e = engine(rogue, false);
    let (id, _) = next_send(&mut e).unwrap();
    e.on_outcome(id, Outcome::Response(Response::new(200)), 1.0);
    assert!(next_send(&mut e).is_ok());

    // Cancel requests pass the same guard: the one for another origin is dropped.
    let rogue = Rogue {
        requests: vec![Request::new(Method::Post, "https://tube.example/init").bearer(TOKEN)],
        cancel: vec![
            Request::new(Method::Delete, "https://evil.example/x").bearer(TOKEN),
            Request::new(Method::Delete, "https://tube.example/x").bearer(TOKEN),
        ],
        origin: Some("https://tube.example".into()),
    };
    let mut e = engine(rogue, false);
    let _ = next_send(&mut e).unwrap();
    let cancel = e.abort();
    assert_eq!(cancel.len(), 1);
    assert_eq!(cancel[0].url, "https://tube.example/x");
}

// ---- PeerTube ----------------------------------------------------------------------------------

fn peertube(endpoint: &str) -> PeerTube {
    PeerTube::video(endpoint, TOKEN, &file("a.mp4", 100_000, "video/mp4"), &Json::parse(r#"{"channelId":1}"#).unwrap(), Some(65_536)).unwrap()
}

fn created(loc: &str) -> Outcome {
    Outcome::Response(Response::new(201).with_header("Location", loc))
}

#[test]
fn peertube_refuses_an_upload_url_on_another_origin() {
    for loc in [
        "https://evil.example/steal?upload_id=u1",
        "https://evil.example/api/v1/videos/upload-resumable",
        "//evil.example/other/path?upload_id=u1",
        "https://evil.example/api/v1/videos/upload-resumable?other=1",
    ] {
        let mut e = engine(peertube("https://tube.example"), false);
        let (id, init) = next_send(&mut e).unwrap();
        assert_eq!(init.get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        e.on_outcome(id, created(loc), 1.0);
        let err = next_send(&mut e).expect_err("refused").expect_err("an error");
        assert_eq!(err.code, ErrorCode::Protocol, "{loc}");
        assert!(err.message.contains("another origin") && err.message.contains("refusing"), "{loc}: {}", err.message);
        assert_no_secret(&err.message, &[TOKEN]);
        assert_eq!(e.requests_sent(), 1, "{loc}: nothing sent after the init");
        assert!(e.abort().is_empty() || e.abort().iter().all(|r| origin(&r.url).as_deref() == Some("https://tube.example")));
    }
}

#[test]
fn peertube_rebases_its_own_upload_url_from_another_origin_onto_the_endpoint() {
    // PT-dev behind a same-origin proxy: Location names the real host; the token stays here.
    let mut e = engine(peertube("https://page.example/peertube-api"), false);
    let (id, init) = next_send(&mut e).unwrap();
    assert_eq!(init.url, "https://page.example/peertube-api/api/v1/videos/upload-resumable");
    e.on_outcome(id, created("https://tube.example/api/v1/videos/upload-resumable?upload_id=u1"), 1.0);
    let (_, chunk) = next_send(&mut e).unwrap();
    assert_eq!(chunk.url, "https://page.example/peertube-api/api/v1/videos/upload-resumable?upload_id=u1");
    assert_eq!(chunk.get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    // Whoever the Location names (another host, a downgrade to http), the same upload URL is
    // used on the endpoint's origin: the token never leaves it.
    for loc in ["https://evil.example/api/v1/videos/upload-resumable?upload_id=u2", "http://page.example/api/v1/videos/upload-resumable?upload_id=u2"] {
        let mut e2 = engine(peertube("https://page.example"), false);
        let (id, _) = next_send(&mut e2).unwrap();
        e2.on_outcome(id, created(loc), 1.0);
        let (_, c) = next_send(&mut e2).unwrap();
        assert_eq!(c.url, "https://page.example/api/v1/videos/upload-resumable?upload_id=u2", "{loc}");
    }
    // Cancel goes to the same rebased URL.
    let cancel = e.abort();
    assert_eq!(cancel.len(), 1);
    assert_eq!(cancel[0].url, chunk.url);
}

#[test]
fn peertube_errors_never_show_tokens_even_replaced_ones() {
    let mut e = engine(peertube("https://tube.example"), true);
    let (id, _) = next_send(&mut e).unwrap();
    e.on_outcome(id, Outcome::Response(Response::new(401)), 1.0);
    // The engine asks for a token ("fresh-token-0001" in next_send), then the init is resent.
    let (id, init) = next_send(&mut e).unwrap();
    assert_eq!(init.get_header("Authorization"), Some("Bearer fresh-token-0001"));
    let body = format!(
        r#"{{"detail":"token {TOKEN} and fresh-token-0001 refused at https://tube.example/x?token=abc123&access_token=zz, Authorization: Bearer eyJabc.def.ghi"}}"#
    );
    e.on_outcome(id, Outcome::Response(Response::new(403).with_body(&body)), 2.0);
    let err = next_send(&mut e).unwrap_err().unwrap_err();
    assert_eq!(err.code, ErrorCode::Auth);
    assert_no_secret(&err.message, &[TOKEN, "fresh-token-0001", "abc123", "eyJabc"]);
    assert!(err.message.contains("[redacted]"), "{}", err.message);
}

// ---- api.video ---------------------------------------------------------------------------------

#[test]
fn apivideo_sends_its_upload_token_only_to_the_endpoint_and_redacts_it() {
    let tok = "to1UploadTokenXyz";
    let p = ApiVideo::file("https://ws.api.video", tok, &file("v.mp4", 1000, "video/mp4"), None, None, None).unwrap();
    let mut e = engine(p, false);
    let (id, req) = next_send(&mut e).unwrap();
    assert_eq!(origin(&req.url).as_deref(), Some("https://ws.api.video"));
    assert!(req.url.contains(&format!("token={tok}")));
    assert!(req.get_header("Authorization").is_none(), "the upload token goes in the query, nowhere else");
    let body = format!(r#"{{"title":"The upload token {tok} is invalid (https://ws.api.video/upload?token={tok})","status":400}}"#);
    e.on_outcome(id, Outcome::Response(Response::new(400).with_body(&body)), 1.0);
    let err = next_send(&mut e).unwrap_err().unwrap_err();
    assert_no_secret(&err.message, &[tok]);
    assert_eq!(err.provider, "apivideo");
}

// ---- Cloudreve ---------------------------------------------------------------------------------

const CR: &str = "https://cr.example";
const NODE_CRED: &str = "Bearer Cr c2lnbmF0dXJl:1700000000";

fn cloudreve() -> Box<dyn Protocol> {
    let o = Json::parse(&format!(r#"{{"uri":"cloudreve://my/a.bin","accessToken":"{TOKEN}"}}"#)).unwrap();
    chunkup::protocols::cloudreve::from_options(CR, &o, &[file("a.bin", 10_000, "application/octet-stream")], None).unwrap()
}

fn cr_session(policy: &str, extra: &str) -> Outcome {
    let body = format!(
        r#"{{"code":0,"msg":"","data":{{"session_id":"0f7c1e2a-3b4c-4d5e-8f90-a1b2c3d4e5f6","chunk_size":4000,"expires":1800000000,"storage_policy":{{"id":"p1","name":"x","type":"{policy}","max_size":0}},"uri":"cloudreve://my/a.bin","callback_secret":"CbSeCrEt123"{extra}}}}}"#
    );
    Outcome::Response(Response::new(200).with_body(&body))
}

fn assert_no_user_credential(req: &Request) {
    for (k, v) in &req.headers {
        assert!(!v.contains(TOKEN), "user token in {k} to {}", req.url);
        assert!(!k.to_ascii_lowercase().starts_with("x-cr-"), "{k} sent to {}", req.url);
    }
    assert!(!req.url.contains(TOKEN), "user token in {}", req.url);
}

#[test]
fn cloudreve_nodes_get_their_credential_and_buckets_none_never_the_user_token() {
    // Remote node: exactly the session credential.
    let mut e = engine(cloudreve(), false);
    let (id, create) = next_send(&mut e).unwrap();
    assert_eq!(create.get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(origin(&create.url).as_deref(), Some(CR));
    e.on_outcome(
        id,
        cr_session("remote", &format!(r#","upload_urls":["https://node.example/api/v4/slave/upload/s1"],"credential":"{NODE_CRED}""#)),
        1.0,
    );
    let (_, chunk) = next_send(&mut e).unwrap();
    assert!(chunk.url.starts_with("https://node.example/"), "{}", chunk.url);
    assert_eq!(chunk.get_header("Authorization"), Some(NODE_CRED));
    assert_no_user_credential(&chunk);

    // S3: presigned part URLs get no credential at all; parallel parts all checked.
    let mut e = engine(cloudreve(), false);
    let (id, _) = next_send(&mut e).unwrap();
    let urls: Vec<String> = (1..=3).map(|i| format!("\"https://bucket.example/part/{i}?X-Amz-Signature=s{i}\"")).collect();
    e.on_outcome(
        id,
        cr_session("s3", &format!(r#","upload_urls":[{}],"completeURL":"https://bucket.example/complete?X-Amz-Signature=c""#, urls.join(","))),
        1.0,
    );
    let mut parts = 0;
    while let Action::Send { request, .. } = e.poll(2.0) {
        assert!(request.url.starts_with("https://bucket.example/part/"), "{}", request.url);
        assert!(request.get_header("Authorization").is_none());
        assert_no_user_credential(&request);
        parts += 1;
    }
    assert!(parts >= 1);

    // OneDrive: the Graph upload URL gets no credential.
    let mut e = engine(cloudreve(), false);
    let (id, _) = next_send(&mut e).unwrap();
    e.on_outcome(id, cr_session("onedrive", r#","upload_urls":["https://od.example/session?tempauth=t"]"#), 1.0);
    let (_, put) = next_send(&mut e).unwrap();
    assert!(put.url.starts_with("https://od.example/"));
    assert!(put.get_header("Authorization").is_none());
    assert_no_user_credential(&put);

    // Local: chunks to Cloudreve itself with the user's token.
    let mut e = engine(cloudreve(), false);
    let (id, _) = next_send(&mut e).unwrap();
    e.on_outcome(id, cr_session("local", ""), 1.0);
    let (_, chunk) = next_send(&mut e).unwrap();
    assert_eq!(origin(&chunk.url).as_deref(), Some(CR));
    assert_eq!(chunk.get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
}

#[test]
fn cloudreve_errors_redact_user_node_and_callback_secrets_and_replaced_tokens() {
    let mut e = engine(cloudreve(), true);
    let (id, _) = next_send(&mut e).unwrap();
    e.on_outcome(id, Outcome::Response(Response::new(200).with_body(r#"{"code":401,"msg":"Login required"}"#)), 1.0);
    let (id, create) = next_send(&mut e).unwrap();
    assert_eq!(create.get_header("Authorization"), Some("Bearer fresh-token-0001"));
    e.on_outcome(
        id,
        cr_session("remote", &format!(r#","upload_urls":["https://node.example/u"],"credential":"{NODE_CRED}""#)),
        2.0,
    );
    let (id, _) = next_send(&mut e).unwrap();
    let msg = format!(r#"{{"code":40020,"msg":"Invalid sign {NODE_CRED} for {TOKEN} / fresh-token-0001 / CbSeCrEt123"}}"#);
    e.on_outcome(id, Outcome::Response(Response::new(200).with_body(&msg)), 3.0);
    let err = next_send(&mut e).unwrap_err().unwrap_err();
    assert_eq!(err.code, ErrorCode::Auth);
    assert_no_secret(&err.message, &[TOKEN, "fresh-token-0001", "c2lnbmF0dXJl", "CbSeCrEt123"]);
}

// ---- MangaDex ----------------------------------------------------------------------------------

#[test]
fn mangadex_sends_its_token_only_to_the_endpoint_and_redacts_it() {
    let o = Json::parse(&format!(
        r#"{{"accessToken":"{TOKEN}","manga":"11111111-2222-4333-8444-555555555555","groups":[],"chapter":{{"volume":null,"chapter":"1","title":null,"translatedLanguage":"en"}}}}"#
    ))
    .unwrap();
    let p = chunkup::protocols::mangadex::from_options("https://md.example/mangadex-api", &o, &[file("p1.png", 29, "image/png")], None).unwrap();
    assert_eq!(p.credential_origin().as_deref().and_then(origin).as_deref(), Some("https://md.example"));
    let mut e = engine(p, false);
    let png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 10, 0, 0, 0, 10, 8, 6, 0, 0, 0];
    e.set_heads(vec![png]);
    let (id, req) = next_send(&mut e).unwrap();
    assert_eq!(origin(&req.url).as_deref(), Some("https://md.example"));
    assert_eq!(req.get_header("Authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    let body = format!(r#"{{"result":"error","errors":[{{"status":403,"title":"Forbidden","detail":"token {TOKEN} may not upload"}}]}}"#);
    e.on_outcome(id, Outcome::Response(Response::new(403).with_body(&body)), 1.0);
    let err = next_send(&mut e).unwrap_err().unwrap_err();
    assert_no_secret(&err.message, &[TOKEN]);
}

// ---- redaction ---------------------------------------------------------------------------------

#[test]
fn redaction_covers_token_like_query_values_and_bearer_values() {
    let cases = [
        ("GET https://x/p?token=abc&y=1", "GET https://x/p?token=[redacted]&y=1"),
        ("https://x/p?a=1&access_token=abc#f", "https://x/p?a=1&access_token=[redacted]#f"),
        ("https://x/p?refresh_token=abc", "https://x/p?refresh_token=[redacted]"),
        ("https://x/p?uploadToken=abc", "https://x/p?uploadToken=[redacted]"),
        ("https://b/p?X-Amz-Signature=abc&X-Amz-Credential=AK", "https://b/p?X-Amz-Signature=[redacted]&X-Amz-Credential=[redacted]"),
        ("https://b/p?sv=1&sig=abc", "https://b/p?sv=1&sig=[redacted]"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.x.y was refused", "Bearer [redacted] was refused"),
        ("a bearer token is required", "a bearer token is required"),
        ("?upload_id=keep&token=", "?upload_id=keep&token=[redacted]"),
    ];
    for (input, want) in cases {
        assert_eq!(redact(input, &[]), want, "{input}");
    }
    // Secrets are replaced longest first, so a token that contains another disappears whole.
    assert_eq!(redact("abcd-1234-efgh", &["abcd", "abcd-1234-efgh"]), "[redacted]");
}
