//! PeerTube's one-request operations, as sans-IO builders run by the shared engine:
//! OAuth password login and refresh, user-import status, the small multipart uploads (legacy
//! video upload, captions, avatars and banners, torrent import) and the import listing.
//! Wire details: shared/protocols/peertube-and-apivideo.md §1.4–1.7.

use super::oneshot::{accept_json, OneShot};
use super::peertube::{pick, PeerTubeOptions, PROVIDER, VIDEO_FIELDS};
use crate::core::url::{encode_component, form_urlencoded, join};
use crate::core::codec::{self, DecodeError};
use crate::core::{Body, ErrorCode, FileInfo, Json, Method, Outcome, Part, Request, Response, Slice, UploadError};
use crate::protocols::{Next, Protocol, Verdict};
use serde::de::DeserializeOwned;
use serde::de::IgnoredAny;
use serde::Deserialize;

fn api(endpoint: &str, path: &str) -> String {
    join(endpoint, path)
}

fn need(token: &str) -> Result<(), UploadError> {
    if token.is_empty() {
        Err(UploadError::invalid(PROVIDER, "accessToken is required"))
    } else {
        Ok(())
    }
}

/// A success answer of a known shape. It is decoded into its type to check that shape (the
/// fields the page is promised, of the right types); what the page gets is the answer itself,
/// PeerTube's own object (open-ended: ActorImage and VideoImport carry more than we read).
trait Answer: DeserializeOwned {
    /// Why an answer of another shape is refused.
    const SHAPE: &'static str;
}

/// [`Accept`](super::oneshot::Accept) for an [`Answer`]: an empty body reads as `{}`; a body
/// that is not JSON gets the shared one-request message.
/// Only the decoding is generic (one copy per type); the rest is [`shaped`], shared.
fn accept<T: Answer>(provider: &'static str, resp: &Response) -> Result<Json, UploadError> {
    let body = resp.body.trim();
    shaped(provider, resp, codec::decode::<T>(if body.is_empty() { "{}" } else { body }).err(), T::SHAPE)
}

#[inline(never)]
fn shaped(provider: &'static str, resp: &Response, error: Option<DecodeError>, shape: &'static str) -> Result<Json, UploadError> {
    match error {
        None | Some(DecodeError::Syntax) => accept_json(provider, resp),
        Some(DecodeError::Shape) => Err(UploadError::protocol(provider, shape).with_status(resp.status)),
    }
}

/// `GET /api/v1/oauth-clients/local`.
#[derive(Deserialize)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
}

impl Answer for OAuthClient {
    const SHAPE: &'static str = "oauth-clients/local did not return client_id and client_secret";
}

