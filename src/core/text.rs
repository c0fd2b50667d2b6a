//! Substring search and slicing that never panic. `str`'s own substring patterns (`find("…")`,
//! `contains("…")`, `split("…")`, `replace`) and `&s[a..b]` bring std's string panic path into the
//! wasm module, and with it `char`'s `Debug` and the Unicode printable tables its message needs
//! (~10 KB before gzip). A match of valid UTF-8 in valid UTF-8 always starts and ends on a
//! character boundary, so the byte search below is exact.

/// The byte index of the first `needle` in `hay`.
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.as_bytes().windows(needle.len()).position(|w| w == needle.as_bytes())
}

pub fn contains(hay: &str, needle: &str) -> bool {
    find(hay, needle).is_some()
}

/// `hay` before and after the first `needle`.
pub fn split_once<'a>(hay: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let i = find(hay, needle)?;
    Some((hay.get(..i)?, hay.get(i + needle.len()..)?))
}

/// Every `from` in `hay` replaced by `to` (`from` not empty).
pub fn replace(hay: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return hay.to_string();
    }
    let mut out = String::with_capacity(hay.len());
    let mut rest = hay;
    while let Some((before, after)) = split_once(rest, from) {
        out.push_str(before);
        out.push_str(to);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `s[from..to]`, or "" where that is not a slice of `s`.
pub fn slice(s: &str, from: usize, to: usize) -> &str {
    s.get(from..to).unwrap_or("")
}

/// `s[from..]`, or "".
pub fn tail(s: &str, from: usize) -> &str {
    s.get(from..).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_and_slices() {
        assert_eq!(find("a://b", "://"), Some(1));
        assert_eq!(find("ab", "abc"), None);
        assert_eq!(find("", ""), Some(0));
        assert_eq!(find("héllo wörld", "wö"), Some(7));
        assert!(contains("x already uploaded y", "already uploaded"));
        assert_eq!(split_once("https://h/p", "://"), Some(("https", "h/p")));
        assert_eq!(split_once("no", "://"), None);
        assert_eq!(replace("a-tok-b-tok", "tok", "[r]"), "a-[r]-b-[r]");
        assert_eq!(replace("aaa", "aa", "b"), "ba");
        assert_eq!(replace("abc", "", "x"), "abc");
        assert_eq!(slice("héllo", 0, 1), "h");
        assert_eq!(slice("héllo", 0, 2), "", "inside a character");
        assert_eq!(slice("abc", 2, 9), "");
        assert_eq!(tail("abc", 1), "bc");
        assert_eq!(tail("abc", 4), "");
    }
}
