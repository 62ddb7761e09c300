//! proto-http: work in progress.

pub mod h2;
