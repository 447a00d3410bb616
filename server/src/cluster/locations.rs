//! Where other nodes hold sessions of the accounts a room's fanout asked about lately: a
//! short-lived copy of the session directory's answers, so that a room sending events at
//! a steady rate asks PostgreSQL once per [`Locations::ttl`], not once per event (the
//! lookup was most of what three nodes cost per event beyond one: BENCHMARKS.md, cluster
//! throughput).
//!
//! The one thing a stale copy could do wrong is miss a session bound on another node
//! (a session gone is found out at once: its node answers that it reached nobody, and
//! the item takes the offline path, which asks the directory afresh under the account's
//! lock). So the invariant is: **once a client is told it is bound, no node uses an
//! answer looked up before its directory row was written.** The binding node keeps it
//! (`remote.rs`, `DirOp`): after writing, it tells every live node which accounts moved
//! ([`super::bus::Envelope::Moved`], [`Locations::forget`]) and tells its client only
//! when each has answered or [`Locations::ttl`] has passed since the write, by which
//! time every answer looked up before it is too old to be used. The rest is here:
//!
//! - an answer is kept only if nothing was forgotten while it was being looked up (the
//!   generation), so a lookup that started before a bind cannot store its stale answer
//!   after the node heard of the bind;
//! - an answer is as old as the moment its lookup started;
//! - everything is dropped when this node's incarnation changes (the directory's answers
//!   exclude it) or its NATS connection broke (a `Moved` may have been lost meanwhile).
//!
//! Plain data and a clock passed in, no I/O: the tests below drive it directly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Past this many accounts, answers are dropped rather than kept: a bound, not a tuning
/// knob (a room's fanout asks about its subscribers, a few thousand at most).
const MOST: usize = 100_000;

/// The incarnations (other than this node's) with a session of each account asked about.
pub struct Locations {
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every forget: an answer looked up across one is not kept.
    generation: u64,
    /// What the kept answers hold for: this node's incarnation and its NATS connection's
    /// count of breaks ([`super::bus::Bus::breaks`]).
    epoch: (i64, u64),
    known: HashMap<String, Known>,
}

struct Known {
    nodes: Vec<i64>,
    since: Instant,
}

/// Taken before a lookup, handed back with its answer ([`Locations::keep`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    generation: u64,
    epoch: (i64, u64),
    started: Instant,
}

