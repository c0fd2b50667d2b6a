//! Chunk planning over u64 byte offsets (files over 4 GiB work: nothing here is 32-bit).

/// A chunk that took less than this is too small for the link: double the size.
pub const GROW_BELOW_MS: f64 = 2_000.0;
/// A chunk that took more than this is too big for the link: halve the size.
pub const SHRINK_ABOVE_MS: f64 = 8_000.0;

/// Chunk sizing for one upload: a current size within `[min, max]`, shrunk when a server
/// or proxy refuses a body as too large (413). When `adaptive` (the page did not fix a chunk
/// size), [`ChunkPlan::adapt`] also scales it to the link like PeerTube's own web client
/// (ngx-uploadx `DynamicChunk`): double while a chunk takes under 2 s, halve above 8 s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkPlan {
    pub total: u64,
    pub chunk: u64,
    pub min: u64,
    pub max: u64,
    pub adaptive: bool,
}

impl ChunkPlan {
    /// `chunk` is clamped into `[min, max]`; `min` ≥ 1.
    pub fn new(total: u64, chunk: u64, min: u64, max: u64) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        ChunkPlan { total, chunk: chunk.clamp(min, max), min, max, adaptive: false }
    }

    /// An adaptive plan: starts at `chunk`, then scales within `[min, max]` (see [`ChunkPlan::adapt`]).
    pub fn adaptive(total: u64, chunk: u64, min: u64, max: u64) -> Self {
        ChunkPlan { adaptive: true, ..Self::new(total, chunk, min, max) }
    }

    /// A body of `bytes` was accepted `elapsed_ms` after it was handed to the network. Scales
    /// the chunk size by the time a full chunk would take at that rate. Ignores bodies too small
    /// to measure (under a quarter of a chunk, e.g. the file's tail) and unknown times.
    pub fn adapt(&mut self, bytes: u64, elapsed_ms: f64) {
        let measurable = elapsed_ms.is_finite() && elapsed_ms > 0.0;
        if !self.adaptive || !measurable || bytes == 0 || bytes < self.chunk / 4 {
            return;
        }
        let chunk_ms = elapsed_ms * self.chunk as f64 / bytes as f64;
        if chunk_ms < GROW_BELOW_MS {
            self.chunk = self.chunk.saturating_mul(2).min(self.max).max(self.min);
        } else if chunk_ms > SHRINK_ABOVE_MS {
            self.chunk = (self.chunk / 2).clamp(self.min, self.max);
        }
    }

    /// The range `[start, end)` of the chunk that starts at `offset`.
    /// Empty when `offset >= total`.
    pub fn range_at(&self, offset: u64) -> (u64, u64) {
        let start = offset.min(self.total);
        let end = start.saturating_add(self.chunk).min(self.total);
        (start, end)
    }

    /// Number of chunks for the whole file at the current size (0 for an empty file).
    pub fn count(&self) -> u64 {
        self.total.div_ceil(self.chunk)
    }

    /// Halves the chunk size (not below `min`) and caps `max` there. Returns false when it
    /// could not shrink any further.
    pub fn shrink(&mut self) -> bool {
        if self.chunk <= self.min {
            return false;
        }
        self.chunk = (self.chunk / 2).max(self.min);
        self.max = self.chunk;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_file_past_4_gib() {
        let total = 5 * 1024 * 1024 * 1024u64 + 7;
        let plan = ChunkPlan::new(total, 64 << 20, 1, u64::MAX);
        let mut off = 0;
        let mut n = 0;
        while off < total {
            let (s, e) = plan.range_at(off);
            assert_eq!(s, off);
            assert!(e > s && e - s <= 64 << 20);
            off = e;
            n += 1;
        }
        assert_eq!(n, plan.count());
        assert_eq!(plan.range_at(total), (total, total));
        assert_eq!(plan.range_at(u64::MAX), (total, total));
    }

    #[test]
    fn shrink_halves_and_caps() {
        let mut p = ChunkPlan::new(100, 64, 16, 1000);
        assert!(p.shrink());
        assert_eq!((p.chunk, p.max), (32, 32));
        assert!(p.shrink());
        assert!(!p.shrink());
        assert_eq!(p.chunk, 16);
        assert_eq!(ChunkPlan::new(0, 10, 1, 5).count(), 0);
        assert_eq!(ChunkPlan::new(10, 0, 0, 0).chunk, 1);
    }

    #[test]
    fn adapts_to_the_link_within_bounds() {
        let mib = 1 << 20;
        // Fixed plans never move.
        let mut fixed = ChunkPlan::new(1 << 40, 8 * mib, mib, 64 * mib);
        fixed.adapt(8 * mib, 10.0);
        assert_eq!(fixed.chunk, 8 * mib);
        let mut p = ChunkPlan::adaptive(1 << 40, 8 * mib, mib, 64 * mib);
        // Fast link: doubles per chunk up to max.
        for want in [16, 32, 64, 64] {
            p.adapt(p.chunk, 100.0);
            assert_eq!(p.chunk, want * mib);
        }
        // In the window: unchanged.
        p.adapt(p.chunk, 5_000.0);
        assert_eq!(p.chunk, 64 * mib);
        // Slow link: halves down to min.
        for want in [32, 16, 8, 4, 2, 1, 1] {
            p.adapt(p.chunk, 20_000.0);
            assert_eq!(p.chunk, want * mib);
        }
        // Tails, zero or unknown times are ignored.
        p.adapt(1, 0.001);
        p.adapt(p.chunk, 0.0);
        p.adapt(p.chunk, f64::NAN);
        assert_eq!(p.chunk, mib);
        // A 413 cap holds: growth stops at the shrunk size.
        let mut q = ChunkPlan::adaptive(1 << 40, 8 * mib, mib, 64 * mib);
        assert!(q.shrink());
        q.adapt(q.chunk, 1.0);
        assert_eq!(q.chunk, 4 * mib);
    }
}
