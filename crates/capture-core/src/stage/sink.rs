//! The Sink stage: where exchanges go.

use crate::model::Exchange;

/// An error a sink reports.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Turns one exchange into the bytes a sink writes for it, on the thread
/// that made the exchange. See [`Sink::encoder`].
pub trait ExchangeEncoder: Send {
    /// Appends the bytes of `exchange` to `out`.
    fn encode(&mut self, exchange: &Exchange, out: &mut Vec<u8>);
}

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

    /// For a sink that writes bytes made from each exchange alone (JSON
    /// lines, say): an encoder making them. With the sink on a thread of
    /// its own, each worker then encodes the exchanges it made, and the
    /// sink thread only writes the bytes, through
    /// [`write_encoded`](Self::write_encoded): the exchanges never cross
    /// to the sink's core, and the workers share the encoding. Called once
    /// per worker when the pipeline starts. `None` (the default): the sink
    /// gets the exchanges, through [`write`](Self::write).
    fn encoder(&self) -> Option<Box<dyn ExchangeEncoder>> {
        None
    }

    /// Writes bytes that encoders from [`encoder`](Self::encoder) made,
    /// whole exchanges only. Called only for a sink that has an encoder.
    fn write_encoded(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let _ = bytes;
        Err("this sink has no encoder and takes exchanges only".into())
    }

    /// Pushes out anything buffered; called at shutdown.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        (**self).write(batch)
    }
    fn encoder(&self) -> Option<Box<dyn ExchangeEncoder>> {
        (**self).encoder()
    }
    fn write_encoded(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        (**self).write_encoded(bytes)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
}
