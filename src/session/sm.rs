//! XEP-0198 stream management, the client's side of the counting (docs/protocol.md X10):
//! how many of the server's stanzas we handled (`h`, answered to each `<r/>` and sent in a
//! `<resume/>`), which of ours the server has not acknowledged yet (resent, in order, after
//! a `<resumed/>`), and the stream id and full JID a later connection resumes. Plain data,
//! no I/O: the session feeds it, the client carries it from one connection to the next.

use std::collections::VecDeque;

use jid::FullJid;
use minidom::Element;
use serde::{Deserialize, Serialize};

use crate::protocol::sm::{wrapping_distance, Ack, Enabled};

/// Outbound stanzas kept for a resend at most; beyond it the stream stops being resumable
/// (the server's own bound, `[stream_management] max_queue`, is 5,000 too): a resume that
/// could not resend everything would lose a stanza silently.
pub const MAX_UNACKED: usize = 5_000;

/// Whether a stanza counts (RFC 6120 stanzas only; nonzas never do).
pub fn counts(e: &Element) -> bool {
    matches!(e.name(), "message" | "presence" | "iq")
        && e.ns() == crate::protocol::ns::JABBER_CLIENT
}

/// One managed stream's counters, from `<enable/>` on. Serializable: the browser keeps it
/// across a page reload so the next page resumes the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    /// The SM-ID a `<resume/>` names; `None` while `<enabled/>` is awaited or when the
    /// server did not make the stream resumable.
    pub id: Option<String>,
    /// The full JID the stream is bound to (a resumed stream keeps it).
    #[serde(with = "jid_text")]
    pub jid: FullJid,
    /// `<enabled/>` arrived: the server counts what it sends us from there.
    pub enabled: bool,
    /// The server's stanzas we handled (`h`), modulo 2^32.
    pub inbound: u32,
    /// Our stanzas sent since `<enable/>`, modulo 2^32.
    pub sent: u32,
    /// Ours the server has not acknowledged, oldest first, as written (the last is number
    /// `sent`).
    pub unacked: VecDeque<String>,
    /// An `<r/>` of ours is unanswered.
    pub ack_pending: bool,
}

/// The server acknowledged more than we ever sent (XEP-0198 §4 `handled-count-too-high`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooHigh {
    /// The server's `h`.
    pub h: u32,
    /// What we sent.
    pub sent: u32,
}

impl StreamState {
    /// `<enable/>` was just written on a stream bound to `jid`.
    pub fn enabling(jid: FullJid) -> StreamState {
        StreamState {
            id: None,
            jid,
            enabled: false,
            inbound: 0,
            sent: 0,
            unacked: VecDeque::new(),
            ack_pending: false,
        }
    }

    /// `<enabled/>` arrived.
    pub fn on_enabled(&mut self, e: &Enabled) {
        self.enabled = true;
        self.id = if e.resume { e.id.clone() } else { None };
    }

    /// Whether a later connection may try to resume this stream.
    pub fn resumable(&self) -> bool {
        self.enabled && self.id.is_some()
    }

    /// One of our stanzas was written.
    pub fn on_sent(&mut self, text: &str) {
        self.sent = self.sent.wrapping_add(1);
        if self.unacked.len() >= MAX_UNACKED {
            // Too far behind to resend everything: stop offering resumption rather than
            // resume with a hole.
            self.id = None;
            self.unacked.pop_front();
        }
        self.unacked.push_back(text.to_owned());
    }

    /// One of the server's stanzas was handled (only counted once `<enabled/>` came).
    pub fn on_received(&mut self) {
        if self.enabled {
            self.inbound = self.inbound.wrapping_add(1);
        }
    }

    /// Our `<a h/>` answer.
    pub fn ack(&self) -> Element {
        Ack { h: self.inbound }.into()
    }

    /// The server handled our stanzas up to `h`: forget those. An `h` behind what it
    /// acknowledged before is ignored; one above what we sent is an error.
    pub fn on_ack(&mut self, h: u32) -> Result<(), TooHigh> {
        let unacked = self.unacked.len() as u32;
        let acked = self.sent.wrapping_sub(unacked);
        let newly = wrapping_distance(acked, h);
        if newly > unacked {
            // Behind the last acknowledgement (a late `<a/>`): nothing new. Otherwise it
            // is beyond what was sent.
            if wrapping_distance(h, acked) < 1 << 31 {
                return Ok(());
            }
            return Err(TooHigh { h, sent: self.sent });
        }
        self.unacked.drain(..newly as usize);
        self.ack_pending = false;
        Ok(())
    }

