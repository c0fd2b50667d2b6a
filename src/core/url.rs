//! Just enough URL handling for upload protocols: resolve a `Location` against the request URL,
//! compare origins, build query strings. Inputs are absolute `http(s)://` URLs (the shell resolves
//! a relative `endpoint` such as `/mangadex-api` against the page before the core sees it).

/// Splits an absolute URL into (scheme, authority, path+query+fragment).
fn split(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = crate::core::text::split_once(url, "://")?;
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.') {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at_checked(end)?;
    if authority.is_empty() {
        return None;
    }
    Some((scheme, authority, tail))
}

/// Is this an absolute http(s) URL with a host?
pub fn is_absolute_http(url: &str) -> bool {
    match split(url) {
        Some((scheme, authority, _)) => {
            (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
                && !authority.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// `scheme://authority` of an absolute URL, lowercased, default ports removed.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, authority, _) = split(url)?;
    let scheme = scheme.to_ascii_lowercase();
    let host = authority.rsplit('@').next().unwrap_or(authority).to_ascii_lowercase();
    let host = match (scheme.as_str(), host.strip_suffix(":80"), host.strip_suffix(":443")) {
        ("http", Some(h), _) => h.to_string(),
        ("https", _, Some(h)) => h.to_string(),
        _ => host,
    };
    Some(format!("{scheme}://{host}"))
}

pub fn same_origin(a: &str, b: &str) -> bool {
    matches!((origin(a), origin(b)), (Some(x), Some(y)) if x == y)
}

/// Resolves `reference` against the absolute URL `base` (RFC 3986 §5.2, without the corner
/// cases uploads never meet). Returns None when `base` is not absolute or `reference` is empty.
pub fn resolve(base: &str, reference: &str) -> Option<String> {
    let reference = reference.trim();
    if reference.is_empty() {
        return None;
    }
    let (scheme, authority, base_path) = split(base)?;
    if split(reference).is_some() {
        return Some(reference.to_string());
    }
    if let Some(rest) = reference.strip_prefix("//") {
        if rest.is_empty() {
            return None;
        }
        return Some(format!("{scheme}://{rest}"));
    }
    let base_path_only = base_path.split(['?', '#']).next().unwrap_or("");
    let base_path_only = if base_path_only.is_empty() { "/" } else { base_path_only };
    let path = if reference.starts_with('/') {
        reference.to_string()
    } else if reference.starts_with('?') {
        format!("{base_path_only}{reference}")
    } else if reference.starts_with('#') {
        let no_frag = base_path.split('#').next().unwrap_or("");
        format!("{no_frag}{reference}")
    } else {
        let dir = match base_path_only.rfind('/') {
            Some(i) => base_path_only.get(..=i).unwrap_or("/"),
            None => "/",
        };
        format!("{dir}{reference}")
    };
    Some(format!("{scheme}://{authority}{}", remove_dot_segments(&path)))
}

fn remove_dot_segments(path_and_query: &str) -> String {
    let split_at = path_and_query.find(['?', '#']).unwrap_or(path_and_query.len());
    let (path, tail) = path_and_query.split_at_checked(split_at).unwrap_or((path_and_query, ""));
    if !crate::core::text::contains(path, "/.") {
        return path_and_query.to_string();
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut joined = out.join("/");
    if !joined.starts_with('/') {
        joined.insert(0, '/');
    }
    joined + tail
}

/// `endpoint` (an API root, with or without trailing slash) joined with an absolute API path.
pub fn join(endpoint: &str, path: &str) -> String {
    format!("{}/{}", endpoint.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
    out
}

/// `application/x-www-form-urlencoded` body from pairs.
pub fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_location_forms() {
        let base = "http://127.0.0.1:9000/api/v1/videos/upload-resumable";
        assert_eq!(
            resolve(base, "//127.0.0.1:9000/api/v1/videos/upload-resumable?upload_id=a").as_deref(),
            Some("http://127.0.0.1:9000/api/v1/videos/upload-resumable?upload_id=a")
        );
        assert_eq!(
            resolve(base, "https://tube.example/api/v1/videos/upload-resumable?upload_id=a").as_deref(),
            Some("https://tube.example/api/v1/videos/upload-resumable?upload_id=a")
        );
        assert_eq!(
            resolve(base, "/api/v1/videos/upload-resumable?upload_id=a").as_deref(),
            Some("http://127.0.0.1:9000/api/v1/videos/upload-resumable?upload_id=a")
        );
        assert_eq!(resolve(base, "?upload_id=b").as_deref(), Some("http://127.0.0.1:9000/api/v1/videos/upload-resumable?upload_id=b"));
        assert_eq!(resolve(base, "x/../y").as_deref(), Some("http://127.0.0.1:9000/api/v1/videos/y"));
        assert_eq!(resolve(base, "../../z").as_deref(), Some("http://127.0.0.1:9000/api/z"));
        assert_eq!(resolve(base, ""), None);
        assert_eq!(resolve(base, "//"), None);
        assert_eq!(resolve("not a url", "/x"), None);
    }

    #[test]
    fn origins() {
        assert_eq!(origin("HTTP://Example.com:80/a").as_deref(), Some("http://example.com"));
        assert!(same_origin("https://a.b/x", "https://a.b:443/y?z"));
        assert!(!same_origin("https://a.b/x", "http://a.b/x"));
        assert!(!same_origin("https://a.b/x", "https://evil.a.b/x"));
        assert!(!same_origin("https://a.b@evil.c/x", "https://a.b/x"));
        assert!(is_absolute_http("http://127.0.0.1:1/"));
        assert!(!is_absolute_http("/relative"));
        assert!(!is_absolute_http("ftp://x/"));
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_component("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(form_urlencoded(&[("grant_type", "password"), ("username", "a@b")]), "grant_type=password&username=a%40b");
        assert_eq!(join("https://x/api/", "/v1/a"), "https://x/api/v1/a");
    }
}
