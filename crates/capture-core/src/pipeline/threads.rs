//! The pipeline's threads: how many, what each runs, and the queues
//! between them.
//!
//! Every source thread runs the same loop, [`drive`]: poll the source,
//! hand each input to a [`Feed`]. With one source and one worker the feed
//! is the worker itself (no queue, no copy); otherwise it is a router that
//! batches inputs for worker threads.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use super::PipelineError;
use super::QueueDepths;
use super::batch::Batch;
use super::builder::PipelineBuilder;
use super::control::{RunningPipeline, Signals, Stop, StopHandle};
use super::queue::{QueueReceiver, QueueSender, queue};
use super::routing::{BATCH_BYTES, Msg, Router};
use super::weight::exchange_bytes;
use super::worker::{Steps, Worker};
use crate::model::{Exchange, Input, Timestamp};
use crate::stage::{ExchangeEncoder, ParserFactory, Poll, Reassembler, Sink, SinkError, Source};
use crate::stats::{Counter, Counters, DropReason};

/// Exchanges per batch handed to the sink.
const SINK_BATCH: usize = 256;
/// Bytes of exchanges after which a batch goes to the sink however few it holds.
const SINK_BATCH_BYTES: usize = 1 << 20;
/// Longest time a worker holds produced exchanges before sending them on.
const SINK_LATENCY: Duration = Duration::from_millis(100);
/// How often cumulative source counters (kernel drops) are refreshed.
const SOURCE_STATS_EVERY: Duration = Duration::from_secs(1);
/// Emptied batches kept for reuse per worker; larger ones are freed.
const RECYCLED_PER_WORKER: usize = 2;
/// Written batches on their way back to the worker that made them, per
/// worker; more are freed on the sink thread.
const RETURNED_PER_WORKER: usize = 4;

type Thread = (String, JoinHandle<Result<(), PipelineError>>);

fn spawn_named<F>(name: String, f: F) -> Result<Thread, PipelineError>
where
    F: FnOnce() -> Result<(), PipelineError> + Send + 'static,
{
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map(|h| (name.clone(), h))
        .map_err(|source| PipelineError::Thread { name, source })
}

