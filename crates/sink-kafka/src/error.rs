//! The crate's error type.

/// What can go wrong when setting up a Kafka sink or an Akto agent.
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
    /// An environment variable of the Akto agent has a value that cannot be used.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Env {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A required environment variable of the Akto agent is not set.
    #[error("environment variable {var} is not set: {hint}")]
    MissingEnv {
        /// The variable's name.
        var: &'static str,
        /// What to set it to.
        hint: &'static str,
    },
}
