//! A collector's `--metrics ADDR` option in one value: metrics served over
//! HTTP and wired into the pipeline when an address was given, nothing at
//! all otherwise, so that a program holds no `Option`s of its own.

use std::fmt;
use std::net::SocketAddr;

use capture_core::pipeline::{PipelineBuilder, RunningPipeline};
use capture_core::stage::{ParserFactory, Reassembler};

use crate::{Error, Metrics, MetricsConfig, MetricsServer};

/// Metrics served at an address for as long as this value lives — or,
/// started without an address, none: [`instrument`](Self::instrument) and
/// [`watch`](Self::watch) then leave the pipeline as it is and cost nothing.
///
/// Its [`Display`](fmt::Display) names the URLs to scrape and to look at.
///
/// ```
/// use capture_core::pipeline::Pipeline;
/// use capture_core::sink::JsonLinesSink;
/// use capture_metrics::{MetricsConfig, MetricsEndpoint};
/// use proto_http::HttpProtocol;
/// # let source = capture_core::testkit::Replay::file(Vec::new());
///
/// // What `--metrics 127.0.0.1:0` gives; `None` turns it all off.
/// let addr: Option<std::net::SocketAddr> = Some("127.0.0.1:0".parse()?);
/// let metrics = MetricsEndpoint::start(addr, MetricsConfig::default())?;
/// if metrics.is_serving() {
///     eprintln!("{metrics}"); // metrics at http://127.0.0.1:…/metrics, service map at …/map
/// }
/// let running = metrics
///     .instrument(Pipeline::builder(HttpProtocol::default()))
///     .source(source)
///     .sink(JsonLinesSink::new(std::io::sink()))
///     .build()?
///     .spawn()?;
/// metrics.watch(&running);
/// let stats = running.join()?;
/// # assert_eq!(stats.exchanges, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MetricsEndpoint {
    served: Option<(Metrics, MetricsServer)>,
}

impl MetricsEndpoint {
    /// Serves metrics with `config` at `addr` (see [`Metrics::serve`]); with
    /// no address, an endpoint that serves and watches nothing.
    pub fn start(addr: Option<SocketAddr>, config: MetricsConfig) -> Result<Self, Error> {
        let served = match addr {
            Some(addr) => {
                let metrics = Metrics::new(config);
                let server = metrics.serve(addr)?;
                Some((metrics, server))
            }
            None => None,
        };
        Ok(Self { served })
    }

    /// True when metrics are served.
    pub fn is_serving(&self) -> bool {
        self.served.is_some()
    }

    /// The metrics served, if any.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.served.as_ref().map(|(m, _)| m)
    }

    /// The address served (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.served.as_ref().map(|(_, s)| s.local_addr())
    }

    /// The builder watched by the metrics ([`Metrics::instrument`]), or as
    /// it was when nothing is served.
    pub fn instrument<P: ParserFactory, R: Reassembler + 'static>(
        &self,
        builder: PipelineBuilder<P, R>,
    ) -> PipelineBuilder<P, R> {
        match self.metrics() {
            Some(m) => m.instrument(builder),
            None => builder,
        }
    }

    /// Reads the running pipeline's queue depths at each scrape
    /// ([`Metrics::watch_queues`]); nothing when nothing is served.
    pub fn watch(&self, running: &RunningPipeline) {
        if let Some(m) = self.metrics() {
            m.watch_queues(running.queue_depths());
        }
    }
}

impl fmt::Display for MetricsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.local_addr() {
            Some(a) => write!(
                f,
                "metrics at http://{a}/metrics, service map at http://{a}/map"
            ),
            None => f.write_str("metrics off"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_address_nothing_is_served() {
        let off = MetricsEndpoint::start(None, MetricsConfig::default()).unwrap();
        assert!(!off.is_serving());
        assert!(off.metrics().is_none() && off.local_addr().is_none());
        assert_eq!(off.to_string(), "metrics off");
    }

    #[test]
    fn with_an_address_it_serves_and_names_its_urls() {
        let on = MetricsEndpoint::start(
            Some("127.0.0.1:0".parse().unwrap()),
            MetricsConfig::default(),
        )
        .unwrap();
        let addr = on.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        assert_eq!(
            on.to_string(),
            format!("metrics at http://{addr}/metrics, service map at http://{addr}/map")
        );
        // Something listens there until the endpoint is dropped.
        assert!(std::net::TcpStream::connect(addr).is_ok());
        drop(on);
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
