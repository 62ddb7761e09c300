//! HTTP/2: frames, HPACK, streams and gRPC, as a [`Parser`] of one connection.
//!
//! | file | what it holds |
//! |---|---|
//! | [`frame`] | frame views over the wire bytes that never panic |
//! | `reader` | the frame reader of one direction: bytes in, frames out (testable alone) |
//! | `block` | header blocks gathered across CONTINUATION frames |
//! | `streams` | streams in flight, their messages, the exchanges they become |
//! | `config` | the limits |
//! | this file | the connection: two directions, HPACK, roles, SETTINGS, GOAWAY |
//!
//! [`H2Parser`] reads the frames of both directions (zero-copy where a frame
//! lies whole in the input, DATA streamed without buffering), decodes header
//! blocks with one [`hpack::Decoder`] per direction, and follows each stream
//! from its request HEADERS to the end of its response. Each stream becomes
//! one [`Exchange`](capture_core::model::Exchange) with `stream_id` set, protocol `h2` or `grpc`, emitted
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
//! // A frame: payload length (3 bytes), type (1 HEADERS), flags (5:
//! // END_STREAM | END_HEADERS), stream id (4 bytes), then the payload.
//! let mut client = frame::PREFACE.to_vec();
//! // GET / (HPACK static indexes 2 and 4) on stream 1.
//! client.extend_from_slice(&[0, 0, 2, 1, 5, 0, 0, 0, 1, 0x82, 0x84]);
//! // :status 200 (static index 8) on stream 1.
//! let server = [0, 0, 1, 1, 5, 0, 0, 0, 1, 0x88];
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

mod block;
mod config;
mod reader;
mod streams;

use capture_core::model::{
    CloseReason, ConnMeta, Direction, Flag, HeadBuilder, Request, Role, Roles, Timestamp,
};
use capture_core::stage::{Output, Parser};
use capture_core::stats::DropReason;

use crate::hpack;
use block::{Blocks, Continued};
use frame::{Frame, FrameError, FrameHeader, FrameType, Setting};
use reader::{Event, FrameReader};
use streams::Streams;
use streams::headers::HeaderList;

pub use config::H2Config;

/// One direction of the connection: its frames, its HPACK table, its open
/// header block.
#[derive(Debug)]
struct Side {
    reader: FrameReader,
    hpack: hpack::Decoder,
    blocks: Blocks,
}

impl Side {
    fn new(reader: FrameReader, hpack: hpack::Decoder, config: &H2Config) -> Self {
        Self {
            reader,
            hpack,
            blocks: Blocks::new(config.max_header_block),
        }
    }
}

/// Bytes that belong to no message (a lost header block's frames, a
/// skipped frame), counted by what arrived.
fn unparsed(out: &mut Output<'_>, n: u64) {
    if n > 0 {
        out.dropped(DropReason::UnparsedBytes, n);
    }
}

/// The bytes of a frame on the wire: its header and its payload.
fn frame_bytes(header: &FrameHeader) -> u64 {
    frame::field::HEADER_LEN as u64 + u64::from(header.len())
}

/// True for the frames that carry header blocks.
fn carries_block(header: &FrameHeader) -> bool {
    matches!(
        header.frame_type(),
        FrameType::Headers | FrameType::PushPromise | FrameType::Continuation
    )
}

/// The HTTP/2 state of one connection.
pub struct H2Parser {
    config: H2Config,
    sides: [Side; 2],
    /// Who the client is: known from the preface, an upgrade, or a decisive header block.
    roles: Roles,
    mid_stream: bool,
    streams: Streams,
    /// Time of the latest bytes per direction: where a stream that ends now ends.
    last_ts: [Timestamp; 2],
    /// Where header blocks are decoded, reused from block to block.
    heads: HeadBuilder,
}

