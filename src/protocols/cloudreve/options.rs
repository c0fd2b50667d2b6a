//! The caller's options: [`UploadParams`], [`from_options`] (plain JSON from the JS API),
//! the target [`target_uri`], and [`Cloudreve::new`], which checks them and builds the create
//! call's body.

use super::wire::text;
use crate::core::json::object;
use super::{Cloudreve, Phase, SessionInfo, PROVIDER};
use crate::core::codec;
use crate::core::url::{encode_component, is_absolute_http, join};
use crate::core::{FileInfo, Json, UploadError};
use crate::protocols::Protocol;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;

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

/// The Cloudreve options, typed: those of `new Upload(…)` (`CloudreveUploadOptions`) and those
/// the one-request helpers (`cloudreveLogin`, `cloudreveRefreshToken`,
/// `cloudreveDeleteUploadSession`) read besides `endpoint`; one type for both, so one decoder.
/// The common options are read elsewhere and ignored here. Every field may be missing or null;
/// each helper checks the ones it needs with [`crate::protocols::required`].
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HelperOptions {
    pub uri: Option<String>,
    pub access_token: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub captcha: Option<String>,
    pub ticket: Option<String>,
    pub otp: Option<String>,
    pub refresh_token: Option<String>,
    pub session_id: Option<String>,
    policy_id: Option<String>,
    purchase_ticket: Option<String>,
    overwrite: Option<bool>,
    mime_type: Option<String>,
    metadata: Option<Metadata>,
}

/// `metadata`: an object of strings, its entries in order.
struct Metadata(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, String>()? {
                    entries.push(entry);
                }
                Ok(Metadata(entries))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// What each option must be, for the message naming the one that is not.
const EXPECTED: [(&str, &str); 7] = [
    ("uri", "uri must be a string"),
    ("accessToken", "accessToken must be a string"),
    ("policyId", "policyId must be a string"),
    ("purchaseTicket", "purchaseTicket must be a string"),
    ("overwrite", "overwrite must be a boolean"),
    ("mimeType", "mimeType must be a string"),
    ("metadata", "metadata must be an object of strings"),
];

/// The options, typed; a value of the wrong type is named: all fields are optional, so the
/// first key whose one-key object does not decode is the culprit (`not_object`: what is said
/// when the options are no object).
fn decode_options(options: &Json, not_object: &'static str) -> Result<HelperOptions, UploadError> {
    let Ok(shape) = codec::from_json::<HelperOptions>(options) else {
        let mut keys = options.as_object().map(|map| map.keys().map(String::as_str)).into_iter().flatten();
        let culprit = codec::culprit(options, &mut keys, &|one| codec::from_json::<HelperOptions>(one).is_ok())
            .and_then(|k| Some((k, options.get(k)?)));
        let message = match culprit {
            Some((k, v)) if k == "metadata" && v.is_object() => "metadata values must be strings".to_string(),
            // The helpers' options are all strings.
            Some((k, _)) => EXPECTED.iter().find(|(name, _)| *name == k).map_or_else(|| format!("{k} must be a string"), |(_, m)| m.to_string()),
            None => not_object.to_string(),
        };
        return Err(UploadError::invalid(PROVIDER, message));
    };
    Ok(shape)
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
    let o = decode_options(options, "the options must be an object")?;
    let metadata = o.metadata.map(|m| m.0).unwrap_or_default();
    if metadata.len() > 256 {
        return Err(UploadError::invalid(PROVIDER, "metadata has more than 256 entries"));
    }
    let params = UploadParams {
        uri: o.uri.unwrap_or_default(),
        access_token: o.access_token.unwrap_or_default(),
        policy_id: o.policy_id.filter(|s| !s.is_empty()),
        purchase_ticket: o.purchase_ticket.filter(|s| !s.is_empty()),
        overwrite: o.overwrite.unwrap_or(false),
        mime_type: o.mime_type.filter(|s| !s.is_empty()),
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
        // Milliseconds below 2^53 (JSON numbers are exact that far, and serde-wasm-bindgen writes
        // no larger integer; Cloudreve reads an int64).
        let lm = file.last_modified;
        let last_modified = (lm > 0.0 && lm < 9_007_199_254_740_992.0).then(|| lm.floor() as u64);
        let mime_type = p.mime_type.as_deref().unwrap_or_else(|| file.mime.trim());
        let metadata = crate::core::json::Map::from_read(p.metadata.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect());
        // `PUT /api/v4/file/upload`'s body (`service/explorer/upload.go` `CreateUploadSessionService`).
        let body = codec::encode(&object(vec![
            ("uri", text(&uri)),
            ("size", Some(file.size.into())),
            ("policy_id", p.policy_id.as_deref().and_then(text)),
            // Unix milliseconds.
            ("last_modified", last_modified.map(Json::from)),
            ("mime_type", Some(mime_type).filter(|m| !m.is_empty()).and_then(text)),
            ("entity_type", p.overwrite.then_some("version").and_then(text)),
            ("metadata", (!metadata.is_empty()).then_some(Json::Object(metadata))),
        ]));
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

impl HelperOptions {
    pub fn read(options: &Json) -> Result<Self, UploadError> {
        decode_options(options, "options must be an object")
    }
}
