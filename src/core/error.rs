//! Typed upload errors, shared by every provider. No browser types here.

use std::fmt;

/// The `code` field of the JS `UploadError` (fixed by the API contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidInput,
    Network,
    Http,
    Auth,
    Quota,
    TooLarge,
    UnsupportedType,
    SessionExpired,
    Protocol,
    Aborted,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid-input",
            ErrorCode::Network => "network",
            ErrorCode::Http => "http",
            ErrorCode::Auth => "auth",
            ErrorCode::Quota => "quota",
            ErrorCode::TooLarge => "too-large",
            ErrorCode::UnsupportedType => "unsupported-type",
            ErrorCode::SessionExpired => "session-expired",
            ErrorCode::Protocol => "protocol",
            ErrorCode::Aborted => "aborted",
        }
    }
}

/// A failure, synchronous or from a running upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadError {
    pub code: ErrorCode,
    pub status: Option<u16>,
    pub retryable: bool,
    pub provider: &'static str,
    pub message: String,
}

impl UploadError {
    pub fn new(code: ErrorCode, provider: &'static str, message: impl Into<String>) -> Self {
        Self::build(code, provider, message.into())
    }
    /// The one out-of-line constructor: the error is built here, not at each of the many call
    /// sites (a size saving in the wasm build).
    #[inline(never)]
    fn build(code: ErrorCode, provider: &'static str, message: String) -> Self {
        UploadError { code, status: None, retryable: false, provider, message }
    }
    pub fn invalid(provider: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, provider, message)
    }
    pub fn protocol(provider: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Protocol, provider, message)
    }
    pub fn aborted(provider: &'static str) -> Self {
        Self::new(ErrorCode::Aborted, provider, "the upload was aborted")
    }
    pub fn network(provider: &'static str, message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorCode::Network, provider, message);
        e.retryable = true;
        e
    }
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
    pub fn retryable(mut self, yes: bool) -> Self {
        self.retryable = yes;
        self
    }
    /// Removes every occurrence of `secret` (a token) from the message.
    pub fn redact(mut self, secret: &str) -> Self {
        self.message = crate::core::redact::redact(&self.message, &[secret]);
        self
    }
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code.as_str(), self.provider, self.message)
    }
}

impl std::error::Error for UploadError {}
