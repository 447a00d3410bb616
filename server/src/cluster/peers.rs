//! Whether other nodes are live, so that a stanza for an account reached on this node is
//! also looked for on the others (docs/protocol.md S11: every resource of the account that
//! is not joined gets a room's events, wherever it is bound) only when there may be any:
//! a node alone asks the session directory nothing more per event.
//!
//! The answer may be wrong only one way, "yes" when there is none (one wasted lookup).
//! It starts "yes"; it turns "no" only from a count of the live incarnations (at start,
//! then at each lease renewal) that found none and during which no other node greeted
//! this one. A node greets every live node when it starts, before it takes clients, and
//! after it rejoined (`Membership::greet`), and any request from another node counts as a
//! greeting; so a node that started after a count said "no" has turned it back to "yes"
//! before any of its sessions can be bound.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

pub(super) struct Peers {
    others: AtomicBool,
    /// Greetings so far: a count that started before the latest one cannot say "no".
    greetings: Mutex<u64>,
}

impl Peers {
    pub(super) fn new() -> Peers {
        Peers {
            others: AtomicBool::new(true),
            greetings: Mutex::new(0),
        }
    }

    /// Whether another node may be live.
    pub(super) fn any(&self) -> bool {
        self.others.load(Ordering::Acquire)
    }

    /// Another node spoke to this one: it is live.
    pub(super) fn greeted(&self) {
        let mut g = lock(&self.greetings);
        *g += 1;
        self.others.store(true, Ordering::Release);
    }

    /// Taken before counting the live incarnations; handed to [`Peers::counted`].
    pub(super) fn mark(&self) -> u64 {
        *lock(&self.greetings)
    }

    /// A count started at `mark` found `live` other incarnations.
    pub(super) fn counted(&self, mark: u64, live: usize) {
        let g = lock(&self.greetings);
        if live > 0 {
            self.others.store(true, Ordering::Release);
        } else if *g == mark {
            self.others.store(false, Ordering::Release);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
