//! A way to watch every exchange the pipeline passes on, without a lock
//! per exchange: each worker thread records into its own recorder.

use crate::model::Exchange;

/// Watches the exchanges a pipeline hands to its sink (after the filters),
/// as metrics and service maps do.
///
/// The pipeline asks for one [`ExchangeRecorder`] per worker thread and
/// calls it there with each batch, before the batch is queued for the sink:
/// a recorder owns its state, and whoever reads it merges the recorders'
/// states when asked (a scrape), not per exchange.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use capture_core::model::Exchange;
/// use capture_core::pipeline::{ExchangeObserver, ExchangeRecorder};
///
/// #[derive(Default)]
/// struct CountErrors(Arc<AtomicU64>);
///
/// struct Recorder(Arc<AtomicU64>);
///
/// impl ExchangeRecorder for Recorder {
///     fn record(&mut self, batch: &[Exchange]) {
///         let errors = batch
///             .iter()
///             .filter(|e| e.response.as_ref().is_some_and(|r| r.status >= 500))
///             .count();
///         self.0.fetch_add(errors as u64, Ordering::Relaxed);
///     }
/// }
///
/// impl ExchangeObserver for CountErrors {
///     fn recorder(&self) -> Box<dyn ExchangeRecorder> {
///         Box::new(Recorder(self.0.clone()))
///     }
/// }
/// ```
pub trait ExchangeObserver: Send + Sync + 'static {
    /// A recorder for one worker thread.
    fn recorder(&self) -> Box<dyn ExchangeRecorder>;
}

/// One worker thread's part of an [`ExchangeObserver`].
pub trait ExchangeRecorder: Send {
    /// Sees a batch of exchanges on their way to the sink.
    fn record(&mut self, batch: &[Exchange]);
}
