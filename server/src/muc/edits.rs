//! Changes to archived messages: XEP-0308 corrections and XEP-0424 retractions by their
//! author, and the tombstone (XEP-0424 §5.1) the archive keeps in place of a retracted
//! or moderated message (moderation itself is `moderation.rs`).
//!
//! The target of a change is found in the archive before the room sees the stanza
//! ([`target_keys`], looked up by the room task with the batch before it committed, so
//! a change right after its message finds it), and handed to the room in [`Env::target`].
//! Authorship is the archived message's sender account, which is also what its
//! occupant-id is derived from (`occupant_id.rs`): comparing accounts is comparing
//! occupant-ids, without trusting anything the client says.

use jid::{BareJid, FullJid};
use minidom::Element;
use mucsub_protocol::message_correct::Replace;
use mucsub_protocol::retract::{Moderated, Retract, Retracted};

use super::ids::stamp;
use super::occupant_id::is_occupant_id;
use super::room::{Env, Room};
use super::store::{ArchiveKey, ArchivedMsg, StoreOp};
use super::xml::B;
use crate::ns;
use crate::stanza::{ErrorType, Refusal};

/// The room's disco#info features of corrections, retraction and reactions (archived and
/// relayed like messages) and replies.
pub const FEATURES: &[&str] = &[ns::MESSAGE_CORRECT, ns::RETRACT, ns::REACTIONS, ns::REPLY];

/// The archive keys naming the message `m` changes, most likely first: a correction's
/// `<replace id>` is the id its author gave the message; a retraction's `<retract id>`
/// the room's stanza-id or the origin-id its author gave it (what our SDK and Converse.js
/// send). `None` when `m` changes nothing.
pub(super) fn target_keys(m: &Element, from: &FullJid) -> Option<Vec<ArchiveKey>> {
    if m.name() != "message" || m.attr("type") != Some("groupchat") {
        return None;
    }
    let sender = from.to_bare().to_string();
    let by_client = |id: &str| ArchiveKey::Client {
        id: id.to_owned(),
        sender: sender.clone(),
    };
    if let Some(r) = m.get_child("retract", ns::RETRACT) {
        let id = r.attr("id")?;
        let mut keys: Vec<ArchiveKey> = id.parse().ok().map(ArchiveKey::Id).into_iter().collect();
        keys.push(by_client(id));
        return Some(keys);
    }
    let r = m.get_child("replace", ns::MESSAGE_CORRECT)?;
    Some(vec![by_client(r.attr("id")?)])
}

/// The id the sender gave `m`, which a correction names (XEP-0308 §3: the corrected
/// stanza's `id`): its `id`, else its origin-id (XEP-0359; clients set both alike).
pub(super) fn client_id(m: &Element) -> Option<String> {
    m.attr("id")
        .or_else(|| {
            m.get_child("origin-id", ns::ORIGIN_ID)
                .and_then(|o| o.attr("id"))
        })
        .map(str::to_owned)
}

/// What a groupchat message changes, once allowed.
pub(super) enum Change {
    None,
    /// A retraction: the archived message to replace with its tombstone.
    Retract(ArchivedMsg),
}

impl Room {
    /// Whether `from` may send `m` as far as the message it changes is concerned.
    ///
    /// Correcting or retracting another occupant's message is refused with
    /// `auth/forbidden`: the request is well-formed and the message exists, but this
    /// sender lacks the right to change it (RFC 6120 §8.3.3.5), which the author has
    /// (`not-allowed` would say nobody may). A correction of a message the archive does
    /// not hold (sent before the archive was on, or never) is relayed: receivers check
    /// it against what they have (XEP-0308 §5); a retraction of one is
    /// `cancel/item-not-found`, there being nothing to tombstone.
    pub(super) fn check_change(
        &self,
        env: &Env,
        from: &FullJid,
        m: &Element,
    ) -> Result<Change, Refusal> {
        let me = from.to_bare();
        let mine = |t: &ArchivedMsg| BareJid::new(&t.sender).is_ok_and(|s| s == me);
        if let Some(r) = m.get_child("retract", ns::RETRACT) {
            Retract::try_from(r).map_err(|e| Refusal::bad_request(e.to_string()))?;
            let Some(target) = env.target else {
                return Err(Refusal::new(
                    ErrorType::Cancel,
                    "item-not-found",
                    "The message to retract is not in this room's archive",
                ));
            };
            if !mine(target) {
                return Err(Refusal::new(
                    ErrorType::Auth,
                    "forbidden",
                    "Only its author may retract a message (moderators moderate it)",
                ));
            }
            return Ok(Change::Retract(target.clone()));
        }
        if let Some(r) = m.get_child("replace", ns::MESSAGE_CORRECT) {
            Replace::try_from(r.clone()).map_err(|e| Refusal::bad_request(e.to_string()))?;
            if env.target.is_some_and(|t| !mine(t)) {
                return Err(Refusal::new(
                    ErrorType::Auth,
                    "forbidden",
                    "Only its author may correct a message",
                ));
            }
        }
        Ok(Change::None)
    }

