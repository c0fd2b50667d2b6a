//! MangaDex chapter uploads against the fake, in headless Chromium.
#![cfg(target_arch = "wasm32")]
