//! Prints the plaintext HTTP of pods whose TLS is terminated by a sidecar
//! proxy, as JSON lines on stdout, with a stats summary on stderr at the end.
//!
//! It finds the proxies in `/proc` (executables named `envoy` by default),
//! keeps those whose `INSTANCE_IP` is one of `--instance-ip` (all when none
//! is given), enters each pod's network namespace on a thread of its own and
//! captures the pod's loopback there, where the proxy talks plaintext to the
//! application.
//!
//! ```sh
//! sudo cargo run --release --features live --example mesh_sniff -- \
//!     --instance-ip 10.244.1.7 --instance-ip 10.244.2.9 --duration 60
//! sudo cargo run --release --features live --example mesh_sniff -- --exe nginx --iface any
//! sudo cargo run --release --features live --example mesh_sniff -- --metrics 127.0.0.1:9464  # /metrics, /map
//! ```
//!
//! Needs root, or CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN. Set
//! `RUST_LOG=info` to see the namespaces come and go.
#![allow(clippy::print_stdout)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use clap::Parser;
use cleartap::core::Stats;
use cleartap::core::model::Exchange;
use cleartap::core::pipeline::Pipeline;
use cleartap::core::sink::JsonLinesSink;
use cleartap::core::stage::{Sink, SinkError};
use cleartap::http::{HttpConfig, HttpProtocol};
use cleartap::metrics::{MetricsConfig, MetricsEndpoint};
use cleartap::pcap::cidr::CidrFilter;
use cleartap::pcap::netns::{PodConfig, PodSource};

#[derive(Parser, Debug)]
#[command(about = "Print the plaintext HTTP exchanges of service-mesh pods as JSON lines")]
struct Args {
    /// Executable name of the pods' proxy (repeatable). Default: envoy.
    #[arg(long = "exe", value_name = "NAME")]
    exe: Vec<String>,
    /// Capture only the pods with this INSTANCE_IP (repeatable). Default: every pod found.
    #[arg(long = "instance-ip", value_name = "IP")]
    instance_ip: Vec<IpAddr>,
    /// Take every process's namespace, whatever its executable.
    #[arg(long)]
    all_processes: bool,
    /// Interface opened in each pod namespace (repeatable): lo or any. Default: lo.
    #[arg(long = "iface", value_name = "lo|any", value_parser = ["lo", "any"])]
    iface: Vec<String>,
    /// Seconds between two scans of /proc.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    rescan: f64,
    /// Stop after this many seconds. Default: until Ctrl-C.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// BPF filter applied in the kernel.
    #[arg(long, default_value = "tcp")]
    filter: String,
    /// Keep only traffic with an endpoint in this subnet (repeatable).
    #[arg(long, value_name = "CIDR")]
    allow: Vec<String>,
    /// Drop traffic with an endpoint in this subnet (repeatable).
    #[arg(long, value_name = "CIDR")]
    deny: Vec<String>,
    /// Keep every copy of packets seen twice.
    #[arg(long)]
    no_dedup: bool,
    /// Worker threads (connections are sharded across them).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics and the service map
    /// at http://ADDR/map (off by default).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Label HTTP metrics with the path's template (identifiers as {id}; capped).
    #[arg(long)]
    path_templates: bool,
}

/// JSON lines flushed after every batch, so that they appear as they happen.
struct LiveLines(JsonLinesSink<std::io::Stdout>);

impl Sink for LiveLines {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        self.0.write(batch)?;
        self.0.flush()
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.0.flush()
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("mesh_sniff: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = PodConfig::default();
    if !args.exe.is_empty() {
        config.discovery.exe_names = args.exe.clone();
    }
    config.discovery.all_processes = args.all_processes;
    config.discovery.instance_ips = args.instance_ip.iter().copied().collect();
    if !args.iface.is_empty() {
        config.devices = args.iface.clone();
    }
    config.rescan_interval = Duration::from_secs_f64(args.rescan.max(0.1));
    config.capture.filter = Some(args.filter.clone());
    config.cidr = CidrFilter::parse(&args.allow, &args.deny)?;
    if args.no_dedup {
        config.dedup_window = None;
    }
    let source = PodSource::new(config)?;

    let started = Instant::now();
    let metrics = MetricsEndpoint::start(
        args.metrics,
        MetricsConfig {
            path_templates: args.path_templates,
            ..MetricsConfig::default()
        },
    )?;
    if metrics.is_serving() {
        eprintln!("mesh_sniff: {metrics}");
    }
    let running = metrics
        .instrument(Pipeline::builder(HttpProtocol::try_new(
            HttpConfig::default(),
        )?))
        .workers(args.workers.max(1))
        .source(source)
        .sink(LiveLines(JsonLinesSink::stdout()))
        .stop_on_signals()
        .stop_after(args.duration.map(|s| Duration::from_secs_f64(s.max(0.0))))
        .build()?
        .spawn()?;
    metrics.watch(&running);
    let stats = running.join()?;
    summary(&stats, started.elapsed());
    Ok(())
}

fn summary(stats: &Stats, elapsed: Duration) {
    eprintln!(
        "{:.1} s: packets {}  segments {}  connections {}  exchanges {}",
        elapsed.as_secs_f64(),
        stats.packets,
        stats.segments,
        stats.connections,
        stats.exchanges,
    );
    eprintln!("drops: {}", stats.drops_summary());
}
