//! Routing a source's inputs to workers: by a keyed hash of the connection,
//! in batches bounded in inputs and bytes.

use std::hash::BuildHasher;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::batch::Batch;
use super::queue::QueueSender;
use super::threads::Feed;
use crate::model::{Input, Timestamp};
use crate::stage::Poll;
use crate::stats::{Counters, DropReason};

/// Inputs per batch handed from a source thread to a worker.
const BATCH_INPUTS: usize = 512;
/// Payload bytes after which a batch is sent however few inputs it holds.
pub(super) const BATCH_BYTES: usize = 256 << 10;

/// What a source thread sends a worker.
pub(super) enum Msg {
    Inputs(Batch),
    /// Wall-clock time from a live source with nothing to read: lets
    /// workers expire silent connections.
    Tick(Timestamp),
}

/// Splits a source's inputs into per-worker batches by flow hash.
pub(super) struct Router {
    pub(super) txs: Vec<QueueSender<Msg>>,
    pub(super) pending: Vec<Batch>,
    /// Emptied batches the workers hand back, to be filled again.
    pub(super) recycle: Receiver<Batch>,
    pub(super) hasher: foldhash::fast::RandomState,
    pub(super) counters: Arc<Counters>,
    /// A file source: wait for room in a worker's queue instead of dropping.
    pub(super) wait: bool,
}

impl Router {
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
        let bytes = full.heap_bytes();
        if tx.send(Msg::Inputs(full), bytes, self.wait).is_err() {
            self.counters.dropped(DropReason::WorkerQueueFull, n);
        }
    }

    fn flush_all(&mut self) {
        for shard in 0..self.txs.len() {
            self.send(shard);
        }
    }
}

impl Feed for Router {
    fn input(&mut self, input: Input<'_>) {
        match input.canonical_key() {
            Some(key) => {
                let shard = (self.hasher.hash_one(key) % self.txs.len() as u64) as usize;
                if let Some(batch) = self.pending.get_mut(shard) {
                    batch.push(&input);
                    if batch.len() >= BATCH_INPUTS || batch.payload_bytes() >= BATCH_BYTES {
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

    fn polled(&mut self, poll: Poll, live: bool) {
        self.flush_all();
        if poll == Poll::Idle && live {
            let now = Timestamp::now();
            for tx in &self.txs {
                tx.try_send_light(Msg::Tick(now));
            }
        }
    }

    fn finish(mut self) -> Result<(), super::PipelineError> {
        self.flush_all();
        Ok(())
    }
}
