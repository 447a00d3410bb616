//! One managed stream's counters and its queue of unacknowledged stanzas (XEP-0198 §4),
//! without I/O: the session loop tells it what it sent and what the client acknowledged,
//! and asks it what to send again on resumption and what is left when the session ends.
//!
//! Sequence numbers are `u32` and wrap at 2^32. A stanza's number is the value of the
//! sent counter after it was counted; the client's `h` acknowledges every stanza up to its
//! value. The queue always holds exactly the stanzas numbered `acked+1 ..= sent`.

use mucsub_protocol::sm::wrapping_distance;
use std::collections::VecDeque;

/// The client acknowledged more stanzas than it was sent (XEP-0198 §5): the stream ends
/// with `undefined-condition` and `<handled-count-too-high/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooHigh {
    pub h: u32,
    pub sent: u32,
}

/// A stanza that was never acknowledged, when the session ends for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unacked {
    pub xml: String,
    /// Whether storing it offline should fire push: false for what arrived while the
    /// session waited to be resumed (the router counted the waiting session as inactive
    /// and pushed it then) and for everything when the client had said `<inactive/>`.
    pub push: bool,
}

/// The stream-management state of one session. It outlives a connection: it waits with
/// the session while the client is away and moves to the connection that resumes it.
#[derive(Debug)]
pub struct StreamState {
    /// The SM-ID when the stream is resumable.
    id: Option<String>,
    /// How long the session waits for a resumption, in seconds.
    timeout_secs: u32,
    /// Stanzas handled from the client (the `h` we report).
    inbound: u32,
    /// Stanzas sent to the client (the number of the last one).
    sent: u32,
    /// The client's last `h`.
    acked: u32,
    unacked: VecDeque<String>,
    /// An `<r/>` went out and its `<a/>` has not come back.
    ack_requested: bool,
    /// The sent counter when the session last started waiting for a resumption.
    waiting_since: Option<u32>,
}