/// Starts the threads of a configured pipeline.
pub(super) fn start<P: ParserFactory, R: Reassembler + 'static>(
    b: PipelineBuilder<P, R>,
    sink: Box<dyn Sink>,
) -> Result<RunningPipeline, PipelineError> {
    let handle = StopHandle::default();
    let signals = if b.stop_on_signals {
        Signals::register(&handle)?
    } else {
        Signals::default()
    };
    let stop = Stop {
        handle: handle.clone(),
        deadline: b.stop_after.map(|d| Instant::now() + d),
    };
    let registry = b.registry.clone();
    let protocol = Arc::new(b.protocol);
    let steps = Arc::new(Steps {
        enrichers: b.enrichers,
        filters: b.filters,
    });
    let observers = b.observers;
    let recorders = || observers.iter().map(|o| o.recorder()).collect::<Vec<_>>();
    let mut queues = QueueDepths::default();
    let workers = b.workers;
    let mut limits = b.limits.clone();
    let queue_bytes = limits.queue_bytes;
    if workers > 1 {
        limits.max_connections = limits.max_connections.div_ceil(workers);
        limits.total_buffer_bytes = limits.total_buffer_bytes.div_ceil(workers);
    }
    let files_only = b.sources.iter().all(|s| !s.is_live());
    let mut threads = Vec::new();
    // Each worker gets its own encoder, made before the sink leaves for
    // its thread.
    let sink_thread = |sink: Box<dyn Sink>, threads: &mut Vec<Thread>, queues: &mut QueueDepths| {
        let encoders: Vec<_> = (0..workers).map(|_| sink.encoder()).collect();
        let (tx, rx) = queue::<SinkBatch>(b.queue_batches, queue_bytes);
        let rx = Arc::new(rx);
        queues.add("sink".into(), &rx);
        let counters = registry.counters();
        threads.push(spawn_named("cleartap-sink".into(), move || {
            run_sink(sink, rx, counters)
        })?);
        Ok::<_, PipelineError>((tx, encoders))
    };

    // One source, one worker: a single thread, no queues, no copies (the
    // sink on a thread of its own only when asked for).
    if workers == 1 && b.sources.len() == 1 {
        let counters = registry.counters();
        let reassembler = (b.reassembler)(&limits, counters.clone());
        let worker = Worker::new(protocol, reassembler, steps, counters.clone(), recorders());
        let source = b
            .sources
            .into_iter()
            .next()
            .ok_or(PipelineError::NoSource)?;
        let sink = if b.sink_thread {
            let (tx, encoders) = sink_thread(sink, &mut threads, &mut queues)?;
            SinkEnd::thread(tx, files_only, encoders.into_iter().next().flatten())
        } else {
            SinkEnd::Here(sink)
        };
        let feed = Inline {
            worker,
            sink,
            out: Outbox::default(),
            counters: counters.clone(),
            result: Ok(()),
        };
        threads.push(spawn_named("cleartap-inline".into(), move || {
            drive(source, feed, counters, stop)
        })?);
        return Ok(RunningPipeline {
            stop: handle,
            registry,
            threads,
            signals,
            queues,
        });
    }

    let (sink_tx, encoders) = sink_thread(sink, &mut threads, &mut queues)?;
    let mut encoders = encoders.into_iter();
    let (recycle_tx, recycle_rx) = bounded::<Batch>(workers * RECYCLED_PER_WORKER);
    let mut worker_txs = Vec::new();
    for i in 0..workers {
        let (tx, rx) = queue::<Msg>(b.queue_batches, queue_bytes.div_ceil(workers));
        let rx = Arc::new(rx);
        queues.add(format!("worker-{i}"), &rx);
        worker_txs.push(tx);
        let counters = registry.counters();
        let reassembler = (b.reassembler)(&limits, counters.clone());
        let worker = Worker::new(
            protocol.clone(),
            reassembler,
            steps.clone(),
            counters.clone(),
            recorders(),
        );
        let sink = SinkEnd::thread(sink_tx.clone(), files_only, encoders.next().flatten());
        let recycle_tx = recycle_tx.clone();
        threads.push(spawn_named(format!("cleartap-worker-{i}"), move || {
            run_worker(worker, rx, sink, recycle_tx, counters)
        })?);
    }
    drop(sink_tx);

    let hasher = foldhash::fast::RandomState::default();
    for (i, source) in b.sources.into_iter().enumerate() {
        let counters = registry.counters();
        let router = Router {
            txs: worker_txs.clone(),
            pending: (0..workers).map(|_| Batch::new()).collect(),
            recycle: recycle_rx.clone(),
            hasher: hasher.clone(),
            counters: counters.clone(),
            wait: !source.is_live(),
        };
        let stop = stop.clone();
        threads.push(spawn_named(format!("cleartap-source-{i}"), move || {
            drive(source, router, counters, stop)
        })?);
    }
    Ok(RunningPipeline {
        stop: handle,
        registry,
        threads,
        signals,
        queues,
    })
}

