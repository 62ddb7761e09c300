//! Stopping a pipeline: by hand, at a deadline, or on SIGINT/SIGTERM; and
//! the handle of a pipeline running on its threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{PipelineError, QueueDepths};
use crate::stats::{Stats, StatsRegistry};

/// Stops a running pipeline from any thread.
#[derive(Clone, Debug, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Asks every source to stop; workers then flush and the sink drains.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once `stop` was called, the deadline passed or a signal came.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the source loops check before each poll: the handle and the deadline.
#[derive(Clone, Debug)]
pub(super) struct Stop {
    pub(super) handle: StopHandle,
    pub(super) deadline: Option<Instant>,
}

impl Stop {
    /// True when the sources should stop; a passed deadline stops them all.
    pub(super) fn requested(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.handle.stop();
        }
        self.handle.is_stopped()
    }
}

/// SIGINT and SIGTERM handlers that stop a pipeline; a second signal ends
/// the process at once (exit code 130), for a flush that takes too long.
/// Removed when the pipeline is joined or dropped.
#[derive(Debug, Default)]
pub(super) struct Signals(Vec<signal_hook::SigId>);

impl Signals {
    pub(super) fn register(stop: &StopHandle) -> Result<Self, PipelineError> {
        let mut ids = Vec::new();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let flag = stop.0.clone();
            let registered = signal_hook::flag::register_conditional_shutdown(signal, 130, flag)
                .and_then(|first| {
                    ids.push(first);
                    signal_hook::flag::register(signal, stop.0.clone())
                });
            match registered {
                Ok(id) => ids.push(id),
                Err(source) => {
                    Signals(ids).remove();
                    return Err(PipelineError::Signals { source });
                }
            }
        }
        Ok(Self(ids))
    }

    fn remove(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A pipeline running on its own threads.
pub struct RunningPipeline {
    pub(super) stop: StopHandle,
    pub(super) registry: StatsRegistry,
    pub(super) threads: Vec<(String, JoinHandle<Result<(), PipelineError>>)>,
    pub(super) signals: Signals,
    pub(super) queues: QueueDepths,
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

    /// True once a stop was asked for: by [`stop`](Self::stop), a signal or
    /// the deadline. False when the sources ended by themselves.
    pub fn stop_requested(&self) -> bool {
        self.stop.is_stopped()
    }

    /// True once every thread has ended.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(|(_, t)| t.is_finished())
    }

    /// Waits until every thread has ended or `timeout` passed; true if they ended.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while !self.is_finished() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(Duration::from_millis(10)));
        }
        true
    }

    /// Waits for every thread; returns the final counters, or the first error.
    pub fn join(mut self) -> Result<Stats, PipelineError> {
        let mut first_error = None;
        for (name, t) in std::mem::take(&mut self.threads) {
            let r = t.join().unwrap_or(Err(PipelineError::Panicked(name)));
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        self.signals.remove();
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.registry.snapshot()),
        }
    }
}
