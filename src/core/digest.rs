//! Checksums for the `integrity` option (sans-IO): SHA-256 (RustCrypto `sha2`), the encodings
//! servers expect, and the header a protocol asks for.
//!
//! A protocol marks a request whose body the server can verify with [`Checksum`]
//! (`Request::checksum`); when the page turned `integrity` on, the shell reads exactly the body's
//! bytes, hashes them (in pieces, yielding to the page between them) and adds the header from
//! [`Checksum::header`] before sending.

use sha2::{Digest, Sha256};

/// A digest a server verifies over a request's body bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// `Digest: sha-256=<base64>` (RFC 3230; verified natively by uploadx, so by PeerTube's
    /// resumable routes: a mismatch is answered 460 Checksum Mismatch).
    DigestSha256,
}

impl Checksum {
    /// The header (name, value) for body bytes whose SHA-256 is `sha256`.
    pub fn header(self, sha256: &[u8; 32]) -> (&'static str, String) {
        match self {
            Checksum::DigestSha256 => ("Digest", format!("sha-256={}", base64(sha256))),
        }
    }
}

/// Incremental SHA-256: feed pieces with `update`, read with `finish`.
#[derive(Clone, Default)]
pub struct Sha256Stream {
    inner: Sha256,
    len: u64,
}

impl Sha256Stream {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }
    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn finish(self) -> [u8; 32] {
        self.inner.finalize().into()
    }
}

impl std::fmt::Debug for Sha256Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sha256Stream({} bytes)", self.len)
    }
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Standard base64 with padding (what `Digest` and `Content-MD5` carry).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    out
}

/// Lower-case hex (what the result's `sha256` field carries).
pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(H[(b >> 4) as usize] as char);
        out.push(H[(b & 15) as usize] as char);
    }
    out
}

/// Adds `sha256` (lower-case hex; an array of them, in input order, for several files) to an
/// upload's result object. A result that is not an object is left as it is.
pub fn with_sha256(mut result: crate::core::Json, hashes: &[[u8; 32]]) -> crate::core::Json {
    use crate::core::Json;
    if let (Json::Object(map), false) = (&mut result, hashes.is_empty()) {
        let value = match hashes {
            [one] => Json::String(hex(one)),
            many => Json::Array(many.iter().map(|h| Json::String(hex(h))).collect()),
        };
        map.insert("sha256".into(), value);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(hex(&sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(base64(&sha256(b"abc")), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        let mut s = Sha256Stream::new();
        s.update(b"a");
        s.update(b"bc");
        assert_eq!(s.len(), 3);
        assert_eq!(s.finish(), sha256(b"abc"));
        let (name, value) = Checksum::DigestSha256.header(&sha256(b"abc"));
        assert_eq!((name, value.as_str()), ("Digest", "sha-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="));
    }
}
