//! One event model for the app, whatever the route: live wrapped events, plain groupchat
//! while joined, offline deliveries and MAM results all become a [`RoomEvent`].

use jid::{BareJid, Jid};
use minidom::Element;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::protocol::mam::ArchivedStanza;
use crate::protocol::time::Timestamp;
use crate::protocol::{ns, MucSubEvent, Node, Subscribe, Unsubscribe};

/// How the event reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A wrapped MucSub event delivered while online.
    Live,
    /// A plain MUC stanza received while joined.
    Joined,
    /// A wrapped event kept in offline storage and delivered on connect.
    Offline,
    /// A MAM result.
    Archive,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum EventKind {
    /// A groupchat message with a body.
    Message {
        /// The body.
        body: String,
    },
    /// A subject change.
    Subject {
        /// The new subject (empty clears it).
        subject: String,
    },
    /// Occupant presence or nick change.
    Presence {
        /// `false` for `type='unavailable'`.
        available: bool,
        /// MUC role, when given.
        role: Option<String>,
        /// MUC affiliation, when given.
        affiliation: Option<String>,
        /// MUC status codes.
        codes: Vec<u16>,
    },
    /// A join or a leave.
    Participants {
        /// `true` for a join.
        joined: bool,
        /// MUC role, when given.
        role: Option<String>,
        /// MUC affiliation, when given.
        affiliation: Option<String>,
    },
    /// Role or affiliation change, kick, ban.
    Affiliation {
        /// New affiliation.
        affiliation: Option<String>,
        /// New role.
        role: Option<String>,
        /// MUC status codes (301 ban, 307 kick, …).
        codes: Vec<u16>,
        /// Given reason.
        reason: Option<String>,
        /// Nick of the moderator who did it.
        actor: Option<String>,
    },
    /// Configuration change (status codes 104, 170–173) or room destruction.
    Config {
        /// MUC status codes.
        codes: Vec<u16>,
        /// The room was destroyed.
        destroyed: bool,
        /// Destruction reason.
        reason: Option<String>,
    },
    /// Someone subscribed or unsubscribed.
    Subscribers {
        /// `true` for a subscription.
        subscribed: bool,
    },
    /// A service notice.
    System {
        /// Its text.
        body: Option<String>,
    },
}

/// A typed room event as the app and the store see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEvent {
    /// The room's bare JID.
    pub room: String,
    /// What happened.
    pub kind: EventKind,
    /// The room archive id (`<stanza-id by=room/>` or the MAM result id).
    pub stanza_id: Option<String>,
    /// XEP-0359 origin-id set by the sender.
    pub origin_id: Option<String>,
    /// The stanza's own `id`.
    pub message_id: Option<String>,
    /// The MucSub item id, when wrapped.
    pub item_id: Option<String>,
    /// Sender's nick in the room (or the subscription nick for subscriber events).
    pub nick: Option<String>,
    /// Real JID, when the room reveals it.
    pub real_jid: Option<String>,
    /// Archive time when known, otherwise the time it reached us.
    pub timestamp: Timestamp,
    /// How it reached us.
    pub source: Source,
}

/// Why a stanza could not become a [`RoomEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    /// The stanza carries nothing an app could show (e.g. a message without body or
    /// subject on the messages node).
    #[error("nothing to show in <{0}/>")]
    Empty(String),
    /// An element this model does not know.
    #[error("unexpected <{name} xmlns='{ns}'/> in a room event")]
    Unexpected {
        /// Element name.
        name: String,
        /// Its namespace.
        ns: String,
    },
    /// A typed child failed to parse.
    #[error(transparent)]
    Parse(#[from] crate::protocol::ParseError),
}

impl RoomEvent {
    /// Keys for deduplication, strongest first. See [`RoomEvent::same_as`].
    pub fn dedup_keys(&self) -> Vec<String> {
        let nick = self.nick.as_deref().unwrap_or("");
        let mut keys = Vec::new();
        if let Some(s) = &self.stanza_id {
            keys.push(format!("sid:{s}"));
        }
        if let Some(o) = &self.origin_id {
            keys.push(format!("oid:{nick}\u{0}{o}"));
        }
        if let Some(m) = &self.message_id {
            keys.push(format!("mid:{nick}\u{0}{m}"));
        }
        if let Some(i) = &self.item_id {
            keys.push(format!("item:{i}"));
        }
        keys
    }

