//! Reassembler throughput in bytes/s: in-order segments (the fast path,
//! no copy) and segments reordered in pairs (every other one held).
#![allow(missing_docs)]
#![allow(clippy::indexing_slicing)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;

use capture_core::Limits;
use capture_core::model::*;
use capture_core::reassembly::TcpReassembler;
use capture_core::stage::{ConnId, Reassembler, StreamHandler};
use capture_core::stats::Counters;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

struct Sum(u64);

impl StreamHandler for Sum {
    fn open(&mut self, _: ConnId, _: &ConnMeta) {}
    fn data(&mut self, _: ConnId, _: &ConnMeta, _: Direction, _: Timestamp, b: &[u8]) {
        self.0 += b.len() as u64;
    }
    fn gap(&mut self, _: ConnId, _: &ConnMeta, _: Direction, _: Timestamp, _: u64) {}
    fn close(&mut self, _: ConnId, _: &ConnMeta, _: Timestamp, _: CloseReason) {}
}

const CONNS: u32 = 64;
const SEGS: u32 = 256;
const MSS: usize = 1448;

/// Segments of `CONNS` interleaved connections, each `SEGS` × `MSS` bytes after a SYN.
fn segments(reorder: bool) -> Vec<(SocketAddr, u32, TcpFlags)> {
    let mut out = Vec::new();
    for c in 0..CONNS {
        let client: SocketAddr = format!("10.0.{}.{}:4{:04}", c / 250, c % 250 + 1, c)
            .parse()
            .unwrap();
        out.push((client, 1000, TcpFlags::SYN));
    }
    for s in 0..SEGS {
        let s = if reorder { s ^ 1 } else { s };
        for c in 0..CONNS {
            let client: SocketAddr = format!("10.0.{}.{}:4{:04}", c / 250, c % 250 + 1, c)
                .parse()
                .unwrap();
            out.push((client, 1001 + s * MSS as u32, TcpFlags::ACK));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let payload = vec![b'a'; MSS];
    let server: SocketAddr = "10.9.9.9:80".parse().unwrap();
    let mut group = c.benchmark_group("reassembler");
    group.throughput(Throughput::Bytes(u64::from(CONNS * SEGS) * MSS as u64));
    for (name, reorder) in [("in_order", false), ("reordered_pairs", true)] {
        let segs = segments(reorder);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut r = TcpReassembler::new(Limits::default(), Arc::new(Counters::default()));
                let mut sum = Sum(0);
                for (i, &(client, seq, flags)) in segs.iter().enumerate() {
                    let data: &[u8] = if flags == TcpFlags::SYN {
                        b""
                    } else {
                        &payload
                    };
                    r.push(
                        Input::Segment(Segment {
                            ts: Timestamp(i as u64),
                            src: client,
                            dst: server,
                            netns: NetnsId::UNKNOWN,
                            seq,
                            ack: 0,
                            flags,
                            payload: data,
                        }),
                        &mut sum,
                    );
                }
                r.flush(Timestamp(u64::MAX / 4), &mut sum);
                assert_eq!(sum.0, u64::from(CONNS * SEGS) * MSS as u64);
                black_box(sum.0)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
