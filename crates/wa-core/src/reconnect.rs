//! When to try again after a lost connection: exponential backoff with jitter.
//!
//! A plain value: the caller asks for the next delay (passing an RNG for the jitter), sleeps, and
//! resets the policy once a connection succeeds.

use std::time::Duration;

use rand_core::RngCore;

/// Exponential backoff with "equal jitter": attempt `n` waits a uniformly random time in
/// `[d/2, d]` where `d = min(initial · 2ⁿ, max)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    max_attempts: Option<u32>,
    attempts: u32,
    stopped: bool,
}

impl Default for Backoff {
    /// 1 s doubling up to 60 s, without an attempt limit.
    fn default() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}

impl Backoff {
    /// A policy starting at `initial` and capped at `max`, with no attempt limit.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            max_attempts: None,
            attempts: 0,
            stopped: false,
        }
    }

    /// Gives up after `attempts` consecutive failed attempts.
    pub fn with_max_attempts(mut self, attempts: u32) -> Backoff {
        self.max_attempts = Some(attempts);
        self
    }

    /// How long to wait before the next attempt, or `None` to give up (stopped, or out of
    /// attempts). Each call counts one attempt.
    pub fn next_delay(&mut self, rng: &mut impl RngCore) -> Option<Duration> {
        if self.stopped || self.max_attempts.is_some_and(|max| self.attempts >= max) {
            return None;
        }
        let factor = 1u32.checked_shl(self.attempts.min(31)).unwrap_or(u32::MAX);
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let half = ceiling_ms / 2;
        let spread = ceiling_ms - half;
        let jitter = if spread == 0 {
            0
        } else {
            rng.next_u64() % (spread + 1)
        };
        Some(Duration::from_millis(half + jitter))
    }

    /// Consecutive attempts so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Forgets past failures (call after a successful connection).
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// Stops for good: every later [`next_delay`](Self::next_delay) returns `None`.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn delays_grow_within_jitter_bounds_and_cap() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let expected_ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
        for ceiling in expected_ceilings {
            let d = b.next_delay(&mut rng).unwrap().as_millis();
            assert!(
                (ceiling / 2..=ceiling).contains(&d),
                "{d} not in [{}, {ceiling}]",
                ceiling / 2
            );
        }
        assert_eq!(b.attempts(), 7);
        b.reset();
        let d = b.next_delay(&mut rng).unwrap().as_millis();
        assert!((50..=100).contains(&d));
    }

    #[test]
    fn jitter_comes_from_the_rng() {
        let delays = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(60));
            (0..5)
                .map(|_| b.next_delay(&mut rng).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(delays(1), delays(1));
        assert_ne!(delays(1), delays(2));
    }

    #[test]
    fn stops_and_limits() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut b = Backoff::default().with_max_attempts(2);
        assert!(b.next_delay(&mut rng).is_some());
        assert!(b.next_delay(&mut rng).is_some());
        assert_eq!(b.next_delay(&mut rng), None);
        b.reset();
        assert!(b.next_delay(&mut rng).is_some());
        b.stop();
        assert!(b.is_stopped());
        assert_eq!(b.next_delay(&mut rng), None);
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..100 {
            let d = b.next_delay(&mut rng).unwrap();
            assert!(d <= Duration::from_secs(30));
        }
    }
}
