//! One direction of a connection: the byte positions seen, delivered and held.

use std::collections::BTreeMap;

use crate::model::Timestamp;

/// Positions live in a 64-bit space that starts at `BIAS`, so that bytes
/// seen before the first segment (reordering before the start is anchored)
/// still get a positive position.
pub(crate) const BIAS: u64 = 1 << 32;

/// A run of out-of-order bytes waiting for the hole before it.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) data: Vec<u8>,
    pub(crate) ts: Timestamp,
    /// The acknowledgment number the segment carried: its bytes may not be
    /// delivered before the peer's bytes up to there (a response is not
    /// handed out before the request it answers).
    pub(crate) ack: Option<u32>,
}

/// The furthest ahead of the next expected byte that a TCP sender can be:
/// the largest window with window scaling (RFC 7323: 65,535 << 14, about
/// 1 GiB). Bytes, FINs and acknowledgments beyond it are forged or corrupt,
/// and would otherwise let a few packets claim gaps of gigabytes.
pub(crate) const MAX_WINDOW: u64 = 1 << 30;

/// What holding a run costs beyond its bytes: its B-tree entry (key and
/// value), its share of the node, and the allocator's rounding of small
/// buffers. Counting it keeps many tiny segments from costing far more
/// heap than the buffer limits say.
pub(crate) const HELD_OVERHEAD: usize = 96;

/// The peer may be at most this far behind an acknowledgment (its FIN takes
/// one sequence number but no byte).
const ACK_SLACK: u64 = 1;

/// Whether bytes that carried an acknowledgment may be delivered yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Block {
    /// Yes.
    Clear,
    /// Not before the peer delivered up to this position.
    Need(u64),
    /// The peer's start is not known yet: wait a little for it.
    Unknown,
}

/// Where a segment's bytes fall relative to what was delivered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Entirely before `next`: a retransmission.
    Old,
    /// Starts at or before `next` and reaches past it: deliver from `skip`.
    InOrder { skip: usize },
    /// Starts after `next`: hold it.
    Ahead,
}

/// One direction's reassembly state.
#[derive(Debug, Default)]
pub(crate) struct HalfStream {
    /// Sequence number of position `BIAS` (the first byte after the SYN, or
    /// the first byte seen when no SYN was).
    seq_at_bias: u32,
    /// True once any segment set `seq_at_bias`.
    pub(crate) seen: bool,
    /// True when the start is known: SYN seen, or released after waiting.
    pub(crate) anchored: bool,
    /// The next position to deliver (valid once anchored).
    pub(crate) next: u64,
    /// Where the stream was anchored: its first byte, as far as is known.
    start: u64,
    /// The anchor came from a SYN, not from waiting for one.
    from_syn: bool,
    /// Bytes held out of order, by (position, arrival number).
    pub(crate) held: BTreeMap<(u64, u64), Held>,
    /// What `held` costs: its bytes plus [`HELD_OVERHEAD`] per run.
    pub(crate) held_bytes: usize,
    /// The longest run held since `held` was last empty: how far back an
    /// overlapping run can start.
    longest_held: usize,
    /// Arrival counter for stable ordering of equal positions.
    arrivals: u64,
    /// Position just after the FIN, once seen.
    pub(crate) fin_at: Option<u64>,
    /// The furthest position the sender is known to have sent up to.
    pub(crate) seen_upto: u64,
    /// FIN reached: nothing more will be delivered.
    pub(crate) finished: bool,
    /// Connection segment count when the current hole appeared.
    pub(crate) hole_since_segments: Option<u64>,
    /// Packet time when the current hole appeared.
    pub(crate) hole_since_ts: Timestamp,
    /// True once any byte or gap of this direction was delivered.
    pub(crate) delivered_any: bool,
    /// The peer's start stayed unknown for a whole wait: stop waiting for it.
    pub(crate) peer_unknown_ok: bool,
}

impl HalfStream {
    /// Nothing held, no hole known, no FIN to reach: draining would do nothing.
    pub(crate) fn settled(&self) -> bool {
        self.held.is_empty() && self.seen_upto <= self.next && self.fin_at.is_none()
    }

    /// Anchors the stream at the byte after a SYN with sequence number `isn`.
    pub(crate) fn anchor_syn(&mut self, isn: u32) {
        let first = isn.wrapping_add(1);
        if self.seen && !self.anchored {
            // Data arrived before the SYN: re-express held positions from the new origin.
            let shift = i64::from(first.wrapping_sub(self.seq_at_bias) as i32);
            let old = std::mem::take(&mut self.held);
            for ((pos, n), h) in old {
                let new_pos = (pos as i64).wrapping_sub(shift) as u64;
                self.held.insert((new_pos, n), h);
            }
            self.fin_at = self.fin_at.map(|f| (f as i64).wrapping_sub(shift) as u64);
        }
        self.seq_at_bias = first;
        self.seen = true;
        self.anchored = true;
        self.next = BIAS;
        self.start = BIAS;
        self.from_syn = true;
    }

    /// Notes the first segment of a stream whose SYN was not seen.
    pub(crate) fn start_unanchored(&mut self, seq: u32) {
        self.seq_at_bias = seq;
        self.seen = true;
        self.next = BIAS;
    }

    /// Anchors a stream at an explicit position (socket chunks, or release after waiting).
    pub(crate) fn anchor_at(&mut self, pos: u64) {
        self.anchored = true;
        self.next = pos;
        self.start = pos;
    }

