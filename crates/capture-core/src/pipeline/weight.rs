//! What an exchange weighs in a queue: the one place the pipeline reads
//! an exchange's insides.

use crate::model::Exchange;

/// The heap an exchange holds, near enough to bound a queue by: the head
/// buffers (request line and header fields with their ranges), trailers,
/// bodies, and the record itself.
pub(crate) fn exchange_bytes(ex: &Exchange) -> usize {
    let request = ex.request.as_ref().map_or(0, |r| {
        r.head().heap_size() + r.trailers.heap_size() + r.body.data.len()
    });
    let response = ex.response.as_ref().map_or(0, |r| {
        r.head().heap_size() + r.trailers.heap_size() + r.body.data.len()
    });
    size_of::<Exchange>() + request + response
}
