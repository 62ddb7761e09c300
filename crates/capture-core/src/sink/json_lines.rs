//! A sink that writes one JSON object per line.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::model::{Exchange, RecordWriter};
use crate::stage::{ExchangeEncoder, Sink, SinkError};

/// Bytes gathered before they are written out.
const FLUSH_AT: usize = 1 << 17;

/// Writes each exchange as one line of JSON (the record contract) to any writer.
///
/// Records are written straight into one buffer that goes to the writer
/// whenever it passes 128 KiB, after each batch, and at `flush`. With the
/// sink on a thread of its own, the workers write the lines
/// ([`JsonLineEncoder`]) and the sink thread only writes them out.
pub struct JsonLinesSink<W: Write + Send> {
    out: W,
    buf: Vec<u8>,
    writer: RecordWriter,
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
    /// Writes to `writer`.
    pub fn new(writer: W) -> Self {
        Self {
            out: writer,
            buf: Vec::with_capacity(FLUSH_AT + (FLUSH_AT >> 2)),
            writer: RecordWriter::default(),
        }
    }

    /// Writes out what is buffered and returns the writer.
    pub fn into_inner(mut self) -> std::io::Result<W> {
        self.drain_buffer()?;
        Ok(self.out)
    }

    fn drain_buffer(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// Writes an exchange as one line of JSON: what [`JsonLinesSink`] has the
/// workers do when it runs on a thread of its own.
///
/// It keeps the `"conn"` object of the connections it saw last (a
/// bounded number), rendered once each.
#[derive(Clone, Debug, Default)]
pub struct JsonLineEncoder {
    writer: RecordWriter,
}

impl ExchangeEncoder for JsonLineEncoder {
    fn encode(&mut self, exchange: &Exchange, out: &mut Vec<u8>) {
        self.writer.exchange(out, exchange);
        out.push(b'\n');
    }
}

impl<W: Write + Send> Sink for JsonLinesSink<W> {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        // Read, not drained: the pipeline empties the batch, on the
        // thread that made the exchanges when this sink has its own.
        for ex in batch.iter() {
            self.writer.exchange(&mut self.buf, ex);
            self.buf.push(b'\n');
            if self.buf.len() >= FLUSH_AT {
                self.drain_buffer()?;
            }
        }
        // Live captures want their lines out promptly; a batch is the unit.
        self.drain_buffer()?;
        Ok(())
    }

    fn encoder(&self) -> Option<Box<dyn ExchangeEncoder>> {
        Some(Box::new(JsonLineEncoder::default()))
    }

    fn write_encoded(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.drain_buffer()?;
        self.out.write_all(bytes)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.drain_buffer()?;
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    /// A connection from 1.2.3.4:5 to 5.6.7.8:80 seen first at `ts`.
    fn meta(ts: u64) -> ConnMeta {
        ConnMeta::new(
            ConnKey::new(
                "1.2.3.4:5".parse().unwrap(),
                "5.6.7.8:80".parse().unwrap(),
                NetnsId(0),
            ),
            CaptureSource::Pcap,
            Timestamp(ts),
        )
    }

    #[test]
    fn one_line_per_exchange() {
        let meta = meta(0);
        let mut sink = JsonLinesSink::new(Vec::new());
        let mut batch: Vec<Exchange> = (0..3)
            .map(|_| Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED))
            .collect();
        sink.write(&mut batch).unwrap();
        sink.flush().unwrap();
        let text = String::from_utf8(sink.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().count(), 3);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["conn"]["server"], "5.6.7.8:80");
        }
    }

    #[test]
    fn encoded_lines_are_the_lines_written() {
        let meta = meta(7);
        let exchanges: Vec<Exchange> = (0..3)
            .map(|_| Exchange::new(Protocol::Http11, &meta, Roles::CONFIRMED))
            .collect();
        let mut direct = JsonLinesSink::new(Vec::new());
        direct.write(&mut exchanges.clone()).unwrap();
        let mut encoded = JsonLinesSink::new(Vec::new());
        let mut bytes = Vec::new();
        let mut encoder = encoded.encoder().unwrap();
        for ex in &exchanges {
            encoder.encode(ex, &mut bytes);
        }
        encoded.write_encoded(&bytes).unwrap();
        assert_eq!(encoded.into_inner().unwrap(), direct.into_inner().unwrap());
    }
}