    /// Replaces archived message `target` with its tombstone: in storage (`out`) and in
    /// the join history kept in memory.
    pub(super) fn tombstone(
        &mut self,
        env: &Env,
        target: &ArchivedMsg,
        moderated: Option<(Moderated, Option<String>)>,
    ) -> StoreOp {
        let (moderated, reason) = moderated.unzip();
        let retracted = Retracted {
            stamp: stamp(env.now_us),
            moderated,
            reason: reason.flatten(),
        };
        let stanza = tombstone_of(&target.stanza, retracted);
        let sid = target.id.to_string();
        for h in self.history.iter_mut() {
            if stanza_id_of(&h.stanza) == Some(sid.as_str()) {
                h.stanza = stanza.clone();
            }
        }
        StoreOp::Tombstone {
            room: self.name.clone(),
            id: target.id,
            stanza: String::from(&stanza),
        }
    }
}

/// The room's stanza-id of a relayed message.
fn stanza_id_of(m: &Element) -> Option<&str> {
    m.get_child("stanza-id", ns::SID).and_then(|s| s.attr("id"))
}

/// The archived message `stored` as its tombstone: the same `from`, `type`, `id`, room
/// stanza-id, origin-id and occupant-id, the `<retracted/>` element, and nothing of its
/// content (XEP-0424 §5.1, XEP-0425 §6).
fn tombstone_of(stored: &str, retracted: Retracted) -> Element {
    let original: Element = stored
        .parse()
        .unwrap_or_else(|_| Element::bare("message", ns::CLIENT));
    let kept = original.children().filter(|c| {
        c.is("stanza-id", ns::SID) || c.is("origin-id", ns::ORIGIN_ID) || is_occupant_id(c)
    });
    B::new("message", ns::CLIENT)
        .opt("from", original.attr("from"))
        .a("type", original.attr("type").unwrap_or("groupchat"))
        .opt("id", original.attr("id"))
        .c(retracted.into())
        .cs(kept.cloned())
        .b()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tombstone_keeps_the_ids_and_drops_the_content() {
        let stored = "<message xmlns='jabber:client' from='r@c/al' type='groupchat' id='m1'>\
            <stanza-id xmlns='urn:xmpp:sid:0' by='r@c' id='5'/>\
            <occupant-id xmlns='urn:xmpp:occupant-id:0' id='abc'/>\
            <origin-id xmlns='urn:xmpp:sid:0' id='o1'/><body>secret</body></message>";
        let t = tombstone_of(
            stored,
            Retracted {
                stamp: "2026-12-06T00:00:00Z".into(),
                moderated: None,
                reason: None,
            },
        );
        let s = String::from(&t);
        assert!(
            !s.contains("secret") && t.get_child("body", ns::CLIENT).is_none(),
            "{s}"
        );
        assert!(t.has_child("retracted", ns::RETRACT), "{s}");
        assert_eq!((t.attr("id"), t.attr("from")), (Some("m1"), Some("r@c/al")));
        let oid = t
            .get_child("occupant-id", ns::OCCUPANT_ID)
            .and_then(|o| o.attr("id"));
        assert_eq!(oid, Some("abc"));
        let origin = t
            .get_child("origin-id", ns::ORIGIN_ID)
            .and_then(|o| o.attr("id"));
        assert_eq!(origin, Some("o1"));
        assert_eq!(stanza_id_of(&t), Some("5"));
    }

    #[test]
    fn keys_name_the_stanza_id_first_then_the_client_id() {
        let from = FullJid::new("al@localhost/x").unwrap();
        let m: Element = "<message xmlns='jabber:client' type='groupchat'>\
            <retract xmlns='urn:xmpp:message-retract:1' id='42'/></message>"
            .parse()
            .unwrap();
        let keys = target_keys(&m, &from).unwrap();
        assert_eq!(keys[0], ArchiveKey::Id(42));
        let m: Element = "<message xmlns='jabber:client' type='groupchat'><body>x</body>\
            <replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>"
            .parse()
            .unwrap();
        let keys = target_keys(&m, &from).unwrap();
        assert_eq!(
            keys,
            vec![ArchiveKey::Client {
                id: "m1".into(),
                sender: "al@localhost".into()
            }]
        );
        let plain: Element =
            "<message xmlns='jabber:client' type='groupchat'><body>x</body></message>"
                .parse()
                .unwrap();
        assert!(target_keys(&plain, &from).is_none());
    }
}
