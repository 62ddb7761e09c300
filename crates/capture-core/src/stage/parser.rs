//! The Parser stage: ordered bytes of one connection in, exchanges out.

use crate::model::{CloseReason, ConnMeta, Direction, Exchange, Timestamp};
use crate::stats::{Counter, Counters, DropReason};

/// Where a parser puts what it produces: exchanges, and drop counts.
pub struct Output<'a> {
    exchanges: &'a mut Vec<Exchange>,
    counters: &'a Counters,
}

impl<'a> Output<'a> {
    /// An output that appends to `exchanges` and counts into `counters`.
    pub fn new(exchanges: &'a mut Vec<Exchange>, counters: &'a Counters) -> Self {
        Self {
            exchanges,
            counters,
        }
    }

    /// Emits one exchange.
    pub fn exchange(&mut self, exchange: Exchange) {
        self.counters.add(Counter::Exchanges, 1);
        self.exchanges.push(exchange);
    }

    /// Counts `n` drops for `reason`.
    pub fn dropped(&mut self, reason: DropReason, n: u64) {
        self.counters.dropped(reason, n);
    }
}

/// The protocol state of one connection.
///
/// A parser is an I/O-free state machine: it is handed ordered bytes per
/// direction, gaps and the close, each with the event's timestamp, and emits
/// exchanges. It keeps only what the messages in flight need.
///
/// # Example
///
/// A parser that reports each request line it sees (no response pairing):
///
/// ```
/// use capture_core::model::*;
/// use capture_core::stage::{Output, Parser};
///
/// struct FirstLine;
///
/// impl Parser for FirstLine {
///     fn data(&mut self, meta: &ConnMeta, dir: Direction, ts: Timestamp, bytes: &[u8], out: &mut Output<'_>) {
///         if dir == Direction::ClientToServer {
///             let line = bytes.split(|&b| b == b'\r').next().unwrap_or_default();
///             let mut parts = line.split(|&b| b == b' ');
///             let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
///             let mut ex = Exchange::new(Protocol::Http11, meta, Roles::CONFIRMED);
///             // Exact bytes: whether they are text is checked once, here.
///             ex.request = Some(Request::builder(method, path).build(ts));
///             out.exchange(ex);
///         }
///     }
///     fn gap(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, _: u64, _: &mut Output<'_>) {}
///     fn close(&mut self, _: &ConnMeta, _: Timestamp, _: CloseReason, _: &mut Output<'_>) {}
/// }
///
/// struct FirstLines;
///
/// impl capture_core::stage::ParserFactory for FirstLines {
///     type Parser = FirstLine;
///     fn parser(&self, _meta: &ConnMeta) -> FirstLine { FirstLine }
/// }
/// ```
pub trait Parser: Send {
    /// The next bytes of one direction.
    fn data(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Output<'_>,
    );

    /// `len` bytes of one direction were lost in capture.
    fn gap(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        len: u64,
        out: &mut Output<'_>,
    );

    /// The connection is over: emit what is pending (requests without responses, flagged).
    fn close(&mut self, meta: &ConnMeta, ts: Timestamp, reason: CloseReason, out: &mut Output<'_>);
}

/// Starts a [`Parser`] for each new connection: what a pipeline is built
/// on. Shared by every worker.
pub trait ParserFactory: Send + Sync + 'static {
    /// The per-connection parser.
    type Parser: Parser;

    /// A parser for a new connection.
    fn parser(&self, meta: &ConnMeta) -> Self::Parser;
}

/// The former name of [`ParserFactory`] (it collided with
/// [`model::Protocol`](crate::model::Protocol)), kept for one release:
/// bounds written `P: Protocol` still hold for every parser factory;
/// implementations must name `ParserFactory`.
#[deprecated(
    since = "0.2.0",
    note = "renamed `ParserFactory`: implement and bound on that trait"
)]
pub trait Protocol: ParserFactory {}

#[allow(deprecated)]
impl<T: ParserFactory> Protocol for T {}
