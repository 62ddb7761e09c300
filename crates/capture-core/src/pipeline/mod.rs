//! The pipeline runner: sources on their own threads, connections sharded
//! by a keyed hash to worker threads, exchanges to one sink.
//!
//! ```text
//! source thread ─┐  batches (bounded)   ┌─ worker 0: reassembler + parsers ─┐  batches (bounded)
//! source thread ─┼──── by flow hash ────┼─ worker 1                          ├──────────────────▶ sink thread
//!                └                      └─ worker N-1                       ─┘
//! ```
//!
//! With one source and one worker everything runs on a single thread: no
//! queue, no copy, the source's borrowed packets go straight to the
//! reassembler and the exchanges straight to the sink.

mod batch;
mod observer;
mod queues;
#[cfg(feature = "stream")]
mod stream;
mod worker;

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

pub use batch::Batch;
pub use observer::{ExchangeObserver, ExchangeRecorder};
pub use queues::{QueueDepth, QueueDepths};
#[cfg(feature = "stream")]
pub use stream::ExchangeStream;
use worker::{Steps, Worker};

use crate::enrich::Enricher;
use crate::filter::ExchangeFilter;
use crate::limits::Limits;
use crate::model::{Exchange, Input, Timestamp};
use crate::reassembly::TcpReassembler;
use crate::stage::{ParserFactory, Poll, Reassembler, Sink, SinkError, Source};
use crate::stats::{Counter, Counters, DropReason, Stats, StatsRegistry};

/// Inputs per batch handed from a source thread to a worker.
const BATCH_INPUTS: usize = 512;
/// Exchanges per batch handed to the sink.
const SINK_BATCH: usize = 256;
/// Longest time a worker holds produced exchanges before sending them on.
const SINK_LATENCY: Duration = Duration::from_millis(100);
/// How often cumulative source counters (kernel drops) are refreshed.
const SOURCE_STATS_EVERY: Duration = Duration::from_secs(1);

/// Why a pipeline could not be built or failed while running.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// `build` was called without a source.
    #[error("the pipeline has no source: add one with PipelineBuilder::source")]
    NoSource,
    /// `run` or `spawn` was called without a sink.
    #[error("the pipeline has no sink: add one with PipelineBuilder::sink, or use into_stream")]
    NoSink,
    /// A thread could not be started.
    #[error("cannot start pipeline thread {name}: {source}")]
    Thread {
        /// The thread's name.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A source failed; the pipeline flushed and stopped that source.
    #[error("source {name} failed: {message}")]
    Source {
        /// The source's name.
        name: String,
        /// What it reported.
        message: String,
    },
    /// The sink failed.
    #[error("sink failed: {0}")]
    Sink(String),
    /// A pipeline thread panicked.
    #[error("pipeline thread {0} panicked")]
    Panicked(String),
}

type ReassemblerFactory<R> = Arc<dyn Fn(&Limits, Arc<Counters>) -> R + Send + Sync>;

/// Configures a [`Pipeline`].
pub struct PipelineBuilder<P: ParserFactory, R: Reassembler = TcpReassembler> {
    protocol: P,
    reassembler: ReassemblerFactory<R>,
    workers: usize,
    limits: Limits,
    filters: Vec<Box<dyn ExchangeFilter>>,
    enrichers: Vec<Box<dyn Enricher>>,
    sources: Vec<Box<dyn Source>>,
    sink: Option<Box<dyn Sink>>,
    queue_batches: usize,
    sink_thread: bool,
    registry: StatsRegistry,
    observers: Vec<Arc<dyn ExchangeObserver>>,
}

/// A configured pipeline, ready to run.
pub struct Pipeline<P: ParserFactory, R: Reassembler = TcpReassembler> {
    b: PipelineBuilder<P, R>,
}

