//! Owned batches of inputs, for handing borrowed source data to worker threads.

use std::net::SocketAddr;

use crate::model::{
    CaptureSource, Comm, ConnKey, Direction, Input, NetnsId, Segment, StreamChunk, TcpFlags,
    Timestamp, TlsLibrary, TrafficDirection,
};

/// An input whose payload lives in its batch's arena.
#[derive(Clone, Copy, Debug)]
enum Item {
    Segment {
        ts: Timestamp,
        src: SocketAddr,
        dst: SocketAddr,
        netns: NetnsId,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        start: usize,
        end: usize,
    },
    Chunk {
        ts: Timestamp,
        key: ConnKey,
        dir: Direction,
        offset: u64,
        source: CaptureSource,
        tls_library: Option<TlsLibrary>,
        comm: Option<Comm>,
        traffic: Option<TrafficDirection>,
        start: usize,
        end: usize,
    },
    Closed {
        ts: Timestamp,
        key: ConnKey,
    },
    NetnsClosed {
        ts: Timestamp,
        netns: NetnsId,
    },
}

/// Inputs copied out of a source's buffers: one arena for all payloads,
/// so a batch costs two allocations however many inputs it holds (and none
/// once recycled).
#[derive(Debug, Default)]
pub struct Batch {
    arena: Vec<u8>,
    items: Vec<Item>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inputs held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when no input is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Payload bytes held.
    pub fn payload_bytes(&self) -> usize {
        self.arena.len()
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.items.clear();
    }

    /// Copies `input` into the batch.
    pub fn push(&mut self, input: &Input<'_>) {
        let mut copy = |data: &[u8]| {
            let start = self.arena.len();
            self.arena.extend_from_slice(data);
            (start, self.arena.len())
        };
        let item = match *input {
            Input::Segment(s) => {
                let (start, end) = copy(s.payload);
                Item::Segment {
                    ts: s.ts,
                    src: s.src,
                    dst: s.dst,
                    netns: s.netns,
                    seq: s.seq,
                    ack: s.ack,
                    flags: s.flags,
                    start,
                    end,
                }
            }
            Input::Chunk(c) => {
                let (start, end) = copy(c.data);
                Item::Chunk {
                    ts: c.ts,
                    key: c.key,
                    dir: c.dir,
                    offset: c.offset,
                    source: c.source,
                    tls_library: c.tls_library,
                    comm: c.comm,
                    traffic: c.traffic,
                    start,
                    end,
                }
            }
            Input::Closed { ts, key } => Item::Closed { ts, key },
            Input::NetnsClosed { ts, netns } => Item::NetnsClosed { ts, netns },
        };
        self.items.push(item);
    }

    /// The inputs, borrowing their payloads from the batch.
    pub fn iter(&self) -> impl Iterator<Item = Input<'_>> {
        self.items.iter().map(|item| match *item {
            Item::Segment {
                ts,
                src,
                dst,
                netns,
                seq,
                ack,
                flags,
                start,
                end,
            } => Input::Segment(Segment {
                ts,
                src,
                dst,
                netns,
                seq,
                ack,
                flags,
                payload: self.arena.get(start..end).unwrap_or_default(),
            }),
            Item::Chunk {
                ts,
                key,
                dir,
                offset,
                source,
                tls_library,
                comm,
                traffic,
                start,
                end,
            } => Input::Chunk(StreamChunk {
                ts,
                key,
                dir,
                offset,
                data: self.arena.get(start..end).unwrap_or_default(),
                source,
                tls_library,
                comm,
                traffic,
            }),
            Item::Closed { ts, key } => Input::Closed { ts, key },
            Item::NetnsClosed { ts, netns } => Input::NetnsClosed { ts, netns },
        })
    }
}
