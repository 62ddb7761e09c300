//! HTTP/2: frames, HPACK, streams and gRPC, as a [`Parser`] of one connection.
//!
//! [`H2Parser`] reads the frames of both directions (zero-copy where a frame
//! lies whole in the input, DATA streamed without buffering), decodes header
//! blocks with one [`hpack::Decoder`] per direction, and follows each stream
//! from its request HEADERS to the end of its response. Each stream becomes
//! one [`Exchange`] with `stream_id` set, protocol `h2` or `grpc`, emitted
//! when both sides ended, or at RST_STREAM, GOAWAY or the connection's close
//! (flagged).
//!
//! It starts in one of three ways: after the client preface
//! ([`H2Parser::new`]), after an HTTP/1.1 `Upgrade: h2c`
//! ([`H2Parser::after_upgrade`]) or on a connection joined late
//! ([`H2Parser::joined_mid_stream`]), where it looks for a frame boundary,
//! learns which side is the client from the first decisive header block, and
//! reports fields that refer to dynamic-table entries it never saw as
//! unknown ([`Flag::HeadersUnknown`]) instead of guessing them.
//!
//! # Example
//!
//! ```
//! use capture_core::model::*;
//! use capture_core::stage::{Output, Parser};
//! use capture_core::stats::Counters;
//! use proto_http::h2::{H2Config, H2Parser, frame};
//!
//! let meta = ConnMeta::new(ConnKey::new("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap(), NetnsId::UNKNOWN), CaptureSource::Pcap, Timestamp(0));
//! let mut client = frame::PREFACE.to_vec();
//! // HEADERS on stream 1: GET / (static indexes 2 and 4), END_STREAM | END_HEADERS.
//! frame::write_frame(frame::FrameType::Headers, 0x5, 1, &[0x82, 0x84], &mut client);
//! let mut server = Vec::new();
//! // HEADERS on stream 1: :status 200 (static index 8), END_STREAM | END_HEADERS.
//! frame::write_frame(frame::FrameType::Headers, 0x5, 1, &[0x88], &mut server);
//!
//! let (mut exchanges, counters) = (Vec::new(), Counters::default());
//! let mut out = Output::new(&mut exchanges, &counters);
//! let mut p = H2Parser::new(&H2Config::default(), &meta);
//! p.data(&meta, Direction::ClientToServer, Timestamp(1), &client, &mut out);
//! p.data(&meta, Direction::ServerToClient, Timestamp(2), &server, &mut out);
//! assert_eq!(exchanges.len(), 1);
//! assert_eq!(exchanges[0].stream_id, Some(1));
//! assert_eq!(exchanges[0].request.as_ref().unwrap().method(), "GET");
//! assert_eq!(exchanges[0].response.as_ref().unwrap().status, 200);
//! ```

pub mod frame;
mod stream;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use capture_core::model::{
    CloseReason, ConnMeta, Direction, Exchange, Flag, HeadBuilder, Protocol, Request, Role, Roles,
    Timestamp,
};
use capture_core::stage::{Output, Parser};
use capture_core::stats::DropReason;

use crate::hpack;
use frame::{Frame, FrameError, FrameHeader, FrameType, Setting, field, flags};
use stream::{HeaderList, Stream};

