//! The crate's error type.

/// What can stop an Akto agent at startup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An environment variable has a value that cannot be used.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Env {
        /// The variable's name.
        var: &'static str,
        /// Its value (a password is shown as `***`).
        value: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A required environment variable is not set.
    #[error("environment variable {var} is not set: {hint}")]
    MissingEnv {
        /// The variable's name.
        var: &'static str,
        /// What to set it to.
        hint: &'static str,
    },
    /// The Kafka sink or producer could not be set up.
    #[error(transparent)]
    Kafka(#[from] sink_kafka::Error),
    /// The broker refused the agent or could not be reached at startup.
    #[error("cannot use the Kafka broker {brokers}: {reason} — {hint}")]
    Broker {
        /// The broker list.
        brokers: String,
        /// What librdkafka reported.
        reason: String,
        /// What the user can check.
        hint: String,
    },
}
