//! Every setting of an Akto collector, read from its environment variables.
//! The variables, Akto's meaning and cleartap's, are listed once, in
//! [`crate::guide`].

use std::collections::BTreeMap;
use std::time::Duration;

use capture_core::Limits;
use capture_core::filter::{
    CloudMetadataFilter, EgressFilter, ExchangeFilter, HeaderFilter, IpHostFilter,
};
use sink_kafka::{AktoFormat, KafkaConfig};

use crate::env::{Env, Unit, invalid};
use crate::filters::{DropCapture, EnvoyProxyFilter, PodTlsFilter};
use crate::kafka::KafkaSecurity;
use crate::{AKTO_TOPIC, Error};

/// Every setting of an Akto collector, parsed and checked.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// `AKTO_KAFKA_BROKER_MAL` (or `AKTO_KAFKA_BROKER_URL`): bootstrap brokers.
    pub kafka_brokers: String,
    /// `AKTO_TRAFFIC_BATCH_SIZE`: messages per Kafka batch.
    pub batch_size: usize,
    /// `AKTO_TRAFFIC_BATCH_TIME_SECS`: longest wait for a batch to fill.
    pub batch_time: Duration,
    /// `KAFKA_POLL_INTERVAL`: time between collections of delivery reports.
    pub kafka_poll_interval: Duration,
    /// `USE_TLS`, `IS_AUTH_IMPLEMENTED` and their companions.
    pub kafka_security: KafkaSecurity,
    /// `KAFKA_HEARTBEAT_INTERVAL_SECONDS`: heartbeat period; `None` when 0 (off).
    pub heartbeat_interval: Option<Duration>,
    /// `AKTO_AGENT_NAME`, `POD_NAME`, `NODE_NAME`, `HOSTNAME`: the name
    /// heartbeats give (`daemonPodName`).
    pub daemon_pod_name: String,
    /// `AKTO_IMAGE_VERSION`: the version heartbeats report.
    pub image_version: String,
    /// `AKTO_MODULE_DISCOVERY_CONFIG`: header rules.
    pub header_filter: HeaderFilter,
    /// `AKTO_IGNORE_IP_TRAFFIC`: drop requests whose host is empty or an IP.
    pub ignore_ip_traffic: bool,
    /// `AKTO_IGNORE_CLOUD_METADATA_CALLS`: drop instance-metadata calls.
    pub ignore_cloud_metadata: bool,
    /// `AKTO_IGNORE_ENVOY_PROXY_CALLS`: drop the sidecar's outbound copies.
    pub ignore_envoy_proxy_calls: bool,
    /// `TRAFFIC_DISABLE_EGRESS`: drop outbound exchanges.
    pub disable_egress: bool,
    /// `CAPTURE_EGRESS`: read for compatibility; outbound traffic is captured either way.
    pub capture_egress: bool,
    /// `TRAFFIC_INACTIVITY_THRESHOLD`: silence after which a connection is flushed.
    pub inactivity_timeout: Duration,
    /// `TRAFFIC_MAX_ACTIVE_CONN`: connections tracked at once.
    pub max_connections: usize,
    /// `TRAFFIC_BUFFER_THRESHOLD`, or `AKTO_MEM_SOFT_LIMIT` (which wins): unparsed bytes buffered at most.
    pub buffer_bytes: usize,
    /// `AKTO_MEM_THRESH_RESTART`, or `AKTO_MEM_HARD_LIMIT` (which wins): resident
    /// memory above which the agent exits for a restart.
    pub memory_ceiling_bytes: u64,
    /// `AKTO_SYS_MEM_HARD_LIMIT`: a second ceiling on resident memory (Akto's
    /// is on all memory the Go runtime took from the system).
    pub system_memory_ceiling_bytes: u64,
    /// `UPROBE_POLL_INTERVAL`: time between scans for new TLS libraries.
    pub uprobe_poll_interval: Duration,
    /// `CAPTURE_ALL`: capture plaintext sockets and TLS.
    pub capture_all: bool,
    /// `CAPTURE_SSL`: with `capture_all` off, capture TLS rather than plaintext.
    pub capture_ssl: bool,
    /// `PROBE_ALL_PID`: TLS from every process, not only pods'.
    pub probe_all_pid: bool,
    /// `TRACE_PIDS`: only these processes; empty: all.
    pub trace_pids: Vec<u32>,
    /// `TRACE_COMMS`: only processes with these names; empty: all.
    pub trace_comms: Vec<String>,
    /// `AKTO_ENABLE_GRAPH`: the messages' `enable_graph`.
    pub enable_graph: bool,
    /// `AKTO_INJECT_TAGS`: tags added to every message's `tag`.
    pub inject_tags: BTreeMap<String, String>,
    /// `OUTPUT_BANDWIDTH_LIMIT`: message bytes sent per minute at most; `None`: no limit.
    pub output_limit_bytes_per_minute: Option<u64>,
}

