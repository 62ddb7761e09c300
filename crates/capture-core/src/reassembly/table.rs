//! The connection table: slots, a keyed-hash index and a recency list.
//!
//! Slots are reused, so a `ConnId` is a dense index; the recency list is
//! intrusive (prev/next slot numbers), so touching a connection, finding the
//! least recently active one and expiring idle ones cost O(1) each.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::model::ConnKey;

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Links {
    prev: u32,
    next: u32,
}

/// Slots holding `T`, indexed by canonical key, ordered by recency.
#[derive(Debug)]
pub(crate) struct Table<T> {
    index: HashMap<ConnKey, u32, RandomState>,
    slots: Vec<Option<(ConnKey, T)>>,
    links: Vec<Links>,
    free: Vec<u32>,
    /// Most recently touched.
    head: u32,
    /// Least recently touched.
    tail: u32,
}

impl<T> Table<T> {
    pub(crate) fn new() -> Self {
        Self {
            index: HashMap::with_hasher(RandomState::default()),
            slots: Vec::new(),
            links: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn find(&self, key: &ConnKey) -> Option<u32> {
        self.index.get(key).copied()
    }

    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.slots.get_mut(slot as usize)?.as_mut().map(|(_, t)| t)
    }

    /// Inserts a new entry as the most recent; returns its slot.
    pub(crate) fn insert(&mut self, key: ConnKey, value: T) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => {
                if let Some(place) = self.slots.get_mut(s as usize) {
                    *place = Some((key, value));
                }
                s
            }
            None => {
                self.slots.push(Some((key, value)));
                self.links.push(Links {
                    prev: NIL,
                    next: NIL,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, slot);
        self.push_front(slot);
        slot
    }

    /// Removes an entry; its slot becomes free.
    pub(crate) fn remove(&mut self, slot: u32) -> Option<T> {
        let (key, value) = self.slots.get_mut(slot as usize)?.take()?;
        self.index.remove(&key);
        self.unlink(slot);
        self.free.push(slot);
        Some(value)
    }

    /// Marks an entry as the most recently active.
    pub(crate) fn touch(&mut self, slot: u32) {
        if self.head != slot {
            self.unlink(slot);
            self.push_front(slot);
        }
    }

    /// The least recently active entry.
    pub(crate) fn oldest(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Every occupied slot (for rare whole-table operations).
    pub(crate) fn slots(&self) -> Vec<u32> {
        self.index.values().copied().collect()
    }

    fn push_front(&mut self, slot: u32) {
        let old_head = self.head;
        if let Some(l) = self.links.get_mut(slot as usize) {
            l.prev = NIL;
            l.next = old_head;
        }
        if let Some(l) = self.links.get_mut(old_head as usize) {
            l.prev = slot;
        }
        self.head = slot;
        if self.tail == NIL {
            self.tail = slot;
        }
    }

    fn unlink(&mut self, slot: u32) {
        let Some(l) = self.links.get(slot as usize) else {
            return;
        };
        let (prev, next) = (l.prev, l.next);
        match self.links.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.links.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        if let Some(l) = self.links.get_mut(slot as usize) {
            l.prev = NIL;
            l.next = NIL;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> ConnKey {
        ConnKey::new(
            format!("10.0.0.1:{port}").parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            crate::model::NetnsId::UNKNOWN,
        )
    }

    #[test]
    fn recency_order_and_slot_reuse() {
        let mut t = Table::new();
        let a = t.insert(key(1), 'a');
        let b = t.insert(key(2), 'b');
        let c = t.insert(key(3), 'c');
        assert_eq!(t.oldest(), Some(a));
        t.touch(a);
        assert_eq!(t.oldest(), Some(b));
        assert_eq!(t.remove(b), Some('b'));
        assert_eq!(t.oldest(), Some(c));
        let d = t.insert(key(4), 'd');
        assert_eq!(d, b, "freed slot is reused");
        assert_eq!(t.find(&key(4)), Some(d));
        assert_eq!(t.find(&key(2)), None);
        assert_eq!(t.len(), 3);
    }
}
