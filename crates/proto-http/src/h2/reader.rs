//! The frame reader of one direction: bytes in, frames out.
//!
//! [`FrameReader::next`] takes the next bytes of its direction and yields
//! one [`Event`] at a time: the client preface, each frame header, then the
//! frame — a whole non-DATA payload (borrowed from the input when it lies
//! there whole, else buffered across inputs within a limit), or a DATA
//! frame's data streamed chunk by chunk without buffering. It checks frame
//! headers against the size the receiver accepts, finds a frame boundary
//! again after lost bytes, and knows nothing of streams or HPACK: it can be
//! driven and tested alone.
//!
//! Bytes it does not hand out are said as they arrive ([`Event::Unparsed`]:
//! the payload of a skipped frame, bytes before a frame boundary), or
//! returned by [`FrameReader::discard`] when the stream breaks off in the
//! middle of a frame: what a frame header declares is never counted, only
//! what came.

use std::ops::Deref;

use capture_core::model::Timestamp;

use super::frame::{self, FrameError, FrameHeader, FrameType, field, flags};

/// Payload buffers larger than this are not kept for the next frame.
const KEEP_BUFFER: usize = 64 * 1024;

/// The payload of a whole frame: in the input, or in the reader's buffer
/// (hand it back with [`FrameReader::recycle`]).
#[derive(Debug)]
pub(crate) enum Payload<'a> {
    /// Borrowed from the input: the frame lay there whole.
    Input(&'a [u8]),
    /// Gathered across inputs.
    Buffered(Vec<u8>),
}

impl Deref for Payload<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Payload::Input(b) => b,
            Payload::Buffered(v) => v,
        }
    }
}

/// What the reader found next.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// The client connection preface, whole.
    Preface,
    /// A frame header; what its frame is follows.
    Header(FrameHeader),
    /// The header breaks a rule (size, stream id): its payload is skipped
    /// (said as [`Event::Unparsed`] as it arrives).
    Invalid(FrameHeader, FrameError),
    /// A non-DATA payload larger than the buffering limit: skipped (said as
    /// [`Event::Unparsed`] as it arrives).
    Oversized(FrameHeader),
    /// A DATA frame whose PADDED flag is set on an empty payload: skipped.
    EmptyPadded,
    /// A whole non-DATA frame, with the time of the input its header was in.
    Frame(FrameHeader, Payload<'a>, Timestamp),
    /// Data bytes of a DATA frame (padding left out).
    Data {
        /// The frame's stream.
        stream: u32,
        /// The bytes.
        chunk: &'a [u8],
    },
    /// A DATA frame's padding is longer than the frame: its data is lost.
    BadPadding {
        /// The frame's stream.
        stream: u32,
    },
    /// A DATA frame ended.
    DataEnd {
        /// The frame's stream.
        stream: u32,
        /// It carried END_STREAM.
        end_stream: bool,
    },
    /// The input began like the preface and then differed: the reader
    /// looks for a frame boundary from here.
    BadPreface,
    /// Bytes not handed out: skipped while looking for a frame boundary, or
    /// the payload of a frame that is not kept, counted as they arrive.
    Unparsed(usize),
}

/// Where the reader is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Read {
    /// The client preface may come next; `n` bytes of it matched so far.
    Preface(usize),
    /// At a frame boundary (`hdr_len` bytes of the next header buffered).
    Header,
    /// A header was just handed out; its frame is to be decided.
    Decide(FrameHeader),
    /// Buffering the payload of a non-DATA frame.
    Payload(FrameHeader),
    /// Inside a DATA frame.
    Data(DataFrame),
    /// Skipping the payload of a frame that is not kept.
    Skip(usize),
    /// Lost the frame boundary: waiting for an input that starts with a frame.
    Resync,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DataFrame {
    stream: u32,
    end_stream: bool,
    /// The pad length byte is still to come.
    need_pad_len: bool,
    /// Payload bytes left, padding included.
    left: usize,
    /// Data bytes left (valid once the pad length is known).
    data_left: usize,
}

