//! Checks on the pages before anything is sent: count and sizes ([`check_sizes`]), the image type
//! and dimensions from each file's first bytes ([`sniff`], [`dimensions`], [`check_head`]), and
//! the name each page is sent under ([`part_filename`]).

use super::{MAX_DIMENSION, MAX_FILE_BYTES, MAX_PAGES, MAX_SESSION_BYTES, PROVIDER};
use crate::core::{FileInfo, UploadError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Gif,
}

impl ImageKind {
    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Gif => "image/gif",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Gif => "gif",
        }
    }
}

/// The image type from the first bytes (never from the name), or why the file is refused.
pub fn sniff(head: &[u8]) -> Result<ImageKind, String> {
    const REFUSED: &str = "MangaDex takes JPEG, PNG and GIF only";
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageKind::Jpeg);
    }
    if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Ok(ImageKind::Png);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Ok(ImageKind::Gif);
    }
    let what = if head.is_empty() {
        return Err("the file is empty".into());
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        "a WebP image"
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" {
        "an AVIF/HEIF image or a video"
    } else if head.starts_with(b"BM") {
        "a BMP image"
    } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        "a TIFF image"
    } else if head.starts_with(&[0xFF, 0x0A]) || head.starts_with(&[0, 0, 0, 0x0C, b'J', b'X', b'L', b' ']) {
        "a JPEG XL image"
    } else if head.starts_with(b"PK\x03\x04") {
        "a ZIP/CBZ archive"
    } else if head.starts_with(b"Rar!") {
        "a RAR/CBR archive"
    } else if head.starts_with(b"7z\xBC\xAF") {
        "a 7z archive"
    } else if head.starts_with(b"%PDF") {
        "a PDF document"
    } else if head.starts_with(b"GIF8") || head.starts_with(&[0x89, b'P', b'N', b'G']) {
        "a damaged image header"
    } else if looks_like_text(head) {
        "text, not an image"
    } else {
        "not a JPEG, PNG or GIF image"
    };
    Err(format!("it is {what}; {REFUSED}"))
}

fn looks_like_text(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(512)];
    let text = match std::str::from_utf8(sample) {
        Ok(s) => s,
        // A multi-byte character cut at the end of the sample is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&sample[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return false,
    };
    !text.is_empty() && text.chars().all(|c| !c.is_control() || c.is_whitespace())
}

/// Width and height from the image header, when the head holds them.
pub fn dimensions(kind: ImageKind, head: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| head.get(i..i + 2).map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])));
    let be32 = |i: usize| head.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    match kind {
        ImageKind::Png => {
            if head.get(12..16)? != b"IHDR" {
                return None;
            }
            Some((be32(16)?, be32(20)?))
        }
        ImageKind::Gif => {
            let b = head.get(6..10)?;
            Some((u32::from(u16::from_le_bytes([b[0], b[1]])), u32::from(u16::from_le_bytes([b[2], b[3]]))))
        }
        ImageKind::Jpeg => {
            let mut i = 2;
            loop {
                if *head.get(i)? != 0xFF {
                    return None;
                }
                let mut marker = *head.get(i + 1)?;
                while marker == 0xFF {
                    i += 1;
                    marker = *head.get(i + 1)?;
                }
                match marker {
                    0x01 | 0xD0..=0xD7 => i += 2,
                    0xD8..=0xDA => return None,
                    0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                        // SOFn: length(2) precision(1) height(2) width(2)
                        return Some((be16(i + 7)?, be16(i + 5)?));
                    }
                    _ => {
                        let len = be16(i + 2)? as usize;
                        if len < 2 {
                            return None;
                        }
                        i += 2 + len;
                    }
                }
            }
        }
    }
}

/// Type and dimensions of one page from its head.
pub fn check_head(head: &[u8]) -> Result<ImageKind, String> {
    let kind = sniff(head)?;
    if let Some((w, h)) = dimensions(kind, head) {
        if w >= MAX_DIMENSION || h >= MAX_DIMENSION {
            return Err(format!(
                "the image is {w}×{h} px; MangaDex takes images below {MAX_DIMENSION} px in width and height (split long strips)"
            ));
        }
    }
    Ok(kind)
}

pub(super) fn page_label(index: usize, name: &str) -> String {
    let name = crate::core::truncate(name, 80);
    if name.is_empty() {
        format!("page {} (index {index})", index + 1)
    } else {
        format!("page {} (index {index}, {})", index + 1, crate::core::quoted(&name))
    }
}

/// "20.0 MB" (rounded half up to tenths; integer arithmetic, no float formatting in the binary).
fn megabytes(bytes: u64) -> String {
    let tenths = bytes.saturating_add(50_000) / 100_000;
    format!("{}.{} MB", tenths / 10, tenths % 10)
}

pub(super) fn invalid_pages(problems: Vec<String>) -> UploadError {
    let n = problems.len();
    let noun = if n == 1 { "page cannot" } else { "pages cannot" };
    UploadError::invalid(PROVIDER, format!("{n} {noun} be uploaded to MangaDex: {}", problems.join("; ")))
}

/// Count and sizes, before anything is read: every bad page in one `invalid-input` error.
pub fn check_sizes(files: &[FileInfo]) -> Result<(), UploadError> {
    if files.is_empty() {
        return Err(UploadError::invalid(PROVIDER, "no pages given: a chapter needs 1 to 500 images"));
    }
    if files.len() > MAX_PAGES {
        return Err(UploadError::invalid(
            PROVIDER,
            format!("{} pages given; MangaDex takes at most {MAX_PAGES} pages per chapter", files.len()),
        ));
    }
    let mut problems = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if f.size == 0 {
            problems.push(format!("{}: the file is empty", page_label(i, &f.name)));
        } else if f.size > MAX_FILE_BYTES {
            problems.push(format!(
                "{}: {} is over MangaDex's limit of {} per image",
                page_label(i, &f.name),
                megabytes(f.size),
                megabytes(MAX_FILE_BYTES)
            ));
        }
    }
    if !problems.is_empty() {
        return Err(invalid_pages(problems));
    }
    let total: u64 = files.iter().map(|f| f.size).sum();
    if total > MAX_SESSION_BYTES {
        let e = UploadError::invalid(
            PROVIDER,
            format!("the chapter is {}; MangaDex takes at most {} per upload session", megabytes(total), megabytes(MAX_SESSION_BYTES)),
        );
        return Err(e);
    }
    Ok(())
}

/// The name a page is sent under: unique per page, stable across attempts, safe in a multipart
/// header: `007_scan.png`.
pub fn part_filename(index: usize, original: &str, kind: ImageKind) -> String {
    let base = original.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = match base.rfind('.') {
        Some(dot) if dot > 0 => base.get(..dot).unwrap_or(base),
        _ => base,
    };
    let mut clean: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(60)
        .collect();
    if clean.trim_matches('_').is_empty() {
        clean = "page".into();
    }
    format!("{:03}_{clean}.{}", index + 1, kind.extension())
}
