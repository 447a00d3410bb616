//! The modern group chat parts of a message (protocol.md X13) through each route: joined,
//! wrapped (live), MAM.

use jid::BareJid;
use minidom::Element;

use super::*;
use crate::protocol::mam::ArchivedStanza;
use crate::protocol::{MucSubEvent, Node};

const ROOM: &str = "room@conference.localhost";
const OCC: &str = "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='0123abcd'/>";
const SID: &str = "<stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.localhost' id='s2'/>";

fn room() -> BareJid {
    BareJid::new(ROOM).unwrap()
}

fn joined(xml: &str) -> Result<RoomEvent, EventError> {
    let e: Element = xml.parse().unwrap();
    RoomEvent::from_joined(&e, Timestamp(1))
}

fn wrapped(inner: &str) -> Result<RoomEvent, EventError> {
    let ev = MucSubEvent {
        room: room(),
        to: None,
        id: None,
        node: Node::Messages,
        item_id: Some("s2".into()),
        inner: inner.parse().unwrap(),
    };
    let outer = Element::from(ev.clone());
    RoomEvent::from_wrapper(&ev, &outer, Timestamp(1))
}

fn archived(message: &str) -> Result<RoomEvent, EventError> {
    let a = ArchivedStanza {
        queryid: None,
        id: "s1".into(),
        stamp: Some(Timestamp(5)),
        message: message.parse().unwrap(),
    };
    RoomEvent::from_archive(&room(), &a, Timestamp(1))
}

fn msg(from: &str, id: &str, payload: &str) -> String {
    format!("<message xmlns='jabber:client' type='groupchat' from='{from}' id='{id}'>{payload}</message>")
}

#[test]
fn a_joined_reply_has_its_occupant_id_target_and_body_without_the_quote() {
    let payload = format!(
        "<body>&gt; hi\nhello</body>{OCC}{SID}\
         <reply xmlns='urn:xmpp:reply:0' to='{ROOM}/bob' id='s1'/>\
         <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='5'/></fallback>"
    );
    let e = joined(&msg(&format!("{ROOM}/alice"), "m2", &payload)).unwrap();
    assert_eq!(
        e.kind,
        EventKind::Message {
            body: "hello".into()
        }
    );
    assert_eq!(e.occupant_id.as_deref(), Some("0123abcd"));
    let to = Some(format!("{ROOM}/bob"));
    assert_eq!(
        e.reply_to,
        Some(ReplyTo {
            id: "s1".into(),
            to
        })
    );
}

#[test]
fn a_fallback_out_of_range_leaves_the_body_whole() {
    let payload = "<body>hey</body><reply xmlns='urn:xmpp:reply:0' id='s1'/>\
        <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='99'/></fallback>";
    let e = joined(&msg(&format!("{ROOM}/alice"), "m2", payload)).unwrap();
    assert_eq!(e.kind, EventKind::Message { body: "hey".into() });
}

#[test]
fn a_wrapped_correction_is_an_edit_of_the_id_it_names() {
    let payload = format!(
        "<body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/>{OCC}{SID}"
    );
    let e = wrapped(&msg(&format!("{ROOM}/alice"), "m2", &payload)).unwrap();
    let change = Change::Edit {
        body: "fixed".into(),
    };
    let target = "m1".into();
    assert_eq!(e.kind, EventKind::Change { target, change });
    assert_eq!(e.occupant_id.as_deref(), Some("0123abcd"));
    assert_eq!(e.stanza_id.as_deref(), Some("s2"));
}

#[test]
fn a_wrapped_moderation_announcement_is_a_retraction_by_the_room() {
    let payload = format!(
        "{SID}<retract id='s1' xmlns='urn:xmpp:message-retract:1'>\
         <moderated by='{ROOM}/mod' xmlns='urn:xmpp:message-moderate:1'>\
         <occupant-id xmlns='urn:xmpp:occupant-id:0' id='feed'/></moderated><reason>spam</reason></retract>\
         <apply-to id='s1' xmlns='urn:xmpp:fasten:0'><moderated by='{ROOM}/mod' xmlns='urn:xmpp:message-moderate:0'>\
         <retract xmlns='urn:xmpp:message-retract:0'/><reason>spam</reason></moderated></apply-to>"
    );
    let e = wrapped(&msg(ROOM, "s2", &payload)).unwrap();
    let r = Retraction {
        moderated: Some(Moderator {
            by: format!("{ROOM}/mod"),
            occupant_id: Some("feed".into()),
        }),
        reason: Some("spam".into()),
    };
    let target = "s1".into();
    assert_eq!(
        e.kind,
        EventKind::Change {
            target,
            change: Change::Retract(r)
        }
    );
    assert_eq!(e.nick, None, "from the room itself");
}

#[test]
fn a_joined_retraction_names_the_stanza_id() {
    let payload = format!("<retract id='s1' xmlns='urn:xmpp:message-retract:1'/>{OCC}");
    let e = joined(&msg(&format!("{ROOM}/alice"), "r1", &payload)).unwrap();
    let change = Change::Retract(Retraction::default());
    assert_eq!(
        e.kind,
        EventKind::Change {
            target: "s1".into(),
            change
        }
    );
}

