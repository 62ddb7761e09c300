//! The service map of real HTTP/2, gRPC and HTTP/1 captures, opened in
//! headless Chromium: every (client, server) pair of the records is an
//! edge of the laid-out page with the records' call count.
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

mod metrics_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use metrics_support::*;

const CAPTURES: &[&str] = &[
    "grpc_Unary.pcapng",
    "grpc_Client_Streaming.pcapng",
    "http2-bugfixes__input.pcap",
    "http2-keywords2__input.pcap",
    "dns-over-http2-limit__input.pcap",
    "methods.pcap",
    "pipelined-requests.pcap",
    "vnd.ms-cab-compressed-multi-conn.pcap",
    "http-ipv6__input.pcap",
];

/// The value of attribute `name` in the tag starting `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let len = tag.get(start..)?.find('"')?;
    tag.get(start..start + len)
}

#[test]
fn the_map_of_real_captures_shows_every_pair_with_its_count() {
    let Some(files) = CAPTURES
        .iter()
        .map(|c| shared_pcap(c))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    if !have("chromium") {
        return;
    }
    let (Some(replay), Some(service_map)) = (built_example("replay"), built_example("service_map"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let records_path = dir.path().join("records.jsonl");
    let status = Command::new(&replay)
        .arg("--output")
        .arg(&records_path)
        .args(&files)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let records = read_records(&records_path);

    // What the records say: calls per (client IP, server address), and the protocols seen.
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut protocols = BTreeMap::<String, u64>::new();
    for r in &records {
        let client: SocketAddr = r["conn"]["client"].as_str().unwrap().parse().unwrap();
        let server = r["conn"]["server"].as_str().unwrap().to_owned();
        *want.entry((client.ip().to_string(), server)).or_default() += 1;
        *protocols
            .entry(r["protocol"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for p in ["h2", "grpc", "http/1.1"] {
        assert!(
            protocols.contains_key(p),
            "the captures have {p}: {protocols:?}"
        );
    }

    let page = dir.path().join("map.html");
    let status = Command::new(&service_map)
        .arg(&records_path)
        .arg("-o")
        .arg(&page)
        .status()
        .unwrap();
    assert!(status.success());
    let shot = artifacts_dir().join("service-map.png");
    let dom = chromium(&page, &shot);
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
        "screenshot {}",
        shot.display()
    );
    println!("screenshot: {}", shot.display());

    // The page ran: cytoscape laid out every node and edge.
    let body = dom.split("<body").nth(1).expect("body");
    let body_tag = body.split('>').next().unwrap();
    assert_eq!(attr(body_tag, "data-rendered"), Some("yes"), "{body_tag}");
    let servers: std::collections::BTreeSet<_> = want.keys().map(|(_, s)| s.clone()).collect();
    let clients: std::collections::BTreeSet<_> = want.keys().map(|(c, _)| c.clone()).collect();
    let nodes: usize = attr(body_tag, "data-nodes").unwrap().parse().unwrap();
    assert_eq!(nodes, servers.len() + clients.len());

    // Every node has a laid-out position, and they are not all in one place.
    let positions: Vec<(String, String)> = dom
        .split("<li data-node=")
        .skip(1)
        .map(|li| {
            let tag = li.split('>').next().unwrap();
            (
                attr(tag, "data-x").unwrap().to_owned(),
                attr(tag, "data-y").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(positions.len(), nodes);
    let distinct: std::collections::BTreeSet<_> = positions.iter().collect();
    assert_eq!(
        distinct.len(),
        nodes,
        "every node at its own place: {positions:?}"
    );

    // Every edge row: its pair, protocol and count, added up per pair.
    let mut got: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut edges = 0;
    for row in dom.split("<tr data-edge=").skip(1) {
        let tag = row.split('>').next().unwrap();
        let cells: Vec<&str> = row
            .split("<td>")
            .skip(1)
            .map(|c| c.split("</td>").next().unwrap())
            .collect();
        let (source, target) = (
            attr(tag, "data-source").unwrap(),
            attr(tag, "data-target").unwrap(),
        );
        assert_eq!((cells[0], cells[1]), (source, target));
        assert!(
            ["h2", "grpc", "http/1.1", "http/1.0"].contains(&cells[2]),
            "{cells:?}"
        );
        *got.entry((source.to_owned(), target.to_owned()))
            .or_default() += cells[3].parse::<u64>().unwrap();
        edges += 1;
    }
    assert_eq!(
        attr(body_tag, "data-edges")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        edges
    );
    assert_eq!(got, want);
    println!("map: {nodes} nodes, {edges} edges, pairs {got:?}");
}
