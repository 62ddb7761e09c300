//! A live source run through a pipeline while the test makes traffic.

use std::time::Duration;

use crate::Stats;
use crate::model::Exchange;
use crate::pipeline::Pipeline;
use crate::sink::MemorySink;
use crate::stage::{ParserFactory, Source};

/// Runs `parser` over the live `source` on one worker while `traffic`
/// runs, waits until `expected` exchanges arrived (10 s at most) and half a
/// second more, so that anything unexpected arrives too, then stops the
/// pipeline: the exchanges, and the stats (also printed, as JSON).
///
/// Panics when the pipeline cannot be built or fails, as a test should.
pub fn exchanges_while<P: ParserFactory>(
    parser: P,
    source: impl Source + 'static,
    expected: usize,
    traffic: impl FnOnce(),
) -> (Vec<Exchange>, Stats) {
    let sink = MemorySink::new(10_000);
    let running = Pipeline::builder(parser)
        .workers(1)
        .source(source)
        .sink(sink.clone())
        .build()
        .expect("pipeline")
        .spawn()
        .expect("pipeline threads");
    traffic();
    sink.wait_for(expected, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    running.stop();
    let stats = running.join().expect("pipeline");
    #[allow(clippy::print_stdout)]
    {
        println!(
            "stats: {}",
            serde_json::to_string(&stats).unwrap_or_default()
        );
    }
    (sink.drain(), stats)
}
