//! One HTTP/2 stream: its request and response as they arrive, and the
//! exchange it becomes.

use std::ops::Range;

use capture_core::model::{
    BodyBuilder, ByteStr, Flag, GrpcInfo, Head, HeadBuilder, Headers, Request, Response, Timestamp,
};

use crate::grpc::{self, MessageReader};
use crate::hpack;

/// A header block being decoded into a [`HeadBuilder`]: pseudo-headers go
/// to the head's first-line fields, the rest to its header fields, each as
/// the exact bytes decoded, with what HPACK knows of their UTF-8 validity.
#[derive(Debug)]
pub(crate) struct HeaderList<'b> {
    head: &'b mut HeadBuilder,
    pub(crate) has_method: bool,
    has_authority: bool,
    /// Where the first `host` field's value is, for a request without `:authority`.
    host: Option<Range<usize>>,
    pub(crate) status: Option<u16>,
    /// Fields that referred to unknown table entries.
    pub(crate) unknown: u32,
    /// Fields left out because the list exceeded the limit.
    pub(crate) too_large: bool,
    /// The block could not be decoded to its end.
    pub(crate) malformed: bool,
    /// Whether the first `content-type` field names gRPC, once one is seen.
    grpc_content_type: Option<bool>,
    size: usize,
}

impl<'b> HeaderList<'b> {
    /// A list building into `head` (emptied first).
    pub(crate) fn new(head: &'b mut HeadBuilder) -> Self {
        head.clear();
        Self {
            head,
            has_method: false,
            has_authority: false,
            host: None,
            status: None,
            unknown: 0,
            too_large: false,
            malformed: false,
            grpc_content_type: None,
            size: 0,
        }
    }

    /// Takes one decoded field, keeping the list under `max_size` (RFC 9113
    /// §6.5.2 sizes: name + value + 32).
    pub(crate) fn push(&mut self, f: hpack::Field<'_>, max_size: usize) {
        let (Some(name), Some(value)) = (f.name, f.value) else {
            return;
        };
        // Table references come with their text checked once on insertion.
        let (n, v) = match f.text() {
            Some((n, v)) => (ByteStr::from_str(n), ByteStr::from_str(v)),
            None => (ByteStr::new(name), ByteStr::new(value)),
        };
        match name {
            b":method" => {
                self.head.method(v);
                self.has_method = true;
            }
            b":path" => {
                self.head.path(v);
            }
            b":authority" => {
                self.head.authority(v);
                self.has_authority = true;
            }
            b":status" => {
                self.status = v.as_str().and_then(|s| s.parse().ok());
                if self.status.is_none() {
                    self.malformed = true;
                }
            }
            _ => {
                self.size = self.size.saturating_add(name.len() + value.len() + 32);
                if self.size > max_size {
                    self.too_large = true;
                    return;
                }
                self.head.header(n, v);
                let end = self.head.byte_len();
                if self.grpc_content_type.is_none() && n.eq_ignore_ascii_case("content-type") {
                    self.grpc_content_type = Some(grpc::is_grpc_content_type(v));
                }
                if self.host.is_none() && n.eq_ignore_ascii_case("host") {
                    self.host = Some(end - v.len()..end);
                }
            }
        }
    }

    fn content_type_is_grpc(&self) -> bool {
        self.grpc_content_type == Some(true)
    }

    /// The decoded head; a request without `:authority` takes `host`'s value.
    pub(crate) fn finish(self) -> Decoded {
        if !self.has_authority
            && let Some(host) = self.host.clone()
        {
            self.head.authority_at(host);
        }
        Decoded {
            has_method: self.has_method,
            grpc: self.content_type_is_grpc(),
            status: self.status,
            unknown: self.unknown,
            broken: self.malformed || self.too_large,
            head: self.head.finish(),
        }
    }
}

/// A decoded header block, as a stream takes it.
pub(crate) struct Decoded {
    head: Head,
    has_method: bool,
    status: Option<u16>,
    grpc: bool,
    unknown: u32,
    broken: bool,
}

impl Decoded {
    /// True when the block says who sent it: a request or a response.
    pub(crate) fn is_request(&self) -> Option<bool> {
        match (self.has_method, self.status.is_some()) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    }
}

/// Trailer bytes kept per message (name + value + 32 per field): a stream
/// may send any number of trailer blocks, each within the header-list limit.
const MAX_TRAILER_BYTES: usize = 64 * 1024;

