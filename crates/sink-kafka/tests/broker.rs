//! KafkaSink against a real Kafka-compatible broker (tansu on 127.0.0.1).
//!
//! Each test starts its own broker on a free port and kills it at the end;
//! without tansu (and no way to install it) the tests skip with a reason.
#![allow(clippy::indexing_slicing, clippy::print_stderr)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use capture_core::stage::Sink;
use capture_core::stats::{Counters, DropReason};
use common::{Broker, exchange, wait_for};
use serde_json::Value;
use sink_kafka::{AktoFormat, Compression, JsonFormat, KafkaConfig, KafkaSink};

fn config(broker: &Broker, topic: &str) -> KafkaConfig {
    KafkaConfig {
        batch_size: 100,
        batch_time: Duration::from_millis(20),
        message_timeout: Duration::from_secs(10),
        poll_interval: Duration::from_millis(20),
        ..KafkaConfig::new(broker.addr(), topic)
    }
}

#[test]
fn json_records_arrive_field_by_field() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("cleartap.json");
    let counters = Arc::new(Counters::default());
    let mut sink = KafkaSink::new(&config(&broker, "cleartap.json"), JsonFormat, counters).unwrap();
    let sent: Vec<_> = (0..20).map(exchange).collect();
    sink.write(&mut sent.clone()).unwrap();
    sink.flush().unwrap();
    assert_eq!(
        sink.delivery_stats().acked,
        20,
        "{:?}",
        sink.delivery_stats()
    );

    let got = broker
        .reader("cleartap.json")
        .read(20, Duration::from_secs(20));
    assert_eq!(got.len(), 20);
    for (ex, m) in sent.iter().zip(&got) {
        assert_eq!(m.key, ex.conn.client.ip().to_string().as_bytes());
        assert_eq!(m.payload, ex.to_json().as_bytes());
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(
            v["request"]["path"],
            ex.request.as_ref().unwrap().path().to_string()
        );
        assert_eq!(v["conn"]["client"], ex.conn.client.to_string());
        assert_eq!(v["response"]["status"], 201);
    }
}

