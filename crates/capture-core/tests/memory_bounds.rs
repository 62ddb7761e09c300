//! Memory bounded in bytes: the queues between threads, an idle
//! connection, and bytes held for reordering, measured with a counting
//! allocator. The tests run one at a time (they share the allocator's
//! figures).

#![allow(clippy::indexing_slicing)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use capture_core::Limits;
use capture_core::model::*;
use capture_core::pipeline::Pipeline;
use capture_core::reassembly::TcpReassembler;
use capture_core::stage::{
    InputSink, Output, Parser, Poll, Reassembler, Sink, SinkError, Source, SourceError,
};
use capture_core::stats::{Counter, Counters, DropReason};
use capture_core::testkit::{Tally, segment};

/// Counts the bytes allocated now and the most allocated at once.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = NOW.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counters only watch.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            NOW.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f` alone and returns its result with the most heap it held at
/// once beyond what was held before.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = NOW.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

const MB: usize = 1 << 20;

// Each test lets the queues hold 8 MB and allows 8 MB more for what is
// not queued: the batches being filled (one per worker, up to 576 KB) and
// worked on, batches kept for reuse (two per worker), the threads' own
// state; measured at 8–9 MB in all on an idle machine. Bounded only in items (64 batches of 512
// inputs), one worker's queue could hold 2 GiB of 64 KB segments.

/// `conns` connections, each a handshake then `per_conn` segments of
/// `payload`, all borrowing one buffer: the source itself holds nothing.
struct Segments {
    payload: Arc<Vec<u8>>,
    conns: u16,
    per_conn: u32,
    at: u32,
    live: bool,
}

impl Source for Segments {
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
        if self.at > self.per_conn {
            return Ok(Poll::Finished);
        }
        let server: SocketAddr = "10.0.0.2:80".parse()?;
        for c in 0..self.conns {
            let client = SocketAddr::new("10.0.1.1".parse()?, 20_000 + c);
            let (flags, seq, payload) = if self.at == 0 {
                (TcpFlags::SYN, 0, &[][..])
            } else {
                let len = self.payload.len() as u32;
                // No ACK: nothing waits for the server's (absent) bytes.
                (TcpFlags::PSH, 1 + (self.at - 1) * len, &self.payload[..])
            };
            counters.add(Counter::Packets, 1);
            out.input(segment(
                1_000_000 + u64::from(self.at),
                client,
                server,
                seq,
                flags,
                payload,
            ));
        }
        self.at += 1;
        Ok(Poll::Ready)
    }
    fn is_live(&self) -> bool {
        self.live
    }
}

/// A parser slower than the source: each call takes a moment. With
/// `body`, every call also emits an exchange carrying that many bytes.
struct Slow {
    pause: Duration,
    body: usize,
}

struct SlowParser {
    pause: Duration,
    body: usize,
}