impl Locations {
    /// Answers are used for `ttl` after their lookup started; zero keeps none.
    pub fn new(ttl: Duration) -> Locations {
        Locations {
            ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// How long an answer is used, and so the longest a bind waits for a node that does
    /// not confirm it dropped its answers for the account.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The kept answers for `users` at `now` under `epoch`: `Ok` with every
    /// `(account, incarnation)` pair when all of them are known, else `Err` with a ticket
    /// for a lookup of all of them (answers for part of the accounts are not merged with a
    /// lookup of the rest: one lookup costs the same for one account or two hundred).
    pub fn get(
        &self,
        users: &[String],
        epoch: (i64, u64),
        now: Instant,
    ) -> Result<Vec<(String, i64)>, Ticket> {
        let mut inner = lock(&self.inner);
        if inner.epoch != epoch {
            inner.known.clear();
            inner.generation += 1;
            inner.epoch = epoch;
        }
        let ticket = Ticket {
            generation: inner.generation,
            epoch,
            started: now,
        };
        if self.ttl.is_zero() {
            return Err(ticket);
        }
        let mut out = Vec::new();
        for u in users {
            match inner.known.get(u) {
                Some(k) if now.saturating_duration_since(k.since) < self.ttl => {
                    out.extend(k.nodes.iter().map(|n| (u.clone(), *n)));
                }
                _ => return Err(ticket),
            }
        }
        Ok(out)
    }

    /// Keeps the answer `found` of a lookup of `users` made with `ticket`, unless an
    /// account was forgotten (or the epoch changed) since the ticket was taken.
    pub fn keep(&self, ticket: Ticket, users: &[String], found: &[(String, i64)]) {
        if self.ttl.is_zero() {
            return;
        }
        let mut inner = lock(&self.inner);
        if inner.generation != ticket.generation || inner.epoch != ticket.epoch {
            return;
        }
        if inner.known.len() + users.len() > MOST {
            let ttl = self.ttl;
            inner
                .known
                .retain(|_, k| ticket.started.saturating_duration_since(k.since) < ttl);
            if inner.known.len() + users.len() > MOST {
                inner.known.clear();
            }
        }
        let mut of: HashMap<&str, Vec<i64>> = users.iter().map(|u| (u.as_str(), vec![])).collect();
        for (u, n) in found {
            if let Some(v) = of.get_mut(u.as_str()) {
                if !v.contains(n) {
                    v.push(*n);
                }
            }
        }
        for (u, nodes) in of {
            inner.known.insert(
                u.to_owned(),
                Known {
                    nodes,
                    since: ticket.started,
                },
            );
        }
    }

    /// Drops what is kept for `users` (their sessions changed somewhere), and keeps no
    /// answer from a lookup already under way.
    pub fn forget<S: AsRef<str>>(&self, users: &[S]) {
        let mut inner = lock(&self.inner);
        inner.generation += 1;
        for u in users {
            inner.known.remove(u.as_ref());
        }
    }

    /// Drops everything (a node the answers named did not take what was sent to it).
    pub fn clear(&self) {
        let mut inner = lock(&self.inner);
        inner.generation += 1;
        inner.known.clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    const EPOCH: (i64, u64) = (7, 0);

    #[test]
    fn an_answer_is_used_until_its_ttl_from_the_lookup_start() {
        let l = Locations::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let u = users(&["a", "b"]);
        let ticket = l.get(&u, EPOCH, t0).unwrap_err();
        l.keep(ticket, &u, &[("a".into(), 3), ("a".into(), 4)]);
        let got = l.get(&u, EPOCH, t0 + Duration::from_millis(999)).unwrap();
        assert_eq!(got, vec![("a".to_owned(), 3), ("a".to_owned(), 4)]);
        assert!(l.get(&u, EPOCH, t0 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn one_unknown_account_means_a_lookup_of_all() {
        let l = Locations::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let ticket = l.get(&users(&["a"]), EPOCH, t0).unwrap_err();
        l.keep(ticket, &users(&["a"]), &[]);
        assert_eq!(l.get(&users(&["a"]), EPOCH, t0), Ok(vec![]));
        assert!(l.get(&users(&["a", "b"]), EPOCH, t0).is_err());
    }

    #[test]
    fn a_forgotten_account_is_looked_up_again() {
        let l = Locations::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let u = users(&["a", "b"]);
        let ticket = l.get(&u, EPOCH, t0).unwrap_err();
        l.keep(ticket, &u, &[("b".into(), 2)]);
        l.forget(&["a"]);
        assert!(l.get(&u, EPOCH, t0).is_err());
        assert_eq!(l.get(&users(&["b"]), EPOCH, t0), Ok(vec![("b".into(), 2)]));
    }

    #[test]
    fn a_lookup_across_a_forget_is_not_kept() {
        let l = Locations::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let u = users(&["a"]);
        let ticket = l.get(&u, EPOCH, t0).unwrap_err();
        // The bind's `Moved` arrives while the lookup (which missed it) is out.
        l.forget(&["a"]);
        l.keep(ticket, &u, &[]);
        assert!(l.get(&u, EPOCH, t0).is_err(), "the stale answer was kept");
    }

    #[test]
    fn a_new_incarnation_or_a_broken_connection_drops_everything() {
        let l = Locations::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let u = users(&["a"]);
        let ticket = l.get(&u, EPOCH, t0).unwrap_err();
        l.keep(ticket, &u, &[("a".into(), 3)]);
        assert!(l.get(&u, EPOCH, t0).is_ok());
        assert!(l.get(&u, (7, 1), t0).is_err(), "after a NATS break");
        let ticket = l.get(&u, (7, 1), t0).unwrap_err();
        l.keep(ticket, &u, &[("a".into(), 3)]);
        assert!(l.get(&u, (8, 1), t0).is_err(), "under a new incarnation");
        // A lookup made under the old epoch is not kept under the new one.
        l.keep(ticket, &u, &[("a".into(), 3)]);
        assert!(l.get(&u, (8, 1), t0).is_err());
    }

    #[test]
    fn clear_drops_everything_and_a_zero_ttl_keeps_nothing() {
        let l = Locations::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let u = users(&["a"]);
        let ticket = l.get(&u, EPOCH, t0).unwrap_err();
        l.keep(ticket, &u, &[]);
        l.clear();
        assert!(l.get(&u, EPOCH, t0).is_err());

        let off = Locations::new(Duration::ZERO);
        let ticket = off.get(&u, EPOCH, t0).unwrap_err();
        off.keep(ticket, &u, &[]);
        assert!(off.get(&u, EPOCH, t0).is_err());
    }
}