/// `POST /api/v1/users/token` (§1.7): what a caller reads of it.
#[derive(Deserialize)]
pub struct Token {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl Answer for Token {
    const SHAPE: &'static str = "the token answer is not a token (no access_token, or a field of the wrong type)";
}

/// `GET /api/v1/users/{id}/imports/latest`: `{id, state: {id, label}, createdAt}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // read by the page
struct UserImport {
    id: u64,
    state: ImportState,
    created_at: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ImportState {
    id: u64,
    label: String,
}

impl Answer for UserImport {
    const SHAPE: &'static str = "the import status is not a user import ({id, state: {id, label}, createdAt})";
}

/// `GET /api/v1/users/me/videos/imports`: `{total, data: [VideoImport]}`.
#[derive(Deserialize)]
#[allow(dead_code)]
struct ImportList {
    total: u64,
    data: Vec<IgnoredAny>,
}

impl Answer for ImportList {
    const SHAPE: &'static str = "the import listing is not {total, data: [...]}";
}

/// `POST /api/v1/videos/upload`: `{video: {id, shortUUID, uuid}}`.
#[derive(Deserialize)]
#[allow(dead_code)]
struct VideoCreated {
    video: VideoRef,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct VideoRef {
    id: u64,
    #[serde(default, rename = "shortUUID")]
    short_uuid: Option<String>,
    #[serde(default)]
    uuid: Option<String>,
}

impl Answer for VideoCreated {
    const SHAPE: &'static str = "the upload answer is not {video: {id, shortUUID, uuid}}";
}

/// `…/avatar/pick`: `{avatars: [ActorImage]}`.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Avatars {
    avatars: Vec<IgnoredAny>,
}

impl Answer for Avatars {
    const SHAPE: &'static str = "the avatar answer is not {avatars: [...]}";
}

/// `…/banner/pick`: `{banners: [ActorImage]}`.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Banners {
    banners: Vec<IgnoredAny>,
}

impl Answer for Banners {
    const SHAPE: &'static str = "the banner answer is not {banners: [...]}";
}

/// `channelId` (required, a positive integer) and the rest of what the helpers read.
fn video_options(options: &Json) -> Result<PeerTubeOptions, UploadError> {
    PeerTubeOptions::video(PROVIDER, options, "channelId must be a positive integer").map(|(o, _)| o)
}

/// `GET /api/v1/oauth-clients/local` → `{client_id, client_secret}`.
pub fn oauth_client(endpoint: &str) -> OneShot {
    OneShot::new(PROVIDER, "oauth client lookup", Request::new(Method::Get, api(endpoint, "/api/v1/oauth-clients/local")), accept::<OAuthClient>)
}

fn token_request(endpoint: &str, pairs: &[(&str, &str)], otp: Option<&str>) -> OneShot {
    let mut req = Request::new(Method::Post, api(endpoint, "/api/v1/users/token")).body(Body::Text {
        content_type: "application/x-www-form-urlencoded".into(),
        text: form_urlencoded(pairs),
    });
    if let Some(code) = otp.filter(|c| !c.is_empty()) {
        req = req.header("x-peertube-otp", code);
    }
    // Resending a login is harmless: mark it idempotent by using the POST-only retry rules of
    // OneShot (429/503 are resent; a lost answer is not).
    let mut shot = OneShot::new(PROVIDER, "token request", req, accept::<Token>);
    // The password, client secret and refresh token never appear in an error message.
    for (k, v) in pairs {
        if matches!(*k, "password" | "client_secret" | "refresh_token") && !v.is_empty() {
            shot = shot.with_secret(v);
        }
    }
    shot
}

/// Password grant (form-encoded, as PeerTube requires).
pub fn token_password(endpoint: &str, client_id: &str, client_secret: &str, username: &str, password: &str, otp: Option<&str>) -> Result<OneShot, UploadError> {
    if username.is_empty() || password.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "username and password are required"));
    }
    Ok(token_request(
        endpoint,
        &[
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ],
        otp,
    ))
}

/// `peertubeLogin`: the instance's OAuth client (`GET /api/v1/oauth-clients/local`, unless the
/// caller gave one), then the password grant, as one protocol run by one engine. Resolves with
/// PeerTube's token answer plus `client_id` and `client_secret` (needed to refresh). The client
/// found counts as progress (1 of 1), so the token request starts with a retry budget of its own,
/// as a request of its own.
pub struct Login {
    shot: OneShot,
    endpoint: String,
    username: String,
    password: String,
    otp: Option<String>,
    client: Option<(String, String)>,
    looked_up: bool,
    failed: Option<UploadError>,
}

impl Login {
    pub fn new(endpoint: &str, username: String, password: String, otp: Option<String>, client: Option<(String, String)>) -> Result<Login, UploadError> {
        let shot = match &client {
            Some((id, secret)) => token_password(endpoint, id, secret, &username, &password, otp.as_deref())?,
            None => oauth_client(endpoint),
        };
        Ok(Login { shot, endpoint: endpoint.to_string(), username, password, otp, client, looked_up: false, failed: None })
    }
}

impl Protocol for Login {
    fn provider(&self) -> &'static str {
        PROVIDER
    }
    fn total(&self) -> u64 {
        1
    }
    fn confirmed(&self) -> u64 {
        u64::from(self.looked_up)
    }
    fn next(&mut self) -> Next {
        if let Some(e) = &self.failed {
            return Next::Fail(e.clone());
        }
        match (self.shot.next(), &self.client) {
            (Next::Done(Json::Object(mut token)), Some((id, secret))) => {
                token.insert("client_id".into(), Json::String(id.clone()));
                token.insert("client_secret".into(), Json::String(secret.clone()));
                Next::Done(Json::Object(token))
            }
            (n, _) => n,
        }
    }
    fn handle(&mut self, req: &Request, outcome: Outcome) -> Verdict {
        let v = self.shot.handle(req, outcome);
        if self.client.is_some() || v != Verdict::Continue {
            return v;
        }
        // The client is known (its answer's shape was checked, `OAuthClient`): on to the
        // password grant.
        let answer = match self.shot.next() {
            Next::Done(j) => j,
            _ => Json::Null,
        };
        let next = codec::from_json::<OAuthClient>(&answer)
            .map_err(|_| UploadError::protocol(PROVIDER, OAuthClient::SHAPE))
            .and_then(|c| Ok((token_password(&self.endpoint, &c.client_id, &c.client_secret, &self.username, &self.password, self.otp.as_deref())?, c)));
        match next {
            Ok((shot, c)) => {
                self.shot = shot;
                self.client = Some((c.client_id, c.client_secret));
                self.looked_up = true;
                v
            }
            Err(e) => {
                self.failed = Some(e.clone());
                Verdict::Fail(e)
            }
        }
    }
    fn secrets(&self) -> Vec<String> {
        self.shot.secrets()
    }
}