/// The frame reader of one direction.
#[derive(Debug)]
pub(crate) struct FrameReader {
    read: Read,
    hdr: [u8; field::HEADER_LEN],
    hdr_len: usize,
    buf: Vec<u8>,
    /// Largest frame the receiver of this direction accepts, when known.
    max_frame: Option<u32>,
    /// Largest non-DATA payload buffered.
    max_buffered: usize,
    /// Time of the input holding the start of the current frame.
    frame_ts: Timestamp,
}

impl FrameReader {
    /// A reader at the start of a direction, where the client preface may
    /// come (it is looked for, not required).
    pub(crate) fn at_start(max_buffered: usize) -> Self {
        Self::with(Read::Preface(0), max_buffered)
    }

    /// A reader at a frame boundary (the server's side after an upgrade).
    pub(crate) fn at_frame(max_buffered: usize) -> Self {
        Self::with(Read::Header, max_buffered)
    }

    /// A reader joining mid-stream: it looks for a frame boundary first.
    pub(crate) fn joined(max_buffered: usize) -> Self {
        Self::with(Read::Resync, max_buffered)
    }

    fn with(read: Read, max_buffered: usize) -> Self {
        Self {
            read,
            hdr: [0; field::HEADER_LEN],
            hdr_len: 0,
            buf: Vec::new(),
            max_frame: None,
            max_buffered,
            frame_ts: Timestamp::default(),
        }
    }

    /// The largest frame the receiver accepts, when a SETTINGS frame told.
    pub(crate) fn max_frame(&self) -> Option<u32> {
        self.max_frame
    }

    /// The receiver's SETTINGS_MAX_FRAME_SIZE (or its default).
    pub(crate) fn set_max_frame(&mut self, size: u32) {
        self.max_frame = Some(size);
    }

    /// Bytes were lost: look for a frame boundary again. Returns the bytes
    /// of the frame cut off by the loss that had arrived (see [`Self::discard`]).
    pub(crate) fn lose_sync(&mut self) -> usize {
        let cut = self.discard();
        self.read = Read::Resync;
        cut
    }

    /// Forgets what arrived of a frame (or preface) that was never handed
    /// out — a partial header, a partial payload being gathered — and
    /// returns how many bytes that was.
    pub(crate) fn discard(&mut self) -> usize {
        let partial = match self.read {
            // Its header was said, but the frame never handed out.
            Read::Payload(_) => field::HEADER_LEN + self.buf.len(),
            Read::Preface(n) => n,
            _ => 0,
        };
        if let Read::Payload(_) | Read::Preface(_) = self.read {
            self.read = Read::Header;
        }
        let cut = self.hdr_len + partial;
        self.hdr_len = 0;
        self.buf.clear();
        cut
    }

    /// Lets the memory go (the connection is over); returns the bytes of a
    /// frame cut off by the end (see [`Self::discard`]).
    pub(crate) fn clear(&mut self) -> usize {
        let cut = self.discard();
        self.buf = Vec::new();
        cut
    }

    /// Takes back a buffer handed out in [`Payload::Buffered`].
    pub(crate) fn recycle(&mut self, payload: Payload<'_>) {
        if let Payload::Buffered(mut buf) = payload
            && buf.capacity() <= KEEP_BUFFER
        {
            buf.clear();
            self.buf = buf;
        }
    }

