//! After the last chunk's answer was lost and the upload URL is gone: the video it created is
//! looked for among the user's videos (`GET /api/v1/users/me/videos`).

use super::{Kind, PeerTube, Phase};
use crate::core::codec;
use crate::core::json::object;
use crate::core::{url, ErrorCode, Json, Method, Outcome, Request, UploadError};
use crate::protocols::{network_retry, Verdict};

/// Videos asked for per page when looking for the one a lost final answer created, and pages
/// read at most (newest first, stopping at the first video older than the upload).
pub const FIND_PAGE: u64 = 100;
pub const FIND_PAGES: u32 = 5;
/// How far before the upload began (on the browser's clock) the video may have been created
/// (on the server's) and still be this upload's: the two clocks may differ. The video is created
/// only once the last chunk has arrived, so a clock behind the server's never hides it; one
/// ahead by more than this makes the lookup find nothing (and the upload fail as before, never
/// resolve with the wrong video).
pub const CLOCK_SKEW_MS: f64 = 5.0 * 60_000.0;

/// `GET /api/v1/users/me/videos`: `{ total, data: [Video] }`, of which the lookup reads a few
/// fields per video.
#[derive(serde::Deserialize)]
struct VideoList {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    data: Vec<ListedVideo>,
}

#[derive(serde::Deserialize)]
struct ListedVideo {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "createdAt")]
    created_at: Option<String>,
    #[serde(default)]
    channel: Option<ChannelRef>,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default, rename = "shortUUID")]
    short_uuid: Option<String>,
    #[serde(default)]
    uuid: Option<String>,
}

#[derive(serde::Deserialize)]
struct ChannelRef {
    #[serde(default)]
    id: Option<u64>,
}

/// What the last chunk's answer carries, rebuilt from the video the lookup found:
/// `{video: {id, shortUUID, uuid}}` (the uuids when the listing had them).
fn found_video(v: &ListedVideo) -> Json {
    let video = object(vec![
        ("id", Some(v.id.map_or(Json::Null, Json::from))),
        ("shortUUID", v.short_uuid.as_deref().map(Json::from)),
        ("uuid", v.uuid.as_deref().map(Json::from)),
    ]);
    object(vec![("video", Some(video))])
}

/// What identifies the video this upload creates: where the user's videos are listed, its
/// name and channel.
#[derive(Debug)]
pub(super) struct FindVideo {
    pub(super) list_url: String,
    pub(super) name: String,
    pub(super) channel: u64,
}

impl PeerTube {
    /// `GET /api/v1/users/me/videos` (PeerTube `controllers/api/users/me.ts` `getUserVideos`:
    /// `start`, `count` ≤ 100, `sort`, `search` on the name, `channelId`), newest first.
    pub(super) fn find_request(&self, start: u64) -> Option<Request> {
        let f = self.find.as_ref()?;
        let url = format!(
            "{}?channelId={}&search={}&sort=-createdAt&start={start}&count={FIND_PAGE}",
            f.list_url,
            f.channel,
            url::encode_component(&f.name)
        );
        Some(Request::new(Method::Get, url).tag(Kind::Find.tag()).bearer(&self.token))
    }

    fn not_found(&mut self, why: &str) -> Verdict {
        let e = UploadError::new(
            ErrorCode::SessionExpired,
            self.provider,
            format!("the upload is gone after its last chunk was sent, and {why}: it may have completed, check your videos"),
        )
        .with_status(404);
        self.fail(e)
    }

    /// An answer to the video lookup: the video this upload created resolves the upload as its
    /// final answer would have; nothing found leaves the upload failed as gone.
    pub(super) fn handle_find(&mut self, start: u64, outcome: Outcome) -> Verdict {
        let resp = match outcome {
            Outcome::Network(detail) => return network_retry(self.provider, "video lookup", &detail),
            Outcome::Response(r) => r,
        };
        if !resp.is_success() {
            return match self.passing_refusal("video lookup", &resp) {
                Ok(v) => v,
                Err(e) => self.not_found(&format!("looking for the video it created failed ({})", e.message)),
            };
        }
        let Some(f) = self.find.as_ref() else { return self.not_found("no video can be looked for") };
        let since = self.began_ms.unwrap_or(self.now_ms) - CLOCK_SKEW_MS;
        // A listing that is not JSON, or not of PeerTube's shape, holds no video of ours.
        let list = codec::decode::<VideoList>(resp.body.trim()).unwrap_or(VideoList { total: 0, data: Vec::new() });
        let data = list.data;
        let created = |v: &ListedVideo| v.created_at.as_deref().and_then(crate::core::time::parse_iso8601_ms);
        let found = data.iter().find(|v| {
            v.name.as_deref().map(str::trim) == Some(f.name.as_str())
                && v.channel.as_ref().and_then(|c| c.id) == Some(f.channel)
                && created(v).is_some_and(|t| t >= since)
                && v.id.is_some()
        });
        if let Some(v) = found {
            let answer = found_video(v);
            return self.done(answer);
        }
        let total = list.total;
        let next = start + data.len() as u64;
        let older_reached = data.last().is_none_or(|v| created(v).is_none_or(|t| t < since));
        if !older_reached && next < total && next < FIND_PAGE * u64::from(FIND_PAGES) {
            if let Phase::FindVideo { start, .. } = &mut self.phase {
                *start = next;
            }
            return Verdict::Continue;
        }
        self.not_found("no video of its name was created in its channel since it began")
    }

}
