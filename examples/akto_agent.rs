//! A drop-in for Akto's eBPF traffic collector, built from cleartap's public API.
//!
//! Captures the plaintext HTTP of this host's processes with eBPF (TLS at
//! `SSL_read`/`SSL_write`, plain sockets at the syscalls), pairs requests
//! with responses, applies Akto's traffic rules and produces one Akto
//! message per exchange to the Kafka topic `akto.api.logs`, where Akto's
//! data processor reads them. It reads the same environment variables as
//! Akto's collector, with the same meanings and defaults:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `AKTO_KAFKA_BROKER_MAL` | required | Kafka bootstrap brokers, `host:port[,…]` (`AKTO_KAFKA_BROKER_URL` is read too) |
//! | `AKTO_TRAFFIC_BATCH_SIZE` | `100` | messages per Kafka batch |
//! | `AKTO_TRAFFIC_BATCH_TIME_SECS` | `10` | longest wait for a batch to fill, seconds |
//! | `AKTO_MODULE_DISCOVERY_CONFIG` | Envoy sidecar rule | header rules: `[{"key":{"eq":NAME,"ifAbsent":"reject"},"value":{"regex":RE}}]` |
//! | `TRAFFIC_INACTIVITY_THRESHOLD` | `30` | seconds of silence after which a connection is flushed |
//! | `TRAFFIC_MAX_ACTIVE_CONN` | `4096` | connections tracked at once; the least recent is evicted |
//! | `TRAFFIC_DISABLE_EGRESS` | `false` | drop traffic the traced processes send as clients |
//! | `AKTO_MEM_THRESH_RESTART` | `500` | MB of resident memory above which the agent exits with code 3 |
//! | `TRAFFIC_BUFFER_THRESHOLD` | `400` | MB of unparsed traffic buffered at most |
//! | `AKTO_IGNORE_IP_TRAFFIC` | `false` | drop requests whose Host is empty or an IP address |
//! | `AKTO_IGNORE_CLOUD_METADATA_CALLS` | `false` | drop calls to the metadata service 169.254.169.254 |
//! | `UPROBE_POLL_INTERVAL` | `20` | minutes between scans for new TLS libraries and binaries |
//! | `CAPTURE_ALL` | `true` | capture both TLS and plaintext sockets |
//! | `CAPTURE_SSL` | `false` | with `CAPTURE_ALL=false`: `true` captures TLS only |
//! | `PROBE_ALL_PID` | `false` | trace every process; otherwise only Kubernetes pods' (kubepods cgroup) |
//! | `KAFKA_POLL_INTERVAL` | `0.5` | seconds between collections of Kafka delivery reports |
//!
//! An invalid value stops the agent at startup with a message naming the
//! variable (exit code 2). Run as root (or with CAP_BPF, CAP_PERFMON,
//! CAP_SYS_PTRACE and CAP_SYS_ADMIN); see `deploy/` for a DaemonSet and a
//! systemd unit, and `docs/akto-agent.md`.
//!
//! ```sh
//! cargo build --release --example akto_agent --features ebpf,kafka,http
//! sudo AKTO_KAFKA_BROKER_MAL=10.0.0.5:9092 PROBE_ALL_PID=true target/release/examples/akto_agent
//! target/release/examples/akto_agent --check   # validate the environment and print it
//! ```
//!
//! Exit codes: 0 after SIGINT/SIGTERM (connections flushed, Kafka flushed),
//! 1 on a runtime error, 2 on an invalid environment, 3 when the memory
//! ceiling was crossed (the supervisor restarts the agent).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cleartap::core::pipeline::Pipeline;
use cleartap::ebpf::{EbpfConfig, EbpfSource};
use cleartap::http::{HttpConfig, HttpProtocol};
use cleartap::kafka::KafkaSink;
use cleartap::kafka::akto::{AgentConfig, EXIT_MEMORY_CEILING};

/// Set by SIGINT/SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn main() {
    let check_only = std::env::args().skip(1).any(|a| a == "--check");
    let config = match AgentConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("akto_agent: {e}");
            std::process::exit(2);
        }
    };
    if check_only {
        eprintln!("akto_agent: environment OK: {config:#?}");
        return;
    }
    match run(&config) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("akto_agent: {e}");
            std::process::exit(1);
        }
    }
}

