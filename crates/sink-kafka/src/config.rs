//! The Kafka sink's configuration.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use rdkafka::ClientConfig;

use crate::Error;

/// How message batches are compressed on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4, as Akto's collector uses: fast, and JSON compresses well with it.
    #[default]
    Lz4,
}

impl Compression {
    /// The value of librdkafka's `compression.type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
        }
    }
}

impl FromStr for Compression {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "gzip" => Ok(Self::Gzip),
            "snappy" => Ok(Self::Snappy),
            "lz4" => Ok(Self::Lz4),
            other => Err(Error::Config(format!(
                "unknown compression {other:?}: use none, gzip, snappy or lz4"
            ))),
        }
    }
}

/// Where and how a [`crate::KafkaSink`] produces.
///
/// Batching follows librdkafka: a partition's messages are sent when
/// `batch_size` of them are waiting or when the oldest has waited
/// `batch_time`, whichever comes first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// The topic every message goes to.
    pub topic: String,
    /// Messages per batch (`batch.num.messages`).
    pub batch_size: usize,
    /// Longest time a message waits for its batch to fill (`linger.ms`).
    pub batch_time: Duration,
    /// Batch compression (`compression.type`).
    pub compression: Compression,
    /// Messages held in memory waiting for the broker
    /// (`queue.buffering.max.messages`). Beyond it new messages are dropped
    /// and counted as `sink_queue_full`: capture never waits for Kafka.
    pub queue_capacity: usize,
    /// Bytes held in memory waiting for the broker (`queue.buffering.max.kbytes`, rounded up).
    pub queue_bytes: usize,
    /// How long a message may wait for the broker, retries and outages
    /// included, before it is counted as `sink_delivery_failed` (`message.timeout.ms`).
    pub message_timeout: Duration,
    /// How often delivery reports are collected.
    pub poll_interval: Duration,
    /// How long [`crate::KafkaSink`]'s flush at shutdown waits for the broker.
    pub flush_timeout: Duration,
    /// Extra librdkafka properties, applied last: TLS (`security.protocol`,
    /// `ssl.ca.location`, …), SASL (`sasl.mechanism`, `sasl.username`, …)
    /// or any tuning. See librdkafka's CONFIGURATION.md.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "localhost:9092".into(),
            topic: "cleartap.exchanges".into(),
            batch_size: 10_000,
            batch_time: Duration::from_millis(50),
            compression: Compression::Lz4,
            queue_capacity: 100_000,
            queue_bytes: 256 << 20,
            message_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(100),
            flush_timeout: Duration::from_secs(10),
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// A configuration for `topic` on `brokers`, defaults elsewhere.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: topic.into(),
            ..Self::default()
        }
    }

    /// Sets one extra librdkafka property.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Checks the values librdkafka would otherwise reject with a less clear message.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: String| Err(Error::Config(what));
        if self.brokers.trim().is_empty() {
            return bad("the broker list is empty: give host:port[,host:port…]".into());
        }
        if self.topic.trim().is_empty() {
            return bad("the topic name is empty".into());
        }
        if !(1..=1_000_000).contains(&self.batch_size) {
            return bad(format!(
                "batch size {} is outside 1..=1000000 messages",
                self.batch_size
            ));
        }
        if self.batch_time > Duration::from_millis(900_000) {
            return bad(format!(
                "batch time {:?} is above librdkafka's 900 s",
                self.batch_time
            ));
        }
        if !(1..=10_000_000).contains(&self.queue_capacity) {
            return bad(format!(
                "queue capacity {} is outside 1..=10000000 messages",
                self.queue_capacity
            ));
        }
        if self.queue_bytes == 0 {
            return bad("queue bytes is 0".into());
        }
        if self.message_timeout.is_zero() {
            return bad("message timeout is 0; it must leave time for one delivery".into());
        }
        if self.poll_interval.is_zero() {
            return bad("poll interval is 0".into());
        }
        Ok(())
    }

    /// The librdkafka configuration this stands for.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "cleartap")
            .set("batch.num.messages", self.batch_size.to_string())
            .set("linger.ms", millis(self.batch_time))
            .set("compression.type", self.compression.as_str())
            .set(
                "queue.buffering.max.messages",
                self.queue_capacity.to_string(),
            )
            .set(
                "queue.buffering.max.kbytes",
                self.queue_bytes.div_ceil(1024).to_string(),
            )
            .set("message.timeout.ms", millis(self.message_timeout))
            // Find a restarted broker quickly.
            .set("reconnect.backoff.ms", "100")
            .set("reconnect.backoff.max.ms", "2000");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

fn millis(d: Duration) -> String {
    let ms = d.as_millis();
    // librdkafka takes fractional milliseconds for linger.ms only; whole ms are enough.
    if ms == 0 && !d.is_zero() {
        "1".into()
    } else {
        ms.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_config_carries_every_setting_and_extras_win() {
        let cfg = KafkaConfig {
            batch_size: 100,
            batch_time: Duration::from_secs(10),
            ..KafkaConfig::new("b1:9092,b2:9092", "akto.api.logs")
        }
        .property("security.protocol", "SASL_SSL")
        .property("compression.type", "gzip");
        let c = cfg.client_config();
        assert_eq!(c.get("bootstrap.servers"), Some("b1:9092,b2:9092"));
        assert_eq!(c.get("batch.num.messages"), Some("100"));
        assert_eq!(c.get("linger.ms"), Some("10000"));
        assert_eq!(c.get("queue.buffering.max.messages"), Some("100000"));
        assert_eq!(c.get("queue.buffering.max.kbytes"), Some("262144"));
        assert_eq!(c.get("message.timeout.ms"), Some("60000"));
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("compression.type"), Some("gzip"));
    }

    #[test]
    fn default_compression_is_lz4() {
        assert_eq!(
            KafkaConfig::default()
                .client_config()
                .get("compression.type"),
            Some("lz4")
        );
    }

    #[test]
    fn compression_parses_names() {
        assert_eq!("LZ4".parse::<Compression>().unwrap(), Compression::Lz4);
        assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
        let e = "brotli".parse::<Compression>().unwrap_err().to_string();
        assert!(e.contains("brotli") && e.contains("lz4"), "{e}");
    }

    #[test]
    fn validate_names_the_bad_value() {
        let e = KafkaConfig {
            batch_size: 0,
            ..KafkaConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("batch size 0"), "{e}");
        let e = KafkaConfig::new(" ", "t").validate().unwrap_err();
        assert!(e.to_string().contains("broker list is empty"), "{e}");
        let e = KafkaConfig {
            batch_time: Duration::from_secs(1000),
            ..KafkaConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("900 s"), "{e}");
        assert!(KafkaConfig::default().validate().is_ok());
    }

    #[test]
    fn sub_millisecond_times_round_up() {
        assert_eq!(millis(Duration::from_micros(10)), "1");
        assert_eq!(millis(Duration::ZERO), "0");
    }
}
