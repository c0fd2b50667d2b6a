//! The caller's options: [`UploadParams`], [`from_options`] (plain JSON from the JS API),
//! the target [`target_uri`], and [`Cloudreve::new`], which checks them and builds the create
//! call's body.

use super::{Cloudreve, Phase, SessionInfo, PROVIDER};
use crate::core::codec;
use crate::core::url::{encode_component, is_absolute_http, join};
use crate::core::{FileInfo, Json, UploadError};
use crate::protocols::Protocol;
use serde::ser::{Serialize, Serializer};

/// `PUT /api/v4/file/upload`'s body (`service/explorer/upload.go` `CreateUploadSessionService`).
#[derive(serde::Serialize)]
struct CreateBody<'a> {
    uri: &'a str,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_id: Option<&'a str>,
    /// Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_modified: Option<u64>,
    #[serde(skip_serializing_if = "str::is_empty")]
    mime_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Pairs::is_empty")]
    metadata: Pairs<'a>,
}

/// Key–value pairs written as a JSON object, in order.
struct Pairs<'a>(&'a [(String, String)]);

impl Pairs<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
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
        // Milliseconds up to 2^53 (JSON numbers are exact that far; Cloudreve reads an int64).
        let lm = file.last_modified;
        let last_modified = (lm > 0.0 && lm <= 9_007_199_254_740_992.0).then(|| lm.floor() as u64);
        let body = codec::encode(&CreateBody {
            uri: &uri,
            size: file.size,
            policy_id: p.policy_id.as_deref(),
            last_modified,
            mime_type: p.mime_type.as_deref().unwrap_or_else(|| file.mime.trim()),
            entity_type: p.overwrite.then_some("version"),
            metadata: Pairs(&p.metadata),
        });
        Ok(Cloudreve {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: p.access_token,
            purchase_ticket: p.purchase_ticket,
            uri,
            total: file.size,
            create_body: body,
            phase: Phase::Create { maybe_received: false },
            in_flight: 0,
            session: None,
            confirmed: 0,
            final_maybe_done: false,
            cleaned: false,
            renewals: 0,
        })
    }

    pub fn session_info(&self) -> Option<&SessionInfo> {
        self.session.as_ref()
    }
    /// The target uri sent in the create call.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}
