//! Plain data for requests and responses: what a protocol asks to send and what came back.
//! The browser shell turns these into `fetch` calls; native tests answer them directly.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A byte range `[start, end)` of input file number `file`. The bytes stay in the browser's
/// Blob store: the shell hands `Blob.slice(start, end)` to the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub file: usize,
    pub start: u64,
    pub end: u64,
}

impl Slice {
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Field { name: String, value: String },
    File { name: String, filename: String, content_type: String, slice: Slice },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Empty,
    /// Raw bytes of a file slice.
    Slice(Slice),
    /// Text with its content type (JSON, form-urlencoded).
    Text { content_type: String, text: String },
    /// multipart/form-data; the shell builds a FormData (the browser sets the boundary).
    Multipart(Vec<Part>),
}

impl Body {
    pub fn json(text: String) -> Body {
        Body::Text { content_type: "application/json".into(), text }
    }
    /// Bytes of file data this body carries (for progress accounting).
    pub fn file_bytes(&self) -> u64 {
        match self {
            Body::Slice(s) => s.len(),
            Body::Multipart(parts) => parts
                .iter()
                .map(|p| match p {
                    Part::File { slice, .. } => slice.len(),
                    Part::Field { .. } => 0,
                })
                .sum(),
            _ => 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Chosen by the protocol to recognise the response (e.g. a chunk index).
    pub tag: u64,
    /// The server verifies this digest of the body (a file slice) when the request carries it:
    /// with the `integrity` option the shell hashes the bytes and adds the header.
    pub checksum: Option<crate::core::digest::Checksum>,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self::build(method, url.into())
    }
    // `build` and `push_header`: the non-generic halves, out of line so that the many call
    // sites stay small (a size saving in the wasm build).
    #[inline(never)]
    fn build(method: Method, url: String) -> Self {
        Request { method, url, headers: Vec::new(), body: Body::Empty, tag: 0, checksum: None }
    }
    pub fn header(self, name: &str, value: impl Into<String>) -> Self {
        self.push_header(name, value.into())
    }
    #[inline(never)]
    fn push_header(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_string(), value));
        self
    }
    pub fn bearer(self, token: &str) -> Self {
        if token.is_empty() {
            self
        } else {
            self.header("Authorization", format!("Bearer {token}"))
        }
    }
    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
    pub fn tag(mut self, tag: u64) -> Self {
        self.tag = tag;
        self
    }
    pub fn checksum(mut self, checksum: crate::core::digest::Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }
    /// Adds the checksum header for body bytes whose SHA-256 is `sha256` (see `checksum`).
    pub fn add_checksum(&mut self, sha256: &[u8; 32]) {
        if let Some(c) = self.checksum {
            let (name, value) = c.header(sha256);
            self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            self.headers.push((name.to_string(), value));
        }
    }
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names as received; looked up case-insensitively.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: String::new() }
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn with_body(mut self, body: &str) -> Self {
        self.body = body.to_string();
        self
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
    }
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// What became of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Response(Response),
    /// No HTTP response: connection refused or dropped, CORS failure, timeout.
    Network(String),
}

/// What the core knows about an input file (the bytes stay in the browser).
#[derive(Clone, Debug, PartialEq)]
pub struct FileInfo {
    pub name: String,
    pub size: u64,
    /// MIME type as the browser reports it; may be empty.
    pub mime: String,
    /// `File.lastModified` in ms since the epoch (0 for a plain Blob).
    pub last_modified: f64,
}
