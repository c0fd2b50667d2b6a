//! cloudreve protocol (sans-IO). Placeholder: being written.

use crate::core::{FileInfo, Json, UploadError};
use crate::protocols::Protocol;

pub const PROVIDER: &str = "cloudreve";

/// Builds the protocol from the caller's options (plain data; `endpoint` already absolute).
/// Validates everything; sends nothing.
pub fn from_options(_endpoint: &str, _options: &Json, _files: &[FileInfo], _chunk: Option<u64>) -> Result<Box<dyn Protocol>, UploadError> {
    Err(UploadError::invalid(PROVIDER, "provider \"cloudreve\" is not available in this build yet"))
}
