//! One HTTP/2 stream: its request and response as they arrive, and the
//! exchange it becomes.

use capture_core::model::{Flag, GrpcInfo, Header, Request, Response, Timestamp};

use crate::grpc::{self, MessageReader};
use crate::hpack;

/// A decoded header block, split into pseudo-headers and fields.
#[derive(Debug, Default)]
pub(crate) struct HeaderList {
    pub(crate) method: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) authority: Option<String>,
    pub(crate) status: Option<u16>,
    pub(crate) fields: Vec<Header>,
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

impl HeaderList {
    /// Takes one decoded field, keeping the list under `max_size` (RFC 9113
    /// §6.5.2 sizes: name + value + 32).
    pub(crate) fn push(&mut self, f: hpack::Field<'_>, max_size: usize) {
        let (Some(name), Some(value)) = (f.name, f.value) else {
            return;
        };
        // Table references come with their text checked once on insertion.
        let known = f.text();
        let text = |known: Option<&str>, b: &[u8]| match known {
            Some(s) => s.to_owned(),
            None => String::from_utf8_lossy(b).into_owned(),
        };
        let (name_text, value_text) = (known.map(|t| t.0), known.map(|t| t.1));
        match name {
            b":method" => self.method = Some(text(value_text, value)),
            b":path" => self.path = Some(text(value_text, value)),
            b":authority" => self.authority = Some(text(value_text, value)),
            b":status" => {
                self.status = value_text.and_then(|s| s.parse().ok());
                if self.status.is_none() {
                    self.malformed = true;
                }
            }
            _ => {
                self.size = self.size.saturating_add(name.len() + value.len() + 32);
                if self.size > max_size {
                    self.too_large = true;
                } else {
                    if self.fields.capacity() == 0 {
                        self.fields.reserve(8);
                    }
                    let header = Header::new(text(name_text, name), text(value_text, value));
                    if self.grpc_content_type.is_none()
                        && header.name.eq_ignore_ascii_case("content-type")
                    {
                        self.grpc_content_type = Some(grpc::is_grpc_content_type(&header.value));
                    }
                    self.fields.push(header);
                }
            }
        }
    }

    /// True when the block says who sent it: a request or a response.
    pub(crate) fn is_request(&self) -> Option<bool> {
        match (self.method.is_some(), self.status.is_some()) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    }

    fn content_type_is_grpc(&self) -> bool {
        self.grpc_content_type == Some(true)
    }
}

/// Trailer bytes kept per message (name + value + 32 per field): a stream
/// may send any number of trailer blocks, each within the header-list limit.
const MAX_TRAILER_BYTES: usize = 64 * 1024;

/// Appends trailer fields within [`MAX_TRAILER_BYTES`]; beyond it the message is flagged.
fn add_trailers(trailers: &mut Vec<Header>, fields: Vec<Header>, flags: &mut Vec<Flag>) {
    let size = |h: &Header| h.name.len() + h.value.len() + 32;
    let mut total: usize = trailers.iter().map(size).sum();
    for h in fields {
        total = total.saturating_add(size(&h));
        if total > MAX_TRAILER_BYTES {
            if !flags.contains(&Flag::Malformed) {
                flags.push(Flag::Malformed);
            }
            return;
        }
        trailers.push(h);
    }
}

/// The state of one side (request or response) of a stream.
#[derive(Debug, Default)]
pub(crate) struct Side {
    /// END_STREAM was seen.
    pub(crate) ended: bool,
    /// gRPC message splitter, once the side is known to be gRPC.
    pub(crate) grpc: Option<MessageReader>,
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

    fn note(&mut self, list: &HeaderList) {
        if list.unknown > 0 {
            self.flag(Flag::HeadersUnknown);
        }
        if list.malformed || list.too_large {
            self.flag(Flag::Malformed);
        }
    }

    /// Request headers (or, once they are known, the request trailers).
    pub(crate) fn request_headers(&mut self, ts: Timestamp, list: HeaderList, end_stream: bool) {
        self.note(&list);
        match &mut self.request {
            Some(req) => add_trailers(&mut req.trailers, list.fields, &mut self.flags),
            None => {
                if list.content_type_is_grpc() {
                    self.grpc = true;
                }
                let authority = list.authority.or_else(|| {
                    capture_core::model::find_header(&list.fields, "host").map(str::to_owned)
                });
                self.request = Some(Request {
                    ts,
                    method: list.method.unwrap_or_default(),
                    path: list.path.unwrap_or_default(),
                    authority,
                    headers: list.fields,
                    ..Default::default()
                });
            }
        }
        if self.grpc && self.req.grpc.is_none() {
            self.req.grpc = Some(MessageReader::default());
        }
        self.req.ended |= end_stream;
    }

    /// Response headers; informational (1xx) heads are replaced by the final
    /// one; after the final head, trailers.
    pub(crate) fn response_headers(&mut self, ts: Timestamp, list: HeaderList, end_stream: bool) {
        self.note(&list);
        let informational = self
            .response
            .as_ref()
            .is_some_and(|r| (100..200).contains(&r.status));
        match &mut self.response {
            Some(resp) if !informational || list.status.is_none() => {
                add_trailers(&mut resp.trailers, list.fields, &mut self.flags)
            }
            _ => {
                if list.content_type_is_grpc() {
                    self.grpc = true;
                }
                self.response = Some(Response {
                    ts,
                    status: list.status.unwrap_or_default(),
                    headers: list.fields,
                    ..Default::default()
                });
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
            Some(r) => grpc::status(&r.headers),
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
