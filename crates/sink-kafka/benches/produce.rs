//! Throughput of the Kafka sink: encoding alone, then producing to a local
//! tansu broker until every message is acknowledged.
//!
//! `cargo bench -p sink-kafka --bench produce [-- N]` (N messages, default 200000).
//! Skips the broker part with a reason when tansu cannot be found or installed.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::indexing_slicing)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use capture_core::stage::Sink;
use capture_core::stats::Counters;
use sink_kafka::{AktoFormat, JsonFormat, KafkaConfig, KafkaSink, Message, MessageFormat};

fn encode_rate(
    name: &str,
    format: &dyn MessageFormat,
    exchanges: &[capture_core::model::Exchange],
) {
    let mut m = Message::default();
    let mut bytes = 0usize;
    let t = Instant::now();
    for ex in exchanges {
        m.clear();
        let _ = format.encode(ex, &mut m);
        bytes += m.payload.len();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "encode {name:5}: {:>10.0} msg/s  {:>7.1} MB/s  ({} msgs, {:.0} B avg)",
        exchanges.len() as f64 / s,
        bytes as f64 / s / 1e6,
        exchanges.len(),
        bytes as f64 / exchanges.len() as f64
    );
}

fn main() {
    let n: u32 = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let exchanges: Vec<_> = (0..n).map(common::exchange).collect();
    encode_rate("json", &JsonFormat, &exchanges);
    encode_rate("akto", &AktoFormat::default(), &exchanges);

    let Some(broker) = common::Broker::start() else {
        println!("produce: skipped (no tansu broker)");
        return;
    };
    for (name, format) in [
        (
            "akto",
            Box::new(AktoFormat::default()) as Box<dyn MessageFormat>,
        ),
        ("json", Box::new(JsonFormat)),
    ] {
        let topic = format!("bench.{name}");
        broker.create_topic(&topic);
        let counters = Arc::new(Counters::default());
        let cfg = KafkaConfig {
            batch_size: 10_000,
            batch_time: Duration::from_millis(20),
            queue_capacity: 1_000_000,
            queue_bytes: 1 << 30,
            message_timeout: Duration::from_secs(120),
            flush_timeout: Duration::from_secs(120),
            ..KafkaConfig::new(broker.addr(), topic)
        };
        let mut sink = KafkaSink::new(&cfg, format, counters).unwrap();
        let t = Instant::now();
        for chunk in exchanges.chunks(256) {
            sink.write(&mut chunk.to_vec()).unwrap();
        }
        let queued = t.elapsed().as_secs_f64();
        sink.flush().unwrap();
        let total = t.elapsed().as_secs_f64();
        let s = sink.delivery_stats();
        println!(
            "produce {name} to tansu (lz4, batch 10000): {n} msgs queued in {queued:.2}s \
             ({:.0} msg/s), all acked in {total:.2}s: {:.0} msg/s end to end; {s:?}",
            f64::from(n) / queued,
            s.acked as f64 / total,
        );
    }
}
