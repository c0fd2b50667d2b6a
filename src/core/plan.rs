//! Chunk planning over u64 byte offsets (files over 4 GiB work: nothing here is 32-bit).

/// Chunk sizing for one upload: a current size within `[min, max]`, shrunk when a server
/// or proxy refuses a body as too large (413).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkPlan {
    pub total: u64,
    pub chunk: u64,
    pub min: u64,
    pub max: u64,
}

impl ChunkPlan {
    /// `chunk` is clamped into `[min, max]`; `min` ≥ 1.
    pub fn new(total: u64, chunk: u64, min: u64, max: u64) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        ChunkPlan { total, chunk: chunk.clamp(min, max), min, max }
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
}