/// Akto's variables this agent reads but does not act on, with the reason
/// given at startup when one is set. Everything else it reads acts as in
/// Akto's collector (see [`crate::guide`]).
pub const NOT_HONOURED: &[(&str, &str)] = &[
    (
        "AKTO_THREAT_ENABLED",
        "the protobuf copy to akto.api.logs2 for Akto's threat module is not produced",
    ),
    (
        "AKTO_RESOLVE_OUTBOUND_POD_LABELS",
        "pod labels are sent for inbound traffic only (Akto's default)",
    ),
    ("CLOUD_PROCESSOR_MODE", "only Kafka output is supported"),
    (
        "AKTO_FAST_INGESTION",
        "one parser serves every path; its output is the default path's",
    ),
    ("AKTO_MEM_SAMPLING_ENABLED", "bodies are always sent"),
    ("DEBUG_URLS", "debug logging is by RUST_LOG"),
    (
        "KAFKA_ERROR_THRESHOLD",
        "failed deliveries are counted (sink_delivery_failed), the agent does not exit on them",
    ),
    (
        "KAFKA_RECONNECT_INTERVAL_MINUTES",
        "librdkafka reconnects by itself",
    ),
    (
        "TRAFFIC_SAMPLE_BUFFER_PER_MINUTE",
        "use OUTPUT_BANDWIDTH_LIMIT",
    ),
];

