//! The Reassembler stage: TCP segments in, ordered bytes per direction out.

use crate::model::{CloseReason, ConnMeta, Direction, Input, Timestamp};

/// A connection's slot in a reassembler's table.
///
/// An id is reused only after `close` was delivered for it, so a handler may
/// keep per-connection state in a vector indexed by [`ConnId::index`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

impl ConnId {
    /// The slot as an index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Receives what a reassembler produces: per connection, an open, then
/// ordered bytes and gaps per direction, then a close.
pub trait StreamHandler {
    /// A new connection.
    fn open(&mut self, conn: ConnId, meta: &ConnMeta);
    /// The next bytes of one direction, in order.
    fn data(&mut self, conn: ConnId, meta: &ConnMeta, dir: Direction, ts: Timestamp, bytes: &[u8]);
    /// `len` bytes of one direction were lost in capture; the next `data` follows them.
    fn gap(&mut self, conn: ConnId, meta: &ConnMeta, dir: Direction, ts: Timestamp, len: u64);
    /// The connection is over; its id may be reused afterwards.
    fn close(&mut self, conn: ConnId, meta: &ConnMeta, ts: Timestamp, reason: CloseReason);
    /// Bytes of one direction arrived that differ from bytes already held
    /// for the same positions (the earlier ones are kept): how IDS evasion
    /// looks. The exchange those bytes belong to should be flagged.
    fn overlap_conflict(
        &mut self,
        _conn: ConnId,
        _meta: &ConnMeta,
        _dir: Direction,
        _ts: Timestamp,
    ) {
    }
}

/// Turns segments (or socket chunks) into ordered bytes per direction,
/// reporting gaps instead of hiding them.
///
/// A reassembler is an I/O-free state machine: it sees time only through
/// the timestamps of its inputs and of `advance`. One instance runs per
/// worker thread; connections never move between instances.
///
/// # Example
///
/// A reassembler for sources that already deliver ordered, gap-free chunks:
///
/// ```
/// use capture_core::model::{CloseReason, ConnMeta, Input, Timestamp};
/// use capture_core::stage::{ConnId, Reassembler, StreamHandler};
///
/// #[derive(Default)]
/// struct PassThrough(Option<ConnMeta>);
///
/// impl Reassembler for PassThrough {
///     fn push<H: StreamHandler>(&mut self, input: Input<'_>, out: &mut H) {
///         if let Input::Chunk(c) = input {
///             let meta = self.0.get_or_insert_with(|| {
///                 let meta = ConnMeta::new(c.key, c.source, c.ts).with_tls_library(c.tls_library).with_comm(c.comm).with_traffic(c.traffic);
///                 out.open(ConnId(0), &meta);
///                 meta
///             });
///             out.data(ConnId(0), meta, c.dir, c.ts, c.data);
///         }
///     }
///     fn advance<H: StreamHandler>(&mut self, _now: Timestamp, _out: &mut H) {}
///     fn flush<H: StreamHandler>(&mut self, now: Timestamp, out: &mut H) {
///         if let Some(meta) = self.0.take() {
///             out.close(ConnId(0), &meta, now, CloseReason::Shutdown);
///         }
///     }
///     fn connections(&self) -> usize { self.0.is_some() as usize }
///     fn buffered_bytes(&self) -> usize { 0 }
/// }
/// ```
pub trait Reassembler: Send {
    /// Takes one input and hands whatever it completes to `out`.
    fn push<H: StreamHandler>(&mut self, input: Input<'_>, out: &mut H);

    /// Moves time forward to `now`: expires silent connections and declares
    /// long-standing holes as gaps.
    fn advance<H: StreamHandler>(&mut self, now: Timestamp, out: &mut H);

    /// Delivers everything still buffered (holes as gaps) and closes every connection.
    fn flush<H: StreamHandler>(&mut self, now: Timestamp, out: &mut H);

    /// Connections currently tracked.
    fn connections(&self) -> usize;

    /// Out-of-order bytes currently held.
    fn buffered_bytes(&self) -> usize;
}
