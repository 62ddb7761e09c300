//! One tracked connection: its two directions, and how bytes that arrive
//! for it are delivered, held, or declared lost.

use super::half::{BIAS, Block, HalfStream, Hold, Placement, held_cost};
use crate::limits::Limits;
use crate::model::{CloseReason, ConnMeta, Direction, Timestamp};
use crate::stage::{ConnId, StreamHandler};
use crate::stats::{Counter, Counters, DropReason};

/// What a connection's methods share with the rest of the reassembler:
/// the connection's slot, the counters and the buffer budget of all
/// connections.
pub(crate) struct Ctx<'a> {
    /// The connection's slot, as handed to the [`StreamHandler`].
    pub(crate) id: ConnId,
    pub(crate) counters: &'a Counters,
    /// What every connection holds, against `total_cap`.
    pub(crate) held_total: &'a mut usize,
    pub(crate) total_cap: usize,
}

/// One tracked connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) meta: ConnMeta,
    /// Per direction, relative to `meta.key`.
    pub(crate) dirs: Dirs,
    /// True once `open` was handed to the handler.
    opened: bool,
    /// True when the orientation came from a SYN or a socket (not a guess).
    pub(crate) oriented: bool,
    pub(crate) last_seen: Timestamp,
    /// Segments of this connection, both directions.
    pub(crate) segments: u64,
    /// A RST was seen, when the connection had this many segments.
    pub(crate) reset: Option<u64>,
}

/// The bytes of one segment or chunk, placed in their direction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrival<'a> {
    pub(crate) dir: Direction,
    pub(crate) pos: u64,
    pub(crate) data: &'a [u8],
    pub(crate) ts: Timestamp,
    /// The acknowledgment number the segment carried.
    pub(crate) ack: Option<u32>,
}

/// What one `drain` call did.
#[derive(Clone, Copy, Debug, Default)]
struct Drained {
    /// Something was delivered or declared lost.
    progressed: bool,
}

/// How long a hole is waited for before it is declared a gap.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wait {
    /// Later segments of the connection; 0 declares every hole at once.
    pub(crate) segments: u32,
    /// Packet time.
    pub(crate) time: std::time::Duration,
    /// Held bytes above which holes are declared at once.
    pub(crate) held_cap: usize,
    /// With no wait (`segments` 0): runs still go out in acknowledgment
    /// order, the peer's acknowledged bytes that never came declared its
    /// gap first. A close keeps the order the packets' numbers tell; a
    /// zero reordering window delivers what came as it came.
    pub(crate) ack_order: bool,
}

impl Wait {
    /// The wait the limits ask for.
    pub(crate) fn of(limits: &Limits) -> Self {
        Self {
            segments: limits.reorder_window_segments,
            time: limits.reorder_window_time,
            held_cap: limits.conn_buffer_bytes,
            ack_order: false,
        }
    }

    /// No wait: every hole is declared at once (close, flush).
    pub(crate) const NONE: Wait = Wait {
        segments: 0,
        time: std::time::Duration::ZERO,
        held_cap: 0,
        ack_order: false,
    };

    /// No wait, in acknowledgment order: what a close delivers first.
    pub(crate) const CLOSING: Wait = Wait {
        ack_order: true,
        ..Self::NONE
    };
}

/// Segments that must follow a hole before its age alone declares it:
/// timestamps of reordered packets can jump, segment counts cannot.
pub(crate) fn min_segments(window: u32) -> u64 {
    u64::from((window / 4).max(1))
}

impl Conn {
    pub(crate) fn new(meta: ConnMeta, oriented: bool) -> Self {
        Self {
            last_seen: meta.opened,
            meta,
            dirs: Dirs::default(),
            opened: false,
            oriented,
            segments: 0,
            reset: None,
        }
    }

    /// True once the handler was told of the connection.
    pub(crate) fn opened(&self) -> bool {
        self.opened
    }

    /// Takes the bytes of one segment or chunk: hands them out at once when
    /// they continue the stream and overtake nothing, holds them otherwise.
    pub(crate) fn accept<H: StreamHandler>(
        &mut self,
        arrival: Arrival<'_>,
        ctx: &mut Ctx<'_>,
        out: &mut H,
    ) {
        let Arrival {
            dir,
            pos,
            data,
            ts,
            ack,
        } = arrival;
        let (half, peer) = self.dirs.split_mut(dir);
        let placement = if half.anchored {
            half.place(pos, data.len())
        } else {
            Placement::Ahead
        };
        let overtakes =
            half.ack_block(ack, peer) != Block::Clear || half.front_block(peer) != Block::Clear;
        match placement {
            Placement::Old => ctx.counters.dropped(DropReason::Retransmission, 1),
            Placement::InOrder { skip } if !overtakes => {
                if skip > 0 {
                    ctx.counters.dropped(DropReason::Retransmission, 1);
                }
                if half.conflicts(pos, data) {
                    self.conflict(dir, ts, ctx, out);
                }
                self.deliver(dir, ts, data.get(skip..).unwrap_or_default(), ctx, out);
            }
            Placement::InOrder { .. } | Placement::Ahead => {
                if *ctx.held_total + held_cost(data.len()) > ctx.total_cap {
                    ctx.counters.dropped(DropReason::TotalBufferFull, 1);
                    return;
                }
                match half.hold(pos, data, ts, ack) {
                    Hold::Held { conflict } => {
                        *ctx.held_total += held_cost(data.len());
                        if conflict {
                            self.conflict(dir, ts, ctx, out);
                        }
                    }
                    Hold::Duplicate { conflict } => {
                        ctx.counters.dropped(DropReason::Retransmission, 1);
                        if conflict {
                            self.conflict(dir, ts, ctx, out);
                        }
                    }
                }
            }
        }
    }

