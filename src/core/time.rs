//! The tab's own clock. Server instants ([`ServerTime`]) and durations ([`DurationMs`]) come
//! from the contract crate; [`LocalTime`] is what this tab's `Date.now()` says. The engine
//! takes local time in, keeps server time inside (local time plus the offset learned from
//! the latest view) and hands local time back out, and the three do not mix: passing one
//! where another is expected does not compile.

use super::{DurationMs, ServerTime};

/// An instant on this tab's wall clock (`Date.now()`), in milliseconds since the epoch. It
/// may be skewed from the server's clock by any amount and may jump either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(i64);

impl LocalTime {
    /// The instant `ms` milliseconds after the epoch on this tab's clock.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch on this tab's clock.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The instant `by` later, saturating at the ends of the range.
    pub const fn saturating_add(self, by: DurationMs) -> Self {
        Self(self.0.saturating_add(by.as_millis()))
    }

    /// How long after `earlier` this instant is (negative when it is before it).
    pub const fn since(self, earlier: LocalTime) -> DurationMs {
        DurationMs::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// How far the server's clock is ahead of this tab's (negative when behind): server time
/// is local time plus the offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ClockOffset(DurationMs);

impl ClockOffset {
    /// No offset: before the first view the local clock stands in for the server's.
    pub(crate) const ZERO: ClockOffset = ClockOffset(DurationMs::ZERO);

    /// The offset that maps `local` onto `server`.
    pub(crate) const fn between(local: LocalTime, server: ServerTime) -> Self {
        Self(DurationMs::from_millis(
            server.as_millis().saturating_sub(local.as_millis()),
        ))
    }

    /// `local` on the server's clock.
    pub(crate) const fn to_server(self, local: LocalTime) -> ServerTime {
        ServerTime::from_millis(local.as_millis().saturating_add(self.0.as_millis()))
    }

    /// Server time minus local time, in milliseconds.
    pub(crate) const fn as_millis(self) -> i64 {
        self.0.as_millis()
    }

    /// `server` on this tab's clock.
    pub(crate) const fn to_local(self, server: ServerTime) -> LocalTime {
        LocalTime::from_millis(server.as_millis().saturating_sub(self.0.as_millis()))
    }

    /// The offset after this tab's clock moved `by` (positive: the local clock went back,
    /// so the server is further ahead of it).
    pub(crate) const fn shifted(self, by: DurationMs) -> Self {
        Self(DurationMs::from_millis(
            self.0.as_millis().saturating_add(by.as_millis()),
        ))
    }
}

/// The time elapsed between two readings of a monotonic clock (durations since its origin),
/// never negative.
pub(crate) const fn elapsed(earlier: DurationMs, later: DurationMs) -> DurationMs {
    let ms = later.as_millis().saturating_sub(earlier.as_millis());
    DurationMs::from_millis(if ms < 0 { 0 } else { ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_maps_both_ways_and_saturates() {
        let local = LocalTime::from_millis(1_000);
        let server = ServerTime::from_millis(6_000);
        let offset = ClockOffset::between(local, server);
        assert_eq!(offset.to_server(local), server);
        assert_eq!(offset.to_local(server), local);
        assert_eq!(
            offset
                .shifted(DurationMs::SECOND)
                .to_server(LocalTime::from_millis(0)),
            ServerTime::from_millis(6_000)
        );
        assert_eq!(
            offset.to_server(LocalTime::from_millis(i64::MAX)),
            ServerTime::from_millis(i64::MAX)
        );
        assert_eq!(
            LocalTime::from_millis(5).since(local),
            DurationMs::from_millis(-995)
        );
        assert_eq!(
            elapsed(DurationMs::SECOND, DurationMs::MINUTE),
            DurationMs::from_millis(59_000)
        );
        assert_eq!(
            elapsed(DurationMs::MINUTE, DurationMs::SECOND),
            DurationMs::ZERO
        );
    }
}
