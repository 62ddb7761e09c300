//! A pipeline consumed as a futures `Stream` of exchanges.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use super::threads::start;
use super::{Pipeline, PipelineError, RunningPipeline};
use crate::model::Exchange;
use crate::stage::{ParserFactory, Reassembler, Sink, SinkError};
use crate::stats::Stats;

/// Hands exchanges to the stream's channel; waits when the consumer is slow.
struct ChannelSink(mpsc::Sender<Exchange>);

impl Sink for ChannelSink {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        for ex in batch.drain(..) {
            // The receiver gone means nobody listens any more: stop quietly.
            if self.0.blocking_send(ex).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// The exchanges of a running pipeline, as a `Stream`. Dropping it stops the pipeline.
///
/// ```no_run
/// # async fn demo(pipeline: capture_core::pipeline::Pipeline<impl capture_core::stage::ParserFactory>) {
/// use futures_util::StreamExt;
/// let mut exchanges = pipeline.into_stream(1024).unwrap();
/// while let Some(ex) = exchanges.next().await {
///     println!("{}", ex.to_json());
/// }
/// # }
/// ```
pub struct ExchangeStream {
    rx: mpsc::Receiver<Exchange>,
    running: Option<RunningPipeline>,
}

impl ExchangeStream {
    /// A snapshot of the pipeline's counters.
    pub fn stats(&self) -> Stats {
        self.running
            .as_ref()
            .map(RunningPipeline::stats)
            .unwrap_or_default()
    }

    /// Asks the pipeline to stop; the stream ends once everything is flushed.
    pub fn stop(&self) {
        if let Some(r) = &self.running {
            r.stop();
        }
    }
}

impl Stream for ExchangeStream {
    type Item = Exchange;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Exchange>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for ExchangeStream {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
            self.rx.close();
            // Threads end on their own once the channel is closed; don't block the async caller.
        }
    }
}

impl<P: ParserFactory, R: Reassembler + 'static> Pipeline<P, R> {
    /// Runs the pipeline on its threads and returns its exchanges as a
    /// `Stream`, holding at most `capacity` undelivered exchanges. Any sink
    /// configured on the builder is replaced.
    pub fn into_stream(self, capacity: usize) -> Result<ExchangeStream, PipelineError> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let running = start(self.b, Box::new(ChannelSink(tx)))?;
        Ok(ExchangeStream {
            rx,
            running: Some(running),
        })
    }
}
