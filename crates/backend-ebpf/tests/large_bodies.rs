//! 5 MB request and 5 MB response over TLS (python: one SSL_write_ex call
//! each way): reassembled byte-exactly; with a smaller per-call cap, the
//! missing ranges are reported as gaps at their exact positions.
#![cfg(feature = "bpf")]
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use backend_ebpf::EbpfConfig;
use capture_core::model::{CaptureSource, Direction};
use common::*;

const MB5: usize = 5 << 20;

fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

struct Run {
    cap: Capture,
    client_pid: u32,
    server_pid: u32,
    req: Vec<u8>,
    resp: Vec<u8>,
    capped_bytes: u64,
    /// RingBufferFull as the pipeline's counters report it.
    ring_full: u64,
    ring_full_kernel: u64,
    ring_full_bytes: u64,
}

fn exchange(name: &str, cfg: EbpfConfig) -> Option<Run> {
    exchange_polling(name, cfg, true)
}

/// With `poll_during` false the ring buffer is only read after the transfer.
fn exchange_polling(name: &str, cfg: EbpfConfig, poll_during: bool) -> Option<Run> {
    let _root = RootScenario::require_bpf(name, &["python3", "openssl"])?;
    let dir = tempfile::tempdir().unwrap();
    let req = pseudo_random(MB5, 0x1234_5678_9abc_def1);
    let resp = pseudo_random(MB5, 0x0fed_cba9_8765_4321);
    let (req_path, resp_path, got_path) = (
        dir.path().join("req.bin"),
        dir.path().join("resp.bin"),
        dir.path().join("got.bin"),
    );
    std::fs::write(&req_path, &req).unwrap();
    std::fs::write(&resp_path, &resp).unwrap();
    let (port, server) = listening_python_server(dir.path(), &[&got_path, &resp_path]);
    let mut src = open(cfg, name)?;
    let client_script = dir.path().join("client.py");
    std::fs::write(&client_script, PY_CLIENT).unwrap();
    let client = Kid(Command::new("python3")
        .arg(&client_script)
        .arg(port.to_string())
        .arg(&req_path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap());
    let (client_pid, server_pid) = (client.0.id(), server.0.id());
    let mut cap = Capture::default();
    if !poll_during {
        // A slow reader: one poll every 100 ms while the transfer runs.
        let mut client = client;
        let counters = capture_core::stats::Counters::default();
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while client.0.try_wait().ok().flatten().is_none() && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
            let c = poll_until(&mut src, &mut cap, Duration::from_millis(1), |_| true);
            counters.set_drops(
                capture_core::DropReason::RingBufferFull,
                c.drops(capture_core::DropReason::RingBufferFull),
            );
        }
        let c = poll_until(&mut src, &mut cap, Duration::from_secs(2), |_| false);
        let (ring_full, lost_bytes, _, _) = src.kernel_drops();
        return Some(Run {
            cap,
            client_pid,
            server_pid,
            req,
            resp,
            capped_bytes: 0,
            ring_full: c.drops(capture_core::DropReason::RingBufferFull),
            ring_full_kernel: ring_full,
            ring_full_bytes: lost_bytes,
        });
    }
    // Polling while the transfer runs keeps the ring buffer drained.
    let tls_bytes = |c: &Capture, pid: u32, dir: Direction| -> u64 {
        c.of_pid(pid)
            .filter(|g| g.source == CaptureSource::EbpfTls && g.dir == dir)
            .map(|g| g.offset + g.data.len() as u64)
            .max()
            .unwrap_or(0)
    };
    let counters = poll_until(&mut src, &mut cap, Duration::from_secs(30), |c| {
        [client_pid, server_pid].iter().all(|p| {
            tls_bytes(c, *p, Direction::ClientToServer) > MB5 as u64
                && tls_bytes(c, *p, Direction::ServerToClient) > MB5 as u64
        })
    });
    drop(client);
    assert_eq!(
        std::fs::read(&got_path).unwrap_or_default(),
        req,
        "the server did not get the whole request"
    );
    let (ring_full, _, capped_bytes, faults) = src.kernel_drops();
    println!(
        "[{name}] events {} ring-buffer-full {ring_full} capped bytes {capped_bytes} unreadable {faults}",
        counters.get(capture_core::Counter::Packets)
    );
    assert_eq!(ring_full, 0, "events lost in the ring buffer");
    Some(Run {
        cap,
        client_pid,
        server_pid,
        req,
        resp,
        capped_bytes,
        ring_full: 0,
        ring_full_kernel: ring_full,
        ring_full_bytes: 0,
    })
}

fn body_of(stream: &[u8]) -> &[u8] {
    let at = stream
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head")
        + 4;
    &stream[at..]
}

fn stream_of(cap: &Capture, pid: u32, dir: Direction) -> (Vec<u8>, Vec<(u64, u64)>) {
    let s = cap
        .stream_of(pid, dir, Some(CaptureSource::EbpfTls))
        .unwrap_or_else(|| panic!("no TLS stream for pid {pid} {dir:?}"));
    s.assemble()
}

