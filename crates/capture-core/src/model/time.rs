//! Timestamps taken from packets and events, never from the wall clock.

use serde::{Deserialize, Serialize};

/// A point in time as nanoseconds since the Unix epoch.
///
/// Every stage sees the time of the packet or event it works on, so a replay
/// of the same capture gives the same result bit for bit.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Builds a timestamp from seconds and nanoseconds since the epoch.
    pub const fn from_secs_nanos(secs: u64, nanos: u32) -> Self {
        Self(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(nanos as u64),
        )
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// The time `d` later, saturating.
    pub fn saturating_add(self, d: std::time::Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The current wall-clock time: for live sources stamping their events only.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}
