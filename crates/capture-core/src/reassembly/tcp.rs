//! The TCP reassembler.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::half::{BIAS, Block, HalfStream, Placement};
use super::table::Table;
use crate::limits::Limits;
use crate::model::{
    CaptureSource, CloseReason, ConnKey, ConnMeta, Direction, Input, NetnsId, Segment, StreamChunk,
    Timestamp,
};
use crate::stage::{ConnId, Reassembler, StreamHandler};
use crate::stats::{Counters, DropReason};

/// One tracked connection.
#[derive(Debug)]
struct Conn {
    meta: ConnMeta,
    /// Per direction, indexed by `Direction::index` relative to `meta.key`.
    dirs: Dirs,
    /// True once `open` was handed to the handler.
    opened: bool,
    /// True when the orientation came from a SYN (not a guess).
    oriented: bool,
    last_seen: Timestamp,
    /// Segments of this connection, both directions.
    segments: u64,
    /// A RST was seen, when the connection had this many segments.
    reset: Option<u64>,
}

impl Table<Conn> {
    /// The connection in `slot`, marked most recently active and counted
    /// one more segment, at `ts`.
    fn arrival(&mut self, slot: u32, ts: Timestamp) -> Option<&mut Conn> {
        self.touch(slot);
        let conn = self.get_mut(slot)?;
        conn.last_seen = ts;
        conn.segments += 1;
        Some(conn)
    }
}

