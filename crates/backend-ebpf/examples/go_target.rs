//! Prints what cleartap finds in Go executables: release, where
//! `crypto/tls.(*Conn).Read`/`Write` are, how many RETs `Read` has, and
//! the socket layout (with `--layout-row`, only the `go_layouts.tsv` row
//! of the layout read from DWARF, as `scripts/go-layouts.sh` wants it).
//!
//! ```sh
//! cargo run -p backend-ebpf --example go_target -- /usr/bin/caddy
//! ```
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::ExitCode;

use backend_ebpf::go::{self, LayoutSource};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let row = args.first().is_some_and(|a| a == "--layout-row");
    if row {
        args.remove(0);
    }
    let mut status = ExitCode::SUCCESS;
    for path in &args {
        match go::examine(Path::new(path)) {
            Ok(Some(t)) if row => {
                if t.layout_source != LayoutSource::Dwarf {
                    eprintln!("{path}: no DWARF layout");
                    status = ExitCode::FAILURE;
                    continue;
                }
                println!("{}", t.layout.table_row(t.version));
            }
            Ok(Some(t)) => println!(
                "{path}: {} Read@{:#x} ({} RETs) Write@{:#x}, functions from {:?}, layout {:?} from {:?}",
                t.version,
                t.read,
                t.read_returns.len(),
                t.write,
                t.functions_source,
                t.layout,
                t.layout_source
            ),
            Ok(None) => println!("{path}: not a Go program using crypto/tls"),
            Err(e) => {
                println!("{path}: cannot be probed: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