    /// Deduplication rule, shared by every store: two events of one room are the same
    /// when their stanza-ids are equal; when either lacks a stanza-id, when they share the
    /// origin-id, the (sender, message id) pair or the MucSub item id. Two events with
    /// *different* stanza-ids are never the same, whatever else matches (clients reuse
    /// message ids).
    pub fn same_as(&self, other: &RoomEvent) -> bool {
        if self.room != other.room {
            return false;
        }
        match (&self.stanza_id, &other.stanza_id) {
            (Some(a), Some(b)) => a == b,
            _ => {
                let mine = self.dedup_keys();
                other
                    .dedup_keys()
                    .iter()
                    .filter(|k| !k.starts_with("sid:"))
                    .any(|k| mine.contains(k))
            }
        }
    }

    /// Fold a later copy of the same event into this one: the archive's id and time win
    /// over what a live copy had, so the stored order follows the archive.
    pub fn absorb(&mut self, newer: &RoomEvent) -> bool {
        let mut changed = false;
        if self.stanza_id.is_none() && newer.stanza_id.is_some() {
            self.stanza_id = newer.stanza_id.clone();
            changed = true;
        }
        // The archive's time is the one that counts; a copy that already has it (an
        // offline delivery stamped with it) needs no rewrite.
        if newer.source == Source::Archive
            && self.source != Source::Archive
            && self.timestamp != newer.timestamp
        {
            self.timestamp = newer.timestamp;
            changed = true;
        }
        if self.real_jid.is_none() && newer.real_jid.is_some() {
            self.real_jid = newer.real_jid.clone();
            changed = true;
        }
        changed
    }

    /// Build from a wrapped MucSub event. `now` stamps events the room sent without a time.
    pub fn from_wrapper(
        ev: &MucSubEvent,
        outer: &Element,
        now: Timestamp,
    ) -> Result<Self, EventError> {
        let offline_stamp = delay_stamp(outer);
        let source = if offline_stamp.is_some() {
            Source::Offline
        } else {
            Source::Live
        };
        let mut e = from_inner(&ev.room, &ev.inner, Some(ev.node))?;
        e.item_id = ev.item_id.clone();
        e.timestamp = delay_stamp(&ev.inner).or(offline_stamp).unwrap_or(now);
        e.source = source;
        Ok(e)
    }

    /// Build from a plain MUC stanza received while joined (`from` = room/nick).
    pub fn from_joined(stanza: &Element, now: Timestamp) -> Result<Self, EventError> {
        let from = stanza.attr("from").and_then(|f| Jid::new(f).ok()).ok_or(
            crate::protocol::ParseError::MissingAttribute {
                element: "message",
                attribute: "from",
            },
        )?;
        let room = from.to_bare();
        let mut e = from_inner(&room, stanza, None)?;
        e.timestamp = delay_stamp(stanza).unwrap_or(now);
        e.source = Source::Joined;
        Ok(e)
    }

    /// Build from a MAM result of `room`'s archive.
    pub fn from_archive(
        room: &BareJid,
        a: &ArchivedStanza,
        now: Timestamp,
    ) -> Result<Self, EventError> {
        let mut e = from_inner(room, &a.message, None)?;
        e.stanza_id = Some(a.id.clone());
        e.timestamp = a.stamp.or_else(|| delay_stamp(&a.message)).unwrap_or(now);
        e.source = Source::Archive;
        Ok(e)
    }
}

fn delay_stamp(elem: &Element) -> Option<Timestamp> {
    elem.get_child("delay", ns::DELAY)
        .and_then(|d| d.attr("stamp"))
        .and_then(Timestamp::parse)
}

fn muc_user(elem: &Element) -> Option<&Element> {
    elem.get_child("x", ns::MUC_USER)
}