impl AgentConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from(&Env::from_process())
    }

    /// Reads `env`.
    pub fn from(env: &Env) -> Result<Self, Error> {
        let kafka_brokers = env
            .get("AKTO_KAFKA_BROKER_MAL")
            .or_else(|| env.get("AKTO_KAFKA_BROKER_URL"))
            .ok_or(Error::MissingEnv {
                var: "AKTO_KAFKA_BROKER_MAL",
                hint: "set it to the Akto data processor's Kafka address, e.g. 10.0.0.5:9092",
            })?
            .to_owned();
        let header_filter = match env.get("AKTO_MODULE_DISCOVERY_CONFIG") {
            None => HeaderFilter::akto_default(),
            Some(json) => HeaderFilter::from_json(json)
                .map_err(|e| invalid("AKTO_MODULE_DISCOVERY_CONFIG", json, &e.to_string()))?,
        };
        let mib = 1..=1u64 << 30;
        let buffer_mib = match env.get("AKTO_MEM_SOFT_LIMIT") {
            Some(_) => env.int("AKTO_MEM_SOFT_LIMIT", 400u64, mib.clone())?,
            None => env.int("TRAFFIC_BUFFER_THRESHOLD", 400u64, mib.clone())?,
        };
        let memory_ceiling_bytes = match env.get("AKTO_MEM_HARD_LIMIT") {
            Some(_) => env.mebibytes("AKTO_MEM_HARD_LIMIT", 500, mib.clone())?,
            None => env.mebibytes("AKTO_MEM_THRESH_RESTART", 500, mib.clone())?,
        };
        let heartbeat = env.int("KAFKA_HEARTBEAT_INTERVAL_SECONDS", 60u64, 0..=86_400)?;
        let output_limit = env.int("OUTPUT_BANDWIDTH_LIMIT", -1i64, -1..=1 << 30)?;
        if output_limit == 0 {
            return Err(invalid(
                "OUTPUT_BANDWIDTH_LIMIT",
                "0",
                "expected MB per minute (at least 1), or -1 for no limit",
            ));
        }
        let trace_pids = env
            .list("TRACE_PIDS")
            .iter()
            .map(|p| {
                p.parse::<u32>().map_err(|_| {
                    invalid("TRACE_PIDS", p, "expected process ids separated by commas")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let trace_comms = env.list("TRACE_COMMS");
        if let Some(c) = trace_comms.iter().find(|c| c.len() > 15) {
            return Err(invalid(
                "TRACE_COMMS",
                c,
                "a process name is at most 15 bytes (the kernel's comm): give its first 15",
            ));
        }
        Ok(Self {
            kafka_brokers,
            batch_size: env.int("AKTO_TRAFFIC_BATCH_SIZE", 100, 1..=1_000_000)?,
            batch_time: Duration::from_secs(env.int(
                "AKTO_TRAFFIC_BATCH_TIME_SECS",
                10,
                0..=900,
            )?),
            kafka_poll_interval: env.duration("KAFKA_POLL_INTERVAL", 0.5, Unit::Seconds)?,
            kafka_security: KafkaSecurity::from_env(env)?,
            heartbeat_interval: (heartbeat > 0).then(|| Duration::from_secs(heartbeat)),
            daemon_pod_name: daemon_pod_name(env),
            image_version: env.string(
                "AKTO_IMAGE_VERSION",
                concat!("cleartap/akto-agent:", env!("CARGO_PKG_VERSION")),
            ),
            header_filter,
            ignore_ip_traffic: env.flag("AKTO_IGNORE_IP_TRAFFIC", false)?,
            ignore_cloud_metadata: env.flag("AKTO_IGNORE_CLOUD_METADATA_CALLS", false)?,
            ignore_envoy_proxy_calls: env.flag("AKTO_IGNORE_ENVOY_PROXY_CALLS", false)?,
            disable_egress: env.flag("TRAFFIC_DISABLE_EGRESS", false)?,
            capture_egress: env.flag("CAPTURE_EGRESS", false)?,
            inactivity_timeout: env.duration(
                "TRAFFIC_INACTIVITY_THRESHOLD",
                30.0,
                Unit::Seconds,
            )?,
            max_connections: env.int("TRAFFIC_MAX_ACTIVE_CONN", 4096, 1..=100_000_000)?,
            buffer_bytes: usize::try_from(buffer_mib << 20).unwrap_or(usize::MAX),
            memory_ceiling_bytes,
            system_memory_ceiling_bytes: env.mebibytes("AKTO_SYS_MEM_HARD_LIMIT", 950, mib)?,
            uprobe_poll_interval: env.duration("UPROBE_POLL_INTERVAL", 20.0, Unit::Minutes)?,
            capture_all: env.flag("CAPTURE_ALL", true)?,
            capture_ssl: env.flag("CAPTURE_SSL", false)?,
            probe_all_pid: env.flag("PROBE_ALL_PID", false)?,
            trace_pids,
            trace_comms,
            enable_graph: env.flag("AKTO_ENABLE_GRAPH", true)?,
            inject_tags: inject_tags(env)?,
            output_limit_bytes_per_minute: u64::try_from(output_limit).ok().map(|mb| mb << 20),
        })
    }

    /// Whether plaintext socket traffic is captured (Akto: unless
    /// `CAPTURE_SSL=true` with `CAPTURE_ALL=false`).
    pub fn capture_plaintext(&self) -> bool {
        self.capture_all || !self.capture_ssl
    }

    /// Whether TLS plaintext is captured through uprobes.
    pub fn capture_tls(&self) -> bool {
        self.capture_all || self.capture_ssl
    }

    /// The lower of the two memory ceilings.
    pub fn memory_limit(&self) -> u64 {
        self.memory_ceiling_bytes
            .min(self.system_memory_ceiling_bytes)
    }

    /// The pipeline limits these settings stand for.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            inactivity_timeout: self.inactivity_timeout,
            total_buffer_bytes: self.buffer_bytes,
            ..Limits::default()
        }
    }

    /// The exchange filters these settings turn on, header rules first.
    ///
    /// The capture mode is enforced here too: with TLS capture off,
    /// exchanges captured at `SSL_read`/`SSL_write` are dropped, and with
    /// plaintext capture off, those seen at the socket syscalls are. With
    /// `PROBE_ALL_PID=false`, TLS exchanges are kept only from pod processes.
    pub fn filters(&self) -> Vec<Box<dyn ExchangeFilter>> {
        let mut f: Vec<Box<dyn ExchangeFilter>> = vec![Box::new(self.header_filter.clone())];
        if !self.capture_tls() {
            f.push(Box::new(DropCapture::Tls));
        } else if !self.probe_all_pid {
            f.push(Box::new(PodTlsFilter::default()));
        }
        if !self.capture_plaintext() {
            f.push(Box::new(DropCapture::Syscalls));
        }
        if self.disable_egress {
            f.push(Box::new(EgressFilter));
        }
        if self.ignore_ip_traffic {
            f.push(Box::new(IpHostFilter));
        }
        if self.ignore_cloud_metadata {
            f.push(Box::new(CloudMetadataFilter));
        }
        if self.ignore_envoy_proxy_calls {
            f.push(Box::new(EnvoyProxyFilter));
        }
        f
    }

    /// The Kafka sink configuration: topic `akto.api.logs`, Akto's
    /// batching, LZ4, TLS and SASL.
    pub fn kafka_config(&self) -> KafkaConfig {
        self.kafka_security.apply(KafkaConfig {
            batch_size: self.batch_size,
            batch_time: self.batch_time,
            poll_interval: self.kafka_poll_interval,
            ..KafkaConfig::new(self.kafka_brokers.clone(), AKTO_TOPIC)
        })
    }

    /// The Akto message format, identifying this collector as `daemonset_id`.
    pub fn format(&self, daemonset_id: impl Into<String>) -> AktoFormat {
        let mut f = AktoFormat::default();
        f.daemonset_id = daemonset_id.into();
        f.enable_graph = self.enable_graph;
        f.inject_tags.clone_from(&self.inject_tags);
        if let Some(limit) = self.output_limit_bytes_per_minute {
            f = f.with_output_limit(limit);
        }
        f
    }

    /// The variables of [`NOT_HONOURED`] that `env` sets, with the reason.
    pub fn ignored(env: &Env) -> Vec<(&'static str, &'static str)> {
        NOT_HONOURED
            .iter()
            .copied()
            .filter(|(v, _)| env.is_set(v))
            .collect()
    }
}

/// The name Akto's collector gives itself in heartbeats: `akto-tc:` and
/// `AKTO_AGENT_NAME`, else `POD_NAME:NODE_NAME`, else `HOSTNAME`, else the host name.
fn daemon_pod_name(env: &Env) -> String {
    let name = match (
        env.get("AKTO_AGENT_NAME"),
        env.get("POD_NAME"),
        env.get("NODE_NAME"),
    ) {
        (Some(agent), _, _) => agent.to_owned(),
        (None, Some(pod), Some(node)) => format!("{pod}:{node}"),
        _ => env
            .get("HOSTNAME")
            .map(str::to_owned)
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|s| s.trim().to_owned())
            })
            .unwrap_or_else(|| "cleartap".into()),
    };
    format!("akto-tc:{name}")
}

