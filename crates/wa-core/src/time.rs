//! Protocol time: milliseconds since the Unix epoch, passed in by the caller.
//!
//! The core never reads a clock. A driver builds a [`Timestamp`] from the wall clock once and
//! advances it with a monotonic clock; tests step a simulated one. Wall-clock time (rather than an
//! opaque `Instant`) is what the protocol needs anyway: tags carry Unix seconds and pongs carry
//! Unix milliseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The timestamp `unix_ms` milliseconds after the Unix epoch.
    pub const fn from_unix_ms(unix_ms: u64) -> Timestamp {
        Timestamp(unix_ms)
    }

    /// The timestamp of a `SystemTime` (times before 1970 clamp to the epoch).
    pub fn from_system_time(time: SystemTime) -> Timestamp {
        let ms = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_ms(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub const fn unix_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This timestamp plus `duration` (saturating).
    pub fn saturating_add(self, duration: Duration) -> Timestamp {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturates at the epoch.
    fn sub(self, rhs: Duration) -> Timestamp {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_sub(ms))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, rhs: Duration) -> Timestamp {
        self.saturating_add(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_unix_ms(1_600_000_000_123);
        assert_eq!(t.unix_secs(), 1_600_000_000);
        assert_eq!((t + Duration::from_secs(2)).unix_ms(), 1_600_000_002_123);
        assert_eq!(
            Timestamp::from_unix_ms(u64::MAX - 1) + Duration::from_secs(1),
            Timestamp::from_unix_ms(u64::MAX)
        );
        assert_eq!(
            t.saturating_duration_since(t + Duration::from_secs(1)),
            Duration::ZERO
        );
        assert_eq!(
            (t + Duration::from_millis(7)).saturating_duration_since(t),
            Duration::from_millis(7)
        );
    }
}