    /// Bytes that differ from bytes held at the same positions: counted,
    /// and told to the handler so that the exchange is flagged.
    fn conflict<H: StreamHandler>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        ctx: &Ctx<'_>,
        out: &mut H,
    ) {
        ctx.counters.dropped(DropReason::OverlapConflict, 1);
        self.emit_open(ctx.id, out);
        out.overlap_conflict(ctx.id, &self.meta, dir, ts);
    }

    /// Hands the next bytes of a direction to the handler.
    fn deliver<H: StreamHandler>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        ctx: &Ctx<'_>,
        out: &mut H,
    ) {
        self.emit_open(ctx.id, out);
        let half = self.dirs.get_mut(dir);
        half.next += bytes.len() as u64;
        half.delivered_any = true;
        half.hole_since_segments = None;
        ctx.counters.add(Counter::StreamBytes, bytes.len() as u64);
        out.data(ctx.id, &self.meta, dir, ts, bytes);
    }

    /// Declares `len` bytes of `dir` before its next byte lost.
    fn gap<H: StreamHandler>(
        &mut self,
        dir: Direction,
        now: Timestamp,
        len: u64,
        ctx: &Ctx<'_>,
        out: &mut H,
    ) {
        let half = self.dirs.get_mut(dir);
        half.next += len;
        half.delivered_any = true;
        ctx.counters.dropped(DropReason::Gap, 1);
        ctx.counters.add(Counter::GapBytes, len);
        self.emit_open(ctx.id, out);
        out.gap(ctx.id, &self.meta, dir, now, len);
    }

    fn emit_open<H: StreamHandler>(&mut self, id: ConnId, out: &mut H) {
        if !self.opened {
            self.opened = true;
            out.open(id, &self.meta);
        }
    }

    /// Anchors a direction whose start was never seen at its first held
    /// byte: the connection was joined mid-stream.
    pub(crate) fn start_mid_stream(&mut self, dir: Direction) {
        let half = self.dirs.get_mut(dir);
        let start = half.first_held().unwrap_or(BIAS);
        half.anchor_at(start);
        self.meta.mid_stream = true;
    }

    /// Delivers held runs of one direction that have become contiguous;
    /// declares the hole before the first run a gap when it waited long
    /// enough, or while more than `wait.held_cap` bytes are held. A run that
    /// acknowledged peer bytes not yet delivered waits for them; if they do
    /// not come within the same wait, they are declared a gap of the peer.
    pub(crate) fn drain<H: StreamHandler>(
        &mut self,
        dir: Direction,
        now: Timestamp,
        wait: Wait,
        ctx: &mut Ctx<'_>,
        out: &mut H,
    ) -> bool {
        let mut drained = Drained::default();
        let segments = self.segments;
        let force = wait.segments == 0;
        loop {
            let (half, peer) = self.dirs.split_mut(dir);
            if !half.anchored {
                break;
            }
            if let Some((pos, held)) = half.take_ready(peer, !force || wait.ack_order) {
                *ctx.held_total -= held_cost(held.data.len());
                drained.progressed = true;
                let skip = (half.next - pos) as usize;
                if skip >= held.data.len() {
                    ctx.counters.dropped(DropReason::Retransmission, 1);
                    continue;
                }
                let bytes = held.data.get(skip..).unwrap_or_default();
                self.deliver(dir, held.ts, bytes, ctx, out);
                continue;
            }
            let block = half.front_block(peer);
            // The hole ends at the first held run, or where the stream is
            // known to have got to (a FIN, a bare ACK, an end-of-call marker).
            let known_end = half
                .fin_at
                .map_or(half.seen_upto, |fin| fin.max(half.seen_upto));
            let first = match (block, half.first_held()) {
                (Block::Need(_) | Block::Unknown, _) => half.next,
                (Block::Clear, Some(first)) => first,
                (Block::Clear, None) if known_end > half.next => known_end,
                _ => {
                    half.hole_since_segments = None;
                    break;
                }
            };
            // A hole sits before `first`, or the first run waits for the peer.
            let since = *half.hole_since_segments.get_or_insert(segments);
            if since == segments {
                half.hole_since_ts = now;
            }
            let later = segments.saturating_sub(since);
            let waited = later >= u64::from(wait.segments)
                || (now.since(half.hole_since_ts) >= wait.time
                    && later >= min_segments(wait.segments));
            if !(waited || force || half.held_bytes > wait.held_cap) {
                break;
            }
            match block {
                Block::Unknown => {
                    // The peer's start never showed: stop waiting for it.
                    half.peer_unknown_ok = true;
                    drained.progressed = true;
                    continue;
                }
                Block::Need(need) => {
                    half.hole_since_segments = None;
                    // The peer's acknowledged bytes never came: they are the gap.
                    let peer = self.dirs.get(dir.reverse());
                    let upto = peer.first_held().map_or(need, |f| f.min(need));
                    if upto > peer.next {
                        let len = upto - peer.next;
                        self.gap(dir.reverse(), now, len, ctx, out);
                        drained.progressed = true;
                    }
                    // The peer now has to deliver before this direction can go on.
                    break;
                }
                Block::Clear => half.hole_since_segments = None,
            }
            let len = first - half.next;
            drained.progressed = true;
            self.gap(dir, now, len, ctx, out);
        }
        let half = self.dirs.get_mut(dir);
        if let Some(fin) = half.fin_at
            && half.anchored
            && half.next >= fin
            && half.held.is_empty()
        {
            half.finished = true;
        }
        drained.progressed
    }

    /// Drains both directions until neither makes progress: delivering one
    /// side can unblock the other.
    pub(crate) fn drain_both<H: StreamHandler>(
        &mut self,
        now: Timestamp,
        wait: Wait,
        ctx: &mut Ctx<'_>,
        out: &mut H,
    ) {
        // Each round that progresses consumes a held run or declares a gap.
        let mut rounds =
            self.dirs.client_to_server.held.len() + self.dirs.server_to_client.held.len() + 4;
        loop {
            let a = self.drain(Direction::ClientToServer, now, wait, ctx, out);
            let b = self.drain(Direction::ServerToClient, now, wait, ctx, out);
            rounds = rounds.saturating_sub(1);
            if !(a || b) || rounds == 0 {
                break;
            }
        }
    }

    /// Delivers everything held, holes as gaps, and tells the handler the
    /// connection is over.
    pub(crate) fn close<H: StreamHandler>(
        &mut self,
        now: Timestamp,
        reason: CloseReason,
        ctx: &mut Ctx<'_>,
        out: &mut H,
    ) {
        for d in [Direction::ClientToServer, Direction::ServerToClient] {
            let half = self.dirs.get(d);
            if !half.anchored && half.seen {
                self.start_mid_stream(d);
            }
        }
        // Both directions at once, in acknowledgment order: on a connection
        // joined mid-stream nothing may have gone out before the close, and
        // a request that acknowledged a response must follow it, not come
        // first because its direction is drained first.
        self.drain_both(now, Wait::CLOSING, ctx, out);
        // Whatever acknowledgments still hold back (forged ones that block
        // each other) goes out as it is.
        for d in [Direction::ClientToServer, Direction::ServerToClient] {
            self.drain(d, now, Wait::NONE, ctx, out);
        }
        if self.opened {
            out.close(ctx.id, &self.meta, now, reason);
        }
    }
}

