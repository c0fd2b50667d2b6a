//! Cloudreve v4 protocol, natively: envelope parsing and error mapping, every policy's request
//! sequence through the real engine against a simulated server, ETags and the completion XML,
//! parallel parts answered out of order, retry semantics, cleanup, and a property test that
//! random answers never panic.
#![cfg(not(target_arch = "wasm32"))]

use chunkup::core::retry::RetryPolicy;
use chunkup::core::{Body, ErrorCode, FileInfo, Json, Method, Outcome, Request, Response, UploadError};
use chunkup::engine::Engine;
use chunkup::protocols::cloudreve::{
    accept_login, accept_refresh, completion_xml, login_flow, envelope_verdict, from_options, parse_envelope, target_uri, xml_field, Cloudreve, Envelope, Route,
    UploadParams,
};
use chunkup::protocols::{Next, Protocol, Verdict};
use drive::{Drive, Order, Run};
use std::collections::HashMap;

#[path = "common/drive.rs"]
mod drive;

const EP: &str = "http://cr.test";
const TOKEN: &str = "user-token-abc";
const CRED: &str = "Bearer Cr c2lnbmF0dXJl:1700000000";

fn info(size: u64) -> FileInfo {
    FileInfo { name: "data.bin".into(), size, mime: "application/x-test".into(), last_modified: 1_700_000_000_123.0 }
}

fn params() -> UploadParams {
    UploadParams { uri: "cloudreve://my/dir/data.bin".into(), access_token: TOKEN.into(), ..Default::default() }
}

fn env(code: i64, msg: &str) -> Envelope {
    Envelope { code, msg: msg.into(), error: String::new(), data: Json::Null }
}

