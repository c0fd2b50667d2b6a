//! The `integrity` option in the browser: hashes exactly the bytes a request sends (read once from
//! the Blob with `arrayBuffer()`), SHA-256 in wasm in small pieces with a yield to the page
//! between them (never more than [`BUDGET_MS`] of hashing in one go), adds the checksum header the
//! protocol asked for, and adds the whole input's SHA-256 to the result.

use super::Lock;
use super::env::{monotonic as now, read, yield_now};
use crate::core::digest::{with_sha256, Sha256Stream};
use crate::core::{Json, Slice};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

/// Hashing in one go before yielding to the page (well under the 50 ms of a "long task").
pub const BUDGET_MS: f64 = 8.0;
/// Bytes hashed between two clock reads.
const PIECE: usize = 256 << 10;
/// Bytes read from a Blob at once: a 64 MiB chunk is read and hashed in 8 windows, so no more
/// than this is held in memory per hashing (less garbage, shorter copies on the main thread).
const WINDOW: u64 = 8 << 20;

/// Per upload: a running SHA-256 of each input file, fed while chunks are hashed in order.
#[derive(Debug, Default)]
pub struct State {
    /// Per file: bytes hashed so far from its start and the running hash (None while in use).
    files: Vec<(u64, Option<Sha256Stream>)>,
    /// The longest stretch of hashing without a yield, in ms (for tests and the benchmark).
    pub longest_ms: f64,
    /// Bytes hashed in all (chunks and whole files).
    pub hashed: u64,
    /// Whole-file digests computed before the upload ([`file_digests`]), reused by [`finish`].
    before: Option<Vec<[u8; 32]>>,
    /// The next chunk, hashed while the current one is on the wire ([`hash_ahead`]).
    ahead: Option<Ahead>,
}

/// The chunk after the one on the wire, hashed ahead of its request ([`hash_ahead`]).
#[derive(Debug)]
struct Ahead {
    file: usize,
    start: u64,
    /// Where that chunk may end (ascending): the same size as the current one, half or double
    /// it (an adaptive chunk size changes by those steps), clipped to the file's end.
    ends: Vec<u64>,
    /// Resolves when the background hashing has stopped.
    done: js_sys::Promise,
    out: Rc<RefCell<AheadOut>>,
}

#[derive(Debug, Default)]
struct AheadOut {
    /// Per end passed so far: the digest of `start..end`, and the file's running hash advanced
    /// to `end` (a copy: the running hash itself moves only when a guess is used).
    snaps: Vec<(u64, [u8; 32], Option<Sha256Stream>)>,
    /// Set when the real request came: stop once this end is passed (0: stop now).
    stop_at: Option<u64>,
}

pub type Shared = Rc<RefCell<State>>;

pub fn new_state() -> Shared {
    Rc::new(RefCell::new(State::default()))
}

/// Hashes `bytes` into every stream in `into`, yielding whenever the budget is used up.
async fn hash_bytes(state: &Shared, bytes: &js_sys::Uint8Array, into: &mut [&mut Sha256Stream], started: &mut f64) {
    let len = bytes.length() as usize;
    let mut buf = vec![0u8; PIECE.min(len)];
    let mut at = 0usize;
    while at < len {
        let n = PIECE.min(len - at);
        bytes.subarray(at as u32, (at + n) as u32).copy_to(&mut buf[..n]);
        for h in into.iter_mut() {
            h.update(&buf[..n]);
        }
        at += n;
        let t = now();
        if t - *started >= BUDGET_MS && at < len {
            note_block(state, t - *started);
            yield_now().await;
            *started = now();
        }
    }
    state.write().hashed += len as u64;
}

fn note_block(state: &Shared, ms: f64) {
    let mut s = state.write();
    if ms > s.longest_ms {
        s.longest_ms = ms;
    }
}

/// Reads bytes `start..end` of `blob` once, window by window, into every stream of `into`;
/// before each window `stop(at)` may end it early. Returns where it got to.
async fn hash_range(
    state: &Shared,
    blob: &Blob,
    start: u64,
    end: u64,
    into: &mut [&mut Sha256Stream],
    stop: &dyn Fn(u64) -> bool,
) -> Result<u64, String> {
    let mut at = start;
    while at < end && !stop(at) {
        let to = at.saturating_add(WINDOW).min(end);
        let bytes = read(blob, at as f64, to as f64).await?;
        if bytes.length() as u64 != to - at {
            return Err("the file changed while it was being uploaded".into());
        }
        let mut started = now();
        hash_bytes(state, &bytes, into, &mut started).await;
        note_block(state, now() - started);
        at = to;
    }
    Ok(at)
}

