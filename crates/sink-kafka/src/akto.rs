//! The environment of Akto's eBPF traffic collector, read into one value.
//!
//! An agent that replaces Akto's collector reads the same variables with
//! the same meanings and defaults (see `docs/akto-agent.md`). Unlike Akto,
//! which falls back silently to a default on a value it cannot parse, every
//! invalid value here is an [`Error::Env`] naming the variable, so that a
//! typo stops the agent at startup instead of changing what it captures.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `AKTO_KAFKA_BROKER_MAL` | required (`AKTO_KAFKA_BROKER_URL` also read) | Kafka bootstrap brokers |
//! | `AKTO_TRAFFIC_BATCH_SIZE` | 100 | messages per Kafka batch |
//! | `AKTO_TRAFFIC_BATCH_TIME_SECS` | 10 | longest wait for a batch to fill, seconds |
//! | `AKTO_MODULE_DISCOVERY_CONFIG` | Akto's Envoy sidecar rule | header rules, see [`HeaderFilter`] |
//! | `TRAFFIC_INACTIVITY_THRESHOLD` | 30 | seconds of silence after which a connection is flushed |
//! | `TRAFFIC_MAX_ACTIVE_CONN` | 4096 | connections tracked at once |
//! | `TRAFFIC_DISABLE_EGRESS` | false | drop outbound traffic |
//! | `AKTO_MEM_THRESH_RESTART` | 500 | MB of memory above which the agent exits for a restart |
//! | `TRAFFIC_BUFFER_THRESHOLD` | 400 | MB of unparsed traffic buffered at most |
//! | `AKTO_IGNORE_IP_TRAFFIC` | false | drop requests whose Host is empty or an IP |
//! | `AKTO_IGNORE_CLOUD_METADATA_CALLS` | false | drop calls to 169.254.169.254 |
//! | `UPROBE_POLL_INTERVAL` | 20 | minutes between scans for new TLS libraries |
//! | `CAPTURE_ALL` | true | capture both plaintext sockets and TLS |
//! | `CAPTURE_SSL` | false | with `CAPTURE_ALL=false`: TLS only (true) or plaintext only (false) |
//! | `PROBE_ALL_PID` | false | trace every process on the host, not only containers' |
//! | `KAFKA_POLL_INTERVAL` | 0.5 | seconds between collections of Kafka delivery reports |

use std::collections::HashMap;
use std::time::Duration;

use capture_core::Limits;
use capture_core::filter::{
    CloudMetadataFilter, EgressFilter, ExchangeFilter, HeaderFilter, IpHostFilter,
};
use capture_core::model::{CaptureSource, Exchange};

use crate::{AktoFormat, Error, KafkaConfig};

/// The Kafka topic Akto's data processor reads.
pub const AKTO_TOPIC: &str = "akto.api.logs";

/// The exit code that asks the supervisor for a restart after the memory
/// ceiling (`AKTO_MEM_THRESH_RESTART`) was crossed; Akto's collector uses 3 too.
pub const EXIT_MEMORY_CEILING: i32 = 3;

/// Every setting of an Akto collector, parsed and checked.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// `AKTO_KAFKA_BROKER_MAL`: Kafka bootstrap brokers.
    pub kafka_brokers: String,
    /// `AKTO_TRAFFIC_BATCH_SIZE`: messages per Kafka batch.
    pub batch_size: usize,
    /// `AKTO_TRAFFIC_BATCH_TIME_SECS`: longest wait for a batch to fill.
    pub batch_time: Duration,
    /// `AKTO_MODULE_DISCOVERY_CONFIG`: header rules.
    pub header_filter: HeaderFilter,
    /// `TRAFFIC_INACTIVITY_THRESHOLD`: silence after which a connection is flushed.
    pub inactivity_timeout: Duration,
    /// `TRAFFIC_MAX_ACTIVE_CONN`: connections tracked at once.
    pub max_connections: usize,
    /// `TRAFFIC_DISABLE_EGRESS`: drop outbound exchanges.
    pub disable_egress: bool,
    /// `AKTO_MEM_THRESH_RESTART`: resident memory, in bytes, above which the agent exits.
    pub memory_ceiling_bytes: u64,
    /// `TRAFFIC_BUFFER_THRESHOLD`: unparsed bytes buffered at most.
    pub buffer_bytes: usize,
    /// `AKTO_IGNORE_IP_TRAFFIC`: drop requests whose host is empty or an IP.
    pub ignore_ip_traffic: bool,
    /// `AKTO_IGNORE_CLOUD_METADATA_CALLS`: drop instance-metadata calls.
    pub ignore_cloud_metadata: bool,
    /// `UPROBE_POLL_INTERVAL`: time between scans for new TLS libraries.
    pub uprobe_poll_interval: Duration,
    /// `CAPTURE_ALL`: capture plaintext sockets and TLS.
    pub capture_all: bool,
    /// `CAPTURE_SSL`: with `capture_all` off, capture TLS rather than plaintext.
    pub capture_ssl: bool,
    /// `PROBE_ALL_PID`: trace every process, not only those in containers.
    pub probe_all_pid: bool,
    /// `KAFKA_POLL_INTERVAL`: time between collections of delivery reports.
    pub kafka_poll_interval: Duration,
}