fn run(config: &AgentConfig) -> Result<i32, Box<dyn std::error::Error>> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }

    let source = EbpfSource::new(ebpf_config(config))?;
    eprintln!(
        "akto_agent: TLS probes on {} target(s){}",
        source.attached().len(),
        if source.attach_errors().is_empty() {
            String::new()
        } else {
            format!(
                ", {} attach error(s): {:?}",
                source.attach_errors().len(),
                source.attach_errors()
            )
        }
    );

    let mut builder = Pipeline::builder(HttpProtocol::new(HttpConfig::default()))
        .workers(std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
        .limits(config.limits());
    for filter in config.filters() {
        builder = builder.filter(filter);
    }
    let counters = builder.stats_registry().counters();
    let sink = KafkaSink::new(
        &config.kafka_config(),
        config.format(daemonset_id()),
        counters,
    )?;
    let deliveries = sink.deliveries();
    let pipeline = builder
        .source(Box::new(source))
        .sink(sink)
        .build()?
        .spawn()?;
    eprintln!(
        "akto_agent: capturing; producing to {} on {}",
        cleartap::kafka::akto::AKTO_TOPIC,
        config.kafka_brokers
    );

    let mut last_report = Instant::now();
    let code = loop {
        std::thread::sleep(Duration::from_millis(200));
        if STOP.load(Ordering::Relaxed) {
            break 0;
        }
        if pipeline.is_finished() {
            break 1;
        }
        if let Some(rss) = resident_bytes()
            && rss > config.memory_ceiling_bytes
        {
            eprintln!(
                "akto_agent: resident memory {} MB is above AKTO_MEM_THRESH_RESTART ({} MB); \
                 exiting for a restart",
                rss >> 20,
                config.memory_ceiling_bytes >> 20
            );
            return Ok(EXIT_MEMORY_CEILING);
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            report(&pipeline.stats(), &deliveries);
        }
    };
    pipeline.stop();
    let stats = pipeline.join()?;
    report(&stats, &deliveries);
    Ok(code)
}

/// The eBPF source's settings for this environment.
fn ebpf_config(config: &AgentConfig) -> EbpfConfig {
    let cgroups = if config.probe_all_pid {
        Vec::new()
    } else {
        let found: Vec<PathBuf> = ["/sys/fs/cgroup/kubepods.slice", "/sys/fs/cgroup/kubepods"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .collect();
        if found.is_empty() {
            eprintln!(
                "akto_agent: no Kubernetes pod cgroup found (kubepods); tracing every process \
                 as with PROBE_ALL_PID=true"
            );
        }
        found
    };
    // CAPTURE_ALL=false, CAPTURE_SSL=false (plaintext only): the source still
    // probes TLS libraries; `AgentConfig::filters` drops what they capture.
    EbpfConfig {
        cgroups,
        ssl_only: !config.capture_plaintext(),
        egress: !config.disable_egress,
        exclude_ports: broker_ports(&config.kafka_brokers),
        rescan_interval: config.uprobe_poll_interval,
        ..EbpfConfig::default()
    }
}

/// The ports of the Kafka brokers: the agent's own Kafka traffic is not captured.
fn broker_ports(brokers: &str) -> Vec<u16> {
    brokers
        .split(',')
        .filter_map(|b| b.trim().rsplit_once(':'))
        .filter_map(|(_, port)| port.parse().ok())
        .collect()
}

/// Identifies this collector in `daemonset_id`: pod and node when running
/// in Kubernetes (downward API), else the host name; with the pid.
fn daemonset_id() -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let name = match (env("POD_NAME"), env("NODE_NAME")) {
        (Some(pod), Some(node)) => format!("{pod}:{node}"),
        _ => env("HOSTNAME")
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|s| s.trim().to_owned())
            })
            .unwrap_or_else(|| "cleartap".into()),
    };
    format!("cleartap:{name}:{}", std::process::id())
}

/// Resident memory of this process, from `/proc/self/statm`.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

fn report(stats: &cleartap::core::Stats, deliveries: &cleartap::kafka::Deliveries) {
    let acked = deliveries.acked.load(Ordering::Relaxed);
    eprintln!(
        "akto_agent: {} exchanges, {} to Kafka ({acked} acknowledged); drops {}",
        stats.exchanges,
        stats.exchanges_delivered,
        serde_json::to_string(&stats.drops).unwrap_or_default()
    );
}
