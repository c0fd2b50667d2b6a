//! Integrity, natively: SHA-256/base64 against known vectors, the checksum PeerTube chunks ask
//! for, and the engine + PeerTube protocol against a simulated uploadx server that stores real
//! bytes, verifies `Digest: sha-256=` the way uploadx's DiskStorage does (hash what arrived,
//! 460 Checksum Mismatch and truncate back to the chunk's start on a mismatch), and corrupts
//! chosen chunks in transit. The harness plays the browser shell: it hashes exactly the bytes the
//! request's slice names and adds the header, like `src/web/integrity.rs`.
#![cfg(not(target_arch = "wasm32"))]

use chunkup::core::digest::{base64, hex, sha256, with_sha256, Checksum, Sha256Stream};
#[path = "common/json_ext.rs"]
mod json_ext;
use json_ext::JsonExt as _;
use chunkup::core::retry::RetryPolicy;
use chunkup::core::{Body, ErrorCode, FileInfo, Json, Method, Outcome, Request, Response, UploadError};
use chunkup::engine::{Action, Engine};
use chunkup::protocols::peertube::{PeerTube, MAX_CHECKSUM_RESENDS, MIN_CHUNK};
use proptest::prelude::*;
use drive::{Drive, Order};
use std::collections::HashSet;

#[path = "common/drive.rs"]
mod drive;

const EP: &str = "http://tube.test:9000";
const UPLOAD_URL: &str = "http://tube.test:9000/api/v1/videos/upload-resumable?upload_id=u1";

