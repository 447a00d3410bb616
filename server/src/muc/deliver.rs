//! A MucSub event's way to its subscribers, for a room's task (and the messages a new
//! owner sends again, `resend.rs`).
//!
//! A room's task sends the events of one committed batch of stanzas together
//! ([`Deferred`]): in a cluster that is one directory lookup and one request per node for
//! all of them, and each recipient's session gets them in one write, instead of one round
//! trip per event, which the task waited for before it sent the next one.

use std::collections::HashMap;

use jid::{BareJid, FullJid};

use super::event::WrappedEvent;
use super::room::{EventOut, Recipient, Room};
use super::shared::Shared;

/// Events held back while a task performs the rest of a batch's output, sent before
/// anything else that could reach one of their sessions: per session, everything still
/// goes out in the order the room produced it.
#[derive(Default)]
pub(super) struct Deferred {
    events: Vec<EventOut>,
    /// Per recipient account, the resources joined to the room in every held event
    /// (those get no wrapped copy, so a stanza to one of them may pass the events).
    spared: HashMap<BareJid, Vec<String>>,
}

impl Deferred {
    pub(super) fn push(&mut self, ev: EventOut) {
        for r in ev.variants.iter().flat_map(|(_, rcpts)| rcpts) {
            match self.spared.get_mut(&r.account) {
                Some(spared) => spared.retain(|j| r.joined.contains(j)),
                None => {
                    self.spared.insert(r.account.clone(), r.joined.clone());
                }
            }
        }
        self.events.push(ev);
    }

    /// Whether a held event may reach the session `to` (a full JID; anything else may
    /// reach any session).
    pub(super) fn reaches(&self, to: Option<&str>) -> bool {
        match to.and_then(|t| FullJid::new(t).ok()) {
            Some(full) => self.reaches_full(&full),
            None => !self.events.is_empty(),
        }
    }

    /// Whether a held event may reach the session `to`.
    pub(super) fn reaches_full(&self, to: &FullJid) -> bool {
        if self.spared.is_empty() {
            return false;
        }
        self.spared
            .get(&to.to_bare())
            .is_some_and(|spared| !spared.iter().any(|r| r == to.resource().as_str()))
    }

    /// Sends the held events; the accounts found not to exist any more.
    pub(super) async fn send(&mut self, shared: &Shared, room: &Room) -> Vec<BareJid> {
        self.spared.clear();
        let events = std::mem::take(&mut self.events);
        if events.is_empty() {
            return Vec::new();
        }
        let all: Vec<(WrappedEvent, Vec<Recipient>)> = events
            .into_iter()
            .flat_map(|ev| {
                let (node, id) = (ev.node, ev.id);
                ev.variants.into_iter().map(move |(inner, rcpts)| {
                    (WrappedEvent::new(node, &room.jid, &id, &inner), rcpts)
                })
            })
            .collect();
        wrapped(shared, &all).await
    }
}

/// Sends events already wrapped, in order, to their recipients; the accounts found not to
/// exist any more. Offline copies are stored before anyone here gets an event live, so a
/// crash right after someone saw it loses no one's copy (S16): the recipients not online
/// here (on other nodes, or offline) and those of events not kept offline go first,
/// together, so a cluster asks each node once, then the others. An account that would get
/// a first-part event after a second-part one ends the run there, so that its events
/// keep their order: the rest goes in another run.
pub(super) async fn wrapped(
    shared: &Shared,
    wrapped: &[(WrappedEvent, Vec<Recipient>)],
) -> Vec<BareJid> {
    let mut gone = Vec::new();
    let (mut first, mut then) = (Vec::new(), Vec::new());
    // Per account in this run: whether it is online here, and whether it is in `then`.
    let mut seen: HashMap<&BareJid, (bool, bool)> = HashMap::new();
    for (w, rcpts) in wrapped {
        for r in rcpts {
            let (here, in_then) = *seen
                .entry(&r.account)
                .or_insert_with(|| (shared.outlet.reaches(&r.account), false));
            let later = w.storable() && here;
            if !later && in_then {
                send_run(shared, [&mut first, &mut then], &mut gone).await;
                seen.clear();
                seen.insert(&r.account, (here, false));
            }
            if later {
                seen.insert(&r.account, (here, true));
                then.push((r, w));
            } else {
                first.push((r, w));
            }
        }
    }
    send_run(shared, [&mut first, &mut then], &mut gone).await;
    gone
}

/// Delivers the parts of one run, in turn (on one directory lookup in a cluster),
/// emptying them; adds the accounts that turned out not to exist to `gone`.
async fn send_run(
    shared: &Shared,
    [first, then]: [&mut Vec<(&Recipient, &WrappedEvent)>; 2],
    gone: &mut Vec<BareJid>,
) {
    if first.is_empty() && then.is_empty() {
        return;
    }
    let parts = [&first[..], &then[..]];
    let delivered = shared.outlet.deliver_events(&parts).await;
    for (part, delivered) in parts.iter().zip(delivered) {
        for ((r, _), yes) in part.iter().zip(delivered) {
            if yes {
                shared.metrics.events_fanned_out.inc();
            } else if !gone.contains(&r.account) {
                gone.push(r.account.clone());
            }
        }
    }
    first.clear();
    then.clear();
}
