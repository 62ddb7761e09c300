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
    /// The block grew past the limit with this frame: it is lost, and the
    /// frames that came of it (these `bytes`, headers included) with it.
    /// Its further CONTINUATION frames are [`Continued::Skipped`].
    TooLarge {
        /// Its stream.
        stream: u32,
        /// Bytes of its frames so far, this one included.
        bytes: u64,
    },
    /// A frame of a block already lost at the limit: its `bytes` are lost too.
    Skipped {
        /// The frame's bytes, header included.
        bytes: u64,
    },
    /// No block of this stream was open: the frame is out of place.
    Stray,
}

/// The header block open in one direction.
#[derive(Debug)]
enum Open {
    /// Gathered, `u64` bytes of frames (headers included) so far.
    Gathering(Block, u64),
    /// Over the limit: its frames are skipped until END_HEADERS.
    Skipping {
        /// Its stream.
        stream: u32,
    },
}

/// The header block being gathered in one direction, if any.
#[derive(Debug)]
pub(crate) struct Blocks {
    open: Option<Open>,
    /// Encoded bytes of one block at most.
    limit: usize,
}

impl Blocks {
    /// No block open; blocks of at most `limit` encoded bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self { open: None, limit }
    }

    /// The stream whose block is open.
    pub(crate) fn open_stream(&self) -> Option<u32> {
        match self.open.as_ref()? {
            Open::Gathering(b, _) => Some(b.stream),
            Open::Skipping { stream } => Some(*stream),
        }
    }

    /// Opens a block with the first fragment (END_HEADERS not set), from a
    /// frame of `frame_bytes` bytes, header included.
    pub(crate) fn start(
        &mut self,
        (stream, promised): (u32, Option<u32>),
        end_stream: bool,
        ts: Timestamp,
        fragment: &[u8],
        frame_bytes: u64,
    ) {
        let block = Block {
            stream,
            promised,
            end_stream,
            ts,
            bytes: fragment.to_vec(),
        };
        self.open = Some(Open::Gathering(block, frame_bytes));
    }

    /// A CONTINUATION frame of `stream`, `frame_bytes` long, header included.
    pub(crate) fn continued(
        &mut self,
        stream: u32,
        end_headers: bool,
        fragment: &[u8],
        frame_bytes: u64,
    ) -> Continued {
        if self.open_stream() != Some(stream) {
            return Continued::Stray;
        }
        let done = |open: &mut Option<Open>| {
            if end_headers {
                *open = None;
            }
        };
        match self.open.as_mut() {
            Some(Open::Gathering(block, bytes)) => {
                *bytes += frame_bytes;
                if block.bytes.len() + fragment.len() > self.limit {
                    let lost = Continued::TooLarge {
                        stream,
                        bytes: *bytes,
                    };
                    self.open = Some(Open::Skipping { stream });
                    done(&mut self.open);
                    return lost;
                }
                block.bytes.extend_from_slice(fragment);
                if !end_headers {
                    return Continued::Pending;
                }
                match self.open.take() {
                    Some(Open::Gathering(block, _)) => Continued::Whole(block),
                    _ => Continued::Stray,
                }
            }
            Some(Open::Skipping { .. }) => {
                done(&mut self.open);
                Continued::Skipped { bytes: frame_bytes }
            }
            None => Continued::Stray,
        }
    }

    /// Forgets the open block (it is lost); returns the bytes of its frames
    /// not yet reported lost.
    pub(crate) fn drop_open(&mut self) -> u64 {
        match self.open.take() {
            Some(Open::Gathering(_, bytes)) => bytes,
            Some(Open::Skipping { .. }) | None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_complete_a_block_of_their_stream_only() {
        let mut b = Blocks::new(8);
        b.start((1, None), true, Timestamp(5), b"ab", 11);
        assert_eq!(b.open_stream(), Some(1));
        assert!(matches!(b.continued(3, true, b"x", 10), Continued::Stray));
        assert!(matches!(
            b.continued(1, false, b"cd", 11),
            Continued::Pending
        ));
        let Continued::Whole(block) = b.continued(1, true, b"ef", 11) else {
            panic!("not whole")
        };
        assert_eq!(
            (block.bytes.as_slice(), block.end_stream),
            (&b"abcdef"[..], true)
        );
        assert_eq!(b.open_stream(), None);
    }

    #[test]
    fn a_block_past_the_limit_is_lost_whole_with_every_byte_of_its_frames() {
        let mut b = Blocks::new(4);
        b.start((1, None), false, Timestamp(0), b"abc", 12);
        // The limit is crossed here: the frames so far are lost.
        assert!(matches!(
            b.continued(1, false, b"de", 11),
            Continued::TooLarge {
                stream: 1,
                bytes: 23
            }
        ));
        assert_eq!(
            b.open_stream(),
            Some(1),
            "its continuations still belong to it"
        );
        assert!(matches!(
            b.continued(1, false, b"fgh", 12),
            Continued::Skipped { bytes: 12 }
        ));
        assert!(matches!(
            b.continued(1, true, b"", 9),
            Continued::Skipped { bytes: 9 }
        ));
        assert_eq!(b.open_stream(), None);
        assert_eq!(b.drop_open(), 0);
    }

    #[test]
    fn an_abandoned_block_gives_back_the_bytes_of_its_frames() {
        let mut b = Blocks::new(100);
        b.start((3, None), false, Timestamp(0), b"abc", 12);
        assert!(matches!(
            b.continued(3, false, b"de", 11),
            Continued::Pending
        ));
        assert_eq!(b.drop_open(), 23);
        assert_eq!(b.drop_open(), 0);
    }
}
