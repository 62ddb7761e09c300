//! The live interface source on the host's loopback, and its errors.
//!
//! Needs root (packet capture); skips otherwise.
#![cfg(feature = "live")]
#![allow(clippy::indexing_slicing)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use backend_pcap::Error;
use backend_pcap::cidr::CidrFilter;
use backend_pcap::live::{LiveConfig, LiveSource};
use backend_pcap::netns::discovery::current_netns;
use backend_pcap::netns::{PodConfig, PodSource};
use capture_core::DropReason;
use capture_core::model::Input;
use capture_core::stage::{Poll, Source};
use capture_core::stats::Counters;
use capture_core::testkit::RootScenario;

#[test]
fn loopback_segments_carry_the_plaintext_and_the_host_namespace() {
    let Some(_root) = RootScenario::require(&[]) else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = LiveConfig::default();
    config.capture.device = "lo".into();
    config.capture.filter = Some(format!("tcp port {port}"));
    let mut source = LiveSource::open(config).unwrap();

    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        n
    });
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .write_all(b"GET /live-lo HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = [0u8; 64];
    let _ = client.read(&mut reply).unwrap();
    assert!(server.join().unwrap() > 0);
    drop(client);

    let counters = Counters::default();
    let host = current_netns().unwrap();
    let (mut request, mut response, mut syn, mut other_ns) = (false, false, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(request && response) && Instant::now() < deadline {
        let mut sink = |input: Input<'_>| {
            if let Input::Segment(s) = input {
                request |= s.payload.starts_with(b"GET /live-lo HTTP/1.1\r\n");
                response |= s.payload.starts_with(b"HTTP/1.1 204");
                syn += usize::from(s.flags.syn());
                other_ns += usize::from(s.netns != host);
                assert!(s.src.port() == port || s.dst.port() == port);
            }
        };
        source.poll(&mut sink, &counters).unwrap();
    }
    assert!(
        request && response,
        "request {request}, response {response}"
    );
    // SYN and SYN-ACK, each once: `lo` shows a packet once.
    assert_eq!(syn, 2);
    assert_eq!(other_ns, 0);
    assert_eq!(counters.drops(DropReason::DuplicatePacket), 0);
    source.update_stats(&counters);
    assert_eq!(counters.drops(DropReason::KernelDropped), 0);

    // Nothing more arrives: the poll comes back promptly, idle.
    let t = Instant::now();
    let mut ignore = |_: Input<'_>| {};
    assert_eq!(source.poll(&mut ignore, &counters).unwrap(), Poll::Idle);
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_missing_interface_or_a_bad_filter_says_what_and_where() {
    let Some(_root) = RootScenario::require(&[]) else {
        return;
    };
    let mut config = LiveConfig::default();
    config.capture.device = "ctp-nosuch0".into();
    let e = LiveSource::open(config).unwrap_err();
    assert!(matches!(e, Error::Pcap { .. }));
    assert!(e.to_string().contains("ctp-nosuch0"), "{e}");

    let mut config = LiveConfig::default();
    config.capture.device = "lo".into();
    config.capture.filter = Some("tcp port banana".into());
    let e = LiveSource::open(config).unwrap_err();
    assert!(e.to_string().contains("cannot capture on lo"), "{e}");
}

#[test]
fn a_pod_process_in_the_host_namespace_is_captured_without_entering_it() {
    let Some(_root) = RootScenario::require(&[]) else {
        return;
    };
    // This test process stands for a proxy running with host networking.
    let exe = std::env::current_exe().unwrap();
    let name = exe.file_name().unwrap().to_string_lossy().into_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = PodConfig::default();
    config.discovery.exe_names = vec![name];
    config.capture.filter = Some(format!("tcp port {port}"));
    let mut source = PodSource::new(config).unwrap();
    let host = current_netns().unwrap();
    assert_eq!(source.host_netns(), host);
    source.rescan().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !source.capturing().contains(&host) {
        assert!(Instant::now() < deadline, "host namespace not captured");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(source.capturing().len(), 1);

    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 256];
        s.read(&mut buf).unwrap()
    });
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .write_all(b"GET /host-netns HTTP/1.1\r\n\r\n")
        .unwrap();
    server.join().unwrap();

    let counters = Counters::default();
    let mut found = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !found && Instant::now() < deadline {
        let mut sink = |input: Input<'_>| {
            if let Input::Segment(s) = input {
                assert_eq!(s.netns, host);
                found |= s.payload.starts_with(b"GET /host-netns ");
            }
        };
        source.poll(&mut sink, &counters).unwrap();
    }
    assert!(found);
}

#[test]
fn denied_subnets_are_dropped_and_counted() {
    let Some(_root) = RootScenario::require(&[]) else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = LiveConfig::default();
    config.capture.device = "lo".into();
    config.capture.filter = Some(format!("tcp port {port}"));
    config.cidr = CidrFilter::parse(&["127.0.0.0/8"], &["127.0.0.1"]).unwrap();
    let mut source = LiveSource::open(config).unwrap();
    let server = std::thread::spawn(move || listener.accept().map(|_| ()));
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    server.join().unwrap().unwrap();
    drop(stream);

    let counters = Counters::default();
    let mut segments = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    // SYN, SYN-ACK, ACK, then FIN/ACK exchanges: at least 3 packets.
    while counters.drops(DropReason::AddressFiltered) < 3 && Instant::now() < deadline {
        let mut sink =
            |input: Input<'_>| segments += usize::from(matches!(input, Input::Segment(_)));
        source.poll(&mut sink, &counters).unwrap();
    }
    assert_eq!(segments, 0);
    assert!(counters.drops(DropReason::AddressFiltered) >= 3);
    assert_eq!(
        counters.drops(DropReason::AddressFiltered),
        counters.get(capture_core::Counter::Packets)
    );
}
