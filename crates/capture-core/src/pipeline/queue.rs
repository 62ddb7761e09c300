//! A queue between two pipeline threads, bounded in items and in bytes.
//!
//! A channel bounded only in items lets a few heavy items (batches of
//! 64 KB segments, exchanges with large bodies) hold gigabytes. Here each
//! item travels with its weight in bytes, taken from a shared budget before
//! it is sent and given back once the receiver is done with it.
//!
//! Hand-written over crossbeam's channel: the crates that bound channels
//! by weight are async (tokio's semaphore) or unmaintained, and the
//! pipeline's threads are plain threads.
//! When either bound is reached a live source's item is refused (the caller
//! drops and counts it) and a file source's sender waits.
//!
//! An item the receiver is done with may go back to its sender to be freed
//! or reused there ([`QueueReceiver::hand_back`]): its bytes stay taken
//! until the sender [reclaims](QueueSender::reclaimed) it, so the bound
//! covers it on its way back too. Such items hold at most half the
//! budget, and a sender waits only for items still queued, never for
//! ones on their way back: nothing waits on a thread that is itself
//! waiting.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

/// How long a waiting sender sleeps before it looks again, in case a
/// wake-up was missed.
const RECHECK: Duration = Duration::from_millis(20);

#[derive(Debug)]
struct Budget {
    /// Bytes of queued items and of items on their way back.
    used: AtomicUsize,
    /// Bytes of items on their way back (part of `used`).
    returning: AtomicUsize,
    cap: usize,
    /// The receiving side is gone: nobody will give bytes back.
    closed: AtomicBool,
    lock: Mutex<()>,
    freed: Condvar,
}

impl Budget {
    /// Takes `n` bytes if they fit. An item heavier than what is left
    /// goes alone, into a queue with no item queued, so that nothing
    /// waits forever.
    fn try_take(&self, n: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if used > self.returning.load(Ordering::Acquire) && used.saturating_add(n) > self.cap {
                return false;
            }
            match self.used.compare_exchange_weak(
                used,
                used.saturating_add(n),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Takes `n` bytes, waiting for room; false if the receiver is gone.
    fn take(&self, n: usize) -> bool {
        loop {
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            if self.try_take(n) {
                return true;
            }
            let Ok(guard) = self.lock.lock() else {
                return false;
            };
            // Re-checked under the lock that `give` takes before notifying.
            if self.used.load(Ordering::Acquire) <= self.returning.load(Ordering::Acquire)
                || self.closed.load(Ordering::Acquire)
            {
                continue;
            }
            let _ = self.freed.wait_timeout(guard, RECHECK);
        }
    }

    fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
        if let Ok(_guard) = self.lock.lock() {
            self.freed.notify_all();
        }
    }

    /// Counts `n` taken bytes as on their way back if they fit in half the
    /// budget; gives them back otherwise.
    fn hand_back(&self, n: usize) -> bool {
        let mut returning = self.returning.load(Ordering::Relaxed);
        loop {
            if returning.saturating_add(n) > self.cap / 2 {
                self.give(n);
                return false;
            }
            match self.returning.compare_exchange_weak(
                returning,
                returning + n,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => returning = now,
            }
        }
    }

    /// Gives back the bytes of an item handed back.
    fn reclaimed(&self, n: usize) {
        self.returning.fetch_sub(n, Ordering::AcqRel);
        self.give(n);
    }
}

/// The sending side of a [`queue`]; clones share both bounds.
#[derive(Debug)]
pub(crate) struct QueueSender<T> {
    tx: Sender<(T, usize)>,
    budget: Arc<Budget>,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            budget: self.budget.clone(),
        }
    }
}

/// The receiving side of a [`queue`].
#[derive(Debug)]
pub(crate) struct QueueReceiver<T> {
    rx: Receiver<(T, usize)>,
    budget: Arc<Budget>,
}

/// A queue of at most `items` items and `bytes` bytes.
pub(crate) fn queue<T>(items: usize, bytes: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    let (tx, rx) = bounded(items.max(1));
    let budget = Arc::new(Budget {
        used: AtomicUsize::new(0),
        returning: AtomicUsize::new(0),
        cap: bytes.max(1),
        closed: AtomicBool::new(false),
        lock: Mutex::new(()),
        freed: Condvar::new(),
    });
    (
        QueueSender {
            tx,
            budget: budget.clone(),
        },
        QueueReceiver { rx, budget },
    )
}

impl<T> QueueSender<T> {
    /// Sends `item` weighing `bytes`: waiting for room when `wait`, else
    /// giving the item back when either bound is reached. `Err` also when
    /// the receiver is gone.
    pub(crate) fn send(&self, item: T, bytes: usize, wait: bool) -> Result<(), T> {
        if wait {
            if !self.budget.take(bytes) {
                return Err(item);
            }
            return self.tx.send((item, bytes)).map_err(|e| {
                self.budget.give(bytes);
                e.into_inner().0
            });
        }
        if !self.budget.try_take(bytes) {
            return Err(item);
        }
        self.tx.try_send((item, bytes)).map_err(|e| {
            self.budget.give(bytes);
            match e {
                TrySendError::Full((item, _)) | TrySendError::Disconnected((item, _)) => item,
            }
        })
    }

