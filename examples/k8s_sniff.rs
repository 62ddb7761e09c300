//! Prints the HTTP exchanges of a Kubernetes node's pods as JSON lines, each
//! end named by namespace, pod, container and workload (`conn.k8s`), from
//! the node alone: cgroups, containerd's API, the pods' network namespaces.
//!
//! At start it prints (on stderr) the pods and containers it sees and how
//! it mapped them: processes, cgroups, network namespaces, addresses, labels.
//! `--list` stops there.
//!
//! ```sh
//! sudo cargo run --release --features k8s,ebpf,live,http --example k8s_sniff -- --list
//! sudo cargo run --release --features k8s,ebpf,live,http --example k8s_sniff -- --metrics 0.0.0.0:9464  # RED by workload, /map
//! sudo cargo run --release --features k8s,ebpf,live,http --example k8s_sniff -- --namespace shop
//! sudo cargo run --release --features k8s,ebpf,live,http --example k8s_sniff -- \
//!     --selector 'app in (web,api),!canary' --pod 'web-*' --source pods
//! ```
//!
//! With `--source ebpf` (the default) only the selected pods' processes are
//! traced, decided in the kernel by cgroup and kept current as pods come
//! and go; with `--source pods` every pod's network namespace is captured
//! (`any` interface) and the other pods' exchanges are filtered out. Either
//! way an exchange is kept when the pod on either end is selected.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use cleartap::core::pipeline::Pipeline;
use cleartap::core::sink::JsonLinesSink;
use cleartap::core::stage::Source;
use cleartap::ebpf::{EbpfConfig, EbpfSource};
use cleartap::http::HttpProtocol;
use cleartap::k8s::{Attributor, Glob, K8sConfig, LabelSelector, PodFilter, PodSelector};
use cleartap::metrics::{MetricsConfig, MetricsEndpoint};
use cleartap::pcap::netns::{PodConfig, PodSource};

#[derive(Parser, Debug)]
#[command(about = "Print the HTTP exchanges of this node's pods as JSON lines, both ends named")]
struct Args {
    /// Print the pods and containers seen and how they were mapped, then exit.
    #[arg(long)]
    list: bool,
    /// Only pods in this Kubernetes namespace (repeatable).
    #[arg(long = "namespace", value_name = "NS")]
    namespaces: Vec<String>,
    /// Only pods whose name matches this glob (repeatable), e.g. 'web-*'.
    #[arg(long = "pod", value_name = "GLOB")]
    pods: Vec<String>,
    /// Only pods matching this label selector, as kubectl -l takes it.
    #[arg(long, value_name = "SELECTOR", default_value = "")]
    selector: String,
    /// Where the traffic is seen: eBPF (sockets, TLS libraries) or the pods' network namespaces.
    #[arg(long, value_parser = ["ebpf", "pods"], default_value = "ebpf")]
    source: String,
    /// containerd's socket.
    #[arg(long, default_value = "/run/containerd/containerd.sock")]
    containerd_socket: PathBuf,
    /// Seconds between two reads of the node.
    #[arg(long, default_value_t = 5.0)]
    refresh: f64,
    /// Stop after this many seconds. Default: until Ctrl-C.
    #[arg(long)]
    duration: Option<f64>,
    /// Serve Prometheus metrics (by source and destination workload) at
    /// http://ADDR/metrics and the service map at http://ADDR/map (off by default).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("k8s_sniff: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let names = Attributor::new(K8sConfig {
        containerd_socket: args.containerd_socket.clone(),
        refresh_interval: Duration::from_secs_f64(args.refresh.max(0.1)),
        ..K8sConfig::default()
    })?;
    eprint!("{}", cleartap::k8s::mapping_report(&names.snapshot()));
    if args.list {
        return Ok(());
    }
    let select = PodSelector {
        namespaces: args.namespaces.clone(),
        pod_names: args.pods.iter().map(Glob::new).collect(),
        labels: LabelSelector::parse(&args.selector)?,
    };
    let source: Box<dyn Source> = if args.source == "ebpf" {
        let ebpf = EbpfSource::new(EbpfConfig {
            filter_cgroups: true,
            duration: args.duration.map(Duration::from_secs_f64),
            ..EbpfConfig::default()
        })?;
        let cgroups = ebpf.cgroup_filter()?;
        names.watch_pod_cgroups(select.clone(), move |dirs| {
            eprintln!("k8s_sniff: tracing {} pod cgroup(s)", dirs.len());
            if let Err(e) = cgroups.set(dirs) {
                eprintln!("k8s_sniff: {e}");
            }
        });
        Box::new(ebpf)
    } else {
        let mut pods = PodConfig::default();
        pods.discovery.all_processes = true;
        pods.devices = vec!["any".into()];
        Box::new(PodSource::new(pods)?)
    };
    let started = Instant::now();
    let metrics = MetricsEndpoint::start(args.metrics, MetricsConfig::default())?;
    if metrics.is_serving() {
        eprintln!("k8s_sniff: {metrics}");
    }
    let running = metrics
        .instrument(Pipeline::builder(HttpProtocol::default()))
        .workers(2)
        .enricher(Box::new(names.clone()))
        .filter(Box::new(PodFilter::new(select)))
        .source(source)
        .sink(JsonLinesSink::stdout())
        .stop_on_signals()
        .stop_after(args.duration.map(|d| Duration::from_secs_f64(d.max(0.0))))
        .build()?
        .spawn()?;
    metrics.watch(&running);
    let stats = running.join()?;
    let k = names.stats();
    eprintln!(
        "k8s_sniff: {:.1} s  exchanges {}  drops: {}  attribution: {} looked up, {} misses, {} node reads",
        started.elapsed().as_secs_f64(),
        stats.exchanges,
        stats.drops_summary(),
        k.exchanges,
        k.misses,
        k.refreshes
    );
    Ok(())
}
