//! A worker: one reassembler, the parsers of its connections, the enrichers and filters.

use std::sync::Arc;

use super::ExchangeRecorder;
use super::weight::exchange_bytes;
use crate::enrich::Enricher;
use crate::filter::ExchangeFilter;
use crate::model::{CloseReason, ConnMeta, Direction, Exchange, Flag, Input, Timestamp};
use crate::stage::{ConnId, Output, Parser, ParserFactory, Reassembler, StreamHandler};
use crate::stats::{Counters, DropReason};

/// Hands reassembled bytes to per-connection parsers, kept in a vector
/// indexed by the reassembler's connection slot.
pub(crate) struct ParserDriver<P: ParserFactory> {
    protocol: Arc<P>,
    parsers: Vec<Option<P::Parser>>,
    counters: Arc<Counters>,
    /// Exchanges produced since the last `take_exchanges`.
    exchanges: Vec<Exchange>,
    /// Connections whose bytes conflicted with bytes held before: the next
    /// exchange each one produces is flagged. Rare, so a short list.
    conflicted: Vec<ConnId>,
}

impl<P: ParserFactory> ParserDriver<P> {
    /// Runs `f` on the parser of `conn`, then flags what it produced if the
    /// connection had an overlap conflict pending.
    fn with_parser(&mut self, conn: ConnId, f: impl FnOnce(&mut P::Parser, &mut Output<'_>)) {
        let before = self.exchanges.len();
        if let Some(p) = self.parsers.get_mut(conn.index()).and_then(Option::as_mut) {
            f(p, &mut Output::new(&mut self.exchanges, &self.counters));
        }
        self.flag_conflicts(conn, before);
    }

    fn flag_conflicts(&mut self, conn: ConnId, before: usize) {
        if self.exchanges.len() > before
            && let Some(i) = self.conflicted.iter().position(|c| *c == conn)
        {
            self.conflicted.swap_remove(i);
            for ex in self.exchanges.iter_mut().skip(before) {
                ex.flag(Flag::OverlapConflict);
            }
        }
    }
}

impl<P: ParserFactory> StreamHandler for ParserDriver<P> {
    fn open(&mut self, conn: ConnId, meta: &ConnMeta) {
        let idx = conn.index();
        if self.parsers.len() <= idx {
            self.parsers.resize_with(idx + 1, || None);
        }
        let parser = self.protocol.parser(meta);
        if let Some(slot) = self.parsers.get_mut(idx) {
            *slot = Some(parser);
        }
    }

    fn data(&mut self, conn: ConnId, meta: &ConnMeta, dir: Direction, ts: Timestamp, bytes: &[u8]) {
        self.with_parser(conn, |p, out| p.data(meta, dir, ts, bytes, out));
    }

    fn gap(&mut self, conn: ConnId, meta: &ConnMeta, dir: Direction, ts: Timestamp, len: u64) {
        self.with_parser(conn, |p, out| p.gap(meta, dir, ts, len, out));
    }

    fn close(&mut self, conn: ConnId, meta: &ConnMeta, ts: Timestamp, reason: CloseReason) {
        let before = self.exchanges.len();
        if let Some(mut p) = self.parsers.get_mut(conn.index()).and_then(Option::take) {
            p.close(
                meta,
                ts,
                reason,
                &mut Output::new(&mut self.exchanges, &self.counters),
            );
        }
        self.flag_conflicts(conn, before);
        // Whatever was pending dies with the connection; its id is reused.
        self.conflicted.retain(|c| *c != conn);
    }