/// Limits and options of the HTTP/2 parser. Each limit bounds the memory of
/// one connection; what goes beyond it is counted by a [`DropReason`].
#[derive(Clone, Debug)]
pub struct H2Config {
    /// Body bytes kept per message; the rest is counted (`body_truncated`)
    /// and the body marked truncated. Default 64 KiB.
    pub body_limit: usize,
    /// Body bytes kept per stream, request and response together; beyond
    /// it DATA is counted as `stream_data_limit`. With `max_streams` this
    /// bounds the body memory of a connection. Default 128 KiB.
    pub stream_data_limit: usize,
    /// Decoded size of one header list (name + value + 32 per field, as in
    /// SETTINGS_MAX_HEADER_LIST_SIZE); fields beyond it are left out and
    /// counted as `header_list_too_large`. Default 64 KiB.
    pub max_header_list_size: usize,
    /// Encoded bytes of one header block (HEADERS or PUSH_PROMISE and its
    /// CONTINUATION frames), and of any other non-DATA frame buffered; a
    /// larger block is skipped and counted as `header_list_too_large`.
    /// Default 256 KiB.
    pub max_header_block: usize,
    /// Streams in flight per connection; new streams beyond it are ignored
    /// and counted as `stream_limit`. Default 256.
    pub max_streams: usize,
    /// Bytes of HPACK dynamic table kept per direction, whatever the peers
    /// agreed. Entries beyond it are reported unknown when referenced.
    /// Default 64 KiB.
    pub hpack_table_limit: usize,
    /// Largest gRPC message counted; a longer one stops the splitting of its
    /// body (flagged malformed). Default 64 MiB.
    pub grpc_max_message: u32,
}

impl Default for H2Config {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            stream_data_limit: 128 * 1024,
            max_header_list_size: 64 * 1024,
            max_header_block: 256 * 1024,
            max_streams: 256,
            hpack_table_limit: hpack::DEFAULT_MEM_CAP,
            grpc_max_message: 64 << 20,
        }
    }
}

/// Where the reader of one direction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Read {
    /// The client preface may come next; `n` bytes of it matched so far.
    Preface(usize),
    /// At a frame boundary (`hdr_len` bytes of the next header buffered).
    Header,
    /// Buffering the payload of a non-DATA frame.
    Payload(FrameHeader),
    /// Inside a DATA frame.
    Data(DataFrame),
    /// Skipping the payload of a frame that is not kept.
    Skip(usize),
    /// Lost the frame boundary: waiting for a chunk that starts with a frame.
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

/// A header block waiting for its CONTINUATION frames.
#[derive(Debug)]
struct PendingBlock {
    stream: u32,
    /// For PUSH_PROMISE: the promised stream.
    promised: Option<u32>,
    end_stream: bool,
    ts: Timestamp,
    bytes: Vec<u8>,
    too_large: bool,
}

/// One direction of the connection.
#[derive(Debug)]
struct Reader {
    read: Read,
    hdr: [u8; field::HEADER_LEN],
    hdr_len: usize,
    buf: Vec<u8>,
    hpack: hpack::Decoder,
    /// Largest frame the receiver of this direction accepts, when known.
    max_frame: Option<u32>,
    block: Option<PendingBlock>,
    /// Time of the chunk holding the start of the current frame.
    frame_ts: Timestamp,
}

impl Reader {
    fn new(read: Read, hpack: hpack::Decoder) -> Self {
        Self {
            read,
            hdr: [0; field::HEADER_LEN],
            hdr_len: 0,
            buf: Vec::new(),
            hpack,
            max_frame: None,
            block: None,
            frame_ts: Timestamp::default(),
        }
    }
}

/// How many closed stream ids are remembered to ignore their late frames.
const RECENTLY_CLOSED: usize = 64;

/// The HTTP/2 state of one connection.
pub struct H2Parser {
    config: H2Config,
    readers: [Reader; 2],
    /// Who the client is: known from the preface, an upgrade, or a decisive header block.
    roles: Roles,
    mid_stream: bool,
    /// Open streams, in a keyed hash: stream ids are chosen by the peers.
    streams: HashMap<u32, Stream, foldhash::fast::RandomState>,
    closed: VecDeque<u32>,
    /// The highest id in `closed`: a higher one needs no search.
    closed_max: u32,
    /// Time of the latest bytes per direction: where a stream that ends now ends.
    last_ts: [Timestamp; 2],
    /// Where header blocks are decoded, reused from block to block.
    heads: HeadBuilder,
}

