//! What a lost connection had in flight, held while its stream may still be resumed
//! (XEP-0198): the IQs it sent and everything their answers need (the resync's queries,
//! history pages being received, rooms being subscribed to, the connect-time steps, the
//! rooms whose features are asked). A resumed stream goes on where it stopped — the
//! session writes again what the server never handled, the server sends again what we
//! never acknowledged — so those IQs are answered on it, once each, and nothing is asked
//! again. Only when the resumption fails (`<failed/>` and a new session), becomes
//! impossible (no resumable stream, the app closes or must sign in again) or is not
//! answered in time is the connection's state dropped, as it is at once without stream
//! management: every command answered `disconnected`, the resync reset.
//!
//! Everything but the IQs simply stays in place on the [`Client`]: nothing changes it while
//! no session is ready (commands are refused, resync retries wait for a session). The IQs
//! are set aside so that their deadlines stop running: a device asleep for longer than the
//! IQ timeout would otherwise fail them the moment it wakes, with their answers on their
//! way. The wait itself is bounded instead ([`ClientConfig::iq_timeout_ms`] from the loss),
//! so no command waits forever on a server that stays out of reach.
//!
//! [`ClientConfig::iq_timeout_ms`]: super::ClientConfig::iq_timeout_ms

use super::pending::Held;
use super::{Action, Client};
use crate::protocol::time::Timestamp;
use crate::session::iq::IqTracker;

impl Client {
    /// Whether the next connection may resume the stream just lost: the app still wants
    /// to be connected and the session kept a stream the server made resumable.
    fn resumption_possible(&self) -> bool {
        let wake = self.session.wake();
        self.want_connected && wake.manage && wake.stream.as_ref().is_some_and(|s| s.resumable())
    }

    /// The connection is gone (or a connection attempt failed): hold what it had in
    /// flight while a resumption is possible, else drop it (and anything held before).
    pub(super) fn connection_lost(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        if !self.resumption_possible() {
            self.resumption_failed(out);
            self.drop_connection_state(out);
        } else if self.held.is_none() {
            let prefix = format!("c{}-lost-", self.connection);
            let iqs = std::mem::replace(&mut self.iqs, IqTracker::new(prefix));
            self.held = Some(Held {
                iqs,
                until: now.0.saturating_add(self.cfg.iq_timeout_ms),
            });
        }
        // Else a further attempt failed before the resumption was answered: it had
        // nothing in flight (nothing is sent before a session is ready), the wait goes on.
    }

    /// A new connection starts: what a former one held stays held for its resumption;
    /// anything else of the former connection can never be answered now.
    pub(super) fn connection_starts(&mut self, out: &mut Vec<Action>) {
        if self.held.is_none() {
            self.drop_connection_state(out);
        }
    }

    /// The stream was resumed: the held IQs are this session's again. Returns `false` when
    /// nothing was held (the stream was lost before this client existed: a browser page
    /// reloaded), which leaves the resumption to the caller.
    pub(super) fn resumption_succeeded(&mut self, now: Timestamp) -> bool {
        let Some(held) = self.held.take() else {
            return false;
        };
        // Their ids are the lost connection's: keep them under this connection's tracker
        // (nothing was sent on it yet), with a new deadline.
        self.iqs.resume(held.iqs, now.0, self.cfg.iq_timeout_ms);
        true
    }

    /// The resumption was refused or is out of reach: fail what was held, as a lost
    /// connection without stream management does at once.
    pub(super) fn resumption_failed(&mut self, out: &mut Vec<Action>) {
        if let Some(held) = self.held.take() {
            let current = std::mem::replace(&mut self.iqs, held.iqs);
            self.drop_connection_state(out);
            self.iqs = current;
        }
    }

    /// Gives up a wait that lasted its time.
    pub(super) fn expire_held(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        if self.held.as_ref().is_some_and(|h| h.until <= now.0) {
            self.resumption_failed(out);
        }
    }

    /// When the wait for the resumption ends, for the driver's timer.
    pub(super) fn held_deadline(&self) -> Option<i64> {
        self.held.as_ref().map(|h| h.until)
    }
}
