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
        CaptureSource, Comm, ConnKey, ConnMeta, Exchange, Header, NetnsId, Protocol, Request,
        Response, Roles, Timestamp, TrafficDirection,
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
        let mut req = Request {
            ts: Timestamp::from_secs_nanos(1_763_800_000, 123_000_000),
            method: "POST".into(),
            path: "/api/orders?x=1".into(),
            authority: Some("shop.example".into()),
            headers: vec![
                Header::new("Host", "shop.example"),
                Header::new("Content-Type", "application/json"),
                Header::new("X-Tenant", "blue"),
            ],
            ..Default::default()
        };
        req.body.append(br#"{"item":7}"#, 1 << 20);
        let mut resp = Response {
            ts: Timestamp::from_secs_nanos(1_763_800_001, 0),
            status: 201,
            reason: Some("Created".into()),
            headers: vec![
                Header::new("Content-Type", "application/json"),
                Header::new("Location", "/api/orders/9"),
            ],
            ..Default::default()
        };
        resp.body.append(br#"{"id":9}"#, 1 << 20);
        ex.request = Some(req);
        ex.response = Some(resp);
        ex
    }
}
