//! Sans-IO builders of the stanzas an occupant sends to change or answer a message
//! (protocol.md X13), the outbound side of what `modern.rs` reads: corrections
//! (XEP-0308), retraction (XEP-0424), moderation (XEP-0425), reactions (XEP-0444) and
//! replies (XEP-0461). Message ids come from the caller: the core draws no random numbers.
//! Each message also carries `id` as its XEP-0359 origin-id, as plain sends do, so its
//! echo and archive copy deduplicate against the local copy.

use jid::BareJid;
use minidom::Element;

use super::ReplyTo;
use crate::protocol::ns;
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
    // Built over minidom, as xmpp-parsers' `Replace` writes it (no xso in the package).
    let replace = Element::builder("replace", ns::MESSAGE_CORRECT)
        .attr(ncname("id"), target.to_owned())
        .build();
    groupchat(room, id, vec![body(text), replace])
}

/// What clients without XEP-0424 show for a retraction (its fallback body, §4).
pub const RETRACT_FALLBACK: &str =
    "This person attempted to retract a previous message, but it's unsupported by your client.";

/// `<store xmlns='urn:xmpp:hints'/>` (XEP-0334): archive this although it may have no body.
fn store_hint() -> Element {
    Element::builder("store", ns::HINTS).build()
}

/// Retract our message `target`, named by the id we gave it (its origin-id), with the
/// fallback body XEP-0424 §4 gives older clients (marked as such, so no XEP-0424 reader
/// shows it) and a `<store/>` hint: archives that keep only messages with a body or the
/// hint (ejabberd 23.01) keep the retraction, so a device catching up from the archive
/// learns it.
///
/// The origin-id, not the room's stanza-id: Converse.js 14 applies a groupchat retraction
/// only when its id is the origin-id (or stanza `id`) of a message from the same occupant
/// JID, and XEP-0424 names the retracted message by its origin-id; our server, ejabberd
/// (which only relays it) and the SDK's stores accept either. Moderation (XEP-0425), which
/// is about someone else's message, names the stanza-id.
pub fn retract(room: &BareJid, id: &str, target: &str) -> Element {
    let retract = Retract {
        id: target.to_owned(),
        moderated: None,
        reason: None,
    };
    let fallback = Element::builder("fallback", ns::FALLBACK)
        .attr(ncname("for"), ns::RETRACT)
        .build();
    let children = vec![
        retract.into(),
        fallback,
        body(RETRACT_FALLBACK),
        store_hint(),
    ];
    groupchat(room, id, children)
}

/// Our reactions to the message with archive id `stanza_id` become exactly `emojis`
/// (empty removes them): XEP-0444 in a room names the stanza-id.
pub fn react(room: &BareJid, id: &str, stanza_id: &str, emojis: &[String]) -> Element {
    // Built over minidom, as xmpp-parsers' `Reactions` writes it (no xso in the package).
    let reactions = Element::builder("reactions", ns::REACTIONS)
        .attr(ncname("id"), stanza_id.to_owned())
        .append_all(emojis.iter().map(|e| {
            Element::builder("reaction", ns::REACTIONS)
                .append(e.as_str())
                .build()
        }))
        .build();
    // No body: the `<store/>` hint keeps it in archives that want one (XEP-0444 §4).
    groupchat(room, id, vec![reactions, store_hint()])
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
