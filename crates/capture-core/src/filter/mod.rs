//! Filters applied to exchanges after parsing, before the sink.

use crate::model::Exchange;

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
