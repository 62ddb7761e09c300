//! A sink that writes one JSON object per line.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::model::Exchange;
use crate::stage::{Sink, SinkError};

/// Writes each exchange as one line of JSON (the record contract) to any writer.
pub struct JsonLinesSink<W: Write + Send> {
    out: BufWriter<W>,
    line: Vec<u8>,
}

impl JsonLinesSink<std::io::Stdout> {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self::new(std::io::stdout())
    }
}

impl JsonLinesSink<File> {
    /// Creates (or truncates) `path` and writes to it.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self::new(File::create(path)?))
    }
}

impl<W: Write + Send> JsonLinesSink<W> {
    /// Writes to `writer`, buffered.
    pub fn new(writer: W) -> Self {
        Self {
            out: BufWriter::with_capacity(1 << 16, writer),
            line: Vec::with_capacity(1024),
        }
    }

    /// Flushes and returns the writer.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

impl<W: Write + Send> Sink for JsonLinesSink<W> {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        for ex in batch.drain(..) {
            self.line.clear();
            ex.write_json(&mut self.line);
            self.line.push(b'\n');
            self.out.write_all(&self.line)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()?;
        Ok(())
    }
}
