//! proto-http: work in progress.

pub mod grpc;
pub mod h2;
pub mod hpack;
