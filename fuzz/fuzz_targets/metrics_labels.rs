//! Hostile methods, paths, statuses and JSON-lines records through the
//! metrics recorder: label values stay bounded (at most the series cap,
//! templates short and without the query), the exposition stays
//! well-formed, and a record that is not one is refused without a panic.
//!
//! Layout of the input: bytes 0-1 the status (big endian), then parts
//! split at `0x00`: method, path, a JSON-lines record.

#![no_main]

use capture_core::model::*;
use capture_core::pipeline::ExchangeRecorder;
use capture_metrics::labels::path_template;
use capture_metrics::{ExchangeView, Metrics, MetricsConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((status, rest)) = input.split_first_chunk::<2>() else {
        return;
    };
    let mut parts = rest.split(|&c| c == 0);
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (method, path, record) = (next(), next(), next());

    let template = path_template(&path);
    assert!(template.len() <= 64 + '…'.len_utf8(), "{template}");
    assert!(
        !template.contains('?') && template.starts_with('/'),
        "{template}"
    );

    let metrics = Metrics::new(MetricsConfig {
        max_series: 400,
        path_templates: true,
        max_path_templates: 4,
        max_map_edges: 4,
        ..MetricsConfig::default()
    });
    let meta = ConnMeta::new(
        ConnKey::new(
            "10.0.0.1:40000".parse().unwrap(),
            "[::1]:80".parse().unwrap(),
            NetnsId::UNKNOWN,
        ),
        CaptureSource::Pcap,
        Timestamp(0),
    );
    let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
    ex.request = Some(Request::builder(method.as_str(), path.as_str()).build(Timestamp(10)));
    let mut resp = Response::builder(u16::from_be_bytes(*status)).build_response(Timestamp(5));
    resp.end_ts = Timestamp(u64::MAX);
    ex.response = Some(resp);
    let mut recorder = metrics.recorder();
    recorder.record(&[ex.clone(), ex]);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&record)
        && let Some(view) = ExchangeView::of_record(&v)
    {
        recorder.record_views([view]);
    }
    let text = metrics.prometheus_text();
    let series = text
        .lines()
        .filter(|l| l.starts_with("cleartap_http_requests_total{"))
        .count();
    assert!(series <= 400);
    assert!(text.lines().all(|l| !l.is_empty()));
    let _ = metrics.service_map().to_html("fuzz", None);
});