impl<P: ParserFactory> Pipeline<P, TcpReassembler> {
    /// Starts configuring a pipeline that parses with `protocol` and
    /// reassembles with the [`TcpReassembler`].
    pub fn builder(protocol: P) -> PipelineBuilder<P, TcpReassembler> {
        PipelineBuilder {
            protocol,
            reassembler: Arc::new(|limits: &Limits, counters| {
                TcpReassembler::new(limits.clone(), counters)
            }),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limits: Limits::default(),
            filters: Vec::new(),
            enrichers: Vec::new(),
            sources: Vec::new(),
            sink: None,
            queue_batches: 64,
            sink_thread: false,
            registry: StatsRegistry::new(),
            observers: Vec::new(),
        }
    }
}

impl<P: ParserFactory, R: Reassembler + 'static> PipelineBuilder<P, R> {
    /// Worker threads (at least 1). Default: the available cores.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Limits of the reassemblers (each worker gets its share of the
    /// connection and buffer limits).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds a filter; an exchange reaches the sink only if every filter keeps it.
    pub fn filter(mut self, filter: Box<dyn ExchangeFilter>) -> Self {
        self.filters.push(filter);
        self
    }

    /// Adds an enricher; enrichers run in order on the workers, after
    /// parsing and before the filters.
    pub fn enricher(mut self, enricher: Box<dyn Enricher>) -> Self {
        self.enrichers.push(enricher);
        self
    }

    /// Adds a source; each runs on its own thread.
    pub fn source(mut self, source: Box<dyn Source>) -> Self {
        self.sources.push(source);
        self
    }

    /// Shows every exchange passed on to the sink to `observer`, on the
    /// worker thread that produced it (one recorder per worker).
    pub fn observer(mut self, observer: Arc<dyn ExchangeObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Sets the sink.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.sink = Some(Box::new(sink));
        self
    }

    /// Batches each queue holds before it is full. Default 64.
    pub fn queue_batches(mut self, n: usize) -> Self {
        self.queue_batches = n.max(1);
        self
    }

    /// Runs the sink on a thread of its own even with one worker and one
    /// source: worth it when the sink is costly (JSON, network) and a core
    /// is free. With several workers the sink always has its own thread.
    pub fn sink_thread(mut self, on: bool) -> Self {
        self.sink_thread = on;
        self
    }

    /// The registry the pipeline counts into: give a sink its own
    /// [`Counters`] from it before building, to see its drops in [`Stats`].
    pub fn stats_registry(&self) -> StatsRegistry {
        self.registry.clone()
    }

    /// Replaces the reassembler by another implementation.
    pub fn reassembler<R2: Reassembler + 'static>(
        self,
        factory: impl Fn(&Limits, Arc<Counters>) -> R2 + Send + Sync + 'static,
    ) -> PipelineBuilder<P, R2> {
        PipelineBuilder {
            protocol: self.protocol,
            reassembler: Arc::new(factory),
            workers: self.workers,
            limits: self.limits,
            filters: self.filters,
            enrichers: self.enrichers,
            sources: self.sources,
            sink: self.sink,
            queue_batches: self.queue_batches,
            sink_thread: self.sink_thread,
            registry: self.registry,
            observers: self.observers,
        }
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Pipeline<P, R>, PipelineError> {
        if self.sources.is_empty() {
            return Err(PipelineError::NoSource);
        }
        Ok(Pipeline { b: self })
    }
}

/// Stops a running pipeline from any thread.
#[derive(Clone, Debug, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Asks every source to stop; workers then flush and the sink drains.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once `stop` was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A pipeline running on its own threads.
pub struct RunningPipeline {
    stop: StopHandle,
    registry: StatsRegistry,
    queues: QueueDepths,
    threads: Vec<(String, JoinHandle<Result<(), PipelineError>>)>,
}

impl RunningPipeline {
    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.registry.snapshot()
    }

    /// A handle that reads how full the pipeline's queues are.
    pub fn queue_depths(&self) -> QueueDepths {
        self.queues.clone()
    }

    /// A handle that stops the pipeline.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Asks the pipeline to stop (sources stop, connections are flushed).
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// True once every thread has ended.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(|(_, t)| t.is_finished())
    }

    /// Waits for every thread; returns the final counters, or the first error.
    pub fn join(self) -> Result<Stats, PipelineError> {
        let mut first_error = None;
        for (name, t) in self.threads {
            let r = t.join().unwrap_or(Err(PipelineError::Panicked(name)));
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.registry.snapshot()),
        }
    }
}

