//! TCP segments: which connection and direction they belong to, where
//! their bytes fall in its sequence space, and what their flags say.

use super::conn::{Arrival, Conn, Wait, min_segments};
use super::half::HalfStream;
use super::tcp::TcpReassembler;
use crate::model::{CaptureSource, CloseReason, ConnKey, ConnMeta, Direction, Segment};
use crate::stage::StreamHandler;
use crate::stats::{Counter, DropReason};

impl TcpReassembler {
    pub(super) fn on_segment<H: StreamHandler>(&mut self, seg: &Segment<'_>, out: &mut H) {
        self.counters.add(Counter::Segments, 1);
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
                        let h = c.dirs.get(direction_of(&c.meta.key, &observed));
                        h.reopened_by_syn_at(h.position(seg.seq.wrapping_add(1)))
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
        let (conn, mut ctx) = self.arrival(slot, seg.ts);
        let Some(conn) = conn else { return };

        // The SYN tells who the client is; before the first delivery the
        // orientation may still be corrected.
        if flags.syn() && !conn.oriented && !conn.opened() {
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
                if dir == Direction::ClientToServer && !conn.opened() {
                    conn.meta.mid_stream = false;
                }
            }
        } else if !half.seen {
            half.start_unanchored(seg.seq);
        }
        let half = conn.dirs.get_mut(dir);

        // Payload starts after the SYN's sequence number.
        let data_seq = if flags.syn() {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let pos = half.position(data_seq);
        let payload = seg.payload;
        let end = pos.saturating_add(payload.len() as u64);

        if !half.in_window(pos, end) {
            // Further ahead than any window: forged or corrupt, and taken
            // as a gap it would claim up to gigabytes lost.
            ctx.counters.dropped(DropReason::OutOfWindow, 1);
        } else {
            if flags.fin() {
                half.fin_at = Some(half.fin_at.map_or(end, |f| f.min(end)));
            }
            if half.anchored && !flags.rst() {
                // Even a bare ACK says where the sender's stream has got to.
                half.seen_upto = half.seen_upto.max(end);
            }
            if !payload.is_empty() {
                let arrival = Arrival {
                    dir,
                    pos,
                    data: payload,
                    ts: seg.ts,
                    ack,
                };
                conn.accept(arrival, &mut ctx, out);
            }
        }

        let newly_reset = flags.rst() && conn.reset.is_none();
        if newly_reset {
            conn.reset = Some(conn.segments);
        }

        // Release streams whose start was never anchored, once the wait is over.
        for d in [Direction::ClientToServer, Direction::ServerToClient] {
            let h = conn.dirs.get(d);
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
                    conn.start_mid_stream(d);
                }
            }
        }

        // Deliver what is ready, declaring holes that waited long enough.
        if conn.dirs.get(dir).held_bytes > wait.held_cap {
            ctx.counters.dropped(DropReason::ConnBufferFull, 1);
        }
        // The in-order fast path leaves nothing to drain.
        if !conn.dirs.both(HalfStream::settled) {
            conn.drain_both(seg.ts, wait, &mut ctx, out);
        }

        // After a RST, segments reordered behind it are still taken for a
        // while: the reordering window, in segments here or in time in `advance`.
        let reset_over = conn
            .reset
            .is_some_and(|at| conn.segments - at >= u64::from(wait.segments));
        let finished = conn.dirs.both(|h| h.finished);
        let reset = conn.reset.is_some();
        if newly_reset {
            self.resets.push_back((seg.ts, canon));
        }
        if reset_over {
            self.close_slot(slot, CloseReason::Reset, out);
        } else if finished {
            let reason = if reset {
                CloseReason::Reset
            } else {
                CloseReason::Fin
            };
            self.close_slot(slot, reason, out);
        }
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
        let meta = ConnMeta::new(key, CaptureSource::Pcap, seg.ts)
            .joined_mid_stream(!flags.syn() || flags.ack());
        self.counters.add(Counter::Connections, 1);
        let (canon, _) = observed.canonical();
        self.table.insert(canon, Conn::new(meta, oriented))
    }
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
