//! Cloudreve's wire formats: the JSON envelope `{code, msg, data}` and what its codes mean for
//! the upload, the verdict for answers without an envelope (proxies, buckets), S3-style XML
//! (error fields, the multipart completion body), and the checked upload session the create
//! call returns (storage policy, chunk size, URLs, credentials).

use super::{DEFAULT_S3_CONCURRENCY, MAX_CONCURRENCY, MAX_PARTS, PROVIDER};
use crate::core::codec;
use crate::core::json::object;
use crate::core::retry::{parse_retry_after, status_is_retryable};
use crate::core::url::{is_absolute_http, resolve};
use crate::core::{status_error, truncate, ErrorCode, Json, Response, UploadError};
use crate::protocols::Verdict;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};

// ---------------------------------------------------------------------------------------------
// Envelope and error mapping

/// Cloudreve's answer `{code, msg, error?, data?}` (`pkg/serializer/response.go` `Response`),
/// with `data` open-ended: each caller decodes it into its own answer type (one envelope
/// decoder in the module, not one per answer), or hands it on as it is (results, error details).
#[derive(Deserialize)]
pub struct Envelope {
    /// An exact integer: a string or a fraction is no envelope.
    pub code: i64,
    #[serde(default, deserialize_with = "loose_text")]
    pub msg: String,
    /// Raw error text (only sent when the server is not in release mode).
    #[serde(default, deserialize_with = "loose_text")]
    pub error: String,
    #[serde(default)]
    pub data: Json,
}

/// A message field: its text when it is a string, else empty (a wrong type in a message does
/// not make the envelope unusable).
fn loose_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Json::deserialize(d)? {
        Json::String(s) => s,
        _ => String::new(),
    })
}

/// An envelope's `data` as the call's answer type `T`: no data (null or missing) is `T`'s
/// default, for the caller's checks to find what is missing.
pub(super) fn data_as<T: DeserializeOwned + Default>(data: &Json) -> Result<T, codec::DecodeError> {
    if data.is_null() {
        Ok(T::default())
    } else {
        codec::from_json(data)
    }
}

/// Parses an envelope. None when the body is not a JSON object with an integer `code` (an HTML
/// page from a proxy, a bucket's XML, a code that is not an exact integer).
pub fn parse_envelope(body: &str) -> Option<Envelope> {
    // Only an object is an envelope (serde would read an array as the fields in order).
    if !body.trim_start().starts_with('{') {
        return None;
    }
    codec::decode::<Envelope>(body).ok()
}