impl H2Parser {
    /// A parser for a connection whose client preface was seen (or is next in the stream).
    pub fn new(config: &H2Config, _meta: &ConnMeta) -> Self {
        let side = || {
            Side::new(
                FrameReader::at_start(config.max_header_block),
                hpack::Decoder::with_mem_cap(config.hpack_table_limit),
                config,
            )
        };
        Self {
            config: config.clone(),
            sides: [side(), side()],
            roles: Roles::GUESSED,
            mid_stream: false,
            streams: Streams::new(config.max_streams),
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
        let side = || {
            Side::new(
                FrameReader::joined(config.max_header_block),
                hpack::Decoder::joined_mid_stream(config.hpack_table_limit),
                config,
            )
        };
        let mut p = Self::new(config, meta);
        p.sides = [side(), side()];
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
        let mut s = streams::Stream::new(1);
        s.grpc = request
            .header("content-type")
            .is_some_and(crate::grpc::is_grpc_content_type);
        s.request = Some(request);
        s.req.ended = true;
        p.streams.insert(s);
        // The server's first bytes are its SETTINGS frame, never a preface.
        p.side(roles.direction_of(Role::Server)).reader =
            FrameReader::at_frame(config.max_header_block);
        p
    }

    /// True if `bytes` (the start of a direction, no preface) look like HTTP/2 frames.
    pub fn looks_like_frames(bytes: &[u8]) -> bool {
        reader::plausible_frames(bytes, false)
    }

    /// Streams in flight.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    fn side(&mut self, dir: Direction) -> &mut Side {
        let [a, b] = &mut self.sides;
        match dir {
            Direction::ClientToServer => a,
            Direction::ServerToClient => b,
        }
    }

    fn is_client(&self, dir: Direction) -> bool {
        self.roles.sender(dir) == Role::Client
    }

    /// Feeds the bytes of one direction through its frame reader.
    fn feed(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
        out: &mut Output<'_>,
    ) {
        if let Some(t) = self.last_ts.get_mut(dir.index()) {
            *t = ts;
        }
        let mut input = bytes;
        while let Some(event) = self.side(dir).reader.next(&mut input, ts) {
            self.event(meta, dir, event, out);
        }
    }

    /// What the frame reader of `dir` found.
    fn event(&mut self, meta: &ConnMeta, dir: Direction, event: Event<'_>, out: &mut Output<'_>) {
        match event {
            Event::Preface => {
                self.roles.learn(dir, Role::Client);
            }
            Event::BadPreface | Event::EmptyPadded => out.dropped(DropReason::ParseError, 1),
            Event::Unparsed(n) => unparsed(out, n as u64),
            Event::Header(header) => {
                // A header block must be continued by CONTINUATION frames only.
                if header.frame_type() != FrameType::Continuation
                    && let Some(stream) = self.side(dir).blocks.open_stream()
                {
                    out.dropped(DropReason::ParseError, 1);
                    self.lose_block_sync(dir, stream, out);
                }
            }
            Event::Invalid(header, e) => {
                out.dropped(DropReason::ParseError, 1);
                // The header came; its payload is counted as it comes.
                unparsed(out, frame::field::HEADER_LEN as u64);
                // An endpoint would close the connection; we skip the frame
                // and go on, but its header block (if any) is lost.
                if matches!(e, FrameError::TooLarge { .. }) || carries_block(&header) {
                    self.lose_block_sync(dir, header.stream_id(), out);
                }
            }
            Event::Oversized(header) => {
                unparsed(out, frame::field::HEADER_LEN as u64);
                if carries_block(&header) {
                    out.dropped(DropReason::HeaderListTooLarge, 1);
                    self.lose_block_sync(dir, header.stream_id(), out);
                }
            }
            Event::Frame(header, payload, ts) => {
                self.frame(meta, dir, &header, &payload, ts, out);
                self.side(dir).reader.recycle(payload);
            }
            Event::Data { stream, chunk } => self.data_chunk(dir, stream, chunk, out),
            Event::BadPadding { stream } => {
                out.dropped(DropReason::ParseError, 1);
                self.flag_stream(stream, Flag::Malformed);
            }
            Event::DataEnd { stream, end_stream } => {
                if end_stream {
                    self.end_side(meta, dir, stream, out);
                }
            }
        }
    }

