//! Exponential backoff with full jitter (a random pause between zero and the ceiling).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The first ceiling: the first retry comes within 100 ms.
const BASE: Duration = Duration::from_millis(100);

pub struct Backoff {
    ceiling: Duration,
    cap: Duration,
    state: u64,
}

impl Backoff {
    pub fn new(cap: Duration) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self::with_seed(
            cap,
            u64::from(nanos) ^ (u64::from(std::process::id()) << 32),
        )
    }

    fn with_seed(cap: Duration, seed: u64) -> Self {
        Backoff {
            ceiling: BASE.min(cap),
            cap,
            state: seed | 1,
        }
    }

    /// The next pause: uniform in [0, ceiling]; the ceiling doubles up to the cap.
    pub fn next(&mut self) -> Duration {
        // xorshift64*: plenty for jitter, no dependency.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let r = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        let fraction = r as f64 / (1u64 << 53) as f64;
        let pause = self.ceiling.mul_f64(fraction);
        self.ceiling = (self.ceiling * 2).min(self.cap);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_retry_within_100ms_then_doubling_up_to_the_cap() {
        for seed in 0..50 {
            let mut b = Backoff::with_seed(Duration::from_secs(1), seed);
            let pauses: Vec<Duration> = (0..10).map(|_| b.next()).collect();
            assert!(pauses[0] <= Duration::from_millis(100));
            assert!(pauses[1] <= Duration::from_millis(200));
            assert!(pauses[2] <= Duration::from_millis(400));
            assert!(pauses.iter().all(|p| *p <= Duration::from_secs(1)));
        }
    }

    #[test]
    fn jitter_spreads_pauses() {
        let mut b = Backoff::with_seed(Duration::from_secs(1), 7);
        for _ in 0..4 {
            b.next();
        }
        let pauses: Vec<Duration> = (0..100).map(|_| b.next()).collect();
        let small = pauses
            .iter()
            .filter(|p| **p < Duration::from_millis(500))
            .count();
        assert!(
            (20..80).contains(&small),
            "{small} of 100 below half the cap"
        );
    }

    #[test]
    fn a_small_cap_caps_the_first_ceiling_too() {
        let mut b = Backoff::with_seed(Duration::from_millis(10), 3);
        assert!((0..20).all(|_| b.next() <= Duration::from_millis(10)));
    }
}