/// A refused answer: the verdict, and the envelope's code and its `msg error` text in lower
/// case when the answer was an envelope.
pub(super) struct Refusal {
    pub verdict: Verdict,
    pub code: Option<i64>,
    pub text: String,
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

/// `msg error` in lower case, for the few decisions that read Cloudreve's words.
pub(super) fn envelope_text(env: &Envelope) -> String {
    format!("{} {}", env.msg, env.error).to_ascii_lowercase()
}

/// What a Cloudreve error code (`code != 0`) means for the upload.
pub fn envelope_verdict(what: &str, status: u16, env: &Envelope, route: Route) -> Verdict {
    let message = envelope_message(what, env);
    let err = |code: ErrorCode| UploadError::new(code, PROVIDER, message.clone()).with_status(status);
    let text = envelope_text(env);
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
            let typ = ["extension", "suffix", "file type"].iter().any(|w| crate::core::text::contains(&text, w));
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
    let start = crate::core::text::find(body, &open)? + open.len();
    let len = crate::core::text::find(body.get(start..)?, &close)?;
    let v = body.get(start..start + len)?.trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
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


/// A string value for [`object`](crate::core::json::object).
pub(super) fn text(s: &str) -> Option<Json> {
    Some(Json::String(s.to_string()))
}

/// `DELETE /api/v4/file/upload`'s body `{id, uri}` (`service/explorer/upload.go`
/// `DeleteUploadSessionService`).
pub(super) fn delete_body(id: &str, uri: &str) -> String {
    codec::encode(&object(vec![("id", text(id)), ("uri", text(uri))]))
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

impl SessionInfo {
    /// What is known once the create answer named the session: enough for cleanup to delete it.
    pub(super) fn provisional(session_id: String, uri: String) -> SessionInfo {
        SessionInfo {
            session_id,
            policy_type: String::new(),
            kind: PolicyKind::Local,
            chunk_size: 0,
            expires: None,
            upload_urls: Vec::new(),
            credential: None,
            complete_url: None,
            callback_secret: None,
            uri,
            concurrency: 1,
        }
    }
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

/// The create call's `data` (`service/explorer/response.go` `UploadSessionResponse`; Go omits
/// empty fields, so every field may be missing).
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct SessionData {
    pub session_id: Option<String>,
    chunk_size: Option<u64>,
    /// Unix seconds.
    expires: Option<u64>,
    upload_urls: Option<Vec<String>>,
    credential: Option<String>,
    #[serde(rename = "completeURL")]
    complete_url: Option<String>,
    callback_secret: Option<String>,
    pub uri: Option<String>,
    storage_policy: Option<PolicyData>,
    /// Present (not null) when the bytes must be encrypted on the client.
    encrypt_metadata: Option<IgnoredAny>,
}

/// The session's `storage_policy`, as far as the upload depends on it.
#[derive(Default, Deserialize)]
#[serde(default)]
struct PolicyData {
    #[serde(rename = "type")]
    kind: Option<String>,
    relay: Option<bool>,
    chunk_concurrency: Option<i64>,
}

/// What is said of a create answer whose fields have unexpected types.
pub(super) const MALFORMED_SESSION: &str = "the upload session answer has fields of unexpected types";

/// A create answer's open-ended `data`, checked (see [`check_session`]).
pub fn parse_session(data: &Json, session_id: &str, requested_uri: &str, endpoint: &str, total: u64) -> Result<SessionInfo, UploadError> {
    let data = codec::from_json::<SessionData>(data).map_err(|_| proto_err(MALFORMED_SESSION))?;
    check_session(&data, session_id, requested_uri, endpoint, total)
}

/// Checks the create answer's `data` (its `session_id` has been read already).
pub(super) fn check_session(data: &SessionData, session_id: &str, requested_uri: &str, endpoint: &str, total: u64) -> Result<SessionInfo, UploadError> {
    let policy = data.storage_policy.as_ref();
    let policy_type = policy.and_then(|p| p.kind.clone()).unwrap_or_default();
    if policy_type.is_empty() {
        return Err(proto_err("the upload session names no storage policy type"));
    }
    if data.encrypt_metadata.is_some() {
        return Err(UploadError::new(
            ErrorCode::Protocol,
            PROVIDER,
            "the storage policy requires client-side encryption, which chunkup does not do yet",
        ));
    }
    let relay = policy.and_then(|p| p.relay).unwrap_or(false);
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
    let chunk_size = data.chunk_size.unwrap_or(0);
    let expires = data.expires;
    let urls = data.upload_urls.as_deref().unwrap_or_default();
    if urls.len() > MAX_PARTS {
        return Err(proto_err("the session lists too many upload URLs"));
    }
    let mut upload_urls = Vec::with_capacity(urls.len());
    for u in urls {
        let abs = resolve(endpoint, u).filter(|a| is_absolute_http(a)).ok_or_else(|| proto_err("the session has an unusable upload URL"))?;
        upload_urls.push(abs);
    }
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let credential = text(&data.credential);
    let complete_url = text(&data.complete_url);
    let callback_secret = text(&data.callback_secret);
    let uri = text(&data.uri).filter(|u| u.starts_with("cloudreve://")).unwrap_or_else(|| requested_uri.to_string());
    let concurrency = policy
        .and_then(|p| p.chunk_concurrency)
        .filter(|c| *c > 0)
        .map(|c| usize::try_from(c).unwrap_or(MAX_CONCURRENCY).min(MAX_CONCURRENCY))
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
