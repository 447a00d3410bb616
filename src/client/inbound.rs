//! Stanzas from the server: IQ answers (to commands, the connect-time queries, MAM pages),
//! IQ requests, wrapped MucSub events, subscription notices (S20), MAM results,
//! joined-room stanzas.

use jid::{BareJid, Jid};
use minidom::Element;

use super::pending::{Asked, Pending};
use super::{iq, result, Client};
use super::{Action, AppEvent, ClientWarning, CommandError, CommandResult};
use crate::event::RoomEvent;
use crate::protocol::time::Timestamp;
use crate::protocol::xml::ncname;
use crate::protocol::{mam, mds};
use crate::protocol::{
    ns, MucSubEvent, Node, Subscription, SubscriptionChange, SubscriptionNotice, Subscriptions,
};
use crate::resync::FinOutcome;
use crate::store::{Page, SubscriptionRecord};

/// Items one history page keeps at most, whatever the server sends.
const HISTORY_ITEMS_MAX: usize = 500;

/// The condition and text of a stanza's `<error/>` (`undefined-condition` when it names none).
pub(crate) fn stanza_error(stanza: &Element) -> CommandError {
    let err = stanza.get_child("error", ns::JABBER_CLIENT);
    let condition = err
        .and_then(|e| {
            e.children()
                .find(|c| c.ns() == ns::XMPP_STANZAS && c.name() != "text")
        })
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|| "undefined-condition".into());
    let text = err
        .and_then(|e| e.get_child("text", ns::XMPP_STANZAS))
        .map(Element::text);
    CommandError { condition, text }
}

fn sender(e: &Element) -> Option<Jid> {
    e.attr("from").and_then(|f| Jid::new(f).ok())
}

/// Whether a MAM query's answer says the archive has nothing more.
fn fin_complete(payload: Option<&Element>) -> bool {
    payload
        .and_then(|f| mam::Fin::try_from(f.clone()).ok())
        .is_some_and(|f| f.complete)
}

impl Client {
    pub(super) fn stanza(&mut self, e: Element, now: Timestamp, out: &mut Vec<Action>) {
        match e.name() {
            "iq" => self.iq_in(e, now, out),
            "message" => self.message_in(e, now, out),
            "presence" => self.presence_in(e, now, out),
            _ => {}
        }
    }

    fn iq_in(&mut self, e: Element, now: Timestamp, out: &mut Vec<Action>) {
        let type_ = e.attr("type").unwrap_or("");
        let id = e.attr("id").unwrap_or("").to_owned();
        match type_ {
            "get" | "set" => {
                // Answer pings; refuse everything else as XMPP requires.
                let from = e.attr("from").unwrap_or("").to_owned();
                let reply = if e.has_child("ping", "urn:xmpp:ping") {
                    iq("result", &from, &id, None)
                } else {
                    let err = Element::builder("error", ns::JABBER_CLIENT)
                        .attr(ncname("type"), "cancel")
                        .append(Element::builder("service-unavailable", ns::XMPP_STANZAS).build())
                        .build();
                    iq("error", &from, &id, Some(err))
                };
                self.send(&reply, out);
            }
            "result" | "error" => {
                let Some(p) = self.iqs.resolve(&id) else {
                    return;
                };
                if type_ == "error" {
                    // RFC 6120 8.3.2: `wait` means "retry after waiting".
                    let transient = e
                        .get_child("error", ns::JABBER_CLIENT)
                        .and_then(|x| x.attr("type"))
                        == Some("wait");
                    self.iq_failed(p, stanza_error(&e), transient, now, out);
                } else {
                    self.iq_ok(p, &e, now, out);
                }
            }
            _ => {}
        }
    }

