//! Replays capture files (pcap or pcapng) and prints every HTTP exchange in
//! them as one JSON line, with a summary on stderr.
//!
//! A file that is corrupt or cut short part-way is read as far as it can
//! be; what was wrong is then printed with the file's name and the byte
//! offset, and the exit code is 2 (1 for other errors). `RUST_LOG=info`
//! (or `debug`) shows more of what the library does.
//!
//! ```sh
//! cargo run --release --example replay -- testdata/loopback-http.pcap
//! cargo run --release --example replay -- --workers 2 --body-limit 1024 --output out.jsonl a.pcap b.pcapng
//! # Prometheus metrics and the service map while it runs, and 60 s after:
//! cargo run --release --example replay -- --metrics 127.0.0.1:9464 --metrics-linger 60 trace.pcap
//! ```
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use cleartap::core::Stats;
use cleartap::core::pipeline::Pipeline;
use cleartap::core::sink::JsonLinesSink;
use cleartap::core::stage::Sink;
use cleartap::http::{HttpConfig, HttpProtocol};
use cleartap::metrics::{MetricsConfig, MetricsEndpoint};
use cleartap::pcap::{Corruptions, FileSource};

// Exchanges are many small allocations: a faster allocator is the
// collector's choice to make, not the library's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Files larger than this get a progress bar when stderr is a terminal.
const PROGRESS_FROM_BYTES: u64 = 64 << 20;

#[derive(Parser, Debug)]
#[command(about = "Print the HTTP exchanges of capture files as JSON lines")]
struct Args {
    /// pcap or pcapng files, replayed one after another.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write JSON lines here instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Worker threads (connections are sharded across them).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Body bytes kept per message; the rest is counted.
    #[arg(long, default_value_t = 64 * 1024)]
    body_limit: usize,
    /// Write JSON on the worker's thread. By default JSON has a thread of
    /// its own only when a second core is idle (see `sink_thread_pays`).
    #[arg(long, conflicts_with = "sink_thread")]
    single_thread: bool,
    /// Write JSON on a thread of its own, however busy the machine is.
    #[arg(long)]
    sink_thread: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics and the service map
    /// at http://ADDR/map (off by default).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Keep serving metrics this many seconds after the replay ended, so
    /// that a scraper sees the final figures.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    metrics_linger: f64,
    /// Label HTTP metrics with the path's template (identifiers as {id}; capped).
    #[arg(long)]
    path_templates: bool,
}

/// Exit code when a file was corrupt or cut short (what could be read was written).
const EXIT_CORRUPT: i32 = 2;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    match run(&args) {
        Ok(corruptions) if corruptions.is_empty() => {}
        Ok(corruptions) => {
            for c in corruptions.list() {
                eprintln!("replay: {c}");
            }
            let listed = corruptions.list().len() as u64;
            if corruptions.total() > listed {
                eprintln!(
                    "replay: {} more corrupt records",
                    corruptions.total() - listed
                );
            }
            std::process::exit(EXIT_CORRUPT);
        }
        Err(e) => {
            eprintln!("replay: {e}");
            std::process::exit(1);
        }
    }
}

fn run(args: &Args) -> Result<Corruptions, Box<dyn std::error::Error>> {
    let source = FileSource::open_many(&args.files)?;
    let total = source.total_bytes();
    let progress = source.progress();
    let corruptions = source.corruptions();
    let sink: Box<dyn Sink> = match &args.output {
        Some(path) => Box::new(JsonLinesSink::create(path)?),
        None => Box::new(JsonLinesSink::stdout()),
    };
    let config = HttpConfig {
        body_limit: args.body_limit,
        ..HttpConfig::default()
    };
    let started = Instant::now();
    let metrics = MetricsEndpoint::start(
        args.metrics,
        MetricsConfig {
            path_templates: args.path_templates,
            ..MetricsConfig::default()
        },
    )?;
    if metrics.is_serving() {
        eprintln!("replay: {metrics}");
    }
    let running = metrics
        .instrument(Pipeline::builder(HttpProtocol::try_new(config)?))
        .workers(args.workers)
        .sink_thread(args.sink_thread || (!args.single_thread && sink_thread_pays()))
        .source(source)
        .sink(sink)
        .build()?
        .spawn()?;
    metrics.watch(&running);

    let bar = (total >= PROGRESS_FROM_BYTES
        && std::io::IsTerminal::is_terminal(&std::io::stderr()))
    .then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    if let Some(bar) = &bar {
        while !running.wait_timeout(Duration::from_millis(100)) {
            bar.set_position(progress.consumed_bytes());
        }
        bar.finish_and_clear();
    }
    let stats = running.join()?;
    summary(&stats, total, started.elapsed());
    if metrics.is_serving() && args.metrics_linger > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(args.metrics_linger));
    }
    drop(metrics);
    Ok(corruptions)
}

/// Whether JSON on a thread of its own is the faster choice. The worker
/// still writes the JSON lines (the sink's encoder), and the sink thread
/// only writes them out: it takes the writes (the copy into the page cache
/// or pipe) off the worker's core and costs next to no CPU (0-3 % in
/// `benches/compare.sh` runs with output to `/dev/null`), so it shortens a
/// replay when another core is free to run it; when none is, the two
/// threads share one core and it only adds switches. So: a second core,
/// and the 1-minute load average leaving one idle.
fn sink_thread_pays() -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok());
    cores > 1 && load.is_some_and(|l| l + 1.0 <= cores as f64)
}

fn summary(stats: &Stats, file_bytes: u64, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "packets {}  connections {}  exchanges {}  ({:.1} MB in {:.3} s: {:.0} MB/s, {:.0} exchanges/s)",
        stats.packets,
        stats.connections,
        stats.exchanges,
        file_bytes as f64 / 1e6,
        secs,
        file_bytes as f64 / 1e6 / secs,
        stats.exchanges as f64 / secs,
    );
    eprintln!("drops: {}", stats.drops_summary());
}
