//! A tansu broker on a free loopback port, and a reader for what reached it.
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use capture_core::model::{
    CaptureSource, Comm, ConnKey, ConnMeta, Exchange, NetnsId, Protocol, Request, Response, Roles,
    Timestamp, TrafficDirection,
};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// The tansu binary, installed by `scripts/tansu.sh` if missing; None (with
/// the reason printed) when it cannot be had.
pub fn tansu() -> Option<PathBuf> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tansu.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("path")
        .stderr(Stdio::inherit())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            p.is_file().then_some(p)
        }
        Ok(o) => {
            eprintln!(
                "SKIP: scripts/tansu.sh path failed ({}): no tansu broker",
                o.status
            );
            None
        }
        Err(e) => {
            eprintln!("SKIP: cannot run scripts/tansu.sh: {e}");
            None
        }
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A running tansu broker, killed on drop.
pub struct Broker {
    bin: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Broker {
    /// Starts tansu on a free port; None if tansu is unavailable.
    pub fn start() -> Option<Self> {
        let bin = tansu()?;
        let mut b = Self {
            bin,
            port: free_port(),
            child: None,
        };
        b.restart();
        Some(b)
    }

    /// `host:port` for clients.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker process.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// (Re)starts the broker on the same port, with empty memory storage.
    pub fn restart(&mut self) {
        self.stop();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Creates a topic with one partition.
    pub fn create_topic(&self, name: &str) {
        let st = Command::new(&self.bin)
            .args(["topic", "create", "--partitions", "1", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .arg(name)
            .stdout(Stdio::null())
            .status()
            .expect("tansu topic create");
        assert!(st.success(), "tansu topic create {name}: {st}");
    }

    /// A consumer reading partition 0 of `topic` from the beginning.
    pub fn reader(&self, topic: &str) -> Reader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("group.id", "cleartap-test")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).expect("assign");
        Reader {
            consumer,
            topic: topic.to_owned(),
            seen: std::cell::Cell::new(0),
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A message as read back.
#[derive(Debug)]
pub struct Received {
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Reads one partition.
pub struct Reader {
    consumer: BaseConsumer,
    topic: String,
    seen: std::cell::Cell<usize>,
}

impl Reader {
    /// Reads until `n` messages arrived or `within` passed.
    pub fn read(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        while out.len() < n && Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => out.push(Received {
                    key: m.key().unwrap_or_default().to_vec(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers: m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                                .collect()
                        })
                        .unwrap_or_default(),
                }),
                Some(Err(e)) => eprintln!("consumer: {e}"),
                None => {}
            }
        }
        out
    }

    /// Messages read so far, after reading everything available now.
    pub fn received(&self) -> usize {
        while let Some(r) = self.consumer.poll(Duration::from_millis(50)) {
            if r.is_ok() {
                self.seen.set(self.seen.get() + 1);
            }
        }
        self.seen.get()
    }

    /// The partition's high watermark (tansu counts batches here, not messages).
    pub fn stored(&self) -> i64 {
        self.consumer
            .fetch_watermarks(&self.topic, 0, Duration::from_secs(5))
            .map(|(_, high)| high)
            .unwrap_or(-1)
    }
}

/// Exchange `i`: `POST /orders/{i}` from 10.1.0.{i % 200 + 1} to 10.1.0.250:8443.
pub fn exchange(i: u32) -> Exchange {
    let mut key = ConnKey::new(
        format!("10.1.0.{}:{}", i % 200 + 1, 40000 + i % 20000)
            .parse()
            .unwrap(),
        "10.1.0.250:8443".parse().unwrap(),
        NetnsId(4026531993),
    );
    key.pid = Some(1000 + i);
    key.fd = Some(7);
    let meta = ConnMeta::new(key, CaptureSource::EbpfTls, Timestamp(1))
        .with_comm(Some(Comm::new("nginx")))
        .with_traffic(Some(TrafficDirection::Inbound));
    let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
    let req = Request::builder("POST", format!("/orders/{i}?q=1").as_str())
        .authority("shop.example")
        .header("Host", "shop.example")
        .header("Content-Type", "application/json")
        .header("X-Request", i.to_string().as_str())
        .body(format!(r#"{{"n":{i}}}"#))
        .build(Timestamp::from_secs_nanos(1_763_800_000 + u64::from(i), 0));
    let resp = Response::builder(201)
        .reason("Created")
        .header("Content-Type", "application/json")
        .body(format!(r#"{{"id":{i}}}"#))
        .build_response(Timestamp::from_secs_nanos(
            1_763_800_000 + u64::from(i),
            5_000_000,
        ));
    ex.request = Some(req);
    ex.response = Some(resp);
    ex
}

/// Waits until `cond` holds or `within` passed; true if it held.
pub fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
