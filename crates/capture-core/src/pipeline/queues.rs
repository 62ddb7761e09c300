//! How full the pipeline's queues are, readable from any thread.

use std::sync::{Arc, Weak};

use super::queue::QueueReceiver;

/// One queue's fill level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDepth {
    /// Which queue: `worker-N` (inputs waiting for worker N) or `sink`
    /// (exchanges waiting for the sink).
    pub name: String,
    /// Batches waiting in it now.
    pub batches: usize,
    /// Batches it holds when full.
    pub capacity: usize,
    /// Bytes its batches hold now (for `sink`, written batches on their
    /// way back to their worker included).
    pub bytes: usize,
    /// Bytes it holds when full ([`Limits::queue_bytes`](crate::Limits::queue_bytes),
    /// shared out among the workers' queues).
    pub bytes_capacity: usize,
}

/// A queue seen through a weak reference: reading depths never keeps a
/// finished pipeline's queues alive.
trait Probe: Send + Sync {
    fn depth(&self) -> Option<[usize; 4]>;
}

impl<T: Send> Probe for Weak<QueueReceiver<T>> {
    fn depth(&self) -> Option<[usize; 4]> {
        Some(self.upgrade()?.depth())
    }
}

/// The queues of a running pipeline; cheap to clone, and reads zero
/// batches once the pipeline has ended.
#[derive(Clone, Default)]
pub struct QueueDepths {
    queues: Vec<(String, Arc<dyn Probe>)>,
}

impl std::fmt::Debug for QueueDepths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.now()).finish()
    }
}

impl QueueDepths {
    pub(crate) fn add<T: Send + 'static>(&mut self, name: String, rx: &Arc<QueueReceiver<T>>) {
        self.queues.push((name, Arc::new(Arc::downgrade(rx))));
    }

    /// Every queue's depth now. With one source and one worker and no sink
    /// thread there is no queue, and the list is empty.
    pub fn now(&self) -> Vec<QueueDepth> {
        self.queues
            .iter()
            .map(|(name, probe)| {
                let [batches, capacity, bytes, bytes_capacity] = probe.depth().unwrap_or_default();
                QueueDepth {
                    name: name.clone(),
                    batches,
                    capacity,
                    bytes,
                    bytes_capacity,
                }
            })
            .collect()
    }
}
