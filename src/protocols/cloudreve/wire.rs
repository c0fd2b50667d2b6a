//! Cloudreve's wire formats: the JSON envelope `{code, msg, data}` and what its codes mean for
//! the upload, the verdict for answers without an envelope (proxies, buckets), S3-style XML
//! (error fields, the multipart completion body), and the checked upload session the create
//! call returns (storage policy, chunk size, URLs, credentials).

use super::{DEFAULT_S3_CONCURRENCY, MAX_CONCURRENCY, MAX_PARTS, PROVIDER};
use crate::core::JsonExt as _;
use crate::core::retry::{parse_retry_after, status_is_retryable};
use crate::core::url::{is_absolute_http, resolve};
use crate::core::{status_error, truncate, ErrorCode, Json, Response, UploadError};
use crate::protocols::Verdict;

// ---------------------------------------------------------------------------------------------
// Envelope and error mapping

/// Cloudreve's answer `{code, msg, error?, data?}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub code: i64,
    pub msg: String,
    /// Raw error text (only sent when the server is not in release mode).
    pub error: String,
    pub data: Json,
}

/// Parses an envelope. None when the body is not a JSON object with an integer `code` (an HTML
/// page from a proxy, a bucket's XML, a code that is not an exact integer).
pub fn parse_envelope(body: &str) -> Option<Envelope> {
    let j = Json::parse(body.trim()).ok()?;
    if !matches!(j, Json::Object(_)) {
        return None;
    }
    let code = j.get("code")?.as_f64()?;
    if !code.is_finite() || code.fract() != 0.0 || code.abs() > 9_007_199_254_740_992.0 {
        return None;
    }
    let text = |k: &str| j.get(k).and_then(Json::as_str).unwrap_or("").to_string();
    Some(Envelope { code: code as i64, msg: text("msg"), error: text("error"), data: j.get("data").cloned().unwrap_or(Json::Null) })
}

/// Who a request was for: Cloudreve's API with the user's token, a slave node with the session
/// credential, or a storage callback (authenticated by the session's secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Api,
    Node,
    Callback,
}

pub(super) fn envelope_message(what: &str, env: &Envelope) -> String {
    let mut m = format!("{what} failed");
    let msg = env.msg.trim();
    if !msg.is_empty() {
        m.push_str(": ");
        m.push_str(&truncate(msg, 300));
    }
    let err = env.error.trim();
    if !err.is_empty() && err != msg {
        m.push_str(" (");
        m.push_str(&truncate(err, 200));
        m.push(')');
    }
    m.push_str(&format!(" [Cloudreve code {}]", env.code));
    m
}

/// What a Cloudreve error code (`code != 0`) means for the upload.
pub fn envelope_verdict(what: &str, status: u16, env: &Envelope, route: Route) -> Verdict {
    let message = envelope_message(what, env);
    let err = |code: ErrorCode| UploadError::new(code, PROVIDER, message.clone()).with_status(status);
    let text = format!("{} {}", env.msg, env.error).to_ascii_lowercase();
    let node_refused = || {
        Verdict::Fail(UploadError::new(ErrorCode::Auth, PROVIDER, format!("{message}; the storage node refused the session's upload credential")).with_status(status))
    };
    match env.code {
        // Not logged in / token refused: a fresh user token may help, on the API only.
        401 | 40020 => match route {
            Route::Api => Verdict::Reauth(err(ErrorCode::Auth)),
            Route::Node => node_refused(),
            Route::Callback => Verdict::Fail(err(ErrorCode::SessionExpired)),
        },
        // A node's `SignRequired` keeps the inner error's code (`pkg/serializer/error.go`
        // `ErrWithDetails`): 40071 invalid or expired sign, 40005 signature expired
        // (`pkg/auth/hmac.go`), 403 authorization header missing (`pkg/auth/auth.go`). The
        // credential belongs to the session: no user token can renew it.
        40071 | 40005 | 403 if route == Route::Node => node_refused(),
        40071 | 40005 | 403 | 40007 | 40008 | 40082 => Verdict::Fail(err(ErrorCode::Auth)),
        40049 => Verdict::Fail(err(ErrorCode::TooLarge)),
        40051 | 40079 => Verdict::Fail(err(ErrorCode::Quota)),
        40050 => Verdict::Fail(err(ErrorCode::UnsupportedType)),
        40052 => {
            // Community v4 reports a refused extension and an illegal name with the same code.
            let typ = text.contains("extension") || text.contains("suffix") || text.contains("file type");
            Verdict::Fail(err(if typ { ErrorCode::UnsupportedType } else { ErrorCode::InvalidInput }))
        }
        40001 => Verdict::Fail(err(ErrorCode::InvalidInput)),
        40004 => {
            let mut e = err(ErrorCode::Http);
            e.message.push_str(": a file already exists at this uri (set overwrite: true to upload a new version)");
            Verdict::Fail(e)
        }
        40011 | 40075 => Verdict::Fail(err(ErrorCode::SessionExpired)),
        40012 | 40013 | 40055 | 40006 => Verdict::Fail(err(ErrorCode::Protocol)),
        // Lock conflicts (another upload or edit of the same path) and untyped internal errors
        // pass; so do server-side failures (database, I/O, cache, node offline).
        40073 | 40054 | -1 => Verdict::Retry { error: err(ErrorCode::Http).retryable(true), retry_after: None },
        c if (50000..60000).contains(&c) => Verdict::Retry { error: err(ErrorCode::Http).retryable(true), retry_after: None },
        _ => Verdict::Fail(err(ErrorCode::Http)),
    }
}

