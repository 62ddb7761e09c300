//! Properties of the reassembler over random segmentations, reorderings,
//! duplications and losses of a byte stream.

#![allow(clippy::indexing_slicing)]

use std::sync::Arc;

use capture_core::Limits;
use capture_core::model::*;
use capture_core::reassembly::TcpReassembler;
use capture_core::stage::{ConnId, Reassembler, StreamHandler};
use capture_core::stats::Counters;
use proptest::prelude::*;

/// What the client-to-server direction delivered: a byte or a lost byte.
#[derive(Default)]
struct Delivered(Vec<Option<u8>>, usize);

impl StreamHandler for Delivered {
    fn open(&mut self, _: ConnId, _: &ConnMeta) {
        self.1 += 1;
    }
    fn data(&mut self, _: ConnId, _: &ConnMeta, dir: Direction, _: Timestamp, b: &[u8]) {
        if dir == Direction::ClientToServer {
            self.0.extend(b.iter().map(|&x| Some(x)));
        }
    }
    fn gap(&mut self, _: ConnId, _: &ConnMeta, dir: Direction, _: Timestamp, len: u64) {
        if dir == Direction::ClientToServer {
            self.0.extend(std::iter::repeat_n(None, len as usize));
        }
    }
    fn close(&mut self, _: ConnId, _: &ConnMeta, _: Timestamp, _: CloseReason) {}
}

#[derive(Debug)]
struct Case {
    stream: Vec<u8>,
    isn: u32,
    /// (offset, len) of each segment.
    cuts: Vec<(usize, usize)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(any::<u8>(), 1..3000),
        any::<u32>(),
        prop::collection::vec(1usize..400, 1..64),
    )
        .prop_map(|(stream, isn, sizes)| {
            let mut cuts = Vec::new();
            let mut at = 0;
            let mut i = 0;
            while at < stream.len() {
                let len = sizes[i % sizes.len()].min(stream.len() - at);
                cuts.push((at, len));
                at += len;
                i += 1;
            }
            Case { stream, isn, cuts }
        })
}

fn segment<'a>(
    c: &'a Case,
    ts: u64,
    seq_off: usize,
    flags: TcpFlags,
    payload: &'a [u8],
) -> Input<'a> {
    Input::Segment(Segment {
        ts: Timestamp(ts),
        src: "192.168.1.10:51000".parse().unwrap(),
        dst: "192.168.1.20:8080".parse().unwrap(),
        netns: NetnsId::UNKNOWN,
        seq: c.isn.wrapping_add(1).wrapping_add(seq_off as u32),
        ack: 0,
        flags,
        payload,
    })
}

/// Moves each element by at most `window` places, driven by `keys`: each
/// is sorted by its place plus a delay of up to `window`, so an element
/// overtakes or is overtaken only by those within `window` of it. (Swaps
/// of `i` with `i + k` in turn, as this was before, can carry one element
/// to the end: farther than any reorder window, and its bytes are then
/// rightly a gap.)
fn shuffle_within<T: Copy>(items: &mut [T], window: usize, keys: &[u8]) {
    let mut order: Vec<(usize, usize)> = (0..items.len())
        .map(|i| {
            let k = keys.get(i % keys.len().max(1)).copied().unwrap_or(0) as usize % (window + 1);
            (i + k, i)
        })
        .collect();
    order.sort_unstable();
    let shuffled: Vec<T> = order.iter().map(|&(_, i)| items[i]).collect();
    items.copy_from_slice(&shuffled);
}

fn replay(c: &Case, order: &[Input<'_>]) -> Delivered {
    let counters = Arc::new(Counters::default());
    let mut r = TcpReassembler::new(Limits::default(), counters);
    let mut out = Delivered::default();
    for input in order {
        r.push(*input, &mut out);
    }
    r.flush(Timestamp(u64::MAX / 4), &mut out);
    let _ = c;
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any segmentation, reordering within a window and duplication gives back exactly the stream.
    #[test]
    fn reassembles_exactly(c in case(), keys in prop::collection::vec(any::<u8>(), 1..64),
                           dups in prop::collection::vec(any::<bool>(), 1..64), window in 0usize..8) {
        let syn = Input::Segment(match segment(&c, 0, 0, TcpFlags::SYN, b"") {
            Input::Segment(mut s) => { s.seq = c.isn; s }
            _ => unreachable!(),
        });
        let mut inputs = vec![syn];
        for (i, &(off, len)) in c.cuts.iter().enumerate() {
            let seg = segment(&c, 0, off, TcpFlags::ACK, &c.stream[off..off + len]);
            inputs.push(seg);
            if dups[i % dups.len()] {
                inputs.push(seg);
            }
        }
        shuffle_within(&mut inputs, window, &keys);
        // Timestamps follow arrival order.
        for (i, input) in inputs.iter_mut().enumerate() {
            if let Input::Segment(s) = input { s.ts = Timestamp(1_000 + i as u64 * 1_000); }
        }
        let out = replay(&c, &inputs);
        let expected: Vec<Option<u8>> = c.stream.iter().map(|&b| Some(b)).collect();
        prop_assert_eq!(out.1, 1, "one connection");
        prop_assert!(out.0 == expected, "stream differs");
    }

    /// With segments removed, exactly the removed ranges are reported as gaps.
    #[test]
    fn reports_exactly_the_removed_ranges(c in case(), keys in prop::collection::vec(any::<u8>(), 1..64),
                                          removed in prop::collection::vec(any::<bool>(), 1..64), window in 0usize..6) {
        let syn = Input::Segment(match segment(&c, 0, 0, TcpFlags::SYN, b"") {
            Input::Segment(mut s) => { s.seq = c.isn; s }
            _ => unreachable!(),
        });
        let mut inputs = vec![syn];
        let mut expected: Vec<Option<u8>> = Vec::new();
        for (i, &(off, len)) in c.cuts.iter().enumerate() {
            let bytes = &c.stream[off..off + len];
            if removed[i % removed.len()] && i % 3 != 0 {
                expected.extend(std::iter::repeat_n(None, len));
            } else {
                expected.extend(bytes.iter().map(|&b| Some(b)));
                inputs.push(segment(&c, 0, off, TcpFlags::ACK, bytes));
            }
        }
        // The FIN marks the end, so a loss at the very end is known too.
        inputs.push(segment(&c, 0, c.stream.len(), TcpFlags::FIN | TcpFlags::ACK, b""));
        let fin = inputs.pop().unwrap();
        shuffle_within(&mut inputs, window, &keys);
        inputs.push(fin);
        for (i, input) in inputs.iter_mut().enumerate() {
            if let Input::Segment(s) = input { s.ts = Timestamp(1_000 + i as u64 * 1_000); }
        }
        let out = replay(&c, &inputs);
        prop_assert!(out.0 == expected, "delivered {:?} gaps differ from removed ranges", out.0.iter().filter(|b| b.is_none()).count());
    }
}
