//! A message resent to a clustered room (XEP-0359 origin-id): its sender resends what it
//! got no echo for — the answer may have been lost with a dying node, or the room was
//! being taken over — and must get the stored message back, not a second archive row.
//!
//! The room task marks each archive write of a clustered room with the sender's origin-id;
//! storage refuses a second write with the same (room, sender, origin-id) and reports the
//! stored message ([`Duplicate`]); the task then sends the stored message, with its
//! stanza-id, where the refused one's echo, broadcast and events would have gone. A single node keeps
//! archiving every message as before (no origin-id on its writes).
//!
//! The other way round, an owner that dies between a commit and its fanout leaves
//! subscribers connected to other nodes without a message the archive holds (and its
//! sender may have had the echo). The node that claims the room next gets the old
//! owner's last messages with the claim (`Claim::Owned`'s `tail`) and sends them again
//! to the subscribers online now, under their stanza-ids: those who had them keep one
//! per id, the others get them live. Offline subscribers are not sent them again: they
//! resync from the archive when they come back.

use minidom::Element;
use mucsub_protocol::Node;

use super::deliver;
use super::event::WrappedEvent;
use super::room::{Action, Room};
use super::shared::Shared;
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

/// Sends the dead previous owner's `tail` (id, stanza; oldest first) again, as MucSub
/// events to the subscribers online now (never stored offline).
pub(super) async fn send_tail(shared: &Shared, room: &Room, tail: Vec<(i64, String)>) {
    if tail.is_empty() {
        return;
    }
    tracing::info!(
        room = room.name,
        messages = tail.len(),
        "sending the previous owner's last messages again"
    );
    for (id, stanza) in tail {
        let Ok(el) = stanza.parse::<Element>() else {
            continue;
        };
        // As the room sent it: a subject change alone on its node, the rest as messages.
        let node = if el.has_child("subject", ns::CLIENT) && !el.has_child("body", ns::CLIENT) {
            Node::Subject
        } else {
            Node::Messages
        };
        let mut out = Vec::new();
        room.fanout(&mut out, &[node], &id.to_string(), |_| el.clone());
        for a in out {
            if let Action::Event(ev) = a {
                let wrapped: Vec<_> = ev
                    .variants
                    .into_iter()
                    .map(|(inner, to)| {
                        let w = WrappedEvent::new(ev.node, &room.jid, &ev.id, &inner);
                        (w.live_only(), to)
                    })
                    .collect();
                deliver::wrapped(shared, &wrapped).await;
            }
        }
    }
}
