//! sink-kafka: work in progress.
