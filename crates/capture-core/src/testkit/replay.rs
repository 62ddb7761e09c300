//! A source that replays owned segments, like a capture file or a live
//! interface.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::segment;
use crate::model::{TcpFlags, Timestamp};
use crate::stage::{InputSink, Poll, Source, SourceError};
use crate::stats::{Counter, Counters};

/// One owned segment: source, destination, sequence number, flags, payload.
pub type OwnedSegment = (SocketAddr, SocketAddr, u32, TcpFlags, Vec<u8>);

/// A [`Source`] that replays owned segments, 100 a poll: like a capture
/// file, or like a live interface (`live`: wall-clock timestamps, and
/// idle polls after the segments until [`stopped`](Self::stopped) is set).
#[derive(Debug, Default)]
pub struct Replay {
    segments: Vec<OwnedSegment>,
    at: usize,
    live: bool,
    stopped: Arc<AtomicBool>,
}

impl Replay {
    /// Replays `segments` like a capture file.
    pub fn file(segments: Vec<OwnedSegment>) -> Self {
        Self {
            segments,
            ..Self::default()
        }
    }

    /// Replays `segments` like a live interface, which stays open (idle)
    /// afterwards until stopped.
    pub fn live(segments: Vec<OwnedSegment>) -> Self {
        Self {
            segments,
            live: true,
            ..Self::default()
        }
    }

    /// A live replay that ends once its segments are out.
    pub fn live_then_end(segments: Vec<OwnedSegment>) -> Self {
        let r = Self::live(segments);
        r.stopped.store(true, Ordering::Relaxed);
        r
    }

    /// Set it to end a live replay.
    pub fn stopped(&self) -> Arc<AtomicBool> {
        self.stopped.clone()
    }
}

impl Source for Replay {
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
        let end = (self.at + 100).min(self.segments.len());
        // Live sources stamp packets with the wall clock, files with their own time.
        let base = if self.live {
            Timestamp::now().as_nanos()
        } else {
            1_000_000
        };
        for (i, (src, dst, seq, flags, payload)) in self
            .segments
            .get(self.at..end)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            counters.add(Counter::Packets, 1);
            out.input(segment(
                base + (self.at + i) as u64,
                *src,
                *dst,
                *seq,
                *flags,
                payload,
            ));
        }
        self.at = end;
        if self.at < self.segments.len() {
            Ok(Poll::Ready)
        } else if self.live && !self.stopped.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
            Ok(Poll::Idle)
        } else {
            Ok(Poll::Finished)
        }
    }

    fn is_live(&self) -> bool {
        self.live
    }
}
