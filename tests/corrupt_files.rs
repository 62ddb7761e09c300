//! `replay` on capture files that are corrupt or cut short part-way: it
//! writes what it could read, names the file and the byte offset of the
//! damage, and exits 2 — as tshark and tcpflow report a cut-short file.

#![allow(clippy::indexing_slicing, clippy::print_stdout)]

use std::path::PathBuf;
use std::process::Command;

/// A real capture with complete exchanges: the one recorded here.
fn capture() -> Option<Vec<u8>> {
    std::fs::read(capture_core::testkit::bundled("loopback-http.pcap")).ok()
}

/// The `replay` example, which `cargo test` builds beside the test binaries.
fn replay_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("examples").join("replay");
    bin.exists().then_some(bin)
}

struct Run {
    code: Option<i32>,
    lines: usize,
    stderr: String,
}

fn replay(name: &str, bytes: &[u8]) -> Option<Run> {
    let (Some(bin), true) = (replay_binary(), !bytes.is_empty()) else {
        return None;
    };
    let dir = tempfile::tempdir().ok()?;
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).ok()?;
    let out = Command::new(bin).arg(&path).output().ok()?;
    Some(Run {
        code: out.status.code(),
        lines: String::from_utf8_lossy(&out.stdout).lines().count(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Skips with a printed reason when the capture or the example is missing.
fn setup() -> Option<(Vec<u8>, usize)> {
    let Some(clean) = capture() else {
        println!("skipped: testdata/loopback-http.pcap is missing");
        return None;
    };
    let Some(run) = replay("clean.pcap", &clean) else {
        println!("skipped: the replay example is not built (cargo test builds it)");
        return None;
    };
    assert_eq!(run.code, Some(0), "a sound file: {}", run.stderr);
    assert!(run.lines > 0);
    Some((clean, run.lines))
}

fn assert_reported(run: &Run, name: &str, offset: usize) {
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let expected = format!("{name}: ");
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("replay: ") && l.contains(&expected))
        .unwrap_or_else(|| panic!("no report naming {name}: {}", run.stderr));
    assert!(
        line.contains(&format!("at byte {offset}")),
        "offset {offset} not in {line:?}"
    );
}

#[test]
fn random_bytes_after_the_records_are_reported_after_writing_every_exchange() {
    let Some((clean, exchanges)) = setup() else {
        return;
    };
    let mut bytes = clean.clone();
    // A record header claiming a 3 GB packet, then noise.
    bytes.extend_from_slice(&[0x5a; 8]);
    bytes.extend_from_slice(&[0xff; 8]);
    bytes.extend((0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let run = replay("noise.pcap", &bytes).unwrap();
    assert_reported(&run, "noise.pcap", clean.len());
    assert_eq!(run.lines, exchanges, "what could be read was written");
}

#[test]
fn a_cut_last_record_is_reported() {
    let Some((clean, exchanges)) = setup() else {
        return;
    };
    let cut = &clean[..clean.len() - 10];
    let run = replay("cut.pcap", cut).unwrap();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("cut.pcap: last record cut off"),
        "{}",
        run.stderr
    );
    assert!(run.lines + 1 >= exchanges, "{} of {exchanges}", run.lines);
}

#[test]
fn random_bytes_after_a_valid_header_are_reported() {
    let Some((clean, _)) = setup() else {
        return;
    };
    let mut bytes = clean[..24].to_vec();
    bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(40_503) >> 7) as u8));
    let run = replay("header-then-noise.pcap", &bytes).unwrap();
    assert_reported(&run, "header-then-noise.pcap", 24);
    assert_eq!(run.lines, 0);
}

#[test]
fn a_pcapng_block_length_of_all_ones_is_reported() {
    let Some(_) = setup() else {
        return;
    };
    // A section header block, an interface (Ethernet), then a block whose
    // length field is 0xFFFFFFFF.
    let mut bytes = Vec::new();
    let block = |kind: u32, body: &[u8]| {
        let len = (12 + body.len()) as u32;
        let mut b = kind.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    };
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    bytes.extend(block(0x0A0D_0D0A, &shb));
    bytes.extend(block(1, &[1, 0, 0, 0, 0, 0, 4, 0]));
    let bad_at = bytes.len();
    bytes.extend_from_slice(&6u32.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 64]);
    let run = replay("huge-block.pcapng", &bytes).unwrap();
    assert_reported(&run, "huge-block.pcapng", bad_at);
}
