//! The TCP reassembler: the connection table, expiry and closing. How
//! segments and socket chunks find their connection is in `segment` and
//! `chunk`; what a connection does with their bytes, in `conn`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::conn::{Conn, Ctx};
use super::table::Table;
use crate::limits::Limits;
use crate::model::{CloseReason, ConnKey, Input, NetnsId, Timestamp};
use crate::stage::{ConnId, Reassembler, StreamHandler};
use crate::stats::{Counter, Counters, DropReason};

/// The TCP reassembler: segments in, ordered bytes and gaps per direction out.
///
/// # Policies
///
/// - **Retransmissions and overlaps**: bytes already delivered are never
///   replaced. Among held out-of-order runs that overlap, the run starting
///   earliest supplies the overlapping bytes (first arrived on a tie). A
///   segment whose bytes differ from held bytes at the same positions is
///   counted as `overlap_conflict` and reported to the handler
///   ([`StreamHandler::overlap_conflict`]); bytes already delivered are not
///   kept, so they are not compared.
/// - **Forged positions**: bytes, FINs and acknowledgments further ahead
///   than the largest TCP window (1 GiB) are dropped as `out_of_window`, so
///   no gap is larger than a window.
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
///   Held bytes are counted with what holding them costs (about 100 bytes
///   per segment), so many tiny segments cannot hide behind a small count.
/// - **Closed connections** are remembered for [`Limits::closed_linger`] so
///   that late duplicates do not open ghost connections.
pub struct TcpReassembler {
    pub(super) limits: Limits,
    pub(super) counters: Arc<Counters>,
    pub(super) table: Table<Conn>,
    /// What every connection holds for reordering, overhead included.
    held_total: usize,
    /// Recently closed connections: canonical key → linger deadline.
    pub(super) closed: HashMap<ConnKey, Timestamp, RandomState>,
    closed_order: VecDeque<(Timestamp, ConnKey)>,
    /// Connections reset, by when: closed once the reordering window passed.
    pub(super) resets: VecDeque<(Timestamp, ConnKey)>,
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

    /// The connection in `slot`, marked most recently active and counted
    /// one more segment at `ts`, and what its methods share with the table.
    pub(super) fn arrival(&mut self, slot: u32, ts: Timestamp) -> (Option<&mut Conn>, Ctx<'_>) {
        self.table.touch(slot);
        let mut conn = self.table.get_mut(slot);
        if let Some(conn) = conn.as_deref_mut() {
            conn.last_seen = ts;
            conn.segments += 1;
        }
        let ctx = Ctx {
            id: ConnId(slot),
            counters: &self.counters,
            held_total: &mut self.held_total,
            total_cap: self.limits.total_buffer_bytes,
        };
        (conn, ctx)
    }

    /// Evicts the least recently active connection while the table is full.
    pub(super) fn make_room<H: StreamHandler>(&mut self, out: &mut H) {
        while self.table.len() >= self.limits.max_connections.max(1) {
            let Some(oldest) = self.table.oldest() else {
                break;
            };
            self.counters.dropped(DropReason::ConnectionEvicted, 1);
            self.close_slot(oldest, CloseReason::Evicted, out);
        }
    }

    /// Delivers everything held (holes as gaps) and closes the connection.
    pub(super) fn close_slot<H: StreamHandler>(
        &mut self,
        slot: u32,
        reason: CloseReason,
        out: &mut H,
    ) {
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
        let mut ctx = Ctx {
            id: ConnId(slot),
            counters: &self.counters,
            held_total: &mut self.held_total,
            total_cap: self.limits.total_buffer_bytes,
        };
        conn.close(now, reason, &mut ctx, out);
        self.counters.add(Counter::ConnectionsClosed, 1);
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
