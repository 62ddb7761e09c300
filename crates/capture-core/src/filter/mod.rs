//! Filters applied to exchanges after parsing, before the sink.
//!
//! Each filter is one rule in its own file. A pipeline keeps an exchange
//! only if every filter keeps it; each rejection is counted as
//! [`crate::stats::DropReason::Filtered`].
//!
//! The filters here reproduce the traffic rules of Akto's eBPF collector,
//! so that an agent built on cleartap can read the same environment:
//!
//! | filter | Akto variable |
//! |---|---|
//! | [`HeaderFilter`] | `AKTO_MODULE_DISCOVERY_CONFIG` |
//! | [`IpHostFilter`] | `AKTO_IGNORE_IP_TRAFFIC` |
//! | [`CloudMetadataFilter`] | `AKTO_IGNORE_CLOUD_METADATA_CALLS` |
//! | [`EgressFilter`] | `TRAFFIC_DISABLE_EGRESS` |
//!
//! # Example
//!
//! ```
//! use capture_core::filter::{ExchangeFilter, HeaderFilter};
//!
//! let filter = HeaderFilter::from_json(
//!     r#"[{"key":{"eq":"x-tenant","ifAbsent":"reject"},"value":{"regex":"^blue$"}}]"#,
//! )
//! .unwrap();
//! assert_eq!(filter.rules().len(), 1);
//! // `filter.keep(&exchange)` is false unless the request carries `x-tenant: blue`.
//! ```

mod cloud_metadata;
mod egress;
mod header;
mod ip_host;

pub use cloud_metadata::{CloudMetadataFilter, METADATA_V4, METADATA_V6};
pub use egress::EgressFilter;
pub use header::{HeaderFilter, HeaderRule, IfAbsent};
pub use ip_host::IpHostFilter;

use crate::model::{ByteStr, Exchange, Request};

/// Decides whether an exchange goes on to the sink. Every rejection is
/// counted as [`crate::stats::DropReason::Filtered`].
pub trait ExchangeFilter: Send + Sync {
    /// True to keep the exchange.
    fn keep(&self, exchange: &Exchange) -> bool;
}

impl<F: Fn(&Exchange) -> bool + Send + Sync> ExchangeFilter for F {
    fn keep(&self, exchange: &Exchange) -> bool {
        self(exchange)
    }
}

/// A filter configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The header filter configuration is not valid JSON.
    #[error(
        "header filter configuration is not valid JSON: {0} — expected an array like \
         [{{\"key\":{{\"eq\":\"x-name\",\"ifAbsent\":\"reject\"}},\"value\":{{\"regex\":\".*\"}}}}]"
    )]
    Json(#[source] serde_json::Error),
    /// The header filter configuration has the wrong shape.
    #[error("header filter configuration: {what} — fix the JSON value at {at}")]
    Shape {
        /// What is wrong.
        what: String,
        /// Where, as a path such as `[0].key.eq`.
        at: String,
    },
    /// A rule's regular expression does not compile.
    #[error("header filter rule {index} (header {header:?}): invalid regex {regex:?}: {source}")]
    Regex {
        /// The rule's position in the array.
        index: usize,
        /// The header the rule is about.
        header: String,
        /// The expression as given.
        regex: String,
        /// Why it does not compile.
        #[source]
        source: Box<regex::Error>,
    },
}

/// The request's host as Akto sees it: the `Host` header (or HTTP/2
/// `:authority`), else empty.
pub(crate) fn request_host(req: &Request) -> ByteStr<'_> {
    if let Some(a) = req.authority() {
        return a;
    }
    req.headers()
        .iter()
        .filter(|h| h.is("host") || h.name() == ":authority")
        .last()
        .map_or_else(ByteStr::default, |h| h.value())
}

/// The host part of a `Host` value: without a port, without IPv6 brackets.
pub(crate) fn host_without_port(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    // A bare IPv6 address has several colons and no port.
    if host.matches(':').count() > 1 {
        return host;
    }
    host.split(':').next().unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Exchanges for filter tests.

    use crate::model::{
        CaptureSource, ConnKey, ConnMeta, Exchange, NetnsId, Protocol, Request, Roles, Timestamp,
        TrafficDirection,
    };

    /// An HTTP/1.1 exchange from 10.0.0.1 to `server` with the given request headers.
    pub(crate) fn exchange(server: &str, headers: &[(&str, &str)]) -> Exchange {
        let meta = ConnMeta::new(
            ConnKey::new(
                "10.0.0.1:40000".parse().unwrap(),
                server.parse().unwrap(),
                NetnsId::UNKNOWN,
            ),
            CaptureSource::Pcap,
            Timestamp(1),
        );
        let mut ex = Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED);
        let mut req = Request::builder("GET", "/");
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        if let Some((_, host)) = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host") || *n == ":authority")
        {
            req = req.authority(*host);
        }
        ex.request = Some(req.build(Timestamp(2)));
        ex
    }

    /// The same with a traffic direction.
    pub(crate) fn directed(dir: Option<TrafficDirection>) -> Exchange {
        let mut ex = exchange("10.0.0.2:80", &[("Host", "api.example")]);
        ex.direction = dir;
        ex
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_port_handles_every_form() {
        assert_eq!(host_without_port("api.example:8080"), "api.example");
        assert_eq!(host_without_port("api.example"), "api.example");
        assert_eq!(host_without_port("10.1.2.3:80"), "10.1.2.3");
        assert_eq!(host_without_port("[::1]:443"), "::1");
        assert_eq!(host_without_port("[fd00:ec2::254]"), "fd00:ec2::254");
        assert_eq!(host_without_port("fe80::1"), "fe80::1");
        assert_eq!(host_without_port(" host "), "host");
        assert_eq!(host_without_port(""), "");
    }

    #[test]
    fn closures_are_filters() {
        let f = |ex: &Exchange| ex.request.is_some();
        assert!(f.keep(&testing::exchange("10.0.0.2:80", &[])));
    }
}