/// Refresh grant.
pub fn token_refresh(endpoint: &str, client_id: &str, client_secret: &str, refresh_token: &str) -> Result<OneShot, UploadError> {
    if refresh_token.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "refreshToken is required"));
    }
    Ok(token_request(
        endpoint,
        &[
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
        None,
    ))
}

/// `GET /api/v1/users/{id}/imports/latest`; resolves `null` when there is none (404).
pub fn import_latest(endpoint: &str, token: &str, user_id: u64) -> Result<OneShot, UploadError> {
    need(token)?;
    let req = Request::new(Method::Get, api(endpoint, &format!("/api/v1/users/{user_id}/imports/latest"))).bearer(token);
    Ok(OneShot::new(PROVIDER, "import status", req, accept::<UserImport>).null_on(404).with_token(token))
}

/// `GET /api/v1/users/me/videos/imports` with optional `start`, `count`, `sort`, `targetUrl`,
/// `videoChannelSyncId`, `search` from `query`.
pub fn list_imports(endpoint: &str, token: &str, query: &Json) -> Result<OneShot, UploadError> {
    need(token)?;
    let keys = ["start", "count", "sort", "targetUrl", "videoChannelSyncId", "search"];
    let q: Option<PeerTubeOptions> = codec::from_json(&pick(query, &keys)).ok();
    let mut qs = Vec::new();
    if let Some(q) = &q {
        let keys = [
            ("start", &q.start),
            ("count", &q.count),
            ("sort", &q.sort),
            ("targetUrl", &q.target_url),
            ("videoChannelSyncId", &q.video_channel_sync_id),
            ("search", &q.search),
        ];
        for (key, value) in keys {
            match value {
                Some(Json::String(s)) => qs.push(format!("{key}={}", encode_component(s))),
                Some(n @ Json::Number(_)) => qs.push(format!("{key}={}", codec::encode(n))),
                _ => {}
            }
        }
    }
    let mut url = api(endpoint, "/api/v1/users/me/videos/imports");
    if !qs.is_empty() {
        url.push('?');
        url.push_str(&qs.join("&"));
    }
    let req = Request::new(Method::Get, url).bearer(token);
    Ok(OneShot::new(PROVIDER, "import listing", req, accept::<ImportList>).with_token(token))
}