impl<P: ParserFactory, R: Reassembler + 'static> Pipeline<P, R> {
    /// Runs until every source is finished (or a stop), then flushes every
    /// connection and the sink; returns the final counters.
    pub fn run(self) -> Result<Stats, PipelineError> {
        self.spawn()?.join()
    }

    /// Starts the pipeline's threads and returns at once.
    pub fn spawn(self) -> Result<RunningPipeline, PipelineError> {
        let mut b = self.b;
        let sink = b.sink.take().ok_or(PipelineError::NoSink)?;
        start(b, sink)
    }
}

fn spawn_named<F>(
    name: String,
    f: F,
) -> Result<(String, JoinHandle<Result<(), PipelineError>>), PipelineError>
where
    F: FnOnce() -> Result<(), PipelineError> + Send + 'static,
{
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map(|h| (name.clone(), h))
        .map_err(|source| PipelineError::Thread { name, source })
}

fn start<P: ParserFactory, R: Reassembler + 'static>(
    b: PipelineBuilder<P, R>,
    sink: Box<dyn Sink>,
) -> Result<RunningPipeline, PipelineError> {
    let stop = StopHandle::default();
    let registry = b.registry.clone();
    let protocol = Arc::new(b.protocol);
    let steps = Arc::new(Steps {
        enrichers: b.enrichers,
        filters: b.filters,
    });
    let workers = b.workers;
    let observers = b.observers;
    let recorders = || observers.iter().map(|o| o.recorder()).collect::<Vec<_>>();
    let mut queues = QueueDepths::default();
    let mut limits = b.limits.clone();
    if workers > 1 {
        limits.max_connections = limits.max_connections.div_ceil(workers);
        limits.total_buffer_bytes = limits.total_buffer_bytes.div_ceil(workers);
    }
    let mut threads = Vec::new();

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
        let end = if b.sink_thread {
            let (tx, rx) = bounded::<Vec<Exchange>>(b.queue_batches);
            let rx = Arc::new(rx);
            queues.add("sink".into(), &rx);
            let sink_counters = registry.counters();
            threads.push(spawn_named("cleartap-sink".into(), move || {
                run_sink(sink, rx, sink_counters)
            })?);
            SinkEnd::Thread {
                tx,
                blocking: !source.is_live(),
            }
        } else {
            SinkEnd::Here(sink)
        };
        let stop2 = stop.clone();
        threads.push(spawn_named("cleartap-inline".into(), move || {
            run_inline(source, worker, end, counters, stop2)
        })?);
        return Ok(RunningPipeline {
            stop,
            registry,
            queues,
            threads,
        });
    }

    let blocking = b.sources.iter().all(|s| !s.is_live());
    let (sink_tx, sink_rx) = bounded::<Vec<Exchange>>(b.queue_batches);
    let sink_rx = Arc::new(sink_rx);
    queues.add("sink".into(), &sink_rx);
    let sink_counters = registry.counters();
    threads.push(spawn_named("cleartap-sink".into(), move || {
        run_sink(sink, sink_rx, sink_counters)
    })?);

    let (recycle_tx, recycle_rx) = bounded::<Batch>(workers * b.queue_batches * 2);
    let mut worker_txs = Vec::new();
    for i in 0..workers {
        let (tx, rx) = bounded::<Msg>(b.queue_batches);
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
        let sink_tx = sink_tx.clone();
        let recycle_tx = recycle_tx.clone();
        threads.push(spawn_named(format!("cleartap-worker-{i}"), move || {
            run_worker(worker, rx, sink_tx, recycle_tx, counters, blocking)
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
            blocking: !source.is_live(),
            live: source.is_live(),
        };
        let stop2 = stop.clone();
        threads.push(spawn_named(format!("cleartap-source-{i}"), move || {
            run_source(source, router, counters, stop2)
        })?);
    }
    Ok(RunningPipeline {
        stop,
        registry,
        queues,
        threads,
    })
}

/// What a source thread sends a worker.
enum Msg {
    Inputs(Batch),
    /// Wall-clock time from a live source with nothing to read: lets
    /// workers expire silent connections.
    Tick(Timestamp),
}

/// Splits a source's inputs into per-worker batches by flow hash.
struct Router {
    txs: Vec<Sender<Msg>>,
    pending: Vec<Batch>,
    recycle: Receiver<Batch>,
    hasher: foldhash::fast::RandomState,
    counters: Arc<Counters>,
    blocking: bool,
    live: bool,
}

impl Router {
    fn route(&mut self, input: Input<'_>) {
        match input.canonical_key() {
            Some(key) => {
                let shard = (self.hasher.hash_one(key) % self.txs.len() as u64) as usize;
                if let Some(batch) = self.pending.get_mut(shard) {
                    batch.push(&input);
                    if batch.len() >= BATCH_INPUTS {
                        self.send(shard);
                    }
                }
            }
            None => {
                // Namespace-wide events go to every worker, after what came before.
                for shard in 0..self.txs.len() {
                    if let Some(batch) = self.pending.get_mut(shard) {
                        batch.push(&input);
                    }
                    self.send(shard);
                }
            }
        }
    }

    fn send(&mut self, shard: usize) {
        let (Some(batch), Some(tx)) = (self.pending.get_mut(shard), self.txs.get(shard)) else {
            return;
        };
        if batch.is_empty() {
            return;
        }
        let fresh = self.recycle.try_recv().unwrap_or_default();
        let full = std::mem::replace(batch, fresh);
        let n = full.len() as u64;
        if self.blocking {
            let _ = tx.send(Msg::Inputs(full));
        } else if let Err(TrySendError::Full(_)) = tx.try_send(Msg::Inputs(full)) {
            self.counters.dropped(DropReason::WorkerQueueFull, n);
        }
    }

    fn flush_all(&mut self) {
        for shard in 0..self.txs.len() {
            self.send(shard);
        }
    }

    fn tick(&mut self) {
        if self.live {
            let now = Timestamp::now();
            for tx in &self.txs {
                let _ = tx.try_send(Msg::Tick(now));
            }
        }
    }
}

fn run_source(
    mut source: Box<dyn Source>,
    mut router: Router,
    counters: Arc<Counters>,
    stop: StopHandle,
) -> Result<(), PipelineError> {
    let mut last_stats = Instant::now();
    let result = loop {
        if stop.is_stopped() {
            break Ok(());
        }
        let polled = source.poll(&mut |input: Input<'_>| router.route(input), &counters);
        router.flush_all();
        if last_stats.elapsed() >= SOURCE_STATS_EVERY {
            source.update_stats(&counters);
            last_stats = Instant::now();
        }
        match polled {
            Ok(Poll::Ready) => {}
            Ok(Poll::Idle) => router.tick(),
            Ok(Poll::Finished) => break Ok(()),
            Err(e) => {
                break Err(PipelineError::Source {
                    name: source.name(),
                    message: e.to_string(),
                });
            }
        }
    };
    source.update_stats(&counters);
    result
}

fn run_worker<P: ParserFactory, R: Reassembler>(
    mut worker: Worker<P, R>,
    rx: Arc<Receiver<Msg>>,
    sink_tx: Sender<Vec<Exchange>>,
    recycle: Sender<Batch>,
    counters: Arc<Counters>,
    blocking: bool,
) -> Result<(), PipelineError> {
    let mut out = Vec::with_capacity(SINK_BATCH);
    let send = |out: &mut Vec<Exchange>| {
        if out.is_empty() {
            return;
        }
        let batch = std::mem::replace(out, Vec::with_capacity(SINK_BATCH));
        let n = batch.len() as u64;
        if blocking {
            let _ = sink_tx.send(batch);
        } else if sink_tx.try_send(batch).is_err() {
            counters.dropped(DropReason::SinkQueueFull, n);
        }
    };
    let mut last_send = Instant::now();
    for msg in rx.iter() {
        match msg {
            Msg::Inputs(mut batch) => {
                for input in batch.iter() {
                    worker.push(input);
                }
                worker.advance(None);
                batch.clear();
                let _ = recycle.try_send(batch);
            }
            Msg::Tick(now) => worker.advance(Some(now)),
        }
        if worker.pending() > 0 {
            worker.take_exchanges(&mut out);
        }
        // Send full batches at once, and partial ones when the queue is idle
        // or they have waited long enough.
        if out.len() >= SINK_BATCH
            || (!out.is_empty() && (rx.is_empty() || last_send.elapsed() >= SINK_LATENCY))
        {
            send(&mut out);
            last_send = Instant::now();
        }
    }
    worker.flush();
    worker.take_exchanges(&mut out);
    send(&mut out);
    Ok(())
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
    rx: Arc<Receiver<Vec<Exchange>>>,
    counters: Arc<Counters>,
) -> Result<(), PipelineError> {
    let mut result = Ok(());
    for mut batch in rx.iter() {
        let n = batch.len() as u64;
        match write_all(sink.as_mut(), &mut batch) {
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

/// Where the inline loop hands its exchanges: the sink itself, or the
/// queue of a sink thread.
enum SinkEnd {
    Here(Box<dyn Sink>),
    Thread {
        tx: Sender<Vec<Exchange>>,
        blocking: bool,
    },
}

impl SinkEnd {
    fn deliver(
        &mut self,
        out: &mut Vec<Exchange>,
        counters: &Counters,
    ) -> Result<(), PipelineError> {
        if out.is_empty() {
            return Ok(());
        }
        let n = out.len() as u64;
        match self {
            SinkEnd::Here(sink) => match write_all(sink, out) {
                Ok(()) => {
                    counters.add(Counter::ExchangesDelivered, n);
                    Ok(())
                }
                Err(e) => {
                    counters.dropped(DropReason::SinkDeliveryFailed, n);
                    Err(PipelineError::Sink(e.to_string()))
                }
            },
            SinkEnd::Thread { tx, blocking } => {
                let batch = std::mem::replace(out, Vec::with_capacity(SINK_BATCH));
                let sent = if *blocking {
                    tx.send(batch).is_ok()
                } else {
                    tx.try_send(batch).is_ok()
                };
                if !sent {
                    counters.dropped(DropReason::SinkQueueFull, n);
                }
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<(), PipelineError> {
        match self {
            SinkEnd::Here(mut sink) => sink.flush().map_err(|e| PipelineError::Sink(e.to_string())),
            // Dropping the sender lets the sink thread drain and flush.
            SinkEnd::Thread { .. } => Ok(()),
        }
    }
}

fn run_inline<P: ParserFactory, R: Reassembler>(
    mut source: Box<dyn Source>,
    mut worker: Worker<P, R>,
    mut sink: SinkEnd,
    counters: Arc<Counters>,
    stop: StopHandle,
) -> Result<(), PipelineError> {
    let mut out = Vec::with_capacity(SINK_BATCH);
    let mut sink_result = Ok(());
    let mut last_stats = Instant::now();
    let source_result = loop {
        if stop.is_stopped() {
            break Ok(());
        }
        let polled = source.poll(&mut |input: Input<'_>| worker.push(input), &counters);
        if last_stats.elapsed() >= SOURCE_STATS_EVERY {
            source.update_stats(&counters);
            last_stats = Instant::now();
        }
        match polled {
            Ok(Poll::Ready) => worker.advance(None),
            Ok(Poll::Idle) => {
                let now = source.is_live().then(Timestamp::now);
                worker.advance(now);
            }
            Ok(Poll::Finished) => break Ok(()),
            Err(e) => {
                break Err(PipelineError::Source {
                    name: source.name(),
                    message: e.to_string(),
                });
            }
        }
        worker.take_exchanges(&mut out);
        sink_result = sink_result.and(sink.deliver(&mut out, &counters));
    };
    source.update_stats(&counters);
    worker.flush();
    worker.take_exchanges(&mut out);
    sink_result = sink_result.and(sink.deliver(&mut out, &counters));
    source_result.and(sink_result).and(sink.finish())
}
