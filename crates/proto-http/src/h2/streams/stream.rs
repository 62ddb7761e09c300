//! One HTTP/2 stream: its request and response as they arrive, and the
//! exchange it becomes.

use capture_core::model::{
    BodyBuilder, ConnMeta, Exchange, Flag, GrpcInfo, Protocol, Request, Response, Roles, Timestamp,
};

use super::headers::{Decoded, add_trailers};
use crate::grpc::{self, MessageReader};

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

    /// The exchange this stream becomes: endpoints named by `roles`,
    /// `mid_stream` when the connection was joined late, the response
    /// ending at `end_ts` (the server's latest bytes) or its start.
    pub(crate) fn into_exchange(
        mut self,
        meta: &ConnMeta,
        roles: Roles,
        mid_stream: bool,
        end_ts: Timestamp,
    ) -> Exchange {
        let grpc = self.grpc_info();
        let protocol = if grpc.is_some() {
            Protocol::Grpc
        } else {
            Protocol::H2
        };
        let mut ex = Exchange::new(protocol, meta, roles);
        ex.stream_id = Some(self.id);
        ex.grpc = grpc;
        if mid_stream {
            ex.flag(Flag::MidStream);
        }
        for f in self.flags.drain(..) {
            ex.flag(f);
        }
        if self.request.is_none() {
            ex.flag(Flag::NoRequest);
        }
        if self.response.is_none() {
            ex.flag(Flag::NoResponse);
        }
        self.settle_bodies();
        ex.request = self.request;
        ex.response = self.response;
        if let Some(r) = &mut ex.response {
            r.end_ts = end_ts.max(r.ts);
        }
        ex
    }
}
