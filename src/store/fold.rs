//! Folding corrections, retractions and reactions into the message they name, shared by
//! every store engine so they agree on the result.
//!
//! A store keeps each change event (deduplicated like any event) and, whenever a message
//! or a change of it arrives, recomputes the message from its original content and ALL
//! the stored changes naming it, in stored order. The result therefore does not depend on
//! arrival order (a change before its target, an archive page after live copies, the same
//! change twice), which an incremental "apply this one change" could not promise.

use crate::event::{Change, EventKind, RoomEvent};

use super::answers_to;

/// Is `ev` a message (what a change may name)?
pub fn is_message(ev: &RoomEvent) -> bool {
    matches!(ev.kind, EventKind::Message { .. })
}

/// The id a change event names, for a change event.
pub fn target_of(ev: &RoomEvent) -> Option<&str> {
    match &ev.kind {
        EventKind::Change { target, .. } => Some(target),
        _ => None,
    }
}

/// Is `change` (a change event) about `msg` (a message event)?
pub fn names(change: &RoomEvent, msg: &RoomEvent) -> bool {
    matches!(msg.kind, EventKind::Message { .. })
        && change.room == msg.room
        && target_of(change).is_some_and(|t| answers_to(msg, t))
}

/// The ids an event answers to: its stanza-id, message id and origin-id.
pub fn own_ids(ev: &RoomEvent) -> impl Iterator<Item = &str> {
    [&ev.stanza_id, &ev.message_id, &ev.origin_id]
        .into_iter()
        .flatten()
        .map(String::as_str)
}

/// Is `ev` a correction (XEP-0308)?
pub fn is_edit(ev: &RoomEvent) -> bool {
    matches!(
        ev.kind,
        EventKind::Change {
            change: Change::Edit { .. },
            ..
        }
    )
}

/// The other ids `msg` answers to: the archive ids (stanza-ids) of its corrections among
/// `direct` (the changes naming it) that `fold` applies (by its author). A client that
/// shows a corrected message as its newest version names it by the correction's
/// stanza-id (Converse.js reacts to it and moderates it so), and the change is meant for
/// the message. Only stanza-ids: what others name a groupchat message by (XEP-0444,
/// XEP-0425); its author names it by the original's id (XEP-0308 §5).
pub fn aliases<'a>(msg: &RoomEvent, direct: &[&'a RoomEvent]) -> Vec<&'a str> {
    direct
        .iter()
        .filter(|c| is_edit(c) && names(c, msg) && same_sender(msg, c))
        .filter_map(|c| c.stanza_id.as_deref())
        .collect()
}

/// Is `change` about `msg` through one of its `aliases` (see [`aliases`])?
pub fn names_through(change: &RoomEvent, msg: &RoomEvent, aliases: &[&str]) -> bool {
    change.room == msg.room && target_of(change).is_some_and(|t| aliases.contains(&t))
}

/// Do `a` and `b` (two copies of one message) look the same to the app: body, earlier
/// bodies, retraction or moderation, reactions, reply. Ids and times gained from an archive
/// copy do not count: a resync would otherwise report every live message again.
pub fn shown_same(a: &RoomEvent, b: &RoomEvent) -> bool {
    a.kind == b.kind
        && a.edited == b.edited
        && a.retracted == b.retracted
        && a.reactions == b.reactions
        && a.reply_to == b.reply_to
}

/// Recompute `msg` from its original content and `changes` (the stored change events that
/// name it, in stored order). Returns whether `msg` changed.
pub fn fold(msg: &mut RoomEvent, changes: &[&RoomEvent]) -> bool {
    let before = msg.clone();
    let EventKind::Message { body } = &mut msg.kind else {
        return false;
    };
    // Back to the original content; reactions are rebuilt from scratch below.
    if !msg.edited.is_empty() {
        *body = msg.edited.remove(0);
        msg.edited.clear();
    }
    msg.reactions.clear();
    for change in changes {
        let EventKind::Change { change: what, .. } = &change.kind else {
            continue;
        };
        match what {
            Change::Edit { body: new } if same_sender(msg, change) => {
                if let EventKind::Message { body } = &mut msg.kind {
                    if body != new {
                        msg.edited.push(std::mem::replace(body, new.clone()));
                    }
                }
            }
            // A moderation comes from the room itself (no nick), which checked the role;
            // an occupant retracts only its own messages.
            Change::Retract(r)
                if (r.moderated.is_some() && change.nick.is_none())
                    || (r.moderated.is_none() && same_sender(msg, change)) =>
            {
                msg.retracted = Some(r.clone());
            }
            Change::React { emojis } => react(msg, change, emojis),
            _ => {}
        }
    }
    if msg.retracted.is_some() {
        msg.erase();
    }
    *msg != before
}

/// XEP-0444: a reaction message replaces everything its sender reacted to the message.
fn react(msg: &mut RoomEvent, change: &RoomEvent, emojis: &[String]) {
    let Some(who) = change.occupant_id.as_ref().or(change.nick.as_ref()) else {
        return;
    };
    for list in msg.reactions.values_mut() {
        list.retain(|w| w != who);
    }
    for emoji in emojis {
        let list = msg.reactions.entry_or_default(emoji);
        // Kept sorted by inserting in place (`fold` rebuilds the lists from empty), not by
        // `sort()`: that was the package's last driftsort copy besides `crate::sort`'s
        // (issue 24, package size).
        if let Err(at) = list.binary_search(who) {
            list.insert(at, who.clone());
        }
    }
    msg.reactions.retain(|_, list| !list.is_empty());
}

/// Only a message's author may correct or retract it (XEP-0308 §8, XEP-0424 §7): the same
/// occupant-id when the room gives them (they survive nick changes), else the same nick.
fn same_sender(msg: &RoomEvent, change: &RoomEvent) -> bool {
    match (&msg.occupant_id, &change.occupant_id) {
        (Some(a), Some(b)) => a == b,
        _ => msg.nick.is_some() && msg.nick == change.nick,
    }
}
