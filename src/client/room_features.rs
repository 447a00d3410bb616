//! Which rooms' occupant-ids (XEP-0421) can be trusted. Only a room that advertises
//! `urn:xmpp:occupant-id:0` in its disco#info promises to strip what clients send in that
//! namespace and add its own; any other room (ejabberd 23.01) relays a client's
//! `<occupant-id/>` as is, so there another occupant could forge one and pass for someone
//! else in the fold (replace their reactions, correct or retract their messages). The
//! core therefore asks each room's disco#info once, holds the room's resync until the
//! answer (an error counts as "not advertised"; a transient one, such as a timeout, only
//! for that resync), and drops occupant-ids from
//! every event of a room not known to advertise the feature before it reaches the store.
//! Kept apart from `sync` on purpose: `sync` only calls [`Client::enqueue_resync`].

use jid::BareJid;
use minidom::Element;

use super::pending::Pending;
use super::{Action, Client, RoomFeatures};
use crate::event::{Change, EventKind, RoomEvent};
use crate::protocol::disco::DiscoInfoResult;
use crate::protocol::time::Timestamp;
use crate::protocol::{ns, SyncEnd};

impl RoomFeatures {
    /// The connection is gone: its questions will never be answered; the next
    /// reconciliation queues the rooms again.
    pub(super) fn on_disconnect(&mut self) {
        self.asked.clear();
        self.held.clear();
    }

    /// No resync is held for an answer.
    pub(super) fn is_idle(&self) -> bool {
        self.held.is_empty()
    }
}

impl Client {
    /// Queue `room`'s resync, once its occupant-id feature is known (asked first if not).
    pub(super) fn enqueue_resync(
        &mut self,
        room: BareJid,
        hint: Option<&SyncEnd>,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let key = room.to_string();
        if self.room_features.trusted.contains_key(&key) {
            self.resync.enqueue(room, hint);
            return;
        }
        self.room_features.held.insert(key, hint.cloned());
        self.ask_room_features(&room, now, out);
    }

    fn ask_room_features(&mut self, room: &BareJid, now: Timestamp, out: &mut Vec<Action>) {
        if !self.room_features.asked.insert(room.to_string()) {
            return;
        }
        let q = Element::builder("query", ns::DISCO_INFO).build();
        let p = Pending::RoomFeatures { room: room.clone() };
        self.send_iq("get", room.as_str(), q, p, now, out);
    }

    /// The room's disco#info answer (`None`: an error or a timeout, not advertised):
    /// remember it and start the resync it held. A transient failure (a timeout, a `wait`
    /// error) is not remembered: this resync goes without occupant-ids, and the room is
    /// asked again later (a live event, the next connection), so a slow moment does not
    /// cost a room that has them its occupant-ids for the client's life.
    pub(super) fn room_features_in(
        &mut self,
        room: BareJid,
        info: Option<&Element>,
        transient: bool,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let key = room.to_string();
        self.room_features.asked.remove(&key);
        let has = info
            .and_then(|q| DiscoInfoResult::try_from(q.clone()).ok())
            .is_some_and(|d| d.features.contains(ns::OCCUPANT_ID));
        if !transient {
            self.room_features.trusted.insert(key.clone(), has);
        }
        if let Some(hint) = self.room_features.held.remove(&key) {
            // Left meanwhile: nothing to resync.
            if self.subs.contains_key(&key) {
                self.resync.enqueue(room, hint.as_ref());
            }
            let r = self.resync.pump();
            self.resync_out(r, now, out);
        }
        self.check_synced(out);
    }

    /// Drop the occupant-ids of `events` (of `room`) unless the room advertises them. A
    /// live event of a room not asked yet (a resumed stream has no reconciliation) asks,
    /// and goes without: the archive copy a later resync brings has it again.
    pub(super) fn vet_occupant_ids(
        &mut self,
        room: &str,
        events: &mut [RoomEvent],
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        match self.room_features.trusted.get(room) {
            Some(true) => return,
            Some(false) => {}
            None => {
                if let Ok(j) = BareJid::new(room) {
                    if self.session.is_ready() {
                        self.ask_room_features(&j, now, out);
                    }
                }
            }
        }
        events.iter_mut().for_each(drop_occupant_ids);
    }
}

/// Forget every occupant-id an event carries (the sender's, a moderator's).
fn drop_occupant_ids(ev: &mut RoomEvent) {
    ev.occupant_id = None;
    if let Some(m) = ev.retracted.as_mut().and_then(|r| r.moderated.as_mut()) {
        m.occupant_id = None;
    }
    if let EventKind::Change {
        change: Change::Retract(r),
        ..
    } = &mut ev.kind
    {
        if let Some(m) = r.moderated.as_mut() {
            m.occupant_id = None;
        }
    }
}
