//! # sink-kafka
//!
//! A cleartap [`Sink`](capture_core::stage::Sink) that produces one Kafka
//! message per exchange, in a pluggable [`MessageFormat`]: the cleartap JSON
//! record ([`JsonFormat`]) or the message Akto's data processor consumes
//! ([`AktoFormat`]), with the values Akto's eBPF collector sends. The rest of
//! an agent that replaces Akto's collector (its environment variables, Kafka
//! security, heartbeats) is the `akto-agent` crate.
//!
//! The capture path never waits for Kafka: messages go to librdkafka's
//! bounded queue (batched by count and time, LZ4-compressed by default), a
//! full queue drops and counts, and failed deliveries are counted from
//! librdkafka's delivery reports. A broker outage costs the messages that
//! time out during it; librdkafka reconnects on its own.
//!
//! # Example
//!
//! ```no_run
//! use capture_core::stats::StatsRegistry;
//! use sink_kafka::{AktoFormat, KafkaConfig, KafkaSink};
//!
//! let registry = StatsRegistry::new(); // or the pipeline builder's `stats_registry()`
//! let config = KafkaConfig::new("127.0.0.1:9092", "akto.api.logs")
//!     .property("security.protocol", "SASL_SSL")
//!     .property("sasl.mechanism", "PLAIN");
//! let sink = KafkaSink::new(&config, AktoFormat::default(), registry.counters())?;
//! // Pipeline::builder(protocol).sink(sink) …
//! # Ok::<(), sink_kafka::Error>(())
//! ```
//!
//! TLS and SASL are librdkafka properties passed through
//! [`KafkaConfig::properties`]; TLS and SASL/SCRAM need the `ssl` feature.

mod config;
mod error;
pub mod format;
mod sink;

pub use config::{Compression, KafkaConfig};
pub use error::Error;
pub use format::{AktoFormat, JsonFormat, Message, MessageFormat, OutputLimit};
pub use sink::{Deliveries, DeliveryStats, KafkaSink};
