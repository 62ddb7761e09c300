//! Message formats: how an exchange becomes a Kafka message.
//!
//! A [`MessageFormat`] fills a reusable [`Message`] (key, payload, headers)
//! from an exchange, or declines it. Two are provided:
//! [`JsonFormat`], the cleartap record, and [`AktoFormat`], what Akto's data
//! processor reads from `akto.api.logs`.

mod akto;
mod json;

pub use akto::{AktoFormat, OutputLimit};
pub use json::JsonFormat;

use capture_core::model::Exchange;
use capture_core::stats::DropReason;

/// One Kafka message being built. Its buffers are reused from message to message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The message key (Kafka partitions by it).
    pub key: Vec<u8>,
    /// The message value.
    pub payload: Vec<u8>,
    /// Kafka record headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Message {
    /// Empties the message, keeping its buffers.
    pub fn clear(&mut self) {
        self.key.clear();
        self.payload.clear();
        self.headers.clear();
    }
}

/// Turns exchanges into Kafka messages.
pub trait MessageFormat: Send + Sync {
    /// Fills `message` (given empty) from `exchange`, or says why this
    /// format does not send it; the sink then drops it and counts it under
    /// that reason.
    fn encode(&self, exchange: &Exchange, message: &mut Message) -> Result<(), DropReason>;

    /// A short name for logs.
    fn name(&self) -> &'static str;
}

impl<F: MessageFormat + ?Sized> MessageFormat for Box<F> {
    fn encode(&self, exchange: &Exchange, message: &mut Message) -> Result<(), DropReason> {
        (**self).encode(exchange, message)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A realistic exchange for format tests.

    use capture_core::model::{
        CaptureSource, Comm, ConnKey, ConnMeta, Exchange, NetnsId, Protocol, Request, Response,
        Roles, Timestamp, TrafficDirection,
    };

    /// `POST /api/orders?x=1` from 10.1.0.7:51000 to 10.1.0.9:8443, answered 201.
    pub(crate) fn exchange() -> Exchange {
        let mut key = ConnKey::new(
            "10.1.0.7:51000".parse().unwrap(),
            "10.1.0.9:8443".parse().unwrap(),
            NetnsId(4026531993),
        );
        key.pid = Some(4242);
        key.fd = Some(17);
        let meta = ConnMeta::new(key, CaptureSource::EbpfTls, Timestamp(1))
            .with_comm(Some(Comm::new("nginx")))
            .with_traffic(Some(TrafficDirection::Inbound));
        let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
        let req = request(&[]);
        let resp = response(201, Some("Created"));
        ex.request = Some(req);
        ex.response = Some(resp);
        ex
    }

    /// `POST /api/orders?x=1` to `shop.example`, with `extra` header fields
    /// after the usual three.
    pub(crate) fn request<'a>(extra: &[(&'a [u8], &'a [u8])]) -> Request {
        let mut b = Request::builder("POST", "/api/orders?x=1")
            .authority("shop.example")
            .header("Host", "shop.example")
            .header("Content-Type", "application/json")
            .header("X-Tenant", "blue");
        for (n, v) in extra {
            b = b.header(*n, *v);
        }
        b.body(&br#"{"item":7}"#[..])
            .build(Timestamp::from_secs_nanos(1_763_800_000, 123_000_000))
    }

    /// A JSON response of `status`.
    pub(crate) fn response(status: u16, reason: Option<&str>) -> Response {
        let mut b = Response::builder(status)
            .header("Content-Type", "application/json")
            .header("Location", "/api/orders/9");
        if let Some(r) = reason {
            b = b.reason(r);
        }
        b.body(&br#"{"id":9}"#[..])
            .build_response(Timestamp::from_secs_nanos(1_763_800_001, 0))
    }
}