const NEVER: &dyn Fn(u64) -> bool = &|_| false;

/// Starts hashing, in the background, the chunk that most likely follows `sent` (the chunk just
/// sent): it starts where `sent` ends and ends after the same size, half or double (what an
/// adaptive chunk size picks), so its hashing overlaps `sent`'s upload instead of delaying the
/// next request. One pass from its start gives the digests of all three lengths; it goes on to
/// the longest only until the real request comes. [`hash_slice`] for a slice starting there and
/// ending at one of them takes the result; a request for anything else ignores it.
pub fn hash_ahead(state: &Shared, files: &[Blob], sent: Slice) {
    let Some(blob) = files.get(sent.file).cloned() else { return };
    let size = blob.size() as u64;
    let (start, len) = (sent.end, sent.len());
    // Nothing after it, or already guessed (this chunk was sent again, e.g. after a 460).
    if start >= size || len == 0 || state.read().ahead.as_ref().is_some_and(|a| a.file == sent.file && a.start == start) {
        return;
    }
    let mut ends: Vec<u64> = [len / 2, len, len.saturating_mul(2)].iter().filter(|n| **n > 0).map(|n| start.saturating_add(*n).min(size)).collect();
    ends.dedup();
    let mut resolve = None;
    let done = js_sys::Promise::new(&mut |res, _| resolve = Some(res));
    let Some(resolve) = resolve else { return };
    let out = Rc::new(RefCell::new(AheadOut::default()));
    // A copy of the file's running hash when the chunk continues it.
    let running = {
        let s = state.read();
        match s.files.get(sent.file) {
            Some((upto, Some(h))) if *upto == start => Some(h.clone()),
            _ => None,
        }
    };
    let last = ends.last().copied().unwrap_or(start);
    if let Some(old) = state.write().ahead.replace(Ahead { file: sent.file, start, ends: ends.clone(), done, out: out.clone() }) {
        old.out.write().stop_at = Some(0);
    }
    let state = state.clone();
    super::spawn_local(async move {
        let mut running = running;
        let mut chunk = Sha256Stream::new();
        let mut at = start;
        let stop = |at: u64| out.read().stop_at.is_some_and(|b| at >= b);
        for end in ends {
            // Hash up to this end, unless told to stop.
            let mut into: Vec<&mut Sha256Stream> = vec![&mut chunk];
            if let Some(r) = running.as_mut() {
                into.push(r);
            }
            match hash_range(&state, &blob, at, end, &mut into, &stop).await {
                Ok(reached) => at = reached,
                Err(_) => break,
            }
            if at != end {
                break;
            }
            out.write().snaps.push((end, chunk.clone().finish(), running.clone()));
            if end == last || out.read().stop_at.is_some_and(|b| end >= b) {
                break;
            }
        }
        let _ = resolve.call0(&JsValue::NULL);
    });
}

/// Stops hashing ahead (the upload ended: nothing will ask for it).
pub fn stop_ahead(state: &Shared) {
    if let Some(a) = state.write().ahead.take() {
        a.out.write().stop_at = Some(0);
    }
}

/// The digest of `slice` if [`hash_ahead`] guessed it (waiting for the hashing to get there);
/// moves the file's running hash over the slice when it was still where the guess began.
async fn take_ahead(state: &Shared, slice: Slice) -> Option<[u8; 32]> {
    let ahead = {
        let mut s = state.write();
        match s.ahead.take() {
            Some(a) if a.file == slice.file && a.start == slice.start => a,
            other => {
                // A guess further on stays (this is a chunk sent again); any other is dropped.
                s.ahead = match other {
                    Some(a) if a.file == slice.file && a.start > slice.start => Some(a),
                    Some(a) => {
                        a.out.write().stop_at = Some(0);
                        None
                    }
                    None => None,
                };
                return None;
            }
        }
    };
    let wanted = ahead.ends.contains(&slice.end);
    ahead.out.write().stop_at = Some(if wanted { slice.end } else { 0 });
    if !wanted {
        return None;
    }
    let _ = JsFuture::from(ahead.done).await;
    let (digest, running) = {
        let mut out = ahead.out.write();
        let i = out.snaps.iter().position(|(end, _, _)| *end == slice.end)?;
        let (_, digest, running) = out.snaps.swap_remove(i);
        (digest, running)
    };
    if let Some(r) = running {
        let mut s = state.write();
        if let Some(entry) = s.files.get_mut(slice.file) {
            if entry.0 == slice.start && entry.1.is_some() {
                *entry = (slice.end, Some(r));
            }
        }
    }
    Some(digest)
}

