//! A bounded in-memory sink, for tests and for applications that poll.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::model::Exchange;
use crate::stage::{Sink, SinkError};
use crate::stats::{Counters, DropReason};

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<Exchange>>,
    ready: Condvar,
}

/// A sink that keeps up to `capacity` exchanges in memory; beyond that,
/// new exchanges are dropped and counted as [`DropReason::SinkQueueFull`].
///
/// Clone the handle before giving the sink to a pipeline; then `wait_for`
/// and `drain` from any thread.
#[derive(Clone, Debug)]
pub struct MemorySink {
    shared: Arc<Shared>,
    capacity: usize,
    counters: Option<Arc<Counters>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl MemorySink {
    /// A sink holding at most `capacity` exchanges.
    pub fn new(capacity: usize) -> Self {
        Self {
            shared: Arc::default(),
            capacity,
            counters: None,
            dropped: Arc::default(),
        }
    }

    /// Also counts drops in a pipeline's counters.
    pub fn with_counters(mut self, counters: Arc<Counters>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// Takes every exchange held now.
    pub fn drain(&self) -> Vec<Exchange> {
        self.shared
            .queue
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default()
    }

    /// Exchanges held now.
    pub fn len(&self) -> usize {
        self.shared.queue.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Exchanges dropped because the sink was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until at least `n` exchanges are held or `timeout` passes;
    /// returns how many are held.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let Ok(mut q) = self.shared.queue.lock() else {
            return 0;
        };
        while q.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.shared.ready.wait_timeout(q, left) {
                Ok((guard, _)) => q = guard,
                Err(_) => return 0,
            }
        }
        q.len()
    }
}

impl Sink for MemorySink {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        let mut q = self
            .shared
            .queue
            .lock()
            .map_err(|_| "memory sink lock poisoned")?;
        let room = self.capacity.saturating_sub(q.len());
        let over = batch.len().saturating_sub(room) as u64;
        q.extend(batch.drain(..).take(room));
        drop(q);
        if over > 0 {
            self.dropped
                .fetch_add(over, std::sync::atomic::Ordering::Relaxed);
            if let Some(c) = &self.counters {
                c.dropped(DropReason::SinkQueueFull, over);
            }
        }
        self.shared.ready.notify_all();
        Ok(())
    }
}