    /// The header block of `stream` in `dir` is lost: the decoder's table can
    /// no longer be trusted, and the stream's headers are unknown. The open
    /// block's frames are counted as unparsed.
    fn lose_block_sync(&mut self, dir: Direction, stream: u32, out: &mut Output<'_>) {
        let side = self.side(dir);
        side.hpack.lose_sync();
        let lost = side.blocks.drop_open();
        unparsed(out, lost);
        self.flag_stream(stream, Flag::Malformed);
    }

    fn flag_stream(&mut self, id: u32, flag: Flag) {
        if let Some(s) = self.streams.get_mut(id) {
            s.flag(flag);
        }
    }

    /// One complete non-DATA frame, whose header came at `ts`.
    fn frame(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        header: &FrameHeader,
        payload: &[u8],
        ts: Timestamp,
        out: &mut Output<'_>,
    ) {
        let Ok(frame) = Frame::parse(header, payload) else {
            out.dropped(DropReason::ParseError, 1);
            unparsed(out, frame_bytes(header));
            if carries_block(header) {
                self.lose_block_sync(dir, header.stream_id(), out);
            }
            return;
        };
        match frame {
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                fragment,
                ..
            } => self.start_block(
                meta,
                dir,
                ts,
                (stream, None),
                end_stream,
                (end_headers, frame_bytes(header)),
                fragment,
                out,
            ),
            Frame::PushPromise {
                stream,
                promised,
                end_headers,
                fragment,
            } => self.start_block(
                meta,
                dir,
                ts,
                (stream, Some(promised)),
                false,
                (end_headers, frame_bytes(header)),
                fragment,
                out,
            ),
            Frame::Continuation {
                stream,
                end_headers,
                fragment,
            } => match self.side(dir).blocks.continued(
                stream,
                end_headers,
                fragment,
                frame_bytes(header),
            ) {
                Continued::Pending => {}
                Continued::Stray => {
                    out.dropped(DropReason::ParseError, 1);
                    unparsed(out, frame_bytes(header));
                    self.lose_block_sync(dir, stream, out);
                }
                Continued::TooLarge { stream, bytes } => {
                    // Counted once, when the limit is crossed; the frames
                    // that follow are counted as they come.
                    out.dropped(DropReason::HeaderListTooLarge, 1);
                    unparsed(out, bytes);
                    self.side(dir).hpack.lose_sync();
                    self.flag_stream(stream, Flag::Malformed);
                }
                Continued::Skipped { bytes } => unparsed(out, bytes),
                Continued::Whole(b) => self.header_block(
                    meta,
                    dir,
                    b.ts,
                    (b.stream, b.promised),
                    b.end_stream,
                    &b.bytes,
                    out,
                ),
            },
            Frame::Settings { ack: false, params } => self.settings(dir, params),
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

    /// SETTINGS from `dir`: the sender's limits apply to what the other
    /// direction sends.
    fn settings(&mut self, dir: Direction, params: &[u8]) {
        let mid_stream = self.mid_stream;
        let other = self.side(dir.reverse());
        if other.reader.max_frame().is_none() && !mid_stream {
            // The first SETTINGS of a connection seen from its start holds
            // every non-default value.
            other.reader.set_max_frame(frame::DEFAULT_MAX_FRAME_SIZE);
        }
        for s in Frame::settings(params) {
            match s.id {
                Setting::HEADER_TABLE_SIZE => other.hpack.set_settings_table_size(s.value as usize),
                Setting::MAX_FRAME_SIZE
                    if (frame::DEFAULT_MAX_FRAME_SIZE..=frame::MAX_FRAME_SIZE_LIMIT)
                        .contains(&s.value) =>
                {
                    other.reader.set_max_frame(s.value);
                }
                _ => {}
            }
        }
    }

    /// The first fragment of a header block, from a frame of `frame_bytes`:
    /// decoded at once when the frame holds it whole (`end_headers`), else
    /// gathered until END_HEADERS.
    #[allow(clippy::too_many_arguments)]
    fn start_block(
        &mut self,
        meta: &ConnMeta,
        dir: Direction,
        ts: Timestamp,
        (stream, promised): (u32, Option<u32>),
        end_stream: bool,
        (end_headers, frame_bytes): (bool, u64),
        fragment: &[u8],
        out: &mut Output<'_>,
    ) {
        if end_headers {
            self.header_block(meta, dir, ts, (stream, promised), end_stream, fragment, out);
        } else {
            self.side(dir)
                .blocks
                .start((stream, promised), end_stream, ts, fragment, frame_bytes);
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
        (stream, promised): (u32, Option<u32>),
        end_stream: bool,
        block: &[u8],
        out: &mut Output<'_>,
    ) {
        let max = self.config.max_header_list_size;
        let mut heads = std::mem::take(&mut self.heads);
        let mut list = HeaderList::new(&mut heads);
        let result = self.side(dir).hpack.decode(block, |f| list.push(f, max));
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
            if let Some(s) = self.streams.open(promised, out) {
                s.request_headers(ts, list, true);
            }
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
        let Some(s) = self.streams.open(stream, out) else {
            return;
        };
        if is_request {
            s.request_headers(ts, list, end_stream);
        } else {
            s.response_headers(ts, list, end_stream);
        }
        self.maybe_finish(meta, stream, out);
    }

    /// Body bytes of a DATA frame.
    fn data_chunk(&mut self, dir: Direction, id: u32, chunk: &[u8], out: &mut Output<'_>) {
        let is_client = self.is_client(dir);
        let (body_limit, stream_limit, grpc_max) = (
            self.config.body_limit,
            self.config.stream_data_limit,
            self.config.grpc_max_message,
        );
        let Some(s) = self.streams.get_mut(id) else {
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
        if let Some(s) = self.streams.get_mut(id) {
            if is_client {
                s.req.ended = true
            } else {
                s.resp.ended = true
            }
        }
        self.maybe_finish(meta, id, out);
    }

    fn maybe_finish(&mut self, meta: &ConnMeta, id: u32, out: &mut Output<'_>) {
        if let Some(s) = self.streams.close_if_complete(id) {
            self.emit(meta, s, out);
        }
    }

    fn reset(&mut self, meta: &ConnMeta, id: u32, code: u32, out: &mut Output<'_>) {
        if let Some(mut s) = self.streams.close(id) {
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
        for id in self.streams.ids(|id| id > last && id % 2 == peer_parity) {
            if let Some(mut s) = self.streams.close(id) {
                s.flag(Flag::Reset);
                self.emit(meta, s, out);
            }
        }
    }

    fn emit(&mut self, meta: &ConnMeta, s: streams::Stream, out: &mut Output<'_>) {
        // The response ends with the server's latest frame: emit runs on the
        // bytes that completed the stream (or cut it off).
        let server = self.roles.direction_of(Role::Server).index();
        let end = self.last_ts.get(server).copied().unwrap_or_default();
        out.exchange(s.into_exchange(meta, self.roles, self.mid_stream, end));
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
        _len: u64,
        out: &mut Output<'_>,
    ) {
        let is_client = self.is_client(dir);
        let side = self.side(dir);
        side.hpack.lose_sync();
        // What came of a header block or a frame cut by the gap is lost with it.
        let lost = side.blocks.drop_open() + side.reader.lose_sync() as u64;
        unparsed(out, lost);
        // Which streams lost bytes is unknown: every open one whose side in
        // this direction has not ended may have.
        for s in self.streams.iter_mut() {
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
    }

    fn close(
        &mut self,
        meta: &ConnMeta,
        _ts: Timestamp,
        reason: CloseReason,
        out: &mut Output<'_>,
    ) {
        for id in self.streams.ids(|_| true) {
            if let Some(mut s) = self.streams.close(id) {
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
        for side in &mut self.sides {
            // A header block the close cut off is a message lost; what came
            // of it, or of a frame, belongs to no message.
            // (A block lost at its limit was counted then.)
            let block = side.blocks.drop_open();
            if block > 0 {
                out.dropped(DropReason::ParseError, 1);
            }
            unparsed(out, block + side.reader.clear() as u64);
        }
    }
}