/// SHA-256 of exactly the bytes of `slice` (what the request sends). When the slice continues
/// its file's running hash, that is fed in the same pass.
pub async fn hash_slice(state: &Shared, files: &[Blob], slice: Slice) -> Result<[u8; 32], String> {
    if let Some(digest) = take_ahead(state, slice).await {
        return Ok(digest);
    }
    let blob = files.get(slice.file).ok_or("no such input file")?;
    // Take the file's running hash if this slice continues it (on a read error it stays taken:
    // the whole file is then hashed anew at the end).
    let mut running = {
        let mut s = state.write();
        if s.files.len() < files.len() {
            s.files.resize_with(files.len(), || (0, Some(Sha256Stream::new())));
        }
        match s.files.get_mut(slice.file) {
            Some((upto, h)) if *upto == slice.start => h.take(),
            _ => None,
        }
    };
    let mut chunk = Sha256Stream::new();
    {
        let mut into: Vec<&mut Sha256Stream> = vec![&mut chunk];
        if let Some(r) = running.as_mut() {
            into.push(r);
        }
        hash_range(state, blob, slice.start, slice.end, &mut into, NEVER).await?;
    }
    if let Some(r) = running {
        if let Some(entry) = state.write().files.get_mut(slice.file) {
            *entry = (slice.end, Some(r));
        }
    }
    Ok(chunk.finish())
}

/// SHA-256 of a whole file, read window by window.
async fn hash_file(state: &Shared, blob: &Blob) -> Result<[u8; 32], String> {
    let mut h = Sha256Stream::new();
    hash_range(state, blob, 0, blob.size() as u64, &mut [&mut h], NEVER).await?;
    Ok(h.finish())
}

/// Adds the input's SHA-256 (`sha256`: hex, an array of them for several files) to the result;
/// file hashes built while the chunks went out are reused, the others are computed now. The
/// upload itself is done: if an input cannot be read again, the result comes without `sha256`.
pub async fn finish(state: &Shared, files: &[Blob], result: Json) -> Json {
    match hashes(state, files).await {
        Ok(h) => with_sha256(result, &h),
        Err(_) => result,
    }
}

/// The SHA-256 of every input file, read now (before the upload starts); kept for the result.
pub async fn file_digests(state: &Shared, files: &[Blob]) -> Result<Vec<[u8; 32]>, String> {
    let mut out = Vec::with_capacity(files.len());
    for blob in files {
        out.push(hash_file(state, blob).await?);
    }
    state.write().before = Some(out.clone());
    Ok(out)
}

/// The SHA-256 of input files `which`, read now: a protocol asked for them mid-upload (see
/// `Protocol::take_digests_wanted`), with or without the `integrity` option.
pub async fn some_digests(state: &Shared, files: &[Blob], which: &[usize]) -> Result<Vec<(usize, [u8; 32])>, String> {
    let mut out = Vec::with_capacity(which.len());
    for &i in which {
        let blob = files.get(i).ok_or("no such input file")?;
        out.push((i, hash_file(state, blob).await?));
    }
    Ok(out)
}

async fn hashes(state: &Shared, files: &[Blob]) -> Result<Vec<[u8; 32]>, String> {
    if let Some(before) = state.read().before.clone() {
        return Ok(before);
    }
    let mut hashes = Vec::with_capacity(files.len());
    for (i, blob) in files.iter().enumerate() {
        let running = {
            let mut s = state.write();
            match s.files.get_mut(i) {
                Some((upto, h)) if *upto as f64 == blob.size() => h.take(),
                _ => None,
            }
        };
        let hash = match running {
            Some(h) => h.finish(),
            None => hash_file(state, blob).await?,
        };
        hashes.push(hash);
    }
    Ok(hashes)
}
