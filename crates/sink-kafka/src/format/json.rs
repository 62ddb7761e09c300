//! The cleartap JSON record as a Kafka message.

use std::io::Write as _;

use capture_core::model::Exchange;
use capture_core::stats::DropReason;

use super::{Message, MessageFormat};

/// The exchange's JSON record (the JSON-lines contract), keyed by client IP.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonFormat;

impl MessageFormat for JsonFormat {
    fn encode(&self, exchange: &Exchange, message: &mut Message) -> Result<(), DropReason> {
        let ip = exchange.conn.client.ip().to_canonical();
        // Writing to a Vec cannot fail.
        let _ = write!(message.key, "{ip}");
        serde_json::to_writer(&mut message.payload, exchange).map_err(|_| DropReason::Filtered)
    }

    fn name(&self) -> &'static str {
        "json"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::testing::exchange;

    #[test]
    fn payload_is_the_json_record_and_key_the_client_ip() {
        let ex = exchange();
        let mut m = Message::default();
        assert!(JsonFormat.encode(&ex, &mut m).is_ok());
        assert_eq!(m.key, b"10.1.0.7");
        assert_eq!(m.payload, ex.to_json().as_bytes());
        assert!(m.headers.is_empty());
    }

    #[test]
    fn mapped_ipv6_keys_read_as_ipv4() {
        let mut ex = exchange();
        ex.conn.client = "[::ffff:10.9.9.9]:1".parse().unwrap();
        let mut m = Message::default();
        assert!(JsonFormat.encode(&ex, &mut m).is_ok());
        assert_eq!(m.key, b"10.9.9.9");
    }
}
