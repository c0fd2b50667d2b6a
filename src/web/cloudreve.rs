//! cloudreve-specific JS functions (beyond `new Upload(…, { provider: 'cloudreve' })`).