/// Flattens JSON into multipart fields the way PeerTube's client does (`tags[0]`,
/// `scheduleUpdate[updateAt]`).
pub fn form_fields(prefix: &str, value: &Json, out: &mut Vec<Part>) {
    match value {
        Json::Null => {}
        Json::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                form_fields(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Json::Object(entries) => {
            for (k, v) in entries {
                form_fields(&format!("{prefix}[{k}]"), v, out);
            }
        }
        Json::String(s) => out.push(Part::Field { name: prefix.to_string(), value: s.clone() }),
        other => out.push(Part::Field { name: prefix.to_string(), value: codec::encode(other) }),
    }
}

fn file_part(field: &str, file: &FileInfo, index: usize, fallback_type: &str) -> Part {
    Part::File {
        name: field.to_string(),
        filename: if file.name.is_empty() { field.to_string() } else { file.name.clone() },
        content_type: if file.mime.is_empty() { fallback_type.to_string() } else { file.mime.clone() },
        slice: Slice { file: index, start: 0, end: file.size },
    }
}

fn check_file(file: &FileInfo, what: &str, extensions: &[&str], max: u64) -> Result<(), UploadError> {
    let lower = file.name.to_ascii_lowercase();
    if !extensions.iter().any(|e| lower.ends_with(e)) {
        return Err(UploadError::new(
            ErrorCode::UnsupportedType,
            PROVIDER,
            format!("{what} must be one of {} (got {})", extensions.join(" "), crate::core::quoted(&file.name)),
        ));
    }
    if file.size == 0 {
        return Err(UploadError::invalid(PROVIDER, format!("{what} is empty")));
    }
    if file.size > max {
        return Err(UploadError::new(ErrorCode::TooLarge, PROVIDER, format!("{what} is {} bytes; PeerTube accepts at most {max}", file.size)));
    }
    Ok(())
}

fn multipart(method: Method, url: String, token: &str, parts: Vec<Part>, what: &'static str, accept: super::oneshot::Accept) -> OneShot {
    let req = Request::new(method, url).bearer(token).body(Body::Multipart(parts));
    OneShot::new(PROVIDER, what, req, accept).with_token(token)
}

fn video_fields(options: &Json, parts: &mut Vec<Part>) {
    for (k, v) in options.as_object().into_iter().flatten() {
        if VIDEO_FIELDS.contains(&k.as_str()) {
            form_fields(k, v, parts);
        }
    }
}

/// Legacy single-request upload `POST /api/v1/videos/upload` (`videofile`, `channelId`, `name`).
pub fn legacy_upload(endpoint: &str, token: &str, file: &FileInfo, options: &Json) -> Result<OneShot, UploadError> {
    need(token)?;
    let o = video_options(options)?;
    if file.size == 0 {
        return Err(UploadError::invalid(PROVIDER, "PeerTube does not accept an empty file"));
    }
    // The caller's video fields, open-ended, pass through; a missing name is the file's.
    let mut opts = options.clone();
    if o.name.as_ref().and_then(Json::as_str).is_none_or(|n| n.trim().is_empty()) {
        let mut name: String = file.name.chars().take(120).collect();
        while name.chars().count() < 3 {
            name.push('_');
        }
        if let Some(map) = opts.as_object_mut() {
            map.insert("name".into(), Json::String(name));
        }
    }
    let mut parts = Vec::new();
    video_fields(&opts, &mut parts);
    parts.push(file_part("videofile", file, 0, "application/octet-stream"));
    Ok(multipart(Method::Post, api(endpoint, "/api/v1/videos/upload"), token, parts, "legacy upload", accept::<VideoCreated>))
}

/// `PUT /api/v1/videos/{id}/captions/{lang}` (`captionfile`, .vtt or .srt, ≤ 20 MB).
pub fn caption(endpoint: &str, token: &str, video_id: &str, language: &str, file: &FileInfo) -> Result<OneShot, UploadError> {
    need(token)?;
    if video_id.is_empty() || language.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "videoId and language are required"));
    }
    check_file(file, "a caption", &[".vtt", ".srt"], 20 * 1024 * 1024)?;
    let url = api(endpoint, &format!("/api/v1/videos/{}/captions/{}", encode_component(video_id), encode_component(language)));
    let fallback = if file.name.to_ascii_lowercase().ends_with(".srt") { "application/x-subrip" } else { "text/vtt" };
    Ok(multipart(Method::Put, url, token, vec![file_part("captionfile", file, 0, fallback)], "caption upload", accept_json))
}

const IMAGE_EXTENSIONS: &[&str] = &[".png", ".jpg", ".jpeg", ".gif", ".webp"];
const IMAGE_MAX: u64 = 4 * 1024 * 1024;

/// My avatar (`channel` = None) or a channel's avatar (`POST …/avatar/pick`, `avatarfile`).
pub fn avatar(endpoint: &str, token: &str, channel: Option<&str>, file: &FileInfo) -> Result<OneShot, UploadError> {
    need(token)?;
    check_file(file, "an avatar", IMAGE_EXTENSIONS, IMAGE_MAX)?;
    let path = match channel {
        Some(c) if !c.is_empty() => format!("/api/v1/video-channels/{}/avatar/pick", encode_component(c)),
        _ => "/api/v1/users/me/avatar/pick".to_string(),
    };
    Ok(multipart(Method::Post, api(endpoint, &path), token, vec![file_part("avatarfile", file, 0, "image/png")], "avatar upload", accept::<Avatars>))
}

/// A channel's banner (`POST /api/v1/video-channels/{handle}/banner/pick`, `bannerfile`).
pub fn banner(endpoint: &str, token: &str, channel: &str, file: &FileInfo) -> Result<OneShot, UploadError> {
    need(token)?;
    if channel.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "channel (the channel handle) is required"));
    }
    check_file(file, "a banner", IMAGE_EXTENSIONS, IMAGE_MAX)?;
    let url = api(endpoint, &format!("/api/v1/video-channels/{}/banner/pick", encode_component(channel)));
    Ok(multipart(Method::Post, url, token, vec![file_part("bannerfile", file, 0, "image/png")], "banner upload", accept::<Banners>))
}

