//! The pipeline runner: sharding, batching, shutdown, stats and the Stream.

#![allow(clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use capture_core::model::*;
use capture_core::pipeline::Pipeline;
use capture_core::sink::MemorySink;
use capture_core::stage::{Output, Parser};
use capture_core::stats::{Counters, DropReason};
use capture_core::testkit::{OwnedSegment, Replay};

/// Each client line is a request; each connection close emits the lines
/// still without a newline as an exchange flagged `Incomplete`.
struct Lines;

#[derive(Default)]
struct LineParser {
    buf: Vec<u8>,
}

impl Parser for LineParser {
    fn data(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Output<'_>,
    ) {
        if dir != Direction::ClientToServer {
            return;
        }
        self.buf.extend_from_slice(bytes);
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let mut ex = Exchange::new(Protocol::Http11, meta, Roles::CONFIRMED);
            ex.request = Some(Request::builder("LINE", &line[..line.len() - 1]).build(ts));
            out.exchange(ex);
        }
    }
    fn gap(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, _: u64, _: &mut Output<'_>) {}
    fn close(&mut self, meta: &ConnMeta, ts: Timestamp, _: CloseReason, out: &mut Output<'_>) {
        if !self.buf.is_empty() {
            let mut ex = Exchange::new(Protocol::Http11, meta, Roles::CONFIRMED);
            ex.request = Some(Request::builder("PARTIAL", &self.buf).build(ts));
            ex.flag(Flag::Incomplete);
            out.exchange(ex);
        }
    }
}

impl capture_core::stage::ParserFactory for Lines {
    type Parser = LineParser;
    fn parser(&self, _: &ConnMeta) -> LineParser {
        LineParser::default()
    }
}

/// `conns` connections, each sending `lines` lines in two segments per line,
/// closing with FIN unless `leave_open`.
fn traffic(conns: u16, lines: u32, leave_open: bool) -> Vec<OwnedSegment> {
    let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let mut per_conn: Vec<Vec<_>> = Vec::new();
    for c in 0..conns {
        let client: SocketAddr = format!("10.0.1.{}:{}", c % 200 + 1, 20_000 + c)
            .parse()
            .unwrap();
        let mut segs = vec![
            (client, server, 100, TcpFlags::SYN, vec![]),
            (server, client, 900, TcpFlags::SYN | TcpFlags::ACK, vec![]),
        ];
        let mut seq = 101;
        for l in 0..lines {
            let line = format!("conn{c}-line{l}\n").into_bytes();
            let (a, b) = line.split_at(line.len() / 2);
            segs.push((client, server, seq, TcpFlags::ACK, a.to_vec()));
            seq += a.len() as u32;
            segs.push((client, server, seq, TcpFlags::ACK, b.to_vec()));
            seq += b.len() as u32;
        }
        segs.push((
            client,
            server,
            seq,
            TcpFlags::ACK,
            b"tail-no-newline".to_vec(),
        ));
        seq += 15;
        if !leave_open {
            segs.push((client, server, seq, TcpFlags::FIN | TcpFlags::ACK, vec![]));
            segs.push((server, client, 901, TcpFlags::FIN | TcpFlags::ACK, vec![]));
        }
        per_conn.push(segs);
    }
    // Interleave connections round-robin, as on a busy link.
    let mut out = Vec::new();
    let longest = per_conn.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for segs in &per_conn {
            if let Some(s) = segs.get(i) {
                out.push(s.clone());
            }
        }
    }
    out
}

fn paths(sink: &MemorySink) -> Vec<String> {
    let mut v: Vec<String> = sink
        .drain()
        .into_iter()
        .map(|e| e.request.unwrap().path().to_string())
        .collect();
    v.sort();
    v
}

fn replay(segs: Vec<OwnedSegment>) -> Replay {
    Replay::file(segs)
}

#[test]
fn every_worker_count_gives_the_same_exchanges() {
    let mut results = Vec::new();
    for (workers, sink_thread) in [(1, false), (1, true), (2, false), (3, false), (4, false)] {
        let sink = MemorySink::new(1 << 20);
        let stats = Pipeline::builder(Lines)
            .workers(workers)
            .sink_thread(sink_thread)
            .source(replay(traffic(50, 20, false)))
            .sink(sink.clone())
            .build()
            .unwrap()
            .run()
            .unwrap();
        assert_eq!(stats.connections, 50, "workers={workers}");
        assert_eq!(stats.exchanges, 50 * 21);
        assert_eq!(stats.exchanges_delivered, 50 * 21);
        assert_eq!(stats.total_drops(), 0, "{:?}", stats.drops);
        results.push(paths(&sink));
    }
    assert_eq!(results[0].len(), 50 * 21);
    assert!(results.iter().all(|r| *r == results[0]));
}