/// Appends trailer fields within [`MAX_TRAILER_BYTES`]; beyond it the message is flagged.
fn add_trailers(trailers: &mut Headers, fields: &Headers, flags: &mut Vec<Flag>) {
    if fields.is_empty() {
        return;
    }
    let mut b = HeadBuilder::new();
    let mut total = 0usize;
    for h in trailers.iter().chain(fields.iter()) {
        total = total.saturating_add(h.name().len() + h.value().len() + 32);
        if total > MAX_TRAILER_BYTES {
            if !flags.contains(&Flag::Malformed) {
                flags.push(Flag::Malformed);
            }
            break;
        }
        b.header(h.name(), h.value());
    }
    *trailers = b.finish_headers();
}

/// The state of one side (request or response) of a stream.
#[derive(Debug, Default)]
pub(crate) struct Side {
    /// END_STREAM was seen.
    pub(crate) ended: bool,
    /// gRPC message splitter, once the side is known to be gRPC.
    pub(crate) grpc: Option<MessageReader>,
    /// The body as it arrives.
    pub(crate) body: BodyBuilder,
}

/// One stream in flight.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) id: u32,
    pub(crate) request: Option<Request>,
    pub(crate) response: Option<Response>,
    pub(crate) req: Side,
    pub(crate) resp: Side,
    pub(crate) flags: Vec<Flag>,
    pub(crate) grpc: bool,
    /// Body bytes kept so far, both sides.
    pub(crate) kept: usize,
}

impl Stream {
    pub(crate) fn new(id: u32) -> Self {
        Self {
            id,
            request: None,
            response: None,
            req: Side::default(),
            resp: Side::default(),
            flags: Vec::new(),
            grpc: false,
            kept: 0,
        }
    }

    pub(crate) fn flag(&mut self, flag: Flag) {
        if !self.flags.contains(&flag) {
            self.flags.push(flag);
        }
    }

    fn note(&mut self, d: &Decoded) {
        if d.unknown > 0 {
            self.flag(Flag::HeadersUnknown);
        }
        if d.broken {
            self.flag(Flag::Malformed);
        }
    }

    /// Request headers (or, once they are known, the request trailers).
    pub(crate) fn request_headers(&mut self, ts: Timestamp, d: Decoded, end_stream: bool) {
        self.note(&d);
        match &mut self.request {
            Some(req) => add_trailers(&mut req.trailers, d.head.headers(), &mut self.flags),
            None => {
                if d.grpc {
                    self.grpc = true;
                }
                self.request = Some(Request::new(ts, d.head));
            }
        }
        if self.grpc && self.req.grpc.is_none() {
            self.req.grpc = Some(MessageReader::default());
        }
        self.req.ended |= end_stream;
    }

    /// Response headers; informational (1xx) heads are replaced by the final
    /// one; after the final head, trailers.
    pub(crate) fn response_headers(&mut self, ts: Timestamp, d: Decoded, end_stream: bool) {
        self.note(&d);
        let informational = self
            .response
            .as_ref()
            .is_some_and(|r| (100..200).contains(&r.status));
        match &mut self.response {
            Some(resp) if !informational || d.status.is_none() => {
                add_trailers(&mut resp.trailers, d.head.headers(), &mut self.flags)
            }
            _ => {
                if d.grpc {
                    self.grpc = true;
                }
                self.response = Some(Response::new(ts, d.status.unwrap_or_default(), d.head));
            }
        }
        if self.grpc && self.resp.grpc.is_none() {
            self.resp.grpc = Some(MessageReader::default());
        }
        let informational = self
            .response
            .as_ref()
            .is_some_and(|r| (100..200).contains(&r.status));
        self.resp.ended |= end_stream && !informational;
    }

    /// Moves the bodies read so far into the request and response.
    pub(crate) fn settle_bodies(&mut self) {
        if let Some(r) = &mut self.request {
            r.body = self.req.body.finish();
        }
        if let Some(r) = &mut self.response {
            r.body = self.resp.body.finish();
        }
    }

    /// True when the exchange is complete: the response ended, and the
    /// request ended too (or was never seen).
    pub(crate) fn is_complete(&self) -> bool {
        self.resp.ended && (self.req.ended || self.request.is_none())
    }

    /// gRPC details, when this is a gRPC call.
    pub(crate) fn grpc_info(&mut self) -> Option<GrpcInfo> {
        if !self.grpc {
            return None;
        }
        let count = |s: &Side| s.grpc.as_ref().map_or(0, MessageReader::messages);
        let broken = |s: &Side| {
            s.grpc
                .as_ref()
                .is_some_and(|r| r.error().is_some() || (s.ended && r.partial()))
        };
        if broken(&self.req) || broken(&self.resp) {
            self.flag(Flag::Malformed);
        }
        let (status, message) = match &self.response {
            Some(r) if !r.trailers.is_empty() => grpc::status(&r.trailers),
            Some(r) => grpc::status(r.headers()),
            None => (None, None),
        };
        Some(GrpcInfo {
            request_messages: count(&self.req),
            response_messages: count(&self.resp),
            status,
            message,
        })
    }
}
