//! A message resent to a clustered room (XEP-0359 origin-id): its sender resends what it
//! got no echo for — the answer may have been lost with a dying node, or the room was
//! being taken over — and must get the stored message back, not a second archive row.
//!
//! The room task marks each archive write of a clustered room with the sender's origin-id;
//! storage refuses a second write with the same (room, sender, origin-id) and reports the
//! stored message ([`Duplicate`]); the task then sends the stored message, with its
//! stanza-id, where the refused one's echo, broadcast and events would have gone. A single node keeps
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

/// The refused message's output `actions`, carrying the stored message instead: its
/// echo, broadcast and events under the stored stanza-id. Those the first copy reached
/// get it again under the same id (clients keep one per id); those it missed — its owner
/// died between commit and fanout — get it now. Without the stored stanza (it always
/// parses: the room wrote it) nothing of the refused copy leaves.
pub(super) fn re_deliver(dup: &Duplicate, actions: Vec<Action>) -> Vec<Action> {
    let Ok(stored) = dup.stored.stanza.parse::<Element>() else {
        return Vec::new();
    };
    let attempted = dup.attempted.to_string();
    let carries = |el: &Element| {
        el.get_child("stanza-id", ns::SID)
            .is_some_and(|s| s.attr("id") == Some(attempted.as_str()))
    };
    actions
        .into_iter()
        .map(|a| match a {
            Action::Send(el) if carries(&el) => {
                let mut again = stored.clone();
                if let Some(to) = el.attr("to") {
                    set_attr(&mut again, "to", to);
                }
                Action::Send(again)
            }
            Action::Broadcast(el, to) if carries(&el) => Action::Broadcast(stored.clone(), to),
            Action::Event(mut ev) if ev.id == attempted => {
                ev.id = dup.stored.id.to_string();
                for (inner, _) in &mut ev.variants {
                    *inner = stored.clone();
                }
                Action::Event(ev)
            }
            a => a,
        })
        .collect()
}
