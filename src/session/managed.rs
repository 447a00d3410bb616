//! The session's XEP-0198 stream management (docs/protocol.md X10) on a bound stream:
//! counting and keeping what we send, answering `<r/>`, taking `<a/>`, and resuming the
//! former stream with `<resume/>` after RFC 6120 SASL (ejabberd 23.01), with a new bind as
//! the fallback. The counters themselves are [`super::sm::StreamState`]'s.

use jid::FullJid;
use minidom::Element;

use super::sm;
use super::{framing, Session, SessionError, SessionOut, State};
use crate::protocol::ns;
use crate::protocol::sm::{Nonza, Resume};

impl Session {
    /// Write a stanza (only meaningful once ready). On a managed stream it is counted and
    /// kept until the server acknowledges it, and an `<r/>` follows when none is out.
    pub fn send(&mut self, stanza: &Element) -> Vec<SessionOut> {
        let text = framing::serialize(stanza);
        let mut out = Vec::new();
        let managed = self.state == State::Ready && sm::counts(stanza);
        match self.wake.stream.as_mut().filter(|_| managed) {
            Some(st) => {
                st.on_sent(&text);
                out.push(SessionOut::Write(text));
                if st.enabled && !st.ack_pending {
                    st.ack_pending = true;
                    out.push(SessionOut::Write(framing::serialize(&Element::from(
                        crate::protocol::sm::AckRequest,
                    ))));
                }
            }
            None => out.push(SessionOut::Write(text)),
        }
        out
    }

    /// Authenticated stream features (RFC 6120 path, or SASL2 without an inline bind):
    /// resume the former stream where XEP-0198 is offered and one is waiting, else bind.
    pub(super) fn bind(&mut self, features: &Element) -> Vec<SessionOut> {
        self.csi = features.has_child("csi", ns::CSI);
        self.sm_offered = self.wake.manage && features.has_child("sm", ns::SM);
        let bind = features.has_child("bind", ns::BIND);
        if self.sm_offered {
            if let Some(st) = self.wake.stream.as_ref().filter(|s| s.resumable()) {
                let resume = Resume {
                    previd: st.id.clone().unwrap_or_default(),
                    h: st.inbound,
                };
                self.state = State::Resuming { bind };
                return vec![self.write(&resume.into())];
            }
        }
        self.wake.stream = None;
        self.bind_request(bind)
    }

    /// The answer to a `<resume/>` after RFC 6120 SASL: `<resumed/>`, or `<failed/>` and
    /// we bind a new session on the same stream.
    pub(super) fn legacy_resume_answer(&mut self, e: &Element, bind: bool) -> Vec<SessionOut> {
        match Nonza::try_from(e) {
            Ok(Nonza::Resumed(r)) => {
                let Some(mut st) = self.wake.stream.take() else {
                    return self.fail(SessionError::Protocol("resumed without a stream".into()));
                };
                let resend = st.on_resumed(r.h);
                let jid = st.jid.clone();
                self.wake.stream = Some(st);
                self.resumed(jid, resend)
            }
            Ok(Nonza::Failed(_)) => {
                self.wake.stream = None;
                self.bind_request(bind)
            }
            _ => self.fail(SessionError::Protocol(format!(
                "unexpected <{}/> while resuming",
                e.name()
            ))),
        }
    }

    /// The former stream continues: write again what the server never handled, in order.
    pub(super) fn resumed(&mut self, jid: FullJid, resend: Vec<String>) -> Vec<SessionOut> {
        self.bound = Some(jid.clone());
        self.state = State::Ready;
        let mut out = Vec::new();
        if let Some(st) = self.wake.stream.as_mut() {
            for text in resend {
                st.on_sent(&text);
                out.push(SessionOut::Write(text));
            }
            if !st.unacked.is_empty() {
                st.ack_pending = true;
                out.push(self.write(&crate::protocol::sm::AckRequest.into()));
            }
        }
        out.push(SessionOut::Resumed(jid));
        out
    }

    /// A stream-management nonza on a ready stream: answer `<r/>`, take `<a/>` and
    /// `<enabled/>`/`<failed/>` (the answer to an RFC 6120-path `<enable/>`).
    pub(super) fn sm_nonza(&mut self, e: &Element) -> Vec<SessionOut> {
        let nonza = match Nonza::try_from(e) {
            Ok(n) => n,
            Err(err) => return self.fail(SessionError::Protocol(err.to_string())),
        };
        let Some(st) = self.wake.stream.as_mut() else {
            return Vec::new();
        };
        match nonza {
            Nonza::Request(_) => {
                let ack = st.ack();
                vec![self.write(&ack)]
            }
            Nonza::Ack(a) => match st.on_ack(a.h) {
                Ok(()) => Vec::new(),
                Err(t) => self.fail(SessionError::Protocol(format!(
                    "the server acknowledged {} stanzas, {} were sent",
                    t.h, t.sent
                ))),
            },
            Nonza::Enabled(en) => {
                st.on_enabled(&en);
                Vec::new()
            }
            Nonza::Failed(_) => {
                self.wake.stream = None;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}