/// Where a source thread puts what its source hands out.
pub(super) trait Feed {
    /// One input, its bytes borrowed for this call.
    fn input(&mut self, input: Input<'_>);
    /// After each poll that did not end the source.
    fn polled(&mut self, poll: Poll, live: bool);
    /// The source is over: pass on what is held.
    fn finish(self) -> Result<(), PipelineError>;
}

/// The one loop every source thread runs: poll until the source is
/// finished or fails, or a stop is asked for; then finish the feed.
fn drive<F: Feed>(
    mut source: Box<dyn Source>,
    mut feed: F,
    counters: Arc<Counters>,
    stop: Stop,
) -> Result<(), PipelineError> {
    let live = source.is_live();
    let mut last_stats = Instant::now();
    let result = loop {
        if stop.requested() {
            break Ok(());
        }
        let polled = source.poll(&mut |input: Input<'_>| feed.input(input), &counters);
        if last_stats.elapsed() >= SOURCE_STATS_EVERY {
            source.update_stats(&counters);
            last_stats = Instant::now();
        }
        match polled {
            Ok(Poll::Finished) => break Ok(()),
            Ok(poll) => feed.polled(poll, live),
            Err(e) => {
                break Err(PipelineError::Source {
                    name: source.name(),
                    message: e.to_string(),
                });
            }
        }
    };
    source.update_stats(&counters);
    result.and(feed.finish())
}

/// Exchanges on their way to the sink, and what they weigh.
#[derive(Default)]
struct Outbox {
    exchanges: Vec<Exchange>,
    bytes: usize,
}

impl Outbox {
    /// Takes what the worker produced (after its filters).
    fn take_from<P: ParserFactory, R: Reassembler>(&mut self, worker: &mut Worker<P, R>) {
        let before = self.exchanges.len();
        worker.take_exchanges(&mut self.exchanges);
        self.bytes += self
            .exchanges
            .get(before..)
            .unwrap_or_default()
            .iter()
            .map(exchange_bytes)
            .sum::<usize>();
    }

    fn full(&self) -> bool {
        self.exchanges.len() >= SINK_BATCH || self.bytes >= SINK_BATCH_BYTES
    }
}

/// What a worker hands the sink thread: exchanges, or the bytes its
/// encoder made of them (then the exchanges never leave the worker).
enum Load {
    Exchanges(Vec<Exchange>),
    Encoded { bytes: Vec<u8>, exchanges: u64 },
}

/// A batch on its way to the sink thread, and the way back to the worker
/// that made it. Written, the batch goes back and the worker frees the
/// exchanges and reuses the vector: memory freed on the thread that
/// allocated it is reused at once, where freed on the sink thread it was
/// handed back to the worker's heap later, and meanwhile the worker took
/// fresh pages (a sink thread cost more CPU than writing on the worker).
/// On its way back a batch still counts in the sink queue's bytes
/// ([`QueueReceiver::hand_back`]); the worker gives them back when it
/// takes the batch.
struct SinkBatch {
    load: Load,
    home: Sender<Returned>,
}

/// A written batch back at its worker, with its weight in the sink queue.
type Returned = (Load, usize);

/// Bytes of an encoded batch's buffer kept for reuse at most.
const ENCODED_KEPT: usize = 8 * SINK_BATCH_BYTES;
/// Bytes of encoded exchanges from file sources gathered before they go to
/// the sink thread: each batch wakes it, and a wake-up costs CPU on both
/// sides (live sources send at each delivery, for latency). With 512 KB
/// batches the sink thread took 4 % more CPU than one thread on an HTTP/1
/// replay (about 700 wake-ups for 360 MB of JSON, each a few microseconds
/// of system time); with 4 MB, as much as one thread.
const ENCODED_BATCH: usize = 4 * SINK_BATCH_BYTES;

/// Where exchanges go: the sink itself, or the queue of a sink thread.
enum SinkEnd {
    Here(Box<dyn Sink>),
    Thread(ThreadEnd),
}

/// A worker's end of the queue to a sink thread.
struct ThreadEnd {
    tx: QueueSender<SinkBatch>,
    /// Every source is a file: wait for room instead of dropping.
    wait: bool,
    /// Written batches come back here, with their weight.
    home: (Sender<Returned>, Receiver<Returned>),
    /// The sink's encoder, when it has one: the worker encodes.
    encoder: Option<Box<dyn ExchangeEncoder>>,
    /// An emptied buffer to fill next.
    spare: Option<Load>,
    /// Encoded exchanges not yet sent, and how many.
    encoded: Vec<u8>,
    encoded_n: u64,
}

impl SinkEnd {
    fn thread(
        tx: QueueSender<SinkBatch>,
        wait: bool,
        encoder: Option<Box<dyn ExchangeEncoder>>,
    ) -> Self {
        SinkEnd::Thread(ThreadEnd {
            tx,
            wait,
            home: bounded(RETURNED_PER_WORKER),
            encoder,
            spare: None,
            encoded: Vec::new(),
            encoded_n: 0,
        })
    }

    fn deliver(&mut self, out: &mut Outbox, counters: &Counters) -> Result<(), PipelineError> {
        if out.exchanges.is_empty() {
            return Ok(());
        }
        let n = out.exchanges.len() as u64;
        match self {
            SinkEnd::Here(sink) => {
                out.bytes = 0;
                match write_all(sink.as_mut(), &mut out.exchanges) {
                    Ok(()) => {
                        counters.add(Counter::ExchangesDelivered, n);
                        Ok(())
                    }
                    Err(e) => {
                        counters.dropped(DropReason::SinkDeliveryFailed, n);
                        Err(PipelineError::Sink(e.to_string()))
                    }
                }
            }
            SinkEnd::Thread(end) => {
                end.deliver(out, counters);
                Ok(())
            }
        }
    }

    fn finish(self, counters: &Counters) -> Result<(), PipelineError> {
        match self {
            SinkEnd::Here(mut sink) => sink.flush().map_err(|e| PipelineError::Sink(e.to_string())),
            // Dropping the sender lets the sink thread drain and flush;
            // what came back is freed, its bytes given back.
            SinkEnd::Thread(mut end) => {
                end.send_encoded(counters);
                end.reclaim();
                Ok(())
            }
        }
    }
}

impl ThreadEnd {
    /// Frees (or keeps to refill) everything written so far, giving its
    /// bytes back to the queue.
    fn reclaim(&mut self) {
        while let Ok((mut written, weight)) = self.home.1.try_recv() {
            match &mut written {
                Load::Exchanges(v) => v.clear(),
                Load::Encoded { bytes, .. } => bytes.clear(),
            }
            self.spare = Some(written);
            self.tx.reclaimed(weight);
        }
    }

    fn deliver(&mut self, out: &mut Outbox, counters: &Counters) {
        self.reclaim();
        let n = out.exchanges.len() as u64;
        let bytes = std::mem::take(&mut out.bytes);
        let Some(encoder) = &mut self.encoder else {
            let next = match self.spare.take() {
                Some(Load::Exchanges(v)) => v,
                _ => Vec::with_capacity(SINK_BATCH),
            };
            let exchanges = std::mem::replace(&mut out.exchanges, next);
            let weight = bytes + exchanges.capacity() * size_of::<Exchange>();
            self.send(Load::Exchanges(exchanges), weight, n, counters);
            return;
        };
        if self.encoded.capacity() == 0 {
            self.encoded = match self.spare.take() {
                Some(Load::Encoded { bytes, .. }) if bytes.capacity() <= ENCODED_KEPT => bytes,
                _ => Vec::with_capacity(ENCODED_BATCH + ENCODED_BATCH / 2),
            };
        }
        for ex in &out.exchanges {
            encoder.encode(ex, &mut self.encoded);
        }
        out.exchanges.clear();
        self.encoded_n += n;
        if !self.wait || self.encoded.len() >= ENCODED_BATCH {
            self.send_encoded(counters);
        }
    }

    /// Sends what is encoded and not yet sent.
    fn send_encoded(&mut self, counters: &Counters) {
        if self.encoded_n == 0 {
            return;
        }
        let bytes = std::mem::take(&mut self.encoded);
        let n = std::mem::take(&mut self.encoded_n);
        let weight = bytes.capacity();
        self.send(
            Load::Encoded {
                bytes,
                exchanges: n,
            },
            weight,
            n,
            counters,
        );
    }

    fn send(&self, load: Load, weight: usize, n: u64, counters: &Counters) {
        let batch = SinkBatch {
            load,
            home: self.home.0.clone(),
        };
        if self.tx.send(batch, weight, self.wait).is_err() {
            counters.dropped(DropReason::SinkQueueFull, n);
        }
    }
}

/// One source and one worker on one thread: inputs go straight from the
/// source's buffers to the reassembler.
struct Inline<P: ParserFactory, R: Reassembler> {
    worker: Worker<P, R>,
    sink: SinkEnd,
    out: Outbox,
    counters: Arc<Counters>,
    /// The first sink failure; capture goes on after it.
    result: Result<(), PipelineError>,
}

impl<P: ParserFactory, R: Reassembler> Inline<P, R> {
    fn deliver(&mut self) {
        self.out.take_from(&mut self.worker);
        let delivered = self.sink.deliver(&mut self.out, &self.counters);
        if self.result.is_ok() {
            self.result = delivered;
        }
    }
}

impl<P: ParserFactory, R: Reassembler> Feed for Inline<P, R> {
    fn input(&mut self, input: Input<'_>) {
        self.worker.push(input);
        if self.worker.produced_at_least(SINK_BATCH, SINK_BATCH_BYTES) {
            self.deliver();
        }
    }

    fn polled(&mut self, poll: Poll, live: bool) {
        let now = (poll == Poll::Idle && live).then(Timestamp::now);
        self.worker.advance(now);
        self.deliver();
    }

    fn finish(mut self) -> Result<(), PipelineError> {
        self.worker.flush();
        self.deliver();
        self.result.and(self.sink.finish(&self.counters))
    }
}

fn run_worker<P: ParserFactory, R: Reassembler>(
    mut worker: Worker<P, R>,
    rx: Arc<QueueReceiver<Msg>>,
    mut sink: SinkEnd,
    recycle: Sender<Batch>,
    counters: Arc<Counters>,
) -> Result<(), PipelineError> {
    let mut out = Outbox::default();
    let mut last_send = Instant::now();
    for (msg, bytes) in rx.iter() {
        match msg {
            Msg::Inputs(mut batch) => {
                for input in batch.iter() {
                    worker.push(input);
                    // A batch of inputs can make thousands of exchanges:
                    // they go on by the sink batch, within the sink queue's
                    // bytes, not all at once after the batch.
                    if worker.produced_at_least(SINK_BATCH, SINK_BATCH_BYTES) {
                        out.take_from(&mut worker);
                        if out.full() {
                            sink.deliver(&mut out, &counters)?;
                            last_send = Instant::now();
                        }
                    }
                }
                worker.advance(None);
                // Batches that grew for large payloads are freed, not kept.
                if batch.heap_bytes() <= 2 * BATCH_BYTES + (64 << 10) {
                    batch.clear();
                    let _ = recycle.try_send(batch);
                }
            }
            Msg::Tick(now) => worker.advance(Some(now)),
        }
        rx.release(bytes);
        out.take_from(&mut worker);
        // Send full batches at once, and partial ones when the queue is idle
        // or they have waited long enough.
        if out.full()
            || (!out.exchanges.is_empty() && (rx.is_empty() || last_send.elapsed() >= SINK_LATENCY))
        {
            sink.deliver(&mut out, &counters)?;
            last_send = Instant::now();
        }
    }
    worker.flush();
    out.take_from(&mut worker);
    sink.deliver(&mut out, &counters)?;
    sink.finish(&counters)
}

/// Hands `batch` to the sink and empties it, whatever the sink left in it:
/// a sink that only reads its batch must not see the same exchanges again.
fn write_all(sink: &mut dyn Sink, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
    let written = sink.write(batch);
    batch.clear();
    written
}

fn run_sink(
    mut sink: Box<dyn Sink>,
    rx: Arc<QueueReceiver<SinkBatch>>,
    counters: Arc<Counters>,
) -> Result<(), PipelineError> {
    let mut result = Ok(());
    for (SinkBatch { mut load, home }, bytes) in rx.iter() {
        let (n, written) = match &mut load {
            Load::Exchanges(exchanges) => (exchanges.len() as u64, sink.write(exchanges)),
            Load::Encoded { bytes, exchanges } => (*exchanges, sink.write_encoded(bytes)),
        };
        // Back to the worker, which empties it, still counted in the
        // queue's bytes; freed here when the worker is gone or batches on
        // their way back already hold half of them.
        if rx.hand_back(bytes) {
            if let Err(TrySendError::Full((left, _)) | TrySendError::Disconnected((left, _))) =
                home.try_send((load, bytes))
            {
                drop(left);
                rx.reclaimed(bytes);
            }
        } else {
            drop(load);
        }
        match written {
            Ok(()) => counters.add(Counter::ExchangesDelivered, n),
            Err(e) => {
                counters.dropped(DropReason::SinkDeliveryFailed, n);
                if result.is_ok() {
                    result = Err(PipelineError::Sink(e.to_string()));
                }
            }
        }
    }
    if let Err(e) = sink.flush() {
        result = result.and(Err(PipelineError::Sink(e.to_string())));
    }
    result
}
