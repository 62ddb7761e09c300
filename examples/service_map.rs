//! Draws the service map of JSON-lines records (as `replay`, `tls_sniff`
//! and `mesh_sniff` print them) into one self-contained HTML page: nodes are
//! workloads (or client and server addresses), edges the calls between
//! them with rate, error share, p50/p99 latency and protocol.
//!
//! ```sh
//! cargo run --release --example replay -- trace.pcap > calls.jsonl
//! cargo run --release --example service_map -- calls.jsonl -o map.html
//! cargo run --release --example replay -- trace.pcap | cargo run --release --example service_map -- - -o map.html
//! ```
//!
//! The page needs no network: the graph library (cytoscape.js) is inside it.
//! A live collector serves the same page at `/map` with `--metrics ADDR`.

use std::io::BufRead;
use std::path::PathBuf;

use clap::Parser;
use cleartap::metrics::{ExchangeView, Metrics, MetricsConfig};

#[derive(Parser, Debug)]
#[command(about = "Draw the service map of JSON-lines exchange records as one HTML page")]
struct Args {
    /// JSON-lines files (`-` reads standard input).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The HTML page to write.
    #[arg(short, long, default_value = "map.html")]
    output: PathBuf,
    /// Also write the map's nodes and edges as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The page's title.
    #[arg(long, default_value = "cleartap service map")]
    title: String,
    /// Edges at most; the rest are folded into an edge between `other` nodes.
    #[arg(long, default_value_t = 1000)]
    max_edges: usize,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("service_map: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let metrics = Metrics::new(MetricsConfig {
        max_map_edges: args.max_edges,
        ..MetricsConfig::default()
    });
    let mut recorder = metrics.recorder();
    let (mut records, mut skipped) = (0u64, 0u64);
    for path in &args.files {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let file = std::fs::File::open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            Box::new(std::io::BufReader::new(file))
        };
        for line in reader.lines() {
            let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: Option<serde_json::Value> = serde_json::from_str(&line).ok();
            match value.as_ref().and_then(ExchangeView::of_record) {
                Some(view) => {
                    recorder.record_views([view]);
                    records += 1;
                }
                None => skipped += 1,
            }
        }
    }
    let map = metrics.service_map();
    std::fs::write(&args.output, map.to_html(&args.title, None))
        .map_err(|e| format!("cannot write {}: {e}", args.output.display()))?;
    if let Some(json) = &args.json {
        std::fs::write(json, serde_json::to_vec_pretty(&map)?)
            .map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    }
    eprintln!(
        "service_map: {records} records, {} nodes, {} edges → {}{}",
        map.nodes.len(),
        map.edges.len(),
        args.output.display(),
        if skipped > 0 {
            format!(" ({skipped} lines were not exchange records and were skipped)")
        } else {
            String::new()
        }
    );
    Ok(())
}
