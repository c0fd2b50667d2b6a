//! MangaDex chapter upload, natively: image checks by magic bytes, option validation, and the
//! whole session flow through the real engine against a simulated MangaDex (existing sessions,
//! begin / begin-edit, batches within the per-request limit, per-file errors, commit order,
//! abort, 429s, lost answers, malformed bodies), plus a property test that random answers never
//! panic.
#![cfg(not(target_arch = "wasm32"))]

use chunkup::core::retry::{RetryAfter, RetryPolicy};
use chunkup::core::codec::encode;
use chunkup::core::{Body, ErrorCode, FileInfo, Json, Method, Outcome, Part, Request, Response, UploadError};
use chunkup::engine::{Action, Engine};
use chunkup::protocols::mangadex::{
    check_head, check_sizes, chapter_draft, dimensions, from_options, parse_batch, parse_session, part_filename, rate_limit_wait, sniff,
    valid_number_label, ApprovalCheck, ExistingSession, FileError, ImageKind, MangaDex, Params, FIND_ATTEMPTS, FIND_DELAYS_MS, MAX_FILES_PER_REQUEST,
};
use chunkup::protocols::{Next, Protocol, Verdict};
use drive::{Drive, Order, Run};
use std::collections::HashMap;

#[path = "common/json_ext.rs"]
mod json_ext;
use json_ext::JsonExt as _;
#[path = "common/drive.rs"]
mod drive;

fn parse(text: &str) -> serde_json::Result<Json> {
    serde_json::from_str(text)
}

const EP: &str = "http://md.test";
const TOKEN: &str = "md-access-token-123";
const MANGA: &str = "11111111-2222-4333-8444-555555555555";
const GROUP: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const OTHER: &str = "99999999-8888-4777-8666-555555555555";
const CHAPTER: &str = "cccccccc-0000-4000-8000-000000000001";
const SID: &str = "5e55a000-0000-4000-8000-000000000001";

// ---- images ---------------------------------------------------------------------------------

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
    v.extend_from_slice(b"IHDR");
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0]);
    v
}

fn gif(w: u16, h: u16) -> Vec<u8> {
    let mut v = b"GIF89a".to_vec();
    v.extend_from_slice(&w.to_le_bytes());
    v.extend_from_slice(&h.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0]);
    v
}

/// SOI, an APP0 segment, then SOF0 with the size.
fn jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    v.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08]);
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    v
}

#[test]
fn images_are_typed_by_their_first_bytes() {
    assert_eq!(sniff(&png(800, 1200)), Ok(ImageKind::Png));
    assert_eq!(sniff(&gif(10, 10)), Ok(ImageKind::Gif));
    assert_eq!(sniff(&jpeg(10, 10)), Ok(ImageKind::Jpeg));
    assert_eq!(sniff(b"GIF87a\x01\0\x01\0"), Ok(ImageKind::Gif));
    let why = |b: &[u8]| sniff(b).unwrap_err();
    assert!(why(b"RIFF\0\0\0\0WEBPVP8 ").contains("WebP"));
    assert!(why(b"PK\x03\x04rest").contains("ZIP"));
    assert!(why(b"Rar!\x1a\x07").contains("RAR"));
    assert!(why(b"%PDF-1.7").contains("PDF"));
    assert!(why(b"hello, I am text").contains("text"));
    assert!(why(b"\0\0\0\x1cftypavif").contains("AVIF"));
    assert!(why(b"BM\0\0").contains("BMP"));
    assert!(why(b"").contains("empty"));
    assert!(why(&[0x89, b'P', b'N', b'G', 0, 0]).contains("damaged"));
    assert!(why(&[0x00, 0x01, 0x02, 0xFE, 0x80]).contains("not a JPEG, PNG or GIF"));
    // Dimensions from each header.
    assert_eq!(dimensions(ImageKind::Png, &png(800, 12000)), Some((800, 12000)));
    assert_eq!(dimensions(ImageKind::Gif, &gif(320, 240)), Some((320, 240)));
    assert_eq!(dimensions(ImageKind::Jpeg, &jpeg(1024, 768)), Some((1024, 768)));
    assert_eq!(dimensions(ImageKind::Jpeg, &jpeg(1024, 768)[..20]), None, "a cut head is no error");
    assert_eq!(dimensions(ImageKind::Png, &png(1, 1)[..18]), None);
    assert!(check_head(&png(9999, 9999)).is_ok());
    assert!(check_head(&png(800, 10_000)).unwrap_err().contains("800×10000"));
    assert!(check_head(&jpeg(10_000, 5)).is_err());
    assert!(check_head(&gif(u16::MAX, 1)).is_err());
    // Garbage JPEG segments never panic.
    for cut in 0..jpeg(1, 1).len() {
        let _ = check_head(&jpeg(1, 1)[..cut]);
    }
    assert_eq!(dimensions(ImageKind::Jpeg, &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x00]), None, "zero segment length");
    assert_eq!(dimensions(ImageKind::Jpeg, &[0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xFF]), None, "fill bytes to the end");
}

#[test]
fn part_names_are_unique_and_use_the_real_type() {
    assert_eq!(part_filename(0, "scan 01.webp", ImageKind::Png), "001_scan_01.png");
    assert_eq!(part_filename(11, "dir/sub\\ä.JPG", ImageKind::Jpeg), "012_page.jpg", "path and non-ASCII dropped");
    assert_eq!(part_filename(11, "Scan 7 (HQ).jpeg", ImageKind::Jpeg), "012_Scan_7__HQ_.jpg");
    assert_eq!(part_filename(2, "", ImageKind::Gif), "003_page.gif");
    assert_eq!(part_filename(499, ".hidden", ImageKind::Gif), "500__hidden.gif");
    assert!(part_filename(3, &"x".repeat(500), ImageKind::Png).len() < 80);
}

