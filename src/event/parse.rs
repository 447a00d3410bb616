//! Building a [`RoomEvent`] from each route a room event takes: a wrapped MucSub event
//! (live or offline), a plain stanza of a joined room, a MAM result.

use jid::{BareJid, Jid};
use minidom::Element;

use super::{modern, EventError, EventKind, RoomEvent, Source};
use crate::protocol::mam::ArchivedStanza;
use crate::protocol::time::Timestamp;
use crate::protocol::{ns, MucSubEvent, Node, Subscribe, Unsubscribe};

impl RoomEvent {
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
fn room_stanza_id(stanza: &Element, room: &BareJid) -> Option<String> {
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

pub(super) fn blank(room: &BareJid, kind: EventKind) -> RoomEvent {
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
        occupant_id: None,
        reply_to: None,
        edited: Vec::new(),
        retracted: None,
        reactions: Default::default(),
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
    // Only room messages (not service notices or configuration) change other messages
    // or are tombstones.
    let content = matches!(node, None | Some(Node::Messages));
    let change = if content {
        modern::change(m, body.as_deref())?
    } else {
        None
    };
    let tombstone = if content { modern::tombstone(m)? } else { None };
    let kind = match (node, body, subject, change) {
        (_, _, _, Some((target, change))) => EventKind::Change { target, change },
        // The archive's tombstone keeps the message's place, without its content.
        _ if tombstone.is_some() => EventKind::Message {
            body: String::new(),
        },
        (Some(Node::System), body, _, _) => EventKind::System { body },
        (Some(Node::Subject), _, Some(subject), _) | (None, None, Some(subject), _) => {
            EventKind::Subject { subject }
        }
        (Some(Node::Config), _, _, _) | (None, None, None, _) if !codes.is_empty() => {
            EventKind::Config {
                codes,
                destroyed: false,
                reason: None,
            }
        }
        (_, Some(body), _, _) => EventKind::Message {
            body: modern::strip_reply_fallback(m, body),
        },
        (Some(Node::Messages), None, Some(subject), _) => EventKind::Subject { subject },
        _ => return Err(EventError::Empty("message".into())),
    };
    let mut e = blank(room, kind);
    sender(room, &mut e, m);
    e.stanza_id = room_stanza_id(m, room);
    e.origin_id = m
        .get_child("origin-id", ns::SID)
        .and_then(|o| o.attr("id"))
        .map(str::to_owned);
    e.occupant_id = modern::occupant_id(m);
    if matches!(e.kind, EventKind::Message { .. }) {
        e.reply_to = modern::reply_to(m);
    }
    e.retracted = tombstone;
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