/// `POST /api/v1/videos/imports` with a `.torrent` file (or, with no file, `targetUrl` or
/// `magnetUri` from `options`), plus `channelId` and the video fields.
pub fn import_video(endpoint: &str, token: &str, file: Option<&FileInfo>, options: &Json) -> Result<OneShot, UploadError> {
    need(token)?;
    let o = video_options(options)?;
    let mut parts = Vec::new();
    video_fields(options, &mut parts);
    let sources = [&o.target_url, &o.magnet_uri].iter().filter(|v| v.is_some()).count() + usize::from(file.is_some());
    if sources != 1 {
        return Err(UploadError::invalid(PROVIDER, "give exactly one of a .torrent file, targetUrl or magnetUri"));
    }
    for (key, value) in [("targetUrl", &o.target_url), ("magnetUri", &o.magnet_uri)] {
        if let Some(v) = value {
            form_fields(key, v, &mut parts);
        }
    }
    if let Some(f) = file {
        check_file(f, "a torrent", &[".torrent"], 200 * 1024)?;
        parts.push(file_part("torrentfile", f, 0, "application/x-bittorrent"));
    }
    Ok(multipart(Method::Post, api(endpoint, "/api/v1/videos/imports"), token, parts, "video import", accept_json))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, size: u64) -> FileInfo {
        FileInfo { name: name.into(), size, mime: String::new(), last_modified: 0.0 }
    }

    #[test]
    fn login_is_form_encoded() {
        let mut p = token_password("http://x", "cid", "sec", "alice", "p&w", Some("123")).unwrap();
        let Next::Send(req) = p.next() else { panic!() };
        assert_eq!(req.url, "http://x/api/v1/users/token");
        assert_eq!(req.get_header("x-peertube-otp"), Some("123"));
        match &req.body {
            Body::Text { content_type, text } => {
                assert_eq!(content_type, "application/x-www-form-urlencoded");
                assert_eq!(text, "client_id=cid&client_secret=sec&grant_type=password&username=alice&password=p%26w");
            }
            b => panic!("{b:?}"),
        }
        let v = p.handle(&req, Outcome::Response(Response::new(200).with_body(r#"{"access_token":"a","refresh_token":"r"}"#)));
        assert_eq!(v, Verdict::Continue);
        let Next::Done(j) = p.next() else { panic!() };
        assert_eq!(codec::from_json::<Token>(&j).map(|t| t.access_token), Ok("a".to_string()));
    }

    #[test]
    fn import_latest_404_is_null() {
        let mut p = import_latest("http://x", "tok", 7).unwrap();
        let Next::Send(req) = p.next() else { panic!() };
        assert_eq!(req.url, "http://x/api/v1/users/7/imports/latest");
        p.handle(&req, Outcome::Response(Response::new(404)));
        assert_eq!(p.next(), Next::Done(Json::Null));
    }

    #[test]
    fn multipart_fields_and_checks() {
        let opts = codec::decode::<Json>(r#"{"channelId":3,"tags":["a","b"],"scheduleUpdate":{"updateAt":"2030"},"bogus":1}"#).unwrap();
        let mut p = legacy_upload("http://x", "t", &info("movie.mp4", 10), &opts).unwrap();
        let Next::Send(req) = p.next() else { panic!() };
        let Body::Multipart(parts) = &req.body else { panic!() };
        let names: Vec<&str> = parts
            .iter()
            .map(|p| match p {
                Part::Field { name, .. } | Part::File { name, .. } => name.as_str(),
            })
            .collect();
        assert_eq!(names, ["channelId", "tags[0]", "tags[1]", "scheduleUpdate[updateAt]", "name", "videofile"]);
        assert!(caption("http://x", "t", "1", "en", &info("sub.txt", 3)).is_err());
        assert_eq!(avatar("http://x", "t", None, &info("a.png", 5 << 20)).err().map(|e| e.code), Some(ErrorCode::TooLarge));
        assert!(import_video("http://x", "t", None, &codec::decode::<Json>(r#"{"channelId":1}"#).unwrap()).is_err());
        let mut t = import_video("http://x", "t", Some(&info("a.torrent", 100)), &codec::decode::<Json>(r#"{"channelId":1}"#).unwrap()).unwrap();
        let Next::Send(req) = t.next() else { panic!() };
        assert_eq!(req.url, "http://x/api/v1/videos/imports");
    }
}
