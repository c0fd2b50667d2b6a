//! Engine tests (in progress).
#![cfg(not(target_arch = "wasm32"))]
