//! Progress accounting: `loaded` never decreases and ends at `total`; speed is smoothed.

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    pub loaded: u64,
    pub total: u64,
    pub bytes_per_second: f64,
}

#[derive(Clone, Debug)]
pub struct Progress {
    total: u64,
    loaded: u64,
    bps: f64,
    last_ms: Option<f64>,
    last_loaded: u64,
}

/// Half-life of the speed average (an EMA, as Uppy's status bar uses).
const HALF_LIFE_MS: f64 = 2000.0;

impl Progress {
    pub fn new(total: u64) -> Self {
        Progress { total, loaded: 0, bps: 0.0, last_ms: None, last_loaded: 0 }
    }

    /// The total grows while a stream of unknown length is appended to; it never shrinks.
    pub fn set_total(&mut self, total: u64) {
        self.total = self.total.max(total);
    }

    /// Records `confirmed + in_flight` bytes at `now_ms`. Returns true when `loaded` moved.
    pub fn update(&mut self, now_ms: f64, confirmed: u64, in_flight: u64) -> bool {
        let candidate = confirmed.saturating_add(in_flight).min(self.total);
        let moved = candidate > self.loaded;
        if moved {
            self.loaded = candidate;
        }
        match self.last_ms {
            None => {
                self.last_ms = Some(now_ms);
                self.last_loaded = self.loaded;
            }
            Some(last) => {
                let dt = now_ms - last;
                if dt.is_finite() && dt >= 50.0 {
                    let inst = (self.loaded - self.last_loaded) as f64 * 1000.0 / dt;
                    let alpha = 1.0 - 0.5f64.powf(dt / HALF_LIFE_MS);
                    self.bps = if self.bps == 0.0 { inst } else { self.bps + alpha * (inst - self.bps) };
                    self.last_ms = Some(now_ms);
                    self.last_loaded = self.loaded;
                }
            }
        }
        moved
    }

    /// Marks the upload complete: `loaded == total`.
    pub fn finish(&mut self, now_ms: f64) -> bool {
        let total = self.total;
        self.update(now_ms, total, 0)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot { loaded: self.loaded, total: self.total, bytes_per_second: if self.bps.is_finite() { self.bps.max(0.0) } else { 0.0 } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_clamped() {
        let mut p = Progress::new(100);
        assert!(p.update(0.0, 10, 20));
        assert_eq!(p.snapshot().loaded, 30);
        assert!(!p.update(100.0, 10, 0), "a failed in-flight request must not move loaded back");
        assert_eq!(p.snapshot().loaded, 30);
        assert!(p.update(200.0, 90, 500));
        assert_eq!(p.snapshot().loaded, 100);
        assert!(!p.finish(300.0));
        assert!(p.snapshot().bytes_per_second > 0.0);
    }

    #[test]
    fn speed_tracks_rate() {
        let mut p = Progress::new(u64::MAX);
        for i in 0..100u64 {
            p.update(i as f64 * 100.0, i * 1000, 0); // 10 000 B/s
        }
        let bps = p.snapshot().bytes_per_second;
        assert!((bps - 10_000.0).abs() < 100.0, "{bps}");
    }
}
