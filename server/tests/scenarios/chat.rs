//! Helpers of the modern group chat tests (occupant-id, corrections, retraction,
//! moderation, reactions, replies): sending a groupchat stanza and reading its echo, the
//! occupant-id of a stanza, and a room's whole archive.

#![allow(dead_code)]

use minidom::Element;
use mucsub_server::testkit::RawClient;

use super::support::*;

pub const OID: &str = "urn:xmpp:occupant-id:0";
pub const RETRACT: &str = "urn:xmpp:message-retract:1";
pub const MODERATE: &str = "urn:xmpp:message-moderate:1";
pub const CORRECT: &str = "urn:xmpp:message-correct:0";
pub const REACTIONS: &str = "urn:xmpp:reactions:0";
pub const REPLY: &str = "urn:xmpp:reply:0";
pub const FASTEN: &str = "urn:xmpp:fasten:0";

/// The `<occupant-id/>` ids of a stanza (the room adds exactly one).
pub fn occupant_ids(el: &Element) -> Vec<String> {
    el.children()
        .filter(|c| c.is("occupant-id", OID))
        .filter_map(|c| c.attr("id").map(str::to_owned))
        .collect()
}

/// The one occupant-id of a stanza; panics when it has none or several.
pub fn occupant_id(el: &Element) -> String {
    let ids = occupant_ids(el);
    assert_eq!(ids.len(), 1, "one occupant-id: {}", String::from(el));
    ids[0].clone()
}

/// Sends `<message type='groupchat' id=id>{inner}</message>` to the room as a joined
/// occupant and returns the room's echo of it (or its error).
pub async fn say_raw(c: &mut RawClient, room_jid: &str, id: &str, inner: &str) -> Element {
    c.send(&format!(
        "<message to='{room_jid}' type='groupchat' id='{id}'>{inner}</message>"
    ))
    .await;
    c.expect(&format!("the echo of {id}"), |e| {
        e.name() == "message" && e.attr("id") == Some(id)
    })
    .await
}

/// Waits for the wrapped messages-node event whose inner message has `id`.
pub async fn expect_wrapped(c: &mut RawClient, id: &str) -> (String, Element) {
    let el = c
        .expect(&format!("wrapped {id}"), |e| {
            unwrap_event(e)
                .is_some_and(|(n, _, inner)| n == "messages" && inner.attr("id") == Some(id))
        })
        .await;
    let (_, item, inner) = unwrap_event(&el).expect("event");
    (item, inner)
}

/// The room's whole archive (up to 200 messages), oldest first: (archive id, message).
pub async fn archive(c: &mut RawClient, room_jid: &str) -> Vec<(String, Element)> {
    let id = c.next_id();
    c.send(&format!(
        "<iq type='set' id='{id}' to='{room_jid}'><query xmlns='{MAM}' queryid='q{id}'><set xmlns='{RSM}'><max>200</max></set></query></iq>"
    ))
    .await;
    let mut got = Vec::new();
    loop {
        let el = c.recv().await;
        if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
            assert_result(&el);
            return got;
        }
        if let Some(r) = el.get_child("result", MAM) {
            let m = r
                .get_child("forwarded", "urn:xmpp:forward:0")
                .and_then(|f| f.get_child("message", CLIENT))
                .expect("forwarded message")
                .clone();
            got.push((r.attr("id").unwrap_or_default().to_owned(), m));
        }
    }
}

/// The archived message with archive id `id`.
pub async fn archived(c: &mut RawClient, room_jid: &str, id: &str) -> Element {
    archive(c, room_jid)
        .await
        .into_iter()
        .find(|(i, _)| i == id)
        .map(|(_, m)| m)
        .unwrap_or_else(|| panic!("archive id {id} not found"))
}

pub fn body(el: &Element) -> Option<String> {
    el.get_child("body", CLIENT).map(Element::text)
}
