//! The caller's options for a video upload or a user import, the init bodies, and the
//! constructors.

use super::find::FindVideo;
use super::{PeerTube, Phase, ADAPTIVE_MAX, ADAPTIVE_MIN, DEFAULT_CHUNK, IMPORT_PROVIDER, MAX_CHUNK, MIN_CHUNK, PROVIDER};
use crate::core::codec;
use crate::core::json::object;
use crate::core::plan::ChunkPlan;
use crate::core::{url, FileInfo, Json, UploadError};

/// Fields of PeerTube's resumable init body a caller may set (PT-dev whitelist, video part).
pub const VIDEO_FIELDS: &[&str] = &[
    "name", "channelId", "privacy", "category", "licence", "language", "description", "support", "tags",
    "commentsPolicy", "downloadEnabled", "nsfw", "nsfwSummary", "nsfwFlags", "waitTranscoding", "scheduleUpdate",
    "originallyPublishedAt", "videoPasswords", "generateTranscription", "pluginData", "filename",
];

/// PeerTube's options, as the JS object gives them (`rename_all = "camelCase"`; endpoint, retry
/// and the other shared options are read by the shell's `Options`): those a video upload reads
/// itself (the other video fields pass through untouched), the helpers' and the import listing's
/// query. One type for all: each reader decodes only the keys it reads ([`pick`]), so an option
/// meant for another never fails it.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the helpers' fields: read by the shell
pub(crate) struct PeerTubeOptions {
    pub access_token: Option<String>,
    pub user_id: Option<u64>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub otp: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub language: Option<String>,
    pub channel: Option<String>,
    /// A video id (number) or its uuid / short uuid (string).
    pub video_id: Option<Json>,
    pub channel_id: Option<u64>,
    /// `name` and `filename` stay open-ended: a name that is not a string is replaced by the
    /// file's.
    pub name: Option<Json>,
    pub filename: Option<Json>,
    /// The sources of a video import (`peertubeImportVideo`), sent as given; `targetUrl` is
    /// also a filter of the import listing.
    pub target_url: Option<Json>,
    pub magnet_uri: Option<Json>,
    /// The import listing's query, sent as given (strings and numbers).
    pub start: Option<Json>,
    pub count: Option<Json>,
    pub sort: Option<Json>,
    pub video_channel_sync_id: Option<Json>,
    pub search: Option<Json>,
}

/// The entries of `options` named in `keys` (those a reader reads; the others are not looked at).
pub(crate) fn pick(options: &Json, keys: &[&str]) -> Json {
    let mut mine = crate::core::json::Map::new();
    for (key, value) in options.as_object().into_iter().flatten() {
        if keys.contains(&key.as_str()) {
            mine.insert(key.clone(), value.clone());
        }
    }
    Json::Object(mine)
}

impl PeerTubeOptions {
    /// Decodes the options a video upload or helper reads; `channelId` must be given and be a
    /// positive integer (the only field of these that can fail to decode, so it is the culprit).
    pub(crate) fn video(provider: &'static str, options: &Json, missing: &str) -> Result<(PeerTubeOptions, u64), UploadError> {
        let bad = || UploadError::invalid(provider, "channelId must be a positive integer");
        let keys = ["channelId", "name", "filename", "targetUrl", "magnetUri"];
        let opts: PeerTubeOptions = codec::from_json(&pick(options, &keys)).map_err(|_| bad())?;
        let channel = opts.channel_id.ok_or_else(|| UploadError::invalid(provider, missing))?;
        if channel == 0 {
            return Err(bad());
        }
        Ok((opts, channel))
    }
}

