//! `tls_sniff --metrics` on a live TLS server under curl load: the request
//! counter and the duration histogram move by exactly the requests made.
//! Needs root (eBPF); skips with the reason otherwise.
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod metrics_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use metrics_support::*;

const SERVER: &str = r#"
import http.server, ssl, sys
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"hello\n"
        self.send_response(404 if self.path.startswith("/missing") else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.HTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

/// The sum of every sample of `metric` whose line also contains `filter`.
fn sum(text: &str, metric: &str, filter: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(metric) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn curl_tls(port: u16, path: &str) {
    let ok = Command::new("curl")
        .args(["-sk", "--max-time", "10", "-o", "/dev/null"])
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "curl https://127.0.0.1:{port}{path}");
}

#[test]
fn live_tls_requests_move_the_counters_by_exactly_the_requests_made() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIP: tls_sniff needs root for eBPF (CI runs as root)");
        return;
    }
    if !have("curl") || !have("python3") || !have("openssl") {
        return;
    }
    let Some(tls_sniff) = built_example("tls_sniff") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = capture_core::testkit::self_signed(dir.path(), "localhost");
    let script = dir.path().join("server.py");
    std::fs::write(&script, SERVER).unwrap();
    let port = free_port();
    let server = Kid(Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .arg(&cert)
        .arg(&key)
        .spawn()
        .unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the TLS server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let collector = Collector::start(
        Command::new(&tls_sniff)
            .args(["--metrics", "127.0.0.1:0", "--ssl-only", "--rescan", "1"])
            .arg("--pid")
            .arg(server.0.id().to_string())
            .stdout(Stdio::null()),
    );
    let requests = |text: &str| sum(text, "cleartap_http_requests_total{", "");
    let durations = |text: &str| sum(text, "cleartap_http_request_duration_seconds_count{", "");

    // One request first: the probes are in place once it is counted.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        curl_tls(port, "/warm-up");
        std::thread::sleep(Duration::from_millis(500));
        if requests(&collector.metrics_text()) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no TLS request seen by tls_sniff"
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    let before = collector.metrics_text();
    let (r0, d0) = (requests(&before), durations(&before));
    let (ok0, missing0) = (
        sum(
            &before,
            "cleartap_http_requests_total{",
            "status_class=\"2xx\"",
        ),
        sum(
            &before,
            "cleartap_http_requests_total{",
            "status_class=\"4xx\"",
        ),
    );

    const OK: u64 = 30;
    const MISSING: u64 = 10;
    for i in 0..OK {
        curl_tls(port, &format!("/items/{i}"));
    }
    for i in 0..MISSING {
        curl_tls(port, &format!("/missing/{i}"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut after = collector.metrics_text();
    while requests(&after) < r0 + OK + MISSING && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        after = collector.metrics_text();
    }
    // Nothing more arrives later: the counts are exact, not at-least.
    std::thread::sleep(Duration::from_secs(2));
    after = collector.metrics_text();
    assert_eq!(requests(&after) - r0, OK + MISSING, "requests counted");
    assert_eq!(durations(&after) - d0, OK + MISSING, "durations observed");
    assert_eq!(
        sum(
            &after,
            "cleartap_http_requests_total{",
            "status_class=\"2xx\""
        ) - ok0,
        OK
    );
    assert_eq!(
        sum(
            &after,
            "cleartap_http_requests_total{",
            "status_class=\"4xx\""
        ) - missing0,
        MISSING
    );
    assert!(
        sum(&after, "cleartap_tls_targets", "") >= 1,
        "a TLS target is reported"
    );
    assert!(sum(&after, "process_resident_memory_bytes", "") > 0);
    println!(
        "live: {} requests and {} durations more after {} curl requests",
        requests(&after) - r0,
        durations(&after) - d0,
        OK + MISSING
    );
    drop(collector);
    drop(server);
}
