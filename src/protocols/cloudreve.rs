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

use super::oneshot::OneShot;
use crate::core::retry::{parse_retry_after, status_is_retryable};
use crate::core::url::{encode_component, is_absolute_http, join, resolve};
use crate::core::{status_error, truncate, Body, ErrorCode, FileInfo, Json, Method, Outcome, Request, Response, Slice, UploadError};
use crate::protocols::{network_retry, Next, Protocol, Verdict};

pub const PROVIDER: &str = "cloudreve";
/// Parts in flight at once on S3-like policies when the policy does not say.
pub const DEFAULT_S3_CONCURRENCY: usize = 3;
/// Upper bound on parallel parts, whatever the policy says.
pub const MAX_CONCURRENCY: usize = 8;
/// More parts than any bucket accepts (S3: 10 000): a session asking for more is refused.
pub const MAX_PARTS: usize = 100_000;
/// The metadata key Cloudreve sets on a file while an upload session writes it.
pub const UPLOAD_SESSION_METADATA: &str = "sys:upload_session_id";

const TAG_KIND: u64 = 0xFF << 56;
const TAG_CREATE: u64 = 1 << 56;
const TAG_CHUNK: u64 = 2 << 56;
const TAG_COMPLETE: u64 = 3 << 56;
const TAG_CALLBACK: u64 = 4 << 56;
const TAG_VERIFY: u64 = 5 << 56;
const TAG_QUERY: u64 = 6 << 56;
const TAG_PROBE: u64 = 7 << 56;
const TAG_DISCARD: u64 = 8 << 56;

/// New sessions one upload may create after its session expired or after a lost answer to its
/// creation left a session holding the file's lock. Beyond this the upload fails (typed).
pub const MAX_NEW_SESSIONS: u32 = 2;

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

fn envelope_message(what: &str, env: &Envelope) -> String {
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
fn http_verdict(what: &str, resp: &Response, route: Route) -> Verdict {
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

fn valid_session_id(s: &str) -> bool {
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

fn proto_err(msg: impl Into<String>) -> UploadError {
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

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Create,
    Upload,
    Complete,
    Callback,
    Verify,
    /// `GET /api/v4/file/info`: whose session the file records, and whether the token still works.
    Probe(ProbeFor),
    /// `DELETE /api/v4/file/upload` of this upload's own stale session, then a new session.
    Discard(String),
    Done(Json),
    Failed(UploadError),
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

/// Options of a Cloudreve upload besides the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UploadParams {
    pub uri: String,
    pub access_token: String,
    pub policy_id: Option<String>,
    pub purchase_ticket: Option<String>,
    /// Upload a new version when the file exists (`entity_type: "version"`).
    pub overwrite: bool,
    pub mime_type: Option<String>,
    pub metadata: Vec<(String, String)>,
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
    /// local/remote: index of the first chunk not confirmed.
    next_chunk: u64,
    count: u64,
    /// OneDrive: first byte the upload URL has not confirmed.
    offset: u64,
    od_query: bool,
    parts: Vec<Part>,
    confirmed: u64,
    /// The create call may have reached the server although its answer was lost.
    create_maybe_received: bool,
    /// The last step (last chunk, completion, callback) may have succeeded without us knowing.
    final_maybe_done: bool,
    cleaned: bool,
    /// Continuing a session from an earlier page, and no chunk has been accepted yet: if the
    /// session turns out to be gone, a fresh one is created.
    resumed: bool,
    /// New sessions created so far after an expired session or a lost creation answer.
    renewals: u32,
    /// What ended the session (40011 on a chunk, or the create call's refusal), for messages.
    gone_error: Option<UploadError>,
}

/// Builds the protocol from the caller's options (plain data; `endpoint` already absolute).
/// Validates everything; sends nothing.
pub fn from_options(endpoint: &str, options: &Json, files: &[FileInfo], chunk: Option<u64>) -> Result<Box<dyn Protocol>, UploadError> {
    let file = match files {
        [one] => one,
        [] => return Err(UploadError::invalid(PROVIDER, "no file given")),
        _ => return Err(UploadError::invalid(PROVIDER, "this provider uploads one file at a time")),
    };
    if chunk.is_some() {
        return Err(UploadError::invalid(
            PROVIDER,
            "chunkSize cannot be set for Cloudreve: the storage policy decides the chunk size",
        ));
    }
    let string = |k: &str| -> Result<Option<String>, UploadError> {
        match options.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(UploadError::invalid(PROVIDER, format!("{k} must be a string"))),
        }
    };
    let overwrite = match options.get("overwrite") {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => return Err(UploadError::invalid(PROVIDER, "overwrite must be a boolean")),
    };
    let mut metadata = Vec::new();
    match options.get("metadata") {
        None | Some(Json::Null) => {}
        Some(Json::Object(entries)) => {
            if entries.len() > 256 {
                return Err(UploadError::invalid(PROVIDER, "metadata has more than 256 entries"));
            }
            for (k, v) in entries {
                let v = v.as_str().ok_or_else(|| UploadError::invalid(PROVIDER, "metadata values must be strings"))?;
                metadata.push((k.clone(), v.to_string()));
            }
        }
        Some(_) => return Err(UploadError::invalid(PROVIDER, "metadata must be an object of strings")),
    }
    let params = UploadParams {
        uri: string("uri")?.unwrap_or_default(),
        access_token: string("accessToken")?.unwrap_or_default(),
        policy_id: string("policyId")?.filter(|s| !s.is_empty()),
        purchase_ticket: string("purchaseTicket")?.filter(|s| !s.is_empty()),
        overwrite,
        mime_type: string("mimeType")?.filter(|s| !s.is_empty()),
        metadata,
    };
    Ok(Box::new(Cloudreve::new(endpoint, file, params)?))
}

/// Checks `uri`; one ending in `/` names a folder, and the file's name is appended.
pub fn target_uri(uri: &str, file_name: &str) -> Result<String, UploadError> {
    let uri = uri.trim();
    if uri.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "uri is required (e.g. cloudreve://my/folder/file.bin)"));
    }
    if uri.len() > 4096 || uri.chars().any(char::is_control) {
        return Err(UploadError::invalid(PROVIDER, "uri is too long or has control characters"));
    }
    let Some(rest) = uri.strip_prefix("cloudreve://") else {
        return Err(UploadError::invalid(PROVIDER, "uri must start with cloudreve:// (e.g. cloudreve://my/folder/file.bin)"));
    };
    let (fs, path) = rest.split_once('/').unwrap_or((rest, ""));
    if fs.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "uri names no file system (e.g. cloudreve://my/…)"));
    }
    if path.is_empty() || uri.ends_with('/') {
        let name = file_name.trim();
        if name.is_empty() {
            return Err(UploadError::invalid(PROVIDER, "uri names a folder and the input has no file name: give the full file uri"));
        }
        let sep = if uri.ends_with('/') { "" } else { "/" };
        return Ok(format!("{uri}{sep}{}", encode_component(name)));
    }
    Ok(uri.to_string())
}

