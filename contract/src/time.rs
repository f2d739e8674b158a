//! Typed wire time: every time in the contract is an integer of epoch milliseconds on the
//! server's clock, every duration an integer of milliseconds. The newtypes serialize as
//! those plain integers (`#[serde(transparent)]`) but do not mix: a duration cannot be
//! passed where an instant is expected, nor a server instant where a duration is.

use serde::{Deserialize, Serialize};

/// An instant on the server's clock, in milliseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ServerTime(i64);

impl ServerTime {
    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The instant `by` later, saturating at the ends of the range.
    pub const fn saturating_add(self, by: DurationMs) -> Self {
        Self(self.0.saturating_add(by.0))
    }

    /// The instant `by` earlier, saturating at the ends of the range.
    pub const fn saturating_sub(self, by: DurationMs) -> Self {
        Self(self.0.saturating_sub(by.0))
    }

    /// How long after `earlier` this instant is (negative when it is before it).
    pub const fn since(self, earlier: ServerTime) -> DurationMs {
        DurationMs(self.0.saturating_sub(earlier.0))
    }
}

/// A duration in milliseconds (wire fields ending in `_ms`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct DurationMs(i64);

impl DurationMs {
    /// No time at all.
    pub const ZERO: Self = Self(0);
    /// One second.
    pub const SECOND: Self = Self(1_000);
    /// One minute.
    pub const MINUTE: Self = Self(60_000);
    /// One day.
    pub const DAY: Self = Self(24 * 60 * 60_000);

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// The duration in milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// `n` times this duration, saturating.
    pub const fn times(self, n: i64) -> Self {
        Self(self.0.saturating_mul(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_plain_integers_on_the_wire() {
        let at = ServerTime::from_millis(1_764_000_000_000);
        assert_eq!(serde_json::to_string(&at).unwrap(), "1764000000000");
        assert_eq!(
            serde_json::from_str::<ServerTime>("1764000000000").unwrap(),
            at
        );
        let lead = DurationMs::from_millis(60_000);
        assert_eq!(serde_json::to_string(&lead).unwrap(), "60000");
        assert_eq!(serde_json::from_str::<DurationMs>("60000").unwrap(), lead);
        assert!(serde_json::from_str::<ServerTime>("1.5").is_err());
    }

    #[test]
    fn arithmetic_saturates_and_keeps_the_types_apart() {
        let at = ServerTime::from_millis(1_000);
        assert_eq!(at.saturating_add(DurationMs::SECOND).as_millis(), 2_000);
        assert_eq!(at.saturating_sub(DurationMs::SECOND).as_millis(), 0);
        assert_eq!(
            ServerTime::from_millis(i64::MAX).saturating_add(DurationMs::DAY),
            ServerTime::from_millis(i64::MAX)
        );
        assert_eq!(
            ServerTime::from_millis(5_000).since(at),
            DurationMs::from_millis(4_000)
        );
        assert_eq!(at.since(ServerTime::from_millis(5_000)).as_millis(), -4_000);
        assert_eq!(DurationMs::MINUTE.times(15).as_millis(), 900_000);
        assert_eq!(DurationMs::DAY.times(i64::MAX).as_millis(), i64::MAX);
    }
}
