//! What can go wrong when serving metrics.

use std::net::SocketAddr;

/// Errors of the metrics server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket could not be opened.
    #[error("cannot serve metrics on {addr}: {source} — choose a free address with --metrics ADDR")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server's thread or runtime could not be started.
    #[error("cannot start the metrics server thread: {0}")]
    Start(std::io::Error),
}
