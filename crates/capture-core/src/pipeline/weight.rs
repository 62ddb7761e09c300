//! What an exchange weighs in a queue: the one place the pipeline reads
//! an exchange's insides.

use bytes::Bytes;

use crate::model::{Exchange, Flag};

/// What a body's buffer may hold beyond its bytes: `BodyBuilder::finish`
/// keeps a reservation of up to a quarter more plus 64 bytes, and a
/// `Bytes` made from a `Vec` with room to spare allocates its shared
/// header (32 bytes) besides.
fn body_bytes(data: &Bytes) -> usize {
    match data.len() {
        0 => 0,
        n => n + n / 4 + 64 + 32,
    }
}

/// The heap an exchange holds, counted so as never to be below it: the
/// record, the head buffers (request line and header fields with their
/// ranges), trailers, bodies with their reservation, flags, the process
/// name and the gRPC message. Pods are shared, not counted.
pub(crate) fn exchange_bytes(ex: &Exchange) -> usize {
    let request = ex.request.as_ref().map_or(0, |r| {
        r.head().heap_size() + r.trailers.heap_size() + body_bytes(&r.body.data)
    });
    let response = ex.response.as_ref().map_or(0, |r| {
        r.head().heap_size() + r.trailers.heap_size() + body_bytes(&r.body.data)
    });
    let flags = ex.flags.capacity() * size_of::<Flag>();
    let comm = ex.conn.comm.as_ref().map_or(0, String::capacity);
    let grpc = ex
        .grpc
        .as_ref()
        .and_then(|g| g.message.as_ref())
        .map_or(0, String::capacity);
    size_of::<Exchange>() + request + response + flags + comm + grpc
}