/// The two directions of a connection.
#[derive(Debug, Default)]
pub(crate) struct Dirs {
    pub(crate) client_to_server: HalfStream,
    pub(crate) server_to_client: HalfStream,
}

impl Dirs {
    pub(crate) fn get(&self, dir: Direction) -> &HalfStream {
        match dir {
            Direction::ClientToServer => &self.client_to_server,
            Direction::ServerToClient => &self.server_to_client,
        }
    }

    pub(crate) fn get_mut(&mut self, dir: Direction) -> &mut HalfStream {
        match dir {
            Direction::ClientToServer => &mut self.client_to_server,
            Direction::ServerToClient => &mut self.server_to_client,
        }
    }

    pub(crate) fn swap(&mut self) {
        std::mem::swap(&mut self.client_to_server, &mut self.server_to_client);
    }

    /// This direction mutably, and its peer.
    pub(crate) fn split_mut(&mut self, dir: Direction) -> (&mut HalfStream, &HalfStream) {
        match dir {
            Direction::ClientToServer => (&mut self.client_to_server, &self.server_to_client),
            Direction::ServerToClient => (&mut self.server_to_client, &self.client_to_server),
        }
    }

    pub(crate) fn both(&self, f: impl Fn(&HalfStream) -> bool) -> bool {
        f(&self.client_to_server) && f(&self.server_to_client)
    }
}
