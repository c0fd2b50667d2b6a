//! chunkup: chunked, resumable browser uploads to PeerTube, api.video, Cloudreve and MangaDex.
//!
//! - [`core`]: plain data and pure logic (HTTP messages, JSON, URLs, chunk plan, retry, progress).
//! - [`protocols`]: each provider's protocol as a sans-IO state machine.
//! - [`engine`]: the one engine (scheduling, retries, progress, pause/resume/abort), also sans-IO.
//! - `web` (wasm only): the browser shell — `fetch` transport, timers, and the JS API.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(not(any(feature = "peertube", feature = "apivideo", feature = "cloudreve", feature = "mangadex")))]
compile_error!("chunkup needs at least one provider feature: peertube, apivideo, cloudreve or mangadex");

pub mod core;
pub mod engine;
pub mod protocols;

#[cfg(target_arch = "wasm32")]
pub mod web;
