//! A wake in one round trip (issue 26): a device that holds a FAST token for a server whose
//! SASL2 offer it has seen ([`super::Sasl2Offer`], kept in the wake state with the token)
//! sends its `<authenticate/>` — the token, the inline `<resume/>`, the Bind 2 fallback —
//! with the stream header, in the same write on TCP and right behind `<open/>` on WebSocket,
//! instead of waiting for the stream features. The features still come first; they only
//! confirm what was assumed. Should they no longer offer SASL2 with the token's mechanism,
//! the server has an `<authenticate/>` it may not take: the session ends with
//! [`SessionError::Sasl2Withdrawn`], the offer is forgotten, and the client reconnects at
//! once, waiting for the features this time. The password is never involved: a pipelined
//! sign-in is a token sign-in. A server never seen to offer SASL2 (ejabberd 23.01) is never
//! sent one unasked.

use minidom::Element;

use super::{Session, SessionError, SessionOut};
use crate::protocol::ns;
use crate::protocol::sasl2::Authentication;

use super::sasl2::Sasl2Offer;

impl Session {
    /// What the stream opens with: the header, and the `<authenticate/>` when it may go
    /// before the features (one write on TCP; two messages on WebSocket, RFC 7395 allowing
    /// one element per message).
    pub(super) fn opening(&mut self) -> Vec<SessionOut> {
        let open = self.cfg.framing.open(self.cfg.jid.domain().as_str());
        let Some(auth) = self.early_authenticate() else {
            return vec![SessionOut::Write(open)];
        };
        self.pipelined = true;
        match self.cfg.framing {
            super::Framing::Tcp => vec![SessionOut::Write(open + &auth)],
            super::Framing::WebSocket => vec![SessionOut::Write(open), SessionOut::Write(auth)],
        }
    }

    /// The token sign-in to send before the features, when the device holds a token for a
    /// mechanism the server offered in SASL2 last time it was seen.
    fn early_authenticate(&mut self) -> Option<String> {
        let token = self.wake.token.as_ref()?;
        let offer = self
            .wake
            .sasl2
            .as_ref()
            .filter(|_| self.wake.manage && self.wake.device_id.is_some())
            .filter(|o| o.fast.contains(&token.mechanism))?;
        let auth = offer.authentication();
        let state = self.state;
        let out = self.sasl2_authenticate(&auth);
        // It builds the request from the offer and moves on to waiting for the answer; the
        // header's answer and the features come first.
        self.state = state;
        match <[SessionOut; 1]>::try_from(out) {
            Ok([SessionOut::Write(w)]) => Some(w),
            // A token sign-in has nothing that can fail here; should it, negotiate as usual.
            _ => {
                self.fast_in_use = None;
                self.mech = None;
                None
            }
        }
    }

    /// The pre-auth features after a pipelined `<authenticate/>`: its answer comes next if
    /// they offer SASL2 with the token's mechanism; else this stream cannot go on.
    pub(super) fn pipelined_features(&mut self, features: &Element) -> Vec<SessionOut> {
        self.pipelined = false;
        let offer = features
            .get_child("authentication", ns::SASL2)
            .and_then(|a| Authentication::try_from(a).ok());
        self.remember_offer(offer.as_ref());
        let mechanism = self.fast_in_use.as_ref().map(|t| t.mechanism.as_str());
        let takes_token = offer
            .as_ref()
            .and_then(|a| a.fast.as_ref())
            .is_some_and(|f| mechanism.is_some_and(|m| f.mechanisms.iter().any(|o| o == m)));
        match offer.filter(|_| takes_token) {
            Some(auth) => {
                self.csi = auth
                    .bind
                    .as_ref()
                    .is_some_and(|b| b.inline.iter().any(|f| f == ns::CSI));
                self.state = super::State::Sasl2;
                Vec::new()
            }
            None => {
                // Not the token's fault: it stays for when the server offers FAST again.
                self.fast_in_use = None;
                self.fail(SessionError::Sasl2Withdrawn)
            }
        }
    }

    /// Keeps what the pre-auth features offered in SASL2 (nothing: `None`) for the next
    /// connection to decide whether to pipeline. Only a managed session keeps it.
    pub(super) fn remember_offer(&mut self, offer: Option<&Authentication>) {
        if self.wake.manage {
            self.wake.sasl2 = offer.map(Sasl2Offer::from);
        }
    }
}