    /// An IQ failed; `transient` when it timed out or the error says to retry later.
    pub(super) fn iq_failed(
        &mut self,
        p: Pending,
        err: CommandError,
        transient: bool,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        match p {
            Pending::Command(req, asked) => {
                if let Asked::Subscribe { room, .. } = &asked {
                    self.done_subscribing(room);
                }
                out.push(result(req, Err(err)));
            }
            Pending::Disco => {
                self.sync_feature = Some(false);
                self.reconcile(now, out);
            }
            Pending::ListOnConnect => {
                // Without the list, resync what we know.
                self.server_list = Some(Subscriptions {
                    items: self
                        .subs
                        .values()
                        .map(|s| Subscription {
                            jid: BareJid::new(&s.room).ok(),
                            nick: s.nick.clone(),
                            events: s.nodes.clone(),
                            end: None,
                        })
                        .collect(),
                });
                self.reconcile(now, out);
            }
            Pending::Mam { queryid } => {
                let outcome = if err.condition == "item-not-found" {
                    FinOutcome::ItemNotFound
                } else if transient {
                    FinOutcome::Transient(err.to_string())
                } else {
                    FinOutcome::Failed(err.to_string())
                };
                let r = self.resync.on_fin(&queryid, outcome, now);
                self.resync_out(r, now, out);
            }
            Pending::History { queryid, req, .. } => {
                self.history.remove(&queryid);
                out.push(result(req, Err(err)));
            }
            Pending::Markers => {
                if !transient {
                    self.read_sync_refused(&err, out);
                }
            }
            Pending::Displayed(marker) => self.displayed_failed(marker, &err, transient, out),
            Pending::RoomFeatures { room } => {
                self.room_features_in(room, None, transient, now, out)
            }
        }
    }

    fn iq_ok(&mut self, p: Pending, e: &Element, now: Timestamp, out: &mut Vec<Action>) {
        let payload = e.children().next();
        match p {
            Pending::Disco => {
                let has = payload.is_some_and(|q| {
                    q.children()
                        .any(|f| f.name() == "feature" && f.attr("var") == Some(ns::MUCSUB_SYNC))
                });
                self.sync_feature = Some(has);
                self.reconcile(now, out);
            }
            Pending::ListOnConnect => {
                let list = payload
                    .and_then(|p| Subscriptions::try_from(p).ok())
                    .unwrap_or_default();
                self.server_list = Some(list);
                self.reconcile(now, out);
            }
            Pending::Mam { queryid } => {
                let complete = fin_complete(payload);
                let r = self
                    .resync
                    .on_fin(&queryid, FinOutcome::Fin { complete }, now);
                self.resync_out(r, now, out);
            }
            Pending::History { queryid, req, room } => {
                let complete = fin_complete(payload);
                let page = self.history.remove(&queryid);
                let (mut events, count) = page.map(|p| (p.events, p.count)).unwrap_or_default();
                self.vet_occupant_ids(room.as_str(), &mut events);
                if !events.is_empty() {
                    out.push(Action::Store(super::StoreOp::Apply(Page::new(
                        room.to_string(),
                        events,
                    ))));
                }
                let done = CommandResult::History {
                    room: room.to_string(),
                    count,
                    complete,
                };
                out.push(result(req, Ok(done)));
            }
            Pending::Command(req, asked) => {
                if let Asked::Subscribe { room, .. } = &asked {
                    self.done_subscribing(room);
                }
                let done = self.command_ok(asked, payload, now, out);
                out.push(result(req, Ok(done)));
            }
            Pending::Markers => {
                let markers = payload.map(mds::from_items).unwrap_or_default();
                self.markers_in(markers, out);
            }
            Pending::Displayed(_) => {}
            Pending::RoomFeatures { room } => self.room_features_in(room, payload, false, now, out),
        }
    }