impl Cloudreve {
    pub fn new(endpoint: &str, file: &FileInfo, p: UploadParams) -> Result<Self, UploadError> {
        if p.access_token.is_empty() {
            return Err(UploadError::invalid(PROVIDER, "accessToken is required"));
        }
        if p.access_token.chars().any(|c| c.is_control() || c == ' ') {
            return Err(UploadError::invalid(PROVIDER, "accessToken has unexpected characters"));
        }
        if let Some(t) = &p.purchase_ticket {
            if t.chars().any(char::is_control) {
                return Err(UploadError::invalid(PROVIDER, "purchaseTicket has unexpected characters"));
            }
        }
        let create_url = join(endpoint, "/api/v4/file/upload");
        if !is_absolute_http(&create_url) {
            return Err(UploadError::invalid(PROVIDER, "endpoint must be an http(s) URL or a path on this site"));
        }
        let uri = target_uri(&p.uri, &file.name)?;
        let mut body = Json::object().with("uri", uri.as_str()).with("size", file.size);
        if let Some(id) = &p.policy_id {
            body.set("policy_id", Json::String(id.clone()));
        }
        if file.last_modified.is_finite() && file.last_modified > 0.0 {
            body.set("last_modified", Json::Number(file.last_modified.floor()));
        }
        let mime = p.mime_type.clone().unwrap_or_else(|| file.mime.trim().to_string());
        if !mime.is_empty() {
            body.set("mime_type", Json::String(mime));
        }
        if p.overwrite {
            body.set("entity_type", Json::String("version".into()));
        }
        if !p.metadata.is_empty() {
            body.set("metadata", Json::Object(p.metadata.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect()));
        }
        Ok(Cloudreve {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: p.access_token,
            purchase_ticket: p.purchase_ticket,
            uri,
            total: file.size,
            create_body: body.to_json_string(),
            phase: Phase::Create,
            in_flight: 0,
            session: None,
            next_chunk: 0,
            count: 1,
            offset: 0,
            od_query: false,
            parts: Vec::new(),
            confirmed: 0,
            create_maybe_received: false,
            final_maybe_done: false,
            cleaned: false,
            resumed: false,
            renewals: 0,
            gone_error: None,
        })
    }

