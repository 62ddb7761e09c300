//! A [`Source`] that generates a case's frames on a thread of its own while
//! the pipeline reads them, so a 100 MB flood never lies in memory whole.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use backend_pcap::{LinkType, decode_packet};
use capture_core::model::{Input, NetnsId, Timestamp};
use capture_core::stage::{InputSink, Poll, Source, SourceError};
use capture_core::stats::{Counter, Counters};

use crate::wire::Emit;

/// Frames in one hand-over: (time, frame) and the bytes of all frames.
#[derive(Default)]
struct Batch {
    frames: Vec<(Timestamp, Vec<u8>)>,
    bytes: usize,
}

/// Bytes of frames per hand-over; with [`BATCHES_IN_FLIGHT`] this is what
/// the generator adds to the heap, whatever the case's size.
pub const BATCH_BYTES: usize = 256 * 1024;
/// Hand-overs queued between the generator and the pipeline.
pub const BATCHES_IN_FLIGHT: usize = 2;

/// The generator's end: an [`Emit`] that hands batches over.
struct Sender {
    tx: SyncSender<Batch>,
    batch: Batch,
}

impl Emit for Sender {
    fn packet(&mut self, ts: Timestamp, frame: &[u8]) {
        self.batch.bytes += frame.len();
        self.batch.frames.push((ts, frame.to_vec()));
        if self.batch.bytes >= BATCH_BYTES {
            // The pipeline stopped reading: the rest of the case is not needed.
            let _ = self.tx.send(std::mem::take(&mut self.batch));
        }
    }
}

/// Frames from a generator thread, decoded as a capture file's would be.
pub struct GenSource {
    rx: Receiver<Batch>,
    thread: Option<JoinHandle<()>>,
}

impl GenSource {
    /// Runs `generate` on a new thread; its frames become this source's input.
    pub fn spawn(generate: impl FnOnce(&mut dyn Emit) + Send + 'static) -> Self {
        let (tx, rx) = sync_channel(BATCHES_IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("hostile-gen".into())
            .spawn(move || {
                let mut s = Sender {
                    tx,
                    batch: Batch::default(),
                };
                generate(&mut s);
                let last = std::mem::take(&mut s.batch);
                let _ = s.tx.send(last);
            })
            .ok();
        Self { rx, thread }
    }
}

impl Source for GenSource {
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
        let Ok(batch) = self.rx.recv() else {
            if let Some(t) = self.thread.take()
                && t.join().is_err()
            {
                return Err("the case's generator panicked".into());
            }
            return Ok(Poll::Finished);
        };
        counters.add(Counter::Packets, batch.frames.len() as u64);
        counters.add(Counter::Bytes, batch.bytes as u64);
        for (ts, frame) in &batch.frames {
            match decode_packet(LinkType::ETHERNET, *ts, frame, NetnsId::UNKNOWN) {
                Ok(segment) => out.input(Input::Segment(segment)),
                Err(reason) => counters.dropped(reason, 1),
            }
        }
        Ok(Poll::Ready)
    }

    fn name(&self) -> String {
        "hostile generator".into()
    }

    fn is_live(&self) -> bool {
        false
    }
}
