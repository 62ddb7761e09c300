//! Header blocks across frames: a HEADERS or PUSH_PROMISE fragment without
//! END_HEADERS and its CONTINUATION frames, gathered within a limit until
//! the block is whole. A block in one frame needs none of this: it is
//! decoded straight from the frame.

use capture_core::model::Timestamp;

/// A whole header block gathered from several frames.
#[derive(Debug)]
pub(crate) struct Block {
    /// The stream of the HEADERS or PUSH_PROMISE frame.
    pub(crate) stream: u32,
    /// For PUSH_PROMISE: the promised stream.
    pub(crate) promised: Option<u32>,
    /// The HEADERS frame carried END_STREAM.
    pub(crate) end_stream: bool,
    /// Time of the first frame.
    pub(crate) ts: Timestamp,
    /// The encoded block.
    pub(crate) bytes: Vec<u8>,
}

/// What a CONTINUATION frame did.
#[derive(Debug)]
pub(crate) enum Continued {
    /// More is to come.
    Pending,
    /// The block is whole.
    Whole(Block),
    /// The block grew past the limit and ended: it is lost.
    TooLarge {
        /// Its stream.
        stream: u32,
    },
    /// No block of this stream was open: the frame is out of place.
    Stray,
}

/// The header block being gathered in one direction, if any.
#[derive(Debug)]
pub(crate) struct Blocks {
    pending: Option<(Block, bool)>,
    /// Encoded bytes of one block at most.
    limit: usize,
}

impl Blocks {
    /// No block open; blocks of at most `limit` encoded bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            pending: None,
            limit,
        }
    }

    /// The stream whose block is open.
    pub(crate) fn open_stream(&self) -> Option<u32> {
        self.pending.as_ref().map(|(b, _)| b.stream)
    }

    /// Opens a block with the first fragment (END_HEADERS not set).
    pub(crate) fn start(
        &mut self,
        stream: u32,
        promised: Option<u32>,
        end_stream: bool,
        ts: Timestamp,
        fragment: &[u8],
    ) {
        let block = Block {
            stream,
            promised,
            end_stream,
            ts,
            bytes: fragment.to_vec(),
        };
        self.pending = Some((block, false));
    }

    /// A CONTINUATION frame of `stream`.
    pub(crate) fn continued(
        &mut self,
        stream: u32,
        end_headers: bool,
        fragment: &[u8],
    ) -> Continued {
        let Some((block, too_large)) = self.pending.as_mut().filter(|(b, _)| b.stream == stream)
        else {
            return Continued::Stray;
        };
        if block.bytes.len() + fragment.len() > self.limit {
            *too_large = true;
        } else if !*too_large {
            block.bytes.extend_from_slice(fragment);
        }
        if !end_headers {
            return Continued::Pending;
        }
        match self.pending.take() {
            Some((block, false)) => Continued::Whole(block),
            Some((block, true)) => Continued::TooLarge {
                stream: block.stream,
            },
            None => Continued::Stray,
        }
    }

    /// Forgets the open block (it is lost).
    pub(crate) fn drop_open(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_complete_a_block_of_their_stream_only() {
        let mut b = Blocks::new(8);
        b.start(1, None, true, Timestamp(5), b"ab");
        assert_eq!(b.open_stream(), Some(1));
        assert!(matches!(b.continued(3, true, b"x"), Continued::Stray));
        assert!(matches!(b.continued(1, false, b"cd"), Continued::Pending));
        let Continued::Whole(block) = b.continued(1, true, b"ef") else {
            panic!("not whole")
        };
        assert_eq!(
            (block.bytes.as_slice(), block.end_stream),
            (&b"abcdef"[..], true)
        );
        assert_eq!(b.open_stream(), None);
    }

    #[test]
    fn a_block_past_the_limit_is_lost_whole() {
        let mut b = Blocks::new(4);
        b.start(1, None, false, Timestamp(0), b"abc");
        assert!(matches!(b.continued(1, false, b"de"), Continued::Pending));
        assert!(matches!(
            b.continued(1, true, b""),
            Continued::TooLarge { stream: 1 }
        ));
    }
}
