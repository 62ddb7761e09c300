//! Drop requests addressed by IP, as Akto's `AKTO_IGNORE_IP_TRAFFIC`.
//!
//! Traffic whose `Host` (or HTTP/2 `:authority`) is empty or an IP
//! address, with or without a port, usually comes from health checks,
//! scanners and direct pod-to-pod calls rather than from a named API; Akto
//! can leave it out of discovery.

use std::net::IpAddr;

use super::{ExchangeFilter, host_without_port, request_host};
use crate::model::Exchange;

/// Rejects exchanges whose request host is empty or an IP address.
#[derive(Clone, Copy, Debug, Default)]
pub struct IpHostFilter;

impl IpHostFilter {
    /// True if `host` (a `Host` header value) is empty or an IP address.
    pub fn is_ip_host(host: &str) -> bool {
        let h = host_without_port(host);
        h.is_empty() || h.parse::<IpAddr>().is_ok()
    }
}

impl ExchangeFilter for IpHostFilter {
    fn keep(&self, exchange: &Exchange) -> bool {
        match exchange.request.as_ref() {
            // A host that is not text is neither empty nor an address.
            Some(r) => request_host(r)
                .as_str()
                .is_none_or(|h| !Self::is_ip_host(h)),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::exchange;

    fn keeps(host: Option<&str>) -> bool {
        let headers: Vec<(&str, &str)> = host.map(|h| ("Host", h)).into_iter().collect();
        IpHostFilter.keep(&exchange("10.0.0.2:80", &headers))
    }

    #[test]
    fn names_are_kept() {
        assert!(keeps(Some("api.example")));
        assert!(keeps(Some("api.example:8080")));
        assert!(keeps(Some("localhost")));
        assert!(keeps(Some("svc.ns.svc.cluster.local")));
    }

    #[test]
    fn ipv4_hosts_are_dropped_with_or_without_port() {
        assert!(!keeps(Some("10.0.0.2")));
        assert!(!keeps(Some("10.0.0.2:8080")));
        assert!(!keeps(Some("127.0.0.1")));
    }

    #[test]
    fn ipv6_hosts_are_dropped() {
        assert!(!keeps(Some("[::1]:443")));
        assert!(!keeps(Some("[fd00::5]")));
        assert!(!keeps(Some("fe80::1")));
    }

    #[test]
    fn empty_or_missing_host_is_dropped() {
        assert!(!keeps(Some("")));
        assert!(!keeps(None));
        let mut ex = exchange("10.0.0.2:80", &[("Host", "api.example")]);
        ex.request = None;
        assert!(!IpHostFilter.keep(&ex));
    }

    #[test]
    fn http2_authority_counts_as_host() {
        assert!(IpHostFilter.keep(&exchange("10.0.0.2:80", &[(":authority", "api.example")])));
        assert!(!IpHostFilter.keep(&exchange("10.0.0.2:80", &[(":authority", "10.0.0.2:443")])));
    }

    #[test]
    fn names_that_start_with_digits_are_not_addresses() {
        assert!(keeps(Some("1password.example")));
        assert!(keeps(Some("10.0.0.2.nip.io")));
    }
}