impl H2Parser {
    /// A parser for a connection whose client preface was seen (or is next in the stream).
    pub fn new(config: &H2Config, _meta: &ConnMeta) -> Self {
        let dec = || hpack::Decoder::with_mem_cap(config.hpack_table_limit);
        Self {
            config: config.clone(),
            readers: [
                Reader::new(Read::Preface(0), dec()),
                Reader::new(Read::Preface(0), dec()),
            ],
            roles: Roles::GUESSED,
            mid_stream: false,
            streams: HashMap::default(),
            closed: VecDeque::new(),
            closed_max: 0,
            last_ts: [Timestamp(0); 2],
            heads: HeadBuilder::new(),
        }
    }

    /// A parser for a connection joined mid-stream: frames without a preface.
    ///
    /// When the connection's start was seen (`meta.mid_stream` false: the
    /// server's SETTINGS merely came before the client preface), nothing is
    /// missing and this is [`H2Parser::new`].
    pub fn joined_mid_stream(config: &H2Config, meta: &ConnMeta) -> Self {
        if !meta.mid_stream {
            return Self::new(config, meta);
        }
        let dec = || hpack::Decoder::joined_mid_stream(config.hpack_table_limit);
        let mut p = Self::new(config, meta);
        p.readers = [
            Reader::new(Read::Resync, dec()),
            Reader::new(Read::Resync, dec()),
        ];
        p.mid_stream = true;
        p
    }

    /// A parser after an HTTP/1.1 `Upgrade: h2c` answered by 101: `request`
    /// becomes stream 1. `roles` says who the client is.
    pub fn after_upgrade(
        config: &H2Config,
        meta: &ConnMeta,
        request: Request,
        roles: Roles,
    ) -> Self {
        let mut p = Self::new(config, meta);
        p.roles = roles;
        let mut s = Stream::new(1);
        s.grpc = request
            .header("content-type")
            .is_some_and(crate::grpc::is_grpc_content_type);
        s.request = Some(request);
        s.req.ended = true;
        p.streams.insert(1, s);
        // The server's first bytes are its SETTINGS frame, never a preface.
        p.reader(roles.direction_of(Role::Server)).read = Read::Header;
        p
    }

    /// True if `bytes` (the start of a direction, no preface) look like HTTP/2 frames.
    pub fn looks_like_frames(bytes: &[u8]) -> bool {
        plausible_frames(bytes, false)
    }

