//! The limits every pipeline enforces. Each is configurable; every drop
//! they cause is counted.

use std::time::Duration;

/// Resource limits of the reassembler and the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections tracked at once per pipeline; beyond it, the least
    /// recently active connection is flushed and evicted
    /// (Akto: `TRAFFIC_MAX_ACTIVE_CONN`).
    pub max_connections: usize,
    /// A connection silent for this long (in packet time) is flushed and
    /// forgotten (Akto: `TRAFFIC_INACTIVITY_THRESHOLD`).
    pub inactivity_timeout: Duration,
    /// Out-of-order bytes held for one connection; beyond it, the oldest hole
    /// is declared a gap.
    pub conn_buffer_bytes: usize,
    /// Out-of-order bytes held across all connections of the pipeline
    /// (Akto: `TRAFFIC_BUFFER_THRESHOLD`).
    pub total_buffer_bytes: usize,
    /// A hole is waited for across this many later segments of its
    /// connection before it is declared a gap, once the peer acknowledged
    /// the missing bytes: this is the reordering the reassembler absorbs.
    pub reorder_window_segments: u32,
    /// …or for this long in packet time, once a quarter of that many
    /// segments followed (a time jump alone never declares a gap).
    pub reorder_window_time: Duration,
    /// Closed connections are remembered this long to absorb late duplicates.
    pub closed_linger: Duration,
    /// Bytes waiting between threads: the workers' input queues share this
    /// much, and the sink's queue may hold as much again, written batches
    /// on their way back to the worker that made them included. When a queue is
    /// full, inputs of live sources are dropped and counted
    /// (`worker_queue_full`, `sink_queue_full`) and file sources wait.
    pub queue_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 65_536,
            inactivity_timeout: Duration::from_secs(60),
            conn_buffer_bytes: 4 << 20,
            total_buffer_bytes: 256 << 20,
            reorder_window_segments: 32,
            reorder_window_time: Duration::from_millis(500),
            closed_linger: Duration::from_secs(2),
            queue_bytes: 64 << 20,
        }
    }
}
