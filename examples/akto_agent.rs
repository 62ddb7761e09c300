//! A drop-in for Akto's eBPF traffic collector, built from cleartap's public API.
//!
//! Captures the plaintext HTTP of this host's processes with eBPF (TLS at
//! `SSL_read`/`SSL_write`, plain sockets at the syscalls), pairs requests
//! with responses, applies Akto's traffic rules and produces one Akto
//! message per exchange to the Kafka topic `akto.api.logs`, where Akto's
//! data processor reads them, with heartbeats on
//! `akto.daemonset.producer.heartbeats`. It reads the environment variables
//! of Akto's collector; every one, with Akto's meaning and this agent's, is
//! listed in `akto_agent::guide` (`docs/akto-agent.md`).
//!
//! An invalid value stops the agent at startup with a message naming the
//! variable (exit code 2), and so does a broker that refuses its TLS or
//! SASL credentials. Run as root (or with CAP_BPF, CAP_PERFMON,
//! CAP_SYS_PTRACE and CAP_SYS_ADMIN); see `deploy/` and `docs/akto-agent.md`.
//!
//! ```sh
//! cargo build --release --example akto_agent --features ebpf,akto,http
//! sudo AKTO_KAFKA_BROKER_MAL=10.0.0.5:9092 PROBE_ALL_PID=true target/release/examples/akto_agent
//! target/release/examples/akto_agent --check   # validate the environment and print it
//! target/release/examples/akto_agent --metrics 0.0.0.0:9464   # Prometheus /metrics and the /map page
//! ```
//!
//! Exit codes: 0 after SIGINT/SIGTERM (connections flushed, Kafka flushed),
//! 1 on a runtime error, 2 on an invalid environment or refused
//! credentials, 3 when a memory ceiling was crossed (the supervisor
//! restarts the agent).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cleartap::akto::heartbeat::{Heartbeats, Identity};
use cleartap::akto::kafka::{BrokerCheck, check_broker};
use cleartap::akto::{AgentConfig, EXIT_MEMORY_CEILING, Env, filters};
use cleartap::core::pipeline::Pipeline;
use cleartap::ebpf::{EbpfConfig, EbpfSource};
use cleartap::http::{HttpConfig, HttpProtocol};
use cleartap::kafka::KafkaSink;
use cleartap::metrics::{Metrics, MetricsConfig};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let check_only = std::env::args().skip(1).any(|a| a == "--check");
    let metrics_addr = match metrics_arg() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("akto_agent: {e}");
            std::process::exit(2);
        }
    };
    let env = Env::from_process();
    let config = match AgentConfig::from(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("akto_agent: {e}");
            std::process::exit(2);
        }
    };
    for line in cleartap::akto::startup_summary(&config) {
        eprintln!("akto_agent: {line}");
    }
    for (var, why) in AgentConfig::ignored(&env) {
        eprintln!("akto_agent: {var} is set but not honoured: {why}");
    }
    if check_only {
        eprintln!("akto_agent: environment OK: {config:#?}");
        return;
    }
    match run(&config, env, metrics_addr) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("akto_agent: {e}");
            std::process::exit(1);
        }
    }
}

/// `--metrics ADDR`: where to serve Prometheus metrics and the service map (off when absent).
fn metrics_arg() -> Result<Option<std::net::SocketAddr>, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(i) = args.iter().position(|a| a == "--metrics") else {
        return Ok(None);
    };
    let value = args
        .get(i + 1)
        .ok_or("--metrics needs an address, such as 0.0.0.0:9464")?;
    value
        .parse()
        .map(Some)
        .map_err(|e| format!("--metrics {value}: {e} (expected IP:PORT)"))
}

