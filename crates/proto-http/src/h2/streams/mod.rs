//! The streams of one HTTP/2 connection: a bounded table of those in
//! flight, keyed by id (ids are chosen by the peers: the table's hash is
//! keyed), and the ids recently closed, whose late frames are ignored
//! rather than taken for new streams.
//!
//! | file | what it holds |
//! |---|---|
//! | [`stream`] | one stream: its request and response as they arrive, the exchange it becomes |
//! | [`headers`] | a header block decoded into a message head; trailers |

pub(crate) mod headers;
pub(crate) mod stream;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use capture_core::stage::Output;
use capture_core::stats::DropReason;

pub(crate) use stream::Stream;

/// How many closed stream ids are remembered to ignore their late frames.
const RECENTLY_CLOSED: usize = 64;

/// The streams of one connection.
#[derive(Debug)]
pub(crate) struct Streams {
    open: HashMap<u32, Stream, foldhash::fast::RandomState>,
    closed: VecDeque<u32>,
    /// The highest id in `closed`: a higher one needs no search.
    closed_max: u32,
    /// Streams in flight at most.
    max: usize,
}

impl Streams {
    /// A table of at most `max` streams in flight.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            open: HashMap::default(),
            closed: VecDeque::new(),
            closed_max: 0,
            max,
        }
    }

    /// Streams in flight.
    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }

    /// Stream `id`, if in flight.
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.open.get_mut(&id)
    }

    /// Every stream in flight.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.open.values_mut()
    }

    /// Stream `id`, opened if new — unless it closed recently or the table
    /// is full (counted as `stream_limit`).
    pub(crate) fn open(&mut self, id: u32, out: &mut Output<'_>) -> Option<&mut Stream> {
        let open = self.open.len();
        match self.open.entry(id) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(e) => {
                if id <= self.closed_max && self.closed.contains(&id) {
                    return None;
                }
                if open >= self.max {
                    out.dropped(DropReason::StreamLimit, 1);
                    return None;
                }
                Some(e.insert(Stream::new(id)))
            }
        }
    }

    /// Puts `stream` in flight (the h2c upgrade's stream 1).
    pub(crate) fn insert(&mut self, stream: Stream) {
        self.open.insert(stream.id, stream);
    }

    /// Takes stream `id` out, remembering it closed.
    pub(crate) fn close(&mut self, id: u32) -> Option<Stream> {
        let s = self.open.remove(&id)?;
        self.remember(id);
        Some(s)
    }

    /// Takes stream `id` out if its exchange is complete.
    pub(crate) fn close_if_complete(&mut self, id: u32) -> Option<Stream> {
        if let Entry::Occupied(e) = self.open.entry(id)
            && e.get().is_complete()
        {
            let s = e.remove();
            self.remember(s.id);
            return Some(s);
        }
        None
    }

    fn remember(&mut self, id: u32) {
        if self.closed.len() >= RECENTLY_CLOSED {
            self.closed.pop_front();
        }
        self.closed.push_back(id);
        self.closed_max = self.closed_max.max(id);
    }

    /// Ids in flight that `keep` selects, in order.
    pub(crate) fn ids(&self, keep: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut ids: Vec<u32> = self.open.keys().copied().filter(|&id| keep(id)).collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture_core::stats::Counters;

    #[test]
    fn closed_streams_stay_closed_and_the_table_is_bounded() {
        let (mut exchanges, counters) = (Vec::new(), Counters::default());
        let mut out = Output::new(&mut exchanges, &counters);
        let mut s = Streams::new(2);
        assert!(s.open(1, &mut out).is_some());
        assert!(s.open(3, &mut out).is_some());
        assert!(s.open(5, &mut out).is_none(), "full");
        assert_eq!(counters.drops(DropReason::StreamLimit), 1);
        assert!(s.close(1).is_some());
        assert!(
            s.open(1, &mut out).is_none(),
            "late frame of a closed stream"
        );
        assert!(s.open(7, &mut out).is_some());
        assert_eq!(s.ids(|_| true), [3, 7]);
    }
}
