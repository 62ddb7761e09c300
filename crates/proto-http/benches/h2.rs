//! HTTP/2 parsing throughput (filled in below).
fn main() {}
