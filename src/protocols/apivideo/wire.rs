//! What api.video answers and what this module writes (decoded / encoded by core::codec), and
//! the checks on the values that go into URLs and forms.

use super::PROVIDER;
use crate::core::codec;
use crate::core::json::object;
use crate::core::{Json, UploadError};
use serde::Deserialize;

/// Every answer api.video code reads, as one type (one decoder in the module): a part's answer
/// (the Video object: `videoId`), an error body (`{type, title, name, status, detail?}`: its
/// `title` says whether a resent part collides), an upload token (`token`), a token listing
/// (`data`: tokens), an access token (`access_token`), and this module's own session value and
/// resume record (`{videoId, partsDone, chunkSize?}`, read back by [`session_video_id`] and
/// `restore`; none of api.video's answers has `partsDone` or `chunkSize`). Every field is
/// optional, so a field of the wrong type (a number for `videoId`…) fails the decoding instead of
/// reading as absent; each reader then checks the fields it needs. Results handed to the page
/// (the last part's Video, the token API's answers) stay the provider's own JSON.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Answer {
    pub(super) video_id: Option<String>,
    pub(super) title: Option<String>,
    pub(super) token: Option<String>,
    pub(super) data: Option<Vec<Answer>>,
    #[serde(rename = "access_token")]
    pub(super) access_token: Option<String>,
    pub(super) parts_done: Option<u64>,
    pub(super) chunk_size: Option<u64>,
}

/// The upload's session (`{videoId, partsDone}`) and resume record (plus `chunkSize`), built as
/// JSON directly (no serializer code for it in the module).
pub(super) fn record(video_id: &str, parts_done: u64, chunk_size: Option<u64>) -> Json {
    object(vec![("videoId", Some(video_id.into())), ("partsDone", Some(parts_done.into())), ("chunkSize", chunk_size.map(Json::from))])
}

/// The `videoId` of an upload's session value (see [`crate::protocols::Protocol::session`]), once known.
pub fn session_video_id(session: &Json) -> Option<String> {
    codec::from_json::<Answer>(session).ok()?.video_id
}

/// A JSON request body of the token API and auth: one field.
pub(super) fn request_body(key: &str, value: Json) -> String {
    codec::encode(&object(vec![(key, Some(value))]))
}

pub(super) fn check_token(token: &str) -> Result<(), UploadError> {
    if token.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "uploadToken is required"));
    }
    if token.len() > 256 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(UploadError::invalid(PROVIDER, "uploadToken has unexpected characters"));
    }
    Ok(())
}

pub(super) fn check_video_id(id: &Option<String>) -> Result<(), UploadError> {
    match id {
        Some(v) if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            Err(UploadError::invalid(PROVIDER, "videoId has unexpected characters"))
        }
        _ => Ok(()),
    }
}

/// A 400 whose title says the part is stored already.
pub(super) fn collides(body: &str) -> bool {
    let Ok(Answer { title: Some(title), .. }) = codec::decode::<Answer>(body) else {
        return false;
    };
    let m = title.to_ascii_lowercase();
    // "…collides with a previous one…", "…overlaps with a previous one…", and for a resent last
    // part: "This video source has already been uploaded." (api.video's error reference).
    ["collide", "overlap", "already uploaded", "already been uploaded"].iter().any(|w| crate::core::text::contains(&m, w))
}