impl Parser for SlowParser {
    fn data(
        &mut self,
        meta: &ConnMeta,
        _: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Output<'_>,
    ) {
        std::thread::sleep(self.pause);
        if self.body > 0 {
            let mut ex = Exchange::new(Protocol::Http11, meta, Roles::CONFIRMED);
            let mut body = BodyBuilder::new();
            body.append(
                &bytes.repeat(self.body.div_ceil(bytes.len().max(1))),
                self.body,
            );
            ex.request = Some(
                Request::builder("POST", "/")
                    .body_parts(body.finish())
                    .build(ts),
            );
            out.exchange(ex);
        }
    }
    fn gap(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, _: u64, _: &mut Output<'_>) {}
    fn close(&mut self, _: &ConnMeta, _: Timestamp, _: CloseReason, _: &mut Output<'_>) {}
}

impl capture_core::stage::ParserFactory for Slow {
    type Parser = SlowParser;
    fn parser(&self, _: &ConnMeta) -> SlowParser {
        SlowParser {
            pause: self.pause,
            body: self.body,
        }
    }
}

/// A sink that takes its time and keeps nothing.
struct SlowSink(Duration);

impl Sink for SlowSink {
    fn write(&mut self, _batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        std::thread::sleep(self.0);
        Ok(())
    }
}

fn limits(queue_bytes: usize) -> Limits {
    Limits {
        queue_bytes,
        ..Limits::default()
    }
}

#[test]
fn worker_queues_hold_at_most_their_bytes_with_64_kb_segments() {
    let payload = Arc::new(vec![b'x'; 64 << 10]);
    // 8 connections × 400 segments of 64 KB: 200 MB through two slow workers.
    let (stats, peak) = peak_of(|| {
        Pipeline::builder(Slow {
            pause: Duration::from_micros(300),
            body: 0,
        })
        .workers(2)
        .limits(limits(8 * MB))
        .source(Segments {
            payload: payload.clone(),
            conns: 8,
            per_conn: 400,
            at: 0,
            live: false,
        })
        .sink(SlowSink(Duration::ZERO))
        .build()
        .unwrap()
        .run()
        .unwrap()
    });
    eprintln!(
        "peak heap {:.1} MB for 8 MB of queues",
        peak as f64 / MB as f64
    );
    assert_eq!(
        stats.stream_bytes,
        8 * 400 * (64 << 10),
        "a file source waits, loses nothing"
    );
    assert_eq!(stats.drops(DropReason::WorkerQueueFull), 0);
    assert!(peak < 16 * MB, "peak heap {peak} bytes for 8 MB of queues");
}

#[test]
fn a_live_source_drops_and_counts_what_full_worker_queues_cannot_take() {
    let payload = Arc::new(vec![b'x'; 64 << 10]);
    let (stats, peak) = peak_of(|| {
        Pipeline::builder(Slow {
            pause: Duration::from_micros(300),
            body: 0,
        })
        .workers(2)
        // Each dropped segment leaves a hole, and the segments after it
        // are held for reordering until it is declared a gap: up to 32
        // per connection, 16 MB here with the default buffer limits, as
        // the machine's load decides. Those bytes are bounded by their own
        // limit, taken small so that the queues' bound is what is seen.
        .limits(Limits {
            total_buffer_bytes: MB,
            ..limits(8 * MB)
        })
        .source(Segments {
            payload: payload.clone(),
            conns: 8,
            per_conn: 400,
            at: 0,
            live: true,
        })
        .sink(SlowSink(Duration::ZERO))
        .build()
        .unwrap()
        .run()
        .unwrap()
    });
    eprintln!(
        "peak heap {:.1} MB; {} of {} segments dropped at full queues",
        peak as f64 / MB as f64,
        stats.drops(DropReason::WorkerQueueFull),
        stats.packets
    );
    assert!(stats.drops(DropReason::WorkerQueueFull) > 0);
    assert_eq!(
        stats.segments + stats.drops(DropReason::WorkerQueueFull),
        stats.packets,
        "every segment is parsed or counted"
    );
    assert!(peak < 16 * MB, "peak heap {peak} bytes for 8 MB of queues");
}

#[test]
fn the_sink_queue_holds_at_most_its_bytes_with_60_kb_bodies_and_a_slow_sink() {
    let payload = Arc::new(vec![b'y'; 1460]);
    // 3,000 exchanges of 60 KB bodies (180 MB) to a sink that is slower
    // than the worker: one worker, the sink on its own thread.
    let (stats, peak) = peak_of(|| {
        Pipeline::builder(Slow {
            pause: Duration::ZERO,
            body: 60 << 10,
        })
        .workers(1)
        .sink_thread(true)
        .limits(limits(8 * MB))
        .source(Segments {
            payload: payload.clone(),
            conns: 1,
            per_conn: 3_000,
            at: 0,
            live: false,
        })
        .sink(SlowSink(Duration::from_millis(3)))
        .build()
        .unwrap()
        .run()
        .unwrap()
    });
    eprintln!(
        "peak heap {:.1} MB for 8 MB of queue",
        peak as f64 / MB as f64
    );
    assert_eq!(
        stats.exchanges_delivered, 3_000,
        "a file source waits, loses nothing"
    );
    assert!(peak < 16 * MB, "peak heap {peak} bytes for 8 MB of queues");
}

/// A parser that makes `per_call` small exchanges of each piece of bytes
/// it is handed, like a segment of pipelined responses.
struct Chatty {
    per_call: usize,
}

impl Parser for Chatty {
    fn data(
        &mut self,
        meta: &ConnMeta,
        _: Direction,
        ts: Timestamp,
        _: &[u8],
        out: &mut Output<'_>,
    ) {
        for _ in 0..self.per_call {
            let mut ex = Exchange::new(Protocol::Http11, meta, Roles::CONFIRMED);
            ex.response = Some(
                Response::builder(200)
                    .header("content-length", "2")
                    .build_response(ts),
            );
            ex.flag(Flag::NoRequest);
            out.exchange(ex);
        }
    }
    fn gap(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, _: u64, _: &mut Output<'_>) {}
    fn close(&mut self, _: &ConnMeta, _: Timestamp, _: CloseReason, _: &mut Output<'_>) {}
}

struct Chatter(usize);

impl capture_core::stage::ParserFactory for Chatter {
    type Parser = Chatty;
    fn parser(&self, _: &ConnMeta) -> Chatty {
        Chatty { per_call: self.0 }
    }
}

#[test]
fn exchanges_made_by_a_batch_of_inputs_go_on_within_the_sink_queue_bytes() {
    let payload = Arc::new(vec![b'z'; 64]);
    // 512 connections × 8 segments, each segment 100 exchanges: 410k
    // exchanges, and a poll (a segment on each connection) makes 51k of
    // them at once. Sent on only after each batch of inputs, they would
    // take ~25 MB whatever the queue's bound; by the sink batch, the
    // queue's 4 MB.
    // One worker hands batches to the sink itself or to a sink thread.
    for (workers, sink_thread) in [(1, false), (1, true), (2, true)] {
        let (stats, peak) = peak_of(|| {
            Pipeline::builder(Chatter(100))
                .workers(workers)
                .sink_thread(sink_thread)
                .limits(limits(4 * MB))
                .source(Segments {
                    payload: payload.clone(),
                    conns: 512,
                    per_conn: 8,
                    at: 0,
                    live: false,
                })
                .sink(SlowSink(Duration::from_micros(200)))
                .build()
                .unwrap()
                .run()
                .unwrap()
        });
        eprintln!(
            "{workers} workers, sink thread {sink_thread}: peak heap {:.1} MB for 4 MB of queues",
            peak as f64 / MB as f64
        );
        assert_eq!(
            stats.exchanges_delivered,
            512 * 8 * 100,
            "a file source waits, loses nothing"
        );
        assert!(
            peak < 12 * MB,
            "{workers} workers: peak heap {peak} bytes for 4 MB of queues"
        );
    }
}

#[test]
fn an_idle_connection_costs_at_most_1_kib() {
    const CONNS: u32 = 100_000;
    let server: SocketAddr = "10.0.0.2:443".parse().unwrap();
    let ((), grown) = peak_of(|| {
        let before = NOW.load(Ordering::Relaxed);
        let counters = Arc::new(Counters::default());
        let mut r = TcpReassembler::new(
            Limits {
                max_connections: CONNS as usize,
                ..Limits::default()
            },
            counters.clone(),
        );
        for i in 0..CONNS {
            let ip = std::net::Ipv4Addr::from(0x0a01_0000 + (i >> 14));
            let client = SocketAddr::new(ip.into(), 10_000 + (i & 0x3fff) as u16);
            let ts = 1_000_000 + u64::from(i);
            r.push(
                segment(ts, client, server, 100, TcpFlags::SYN, b""),
                &mut Tally::default(),
            );
            r.push(
                segment(ts, server, client, 900, TcpFlags::SYN | TcpFlags::ACK, b""),
                &mut Tally::default(),
            );
            r.push(
                segment(ts, client, server, 101, TcpFlags::ACK, b""),
                &mut Tally::default(),
            );
        }
        assert_eq!(r.connections(), CONNS as usize);
        let held = NOW.load(Ordering::Relaxed) - before;
        eprintln!(
            "{CONNS} handshake-only connections: {:.1} MB of heap, {} bytes each",
            held as f64 / MB as f64,
            held / CONNS as usize
        );
        assert!(
            held <= CONNS as usize * 1024,
            "{} bytes per idle connection",
            held / CONNS as usize
        );
        drop(r);
    });
    let _ = grown;
}

#[test]
fn bytes_held_for_reordering_are_counted_with_what_holding_them_costs() {
    let client: SocketAddr = "10.0.1.1:20000".parse().unwrap();
    let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let ((), _) = peak_of(|| {
        let counters = Arc::new(Counters::default());
        let mut r = TcpReassembler::new(
            Limits {
                reorder_window_segments: u32::MAX,
                reorder_window_time: Duration::from_secs(3600),
                ..Limits::default()
            },
            counters,
        );
        r.push(
            segment(1, client, server, 0, TcpFlags::SYN, b""),
            &mut Tally::default(),
        );
        r.push(
            segment(2, server, client, 0, TcpFlags::SYN | TcpFlags::ACK, b""),
            &mut Tally::default(),
        );
        let before = NOW.load(Ordering::Relaxed);
        // Byte 1 never comes: 20,000 one-byte segments after it wait for it.
        for i in 0..20_000u32 {
            r.push(
                segment(3, client, server, 2 + 2 * i, TcpFlags::PSH, b"z"),
                &mut Tally::default(),
            );
        }
        let real = NOW.load(Ordering::Relaxed) - before;
        let counted = r.buffered_bytes();
        eprintln!("20,000 one-byte runs: {real} bytes of heap, {counted} counted");
        assert!(
            real <= counted + counted / 4,
            "{real} bytes held, {counted} counted"
        );
        assert!(counted <= real * 2, "{real} bytes held, {counted} counted");
    });
}

/// Set when a worker has stalled: only one does.
static STALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Calls of this worker's parsers so far.
    static WORKER_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A parser that makes one exchange with a `body`-byte body of each piece
/// of bytes, and stalls the first worker to reach its `stall_at`th call,
/// once, for `stall`: the other worker goes on filling the sink queue
/// meanwhile. (The first to get there, not a given worker: connections
/// go to workers by a hash seeded at random, so a given worker may get
/// one connection, or none, and never make that many calls.)
#[derive(Clone, Copy)]
struct StallOnce {
    body: usize,
    stall_at: usize,
    stall: Duration,
}

impl Parser for StallOnce {
    fn data(
        &mut self,
        meta: &ConnMeta,
        _: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Output<'_>,
    ) {
        let calls = WORKER_CALLS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        if calls == self.stall_at && !STALLED.swap(true, Ordering::Relaxed) {
            std::thread::sleep(self.stall);
        }
        let mut ex = Exchange::new(Protocol::Http11, meta, Roles::CONFIRMED);
        let mut body = BodyBuilder::new();
        body.append(
            &bytes.repeat(self.body.div_ceil(bytes.len().max(1))),
            self.body,
        );
        ex.request = Some(
            Request::builder("POST", "/")
                .body_parts(body.finish())
                .build(ts),
        );
        out.exchange(ex);
    }
    fn gap(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, _: u64, _: &mut Output<'_>) {}
    fn close(&mut self, _: &ConnMeta, _: Timestamp, _: CloseReason, _: &mut Output<'_>) {}
}

impl capture_core::stage::ParserFactory for StallOnce {
    type Parser = StallOnce;
    fn parser(&self, _: &ConnMeta) -> StallOnce {
        *self
    }
}

#[test]
fn written_batches_on_their_way_back_to_a_stalled_worker_stay_within_the_sink_queue_bytes() {
    let payload = Arc::new(vec![b'w'; 1460]);
    // Exchanges of 2 MB bodies, one per sink batch, to a slow sink, from
    // two workers. One worker stalls part-way with its batches queued; they
    // are written meanwhile and go back to it to be freed, while worker 1
    // fills the queue again. Held outside the queue's bytes, those
    // written batches (up to four per worker, 2.6 MB each as weighed)
    // came on top of the 16 MB the queue may hold: a peak of 28 MB, 22 MB
    // once they count in the queue's bytes.
    STALLED.store(false, Ordering::Relaxed);
    let queue = 16 * MB;
    let (stats, peak) = peak_of(|| {
        Pipeline::builder(StallOnce {
            body: 2 * MB,
            stall_at: 30,
            stall: Duration::from_millis(1500),
        })
        .workers(2)
        .limits(limits(queue))
        .source(Segments {
            payload: payload.clone(),
            conns: 8,
            per_conn: 24,
            at: 0,
            live: false,
        })
        .sink(SlowSink(Duration::from_millis(5)))
        .build()
        .unwrap()
        .run()
        .unwrap()
    });
    eprintln!(
        "peak heap {:.1} MB for 16 MB of sink queue",
        peak as f64 / MB as f64
    );
    assert!(STALLED.load(Ordering::Relaxed), "a worker stalled part-way");
    assert_eq!(
        stats.exchanges_delivered,
        8 * 24,
        "a file source waits, loses nothing"
    );
    // Beyond the queue: each worker's batch being filled and the body it
    // is building (its bytes twice), the batch the sink thread writes, and
    // the threads' own state. Measured: 21.6-22.1 MB, or 23.7-24.0 MB when
    // both workers build a body as the sink's batch peaks (24 runs); 28 MB
    // with written batches held outside the queue's bytes.
    assert!(
        peak < queue + 9 * MB,
        "peak heap {peak} bytes for 16 MB of sink queue"
    );
}