    /// Streams in flight.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    fn reader(&mut self, dir: Direction) -> &mut Reader {
        match dir {
            Direction::ClientToServer => &mut self.readers[0],
            Direction::ServerToClient => &mut self.readers[1],
        }
    }

    fn is_client(&self, dir: Direction) -> bool {
        self.roles.sender(dir) == Role::Client
    }

    /// Feeds the bytes of one direction through the frame reader.
    fn feed(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        mut bytes: &[u8],
        out: &mut Output<'_>,
    ) {
        if let Some(t) = self.last_ts.get_mut(dir.index()) {
            *t = ts;
        }
        while !bytes.is_empty() {
            let r = self.reader(dir);
            match r.read {
                Read::Preface(n) => {
                    let rest = frame::PREFACE.get(n..).unwrap_or_default();
                    let k = rest.len().min(bytes.len());
                    if bytes.get(..k) == rest.get(..k) {
                        bytes = bytes.get(k..).unwrap_or_default();
                        r.read = if n + k == frame::PREFACE.len() {
                            Read::Header
                        } else {
                            Read::Preface(n + k)
                        };
                        if n + k == frame::PREFACE.len() {
                            self.roles.learn(dir, Role::Client);
                        }
                    } else if n == 0 {
                        r.read = Read::Header;
                    } else {
                        out.dropped(DropReason::ParseError, 1);
                        r.read = Read::Resync;
                    }
                }
                Read::Resync => {
                    let k = bytes.len().min(frame::PREFACE.len());
                    if bytes.get(..k) == frame::PREFACE.get(..k) {
                        r.read = Read::Preface(0);
                    } else if plausible_frames(bytes, true) {
                        r.read = Read::Header;
                    } else {
                        out.dropped(DropReason::UnparsedBytes, bytes.len() as u64);
                        return;
                    }
                }
                Read::Header => {
                    let header = if r.hdr_len == 0 && bytes.len() >= field::HEADER_LEN {
                        let h = FrameHeader::parse(bytes).ok();
                        bytes = bytes.get(field::HEADER_LEN..).unwrap_or_default();
                        h
                    } else {
                        let k = (field::HEADER_LEN - r.hdr_len).min(bytes.len());
                        if let (Some(dst), Some(src)) =
                            (r.hdr.get_mut(r.hdr_len..r.hdr_len + k), bytes.get(..k))
                        {
                            dst.copy_from_slice(src);
                        }
                        r.hdr_len += k;
                        bytes = bytes.get(k..).unwrap_or_default();
                        if r.hdr_len < field::HEADER_LEN {
                            return;
                        }
                        r.hdr_len = 0;
                        FrameHeader::parse(&r.hdr).ok()
                    };
                    let Some(header) = header else { return };
                    r.frame_ts = ts;
                    let len = header.len() as usize;
                    if let Some(payload) = self.begin_frame(meta, dir, header, out) {
                        // Zero-copy: the whole payload is in this chunk.
                        if let Some((p, rest)) = bytes.split_at_checked(len).filter(|_| payload) {
                            self.reader(dir).read = Read::Header;
                            self.frame(meta, dir, &header, p, out);
                            bytes = rest;
                        }
                    }
                }
                Read::Payload(header) => {
                    let need = (header.len() as usize).saturating_sub(r.buf.len());
                    let k = need.min(bytes.len());
                    r.buf.extend_from_slice(bytes.get(..k).unwrap_or_default());
                    bytes = bytes.get(k..).unwrap_or_default();
                    if r.buf.len() >= header.len() as usize {
                        r.read = Read::Header;
                        let payload = std::mem::take(&mut r.buf);
                        self.frame(meta, dir, &header, &payload, out);
                        let r = self.reader(dir);
                        r.buf = payload;
                        r.buf.clear();
                        if r.buf.capacity() > 64 * 1024 {
                            r.buf = Vec::new();
                        }
                    }
                }
                Read::Skip(left) => {
                    let k = left.min(bytes.len());
                    bytes = bytes.get(k..).unwrap_or_default();
                    r.read = if left == k {
                        Read::Header
                    } else {
                        Read::Skip(left - k)
                    };
                }
                Read::Data(mut d) => {
                    if d.need_pad_len {
                        let Some((&pad, rest)) = bytes.split_first() else {
                            return;
                        };
                        bytes = rest;
                        d.need_pad_len = false;
                        d.left -= 1;
                        match d.left.checked_sub(usize::from(pad)) {
                            Some(n) => d.data_left = n,
                            None => {
                                // Padding longer than the frame: skip it, and the data is lost.
                                out.dropped(DropReason::ParseError, 1);
                                d.data_left = 0;
                                self.flag_stream(d.stream, Flag::Malformed);
                            }
                        }
                    }
                    let k = d.data_left.min(bytes.len());
                    if k > 0 {
                        let (chunk, rest) = bytes.split_at(k);
                        bytes = rest;
                        d.data_left -= k;
                        d.left -= k;
                        self.data_chunk(dir, d.stream, chunk, out);
                    }
                    if d.data_left == 0 {
                        let pad = d.left.min(bytes.len());
                        bytes = bytes.get(pad..).unwrap_or_default();
                        d.left -= pad;
                    }
                    if d.left == 0 {
                        self.reader(dir).read = Read::Header;
                        if d.end_stream {
                            self.end_side(meta, dir, d.stream, out);
                        }
                    } else {
                        self.reader(dir).read = Read::Data(d);
                    }
                }
            }
        }
    }

    /// Decides how to read the payload of a frame whose header was just read.
    /// Returns `Some(true)` if it may be handled zero-copy when whole.
    fn begin_frame(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        header: FrameHeader,
        out: &mut Output<'_>,
    ) -> Option<bool> {
        let len = header.len() as usize;
        // A header block must be continued by CONTINUATION frames only.
        if header.frame_type() != FrameType::Continuation
            && let Some(stream) = self.reader(dir).block.as_ref().map(|b| b.stream)
        {
            out.dropped(DropReason::ParseError, 1);
            self.lose_block_sync(dir, stream);
        }
        let max = self
            .reader(dir)
            .max_frame
            .unwrap_or(frame::MAX_FRAME_SIZE_LIMIT);
        if let Err(e) = header.validate(max) {
            out.dropped(DropReason::ParseError, 1);
            if matches!(e, FrameError::TooLarge { .. }) {
                // An endpoint would close the connection; we skip the frame and
                // go on, but its header block (if any) is lost.
                self.lose_block_sync(dir, header.stream_id());
            }
            if matches!(
                header.frame_type(),
                FrameType::Headers | FrameType::PushPromise | FrameType::Continuation
            ) {
                self.lose_block_sync(dir, header.stream_id());
            }
            self.reader(dir).read = Read::Skip(len);
            if len == 0 {
                self.reader(dir).read = Read::Header;
            }
            let _ = meta;
            return None;
        }
        let max_block = self.config.max_header_block;
        let r = self.reader(dir);
        if header.frame_type() == FrameType::Data {
            let d = DataFrame {
                stream: header.stream_id(),
                end_stream: header.has(flags::END_STREAM),
                need_pad_len: header.has(flags::PADDED),
                left: len,
                data_left: len,
            };
            if d.left == 0 && d.need_pad_len {
                out.dropped(DropReason::ParseError, 1);
                r.read = Read::Header;
                return None;
            }
            r.read = Read::Data(d);
            if len == 0 {
                r.read = Read::Header;
                if d.end_stream {
                    self.end_side(meta, dir, d.stream, out);
                }
            }
            return None;
        }
        if len > max_block {
            if matches!(
                header.frame_type(),
                FrameType::Headers | FrameType::PushPromise | FrameType::Continuation
            ) {
                out.dropped(DropReason::HeaderListTooLarge, 1);
                self.lose_block_sync(dir, header.stream_id());
            } else {
                out.dropped(DropReason::UnparsedBytes, len as u64);
            }
            self.reader(dir).read = Read::Skip(len);
            return None;
        }
        r.read = Read::Payload(header);
        r.buf.clear();
        if len == 0 {
            r.read = Read::Header;
            self.frame(meta, dir, &header, &[], out);
            return None;
        }
        Some(true)
    }

    /// The header block of `stream` in `dir` is lost: the decoder's table can
    /// no longer be trusted, and the stream's headers are unknown.
    fn lose_block_sync(&mut self, dir: Direction, stream: u32) {
        let r = self.reader(dir);
        r.hpack.lose_sync();
        r.block = None;
        self.flag_stream(stream, Flag::Malformed);
    }

    fn flag_stream(&mut self, id: u32, flag: Flag) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.flag(flag);
        }
    }

    /// One complete non-DATA frame.
    fn frame(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        header: &FrameHeader,
        payload: &[u8],
        out: &mut Output<'_>,
    ) {
        let frame = match Frame::parse(header, payload) {
            Ok(f) => f,
            Err(_) => {
                out.dropped(DropReason::ParseError, 1);
                if matches!(
                    header.frame_type(),
                    FrameType::Headers | FrameType::PushPromise | FrameType::Continuation
                ) {
                    self.lose_block_sync(dir, header.stream_id());
                }
                return;
            }
        };
        let ts = self.reader(dir).frame_ts;
        match frame {
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                fragment,
                ..
            } => {
                self.start_block(
                    meta,
                    dir,
                    ts,
                    stream,
                    None,
                    end_stream,
                    end_headers,
                    fragment,
                    out,
                );
            }
            Frame::PushPromise {
                stream,
                promised,
                end_headers,
                fragment,
            } => {
                self.start_block(
                    meta,
                    dir,
                    ts,
                    stream,
                    Some(promised),
                    false,
                    end_headers,
                    fragment,
                    out,
                );
            }
            Frame::Continuation {
                stream,
                end_headers,
                fragment,
            } => {
                let limit = self.config.max_header_block;
                let r = self.reader(dir);
                let Some(block) = r.block.as_mut().filter(|b| b.stream == stream) else {
                    out.dropped(DropReason::ParseError, 1);
                    self.lose_block_sync(dir, stream);
                    return;
                };
                if block.bytes.len() + fragment.len() > limit {
                    block.too_large = true;
                } else if !block.too_large {
                    block.bytes.extend_from_slice(fragment);
                }
                if end_headers && let Some(block) = r.block.take() {
                    if block.too_large {
                        out.dropped(DropReason::HeaderListTooLarge, 1);
                        self.lose_block_sync(dir, block.stream);
                    } else {
                        let PendingBlock {
                            stream,
                            promised,
                            end_stream,
                            ts,
                            bytes,
                            ..
                        } = block;
                        self.header_block(meta, dir, ts, stream, promised, end_stream, &bytes, out);
                    }
                }
            }
            Frame::Settings { ack: false, params } => {
                let mid_stream = self.mid_stream;
                let other = self.reader(dir.reverse());
                if other.max_frame.is_none() && !mid_stream {
                    // The first SETTINGS of a connection seen from its start
                    // holds every non-default value.
                    other.max_frame = Some(frame::DEFAULT_MAX_FRAME_SIZE);
                }
                for s in Frame::settings(params) {
                    // The sender's limits apply to what the other direction sends.
                    let other = self.reader(dir.reverse());
                    match s.id {
                        Setting::HEADER_TABLE_SIZE => {
                            other.hpack.set_settings_table_size(s.value as usize)
                        }
                        Setting::MAX_FRAME_SIZE
                            if (frame::DEFAULT_MAX_FRAME_SIZE..=frame::MAX_FRAME_SIZE_LIMIT)
                                .contains(&s.value) =>
                        {
                            other.max_frame = Some(s.value);
                        }
                        _ => {}
                    }
                }
            }
            Frame::RstStream { stream, code } => self.reset(meta, stream, code, out),
            Frame::GoAway { last_stream, .. } => self.go_away(meta, dir, last_stream, out),
            Frame::Data { .. }
            | Frame::Settings { ack: true, .. }
            | Frame::Priority { .. }
            | Frame::Ping { .. }
            | Frame::WindowUpdate { .. }
            | Frame::Unknown { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start_block(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        stream: u32,
        promised: Option<u32>,
        end_stream: bool,
        end_headers: bool,
        fragment: &[u8],
        out: &mut Output<'_>,
    ) {
        if end_headers {
            self.header_block(meta, dir, ts, stream, promised, end_stream, fragment, out);
        } else {
            self.reader(dir).block = Some(PendingBlock {
                stream,
                promised,
                end_stream,
                ts,
                bytes: fragment.to_vec(),
                too_large: false,
            });
        }
    }

    /// A complete header block: decode it (always, to keep the table in
    /// sync), then give it to its stream.
    #[allow(clippy::too_many_arguments)]
    fn header_block(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        stream: u32,
        promised: Option<u32>,
        end_stream: bool,
        block: &[u8],
        out: &mut Output<'_>,
    ) {
        let max = self.config.max_header_list_size;
        let mut heads = std::mem::take(&mut self.heads);
        let mut list = HeaderList::new(&mut heads);
        let result = self.reader(dir).hpack.decode(block, |f| list.push(f, max));
        match result {
            Ok(info) => list.unknown = info.unknown,
            Err(_) => {
                out.dropped(DropReason::ParseError, 1);
                list.malformed = true;
                list.unknown += 1;
            }
        }
        if list.unknown > 0 {
            out.dropped(DropReason::HpackUnknownReference, u64::from(list.unknown));
        }
        if list.too_large {
            out.dropped(DropReason::HeaderListTooLarge, 1);
        }
        let list = list.finish();
        self.heads = heads;
        if let Some(promised) = promised {
            // PUSH_PROMISE: only servers send it; the block is the promised request.
            self.roles.learn(dir, Role::Server);
            let Some(s) = self.open_stream(promised, out) else {
                return;
            };
            s.request_headers(ts, list, true);
            return;
        }
        let is_request = match list.is_request() {
            Some(req) => {
                let sender = if req { Role::Client } else { Role::Server };
                self.roles.learn(dir, sender);
                req
            }
            None => self.is_client(dir),
        };
        let Some(s) = self.open_stream(stream, out) else {
            return;
        };
        if is_request {
            s.request_headers(ts, list, end_stream);
        } else {
            s.response_headers(ts, list, end_stream);
        }
        self.maybe_finish(meta, stream, out);
    }

    /// The stream `id`, created if new and within limits.
    fn open_stream(&mut self, id: u32, out: &mut Output<'_>) -> Option<&mut Stream> {
        let open = self.streams.len();
        match self.streams.entry(id) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(e) => {
                if id <= self.closed_max && self.closed.contains(&id) {
                    return None;
                }
                if open >= self.config.max_streams {
                    out.dropped(DropReason::StreamLimit, 1);
                    return None;
                }
                Some(e.insert(Stream::new(id)))
            }
        }
    }

    /// Body bytes of a DATA frame.
    fn data_chunk(&mut self, dir: Direction, id: u32, chunk: &[u8], out: &mut Output<'_>) {
        let is_client = self.is_client(dir);
        let (body_limit, stream_limit, grpc_max) = (
            self.config.body_limit,
            self.config.stream_data_limit,
            self.config.grpc_max_message,
        );
        let Some(s) = self.streams.get_mut(&id) else {
            out.dropped(DropReason::UnparsedBytes, chunk.len() as u64);
            return;
        };
        let room = stream_limit.saturating_sub(s.kept);
        let (has_message, side) = if is_client {
            (s.request.is_some(), &mut s.req)
        } else {
            (s.response.is_some(), &mut s.resp)
        };
        if let Some(g) = side.grpc.as_mut() {
            g.feed(chunk, grpc_max);
        }
        if !has_message {
            out.dropped(DropReason::UnparsedBytes, chunk.len() as u64);
            return;
        }
        let body = &mut side.body;
        let before = body.kept();
        let limit = body_limit.min(before + room);
        let beyond_body = (before + chunk.len()).saturating_sub(body_limit.max(before));
        body.append(chunk, limit);
        let kept = body.kept() - before;
        s.kept += kept;
        let not_kept = chunk.len() - kept;
        if not_kept > 0 {
            let by_body = beyond_body.min(not_kept);
            if by_body > 0 {
                out.dropped(DropReason::BodyTruncated, by_body as u64);
            }
            if not_kept > by_body {
                out.dropped(DropReason::StreamDataLimit, (not_kept - by_body) as u64);
            }
        }
    }

    /// END_STREAM on a DATA frame.
    fn end_side(&mut self, meta: &ConnMeta, dir: Direction, id: u32, out: &mut Output<'_>) {
        let is_client = self.is_client(dir);
        if let Some(s) = self.streams.get_mut(&id) {
            if is_client {
                s.req.ended = true
            } else {
                s.resp.ended = true
            }
        }
        self.maybe_finish(meta, id, out);
    }

    fn maybe_finish(&mut self, meta: &ConnMeta, id: u32, out: &mut Output<'_>) {
        if let Entry::Occupied(e) = self.streams.entry(id)
            && e.get().is_complete()
        {
            let s = e.remove();
            self.emit(meta, s, out);
        }
    }

    fn reset(&mut self, meta: &ConnMeta, id: u32, code: u32, out: &mut Output<'_>) {
        if let Some(mut s) = self.streams.remove(&id) {
            if code != 0 || !s.resp.ended {
                s.flag(Flag::Reset);
            }
            self.emit(meta, s, out);
        }
    }

    /// GOAWAY from `dir`: streams its peer opened above `last` were not processed.
    fn go_away(&mut self, meta: &ConnMeta, dir: Direction, last: u32, out: &mut Output<'_>) {
        // The peer of a server opens odd streams; the peer of a client, even ones.
        let peer_parity = u32::from(!self.is_client(dir));
        let mut gone: Vec<u32> = self
            .streams
            .keys()
            .copied()
            .filter(|&id| id > last && id % 2 == peer_parity)
            .collect();
        gone.sort_unstable();
        for id in gone {
            if let Some(mut s) = self.streams.remove(&id) {
                s.flag(Flag::Reset);
                self.emit(meta, s, out);
            }
        }
    }

    fn emit(&mut self, meta: &ConnMeta, mut s: Stream, out: &mut Output<'_>) {
        if self.closed.len() >= RECENTLY_CLOSED {
            self.closed.pop_front();
        }
        self.closed.push_back(s.id);
        self.closed_max = self.closed_max.max(s.id);
        let grpc = s.grpc_info();
        let protocol = if grpc.is_some() {
            Protocol::Grpc
        } else {
            Protocol::H2
        };
        let mut ex = Exchange::new(protocol, meta, self.roles);
        ex.stream_id = Some(s.id);
        ex.grpc = grpc;
        if self.mid_stream {
            ex.flag(Flag::MidStream);
        }
        for f in s.flags.drain(..) {
            ex.flag(f);
        }
        if s.request.is_none() {
            ex.flag(Flag::NoRequest);
        }
        if s.response.is_none() {
            ex.flag(Flag::NoResponse);
        }
        s.settle_bodies();
        ex.request = s.request;
        ex.response = s.response;
        if let Some(r) = &mut ex.response {
            // The response ends with the server's latest frame: emit runs
            // on the bytes that completed the stream (or cut it off).
            let server = self.roles.direction_of(Role::Server).index();
            r.end_ts = self.last_ts.get(server).copied().unwrap_or(r.ts).max(r.ts);
        }
        out.exchange(ex);
    }
}