    /// Gives back the bytes of an item the receiver [handed
    /// back](QueueReceiver::hand_back), once it is freed or reused.
    pub(crate) fn reclaimed(&self, bytes: usize) {
        self.budget.reclaimed(bytes);
    }

    /// Sends an item that must not be lost and weighs next to nothing
    /// (a clock tick), if there is room for it.
    pub(crate) fn try_send_light(&self, item: T) {
        let _ = self.tx.try_send((item, 0));
    }
}

impl<T> QueueReceiver<T> {
    /// The items as they arrive with their weight, until every sender is
    /// gone. Give each weight back with [`release`](Self::release) once
    /// done with what the item holds.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (T, usize)> + '_ {
        self.rx.iter()
    }

    /// Gives back the bytes of an item the receiver is done with.
    pub(crate) fn release(&self, bytes: usize) {
        self.budget.give(bytes);
    }

    /// Keeps the bytes of an item the receiver is done with taken while the
    /// item goes back to its sender, who gives them back with
    /// [`QueueSender::reclaimed`]. False when items on their way back
    /// already hold half the budget: the bytes are given back now, and the
    /// item is to be freed here.
    pub(crate) fn hand_back(&self, bytes: usize) -> bool {
        self.budget.hand_back(bytes)
    }

    /// Gives back the bytes of an item [handed back](Self::hand_back) that
    /// could not be sent back after all (its sender is gone or has enough).
    pub(crate) fn reclaimed(&self, bytes: usize) {
        self.budget.reclaimed(bytes);
    }

    /// Items waiting, items when full, bytes held (by queued items and
    /// items on their way back), bytes when full.
    pub(crate) fn depth(&self) -> [usize; 4] {
        [
            self.rx.len(),
            self.rx.capacity().unwrap_or(0),
            self.budget.used.load(Ordering::Relaxed),
            self.budget.cap,
        ]
    }

    /// True when no item waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        self.budget.closed.store(true, Ordering::Release);
        if let Ok(_guard) = self.budget.lock.lock() {
            self.budget.freed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_refuses_what_exceeds_its_bytes_and_takes_it_once_room_is_given_back() {
        let (tx, rx) = queue::<u32>(10, 100);
        assert!(tx.send(1, 60, false).is_ok());
        assert_eq!(tx.send(2, 60, false), Err(2), "60 + 60 > 100");
        assert!(tx.send(3, 40, false).is_ok());
        let (first, bytes) = rx.iter().next().unwrap();
        assert_eq!(first, 1);
        rx.release(bytes);
        assert!(
            tx.send(2, 60, false).is_ok(),
            "room again once the item is done"
        );
    }

    #[test]
    fn an_item_heavier_than_the_budget_goes_alone() {
        let (tx, rx) = queue::<u32>(10, 100);
        assert!(tx.send(1, 500, false).is_ok());
        assert_eq!(tx.send(2, 1, false), Err(2));
        let (_, bytes) = rx.iter().next().unwrap();
        rx.release(bytes);
        assert!(tx.send(2, 1, false).is_ok());
    }

    #[test]
    fn items_on_their_way_back_count_hold_at_most_half_and_never_make_a_sender_wait() {
        let (tx, rx) = queue::<u32>(10, 100);
        tx.send(1, 40, false).unwrap();
        tx.send(2, 40, false).unwrap();
        tx.send(3, 10, false).unwrap();
        let mut it = rx.iter();
        let (_, a) = it.next().unwrap();
        assert!(rx.hand_back(a), "40 of 100 on the way back");
        let (_, b) = it.next().unwrap();
        assert!(!rx.hand_back(b), "80 would be more than half: freed here");
        assert_eq!(rx.depth()[2], 50, "what goes back is still counted");
        assert_eq!(tx.send(4, 60, false), Err(4), "40 + 10 + 60 > 100");
        let (_, c) = it.next().unwrap();
        rx.release(c);
        assert!(
            tx.send(4, 70, true).is_ok(),
            "nothing queued: a waiting sender goes on"
        );
        tx.reclaimed(a);
        assert_eq!(rx.depth()[2], 70);
    }

    #[test]
    fn a_waiting_sender_goes_on_when_room_is_given_back_or_the_receiver_leaves() {
        let (tx, rx) = queue::<u32>(10, 100);
        tx.send(1, 100, true).unwrap();
        let tx2 = tx.clone();
        let waiter = std::thread::spawn(move || tx2.send(2, 100, true));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "no room: the sender waits");
        let got: Vec<u32> = rx
            .iter()
            .take(2)
            .map(|(item, bytes)| {
                rx.release(bytes);
                item
            })
            .collect();
        assert_eq!(got, [1, 2]);
        assert!(waiter.join().unwrap().is_ok());
        tx.send(3, 100, true).unwrap();
        let blocked = std::thread::spawn(move || tx.send(4, 100, true));
        std::thread::sleep(Duration::from_millis(30));
        drop(rx);
        assert_eq!(
            blocked.join().unwrap(),
            Err(4),
            "a gone receiver ends the wait"
        );
    }
}