impl PeerTube {
    /// Resumable video upload. `options` is the caller's options object; known video fields
    /// are copied into the init body.
    pub fn video(endpoint: &str, token: &str, file: &FileInfo, options: &Json, chunk: Option<u64>) -> Result<Self, UploadError> {
        let p = PROVIDER;
        if token.is_empty() {
            return Err(UploadError::invalid(p, "accessToken is required"));
        }
        let (opts, channel) = PeerTubeOptions::video(p, options, "channelId is required")?;
        // The caller's video fields pass through as given (open-ended: PeerTube's own schema).
        let mut body = crate::core::json::Map::new();
        for (k, v) in options.as_object().into_iter().flatten() {
            if VIDEO_FIELDS.contains(&k.as_str()) && !v.is_null() {
                body.insert(k.clone(), v.clone());
            }
        }
        let name = match opts.name.as_ref().and_then(Json::as_str).filter(|n| !n.trim().is_empty()) {
            Some(given) => given.to_string(), // already in the body, where the caller put it
            None => {
                let name = default_name(&file.name);
                body.insert("name".into(), Json::String(name.clone()));
                name
            }
        };
        let name_len = name.chars().count();
        if opts.filename.is_none() {
            body.insert("filename".into(), Json::String(nonempty_name(&file.name, "video")));
        }
        if !(3..=120).contains(&name_len) {
            return Err(UploadError::invalid(p, format!("name must be 3 to 120 characters (got {name_len})")));
        }
        body.insert("lastModified".into(), crate::core::json::number(file.last_modified));
        let init_url = url::join(endpoint, "/api/v1/videos/upload-resumable");
        let find = FindVideo { list_url: url::join(endpoint, "/api/v1/users/me/videos"), name: name.trim().to_string(), channel };
        let mut me = Self::build(p, init_url, token, file, codec::encode(&body), chunk)?;
        me.find = Some(find);
        Ok(me)
    }

    /// User archive import (`.zip` only).
    pub fn import(endpoint: &str, token: &str, file: &FileInfo, user_id: u64, chunk: Option<u64>) -> Result<Self, UploadError> {
        let p = IMPORT_PROVIDER;
        if token.is_empty() {
            return Err(UploadError::invalid(p, "accessToken is required"));
        }
        if user_id == 0 {
            return Err(UploadError::invalid(p, "userId must be a positive integer"));
        }
        if !file.name.to_ascii_lowercase().ends_with(".zip") {
            return Err(UploadError::invalid(p, format!("a user import must be a .zip archive (got {})", crate::core::quoted(&file.name))));
        }
        // The init body of a user archive import: `{filename, lastModified}`.
        let body = object(vec![("filename", Some(file.name.as_str().into())), ("lastModified", Some(crate::core::json::number(file.last_modified)))]);
        let body = codec::encode(&body);
        let init_url = url::join(endpoint, &format!("/api/v1/users/{user_id}/imports/import-resumable"));
        Self::build(p, init_url, token, file, body, chunk)
    }

    fn build(provider: &'static str, init_url: String, token: &str, file: &FileInfo, init_body: String, chunk: Option<u64>) -> Result<Self, UploadError> {
        if !url::is_absolute_http(&init_url) {
            return Err(UploadError::invalid(provider, "endpoint must be an http(s) URL or a path on this site"));
        }
        if file.size == 0 {
            return Err(UploadError::invalid(provider, "PeerTube does not accept an empty file"));
        }
        let plan = match chunk {
            None => ChunkPlan::adaptive(file.size, DEFAULT_CHUNK, ADAPTIVE_MIN, ADAPTIVE_MAX),
            Some(c) => ChunkPlan::new(file.size, c, MIN_CHUNK.min(c), MAX_CHUNK),
        };
        let chunk = chunk.unwrap_or(DEFAULT_CHUNK);
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk) {
            return Err(UploadError::invalid(
                provider,
                format!("chunkSize must be between {MIN_CHUNK} and {MAX_CHUNK} bytes (got {chunk})"),
            ));
        }
        let content_type = if file.mime.trim().is_empty() { "application/octet-stream".to_string() } else { file.mime.clone() };
        Ok(PeerTube {
            provider,
            init_url,
            token: token.to_string(),
            total: file.size,
            content_type,
            init_body,
            plan,
            phase: Phase::Init { confirmed: 0 },
            in_flight: false,
            reinits: 0,
            reinits_total: 0,
            no_progress: 0,
            mismatches: 0,
            mismatch_at: 0,
            old_tokens: Vec::new(),
            find: None,
            now_ms: 0.0,
            began_ms: None,
        })
    }
}

fn nonempty_name(name: &str, fallback: &str) -> String {
    let n = name.trim();
    if n.is_empty() {
        fallback.to_string()
    } else {
        n.to_string()
    }
}

/// The video title PeerTube needs (3–120 chars) from a file name.
fn default_name(file_name: &str) -> String {
    let mut n: String = nonempty_name(file_name, "video").chars().take(120).collect();
    while n.chars().count() < 3 {
        n.push('_');
    }
    n
}