fn ok_body(data: &str) -> String {
    format!(r#"{{"code":0,"msg":"","data":{data}}}"#)
}

/// JSON text as an open-ended value (test side: serde_json directly).
fn parse(text: &str) -> Result<Json, serde_json::Error> {
    serde_json::from_str(text)
}

fn resp(status: u16, body: &str) -> Outcome {
    Outcome::Response(Response::new(status).with_body(body))
}

// ---- envelope and error mapping ------------------------------------------------------------

#[test]
fn envelopes_parse_defensively() {
    let e = parse_envelope(r#"{"code":40051,"msg":"Insufficient capacity","error":"x","correlation_id":"c"}"#).unwrap();
    assert_eq!((e.code, e.msg.as_str(), e.error.as_str(), e.data.clone()), (40051, "Insufficient capacity", "x", Json::Null));
    assert_eq!(parse_envelope(r#"{"code":0,"data":{"session_id":"a"}}"#).unwrap().data.get("session_id").and_then(Json::as_str), Some("a"));
    assert_eq!(parse_envelope(r#" {"code":-1,"msg":"oops"} "#).unwrap().code, -1);
    for bad in [
        "",
        "not json",
        "<html>502 Bad Gateway</html>",
        "[1,2]",
        r#"{"msg":"no code"}"#,
        r#"{"code":"0"}"#,
        r#"{"code":1e30}"#,
        r#"{"code":1e999}"#,
        r#"{"code":0.5}"#,
        r#"{"code":1e16}"#,
        r#"{"code":0"#,
        r#"{"code":0}}"#,
    ] {
        assert!(parse_envelope(bad).is_none(), "{bad:?}");
    }
    // Wrong types in msg/data do not make an envelope unusable.
    let e = parse_envelope(r#"{"code":40004,"msg":7,"data":"x"}"#).unwrap();
    assert_eq!((e.code, e.msg.as_str(), e.data), (40004, "", Json::String("x".into())));
}

fn verdict_code(v: &Verdict) -> (&'static str, ErrorCode) {
    match v {
        Verdict::Reauth(e) => ("reauth", e.code),
        Verdict::Retry { error, .. } => ("retry", error.code),
        Verdict::Throttled { error, .. } => ("throttled", error.code),
        Verdict::Fail(e) => ("fail", e.code),
        Verdict::Continue => ("continue", ErrorCode::Protocol),
    }
}

#[test]
fn error_codes_map_to_upload_errors() {
    let v = |code: i64, msg: &str, route: Route| verdict_code(&envelope_verdict("x", 200, &env(code, msg), route));
    assert_eq!(v(40049, "File is too large", Route::Api), ("fail", ErrorCode::TooLarge));
    assert_eq!(v(40051, "Insufficient capacity", Route::Api), ("fail", ErrorCode::Quota));
    assert_eq!(v(40079, "", Route::Api), ("fail", ErrorCode::Quota));
    assert_eq!(v(40004, "Object existed", Route::Api), ("fail", ErrorCode::Http));
    assert_eq!(v(401, "Login required", Route::Api), ("reauth", ErrorCode::Auth));
    assert_eq!(v(40020, "Credential invalid", Route::Api), ("reauth", ErrorCode::Auth));
    assert_eq!(v(40020, "Invalid sign", Route::Node), ("fail", ErrorCode::Auth), "a new user token cannot fix a node credential");
    assert_eq!(v(40020, "", Route::Callback), ("fail", ErrorCode::SessionExpired));
    assert_eq!(v(40011, "Upload session expired", Route::Api), ("fail", ErrorCode::SessionExpired));
    assert_eq!(v(40052, "Invalid object name", Route::Api), ("fail", ErrorCode::InvalidInput));
    let suffix = Envelope { error: "file extension is not allowed".into(), ..env(40052, "Invalid object name") };
    assert_eq!(verdict_code(&envelope_verdict("x", 200, &suffix, Route::Api)), ("fail", ErrorCode::UnsupportedType));
    assert_eq!(v(40050, "", Route::Api), ("fail", ErrorCode::UnsupportedType));
    assert_eq!(v(40073, "Lock conflict", Route::Api), ("retry", ErrorCode::Http));
    assert_eq!(v(-1, "", Route::Api), ("retry", ErrorCode::Http));
    assert_eq!(v(50004, "Failed to upload file", Route::Api), ("retry", ErrorCode::Http));
    assert_eq!(v(40013, "Invalid Content-Length (expected: 5)", Route::Api), ("fail", ErrorCode::Protocol));
    assert_eq!(v(40001, "Invalid parameters.", Route::Api), ("fail", ErrorCode::InvalidInput));
    assert_eq!(v(40082, "", Route::Api), ("fail", ErrorCode::Auth));
    assert_eq!(v(12345, "", Route::Api), ("fail", ErrorCode::Http));
    let Verdict::Fail(e) = envelope_verdict("upload session creation", 200, &env(40004, "Object existed"), Route::Api) else { panic!() };
    assert_eq!((e.status, e.retryable), (Some(200), false));
    assert!(e.message.contains("Object existed") && e.message.contains("40004") && e.message.contains("overwrite"), "{}", e.message);
    let Verdict::Retry { error, .. } = envelope_verdict("x", 200, &env(-1, ""), Route::Api) else { panic!() };
    assert!(error.retryable);
}

#[test]
fn completion_xml_lists_parts_in_order_and_escapes() {
    let xml = completion_xml(&["\"a1\"".into(), "\"b&2\"".into()]);
    assert_eq!(
        xml,
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a1\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"b&amp;2\"</ETag></Part></CompleteMultipartUpload>"
    );
    assert_eq!(xml_field("<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>", "Message").as_deref(), Some("gone"));
    assert_eq!(xml_field("<Error><Code></Code></Error>", "Code"), None);
    assert_eq!(xml_field("<Code>unterminated", "Code"), None);
}

#[test]
fn options_are_validated_before_any_request() {
    let o = |s: &str| parse(s).unwrap();
    let base = r#""uri":"cloudreve://my/a.bin","accessToken":"t0k3n""#;
    let code = |r: Result<Box<dyn Protocol>, UploadError>| r.err().map(|e| e.code);
    assert!(from_options(EP, &o(&format!("{{{base}}}")), &[info(5)], None).is_ok());
    assert_eq!(code(from_options(EP, &o(&format!("{{{base}}}")), &[info(5)], Some(1024))), Some(ErrorCode::InvalidInput), "chunkSize");
    assert_eq!(code(from_options(EP, &o(r#"{"accessToken":"t"}"#), &[info(5)], None)), Some(ErrorCode::InvalidInput), "uri");
    assert_eq!(code(from_options(EP, &o(r#"{"uri":"cloudreve://my/a"}"#), &[info(5)], None)), Some(ErrorCode::InvalidInput), "token");
    assert_eq!(code(from_options(EP, &o(r#"{"uri":"https://x/a","accessToken":"t"}"#), &[info(5)], None)), Some(ErrorCode::InvalidInput));
    assert_eq!(code(from_options(EP, &o(&format!("{{{base}}}")), &[info(5), info(6)], None)), Some(ErrorCode::InvalidInput), "one file");
    assert_eq!(code(from_options(EP, &o(&format!("{{{base}}}")), &[], None)), Some(ErrorCode::InvalidInput));
    assert_eq!(code(from_options(EP, &o(&format!(r#"{{{base},"overwrite":"yes"}}"#)), &[info(5)], None)), Some(ErrorCode::InvalidInput));
    assert_eq!(code(from_options(EP, &o(&format!(r#"{{{base},"metadata":{{"a":1}}}}"#)), &[info(5)], None)), Some(ErrorCode::InvalidInput));
    assert_eq!(code(from_options(EP, &o(&format!(r#"{{{base},"policyId":5}}"#)), &[info(5)], None)), Some(ErrorCode::InvalidInput));
    assert_eq!(code(from_options("relative", &o(&format!("{{{base}}}")), &[info(5)], None)), Some(ErrorCode::InvalidInput));
    // A bad option is named, with what it must be.
    let message = |extra: &str| from_options(EP, &o(&format!("{{{base},{extra}}}")), &[info(5)], None).err().map(|e| (e.code, e.message));
    let invalid = |m: &str| Some((ErrorCode::InvalidInput, m.to_string()));
    assert_eq!(message(r#""overwrite":"yes""#), invalid("overwrite must be a boolean"));
    assert_eq!(message(r#""metadata":{"a":"x","b":1}"#), invalid("metadata values must be strings"));
    assert_eq!(message(r#""metadata":["a"]"#), invalid("metadata must be an object of strings"));
    assert_eq!(message(r#""policyId":5"#), invalid("policyId must be a string"));
    assert_eq!(message(r#""mimeType":true,"purchaseTicket":[]"#), invalid("mimeType must be a string"), "the first bad option");
    assert_eq!(message(r#""metadata":null,"overwrite":null,"policyId":null,"other":{"any":1}"#), None, "null is absent; other keys are not Cloudreve's");
    let many: Vec<String> = (0..257).map(|i| format!(r#""k{i}":"v""#)).collect();
    assert_eq!(message(&format!(r#""metadata":{{{}}}"#, many.join(","))), invalid("metadata has more than 256 entries"));
    let e = from_options(EP, &o(r#"{"uri":5,"accessToken":"t"}"#), &[info(5)], None).err().unwrap();
    assert_eq!(e.message, "uri must be a string");
    let e = from_options(EP, &o(r#"{"uri":"cloudreve://my/a.bin","accessToken":{}}"#), &[info(5)], None).err().unwrap();
    assert_eq!(e.message, "accessToken must be a string");
    assert_eq!(target_uri("cloudreve://my/folder/", "a b.txt").unwrap(), "cloudreve://my/folder/a%20b.txt");
    assert_eq!(target_uri("cloudreve://my", "x").unwrap(), "cloudreve://my/x");
    assert_eq!(target_uri(" cloudreve://my/f.bin ", "x").unwrap(), "cloudreve://my/f.bin");
    assert!(target_uri("cloudreve://my/folder/", "").is_err());
    assert!(target_uri("cloudreve:///x", "x").is_err());
    assert!(target_uri("cloudreve://my/a\nb", "x").is_err());
}

// ---- a simulated Cloudreve -----------------------------------------------------------------

/// A fault: (route, nth occurrence from 1, what happens).
#[derive(Clone)]
enum Fault {
    /// Answer this instead of handling.
    Answer(Outcome),
    /// Handle it, then lose the answer.
    LoseAnswer,
    /// The access token expires just before this request arrives.
    ExpireToken,
    /// The upload session expires just before this request arrives.
    ExpireSession,
}

struct Sim {
    policy: &'static str,
    chunk: u64,
    total: u64,
    concurrency: Option<u64>,
    relay: bool,
    sid: String,
    token: String,
    next_token: Option<String>,
    /// Bytes stored so far (local/remote/onedrive), as byte ranges in arrival order.
    stored: Vec<(u64, u64)>,
    written: u64,
    etags: HashMap<u64, String>,
    od_received: u64,
    complete: bool,
    completed_object: bool,
    deleted: bool,
    log: Vec<Request>,
    counts: HashMap<&'static str, usize>,
    faults: Vec<(&'static str, usize, Fault)>,
    etag_header: bool,
    create_extra: String,
    max_in_flight: usize,
    /// The current session expired (Cloudreve keeps its placeholder, which records it).
    expired: bool,
    /// Sessions created.
    sessions: u32,
    /// The file at the uri is a finished file that no upload session of ours created.
    foreign_file: bool,
    /// Tokens asked for through getAccessToken.
    refreshes: u32,
}

impl Sim {
    fn new(policy: &'static str, chunk: u64, total: u64) -> Sim {
        Sim {
            policy,
            chunk,
            total,
            concurrency: None,
            relay: false,
            sid: "0f7c1e2a-3b4c-4d5e-8f90-a1b2c3d4e5f6".into(),
            token: TOKEN.into(),
            next_token: None,
            stored: Vec::new(),
            written: 0,
            etags: HashMap::new(),
            od_received: 0,
            complete: false,
            completed_object: false,
            deleted: false,
            log: Vec::new(),
            counts: HashMap::new(),
            faults: Vec::new(),
            etag_header: true,
            create_extra: String::new(),
            max_in_flight: 0,
            expired: false,
            sessions: 0,
            foreign_file: false,
            refreshes: 0,
        }
    }
    /// Whether the file at the uri is an upload placeholder (or a file locked by an upload).
    fn placeholder(&self) -> bool {
        self.sessions > 0 && !self.deleted && !self.complete
    }
    fn fault(mut self, route: &'static str, nth: usize, f: Fault) -> Self {
        self.faults.push((route, nth, f));
        self
    }
    fn count(&self) -> u64 {
        if self.total == 0 || self.chunk == 0 {
            1
        } else {
            self.total.div_ceil(self.chunk)
        }
    }
    fn range(&self, i: u64) -> (u64, u64) {
        if self.chunk == 0 {
            return (0, self.total);
        }
        let s = (i * self.chunk).min(self.total);
        (s, (s + self.chunk).min(self.total))
    }
    fn route(req: &Request) -> &'static str {
        let u = req.url.as_str();
        match req.method {
            Method::Put if u == format!("{EP}/api/v4/file/upload") => "create",
            Method::Delete if u == format!("{EP}/api/v4/file/upload") => "delete",
            Method::Post if u.starts_with(&format!("{EP}/api/v4/file/upload/")) => "chunk",
            _ if u.starts_with(&format!("{EP}/api/v4/callback/")) => "callback",
            Method::Get if u.starts_with(&format!("{EP}/api/v4/file/info")) => "file-info",
            Method::Post if u.starts_with("http://node.test/") => "node-chunk",
            Method::Put if u.starts_with("http://bucket.test/part/") => "part",
            Method::Post if u.starts_with("http://bucket.test/complete") => "complete",
            Method::Put if u.starts_with("http://od.test/") => "od-chunk",
            Method::Get if u.starts_with("http://od.test/") => "od-status",
            _ => "other",
        }
    }
    fn envelope(code: i64, msg: &str) -> Outcome {
        resp(200, &format!(r#"{{"code":{code},"msg":"{msg}"}}"#))
    }
    fn bearer_ok(&self, req: &Request) -> bool {
        req.get_header("authorization") == Some(format!("Bearer {}", self.token).as_str())
    }
    fn slice(req: &Request) -> (u64, u64) {
        match &req.body {
            Body::Slice(s) => (s.start, s.end),
            _ => (u64::MAX, u64::MAX),
        }
    }

    fn answer(&mut self, req: &Request) -> Outcome {
        let route = Self::route(req);
        let n = {
            let c = self.counts.entry(route).or_insert(0);
            *c += 1;
            *c
        };
        let fault = self.faults.iter().find(|(r, k, _)| *r == route && *k == n).map(|(_, _, f)| f.clone());
        match fault {
            Some(Fault::Answer(o)) => o,
            Some(Fault::LoseAnswer) => {
                let _ = self.handle(route, req);
                Outcome::Network("connection reset".into())
            }
            Some(Fault::ExpireToken) => {
                self.token = "expired-token".into();
                self.handle(route, req)
            }
            Some(Fault::ExpireSession) => {
                self.expired = true;
                self.handle(route, req)
            }
            None => self.handle(route, req),
        }
    }

    fn handle(&mut self, route: &'static str, req: &Request) -> Outcome {
        // Credential isolation: user token only to Cloudreve, node credential only to the node.
        let to_cr = req.url.starts_with(EP);
        if !to_cr {
            assert_ne!(req.get_header("authorization").map(|a| a.contains(TOKEN)), Some(true), "user token sent to {}", req.url);
            assert!(req.headers.iter().all(|(k, _)| !k.to_ascii_lowercase().starts_with("x-cr-")), "X-Cr-* header sent to {}", req.url);
        }
        match route {
            "create" => {
                if !self.bearer_ok(req) {
                    return Self::envelope(401, "Login required");
                }
                let Body::Text { text, .. } = &req.body else { panic!("create needs a JSON body") };
                let j = parse(text).unwrap();
                assert_eq!(j.get("size").and_then(Json::as_u64), Some(self.total));
                assert!(j.get("encryption_supported").is_none(), "plaintext uploads only");
                // PrepareUpload: an existing file (a placeholder included) refuses a plain create;
                // a `version` create reaches the lock, which lives as long as its session.
                let version = j.get("entity_type").and_then(Json::as_str) == Some("version");
                if (self.placeholder() || self.foreign_file) && !version {
                    return Self::envelope(40004, "Object existed");
                }
                if self.placeholder() && !self.expired {
                    return resp(200, r#"{"code":40073,"msg":"Lock conflict","data":[{"path":"/dir/data.bin","token":"t","owner":{"application":{"type":"upload"}},"type":0}]}"#);
                }
                self.sessions += 1;
                if self.sessions > 1 {
                    self.sid = format!("0f7c1e2a-3b4c-4d5e-8f90-a1b2c3d4e5f6-{}", self.sessions);
                    self.stored.clear();
                    self.written = 0;
                    self.etags.clear();
                    self.od_received = 0;
                    self.complete = false;
                    self.completed_object = false;
                    self.deleted = false;
                    self.expired = false;
                }
                let sid = &self.sid;
                let count = self.count();
                let mut urls = String::new();
                let mut extra = String::new();
                match self.policy {
                    "remote" => {
                        urls = format!(r#","upload_urls":["http://node.test/api/v4/slave/upload/{sid}"]"#);
                        extra = format!(r#","credential":"{CRED}""#);
                    }
                    "s3" | "ks3" | "cos" | "oss" | "obs" => {
                        let list: Vec<String> = (1..=count).map(|i| format!("\"http://bucket.test/part/{i}?X-Amz-Signature=s{i}\"")).collect();
                        urls = format!(r#","upload_urls":[{}]"#, list.join(","));
                        extra = r#","completeURL":"http://bucket.test/complete?X-Amz-Signature=c""#.into();
                    }
                    "onedrive" => urls = r#","upload_urls":["http://od.test/session?tempauth=t"]"#.into(),
                    _ => {}
                }
                let conc = self.concurrency.map(|c| format!(r#","chunk_concurrency":{c}"#)).unwrap_or_default();
                let relay = if self.relay { r#","relay":true"# } else { "" };
                let cs = if self.relay { 0 } else { self.chunk };
                let data = format!(
                    r#"{{"session_id":"{sid}","chunk_size":{cs},"expires":1800000000,"storage_policy":{{"id":"p1","name":"x","type":"{}","max_size":0{conc}{relay}}},"uri":"{}","callback_secret":"SeCrEt123"{urls}{extra}{}}}"#,
                    self.policy,
                    j.get("uri").and_then(Json::as_str).unwrap(),
                    self.create_extra
                );
                if self.relay {
                    self.chunk = 0;
                }
                resp(200, &ok_body(&data))
            }
            "chunk" | "node-chunk" => {
                // An expired JWT runs the chunk as the anonymous user, who owns no session.
                if route == "chunk" && !self.bearer_ok(req) {
                    return Self::envelope(40011, "Upload session expired or not exist");
                }
                if route == "node-chunk" && req.get_header("authorization") != Some(CRED) {
                    return Self::envelope(40071, "invalid sign");
                }
                if route == "node-chunk" && self.expired {
                    // The node credential expires with the session.
                    return Self::envelope(40071, "sign expired");
                }
                assert_eq!(req.get_header("content-type"), Some("application/octet-stream"));
                if self.complete || self.deleted || self.expired {
                    return Self::envelope(40011, "Upload session expired or not exist");
                }
                let index: u64 = if route == "chunk" {
                    req.url.rsplit('/').next().unwrap().parse().unwrap()
                } else {
                    req.url.split("chunk=").nth(1).unwrap().parse().unwrap()
                };
                assert!(req.url.contains(&self.sid));
                let (s, e) = Self::slice(req);
                let (es, ee) = self.range(index);
                if (s, e) != (es, ee) {
                    return Self::envelope(40013, "Invalid Content-Length");
                }
                if s > self.written {
                    return Self::envelope(50004, "Failed to upload file");
                }
                self.stored.push((s, e));
                self.written = self.written.max(e);
                if index + 1 == self.count() {
                    self.complete = true;
                }
                resp(200, r#"{"code":0,"msg":""}"#)
            }
            "part" => {
                assert!(req.get_header("authorization").is_none());
                if self.expired {
                    return resp(403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>");
                }
                let n: u64 = req.url.split("/part/").nth(1).unwrap().split('?').next().unwrap().parse().unwrap();
                let (s, e) = Self::slice(req);
                assert_eq!((s, e), self.range(n - 1), "part {n} carries its own range");
                self.stored.push((s, e));
                let etag = format!("\"etag-{n}\"");
                self.etags.insert(n, etag.clone());
                let r = Response::new(200);
                Outcome::Response(if self.etag_header { r.with_header("ETag", &etag) } else { r })
            }
            "complete" => {
                // The completion URL is presigned for the session's lifetime, like the parts.
                if self.expired {
                    return resp(403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>");
                }
                if self.completed_object || self.deleted {
                    return resp(404, "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>");
                }
                let Body::Text { text, .. } = &req.body else {
                    assert_eq!(self.policy, "oss", "only OSS completes with an empty body");
                    assert_eq!(req.get_header("x-oss-complete-all"), Some("yes"));
                    assert_eq!(req.get_header("x-oss-forbid-overwrite"), Some("true"));
                    self.completed_object = true;
                    self.complete = true;
                    return resp(200, r#"{"code":0,"msg":""}"#);
                };
                let want: Vec<String> = (1..=self.count()).map(|i| self.etags.get(&i).cloned().unwrap_or_default()).collect();
                assert_eq!(text, &completion_xml(&want), "every part, in order, with its ETag");
                if self.policy == "cos" {
                    assert_eq!(req.get_header("x-cos-forbid-overwrite"), Some("true"));
                }
                self.completed_object = true;
                if self.policy == "obs" {
                    self.complete = true;
                    return resp(200, r#"{"code":0,"msg":""}"#);
                }
                resp(200, "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>")
            }
            "callback" => {
                assert!(req.url.ends_with(&format!("/{}/SeCrEt123", self.sid)), "{}", req.url);
                let expect = if self.policy == "onedrive" { Method::Post } else { Method::Get };
                assert_eq!(req.method, expect);
                assert!(req.url.contains(&format!("/callback/{}/", self.policy)));
                if self.complete || self.expired || self.deleted {
                    return Outcome::Response(Response::new(401).with_body(r#"{"code":40011,"msg":"Upload session does not exist or expired"}"#));
                }
                let done = if self.policy == "onedrive" { self.od_received == self.total } else { self.completed_object };
                if !done {
                    return resp(400, r#"{"code":40055,"msg":"File size not match"}"#);
                }
                self.complete = true;
                resp(200, r#"{"code":0,"msg":""}"#)
            }
            "file-info" => {
                if !self.bearer_ok(req) {
                    return Self::envelope(401, "Login required");
                }
                if self.foreign_file && !self.placeholder() {
                    return resp(200, &ok_body(r#"{"type":0,"name":"data.bin","size":3,"metadata":{}}"#));
                }
                if self.deleted || self.sessions == 0 {
                    return Self::envelope(40016, "Path not exist");
                }
                let meta = if self.complete { "{}".to_string() } else { format!(r#"{{"sys:upload_session_id":"{}"}}"#, self.sid) };
                resp(200, &ok_body(&format!(r#"{{"type":0,"name":"data.bin","size":{},"metadata":{meta}}}"#, self.total)))
            }
            "delete" => {
                if !self.bearer_ok(req) {
                    return Self::envelope(401, "Login required");
                }
                let Body::Text { text, .. } = &req.body else { panic!("delete needs a JSON body") };
                let j = parse(text).unwrap();
                assert_eq!(j.get("id").and_then(Json::as_str), Some(self.sid.as_str()));
                assert!(j.get("uri").and_then(Json::as_str).unwrap().starts_with("cloudreve://my/"));
                self.deleted = true;
                resp(200, r#"{"code":0,"msg":""}"#)
            }
            "od-chunk" => {
                assert!(req.get_header("authorization").is_none());
                if self.expired || self.deleted {
                    return resp(404, r#"{"error":{"code":"itemNotFound","message":"The upload session was not found."}}"#);
                }
                let (s, e) = Self::slice(req);
                assert_eq!(req.get_header("content-range"), Some(format!("bytes {}-{}/{}", s, e - 1, self.total).as_str()));
                if s != self.od_received {
                    return resp(416, r#"{"error":{"code":"invalidRange","innererror":{"code":"fragmentOverlap"}}}"#);
                }
                self.stored.push((s, e));
                self.od_received = e;
                if e == self.total {
                    resp(201, r#"{"id":"x","size":1}"#)
                } else {
                    resp(202, &format!(r#"{{"nextExpectedRanges":["{e}-"]}}"#))
                }
            }
            "od-status" => {
                if self.od_received == self.total {
                    return resp(404, r#"{"error":{"code":"itemNotFound"}}"#);
                }
                resp(200, &format!(r#"{{"nextExpectedRanges":["{}-{}"]}}"#, self.od_received, self.total - 1))
            }
            _ => panic!("unexpected request {} {}", req.method.as_str(), req.url),
        }
    }
}

impl drive::Server for Sim {
    fn answer(&mut self, req: &Request) -> Outcome {
        Sim::answer(self, req)
    }
    fn token(&mut self) -> Option<String> {
        self.refreshes += 1;
        drive::hand_out_token(&mut self.next_token, &mut self.token)
    }
    fn sent(&mut self, req: &Request, in_flight: usize) {
        self.log.push(req.clone());
        self.max_in_flight = self.max_in_flight.max(in_flight);
    }
}

fn drive_with(proto: Cloudreve, sim: &mut Sim, order: Order, refresh: bool, abort_after: Option<usize>) -> Run {
    let mut engine = Engine::new(Box::new(proto) as Box<dyn Protocol>, RetryPolicy::new(vec![10, 10, 10, 10]), refresh);
    engine.start(0.0);
    drive::drive(&mut engine, sim, Drive { abort_after, ..Drive::new(order, 0.0, 1.0) })
}

fn drive(sim: &mut Sim, size: u64, order: Order) -> Run {
    let p = Cloudreve::new(EP, &info(size), params()).unwrap();
    drive_with(p, sim, order, false, None)
}

fn routes(sim: &Sim) -> Vec<&'static str> {
    sim.log.iter().map(Sim::route).collect()
}

fn covers(stored: &[(u64, u64)], total: u64) -> bool {
    let mut v = stored.to_vec();
    v.sort();
    v.dedup();
    let mut at = 0;
    for (s, e) in v {
        if s > at {
            return false;
        }
        at = at.max(e);
    }
    at == total
}

// ---- request sequences per policy ----------------------------------------------------------

#[test]
fn local_sends_chunks_in_order_with_the_user_token() {
    let mut sim = Sim::new("local", 100, 350);
    let mut p = params();
    p.policy_id = Some("p1".into());
    p.purchase_ticket = Some("ticket-1".into());
    p.metadata = vec![("k".into(), "v".into())];
    let proto = Cloudreve::new(EP, &info(350), p).unwrap();
    let run = drive_with(proto, &mut sim, Order::Fifo, false, None);
    let json = run.result.unwrap();
    assert_eq!(json.get("uri").and_then(Json::as_str), Some("cloudreve://my/dir/data.bin"));
    assert_eq!(json.get("sessionId").and_then(Json::as_str), Some(sim.sid.as_str()));
    assert_eq!(json.get("policyType").and_then(Json::as_str), Some("local"));
    assert_eq!(routes(&sim), ["create", "chunk", "chunk", "chunk", "chunk"]);
    let create = &sim.log[0];
    assert_eq!(create.method, Method::Put);
    let Body::Text { text, content_type } = &create.body else { panic!() };
    assert_eq!(content_type, "application/json");
    let body = parse(text).unwrap();
    assert_eq!(body.get("last_modified").and_then(Json::as_u64), Some(1_700_000_000_123), "milliseconds, an integer");
    assert_eq!(body.get("mime_type").and_then(Json::as_str), Some("application/x-test"));
    assert_eq!(body.get("policy_id").and_then(Json::as_str), Some("p1"));
    assert_eq!(body["metadata"]["k"].as_str(), Some("v"));
    assert!(body.get("entity_type").is_none());
    for (i, r) in sim.log[1..].iter().enumerate() {
        assert_eq!(r.url, format!("{EP}/api/v4/file/upload/{}/{i}", sim.sid));
        assert_eq!(r.get_header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(r.get_header("x-cr-purchase-ticket"), Some("ticket-1"));
    }
    assert_eq!(sim.stored, [(0, 100), (100, 200), (200, 300), (300, 350)]);
    assert!(run.cleanup.is_empty());
}

#[test]
fn empty_file_and_chunk_size_zero() {
    let mut sim = Sim::new("local", 100, 0);
    drive(&mut sim, 0, Order::Fifo).result.unwrap();
    assert_eq!(routes(&sim), ["create", "chunk"]);
    assert_eq!(sim.stored, [(0, 0)], "one chunk of 0 bytes");

    let mut sim = Sim::new("local", 0, 5000);
    drive(&mut sim, 5000, Order::Fifo).result.unwrap();
    assert_eq!(sim.stored, [(0, 5000)], "chunk_size 0: one request");

    let mut sim = Sim::new("s3", 100, 5000);
    sim.relay = true;
    let run = drive(&mut sim, 5000, Order::Fifo);
    assert_eq!(run.result.unwrap().get("policyType").and_then(Json::as_str), Some("s3"));
    assert_eq!(routes(&sim), ["create", "chunk"], "a relayed policy goes through Cloudreve");
}

#[test]
fn remote_uses_the_session_credential_only() {
    let mut sim = Sim::new("remote", 64, 200);
    let mut p = params();
    p.purchase_ticket = Some("ticket-1".into());
    let run = drive_with(Cloudreve::new(EP, &info(200), p).unwrap(), &mut sim, Order::Fifo, false, None);
    run.result.unwrap();
    assert_eq!(routes(&sim), ["create", "node-chunk", "node-chunk", "node-chunk", "node-chunk"]);
    for (i, r) in sim.log[1..].iter().enumerate() {
        assert_eq!(r.url, format!("http://node.test/api/v4/slave/upload/{}?chunk={i}", sim.sid));
        assert_eq!(r.get_header("authorization"), Some(CRED), "exactly the credential");
        assert_eq!(r.headers.len(), 2, "Authorization and Content-Type only: {:?}", r.headers);
    }
}

fn s3_run(policy: &'static str, order: Order, concurrency: Option<u64>) -> (Sim, Run) {
    let mut sim = Sim::new(policy, 100, 950);
    sim.concurrency = concurrency;
    let run = drive(&mut sim, 950, order);
    (sim, run)
}

#[test]
fn s3_parts_go_in_parallel_and_complete_in_order() {
    let (sim, run) = s3_run("s3", Order::Lifo, None);
    let json = run.result.unwrap();
    assert_eq!(json.get("policyType").and_then(Json::as_str), Some("s3"));
    assert_eq!(sim.max_in_flight, 3, "three parts at once by default");
    let r = routes(&sim);
    assert_eq!(r.iter().filter(|x| **x == "part").count(), 10);
    assert_eq!(&r[r.len() - 2..], ["complete", "callback"]);
    assert!(covers(&sim.stored, 950));
    // Answered newest-first: parts completed out of order, the XML is still in order (checked by the sim).
    let cb = sim.log.last().unwrap();
    assert_eq!(cb.url, format!("{EP}/api/v4/callback/s3/{}/SeCrEt123", sim.sid));
    let complete = &sim.log[sim.log.len() - 2];
    assert_eq!(complete.get_header("content-type"), Some("application/octet-stream"));

    let (sim, run) = s3_run("s3", Order::Fifo, Some(5));
    run.result.unwrap();
    assert_eq!(sim.max_in_flight, 5, "chunk_concurrency from the policy");
}

#[test]
fn s3_flavours() {
    let (sim, run) = s3_run("cos", Order::Fifo, None);
    run.result.unwrap();
    assert!(sim.log.last().unwrap().url.contains("/callback/cos/"));
    let (sim, run) = s3_run("ks3", Order::Lifo, None);
    run.result.unwrap();
    assert!(sim.log.last().unwrap().url.contains("/callback/ks3/"));
    let (sim, run) = s3_run("oss", Order::Fifo, Some(2));
    run.result.unwrap();
    assert_eq!(*routes(&sim).last().unwrap(), "complete", "OSS calls Cloudreve back itself");
    let (sim, run) = s3_run("obs", Order::Fifo, None);
    run.result.unwrap();
    assert_eq!(*routes(&sim).last().unwrap(), "complete", "OBS calls Cloudreve back itself");
    // OSS needs no ETag (complete-all); the others must read one.
    let mut sim = Sim::new("oss", 100, 250);
    sim.etag_header = false;
    drive(&mut sim, 250, Order::Fifo).result.unwrap();
}

#[test]
fn s3_missing_etag_is_a_protocol_error_and_cleans_up() {
    let mut sim = Sim::new("s3", 100, 250);
    sim.etag_header = false;
    let run = drive(&mut sim, 250, Order::Fifo);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Protocol);
    assert!(e.message.contains("ETag") && e.message.contains("Access-Control-Expose-Headers"), "{}", e.message);
    assert_eq!(run.cleanup.len(), 1);
    assert_eq!(run.cleanup[0].method, Method::Delete);
    assert_eq!(run.cleanup[0].url, format!("{EP}/api/v4/file/upload"));
}

#[test]
fn onedrive_ranges_status_query_and_callback() {
    let mut sim = Sim::new("onedrive", 100, 330).fault("od-chunk", 2, Fault::LoseAnswer).fault("od-chunk", 3, Fault::Answer(resp(503, "")));
    let run = drive(&mut sim, 330, Order::Fifo);
    run.result.unwrap();
    assert_eq!(
        routes(&sim),
        ["create", "od-chunk", "od-chunk", "od-status", "od-chunk", "od-status", "od-chunk", "od-chunk", "callback"]
    );
    assert_eq!(sim.stored, [(0, 100), (100, 200), (200, 300), (300, 330)], "no byte range sent twice");
    assert_eq!(sim.log.last().unwrap().method, Method::Post);

    // The last fragment's answer is lost: the upload URL is gone (404), so Cloudreve is asked.
    let mut sim = Sim::new("onedrive", 100, 250).fault("od-chunk", 3, Fault::LoseAnswer);
    drive(&mut sim, 250, Order::Fifo).result.unwrap();
    assert_eq!(&routes(&sim)[3..], ["od-chunk", "od-status", "callback"]);

    // An empty file cannot go to OneDrive: a clear error, and the session is deleted.
    let mut sim = Sim::new("onedrive", 100, 0);
    let run = drive(&mut sim, 0, Order::Fifo);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::InvalidInput);
    assert_eq!(run.cleanup.len(), 1);
}

// ---- retry semantics -----------------------------------------------------------------------

#[test]
fn failed_chunks_are_resent_at_the_same_index() {
    let net = Fault::Answer(Outcome::Network("reset".into()));
    let mut sim = Sim::new("local", 100, 450)
        .fault("chunk", 2, net.clone())
        .fault("chunk", 4, Fault::Answer(resp(502, "<html>Bad Gateway</html>")))
        .fault("chunk", 6, Fault::Answer(Sim::envelope(40073, "Lock conflict")))
        .fault("chunk", 8, Fault::Answer(Sim::envelope(-1, "internal")))
        .fault("chunk", 9, Fault::LoseAnswer);
    let json = drive(&mut sim, 450, Order::Fifo).result.unwrap();
    let idx: Vec<&str> = sim.log[1..].iter().filter(|r| Sim::route(r) == "chunk").map(|r| r.url.rsplit('/').next().unwrap()).collect();
    assert_eq!(idx, ["0", "1", "1", "2", "2", "3", "3", "4", "4", "4"]);
    assert_eq!(sim.stored.iter().filter(|r| **r == (400, 450)).count(), 1, "stored once; its answer was lost");
    // …and the re-sent last chunk met a completed session (40011): the file was looked up.
    assert_eq!(*routes(&sim).last().unwrap(), "file-info");
    assert!(json.get("file").is_some());

    // Retries run out on a middle chunk: the last error is reported and the session is deleted.
    let mut sim = Sim::new("local", 100, 300);
    for k in 2..=7 {
        sim = sim.fault("chunk", k, Fault::Answer(resp(503, "")));
    }
    let run = drive(&mut sim, 300, Order::Fifo);
    let e = run.result.unwrap_err();
    assert_eq!((e.code, e.status, e.retryable), (ErrorCode::Http, Some(503), true));
    assert!(e.message.contains("after 4 retries"), "{}", e.message);
    assert_eq!(run.cleanup.len(), 1);

    // …but not when the last chunk's fate is unknown (a 503 may come after it was stored).
    let mut sim = Sim::new("local", 100, 200);
    for k in 2..=7 {
        sim = sim.fault("chunk", k, Fault::Answer(resp(503, "")));
    }
    let run = drive(&mut sim, 200, Order::Fifo);
    assert!(run.result.is_err());
    assert!(run.cleanup.is_empty());
}

#[test]
fn session_gone_after_a_lost_last_answer_is_verified() {
    // The last chunk is stored and the session completed, but the answer is lost: the retry
    // gets 40011 and the file is looked up.
    let mut sim = Sim::new("local", 100, 250).fault("chunk", 3, Fault::LoseAnswer);
    let run = drive(&mut sim, 250, Order::Fifo);
    let json = run.result.unwrap();
    assert_eq!(json["file"]["size"].as_u64(), Some(250));
    assert_eq!(&routes(&sim)[3..], ["chunk", "chunk", "file-info"]);
    assert!(run.cleanup.is_empty());

    // 40011 in the middle and the file no longer records this session (cancelled elsewhere):
    // session-expired, nothing created again.
    let mut sim = Sim::new("local", 100, 250)
        .fault("chunk", 2, Fault::Answer(Sim::envelope(40011, "Upload session expired")))
        .fault("file-info", 1, Fault::Answer(Sim::envelope(40016, "Path not exist")));
    let run = drive(&mut sim, 250, Order::Fifo);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired);
    assert!(e.message.contains("before the file was complete"), "{}", e.message);
    assert_eq!(&routes(&sim)[2..], ["chunk", "file-info"]);
    assert_eq!(run.cleanup.len(), 1);

    // Lost answer, then 40011, and the file is still a placeholder of this session: it expired,
    // so it is deleted and a new session sends the file again.
    let mut sim = Sim::new("local", 100, 250)
        .fault("chunk", 3, Fault::Answer(Outcome::Network("reset".into())))
        .fault("chunk", 4, Fault::Answer(Sim::envelope(40011, "Upload session expired")));
    let run = drive(&mut sim, 250, Order::Fifo);
    run.result.unwrap();
    assert_eq!(&routes(&sim)[4..], ["chunk", "file-info", "delete", "create", "chunk", "chunk", "chunk"]);
    assert_eq!(sim.sessions, 2);

    // Lost answer and the check itself keeps failing: nothing is deleted (it may be complete).
    let mut sim = Sim::new("local", 100, 250).fault("chunk", 3, Fault::LoseAnswer);
    for k in 1..=5 {
        sim = sim.fault("file-info", k, Fault::Answer(resp(502, "")));
    }
    let run = drive(&mut sim, 250, Order::Fifo);
    assert!(run.result.is_err());
    assert!(run.cleanup.is_empty(), "never delete what may be a completed upload");
}

#[test]
fn s3_lost_answers_on_complete_and_callback() {
    // Complete succeeded but its answer was lost: the retry gets NoSuchUpload, go on to the callback.
    let mut sim = Sim::new("s3", 100, 250).fault("complete", 1, Fault::LoseAnswer);
    drive(&mut sim, 250, Order::Fifo).result.unwrap();
    assert_eq!(&routes(&sim)[4..], ["complete", "complete", "callback"]);
    // Callback answer lost: the retry gets 40011 (HTTP 401), the file is checked.
    let mut sim = Sim::new("s3", 100, 250).fault("callback", 1, Fault::LoseAnswer);
    let json = drive(&mut sim, 250, Order::Fifo).result.unwrap();
    assert!(json.get("file").is_some());
    assert_eq!(&routes(&sim)[5..], ["callback", "callback", "file-info"]);
    // A part fails with 503 and a dropped connection: re-sent, the XML still lists every part.
    let mut sim = Sim::new("s3", 100, 550)
        .fault("part", 2, Fault::Answer(resp(503, "<Error><Code>SlowDown</Code></Error>")))
        .fault("part", 4, Fault::Answer(Outcome::Network("reset".into())));
    drive(&mut sim, 550, Order::Lifo).result.unwrap();
    assert_eq!(routes(&sim).iter().filter(|r| **r == "part").count(), 8);
    // A presigned URL refused (403) or the upload gone (404): clear errors.
    let mut sim = Sim::new("s3", 100, 250).fault("part", 1, Fault::Answer(resp(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")));
    let e = drive(&mut sim, 250, Order::Fifo).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Auth);
    assert!(e.message.contains("Access Denied"), "{}", e.message);
    assert!(!routes(&sim).contains(&"file-info"), "a plain refusal is final");
    let mut sim = Sim::new("s3", 100, 250).fault("complete", 1, Fault::Answer(resp(400, "<Error><Code>InvalidPart</Code><Message>bad etag</Message></Error>")));
    let e = drive(&mut sim, 250, Order::Fifo).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Protocol);
    // S3's "200 with an error inside" is not a success.
    let mut sim = Sim::new("s3", 100, 250).fault("complete", 1, Fault::Answer(resp(200, "<Error><Code>InternalError</Code><Message>try again</Message></Error>")));
    drive(&mut sim, 250, Order::Fifo).result.unwrap();
    assert_eq!(routes(&sim).iter().filter(|r| **r == "complete").count(), 2);
}

#[test]
fn reauth_replaces_the_token_and_resends() {
    let mut sim = Sim::new("local", 100, 250).fault("chunk", 2, Fault::Answer(Sim::envelope(401, "Login required")));
    sim.next_token = Some("fresh-token-1".into());
    let proto = Cloudreve::new(EP, &info(250), params()).unwrap();
    let run = drive_with(proto, &mut sim, Order::Fifo, true, None);
    run.result.unwrap();
    let chunks: Vec<&Request> = sim.log.iter().filter(|r| Sim::route(r) == "chunk").collect();
    assert_eq!(chunks.len(), 4);
    assert!(chunks[1].url.ends_with("/1") && chunks[2].url.ends_with("/1"), "the refused chunk is sent again");
    assert_eq!(chunks[2].get_header("authorization"), Some("Bearer fresh-token-1"));

    // Without getAccessToken, 401 is final ('auth'), and the message never holds the token.
    let mut sim = Sim::new("local", 100, 250).fault("create", 1, Fault::Answer(resp(200, &format!(r#"{{"code":401,"msg":"bad {TOKEN}"}}"#))));
    let e = drive(&mut sim, 250, Order::Fifo).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Auth);
    assert!(!e.message.contains(TOKEN), "{}", e.message);
}

fn run_with(sim: &mut Sim, size: u64, p: UploadParams, refresh: bool) -> Run {
    let proto = Cloudreve::new(EP, &info(size), p).unwrap();
    drive_with(proto, sim, Order::Fifo, refresh, None)
}

fn delete_id(r: &Request) -> String {
    let Body::Text { text, .. } = &r.body else { panic!("delete needs a JSON body") };
    parse(text).unwrap().get("id").and_then(Json::as_str).unwrap().to_string()
}

#[test]
fn expired_token_on_a_chunk_is_renewed_before_the_session_counts_as_gone() {
    // Cloudreve answers a chunk with an expired JWT `{code: 40011}` (anonymous user), never 401.
    // The file check (401) shows it is the token: one fresh token, the same chunk again.
    for relay in [false, true] {
        let mut sim = Sim::new("local", 100, 450).fault("chunk", if relay { 1 } else { 3 }, Fault::ExpireToken);
        sim.relay = relay;
        sim.next_token = Some("fresh-token-1".into());
        let run = run_with(&mut sim, 450, params(), true);
        run.result.unwrap();
        assert_eq!(sim.refreshes, 1, "relay {relay}");
        assert_eq!(sim.sessions, 1, "relay {relay}: the session was kept");
        assert!(covers(&sim.stored, 450));
        let r = routes(&sim);
        assert!(!r.contains(&"delete"), "relay {relay}: {r:?}");
        let k = r.iter().position(|x| *x == "file-info").unwrap();
        assert_eq!(r[k - 1..k + 2], ["chunk", "file-info", "chunk"], "relay {relay}");
        assert_eq!(sim.log[k - 1].url, sim.log[k + 1].url, "the same chunk again");
        assert_eq!(sim.log[k + 1].get_header("authorization"), Some("Bearer fresh-token-1"));
    }

    // Without getAccessToken: 'auth', and the message says both what happened and why.
    let mut sim = Sim::new("local", 100, 450).fault("chunk", 3, Fault::ExpireToken);
    let run = run_with(&mut sim, 450, params(), false);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Auth);
    assert!(e.message.contains("40011") && e.message.contains("token was refused"), "{}", e.message);
    assert!(!e.message.contains(TOKEN));
    assert_eq!(sim.sessions, 1);

    // Token and session both expired: fresh token first; the session is then known gone, its
    // placeholder (recording it) is deleted with the fresh token, and a new session sends it all.
    let mut sim = Sim::new("local", 100, 450).fault("chunk", 3, Fault::ExpireToken).fault("chunk", 4, Fault::ExpireSession);
    sim.next_token = Some("fresh-token-2".into());
    let old_sid = sim.sid.clone();
    let run = run_with(&mut sim, 450, params(), true);
    run.result.unwrap();
    assert_eq!(sim.refreshes, 1);
    assert_eq!(&routes(&sim)[3..9], ["chunk", "file-info", "chunk", "file-info", "delete", "create"]);
    let del = sim.log.iter().find(|r| Sim::route(r) == "delete").unwrap();
    assert_eq!(delete_id(del), old_sid);
    assert_eq!(del.get_header("authorization"), Some("Bearer fresh-token-2"), "the clean-up uses the fresh token");
    assert_eq!(sim.sessions, 2);
    assert!(covers(&sim.stored, 450), "the new session got every byte");
}

#[test]
fn expired_session_is_replaced_a_bounded_number_of_times() {
    // The session expires mid-upload (token fine): the file check finds the placeholder still
    // recording it; deleted, created again, every byte sent again. No token asked for.
    let mut sim = Sim::new("local", 100, 450).fault("chunk", 3, Fault::ExpireSession);
    sim.next_token = Some("unused".into());
    let old_sid = sim.sid.clone();
    let run = run_with(&mut sim, 450, params(), true);
    let json = run.result.unwrap();
    assert_eq!(sim.refreshes, 0);
    assert_eq!(sim.sessions, 2);
    assert_eq!(json.get("sessionId").and_then(Json::as_str), Some(sim.sid.as_str()));
    let del = sim.log.iter().find(|r| Sim::route(r) == "delete").unwrap();
    assert_eq!(delete_id(del), old_sid, "only this upload's own session is deleted");
    assert!(covers(&sim.stored, 450));

    // Expiring again and again: at most MAX_NEW_SESSIONS new sessions, then session-expired.
    let mut sim = Sim::new("local", 100, 450);
    for k in [2, 4, 6, 8] {
        sim = sim.fault("chunk", k, Fault::ExpireSession);
    }
    let run = run_with(&mut sim, 450, params(), false);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired);
    assert!(e.message.contains("gave up after 2 new upload sessions"), "{}", e.message);
    assert_eq!(sim.sessions, 3);
    assert_eq!(routes(&sim).iter().filter(|r| **r == "delete").count(), 2);
    assert_eq!(run.cleanup.len(), 1, "the last session is still deleted on failure");

    // OneDrive: the upload URL is gone with the expired session (404): same recovery.
    let mut sim = Sim::new("onedrive", 100, 450).fault("od-chunk", 3, Fault::ExpireSession);
    let run = run_with(&mut sim, 450, params(), false);
    run.result.unwrap();
    assert_eq!(sim.sessions, 2);
    assert_eq!(&routes(&sim)[3..7], ["od-chunk", "file-info", "delete", "create"]);
    assert!(covers(&sim.stored, 450));
    // …but a OneDrive session gone while the file no longer records it: session-expired.
    let mut sim = Sim::new("onedrive", 100, 450)
        .fault("od-chunk", 3, Fault::ExpireSession)
        .fault("file-info", 1, Fault::Answer(Sim::envelope(40016, "Path not exist")));
    let e = run_with(&mut sim, 450, params(), false).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired);
    assert!(e.message.contains("OneDrive upload session is gone"), "{}", e.message);

    // S3-like and remote-node sessions: their credentials expire with the session ("Request has
    // expired", "sign expired"); the file check finds the placeholder, a new session follows.
    for (policy, route) in [("s3", "part"), ("oss", "part"), ("remote", "node-chunk")] {
        let mut sim = Sim::new(policy, 100, 450).fault(route, 3, Fault::ExpireSession);
        sim.concurrency = Some(1);
        let run = run_with(&mut sim, 450, params(), false);
        run.result.unwrap_or_else(|e| panic!("{policy}: {e:?}"));
        assert_eq!(sim.sessions, 2, "{policy}");
        assert!(covers(&sim.stored, 450), "{policy}");
        // …but when the file does not record the session, it cannot be replaced: a presigned
        // URL that expired with the session is an expired session; a node's refusal stands.
        let mut sim = Sim::new(policy, 100, 450)
            .fault(route, 3, Fault::ExpireSession)
            .fault("file-info", 1, Fault::Answer(Sim::envelope(40016, "Path not exist")));
        sim.concurrency = Some(1);
        let e = run_with(&mut sim, 450, params(), false).result.unwrap_err();
        let want = if policy == "remote" { ErrorCode::Auth } else { ErrorCode::SessionExpired };
        assert_eq!(e.code, want, "{policy}: {}", e.message);
        assert!(e.message.contains("expired"), "{}", e.message);
        if policy != "remote" {
            assert!(e.message.contains("Request has expired") && e.message.contains("before the file was complete"), "{}", e.message);
        }
        assert_eq!(sim.sessions, 1);
    }
    // Parts expiring again and again: session-expired once the new sessions are used up.
    let mut sim = Sim::new("s3", 100, 450);
    for k in [2, 6, 10, 14] {
        sim = sim.fault("part", k, Fault::ExpireSession);
    }
    sim.concurrency = Some(1);
    let e = run_with(&mut sim, 450, params(), false).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired, "{}", e.message);
    assert!(e.message.contains("Request has expired") && e.message.contains("gave up after 2 new upload sessions"), "{}", e.message);
    assert_eq!(sim.sessions, 3);
    // Parallel parts: the others' answers, arriving while the file is checked, are not lost.
    let mut sim = Sim::new("s3", 100, 950)
        .fault("part", 1, Fault::ExpireToken)
        .fault("part", 2, Fault::Answer(resp(403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")));
    sim.concurrency = Some(3);
    sim.next_token = Some("fresh".into());
    run_with(&mut sim, 950, params(), true).result.unwrap();
    assert_eq!((sim.sessions, sim.refreshes), (1, 1), "the token had expired, not the session");
    assert!(covers(&sim.stored, 950));

    // A OneDrive upload URL refused (401/403) is a refused credential: 'auth'.
    let mut sim = Sim::new("onedrive", 100, 450).fault("od-chunk", 2, Fault::Answer(resp(403, "<Error><Code>AccessDenied</Code></Error>")));
    let e = run_with(&mut sim, 450, params(), false).result.unwrap_err();
    assert_eq!((e.code, e.status), (ErrorCode::Auth, Some(403)));

    // A resumed session (earlier page) that expired: same recovery.
    let mut sim = Sim::new("local", 100, 450).fault("chunk", 1, Fault::ExpireSession);
    sim.sessions = 1;
    let mut p = Cloudreve::new(EP, &info(450), params()).unwrap();
    let state = Json::from(serde_json::json!({
        "sessionId": sim.sid,
        "uri": "cloudreve://my/dir/data.bin",
        "policyType": "local",
        "chunkSize": 100,
        "nextChunk": 2,
    }));
    p.restore(&state).unwrap();
    let run = drive_with(p, &mut sim, Order::Fifo, false, None);
    run.result.unwrap();
    assert_eq!(routes(&sim), ["chunk", "file-info", "delete", "create", "chunk", "chunk", "chunk", "chunk", "chunk"]);
}

#[test]
fn expired_session_at_the_end_of_an_upload_is_replaced() {
    // Every part stored, then the session expires: the presigned completion URL answers 403
    // "Request has expired". The file still records the session: deleted, created again, every
    // byte sent again (OSS and OBS call Cloudreve back themselves).
    for policy in ["s3", "ks3", "cos", "oss", "obs"] {
        let mut sim = Sim::new(policy, 100, 450).fault("complete", 1, Fault::ExpireSession);
        let old_sid = sim.sid.clone();
        let json = run_with(&mut sim, 450, params(), false).result.unwrap_or_else(|e| panic!("{policy}: {e:?}"));
        assert_eq!(sim.sessions, 2, "{policy}");
        assert_eq!(json.get("sessionId").and_then(Json::as_str), Some(sim.sid.as_str()));
        let r = routes(&sim);
        let k = r.iter().position(|x| *x == "complete").unwrap();
        assert_eq!(r[k..k + 4], ["complete", "file-info", "delete", "create"], "{policy}");
        assert_eq!(delete_id(&sim.log[k + 2]), old_sid, "only this upload's own session is deleted");
        assert_eq!(r.iter().filter(|x| **x == "part").count(), 10, "{policy}: every part again");
        assert!(sim.complete && covers(&sim.stored, 450), "{policy}: the new session got every byte");
    }

    // The completion went through, then Cloudreve's callback finds the session expired (40011,
    // HTTP 401): same recovery.
    for policy in ["s3", "ks3", "cos", "onedrive"] {
        let mut sim = Sim::new(policy, 100, 450).fault("callback", 1, Fault::ExpireSession);
        let old_sid = sim.sid.clone();
        run_with(&mut sim, 450, params(), false).result.unwrap_or_else(|e| panic!("{policy}: {e:?}"));
        assert_eq!(sim.sessions, 2, "{policy}");
        let r = routes(&sim);
        let k = r.iter().position(|x| *x == "callback").unwrap();
        assert_eq!(r[k..k + 4], ["callback", "file-info", "delete", "create"], "{policy}");
        assert_eq!(delete_id(&sim.log[k + 2]), old_sid);
        assert_eq!(r.iter().filter(|x| **x == "callback").count(), 2, "{policy}");
        assert!(sim.complete && covers(&sim.stored, 450), "{policy}: the new session got every byte");
    }

    // Token and session both expired by the callback (the callback route ignores the JWT, the
    // file check does not): a fresh token, the check again, then the same recovery with it.
    // (S3: the token expires with the completion; OneDrive: with the last chunk, 5 of 5.)
    for (policy, route, nth) in [("s3", "complete", 1), ("onedrive", "od-chunk", 5)] {
        let mut sim = Sim::new(policy, 100, 450).fault(route, nth, Fault::ExpireToken).fault("callback", 1, Fault::ExpireSession);
        sim.next_token = Some("fresh-token-3".into());
        run_with(&mut sim, 450, params(), true).result.unwrap_or_else(|e| panic!("{policy}: {e:?}"));
        assert_eq!((sim.sessions, sim.refreshes), (2, 1), "{policy}");
        let r = routes(&sim);
        let k = r.iter().position(|x| *x == "callback").unwrap();
        assert_eq!(r[k..k + 5], ["callback", "file-info", "file-info", "delete", "create"], "{policy}");
        assert_eq!(sim.log[k + 3].get_header("authorization"), Some("Bearer fresh-token-3"));
        assert!(sim.complete && covers(&sim.stored, 450), "{policy}: the new session got every byte");
        // …and without getAccessToken: 'auth', saying what happened and why.
        let mut sim = Sim::new(policy, 100, 450).fault(route, nth, Fault::ExpireToken).fault("callback", 1, Fault::ExpireSession);
        let e = run_with(&mut sim, 450, params(), false).result.unwrap_err();
        assert_eq!(e.code, ErrorCode::Auth, "{policy}");
        assert!(e.message.contains("40011") && e.message.contains("token was refused"), "{}", e.message);
        assert_eq!(sim.sessions, 1);
    }

    // The file no longer records the session (cancelled elsewhere): session-expired, not 'auth'.
    let mut sim = Sim::new("cos", 100, 450)
        .fault("complete", 1, Fault::ExpireSession)
        .fault("file-info", 1, Fault::Answer(Sim::envelope(40016, "Path not exist")));
    let e = run_with(&mut sim, 450, params(), false).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired, "{}", e.message);
    assert!(e.message.contains("multipart completion failed with HTTP 403: Request has expired"), "{}", e.message);
    assert!(e.message.contains("before the file was complete"), "{}", e.message);
    assert_eq!(sim.sessions, 1);
    for policy in ["s3", "onedrive"] {
        let mut sim = Sim::new(policy, 100, 450)
            .fault("callback", 1, Fault::ExpireSession)
            .fault("file-info", 1, Fault::Answer(Sim::envelope(40016, "Path not exist")));
        let e = run_with(&mut sim, 450, params(), false).result.unwrap_err();
        assert_eq!(e.code, ErrorCode::SessionExpired, "{policy}: {}", e.message);
        assert!(e.message.contains("upload callback failed") && e.message.contains("40011"), "{}", e.message);
        assert_eq!(sim.sessions, 1, "{policy}");
    }

    // Expiring at every completion: bounded, then session-expired.
    let mut sim = Sim::new("oss", 100, 450);
    for k in 1..=4 {
        sim = sim.fault("complete", k, Fault::ExpireSession);
    }
    let run = run_with(&mut sim, 450, params(), false);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired, "{}", e.message);
    assert!(e.message.contains("gave up after 2 new upload sessions") && e.message.contains("Request has expired"), "{}", e.message);
    assert_eq!(sim.sessions, 3);
    assert_eq!(routes(&sim).iter().filter(|r| **r == "delete").count(), 2);
    // The same at every OneDrive callback.
    let mut sim = Sim::new("onedrive", 100, 450);
    for k in 1..=4 {
        sim = sim.fault("callback", k, Fault::ExpireSession);
    }
    let e = run_with(&mut sim, 450, params(), false).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired, "{}", e.message);
    assert!(e.message.contains("gave up after 2 new upload sessions") && e.message.contains("40011"), "{}", e.message);
    assert_eq!(sim.sessions, 3);
    let r = routes(&sim);
    assert_eq!((r.iter().filter(|x| **x == "delete").count(), r.iter().filter(|x| **x == "callback").count()), (2, 3));

    // OSS: the completion (with its callback) went through but its answer was lost; the retry
    // meets the expired URL. The file is complete and no longer records the session: done.
    let mut sim = Sim::new("oss", 100, 450).fault("complete", 1, Fault::LoseAnswer).fault("complete", 2, Fault::ExpireSession);
    let run = run_with(&mut sim, 450, params(), false);
    let json = run.result.unwrap();
    assert!(json.get("file").is_some(), "{json:?}");
    assert_eq!(sim.sessions, 1);
    assert!(!routes(&sim).contains(&"delete") && run.cleanup.is_empty());
}

#[test]
fn lost_create_answer_recovers_its_own_session() {
    // The create was handled but its answer lost: the retry meets the placeholder (40004). The
    // placeholder names the session; it is deleted with the user's token and created again.
    let mut sim = Sim::new("local", 100, 250).fault("create", 1, Fault::LoseAnswer);
    let first_sid = sim.sid.clone();
    let run = run_with(&mut sim, 250, params(), false);
    run.result.unwrap();
    assert_eq!(routes(&sim), ["create", "create", "file-info", "delete", "create", "chunk", "chunk", "chunk"]);
    assert_eq!(delete_id(&sim.log[3]), first_sid);
    assert_eq!(sim.sessions, 2);

    // Uploading a new version: the retry reaches the lock (40073, the lost session holds it).
    let mut sim = Sim::new("local", 100, 250).fault("create", 1, Fault::LoseAnswer);
    let run = run_with(&mut sim, 250, UploadParams { overwrite: true, ..params() }, false);
    run.result.unwrap();
    assert_eq!(routes(&sim), ["create", "create", "file-info", "delete", "create", "chunk", "chunk", "chunk"]);

    // The file there is a finished file, not an upload: left alone, a clear 'http' error.
    let mut sim = Sim::new("local", 100, 250).fault("create", 1, Fault::Answer(resp(502, "")));
    sim.foreign_file = true;
    let run = run_with(&mut sim, 250, params(), false);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Http);
    assert!(e.message.contains("40004") && e.message.contains("not an upload in progress"), "{}", e.message);
    assert_eq!(routes(&sim), ["create", "create", "file-info"]);
    assert!(run.cleanup.is_empty());

    // Without a lost answer, 40004 is final at once and 40073 is only retried (another upload).
    let mut sim = Sim::new("local", 100, 250);
    sim.foreign_file = true;
    let e = run_with(&mut sim, 250, params(), false).result.unwrap_err();
    assert_eq!((e.code, routes(&sim)), (ErrorCode::Http, vec!["create"]));
}

#[test]
fn storage_node_refusals_are_auth() {
    for (code, msg) in [(40071, "invalid sign"), (40071, "sign expired"), (40005, "signature expired"), (403, "authorization header is missing"), (40020, "Invalid sign")] {
        let v = envelope_verdict("chunk 0", 200, &env(code, msg), Route::Node);
        let Verdict::Fail(e) = v else { panic!("{code}: {v:?}") };
        assert_eq!(e.code, ErrorCode::Auth, "{code}");
        assert!(e.message.contains(msg) && e.message.contains("refused the session's upload credential"), "{}", e.message);
        // (An "expired" refusal first checks the file: here it no longer records the session.)
        let mut sim = Sim::new("remote", 100, 250)
            .fault("node-chunk", 2, Fault::Answer(Sim::envelope(code, msg)))
            .fault("file-info", 1, Fault::Answer(Sim::envelope(40016, "Path not exist")));
        let e = drive(&mut sim, 250, Order::Fifo).result.unwrap_err();
        assert_eq!(e.code, ErrorCode::Auth, "{code}");
        assert_eq!(routes(&sim).contains(&"file-info"), msg.contains("expired"), "{msg}");
    }
    let mut sim = Sim::new("remote", 100, 250).fault("node-chunk", 1, Fault::Answer(resp(403, "forbidden")));
    assert_eq!(drive(&mut sim, 250, Order::Fifo).result.unwrap_err().code, ErrorCode::Auth);
}

#[test]
fn cancel_and_cleanup_requests() {
    // Abort mid-upload: one DELETE with {id, uri} and the user token.
    let mut sim = Sim::new("local", 100, 450);
    let proto = Cloudreve::new(EP, &info(450), params()).unwrap();
    let run = drive_with(proto, &mut sim, Order::Fifo, false, Some(3));
    assert_eq!(run.cleanup.len(), 1);
    let d = &run.cleanup[0];
    assert_eq!((d.method, d.url.as_str()), (Method::Delete, "http://cr.test/api/v4/file/upload"));
    assert_eq!(d.get_header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    let Body::Text { text, .. } = &d.body else { panic!() };
    assert_eq!(text, &format!(r#"{{"id":"{}","uri":"cloudreve://my/dir/data.bin"}}"#, sim.sid));

    // Before the session exists there is nothing to cancel; after success, nothing either.
    let mut p = Cloudreve::new(EP, &info(5), params()).unwrap();
    assert!(p.cancel().is_empty());
    let Next::Send(create) = p.next() else { panic!() };
    p.handle(&create, resp(200, &ok_body(r#"{"session_id":"s1","chunk_size":0,"storage_policy":{"type":"local"}}"#)));
    assert_eq!(p.cancel().len(), 1);
    assert!(p.cancel().is_empty(), "only once");
    assert!(p.cleanup_on_failure().is_empty());

    // Unsupported policies and required encryption: clear errors, session deleted.
    for (policy, extra, want) in [
        ("qiniu", "", "qiniu"),
        ("upyun", "", "upyun"),
        ("local", r#","encrypt_metadata":{"algorithm":"aes-256-ctr","key_plain_text":"AA","iv":"AA"}"#, "encryption"),
    ] {
        let mut sim = Sim::new(policy, 100, 250);
        sim.create_extra = extra.into();
        let run = drive(&mut sim, 250, Order::Fifo);
        let e = run.result.unwrap_err();
        assert_eq!(e.code, ErrorCode::Protocol);
        assert!(e.message.contains(want), "{}", e.message);
        assert_eq!(routes(&sim), ["create"], "no byte sent");
        assert_eq!(run.cleanup.len(), 1, "{policy}: the session is deleted");
    }
}

#[test]
fn create_errors_and_malformed_sessions() {
    let first = |body: &str, status: u16| {
        let mut p = Cloudreve::new(EP, &info(250), params()).unwrap();
        let Next::Send(create) = p.next() else { panic!() };
        let v = p.handle(&create, resp(status, body));
        (v, p)
    };
    for (body, code) in [
        (r#"{"code":40051,"msg":"Insufficient capacity"}"#, ErrorCode::Quota),
        (r#"{"code":40049,"msg":"File is too large"}"#, ErrorCode::TooLarge),
        (r#"{"code":40004,"msg":"Object existed"}"#, ErrorCode::Http),
        (r#"{"code":0,"data":{}}"#, ErrorCode::Protocol),
        (r#"{"code":0,"data":{"session_id":"../x"}}"#, ErrorCode::Protocol),
        (r#"{"code":0,"data":{"session_id":"s1"}}"#, ErrorCode::Protocol),
        (r#"{"code":0,"data":{"session_id":"s1","chunk_size":-5,"storage_policy":{"type":"local"}}}"#, ErrorCode::Protocol),
        (r#"{"code":0,"data":{"session_id":"s1","chunk_size":1e300,"storage_policy":{"type":"local"}}}"#, ErrorCode::Protocol),
        (r#"{"code":0,"data":{"session_id":"s1","chunk_size":100,"storage_policy":{"type":"remote"}}}"#, ErrorCode::Protocol),
        (r#"{"code":0,"data":{"session_id":"s1","chunk_size":100,"storage_policy":{"type":"s3"},"upload_urls":["http://b/1"]}}"#, ErrorCode::Protocol),
        (r#"{"code":0,"data":{"session_id":"s1","chunk_size":100,"storage_policy":{"type":"onedrive"},"upload_urls":["http://b/1"]}}"#, ErrorCode::Protocol),
        ("<html>welcome</html>", ErrorCode::Protocol),
    ] {
        let (v, mut p) = first(body, 200);
        match v {
            Verdict::Fail(e) => assert_eq!(e.code, code, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
        assert!(matches!(p.next(), Next::Fail(_)));
    }
    assert!(matches!(first("", 502).0, Verdict::Retry { .. }));
    assert!(matches!(first("", 429).0, Verdict::Throttled { .. }));
    assert!(matches!(first("", 401).0, Verdict::Reauth(_)));
    assert!(matches!(first(r#"{"code":40073,"msg":"Lock conflict","data":[{"path":"x"}]}"#, 200).0, Verdict::Retry { .. }));
    let (v, _) = first("<html>413</html>", 413);
    assert!(matches!(v, Verdict::Fail(e) if e.code == ErrorCode::TooLarge));
    // A missing chunk_size means 0 (Go omits zero values): one request for the whole file.
    let (v, mut p) = first(r#"{"code":0,"data":{"session_id":"s1","storage_policy":{"type":"local"}}}"#, 200);
    assert_eq!(v, Verdict::Continue);
    let Next::Send(r) = p.next() else { panic!() };
    assert!(matches!(r.body, Body::Slice(s) if (s.start, s.end) == (0, 250)));
    // Secrets stay out of messages.
    assert!(p.secrets().contains(&TOKEN.to_string()));
}

/// Answers are decoded into typed values: a field of the wrong type is a protocol error, where
/// lookups by key used to read it as absent (and carried on with a default).
#[test]
fn fields_of_wrong_types_are_refused_not_read_as_absent() {
    // The create answer: `relay: "true"` was read as "not relayed" (bytes sent past Cloudreve
    // to the bucket), a string `expires` or `chunk_concurrency` as missing. The session id still
    // reads, so cleanup deletes the session.
    for fields in [
        r#""storage_policy":{"type":"local","relay":"true"}"#,
        r#""storage_policy":{"type":"local"},"expires":"tomorrow""#,
        r#""storage_policy":{"type":"s3","chunk_concurrency":"4"}"#,
        r#""storage_policy":{"type":"remote"},"upload_urls":["http://node.test/u"],"credential":5"#,
        r#""storage_policy":{"type":"local"},"chunk_size":-5"#,
    ] {
        let mut p = Cloudreve::new(EP, &info(250), params()).unwrap();
        let Next::Send(create) = p.next() else { panic!() };
        let body = ok_body(&format!(r#"{{"session_id":"s1",{fields}}}"#));
        let Verdict::Fail(e) = p.handle(&create, resp(200, &body)) else { panic!("{fields}") };
        assert_eq!(e.code, ErrorCode::Protocol, "{fields}");
        assert!(e.message.contains("unexpected types"), "{fields}: {}", e.message);
        let cleanup = p.cancel();
        assert_eq!(cleanup.len(), 1, "{fields}: the session is deleted");
        let Body::Text { text, .. } = &cleanup[0].body else { panic!() };
        assert_eq!(text, r#"{"id":"s1","uri":"cloudreve://my/dir/data.bin"}"#);
    }

    // The file check after the last chunk's answer was lost: a `type` that is not a number was
    // read as "a file", so a folder of the right size counted as the finished upload.
    let check = |file: &str| {
        let mut p = Cloudreve::new(EP, &info(5), params()).unwrap();
        let Next::Send(create) = p.next() else { panic!() };
        assert_eq!(p.handle(&create, resp(200, &ok_body(r#"{"session_id":"s1","storage_policy":{"type":"local"}}"#))), Verdict::Continue);
        let Next::Send(chunk) = p.next() else { panic!() };
        assert!(matches!(p.handle(&chunk, Outcome::Network("reset".into())), Verdict::Retry { .. }));
        let Next::Send(chunk) = p.next() else { panic!() };
        assert_eq!(p.handle(&chunk, resp(200, r#"{"code":40011,"msg":"Upload session expired"}"#)), Verdict::Continue);
        let Next::Send(info_req) = p.next() else { panic!() };
        assert!(info_req.url.starts_with(&format!("{EP}/api/v4/file/info?uri=")), "{}", info_req.url);
        p.handle(&info_req, resp(200, &ok_body(file)));
        p.next()
    };
    assert!(matches!(check(r#"{"type":0,"size":5,"metadata":{}}"#), Next::Done(_)));
    let Next::Fail(e) = check(r#"{"type":"1","size":5,"metadata":{}}"#) else { panic!("a folder is not the upload") };
    assert_eq!(e.code, ErrorCode::Protocol);
    assert!(e.message.contains("file check") && e.message.contains("unexpected types"), "{}", e.message);
    let Next::Fail(e) = check(r#"{"type":0,"size":"5","metadata":{}}"#) else { panic!() };
    assert_eq!(e.code, ErrorCode::Protocol, "a size as text: {}", e.message);

    // Token answers: an expiry that is not a string was dropped silently.
    let token = |body: &str| accept_refresh("cloudreve", &Response::new(200).with_body(body));
    let login = |body: &str| accept_login("cloudreve", &Response::new(200).with_body(body));
    let ok = token(r#"{"code":0,"data":{"access_token":"a","refresh_token":"r","access_expires":"2030-01-01T00:00:00Z"}}"#).unwrap();
    assert_eq!(ok, Json::from(serde_json::json!({"accessToken":"a","refreshToken":"r","accessExpires":"2030-01-01T00:00:00Z"})));
    let e = token(r#"{"code":0,"data":{"access_token":"a","refresh_token":"r","access_expires":5}}"#).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::Protocol, "the token answer has fields of unexpected types"));
    let e = token(r#"{"code":0,"data":{"access_token":"a"}}"#).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::Protocol, "the answer has no access_token/refresh_token"));
    let e = login(r#"{"code":0,"data":{"token":{"access_token":1,"refresh_token":"r"}}}"#).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::Protocol, "the token answer has fields of unexpected types"));
    let e = token(r#"{"code":40020,"msg":"Credential invalid","data":[1]}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::Auth, "an error's data of any shape: {}", e.message);
    assert_eq!(login(r#"{"code":203,"data":"2fa-1"}"#).unwrap(), Json::from(serde_json::json!({"twoFactorRequired":true,"sessionId":"2fa-1"})));
    assert_eq!(login(r#"{"code":203,"data":{"id":1}}"#).unwrap_err().code, ErrorCode::Protocol);
    let user = login(r#"{"code":0,"data":{"user":{"id":"u1","nickname":"n"},"token":{"access_token":"a","refresh_token":"r"}}}"#).unwrap();
    assert_eq!(user, Json::from(serde_json::json!({"accessToken":"a","refreshToken":"r","user":{"id":"u1","nickname":"n"}})));

    // A resume record whose policyType is not a string was restored as "local".
    let mut p = Cloudreve::new(EP, &info(450), params()).unwrap();
    let state = Json::from(serde_json::json!({"sessionId":"s1","uri":"cloudreve://my/dir/data.bin","policyType":5,"chunkSize":100,"nextChunk":2}));
    let e = p.restore(&state).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert!(e.message.contains("unexpected types"), "{}", e.message);

    // An array is no envelope (read in order, it would look like one).
    assert!(parse_envelope(r#"[0,"","",{"session_id":"s1"}]"#).is_none());
}

#[test]
fn sessions_over_4_gib_use_u64_offsets() {
    let total = 5u64 << 30;
    let chunk = 1u64 << 30;
    let mut p = Cloudreve::new(EP, &info(total), params()).unwrap();
    let Next::Send(create) = p.next() else { panic!() };
    let body = ok_body(&format!(r#"{{"session_id":"s1","chunk_size":{chunk},"storage_policy":{{"type":"local"}}}}"#));
    assert_eq!(p.handle(&create, resp(200, &body)), Verdict::Continue);
    for i in 0..5u64 {
        let Next::Send(r) = p.next() else { panic!() };
        assert!(matches!(r.body, Body::Slice(s) if s.start == i * chunk && s.end == (i + 1) * chunk));
        assert_eq!(p.handle(&r, resp(200, r#"{"code":0}"#)), Verdict::Continue);
        assert_eq!(p.confirmed(), (i + 1) * chunk);
    }
    assert!(matches!(p.next(), Next::Done(_)));
    assert_eq!(p.session().get("sessionId").and_then(Json::as_str), Some("s1"));
}

// ---- never panics ----------------------------------------------------------------------------

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn body_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just(r#"{"code":0}"#.to_string()),
            Just(r#"{"code":0,"data":null}"#.to_string()),
            Just(r#"{"code":40011,"msg":"gone"}"#.to_string()),
            Just(r#"{"code":-1}"#.to_string()),
            Just(r#"{"code":401}"#.to_string()),
            Just(r#"{"code":0,"data":{"session_id":"s1","chunk_size":3,"storage_policy":{"type":"local"}}}"#.to_string()),
            Just(r#"{"code":0,"data":{"session_id":"s1","chunk_size":3,"storage_policy":{"type":"s3","chunk_concurrency":99},"upload_urls":["http://b/1","http://b/2","http://b/3","http://b/4"],"completeURL":"http://b/c","callback_secret":"k"}}"#.to_string()),
            Just(r#"{"code":0,"data":{"session_id":"s1","chunk_size":4,"storage_policy":{"type":"onedrive"},"upload_urls":["http://o/1"],"callback_secret":"k"}}"#.to_string()),
            Just(r#"{"code":0,"data":{"session_id":"s1","chunk_size":3,"storage_policy":{"type":"remote"},"upload_urls":["http://n/1"],"credential":"Bearer Cr x:1"}}"#.to_string()),
            Just(r#"{"nextExpectedRanges":["5-"]}"#.to_string()),
            Just(r#"{"nextExpectedRanges":["999999999999-"]}"#.to_string()),
            Just(r#"{"nextExpectedRanges":[]}"#.to_string()),
            Just(r#"{"code":0,"data":{"size":10,"type":0,"metadata":{}}}"#.to_string()),
            Just("<Error><Code>InternalError</Code></Error>".to_string()),
            Just(r#"{"code":1e308,"data":{"session_id":"s1"}}"#.to_string()),
            "\\PC{0,40}",
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| String::from_utf8_lossy(&v).into_owned()),
        ]
    }

    fn outcome_strategy() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            1 => "\\PC{0,10}".prop_map(Outcome::Network),
            6 => (
                prop_oneof![Just(200u16), Just(201), Just(202), Just(203), Just(400), Just(401), Just(403), Just(404), Just(409), Just(413), Just(416), Just(429), Just(500), Just(503), 100u16..600],
                body_strategy(),
                proptest::option::of(prop_oneof![Just("\"e\"".to_string()), Just(String::new()), "\\PC{0,20}"]),
            )
                .prop_map(|(status, body, etag)| {
                    let mut r = Response::new(status).with_body(&body);
                    if let Some(e) = etag {
                        r = r.with_header("ETag", &e);
                    }
                    Outcome::Response(r)
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn random_answers_never_panic(size in 0u64..12, outcomes in proptest::collection::vec(outcome_strategy(), 1..60), lifo in any::<bool>()) {
            let mut p = Cloudreve::new(EP, &info(size), params()).unwrap();
            let mut outs = outcomes.into_iter();
            let mut inflight: Vec<Request> = Vec::new();
            for _ in 0..200 {
                let _ = p.max_parallel();
                let _ = p.session();
                match p.next() {
                    Next::Send(r) => {
                        inflight.push(r);
                        if inflight.len() < p.max_parallel() { continue; }
                    }
                    Next::Done(_) | Next::Fail(_) => break,
                    Next::Wait => {}
                }
                let Some(req) = (if lifo { inflight.pop() } else if inflight.is_empty() { None } else { Some(inflight.remove(0)) }) else { break };
                let Some(out) = outs.next() else { break };
                let v = p.handle(&req, out);
                if let Verdict::Reauth(_) = v { p.set_token("t2") }
                prop_assert!(p.confirmed() <= p.total());
            }
            let _ = p.cancel();
            let _ = p.cleanup_on_failure();
        }
    }
}

#[test]
fn helper_options_are_typed_and_name_the_bad_one() {
    use chunkup::protocols::cloudreve::HelperOptions;
    let o = |text: &str| HelperOptions::read(&chunkup::core::codec::decode::<Json>(text).unwrap());
    let h = o(r#"{"endpoint":"https://c.example","email":"a@b.c","password":"pw","otp":null,"policy":{"type":"s3"}}"#).unwrap();
    assert_eq!((h.email.as_deref(), h.password.as_deref(), h.otp, h.session_id), (Some("a@b.c"), Some("pw"), None, None));
    for (text, key) in [(r#"{"email":5}"#, "email"), (r#"{"password":"x","uri":["/a"]}"#, "uri"), (r#"{"sessionId":{"id":1}}"#, "sessionId")] {
        let e = o(text).err().unwrap();
        assert_eq!((e.code, e.message), (ErrorCode::InvalidInput, format!("{key} must be a string")), "{text}");
    }
    let e = chunkup::protocols::required("cloudreve", Some(String::new()), "refreshToken").unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::InvalidInput, "refreshToken is required"));
}

/// Answers the requests in turn (no token refresh: the shell gives logins none).
struct Turns {
    answers: std::vec::IntoIter<Outcome>,
    sent: Vec<Request>,
}

impl drive::Server for Turns {
    fn answer(&mut self, req: &Request) -> Outcome {
        self.sent.push(req.clone());
        self.answers.next().expect("more requests than answers")
    }
    fn token(&mut self) -> Option<String> {
        None
    }
}

fn run_login(answers: Vec<Outcome>) -> (Result<Json, UploadError>, Vec<Request>) {
    let p = login_flow(EP, "a@b.c", "hunter2", None, None, Some("654321".into())).unwrap();
    let mut engine = Engine::new(p, RetryPolicy::new(vec![10, 10, 10]), false);
    engine.start(0.0);
    let mut server = Turns { answers: answers.into_iter(), sent: Vec::new() };
    let run = drive::drive(&mut engine, &mut server, Drive::new(Order::Now, 0.0, 1.0));
    (run.result, server.sent)
}

#[test]
fn login_with_two_factor_gives_each_request_its_own_retries() {
    let busy = || Outcome::Response(Response::new(503));
    let needs_2fa = || Outcome::Response(Response::new(200).with_body(r#"{"code":203,"data":"2fa-1"}"#));
    let token = || Outcome::Response(Response::new(200).with_body(r#"{"code":0,"data":{"user":{"id":"u1"},"token":{"access_token":"a","refresh_token":"r"}}}"#));
    // 3 retries of the login, then 3 of the two-factor step: 8 requests, all within budget.
    let (res, sent) = run_login(vec![busy(), busy(), busy(), needs_2fa(), busy(), busy(), busy(), token()]);
    assert_eq!(res.unwrap().get("accessToken").and_then(Json::as_str), Some("a"));
    assert_eq!(sent.len(), 8);
    assert!(sent[..4].iter().all(|r| r.url.ends_with("/api/v4/session/token")));
    for r in &sent[4..] {
        assert!(r.url.ends_with("/api/v4/session/token/2fa"), "{}", r.url);
        let Body::Text { text, .. } = &r.body else { panic!("a JSON body") };
        assert!(text.contains("654321") && text.contains("2fa-1"), "{text}");
    }
    // A fourth retry of the two-factor step is one too many; the code never shows in the message.
    let (res, sent) = run_login(vec![needs_2fa(), busy(), busy(), busy(), busy()]);
    let e = res.unwrap_err();
    assert_eq!((e.status, sent.len()), (Some(503), 5));
    assert!(!e.message.contains("654321") && !e.message.contains("hunter2"), "{}", e.message);
}

/// The request bodies rebuilt as JSON values (2d23adf) are byte for byte what the former
/// serialised types wrote (checked against 2310773): same keys, same order, absent ones left out.
#[test]
fn request_bodies_keep_their_bytes() {
    use chunkup::protocols::cloudreve::{delete_session, login, login_2fa, refresh_token};
    let text = |r: &Request| match &r.body {
        Body::Text { text, .. } => text.clone(),
        other => panic!("a JSON body, not {other:?}"),
    };
    let first = |p: &mut dyn Protocol| match p.next() {
        Next::Send(r) => r,
        n => panic!("a request, not {n:?}"),
    };
    let mut p = params();
    p.policy_id = Some("p1".into());
    p.overwrite = true;
    p.mime_type = Some("x/y".into());
    p.metadata = vec![("b".into(), "1".into()), ("a".into(), "2".into())];
    let r = first(&mut Cloudreve::new(EP, &info(5), p).unwrap());
    assert_eq!(
        text(&r),
        r#"{"uri":"cloudreve://my/dir/data.bin","size":5,"policy_id":"p1","last_modified":1700000000123,"mime_type":"x/y","entity_type":"version","metadata":{"b":"1","a":"2"}}"#
    );
    let bare = FileInfo { mime: String::new(), last_modified: 0.0, ..info(5) };
    assert_eq!(text(&first(&mut Cloudreve::new(EP, &bare, params()).unwrap())), r#"{"uri":"cloudreve://my/dir/data.bin","size":5}"#);
    let r = first(&mut login(EP, " a@b.c ", "pw", Some("c"), Some("t")).unwrap());
    assert_eq!(text(&r), r#"{"email":"a@b.c","password":"pw","captcha":"c","ticket":"t"}"#);
    assert_eq!(text(&first(&mut login(EP, "a@b.c", "pw", Some(""), None).unwrap())), r#"{"email":"a@b.c","password":"pw"}"#);
    assert_eq!(text(&first(&mut login_2fa(EP, " 123456 ", "sid-1").unwrap())), r#"{"otp":"123456","session_id":"sid-1"}"#);
    assert_eq!(text(&first(&mut refresh_token(EP, "rt").unwrap())), r#"{"refresh_token":"rt"}"#);
    let r = first(&mut delete_session(EP, TOKEN, "s1", "cloudreve://my/a").unwrap());
    assert_eq!((r.method, text(&r)), (Method::Delete, r#"{"id":"s1","uri":"cloudreve://my/a"}"#.to_string()));
}

/// One decoder for the upload and the helpers (6e8941c) refuses a mistyped key of the other
/// kind; the options real pages pass (README, www/demo-providers.js, the form and queue shells,
/// tests/consumer) hold none, so each is still accepted.
#[test]
fn the_upload_options_pages_pass_are_accepted() {
    for extra in [
        "",
        r#","overwrite":false,"provider":"cloudreve","endpoint":"http://cr.test","concurrency":2"#,
        r#","policyId":"p","retryDelays":[30,30],"stallTimeout":10000,"user":"u1""#,
    ] {
        let o = parse(&format!(r#"{{"uri":"cloudreve://my/","accessToken":"t"{extra}}}"#)).unwrap();
        assert!(from_options(EP, &o, &[info(5)], None).is_ok(), "{extra}");
    }
}
