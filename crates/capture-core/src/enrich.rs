//! Enrichment: adding what the node knows to each exchange after parsing
//! and before the filters, so that filters can use it (Kubernetes names,
//! see the `k8s-meta` crate).
//!
//! An enricher runs on the worker threads, on each batch of exchanges a
//! worker produced; it must be cheap once warm (no system call per exchange).
//!
//! ```
//! use capture_core::enrich::Enricher;
//! use capture_core::model::Exchange;
//!
//! /// Forgets the process name of every exchange.
//! struct Anonymise;
//!
//! impl Enricher for Anonymise {
//!     fn enrich(&self, batch: &mut [Exchange]) {
//!         for ex in batch {
//!             ex.conn.comm = None;
//!         }
//!     }
//! }
//! ```

use crate::model::Exchange;

/// Adds facts to exchanges before the pipeline's filters see them.
pub trait Enricher: Send + Sync {
    /// Fills in what it knows on each exchange of `batch`.
    fn enrich(&self, batch: &mut [Exchange]);
}

impl<E: Enricher + ?Sized> Enricher for std::sync::Arc<E> {
    fn enrich(&self, batch: &mut [Exchange]) {
        (**self).enrich(batch);
    }
}
