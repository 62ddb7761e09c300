//! Socket chunks (eBPF): bytes the kernel already ordered, stamped with
//! their position in the direction's stream. Ordering them only means
//! holding a chunk that arrives before its predecessor and declaring a jump
//! in positions a gap; no sequence numbers, handshakes or windows.

use super::conn::{Arrival, Conn, Wait};
use super::half::BIAS;
use super::tcp::TcpReassembler;
use crate::model::{CaptureSource, ConnMeta, StreamChunk};
use crate::stage::StreamHandler;
use crate::stats::{Counter, DropReason};

impl TcpReassembler {
    pub(super) fn on_chunk<H: StreamHandler>(&mut self, chunk: &StreamChunk<'_>, out: &mut H) {
        self.counters.add(Counter::Segments, 1);
        let (canon, _) = chunk.key.canonical();
        let slot = match self.table.find(&canon) {
            Some(s) => s,
            None => {
                self.make_room(out);
                let meta = ConnMeta::new(chunk.key, chunk.source, chunk.ts)
                    .with_tls_library(chunk.tls_library)
                    .with_comm(chunk.comm)
                    .with_traffic(chunk.traffic)
                    .joined_mid_stream(chunk.offset != 0);
                self.counters.add(Counter::Connections, 1);
                self.table.insert(canon, Conn::new(meta, true))
            }
        };
        let wait = Wait::of(&self.limits);
        let (conn, mut ctx) = self.arrival(slot, chunk.ts);
        let Some(conn) = conn else { return };
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
            let arrival = Arrival {
                dir,
                pos,
                data: chunk.data,
                ts: chunk.ts,
                ack: None,
            };
            conn.accept(arrival, &mut ctx, out);
        }
        if conn.dirs.get(dir).held_bytes > wait.held_cap {
            ctx.counters.dropped(DropReason::ConnBufferFull, 1);
        }
        conn.drain(dir, chunk.ts, wait, &mut ctx, out);
    }
}