/// The verdict for an HTTP answer that carries no envelope (a proxy, a bucket, an error page).
pub(super) fn http_verdict(what: &str, resp: &Response, route: Route) -> Verdict {
    let mut e = status_error(PROVIDER, what, resp);
    if let Some(m) = xml_field(&resp.body, "Message").or_else(|| xml_field(&resp.body, "Code")) {
        e.message.push_str(": ");
        e.message.push_str(&truncate(&m, 300));
    }
    let retry_after = resp.header("retry-after").and_then(parse_retry_after);
    match resp.status {
        401 if route == Route::Api => Verdict::Reauth(e),
        401 | 403 => {
            e.code = ErrorCode::Auth;
            if route == Route::Node {
                e.message.push_str("; the storage refused the session's upload credential");
            }
            Verdict::Fail(e)
        }
        413 => {
            e.code = ErrorCode::TooLarge;
            e.message.push_str(" (a proxy in front of the server refuses bodies this large: raise its limit above the policy's chunk size)");
            Verdict::Fail(e)
        }
        429 => Verdict::Throttled { error: e, retry_after },
        s if status_is_retryable(s) => Verdict::Retry { error: e.retryable(true), retry_after },
        _ => Verdict::Fail(e),
    }
}

/// The text of the first `<name>…</name>` in an XML body (S3-style error documents).
pub fn xml_field(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body.find(&open)? + open.len();
    let len = body.get(start..)?.find(&close)?;
    let v = body.get(start..start + len)?.trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `<CompleteMultipartUpload>` with every part in order (part numbers from 1), ETags as received.
pub fn completion_xml(etags: &[String]) -> String {
    let mut out = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        out.push_str(&format!("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1, xml_escape(etag)));
    }
    out.push_str("</CompleteMultipartUpload>");
    out
}

// ---------------------------------------------------------------------------------------------
// The upload session

/// The S3-like storage families (presigned part URLs, ETags, a completion URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3Flavor {
    S3,
    Ks3,
    Cos,
    Oss,
    Obs,
}

impl S3Flavor {
    pub fn name(self) -> &'static str {
        match self {
            S3Flavor::S3 => "s3",
            S3Flavor::Ks3 => "ks3",
            S3Flavor::Cos => "cos",
            S3Flavor::Oss => "oss",
            S3Flavor::Obs => "obs",
        }
    }
    /// The browser calls Cloudreve back after completing (OSS and OBS call back themselves).
    pub fn client_callback(self) -> bool {
        matches!(self, S3Flavor::S3 | S3Flavor::Ks3 | S3Flavor::Cos)
    }
}

/// Where the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// Local storage, or any policy with `relay` on: chunks to Cloudreve itself.
    Local,
    /// A slave node: chunks to `upload_urls[0]` with the session credential.
    Remote,
    S3(S3Flavor),
    OneDrive,
}

/// What the create call returned, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    pub session_id: String,
    /// The policy's `type` as Cloudreve names it.
    pub policy_type: String,
    pub kind: PolicyKind,
    /// 0 = the whole file in one request.
    pub chunk_size: u64,
    /// Unix seconds.
    pub expires: Option<u64>,
    pub upload_urls: Vec<String>,
    pub credential: Option<String>,
    pub complete_url: Option<String>,
    pub callback_secret: Option<String>,
    /// The normalised target URI.
    pub uri: String,
    pub concurrency: usize,
}

