//! The HTTP endpoint: `/metrics` (OpenMetrics or Prometheus text, as the
//! scraper asks), `/map` (the service map page, which fetches `/map.json`
//! again every few seconds) and `/map.json`, on a thread of its own with a
//! one-thread tokio runtime.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::{Error, Metrics};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A running metrics endpoint; dropping it stops the server.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The address it listens on (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn serve(metrics: Metrics, addr: SocketAddr) -> Result<MetricsServer, Error> {
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| Error::Bind { addr, source })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(Error::Start)?;
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("cleartap-metrics".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let m = metrics.clone();
                            tokio::spawn(async move {
                                let service = service_fn(move |req| {
                                    let m = m.clone();
                                    async move { Ok::<_, Infallible>(respond(&m, &req)) }
                                });
                                let _ = http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        })
        .map_err(Error::Start)?;
    Ok(MetricsServer {
        addr: local,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

fn respond(m: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            let wants_openmetrics = req
                .headers()
                .get_all(ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("application/openmetrics-text"));
            if wants_openmetrics {
                reply(StatusCode::OK, OPENMETRICS, m.openmetrics())
            } else {
                reply(StatusCode::OK, PROMETHEUS_TEXT, m.prometheus_text())
            }
        }
        "/map" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            m.service_map()
                .to_html("cleartap service map", Some(m.config().map_refresh_secs)),
        ),
        "/map.json" => reply(
            StatusCode::OK,
            "application/json",
            serde_json::to_string(&m.service_map()).unwrap_or_default(),
        ),
        "/" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<a href=\"/metrics\">/metrics</a> <a href=\"/map\">/map</a> <a href=\"/map.json\">/map.json</a>\n".into(),
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found: try /metrics or /map\n".into()),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