    fn message_in(&mut self, mut e: Element, now: Timestamp, out: &mut Vec<Action>) {
        let Some(from) = sender(&e) else {
            return;
        };
        // Only warnings name the sender as text: a resync result needs none.
        let from_s = || from.to_string();
        let warn = |w: ClientWarning| Action::Event(AppEvent::Warning(w));
        if e.attr("type") == Some("error") {
            out.push(warn(ClientWarning::MessageError {
                from: from_s(),
                id: e.attr("id").map(str::to_owned),
                condition: stanza_error(&e).condition,
            }));
            return;
        }
        if let Some(a) = mam::take_archived_stanza(&mut e) {
            let qid = a.queryid.as_deref().unwrap_or_default();
            let bare = if from.is_bare() {
                from.clone().into_bare()
            } else {
                from.to_bare()
            };
            if let Some(page) = self.history.get_mut(qid) {
                if page.room == bare && page.count < HISTORY_ITEMS_MAX {
                    page.count += 1;
                    if let Ok(ev) = RoomEvent::from_archive(&bare, &a, now) {
                        page.events.push(ev);
                    }
                }
                return;
            }
            if from.is_bare() {
                let r = self.resync.on_result(&bare, a, now);
                self.resync_out(r, now, out);
            } else {
                out.push(warn(ClientWarning::Malformed {
                    from: from_s(),
                    reason: "MAM result from a full JID".into(),
                }));
            }
            return;
        }
        // PEP notifications come from our own account only (XEP-0163 §4.3).
        if from.is_bare() && from.to_bare() == self.cfg.session.jid && self.pep_event_in(&e, out) {
            return;
        }
        if SubscriptionNotice::is_notice(&e) {
            self.notice_in(&from, &e, now, out);
            return;
        }
        if MucSubEvent::is_wrapper(&e) {
            let room = from.to_bare();
            // A room answering a subscribe we sent may emit its first events before the
            // IQ result (ejabberd does): those are accepted too.
            let subscribing = self.subscribing.contains(&room);
            if !from.is_bare() || !(self.subs.contains_key(room.as_str()) || subscribing) {
                out.push(warn(ClientWarning::NotSubscribed { from: from_s() }));
                return;
            }
            let parsed = MucSubEvent::try_from(&e)
                .map_err(|x| x.to_string())
                .and_then(|w| {
                    RoomEvent::from_wrapper(&w, &e, now)
                        .map(|r| (w, r))
                        .map_err(|x| x.to_string())
                });
            match parsed {
                Ok((w, ev)) => {
                    let me_removed = w.node == Node::Subscribers
                        && w.inner.name() == "unsubscribe"
                        && self.is_me(&ev);
                    self.live_page(Page::new(room.to_string(), vec![ev]), now, out);
                    if me_removed {
                        self.drop_subscription(&room, out);
                    }
                }
                Err(reason) => out.push(warn(ClientWarning::Malformed {
                    from: from_s(),
                    reason,
                })),
            }
            return;
        }
        if e.attr("type") == Some("groupchat") {
            self.joined_in(&from, &e, now, out);
        }
    }

    /// docs/protocol.md S20: a room tells this account's devices that its subscription
    /// changed (made on another device, by a moderator, or removed by the room). Applied as
    /// our own subscribe or unsubscribe is: a new room starts resyncing, a removed one stops
    /// and keeps its stored events. Only a room of our MUC service, or one we are
    /// subscribed to, may say so.
    fn notice_in(&mut self, from: &Jid, e: &Element, now: Timestamp, out: &mut Vec<Action>) {
        let known = from.is_bare()
            && (from.domain().as_str() == self.service || self.subs.contains_key(from.as_str()));
        if !known {
            out.push(Action::Event(AppEvent::Warning(ClientWarning::NotARoom {
                from: from.to_string(),
            })));
            return;
        }
        let notice = match SubscriptionNotice::try_from(e) {
            Ok(n) => n,
            Err(err) => {
                out.push(Action::Event(AppEvent::Warning(ClientWarning::Malformed {
                    from: from.to_string(),
                    reason: err.to_string(),
                })));
                return;
            }
        };
        let room = notice.room;
        match notice.change {
            SubscriptionChange::Subscribed(s) => {
                let rec = SubscriptionRecord {
                    room: room.to_string(),
                    nick: s.nick,
                    nodes: s.events,
                };
                self.subscribed(&room, rec, now, out);
            }
            SubscriptionChange::Unsubscribed => self.drop_subscription(&room, out),
        }
    }

    /// Whether a subscribers event is about this account.
    fn is_me(&self, ev: &RoomEvent) -> bool {
        if let Some(j) = &ev.real_jid {
            return BareJid::new(j).ok().as_ref() == Some(&self.cfg.session.jid);
        }
        let mine = self.subs.get(&ev.room).and_then(|s| s.nick.as_deref());
        mine.is_some() && ev.nick.as_deref() == mine
    }

    fn joined_in(&mut self, from: &Jid, e: &Element, now: Timestamp, out: &mut Vec<Action>) {
        let room = from.to_bare();
        if !self.subs.contains_key(room.as_str()) {
            return;
        }
        match RoomEvent::from_joined(e, now) {
            Ok(ev) => self.live_page(Page::new(room.to_string(), vec![ev]), now, out),
            Err(err) => out.push(Action::Event(AppEvent::Warning(ClientWarning::Malformed {
                from: from.to_string(),
                reason: err.to_string(),
            }))),
        }
    }

    fn presence_in(&mut self, e: Element, now: Timestamp, out: &mut Vec<Action>) {
        if let Some(from) = sender(&e) {
            if from.resource().is_some() && e.has_child("x", ns::MUC_USER) {
                self.joined_in(&from, &e, now, out);
            }
        }
    }
}
