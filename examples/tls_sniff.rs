//! Prints the HTTP exchanges of this host's processes as JSON lines, seen
//! with eBPF: TLS plaintext at OpenSSL/BoringSSL's SSL_read/SSL_write
//! (source "ebpf-tls") and plain HTTP at the socket syscalls (source
//! "ebpf-syscall"). Needs root (or CAP_BPF and CAP_PERFMON).
//!
//! ```sh
//! cargo run --release --features ebpf --example tls_sniff -- --duration 30
//! cargo run --release --features ebpf --example tls_sniff -- --comm nginx --ssl-only
//! cargo run --release --features ebpf --example tls_sniff -- --pid 4242 --pid 4243 --rescan 2
//! cargo run --release --features ebpf --example tls_sniff -- --metrics 127.0.0.1:9464   # /metrics and /map
//! ```
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use cleartap::core::pipeline::Pipeline;
use cleartap::core::sink::JsonLinesSink;
use cleartap::core::stage::Sink;
use cleartap::ebpf::{EbpfConfig, EbpfSource};
use cleartap::http::{HttpConfig, HttpProtocol};
use cleartap::metrics::{MetricsConfig, MetricsEndpoint};

#[derive(Parser, Debug)]
#[command(
    about = "Print HTTP exchanges seen with eBPF (TLS uprobes, socket syscalls) as JSON lines"
)]
struct Args {
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// Only this process (repeatable).
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// Only processes with this name (repeatable).
    #[arg(long = "comm")]
    comms: Vec<String>,
    /// Only processes in this cgroup v2 directory (repeatable).
    #[arg(long = "cgroup")]
    cgroups: Vec<PathBuf>,
    /// Only TLS plaintext; no plaintext from socket syscalls.
    #[arg(long)]
    ssl_only: bool,
    /// Only connections the processes accepted (no outbound).
    #[arg(long)]
    no_egress: bool,
    /// Ignore connections to or from this port (repeatable).
    #[arg(long = "exclude-port")]
    exclude_ports: Vec<u16>,
    /// Seconds between scans for new TLS libraries and binaries.
    #[arg(long, default_value_t = 5.0)]
    rescan: f64,
    /// Payload bytes captured per read/write call at most.
    #[arg(long, default_value_t = 8 << 20)]
    max_call_bytes: u64,
    /// BPF ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 32)]
    ring_mb: u32,
    /// Body bytes kept per message; the rest is counted.
    #[arg(long, default_value_t = 64 * 1024)]
    body_limit: usize,
    /// Write JSON lines here instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics and the service map
    /// at http://ADDR/map (off by default).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Label HTTP metrics with the path's template (identifiers as {id}; capped).
    #[arg(long)]
    path_templates: bool,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("tls_sniff: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let cfg = EbpfConfig {
        pids: args.pids.clone(),
        comms: args.comms.clone(),
        cgroups: args.cgroups.clone(),
        ssl_only: args.ssl_only,
        egress: !args.no_egress,
        exclude_ports: args.exclude_ports.clone(),
        max_call_bytes: args.max_call_bytes,
        ring_buffer_bytes: args.ring_mb.saturating_mul(1 << 20),
        rescan_interval: secs(args.rescan),
        ..EbpfConfig::default()
    };
    let source = EbpfSource::new(cfg)?;
    for (prog, why) in &source.program_plan().skipped {
        eprintln!("tls_sniff: BPF program {prog} off: {why}");
    }
    for t in source.attached() {
        eprintln!("tls_sniff: probing {t}");
    }
    let sink: Box<dyn Sink> = match &args.output {
        Some(path) => Box::new(JsonLinesSink::create(path)?),
        None => Box::new(JsonLinesSink::stdout()),
    };
    let started = Instant::now();
    let config = HttpConfig {
        body_limit: args.body_limit,
        ..HttpConfig::default()
    };
    let metrics = MetricsEndpoint::start(
        args.metrics,
        MetricsConfig {
            path_templates: args.path_templates,
            ..MetricsConfig::default()
        },
    )?;
    if metrics.is_serving() {
        eprintln!("tls_sniff: {metrics}");
    }
    let running = metrics
        .instrument(Pipeline::builder(HttpProtocol::try_new(config)?))
        .workers(1)
        .source(source)
        .sink(sink)
        .stop_on_signals()
        .stop_after(args.duration.map(secs))
        .build()?
        .spawn()?;
    metrics.watch(&running);
    let stats = running.join()?;
    eprintln!(
        "tls_sniff: {:.1} s  events {}  connections {}  exchanges {}  \
         tls_unattributed {}  drops: {}",
        started.elapsed().as_secs_f64(),
        stats.packets,
        stats.connections,
        stats.exchanges,
        stats.tls_unattributed,
        stats.drops_summary()
    );
    Ok(())
}