#[test]
fn five_megabytes_each_way_byte_exact() {
    let _g = serial();
    let Some(r) = exchange("large_bodies_exact", EbpfConfig::default()) else {
        return;
    };
    for (who, pid) in [("client", r.client_pid), ("server", r.server_pid)] {
        let (req, gaps) = stream_of(&r.cap, pid, Direction::ClientToServer);
        assert!(gaps.is_empty(), "{who}: request gaps {gaps:?}");
        assert!(
            body_of(&req) == r.req.as_slice(),
            "{who}: request body differs ({} bytes seen)",
            body_of(&req).len()
        );
        let (resp, gaps) = stream_of(&r.cap, pid, Direction::ServerToClient);
        assert!(gaps.is_empty(), "{who}: response gaps {gaps:?}");
        assert!(
            body_of(&resp) == r.resp.as_slice(),
            "{who}: response body differs ({} bytes seen)",
            body_of(&resp).len()
        );
        println!("{who}: 5 MiB request and 5 MiB response byte-exact");
    }
    assert_eq!(r.capped_bytes, 0);
}

#[test]
fn small_cap_reports_the_missing_ranges() {
    let _g = serial();
    let cap_bytes = 1u64 << 20;
    let cfg = EbpfConfig {
        max_call_bytes: cap_bytes,
        ..Default::default()
    };
    let Some(r) = exchange("large_bodies_capped", cfg) else {
        return;
    };
    // The writer of each body made one 5 MiB SSL_write_ex call: 1 MiB kept, 4 MiB reported missing.
    for (who, pid, dir, body) in [
        ("client", r.client_pid, Direction::ClientToServer, &r.req),
        ("server", r.server_pid, Direction::ServerToClient, &r.resp),
    ] {
        let (bytes, gaps) = stream_of(&r.cap, pid, dir);
        assert_eq!(gaps.len(), 1, "{who}: {gaps:?}");
        let (gap_at, gap_len) = gaps[0];
        assert_eq!(
            gap_len,
            (MB5 as u64) - cap_bytes,
            "{who}: the gap is the uncaptured rest of the call"
        );
        let head_len = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(
            gap_at,
            head_len as u64 + cap_bytes,
            "{who}: the gap starts where the capture stopped"
        );
        // What was kept is exact, and nothing was joined across the gap.
        assert!(
            bytes[head_len..] == body[..cap_bytes as usize],
            "{who}: kept bytes differ"
        );
        println!("{who}: gap at {gap_at} of {gap_len} bytes reported");
    }
    // The reader's side read record by record, under the cap: complete.
    let (req, gaps) = stream_of(&r.cap, r.server_pid, Direction::ClientToServer);
    assert!(
        gaps.is_empty() && body_of(&req) == r.req.as_slice(),
        "server's reads are under the cap"
    );
    assert!(
        r.capped_bytes >= 2 * ((MB5 as u64) - cap_bytes),
        "capped bytes counted: {}",
        r.capped_bytes
    );
}

#[test]
fn full_ring_buffer_is_counted_and_shows_as_gaps() {
    let _g = serial();
    // 256 KiB of ring for 20 MiB of events, read every 100 ms.
    let cfg = EbpfConfig {
        ring_buffer_bytes: 256 << 10,
        ..Default::default()
    };
    let Some(r) = exchange_polling("ring_buffer_full", cfg, false) else {
        return;
    };
    println!(
        "ring buffer full: {} events ({} payload bytes) lost, reported {} in stats",
        r.ring_full_kernel, r.ring_full_bytes, r.ring_full
    );
    assert!(r.ring_full > 0, "RingBufferFull reported in the stats");
    assert_eq!(r.ring_full, r.ring_full_kernel);
    // Whatever was kept sits at its true position: every kept chunk equals
    // the request bytes at its offset, so nothing lost was silently joined.
    let chunks: Vec<&Got> = r
        .cap
        .of_pid(r.server_pid)
        .filter(|g| g.source == CaptureSource::EbpfTls && g.dir == Direction::ClientToServer)
        .collect();
    let head = chunks
        .iter()
        .find(|g| g.offset == 0)
        .expect("the first record is kept");
    let head_len = head.data.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut expected = head.data[..head_len].to_vec();
    expected.extend_from_slice(&r.req);
    let mut kept = 0;
    for g in &chunks {
        let at = g.offset as usize;
        assert!(
            expected.get(at..at + g.data.len()) == Some(g.data.as_slice()),
            "chunk at {at} does not match the request there"
        );
        kept += g.data.len();
    }
    assert!(
        kept < expected.len(),
        "some bytes were lost ({kept} of {} kept)",
        expected.len()
    );
    let (_, gaps) = stream_of(&r.cap, r.server_pid, Direction::ClientToServer);
    println!(
        "server request: {kept} of {} bytes kept, {} gaps reported between kept chunks",
        expected.len(),
        gaps.len()
    );
}
