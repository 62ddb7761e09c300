//! Owned batches of inputs, for handing borrowed source data to worker threads.

use crate::model::Input;

/// Inputs copied out of a source's buffers: one arena for all payloads,
/// so a batch costs two allocations however many inputs it holds (and none
/// once recycled). Each input is kept as it came, its payload emptied and
/// replaced by a range of the arena.
#[derive(Debug, Default)]
pub struct Batch {
    arena: Vec<u8>,
    items: Vec<(Input<'static>, usize, usize)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inputs held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when no input is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Payload bytes held.
    pub fn payload_bytes(&self) -> usize {
        self.arena.len()
    }

    /// The heap the batch holds, payloads and inputs, used or not.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.items.capacity() * size_of::<(Input<'static>, usize, usize)>()
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.items.clear();
    }

    /// Copies `input` into the batch.
    pub fn push(&mut self, input: &Input<'_>) {
        let start = self.arena.len();
        self.arena.extend_from_slice(input.payload());
        self.items
            .push((input.with_payload(&[]), start, self.arena.len()));
    }

    /// The inputs, borrowing their payloads from the batch.
    pub fn iter(&self) -> impl Iterator<Item = Input<'_>> {
        self.items.iter().map(|&(input, start, end)| {
            input.with_payload(self.arena.get(start..end).unwrap_or_default())
        })
    }
}
