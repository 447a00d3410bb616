//! Which rooms' occupant-ids (XEP-0421) can be trusted. Only a room that advertises
//! `urn:xmpp:occupant-id:0` in its disco#info promises to strip what clients send in that
//! namespace and add its own; any other room (ejabberd 23.01) relays a client's
//! `<occupant-id/>` as is, so there another occupant could forge one and pass for someone
//! else in the fold (replace their reactions, correct or retract their messages). The
//! core therefore asks each room's disco#info once, holds the room's resync until the
//! answer (an error counts as "not advertised"; a transient one, such as a timeout, only
//! for that resync), keeps the room's live events until then, and drops occupant-ids from
//! every event of a room not known to advertise the feature before it reaches the store.
//! Kept apart from `sync` on purpose: `sync` only calls [`Client::enqueue_resync`].

use jid::BareJid;
use minidom::Element;

use super::pending::Pending;
use super::{Action, Client, RoomFeatures, StoreOp};
use crate::event::{Change, EventKind, RoomEvent};
use crate::protocol::time::Timestamp;
use crate::protocol::{ns, SyncEnd};
use crate::store::Page;

impl RoomFeatures {
    /// No resync is held for an answer.
    pub(super) fn is_idle(&self) -> bool {
        self.held.is_empty()
    }
}

impl Client {
    /// The connection is gone: its questions will never be answered (the next
    /// reconciliation queues the rooms again); the live events they held are stored now,
    /// without occupant-ids.
    pub(super) fn room_features_lost(&mut self, out: &mut Vec<Action>) {
        self.room_features.asked.clear();
        self.room_features.held.clear();
        let live: Vec<Page> = self
            .room_features
            .live
            .drain()
            .flat_map(|(_, p)| p)
            .collect();
        for mut page in live {
            page.events.iter_mut().for_each(drop_occupant_ids);
            out.push(Action::Store(StoreOp::Apply(page)));
        }
    }

    /// A page of live events: stored now with its occupant-ids vetted, or, while its
    /// room's answer is awaited (asked now if the room is not known: a resumed stream has
    /// no reconciliation), kept until the answer, so live events keep a trusted room's ids.
    pub(super) fn live_page(&mut self, mut page: Page, now: Timestamp, out: &mut Vec<Action>) {
        if !self.room_features.trusted.contains_key(&page.room) && self.session.is_ready() {
            if let Ok(room) = BareJid::new(&page.room) {
                self.ask_room_features(&room, now, out);
            }
            if self.room_features.asked.contains(&page.room) {
                let held = self
                    .room_features
                    .live
                    .get_or_insert_with(&page.room, Vec::new);
                held.push(page);
                return;
            }
        }
        let room = page.room.clone();
        self.vet_occupant_ids(&room, &mut page.events);
        out.push(Action::Store(StoreOp::Apply(page)));
    }

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
        let has = info.is_some_and(advertises_occupant_id);
        if !transient {
            self.room_features.trusted.insert(key.clone(), has);
        }
        for mut page in self.room_features.live.remove(&key).unwrap_or_default() {
            if !has {
                page.events.iter_mut().for_each(drop_occupant_ids);
            }
            out.push(Action::Store(StoreOp::Apply(page)));
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

    /// Drop the occupant-ids of `events` (of `room`) unless the room advertises them.
    pub(super) fn vet_occupant_ids(&self, room: &str, events: &mut [RoomEvent]) {
        if self.room_features.trusted.get(room) != Some(&true) {
            events.iter_mut().for_each(drop_occupant_ids);
        }
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

/// Whether a disco#info `<query/>` lists `<feature var='urn:xmpp:occupant-id:0'/>`. Read
/// over minidom rather than through `xmpp_parsers::disco::DiscoInfoResult`: its generated
/// parser brings data forms, their validation and media elements (for the extensions the
/// SDK never reads) into the browser package, 55 KB of wasm for this one question.
fn advertises_occupant_id(query: &Element) -> bool {
    query.is("query", ns::DISCO_INFO)
        && query
            .children()
            .any(|f| f.is("feature", ns::DISCO_INFO) && f.attr("var") == Some(ns::OCCUPANT_ID))
}

#[cfg(test)]
mod tests {
    use super::advertises_occupant_id;

    fn read(xml: &str) -> bool {
        advertises_occupant_id(&xml.parse().unwrap())
    }

    #[test]
    fn the_feature_is_found_beside_identities_and_forms() {
        // ejabberd's answer: identities, features and a muc#roominfo form.
        assert!(read("<query xmlns='http://jabber.org/protocol/disco#info'><identity category='conference' type='text' name='r'/><feature var='http://jabber.org/protocol/muc'/><feature var='urn:xmpp:occupant-id:0'/><x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roominfo</value></field></x></query>"));
    }

    #[test]
    fn only_a_disco_info_feature_counts() {
        assert!(!read("<query xmlns='http://jabber.org/protocol/disco#info'><feature var='http://jabber.org/protocol/muc'/></query>"));
        // The namespace in a form value or a feature of another namespace is not the feature.
        assert!(!read("<query xmlns='http://jabber.org/protocol/disco#info'><x xmlns='jabber:x:data' type='result'><field var='f'><value>urn:xmpp:occupant-id:0</value></field></x></query>"));
        assert!(!read("<query xmlns='http://jabber.org/protocol/disco#info'><feature xmlns='urn:other' var='urn:xmpp:occupant-id:0'/></query>"));
        assert!(!read("<query xmlns='http://jabber.org/protocol/disco#items'><feature var='urn:xmpp:occupant-id:0'/></query>"));
    }
}
