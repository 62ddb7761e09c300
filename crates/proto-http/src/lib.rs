//! proto-http: work in progress.
