//! The Source stage: where packets and socket chunks come from.

use crate::model::Input;
use crate::stats::Counters;

/// An error a source reports. Sources live in other crates with their own
/// error types; the pipeline only needs to print and stop on them.
pub type SourceError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a source's `poll` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// Inputs were handed out; call again.
    Ready,
    /// Nothing arrived within the source's own short timeout; call again.
    /// The pipeline uses these moments to expire idle connections.
    Idle,
    /// The source is exhausted (end of file, namespace gone, shut down).
    Finished,
}

/// Receives the inputs a source produces.
pub trait InputSink {
    /// Takes one input. Its borrowed bytes are valid for this call only.
    fn input(&mut self, input: Input<'_>);
}

impl<F: FnMut(Input<'_>)> InputSink for F {
    fn input(&mut self, input: Input<'_>) {
        self(input)
    }
}

/// A producer of TCP segments or socket chunks: a capture file, an
/// interface, a pod's namespace, the eBPF ring buffer.
///
/// A source runs on its own thread and is polled in a loop. Each call hands
/// out what is available — a block of packets, a ring-buffer drain — and
/// returns promptly (live sources wait at most a short timeout), so that the
/// pipeline can check for shutdown. Packets, bytes and every decode drop are
/// counted in `counters`.
///
/// # Example
///
/// A source that replays a fixed list of segments:
///
/// ```
/// use capture_core::model::{Input, NetnsId, Segment, TcpFlags, Timestamp};
/// use capture_core::stage::{InputSink, Poll, Source, SourceError};
/// use capture_core::stats::{Counter, Counters};
///
/// struct OneSegment(bool);
///
/// impl Source for OneSegment {
///     fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
///         if std::mem::replace(&mut self.0, true) {
///             return Ok(Poll::Finished);
///         }
///         counters.add(Counter::Packets, 1);
///         out.input(Input::Segment(Segment {
///             ts: Timestamp(1),
///             src: "10.0.0.1:5000".parse()?,
///             dst: "10.0.0.2:80".parse()?,
///             netns: NetnsId::UNKNOWN,
///             seq: 1,
///             ack: 0,
///             flags: TcpFlags::ACK,
///             payload: b"GET / HTTP/1.1\r\n\r\n",
///         }));
///         Ok(Poll::Ready)
///     }
/// }
/// ```
pub trait Source: Send {
    /// Hands the inputs available now to `out`.
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError>;

    /// A short name for logs and errors ("file trace.pcap", "netns 4026532281").
    fn name(&self) -> String {
        String::from("source")
    }

    /// True for sources that cannot wait (an interface, a ring buffer): when a
    /// worker's queue is full their inputs are dropped and counted. False for
    /// sources that can (a capture file): the pipeline then waits instead.
    fn is_live(&self) -> bool {
        true
    }

    /// Refreshes cumulative counters kept outside the process (kernel drop
    /// counts); called periodically and once at the end.
    fn update_stats(&mut self, _counters: &Counters) {}
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
        (**self).poll(out, counters)
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn is_live(&self) -> bool {
        (**self).is_live()
    }
    fn update_stats(&mut self, counters: &Counters) {
        (**self).update_stats(counters)
    }
}
