//! The crate's error type.

/// What can go wrong when setting up a Kafka sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`crate::KafkaConfig`] value cannot be used.
    #[error("invalid Kafka sink configuration: {0}")]
    Config(String),
    /// librdkafka refused the configuration.
    #[error(
        "cannot create the Kafka producer for brokers {brokers:?}: {source} — check the broker \
         list and the extra librdkafka properties"
    )]
    Producer {
        /// The broker list given.
        brokers: String,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
}
