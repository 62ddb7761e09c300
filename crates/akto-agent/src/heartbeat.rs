//! Heartbeats on `akto.daemonset.producer.heartbeats`, as Akto's collector
//! sends them: the first right after start, then one every
//! `KAFKA_HEARTBEAT_INTERVAL_SECONDS` (60 s) plus 1 to 5 s of jitter. Akto's
//! dashboard lists collectors by them.
//!
//! A heartbeat is a flat JSON object of strings: `type` (`heartbeat`),
//! `daemonId`, `daemonPodName`, `timestamp` (unix seconds), `moduleType`
//! (`TRAFFIC_COLLECTOR`), `imageVersion` and `additionalData`, a JSON string
//! of `{"env": {...}, "profiling": {...}}`. Unlike Akto's collector, which
//! sends its whole environment, values of variables whose names suggest a
//! secret (`PASSWORD`, `SECRET`, `TOKEN`, `KEY`) are sent as `***`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};
use sink_kafka::KafkaConfig;

use crate::Error;
use crate::env::Env;

/// The topic Akto's dashboard reads heartbeats from.
pub const HEARTBEAT_TOPIC: &str = "akto.daemonset.producer.heartbeats";

/// Who sends the heartbeats.
#[derive(Clone, Debug)]
pub struct Identity {
    /// `daemonId`; also the messages' `daemonset_id`.
    pub daemon_id: String,
    /// `daemonPodName`.
    pub daemon_pod_name: String,
    /// `imageVersion`.
    pub image_version: String,
}

/// One heartbeat message at `now` (unix seconds).
pub fn heartbeat_message(id: &Identity, env: &Env, now: u64) -> String {
    let env_map: BTreeMap<&str, &str> = env
        .all()
        .map(|(k, v)| (k, if is_secret(k) { "***" } else { v }))
        .collect();
    let additional = json!({ "env": env_map, "profiling": profiling() });
    let mut m = BTreeMap::new();
    m.insert("type", "heartbeat".to_owned());
    m.insert("daemonId", id.daemon_id.clone());
    m.insert("daemonPodName", id.daemon_pod_name.clone());
    m.insert("timestamp", now.to_string());
    m.insert("moduleType", "TRAFFIC_COLLECTOR".to_owned());
    m.insert("imageVersion", id.image_version.clone());
    m.insert("additionalData", additional.to_string());
    serde_json::to_string(&m).unwrap_or_default()
}

fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "KEY"]
        .iter()
        .any(|s| n.contains(s))
}

/// This process's memory and CPU, under the names Akto's heartbeat uses
/// where the meaning carries over (resident memory for `memory_used_mb`).
fn profiling() -> Value {
    let resident_mb = crate::resident_bytes().unwrap_or(0) as f64 / (1024.0 * 1024.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_seconds = cpu_seconds();
    json!({
        "memory_used_mb": resident_mb,
        "cpu_seconds_total": cpu_seconds,
        "cpu_cores_total": cores,
    })
}

fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    if !ok {
        return 0.0;
    }
    // SAFETY: getrusage succeeded, so the struct is initialised.
    let u = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// The running heartbeat thread; stops when dropped.
pub struct Heartbeats {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeats {
    /// Starts sending heartbeats to the brokers of `config` (its TLS and
    /// SASL properties included) every `interval` plus 1–5 s of jitter.
    pub fn spawn(
        config: &KafkaConfig,
        id: Identity,
        env: Env,
        interval: Duration,
    ) -> Result<Self, Error> {
        let producer: BaseProducer = config
            .client_config()
            .set("linger.ms", "0")
            .create()
            .map_err(|source| sink_kafka::Error::Producer {
                brokers: config.brokers.clone(),
                source,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("akto-heartbeat".into())
                .spawn(move || {
                    let mut next = Instant::now();
                    let mut sent: u64 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        if Instant::now() >= next {
                            let now = SystemTime::now()
                                .duration_since(UNIX_EPOCH)
                                .map_or(0, |d| d.as_secs());
                            let msg = heartbeat_message(&id, &env, now);
                            let record: BaseRecord<'_, (), String> =
                                BaseRecord::to(HEARTBEAT_TOPIC).payload(&msg);
                            if let Err((e, _)) = producer.send(record) {
                                log::warn!("heartbeat not queued: {e}");
                            }
                            sent += 1;
                            next = Instant::now() + interval + jitter(sent);
                        }
                        producer.poll(Duration::from_millis(100));
                    }
                    let _ = producer.flush(Duration::from_secs(2));
                })
                .map_err(|e| {
                    sink_kafka::Error::Config(format!("cannot start the heartbeat thread: {e}"))
                })?
        };
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

/// 1 to 5 whole seconds, as Akto's collector adds to each interval.
fn jitter(seed: u64) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    Duration::from_secs(1 + (u64::from(nanos) ^ seed.wrapping_mul(0x9e37_79b9)) % 5)
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Heartbeats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartbeats").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_fields_are_strings_and_secrets_are_hidden() {
        let id = Identity {
            daemon_id: "d-1".into(),
            daemon_pod_name: "akto-tc:pod:node".into(),
            image_version: "v".into(),
        };
        let env = Env::from_pairs([("KAFKA_PASSWORD", "hunter2"), ("PROBE_ALL_PID", "true")]);
        let m: Value = serde_json::from_str(&heartbeat_message(&id, &env, 1_700_000_000)).unwrap();
        let o = m.as_object().unwrap();
        assert!(o.values().all(Value::is_string));
        assert_eq!(m["type"], "heartbeat");
        assert_eq!(m["daemonId"], "d-1");
        assert_eq!(m["moduleType"], "TRAFFIC_COLLECTOR");
        assert_eq!(m["timestamp"], "1700000000");
        let extra: Value = serde_json::from_str(m["additionalData"].as_str().unwrap()).unwrap();
        assert_eq!(extra["env"]["KAFKA_PASSWORD"], "***");
        assert_eq!(extra["env"]["PROBE_ALL_PID"], "true");
        assert!(extra["profiling"]["memory_used_mb"].as_f64().unwrap() > 0.0);
    }

    #[test]
    fn jitter_is_one_to_five_seconds() {
        for i in 0..50 {
            let j = jitter(i);
            assert!(
                j >= Duration::from_secs(1) && j <= Duration::from_secs(5),
                "{j:?}"
            );
        }
    }
}