#[test]
fn akto_messages_arrive_field_by_field() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("akto.api.logs");
    let counters = Arc::new(Counters::default());
    let mut format = AktoFormat::default();
    format.daemonset_id = "node-7".into();
    let mut sink =
        KafkaSink::new(&config(&broker, "akto.api.logs"), format, counters.clone()).unwrap();
    let mut sent: Vec<_> = (0..10).map(exchange).collect();
    // One exchange without a response: Akto sends complete pairs only.
    let mut lone = exchange(99);
    lone.response = None;
    sent.push(lone);
    sink.write(&mut sent.clone()).unwrap();
    sink.flush().unwrap();
    assert_eq!(counters.drops(DropReason::Filtered), 1);

    let got = broker
        .reader("akto.api.logs")
        .read(11, Duration::from_secs(10));
    assert_eq!(got.len(), 10, "the lone request is not sent");
    for (i, m) in got.iter().enumerate() {
        let i = i as u32;
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        let o = v.as_object().unwrap();
        assert!(o.values().all(Value::is_string), "{o:?}");
        let ip = format!("10.1.0.{}:{}", i % 200 + 1, 40000 + i % 20000);
        assert_eq!(m.key, ip.as_bytes());
        assert_eq!(v["ip"], ip);
        assert_eq!(v["destIp"], "10.1.0.250:8443");
        assert_eq!(v["path"], format!("/orders/{i}?q=1"));
        assert_eq!(v["method"], "POST");
        assert_eq!(v["type"], "HTTP/1.1");
        // The response's time (Akto: when the pair was produced).
        assert_eq!(v["time"], (1_763_800_000 + u64::from(i)).to_string());
        assert_eq!(v["statusCode"], "201");
        assert_eq!(v["status"], "201 Created");
        assert_eq!(v["requestPayload"], format!(r#"{{"n":{i}}}"#));
        assert_eq!(v["responsePayload"], format!(r#"{{"id":{i}}}"#));
        assert_eq!(v["direction"], "1");
        assert_eq!(v["process_id"], (1000 + i).to_string());
        assert_eq!(v["socket_id"], "7");
        assert_eq!(v["daemonset_id"], "node-7");
        assert_eq!(v["akto_account_id"], "1000000");
        assert_eq!(v["akto_vxlan_id"], "0");
        assert_eq!(v["is_pending"], "false");
        assert_eq!(v["source"], "MIRRORING");
        assert_eq!(v["enable_graph"], "true");
        let rh: Value = serde_json::from_str(v["requestHeaders"].as_str().unwrap()).unwrap();
        assert_eq!(rh["host"], "shop.example");
        assert_eq!(rh["X-Request"], i.to_string());
        let sh: Value = serde_json::from_str(v["responseHeaders"].as_str().unwrap()).unwrap();
        assert_eq!(sh["Content-Type"], "application/json");
        assert_eq!(
            m.headers,
            vec![(
                "collection_details".to_owned(),
                format!("shop.example|POST|/orders/{i}?q=1").into_bytes()
            )]
        );
    }
}

#[test]
fn compression_codecs_all_deliver() {
    let Some(broker) = Broker::start() else {
        return;
    };
    for c in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
    ] {
        let topic = format!("codec.{}", c.as_str());
        broker.create_topic(&topic);
        let cfg = KafkaConfig {
            compression: c,
            ..config(&broker, &topic)
        };
        let mut sink = KafkaSink::new(&cfg, JsonFormat, Arc::new(Counters::default())).unwrap();
        sink.write(&mut (0..50).map(exchange).collect()).unwrap();
        sink.flush().unwrap();
        let got = broker.reader(&topic).read(50, Duration::from_secs(10));
        assert_eq!(got.len(), 50, "{c:?}");
        assert_eq!(got[49].payload, exchange(49).to_json().as_bytes(), "{c:?}");
    }
}

/// With batch size N and a long linger, messages reach the broker when the
/// N-th is queued, or when the linger expires, not before.
#[test]
fn batches_close_on_size_or_on_time() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("batching");
    let linger = Duration::from_secs(3);
    let cfg = KafkaConfig {
        batch_size: 5,
        batch_time: linger,
        poll_interval: Duration::from_millis(20),
        ..KafkaConfig::new(broker.addr(), "batching")
    };
    let mut sink = KafkaSink::new(&cfg, JsonFormat, Arc::new(Counters::default())).unwrap();
    let reader = broker.reader("batching");
    let mut n = 0u32;
    let mut send = |sink: &mut KafkaSink, k: u32| {
        let mut b: Vec<_> = (n..n + k).map(exchange).collect();
        n += k;
        sink.write(&mut b).unwrap();
    };

    // Warm up: one full batch, so the connection and metadata are in place.
    send(&mut sink, 5);
    let ok = wait_for(Duration::from_secs(15), || reader.received() == 5);
    assert!(
        ok,
        "warm-up batch: read {} {:?}",
        reader.received(),
        sink.delivery_stats()
    );

    // By size: 4 messages wait, the 5th sends all 5 at once.
    send(&mut sink, 4);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(reader.received(), 5, "4 of 5 must still be lingering");
    let t = Instant::now();
    send(&mut sink, 1);
    assert!(
        wait_for(Duration::from_secs(2), || reader.received() == 10),
        "full batch sent"
    );
    let by_size = t.elapsed();
    eprintln!("full batch stored {by_size:?} after the 5th message");
    assert!(by_size < Duration::from_millis(1500), "{by_size:?}");

    // By time: 2 messages wait for the linger, then go.
    let t = Instant::now();
    send(&mut sink, 2);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        reader.received(),
        10,
        "2 messages must still be lingering at 1.5 s"
    );
    assert!(
        wait_for(Duration::from_secs(6), || reader.received() == 12),
        "linger expiry"
    );
    let by_time = t.elapsed();
    eprintln!("partial batch stored after {by_time:?} (linger {linger:?})");
    assert!(
        by_time >= linger - Duration::from_millis(200),
        "{by_time:?}"
    );
    assert!(by_time < linger + Duration::from_secs(2), "{by_time:?}");
    assert_eq!(sink.delivery_stats().acked, 12);
}

