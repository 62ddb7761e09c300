//! What an exchange weighs in a queue: the one place the pipeline reads
//! an exchange's insides.

use crate::model::{Exchange, Header};

/// The heap an exchange holds, near enough to bound a queue by: bodies,
/// header names and values, the request line, and the record itself.
pub(crate) fn exchange_bytes(ex: &Exchange) -> usize {
    let headers = |h: &[Header]| -> usize {
        h.iter()
            .map(|h| h.name.len() + h.value.len() + size_of::<Header>())
            .sum()
    };
    let request = ex.request.as_ref().map_or(0, |r| {
        r.method.len()
            + r.path.len()
            + r.authority.as_ref().map_or(0, String::len)
            + headers(&r.headers)
            + headers(&r.trailers)
            + r.body.data.capacity()
    });
    let response = ex.response.as_ref().map_or(0, |r| {
        r.reason.as_ref().map_or(0, String::len)
            + headers(&r.headers)
            + headers(&r.trailers)
            + r.body.data.capacity()
    });
    size_of::<Exchange>() + request + response
}