#[test]
fn an_archived_tombstone_is_a_retracted_message_without_content() {
    let payload = format!(
        "{OCC}<retracted xmlns='urn:xmpp:message-retract:1' stamp='2026-12-06T10:00:00Z'/>"
    );
    let e = archived(&msg(&format!("{ROOM}/alice"), "m1", &payload)).unwrap();
    assert_eq!(
        e.kind,
        EventKind::Message {
            body: String::new()
        }
    );
    assert_eq!(e.retracted, Some(Retraction::default()));
    assert_eq!(e.occupant_id.as_deref(), Some("0123abcd"));
    assert_eq!(
        (e.stanza_id.as_deref(), e.source),
        (Some("s1"), Source::Archive)
    );
}

#[test]
fn an_archived_reaction_lists_its_emojis() {
    let payload = format!(
        "<reactions xmlns='urn:xmpp:reactions:0' id='s0'><reaction>👍</reaction>\
         <reaction>🎉</reaction></reactions>{OCC}"
    );
    let e = archived(&msg(&format!("{ROOM}/bob"), "x1", &payload)).unwrap();
    let emojis = vec!["👍".into(), "🎉".into()];
    let change = Change::React { emojis };
    assert_eq!(
        e.kind,
        EventKind::Change {
            target: "s0".into(),
            change
        }
    );
}

#[test]
fn malformed_changes_are_errors_not_panics() {
    for payload in [
        "<retract xmlns='urn:xmpp:message-retract:1'/>",
        "<reactions xmlns='urn:xmpp:reactions:0'><reaction>x</reaction></reactions>",
        "<body>b</body><replace xmlns='urn:xmpp:message-correct:0'/>",
        "<retracted xmlns='urn:xmpp:message-retract:1'/>",
    ] {
        let xml = msg(&format!("{ROOM}/alice"), "m", payload);
        assert!(joined(&xml).is_err(), "{payload}");
        assert!(wrapped(&xml).is_err(), "{payload}");
    }
}

/// The occupant-id is read as xmpp-parsers' non-pedantic `OccupantId` read it before issue
/// 24 read it by hand: other attributes and children ignored, white space allowed, other
/// text or a missing `id` make it absent.
#[test]
fn an_occupant_id_is_read_as_xmpp_parsers_reads_it() {
    let with = |occ: &str| {
        let payload = format!("<body>hi</body>{occ}{SID}");
        joined(&msg(&format!("{ROOM}/alice"), "m2", &payload))
            .unwrap()
            .occupant_id
    };
    let ns = "xmlns='urn:xmpp:occupant-id:0'";
    assert_eq!(
        with(&format!("<occupant-id {ns} id='a' x='y'/>")).as_deref(),
        Some("a")
    );
    assert_eq!(
        with(&format!("<occupant-id {ns} id='a'> <x/>\n</occupant-id>")).as_deref(),
        Some("a")
    );
    assert_eq!(
        with(&format!("<occupant-id {ns} id='a'>text</occupant-id>")),
        None
    );
    assert_eq!(with(&format!("<occupant-id {ns}/>")), None);
    assert_eq!(with("<occupant-id xmlns='urn:other' id='a'/>"), None);
}

/// `<reactions/>` and `<replace/>` are read as xmpp-parsers' non-pedantic `Reactions` and
/// `Replace` read them before issue 24 read them by hand: other attributes and unknown
/// children ignored, white space allowed, other text or a missing `id` an error.
#[test]
fn reactions_and_corrections_are_read_as_xmpp_parsers_reads_them() {
    use crate::protocol::{message_correct::Replace, reactions::Reactions};
    let r = "xmlns='urn:xmpp:reactions:0'";
    for xml in [
        format!("<reactions {r} id='s0'/>"),
        format!("<reactions {r} id='s0' x='y'> <reaction>👍</reaction>\n</reactions>"),
        format!("<reactions {r} id='s0'><reaction a='b'>a<x/>b</reaction><y/></reactions>"),
        format!(
            "<reactions {r} id='s0'><reaction/><reaction xmlns='urn:o'>z</reaction></reactions>"
        ),
        format!("<reactions {r} id='s0'>text<reaction>x</reaction></reactions>"),
        format!("<reactions {r}><reaction>x</reaction></reactions>"),
    ] {
        let payload = format!("{xml}{OCC}");
        let ours = joined(&msg(&format!("{ROOM}/bob"), "x1", &payload)).map(|e| e.kind);
        let theirs = Reactions::try_from(xml.parse::<Element>().unwrap()).map(|x| {
            let emojis = x.reactions.into_iter().map(|r| r.emoji).collect();
            EventKind::Change {
                target: x.id,
                change: Change::React { emojis },
            }
        });
        match (ours, theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{xml}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("{xml}: ours {a:?}, xmpp-parsers {b:?}"),
        }
    }
    let c = "xmlns='urn:xmpp:message-correct:0'";
    for xml in [
        format!("<replace {c} id='m1'/>"),
        format!("<replace {c} id='m1' x='y'> <x/>\n</replace>"),
        format!("<replace {c} id='m1'>text</replace>"),
        format!("<replace {c}/>"),
    ] {
        let payload = format!("<body>fixed</body>{xml}");
        let ours = joined(&msg(&format!("{ROOM}/bob"), "x1", &payload)).map(|e| e.kind);
        let theirs =
            Replace::try_from(xml.parse::<Element>().unwrap()).map(|x| EventKind::Change {
                target: x.id.0,
                change: Change::Edit {
                    body: "fixed".into(),
                },
            });
        match (ours, theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{xml}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("{xml}: ours {a:?}, xmpp-parsers {b:?}"),
        }
    }
}
