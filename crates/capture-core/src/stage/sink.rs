//! The Sink stage: where exchanges go.

use crate::model::Exchange;

/// An error a sink reports.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Receives exchanges in batches.
///
/// The pipeline calls `write` from one thread at a time, and empties the
/// batch after each call: a sink may take the exchanges out (`drain`,
/// `append`, `mem::take`) or only read them, and never sees one twice. A
/// sink that can block (network, disk) should buffer or drop and count
/// rather than stall the capture path.
///
/// # Example
///
/// ```
/// use capture_core::model::Exchange;
/// use capture_core::stage::{Sink, SinkError};
///
/// #[derive(Default)]
/// struct CountStatuses(std::collections::BTreeMap<u16, u64>);
///
/// impl Sink for CountStatuses {
///     fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
///         for ex in batch.drain(..) {
///             let status = ex.response.map_or(0, |r| r.status);
///             *self.0.entry(status).or_default() += 1;
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send {
    /// Takes or reads the exchanges of `batch`; the pipeline empties it
    /// afterwards, so nothing left in it is delivered again.
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError>;

    /// Pushes out anything buffered; called at shutdown.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        (**self).write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
}