    /// The next event found in `input` (advanced past what it used), at
    /// time `ts`; `None` when `input` is used up.
    pub(crate) fn next<'a>(&mut self, input: &mut &'a [u8], ts: Timestamp) -> Option<Event<'a>> {
        loop {
            match self.read {
                Read::Decide(header) => {
                    if let Some(event) = self.decide(header, input) {
                        return Some(event);
                    }
                    continue;
                }
                // A DATA frame whose last byte came with the last input ends
                // without waiting for more.
                Read::Data(d) if d.left == 0 && !d.need_pad_len => {
                    self.read = Read::Header;
                    return Some(Event::DataEnd {
                        stream: d.stream,
                        end_stream: d.end_stream,
                    });
                }
                _ => {}
            }
            if input.is_empty() {
                return None;
            }
            match self.read {
                Read::Preface(n) => {
                    let rest = frame::PREFACE.get(n..).unwrap_or_default();
                    let k = rest.len().min(input.len());
                    if input.get(..k) == rest.get(..k) {
                        *input = input.get(k..).unwrap_or_default();
                        if n + k == frame::PREFACE.len() {
                            self.read = Read::Header;
                            return Some(Event::Preface);
                        }
                        self.read = Read::Preface(n + k);
                    } else if n == 0 {
                        self.read = Read::Header;
                    } else {
                        self.read = Read::Resync;
                        return Some(Event::BadPreface);
                    }
                }
                Read::Resync => {
                    let k = input.len().min(frame::PREFACE.len());
                    if input.get(..k) == frame::PREFACE.get(..k) {
                        self.read = Read::Preface(0);
                    } else if plausible_frames(input, true) {
                        self.read = Read::Header;
                    } else {
                        let n = input.len();
                        *input = &[];
                        return Some(Event::Unparsed(n));
                    }
                }
                Read::Header => {
                    let header = if self.hdr_len == 0 && input.len() >= field::HEADER_LEN {
                        let h = FrameHeader::parse(input).ok();
                        *input = input.get(field::HEADER_LEN..).unwrap_or_default();
                        h
                    } else {
                        let k = (field::HEADER_LEN - self.hdr_len).min(input.len());
                        if let (Some(dst), Some(src)) = (
                            self.hdr.get_mut(self.hdr_len..self.hdr_len + k),
                            input.get(..k),
                        ) {
                            dst.copy_from_slice(src);
                        }
                        self.hdr_len += k;
                        *input = input.get(k..).unwrap_or_default();
                        if self.hdr_len < field::HEADER_LEN {
                            return None;
                        }
                        self.hdr_len = 0;
                        FrameHeader::parse(&self.hdr).ok()
                    };
                    let header = header?;
                    self.frame_ts = ts;
                    self.read = Read::Decide(header);
                    return Some(Event::Header(header));
                }
                Read::Payload(header) => {
                    let need = (header.len() as usize).saturating_sub(self.buf.len());
                    let k = need.min(input.len());
                    self.buf
                        .extend_from_slice(input.get(..k).unwrap_or_default());
                    *input = input.get(k..).unwrap_or_default();
                    if self.buf.len() >= header.len() as usize {
                        self.read = Read::Header;
                        let payload = Payload::Buffered(std::mem::take(&mut self.buf));
                        return Some(Event::Frame(header, payload, self.frame_ts));
                    }
                }
                Read::Skip(left) => {
                    let k = left.min(input.len());
                    *input = input.get(k..).unwrap_or_default();
                    self.read = if left == k {
                        Read::Header
                    } else {
                        Read::Skip(left - k)
                    };
                    return Some(Event::Unparsed(k));
                }
                Read::Data(d) => return self.data(d, input),
                Read::Decide(_) => {}
            }
        }
    }

    /// What the frame whose header was just handed out is.
    fn decide<'a>(&mut self, header: FrameHeader, input: &mut &'a [u8]) -> Option<Event<'a>> {
        let len = header.len() as usize;
        let skip = |len: usize| {
            if len == 0 {
                Read::Header
            } else {
                Read::Skip(len)
            }
        };
        if let Err(e) = header.validate(self.max_frame.unwrap_or(frame::MAX_FRAME_SIZE_LIMIT)) {
            self.read = skip(len);
            return Some(Event::Invalid(header, e));
        }
        if header.frame_type() == FrameType::Data {
            let d = DataFrame {
                stream: header.stream_id(),
                end_stream: header.has(flags::END_STREAM),
                need_pad_len: header.has(flags::PADDED),
                left: len,
                data_left: len,
            };
            if d.left == 0 && d.need_pad_len {
                self.read = Read::Header;
                return Some(Event::EmptyPadded);
            }
            if len == 0 {
                self.read = Read::Header;
                return Some(Event::DataEnd {
                    stream: d.stream,
                    end_stream: d.end_stream,
                });
            }
            self.read = Read::Data(d);
            return None;
        }
        if len > self.max_buffered {
            self.read = Read::Skip(len);
            return Some(Event::Oversized(header));
        }
        self.read = Read::Header;
        if len == 0 {
            return Some(Event::Frame(header, Payload::Input(&[]), self.frame_ts));
        }
        // Zero-copy: the whole payload is in this input.
        if self.buf.is_empty()
            && let Some((p, rest)) = input.split_at_checked(len)
        {
            *input = rest;
            return Some(Event::Frame(header, Payload::Input(p), self.frame_ts));
        }
        self.buf.clear();
        self.read = Read::Payload(header);
        None
    }

    /// The next bytes of a DATA frame.
    fn data<'a>(&mut self, mut d: DataFrame, input: &mut &'a [u8]) -> Option<Event<'a>> {
        if d.need_pad_len {
            let (&pad, rest) = input.split_first()?;
            *input = rest;
            d.need_pad_len = false;
            d.left -= 1;
            if let Some(n) = d.left.checked_sub(usize::from(pad)) {
                d.data_left = n;
            } else {
                // Padding longer than the frame: skip it, and the data is lost.
                d.data_left = 0;
                self.read = Read::Data(d);
                return Some(Event::BadPadding { stream: d.stream });
            }
        }
        let k = d.data_left.min(input.len());
        if k > 0 {
            let (chunk, rest) = input.split_at(k);
            *input = rest;
            d.data_left -= k;
            d.left -= k;
            self.read = Read::Data(d);
            return Some(Event::Data {
                stream: d.stream,
                chunk,
            });
        }
        if d.data_left == 0 {
            let pad = d.left.min(input.len());
            *input = input.get(pad..).unwrap_or_default();
            d.left -= pad;
        }
        if d.left == 0 {
            self.read = Read::Header;
            return Some(Event::DataEnd {
                stream: d.stream,
                end_stream: d.end_stream,
            });
        }
        self.read = Read::Data(d);
        None
    }
}

