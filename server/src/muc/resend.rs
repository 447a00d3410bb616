//! A message resent to a clustered room (XEP-0359 origin-id): its sender resends what it
//! got no echo for — the answer may have been lost with a dying node, or the room was
//! being taken over — and must get the stored message back, not a second archive row.
//!
//! The room task marks each archive write of a clustered room with the sender's origin-id;
//! storage refuses a second write with the same (room, sender, origin-id) and reports the
//! stored message ([`Duplicate`]); the task then sends the sender that stored message, with
//! its stanza-id, instead of the refused one's broadcast and events. A single node keeps
//! archiving every message as before (no origin-id on its writes).

use minidom::Element;

use super::room::Action;
use super::store::StoreOp;
use crate::ns;
use crate::stanza::set_attr;
use crate::storage::Duplicate;

/// Marks the archive writes of `ops` with the origin-id of `original`; the ids of the
/// archive writes, to find the stanza a [`Duplicate`] belongs to.
pub(super) fn mark_origin(ops: &mut [StoreOp], original: Option<&Element>) -> Vec<i64> {
    let origin = original
        .filter(|m| m.name() == "message")
        .and_then(|m| m.get_child("origin-id", ns::ORIGIN_ID))
        .and_then(|o| o.attr("id"))
        .filter(|id| !id.is_empty());
    let mut ids = Vec::new();
    for op in ops {
        if let StoreOp::Archive(m) = op {
            m.origin_id = origin.map(str::to_owned);
            ids.push(m.id);
        }
    }
    ids
}

/// What the sender of `original` gets instead of its refused message's output: the stored
/// message, addressed to it. Nothing when the stored stanza does not parse (it always
/// does: the room wrote it) or the original has no sender.
pub(super) fn re_echo(dup: &Duplicate, original: &Element) -> Vec<Action> {
    let (Ok(mut stored), Some(to)) = (dup.stored.stanza.parse::<Element>(), original.attr("from"))
    else {
        return Vec::new();
    };
    set_attr(&mut stored, "to", to);
    vec![Action::Send(stored)]
}