    /// True when a SYN whose first byte would be at `pos` opens another
    /// connection on the same ports, rather than being this stream's own
    /// SYN arriving late: after a SYN, any other start is a new connection;
    /// after a start that was waited for, a SYN at or before that start is
    /// the one that was missed.
    pub(crate) fn reopened_by_syn_at(&self, pos: u64) -> bool {
        self.anchored
            && (self.delivered_any || !self.held.is_empty())
            && if self.from_syn {
                pos != self.start
            } else {
                pos > self.start
            }
    }

    /// The 64-bit position of sequence number `seq`, taken as the closest
    /// to the current reference (wrap-around safe).
    pub(crate) fn position(&self, seq: u32) -> u64 {
        let reference = if self.anchored { self.next } else { BIAS };
        let ref_seq = self
            .seq_at_bias
            .wrapping_add(reference.wrapping_sub(BIAS) as u32);
        let delta = i64::from(seq.wrapping_sub(ref_seq) as i32);
        (reference as i64).wrapping_add(delta).max(0) as u64
    }

    /// True when bytes ending at `end` lie within a window of where this
    /// direction has got to (or, before its start is known, of its first
    /// byte seen).
    pub(crate) fn in_window(&self, pos: u64, end: u64) -> bool {
        let reference = if self.anchored { self.next } else { BIAS };
        end <= reference.saturating_add(MAX_WINDOW) && pos.saturating_add(MAX_WINDOW) >= reference
    }

    /// Where bytes at `pos..pos+len` fall.
    pub(crate) fn place(&self, pos: u64, len: usize) -> Placement {
        let end = pos.saturating_add(len as u64);
        if end <= self.next {
            Placement::Old
        } else if pos <= self.next {
            Placement::InOrder {
                skip: (self.next - pos) as usize,
            }
        } else {
            Placement::Ahead
        }
    }

    /// Holds bytes at `pos`: [`Hold::Duplicate`] if an identical or larger
    /// copy is already held there.
    pub(crate) fn hold(&mut self, pos: u64, data: &[u8], ts: Timestamp, ack: Option<u32>) -> Hold {
        let conflict = self.conflicts(pos, data);
        if let Some(((_, _), h)) = self.held.range((pos, 0)..=(pos, u64::MAX)).next()
            && h.data.len() >= data.len()
        {
            return Hold::Duplicate { conflict };
        }
        self.arrivals += 1;
        self.held_bytes += held_cost(data.len());
        self.longest_held = self.longest_held.max(data.len());
        self.held.insert(
            (pos, self.arrivals),
            Held {
                data: data.to_vec(),
                ts,
                ack,
            },
        );
        Hold::Held { conflict }
    }

    /// True when bytes at `pos` differ from held bytes at the same positions.
    pub(crate) fn conflicts(&self, pos: u64, data: &[u8]) -> bool {
        if self.held.is_empty() {
            return false;
        }
        let end = pos.saturating_add(data.len() as u64);
        let earliest = pos.saturating_sub(self.longest_held as u64);
        self.held
            .range((earliest, 0)..(end, 0))
            .any(|(&(start, _), h)| {
                let from = start.max(pos);
                let to = start.saturating_add(h.data.len() as u64).min(end);
                from < to && {
                    let ours = data.get((from - pos) as usize..(to - pos) as usize);
                    let theirs = h.data.get((from - start) as usize..(to - start) as usize);
                    ours != theirs
                }
            })
    }

    /// The position of the first held run.
    pub(crate) fn first_held(&self) -> Option<u64> {
        self.held.keys().next().map(|(p, _)| *p)
    }

    /// Whether bytes that acknowledged `ack` of `peer` may go out now.
    pub(crate) fn ack_block(&self, ack: Option<u32>, peer: &HalfStream) -> Block {
        let Some(ack) = ack else { return Block::Clear };
        if !peer.anchored {
            return if self.peer_unknown_ok {
                Block::Clear
            } else {
                Block::Unknown
            };
        }
        let need = peer.position(ack);
        // An acknowledgment beyond any window is forged: it blocks nothing.
        if need > peer.next.saturating_add(ACK_SLACK)
            && need <= peer.next.saturating_add(MAX_WINDOW)
        {
            Block::Need(need)
        } else {
            Block::Clear
        }
    }

    /// What keeps the first held run from going out, when it is contiguous.
    pub(crate) fn front_block(&self, peer: &HalfStream) -> Block {
        match self.held.iter().next() {
            Some((&(pos, _), h)) if pos <= self.next => self.ack_block(h.ack, peer),
            _ => Block::Clear,
        }
    }

    /// Takes the first held run if it starts at or before `next` and may go
    /// out (`patient` false: whatever it acknowledged).
    pub(crate) fn take_ready(&mut self, peer: &HalfStream, patient: bool) -> Option<(u64, Held)> {
        let (&(pos, n), h) = self.held.iter().next()?;
        if pos > self.next || (patient && self.ack_block(h.ack, peer) != Block::Clear) {
            return None;
        }
        let h = self.held.remove(&(pos, n))?;
        self.held_bytes -= held_cost(h.data.len());
        if self.held.is_empty() {
            self.longest_held = 0;
        }
        Some((pos, h))
    }
}

/// What holding a run costs against the buffer limits.
pub(crate) const fn held_cost(len: usize) -> usize {
    len + HELD_OVERHEAD
}

/// What became of bytes offered for holding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Held until the hole before them is filled or declared.
    Held {
        /// They differ from bytes already held at the same positions.
        conflict: bool,
    },
    /// A copy at least as long is already held at the same position.
    Duplicate {
        /// They differ from bytes already held at the same positions.
        conflict: bool,
    },
}
