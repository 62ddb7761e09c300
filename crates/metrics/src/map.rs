//! The service map: workloads (or addresses) as nodes, calls as edges with
//! their rate, error share, latency quantiles and protocol.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::{Merged, protocol_label};
use crate::view::Peer;

/// One node: a workload, a client address or a server address.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MapNode {
    /// Stable id within this map (`n0`, `n1`, …).
    pub id: String,
    /// What the node is: `namespace/workload`, a client IP, or a server `ip:port`.
    pub name: String,
    /// `workload`, `client`, `server` or `other` (folded).
    pub kind: &'static str,
    /// Calls this node made.
    pub calls_out: u64,
    /// Calls this node received.
    pub calls_in: u64,
}

/// One edge: the calls from one node to another over one protocol.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MapEdge {
    /// Stable id within this map (`e0`, `e1`, …).
    pub id: String,
    /// The calling node's id.
    pub source: String,
    /// The called node's id.
    pub target: String,
    /// The calling node's name.
    pub source_name: String,
    /// The called node's name.
    pub target_name: String,
    /// `http/1.0`, `http/1.1`, `h2` or `grpc`.
    pub protocol: &'static str,
    /// Calls seen.
    pub calls: u64,
    /// Calls per second from the edge's first call to its last (over at least one second).
    pub rate: f64,
    /// Calls that failed (5xx, or a gRPC status other than OK).
    pub errors: u64,
    /// `errors / calls`.
    pub error_share: f64,
    /// Median duration in milliseconds (within a factor √2), for calls with a response.
    pub p50_ms: Option<f64>,
    /// 99th-percentile duration in milliseconds (within a factor √2).
    pub p99_ms: Option<f64>,
}

/// A service map at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServiceMap {
    /// Seconds from the first call's start to the last call's end (at least 1).
    pub span_secs: f64,
    /// The nodes.
    pub nodes: Vec<MapNode>,
    /// The edges.
    pub edges: Vec<MapEdge>,
    /// Calls folded into `other` nodes to keep the map bounded.
    pub folded_calls: u64,
}

impl ServiceMap {
    pub(crate) fn from_merged(m: &Merged) -> Self {
        let first = m.edges.values().map(|e| e.first_ns).min().unwrap_or(0);
        let last = m.edges.values().map(|e| e.last_ns).max().unwrap_or(0);
        let span_secs = (last.saturating_sub(first) as f64 / 1e9).max(1.0);
        let mut ids: BTreeMap<Peer, usize> = BTreeMap::new();
        let mut nodes: Vec<MapNode> = Vec::new();
        let mut node = |p: &Peer, nodes: &mut Vec<MapNode>| -> usize {
            *ids.entry(p.clone()).or_insert_with(|| {
                nodes.push(MapNode {
                    id: format!("n{}", nodes.len()),
                    name: p.node_name(),
                    kind: match p {
                        Peer::Workload { .. } => "workload",
                        Peer::Client(_) => "client",
                        Peer::Server(_) => "server",
                        Peer::Other => "other",
                    },
                    calls_out: 0,
                    calls_in: 0,
                });
                nodes.len() - 1
            })
        };
        let mut edges = Vec::new();
        let mut folded_calls = 0;
        for (k, e) in &m.edges {
            let s = node(&k.source, &mut nodes);
            let t = node(&k.destination, &mut nodes);
            if k.source == Peer::Other {
                folded_calls += e.calls;
            }
            let ms = |q: f64| e.quantile_secs(q).map(|s| (s * 1e6).round() / 1e3);
            let (Some(sn), Some(tn)) = (nodes.get(s).cloned(), nodes.get(t).cloned()) else {
                continue;
            };
            edges.push(MapEdge {
                id: format!("e{}", edges.len()),
                source: sn.id,
                target: tn.id,
                source_name: sn.name,
                target_name: tn.name,
                protocol: protocol_label(k.protocol),
                calls: e.calls,
                rate: e.calls as f64 / (e.last_ns.saturating_sub(e.first_ns) as f64 / 1e9).max(1.0),
                errors: e.errors,
                error_share: if e.calls == 0 {
                    0.0
                } else {
                    e.errors as f64 / e.calls as f64
                },
                p50_ms: ms(0.5),
                p99_ms: ms(0.99),
            });
            if let Some(n) = nodes.get_mut(s) {
                n.calls_out += e.calls;
            }
            if let Some(n) = nodes.get_mut(t) {
                n.calls_in += e.calls;
            }
        }
        Self {
            span_secs,
            nodes,
            edges,
            folded_calls,
        }
    }

    /// The map as one self-contained HTML page (the graph library is in it:
    /// it opens without a network). `refresh_secs` makes the page fetch
    /// `map.json` beside it that often and redraw when it changed, for a
    /// live collector's `/map`.
    pub fn to_html(&self, title: &str, refresh_secs: Option<u32>) -> String {
        crate::page::render(self, title, refresh_secs)
    }
}