/// The broker dies: writes keep returning at once, queued messages time out
/// and are counted; the broker comes back on the same port and delivery
/// resumes without touching the sink.
#[test]
fn broker_outage_is_counted_then_survived() {
    let Some(mut broker) = Broker::start() else {
        return;
    };
    broker.create_topic("outage");
    let counters = Arc::new(Counters::default());
    let cfg = KafkaConfig {
        batch_size: 10,
        batch_time: Duration::from_millis(10),
        message_timeout: Duration::from_secs(3),
        poll_interval: Duration::from_millis(20),
        ..KafkaConfig::new(broker.addr(), "outage")
    };
    let mut sink = KafkaSink::new(&cfg, JsonFormat, counters.clone()).unwrap();
    sink.write(&mut (0..10).map(exchange).collect()).unwrap();
    assert!(wait_for(Duration::from_secs(15), || sink
        .delivery_stats()
        .acked
        == 10));

    broker.stop();
    let t = Instant::now();
    for i in 0..200 {
        sink.write(&mut vec![exchange(100 + i)]).unwrap();
    }
    let write_time = t.elapsed();
    eprintln!("200 writes with the broker down took {write_time:?}");
    assert!(
        write_time < Duration::from_millis(500),
        "writes must not wait: {write_time:?}"
    );
    assert!(
        wait_for(Duration::from_secs(15), || sink.delivery_stats().failed
            == 200),
        "{:?}",
        sink.delivery_stats()
    );
    assert_eq!(counters.drops(DropReason::SinkDeliveryFailed), 200);

    broker.restart();
    broker.create_topic("outage");
    let t = Instant::now();
    // Keep writing until the reconnected producer delivers; each write is instant.
    let mut i = 0;
    let ok = wait_for(Duration::from_secs(30), || {
        sink.write(&mut vec![exchange(1000 + i)]).unwrap();
        i += 1;
        sink.delivery_stats().acked > 10
    });
    assert!(
        ok,
        "no delivery after the broker came back: {:?}",
        sink.delivery_stats()
    );
    eprintln!("delivery resumed {:?} after the restart", t.elapsed());
    sink.flush().unwrap();
    let s = sink.delivery_stats();
    let reader = broker.reader("outage");
    wait_for(Duration::from_secs(10), || {
        reader.received() as u64 == s.acked - 10
    });
    let stored = reader.received() as u64;
    eprintln!("after restart: {s:?}, read back {stored}");
    assert_eq!(stored, s.acked - 10, "{s:?}");
    assert_eq!(s.in_flight, 0);
}

/// With no broker at all and a tiny queue, writes still return at once and
/// the overflow is counted as `sink_queue_full`.
#[test]
fn full_queue_drops_and_counts_without_blocking() {
    let counters = Arc::new(Counters::default());
    let cfg = KafkaConfig {
        queue_capacity: 10,
        message_timeout: Duration::from_secs(1),
        flush_timeout: Duration::from_millis(100),
        ..KafkaConfig::new(format!("127.0.0.1:{}", common::free_port()), "nowhere")
    };
    let mut sink = KafkaSink::new(&cfg, JsonFormat, counters.clone()).unwrap();
    let t = Instant::now();
    sink.write(&mut (0..50).map(exchange).collect()).unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(counters.drops(DropReason::SinkQueueFull), 40);
    assert_eq!(sink.delivery_stats().queue_full, 40);
    sink.flush().unwrap();
    drop(sink);
    // The 10 queued ones time out or are purged at drop: counted as failed.
    assert_eq!(counters.drops(DropReason::SinkDeliveryFailed), 10);
}
