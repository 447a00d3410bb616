//! Sans-IO builders of the stanzas an occupant sends to change or answer a message
//! (protocol.md X13), the outbound side of what `modern.rs` reads: corrections
//! (XEP-0308), retraction (XEP-0424), moderation (XEP-0425), reactions (XEP-0444) and
//! replies (XEP-0461). Message ids come from the caller: the core draws no random numbers.
//! Each message also carries `id` as its XEP-0359 origin-id, as plain sends do, so its
//! echo and archive copy deduplicate against the local copy.

use jid::BareJid;
use minidom::Element;

use super::ReplyTo;
use crate::protocol::message::Id;
use crate::protocol::message_correct::Replace;
use crate::protocol::ns;
use crate::protocol::reactions::{Reaction, Reactions};
use crate::protocol::retract::{ModerateRequest, Retract};
use crate::protocol::xml::ncname;

/// A groupchat message to `room` with `id` as its id and origin-id, and `children`.
fn groupchat(room: &BareJid, id: &str, children: Vec<Element>) -> Element {
    let origin = Element::builder("origin-id", ns::SID)
        .attr(ncname("id"), id.to_owned())
        .build();
    Element::builder("message", ns::JABBER_CLIENT)
        .attr(ncname("to"), room.to_string())
        .attr(ncname("type"), "groupchat")
        .attr(ncname("id"), id.to_owned())
        .append_all(children)
        .append(origin)
        .build()
}

fn body(text: &str) -> Element {
    Element::builder("body", ns::JABBER_CLIENT)
        .append(text.to_owned())
        .build()
}

/// Post `text`, answering `reply_to` when given (`<reply id=… to=…/>`; no quoted
/// fallback: the reply keeps exactly the text the user typed).
pub fn message(room: &BareJid, id: &str, text: &str, reply_to: Option<&ReplyTo>) -> Element {
    let mut children = vec![body(text)];
    if let Some(r) = reply_to {
        let mut reply = Element::builder("reply", ns::REPLY).attr(ncname("id"), r.id.clone());
        if let Some(to) = &r.to {
            reply = reply.attr(ncname("to"), to.clone());
        }
        children.push(reply.build());
    }
    groupchat(room, id, children)
}

/// Correct our message `target` (the id we gave it) to `text`.
pub fn edit(room: &BareJid, id: &str, target: &str, text: &str) -> Element {
    let replace = Replace {
        id: Id(target.to_owned()),
    };
    groupchat(room, id, vec![body(text), replace.into()])
}

/// Retract our message whose room archive id is `stanza_id`.
pub fn retract(room: &BareJid, id: &str, stanza_id: &str) -> Element {
    let retract = Retract {
        id: stanza_id.to_owned(),
        moderated: None,
        reason: None,
    };
    groupchat(room, id, vec![retract.into()])
}

/// Our reactions to the message with archive id `stanza_id` become exactly `emojis`
/// (empty removes them): XEP-0444 in a room names the stanza-id.
pub fn react(room: &BareJid, id: &str, stanza_id: &str, emojis: &[String]) -> Element {
    let reactions = Reactions {
        id: stanza_id.to_owned(),
        reactions: emojis
            .iter()
            .map(|e| Reaction { emoji: e.clone() })
            .collect(),
    };
    groupchat(room, id, vec![reactions.into()])
}

/// The payload of the IQ set a moderator sends the room to retract anyone's message
/// (XEP-0425 v0.3+, the version the room announces first).
pub fn moderate(stanza_id: &str, reason: Option<&str>) -> Element {
    ModerateRequest {
        id: stanza_id.to_owned(),
        reason: reason.map(str::to_owned),
        legacy: false,
    }
    .into()
}

#[cfg(test)]
#[path = "compose_tests.rs"]
mod tests;