/// A writer whose bytes the test reads after the pipeline is gone.
#[derive(Clone, Default)]
struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn json_lines_are_the_same_whether_the_workers_or_the_sink_write_them() {
    // With a sink thread, the workers encode the lines (the sink's
    // encoder) and the sink thread only writes them out.
    let mut results = Vec::new();
    for (workers, sink_thread) in [(1, false), (1, true), (2, true), (3, true)] {
        let out = Shared::default();
        let stats = Pipeline::builder(Lines)
            .workers(workers)
            .sink_thread(sink_thread)
            .source(replay(traffic(50, 20, false)))
            .sink(capture_core::sink::JsonLinesSink::new(out.clone()))
            .build()
            .unwrap()
            .run()
            .unwrap();
        assert_eq!(stats.exchanges_delivered, 50 * 21, "workers={workers}");
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        results.push(lines.into_iter().map(str::to_owned).collect::<Vec<_>>());
    }
    assert_eq!(results[0].len(), 50 * 21);
    assert!(results[0][0].contains("\"conn"), "{}", results[0][0]);
    assert!(results.iter().all(|r| *r == results[0]));
}

#[test]
fn stopping_a_live_pipeline_flushes_open_connections() {
    let sink = MemorySink::new(1 << 20);
    let source = Replay::live(traffic(10, 3, true));
    let running = Pipeline::builder(Lines)
        .workers(2)
        .source(source)
        .sink(sink.clone())
        .build()
        .unwrap()
        .spawn()
        .unwrap();
    // The complete lines arrive while the connections are still open.
    assert_eq!(sink.wait_for(30, Duration::from_secs(10)), 30);
    assert_eq!(running.stats().connections_closed, 0);
    running.stop();
    let stats = running.join().unwrap();
    let all = sink.drain();
    let partial: Vec<_> = all
        .iter()
        .filter(|e| e.has_flag(Flag::Incomplete))
        .collect();
    assert_eq!(
        partial.len(),
        10,
        "every open connection was flushed at shutdown"
    );
    assert_eq!(stats.connections_closed, 10);
}

#[test]
fn a_full_sink_drops_and_counts() {
    let sink = MemorySink::new(5);
    let stats = Pipeline::builder(Lines)
        .workers(1)
        .source(replay(traffic(1, 20, false)))
        .sink(sink.clone().with_counters(Arc::new(Counters::default())))
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(sink.len(), 5);
    assert_eq!(sink.dropped(), 16);
    assert_eq!(stats.exchanges, 21);
}

#[test]
fn live_inputs_never_wait_for_a_full_worker_queue_and_every_drop_is_counted() {
    // One tiny queue, a worker that cannot keep up: live inputs must not block the source.
    let sink = MemorySink::new(1 << 20);
    let source = Replay::live_then_end(traffic(200, 50, false));
    let stats = Pipeline::builder(Lines)
        .workers(2)
        .queue_batches(1)
        .source(source)
        .sink(sink.clone())
        .build()
        .unwrap()
        .run()
        .unwrap();
    let delivered = sink.len() as u64;
    let dropped = stats.drops(DropReason::WorkerQueueFull);
    // Whatever was dropped is counted; whatever was not is parsed.
    assert_eq!(stats.segments + dropped, stats.packets, "{stats:?}");
    assert!(delivered <= 200 * 51);
}

#[test]
fn filters_drop_and_count() {
    let sink = MemorySink::new(1 << 20);
    let stats = Pipeline::builder(Lines)
        .workers(1)
        .filter(Box::new(|ex: &Exchange| {
            ex.request
                .as_ref()
                .is_some_and(|r| r.path().ends_with(b"line0"))
        }))
        .source(replay(traffic(4, 3, false)))
        .sink(sink.clone())
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(sink.len(), 4);
    assert_eq!(stats.drops(DropReason::Filtered), 4 * 3);
}

/// Names the server end of every exchange whose path ends in `line0`.
struct NameLineZero(Arc<Pod>);

impl capture_core::enrich::Enricher for NameLineZero {
    fn enrich(&self, batch: &mut [Exchange]) {
        for ex in batch {
            if ex
                .request
                .as_ref()
                .is_some_and(|r| r.path().ends_with(b"line0"))
            {
                ex.conn.k8s.server = Some(K8sEnd::new(self.0.clone(), Some("web".into())));
            }
        }
    }
}

