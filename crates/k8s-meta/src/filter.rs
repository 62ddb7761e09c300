//! [`PodFilter`]: keeps the exchanges of selected pods.

use capture_core::filter::ExchangeFilter;
use capture_core::model::Exchange;

use crate::selector::PodSelector;

/// Keeps an exchange when the pod on either end is selected (by namespace,
/// pod-name glob and label selector); drops the others, which the pipeline
/// counts as `filtered`. Exchanges whose ends are unknown are dropped:
/// they are not known to be the selected pods' traffic. Needs the
/// [`Attributor`](crate::Attributor) as an enricher before it.
#[derive(Clone, Debug, Default)]
pub struct PodFilter {
    selector: PodSelector,
}

impl PodFilter {
    /// A filter keeping what `selector` selects.
    pub fn new(selector: PodSelector) -> Self {
        Self { selector }
    }

    /// The selector.
    pub fn selector(&self) -> &PodSelector {
        &self.selector
    }
}

impl ExchangeFilter for PodFilter {
    fn keep(&self, exchange: &Exchange) -> bool {
        exchange
            .conn
            .k8s
            .ends()
            .any(|end| self.selector.matches(&end.pod))
    }
}