impl AgentConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_env_map(&std::env::vars().collect())
    }

    /// Reads the variables from `vars`. An empty value counts as unset, as in Akto.
    pub fn from_env_map(vars: &HashMap<String, String>) -> Result<Self, Error> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let kafka_brokers = get("AKTO_KAFKA_BROKER_MAL")
            .or_else(|| get("AKTO_KAFKA_BROKER_URL"))
            .ok_or(Error::MissingEnv {
                var: "AKTO_KAFKA_BROKER_MAL",
                hint: "set it to the Akto data processor's Kafka address, e.g. 10.0.0.5:9092",
            })?
            .to_owned();
        let header_filter = match get("AKTO_MODULE_DISCOVERY_CONFIG") {
            None => HeaderFilter::akto_default(),
            Some(json) => HeaderFilter::from_json(json).map_err(|e| Error::Env {
                var: "AKTO_MODULE_DISCOVERY_CONFIG",
                value: json.to_owned(),
                reason: e.to_string(),
            })?,
        };
        let mb = 1024 * 1024;
        Ok(Self {
            kafka_brokers,
            batch_size: int(get, "AKTO_TRAFFIC_BATCH_SIZE", 100, 1..=1_000_000)?,
            batch_time: Duration::from_secs(int(get, "AKTO_TRAFFIC_BATCH_TIME_SECS", 10, 0..=900)?),
            header_filter,
            inactivity_timeout: seconds(get, "TRAFFIC_INACTIVITY_THRESHOLD", 30.0, 1)?,
            max_connections: int(get, "TRAFFIC_MAX_ACTIVE_CONN", 4096, 1..=100_000_000)?,
            disable_egress: flag(get, "TRAFFIC_DISABLE_EGRESS", false)?,
            memory_ceiling_bytes: int(get, "AKTO_MEM_THRESH_RESTART", 500u64, 1..=1 << 30)? * mb,
            buffer_bytes: int(get, "TRAFFIC_BUFFER_THRESHOLD", 400usize, 1..=1 << 30)?
                * mb as usize,
            ignore_ip_traffic: flag(get, "AKTO_IGNORE_IP_TRAFFIC", false)?,
            ignore_cloud_metadata: flag(get, "AKTO_IGNORE_CLOUD_METADATA_CALLS", false)?,
            uprobe_poll_interval: seconds(get, "UPROBE_POLL_INTERVAL", 20.0, 60)?,
            capture_all: flag(get, "CAPTURE_ALL", true)?,
            capture_ssl: flag(get, "CAPTURE_SSL", false)?,
            probe_all_pid: flag(get, "PROBE_ALL_PID", false)?,
            kafka_poll_interval: seconds(get, "KAFKA_POLL_INTERVAL", 0.5, 1)?,
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
    /// The capture mode is enforced here too: with TLS capture off, exchanges
    /// captured at `SSL_read`/`SSL_write` are dropped (whatever the source
    /// attached), and with plaintext capture off, those seen at the socket
    /// syscalls are.
    pub fn filters(&self) -> Vec<Box<dyn ExchangeFilter>> {
        let mut f: Vec<Box<dyn ExchangeFilter>> = vec![Box::new(self.header_filter.clone())];
        if !self.capture_tls() {
            f.push(Box::new(|ex: &Exchange| !ex.source.is_tls()));
        }
        if !self.capture_plaintext() {
            f.push(Box::new(|ex: &Exchange| {
                ex.source != CaptureSource::EbpfSyscall
            }));
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
        f
    }

    /// The Kafka sink configuration: topic `akto.api.logs`, Akto's batching, LZ4.
    pub fn kafka_config(&self) -> KafkaConfig {
        KafkaConfig {
            batch_size: self.batch_size,
            batch_time: self.batch_time,
            poll_interval: self.kafka_poll_interval,
            ..KafkaConfig::new(self.kafka_brokers.clone(), AKTO_TOPIC)
        }
    }

    /// The Akto message format, identifying this collector as `daemonset_id`.
    pub fn format(&self, daemonset_id: impl Into<String>) -> AktoFormat {
        AktoFormat {
            daemonset_id: daemonset_id.into(),
            ..AktoFormat::default()
        }
    }
}

fn env_error(var: &'static str, value: &str, reason: String) -> Error {
    Error::Env {
        var,
        value: value.to_owned(),
        reason,
    }
}

fn int<'a, T>(
    get: impl Fn(&str) -> Option<&'a str>,
    var: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, Error>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(v) = get(var) else {
        return Ok(default);
    };
    let n: T = v.parse().map_err(|_| {
        env_error(
            var,
            v,
            format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )
    })?;
    if !range.contains(&n) {
        return Err(env_error(
            var,
            v,
            format!(
                "out of range: expected {} to {}",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(n)
}

/// A duration given in `unit` seconds (60 for minutes), fractions allowed.
fn seconds<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    var: &'static str,
    default: f64,
    unit: u32,
) -> Result<Duration, Error> {
    let unit_name = if unit == 60 { "minutes" } else { "seconds" };
    let v = get(var);
    let n = match v {
        None => default,
        Some(v) => v.parse::<f64>().map_err(|_| {
            env_error(
                var,
                v,
                format!("expected a number of {unit_name}, such as 30 or 0.5"),
            )
        })?,
    };
    let secs = n * f64::from(unit);
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0 * 365.0) {
        return Err(env_error(
            var,
            v.unwrap_or_default(),
            format!("expected a positive number of {unit_name}"),
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn flag<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    var: &'static str,
    default: bool,
) -> Result<bool, Error> {
    let Some(v) = get(var) else {
        return Ok(default);
    };
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(env_error(var, v, "expected true or false".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture_core::filter::IfAbsent;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [("AKTO_KAFKA_BROKER_MAL", "10.0.0.5:9092")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in pairs {
            m.insert((*k).to_owned(), (*v).to_owned());
        }
        m
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        AgentConfig::from_env_map(&env(pairs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_are_akto_defaults() {
        let c = AgentConfig::from_env_map(&env(&[])).unwrap();
        assert_eq!(c.kafka_brokers, "10.0.0.5:9092");
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.batch_time, Duration::from_secs(10));
        assert_eq!(c.inactivity_timeout, Duration::from_secs(30));
        assert_eq!(c.max_connections, 4096);
        assert!(!c.disable_egress);
        assert_eq!(c.memory_ceiling_bytes, 500 << 20);
        assert_eq!(c.buffer_bytes, 400 << 20);
        assert!(!c.ignore_ip_traffic && !c.ignore_cloud_metadata);
        assert_eq!(c.uprobe_poll_interval, Duration::from_secs(20 * 60));
        assert!(c.capture_all && !c.capture_ssl && !c.probe_all_pid);
        assert!(c.capture_plaintext() && c.capture_tls());
        assert_eq!(c.kafka_poll_interval, Duration::from_millis(500));
        // Akto's default header rule: Envoy sidecar traffic.
        assert_eq!(c.header_filter.rules()[0].name, "x-envoy-peer-metadata-id");
        assert_eq!(c.filters().len(), 1);
    }

    #[test]
    fn values_are_read() {
        let c = AgentConfig::from_env_map(&env(&[
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
            ("TRAFFIC_BUFFER_THRESHOLD", "600"),
            ("AKTO_IGNORE_IP_TRAFFIC", "true"),
            ("AKTO_IGNORE_CLOUD_METADATA_CALLS", "true"),
            ("UPROBE_POLL_INTERVAL", "5"),
            ("CAPTURE_ALL", "false"),
            ("CAPTURE_SSL", "true"),
            ("PROBE_ALL_PID", "true"),
            ("KAFKA_POLL_INTERVAL", "0.25"),
        ]))
        .unwrap();
        assert_eq!(c.batch_size, 500);
        assert_eq!(c.header_filter.rules()[0].if_absent, IfAbsent::Reject);
        assert_eq!(c.limits().max_connections, 100);
        assert_eq!(c.limits().inactivity_timeout, Duration::from_secs(7));
        assert_eq!(c.limits().total_buffer_bytes, 600 << 20);
        assert_eq!(c.memory_ceiling_bytes, 800 << 20);
        assert_eq!(c.uprobe_poll_interval, Duration::from_secs(300));
        assert!(c.capture_tls() && !c.capture_plaintext() && c.probe_all_pid);
        // header rules, egress, IP hosts, metadata, TLS-only mode
        assert_eq!(c.filters().len(), 5);
        let k = c.kafka_config();
        assert_eq!(k.topic, "akto.api.logs");
        assert_eq!(k.batch_size, 500);
        assert_eq!(k.batch_time, Duration::from_secs(2));
        assert_eq!(k.poll_interval, Duration::from_millis(250));
        assert_eq!(k.brokers, "10.0.0.5:9092");
    }

    fn sourced(source: CaptureSource) -> Exchange {
        let key = capture_core::model::ConnKey::new(
            "10.0.0.1:1".parse().unwrap(),
            "10.0.0.2:2".parse().unwrap(),
            capture_core::model::NetnsId::UNKNOWN,
        );
        let meta =
            capture_core::model::ConnMeta::new(key, source, capture_core::model::Timestamp(0));
        Exchange::new(
            capture_core::model::Protocol::Http11,
            &meta,
            capture_core::model::Roles::CONFIRMED,
        )
    }

    fn kept(c: &AgentConfig, source: CaptureSource) -> bool {
        // Only the capture-mode filters: the header rule would need headers.
        c.filters().iter().skip(1).all(|f| f.keep(&sourced(source)))
    }

    #[test]
    fn capture_modes_keep_what_they_capture() {
        let all = AgentConfig::from_env_map(&env(&[])).unwrap();
        assert!(kept(&all, CaptureSource::EbpfTls) && kept(&all, CaptureSource::EbpfSyscall));

        let plain = AgentConfig::from_env_map(&env(&[("CAPTURE_ALL", "false")])).unwrap();
        assert!(plain.capture_plaintext() && !plain.capture_tls());
        assert!(!kept(&plain, CaptureSource::EbpfTls) && kept(&plain, CaptureSource::EbpfSyscall));
        assert!(!kept(&plain, CaptureSource::EbpfGoTls));

        let tls =
            AgentConfig::from_env_map(&env(&[("CAPTURE_ALL", "false"), ("CAPTURE_SSL", "true")]))
                .unwrap();
        assert!(kept(&tls, CaptureSource::EbpfTls) && !kept(&tls, CaptureSource::EbpfSyscall));
        assert!(kept(&tls, CaptureSource::EbpfGoTls));
    }

    #[test]
    fn broker_is_required_and_the_old_name_works() {
        let e = AgentConfig::from_env_map(&HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("AKTO_KAFKA_BROKER_MAL is not set"), "{e}");
        let m: HashMap<String, String> =
            [("AKTO_KAFKA_BROKER_URL".to_owned(), "k:9092".to_owned())].into();
        assert_eq!(
            AgentConfig::from_env_map(&m).unwrap().kafka_brokers,
            "k:9092"
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = AgentConfig::from_env_map(&env(&[("AKTO_TRAFFIC_BATCH_SIZE", "")])).unwrap();
        assert_eq!(c.batch_size, 100);
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
            ("TRAFFIC_BUFFER_THRESHOLD", "x", "whole number"),
            ("AKTO_IGNORE_IP_TRAFFIC", "on?", "true or false"),
            ("AKTO_IGNORE_CLOUD_METADATA_CALLS", "2", "true or false"),
            ("TRAFFIC_INACTIVITY_THRESHOLD", "30s", "number of seconds"),
            ("TRAFFIC_INACTIVITY_THRESHOLD", "0", "positive"),
            ("UPROBE_POLL_INTERVAL", "soon", "number of minutes"),
            ("CAPTURE_ALL", "all", "true or false"),
            ("CAPTURE_SSL", "y", "true or false"),
            ("PROBE_ALL_PID", "-", "true or false"),
            ("KAFKA_POLL_INTERVAL", "NaN", "positive"),
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
