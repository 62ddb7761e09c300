//! A label-cardinality attack through a real pipeline and the real HTTP
//! parser: 100,000 exchanges, each with its own method, path, host and
//! server address. The series stay under the cap, nothing is lost, and
//! what was folded is counted.
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

use std::process::{Command, Stdio};

use capture_core::model::TcpFlags;
use capture_core::pipeline::Pipeline;
use capture_core::stage::{InputSink, Poll, Source, SourceError};
use capture_core::stats::{Counter, Counters};
use capture_core::testkit::segment;
use capture_metrics::{Metrics, MetricsConfig};
use proto_http::HttpProtocol;

const EXCHANGES: u32 = 100_000;

/// One connection per exchange, to a server address of its own.
struct Attack {
    next: u32,
}

impl Source for Attack {
    fn poll(&mut self, out: &mut dyn InputSink, counters: &Counters) -> Result<Poll, SourceError> {
        if self.next == EXCHANGES {
            return Ok(Poll::Finished);
        }
        let end = (self.next + 1000).min(EXCHANGES);
        for i in self.next..end {
            let client = format!("10.1.{}.{}:40000", (i >> 8) & 255, i & 255).parse()?;
            let server =
                format!("10.2.{}.{}:{}", (i >> 8) & 255, i & 255, 1000 + (i >> 16)).parse()?;
            let method = if i % 3 == 0 {
                "GET".to_owned()
            } else {
                format!("M{i}")
            };
            let request = format!(
                "{method} /tenant/t{i}/items/{i}?session={i} HTTP/1.1\r\nHost: host{i}.example\r\n\r\n"
            );
            let response = format!(
                "HTTP/1.1 {} X\r\nContent-Length: 0\r\n\r\n",
                200 + (i % 4) * 100
            );
            let ts = u64::from(i) * 1_000_000;
            let mut seg = |src, dst, seq, flags, payload: &[u8]| {
                out.input(segment(ts, src, dst, seq, flags, payload));
            };
            let (c, s) = (101 + request.len() as u32, 901 + response.len() as u32);
            seg(client, server, 100, TcpFlags::SYN, b"");
            seg(server, client, 900, TcpFlags::SYN | TcpFlags::ACK, b"");
            seg(client, server, 101, TcpFlags::ACK, request.as_bytes());
            seg(server, client, 901, TcpFlags::ACK, response.as_bytes());
            seg(client, server, c, TcpFlags::FIN | TcpFlags::ACK, b"");
            seg(server, client, s, TcpFlags::FIN | TcpFlags::ACK, b"");
            counters.add(Counter::Packets, 6);
        }
        self.next = end;
        Ok(Poll::Ready)
    }

    fn is_live(&self) -> bool {
        false
    }
}

/// The values of one metric's samples in a Prometheus text exposition.
fn samples<'t>(text: &'t str, prefix: &'t str) -> impl Iterator<Item = u64> + 't {
    text.lines()
        .filter(move |l| l.starts_with(prefix))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
}

#[test]
fn an_attack_of_distinct_labels_stays_under_the_cap_and_the_folding_is_counted() {
    let config = MetricsConfig {
        max_series: 1000,
        path_templates: true,
        max_path_templates: 50,
        max_map_edges: 500,
        ..MetricsConfig::default()
    };
    let metrics = Metrics::new(config.clone());
    let builder = Pipeline::builder(HttpProtocol::default())
        .workers(2)
        .source(Attack { next: 0 });
    let stats = metrics
        .instrument(builder)
        .sink(capture_core::sink::MemorySink::new(0))
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(stats.exchanges, u64::from(EXCHANGES));

    let text = metrics.prometheus_text();
    let series = samples(&text, "cleartap_http_requests_total{").count();
    let histograms = samples(&text, "cleartap_http_request_duration_seconds_count{").count();
    println!(
        "attack: {series} request label sets, {histograms} histograms, {} bytes of exposition",
        text.len()
    );
    assert!(series <= config.max_series, "{series} label sets");
    assert!(histograms <= config.max_series);
    assert!(
        text.len() < 4 << 20,
        "the exposition stays small: {} bytes",
        text.len()
    );

    // Nothing is lost: every exchange is in some series.
    let total: u64 = samples(&text, "cleartap_http_requests_total{").sum();
    assert_eq!(total, u64::from(EXCHANGES));

    // What was folded, by label: two in three methods are made up; every
    // label set beyond the cap; paths beyond 50 templates; edges beyond 500.
    let folded = |label: &str| {
        samples(
            &text,
            &format!("cleartap_http_label_folded_total{{label=\"{label}\"}}"),
        )
        .next()
        .unwrap()
    };
    assert_eq!(
        folded("method"),
        u64::from(EXCHANGES) - u64::from(EXCHANGES).div_ceil(3)
    );
    let other_peers: u64 = samples(&text, "cleartap_http_requests_total{source=\"other\"").sum();
    assert_eq!(
        folded("series"),
        other_peers,
        "every folded exchange is in an `other` series"
    );
    assert!(folded("series") > u64::from(EXCHANGES) / 2);
    assert!(folded("path") > 0);
    assert_eq!(folded("edge"), u64::from(EXCHANGES) - 500);
    assert!(!text.contains("session="), "no raw path is a label");
    assert!(!text.contains("M12345"), "no made-up method is a label");
    assert!(!text.contains("host12345"), "no host is a label");

    let map = metrics.service_map();
    assert!(
        map.edges.len() <= config.max_map_edges + 5,
        "{} edges",
        map.edges.len()
    );
    assert_eq!(
        map.edges.iter().map(|e| e.calls).sum::<u64>(),
        u64::from(EXCHANGES)
    );
    assert_eq!(map.folded_calls, folded("edge"));

    // promtool lints the exposition, when installed.
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut lint) => {
            std::io::Write::write_all(lint.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
            let out = lint.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(_) => println!(
            "SKIP promtool lint: promtool is not installed (scripts/install-deps.sh installs it)"
        ),
    }
}
