//! mangadex-specific JS functions (beyond `new Upload(…, { provider: 'mangadex' })`).
