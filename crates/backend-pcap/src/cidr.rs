//! Address filters by subnet, for pod and service CIDRs.
//!
//! A segment is kept when either endpoint is inside an allowed subnet (every
//! address is allowed when the allow list is empty) and neither endpoint is
//! inside a denied subnet. Sources count what they drop here as
//! [`DropReason::AddressFiltered`](capture_core::DropReason::AddressFiltered).
//!
//! ```
//! use backend_pcap::cidr::CidrFilter;
//!
//! let pods = CidrFilter::parse(&["10.244.0.0/16"], &["10.244.9.0/24"]).unwrap();
//! assert!(pods.keeps("10.244.1.5".parse().unwrap(), "192.0.2.1".parse().unwrap()));
//! assert!(!pods.keeps("10.244.9.5".parse().unwrap(), "10.244.1.5".parse().unwrap()));
//! assert!(!pods.keeps("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()));
//! ```

use std::net::IpAddr;

use ipnet::IpNet;

use crate::Error;

/// Allow and deny lists of subnets applied to both endpoints of a segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrFilter {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl CidrFilter {
    /// A filter from parsed subnets. An empty `allow` allows every address.
    pub fn new(allow: Vec<IpNet>, deny: Vec<IpNet>) -> Self {
        Self { allow, deny }
    }

    /// A filter from textual subnets (`10.0.0.0/8`, `fd00::/8`); a bare
    /// address stands for itself alone (`/32` or `/128`).
    pub fn parse<S: AsRef<str>>(allow: &[S], deny: &[S]) -> Result<Self, Error> {
        Ok(Self {
            allow: parse_nets(allow)?,
            deny: parse_nets(deny)?,
        })
    }

    /// True when the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// True when traffic between `a` and `b` passes: either is allowed and
    /// neither is denied. IPv4-mapped IPv6 addresses are matched as IPv4.
    pub fn keeps(&self, a: IpAddr, b: IpAddr) -> bool {
        let (a, b) = (a.to_canonical(), b.to_canonical());
        let allowed =
            self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&a) || n.contains(&b));
        allowed && !self.deny.iter().any(|n| n.contains(&a) || n.contains(&b))
    }
}

/// Parses subnets, accepting bare addresses as single-host subnets.
pub fn parse_nets<S: AsRef<str>>(nets: &[S]) -> Result<Vec<IpNet>, Error> {
    nets.iter()
        .map(|s| {
            let s = s.as_ref().trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| Error::InvalidCidr { text: s.to_owned() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_filter_keeps_everything() {
        let f = CidrFilter::default();
        assert!(f.is_empty());
        assert!(f.keeps(ip("127.0.0.1"), ip("::1")));
    }

    #[test]
    fn either_endpoint_in_an_allowed_subnet_is_enough() {
        let f = CidrFilter::parse(&["10.231.0.0/16", "fd00:1::/64"], &[]).unwrap();
        assert!(f.keeps(ip("10.231.4.2"), ip("8.8.8.8")));
        assert!(f.keeps(ip("8.8.8.8"), ip("10.231.4.2")));
        assert!(f.keeps(ip("fd00:1::5"), ip("2001:db8::1")));
        assert!(!f.keeps(ip("10.232.0.1"), ip("8.8.8.8")));
        assert!(!f.keeps(ip("fd00:2::5"), ip("2001:db8::1")));
    }

    #[test]
    fn a_denied_endpoint_wins_over_an_allowed_one() {
        let f = CidrFilter::parse(&["10.0.0.0/8"], &["10.96.0.0/12"]).unwrap();
        assert!(f.keeps(ip("10.1.2.3"), ip("10.2.3.4")));
        assert!(!f.keeps(ip("10.1.2.3"), ip("10.96.0.10")));
        // Deny alone: everything but the denied subnet.
        let f = CidrFilter::parse::<&str>(&[], &["169.254.0.0/16"]).unwrap();
        assert!(f.keeps(ip("10.1.2.3"), ip("10.2.3.4")));
        assert!(!f.keeps(ip("169.254.1.1"), ip("10.2.3.4")));
    }

    #[test]
    fn bare_addresses_and_mapped_v6_match_as_single_hosts() {
        let f = CidrFilter::parse(&["10.231.1.2"], &[]).unwrap();
        assert!(f.keeps(ip("10.231.1.2"), ip("1.1.1.1")));
        assert!(!f.keeps(ip("10.231.1.3"), ip("1.1.1.1")));
        assert!(f.keeps(ip("::ffff:10.231.1.2"), ip("::1")));
    }

    #[test]
    fn bad_text_names_the_offending_entry() {
        let e = CidrFilter::parse(&["10.0.0.0/8", "10.0.0.0/33"], &[]).unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/33"), "{e}");
        assert!(CidrFilter::parse(&["pods"], &[]).is_err());
    }
}