impl Conn {
    fn new(meta: ConnMeta, oriented: bool) -> Self {
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
}

/// The TCP reassembler: segments in, ordered bytes and gaps per direction out.
///
/// # Policies
///
/// - **Retransmissions and overlaps**: bytes already delivered are never
///   replaced. Among held out-of-order runs that overlap, the run starting
///   earliest supplies the overlapping bytes (first arrived on a tie).
/// - **Holes**: a missing range is waited for while later segments keep
///   arriving, up to [`Limits::reorder_window_segments`] segments of the
///   connection or [`Limits::reorder_window_time`]; then it is handed to the
///   parser as a gap, never glued over. FIN, RST, timeout, eviction and
///   shutdown declare remaining holes at once.
/// - **Start**: a SYN (or SYN-ACK) anchors a direction at the byte after it
///   and tells who the client is. Data seen before any SYN is held briefly
///   (the same window) in case the SYN was reordered; if none comes, the
///   connection is treated as joined mid-stream, starting at the lowest byte
///   seen, with the server guessed as the endpoint with the lower port.
/// - **Sequence numbers** wrap around: positions are 64-bit and computed
///   relative to the next expected byte.
/// - **Limits**: at most [`Limits::max_connections`] connections (the least
///   recently active is flushed and evicted), [`Limits::inactivity_timeout`]
///   of packet time, [`Limits::conn_buffer_bytes`] held per connection (the
///   oldest hole is declared a gap) and [`Limits::total_buffer_bytes`] held in
///   all (further out-of-order bytes are dropped and later reported as a gap).
/// - **Closed connections** are remembered for [`Limits::closed_linger`] so
///   that late duplicates do not open ghost connections.
pub struct TcpReassembler {
    limits: Limits,
    counters: Arc<Counters>,
    table: Table<Conn>,
    held_total: usize,
    /// Recently closed connections: canonical key → linger deadline.
    closed: HashMap<ConnKey, Timestamp, RandomState>,
    closed_order: VecDeque<(Timestamp, ConnKey)>,
    /// Connections reset, by when: closed once the reordering window passed.
    resets: VecDeque<(Timestamp, ConnKey)>,
    now: Timestamp,
}

impl TcpReassembler {
    /// A reassembler with the given limits, counting into `counters`.
    pub fn new(limits: Limits, counters: Arc<Counters>) -> Self {
        Self {
            limits,
            counters,
            table: Table::new(),
            held_total: 0,
            closed: HashMap::with_hasher(RandomState::default()),
            closed_order: VecDeque::new(),
            resets: VecDeque::new(),
            now: Timestamp::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn on_segment<H: StreamHandler>(&mut self, seg: &Segment<'_>, out: &mut H) {
        Counters::add(&self.counters.segments, 1);
        let observed = ConnKey::new(seg.src, seg.dst, seg.netns);
        let (canon, _) = observed.canonical();
        let flags = seg.flags;

        let slot = match self.table.find(&canon) {
            Some(slot) => {
                // A fresh SYN on a connection that already carried data in
                // that direction is a new connection reusing the ports.
                let reused = flags.syn() && !flags.ack() && {
                    let conn = self.table.get_mut(slot);
                    conn.is_some_and(|c| {
                        let d = direction_of(&c.meta.key, &observed);
                        let h = c.dirs.get(d);
                        h.anchored
                            && (h.delivered_any || !h.held.is_empty())
                            && h.position(seg.seq.wrapping_add(1)) != BIAS
                    })
                };
                if reused {
                    self.close_slot(slot, CloseReason::Fin, out);
                    self.closed.remove(&canon);
                    self.create(observed, seg, out)
                } else {
                    slot
                }
            }
            None => {
                if self.closed.contains_key(&canon) {
                    if flags.syn() && !flags.ack() {
                        self.closed.remove(&canon);
                    } else {
                        // Bare ACKs after the close lose nothing; data does.
                        if !seg.payload.is_empty() {
                            self.counters.dropped(DropReason::LateSegment, 1);
                        }
                        return;
                    }
                }
                if flags.rst() && seg.payload.is_empty() {
                    // A reset for a connection we never saw: nothing to report.
                    return;
                }
                self.create(observed, seg, out)
            }
        };
        let wait = Wait::of(&self.limits);
        let total_cap = self.limits.total_buffer_bytes;
        let Some(conn) = self.table.arrival(slot, seg.ts) else {
            return;
        };

        // The SYN tells who the client is; before the first delivery the
        // orientation may still be corrected.
        if flags.syn() && !conn.oriented && !conn.opened {
            let src_is_client = !flags.ack();
            let currently = conn.meta.key.client == seg.src;
            if currently != src_is_client {
                conn.meta.key = conn.meta.key.reversed();
                conn.dirs.swap();
            }
            conn.oriented = true;
        }
        let dir = direction_of(&conn.meta.key, &observed);
        // What this segment acknowledges of the peer: its bytes must not
        // overtake the peer's bytes up to there.
        let ack = flags.ack().then_some(seg.ack);
        let half = conn.dirs.get_mut(dir);

        if flags.syn() {
            if !half.anchored {
                half.anchor_syn(seg.seq);
                if dir == Direction::ClientToServer && !conn.opened {
                    conn.meta.mid_stream = false;
                }
            }
        } else if !half.seen {
            half.start_unanchored(seg.seq);
        }

        // Payload starts after the SYN's sequence number.
        let data_seq = if flags.syn() {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let pos = half.position(data_seq);
        let payload = seg.payload;

        if flags.fin() {
            let fin_at = pos.saturating_add(payload.len() as u64);
            half.fin_at = Some(half.fin_at.map_or(fin_at, |f| f.min(fin_at)));
        }
        if half.anchored && !flags.rst() {
            // Even a bare ACK says where the sender's stream has got to.
            half.seen_upto = half.seen_upto.max(pos.saturating_add(payload.len() as u64));
        }

        if !payload.is_empty() {
            let input = Arrival {
                dir,
                pos,
                data: payload,
                ts: seg.ts,
                ack,
            };
            Self::accept(
                conn,
                slot,
                input,
                &mut self.held_total,
                total_cap,
                &self.counters,
                out,
            );
        }

        if flags.rst() && conn.reset.is_none() {
            conn.reset = Some(conn.segments);
            self.resets.push_back((seg.ts, canon));
        }

        // Release streams whose start was never anchored, once the wait is over.
        for d in [Direction::ClientToServer, Direction::ServerToClient] {
            let h = conn.dirs.get_mut(d);
            if h.seen && !h.anchored {
                // Time alone is not enough: a reordering that spans a slow
                // link's round trip must not be mistaken for a missing SYN.
                let held = h.held.len() as u64;
                let aged = h
                    .held
                    .values()
                    .next()
                    .is_some_and(|f| seg.ts.since(f.ts) >= wait.time);
                let waited_long = held >= u64::from(wait.segments)
                    || (aged && held >= min_segments(wait.segments));
                if waited_long || flags.rst() {
                    let start = h.first_held().unwrap_or(BIAS);
                    h.anchor_at(start);
                    conn.meta.mid_stream = true;
                }
            }
        }

        // Deliver what is ready, declaring holes that waited long enough.
        if conn.dirs.get(dir).held_bytes > wait.held_cap {
            self.counters.dropped(DropReason::ConnBufferFull, 1);
        }
        // The in-order fast path leaves nothing to drain.
        if !conn.dirs.both(HalfStream::settled) {
            self.held_total -= Self::drain_both(conn, slot, seg.ts, wait, &self.counters, out);
        }

        // After a RST, segments reordered behind it are still taken for a
        // while: the reordering window, in segments here or in time in `advance`.
        let reset_over = conn
            .reset
            .is_some_and(|at| conn.segments - at >= u64::from(wait.segments));
        if reset_over {
            self.close_slot(slot, CloseReason::Reset, out);
        } else if conn.dirs.both(|h| h.finished) {
            let reason = if conn.reset.is_some() {
                CloseReason::Reset
            } else {
                CloseReason::Fin
            };
            self.close_slot(slot, reason, out);
        }
    }

    fn on_chunk<H: StreamHandler>(&mut self, chunk: &StreamChunk<'_>, out: &mut H) {
        Counters::add(&self.counters.segments, 1);
        let (canon, _) = chunk.key.canonical();
        let slot = match self.table.find(&canon) {
            Some(s) => s,
            None => {
                self.make_room(out);
                let meta = ConnMeta {
                    key: chunk.key,
                    source: chunk.source,
                    tls_library: chunk.tls_library,
                    comm: chunk.comm,
                    traffic: chunk.traffic,
                    opened: chunk.ts,
                    mid_stream: chunk.offset != 0,
                };
                Counters::add(&self.counters.connections, 1);
                self.table.insert(canon, Conn::new(meta, true))
            }
        };
        let wait = Wait::of(&self.limits);
        let total_cap = self.limits.total_buffer_bytes;
        let Some(conn) = self.table.arrival(slot, chunk.ts) else {
            return;
        };
        if conn.meta.source == CaptureSource::EbpfSyscall && chunk.source.is_tls() {
            // TLS plaintext supersedes what the syscall path saw of this socket.
            conn.meta.source = chunk.source;
            conn.meta.tls_library = chunk.tls_library;
        }
        let dir = if chunk.key.client == conn.meta.key.client
            && chunk.key.server == conn.meta.key.server
        {
            chunk.dir
        } else {
            chunk.dir.reverse()
        };
        let half = conn.dirs.get_mut(dir);
        let pos = BIAS.saturating_add(chunk.offset);
        if !half.anchored {
            half.anchor_at(pos);
            half.seen = true;
        }
        // An empty chunk marks where the stream has got to (the end of a
        // call whose bytes were capped): what lies before it is a gap.
        half.seen_upto = half
            .seen_upto
            .max(pos.saturating_add(chunk.data.len() as u64));
        if !chunk.data.is_empty() {
            let input = Arrival {
                dir,
                pos,
                data: chunk.data,
                ts: chunk.ts,
                ack: None,
            };
            Self::accept(
                conn,
                slot,
                input,
                &mut self.held_total,
                total_cap,
                &self.counters,
                out,
            );
        }
        if conn.dirs.get(dir).held_bytes > wait.held_cap {
            self.counters.dropped(DropReason::ConnBufferFull, 1);
        }
        self.held_total -=
            Self::drain(conn, slot, dir, chunk.ts, wait, &self.counters, out).released;
    }

    /// Creates a connection for a segment with no table entry.
    fn create<H: StreamHandler>(
        &mut self,
        observed: ConnKey,
        seg: &Segment<'_>,
        out: &mut H,
    ) -> u32 {
        self.make_room(out);
        let flags = seg.flags;
        let (key, oriented) = if flags.syn() {
            if flags.ack() {
                (observed.reversed(), true)
            } else {
                (observed, true)
            }
        } else if seg.src.port() < seg.dst.port() {
            (observed.reversed(), false)
        } else {
            (observed, false)
        };
        let meta = ConnMeta {
            key,
            source: CaptureSource::Pcap,
            tls_library: None,
            comm: None,
            traffic: None,
            opened: seg.ts,
            mid_stream: !flags.syn() || flags.ack(),
        };
        Counters::add(&self.counters.connections, 1);
        let (canon, _) = observed.canonical();
        self.table.insert(canon, Conn::new(meta, oriented))
    }

    /// Evicts the least recently active connection while the table is full.
    fn make_room<H: StreamHandler>(&mut self, out: &mut H) {
        while self.table.len() >= self.limits.max_connections.max(1) {
            let Some(oldest) = self.table.oldest() else {
                break;
            };
            self.counters.dropped(DropReason::ConnectionEvicted, 1);
            self.close_slot(oldest, CloseReason::Evicted, out);
        }
    }

    /// Takes the bytes of one segment or chunk: hands them out at once when
    /// they continue the stream and overtake nothing, holds them otherwise.
    fn accept<H: StreamHandler>(
        conn: &mut Conn,
        slot: u32,
        input: Arrival<'_>,
        held_total: &mut usize,
        total_cap: usize,
        counters: &Counters,
        out: &mut H,
    ) {
        let Arrival {
            dir,
            pos,
            data,
            ts,
            ack,
        } = input;
        let (half, peer) = conn.dirs.split_mut(dir);
        let placement = if half.anchored {
            half.place(pos, data.len())
        } else {
            Placement::Ahead
        };
        let overtakes =
            half.ack_block(ack, peer) != Block::Clear || half.front_block(peer) != Block::Clear;
        match placement {
            Placement::Old => counters.dropped(DropReason::Retransmission, 1),
            Placement::InOrder { skip } if !overtakes => {
                if skip > 0 {
                    counters.dropped(DropReason::Retransmission, 1);
                }
                Self::deliver(
                    conn,
                    slot,
                    dir,
                    ts,
                    data.get(skip..).unwrap_or_default(),
                    counters,
                    out,
                );
            }
            Placement::InOrder { .. } | Placement::Ahead => {
                if *held_total + data.len() > total_cap {
                    counters.dropped(DropReason::TotalBufferFull, 1);
                } else if half.hold(pos, data, ts, ack) {
                    *held_total += data.len();
                } else {
                    counters.dropped(DropReason::Retransmission, 1);
                }
            }
        }
    }

    /// Hands the next bytes of a direction to the handler.
    fn deliver<H: StreamHandler>(
        conn: &mut Conn,
        slot: u32,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        counters: &Counters,
        out: &mut H,
    ) {
        Self::emit_open(conn, slot, out);
        let half = conn.dirs.get_mut(dir);
        half.next += bytes.len() as u64;
        half.delivered_any = true;
        half.hole_since_segments = None;
        Counters::add(&counters.stream_bytes, bytes.len() as u64);
        out.data(ConnId(slot), &conn.meta, dir, ts, bytes);
    }

    fn emit_open<H: StreamHandler>(conn: &mut Conn, slot: u32, out: &mut H) {
        if !conn.opened {
            conn.opened = true;
            out.open(ConnId(slot), &conn.meta);
        }
    }

    /// Delivers held runs of one direction that have become contiguous;
    /// declares the hole before the first run a gap when it waited long
    /// enough, or while more than `wait.held_cap` bytes are held. A run that
    /// acknowledged peer bytes not yet delivered waits for them; if they do
    /// not come within the same wait, they are declared a gap of the peer.
    fn drain<H: StreamHandler>(
        conn: &mut Conn,
        slot: u32,
        dir: Direction,
        now: Timestamp,
        wait: Wait,
        counters: &Counters,
        out: &mut H,
    ) -> Drained {
        let mut drained = Drained::default();
        let segments = conn.segments;
        let force = wait.segments == 0;
        loop {
            let (half, peer) = conn.dirs.split_mut(dir);
            if !half.anchored {
                break;
            }
            if let Some((pos, held)) = half.take_ready(peer, !force) {
                drained.released += held.data.len();
                drained.progressed = true;
                let skip = (half.next - pos) as usize;
                if skip >= held.data.len() {
                    counters.dropped(DropReason::Retransmission, 1);
                    continue;
                }
                let bytes = held.data.get(skip..).unwrap_or_default();
                Self::deliver(conn, slot, dir, held.ts, bytes, counters, out);
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
                    let peer = conn.dirs.get_mut(dir.reverse());
                    let upto = peer.first_held().map_or(need, |f| f.min(need));
                    if upto > peer.next {
                        let len = upto - peer.next;
                        peer.next = upto;
                        peer.delivered_any = true;
                        counters.dropped(DropReason::GapBytes, len);
                        Self::emit_open(conn, slot, out);
                        out.gap(ConnId(slot), &conn.meta, dir.reverse(), now, len);
                        drained.progressed = true;
                    }
                    // The peer now has to deliver before this direction can go on.
                    break;
                }
                Block::Clear => half.hole_since_segments = None,
            }
            let len = first - half.next;
            half.next = first;
            half.delivered_any = true;
            counters.dropped(DropReason::GapBytes, len);
            drained.progressed = true;
            Self::emit_open(conn, slot, out);
            out.gap(ConnId(slot), &conn.meta, dir, now, len);
        }
        let half = conn.dirs.get_mut(dir);
        if let Some(fin) = half.fin_at
            && half.anchored
            && half.next >= fin
            && half.held.is_empty()
        {
            half.finished = true;
        }
        drained
    }

    /// Drains both directions until neither makes progress: delivering one
    /// side can unblock the other.
    fn drain_both<H: StreamHandler>(
        conn: &mut Conn,
        slot: u32,
        now: Timestamp,
        wait: Wait,
        counters: &Counters,
        out: &mut H,
    ) -> usize {
        let mut released = 0;
        // Each round that progresses consumes a held run or declares a gap.
        let mut rounds =
            conn.dirs.client_to_server.held.len() + conn.dirs.server_to_client.held.len() + 4;
        loop {
            let a = Self::drain(
                conn,
                slot,
                Direction::ClientToServer,
                now,
                wait,
                counters,
                out,
            );
            let b = Self::drain(
                conn,
                slot,
                Direction::ServerToClient,
                now,
                wait,
                counters,
                out,
            );
            released += a.released + b.released;
            rounds = rounds.saturating_sub(1);
            if !(a.progressed || b.progressed) || rounds == 0 {
                break;
            }
        }
        released
    }

    /// Delivers everything held (holes as gaps) and closes the connection.
    fn close_slot<H: StreamHandler>(&mut self, slot: u32, reason: CloseReason, out: &mut H) {
        let Some(mut conn) = self.table.remove(slot) else {
            return;
        };
        let reason = match reason {
            CloseReason::Shutdown | CloseReason::Timeout if conn.reset.is_some() => {
                CloseReason::Reset
            }
            other => other,
        };
        let now = conn.last_seen.max(self.now);
        for d in [Direction::ClientToServer, Direction::ServerToClient] {
            let half = conn.dirs.get_mut(d);
            if !half.anchored && half.seen {
                let start = half.first_held().unwrap_or(BIAS);
                half.anchor_at(start);
                conn.meta.mid_stream = true;
            }
            let wait = Wait {
                segments: 0,
                time: Default::default(),
                held_cap: 0,
            };
            self.held_total -=
                Self::drain(&mut conn, slot, d, now, wait, &self.counters, out).released;
        }
        if conn.opened {
            out.close(ConnId(slot), &conn.meta, now, reason);
        }
        Counters::add(&self.counters.connections_closed, 1);
        let canon = conn.meta.key.canonical().0;
        let until = now.saturating_add(self.limits.closed_linger);
        self.closed.insert(canon, until);
        self.closed_order.push_back((until, canon));
        while self.closed_order.len() > self.limits.max_connections.max(1) {
            if let Some((_, k)) = self.closed_order.pop_front() {
                self.closed.remove(&k);
            }
        }
    }

    fn expire<H: StreamHandler>(&mut self, now: Timestamp, out: &mut H) {
        self.now = self.now.max(now);
        let timeout = self.limits.inactivity_timeout;
        while let Some(oldest) = self.table.oldest() {
            let idle = match self.table.get_mut(oldest) {
                Some(c) => now.since(c.last_seen) >= timeout,
                None => false,
            };
            if !idle {
                break;
            }
            self.counters.dropped(DropReason::ConnectionTimeout, 1);
            self.close_slot(oldest, CloseReason::Timeout, out);
        }
        while let Some(&(at, key)) = self.resets.front() {
            if now.since(at) < self.limits.reorder_window_time {
                break;
            }
            self.resets.pop_front();
            if let Some(slot) = self.table.find(&key)
                && self.table.get_mut(slot).is_some_and(|c| c.reset.is_some())
            {
                self.close_slot(slot, CloseReason::Reset, out);
            }
        }
        while let Some(&(until, key)) = self.closed_order.front() {
            if until > now {
                break;
            }
            self.closed_order.pop_front();
            if self.closed.get(&key) == Some(&until) {
                self.closed.remove(&key);
            }
        }
    }

    fn close_netns<H: StreamHandler>(&mut self, netns: NetnsId, out: &mut H) {
        for slot in self.table.slots() {
            let matches = self
                .table
                .get_mut(slot)
                .is_some_and(|c| c.meta.key.netns == netns);
            if matches {
                self.close_slot(slot, CloseReason::Fin, out);
            }
        }
    }
}

/// The two directions of a connection.
#[derive(Debug, Default)]
struct Dirs {
    client_to_server: HalfStream,
    server_to_client: HalfStream,
}

impl Dirs {
    fn get(&self, dir: Direction) -> &HalfStream {
        match dir {
            Direction::ClientToServer => &self.client_to_server,
            Direction::ServerToClient => &self.server_to_client,
        }
    }

    fn get_mut(&mut self, dir: Direction) -> &mut HalfStream {
        match dir {
            Direction::ClientToServer => &mut self.client_to_server,
            Direction::ServerToClient => &mut self.server_to_client,
        }
    }

    fn swap(&mut self) {
        std::mem::swap(&mut self.client_to_server, &mut self.server_to_client);
    }

    /// This direction mutably, and its peer.
    fn split_mut(&mut self, dir: Direction) -> (&mut HalfStream, &HalfStream) {
        match dir {
            Direction::ClientToServer => (&mut self.client_to_server, &self.server_to_client),
            Direction::ServerToClient => (&mut self.server_to_client, &self.client_to_server),
        }
    }

    fn both(&self, f: impl Fn(&HalfStream) -> bool) -> bool {
        f(&self.client_to_server) && f(&self.server_to_client)
    }
}

impl Wait {
    /// The wait the limits ask for.
    fn of(limits: &Limits) -> Self {
        Self {
            segments: limits.reorder_window_segments,
            time: limits.reorder_window_time,
            held_cap: limits.conn_buffer_bytes,
        }
    }
}

/// Segments that must follow a hole before its age alone declares it:
/// timestamps of reordered packets can jump, segment counts cannot.
fn min_segments(window: u32) -> u64 {
    u64::from((window / 4).max(1))
}

/// The bytes of one segment or chunk, placed in their direction.
#[derive(Clone, Copy, Debug)]
struct Arrival<'a> {
    dir: Direction,
    pos: u64,
    data: &'a [u8],
    ts: Timestamp,
    /// The acknowledgment number the segment carried.
    ack: Option<u32>,
}

/// What one `drain` call did.
#[derive(Clone, Copy, Debug, Default)]
struct Drained {
    /// Bytes that left holding.
    released: usize,
    /// Something was delivered or declared lost.
    progressed: bool,
}

/// How long a hole is waited for before it is declared a gap.
#[derive(Clone, Copy, Debug)]
struct Wait {
    /// Later segments of the connection; 0 declares every hole at once.
    segments: u32,
    /// Packet time.
    time: std::time::Duration,
    /// Held bytes above which holes are declared at once.
    held_cap: usize,
}

/// The direction of a packet from `observed.client` to `observed.server`
/// relative to the connection key `key`.
fn direction_of(key: &ConnKey, observed: &ConnKey) -> Direction {
    if key.client == observed.client {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    }
}

impl Reassembler for TcpReassembler {
    fn push<H: StreamHandler>(&mut self, input: Input<'_>, out: &mut H) {
        let ts = input.ts();
        if ts > self.now {
            self.now = ts;
        }
        match input {
            Input::Segment(seg) => self.on_segment(&seg, out),
            Input::Chunk(chunk) => self.on_chunk(&chunk, out),
            Input::Closed { key, .. } => {
                if let Some(slot) = self.table.find(&key.canonical().0) {
                    self.close_slot(slot, CloseReason::Fin, out);
                }
            }
            Input::NetnsClosed { netns, .. } => self.close_netns(netns, out),
        }
    }

    fn advance<H: StreamHandler>(&mut self, now: Timestamp, out: &mut H) {
        self.expire(now, out);
    }

    fn flush<H: StreamHandler>(&mut self, now: Timestamp, out: &mut H) {
        self.now = self.now.max(now);
        while let Some(oldest) = self.table.oldest() {
            self.close_slot(oldest, CloseReason::Shutdown, out);
        }
    }

    fn connections(&self) -> usize {
        self.table.len()
    }

    fn buffered_bytes(&self) -> usize {
        self.held_total
    }
}