    fn overlap_conflict(&mut self, conn: ConnId, _: &ConnMeta, _: Direction, _: Timestamp) {
        if !self.conflicted.contains(&conn) {
            self.conflicted.push(conn);
        }
    }
}

/// What happens to exchanges between the parser and the sink: enrichers,
/// then filters.
pub(crate) struct Steps {
    pub(crate) enrichers: Vec<Box<dyn Enricher>>,
    pub(crate) filters: Vec<Box<dyn ExchangeFilter>>,
}

/// A reassembler and the parsers behind it: everything one shard of
/// connections needs, owned by one thread.
pub(crate) struct Worker<P: ParserFactory, R: Reassembler> {
    reassembler: R,
    driver: ParserDriver<P>,
    steps: Arc<Steps>,
    counters: Arc<Counters>,
    latest: Timestamp,
    recorders: Vec<Box<dyn ExchangeRecorder>>,
    /// Produced exchanges weighed so far by [`Self::produced_at_least`],
    /// and their weight; both reset when they are taken.
    weighed: usize,
    weight: usize,
}

impl<P: ParserFactory, R: Reassembler> Worker<P, R> {
    pub(crate) fn new(
        protocol: Arc<P>,
        reassembler: R,
        steps: Arc<Steps>,
        counters: Arc<Counters>,
        recorders: Vec<Box<dyn ExchangeRecorder>>,
    ) -> Self {
        Self {
            reassembler,
            driver: ParserDriver {
                protocol,
                parsers: Vec::new(),
                counters: counters.clone(),
                exchanges: Vec::new(),
                conflicted: Vec::new(),
            },
            steps,
            counters,
            latest: Timestamp::default(),
            recorders,
            weighed: 0,
            weight: 0,
        }
    }

    /// True once the exchanges produced and not yet taken number `items`
    /// or weigh `bytes`: a batch of inputs can produce many thousands, and
    /// they are sent on as they come rather than all after the batch.
    #[inline]
    pub(crate) fn produced_at_least(&mut self, items: usize, bytes: usize) -> bool {
        let produced = &self.driver.exchanges;
        if produced.len() >= items {
            return true;
        }
        if let Some(new) = produced.get(self.weighed..)
            && !new.is_empty()
        {
            self.weight += new.iter().map(exchange_bytes).sum::<usize>();
            self.weighed = produced.len();
        }
        self.weight >= bytes
    }

    /// Feeds one input.
    #[inline]
    pub(crate) fn push(&mut self, input: Input<'_>) {
        let ts = input.ts();
        if ts > self.latest {
            self.latest = ts;
        }
        self.reassembler.push(input, &mut self.driver);
    }

    /// Moves time to the latest input seen (or `now` if later), expiring idle connections.
    pub(crate) fn advance(&mut self, now: Option<Timestamp>) {
        let now = now.map_or(self.latest, |n| n.max(self.latest));
        self.reassembler.advance(now, &mut self.driver);
    }

    /// Closes every connection.
    pub(crate) fn flush(&mut self) {
        self.reassembler.flush(self.latest, &mut self.driver);
    }

    /// Moves the exchanges produced so far into `out`, after the enrichers
    /// and filters, and shows them to the recorders.
    pub(crate) fn take_exchanges(&mut self, out: &mut Vec<Exchange>) {
        self.weighed = 0;
        self.weight = 0;
        let start = out.len();
        self.filter_into(out);
        if !self.recorders.is_empty()
            && let Some(new) = out.get(start..)
            && !new.is_empty()
        {
            for r in &mut self.recorders {
                r.record(new);
            }
        }
    }

    fn filter_into(&mut self, out: &mut Vec<Exchange>) {
        for e in &self.steps.enrichers {
            e.enrich(&mut self.driver.exchanges);
        }
        if self.steps.filters.is_empty() {
            if out.is_empty() {
                // An exchange is several hundred bytes: hand over the
                // vector rather than copy them.
                std::mem::swap(out, &mut self.driver.exchanges);
            } else {
                out.append(&mut self.driver.exchanges);
            }
        } else {
            for ex in self.driver.exchanges.drain(..) {
                if self.steps.filters.iter().all(|f| f.keep(&ex)) {
                    out.push(ex);
                } else {
                    self.counters.dropped(DropReason::Filtered, 1);
                }
            }
        }
    }
}
