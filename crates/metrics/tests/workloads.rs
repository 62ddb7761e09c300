//! Exchanges whose ends Kubernetes attribution named are labelled and
//! mapped by workload and namespace; the server's `/metrics`, `/map` and
//! `/map.json` show them.
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

use std::io::{Read, Write};
use std::sync::Arc;

use capture_core::model::*;
use capture_core::pipeline::ExchangeRecorder;
use capture_metrics::{Metrics, MetricsConfig};

fn pod(namespace: &str, name: &str, workload: &str) -> K8sEnd {
    K8sEnd::new(
        Arc::new(Pod {
            namespace: namespace.into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            workload: workload.into(),
            workload_kind: WorkloadKind::Deployment,
            labels: Vec::new(),
        }),
        None,
    )
}

fn exchange(
    client: &str,
    server: &str,
    status: u16,
    ends: (Option<K8sEnd>, Option<K8sEnd>),
) -> Exchange {
    let key = ConnKey::new(
        client.parse().unwrap(),
        server.parse().unwrap(),
        NetnsId::UNKNOWN,
    );
    let meta = ConnMeta::new(key, CaptureSource::EbpfSyscall, Timestamp(0));
    let mut ex = Exchange::new(Protocol::H2, &meta, Roles::CONFIRMED);
    ex.conn.k8s.client = ends.0;
    ex.conn.k8s.server = ends.1;
    ex.request = Some(Request::builder("POST", "/cart/checkout").build(Timestamp(1_000_000_000)));
    let mut resp = Response::builder(status).build_response(Timestamp(1_002_000_000));
    resp.end_ts = Timestamp(1_004_000_000);
    ex.response = Some(resp);
    ex
}

/// `GET path` on the server; the status line and the body.
fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[test]
fn workloads_label_the_metrics_and_name_the_map_nodes() {
    let metrics = Metrics::new(MetricsConfig::default());
    let mut rec = metrics.recorder();
    let web = || Some(pod("shop", "web-7d9f-abcde", "web"));
    let cart = || Some(pod("shop", "cart-5c4b-xyz12", "cart"));
    let mut batch = Vec::new();
    for i in 0..7 {
        batch.push(exchange(
            &format!("10.0.0.5:{}", 40000 + i),
            "10.0.0.9:8080",
            200,
            (web(), cart()),
        ));
    }
    batch.push(exchange(
        "10.0.0.5:41000",
        "10.0.0.9:8080",
        503,
        (web(), cart()),
    ));
    // Only the server is known: the client is its address.
    batch.push(exchange(
        "192.168.1.20:5000",
        "10.0.0.9:8080",
        200,
        (None, cart()),
    ));
    rec.record(&batch);

    let server = metrics.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let (status, text) = get(server.local_addr(), "/metrics");
    assert!(status.contains("200"), "{status}");
    let line = |filter: &str| {
        text.lines()
            .find(|l| l.starts_with("cleartap_http_requests_total{") && l.contains(filter))
            .unwrap_or_else(|| panic!("no series with {filter}:\n{text}"))
            .to_owned()
    };
    assert!(line(r#"source="web",source_namespace="shop",destination="cart",destination_namespace="shop",method="POST",status_class="2xx",protocol="h2""#).ends_with(" 7"));
    assert!(line(r#"status_class="5xx""#).ends_with(" 1"));
    assert!(
        line(r#"source="192.168.1.20",source_namespace="",destination="cart""#).ends_with(" 1")
    );
    // 4 ms from the request's first byte to the response's last.
    assert!(text.contains(r#"destination="cart",destination_namespace="shop",method="POST",status_class="2xx",protocol="h2",le="0.005"} 7"#), "{text}");

    let (_, json) = get(server.local_addr(), "/map.json");
    let map: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = map["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"shop/web")
            && names.contains(&"shop/cart")
            && names.contains(&"192.168.1.20"),
        "{names:?}"
    );
    let edge = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source_name"] == "shop/web")
        .unwrap();
    assert_eq!(
        (edge["calls"].as_u64(), edge["errors"].as_u64()),
        (Some(8), Some(1))
    );
    assert_eq!(edge["error_share"].as_f64(), Some(1.0 / 8.0));
    assert_eq!(edge["protocol"], "h2");

    // The live page fetches the map again every 10 s and carries the same data, with the graph library inside.
    let (status, page) = get(server.local_addr(), "/map");
    assert!(status.contains("200"));
    assert!(page.contains(r#"<body data-rendered="no" data-refresh="10">"#));
    assert!(page.contains("shop/web") && page.contains("cytoscape"));
    assert!(
        !page.contains("<script src="),
        "nothing is loaded from elsewhere"
    );
    let (status, _) = get(server.local_addr(), "/nothing");
    assert!(status.contains("404"));
}

/// Serves `page` at `/map` and `json` at `/map.json` until `n` requests were answered.
fn two_file_server(
    page: String,
    json: String,
    n: usize,
) -> (std::net::SocketAddr, std::thread::JoinHandle<usize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let mut json_served = 0;
        for stream in listener.incoming().take(n) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let len = stream.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..len]);
            let path = req.split_whitespace().nth(1).unwrap_or("/");
            let (status, body, kind) = match path {
                "/map" => ("200 OK", page.as_str(), "text/html"),
                "/map.json" => {
                    json_served += 1;
                    ("200 OK", json.as_str(), "application/json")
                }
                _ => ("404 Not Found", "", "text/plain"),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        json_served
    });
    (addr, t)
}

#[test]
fn the_live_map_page_redraws_what_arrives_after_it_opened() {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("chromium").is_file()));
    if !found {
        println!("SKIP: chromium is not installed (scripts/install-deps.sh installs it)");
        return;
    }
    // What the page shows when it opens: one call; what /map.json says a moment later: a new caller.
    let metrics = Metrics::new(MetricsConfig::default());
    let mut rec = metrics.recorder();
    let web = || Some(pod("shop", "web-1", "web"));
    let cart = || Some(pod("shop", "cart-1", "cart"));
    rec.record(&[exchange(
        "10.0.0.5:40000",
        "10.0.0.9:8080",
        200,
        (web(), cart()),
    )]);
    let page = metrics.service_map().to_html("live", Some(1));
    let pay = || Some(pod("shop", "payments-1", "payments"));
    rec.record(&[exchange(
        "10.0.0.7:40000",
        "10.0.0.9:8080",
        200,
        (pay(), cart()),
    )]);
    let json = serde_json::to_string(&metrics.service_map()).unwrap();
    let (addr, server) = two_file_server(page, json, 64);

    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://{addr}/map"))
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let body = dom.split("<body").nth(1).expect("a page");
    let tag = body.split('>').next().unwrap();
    assert!(tag.contains("data-rendered=\"yes\""), "{tag}");
    assert!(
        tag.contains("data-refreshed="),
        "the page fetched map.json: {tag}"
    );
    assert!(
        tag.contains("data-nodes=\"3\"") && tag.contains("data-edges=\"2\""),
        "redrawn with the new caller: {tag}"
    );
    assert!(dom.contains("shop/payments"));
    // Let the server thread end: it stops after its quota of requests.
    for _ in 0..64 {
        if std::net::TcpStream::connect(addr).is_err() {
            break;
        }
    }
    assert!(server.join().unwrap() >= 1);
}