impl Parser for H2Parser {
    fn data(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Output<'_>,
    ) {
        self.feed(meta, dir, ts, bytes, out);
    }

    fn gap(
        &mut self,
        _meta: &ConnMeta,
        dir: Direction,
        _ts: Timestamp,
        len: u64,
        out: &mut Output<'_>,
    ) {
        let _ = len;
        let is_client = self.is_client(dir);
        let r = self.reader(dir);
        r.hpack.lose_sync();
        r.block = None;
        r.hdr_len = 0;
        r.read = Read::Resync;
        // Which streams lost bytes is unknown: every open one whose side in
        // this direction has not ended may have.
        for s in self.streams.values_mut() {
            let ended = if is_client { s.req.ended } else { s.resp.ended };
            if !ended {
                s.flag(Flag::Gap);
                let side = if is_client { &mut s.req } else { &mut s.resp };
                if let Some(g) = side.grpc.as_mut() {
                    // Message boundaries are lost with the bytes.
                    *g = crate::grpc::MessageReader::default();
                }
            }
        }
        let _ = out;
    }

    fn close(
        &mut self,
        meta: &ConnMeta,
        _ts: Timestamp,
        reason: CloseReason,
        out: &mut Output<'_>,
    ) {
        let mut ids: Vec<u32> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(mut s) = self.streams.remove(&id) {
                match reason {
                    CloseReason::Reset => s.flag(Flag::Reset),
                    CloseReason::Fin => {}
                    CloseReason::Timeout | CloseReason::Evicted | CloseReason::Shutdown => {
                        s.flag(Flag::Incomplete)
                    }
                }
                self.emit(meta, s, out);
            }
        }
        for r in &mut self.readers {
            r.block = None;
            r.buf = Vec::new();
        }
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
fn plausible_frames(bytes: &[u8], strict: bool) -> bool {
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
