//! `OUTPUT_BANDWIDTH_LIMIT`: at most so many message bytes per minute.
//!
//! As in Akto's collector, a window opens with the first message; each
//! message adds its size, and once the total passes the limit, that message
//! and every other until the window is a minute old are dropped.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A per-minute byte budget for messages.
#[derive(Debug)]
pub struct OutputLimit {
    bytes_per_minute: u64,
    window: Mutex<(Instant, u64)>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl OutputLimit {
    /// A budget of `bytes_per_minute`.
    pub fn new(bytes_per_minute: u64) -> Self {
        Self {
            bytes_per_minute,
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    /// The budget in bytes per minute.
    pub fn bytes_per_minute(&self) -> u64 {
        self.bytes_per_minute
    }

    /// Counts a message of `size` bytes at `now`; true if it may be sent.
    pub fn admit(&self, size: usize, now: Instant) -> bool {
        let Ok(mut w) = self.window.lock() else {
            return true;
        };
        if now.duration_since(w.0) > WINDOW {
            *w = (now, 0);
        }
        if w.1 > self.bytes_per_minute {
            return false;
        }
        w.1 = w.1.saturating_add(size as u64);
        w.1 <= self.bytes_per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_after_the_budget_until_the_minute_ends() {
        let l = OutputLimit::new(100);
        let t = Instant::now();
        assert!(l.admit(60, t));
        assert!(!l.admit(60, t)); // crosses: dropped, bytes counted as Akto does
        assert!(!l.admit(1, t + Duration::from_secs(30)));
        assert!(l.admit(60, t + Duration::from_secs(61)));
    }
}