#[test]
fn enrichers_run_before_filters_on_every_worker_count() {
    let pod = Arc::new(Pod {
        namespace: "shop".into(),
        name: "web-0".into(),
        uid: "u1".into(),
        workload: "web".into(),
        workload_kind: WorkloadKind::StatefulSet,
        labels: Vec::new(),
    });
    for workers in [1, 3] {
        let sink = MemorySink::new(1 << 20);
        let stats = Pipeline::builder(Lines)
            .workers(workers)
            .enricher(Box::new(NameLineZero(pod.clone())))
            .filter(Box::new(|ex: &Exchange| ex.conn.k8s.server.is_some()))
            .source(replay(traffic(4, 3, false)))
            .sink(sink.clone())
            .build()
            .unwrap()
            .run()
            .unwrap();
        let kept = sink.drain();
        assert_eq!(kept.len(), 4, "{workers} workers");
        for ex in &kept {
            let v: serde_json::Value = serde_json::from_str(&ex.to_json()).unwrap();
            assert_eq!(v["conn"]["k8s"]["server"]["pod"], "web-0");
            assert_eq!(v["conn"]["k8s"]["server"]["container"], "web");
            assert!(v["conn"]["k8s"].get("client").is_none());
        }
        assert_eq!(stats.drops(DropReason::Filtered), 4 * 3);
    }
}

#[test]
fn a_pipeline_is_a_stream_in_a_tokio_program() {
    use futures_util::StreamExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let got = rt.block_on(async {
        let stream = Pipeline::builder(Lines)
            .workers(2)
            .source(replay(traffic(5, 4, false)))
            .build()
            .unwrap()
            .into_stream(8)
            .unwrap();
        stream
            .map(|e| e.request.unwrap().path().to_string())
            .collect::<Vec<_>>()
            .await
    });
    assert_eq!(got.len(), 5 * 5);
}

#[test]
fn building_without_a_source_or_sink_is_an_error() {
    assert!(Pipeline::builder(Lines).build().is_err());
    let err = Pipeline::builder(Lines)
        .source(replay(vec![]))
        .build()
        .unwrap()
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("no sink"));
}

/// Counts what each worker's recorder saw, and how many recorders there were.
#[derive(Default)]
struct SeenPaths {
    paths: Arc<std::sync::Mutex<Vec<String>>>,
    recorders: Arc<std::sync::atomic::AtomicUsize>,
}

struct SeenRecorder(Arc<std::sync::Mutex<Vec<String>>>);

impl capture_core::pipeline::ExchangeRecorder for SeenRecorder {
    fn record(&mut self, batch: &[Exchange]) {
        let mut p = self.0.lock().unwrap();
        p.extend(
            batch
                .iter()
                .map(|e| e.request.as_ref().unwrap().path().to_string()),
        );
    }
}

impl capture_core::pipeline::ExchangeObserver for SeenPaths {
    fn recorder(&self) -> Box<dyn capture_core::pipeline::ExchangeRecorder> {
        self.recorders.fetch_add(1, Ordering::Relaxed);
        Box::new(SeenRecorder(self.paths.clone()))
    }
}

#[test]
fn an_observer_sees_exactly_what_the_filters_pass_on_every_worker() {
    for workers in [1, 3] {
        let seen = Arc::new(SeenPaths::default());
        let sink = MemorySink::new(1 << 20);
        let running = Pipeline::builder(Lines)
            .workers(workers)
            .filter(Box::new(|ex: &Exchange| {
                ex.request
                    .as_ref()
                    .is_some_and(|r| !r.path().ends_with(b"line0"))
            }))
            .observer(seen.clone())
            .source(replay(traffic(30, 5, false)))
            .sink(sink.clone())
            .build()
            .unwrap()
            .spawn()
            .unwrap();
        let queues = running.queue_depths();
        let stats = running.join().unwrap();
        assert_eq!(seen.recorders.load(Ordering::Relaxed), workers);
        let mut observed = seen.paths.lock().unwrap().clone();
        observed.sort();
        assert_eq!(observed.len() as u64, stats.exchanges_delivered);
        assert_eq!(observed, paths(&sink), "workers={workers}");
        // One queue per worker and the sink's; none left once the pipeline ended.
        let depths = queues.now();
        let names: Vec<&str> = depths.iter().map(|q| q.name.as_str()).collect();
        if workers == 1 {
            assert!(names.is_empty(), "{names:?}");
        } else {
            assert_eq!(names, ["sink", "worker-0", "worker-1", "worker-2"]);
        }
        assert!(depths.iter().all(|q| q.batches == 0 && q.capacity == 0));
    }
}

