//! The caller's options: [`UploadParams`], [`from_options`] (plain JSON from the JS API),
//! the target [`target_uri`], and [`Cloudreve::new`], which checks them and builds the create
//! call's body.

use super::{Cloudreve, Phase, SessionInfo, PROVIDER};
use crate::core::JsonExt as _;
use crate::core::url::{encode_component, is_absolute_http, join};
use crate::core::{FileInfo, Json, UploadError};
use crate::protocols::Protocol;

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
        let mut body = Json::object().with("uri", uri.as_str()).with("size", file.size);
        if let Some(id) = &p.policy_id {
            body.set("policy_id", Json::String(id.clone()));
        }
        if file.last_modified.is_finite() && file.last_modified > 0.0 {
            body.set("last_modified", crate::core::json::number(file.last_modified.floor()));
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
