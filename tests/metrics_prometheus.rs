//! A real Prometheus scrapes `replay --metrics` while it replays a real
//! capture; what Prometheus's query API returns must equal the replay's
//! own summary and the records it wrote. `promtool check metrics` lints
//! the exposition.
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod metrics_support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use metrics_support::*;

#[test]
fn prometheus_reads_back_the_replay_summary_and_the_records() {
    let Some(pcap) = shared_pcap("1000-requests-one-dropped-response.pcap") else {
        return;
    };
    if !have("prometheus") || !have("promtool") || !have("curl") {
        return;
    }
    let Some(replay) = built_example("replay") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let records_path = dir.path().join("records.jsonl");
    let mut collector = Collector::start(
        Command::new(&replay)
            .args(["--metrics", "127.0.0.1:0", "--metrics-linger", "120"])
            .arg("--output")
            .arg(&records_path)
            .arg(&pcap)
            .stdout(Stdio::null()),
    );
    // The summary: "packets … exchanges N (…)" then "drops: reason=n …".
    let summary = collector.wait_line("exchanges ");
    let exchanges: f64 = summary
        .split("exchanges ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("exchanges in summary");
    let drops_line = collector.wait_line("drops: ");
    let drops: BTreeMap<String, f64> = drops_line
        .trim()
        .trim_start_matches("drops: ")
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
        .collect();
    assert_eq!(exchanges, 1000.0);
    assert!(
        !drops.is_empty(),
        "this capture loses one response: {drops_line}"
    );

    // promtool lints the exposition as a scraper gets it.
    let text = collector.metrics_text();
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(lint.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success() && lint.stdout.is_empty() && lint.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let prom = Prometheus::start(collector.addr);
    let got = prom.wait_value(
        "cleartap_exchanges_total",
        exchanges,
        Duration::from_secs(60),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, exchanges, "exchanges");

    // Every drop reason: the summary's count, zero for the others.
    let by_reason = prom.query("cleartap_drops_total");
    assert!(
        by_reason.len() > drops.len(),
        "every reason is exported: {by_reason:?}"
    );
    for (labels, value) in &by_reason {
        let reason = &labels["reason"];
        let want = drops.get(reason).copied().unwrap_or(0.0);
        assert_eq!(*value, want, "drops of {reason}");
    }

    // Requests per status class: as many as the records have.
    let records = read_records(&records_path);
    assert_eq!(records.len() as f64, exchanges);
    let want = status_classes(&records);
    let got: BTreeMap<String, u64> = prom
        .query("sum by (status_class) (cleartap_http_requests_total)")
        .into_iter()
        .map(|(l, v)| (l["status_class"].clone(), v as u64))
        .collect();
    assert_eq!(got, want);
    // Per status: this capture has one status per class, so each class's
    // count is that status's count in the records.
    let mut per_status: BTreeMap<String, u64> = BTreeMap::new();
    for r in &records {
        let status = r["response"]["status"]
            .as_u64()
            .map_or("none".to_owned(), |s| s.to_string());
        *per_status.entry(status).or_default() += 1;
    }
    assert_eq!(
        per_status.len(),
        got.len(),
        "one status per class: {per_status:?}"
    );
    for (status, n) in &per_status {
        let class = if status == "none" {
            "none".to_owned()
        } else {
            format!("{}xx", &status[..1])
        };
        assert_eq!(got[&class], *n, "status {status}");
    }
    println!(
        "Prometheus: {exchanges} exchanges, drops {drops:?}, status classes {got:?}, statuses {per_status:?}"
    );

    // The duration histogram counts the exchanges that have both halves.
    let complete = records
        .iter()
        .filter(|r| !r["request"].is_null() && !r["response"].is_null())
        .count() as f64;
    let count = prom.query("sum(cleartap_http_request_duration_seconds_count)");
    assert_eq!(count[0].1, complete);

    // The Grafana dashboard's queries: Prometheus accepts every one, and
    // every metric they name is exported (the eBPF and pod-source gauges
    // only by those sources).
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/grafana/cleartap-dashboard.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().unwrap().to_owned());
        }
    }
    assert!(exprs.len() > 10);
    for expr in &exprs {
        let concrete = expr
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*");
        let url = format!("http://127.0.0.1:{}/api/v1/query", prom.port);
        let body = curl(&url, &["--data-urlencode", &format!("query={concrete}")]).unwrap();
        assert!(
            body.contains("\"status\":\"success\""),
            "Prometheus rejects {concrete}: {body}"
        );
        for name in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if name.starts_with("cleartap_") || name.starts_with("process_") {
                // Queues exist with a sink thread (a second core) or several workers.
                let queue =
                    name.starts_with("cleartap_queue_") && !text.contains("cleartap_queue_");
                let exported = text.contains(&format!("\n{name}"))
                    || queue
                    || ["cleartap_tls_targets", "cleartap_pod_namespaces"].contains(&name);
                assert!(
                    exported,
                    "the dashboard queries {name}, which is not exported"
                );
            }
        }
    }
    println!("dashboard: {} queries accepted by Prometheus", exprs.len());
}
