//! Replay end to end: capture bytes in memory → decode → reassembly →
//! HTTP parsing → sink, on one worker. Throughput in bytes/s of capture
//! file and in exchanges/s, with a counting sink and with the JSON-lines
//! sink writing to nowhere; each also with metrics on (`_metrics`: every
//! exchange recorded for Prometheus and the service map, as `--metrics` does).
//! The capture is Zeek's, read from `../shared/pcaps/` (the bench is
//! skipped, saying so, when it is absent).
#![allow(missing_docs, clippy::indexing_slicing)]

use std::hint::black_box;

use cleartap::core::model::Exchange;
use cleartap::core::pipeline::Pipeline;
use cleartap::core::sink::JsonLinesSink;
use cleartap::core::stage::{Sink, SinkError};
use cleartap::http::HttpProtocol;
use cleartap::metrics::{Metrics, MetricsConfig};
use cleartap::pcap::{CaptureFile, FileSource};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CAPTURE: &str = "1000-requests-one-dropped-response.pcap";

struct Count(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Sink for Count {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        self.0
            .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        batch.clear();
        Ok(())
    }
}

fn replay(bytes: &[u8], sink: impl Sink + 'static, metrics: Option<&Metrics>) -> u64 {
    let file = CaptureFile::from_bytes(CAPTURE, bytes.to_vec()).unwrap();
    let mut builder = Pipeline::builder(HttpProtocol::default());
    if let Some(m) = metrics {
        builder = m.instrument(builder);
    }
    let stats = builder
        .workers(1)
        .source(FileSource::from_files([file]).unwrap())
        .sink(sink)
        .build()
        .unwrap()
        .run()
        .unwrap();
    stats.exchanges
}

fn bench(c: &mut Criterion) {
    let Some(path) = capture_core::testkit::SharedFiles::pcap_or_skip("replay bench", CAPTURE)
    else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    let exchanges = replay(&bytes, Count(Default::default()), None);
    assert_eq!(exchanges, 1000);
    let metrics = Metrics::new(MetricsConfig::default());
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(bytes.len() as u64)),
        ("exchanges", Throughput::Elements(exchanges)),
    ] {
        let mut group = c.benchmark_group(format!("replay_{unit}"));
        group.throughput(throughput);
        group.bench_function("count_sink", |b| {
            b.iter(|| black_box(replay(&bytes, Count(Default::default()), None)))
        });
        group.bench_function("count_sink_metrics", |b| {
            b.iter(|| black_box(replay(&bytes, Count(Default::default()), Some(&metrics))))
        });
        group.bench_function("json_lines_sink", |b| {
            b.iter(|| black_box(replay(&bytes, JsonLinesSink::new(std::io::sink()), None)))
        });
        group.bench_function("json_lines_sink_metrics", |b| {
            b.iter(|| {
                black_box(replay(
                    &bytes,
                    JsonLinesSink::new(std::io::sink()),
                    Some(&metrics),
                ))
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
