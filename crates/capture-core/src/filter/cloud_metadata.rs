//! Drop calls to the cloud instance-metadata service, as Akto's
//! `AKTO_IGNORE_CLOUD_METADATA_CALLS`.
//!
//! Every cloud agent on a node polls `169.254.169.254` (AWS, GCP, Azure,
//! …; AWS also answers on `fd00:ec2::254`). These calls are not the
//! application's API. Akto matches the `Host` header only; this filter also
//! drops them when the request names the service by another host but the
//! connection goes to the metadata address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{ExchangeFilter, host_without_port, request_host};
use crate::model::Exchange;

/// The link-local address of the instance-metadata service.
pub const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// AWS's IPv6 address of the instance-metadata service.
pub const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// Rejects exchanges with the instance-metadata service.
#[derive(Clone, Copy, Debug, Default)]
pub struct CloudMetadataFilter;

impl CloudMetadataFilter {
    /// True if `ip` is a metadata-service address.
    pub fn is_metadata_ip(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => v4 == METADATA_V4,
            IpAddr::V6(v6) => v6 == METADATA_V6 || v6.to_ipv4_mapped() == Some(METADATA_V4),
        }
    }
}

impl ExchangeFilter for CloudMetadataFilter {
    fn keep(&self, exchange: &Exchange) -> bool {
        if Self::is_metadata_ip(exchange.conn.server.ip()) {
            return false;
        }
        // A host that is not text is no address.
        let host = exchange
            .request
            .as_ref()
            .map_or(Some(""), |r| request_host(r).as_str())
            .unwrap_or_default();
        !host_without_port(host)
            .parse::<IpAddr>()
            .is_ok_and(Self::is_metadata_ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::exchange;

    #[test]
    fn metadata_host_is_dropped() {
        let f = CloudMetadataFilter;
        assert!(!f.keep(&exchange("10.0.0.2:80", &[("Host", "169.254.169.254")])));
        assert!(!f.keep(&exchange("10.0.0.2:80", &[("Host", "169.254.169.254:80")])));
        assert!(!f.keep(&exchange("10.0.0.2:80", &[("Host", "[fd00:ec2::254]")])));
    }

    #[test]
    fn metadata_destination_is_dropped_whatever_the_host() {
        let f = CloudMetadataFilter;
        assert!(!f.keep(&exchange(
            "169.254.169.254:80",
            &[("Host", "metadata.google.internal")]
        )));
        assert!(!f.keep(&exchange("[::ffff:169.254.169.254]:80", &[])));
    }

    #[test]
    fn other_traffic_is_kept() {
        let f = CloudMetadataFilter;
        assert!(f.keep(&exchange("10.0.0.2:80", &[("Host", "api.example")])));
        assert!(f.keep(&exchange(
            "169.254.169.253:80",
            &[("Host", "169.254.169.253")]
        )));
        assert!(f.keep(&exchange("10.0.0.2:80", &[])));
    }
}
