//! A MucSub event's way to its subscribers, for a room's task (and the messages a new
//! owner sends again, `resend.rs`).

use jid::BareJid;

use super::event::WrappedEvent;
use super::room::{EventOut, Recipient, Room};
use super::shared::Shared;

/// Sends one event to its recipients; the accounts found not to exist any more.
/// Offline copies are stored before anyone here gets the event live, so a crash right
/// after someone saw it loses no one's copy (S16); the recipients not online here (on
/// other nodes, or offline) go first, together, so a cluster asks each node once.
pub(super) async fn event(shared: &Shared, room: &Room, ev: EventOut) -> Vec<BareJid> {
    let events: Vec<(WrappedEvent, Vec<Recipient>)> = ev
        .variants
        .into_iter()
        .map(|(inner, rcpts)| (WrappedEvent::new(ev.node, &room.jid, &ev.id, &inner), rcpts))
        .collect();
    wrapped(shared, &events).await
}

/// [`event`] for events already wrapped.
pub(super) async fn wrapped(
    shared: &Shared,
    wrapped: &[(WrappedEvent, Vec<Recipient>)],
) -> Vec<BareJid> {
    let (mut first, mut then) = (Vec::new(), Vec::new());
    for (w, rcpts) in wrapped {
        for r in rcpts {
            if w.storable() && shared.outlet.reaches(&r.account) {
                then.push((r, w));
            } else {
                first.push((r, w));
            }
        }
    }
    let mut gone = Vec::new();
    for part in [first, then] {
        if part.is_empty() {
            continue;
        }
        let delivered = shared.outlet.deliver_events(&part).await;
        for ((r, _), yes) in part.iter().zip(delivered) {
            if yes {
                shared.metrics.events_fanned_out.inc();
            } else {
                gone.push(r.account.clone());
            }
        }
    }
    gone
}
