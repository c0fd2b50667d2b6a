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

/// The page hears about progress at most this often (ms), plus the final value. WebKit fires an
/// XHR upload progress event every 8 KiB on loopback (about 4,000 for 32 MiB): calling the page
/// for each would starve its own timers and rendering.
pub const REPORT_INTERVAL_MS: f64 = 50.0;

/// What to do with a progress value now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Report {
    /// Call the page now.
    Now,
    /// Held back: ask again at this time (ms) so the page still gets the latest value.
    At(f64),
    /// Nothing new, or a later report is already due.
    Nothing,
}

/// Coalesces progress reports: a new `loaded` goes to the page at once when the last report is
/// at least [`REPORT_INTERVAL_MS`] old, the first and the final (`loaded == total`) value always
/// go at once, and a value held back is asked for again when the interval ends.
#[derive(Clone, Debug, Default)]
pub struct Reporter {
    last_loaded: Option<u64>,
    last_ms: f64,
    held: bool,
}

impl Reporter {
    pub fn check(&mut self, now_ms: f64, snap: &Snapshot) -> Report {
        if self.last_loaded == Some(snap.loaded) {
            self.held = false;
            return Report::Nothing;
        }
        let elapsed = now_ms - self.last_ms;
        let due = self.last_loaded.is_none()
            || snap.loaded >= snap.total
            || !(0.0..REPORT_INTERVAL_MS).contains(&elapsed); // also a clock that went back
        if due {
            self.last_loaded = Some(snap.loaded);
            self.last_ms = now_ms;
            self.held = false;
            Report::Now
        } else if self.held {
            Report::Nothing
        } else {
            self.held = true;
            Report::At(self.last_ms + REPORT_INTERVAL_MS)
        }
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

    fn snap(loaded: u64, total: u64) -> Snapshot {
        Snapshot { loaded, total, bytes_per_second: 0.0 }
    }

    #[test]
    fn reports_are_coalesced_to_one_per_interval_plus_the_final_one() {
        let mut r = Reporter::default();
        assert_eq!(r.check(0.0, &snap(0, 100)), Report::Now, "the first value goes at once");
        assert_eq!(r.check(1.0, &snap(0, 100)), Report::Nothing, "nothing new");
        assert_eq!(r.check(10.0, &snap(8, 100)), Report::At(REPORT_INTERVAL_MS), "held back, asked again later");
        assert_eq!(r.check(20.0, &snap(16, 100)), Report::Nothing, "a later report is already due");
        assert_eq!(r.check(REPORT_INTERVAL_MS, &snap(16, 100)), Report::Now, "the held value when the interval ends");
        assert_eq!(r.check(REPORT_INTERVAL_MS + 1.0, &snap(100, 100)), Report::Now, "the final value at once");
        assert_eq!(r.check(REPORT_INTERVAL_MS + 2.0, &snap(100, 100)), Report::Nothing);
    }

    #[test]
    fn four_thousand_progress_events_make_a_sane_number_of_reports() {
        // WebKit on loopback: an event every 8 KiB of 32 MiB, 4,096 events over one second.
        let total = 32 * 1024 * 1024u64;
        let mut r = Reporter::default();
        let mut reports = 0;
        let mut last = 0;
        for i in 0..=4096u64 {
            let t = i as f64 * 1000.0 / 4096.0;
            if r.check(t, &snap(i * 8192, total)) == Report::Now {
                reports += 1;
                last = i * 8192;
            }
        }
        assert_eq!(last, total, "the final value is reported");
        assert!((20..=22).contains(&reports), "one report per 50 ms plus the first and last: {reports}");
    }

    #[test]
    fn a_clock_that_goes_back_does_not_hold_reports_forever() {
        let mut r = Reporter::default();
        assert_eq!(r.check(1000.0, &snap(0, 100)), Report::Now);
        assert_eq!(r.check(10.0, &snap(5, 100)), Report::Now);
    }
}
