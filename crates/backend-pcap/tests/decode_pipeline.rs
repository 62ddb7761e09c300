//! FileSource inside a real pipeline: every packet of a capture reaches the
//! pipeline's counters, non-TCP packets are counted as drops, and the
//! reassembled bytes of the one connection reach the parser. The captures
//! are other projects', read from `../shared/pcaps/` (skipped when absent).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use backend_pcap::{CaptureFile, FileSource};
use capture_core::DropReason;
use capture_core::model::{CloseReason, ConnMeta, Direction, Timestamp};
use capture_core::pipeline::Pipeline;
use capture_core::sink::MemorySink;
use capture_core::stage::{Output, Parser, ParserFactory};
use capture_core::testkit::SharedFiles;

/// Counts every byte the reassembler delivers.
#[derive(Clone, Default)]
struct Tally {
    bytes: Arc<AtomicU64>,
}

impl Parser for Tally {
    fn data(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, b: &[u8], _: &mut Output<'_>) {
        self.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
    }
    fn gap(&mut self, _: &ConnMeta, _: Direction, _: Timestamp, _: u64, _: &mut Output<'_>) {}
    fn close(&mut self, _: &ConnMeta, _: Timestamp, _: CloseReason, _: &mut Output<'_>) {}
}

impl ParserFactory for Tally {
    type Parser = Tally;
    fn parser(&self, _: &ConnMeta) -> Tally {
        self.clone()
    }
}

#[test]
fn every_packet_reaches_the_pipeline() {
    #[rustfmt::skip]
    let cases = [
        // Figures from decode_real.rs (tshark): packets, TCP packets, TCP payload bytes.
        ("1000-requests-one-dropped-response.pcap", 4102u64, 4102u64, 996_757u64, 1u64),
        ("grpc_Unary.pcapng", 4318, 4306, 52_447, 2),
    ];
    for (name, packets, tcp, tcp_payload, connections_at_least) in cases {
        let Some(path) = SharedFiles::pcap_or_skip("every_packet_reaches_the_pipeline", name)
        else {
            return;
        };
        let captured: u64 = CaptureFile::open(&path)
            .unwrap()
            .packets()
            .map(|p| p.unwrap().data.len() as u64)
            .sum();
        let tally = Tally::default();
        let delivered = tally.bytes.clone();
        let stats = Pipeline::builder(tally)
            .workers(1)
            .source(FileSource::open(&path).unwrap())
            .sink(MemorySink::new(16))
            .build()
            .unwrap()
            .run()
            .unwrap();
        assert_eq!(stats.packets, packets, "{name}");
        assert_eq!(stats.bytes, captured, "{name}");
        assert_eq!(stats.drops(DropReason::NotTcp), packets - tcp, "{name}");
        assert!(
            stats.connections >= connections_at_least,
            "{name}: {stats:?}"
        );
        // Retransmissions are delivered once, so at most the captured payload arrives.
        let delivered = delivered.load(Ordering::Relaxed);
        assert!(
            delivered <= tcp_payload && delivered * 10 >= tcp_payload * 9,
            "{name}: {delivered}"
        );
    }
}
