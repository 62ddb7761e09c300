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
//!
//! Every queue is bounded in items and in bytes ([`Limits::queue_bytes`]);
//! when one is full, inputs of a live source are dropped and counted, and
//! a file source waits.
//!
//! - `builder`: [`PipelineBuilder`], the configuration;
//! - `threads`: which threads run, and the one loop that drives a source;
//! - `routing`: inputs to workers by flow hash, in batches;
//! - `queue`: the queues between threads, bounded in items and bytes;
//! - `worker`: a reassembler, its parsers, enrichers, filters and observers;
//! - `control`: stopping and joining; `queues`: how full the queues are.
//!
//! [`Limits::queue_bytes`]: crate::Limits::queue_bytes

mod batch;
mod builder;
mod control;
mod observer;
mod queue;
mod queues;
mod routing;
#[cfg(feature = "stream")]
mod stream;
mod threads;
mod weight;
mod worker;

pub use batch::Batch;
pub use builder::PipelineBuilder;
pub use control::{RunningPipeline, StopHandle};
pub use observer::{ExchangeObserver, ExchangeRecorder};
pub use queues::{QueueDepth, QueueDepths};
#[cfg(feature = "stream")]
pub use stream::ExchangeStream;

use crate::reassembly::TcpReassembler;
use crate::stage::{ParserFactory, Reassembler};
use crate::stats::Stats;

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
    /// The SIGINT/SIGTERM handlers could not be installed.
    #[error(
        "cannot install the SIGINT/SIGTERM handlers that stop the pipeline: {source} — \
         stop it with a StopHandle instead of PipelineBuilder::stop_on_signals"
    )]
    Signals {
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

/// A configured pipeline, ready to run.
pub struct Pipeline<P: ParserFactory, R: Reassembler = TcpReassembler> {
    b: PipelineBuilder<P, R>,
}

impl<P: ParserFactory, R: Reassembler + 'static> Pipeline<P, R> {
    /// Runs until every source is finished, or a stop (a signal or the
    /// deadline, if configured), then flushes every connection and the
    /// sink; returns the final counters.
    pub fn run(self) -> Result<Stats, PipelineError> {
        self.spawn()?.join()
    }

    /// Starts the pipeline's threads and returns at once.
    pub fn spawn(self) -> Result<RunningPipeline, PipelineError> {
        let mut b = self.b;
        let sink = b.sink.take().ok_or(PipelineError::NoSink)?;
        threads::start(b, sink)
    }
}
