//! Reading and decoding real captures held in memory: the replay hot path
//! before reassembly. Reports packets/s and bytes/s (of capture file). The
//! captures are other projects', read from `../shared/pcaps/` (skipped,
//! saying so, when it is absent).
//!
//! `cargo bench -p backend-pcap --bench read_decode`
// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use backend_pcap::file::Packets;
use backend_pcap::{CaptureFile, FileSource, decode_packet};
use capture_core::model::{Input, NetnsId};
use capture_core::stage::{Poll, Source};
use capture_core::stats::Counters;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn load(name: &str) -> Option<Vec<u8>> {
    let path = capture_core::testkit::SharedFiles::pcap_or_skip("read_decode bench", name)?;
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Reads every packet and decodes it; returns segments and payload bytes.
fn read_decode(bytes: &[u8]) -> (u64, u64) {
    let (mut segments, mut payload) = (0, 0);
    let Ok(packets) = Packets::new(bytes) else {
        return (0, 0);
    };
    for p in packets.flatten() {
        if let Ok(s) = decode_packet(p.link, p.ts, p.data, NetnsId::UNKNOWN) {
            segments += 1;
            payload += s.payload.len() as u64;
        }
    }
    (segments, payload)
}

fn bench(c: &mut Criterion) {
    for name in [
        "1000-requests-one-dropped-response.pcap",
        "grpc_Unary.pcapng",
    ] {
        let Some(bytes) = load(name) else { continue };
        let packets = Packets::new(&bytes).map(Iterator::count).unwrap_or(0) as u64;
        let mut group = c.benchmark_group(format!("read_decode/{name}"));

        group.throughput(Throughput::Elements(packets));
        group.bench_function("read (packets)", |b| {
            b.iter(|| {
                let n = Packets::new(black_box(&bytes))
                    .map(Iterator::count)
                    .unwrap_or(0);
                black_box(n)
            })
        });
        group.bench_function("read+decode (packets)", |b| {
            b.iter(|| black_box(read_decode(black_box(&bytes))))
        });
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("read+decode (bytes)", |b| {
            b.iter(|| black_box(read_decode(black_box(&bytes))))
        });
        group.throughput(Throughput::Elements(packets));
        group.bench_function("FileSource poll (packets)", |b| {
            b.iter_batched(
                || {
                    let file = CaptureFile::from_bytes(name, bytes.clone()).ok();
                    file.and_then(|f| FileSource::from_files([f]).ok())
                },
                |source| {
                    let Some(mut source) = source else { return 0 };
                    let counters = Counters::default();
                    let mut n = 0u64;
                    let mut sink = |i: Input<'_>| {
                        if let Input::Segment(s) = i {
                            n += s.payload.len() as u64;
                        }
                    };
                    while let Ok(Poll::Ready) = source.poll(&mut sink, &counters) {}
                    black_box(n)
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