fn status_codes(elem: &Element) -> Vec<u16> {
    muc_user(elem)
        .map(|x| {
            x.children()
                .filter(|c| c.is("status", ns::MUC_USER))
                .filter_map(|c| c.attr("code")?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn muc_item(elem: &Element) -> Option<&Element> {
    muc_user(elem)?.get_child("item", ns::MUC_USER)
}

/// The room's own stanza-id: a `<stanza-id/>` whose `by` is the room. ejabberd also puts
/// the subscriber's archive id (by = user) on wrappers; that one must not be used.
pub fn room_stanza_id(stanza: &Element, room: &BareJid) -> Option<String> {
    stanza
        .children()
        .filter(|c| c.is("stanza-id", ns::SID))
        .find(|c| {
            // The room's own spelling needs no parsing (nearly every stanza-id has it).
            c.attr("by").is_some_and(|b| {
                b == room.as_str() || BareJid::new(b).ok().is_some_and(|b| &b == room)
            })
        })
        .and_then(|c| c.attr("id"))
        .map(str::to_owned)
}

fn blank(room: &BareJid, kind: EventKind) -> RoomEvent {
    RoomEvent {
        room: room.to_string(),
        kind,
        stanza_id: None,
        origin_id: None,
        message_id: None,
        item_id: None,
        nick: None,
        real_jid: None,
        timestamp: Timestamp::default(),
        source: Source::Live,
    }
}

fn text_child(elem: &Element, name: &str) -> Option<String> {
    elem.children()
        .find(|c| c.is(name, ns::JABBER_CLIENT))
        .map(Element::text)
}

fn from_inner(
    room: &BareJid,
    inner: &Element,
    node: Option<Node>,
) -> Result<RoomEvent, EventError> {
    // `has_ns` compares in place; `ns()` would copy the namespace for every event.
    let in_ns = |ns: &str| inner.has_ns(ns);
    match inner.name() {
        "subscribe" if in_ns(ns::MUCSUB) => {
            let s = Subscribe::try_from(inner)?;
            let mut e = blank(room, EventKind::Subscribers { subscribed: true });
            e.nick = s.nick;
            e.real_jid = s.jid.map(|j| j.to_string());
            Ok(e)
        }
        "unsubscribe" if in_ns(ns::MUCSUB) => {
            let u = Unsubscribe::try_from(inner)?;
            let mut e = blank(room, EventKind::Subscribers { subscribed: false });
            e.nick = u.nick;
            e.real_jid = u.jid.map(|j| j.to_string());
            Ok(e)
        }
        "message" if in_ns(ns::JABBER_CLIENT) => from_message(room, inner, node),
        "presence" if in_ns(ns::JABBER_CLIENT) => Ok(from_presence(room, inner, node)),
        name => Err(EventError::Unexpected {
            name: name.to_owned(),
            ns: inner.ns(),
        }),
    }
}

fn sender(room: &BareJid, e: &mut RoomEvent, stanza: &Element) {
    if let Some(from) = stanza.attr("from").and_then(|f| Jid::new(f).ok()) {
        // Compared part by part: `to_bare` would build a new JID per event.
        if from.node() == room.node() && from.domain() == room.domain() {
            e.nick = from.resource().map(|r| r.to_string());
        }
    }
    e.real_jid = muc_item(stanza)
        .and_then(|i| i.attr("jid"))
        .map(str::to_owned);
    e.message_id = stanza.attr("id").map(str::to_owned);
}

fn from_message(room: &BareJid, m: &Element, node: Option<Node>) -> Result<RoomEvent, EventError> {
    let body = text_child(m, "body");
    let subject = text_child(m, "subject");
    let codes = status_codes(m);
    let kind = match (node, body, subject) {
        (Some(Node::System), body, _) => EventKind::System { body },
        (Some(Node::Subject), _, Some(subject)) | (None, None, Some(subject)) => {
            EventKind::Subject { subject }
        }
        (Some(Node::Config), _, _) | (None, None, None) if !codes.is_empty() => EventKind::Config {
            codes,
            destroyed: false,
            reason: None,
        },
        (_, Some(body), _) => EventKind::Message { body },
        (Some(Node::Messages), None, Some(subject)) => EventKind::Subject { subject },
        _ => return Err(EventError::Empty("message".into())),
    };
    let mut e = blank(room, kind);
    sender(room, &mut e, m);
    e.stanza_id = room_stanza_id(m, room);
    e.origin_id = m
        .get_child("origin-id", ns::SID)
        .and_then(|o| o.attr("id"))
        .map(str::to_owned);
    Ok(e)
}

fn from_presence(room: &BareJid, p: &Element, node: Option<Node>) -> RoomEvent {
    let available = p.attr("type") != Some("unavailable");
    let item = muc_item(p);
    let role = item.and_then(|i| i.attr("role")).map(str::to_owned);
    let affiliation = item.and_then(|i| i.attr("affiliation")).map(str::to_owned);
    let codes = status_codes(p);
    let destroy = muc_user(p).and_then(|x| x.get_child("destroy", ns::MUC_USER));
    let affiliation_change = codes.iter().any(|c| matches!(c, 301 | 307 | 321 | 322));
    let kind = match node {
        _ if destroy.is_some() => EventKind::Config {
            codes: codes.clone(),
            destroyed: true,
            reason: destroy
                .and_then(|d| d.get_child("reason", ns::MUC_USER))
                .map(Element::text),
        },
        Some(Node::Affiliations) => affiliation_event(item, role, affiliation, codes),
        None if affiliation_change => affiliation_event(item, role, affiliation, codes),
        Some(Node::Participants) => EventKind::Participants {
            joined: available,
            role,
            affiliation,
        },
        _ => EventKind::Presence {
            available,
            role,
            affiliation,
            codes,
        },
    };
    let mut e = blank(room, kind);
    sender(room, &mut e, p);
    e
}

fn affiliation_event(
    item: Option<&Element>,
    role: Option<String>,
    affiliation: Option<String>,
    codes: Vec<u16>,
) -> EventKind {
    EventKind::Affiliation {
        affiliation,
        role,
        codes,
        reason: item
            .and_then(|i| i.get_child("reason", ns::MUC_USER))
            .map(Element::text),
        actor: item
            .and_then(|i| i.get_child("actor", ns::MUC_USER))
            .and_then(|a| a.attr("nick"))
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{parse_line, transcript_lines};

    fn wrapped_events() -> Vec<(MucSubEvent, RoomEvent)> {
        transcript_lines()
            .iter()
            .filter(|l| l.contains("pubsub#event"))
            .map(|l| {
                let outer = parse_line(l);
                let ev = MucSubEvent::try_from(&outer).unwrap();
                let re = RoomEvent::from_wrapper(&ev, &outer, Timestamp(7))
                    .unwrap_or_else(|e| panic!("{e}: {l}"));
                (ev, re)
            })
            .collect()
    }

    #[test]
    fn an_archive_copy_rewrites_an_offline_copy_only_when_it_adds_something() {
        let mut offline = crate::store_tests::message("r@c", Some("s1"), "alice", "m1", 5_000);
        offline.source = Source::Offline;
        let archived = crate::store_tests::message("r@c", Some("s1"), "alice", "m1", 5_000);
        // Same id, same archive time: nothing to write again.
        assert!(!offline.clone().absorb(&archived));
        // The offline stamp differed from the archive's: the archive's time wins.
        let mut early = offline.clone();
        early.timestamp = Timestamp(4_000);
        assert!(early.absorb(&archived));
        assert_eq!(early.timestamp, Timestamp(5_000));
        // A live copy without an archive id gains it.
        let mut live = crate::store_tests::message("r@c", None, "alice", "m1", 5_000);
        assert!(live.absorb(&archived));
        assert_eq!(live.stanza_id.as_deref(), Some("s1"));
    }

    #[test]
    fn every_reference_wrapper_becomes_the_event_of_its_node() {
        let all = wrapped_events();
        assert!(all.len() >= 25);
        for (ev, re) in &all {
            assert_eq!(re.room, ev.room.to_string());
            assert_eq!(re.source, Source::Live);
            assert_eq!(re.item_id, ev.item_id);
            let ok = matches!(
                (ev.node, &re.kind),
                (Node::Messages, EventKind::Message { .. })
                    | (Node::Subject, EventKind::Subject { .. })
                    | (Node::Presence, EventKind::Presence { .. })
                    | (Node::Affiliations, EventKind::Affiliation { .. })
                    | (Node::Config, EventKind::Config { .. })
                    | (Node::Subscribers, EventKind::Subscribers { .. })
            );
            assert!(ok, "{:?} became {:?}", ev.node, re.kind);
        }
    }

    #[test]
    fn reference_wrappers_carry_the_right_details() {
        let all = wrapped_events();
        let find = |pred: &dyn Fn(&RoomEvent) -> bool| {
            all.iter()
                .map(|(_, r)| r)
                .find(|r| pred(r))
                .cloned()
                .expect("event present")
        };
        let hello = find(
            &|r| matches!(&r.kind, EventKind::Message { body } if body == "Hello subscribers"),
        );
        // The room's stanza-id, not ejabberd's per-subscriber archive id on the wrapper.
        assert_eq!(hello.stanza_id.as_deref(), Some("1795460995021531"));
        assert_eq!(hello.nick.as_deref(), Some("alice"));
        assert_eq!(hello.message_id.as_deref(), Some("m1"));
        assert_eq!(hello.timestamp, Timestamp(7));
        let subj = find(&|r| matches!(&r.kind, EventKind::Subject { .. }));
        assert_eq!(
            subj.kind,
            EventKind::Subject {
                subject: "Witchcraft".into()
            }
        );
        let kick =
            find(&|r| matches!(&r.kind, EventKind::Affiliation { codes, .. } if codes == &[307]));
        assert_eq!(
            kick.kind,
            EventKind::Affiliation {
                affiliation: Some("member".into()),
                role: Some("none".into()),
                codes: vec![307],
                reason: Some("bye".into()),
                actor: Some("alice".into()),
            }
        );
        assert_eq!(kick.nick.as_deref(), Some("dave"));
        let destroyed = find(&|r| {
            matches!(
                &r.kind,
                EventKind::Config {
                    destroyed: true,
                    ..
                }
            )
        });
        assert_eq!(
            destroyed.kind,
            EventKind::Config {
                codes: vec![],
                destroyed: true,
                reason: Some("done".into())
            }
        );
        let cfg = find(&|r| {
            matches!(
                &r.kind,
                EventKind::Config {
                    destroyed: false,
                    ..
                }
            )
        });
        assert_eq!(
            cfg.kind,
            EventKind::Config {
                codes: vec![104],
                destroyed: false,
                reason: None
            }
        );
        let unsub = find(&|r| matches!(r.kind, EventKind::Subscribers { subscribed: false }));
        assert!(unsub.nick.is_some());
        let sub_with_jid = find(&|r| {
            matches!(r.kind, EventKind::Subscribers { subscribed: true }) && r.real_jid.is_some()
        });
        assert_eq!(sub_with_jid.real_jid.as_deref(), Some("carol@localhost"));
    }

    #[test]
    fn reference_mam_results_and_joined_stanzas_parse() {
        let room = BareJid::new("coven2@conference.localhost").unwrap();
        let mut archived = Vec::new();
        let mut joined = Vec::new();
        for l in transcript_lines() {
            let e = parse_line(&l);
            if let Some(a) = crate::protocol::mam::archived_stanza(&e) {
                archived.push(RoomEvent::from_archive(&room, &a, Timestamp(0)).unwrap());
            } else if l.starts_with("<message") && l.contains("type=\"groupchat\"") {
                if let Ok(j) = RoomEvent::from_joined(&e, Timestamp(0)) {
                    joined.push(j);
                }
            }
        }
        assert_eq!(archived.len(), 4);
        assert!(archived.iter().all(|a| a.source == Source::Archive));
        assert_eq!(archived[1].real_jid.as_deref(), Some("bob@localhost/b1"));
        assert_eq!(archived[1].nick.as_deref(), Some("bobby"));
        assert_eq!(
            archived[0].timestamp,
            Timestamp::parse("2026-11-23T19:09:55.021531Z").unwrap()
        );
        let joined_now = joined
            .iter()
            .find(|j| matches!(&j.kind, EventKind::Message { body } if body == "Joined now"))
            .unwrap();
        let archived_now = archived
            .iter()
            .find(|j| matches!(&j.kind, EventKind::Message { body } if body == "Joined now"))
            .unwrap();
        assert!(joined_now.same_as(archived_now));
        assert_eq!(joined_now.source, Source::Joined);
    }

    #[test]
    fn dedup_rules() {
        let room = BareJid::new("r@m").unwrap();
        let mut a = blank(&room, EventKind::Message { body: "x".into() });
        a.nick = Some("n".into());
        a.message_id = Some("m1".into());
        let mut b = a.clone();
        assert!(a.same_as(&b));
        b.stanza_id = Some("1".into());
        assert!(a.same_as(&b), "a live copy without stanza-id matches");
        a.stanza_id = Some("2".into());
        assert!(!a.same_as(&b), "different stanza-ids never match");
        let mut c = b.clone();
        c.room = "other@m".into();
        assert!(!b.same_as(&c));
    }

    #[test]
    fn hostile_inner_stanzas_are_errors_not_panics() {
        let room = BareJid::new("r@m").unwrap();
        for inner in [
            "<iq xmlns='jabber:client' type='get'/>",
            "<message xmlns='jabber:client'/>",
            "<subscribe xmlns='urn:xmpp:mucsub:0' jid='@@'/>",
        ] {
            let inner: Element = inner.parse().unwrap();
            let ev = MucSubEvent {
                room: room.clone(),
                to: None,
                id: None,
                node: Node::Messages,
                item_id: None,
                inner,
            };
            let outer = Element::from(ev.clone());
            assert!(RoomEvent::from_wrapper(&ev, &outer, Timestamp(0)).is_err());
        }
    }
}
