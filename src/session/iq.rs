//! IQ correlation with timeouts. Time is passed in (milliseconds, any epoch).

use crate::keyed::Keyed;

/// Pending IQs, each with a deadline and what the caller wants back on completion.
pub struct IqTracker<T> {
    pending: Keyed<(i64, T)>,
    next: u64,
    prefix: String,
}

impl<T> IqTracker<T> {
    /// Ids are `{prefix}{n}`; a per-connection prefix keeps late answers from an old
    /// connection from matching new requests.
    pub fn new(prefix: impl Into<String>) -> Self {
        IqTracker {
            pending: Keyed::new(),
            next: 0,
            prefix: prefix.into(),
        }
    }

    /// Register a request; returns the id to put on the IQ.
    pub fn register(&mut self, now: i64, timeout_ms: i64, tag: T) -> String {
        self.next += 1;
        let id = format!("{}{}", self.prefix, self.next);
        self.pending
            .insert(id.clone(), (now.saturating_add(timeout_ms), tag));
        id
    }

    /// The answer to `id` arrived.
    pub fn resolve(&mut self, id: &str) -> Option<T> {
        self.pending.remove(id).map(|(_, t)| t)
    }

    /// Requests whose deadline passed.
    pub fn expire(&mut self, now: i64) -> Vec<(String, T)> {
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (d, _))| *d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        due.into_iter()
            .filter_map(|id| self.pending.remove(&id).map(|(_, t)| (id, t)))
            .collect()
    }

    /// The earliest deadline, for the driver's timer.
    pub fn next_deadline(&self) -> Option<i64> {
        self.pending.values().map(|(d, _)| *d).min()
    }

    /// Take back the requests of a stream that was resumed (`held`, set aside when its
    /// connection was lost; its ids stay valid, the resumed stream answers them), each
    /// given until `now + timeout_ms`: written again on resumption, or answered from the
    /// server's queue, they wait as long as a request just sent.
    pub fn resume(&mut self, held: IqTracker<T>, now: i64, timeout_ms: i64) {
        let deadline = now.saturating_add(timeout_ms);
        for (id, (_, t)) in held.pending {
            self.pending.insert(id, (deadline, t));
        }
    }

    /// Drop everything (connection lost); returns what was pending.
    pub fn clear(&mut self) -> Vec<(String, T)> {
        self.pending.drain().map(|(id, (_, t))| (id, t)).collect()
    }

    /// Nothing in flight.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_and_expires() {
        let mut t = IqTracker::new("c1-");
        let a = t.register(0, 100, "a");
        let b = t.register(10, 100, "b");
        assert_ne!(a, b);
        assert_eq!(t.next_deadline(), Some(100));
        assert_eq!(t.resolve(&a), Some("a"));
        assert_eq!(t.resolve(&a), None);
        assert!(t.expire(109).is_empty());
        assert_eq!(t.expire(110), vec![(b, "b")]);
        assert!(t.is_empty());
    }

    #[test]
    fn a_resumed_streams_requests_come_back_with_a_new_deadline() {
        let mut held = IqTracker::new("c1-");
        let a = held.register(0, 100, "a");
        let mut t = IqTracker::new("c2-");
        // Long after the first deadline (a sleeping device): not expired at once.
        t.resume(held, 5_000, 100);
        assert!(t.expire(5_099).is_empty());
        assert_eq!(t.next_deadline(), Some(5_100));
        assert_eq!(t.resolve(&a), Some("a"));
    }
}