/// `AKTO_INJECT_TAGS`: `key=value` pairs separated by `;`, each trimmed.
fn inject_tags(env: &Env) -> Result<BTreeMap<String, String>, Error> {
    let mut tags = BTreeMap::new();
    let Some(v) = env.get("AKTO_INJECT_TAGS") else {
        return Ok(tags);
    };
    for pair in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, val)) if !k.trim().is_empty() => {
                tags.insert(k.trim().to_owned(), val.trim().to_owned());
            }
            _ => {
                return Err(invalid(
                    "AKTO_INJECT_TAGS",
                    v,
                    &format!("{pair:?} is not key=value; write key=value;key2=value2"),
                ));
            }
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture_core::filter::IfAbsent;
    use capture_core::model::{
        CaptureSource, ConnKey, ConnMeta, Exchange, NetnsId, Protocol, Roles, Timestamp,
    };

    fn env(pairs: &[(&'static str, &'static str)]) -> Env {
        Env::from_pairs(
            [("AKTO_KAFKA_BROKER_MAL", "10.0.0.5:9092")]
                .into_iter()
                .chain(pairs.iter().copied()),
        )
    }

    fn err(pairs: &[(&'static str, &'static str)]) -> String {
        AgentConfig::from(&env(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_akto_defaults() {
        let c = AgentConfig::from(&env(&[])).unwrap();
        assert_eq!(c.kafka_brokers, "10.0.0.5:9092");
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.batch_time, Duration::from_secs(10));
        assert_eq!(c.inactivity_timeout, Duration::from_secs(30));
        assert_eq!(c.max_connections, 4096);
        assert!(!c.disable_egress && !c.capture_egress);
        assert_eq!(c.memory_ceiling_bytes, 500 << 20);
        assert_eq!(c.system_memory_ceiling_bytes, 950 << 20);
        assert_eq!(c.memory_limit(), 500 << 20);
        assert_eq!(c.buffer_bytes, 400 << 20);
        assert!(!c.ignore_ip_traffic && !c.ignore_cloud_metadata && !c.ignore_envoy_proxy_calls);
        assert_eq!(c.uprobe_poll_interval, Duration::from_secs(20 * 60));
        assert!(c.capture_all && !c.capture_ssl && !c.probe_all_pid);
        assert!(c.capture_plaintext() && c.capture_tls());
        assert_eq!(c.kafka_poll_interval, Duration::from_millis(500));
        assert_eq!(c.heartbeat_interval, Some(Duration::from_secs(60)));
        assert!(c.enable_graph, "Akto's AKTO_ENABLE_GRAPH defaults to true");
        assert!(c.inject_tags.is_empty() && c.output_limit_bytes_per_minute.is_none());
        assert!(c.trace_pids.is_empty() && c.trace_comms.is_empty());
        assert_eq!(c.kafka_security, KafkaSecurity::default());
        assert_eq!(c.header_filter.rules()[0].name, "x-envoy-peer-metadata-id");
        // Header rules, and TLS only from pod processes (PROBE_ALL_PID=false).
        assert_eq!(c.filters().len(), 2);
        assert!(c.daemon_pod_name.starts_with("akto-tc:"));
    }

    #[test]
    fn values_are_read() {
        let c = AgentConfig::from(&env(&[
            ("AKTO_TRAFFIC_BATCH_SIZE", "500"),
            ("AKTO_TRAFFIC_BATCH_TIME_SECS", "2"),
            (
                "AKTO_MODULE_DISCOVERY_CONFIG",
                r#"[{"key":{"eq":"x-forwarded-client-cert","ifAbsent":"reject"},"value":{"regex":".*bookinfo.*"}}]"#,
            ),
            ("TRAFFIC_INACTIVITY_THRESHOLD", "7"),
            ("TRAFFIC_MAX_ACTIVE_CONN", "100"),
            ("TRAFFIC_DISABLE_EGRESS", "TRUE"),
            ("AKTO_MEM_THRESH_RESTART", "800"),
            ("AKTO_SYS_MEM_HARD_LIMIT", "700"),
            ("TRAFFIC_BUFFER_THRESHOLD", "600"),
            ("AKTO_IGNORE_IP_TRAFFIC", "true"),
            ("AKTO_IGNORE_CLOUD_METADATA_CALLS", "true"),
            ("AKTO_IGNORE_ENVOY_PROXY_CALLS", "true"),
            ("UPROBE_POLL_INTERVAL", "5"),
            ("CAPTURE_ALL", "false"),
            ("CAPTURE_SSL", "true"),
            ("CAPTURE_EGRESS", "true"),
            ("PROBE_ALL_PID", "true"),
            ("KAFKA_POLL_INTERVAL", "0.25"),
            ("KAFKA_HEARTBEAT_INTERVAL_SECONDS", "0"),
            ("AKTO_ENABLE_GRAPH", "false"),
            ("AKTO_INJECT_TAGS", " env = prod ; team=api;"),
            ("OUTPUT_BANDWIDTH_LIMIT", "3"),
            ("TRACE_PIDS", "1, 42"),
            ("TRACE_COMMS", "nginx,envoy"),
            ("AKTO_AGENT_NAME", "edge-1"),
        ]))
        .unwrap();
        assert_eq!(c.batch_size, 500);
        assert_eq!(c.header_filter.rules()[0].if_absent, IfAbsent::Reject);
        assert_eq!(c.limits().max_connections, 100);
        assert_eq!(c.limits().inactivity_timeout, Duration::from_secs(7));
        assert_eq!(c.limits().total_buffer_bytes, 600 << 20);
        assert_eq!(c.memory_limit(), 700 << 20);
        assert_eq!(c.uprobe_poll_interval, Duration::from_secs(300));
        assert!(c.capture_tls() && !c.capture_plaintext() && c.probe_all_pid && c.capture_egress);
        assert_eq!(c.heartbeat_interval, None);
        assert!(!c.enable_graph);
        assert_eq!(c.inject_tags["env"], "prod");
        assert_eq!(c.inject_tags["team"], "api");
        assert_eq!(c.output_limit_bytes_per_minute, Some(3 << 20));
        assert_eq!(c.trace_pids, [1, 42]);
        assert_eq!(c.trace_comms, ["nginx", "envoy"]);
        assert_eq!(c.daemon_pod_name, "akto-tc:edge-1");
        // header rules, TLS-only mode, egress, IP hosts, metadata, Envoy
        assert_eq!(c.filters().len(), 6);
        let k = c.kafka_config();
        assert_eq!(k.topic, "akto.api.logs");
        assert_eq!(k.batch_size, 500);
        assert_eq!(k.batch_time, Duration::from_secs(2));
        assert_eq!(k.poll_interval, Duration::from_millis(250));
        assert_eq!(k.brokers, "10.0.0.5:9092");
        let f = c.format("d-1");
        assert_eq!(f.daemonset_id, "d-1");
        assert!(!f.enable_graph);
    }

    #[test]
    fn aliases_win_over_the_older_names_as_in_akto() {
        let c = AgentConfig::from(&env(&[
            ("AKTO_MEM_THRESH_RESTART", "800"),
            ("AKTO_MEM_HARD_LIMIT", "300"),
            ("TRAFFIC_BUFFER_THRESHOLD", "600"),
            ("AKTO_MEM_SOFT_LIMIT", "200"),
        ]))
        .unwrap();
        assert_eq!(c.memory_ceiling_bytes, 300 << 20);
        assert_eq!(c.buffer_bytes, 200 << 20);
    }

    fn sourced(source: CaptureSource) -> Exchange {
        let key = ConnKey::new(
            "10.0.0.1:1".parse().unwrap(),
            "10.0.0.2:2".parse().unwrap(),
            NetnsId::UNKNOWN,
        );
        let meta = ConnMeta::new(key, source, Timestamp(0));
        Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED)
    }

    fn kept(c: &AgentConfig, source: CaptureSource) -> bool {
        // Only the capture-mode filters: the header rule would need headers.
        c.filters().iter().skip(1).all(|f| f.keep(&sourced(source)))
    }

    #[test]
    fn capture_modes_keep_what_they_capture() {
        let all = AgentConfig::from(&env(&[("PROBE_ALL_PID", "true")])).unwrap();
        assert!(kept(&all, CaptureSource::EbpfTls) && kept(&all, CaptureSource::EbpfSyscall));

        let plain = AgentConfig::from(&env(&[("CAPTURE_ALL", "false")])).unwrap();
        assert!(plain.capture_plaintext() && !plain.capture_tls());
        assert!(!kept(&plain, CaptureSource::EbpfTls) && kept(&plain, CaptureSource::EbpfSyscall));
        assert!(!kept(&plain, CaptureSource::EbpfGoTls));

        let tls = AgentConfig::from(&env(&[
            ("CAPTURE_ALL", "false"),
            ("CAPTURE_SSL", "true"),
            ("PROBE_ALL_PID", "true"),
        ]))
        .unwrap();
        assert!(kept(&tls, CaptureSource::EbpfTls) && !kept(&tls, CaptureSource::EbpfSyscall));
        assert!(kept(&tls, CaptureSource::EbpfGoTls));

        // PROBE_ALL_PID=false: syscall capture from every process; TLS from
        // pods only (this exchange has no pid, so no pod).
        let pods = AgentConfig::from(&env(&[])).unwrap();
        assert!(kept(&pods, CaptureSource::EbpfSyscall) && !kept(&pods, CaptureSource::EbpfTls));
    }

    #[test]
    fn broker_is_required_and_the_old_name_works() {
        let e = AgentConfig::from(&Env::default()).unwrap_err().to_string();
        assert!(e.contains("AKTO_KAFKA_BROKER_MAL is not set"), "{e}");
        let c = AgentConfig::from(&Env::from_pairs([("AKTO_KAFKA_BROKER_URL", "k:9092")])).unwrap();
        assert_eq!(c.kafka_brokers, "k:9092");
    }

    #[test]
    fn ignored_variables_are_named() {
        let e = env(&[("AKTO_THREAT_ENABLED", "true"), ("CAPTURE_ALL", "true")]);
        let ignored = AgentConfig::ignored(&e);
        assert_eq!(ignored.len(), 1);
        assert_eq!(ignored[0].0, "AKTO_THREAT_ENABLED");
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (var, value, expect) in [
            ("AKTO_TRAFFIC_BATCH_SIZE", "ten", "whole number"),
            ("AKTO_TRAFFIC_BATCH_SIZE", "0", "out of range"),
            ("AKTO_TRAFFIC_BATCH_TIME_SECS", "-1", "whole number"),
            ("TRAFFIC_MAX_ACTIVE_CONN", "4k", "whole number"),
            ("TRAFFIC_DISABLE_EGRESS", "maybe", "true or false"),
            ("AKTO_MEM_THRESH_RESTART", "800MB", "whole number"),
            ("AKTO_MEM_HARD_LIMIT", "x", "whole number"),
            ("AKTO_SYS_MEM_HARD_LIMIT", "-5", "whole number"),
            ("AKTO_MEM_SOFT_LIMIT", "1e3", "whole number"),
            ("TRAFFIC_BUFFER_THRESHOLD", "x", "whole number"),
            ("AKTO_IGNORE_IP_TRAFFIC", "on?", "true or false"),
            ("AKTO_IGNORE_CLOUD_METADATA_CALLS", "2", "true or false"),
            ("AKTO_IGNORE_ENVOY_PROXY_CALLS", "1", "true or false"),
            ("TRAFFIC_INACTIVITY_THRESHOLD", "30s", "number of seconds"),
            ("TRAFFIC_INACTIVITY_THRESHOLD", "0", "positive"),
            ("UPROBE_POLL_INTERVAL", "soon", "number of minutes"),
            ("CAPTURE_ALL", "all", "true or false"),
            ("CAPTURE_SSL", "y", "true or false"),
            ("CAPTURE_EGRESS", "yes", "true or false"),
            ("PROBE_ALL_PID", "-", "true or false"),
            ("KAFKA_POLL_INTERVAL", "NaN", "positive"),
            ("KAFKA_HEARTBEAT_INTERVAL_SECONDS", "1m", "whole number"),
            ("AKTO_ENABLE_GRAPH", "1", "true or false"),
            ("AKTO_INJECT_TAGS", "env", "key=value"),
            ("OUTPUT_BANDWIDTH_LIMIT", "0", "-1 for no limit"),
            ("TRACE_PIDS", "1,nginx", "process ids"),
            ("TRACE_COMMS", "a-very-long-process-name", "15 bytes"),
            ("AKTO_MODULE_DISCOVERY_CONFIG", "[{", "not valid JSON"),
            (
                "AKTO_MODULE_DISCOVERY_CONFIG",
                r#"[{"key":{"eq":"x"},"value":{"regex":"("}}]"#,
                "invalid regex",
            ),
        ] {
            let e = err(&[(var, value)]);
            assert!(e.contains(var), "{var}: {e}");
            assert!(e.contains(expect), "{var}={value}: {e}");
        }
    }
}
