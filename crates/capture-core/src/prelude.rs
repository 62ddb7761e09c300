//! The names most programs built on cleartap use: `use capture_core::prelude::*;`.
//!
//! The stage traits and what they pass around, the pipeline, the sinks of
//! this crate, and the counters. [`model::Protocol`](crate::model::Protocol)
//! (the protocol of an exchange) is left out: parsers name it, few others do.

pub use crate::Limits;
pub use crate::model::{
    CaptureSource, CloseReason, ConnKey, ConnMeta, Direction, Exchange, Flag, Input, NetnsId,
    Roles, Segment, StreamChunk, TcpFlags, Timestamp,
};
pub use crate::pipeline::{Pipeline, PipelineBuilder, RunningPipeline, StopHandle};
pub use crate::sink::{JsonLinesSink, MemorySink};
pub use crate::stage::{
    ConnId, InputSink, Output, Parser, ParserFactory, Poll, Reassembler, Sink, SinkError, Source,
    SourceError, StreamHandler,
};
pub use crate::stats::{Counter, Counters, DropReason, Stats};
