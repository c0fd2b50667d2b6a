//! api.video's options, decoded once from the page's plain data.

use crate::core::codec;
use crate::core::{Json, UploadError};
use serde::Deserialize;

/// api.video's own options, of every call (the upload, the progressive upload, the token API
/// and auth), decoded once from the page's plain-data options; other keys (`endpoint`,
/// `retryDelays`, callbacks…) are read elsewhere.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    pub upload_token: Option<String>,
    pub video_name: Option<String>,
    pub video_id: Option<String>,
    pub concurrency: Option<u64>,
    pub access_token: Option<String>,
    pub ttl: Option<u64>,
    pub token: Option<String>,
    pub api_key: Option<String>,
    pub refresh_token: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub current_page: Option<u64>,
    pub page_size: Option<u64>,
}

pub const CONCURRENCY: &str = "concurrency must be an integer from 1 to 6";
pub(super) const SORT_BY: &str = "sortBy must be 'createdAt' or 'ttl'";
pub(super) const SORT_ORDER: &str = "sortOrder must be 'asc' or 'desc'";
pub(super) const CURRENT_PAGE: &str = "currentPage must be an integer ≥ 1";
pub(super) const PAGE_SIZE: &str = "pageSize must be 1 to 100";

/// What each option must be, as the message that names it says.
const EXPECTED: &[(&str, &str)] = &[
    ("uploadToken", "uploadToken must be a string"),
    ("videoName", "videoName must be a string"),
    ("videoId", "videoId must be a string"),
    ("concurrency", CONCURRENCY),
    ("accessToken", "accessToken must be a string"),
    ("ttl", "ttl must be a non-negative integer"),
    ("token", "token must be a string"),
    ("apiKey", "apiKey must be a string"),
    ("refreshToken", "refreshToken must be a string"),
    ("sortBy", SORT_BY),
    ("sortOrder", SORT_ORDER),
    ("currentPage", CURRENT_PAGE),
    ("pageSize", PAGE_SIZE),
];

/// Decodes `data` (the page's options) into [`Options`]. A value of the wrong type is refused
/// with its option's message: serde's error names no field, so each key is tried again alone
/// (every field is optional: only the culprit fails).
pub fn options(data: &Json, provider: &'static str) -> Result<Options, UploadError> {
    codec::from_json::<Options>(data).map_err(|_| {
        let culprit = codec::culprit(data, &mut EXPECTED.iter().map(|(key, _)| *key), &|one| codec::from_json::<Options>(one).is_ok());
        let why = EXPECTED.iter().find(|(key, _)| Some(*key) == culprit).map_or("options must be plain data", |(_, why)| *why);
        UploadError::invalid(provider, why)
    })
}