    pub fn session_info(&self) -> Option<&SessionInfo> {
        self.session.as_ref()
    }
    /// The target uri sent in the create call.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    fn api(&self, method: Method, path: &str) -> Request {
        let mut r = Request::new(method, join(&self.endpoint, path)).bearer(&self.token);
        if let Some(t) = &self.purchase_ticket {
            r = r.header("X-Cr-Purchase-Ticket", t.clone());
        }
        r
    }

    fn fail(&mut self, e: UploadError) -> Verdict {
        self.phase = Phase::Failed(e.clone());
        Verdict::Fail(e)
    }

    /// A verdict from the mapping: a Fail also ends the protocol.
    fn apply(&mut self, v: Verdict) -> Verdict {
        match v {
            Verdict::Fail(e) => self.fail(e),
            v => v,
        }
    }

    fn range(&self, index: u64) -> (u64, u64) {
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

    fn done(&mut self, data: &Json) -> Verdict {
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
    fn envelope_reply(&mut self, what: &str, resp: &Response, route: Route) -> Result<Json, Verdict> {
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

    fn handle_create(&mut self, outcome: Outcome) -> Verdict {
        let what = "upload session creation";
        let resp = match outcome {
            Outcome::Network(d) => {
                self.create_maybe_received = true;
                return network_retry(PROVIDER, what, &d);
            }
            Outcome::Response(r) => r,
        };
        let data = match self.envelope_reply(what, &resp, Route::Api) {
            Ok(d) => d,
            Err(v) => {
                if resp.status >= 500 {
                    self.create_maybe_received = true;
                }
                let code = parse_envelope(&resp.body).map(|x| x.code);
                if self.create_maybe_received && matches!(code, Some(40004 | 40073)) {
                    // An earlier attempt whose answer was lost may have created a session: its
                    // placeholder makes a plain create answer 40004 ("Object existed"), its lock
                    // makes a `version` create answer 40073. Find out whose it is.
                    self.gone_error = verdict_error(&v);
                    self.phase = Phase::Probe(ProbeFor::LostCreate);
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
        self.count = chunk_count(self.total, info.chunk_size);
        if let PolicyKind::S3(_) = info.kind {
            self.parts = vec![Part::Pending; self.count as usize];
        }
        self.session = Some(info);
        self.phase = Phase::Upload;
        Verdict::Continue
    }

    // ---- local and remote chunks -------------------------------------------------------

    fn chunk_request(&self, s: &SessionInfo) -> Request {
        let index = self.next_chunk;
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
        req.tag(TAG_CHUNK | index)
            .header("Content-Type", "application/octet-stream")
            .body(Body::Slice(Slice { file: 0, start, end }))
    }

    fn handle_chunk(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        let index = req.tag & !TAG_KIND;
        if index != self.next_chunk {
            return Verdict::Continue; // stale
        }
        let is_last = index + 1 >= self.count;
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
                self.next_chunk += 1;
                self.resumed = false;
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
                    self.gone_error = verdict_error(&v);
                    self.phase = Phase::Probe(ProbeFor::ChunkGone);
                    return Verdict::Continue;
                }
                if route == Route::Api && Self::is_session_gone(&v) {
                    // 40011 on Cloudreve's own chunk route: the session is gone (expired,
                    // cancelled, or completed by a chunk whose answer was lost), or the token
                    // expired (a JWT that does not parse makes the request anonymous, and the
                    // anonymous user owns no session: Cloudreve never answers 401 here). The
                    // file check tells which.
                    self.gone_error = verdict_error(&v);
                    self.phase = Phase::Probe(ProbeFor::ChunkGone);
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

    // ---- OneDrive ----------------------------------------------------------------------

    fn onedrive_request(&self, s: &SessionInfo) -> Request {
        let url = s.upload_urls.first().cloned().unwrap_or_default();
        if self.od_query {
            return Request::new(Method::Get, url).tag(TAG_QUERY);
        }
        let start = self.offset.min(self.total);
        let end = if s.chunk_size == 0 { self.total } else { start.saturating_add(s.chunk_size).min(self.total) };
        Request::new(Method::Put, url)
            .tag(TAG_CHUNK | start)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("bytes {}-{}/{}", start, end.saturating_sub(1), self.total))
            .body(Body::Slice(Slice { file: 0, start, end }))
    }

    /// `nextExpectedRanges[0]`'s start, e.g. `"26-"` or `"26-99"`.
    fn next_expected(body: &str) -> Option<Option<u64>> {
        let j = Json::parse(body.trim()).ok()?;
        let ranges = j.get("nextExpectedRanges")?.as_array()?;
        match ranges.first() {
            None => Some(None),
            Some(r) => {
                let s = r.as_str()?;
                let start = s.split('-').next()?.trim();
                if start.is_empty() || !start.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some(Some(start.parse().ok()?))
            }
        }
    }

    fn onedrive_all_received(&mut self) -> Verdict {
        self.offset = self.total;
        self.confirmed = self.total;
        self.od_query = false;
        self.final_maybe_done = false;
        self.phase = Phase::Callback;
        Verdict::Continue
    }

    fn onedrive_offset(&mut self, next: u64) -> Verdict {
        if next > self.total {
            return self.fail(proto_err("OneDrive expects bytes beyond the end of the file"));
        }
        self.offset = next;
        self.confirmed = next;
        self.od_query = false;
        Verdict::Continue
    }

    fn handle_onedrive(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        let query = req.tag & TAG_KIND == TAG_QUERY;
        let what = if query { "OneDrive status query" } else { "OneDrive chunk" };
        let end = match &req.body {
            Body::Slice(s) => s.end,
            _ => self.offset,
        };
        let resp = match outcome {
            Outcome::Network(d) => {
                if !query {
                    if end == self.total {
                        self.final_maybe_done = true;
                    }
                    self.od_query = true;
                }
                return network_retry(PROVIDER, what, &d);
            }
            Outcome::Response(r) => r,
        };
        let graph_message = || {
            Json::parse(resp.body.trim()).ok().and_then(|j| j.path("error.message").and_then(Json::as_str).map(|s| truncate(s, 300)))
        };
        match resp.status {
            200 | 201 if !query => self.onedrive_all_received(),
            202 if !query => match Self::next_expected(&resp.body) {
                Some(Some(next)) => self.onedrive_offset(next),
                Some(None) => {
                    self.od_query = true;
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
                    e.message.push_str(&format!(" ({m})"));
                }
                // Gone with Cloudreve's session (expired or cancelled)? The file check tells.
                self.gone_error = Some(e);
                self.phase = Phase::Probe(ProbeFor::ChunkGone);
                Verdict::Continue
            }
            409 | 416 if !query => {
                // Overlapping fragment: ask OneDrive what it still needs.
                self.od_query = true;
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
                    self.od_query = true;
                }
                let mut e = status_error(PROVIDER, what, &resp);
                if let Some(m) = graph_message() {
                    e.message.push_str(&format!(": {m}"));
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
                    e.message.push_str(&format!(": {m}"));
                }
                self.fail(e)
            }
        }
    }

    // ---- S3-like parts -----------------------------------------------------------------

    fn part_request(&mut self, s: &SessionInfo, i: usize) -> Request {
        let (start, end) = self.range(i as u64);
        let url = s.upload_urls.get(i).cloned().unwrap_or_default();
        Request::new(Method::Put, url)
            .tag(TAG_CHUNK | i as u64)
            .header("Content-Type", "application/octet-stream")
            .body(Body::Slice(Slice { file: 0, start, end }))
    }

    fn handle_part(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        let i = (req.tag & !TAG_KIND) as usize;
        let what = format!("part {}", i + 1);
        if !matches!(self.parts.get(i), Some(Part::InFlight)) {
            return Verdict::Continue; // stale
        }
        let resp = match outcome {
            Outcome::Network(d) => {
                self.parts[i] = Part::Pending;
                return network_retry(PROVIDER, &what, &d);
            }
            Outcome::Response(r) => r,
        };
        if resp.is_success() {
            let etag = resp.header("etag").unwrap_or("");
            // OSS completes with `x-oss-complete-all` and needs no ETag (its CORS rule, as
            // Cloudreve sets it, exposes none).
            let oss = matches!(self.session.as_ref().map(|s| s.kind), Some(PolicyKind::S3(S3Flavor::Oss)));
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
            self.parts[i] = Part::Done(etag.to_string());
            return Verdict::Continue;
        }
        self.parts[i] = Part::Pending;
        match resp.status {
            404 => {
                let mut e = status_error(PROVIDER, &what, &resp);
                e.code = ErrorCode::SessionExpired;
                if let Some(m) = xml_field(&resp.body, "Message") {
                    e.message.push_str(&format!(": {m}"));
                }
                e.message.push_str(" (the multipart upload is gone)");
                self.fail(e)
            }
            403 => {
                let mut e = status_error(PROVIDER, &what, &resp);
                e.code = ErrorCode::Auth;
                let m = xml_field(&resp.body, "Message");
                if let Some(m) = &m {
                    e.message.push_str(&format!(": {m}"));
                }
                e.message.push_str(" (the bucket refused the presigned part URL: expired, or a signature mismatch)");
                if m.is_some_and(|m| m.to_ascii_lowercase().contains("expired")) {
                    // "Request has expired": the URLs are signed for the session's lifetime, so
                    // the session has expired. The file check tells whether it can be replaced;
                    // if not, the upload failed because its session expired, not for a refused
                    // credential of the user's.
                    e.code = ErrorCode::SessionExpired;
                    self.gone_error = Some(e);
                    self.phase = Phase::Probe(ProbeFor::ChunkGone);
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

    fn etags(&self) -> Option<Vec<String>> {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Done(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    fn complete_request(&self, s: &SessionInfo, flavor: S3Flavor) -> Request {
        let url = s.complete_url.clone().unwrap_or_default();
        let req = Request::new(Method::Post, url).tag(TAG_COMPLETE);
        match flavor {
            S3Flavor::Oss => req
                .header("Content-Type", "application/octet-stream")
                .header("x-oss-forbid-overwrite", "true")
                .header("x-oss-complete-all", "yes"),
            _ => {
                let xml = completion_xml(&self.etags().unwrap_or_default());
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

    fn handle_complete(&mut self, outcome: Outcome) -> Verdict {
        let what = "multipart completion";
        let Some(PolicyKind::S3(flavor)) = self.session.as_ref().map(|s| s.kind) else {
            return self.fail(proto_err("completion without an S3-like session"));
        };
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
                if let Some(code) = xml_field(&resp.body, "Code").filter(|_| resp.body.contains("<Error>")) {
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
                let mut e = status_error(PROVIDER, what, &resp);
                e.code = ErrorCode::SessionExpired;
                if let Some(m) = xml_field(&resp.body, "Message") {
                    e.message.push_str(&format!(": {m}"));
                }
                self.fail(e)
            }
            s if (200..300).contains(&s) => {
                // OSS answers 203 when its callback to Cloudreve failed.
                let mut e = status_error(PROVIDER, what, &resp);
                e.message = format!("{what}: the storage could not call Cloudreve back (HTTP {s})");
                if let Some(m) = xml_field(&resp.body, "Message") {
                    e.message.push_str(&format!(": {m}"));
                }
                self.fail(e)
            }
            403 if xml_field(&resp.body, "Message").is_some_and(|m| m.to_ascii_lowercase().contains("expired")) => {
                // "Request has expired": `completeURL` is presigned for the session's lifetime
                // (like the part URLs), so the session expired before the upload was finished.
                // The file check tells whether it is this upload's to replace.
                let mut e = status_error(PROVIDER, what, &resp);
                e.code = ErrorCode::SessionExpired;
                if let Some(m) = xml_field(&resp.body, "Message") {
                    e.message.push_str(&format!(": {m}"));
                }
                e.message.push_str(" (the presigned completion URL expired with the upload session)");
                self.gone_error = Some(e);
                self.phase = Phase::Probe(ProbeFor::Finish);
                Verdict::Continue
            }
            400 => {
                let mut e = status_error(PROVIDER, what, &resp);
                e.code = ErrorCode::Protocol;
                if let Some(m) = xml_field(&resp.body, "Message").or_else(|| xml_field(&resp.body, "Code")) {
                    e.message.push_str(&format!(": {m}"));
                }
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

    // ---- callback and verification -----------------------------------------------------

    fn callback_request(&self, s: &SessionInfo) -> Request {
        let secret = s.callback_secret.clone().unwrap_or_default();
        match s.kind {
            PolicyKind::OneDrive => self.api(Method::Post, &format!("/api/v4/callback/onedrive/{}/{secret}", s.session_id)),
            PolicyKind::S3(f) => self.api(Method::Get, &format!("/api/v4/callback/{}/{}/{secret}", f.name(), s.session_id)),
            _ => self.api(Method::Get, "/api/v4/callback/unknown"),
        }
        .tag(TAG_CALLBACK)
    }

    fn handle_callback(&mut self, outcome: Outcome) -> Verdict {
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
                    self.gone_error = verdict_error(&v);
                    self.phase = Phase::Probe(ProbeFor::Finish);
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
    fn target(&self) -> &str {
        self.session.as_ref().map_or(self.uri.as_str(), |s| s.uri.as_str())
    }

    fn verify_request(&self) -> Request {
        self.api(Method::Get, &format!("/api/v4/file/info?uri={}", encode_component(self.target()))).tag(TAG_VERIFY)
    }

    fn handle_verify(&mut self, outcome: Outcome) -> Verdict {
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

impl Cloudreve {
    // ---- recovery: a session gone mid-upload, a session left by a lost creation answer ----

    /// The answer to the file check after a chunk's 40011 (`ChunkGone`) or after creating the
    /// session again met the file's placeholder or lock (`LostCreate`).
    fn handle_probe(&mut self, why: ProbeFor, outcome: Outcome) -> Verdict {
        let what = "file check";
        let resp = match outcome {
            Outcome::Network(d) => return network_retry(PROVIDER, what, &d),
            Outcome::Response(r) => r,
        };
        let ours = self.session.as_ref().map(|s| s.session_id.clone());
        match self.envelope_reply(what, &resp, Route::Api) {
            Ok(data) => {
                // The token works, so a 40011 was not about the token: the session is gone.
                let recorded = data.get("metadata").and_then(|m| m.get(UPLOAD_SESSION_METADATA)).and_then(Json::as_str).filter(|s| valid_session_id(s));
                let recorded = recorded.map(str::to_string);
                let is_file = data.get("type").and_then(Json::as_f64).is_none_or(|t| t == 0.0);
                match why {
                    ProbeFor::ChunkGone | ProbeFor::Finish => {
                        let size = data.get("size").and_then(Json::as_u64);
                        if self.final_maybe_done && recorded.is_none() && size == Some(self.total) && is_file {
                            // The last step's lost answer (chunk, completion, callback) completed
                            // the upload.
                            return self.done(&Json::object().with("file", data));
                        }
                        self.final_maybe_done = false;
                        match (recorded, ours) {
                            // Expired: Cloudreve keeps the placeholder, its upload entity and the
                            // metadata naming this session (the sentinel never deletes the
                            // placeholder); a plain create would get 40004. The session id is
                            // this upload's own, so deleting it touches nothing else.
                            (Some(r), Some(o)) if r == o => self.renew(o, resp.status),
                            // An earlier page's session that is gone without a trace: start anew.
                            (None, _) if self.resumed => self.start_over(),
                            // Cancelled (the placeholder went with it) or taken over by another
                            // upload of the same path: not this upload's to touch.
                            _ => {
                                let e = self.gone_for_good(resp.status);
                                self.fail(e)
                            }
                        }
                    }
                    ProbeFor::LostCreate => match recorded {
                        // Whose session is this? Cloudreve cannot say which client created it:
                        // the create request's own metadata reaches the file only at
                        // completion (`dbfs/upload.go` `PrepareUpload` records just
                        // `sys:upload_session_id`), and the lock's owner is the user. It is
                        // deleted only when (1) this upload's create may have reached the
                        // server (its answer was lost, or a 5xx came back), (2) creating again
                        // met exactly this file's placeholder or upload lock (40004/40073), and
                        // (3) the file records an upload session, i.e. is an upload in progress
                        // rather than a finished file (a finished file is never touched: that
                        // is a plain "already exists"). What remains possible: another tab of
                        // the same user that began uploading the very same path before this
                        // upload's first create. That upload then fails with session-expired
                        // (its own file check finds the path recording another session, and
                        // it never deletes in turn), instead of this one failing with "Lock
                        // conflict" for up to a day; at most MAX_NEW_SESSIONS times per upload.
                        Some(r) => self.renew(r, resp.status),
                        None => {
                            let mut e = self.gone_error.take().unwrap_or_else(|| UploadError::new(ErrorCode::Http, PROVIDER, "upload session creation failed"));
                            e.retryable = false;
                            e.message.push_str("; the file there is not an upload in progress, so it is left alone");
                            self.fail(e)
                        }
                    },
                }
            }
            Err(Verdict::Reauth(e)) => {
                // The token was refused as well: the 40011 was (at least) an expired token.
                let mut err = UploadError::new(ErrorCode::Auth, PROVIDER, e.message.clone()).with_status(resp.status);
                if let (ProbeFor::ChunkGone | ProbeFor::Finish, Some(g)) = (why, &self.gone_error) {
                    err.message = format!("{}; the access token was refused as well ({}): it has most likely expired", g.message, e.message);
                }
                Verdict::Reauth(err)
            }
            Err(Verdict::Fail(e)) if matches!(e.code, ErrorCode::Http | ErrorCode::InvalidInput | ErrorCode::SessionExpired) => {
                // Not found (40016, 404) or similar: no file, so nothing holds the path.
                match why {
                    ProbeFor::ChunkGone if self.resumed => self.start_over(),
                    ProbeFor::ChunkGone | ProbeFor::Finish => {
                        self.final_maybe_done = false;
                        let mut ie = self.gone_for_good(resp.status);
                        ie.message.push_str(&format!(" ({})", e.message));
                        self.fail(ie)
                    }
                    // The lock went away meanwhile (its session was cancelled): create again.
                    ProbeFor::LostCreate => self.renew_without_discard(resp.status),
                }
            }
            Err(v) => self.apply(v),
        }
    }

    /// The error when the session cannot be continued or replaced: a refused storage credential
    /// stays 'auth'; anything else is an ended session.
    fn gone_for_good(&self, status: u16) -> UploadError {
        match &self.gone_error {
            Some(g) if g.code == ErrorCode::Auth => g.clone(),
            _ => self.ended_incomplete(status),
        }
    }

    fn ended_incomplete(&self, status: u16) -> UploadError {
        let mut e = UploadError::new(
            ErrorCode::SessionExpired,
            PROVIDER,
            "the upload session ended before the file was complete (it expired or was cancelled)",
        )
        .with_status(status);
        if let Some(g) = &self.gone_error {
            e.message.push_str(&format!(": {}", g.message));
        }
        e
    }

    /// Deletes session `sid` (this upload's own, see [`Cloudreve::handle_probe`]), then creates
    /// a new one; bounded by [`MAX_NEW_SESSIONS`].
    fn renew(&mut self, sid: String, status: u16) -> Verdict {
        if let Some(e) = self.renewals_exhausted(status) {
            return self.fail(e);
        }
        self.renewals += 1;
        self.phase = Phase::Discard(sid);
        Verdict::Continue
    }

    fn renew_without_discard(&mut self, status: u16) -> Verdict {
        if let Some(e) = self.renewals_exhausted(status) {
            return self.fail(e);
        }
        self.renewals += 1;
        self.start_over()
    }

    fn renewals_exhausted(&mut self, status: u16) -> Option<UploadError> {
        if self.renewals < MAX_NEW_SESSIONS {
            return None;
        }
        let mut e = match &self.gone_error {
            Some(g) if g.code != ErrorCode::SessionExpired => g.clone(),
            _ => self.ended_incomplete(status),
        };
        e.retryable = false;
        e.message.push_str(&format!(" (gave up after {MAX_NEW_SESSIONS} new upload sessions)"));
        Some(e)
    }

    /// A new session from the first byte (the old one's bytes cannot be reused).
    fn start_over(&mut self) -> Verdict {
        self.session = None;
        self.next_chunk = 0;
        self.count = 1;
        self.offset = 0;
        self.od_query = false;
        self.parts.clear();
        self.confirmed = 0;
        self.create_maybe_received = false;
        self.final_maybe_done = false;
        self.cleaned = false;
        self.resumed = false;
        self.phase = Phase::Create;
        Verdict::Continue
    }

    /// The answer to deleting a stale session of this upload.
    fn handle_discard(&mut self, outcome: Outcome) -> Verdict {
        let what = "deleting the stale upload session";
        let resp = match outcome {
            Outcome::Network(d) => return network_retry(PROVIDER, what, &d),
            Outcome::Response(r) => r,
        };
        match self.envelope_reply(what, &resp, Route::Api) {
            Ok(_) => self.start_over(),
            Err(Verdict::Reauth(e)) => Verdict::Reauth(e),
            Err(v) => match parse_envelope(&resp.body).map(|e| e.code) {
                // Already gone (the file or the session): nothing left to delete.
                Some(40016 | 404 | 40011) => self.start_over(),
                // Another session holds the file's lock now: not this upload's to break.
                Some(40073) => {
                    let mut e = verdict_error(&v).unwrap_or_else(|| UploadError::new(ErrorCode::Http, PROVIDER, what));
                    e.retryable = false;
                    e.message.push_str("; another upload of this file holds its lock");
                    self.fail(e)
                }
                _ => self.apply(v),
            },
        }
    }
}

/// The error a verdict carries, if any.
fn verdict_error(v: &Verdict) -> Option<UploadError> {
    match v {
        Verdict::Retry { error, .. } | Verdict::Throttled { error, .. } => Some(error.clone()),
        Verdict::Reauth(e) | Verdict::Fail(e) => Some(e.clone()),
        Verdict::Continue => None,
    }
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
            (Phase::Upload, Some(s)) if matches!(s.kind, PolicyKind::S3(_)) => s.concurrency.clamp(1, MAX_CONCURRENCY),
            _ => 1,
        }
    }

    fn next(&mut self) -> Next {
        let req = match &self.phase {
            Phase::Done(j) => return Next::Done(j.clone()),
            Phase::Failed(e) => return Next::Fail(e.clone()),
            Phase::Create => {
                if self.in_flight > 0 {
                    return Next::Wait;
                }
                self.api(Method::Put, "/api/v4/file/upload").tag(TAG_CREATE).body(Body::json(self.create_body.clone()))
            }
            Phase::Upload => {
                let Some(s) = self.session.clone() else {
                    self.phase = Phase::Failed(proto_err("no upload session"));
                    return self.next();
                };
                match s.kind {
                    PolicyKind::S3(_) => match self.parts.iter().position(|p| *p == Part::Pending) {
                        Some(i) => {
                            if self.in_flight >= s.concurrency.max(1) {
                                return Next::Wait;
                            }
                            self.parts[i] = Part::InFlight;
                            self.part_request(&s, i)
                        }
                        None if self.parts.contains(&Part::InFlight) => return Next::Wait,
                        None => {
                            self.phase = Phase::Complete;
                            return self.next();
                        }
                    },
                    PolicyKind::OneDrive => {
                        if self.in_flight > 0 {
                            return Next::Wait;
                        }
                        if self.offset >= self.total && !self.od_query {
                            self.od_query = true;
                        }
                        self.onedrive_request(&s)
                    }
                    PolicyKind::Local | PolicyKind::Remote => {
                        if self.in_flight > 0 {
                            return Next::Wait;
                        }
                        if self.next_chunk >= self.count {
                            let _ = self.done(&Json::Null);
                            return self.next();
                        }
                        self.chunk_request(&s)
                    }
                }
            }
            Phase::Complete => {
                if self.in_flight > 0 {
                    return Next::Wait;
                }
                match self.session.as_ref().map(|s| (s.clone(), s.kind)) {
                    Some((s, PolicyKind::S3(f))) => self.complete_request(&s, f),
                    _ => {
                        self.phase = Phase::Failed(proto_err("completion without an S3-like session"));
                        return self.next();
                    }
                }
            }
            Phase::Callback => {
                if self.in_flight > 0 {
                    return Next::Wait;
                }
                match &self.session {
                    Some(s) => self.callback_request(s),
                    None => {
                        self.phase = Phase::Failed(proto_err("callback without a session"));
                        return self.next();
                    }
                }
            }
            Phase::Verify => {
                if self.in_flight > 0 {
                    return Next::Wait;
                }
                self.verify_request()
            }
            Phase::Probe(_) => {
                if self.in_flight > 0 {
                    return Next::Wait;
                }
                self.verify_request().tag(TAG_PROBE)
            }
            Phase::Discard(sid) => {
                if self.in_flight > 0 {
                    return Next::Wait;
                }
                let body = Json::object().with("id", sid.as_str()).with("uri", self.target());
                self.api(Method::Delete, "/api/v4/file/upload").tag(TAG_DISCARD).body(Body::json(body.to_json_string()))
            }
        };
        self.in_flight += 1;
        Next::Send(req)
    }

    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        self.in_flight = self.in_flight.saturating_sub(1);
        if matches!(self.phase, Phase::Done(_) | Phase::Failed(_)) {
            return Verdict::Continue;
        }
        let kind = self.session.as_ref().map(|s| s.kind);
        match (req.tag & TAG_KIND, &self.phase) {
            (TAG_CREATE, Phase::Create) => self.handle_create(outcome),
            (TAG_CHUNK, Phase::Upload) => match kind {
                Some(PolicyKind::S3(_)) => self.handle_part(req, outcome),
                Some(PolicyKind::OneDrive) => self.handle_onedrive(req, outcome),
                _ => self.handle_chunk(req, outcome),
            },
            (TAG_QUERY, Phase::Upload) => self.handle_onedrive(req, outcome),
            (TAG_COMPLETE, Phase::Complete) => self.handle_complete(outcome),
            (TAG_CALLBACK, Phase::Callback) => self.handle_callback(outcome),
            (TAG_VERIFY, Phase::Verify) => self.handle_verify(outcome),
            (TAG_PROBE, Phase::Probe(why)) => {
                let why = *why;
                self.handle_probe(why, outcome)
            }
            (TAG_DISCARD, Phase::Discard(_)) => self.handle_discard(outcome),
            _ => Verdict::Continue, // an answer that no longer matters
        }
    }

    fn set_token(&mut self, token: &str) {
        self.token = token.to_string();
        if self.phase == Phase::Probe(ProbeFor::ChunkGone) {
            // The 40011 came from the expired token: send the chunk again with the fresh one
            // (OneDrive: ask its upload URL what it has first; S3-like: parts whose answers
            // came while the file was checked were not recorded, so they go again).
            self.phase = Phase::Upload;
            for p in &mut self.parts {
                if *p == Part::InFlight {
                    *p = Part::Pending;
                }
            }
            self.resync();
        }
    }

    fn resync(&mut self) {
        if self.phase == Phase::Upload && matches!(self.session.as_ref().map(|s| s.kind), Some(PolicyKind::OneDrive)) && self.offset > 0 {
            self.od_query = true;
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
            Some(s) => {
                let mut j = Json::object()
                    .with("sessionId", s.session_id.as_str())
                    .with("uri", s.uri.as_str())
                    .with("policyType", s.policy_type.as_str())
                    .with("chunkSize", s.chunk_size)
                    .with("confirmed", self.confirmed());
                if let Some(e) = s.expires {
                    j.set("expires", Json::from(e));
                }
                j
            }
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
        let live = matches!(self.phase, Phase::Upload | Phase::Probe(ProbeFor::ChunkGone));
        if !live || s.kind != PolicyKind::Local || s.chunk_size == 0 || self.next_chunk == 0 {
            return None;
        }
        let mut j = Json::object()
            .with("sessionId", s.session_id.as_str())
            .with("uri", s.uri.as_str())
            .with("policyType", s.policy_type.as_str())
            .with("chunkSize", s.chunk_size)
            .with("nextChunk", self.next_chunk);
        if let Some(e) = s.expires {
            j.set("expires", Json::from(e));
        }
        Some(j)
    }

    fn resume_key(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.session_id.as_str())
    }

    /// Continues a local session at `nextChunk` (Cloudreve rewrites a chunk sent twice at the
    /// same offset). A session that has expired meanwhile (40011) is replaced by a new one.
    fn restore(&mut self, state: &Json) -> Result<(), UploadError> {
        let bad = |m: &str| UploadError::invalid(PROVIDER, format!("cannot resume: {m}"));
        if self.phase != Phase::Create || self.session.is_some() || self.in_flight > 0 {
            return Err(bad("the upload has already begun"));
        }
        let sid = state.get("sessionId").and_then(Json::as_str).filter(|s| valid_session_id(s)).ok_or_else(|| bad("no usable sessionId"))?;
        let uri = state.get("uri").and_then(Json::as_str).filter(|u| u.starts_with("cloudreve://") && u.len() <= 4096).ok_or_else(|| bad("no usable uri"))?;
        let chunk = state.get("chunkSize").and_then(Json::as_u64).filter(|c| *c > 0).ok_or_else(|| bad("no usable chunkSize"))?;
        let count = chunk_count(self.total, chunk);
        let next = state.get("nextChunk").and_then(Json::as_u64).filter(|n| *n >= 1 && *n < count).ok_or_else(|| bad("nextChunk does not fit the file"))?;
        self.session = Some(SessionInfo {
            session_id: sid.to_string(),
            policy_type: state.get("policyType").and_then(Json::as_str).unwrap_or("local").to_string(),
            kind: PolicyKind::Local,
            chunk_size: chunk,
            expires: state.get("expires").and_then(Json::as_u64),
            upload_urls: Vec::new(),
            credential: None,
            complete_url: None,
            callback_secret: None,
            uri: uri.to_string(),
            concurrency: 1,
        });
        self.count = count;
        self.next_chunk = next;
        self.confirmed = self.range(next).0;
        self.phase = Phase::Upload;
        self.resumed = true;
        Ok(())
    }
}

impl Cloudreve {
    /// `DELETE /api/v4/file/upload {id, uri}`, once, while the session may still exist.
    fn cleanup(&mut self) -> Vec<Request> {
        if self.cleaned || matches!(self.phase, Phase::Done(_)) {
            return Vec::new();
        }
        let Some(s) = &self.session else { return Vec::new() };
        self.cleaned = true;
        let body = Json::object().with("id", s.session_id.as_str()).with("uri", s.uri.as_str());
        vec![self.api(Method::Delete, "/api/v4/file/upload").body(Body::json(body.to_json_string()))]
    }
}

// ---------------------------------------------------------------------------------------------
// Login helpers (one request each, through the shared engine)

/// Turns a 2xx envelope into its `data`, or an error (`code != 0`).
pub fn accept_envelope(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    match parse_envelope(&resp.body) {
        Some(env) if env.code == 0 => Ok(env.data),
        Some(env) => Err(login_error(provider, "request", resp.status, &env)),
        None => Err(UploadError::protocol(provider, "the answer is not a Cloudreve API response").with_status(resp.status)),
    }
}

fn login_error(provider: &'static str, what: &str, status: u16, env: &Envelope) -> UploadError {
    let message = envelope_message(what, env);
    let code = match env.code {
        401 | 403 | 40017 | 40018 | 40020 | 40021 | 40022 | 40069 | 40080 => ErrorCode::Auth,
        40001 | 40026 | 40027 => ErrorCode::InvalidInput,
        _ => ErrorCode::Http,
    };
    let retryable = env.code == -1 || (50000..60000).contains(&env.code);
    UploadError::new(code, provider, message).with_status(status).retryable(retryable)
}

/// A login answer: the token pair (flattened), or `{ twoFactorRequired, sessionId }` (code 203).
pub fn accept_login(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    match parse_envelope(&resp.body) {
        Some(env) if env.code == 203 => match env.data.as_str().filter(|s| !s.is_empty()) {
            Some(sid) => Ok(Json::object().with("twoFactorRequired", true).with("sessionId", sid)),
            None => Err(UploadError::protocol(provider, "two-factor login without a session id").with_status(resp.status)),
        },
        Some(env) if env.code == 0 => {
            let token = env.data.get("token").cloned().unwrap_or(Json::Null);
            flatten_token(provider, &token, env.data.get("user").cloned(), resp.status)
        }
        Some(env) => Err(login_error(provider, "login", resp.status, &env)),
        None => Err(UploadError::protocol(provider, "the answer is not a Cloudreve API response").with_status(resp.status)),
    }
}

/// A refresh answer: the new token pair (flattened).
pub fn accept_refresh(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    match parse_envelope(&resp.body) {
        Some(env) if env.code == 0 => flatten_token(provider, &env.data, None, resp.status),
        Some(env) => Err(login_error(provider, "token refresh", resp.status, &env)),
        None => Err(UploadError::protocol(provider, "the answer is not a Cloudreve API response").with_status(resp.status)),
    }
}

fn flatten_token(provider: &'static str, token: &Json, user: Option<Json>, status: u16) -> Result<Json, UploadError> {
    let s = |k: &str| token.get(k).and_then(Json::as_str).filter(|v| !v.is_empty()).map(str::to_string);
    let (Some(access), Some(refresh)) = (s("access_token"), s("refresh_token")) else {
        return Err(UploadError::protocol(provider, "the answer has no access_token/refresh_token").with_status(status));
    };
    let mut out = Json::object().with("accessToken", access).with("refreshToken", refresh);
    if let Some(v) = s("access_expires") {
        out.set("accessExpires", Json::String(v));
    }
    if let Some(v) = s("refresh_expires") {
        out.set("refreshExpires", Json::String(v));
    }
    if let Some(u) = user.filter(|u| !u.is_null()) {
        out.set("user", u);
    }
    Ok(out)
}

fn api_url(endpoint: &str, path: &str) -> Result<String, UploadError> {
    let u = join(endpoint, path);
    if is_absolute_http(&u) {
        Ok(u)
    } else {
        Err(UploadError::invalid(PROVIDER, "endpoint must be an http(s) URL or a path on this site"))
    }
}

/// `POST /api/v4/session/token {email, password, captcha?, ticket?}`.
pub fn login(endpoint: &str, email: &str, password: &str, captcha: Option<&str>, ticket: Option<&str>) -> Result<OneShot, UploadError> {
    if email.trim().is_empty() || password.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "email and password are required"));
    }
    let mut body = Json::object().with("email", email.trim()).with("password", password);
    if let Some(c) = captcha.filter(|c| !c.is_empty()) {
        body.set("captcha", Json::String(c.to_string()));
    }
    if let Some(t) = ticket.filter(|t| !t.is_empty()) {
        body.set("ticket", Json::String(t.to_string()));
    }
    let req = Request::new(Method::Post, api_url(endpoint, "/api/v4/session/token")?).body(Body::json(body.to_json_string()));
    Ok(OneShot::new(PROVIDER, "login", req, accept_login).with_secret(password))
}

/// `POST /api/v4/session/token/2fa {otp, session_id}` after a login answered 203.
pub fn login_2fa(endpoint: &str, otp: &str, session_id: &str) -> Result<OneShot, UploadError> {
    if otp.trim().is_empty() {
        return Err(UploadError::invalid(PROVIDER, "otp is required"));
    }
    let body = Json::object().with("otp", otp.trim()).with("session_id", session_id);
    let req = Request::new(Method::Post, api_url(endpoint, "/api/v4/session/token/2fa")?).body(Body::json(body.to_json_string()));
    Ok(OneShot::new(PROVIDER, "two-factor login", req, accept_login).with_secret(otp.trim()))
}

/// `POST /api/v4/session/token/refresh {refresh_token}`.
pub fn refresh_token(endpoint: &str, refresh: &str) -> Result<OneShot, UploadError> {
    if refresh.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "refreshToken is required"));
    }
    let body = Json::object().with("refresh_token", refresh);
    let req = Request::new(Method::Post, api_url(endpoint, "/api/v4/session/token/refresh")?).body(Body::json(body.to_json_string()));
    Ok(OneShot::new(PROVIDER, "token refresh", req, accept_refresh).with_secret(refresh))
}

/// `DELETE /api/v4/file/upload {id, uri}`: cancels a session left by an earlier page.
pub fn delete_session(endpoint: &str, access_token: &str, session_id: &str, uri: &str) -> Result<OneShot, UploadError> {
    if access_token.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "accessToken is required"));
    }
    if !valid_session_id(session_id) {
        return Err(UploadError::invalid(PROVIDER, "sessionId has unexpected characters"));
    }
    if !uri.starts_with("cloudreve://") {
        return Err(UploadError::invalid(PROVIDER, "uri must start with cloudreve://"));
    }
    let body = Json::object().with("id", session_id).with("uri", uri);
    let req = Request::new(Method::Delete, api_url(endpoint, "/api/v4/file/upload")?)
        .bearer(access_token)
        .body(Body::json(body.to_json_string()));
    Ok(OneShot::new(PROVIDER, "upload session deletion", req, accept_envelope).with_token(access_token))
}
