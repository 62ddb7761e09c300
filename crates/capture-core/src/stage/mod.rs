//! The four stage traits a pipeline is made of: [`Source`] →
//! [`Reassembler`] → [`Parser`] → [`Sink`]. A downstream crate may replace
//! any one of them.

mod parser;
mod reassembler;
mod sink;
mod source;

#[allow(deprecated)]
pub use parser::Protocol;
pub use parser::{Output, Parser, ParserFactory};
pub use reassembler::{ConnId, Reassembler, StreamHandler};
pub use sink::{ExchangeEncoder, Sink, SinkError};
pub use source::{InputSink, Poll, Source, SourceError};