fn run(
    config: &AgentConfig,
    env: Env,
    metrics_addr: Option<std::net::SocketAddr>,
) -> Result<i32, Box<dyn std::error::Error>> {
    // Refused TLS or SASL credentials are a configuration error: stop now.
    let kafka = config.kafka_config();
    match check_broker(&kafka, Duration::from_secs(10)) {
        Ok(BrokerCheck::Reachable) => {}
        Ok(BrokerCheck::Unreachable(why)) => eprintln!(
            "akto_agent: Kafka {} not reachable yet ({why}); messages wait for it{}",
            config.kafka_brokers,
            if config.kafka_security.tls.is_some() {
                " (with USE_TLS=true, a listener without TLS looks like this too)"
            } else {
                ""
            }
        ),
        Err(e) => {
            eprintln!("akto_agent: {e}");
            return Ok(2);
        }
    }
    if config.capture_tls() && !config.probe_all_pid && !filters::host_has_pods() {
        eprintln!(
            "akto_agent: no Kubernetes pod cgroup on this host: with PROBE_ALL_PID=false no TLS \
             traffic is captured (as in Akto); set PROBE_ALL_PID=true on a VM"
        );
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

    // Bodies as sent: the Akto format decodes them as Akto's collector does,
    // whatever decoding this build of the HTTP parser has.
    let http = HttpConfig {
        decompress: false,
        ..HttpConfig::default()
    };
    let mut builder = Pipeline::builder(HttpProtocol::new(http))
        .workers(std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
        .limits(config.limits());
    // Pod names and labels from the node (no API server): the messages'
    // `tag` carries the serving pod's labels, as Akto's collector sends them.
    match cleartap::k8s::Attributor::new(cleartap::k8s::K8sConfig::default()) {
        Ok(names) => builder = builder.enricher(Box::new(names)),
        Err(e) => eprintln!(
            "akto_agent: no Kubernetes attribution ({e}); tag carries AKTO_INJECT_TAGS only"
        ),
    }
    for filter in config.filters() {
        builder = builder.filter(filter);
    }
    let metrics = metrics_addr.map(|_| Metrics::new(MetricsConfig::default()));
    let _server = match (&metrics, metrics_addr) {
        (Some(m), Some(addr)) => {
            let server = m.serve(addr)?;
            eprintln!(
                "akto_agent: metrics at http://{0}/metrics, service map at http://{0}/map",
                server.local_addr()
            );
            builder = m.instrument(builder);
            Some(server)
        }
        _ => None,
    };
    let counters = builder.stats_registry().counters();
    let daemon_id = cleartap::akto::new_daemon_id();
    let sink = KafkaSink::new(&kafka, config.format(daemon_id.clone()), counters)?;
    let deliveries = sink.deliveries();
    let _heartbeats = match config.heartbeat_interval {
        Some(every) => Some(Heartbeats::spawn(
            &kafka,
            Identity {
                daemon_id,
                daemon_pod_name: config.daemon_pod_name.clone(),
                image_version: config.image_version.clone(),
            },
            env,
            every,
        )?),
        None => None,
    };
    let pipeline = builder
        .source(source)
        .sink(sink)
        .stop_on_signals()
        .build()?
        .spawn()?;
    if let Some(m) = &metrics {
        m.watch_queues(pipeline.queue_depths());
    }
    eprintln!(
        "akto_agent: capturing; producing to {} on {}",
        cleartap::akto::AKTO_TOPIC,
        config.kafka_brokers
    );

    let mut last_report = Instant::now();
    while !pipeline.wait_timeout(Duration::from_millis(200)) {
        if let Some(rss) = cleartap::akto::resident_bytes()
            && rss > config.memory_limit()
        {
            eprintln!(
                "akto_agent: resident memory {} MB is above the ceiling of {} MB \
                 (AKTO_MEM_THRESH_RESTART / AKTO_MEM_HARD_LIMIT / AKTO_SYS_MEM_HARD_LIMIT); \
                 exiting for a restart",
                rss >> 20,
                config.memory_limit() >> 20
            );
            return Ok(EXIT_MEMORY_CEILING);
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            report(&pipeline.stats(), &deliveries);
        }
    }
    // SIGINT/SIGTERM stop the pipeline: a clean exit. Ending by itself is not.
    let code = if pipeline.stop_requested() { 0 } else { 1 };
    let stats = pipeline.join()?;
    report(&stats, &deliveries);
    Ok(code)
}

/// The eBPF source's settings for this environment. `PROBE_ALL_PID` is
/// applied to TLS exchanges by `AgentConfig::filters`, so that plaintext
/// syscall capture covers every process, as in Akto.
fn ebpf_config(config: &AgentConfig) -> EbpfConfig {
    // CAPTURE_ALL=false, CAPTURE_SSL=false (plaintext only): the source still
    // probes TLS libraries; `AgentConfig::filters` drops what they capture.
    EbpfConfig {
        pids: config.trace_pids.clone(),
        comms: config.trace_comms.clone(),
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

fn report(stats: &cleartap::core::Stats, deliveries: &cleartap::kafka::Deliveries) {
    let acked = deliveries.acked.load(Ordering::Relaxed);
    eprintln!(
        "akto_agent: {} exchanges, {} to Kafka ({acked} acknowledged); drops {}",
        stats.exchanges,
        stats.exchanges_delivered,
        serde_json::to_string(&stats.drops).unwrap_or_default()
    );
}
