//! Each builder's stanza, relayed by the room (a `from` of room/nick added), parses back
//! into the change it means: the outbound and inbound sides agree.

use jid::BareJid;
use minidom::Element;

use super::*;
use crate::event::{Change, EventKind, Retraction, RoomEvent};
use crate::protocol::time::Timestamp;

const ROOM: &str = "room@conference.localhost";

fn room() -> BareJid {
    BareJid::new(ROOM).unwrap()
}

/// What occupants receive: the stanza from room/alice.
fn relayed(mut m: Element) -> RoomEvent {
    let from = crate::protocol::xml::ncname("from");
    m.set_attr(
        minidom::rxml::Namespace::NONE,
        from,
        format!("{ROOM}/alice"),
    );
    RoomEvent::from_joined(&m, Timestamp(1)).unwrap()
}

fn assert_groupchat(m: &Element, id: &str) {
    assert_eq!(
        (m.attr("to"), m.attr("type")),
        (Some(ROOM), Some("groupchat"))
    );
    assert_eq!(m.attr("id"), Some(id));
    let origin = m.get_child("origin-id", crate::protocol::ns::SID);
    assert_eq!(origin.and_then(|o| o.attr("id")), Some(id));
}

#[test]
fn edit_names_the_corrected_id() {
    let m = edit(&room(), "e1", "m1", "fixed");
    assert_groupchat(&m, "e1");
    let change = Change::Edit {
        body: "fixed".into(),
    };
    let target = "m1".into();
    assert_eq!(relayed(m).kind, EventKind::Change { target, change });
}

#[test]
fn retract_names_the_id_given() {
    let m = retract(&room(), "r1", "o1");
    assert_groupchat(&m, "r1");
    // Archived by servers that keep only messages with a body or a hint, and marked as
    // a fallback: the fallback body is no message of its own.
    assert!(m.has_child("store", crate::protocol::ns::HINTS));
    let fallback = m.get_child("fallback", crate::protocol::ns::FALLBACK);
    assert_eq!(
        fallback.and_then(|f| f.attr("for")),
        Some(crate::protocol::ns::RETRACT)
    );
    let body = m.get_child("body", crate::protocol::ns::JABBER_CLIENT);
    assert_eq!(body.map(Element::text).as_deref(), Some(RETRACT_FALLBACK));
    let change = Change::Retract(Retraction::default());
    assert_eq!(
        relayed(m).kind,
        EventKind::Change {
            target: "o1".into(),
            change
        }
    );
}

#[test]
fn react_replaces_our_reactions() {
    let emojis = vec!["👍".to_string(), "🎉".to_string()];
    let m = react(&room(), "x1", "s1", &emojis);
    assert_groupchat(&m, "x1");
    assert!(m.has_child("store", crate::protocol::ns::HINTS));
    let change = Change::React { emojis };
    assert_eq!(
        relayed(m).kind,
        EventKind::Change {
            target: "s1".into(),
            change
        }
    );
    // Taking every reaction back is a reaction message with none.
    let none = relayed(react(&room(), "x2", "s1", &[]));
    let change = Change::React { emojis: vec![] };
    assert_eq!(
        none.kind,
        EventKind::Change {
            target: "s1".into(),
            change
        }
    );
}

#[test]
fn a_reply_names_its_target_and_keeps_the_typed_text() {
    let to = ReplyTo {
        id: "s1".into(),
        to: Some(format!("{ROOM}/bob")),
    };
    let m = message(&room(), "m2", "sure", Some(&to));
    assert_groupchat(&m, "m2");
    let e = relayed(m);
    assert_eq!(
        e.kind,
        EventKind::Message {
            body: "sure".into()
        }
    );
    assert_eq!(e.reply_to, Some(to));
    assert_eq!(
        relayed(message(&room(), "m3", "plain", None)).reply_to,
        None
    );
}

#[test]
fn moderate_is_the_current_request_the_room_reads() {
    let p = moderate("s1", Some("spam"));
    let asked = crate::protocol::retract::ModerateRequest::try_from(&p).unwrap();
    assert_eq!(asked.id, "s1");
    assert_eq!(asked.reason.as_deref(), Some("spam"));
    assert!(!asked.legacy);
}

/// The `<replace/>` and `<reactions/>` built over minidom are the elements xmpp-parsers'
/// `Replace` and `Reactions` built before issue 24.
#[test]
fn corrections_and_reactions_are_the_elements_xmpp_parsers_built() {
    use crate::protocol::message::Id;
    use crate::protocol::message_correct::Replace;
    use crate::protocol::reactions::{Reaction, Reactions};
    let m = edit(&room(), "x1", "m0", "fixed");
    let ns = crate::protocol::ns::MESSAGE_CORRECT;
    let theirs = Element::from(Replace {
        id: Id("m0".into()),
    });
    assert_eq!(m.get_child("replace", ns), Some(&theirs));
    let emojis = vec!["👍".to_string(), "🎉".to_string()];
    let m = react(&room(), "x2", "s1", &emojis);
    let theirs = Element::from(Reactions {
        id: "s1".into(),
        reactions: emojis.into_iter().map(|emoji| Reaction { emoji }).collect(),
    });
    let ns = crate::protocol::ns::REACTIONS;
    assert_eq!(m.get_child("reactions", ns), Some(&theirs));
}