pub(super) fn valid_session_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_secret(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Number of chunks Cloudreve expects: one for an empty file or `chunk_size` 0.
pub fn chunk_count(total: u64, chunk_size: u64) -> u64 {
    if total == 0 || chunk_size == 0 {
        1
    } else {
        total.div_ceil(chunk_size)
    }
}

pub(super) fn proto_err(msg: impl Into<String>) -> UploadError {
    UploadError::protocol(PROVIDER, msg)
}

/// Checks the create answer's `data` (its `session_id` has been read already).
pub fn parse_session(data: &Json, session_id: &str, requested_uri: &str, endpoint: &str, total: u64) -> Result<SessionInfo, UploadError> {
    let policy = data.get("storage_policy").filter(|p| matches!(p, Json::Object(_)));
    let policy_type = policy.and_then(|p| p.get("type")).and_then(Json::as_str).unwrap_or("").to_string();
    if policy_type.is_empty() {
        return Err(proto_err("the upload session names no storage policy type"));
    }
    if data.get("encrypt_metadata").is_some_and(|e| !e.is_null()) {
        return Err(UploadError::new(
            ErrorCode::Protocol,
            PROVIDER,
            "the storage policy requires client-side encryption, which chunkup does not do yet",
        ));
    }
    let relay = policy.and_then(|p| p.get("relay")).and_then(Json::as_bool).unwrap_or(false);
    let kind = if relay {
        PolicyKind::Local
    } else {
        match policy_type.as_str() {
            "local" => PolicyKind::Local,
            "remote" => PolicyKind::Remote,
            "onedrive" => PolicyKind::OneDrive,
            "s3" => PolicyKind::S3(S3Flavor::S3),
            "ks3" => PolicyKind::S3(S3Flavor::Ks3),
            "cos" => PolicyKind::S3(S3Flavor::Cos),
            "oss" => PolicyKind::S3(S3Flavor::Oss),
            "obs" => PolicyKind::S3(S3Flavor::Obs),
            other => {
                return Err(UploadError::new(
                    ErrorCode::Protocol,
                    PROVIDER,
                    format!(
                        "storage policy type {} is not supported by chunkup yet (supported: local, relay, remote, s3, ks3, cos, oss, obs, onedrive)",
                        crate::core::quoted(&truncate(other, 40))
                    ),
                ))
            }
        }
    };
    let chunk_size = match data.get("chunk_size") {
        None | Some(Json::Null) => 0,
        Some(v) => v.as_u64().ok_or_else(|| proto_err("the session's chunk_size is not a non-negative integer"))?,
    };
    let expires = data.get("expires").and_then(Json::as_u64);
    let mut upload_urls = Vec::new();
    match data.get("upload_urls") {
        None | Some(Json::Null) => {}
        Some(Json::Array(items)) => {
            if items.len() > MAX_PARTS {
                return Err(proto_err("the session lists too many upload URLs"));
            }
            for u in items {
                let s = u.as_str().ok_or_else(|| proto_err("an upload URL is not a string"))?;
                let abs = resolve(endpoint, s).filter(|a| is_absolute_http(a)).ok_or_else(|| proto_err("the session has an unusable upload URL"))?;
                upload_urls.push(abs);
            }
        }
        Some(_) => return Err(proto_err("upload_urls is not a list")),
    }
    let text = |k: &str| data.get(k).and_then(Json::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let credential = text("credential");
    let complete_url = text("completeURL");
    let callback_secret = text("callback_secret");
    let uri = text("uri").filter(|u| u.starts_with("cloudreve://")).unwrap_or_else(|| requested_uri.to_string());
    let concurrency = policy
        .and_then(|p| p.get("chunk_concurrency"))
        .and_then(Json::as_u64)
        .filter(|c| *c > 0)
        .map(|c| (c as usize).min(MAX_CONCURRENCY))
        .unwrap_or(DEFAULT_S3_CONCURRENCY);
    let count = chunk_count(total, chunk_size);
    let need_callback_secret = || match &callback_secret {
        Some(s) if valid_secret(s) => Ok(()),
        _ => Err(proto_err("the session has no usable callback_secret")),
    };
    match kind {
        PolicyKind::Local => {}
        PolicyKind::Remote => {
            if upload_urls.is_empty() {
                return Err(proto_err("the remote-node session has no upload URL"));
            }
            match &credential {
                Some(c) if c.len() <= 4096 && !c.chars().any(char::is_control) => {}
                _ => return Err(proto_err("the remote-node session has no usable upload credential")),
            }
        }
        PolicyKind::OneDrive => {
            if upload_urls.is_empty() {
                return Err(proto_err("the OneDrive session has no upload URL"));
            }
            if total == 0 {
                return Err(UploadError::invalid(PROVIDER, "a OneDrive storage policy cannot receive an empty file"));
            }
            need_callback_secret()?;
        }
        PolicyKind::S3(flavor) => {
            if upload_urls.len() as u64 != count {
                return Err(proto_err(format!(
                    "the session lists {} part URLs for {} parts of {} bytes",
                    upload_urls.len(),
                    count,
                    chunk_size
                )));
            }
            match &complete_url {
                Some(u) if is_absolute_http(u) => {}
                _ => return Err(proto_err("the session has no usable completeURL")),
            }
            if flavor.client_callback() {
                need_callback_secret()?;
            }
        }
    }
    Ok(SessionInfo {
        session_id: session_id.to_string(),
        policy_type,
        kind,
        chunk_size,
        expires,
        upload_urls,
        credential,
        complete_url,
        callback_secret,
        uri,
        concurrency: if matches!(kind, PolicyKind::S3(_)) { concurrency } else { 1 },
    })
}

/// The error a verdict carries, if any.
pub(super) fn verdict_error(v: &Verdict) -> Option<UploadError> {
    match v {
        Verdict::Retry { error, .. } | Verdict::Throttled { error, .. } => Some(error.clone()),
        Verdict::Reauth(e) | Verdict::Fail(e) => Some(e.clone()),
        Verdict::Continue => None,
    }
}
