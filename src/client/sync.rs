//! Keeping the local subscriptions and history in step with the server: the connect-time
//! queries and their reconciliation, subscription changes, and the resync engine's output.

use jid::BareJid;
use minidom::Element;

use super::pending::Pending;
use super::{Action, AppEvent, Client, ClientWarning, StoreOp};
use crate::protocol::mam;
use crate::protocol::time::Timestamp;
use crate::protocol::{ns, Subscriptions};
use crate::resync::ResyncOut;
use crate::store::SubscriptionRecord;

impl Client {
    /// A session is up: ask whether the service offers the sync hint, and for the
    /// subscription list; both answers lead to [`Client::reconcile`].
    pub(super) fn on_ready(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        self.syncing = true;
        self.sync_feature = None;
        self.server_list = None;
        self.reconciled = false;
        let disco = Element::builder("query", ns::DISCO_INFO).build();
        let service = self.service.clone();
        self.send_iq("get", &service, disco, Pending::Disco, now, out);
        let list = Element::from(Subscriptions::default());
        self.since_list.clear();
        self.send_iq("get", &service, list, Pending::ListOnConnect, now, out);
        self.read_sync_on_ready(now, out);
    }

    /// A subscription is in force (a subscribe of ours was accepted, or the room said so,
    /// S20): remember it, and resync the room when it is new. Nothing when it is known as is.
    pub(super) fn subscribed(
        &mut self,
        room: &BareJid,
        rec: SubscriptionRecord,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let is_new = !self.subs.contains_key(rec.room.as_str());
        self.since_list.insert(rec.room.clone(), true);
        if self.subs.get(rec.room.as_str()) == Some(&rec) {
            return;
        }
        self.subs.insert(rec.room.clone(), rec.clone());
        out.push(Action::Store(StoreOp::PutSubscription(rec.clone())));
        subscription_changed(out, rec.room.clone(), Some(rec));
        if is_new {
            self.enqueue_resync(room.clone(), None, now, out);
            self.syncing = true;
            let r = self.resync.pump();
            self.resync_out(r, now, out);
        }
    }

    pub(super) fn done_subscribing(&mut self, room: &BareJid) {
        if let Some(i) = self.subscribing.iter().position(|r| r == room) {
            self.subscribing.remove(i);
        }
    }

    /// The subscription is gone (our unsubscribe, or the room said so): forget it and stop
    /// resyncing the room; its stored events stay.
    pub(super) fn drop_subscription(&mut self, room: &BareJid, out: &mut Vec<Action>) {
        self.since_list.insert(room.to_string(), false);
        self.resync.forget(room);
        if self.subs.remove(room.as_str()).is_some() {
            out.push(Action::Store(StoreOp::RemoveSubscription(room.to_string())));
            subscription_changed(out, room.to_string(), None);
        }
    }

    /// Once both the disco answer and the list are in: align local subscriptions with
    /// the server's and queue the rooms that need a resync.
    pub(super) fn reconcile(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        // Both answers may come in either order: the list waits for the disco answer.
        // (Taking the list before knowing both were in lost it when it came first, and
        // the client then never reached "synced".)
        let Some(sync) = self.sync_feature else {
            return;
        };
        let Some(list) = self.server_list.take() else {
            return;
        };
        self.reconciled = true;
        let mut seen = Vec::new();
        for item in list.items {
            let Some(room) = item.jid.clone() else {
                continue;
            };
            let key = room.to_string();
            seen.push(key.clone());
            if self.since_list.get(&key) == Some(&false) {
                // Left after the list was made.
                continue;
            }
            let rec = SubscriptionRecord {
                room: key.clone(),
                nick: item.nick.clone(),
                nodes: item.events.clone(),
            };
            if self.subs.get(&key) != Some(&rec) {
                self.subs.insert(key.clone(), rec.clone());
                out.push(Action::Store(StoreOp::PutSubscription(rec.clone())));
                subscription_changed(out, key.clone(), Some(rec));
            }
            let hint = if sync { item.end.as_ref() } else { None };
            self.enqueue_resync(room, hint, now, out);
        }
        let gone: Vec<String> = self
            .subs
            .keys()
            .filter(|k| !seen.contains(k) && self.since_list.get(k) != Some(&true))
            .cloned()
            .collect();
        for g in gone {
            if let Ok(j) = BareJid::new(&g) {
                self.resync.forget(&j);
            }
            self.subs.remove(&g);
            out.push(Action::Store(StoreOp::RemoveSubscription(g.clone())));
            subscription_changed(out, g, None);
        }
        let r = self.resync.pump();
        self.resync_out(r, now, out);
        self.check_synced(out);
    }

    pub(super) fn check_synced(&mut self, out: &mut Vec<Action>) {
        if self.syncing && self.reconciled && self.resync.is_idle() && self.room_features.is_idle()
        {
            self.syncing = false;
            out.push(Action::Event(AppEvent::Synced));
        }
    }

    pub(super) fn resync_out(&mut self, r: Vec<ResyncOut>, now: Timestamp, out: &mut Vec<Action>) {
        for o in r {
            match o {
                ResyncOut::Query {
                    room,
                    queryid,
                    from,
                    max,
                } => {
                    let q: Element = mam::query(&queryid, &from, max).into();
                    let to = room.to_string();
                    self.send_iq("set", &to, q, Pending::Mam { queryid }, now, out);
                }
                ResyncOut::Apply(mut page) => {
                    let room = page.room.clone();
                    self.vet_occupant_ids(&room, &mut page.events);
                    out.push(Action::Store(StoreOp::Apply(page)))
                }
                ResyncOut::RoomDone { room, ok } => {
                    self.markers_after_resync(&room, out);
                    out.push(Action::Event(AppEvent::RoomSynced { room, ok }))
                }
                ResyncOut::Warn(w) => {
                    out.push(Action::Event(AppEvent::Warning(ClientWarning::Resync(w))))
                }
            }
        }
        self.check_synced(out);
    }
}

/// Tells the app that `room`'s subscription is now `subscription`.
fn subscription_changed(
    out: &mut Vec<Action>,
    room: String,
    subscription: Option<SubscriptionRecord>,
) {
    out.push(Action::Event(AppEvent::SubscriptionChanged {
        room,
        subscription,
    }));
}
