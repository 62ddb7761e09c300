//! Owned batches of segments, to move them from a namespace's capture
//! thread to the thread that polls the source: payloads are copied into one
//! arena per batch, and batches are reused.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use capture_core::model::{NetnsId, Segment, TcpFlags, Timestamp};

/// A segment whose payload lives in its batch's arena.
#[derive(Clone, Copy, Debug)]
struct Record {
    ts: Timestamp,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    start: usize,
    len: usize,
}

/// Segments of one namespace with their payloads.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    netns: NetnsId,
    arena: Vec<u8>,
    records: Vec<Record>,
}

impl Batch {
    /// Arena bytes after which a batch is handed over.
    pub(crate) const FULL_BYTES: usize = 256 << 10;
    /// Segments after which a batch is handed over.
    pub(crate) const FULL_SEGMENTS: usize = 1024;

    /// Copies `seg` in.
    pub(crate) fn push(&mut self, seg: &Segment<'_>) {
        self.netns = seg.netns;
        let start = self.arena.len();
        self.arena.extend_from_slice(seg.payload);
        self.records.push(Record {
            ts: seg.ts,
            src: seg.src,
            dst: seg.dst,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            start,
            len: seg.payload.len(),
        });
    }

    /// True when the batch should be handed over.
    pub(crate) fn is_full(&self) -> bool {
        self.arena.len() >= Self::FULL_BYTES || self.records.len() >= Self::FULL_SEGMENTS
    }

    /// Segments held.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// True when it holds no segment.
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Empties the batch, keeping its allocations.
    pub(crate) fn clear(&mut self) {
        self.arena.clear();
        self.records.clear();
    }

    /// The segments, borrowing the arena.
    pub(crate) fn segments(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        self.records.iter().map(|r| Segment {
            ts: r.ts,
            src: r.src,
            dst: r.dst,
            netns: self.netns,
            seq: r.seq,
            ack: r.ack,
            flags: r.flags,
            payload: self.arena.get(r.start..r.start + r.len).unwrap_or_default(),
        })
    }
}

/// Emptied batches waiting to be reused, shared by every capture thread.
#[derive(Clone, Debug, Default)]
pub(crate) struct BatchPool(Arc<Mutex<Vec<Batch>>>);

impl BatchPool {
    /// Batches kept for reuse; more are freed.
    const KEEP: usize = 64;

    /// A reused batch, or a new one.
    pub(crate) fn take(&self) -> Batch {
        self.0
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    }

    /// Returns a batch for reuse.
    pub(crate) fn give(&self, mut batch: Batch) {
        batch.clear();
        if batch.arena.capacity() > 4 * Batch::FULL_BYTES {
            return;
        }
        if let Ok(mut v) = self.0.lock()
            && v.len() < Self::KEEP
        {
            v.push(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_come_back_with_their_own_payloads() {
        let mut b = Batch::default();
        let mk = |seq: u32, payload: &'static [u8]| Segment {
            ts: Timestamp(u64::from(seq)),
            src: "127.0.0.1:5000".parse().unwrap(),
            dst: "127.0.0.1:80".parse().unwrap(),
            netns: NetnsId(77),
            seq,
            ack: 1,
            flags: TcpFlags::ACK,
            payload,
        };
        b.push(&mk(1, b"GET /"));
        b.push(&mk(6, b""));
        b.push(&mk(6, b" HTTP/1.1"));
        let got: Vec<(u32, &[u8], NetnsId)> =
            b.segments().map(|s| (s.seq, s.payload, s.netns)).collect();
        assert_eq!(
            got,
            [
                (1, &b"GET /"[..], NetnsId(77)),
                (6, &b""[..], NetnsId(77)),
                (6, &b" HTTP/1.1"[..], NetnsId(77))
            ]
        );
        let pool = BatchPool::default();
        pool.give(b);
        let again = pool.take();
        assert!(again.is_empty());
        assert!(again.arena.capacity() > 0);
    }
}