impl StreamState {
    /// Management just enabled (`<enabled/>` sent): both counters at zero. `id` is the
    /// SM-ID when resumption was granted.
    pub fn new(id: Option<String>, timeout_secs: u32) -> StreamState {
        StreamState {
            id,
            timeout_secs,
            inbound: 0,
            sent: 0,
            acked: 0,
            unacked: VecDeque::new(),
            ack_requested: false,
            waiting_since: None,
        }
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn timeout_secs(&self) -> u32 {
        self.timeout_secs
    }

    /// The `h` to report: stanzas handled from the client.
    pub fn inbound(&self) -> u32 {
        self.inbound
    }

    /// Stanzas sent so far (modulo 2^32).
    pub fn sent_count(&self) -> u32 {
        self.sent
    }

    /// A stanza from the client was handled.
    pub fn handled(&mut self) {
        self.inbound = self.inbound.wrapping_add(1);
    }

    /// A stanza was written to the client (or, while the session waits, queued for it:
    /// it is numbered now and sent again on resumption like any unacknowledged one).
    pub fn sent(&mut self, xml: String) {
        self.sent = self.sent.wrapping_add(1);
        self.unacked.push_back(xml);
    }

    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// The client's `<a h/>`: drops what it acknowledged. An `h` behind the last one (by
    /// less than 2^31) changes nothing; one beyond what was sent is an error.
    pub fn ack(&mut self, h: u32) -> Result<(), TooHigh> {
        let newly = wrapping_distance(self.acked, h);
        if newly as usize <= self.unacked.len() {
            self.unacked.drain(..newly as usize);
            self.acked = h;
            self.ack_requested = false;
            return Ok(());
        }
        if newly > u32::MAX / 2 {
            // Stale: behind what was already acknowledged.
            self.ack_requested = false;
            return Ok(());
        }
        Err(TooHigh { h, sent: self.sent })
    }

    /// Whether to send `<r/>` now: something is unacknowledged and no request is out.
    pub fn want_ack(&mut self) -> bool {
        if self.unacked.is_empty() || self.ack_requested {
            return false;
        }
        self.ack_requested = true;
        true
    }

    /// The connection was lost: the session starts waiting for a resumption.
    pub fn wait(&mut self) {
        self.waiting_since = Some(self.sent);
        self.ack_requested = false;
    }

    /// Checks a `<resume h/>` without changing anything, so a refused resumption leaves
    /// the session as it was.
    pub fn check_resume(&self, h: u32) -> Result<(), TooHigh> {
        let newly = wrapping_distance(self.acked, h);
        if newly as usize <= self.unacked.len() || newly > u32::MAX / 2 {
            Ok(())
        } else {
            Err(TooHigh { h, sent: self.sent })
        }
    }

    /// A resumption with the client's `h`: drops what it acknowledged and returns what to
    /// send again, oldest first (numbered as before, so the client's count continues).
    pub fn resume(&mut self, h: u32) -> Result<Vec<String>, TooHigh> {
        self.ack(h)?;
        self.waiting_since = None;
        self.ack_requested = false;
        Ok(self.unacked.iter().cloned().collect())
    }

    /// The session ends for good: what was never acknowledged, oldest first. `inactive`:
    /// the client had said `<inactive/>` (XEP-0352), so push already fired for it all.
    pub fn into_unacked(self, inactive: bool) -> Vec<Unacked> {
        let first = self.acked.wrapping_add(1);
        let waiting_since = self.waiting_since;
        self.unacked
            .into_iter()
            .enumerate()
            .map(|(i, xml)| {
                let seq = first.wrapping_add(i as u32);
                let arrived_while_waiting = waiting_since
                    .is_some_and(|w| wrapping_distance(w, seq).wrapping_sub(1) < u32::MAX / 2);
                Unacked {
                    xml,
                    push: !inactive && !arrived_while_waiting,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_sent(n: usize) -> StreamState {
        let mut s = StreamState::new(Some("id".into()), 300);
        for i in 0..n {
            s.sent(format!("<m{i}/>"));
        }
        s
    }

    #[test]
    fn acks_drop_what_they_cover() {
        let mut s = with_sent(5);
        assert_eq!(s.sent_count(), 5);
        s.ack(2).unwrap();
        assert_eq!(s.unacked_len(), 3);
        s.ack(2).unwrap();
        assert_eq!(s.unacked_len(), 3, "the same h twice changes nothing");
        s.ack(1).unwrap();
        assert_eq!(s.unacked_len(), 3, "a stale h changes nothing");
        assert_eq!(s.ack(6), Err(TooHigh { h: 6, sent: 5 }));
        s.ack(5).unwrap();
        assert_eq!(s.unacked_len(), 0);
    }

    #[test]
    fn inbound_counts_and_wraps() {
        let mut s = StreamState::new(None, 0);
        s.inbound = u32::MAX;
        s.handled();
        assert_eq!(s.inbound(), 0);
        s.handled();
        assert_eq!(s.inbound(), 1);
    }

    #[test]
    fn counters_wrap_at_2_32() {
        let mut s = StreamState::new(None, 0);
        s.sent = u32::MAX - 1;
        s.acked = u32::MAX - 1;
        for i in 0..4 {
            s.sent(format!("<m{i}/>"));
        }
        assert_eq!(s.sent_count(), 2);
        // h = u32::MAX acknowledges the first one, h = 1 the first three.
        s.ack(u32::MAX).unwrap();
        assert_eq!(s.unacked_len(), 3);
        s.ack(1).unwrap();
        assert_eq!(s.unacked_len(), 1);
        assert_eq!(s.resume(1).unwrap(), vec!["<m3/>".to_owned()]);
        assert_eq!(s.ack(3), Err(TooHigh { h: 3, sent: 2 }));
    }

    #[test]
    fn at_most_one_ack_request_out() {
        let mut s = with_sent(0);
        assert!(!s.want_ack(), "nothing to acknowledge");
        s.sent("<m/>".into());
        assert!(s.want_ack());
        assert!(!s.want_ack());
        s.ack(1).unwrap();
        s.sent("<n/>".into());
        assert!(s.want_ack(), "the answer came back");
    }

    #[test]
    fn resume_resends_what_was_not_acknowledged_in_order() {
        let mut s = with_sent(4);
        s.ack(1).unwrap();
        s.wait();
        s.sent("<while-away/>".into());
        assert_eq!(s.check_resume(9), Err(TooHigh { h: 9, sent: 5 }));
        assert!(s.check_resume(2).is_ok());
        assert_eq!(s.unacked_len(), 4, "checking changes nothing");
        let again = s.resume(2).unwrap();
        assert_eq!(again, vec!["<m2/>", "<m3/>", "<while-away/>"]);
        // Counting goes on from where it was.
        s.sent("<after/>".into());
        assert_eq!(s.sent_count(), 6);
        s.ack(6).unwrap();
        assert_eq!(s.unacked_len(), 0);
    }

    #[test]
    fn what_is_left_knows_what_was_pushed_already() {
        let mut s = with_sent(2);
        s.wait();
        s.sent("<queued/>".into());
        let left = s.into_unacked(false);
        let pushes: Vec<bool> = left.iter().map(|u| u.push).collect();
        assert_eq!(pushes, vec![true, true, false]);
        assert_eq!(left[2].xml, "<queued/>");

        let mut s = with_sent(1);
        s.wait();
        assert!(s.into_unacked(true).iter().all(|u| !u.push));

        let s = with_sent(1);
        assert!(
            s.into_unacked(false)[0].push,
            "never waited: not pushed yet"
        );
    }
}
