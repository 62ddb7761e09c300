//! Drop outbound traffic, as Akto's `TRAFFIC_DISABLE_EGRESS`.
//!
//! An exchange is outbound when the traced process opened the connection
//! (it is the client): calls to other services and to the internet. Only
//! sources that see processes (eBPF) know the direction; exchanges whose
//! direction is unknown are kept.

use super::ExchangeFilter;
use crate::model::{Exchange, TrafficDirection};

/// Rejects exchanges whose direction is [`TrafficDirection::Outbound`].
#[derive(Clone, Copy, Debug, Default)]
pub struct EgressFilter;

impl ExchangeFilter for EgressFilter {
    fn keep(&self, exchange: &Exchange) -> bool {
        exchange.direction != Some(TrafficDirection::Outbound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::directed;

    #[test]
    fn outbound_is_dropped_inbound_and_unknown_kept() {
        assert!(!EgressFilter.keep(&directed(Some(TrafficDirection::Outbound))));
        assert!(EgressFilter.keep(&directed(Some(TrafficDirection::Inbound))));
        assert!(EgressFilter.keep(&directed(None)));
    }
}
