//! # akto-agent
//!
//! What a cleartap collector needs to replace Akto's eBPF traffic collector
//! (`mirroring-api-logging`) without Akto noticing: its environment
//! variables read with Akto's meanings ([`AgentConfig`]), Kafka TLS and SASL
//! as Akto configures them with a startup check ([`kafka`]), heartbeats on
//! Akto's topic ([`heartbeat`]) and the filters Akto applies that
//! capture-core does not have ([`filters`]). The message format itself is
//! [`sink_kafka::AktoFormat`]; `examples/akto_agent.rs` puts it all together.
//!
//! Every variable Akto's collector reads, with Akto's meaning, cleartap's
//! and any difference, is listed once: in [`guide`] (`docs/akto-agent.md`,
//! the agent's user guide, which this crate's rustdoc includes).
//!
//! # Example
//!
//! ```
//! use akto_agent::{AgentConfig, Env};
//!
//! let env = Env::from_pairs([
//!     ("AKTO_KAFKA_BROKER_MAL", "10.0.0.5:9092"),
//!     ("USE_TLS", "true"),
//!     ("UPROBE_POLL_INTERVAL", "5"),
//! ]);
//! let config = AgentConfig::from(&env)?;
//! assert_eq!(config.kafka_config().properties["security.protocol"], "SSL");
//! assert_eq!(config.uprobe_poll_interval.as_secs(), 300);
//! # Ok::<(), akto_agent::Error>(())
//! ```

mod config;
mod env;
mod error;
pub mod filters;
pub mod heartbeat;
pub mod kafka;

pub use config::{AgentConfig, NOT_HONOURED};
pub use env::{Env, Unit};
pub use error::Error;

/// The Akto agent's guide (`docs/akto-agent.md`): how to run it, every
/// environment variable Akto's collector reads with Akto's meaning,
/// cleartap's and why they differ, and the messages it sends.
#[doc = include_str!("guide.md")]
pub mod guide {}

/// The Kafka topic Akto's data processor reads.
pub const AKTO_TOPIC: &str = "akto.api.logs";

/// The exit code that asks the supervisor for a restart after a memory
/// ceiling was crossed; Akto's collector uses 3 too.
pub const EXIT_MEMORY_CEILING: i32 = 3;

/// Resident memory of this process, from `/proc/self/statm`.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// A fresh random identifier for this run (`daemonset_id`, heartbeats'
/// `daemonId`), as Akto's collector makes one (a UUID) at every start.
pub fn new_daemon_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{nanos:032x}-{}", std::process::id())
        })
}

/// The settings as a few lines for the start-up log. `UPROBE_POLL_INTERVAL`
/// is shown in minutes and seconds: Akto's documentation gives minutes (as
/// here), its code reads seconds, so a user moving from Akto sees which.
pub fn startup_summary(c: &AgentConfig) -> Vec<String> {
    let poll = c.uprobe_poll_interval.as_secs_f64();
    vec![
        format!(
            "UPROBE_POLL_INTERVAL: {} min = {} s (minutes, as Akto's documentation says; \
             Akto's code would read the same number as seconds)",
            poll / 60.0,
            poll
        ),
        format!(
            "Kafka {} ({}), batches of {} or {:?}, heartbeats {}",
            c.kafka_brokers,
            c.kafka_security.protocol(),
            c.batch_size,
            c.batch_time,
            c.heartbeat_interval.map_or("off".to_owned(), |d| format!(
                "every {} s + 1-5 s",
                d.as_secs()
            ))
        ),
        format!(
            "capture: TLS {} ({}), plaintext {}, egress {}; memory ceiling {} MiB",
            c.capture_tls(),
            if c.probe_all_pid {
                "every process"
            } else {
                "pod processes only"
            },
            c.capture_plaintext(),
            !c.disable_egress,
            c.memory_limit() >> 20
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_startup_summary_gives_the_poll_interval_in_both_units() {
        let env = Env::from_pairs([
            ("AKTO_KAFKA_BROKER_MAL", "k:9092"),
            ("UPROBE_POLL_INTERVAL", "5"),
        ]);
        let lines = startup_summary(&AgentConfig::from(&env).unwrap());
        assert!(lines[0].contains("5 min = 300 s"), "{}", lines[0]);
        assert!(lines[2].contains("pod processes only"), "{}", lines[2]);
    }
}
