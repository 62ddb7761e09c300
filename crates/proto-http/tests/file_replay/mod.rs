//! A capture file through a one-worker HTTP pipeline, for the tests that
//! check what cleartap makes of a whole capture (included with
//! `mod file_replay;`).
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use backend_pcap::FileSource;
use capture_core::Stats;
use capture_core::model::Exchange;
use capture_core::pipeline::Pipeline;
use capture_core::sink::MemorySink;
use proto_http::{HttpConfig, HttpProtocol};

/// Every exchange of the capture at `path`, in the order made, and the run's stats.
pub fn replay(path: &Path) -> (Vec<Exchange>, Stats) {
    let sink = MemorySink::new(1 << 20);
    let stats = Pipeline::builder(HttpProtocol::new(HttpConfig::default()))
        .workers(1)
        .source(FileSource::open(path).unwrap())
        .sink(sink.clone())
        .build()
        .unwrap()
        .run()
        .unwrap();
    (sink.drain(), stats)
}
