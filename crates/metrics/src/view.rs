//! The one place that reads exchanges: what metrics and the map need of a
//! record (method, status, protocol, times, endpoints, path), from an
//! [`Exchange`] in a pipeline or from a JSON-lines record in a file.
//!
//! The exchange model is being reworked; keeping every field access here
//! keeps that move to one file.

use std::net::{IpAddr, SocketAddr};

use capture_core::model::{Exchange, Flag, K8sEnd};

/// Who is at one end of a call, as labels and map nodes name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// A client by its IP address (its port changes per connection).
    Client(IpAddr),
    /// A server by its address and port.
    Server(SocketAddr),
    /// A Kubernetes workload in a namespace.
    Workload {
        /// The namespace.
        namespace: Box<str>,
        /// The workload (deployment, statefulset, … or the pod).
        workload: Box<str>,
    },
    /// Folded: beyond the cardinality cap.
    Other,
}

impl Peer {
    /// The `(name, namespace)` label values: a workload's name, or an address.
    pub fn labels(&self) -> (String, &str) {
        match self {
            Peer::Client(ip) => (ip.to_string(), ""),
            Peer::Server(addr) => (addr.to_string(), ""),
            Peer::Workload {
                namespace,
                workload,
            } => (workload.to_string(), namespace),
            Peer::Other => (String::from("other"), ""),
        }
    }

    /// The node's name on the map.
    pub fn node_name(&self) -> String {
        match self {
            Peer::Workload {
                namespace,
                workload,
            } => format!("{namespace}/{workload}"),
            other => other.labels().0,
        }
    }
}

/// What metrics read of one exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeView<'a> {
    /// The request's method; `None` when the request was not captured
    /// (or its method is not text).
    pub method: Option<&'a str>,
    /// The request target as sent; `None` without a request (or when the
    /// target is not text).
    pub path: Option<&'a str>,
    /// The response's status; `None` when the response was not captured.
    pub status: Option<u16>,
    /// `grpc-status`, for gRPC calls that have one.
    pub grpc_status: Option<u32>,
    /// `http/1.0`, `http/1.1`, `h2` or `grpc`.
    pub protocol: &'a str,
    /// Request's first byte, unix nanoseconds (the response's when there is no request).
    pub start_ns: u64,
    /// Response's last byte, when both request and response were captured.
    pub end_ns: Option<u64>,
    /// The calling side.
    pub source: Peer,
    /// The called side.
    pub destination: Peer,
}

impl<'a> ExchangeView<'a> {
    /// The view of an exchange from a pipeline.
    pub fn of(ex: &'a Exchange) -> Self {
        let req = ex.request.as_ref();
        let resp = ex.response.as_ref();
        let start_ns = ex.ts().as_nanos();
        let end_ns = match (req, resp) {
            (Some(_), Some(r)) if !ex.has_flag(Flag::NoRequest) => {
                Some(r.end_ts.max(r.ts).as_nanos())
            }
            _ => None,
        };
        Self {
            method: req.and_then(|r| r.method().as_str()),
            path: req.and_then(|r| r.path().as_str()),
            status: resp.map(|r| r.status),
            grpc_status: ex.grpc.as_ref().and_then(|g| g.status),
            protocol: ex.protocol.as_str(),
            start_ns,
            end_ns,
            source: workload(ex.conn.k8s.client.as_ref())
                .unwrap_or(Peer::Client(ex.conn.client.ip())),
            destination: workload(ex.conn.k8s.server.as_ref())
                .unwrap_or(Peer::Server(ex.conn.server)),
        }
    }

    /// The view of one JSON-lines record (as the JSON-lines sink and the
    /// examples write them); `None` when it is not such a record.
    pub fn of_record(v: &'a serde_json::Value) -> Option<Self> {
        let conn = v.get("conn")?;
        let client: SocketAddr = conn.get("client")?.as_str()?.parse().ok()?;
        let server: SocketAddr = conn.get("server")?.as_str()?.parse().ok()?;
        let req = v.get("request").filter(|r| !r.is_null());
        let resp = v.get("response").filter(|r| !r.is_null());
        let ts = |m: Option<&serde_json::Value>, k: &str| m?.get(k)?.as_u64();
        let start_ns = ts(req, "ts").or_else(|| ts(resp, "ts")).unwrap_or(0);
        let end_ns = match (req, resp) {
            (Some(_), Some(_)) => ts(resp, "end_ts")
                .or_else(|| ts(resp, "ts"))
                .map(|e| e.max(start_ns)),
            _ => None,
        };
        let (source, destination) = peers_of_record(conn, client, server);
        Some(Self {
            method: req.and_then(|r| r.get("method")?.as_str()),
            path: req.and_then(|r| r.get("path")?.as_str()),
            status: resp
                .and_then(|r| r.get("status")?.as_u64())
                .map(|s| u16::try_from(s).unwrap_or(u16::MAX)),
            grpc_status: v
                .get("grpc")
                .and_then(|g| g.get("status")?.as_u64())
                .and_then(|s| u32::try_from(s).ok()),
            protocol: v.get("protocol")?.as_str()?,
            start_ns,
            end_ns,
            source,
            destination,
        })
    }

    /// Request's first byte to response's last, in seconds.
    pub fn duration_secs(&self) -> Option<f64> {
        self.end_ns
            .map(|e| e.saturating_sub(self.start_ns) as f64 / 1e9)
    }

    /// A failed call: a 5xx status, or a gRPC status other than OK.
    pub fn is_error(&self) -> bool {
        self.status.is_some_and(|s| s >= 500) || self.grpc_status.is_some_and(|g| g != 0)
    }
}

/// The ends of a record: `conn.k8s` workloads where the record names
/// them, addresses otherwise.
fn peers_of_record(
    conn: &serde_json::Value,
    client: SocketAddr,
    server: SocketAddr,
) -> (Peer, Peer) {
    let workload = |side: &str| {
        let k = conn.get("k8s")?.get(side)?;
        let namespace = k.get("namespace")?.as_str()?;
        let workload = k.get("workload").or_else(|| k.get("pod"))?.as_str()?;
        Some(Peer::Workload {
            namespace: namespace.into(),
            workload: workload.into(),
        })
    };
    (
        workload("client").unwrap_or(Peer::Client(client.ip())),
        workload("server").unwrap_or(Peer::Server(server)),
    )
}

/// An end's workload, when attribution named its pod.
fn workload(end: Option<&K8sEnd>) -> Option<Peer> {
    let pod = &end?.pod;
    let workload = if pod.workload.is_empty() {
        &pod.name
    } else {
        &pod.workload
    };
    Some(Peer::Workload {
        namespace: pod.namespace.as_str().into(),
        workload: workload.as_str().into(),
    })
}