#[test]
fn labels_and_drafts_follow_the_schema() {
    for ok in ["", "1", "12", "12.5", "0", "0.5", "3b", "100.25a", "12345678"] {
        assert!(valid_number_label(ok), "{ok}");
    }
    for bad in ["01", "1.", ".5", "1a2", "A", "123456789", "-1", "1.5.2", "1ab"] {
        assert!(!valid_number_label(bad), "{bad}");
    }
    let d = |s: &str| chapter_draft(Some(&parse(s).unwrap()));
    let draft = d(r#"{"volume":2,"chapter":"12.5","title":null,"translatedLanguage":"pt-br","publishAt":"2025-07-01T18:00:00"}"#).unwrap();
    assert_eq!(
        encode(&draft),
        r#"{"volume":"2","chapter":"12.5","title":null,"translatedLanguage":"pt-br","publishAt":"2025-07-01T18:00:00"}"#
    );
    for bad in [
        r#"{"chapter":"1","title":null,"translatedLanguage":"en"}"#,
        r#"{"volume":null,"chapter":"01","title":null,"translatedLanguage":"en"}"#,
        r#"{"volume":null,"chapter":"1","translatedLanguage":"en"}"#,
        r#"{"volume":null,"chapter":"1","title":null,"translatedLanguage":"EN"}"#,
        r#"{"volume":null,"chapter":"1","title":null}"#,
        r#"{"volume":null,"chapter":"1","title":null,"translatedLanguage":"en","extra":1}"#,
        r#"{"volume":null,"chapter":"1","title":null,"translatedLanguage":"en","externalUrl":"ftp://x"}"#,
        r#"{"volume":null,"chapter":"1","title":null,"translatedLanguage":"en","publishAt":"2025-07-01T18:00:00Z"}"#,
        r#"{"volume":true,"chapter":"1","title":null,"translatedLanguage":"en"}"#,
        r#"[1]"#,
    ] {
        assert_eq!(d(bad).unwrap_err().code, ErrorCode::InvalidInput, "{bad}");
    }
    assert!(chapter_draft(None).is_err());
}

fn opts(extra: &str) -> Json {
    let extra = if extra.is_empty() { String::new() } else { format!(",{extra}") };
    parse(&format!(
        r#"{{"accessToken":"{TOKEN}","manga":"{MANGA}","groups":["{GROUP}"],"chapter":{{"volume":"1","chapter":"7","title":"T","translatedLanguage":"en"}}{extra}}}"#
    ))
    .unwrap()
}

fn page(i: usize, size: u64) -> FileInfo {
    FileInfo { name: format!("p{i:02}.png"), size, mime: "image/png".into(), last_modified: 0.0 }
}

fn pages(n: usize) -> Vec<FileInfo> {
    (0..n).map(|i| page(i, 100 + i as u64)).collect()
}

#[test]
fn options_are_validated_before_any_request() {
    let code = |o: Json, files: &[FileInfo], chunk: Option<u64>| from_options(EP, &o, files, chunk).err().map(|e| (e.code, e.message));
    assert!(from_options(EP, &opts(""), &pages(3), None).is_ok());
    assert!(from_options(EP, &opts(r#""groups":[]"#), &pages(3), None).is_ok(), "no group");
    let bad = [
        opts(r#""manga":"not-a-uuid""#),
        opts(r#""manga":null"#),
        opts(r#""accessToken":"""#),
        opts(r#""groups":"x""#),
        opts(r#""groups":["nope"]"#),
        opts(&format!(r#""groups":["{GROUP}","{GROUP}"]"#)),
        opts(r#""chapter":{"volume":"1","chapter":"1","title":"t","translatedLanguage":"english"}"#),
        opts(r#""existingSession":"ignore""#),
        opts(r#""batchSize":11"#),
        opts(r#""batchSize":0"#),
        opts(r#""concurrency":4"#),
        opts(r#""termsAccepted":"yes""#),
        opts(&format!(r#""chapterId":"{CHAPTER}""#)),
        opts(r#""version":2"#),
        opts(r#""chapterId":"x","version":2"#),
    ];
    for o in bad {
        let s = encode(&o);
        assert_eq!(code(o, &pages(2), None).map(|c| c.0), Some(ErrorCode::InvalidInput), "{s}");
    }
    let groups11: Vec<String> = (0..11).map(|i| format!("\"aaaaaaaa-bbbb-4ccc-8ddd-{i:012}\"")).collect();
    assert!(code(opts(&format!(r#""groups":[{}]"#, groups11.join(","))), &pages(1), None).unwrap().1.contains("at most 10"));
    assert!(code(opts(""), &pages(2), Some(1 << 20)).unwrap().1.contains("chunkSize"));
    assert!(from_options("relative/path", &opts(""), &pages(1), None).is_err());
    // An edit needs neither manga nor groups.
    let edit = parse(&format!(
        r#"{{"accessToken":"t","chapterId":"{CHAPTER}","version":3,"chapter":{{"volume":null,"chapter":"1","title":null,"translatedLanguage":"en"}}}}"#
    ))
    .unwrap();
    let p = Params::from_options(&edit).unwrap();
    assert_eq!(p.edit, Some((CHAPTER.to_string(), 3)));
    assert_eq!(p.existing, ExistingSession::Resume);
    assert_eq!((p.batch_size, p.concurrency), (MAX_FILES_PER_REQUEST, 2));
}

/// Options are decoded into a typed struct; an option of the wrong type is still named with the
/// message it has always had (serde's own messages do not name it).
#[test]
fn wrong_option_types_name_the_option() {
    let message = |o: Json| from_options(EP, &o, &pages(1), None).err().map(|e| (e.code, e.message));
    let edit = format!(r#""chapterId":"{CHAPTER}""#);
    let cases = [
        (opts(r#""accessToken":5"#), "accessToken must be a string"),
        (opts(r#""chapterId":5"#), "chapterId must be a chapter UUID"),
        (opts(r#""version":"3""#), "version is only used with chapterId (to edit a chapter)"),
        (opts(&format!(r#"{edit},"version":"3""#)), "version (the chapter's current version, an integer ≥ 1) is required with chapterId"),
        (opts(&format!(r#"{edit},"version":2.5"#)), "version (the chapter's current version, an integer ≥ 1) is required with chapterId"),
        (opts(&format!(r#"{edit},"version":0"#)), "version (the chapter's current version, an integer ≥ 1) is required with chapterId"),
        (opts(r#""manga":5"#), "manga must be a manga UUID"),
        (opts(r#""groups":[5]"#), "groups must hold scanlation group UUIDs"),
        (opts(r#""groups":{}"#), "groups must be an array of scanlation group UUIDs"),
        (opts(r#""termsAccepted":1"#), "termsAccepted must be a boolean"),
        (opts(r#""existingSession":true"#), "existingSession must be a string"),
        (opts(r#""batchSize":"NaN""#), "batchSize must be an integer from 1 to 10"),
        (opts(r#""batchSize":-1"#), "batchSize must be an integer from 1 to 10"),
        (opts(r#""batchSize":2.5"#), "batchSize must be an integer from 1 to 10"),
        (opts(r#""concurrency":"Infinity""#), "concurrency must be an integer from 1 to 3"),
        (opts(r#""chapter":null"#), "chapter must be an object { volume, chapter, title, translatedLanguage }"),
        (opts(r#""chapter":{"volume":[],"chapter":"1","title":null,"translatedLanguage":"en"}"#), "chapter.volume must be a string or null"),
        (opts(r#""chapter":{"volume":null,"chapter":"1","title":5,"translatedLanguage":"en"}"#), "chapter.title must be a string or null"),
        (opts(r#""chapter":{"volume":null,"chapter":"1","title":null,"translatedLanguage":5}"#), "chapter.translatedLanguage must be a string"),
        (opts(r#""chapter":{"volume":null,"chapter":"1","title":null,"translatedLanguage":"en","externalUrl":{}}"#), "chapter.externalUrl must be a string"),
        (opts(r#""chapter":{"volume":null,"chapter":"1","title":null,"translatedLanguage":"en","publishAt":false}"#), "chapter.publishAt must be a string"),
        (opts(r#""chapter":{"volume":null,"chapter":"1","title":null,"translatedLanguage":null}"#), "chapter.translatedLanguage is required (e.g. \"en\", \"pt-br\")"),
    ];
    for (o, want) in cases {
        let s = encode(&o);
        assert_eq!(message(o), Some((ErrorCode::InvalidInput, want.to_string())), "{s}");
    }
    let mut no_chapter = opts("");
    no_chapter.as_object_mut().unwrap().remove("chapter");
    assert!(message(no_chapter).unwrap().1.starts_with("chapter is required"));
    // null reads as not given.
    let nulls = r#""chapter":{"volume":null,"chapter":null,"title":null,"translatedLanguage":"en","externalUrl":null,"publishAt":null}"#;
    assert_eq!(encode(&Params::from_options(&opts(nulls)).unwrap().draft), r#"{"volume":null,"chapter":null,"title":null,"translatedLanguage":"en"}"#);
    assert!(from_options(EP, &opts(r#""termsAccepted":null,"existingSession":null,"batchSize":null,"version":null,"chapterId":null"#), &pages(1), None).is_ok());
}

#[test]
fn sizes_and_counts_are_checked_with_every_bad_page_named() {
    assert_eq!(check_sizes(&[]).unwrap_err().code, ErrorCode::InvalidInput);
    assert!(check_sizes(&pages(501)).unwrap_err().message.contains("at most 500"));
    assert!(check_sizes(&pages(500)).is_ok());
    let mut files = pages(6);
    files[1].size = 0;
    files[4].size = 20_000_001;
    let e = check_sizes(&files).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert!(e.message.starts_with("2 pages cannot"), "{}", e.message);
    assert!(e.message.contains("page 2 (index 1, \"p01.png\"): the file is empty"), "{}", e.message);
    assert!(e.message.contains("page 5 (index 4, \"p04.png\"): 20.0 MB is over"), "{}", e.message);
    let big: Vec<FileInfo> = (0..8).map(|i| page(i, 19_900_000)).collect();
    assert!(check_sizes(&big).unwrap_err().message.contains("150.0 MB"), "150 MB per session");
}

#[test]
fn bad_pages_are_all_reported_before_any_request() {
    let files = pages(5);
    let proto = from_options(EP, &opts(""), &files, None).unwrap();
    let mut engine = Engine::new(proto, RetryPolicy::new(vec![]), false);
    assert_eq!(engine.head_bytes(), 65_536);
    let heads = vec![png(10, 10), b"RIFF\0\0\0\0WEBPVP8 ".to_vec(), jpeg(5, 5), png(100, 10_500), b"PK\x03\x04".to_vec()];
    engine.set_heads(heads);
    engine.start(0.0);
    let Action::Finished(Err(e)) = engine.poll(0.0) else { panic!("must fail at once") };
    assert_eq!(engine.requests_sent(), 0);
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert!(e.message.starts_with("3 pages cannot be uploaded"), "{}", e.message);
    assert!(e.message.contains("page 2 (index 1, \"p01.png\"): it is a WebP image"), "{}", e.message);
    assert!(e.message.contains("page 4 (index 3, \"p03.png\"): the image is 100×10500 px"), "{}", e.message);
    assert!(e.message.contains("page 5 (index 4, \"p04.png\"): it is a ZIP/CBZ archive"), "{}", e.message);
    assert!(!e.message.contains("index 0") && !e.message.contains("index 2"));
    // Without heads nothing is sent either.
    let mut p = MangaDex::new(EP, Params::from_options(&opts("")).unwrap(), &pages(1)).unwrap();
    assert!(matches!(p.next(), Next::Fail(e) if e.code == ErrorCode::Protocol));
    let mut p = MangaDex::new(EP, Params::from_options(&opts("")).unwrap(), &pages(2)).unwrap();
    assert!(p.set_heads(vec![png(1, 1)]).is_err(), "one head per page");
}

// ---- a simulated MangaDex -------------------------------------------------------------------

#[derive(Clone, Debug)]
struct SimFile {
    id: String,
    name: String,
    size: u64,
    remote: bool,
    /// `fileHash`: the SHA-256 (hex) of the stored bytes ("h" where a test does not care).
    hash: String,
}

#[derive(Clone, Debug)]
struct SimSession {
    id: String,
    manga: String,
    groups: Vec<String>,
    chapter: Option<String>,
    files: Vec<SimFile>,
}

#[derive(Clone)]
enum Fault {
    /// Answer this instead of handling.
    Answer(Outcome),
    /// Handle it, then lose the answer.
    LoseAnswer,
    /// Handle it, then answer with this body instead (same status).
    ReplaceBody(String),
}

#[derive(Default)]
struct Sim {
    token: String,
    next_token: Option<String>,
    session: Option<SimSession>,
    abandoned: Vec<String>,
    /// The committed chapter: (chapter id, page file names in pageOrder, termsAccepted).
    committed: Option<(String, Vec<String>, Option<bool>)>,
    commit_body: Option<Json>,
    log: Vec<Request>,
    counts: HashMap<&'static str, usize>,
    faults: Vec<(&'static str, usize, Fault)>,
    /// Files whose name contains the key fail inside a 200 batch answer, this many times.
    file_faults: Vec<(String, u32)>,
    /// The status of those per-file errors (500 unless set).
    file_fault_status: Option<u16>,
    deleted_files: Vec<String>,
    next_file: u64,
    max_in_flight: usize,
    max_batch: usize,
    sessions_begun: usize,
    /// Pages whose SHA-256 the engine asked for (`digests_wanted`), in order.
    hashed: Vec<usize>,
    /// The `fileHash` of each committed page, in pageOrder.
    committed_hashes: Vec<String>,
    /// Chapters `GET /chapter` lists (entities), and how many lookups go by before the
    /// committed one appears among them (MangaDex's processing queue).
    listed: Vec<String>,
    listing_delay: usize,
    /// The committed chapter is never listed (still queued, or held for review).
    never_listed: bool,
}

impl Sim {
    fn new() -> Sim {
        Sim { token: TOKEN.into(), ..Default::default() }
    }
    fn fault(mut self, route: &'static str, nth: usize, f: Fault) -> Self {
        self.faults.push((route, nth, f));
        self
    }
    fn file_fault(mut self, name: &str, times: u32) -> Self {
        self.file_faults.push((name.into(), times));
        self
    }
    fn open(mut self, s: SimSession) -> Self {
        self.session = Some(s);
        self
    }

    fn route(req: &Request) -> &'static str {
        let path = req.url.strip_prefix(EP).unwrap_or("?");
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (req.method, segs.as_slice()) {
            (Method::Get, ["upload?includes[]=upload_session_file"]) => "session",
            (Method::Post, ["upload", "begin"]) => "begin",
            (Method::Post, ["upload", "begin", _]) => "begin-edit",
            (Method::Post, ["upload", "check-approval-required"]) => "approval",
            (Method::Get, [p]) if p.starts_with("chapter?") => "chapters",
            (Method::Post, ["upload", _, "commit"]) => "commit",
            (Method::Delete, ["upload", _, "batch"]) => "delete-batch",
            (Method::Delete, ["upload", _, _]) => "delete-file",
            (Method::Post, ["upload", _]) => "upload",
            (Method::Delete, ["upload", _]) => "abandon",
            _ => "other",
        }
    }

    fn error(status: u16, detail: &str) -> Outcome {
        resp(
            status,
            &format!(
                r#"{{"result":"error","errors":[{{"id":"e0000000-0000-4000-8000-000000000000","status":{status},"title":"Error","detail":"{detail}","context":null}}]}}"#
            ),
        )
    }

    fn file_json(f: &SimFile) -> String {
        format!(
            r#"{{"id":"{}","type":"upload_session_file","attributes":{{"originalFileName":"{}","fileHash":"{}","fileSize":{},"mimeType":"image/png","source":"{}","version":1}}}}"#,
            f.id,
            f.name,
            f.hash,
            f.size,
            if f.remote { "remote" } else { "local" }
        )
    }

    fn session_json(s: &SimSession, files: bool) -> String {
        let mut rels = vec![r#"{"id":"u0000000-0000-4000-8000-000000000000","type":"user"}"#.to_string()];
        rels.push(format!(r#"{{"id":"{}","type":"manga"}}"#, s.manga));
        for g in &s.groups {
            rels.push(format!(r#"{{"id":"{g}","type":"scanlation_group"}}"#));
        }
        if let Some(c) = &s.chapter {
            rels.push(format!(r#"{{"id":"{c}","type":"chapter"}}"#));
        }
        if files {
            rels.extend(s.files.iter().map(Self::file_json));
        }
        format!(
            r#"{{"result":"ok","response":"entity","data":{{"id":"{}","type":"upload_session","attributes":{{"isCommitted":false,"isProcessed":false,"isDeleted":false,"version":1,"createdAt":"{SESSION_CREATED}","updatedAt":"{SESSION_CREATED}"}},"relationships":[{}]}}}}"#,
            s.id,
            rels.join(",")
        )
    }

    fn answer(&mut self, req: &Request) -> Outcome {
        let route = Self::route(req);
        let n = {
            let c = self.counts.entry(route).or_insert(0);
            *c += 1;
            *c
        };
        let fault = self.faults.iter().find(|(r, k, _)| *r == route && *k == n).map(|(_, _, f)| f.clone());
        match fault {
            Some(Fault::Answer(o)) => o,
            Some(Fault::LoseAnswer) => {
                let _ = self.handle(route, req);
                Outcome::Network("connection reset".into())
            }
            Some(Fault::ReplaceBody(b)) => match self.handle(route, req) {
                Outcome::Response(r) => Outcome::Response(Response { body: b, ..r }),
                o => o,
            },
            None => self.handle(route, req),
        }
    }

    fn sid_of(req: &Request) -> String {
        req.url.strip_prefix(&format!("{EP}/upload/")).unwrap_or("").split('/').next().unwrap_or("").to_string()
    }

    fn own(&self, req: &Request) -> bool {
        self.session.as_ref().is_some_and(|s| s.id == Self::sid_of(req))
    }

    fn handle(&mut self, route: &'static str, req: &Request) -> Outcome {
        if req.get_header("authorization") != Some(format!("Bearer {}", self.token).as_str()) {
            return Self::error(401, "User not found");
        }
        let json_body = || match &req.body {
            Body::Text { text, content_type } => {
                assert_eq!(content_type, "application/json");
                parse(text).unwrap()
            }
            other => panic!("{route} needs a JSON body, got {other:?}"),
        };
        match route {
            "session" => match &self.session {
                Some(s) => resp(200, &Self::session_json(s, true)),
                None => Self::error(404, "No upload session found"),
            },
            "begin" | "begin-edit" => {
                if self.session.is_some() {
                    return Self::error(409, "You already have an open upload session");
                }
                let b = json_body();
                self.sessions_begun += 1;
                let id = if self.sessions_begun == 1 { SID.to_string() } else { format!("5e55a000-0000-4000-8000-{:012}", self.sessions_begun) };
                let s = if route == "begin" {
                    assert_eq!(b.as_object().map_or(0, |m| m.len()), 2, "begin takes manga and groups only");
                    let groups = b.get("groups").and_then(Json::as_array).unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect();
                    SimSession { id, manga: b.get("manga").and_then(Json::as_str).unwrap().into(), groups, chapter: None, files: vec![] }
                } else {
                    assert_eq!(encode(&b), r#"{"version":3}"#);
                    let chapter = req.url.rsplit('/').next().unwrap().to_string();
                    let old = (0..2)
                        .map(|i| SimFile { id: format!("0ld00000-0000-4000-8000-{i:012}"), name: format!("old{i}.png"), size: 9, remote: true, hash: "h".into() })
                        .collect();
                    SimSession { id, manga: MANGA.into(), groups: vec![GROUP.into()], chapter: Some(chapter), files: old }
                };
                let body = Self::session_json(&s, route == "begin-edit");
                self.session = Some(s);
                resp(200, &body)
            }
            "upload" => {
                if !self.own(req) {
                    return Self::error(404, "Upload session not found");
                }
                let Body::Multipart(parts) = &req.body else { panic!("pages go as multipart") };
                assert!(!parts.is_empty() && parts.len() <= MAX_FILES_PER_REQUEST, "{} parts", parts.len());
                self.max_batch = self.max_batch.max(parts.len());
                let mut names: Vec<&str> = parts.iter().map(|p| if let Part::File { name, .. } = p { name.as_str() } else { "" }).collect();
                names.sort();
                names.dedup();
                assert_eq!(names.len(), parts.len(), "distinct part names");
                let mut data = Vec::new();
                let mut errors = Vec::new();
                for p in parts {
                    let Part::File { filename, content_type, slice, .. } = p else { panic!("only files") };
                    assert_eq!(content_type, "image/png");
                    assert_eq!((slice.start, slice.end), (0, 100 + slice.file as u64), "whole page {}", slice.file);
                    if let Some(ff) = self.file_faults.iter_mut().find(|(k, t)| filename.contains(k.as_str()) && *t > 0) {
                        ff.1 -= 1;
                        errors.push(format!(
                            r#"{{"id":"e1","status":{},"title":"Error","detail":"File \"{filename}\": Failed to store the file","context":null}}"#,
                            self.file_fault_status.unwrap_or(500)
                        ));
                        continue;
                    }
                    self.next_file += 1;
                    let f = SimFile {
                        id: format!("f0000000-0000-4000-8000-{:012}", self.next_file),
                        name: filename.clone(),
                        size: slice.len(),
                        remote: false,
                        hash: content_hash(slice.file, slice.len(), false),
                    };
                    data.push(Self::file_json(&f));
                    self.session.as_mut().unwrap().files.push(f);
                }
                let result = if data.is_empty() { "error" } else { "ok" };
                resp(200, &format!(r#"{{"result":"{result}","errors":[{}],"data":[{}]}}"#, errors.join(","), data.join(",")))
            }
            "delete-file" => {
                if !self.own(req) {
                    return Self::error(404, "Upload session not found");
                }
                let id = req.url.rsplit('/').next().unwrap().to_string();
                let s = self.session.as_mut().unwrap();
                let before = s.files.len();
                s.files.retain(|f| f.id != id);
                if s.files.len() == before {
                    return Self::error(404, "File not found");
                }
                self.deleted_files.push(id);
                resp(200, r#"{"result":"ok"}"#)
            }
            "delete-batch" => {
                if !self.own(req) {
                    return Self::error(404, "Upload session not found");
                }
                let ids: Vec<String> = json_body().as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
                assert!(ids.len() >= 2, "one id goes to DELETE /upload/{{id}}/{{fileId}}");
                self.session.as_mut().unwrap().files.retain(|f| !ids.contains(&f.id));
                self.deleted_files.extend(ids);
                resp(200, r#"{"result":"ok"}"#)
            }
            "commit" => {
                if !self.own(req) {
                    return Self::error(404, "Upload session not found");
                }
                let b = json_body();
                let order: Vec<String> = b.get("pageOrder").and_then(Json::as_array).unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
                let s = self.session.take().unwrap();
                let mut names = Vec::new();
                for id in &order {
                    let f = s.files.iter().find(|f| &f.id == id).unwrap_or_else(|| panic!("pageOrder names {id}, not a file of the session"));
                    names.push(f.name.clone());
                    self.committed_hashes.push(f.hash.clone());
                }
                let mut uniq = order.clone();
                uniq.sort();
                uniq.dedup();
                assert_eq!(uniq.len(), order.len(), "no duplicates in pageOrder");
                let chapter = s.chapter.clone().unwrap_or_else(|| "c0000000-0000-4000-8000-000000000009".into());
                self.committed = Some((chapter.clone(), names, b.get("termsAccepted").and_then(Json::as_bool)));
                let mut rels = vec![format!(r#"{{"id":"{}","type":"manga"}}"#, s.manga)];
                rels.extend(s.groups.iter().map(|g| format!(r#"{{"id":"{g}","type":"scanlation_group"}}"#)));
                rels.push(format!(r#"{{"id":"{USER}","type":"user"}}"#));
                let entity = format!(
                    r#"{{"id":"{chapter}","type":"chapter","attributes":{{"chapter":"7","translatedLanguage":"en","createdAt":"{CHAPTER_CREATED}"}},"relationships":[{}]}}"#,
                    rels.join(",")
                );
                if !self.never_listed {
                    self.listed.push(entity.clone());
                }
                self.commit_body = Some(b);
                resp(200, &format!(r#"{{"result":"ok","response":"entity","data":{entity}}}"#))
            }
            "chapters" => {
                // GetChapter's query parameters (spec); anything else is refused.
                let query = req.url.split_once('?').map(|(_, q)| q).unwrap_or("");
                const KNOWN: [&str; 14] = [
                    "manga", "groups[]", "translatedLanguage[]", "chapter", "uploader", "createdAtSince", "contentRating[]", "includeFuturePublishAt",
                    "includeEmptyPages", "includeExternalUrl", "order[createdAt]", "limit", "offset", "volume[]",
                ];
                for pair in query.split('&') {
                    let key = pair.split('=').next().unwrap_or("");
                    if !KNOWN.contains(&key) {
                        return Self::error(400, &format!("unknown query parameter {key}"));
                    }
                }
                let shown = if self.counts["chapters"] > self.listing_delay { self.listed.clone() } else { Vec::new() };
                resp(200, &format!(r#"{{"result":"ok","response":"collection","data":[{}],"limit":20,"offset":0,"total":{}}}"#, shown.join(","), shown.len()))
            }
            "abandon" => {
                if !self.own(req) {
                    return Self::error(404, "Upload session not found");
                }
                self.abandoned.push(self.session.take().unwrap().id);
                resp(200, r#"{"result":"ok"}"#)
            }
            _ => panic!("unexpected request {} {}", req.method.as_str(), req.url),
        }
    }

    fn routes(&self) -> Vec<&'static str> {
        self.log.iter().map(Sim::route).collect()
    }
    /// Pages (input indexes) each upload request carried.
    fn batches(&self) -> Vec<Vec<usize>> {
        self.log
            .iter()
            .filter(|r| Sim::route(r) == "upload")
            .map(|r| match &r.body {
                Body::Multipart(parts) => parts.iter().filter_map(|p| if let Part::File { slice, .. } = p { Some(slice.file) } else { None }).collect(),
                _ => vec![],
            })
            .collect()
    }
}

/// The simulated clock starts at 1_700_000_000_000 ms = 2023-11-14T22:13:20Z, when the session
/// is created; the chapter comes ten seconds later.
const SESSION_CREATED: &str = "2023-11-14T22:13:20+00:00";
const CHAPTER_CREATED: &str = "2023-11-14T22:13:30+00:00";
const USER: &str = "u0000000-0000-4000-8000-000000000000";

/// The bytes of page `i` (`edited`: after the user changed it, same size).
fn content(i: usize, size: u64, edited: bool) -> Vec<u8> {
    (0..size).map(|k| (i as u64 * 31 + k + if edited { 7 } else { 0 }) as u8).collect()
}

fn content_hash(i: usize, size: u64, edited: bool) -> String {
    chunkup::core::digest::hex(&chunkup::core::digest::sha256(&content(i, size, edited)))
}

fn resp(status: u16, body: &str) -> Outcome {
    Outcome::Response(Response::new(status).with_body(body))
}

fn heads(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| png(800 + i as u32, 1200)).collect()
}

impl drive::Server for Sim {
    fn answer(&mut self, req: &Request) -> Outcome {
        Sim::answer(self, req)
    }
    fn token(&mut self) -> Option<String> {
        drive::hand_out_token(&mut self.next_token, &mut self.token)
    }
    fn sent(&mut self, req: &Request, in_flight: usize) {
        self.log.push(req.clone());
        self.max_in_flight = self.max_in_flight.max(in_flight);
    }
    fn before_poll<P: Protocol>(&mut self, engine: &mut Engine<P>) {
        for i in engine.digests_wanted() {
            self.hashed.push(i);
            engine.set_file_digest(i, chunkup::core::digest::sha256(&content(i, 100 + i as u64, false)));
        }
    }
}

fn drive_with(proto: MangaDex, n: usize, sim: &mut Sim, order: Order, abort_after: Option<usize>) -> Run {
    let mut engine = Engine::new(Box::new(proto) as Box<dyn Protocol>, RetryPolicy::new(vec![10, 10, 10, 10]), true);
    let start = 1_700_000_000_000.0;
    engine.set_heads(heads(n));
    engine.start(start);
    drive::drive(&mut engine, sim, Drive { abort_after, ..Drive::new(order, start, 1.0) })
}

fn proto(n: usize, extra: &str) -> MangaDex {
    MangaDex::new(EP, Params::from_options(&opts(extra)).unwrap(), &pages(n)).unwrap()
}

fn drive(sim: &mut Sim, n: usize, extra: &str, order: Order) -> Run {
    drive_with(proto(n, extra), n, sim, order, None)
}

/// The committed chapter's pages by input index (from the `NNN_` prefix of their names).
fn committed_pages(sim: &Sim) -> Vec<usize> {
    let (_, names, _) = sim.committed.as_ref().expect("a committed chapter");
    names.iter().map(|n| n[..3].parse::<usize>().unwrap() - 1).collect()
}

fn sent_count(sim: &Sim, page: usize) -> usize {
    sim.batches().iter().flatten().filter(|&&i| i == page).count()
}

// ---- the flow -------------------------------------------------------------------------------

#[test]
fn a_chapter_goes_up_in_batches_and_commits_in_input_order() {
    for order in [Order::Fifo, Order::Lifo] {
        let mut sim = Sim::new();
        let run = drive(&mut sim, 25, r#""termsAccepted":true"#, order);
        let json = run.result.unwrap();
        assert_eq!(json.pointer("/data/type").and_then(Json::as_str), Some("chapter"));
        assert_eq!(json.pointer("/data/id").and_then(Json::as_str), Some("c0000000-0000-4000-8000-000000000009"));
        let routes = sim.routes();
        assert_eq!(&routes[..2], ["session", "begin"]);
        assert_eq!(routes[2..5], ["upload", "upload", "upload"]);
        assert_eq!(routes[5..], ["commit"]);
        assert_eq!(sim.batches().iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        assert_eq!(sim.max_batch, 10);
        assert!(sim.max_in_flight <= 2, "two batches in flight by default, got {}", sim.max_in_flight);
        assert_eq!(committed_pages(&sim), (0..25).collect::<Vec<_>>(), "input order whatever order batches finished in");
        let body = sim.commit_body.as_ref().unwrap();
        assert_eq!(encode(body.get("chapterDraft").unwrap()), r#"{"volume":"1","chapter":"7","title":"T","translatedLanguage":"en"}"#);
        assert_eq!(body.get("termsAccepted"), Some(&Json::Bool(true)), "top level");
        let begin = &sim.log[1];
        let Body::Text { text, .. } = &begin.body else { panic!() };
        assert_eq!(text, &format!(r#"{{"manga":"{MANGA}","groups":["{GROUP}"]}}"#));
        assert!(sim.log.iter().all(|r| r.get_header("authorization") == Some(&*format!("Bearer {TOKEN}"))));
        // Part names and file names.
        let Body::Multipart(parts) = &sim.log[2].body else { panic!() };
        let Part::File { name, filename, .. } = &parts[3] else { panic!() };
        assert_eq!((name.as_str(), filename.as_str()), ("file3", "004_p03.png"));
        // Progress over the whole chapter: monotonic, ends at the total of every page.
        let total: u64 = (0..25).map(|i| 100 + i).sum();
        assert!(run.progress.windows(2).all(|w| w[0].loaded <= w[1].loaded));
        assert_eq!(run.progress.last().map(|p| (p.loaded, p.total)), Some((total, total)));
        assert!(run.cleanup.is_empty());
    }
}

#[test]
fn five_hundred_pages_in_fifty_requests() {
    let mut sim = Sim::new();
    let p = proto(500, r#""concurrency":3"#);
    let run = drive_with(p, 500, &mut sim, Order::Lifo, None);
    run.result.unwrap();
    assert_eq!(sim.batches().len(), 50);
    assert!(sim.batches().iter().all(|b| b.len() == 10));
    assert_eq!(sim.max_in_flight, 3);
    assert_eq!(committed_pages(&sim), (0..500).collect::<Vec<_>>());
    let (_, names, _) = sim.committed.as_ref().unwrap();
    assert_eq!(names[499], "500_p499.png");
}

#[test]
fn the_session_is_described_without_secrets() {
    let mut p = proto(2, "");
    assert_eq!(p.session(), Json::Null);
    p.set_heads(heads(2)).unwrap();
    let Next::Send(check) = p.next() else { panic!() };
    assert_eq!(check.url, format!("{EP}/upload?includes[]=upload_session_file"));
    assert_eq!(p.next(), Next::Wait, "one control request at a time");
    assert_eq!(p.handle(&check, Sim::error(404, "No upload session found")), Verdict::Continue);
    let Next::Send(begin) = p.next() else { panic!() };
    let mut sim = Sim::new();
    let o = sim.answer(&begin);
    assert_eq!(p.handle(&begin, o), Verdict::Continue);
    assert_eq!(encode(&p.session()), format!(r#"{{"sessionId":"{SID}","pagesStored":0}}"#));
    assert_eq!(p.secrets(), [TOKEN]);
    assert_eq!(p.max_parallel(), 3, "two batches and a delete");
    assert_eq!(p.page_names(), ["001_p00.png", "002_p01.png"]);
}

#[test]
fn batch_size_and_concurrency_options() {
    let mut sim = Sim::new();
    drive(&mut sim, 7, r#""batchSize":3,"concurrency":3"#, Order::Lifo).result.unwrap();
    assert_eq!(sim.batches().iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(sim.max_in_flight, 3);
    assert_eq!(committed_pages(&sim), (0..7).collect::<Vec<_>>());
    let mut sim = Sim::new();
    drive(&mut sim, 4, r#""batchSize":1,"concurrency":1"#, Order::Fifo).result.unwrap();
    assert_eq!(sim.batches(), [vec![0], vec![1], vec![2], vec![3]]);
    assert_eq!(sim.max_in_flight, 1);
    // No termsAccepted unless asked.
    assert!(sim.commit_body.as_ref().unwrap().get("termsAccepted").is_none());
}

#[test]
fn files_refused_inside_a_200_are_retried_alone() {
    let mut sim = Sim::new().file_fault("004_", 1).file_fault("017_", 2);
    let run = drive(&mut sim, 20, "", Order::Lifo);
    run.result.unwrap();
    assert_eq!(sent_count(&sim, 3), 2, "page 4 once more");
    assert_eq!(sent_count(&sim, 16), 3, "page 17 twice more");
    for i in (0..20).filter(|i| ![3, 16].contains(i)) {
        assert_eq!(sent_count(&sim, i), 1, "page {} only once", i + 1);
    }
    assert_eq!(committed_pages(&sim), (0..20).collect::<Vec<_>>());
    assert!(sim.deleted_files.is_empty());
}

#[test]
fn a_file_refused_too_often_fails_the_upload_naming_it() {
    let mut sim = Sim::new().file_fault("003_", 10);
    let run = drive(&mut sim, 5, "", Order::Fifo);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Http);
    assert!(e.message.contains("page 3 (index 2, \"p02.png\")") && e.message.contains("after 3 attempts"), "{}", e.message);
    assert!(e.message.contains("Failed to store the file"), "the server's reason: {}", e.message);
    assert_eq!(sent_count(&sim, 2), 3);
    assert!(sim.committed.is_none());
    assert!(run.cleanup.is_empty(), "the session is kept so the pages can resume it");
    assert!(sim.session.is_some());
}

#[test]
fn a_file_the_server_judges_bad_fails_at_once() {
    let mut sim = Sim::new().file_fault("002_", 10);
    sim.file_fault_status = Some(400);
    let e = drive(&mut sim, 4, "", Order::Fifo).result.unwrap_err();
    assert_eq!((e.code, e.status, e.retryable), (ErrorCode::Http, Some(400), false));
    assert!(e.message.contains("page 2 (index 1, \"p01.png\")") && !e.message.contains("attempts"), "{}", e.message);
    assert_eq!(sent_count(&sim, 1), 1, "not sent again");
    let mut sim = Sim::new().file_fault("002_", 10);
    sim.file_fault_status = Some(415);
    assert_eq!(drive(&mut sim, 4, "", Order::Fifo).result.unwrap_err().code, ErrorCode::UnsupportedType);
    let mut sim = Sim::new().file_fault("002_", 1);
    sim.file_fault_status = Some(429);
    drive(&mut sim, 4, "", Order::Fifo).result.unwrap();
}

#[test]
fn abort_abandons_the_session() {
    let mut sim = Sim::new();
    let run = drive_with(proto(30, ""), 30, &mut sim, Order::Fifo, Some(3));
    assert_eq!(run.result.unwrap_err().code, ErrorCode::Aborted);
    assert_eq!(run.cleanup.len(), 1);
    let c = &run.cleanup[0];
    assert_eq!((c.method, c.url.as_str()), (Method::Delete, format!("{EP}/upload/{SID}").as_str()));
    assert_eq!(c.get_header("authorization"), Some(&*format!("Bearer {TOKEN}")));
    assert_eq!(sim.answer(c), resp(200, r#"{"result":"ok"}"#));
    assert_eq!(sim.abandoned, [SID]);
    // Nothing to abandon before a session exists, nor after the commit.
    let mut p = proto(1, "");
    assert!(p.cancel().is_empty());
    let mut sim = Sim::new();
    let mut engine = Engine::new(Box::new(proto(1, "")) as Box<dyn Protocol>, RetryPolicy::new(vec![]), false);
    engine.set_heads(heads(1));
    engine.start(0.0);
    loop {
        match engine.poll(0.0) {
            Action::Send { id, request } => {
                let o = sim.answer(&request);
                engine.on_outcome(id, o, 0.0);
            }
            Action::Finished(r) => {
                r.unwrap();
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(engine.abort().is_empty());
    p.set_heads(heads(1)).unwrap();
}

/// The session moves from phase to phase with the upload: a failed upload still names it (so the
/// same pages can resume it) and abandons it on cancel; a batch answered after the failure
/// changes nothing; a committed upload names it but has nothing to cancel.
#[test]
fn the_session_outlives_the_phases_that_used_it() {
    let open = |p: &mut MangaDex, sim: &mut Sim| {
        p.set_heads(heads(p.page_names().len())).unwrap();
        let Next::Send(check) = p.next() else { panic!() };
        assert_eq!(p.handle(&check, Sim::error(404, "No upload session found")), Verdict::Continue);
        let Next::Send(begin) = p.next() else { panic!() };
        let o = sim.answer(&begin);
        assert_eq!(p.handle(&begin, o), Verdict::Continue);
    };
    let described = |p: &MangaDex, stored: usize| {
        assert_eq!(encode(&p.session()), format!(r#"{{"sessionId":"{SID}","pagesStored":{stored}}}"#));
        assert_eq!(p.resume_key(), Some(SID));
    };
    // Failed while a second batch was in flight.
    let mut sim = Sim::new();
    let mut p = proto(12, "");
    open(&mut p, &mut sim);
    let (Next::Send(first), Next::Send(second)) = (p.next(), p.next()) else { panic!() };
    assert_eq!(p.next(), Next::Wait, "two batches in flight");
    assert!(p.resume_state().is_some());
    let Verdict::Fail(e) = p.handle(&first, Sim::error(404, "Upload session not found")) else { panic!() };
    assert_eq!(e.code, ErrorCode::SessionExpired);
    let o = sim.answer(&second);
    assert_eq!(p.handle(&second, o), Verdict::Continue, "answered after the failure");
    assert_eq!((p.confirmed(), p.next()), (0, Next::Fail(e)));
    described(&p, 0);
    assert_eq!(p.resume_state(), None, "only an upload in progress is resumed");
    let cancel = p.cancel();
    assert_eq!(cancel.iter().map(|r| (r.method, r.url.as_str())).collect::<Vec<_>>(), [(Method::Delete, format!("{EP}/upload/{SID}").as_str())]);
    // Committed.
    let mut sim = Sim::new();
    let mut p = proto(2, "");
    open(&mut p, &mut sim);
    let Next::Send(batch) = p.next() else { panic!() };
    let o = sim.answer(&batch);
    assert_eq!(p.handle(&batch, o), Verdict::Continue);
    let Next::Send(commit) = p.next() else { panic!() };
    assert_eq!(commit.url, format!("{EP}/upload/{SID}/commit"));
    let o = sim.answer(&commit);
    assert_eq!(p.handle(&commit, o), Verdict::Continue);
    assert!(matches!(p.next(), Next::Done(_)));
    assert_eq!(p.confirmed(), p.total());
    described(&p, 2);
    assert!(p.cancel().is_empty(), "nothing to abandon once committed");
}

#[test]
fn rate_limits_are_waited_out() {
    let reset = 1_700_000_100u64; // a Unix timestamp, seconds
    let limited = Outcome::Response(
        Response::new(429)
            .with_header("X-RateLimit-Limit", "250")
            .with_header("X-RateLimit-Remaining", "0")
            .with_header("X-RateLimit-Retry-After", &reset.to_string())
            .with_body(r#"{"result":"error","errors":[{"status":429,"title":"Too Many Requests","detail":"You have been rate limited"}]}"#),
    );
    let mut sim = Sim::new()
        .fault("upload", 2, Fault::Answer(limited.clone()))
        .fault("begin", 1, Fault::Answer(Outcome::Response(Response::new(429).with_header("Retry-After", "7").with_body("slow down"))))
        .fault("commit", 1, Fault::Answer(limited));
    let run = drive(&mut sim, 25, "", Order::Fifo);
    run.result.unwrap();
    assert_eq!(committed_pages(&sim), (0..25).collect::<Vec<_>>());
    assert!(run.now >= reset as f64 * 1000.0, "waited until the window reset");
    assert_eq!(sim.counts["begin"], 2);
    assert_eq!(sim.counts["commit"], 2);
    for i in 0..25 {
        assert!(sent_count(&sim, i) <= 2);
    }
    // The header itself.
    let r = |h: &str, v: &str| rate_limit_wait(&Response::new(429).with_header(h, v));
    assert_eq!(r("X-RateLimit-Retry-After", "1700000100"), Some(RetryAfter::At(1_700_000_100_000)));
    assert_eq!(r("X-RateLimit-Retry-After", "3"), Some(RetryAfter::Delay(3000)), "a small number is seconds to wait");
    assert_eq!(r("Retry-After", "2"), Some(RetryAfter::Delay(2000)));
    assert_eq!(r("X-RateLimit-Retry-After", "soon"), None);
    assert_eq!(r("X-RateLimit-Retry-After", "-5"), None);
    assert_eq!(r("X-RateLimit-Retry-After", "1e400"), None);
}

#[test]
fn endless_rate_limits_end_in_an_error() {
    let limited = Outcome::Response(Response::new(429).with_header("Retry-After", "1").with_body("{}"));
    let mut sim = Sim::new();
    for k in 1..=40 {
        sim = sim.fault("session", k, Fault::Answer(limited.clone()));
    }
    let e = drive(&mut sim, 2, "", Order::Fifo).result.unwrap_err();
    assert_eq!((e.code, e.status), (ErrorCode::Http, Some(429)));
    assert!(e.message.contains("still rate limited"), "{}", e.message);
}

#[test]
fn an_open_session_for_the_same_chapter_is_resumed() {
    // Pages 1-3 are already stored under their names; a stray file and a duplicate are deleted.
    let stored = |i: usize, id: &str| SimFile { id: id.into(), name: part_filename(i, &format!("p{i:02}.png"), ImageKind::Png), size: 100 + i as u64, remote: false, hash: "h".into() };
    let files = vec![
        stored(0, "a0000000-0000-4000-8000-000000000000"),
        stored(1, "a0000000-0000-4000-8000-000000000001"),
        stored(1, "a0000000-0000-4000-8000-000000000002"),
        stored(2, "a0000000-0000-4000-8000-000000000003"),
        SimFile { id: "a0000000-0000-4000-8000-000000000004".into(), name: "stray.png".into(), size: 5, remote: false, hash: "h".into() },
        // Right name, wrong size: a different file.
        SimFile { id: "a0000000-0000-4000-8000-000000000005".into(), name: "004_p03.png".into(), size: 1, remote: false, hash: "h".into() },
    ];
    let open = SimSession { id: SID.into(), manga: MANGA.into(), groups: vec![GROUP.into()], chapter: None, files };
    let mut sim = Sim::new().open(open);
    let run = drive(&mut sim, 12, "", Order::Fifo);
    run.result.unwrap();
    assert_eq!(sim.routes()[..2], ["session", "delete-batch"]);
    assert!(!sim.routes().contains(&"begin"));
    let mut deleted = sim.deleted_files.clone();
    deleted.sort();
    assert_eq!(deleted, ["a0000000-0000-4000-8000-000000000002", "a0000000-0000-4000-8000-000000000004", "a0000000-0000-4000-8000-000000000005"]);
    for i in 0..3 {
        assert_eq!(sent_count(&sim, i), 0, "page {} is already there", i + 1);
    }
    assert_eq!(sim.batches().iter().map(Vec::len).collect::<Vec<_>>(), [9]);
    assert_eq!(committed_pages(&sim), (0..12).collect::<Vec<_>>());
    let (_, names, _) = sim.committed.as_ref().unwrap();
    assert_eq!(names.len(), 12);
}

#[test]
fn an_open_session_for_something_else_is_reported_or_abandoned() {
    let other = || SimSession { id: "0pen0000-0000-4000-8000-000000000000".into(), manga: OTHER.into(), groups: vec![], chapter: None, files: vec![] };
    // resume (default): fail clearly, touch nothing.
    let mut sim = Sim::new().open(other());
    let e = drive(&mut sim, 2, "", Order::Fifo).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Http);
    assert!(e.message.contains("already open") && e.message.contains(OTHER) && e.message.contains("existingSession"), "{}", e.message);
    assert_eq!(sim.routes(), ["session"]);
    assert!(sim.session.is_some());
    // abandon: DELETE it, then begin.
    let mut sim = Sim::new().open(other());
    drive(&mut sim, 2, r#""existingSession":"abandon""#, Order::Fifo).result.unwrap();
    assert_eq!(sim.routes(), ["session", "abandon", "begin", "upload", "commit"]);
    assert_eq!(sim.abandoned, ["0pen0000-0000-4000-8000-000000000000"]);
    // fail: any open session, even a matching one.
    let same = SimSession { id: SID.into(), manga: MANGA.into(), groups: vec![GROUP.into()], chapter: None, files: vec![] };
    let mut sim = Sim::new().open(same);
    let e = drive(&mut sim, 2, r#""existingSession":"fail""#, Order::Fifo).result.unwrap_err();
    assert!(e.message.contains("already open"), "{}", e.message);
    assert_eq!(sim.routes(), ["session"]);
    // A session for other groups of the same manga is not ours either.
    let groups = SimSession { id: SID.into(), manga: MANGA.into(), groups: vec![OTHER.into()], chapter: None, files: vec![] };
    let mut sim = Sim::new().open(groups);
    assert!(drive(&mut sim, 2, "", Order::Fifo).result.is_err());
}

#[test]
fn a_begin_conflict_looks_again_once() {
    // Someone opens a session between our look and our begin.
    let mut sim = Sim::new().fault(
        "begin",
        1,
        Fault::Answer(Sim::error(409, "You already have an open upload session")),
    );
    drive(&mut sim, 2, "", Order::Fifo).result.unwrap();
    assert_eq!(sim.routes(), ["session", "begin", "session", "begin", "upload", "commit"]);
    let mut sim = Sim::new()
        .fault("begin", 1, Fault::Answer(Sim::error(409, "conflict")))
        .fault("begin", 2, Fault::Answer(Sim::error(409, "still conflict")));
    let e = drive(&mut sim, 2, "", Order::Fifo).result.unwrap_err();
    assert_eq!(e.status, Some(409));
    assert!(e.message.contains("still conflict") && e.message.contains("existingSession"), "{}", e.message);
}

#[test]
fn editing_a_chapter_begins_with_its_version_and_replaces_its_pages() {
    let o = parse(&format!(
        r#"{{"accessToken":"{TOKEN}","chapterId":"{CHAPTER}","version":3,"chapter":{{"volume":null,"chapter":"7","title":null,"translatedLanguage":"en"}}}}"#
    ))
    .unwrap();
    let p = MangaDex::new(EP, Params::from_options(&o).unwrap(), &pages(3)).unwrap();
    let mut sim = Sim::new();
    drive_with(p, 3, &mut sim, Order::Fifo, None).result.unwrap();
    assert_eq!(sim.routes(), ["session", "begin-edit", "upload", "commit"]);
    assert_eq!(sim.log[1].url, format!("{EP}/upload/begin/{CHAPTER}"));
    let (chapter, names, _) = sim.committed.as_ref().unwrap();
    assert_eq!(chapter, CHAPTER);
    assert_eq!(names, &["001_p00.png", "002_p01.png", "003_p02.png"], "the old (remote) pages are left out of pageOrder");
}

#[test]
fn resume_after_pause_reads_the_session_first() {
    let mut sim = Sim::new();
    let mut engine = Engine::new(Box::new(proto(15, r#""concurrency":1"#)) as Box<dyn Protocol>, RetryPolicy::new(vec![]), false);
    engine.set_heads(heads(15));
    engine.start(0.0);
    let mut paused = false;
    loop {
        match engine.poll(0.0) {
            Action::Send { id, request } => {
                sim.log.push(request.clone());
                let o = sim.answer(&request);
                if Sim::route(&request) == "upload" && !paused {
                    paused = true;
                    engine.pause();
                    engine.on_outcome(id, o, 0.0);
                    assert_eq!(engine.poll(0.0), Action::Wait { until_ms: None }, "nothing while paused");
                    engine.resume();
                    continue;
                }
                engine.on_outcome(id, o, 0.0);
            }
            Action::Finished(r) => {
                r.unwrap();
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sim.routes(), ["session", "begin", "upload", "session", "upload", "commit"]);
    assert_eq!(committed_pages(&sim), (0..15).collect::<Vec<_>>());
}

#[test]
fn lost_batch_answers_are_checked_against_the_session() {
    // The server stored batch 1 but the answer was lost: no page goes twice.
    let mut sim = Sim::new().fault("upload", 1, Fault::LoseAnswer);
    drive(&mut sim, 15, r#""concurrency":1"#, Order::Fifo).result.unwrap();
    assert_eq!(sim.routes(), ["session", "begin", "upload", "session", "upload", "commit"]);
    assert_eq!(sim.batches(), [(0..10).collect::<Vec<_>>(), (10..15).collect()]);
    assert_eq!(committed_pages(&sim), (0..15).collect::<Vec<_>>());
    // Lost before the server stored anything: the batch is sent again.
    let mut sim = Sim::new().fault("upload", 1, Fault::Answer(Outcome::Network("reset".into())));
    drive(&mut sim, 5, "", Order::Fifo).result.unwrap();
    assert_eq!(sim.routes(), ["session", "begin", "upload", "session", "upload", "commit"]);
    // A 502 whose request went through: same as a lost answer.
    let mut sim = Sim::new().fault("upload", 1, Fault::ReplaceBody("<html>bad gateway</html>".into()));
    drive(&mut sim, 3, "", Order::Fifo).result.unwrap();
    assert_eq!(sim.batches().len(), 1, "the unreadable answer is checked, not resent blindly");
    assert_eq!(committed_pages(&sim), [0, 1, 2]);
}

#[test]
fn a_lost_begin_answer_adopts_the_session_it_opened() {
    let mut sim = Sim::new().fault("begin", 1, Fault::LoseAnswer);
    drive(&mut sim, 3, r#""existingSession":"fail""#, Order::Fifo).result.unwrap();
    assert_eq!(sim.routes(), ["session", "begin", "session", "upload", "commit"]);
    assert_eq!(sim.sessions_begun, 1);
    // A begin answer that is not a session: look it up.
    let mut sim = Sim::new().fault("begin", 1, Fault::ReplaceBody(r#"{"result":"ok"}"#.into()));
    drive(&mut sim, 3, "", Order::Fifo).result.unwrap();
    assert_eq!(sim.routes(), ["session", "begin", "session", "upload", "commit"]);
}

#[test]
fn a_lost_commit_answer_is_resolved_with_the_chapter_it_created() {
    let mut sim = Sim::new().fault("commit", 1, Fault::LoseAnswer);
    let run = drive(&mut sim, 2, "", Order::Fifo);
    let json = run.result.unwrap();
    let (chapter, _, _) = sim.committed.clone().unwrap();
    assert_eq!(json.pointer("/data/id").and_then(Json::as_str), Some(chapter.as_str()));
    assert_eq!(json.get("response").and_then(Json::as_str), Some("entity"), "the shape of the commit's own answer");
    assert_eq!(json.pointer("/data/type").and_then(Json::as_str), Some("chapter"));
    assert_eq!((sim.counts["commit"], sim.counts["chapters"]), (2, 1), "committed again (404: gone), then looked up once");
    let lookup = sim.log.iter().find(|r| Sim::route(r) == "chapters").unwrap();
    assert_eq!(lookup.get_header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    let query: Vec<&str> = lookup.url.split_once('?').unwrap().1.split('&').collect();
    for p in [
        format!("manga={MANGA}"),
        "translatedLanguage[]=en".into(),
        "chapter=7".into(),
        format!("groups[]={GROUP}"),
        format!("uploader={USER}"),
        "createdAtSince=2023-11-14T22:13:19".into(),
        "contentRating[]=pornographic".into(),
        "order[createdAt]=desc".into(),
    ] {
        assert!(query.contains(&p.as_str()), "{p} in {query:?}");
    }

    // Listed only from the third lookup on (the processing queue): waited for, with growing waits.
    let mut sim = Sim::new().fault("commit", 1, Fault::LoseAnswer);
    sim.listing_delay = 2;
    let run = drive(&mut sim, 2, "", Order::Fifo);
    assert!(run.result.is_ok());
    assert_eq!(sim.counts["chapters"], 3);
    assert!(run.now - 1_700_000_000_000.0 >= (FIND_DELAYS_MS[0] + FIND_DELAYS_MS[1]) as f64, "waited between lookups");

    // Never listed (or only an older chapter of the same number): the upload fails as before,
    // after a bounded number of lookups.
    for older in [false, true] {
        let mut sim = Sim::new().fault("commit", 1, Fault::LoseAnswer);
        sim.never_listed = true;
        if older {
            sim.listed.push(format!(
                r#"{{"id":"01d00000-0000-4000-8000-000000000000","type":"chapter","attributes":{{"chapter":"7","translatedLanguage":"en","createdAt":"2023-11-14T22:00:00+00:00"}},"relationships":[{{"id":"{MANGA}","type":"manga"}},{{"id":"{GROUP}","type":"scanlation_group"}},{{"id":"{USER}","type":"user"}}]}}"#
            ));
        }
        let e = drive(&mut sim, 2, "", Order::Fifo).result.unwrap_err();
        assert_eq!((e.code, e.status), (ErrorCode::SessionExpired, Some(404)));
        assert!(e.message.contains("processing queue"), "{}", e.message);
        assert_eq!(sim.counts["chapters"], FIND_ATTEMPTS as usize);
    }
    // A commit answer that is not JSON still means the chapter exists.
    let mut sim = Sim::new().fault("commit", 1, Fault::ReplaceBody("OK".into()));
    let json = drive(&mut sim, 2, "", Order::Fifo).result.unwrap();
    assert_eq!(json.get("sessionId").and_then(Json::as_str), Some(SID));
}

/// A page edited since it was stored (same name, same size, other bytes) is not reused from an
/// open session: its `fileHash` is compared with the page's own SHA-256 — hashed on demand, only
/// for pages with a stored namesake, or known from the `integrity` option.
#[test]
fn an_edited_page_is_sent_again_when_a_session_is_resumed() {
    let stored = |i: usize, edited: bool| SimFile {
        id: format!("a0000000-0000-4000-8000-{i:012}"),
        name: part_filename(i, &format!("p{i:02}.png"), ImageKind::Png),
        size: 100 + i as u64,
        remote: false,
        // What the server holds: page 1 as it was before the user edited it.
        hash: content_hash(i, 100 + i as u64, edited),
    };
    let open = || SimSession { id: SID.into(), manga: MANGA.into(), groups: vec![GROUP.into()], chapter: None, files: vec![stored(0, false), stored(1, true), stored(2, false)] };
    for integrity in [false, true] {
        let mut sim = Sim::new().open(open());
        let mut p = proto(6, "");
        if integrity {
            p.set_file_digests((0..6).map(|i| chunkup::core::digest::sha256(&content(i, 100 + i as u64, false))).collect());
        }
        drive_with(p, 6, &mut sim, Order::Fifo, None).result.unwrap();
        let expect_hashed: Vec<usize> = if integrity { vec![] } else { vec![0, 1, 2] };
        assert_eq!(sim.hashed, expect_hashed, "integrity {integrity}: only pages with a stored namesake are hashed");
        assert_eq!(sim.deleted_files, ["a0000000-0000-4000-8000-000000000001"], "integrity {integrity}: the stale copy is deleted");
        assert_eq!((sent_count(&sim, 0), sent_count(&sim, 1), sent_count(&sim, 2)), (0, 1, 0), "integrity {integrity}");
        assert_eq!(committed_pages(&sim), (0..6).collect::<Vec<_>>());
        let expect: Vec<String> = (0..6).map(|i| content_hash(i, 100 + i as u64, false)).collect();
        assert_eq!(sim.committed_hashes, expect, "integrity {integrity}: the chapter holds the pages as they are now");
    }
}

#[test]
fn commit_errors_are_explained() {
    let mut sim = Sim::new().fault("commit", 1, Fault::Answer(Sim::error(400, "You must accept the terms of service (termsAccepted)")));
    let e = drive(&mut sim, 2, "", Order::Fifo).result.unwrap_err();
    assert_eq!((e.code, e.status), (ErrorCode::Http, Some(400)));
    assert!(e.message.contains("terms of service") && e.message.contains("set termsAccepted: true"), "{}", e.message);
}

#[test]
fn expired_tokens_are_refreshed_and_forbidden_is_final() {
    let mut sim = Sim::new();
    sim.next_token = Some("fresh-token".into());
    sim.faults.push(("upload", 1, Fault::Answer(Sim::error(401, "Token expired"))));
    drive(&mut sim, 12, r#""concurrency":1"#, Order::Fifo).result.unwrap();
    let last = sim.log.last().unwrap();
    assert_eq!(last.get_header("authorization"), Some("Bearer fresh-token"));
    assert_eq!(committed_pages(&sim), (0..12).collect::<Vec<_>>());
    assert_eq!(sent_count(&sim, 0), 2);
    let mut sim = Sim::new().fault("begin", 1, Fault::Answer(Sim::error(403, "You may not upload to this manga")));
    let e = drive(&mut sim, 2, "", Order::Fifo).result.unwrap_err();
    assert_eq!((e.code, e.status), (ErrorCode::Auth, Some(403)));
    assert!(e.message.contains("You may not upload to this manga"));
    assert!(!e.message.contains(TOKEN));
}

#[test]
fn error_statuses_map_to_codes() {
    let fail = |route: &'static str, out: Outcome| {
        let mut sim = Sim::new().fault(route, 1, Fault::Answer(out));
        drive(&mut sim, 3, "", Order::Fifo).result.unwrap_err()
    };
    let e = fail("upload", Sim::error(404, "Upload session not found"));
    assert_eq!((e.code, e.status), (ErrorCode::SessionExpired, Some(404)));
    let e = fail("upload", Sim::error(413, "Too large"));
    assert_eq!(e.code, ErrorCode::TooLarge);
    let e = fail("upload", Sim::error(400, "Expected multipart/form-data"));
    assert_eq!((e.code, e.retryable), (ErrorCode::Http, false));
    assert!(e.message.contains("Expected multipart/form-data"));
    let e = fail("session", Sim::error(400, "bad"));
    assert_eq!(e.status, Some(400));
    let e = fail("begin", Sim::error(404, "Manga not found"));
    assert!(e.message.contains("Manga not found"));
    // 5xx are retried.
    let mut sim = Sim::new().fault("upload", 1, Fault::Answer(Sim::error(503, "busy"))).fault("session", 1, Fault::Answer(Sim::error(500, "oops")));
    drive(&mut sim, 3, "", Order::Fifo).result.unwrap();
    assert_eq!(committed_pages(&sim), [0, 1, 2]);
}

#[test]
fn malformed_answers_are_typed_errors() {
    for body in ["", "null", "[]", "<html>", r#"{"result":"ok"}"#, r#"{"data":{"id":5}}"#, &format!(r#"{{"data":{{"id":"bad id/../x","relationships":[{{"id":"{MANGA}","type":"manga"}}]}}}}"#)] {
        let mut sim = Sim::new().open(SimSession { id: SID.into(), manga: MANGA.into(), groups: vec![], chapter: None, files: vec![] });
        sim.faults.push(("session", 1, Fault::Answer(resp(200, body))));
        let e = drive(&mut sim, 2, r#""groups":[]"#, Order::Fifo).result.unwrap_err();
        assert_eq!(e.code, ErrorCode::Protocol, "{body:?}: {}", e.message);
    }
    // A batch answer with a wrong shape is checked against the session, then resent.
    let mut sim = Sim::new().fault("upload", 1, Fault::Answer(resp(200, r#"{"result":"ok","data":"nope"}"#)));
    drive(&mut sim, 2, "", Order::Fifo).result.unwrap();
    assert_eq!(sim.routes(), ["session", "begin", "upload", "session", "upload", "commit"]);
    // Files in a batch answer that match no page we sent are deleted.
    let bogus = r#"{"result":"ok","errors":[],"data":[{"id":"b0000000-0000-4000-8000-000000000000","type":"upload_session_file","attributes":{"originalFileName":"999_x.png","fileSize":3}}]}"#;
    let mut sim = Sim::new().fault("upload", 1, Fault::Answer(resp(200, bogus)));
    drive(&mut sim, 2, "", Order::Fifo).result.unwrap();
    assert!(sim.routes().contains(&"delete-file"));
    assert_eq!(committed_pages(&sim), [0, 1]);
}

#[test]
fn parsers_accept_both_envelopes() {
    let bare = format!(r#"{{"id":"{SID}","type":"upload_session","attributes":{{"isCommitted":false}},"relationships":[{{"id":"{MANGA}","type":"manga"}}]}}"#);
    let s = parse_session(&bare).unwrap();
    assert_eq!((s.id.as_str(), s.manga.as_deref(), s.closed), (SID, Some(MANGA), false));
    let wrapped = format!(r#"{{"result":"ok","response":"entity","data":{bare}}}"#);
    assert_eq!(parse_session(&wrapped).unwrap(), s);
    let closed = bare.replace(r#""isCommitted":false"#, r#""isCommitted":true"#);
    assert!(parse_session(&closed).unwrap().closed);
    assert!(parse_session(r#"{"result":"ok","data":[]}"#).is_none());
    let (files, errors) = parse_batch(
        r#"{"result":"ok","errors":[{"status":400,"detail":"bad"},{"status":"x","title":"T"},{"status":70000},{"status":429}],"data":[{"id":"x","attributes":{"originalFileName":"a","fileSize":3}},{"no":"id"}]}"#,
    )
    .unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!((files[0].name.as_deref(), files[0].size), (Some("a"), Some(3)));
    let fe = |status: Option<u16>, d: &str| FileError { status, detail: d.into() };
    assert_eq!(errors, [fe(Some(400), "bad"), fe(None, "T"), fe(None, "unspecified error"), fe(Some(429), "unspecified error")]);
    assert_eq!(errors.iter().map(FileError::is_final).collect::<Vec<_>>(), [true, false, false, false]);
    assert!(parse_batch("[]").is_none());
    assert!(parse_batch(r#"{"data":{}}"#).is_none());
    assert_eq!(parse_batch(r#"{"result":"ok"}"#).unwrap(), (vec![], vec![]));
}

/// Typed answers: a value of the wrong type no longer reads as missing. Before, a string
/// `isCommitted` read as an open session (resumed), and a string `fileSize` as "size not given",
/// so the batch answer marked the page stored whatever its size.
#[test]
fn wrong_types_in_answers_are_not_read_as_absent() {
    let closed = format!(r#"{{"result":"ok","data":{{"id":"{SID}","type":"upload_session","attributes":{{"isCommitted":"true"}}}}}}"#);
    assert!(parse_session(&closed).is_none());
    let file = |attrs: &str| format!(r#"{{"result":"ok","errors":[],"data":[{{"id":"f1","type":"upload_session_file","attributes":{{"originalFileName":"001_p00.png",{attrs}}}}}]}}"#);
    assert_eq!(parse_batch(&file(r#""fileSize":100"#)).unwrap().0[0].size, Some(100));
    for bad in [r#""fileSize":"100""#, r#""fileSize":-1"#, r#""fileSize":100,"fileHash":7"#, r#""fileSize":100,"source":false"#] {
        assert!(parse_batch(&file(bad)).is_none(), "{bad}");
    }
    // In the flow: that session is not one to resume but a protocol error …
    let mut sim = Sim::new().open(SimSession { id: SID.into(), manga: MANGA.into(), groups: vec![], chapter: None, files: vec![] });
    sim.faults.push(("session", 1, Fault::Answer(resp(200, &closed))));
    let e = drive(&mut sim, 1, r#""groups":[]"#, Order::Fifo).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::Protocol, "{}", e.message);
    // … and that batch answer is checked against the session (which holds nothing) before the page
    // is sent again: the commit names only files the session holds.
    let mut sim = Sim::new().fault("upload", 1, Fault::Answer(resp(200, &file(r#""fileSize":"100""#))));
    drive(&mut sim, 1, "", Order::Fifo).result.unwrap();
    assert_eq!(sim.routes(), ["session", "begin", "upload", "session", "upload", "commit"]);
    assert_eq!(committed_pages(&sim), [0]);
}

/// Login and refresh answers are handed over as Keycloak wrote them, once they hold an
/// `access_token`: a 200 without one (or with a non-string one) is a protocol error, not a
/// "token" to upload with.
#[test]
fn token_answers_must_hold_an_access_token() {
    use chunkup::protocols::mangadex::accept_token;
    let ok = r#"{"access_token":"a1","expires_in":900,"refresh_expires_in":2592000,"refresh_token":"r1","token_type":"Bearer","scope":"email profile"}"#;
    let j = accept_token("mangadex", &Response::new(200).with_body(ok)).unwrap();
    assert_eq!(encode(&j), ok, "every field, in the server's order");
    for bad in ["", "{}", r#"{"access_token":""}"#, r#"{"access_token":7}"#, r#"{"error":"invalid_grant"}"#, "not json"] {
        let e = accept_token("mangadex", &Response::new(200).with_body(bad)).unwrap_err();
        assert_eq!((e.code, e.status), (ErrorCode::Protocol, Some(200)), "{bad:?}");
    }
}

// ---- the approval check -----------------------------------------------------------------------

fn run_check(outcomes: Vec<Outcome>) -> Result<Json, UploadError> {
    let c = ApprovalCheck::new(EP, TOKEN, MANGA, "en").unwrap();
    let mut engine = Engine::new(Box::new(c) as Box<dyn Protocol>, RetryPolicy::new(vec![5, 5]), false);
    engine.start(0.0);
    let mut outs = outcomes.into_iter();
    let mut server = |request: &Request| {
        assert_eq!(request.url, format!("{EP}/upload/check-approval-required"));
        assert_eq!(request.method, Method::Post);
        let Body::Text { text, .. } = &request.body else { panic!() };
        assert_eq!(text, &format!(r#"{{"manga":"{MANGA}","locale":"en"}}"#));
        outs.next().expect("another answer")
    };
    drive::drive(&mut engine, &mut server, Drive::new(Order::Now, 0.0, 0.0)).result
}

#[test]
fn approval_check() {
    assert_eq!(run_check(vec![resp(200, r#"{"result":"ok","requiresApproval":true}"#)]), Ok(Json::Bool(true)));
    assert_eq!(run_check(vec![Outcome::Network("x".into()), resp(200, r#"{"result":"ok","requiresApproval":false}"#)]), Ok(Json::Bool(false)));
    let e = run_check(vec![resp(404, r#"{"result":"ok"}"#)]).unwrap_err();
    assert_eq!((e.code, e.status), (ErrorCode::Http, Some(404)));
    assert!(e.message.contains(MANGA));
    assert_eq!(run_check(vec![resp(200, r#"{"result":"ok"}"#)]).unwrap_err().code, ErrorCode::Protocol);
    assert_eq!(run_check(vec![resp(200, "garbage")]).unwrap_err().code, ErrorCode::Protocol);
    assert_eq!(run_check(vec![resp(403, "{}")]).unwrap_err().code, ErrorCode::Auth);
    assert_eq!(run_check(vec![resp(401, "{}")]).unwrap_err().code, ErrorCode::Auth);
    assert_eq!(run_check(vec![resp(429, "{}"), resp(200, r#"{"requiresApproval":true}"#)]), Ok(Json::Bool(true)));
    for (m, l) in [("x", "en"), (MANGA, "EN"), (MANGA, "english")] {
        assert_eq!(ApprovalCheck::new(EP, TOKEN, m, l).unwrap_err().code, ErrorCode::InvalidInput);
    }
    assert!(ApprovalCheck::new(EP, "", MANGA, "en").is_err());
}

// ---- never panics ----------------------------------------------------------------------------

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn body_strategy() -> impl Strategy<Value = String> {
        let sess = format!(r#"{{"result":"ok","data":{{"id":"{SID}","type":"upload_session","attributes":{{}},"relationships":[{{"id":"{MANGA}","type":"manga"}},{{"id":"{GROUP}","type":"scanlation_group"}},{{"id":"f1","type":"upload_session_file","attributes":{{"originalFileName":"001_p00.png","fileSize":100}}}}]}}}}"#);
        prop_oneof![
            Just(String::new()),
            Just(sess),
            Just(r#"{"result":"ok","errors":[],"data":[{"id":"f2","attributes":{"originalFileName":"002_p01.png","fileSize":101}}]}"#.to_string()),
            Just(r#"{"result":"ok","errors":[{"detail":"x"}],"data":[]}"#.to_string()),
            Just(r#"{"result":"ok","errors":[],"data":[{"id":"f3","attributes":{"originalFileName":"001_p00.png","fileSize":100}},{"id":"f3","attributes":{"originalFileName":"001_p00.png"}}]}"#.to_string()),
            Just(r#"{"result":"ok","data":{"id":"c1","type":"chapter"}}"#.to_string()),
            Just(r#"{"result":"error","errors":[{"status":400,"detail":"terms"}]}"#.to_string()),
            Just(r#"{"data":{"id":"x y"}}"#.to_string()),
            Just(r#"{"data":{"id":"s2","attributes":{"isCommitted":true}}}"#.to_string()),
            "\\PC{0,40}",
        ]
    }

    fn outcome_strategy() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            1 => "\\PC{0,10}".prop_map(Outcome::Network),
            6 => (
                prop_oneof![Just(200u16), Just(201), Just(400), Just(401), Just(403), Just(404), Just(409), Just(410), Just(413), Just(429), Just(500), Just(503), 100u16..600],
                body_strategy(),
                proptest::option::of(prop_oneof![Just("1700000000".to_string()), Just("3".to_string()), "\\PC{0,12}"]),
            )
                .prop_map(|(status, body, ra)| {
                    let mut r = Response::new(status).with_body(&body);
                    if let Some(v) = ra {
                        r = r.with_header("X-RateLimit-Retry-After", &v).with_header("Retry-After", &v);
                    }
                    Outcome::Response(r)
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn random_answers_never_panic(n in 1usize..14, outcomes in proptest::collection::vec(outcome_strategy(), 1..60), lifo in any::<bool>(), mode in 0usize..3) {
            let extra = [r#""batchSize":3"#, r#""existingSession":"abandon""#, r#""concurrency":3,"batchSize":2"#][mode];
            let mut p = proto(n, extra);
            p.set_heads(heads(n)).unwrap();
            let mut outs = outcomes.into_iter();
            let mut inflight: Vec<Request> = Vec::new();
            for _ in 0..300 {
                let _ = p.session();
                match p.next() {
                    Next::Send(r) => {
                        inflight.push(r);
                        if inflight.len() < p.max_parallel() { continue; }
                    }
                    Next::Done(_) | Next::Fail(_) => break,
                    Next::Wait => {}
                }
                let Some(req) = (if lifo { inflight.pop() } else if inflight.is_empty() { None } else { Some(inflight.remove(0)) }) else { break };
                let Some(out) = outs.next() else { break };
                let v = p.handle(&req, out);
                if let Verdict::Reauth(_) = v { p.set_token("t2") }
                prop_assert!(p.confirmed() <= p.total());
            }
            let _ = p.cancel();
            let _ = p.cleanup_on_failure();
        }
    }
}

/// A page the shell cannot read to hash (the file changed or vanished) ends the upload with
/// `invalid-input`, before anything more is sent.
#[test]
fn a_page_that_cannot_be_hashed_ends_the_upload() {
    let stored = SimFile {
        id: "a0000000-0000-4000-8000-000000000000".into(),
        name: part_filename(0, "p00.png", ImageKind::Png),
        size: 100,
        remote: false,
        hash: content_hash(0, 100, false),
    };
    let mut sim = Sim::new().open(SimSession { id: SID.into(), manga: MANGA.into(), groups: vec![GROUP.into()], chapter: None, files: vec![stored] });
    let mut engine = Engine::new(Box::new(proto(2, "")) as Box<dyn Protocol>, RetryPolicy::new(vec![10]), false);
    engine.set_heads(heads(2));
    engine.start(0.0);
    let Action::Send { id, request } = engine.poll(0.0) else { panic!("the session is looked up first") };
    let out = sim.answer(&request);
    engine.on_outcome(id, out, 1.0);
    assert_eq!(engine.digests_wanted(), [0], "page 1 has a stored namesake");
    assert_eq!(engine.digests_wanted(), Vec::<usize>::new(), "asked once");
    engine.digests_failed("NotReadableError");
    match engine.poll(2.0) {
        Action::Finished(Err(e)) => {
            assert_eq!(e.code, ErrorCode::InvalidInput);
            assert!(e.message.contains("NotReadableError"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn helper_options_are_typed_and_name_the_bad_one() {
    use chunkup::protocols::mangadex::HelperOptions;
    let o = |text: &str| HelperOptions::read(&chunkup::core::codec::decode::<Json>(text).unwrap());
    let h = o(r#"{"authEndpoint":"https://auth.example","clientId":"c","clientSecret":"s","refreshToken":"r","chapter":{"volume":1}}"#).unwrap();
    assert_eq!((h.client_id.as_deref(), h.refresh_token.as_deref(), h.username), (Some("c"), Some("r"), None));
    for (text, key) in [(r#"{"clientSecret":1}"#, "clientSecret"), (r#"{"manga":"m","locale":true}"#, "locale")] {
        let e = o(text).err().unwrap();
        assert_eq!((e.code, e.message), (ErrorCode::InvalidInput, format!("{key} must be a string")), "{text}");
    }
    // One type for the upload's and the helpers' options: the upload's are typed for a helper
    // too, and a helper's option of the wrong type is named for an upload.
    let e = o(r#"{"authEndpoint":"https://auth.example","batchSize":"ten"}"#).err().unwrap();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::InvalidInput, "batchSize must be an integer from 1 to 10"));
    let e = from_options(EP, &opts(r#""clientSecret":1"#), &pages(1), None).err().unwrap();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::InvalidInput, "clientSecret must be a string"));
    assert!(from_options(EP, &opts(r#""clientSecret":"s","locale":"en""#), &pages(1), None).is_ok(), "given, they are ignored");
}