/// A sink that only reads its batches and keeps nothing: it counts what it
/// is shown, by path.
#[derive(Clone, Default)]
struct Reader(Arc<std::sync::Mutex<Vec<String>>>);

impl capture_core::stage::Sink for Reader {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), capture_core::stage::SinkError> {
        let mut seen = self.0.lock().unwrap();
        seen.extend(
            batch
                .iter()
                .map(|e| e.request.as_ref().unwrap().path().to_string()),
        );
        Ok(())
    }
}

#[test]
fn a_sink_that_does_not_drain_its_batch_sees_each_exchange_once() {
    for (workers, sink_thread) in [(1, false), (1, true), (2, false)] {
        let sink = Reader::default();
        let stats = Pipeline::builder(Lines)
            .workers(workers)
            .sink_thread(sink_thread)
            .source(replay(traffic(30, 40, false)))
            .sink(sink.clone())
            .build()
            .unwrap()
            .run()
            .unwrap();
        let mut seen = sink.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 30 * 41, "workers {workers}");
        seen.sort();
        seen.dedup();
        // Every line is unique; the 30 unfinished tails read the same.
        assert_eq!(
            seen.len(),
            30 * 40 + 1,
            "no exchange twice (workers {workers})"
        );
        assert_eq!(stats.exchanges_delivered, 30 * 41);
    }
}

#[test]
fn an_exchange_whose_segments_conflicted_is_flagged() {
    let client: SocketAddr = "10.0.1.1:20000".parse().unwrap();
    let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let segs = vec![
        (client, server, 100, TcpFlags::SYN, vec![]),
        (server, client, 900, TcpFlags::SYN | TcpFlags::ACK, vec![]),
        (client, server, 101, TcpFlags::ACK, b"first\n".to_vec()),
        // "/admin" held, then other bytes for the same positions.
        (client, server, 110, TcpFlags::ACK, b"admin\n".to_vec()),
        (client, server, 110, TcpFlags::ACK, b"index\n".to_vec()),
        (client, server, 107, TcpFlags::ACK, b"GET".to_vec()),
        (client, server, 116, TcpFlags::ACK, b"last\n".to_vec()),
    ];
    let sink = MemorySink::new(100);
    let stats = Pipeline::builder(Lines)
        .workers(1)
        .source(replay(segs))
        .sink(sink.clone())
        .build()
        .unwrap()
        .run()
        .unwrap();
    let flagged: Vec<(String, bool)> = sink
        .drain()
        .into_iter()
        .map(|e| {
            let conflict = e.flags.contains(&Flag::OverlapConflict);
            (e.request.unwrap().path().to_string(), conflict)
        })
        .collect();
    assert_eq!(
        flagged,
        [
            ("first".to_owned(), false),
            ("GETadmin".to_owned(), true),
            ("last".to_owned(), false),
        ]
    );
    assert_eq!(stats.drops(DropReason::OverlapConflict), 1);
}

#[test]
fn a_deadline_stops_a_live_pipeline_and_flushes_it() {
    let sink = MemorySink::new(1 << 20);
    let started = std::time::Instant::now();
    let stats = Pipeline::builder(Lines)
        .workers(1)
        .source(Replay::live(traffic(3, 2, true)))
        .sink(sink.clone())
        .stop_after(Duration::from_millis(300))
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(stats.connections_closed, 3, "open connections flushed");
    assert_eq!(sink.len(), 3 * 3);
}

#[test]
fn sigterm_stops_a_pipeline_that_asked_for_it_and_the_handler_goes_with_it() {
    let sink = MemorySink::new(1 << 20);
    let running = Pipeline::builder(Lines)
        .workers(2)
        .source(Replay::live(traffic(3, 2, true)))
        .sink(sink.clone())
        .stop_on_signals()
        .build()
        .unwrap()
        .spawn()
        .unwrap();
    assert_eq!(sink.wait_for(6, Duration::from_secs(10)), 6);
    assert!(!running.stop_requested());
    signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
    assert!(
        running.wait_timeout(Duration::from_secs(10)),
        "the signal stopped it"
    );
    assert!(running.stop_requested());
    let stats = running.join().unwrap();
    assert_eq!(stats.connections_closed, 3, "open connections flushed");
}