    /// The stream was resumed and the server handled ours up to `h`: what to write again,
    /// in order (each is counted again as it is written).
    ///
    /// An `h` beyond what we counted is taken as is here, not refused: a state saved by an
    /// earlier page (the browser keeps it across a reload) lags behind what that page went
    /// on sending, and the server's count is the true one. Nothing of ours is then left
    /// to resend.
    pub fn on_resumed(&mut self, h: u32) -> Vec<String> {
        if self.on_ack(h).is_err() {
            self.sent = h;
            self.unacked.clear();
        }
        let resend: Vec<String> = self.unacked.drain(..).collect();
        self.sent = self.sent.wrapping_sub(resend.len() as u32);
        self.ack_pending = false;
        resend
    }
}

/// A full JID as its text (the jid crate is built without serde).
mod jid_text {
    use jid::FullJid;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(j: &FullJid, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(j)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FullJid, D::Error> {
        let text = String::deserialize(d)?;
        FullJid::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> StreamState {
        let mut s = StreamState::enabling(FullJid::new("a@b/c").unwrap());
        s.on_enabled(&Enabled {
            id: Some("sm1".into()),
            resume: true,
            ..Enabled::default()
        });
        s
    }

    #[test]
    fn acks_drop_what_they_acknowledge_and_resume_resends_the_rest_in_order() {
        let mut s = state();
        for i in 0..5 {
            s.on_sent(&format!("<message id='{i}'/>"));
        }
        s.on_ack(2).unwrap();
        assert_eq!(s.unacked.len(), 3);
        // An older h is ignored.
        s.on_ack(1).unwrap();
        assert_eq!(s.unacked.len(), 3);
        assert_eq!(s.on_ack(9), Err(TooHigh { h: 9, sent: 5 }));
        let again = s.on_resumed(3);
        assert_eq!(again, vec!["<message id='3'/>", "<message id='4'/>"]);
        assert_eq!(s.sent, 3);
        for w in &again {
            s.on_sent(w);
        }
        assert_eq!(s.sent, 5);
        s.on_ack(5).unwrap();
        assert!(s.unacked.is_empty());
    }

    #[test]
    fn a_resumption_ahead_of_a_saved_state_takes_the_servers_count() {
        let mut s = state();
        s.on_sent("<message id='1'/>");
        // The page that saved this went on to send 4 more before it was reloaded.
        assert!(s.on_resumed(5).is_empty());
        assert_eq!((s.sent, s.unacked.len()), (5, 0));
        s.on_sent("<message id='6'/>");
        s.on_ack(6).unwrap();
        assert!(s.unacked.is_empty());
    }

    #[test]
    fn inbound_counts_only_once_enabled_and_wraps() {
        let mut s = StreamState::enabling(FullJid::new("a@b/c").unwrap());
        s.on_received();
        assert_eq!(s.inbound, 0);
        assert!(!s.resumable());
        s.on_enabled(&Enabled {
            id: Some("x".into()),
            resume: true,
            ..Enabled::default()
        });
        s.inbound = u32::MAX;
        s.on_received();
        assert_eq!(s.inbound, 0);
        assert_eq!(
            crate::session::framing::serialize(&s.ack()),
            "<a xmlns='urn:xmpp:sm:3' h='0'/>"
        );
    }

    #[test]
    fn counters_wrap_at_two_to_the_thirty_second() {
        let mut s = state();
        s.sent = u32::MAX - 1;
        s.on_sent("<iq id='1'/>");
        s.on_sent("<iq id='2'/>");
        assert_eq!(s.sent, 0);
        s.on_ack(u32::MAX).unwrap();
        assert_eq!(s.unacked.len(), 1);
        s.on_ack(0).unwrap();
        assert!(s.unacked.is_empty());
    }

    #[test]
    fn a_stream_too_far_behind_stops_being_resumable() {
        let mut s = state();
        for _ in 0..=MAX_UNACKED {
            s.on_sent("<message/>");
        }
        assert!(!s.resumable());
        assert_eq!(s.unacked.len(), MAX_UNACKED);
    }

    #[test]
    fn a_stream_enabled_without_resume_is_not_resumable() {
        let mut s = StreamState::enabling(FullJid::new("a@b/c").unwrap());
        s.on_enabled(&Enabled::default());
        assert!(!s.resumable());
    }

    #[test]
    fn the_state_survives_a_round_trip_through_json_and_bad_json_is_refused() {
        let mut s = state();
        s.on_sent("<message id='1'/>");
        s.on_received();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<StreamState>(&text).unwrap(), s);
        let bad = text.replace("a@b/c", "not a jid@");
        assert!(serde_json::from_str::<StreamState>(&bad).is_err());
    }
}