/// Flags a frame of each type may carry.
fn allowed_flags(ty: FrameType) -> u8 {
    match ty {
        FrameType::Data => flags::END_STREAM | flags::PADDED,
        FrameType::Headers => {
            flags::END_STREAM | flags::END_HEADERS | flags::PADDED | flags::PRIORITY
        }
        FrameType::Settings | FrameType::Ping => flags::ACK,
        FrameType::PushPromise => flags::END_HEADERS | flags::PADDED,
        FrameType::Continuation => flags::END_HEADERS,
        _ => 0,
    }
}

/// A plausible frame header at the start of `bytes`: a known type, only its
/// flags, a sane length, the stream rules of its type, the reserved bit
/// clear; and if the frame ends inside `bytes`, a plausible header after it.
/// `strict` (resynchronising inside a connection) also wants the first
/// frame to end within `bytes`: a random 9 bytes pass the header checks
/// often enough, and a wrong guess would swallow the stream.
pub(crate) fn plausible_frames(bytes: &[u8], strict: bool) -> bool {
    /// Longer frames exist only after SETTINGS raised the limit: too rare to
    /// resynchronise on.
    const SANE_LEN: u32 = 1 << 20;
    let mut rest = bytes;
    for i in 0..4 {
        let Ok(h) = FrameHeader::parse(rest) else {
            // Fewer than 9 bytes left: fine after at least one frame.
            return i > 0;
        };
        let ty = h.frame_type();
        let reserved = rest.get(5).is_some_and(|b| b & 0x80 != 0);
        if matches!(ty, FrameType::Unknown(_))
            || reserved
            || h.flags() & !allowed_flags(ty) != 0
            || h.validate(SANE_LEN).is_err()
        {
            return false;
        }
        match rest.get(field::HEADER_LEN + h.len() as usize..) {
            Some(after) => rest = after,
            None => return !strict || i > 0,
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::h2::frame::write_frame;

    /// Every event of `inputs`, payloads as owned bytes: (kind, stream, bytes).
    fn events(r: &mut FrameReader, inputs: &[&[u8]]) -> Vec<(String, u32, Vec<u8>)> {
        let mut got = Vec::new();
        for input in inputs {
            let mut rest: &[u8] = input;
            while let Some(e) = r.next(&mut rest, Timestamp(1)) {
                let item = match e {
                    Event::Preface => ("preface".into(), 0, vec![]),
                    Event::Header(h) => ("header".into(), h.stream_id(), vec![]),
                    Event::Invalid(h, _) => ("invalid".into(), h.stream_id(), vec![]),
                    Event::Oversized(h) => ("oversized".into(), h.stream_id(), vec![]),
                    Event::EmptyPadded => ("empty-padded".into(), 0, vec![]),
                    Event::Frame(h, p, _) => {
                        let v = p.to_vec();
                        r.recycle(p);
                        ("frame".into(), h.stream_id(), v)
                    }
                    Event::Data { stream, chunk } => ("data".into(), stream, chunk.to_vec()),
                    Event::BadPadding { stream } => ("bad-padding".into(), stream, vec![]),
                    Event::DataEnd { stream, end_stream } => {
                        ("end".into(), stream, vec![u8::from(end_stream)])
                    }
                    Event::BadPreface => ("bad-preface".into(), 0, vec![]),
                    Event::Unparsed(n) => ("unparsed".into(), 0, vec![0; n]),
                };
                got.push(item);
            }
        }
        // Consecutive data chunks of one stream read as one.
        let mut merged: Vec<(String, u32, Vec<u8>)> = Vec::new();
        for e in got {
            match merged.last_mut() {
                Some(last) if last.0 == "data" && e.0 == "data" && last.1 == e.1 => {
                    last.2.extend_from_slice(&e.2)
                }
                _ => merged.push(e),
            }
        }
        merged
    }

    fn conversation() -> Vec<u8> {
        let mut b = frame::PREFACE.to_vec();
        write_frame(FrameType::Settings, 0, 0, &[0, 4, 0, 0, 0xff, 0xff], &mut b);
        write_frame(FrameType::Headers, 0x4, 1, &[0x82, 0x84], &mut b);
        // DATA, padded: pad length 3, "hello", 3 bytes of padding.
        write_frame(
            FrameType::Data,
            flags::PADDED | flags::END_STREAM,
            1,
            b"\x03hello\0\0\0",
            &mut b,
        );
        b
    }

    #[test]
    fn frames_come_out_whole_and_data_streamed_at_every_split() {
        let wire = conversation();
        let mut whole = FrameReader::at_start(1024);
        let want = events(&mut whole, &[&wire]);
        let kinds: Vec<_> = want.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "preface", "header", "frame", "header", "frame", "header", "data", "end"
            ]
        );
        assert_eq!(want[6].2, b"hello");
        assert_eq!(want[7], ("end".into(), 1, vec![1]));
        for at in 0..wire.len() {
            let mut r = FrameReader::at_start(1024);
            let (a, b) = wire.split_at(at);
            assert_eq!(events(&mut r, &[a, b]), want, "split at {at}");
        }
        let mut r = FrameReader::at_start(1024);
        let bytewise: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(events(&mut r, &bytewise), want);
    }

    #[test]
    fn oversized_and_invalid_frames_are_skipped_and_said() {
        let mut b = Vec::new();
        write_frame(FrameType::Headers, 0x4, 1, &[0; 100], &mut b);
        write_frame(FrameType::Headers, 0x4, 0, &[0x82], &mut b);
        write_frame(FrameType::Ping, 0, 0, &[0; 8], &mut b);
        let mut r = FrameReader::at_frame(64);
        let kinds: Vec<_> = events(&mut r, &[&b]).into_iter().map(|e| e.0).collect();
        assert_eq!(
            kinds,
            [
                "header",
                "oversized",
                "unparsed",
                "header",
                "invalid",
                "unparsed",
                "header",
                "frame"
            ]
        );
    }

    #[test]
    fn a_skipped_frame_counts_what_arrived_not_what_it_declared() {
        // A HEADERS header declaring 2^24 - 1 bytes, then 6,000 of them.
        let mut b = vec![0xff, 0xff, 0xff, 1, flags::END_HEADERS, 0, 0, 0, 1];
        b.extend_from_slice(&[0x40; 6000]);
        let mut r = FrameReader::at_frame(1024);
        r.set_max_frame(frame::DEFAULT_MAX_FRAME_SIZE);
        let got = events(&mut r, &[&b[..3000], &b[3000..]]);
        let skipped: usize = got
            .iter()
            .filter(|e| e.0 == "unparsed")
            .map(|e| e.2.len())
            .sum();
        assert_eq!(got[1].0, "invalid");
        assert_eq!(skipped, 6000);
    }

    #[test]
    fn a_frame_cut_off_gives_back_what_arrived_of_it() {
        let mut b = Vec::new();
        write_frame(FrameType::Settings, 0, 0, &[0; 36], &mut b);
        let mut r = FrameReader::at_frame(1024);
        // The header and 20 bytes of the payload, then the stream breaks off.
        assert_eq!(events(&mut r, &[&b[..29]]).len(), 1);
        assert_eq!(r.lose_sync(), 29);
        assert_eq!(r.discard(), 0);
        let mut r = FrameReader::at_frame(1024);
        let _ = events(&mut r, &[&b[..5]]);
        assert_eq!(r.clear(), 5, "a partial frame header");
    }

    #[test]
    fn a_frame_over_the_receivers_limit_is_invalid() {
        let mut b = Vec::new();
        write_frame(FrameType::Data, 0, 1, &vec![7; 20_000], &mut b);
        let mut r = FrameReader::at_frame(1024);
        r.set_max_frame(frame::DEFAULT_MAX_FRAME_SIZE);
        let kinds: Vec<_> = events(&mut r, &[&b]).into_iter().map(|e| e.0).collect();
        assert_eq!(kinds, ["header", "invalid", "unparsed"]);
    }

    #[test]
    fn a_joined_reader_finds_a_frame_boundary() {
        let mut b = Vec::new();
        write_frame(FrameType::Ping, 0, 0, &[0; 8], &mut b);
        write_frame(FrameType::Ping, 0, 0, &[1; 8], &mut b);
        let mut r = FrameReader::joined(1024);
        let got = events(&mut r, &[b"\x17\x03\x03garbage", &b]);
        let kinds: Vec<_> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(kinds, ["unparsed", "header", "frame", "header", "frame"]);
        assert_eq!(got[0].2.len(), 10);
    }

    #[test]
    fn a_wrong_preface_is_said_and_frames_are_found_after_it() {
        let mut r = FrameReader::at_start(1024);
        let mut b = b"PRI * HTTP/2.0\r\nXX".to_vec();
        let mut frames = Vec::new();
        write_frame(FrameType::Ping, 0, 0, &[0; 8], &mut frames);
        write_frame(FrameType::Ping, 0, 0, &[0; 8], &mut frames);
        b.extend_from_slice(&frames);
        let kinds: Vec<_> = events(&mut r, &[&b[..16], &b[16..18], &frames])
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(kinds[0], "bad-preface");
        assert!(
            kinds.ends_with(&["header".into(), "frame".into()]),
            "{kinds:?}"
        );
    }

    #[test]
    fn a_data_frame_ending_with_the_input_ends_at_once() {
        let mut b = Vec::new();
        write_frame(FrameType::Data, flags::END_STREAM, 1, b"abc", &mut b);
        let mut r = FrameReader::at_frame(1024);
        let got = events(&mut r, &[&b]);
        assert_eq!(got.last(), Some(&("end".to_owned(), 1, vec![1])));
    }

    #[test]
    fn padding_longer_than_the_frame_loses_its_data() {
        let mut b = Vec::new();
        write_frame(
            FrameType::Data,
            flags::PADDED | flags::END_STREAM,
            3,
            b"\x09abc",
            &mut b,
        );
        let mut r = FrameReader::at_frame(1024);
        let kinds: Vec<_> = events(&mut r, &[&b]).into_iter().map(|e| e.0).collect();
        assert_eq!(kinds, ["header", "bad-padding", "end"]);
    }
}
