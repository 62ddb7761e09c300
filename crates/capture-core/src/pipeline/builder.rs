//! Configuring a pipeline: its stages, threads, limits and when it stops.

use std::sync::Arc;
use std::time::Duration;

use super::{ExchangeObserver, Pipeline, PipelineError};
use crate::enrich::Enricher;
use crate::filter::ExchangeFilter;
use crate::limits::Limits;
use crate::reassembly::TcpReassembler;
use crate::stage::{ParserFactory, Reassembler, Sink, Source};
use crate::stats::{Counters, StatsRegistry};

pub(super) type ReassemblerFactory<R> = Arc<dyn Fn(&Limits, Arc<Counters>) -> R + Send + Sync>;

/// Configures a [`Pipeline`].
pub struct PipelineBuilder<P: ParserFactory, R: Reassembler = TcpReassembler> {
    pub(super) protocol: P,
    pub(super) reassembler: ReassemblerFactory<R>,
    pub(super) workers: usize,
    pub(super) limits: Limits,
    pub(super) filters: Vec<Box<dyn ExchangeFilter>>,
    pub(super) enrichers: Vec<Box<dyn Enricher>>,
    pub(super) observers: Vec<Arc<dyn ExchangeObserver>>,
    pub(super) sources: Vec<Box<dyn Source>>,
    pub(super) sink: Option<Box<dyn Sink>>,
    pub(super) queue_batches: usize,
    pub(super) sink_thread: bool,
    pub(super) registry: StatsRegistry,
    pub(super) stop_on_signals: bool,
    pub(super) stop_after: Option<Duration>,
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
            observers: Vec::new(),
            sources: Vec::new(),
            sink: None,
            queue_batches: 64,
            sink_thread: false,
            registry: StatsRegistry::new(),
            stop_on_signals: false,
            stop_after: None,
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
    /// connection and buffer limits) and of the queues between threads.
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

    /// Shows every exchange passed on to the sink to `observer`, on the
    /// worker thread that produced it (one recorder per worker).
    pub fn observer(mut self, observer: Arc<dyn ExchangeObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Adds a source; each runs on its own thread.
    pub fn source(mut self, source: impl Source + 'static) -> Self {
        self.sources.push(Box::new(source));
        self
    }

    /// Sets the sink.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.sink = Some(Box::new(sink));
        self
    }

    /// Batches each queue holds before it is full, whatever they weigh
    /// ([`Limits::queue_bytes`] bounds what they weigh). Default 64.
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

    /// Stops the pipeline on SIGINT or SIGTERM, as a collector should: the
    /// sources stop, every connection is flushed and the sink drained. A
    /// second signal ends the process at once (exit code 130). The
    /// handlers are removed when the pipeline is joined; the process's own
    /// disposition is not restored (signal-hook keeps its handler), so a
    /// program that goes on after the pipeline installs its own.
    pub fn stop_on_signals(mut self) -> Self {
        self.stop_on_signals = true;
        self
    }

    /// Stops the pipeline this long after it starts (`None`: no deadline).
    pub fn stop_after(mut self, duration: impl Into<Option<Duration>>) -> Self {
        self.stop_after = duration.into();
        self
    }

    /// The registry the pipeline counts into: give a sink its own
    /// [`Counters`] from it before building, to see its drops in
    /// [`Stats`](crate::Stats).
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
            observers: self.observers,
            sources: self.sources,
            sink: self.sink,
            queue_batches: self.queue_batches,
            sink_thread: self.sink_thread,
            registry: self.registry,
            stop_on_signals: self.stop_on_signals,
            stop_after: self.stop_after,
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
