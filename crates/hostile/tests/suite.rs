//! Every hostile case through a whole pipeline with 1 and 2 workers: it
//! finishes before its deadline, nothing panics, the heap stays under the
//! bound its limits document, its loss shows in a counter, and no byte
//! counter claims more bytes than arrived.
//!
//! `HOSTILE_SCALE` sizes the floods (default: 1 in a release build, 0.1 in
//! a debug one, so `cargo test` stays within a few minutes on two cores;
//! `scripts/hostile.sh` runs them full size in release).
#![allow(clippy::print_stdout)]

use std::time::Duration;

use hostile::cases::{Case, Scale, all};
use hostile::heap;
use hostile::run::{Outcome, Setup, run};

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

fn scale() -> Scale {
    let default = if cfg!(debug_assertions) { 0.1 } else { 1.0 };
    Scale(
        std::env::var("HOSTILE_SCALE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default),
    )
}

/// Drop counters that count bytes: none may exceed the bytes captured.
const BYTE_COUNTERS: &[&str] = &["unparsed_bytes", "body_truncated"];

/// What is wrong with one run, if anything.
fn problems(case: &Case, setup: &Setup, workers: usize, o: &Outcome) -> Vec<String> {
    let mut v = Vec::new();
    let bound = (case.heap)(setup);
    if o.peak_heap > bound {
        v.push(format!(
            "heap {} KiB over its bound {} KiB",
            o.peak_heap >> 10,
            bound >> 10
        ));
    }
    if case.shows.is_empty() {
        if o.stats.total_drops() > 0 {
            v.push(format!(
                "a clean case lost something: {}",
                o.stats.drops_summary()
            ));
        }
    } else if case.shows.iter().all(|name| o.figure(name) == 0) {
        v.push(format!(
            "its loss shows in none of {:?} (drops: {}; flags: {:?})",
            case.shows,
            o.stats.drops_summary(),
            o.flags
        ));
    }
    for name in BYTE_COUNTERS {
        let n = o.figure(name);
        if n > o.stats.bytes {
            v.push(format!(
                "{name} = {n} but only {} bytes were captured",
                o.stats.bytes
            ));
        }
    }
    let _ = workers;
    v
}

#[test]
fn every_hostile_case_finishes_bounded_and_counted() {
    assert!(
        heap::is_counting(),
        "the counting allocator must be installed"
    );
    let setup = Setup::hostile();
    let scale = scale();
    let deadline = Duration::from_secs(
        std::env::var("HOSTILE_DEADLINE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300),
    );
    let only = std::env::var("HOSTILE_CASE").ok();
    let mut failures = Vec::new();
    let mut known = Vec::new();
    println!(
        "{:<34} {:>2} {:>9} {:>10} {:>10} {:>9}  drops / flags",
        "case", "w", "secs", "heap KiB", "bound KiB", "MB in"
    );
    for case in all() {
        if only.as_deref().is_some_and(|o| o != case.name) {
            continue;
        }
        for workers in [1, 2] {
            let line = match run(&case, &setup, workers, scale, deadline) {
                Err(e) => {
                    let msg = format!("{} ({workers} workers): {e}", case.name);
                    match case.known {
                        Some(why) => known.push(format!("{msg} — known: {why}")),
                        None => failures.push(msg),
                    }
                    continue;
                }
                Ok(o) => {
                    let p = problems(&case, &setup, workers, &o);
                    if !p.is_empty() {
                        let msg = format!("{} ({workers} workers): {}", case.name, p.join("; "));
                        match case.known {
                            Some(why) => known.push(format!("{msg} — known: {why}")),
                            None => failures.push(msg),
                        }
                    }
                    format!(
                        "{:<34} {:>2} {:>9.2} {:>10} {:>10} {:>9.1}  {} / {:?}",
                        case.name,
                        workers,
                        o.elapsed.as_secs_f64(),
                        o.peak_heap >> 10,
                        (case.heap)(&setup) >> 10,
                        o.stats.bytes as f64 / 1e6,
                        o.stats.drops_summary(),
                        o.flags
                    )
                }
            };
            println!("{line}");
        }
    }
    for k in &known {
        println!("known: {k}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
