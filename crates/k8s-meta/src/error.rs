//! What can go wrong when attributing traffic to pods.

use std::path::PathBuf;

/// The errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label selector could not be parsed.
    #[error(
        "label selector {selector:?}: {reason} — write it as kubectl -l takes it, e.g. \
         app=web,tier!=db,env in (prod,stage),!canary"
    )]
    Selector {
        /// The selector as given.
        selector: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The container runtime could not be asked.
    #[error(
        "{runtime}: {what} failed: {reason} — records go on without pod names until it answers; \
         check that the runtime runs and that its socket is reachable (run as root)"
    )]
    Runtime {
        /// Which runtime, where.
        runtime: String,
        /// What was asked.
        what: String,
        /// What it answered.
        reason: String,
    },
    /// The thread that talks to the runtime could not be started.
    #[error("cannot start the container runtime client: {source}")]
    RuntimeThread {
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `/proc` could not be listed.
    #[error("cannot list {path}: {source} — is procfs mounted there?")]
    Proc {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
