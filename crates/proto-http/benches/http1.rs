//! HTTP/1.1 parser throughput on a keep-alive connection of small JSON
//! exchanges (about 250 bytes each way), fed one message per call as the
//! reassembler hands them over.
//!
//! Like the `replay` example, it runs on mimalloc: the exchange model owns
//! every header name and value as a `String`, and with the system
//! allocator about half the time goes to malloc and free.

#![allow(clippy::print_stdout, missing_docs)]

use std::hint::black_box;

use capture_core::model::*;
use capture_core::stage::{Output, Parser, ParserFactory as _};
use capture_core::stats::Counters;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use proto_http::{HttpConfig, HttpProtocol};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXCHANGES: usize = 1000;

fn messages() -> Vec<(Direction, Vec<u8>)> {
    let mut msgs = Vec::with_capacity(EXCHANGES * 2);
    for i in 0..EXCHANGES {
        let body = format!(
            "{{\"user\":{i},\"name\":\"Ada Lovelace\",\"roles\":[\"admin\",\"dev\"],\"active\":true}}"
        );
        let request = format!(
            "POST /api/v1/users/{i}/profile HTTP/1.1\r\nHost: users.svc.cluster.local\r\nUser-Agent: client/1.2\r\nAccept: application/json\r\nContent-Type: application/json\r\nX-Request-Id: 7f3c9a2e-{i:08}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let reply = format!(
            "{{\"ok\":true,\"id\":{i},\"updated\":\"2026-11-22T11:00:00Z\",\"version\":42}}"
        );
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sun, 22 Nov 2026 11:00:00 GMT\r\nServer: envoy\r\nX-Envoy-Upstream-Service-Time: 3\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        msgs.push((Direction::ClientToServer, request.into_bytes()));
        msgs.push((Direction::ServerToClient, response.into_bytes()));
    }
    msgs
}

fn meta() -> ConnMeta {
    capture_core::testkit::meta("10.0.0.1:40000", "10.0.0.2:80")
}

/// Exchanges handed to the sink at once, as the pipeline does: the sink
/// drops them, so memory is reused while still in cache.
const SINK_BATCH: usize = 256;

/// Parses the whole stream; returns how many exchanges came out.
fn run(
    protocol: &HttpProtocol,
    meta: &ConnMeta,
    msgs: &[(Direction, Vec<u8>)],
    batch: &mut Vec<Exchange>,
) -> usize {
    let counters = Counters::default();
    let mut parser = protocol.parser(meta);
    let mut total = 0;
    for (i, (dir, bytes)) in msgs.iter().enumerate() {
        parser.data(
            meta,
            *dir,
            Timestamp(i as u64),
            bytes,
            &mut Output::new(batch, &counters),
        );
        if batch.len() >= SINK_BATCH {
            total += batch.len();
            black_box(&batch);
            batch.clear();
        }
    }
    parser.close(
        meta,
        Timestamp(u64::MAX),
        CloseReason::Fin,
        &mut Output::new(batch, &counters),
    );
    total += batch.len();
    black_box(&batch);
    batch.clear();
    total
}

/// Nanoseconds of CPU time this thread has used (user + system, from
/// `/proc/thread-self/stat`, in clock ticks of 10 ms), if the kernel tells:
/// the machine may be shared, and wall time then includes waiting for a core.
fn on_cpu_nanos() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_comm = s.rsplit_once(')')?.1;
    let mut fields = after_comm.split_whitespace();
    // Fields 14 and 15 of stat(5); `after_comm` starts at field 3.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * 10_000_000)
}

/// Throughput per second of CPU time actually used, printed beside
/// criterion's wall-clock figures.
fn cpu_time_throughput(
    protocol: &HttpProtocol,
    meta: &ConnMeta,
    msgs: &[(Direction, Vec<u8>)],
    bytes: usize,
) {
    let mut batch = Vec::with_capacity(SINK_BATCH + 1);
    let (Some(cpu0), wall0) = (on_cpu_nanos(), std::time::Instant::now()) else {
        return;
    };
    let mut rounds = 0u64;
    while wall0.elapsed() < std::time::Duration::from_secs(3) {
        black_box(run(protocol, meta, black_box(msgs), &mut batch));
        rounds += 1;
    }
    let Some(cpu1) = on_cpu_nanos() else { return };
    let cpu = (cpu1 - cpu0) as f64 / 1e9;
    let wall = wall0.elapsed().as_secs_f64();
    println!(
        "on-CPU time: {:.0} MB/s, {:.0} exchanges/s ({} rounds, {:.2} s on CPU of {:.2} s wall)",
        (rounds as f64 * bytes as f64) / cpu / 1e6,
        (rounds as f64 * EXCHANGES as f64) / cpu,
        rounds,
        cpu,
        wall
    );
}

fn bench(c: &mut Criterion) {
    let msgs = messages();
    let bytes: usize = msgs.iter().map(|(_, b)| b.len()).sum();
    let protocol = HttpProtocol::new(HttpConfig::default());
    let meta = meta();
    assert_eq!(run(&protocol, &meta, &msgs, &mut Vec::new()), EXCHANGES);
    println!(
        "stream: {EXCHANGES} exchanges, {} bytes ({} per exchange)",
        bytes,
        bytes / EXCHANGES
    );
    cpu_time_throughput(&protocol, &meta, &msgs, bytes);

    let mut g = c.benchmark_group("http1_keepalive_json");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("bytes", |b| {
        let mut batch = Vec::with_capacity(SINK_BATCH + 1);
        b.iter(|| run(&protocol, &meta, black_box(&msgs), &mut batch))
    });
    g.throughput(Throughput::Elements(EXCHANGES as u64));
    g.bench_function("exchanges", |b| {
        let mut batch = Vec::with_capacity(SINK_BATCH + 1);
        b.iter(|| run(&protocol, &meta, black_box(&msgs), &mut batch))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
