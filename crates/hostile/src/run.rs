//! Runs one case through a whole pipeline — decode, reassembly, HTTP
//! parsing, a sink that keeps nothing — and measures what it cost.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use capture_core::Limits;
use capture_core::Stats;
use capture_core::model::{Exchange, Flag};
use capture_core::pipeline::Pipeline;
use capture_core::stage::{Sink, SinkError, Source};
use proto_http::{HttpConfig, HttpProtocol};

use crate::cases::{Case, Input, Scale};
use crate::heap;
use crate::source::GenSource;

/// The limits every case runs under: the defaults scaled down, so that a
/// few hundred megabytes of hostile input crosses each of them.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Reassembler and pipeline limits.
    pub limits: Limits,
    /// HTTP parser limits.
    pub http: HttpConfig,
}

impl Setup {
    /// The suite's limits.
    pub fn hostile() -> Self {
        let mut http = HttpConfig {
            body_limit: 16 * 1024,
            max_pending_requests: 64,
            max_header_bytes: 16 * 1024,
            decompressed_limit: 64 * 1024,
            ..HttpConfig::default()
        };
        http.h2.body_limit = 16 * 1024;
        http.h2.stream_data_limit = 32 * 1024;
        http.h2.max_header_list_size = 16 * 1024;
        http.h2.max_header_block = 64 * 1024;
        http.h2.max_streams = 128;
        http.h2.hpack_table_limit = 16 * 1024;
        let limits = Limits {
            max_connections: 20_000,
            conn_buffer_bytes: 1 << 20,
            total_buffer_bytes: 16 << 20,
            queue_bytes: 4 << 20,
            ..Limits::default()
        };
        Self { limits, http }
    }

    /// The most one HTTP/1 connection holds by its documented limits: a
    /// head being read each way, the requests waiting for responses with
    /// their bodies, a response body, and the decoder's output.
    pub fn http1_conn_bytes(&self) -> usize {
        let h = &self.http;
        2 * h.max_header_bytes
            + h.max_pending_requests * (h.max_header_bytes + h.body_limit)
            + h.body_limit
            + h.decompressed_limit
    }

    /// The most one HTTP/2 connection holds by its documented limits: a
    /// header block and an HPACK table each way, and every stream in flight
    /// with its bodies and header lists.
    pub fn h2_conn_bytes(&self) -> usize {
        let h = &self.http.h2;
        2 * (h.max_header_block + h.hpack_table_limit)
            + h.max_streams * (h.stream_data_limit + 2 * h.max_header_list_size)
    }
}

/// What a run produced and cost.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The pipeline's counters at the end.
    pub stats: Stats,
    /// Exchanges that reached the sink, by flag (and `"all"`).
    pub flags: BTreeMap<&'static str, u64>,
    /// Heap bytes above the level before the run, at the run's peak.
    pub peak_heap: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl Outcome {
    /// A drop counter, a flag count or `exchanges`, by name.
    pub fn figure(&self, name: &str) -> u64 {
        if let Some(n) = self.stats.drops.get(name) {
            return *n;
        }
        self.flags.get(name).copied().unwrap_or(0)
    }
}

/// Why a run failed to finish cleanly.
#[derive(Clone, Debug)]
pub enum RunError {
    /// The pipeline could not be built or reported an error.
    Pipeline(String),
    /// It was still running at the deadline (and was stopped).
    Hung(Duration),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Pipeline(e) => write!(f, "pipeline failed: {e}"),
            RunError::Hung(d) => write!(f, "still running after {d:?}"),
        }
    }
}

/// Counts what arrives and keeps nothing.
#[derive(Clone, Default)]
struct Tally(std::sync::Arc<std::sync::Mutex<BTreeMap<&'static str, u64>>>);

impl Sink for Tally {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        if let Ok(mut t) = self.0.lock() {
            for e in batch.iter() {
                *t.entry("all").or_default() += 1;
                for f in &e.flags {
                    *t.entry(flag_name(*f)).or_default() += 1;
                }
            }
        }
        batch.clear();
        Ok(())
    }
}

fn flag_name(f: Flag) -> &'static str {
    f.as_str()
}

/// The source of a case at `scale`.
pub fn source_of(case: &Case, scale: Scale) -> Result<Box<dyn Source>, RunError> {
    Ok(match &case.input {
        Input::Packets(generate) => {
            let generate = *generate;
            Box::new(GenSource::spawn(move |e| generate(e, scale)))
        }
        Input::File(bytes) => {
            let file = backend_pcap::CaptureFile::from_bytes(case.name, bytes())
                .map_err(|e| RunError::Pipeline(e.to_string()))?;
            Box::new(
                backend_pcap::FileSource::from_files([file])
                    .map_err(|e| RunError::Pipeline(e.to_string()))?,
            )
        }
    })
}

/// Runs `case` at `scale` on `workers` workers under `setup`; stops it at
/// `deadline`.
pub fn run(
    case: &Case,
    setup: &Setup,
    workers: usize,
    scale: Scale,
    deadline: Duration,
) -> Result<Outcome, RunError> {
    let tally = Tally::default();
    let before = heap::reset_peak();
    let start = Instant::now();
    let running = Pipeline::builder(HttpProtocol::new(setup.http.clone()))
        .workers(workers)
        .limits(setup.limits.clone())
        .source(source_of(case, scale)?)
        .sink(tally.clone())
        .build()
        .map_err(|e| RunError::Pipeline(e.to_string()))?
        .spawn()
        .map_err(|e| RunError::Pipeline(e.to_string()))?;
    while !running.is_finished() {
        if start.elapsed() > deadline {
            running.stop();
            let _ = running.join();
            return Err(RunError::Hung(deadline));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = running
        .join()
        .map_err(|e| RunError::Pipeline(e.to_string()))?;
    let elapsed = start.elapsed();
    let peak_heap = heap::peak().saturating_sub(before);
    let flags = tally.0.lock().map(|t| t.clone()).unwrap_or_default();
    Ok(Outcome {
        stats,
        flags,
        peak_heap,
        elapsed,
    })
}