fn data(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn video(size: u64, chunk: u64) -> PeerTube {
    let f = FileInfo { name: "clip.mp4".into(), size, mime: "video/mp4".into(), last_modified: 1.0 };
    PeerTube::video(EP, "tok", &f, &Json::parse(r#"{"channelId":3}"#).unwrap(), Some(chunk)).unwrap()
}

/// uploadx DiskStorage, as far as integrity goes.
struct Server {
    total: u64,
    stored: Vec<u8>,
    /// Chunk PUTs (1-based, in order) whose body gets one byte flipped in transit.
    corrupt: HashSet<usize>,
    /// Corrupt every chunk.
    corrupt_all: bool,
    chunk_puts: usize,
    mismatches: usize,
    /// Digest headers seen on chunk PUTs (None: no header).
    digests: Vec<Option<String>>,
    completed: bool,
    /// uploadx's race: after a 460 a write of the refused body still pending lands after the
    /// truncation, so this many of its (corrupted) bytes stay in the file and count as stored.
    stale_after_mismatch: usize,
}

impl Server {
    fn new(total: u64) -> Self {
        Server { total, stored: Vec::new(), corrupt: HashSet::new(), corrupt_all: false, chunk_puts: 0, mismatches: 0, digests: Vec::new(), completed: false, stale_after_mismatch: 0 }
    }

    fn range(&self) -> Response {
        Response::new(308).with_header("Range", &format!("bytes=0-{}", self.stored.len() as i64 - 1))
    }

    fn answer(&mut self, req: &Request, file: &[u8]) -> Outcome {
        let r = match (req.method, &req.body) {
            (Method::Post, _) => Response::new(201).with_header("Location", UPLOAD_URL),
            (Method::Put, Body::Slice(s)) => {
                self.chunk_puts += 1;
                self.digests.push(req.get_header("Digest").map(str::to_string));
                let mut body = file[s.start as usize..s.end as usize].to_vec();
                if self.corrupt_all || self.corrupt.contains(&self.chunk_puts) {
                    let at = body.len() / 2;
                    body[at] ^= 0xff;
                }
                // uploadx: checksum of what arrived, compared with the header's.
                if let Some(d) = req.get_header("Digest") {
                    let (alg, sum) = d.split_once('=').unwrap();
                    assert_eq!(alg, "sha-256", "uploadx maps only lower-case sha-256 to sha256");
                    if base64(&sha256(&body)) != sum {
                        self.mismatches += 1;
                        self.stored.truncate(s.start as usize);
                        self.stored.extend_from_slice(&body[..self.stale_after_mismatch.min(body.len())]);
                        return Outcome::Response(
                            Response::new(460).with_body(r#"{"error":{"code":"ChecksumMismatch","message":"Checksum mismatch"}}"#),
                        );
                    }
                }
                assert!(s.start as usize <= self.stored.len(), "a gap");
                self.stored.truncate(s.start as usize);
                self.stored.extend_from_slice(&body);
                if self.stored.len() as u64 == self.total {
                    self.completed = true;
                    Response::new(200).with_body(r#"{"video":{"id":42,"shortUUID":"s","uuid":"u"}}"#)
                } else {
                    self.range()
                }
            }
            // An offset query; uploadx measures the file on disk, and a full file is complete.
            (Method::Put, _) if self.stored.len() as u64 == self.total => {
                self.completed = true;
                Response::new(200).with_body(r#"{"video":{"id":42,"shortUUID":"s","uuid":"u"}}"#)
            }
            (Method::Put, _) => self.range(),
            _ => Response::new(204),
        };
        Outcome::Response(r)
    }
}

/// Runs the upload like the browser shell with `integrity` on (or off): the chunk's own bytes
/// are hashed and the header the protocol asks for is added before sending.
fn run(size: usize, chunk: u64, server: &mut Server, integrity: bool) -> Result<Json, UploadError> {
    let file = data(size);
    let mut e = Engine::new(video(size as u64, chunk), RetryPolicy::new(vec![1; 8]), false);
    e.start(0.0);
    let mut shell = |req: &Request| {
        let mut request = req.clone();
        if integrity {
            if let Body::Slice(s) = request.body {
                let h = sha256(&file[s.start as usize..s.end as usize]);
                request.add_checksum(&h);
            }
        }
        server.answer(&request, &file)
    };
    let run = drive::drive(&mut e, &mut shell, Drive::new(Order::Now, 0.0, 1.0));
    run.result.map(|j| with_sha256(j, &[sha256(&file)]))
}

#[test]
fn sha256_base64_and_hex_match_known_vectors() {
    // FIPS 180-2 vectors.
    assert_eq!(hex(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(
        hex(&sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    let million = vec![b'a'; 1_000_000];
    let mut s = Sha256Stream::new();
    for piece in million.chunks(4096) {
        s.update(piece);
    }
    assert_eq!(hex(&s.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // RFC 4648 test vectors.
    for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
        assert_eq!(base64(i.as_bytes()), o);
    }
}

#[test]
fn peertube_chunks_ask_for_a_sha256_digest_and_nothing_else_does() {
    let mut server = Server::new(3 * MIN_CHUNK);
    let mut e = Engine::new(video(3 * MIN_CHUNK, MIN_CHUNK), RetryPolicy::default(), false);
    e.start(0.0);
    let file = data(3 * MIN_CHUNK as usize);
    let mut seen = 0;
    while let Action::Send { id, request } = e.poll(0.0) {
        match request.body {
            Body::Slice(_) => {
                assert_eq!(request.checksum, Some(Checksum::DigestSha256));
                seen += 1;
            }
            _ => assert_eq!(request.checksum, None, "{request:?}"),
        }
        let o = server.answer(&request, &file);
        e.on_outcome(id, o, 0.0);
    }
    assert_eq!(seen, 3);
    // The protocol never adds the header itself: without `integrity` nothing is hashed.
    assert!(server.digests.iter().all(Option::is_none));
}

#[test]
fn add_checksum_sets_one_digest_header() {
    let mut r = Request::new(Method::Put, UPLOAD_URL).checksum(Checksum::DigestSha256).header("Digest", "stale");
    r.add_checksum(&sha256(b"abc"));
    r.add_checksum(&sha256(b"abc"));
    let digests: Vec<_> = r.headers.iter().filter(|(k, _)| k == "Digest").collect();
    assert_eq!(digests.len(), 1);
    assert_eq!(r.get_header("Digest"), Some("sha-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="));
    // A request without a checksum gets no header.
    let mut plain = Request::new(Method::Put, UPLOAD_URL);
    plain.add_checksum(&sha256(b"abc"));
    assert!(plain.headers.is_empty());
}

#[test]
fn every_chunk_carries_its_digest_and_the_server_verifies_it() {
    let size = 5 * MIN_CHUNK as usize + 123;
    let mut server = Server::new(size as u64);
    let r = run(size, MIN_CHUNK, &mut server, true).unwrap();
    assert!(server.completed);
    assert_eq!(server.stored, data(size));
    assert_eq!(server.digests.len(), 6);
    let file = data(size);
    for (i, d) in server.digests.iter().enumerate() {
        let start = i * MIN_CHUNK as usize;
        let end = (start + MIN_CHUNK as usize).min(size);
        assert_eq!(d.as_deref(), Some(format!("sha-256={}", base64(&sha256(&file[start..end]))).as_str()));
    }
    assert_eq!(r.get("sha256").and_then(Json::as_str), Some(hex(&sha256(&file)).as_str()));
    assert_eq!(r.path("video.id").and_then(Json::as_u64), Some(42));
}

#[test]
fn a_chunk_corrupted_in_transit_is_detected_and_resent_and_the_file_ends_identical() {
    let size = 4 * MIN_CHUNK as usize;
    let mut server = Server::new(size as u64);
    server.corrupt.insert(2);
    let r = run(size, MIN_CHUNK, &mut server, true);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(server.mismatches, 1);
    assert_eq!(server.chunk_puts, 5, "the corrupted chunk is sent once more");
    assert_eq!(server.stored, data(size), "identical bytes");
}

#[test]
fn without_integrity_corruption_goes_unnoticed() {
    // Why the option exists: the same fault silently stores a wrong byte.
    let size = 4 * MIN_CHUNK as usize;
    let mut server = Server::new(size as u64);
    server.corrupt.insert(2);
    assert!(run(size, MIN_CHUNK, &mut server, false).is_ok());
    assert_eq!(server.mismatches, 0);
    assert_ne!(server.stored, data(size));
}

#[test]
fn a_chunk_that_keeps_arriving_corrupted_fails_after_bounded_resends() {
    let size = 3 * MIN_CHUNK as usize;
    let mut server = Server::new(size as u64);
    server.corrupt_all = true;
    let e = run(size, MIN_CHUNK, &mut server, true).unwrap_err();
    assert_eq!(server.chunk_puts, 1 + MAX_CHECKSUM_RESENDS as usize);
    assert_eq!(e.code, ErrorCode::Http);
    assert_eq!(e.status, Some(460));
    assert!(!e.retryable);
    assert!(e.message.contains("checksum") && e.message.contains("bytes 0-"), "{}", e.message);
    assert!(!server.completed);
}

#[test]
fn mismatches_are_counted_per_chunk() {
    // Three corrupted sends of every chunk (each then good) never fail the upload.
    let size = 3 * MIN_CHUNK as usize;
    let mut server = Server::new(size as u64);
    for k in [1, 2, 3, 5, 6, 7, 9, 10, 11] {
        server.corrupt.insert(k);
    }
    let r = run(size, MIN_CHUNK, &mut server, true);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(server.mismatches, 9);
    assert_eq!(server.stored, data(size));
}

#[test]
fn sha256_in_the_result() {
    let h1 = sha256(b"one");
    let h2 = sha256(b"two");
    let one = with_sha256(Json::object().with("a", 1u64), &[h1]);
    assert_eq!(one.get("sha256").and_then(Json::as_str), Some(hex(&h1).as_str()));
    let two = with_sha256(Json::object(), &[h1, h2]);
    let arr = two.get("sha256").and_then(Json::as_array).unwrap();
    assert_eq!(arr.iter().filter_map(Json::as_str).collect::<Vec<_>>(), vec![hex(&h1), hex(&h2)]);
    // Not an object: left alone.
    assert_eq!(with_sha256(Json::Null, &[h1]), Json::Null);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the size, chunk size and which sends are corrupted (at most three in a row for
    /// one chunk), the server ends with exactly the file's bytes.
    #[test]
    fn random_corruption_is_always_repaired(
        size in 1usize..(600 << 10),
        chunk_k in 1u64..5,
        corrupt in prop::collection::hash_set(1usize..40, 0..6),
    ) {
        let mut server = Server::new(size as u64);
        // Never more than three sends in a row: spread the chosen ones over odd send numbers.
        server.corrupt = corrupt.into_iter().map(|k| 2 * k - 1).collect();
        let r = run(size, chunk_k * MIN_CHUNK, &mut server, true);
        prop_assert!(r.is_ok(), "{:?}", r);
        prop_assert_eq!(&server.stored, &data(size));
        prop_assert_eq!(r.unwrap().get("sha256").and_then(Json::as_str).map(str::to_string), Some(hex(&sha256(&data(size)))));
    }
}

#[test]
fn mangadex_file_hash_is_compared_only_when_it_looks_like_sha256() {
    use chunkup::protocols::mangadex::hash_contradicts;
    let d: [u8; 32] = core::array::from_fn(|i| i as u8 * 7);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!hash_contradicts(Some(&hex), Some(&d)), "equal");
    assert!(!hash_contradicts(Some(&hex.to_uppercase()), Some(&d)), "case does not matter");
    let mut other = hex.clone().into_bytes();
    other[10] = if other[10] == b'a' { b'b' } else { b'a' };
    assert!(hash_contradicts(Some(std::str::from_utf8(&other).unwrap()), Some(&d)), "a different SHA-256");
    // Not SHA-256-shaped (MD5, empty, junk) or no digest known: no evidence either way.
    for r in ["", "d41d8cd98f00b204e9800998ecf8427e", &hex[..63], "zz", &format!("{hex}00")] {
        assert!(!hash_contradicts(Some(r), Some(&d)), "{r:?}");
    }
    assert!(!hash_contradicts(None, Some(&d)));
    assert!(!hash_contradicts(Some(&hex), None));
}

/// uploadx race (seen against the real @uploadx/core in the browser tests): after a 460 the
/// refused body's pending write lands after the truncation, and the next offset query reports
/// those unverified bytes as stored. The chunk is sent again from its start all the same, and the
/// server ends with exactly the file.
#[test]
fn bytes_left_behind_by_a_refused_chunk_are_not_trusted() {
    for stale in [1usize, MIN_CHUNK as usize / 2 + 1, MIN_CHUNK as usize - 1] {
        let size = 4 * MIN_CHUNK as usize + 77;
        let mut server = Server::new(size as u64);
        server.corrupt.insert(2);
        server.stale_after_mismatch = stale;
        let result = run(size, MIN_CHUNK, &mut server, true).unwrap_or_else(|e| panic!("stale {stale}: {e:?}"));
        assert_eq!(server.stored, data(size), "stale {stale}: the server holds exactly the file");
        assert_eq!(server.mismatches, 1);
        assert!(result.get("video").is_some());
    }
}

/// When the refused chunk was the last one and its leftovers fill the file, uploadx completes the
/// upload on the offset query: that is reported as an error, never as a good upload.
#[test]
fn a_completion_made_of_refused_bytes_is_an_error() {
    let size = 2 * MIN_CHUNK as usize;
    let mut server = Server::new(size as u64);
    server.corrupt.insert(2);
    server.stale_after_mismatch = MIN_CHUNK as usize;
    let e = run(size, MIN_CHUNK, &mut server, true).expect_err("not a success");
    assert_eq!(e.code, ErrorCode::Protocol);
    assert!(e.message.contains("may be corrupt"), "{}", e.message);
    assert!(!e.retryable);
}
