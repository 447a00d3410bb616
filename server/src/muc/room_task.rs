//! One loaded room's task: it owns the [`Room`], feeds it the stanzas of its queue and
//! applies the actions, committing every storage write of a batch of stanzas in one
//! transaction before anything of that batch leaves (docs/protocol.md S16: nothing is
//! announced that is not on disk).
//!
//! In a cluster the task holds the room's ownership [`Fence`] and commits under it. A
//! commit the fence refuses means another node took the room over (this one was paused or
//! cut off past its lease): the batch's senders get `wait` errors, nothing of it leaves,
//! and the task ends, handing what is still queued back to the registry, which claims the
//! room again or finds it taken.

use std::time::Duration;

use jid::{BareJid, FullJid};
use minidom::Element;
use tokio::sync::mpsc;

use super::create::{request_quota, subscribe_quota, Quota};
use super::deliver::Deferred;
use super::handle::RequestError;
use super::ids::now_micros;
use super::mailbox::{Report, RoomMsg};
use super::mam;
use super::resend;
use super::room::{Action, Env, Room};
use super::shared::Shared;
use super::store::{ArchiveKey, ArchivedMsg, StoreOp};
use super::{edits, moderation};
use crate::stanza::{error_reply, ErrorType};
use crate::storage::{Fence, LostOwnership};

/// Runs `room` until it is unloaded or destroyed; `initial` are its creation's actions;
/// `fence` is its ownership in a cluster; `tail` the messages the room's previous owner
/// archived in its last moments, when it lost the room by its lease (`Claim::Owned`).
pub(super) async fn room_task(
    shared: Shared,
    mut room: Room,
    mut rx: mpsc::Receiver<RoomMsg>,
    reports: mpsc::UnboundedSender<Report>,
    initial: Vec<Action>,
    fence: Option<Fence>,
    tail: Vec<(i64, String)>,
) {
    let name = room.name.clone();
    let fence = fence.as_ref();
    // What a dead previous owner may have committed and not sent goes out first, before
    // anything newer (resend.rs).
    resend::send_tail(&shared, &room, tail).await;
    let idle = Duration::from_secs_f64(shared.settings.idle_unload_secs.max(0.01));
    // The creation's writes: a refused fence ends the task at once.
    let created = execute(&shared, fence, &room, initial, None).await;
    if settle(&shared, fence, &mut room, created, &mut rx, &reports).await {
        return;
    }
    let mut idle_reported = false;
    // A message taken from the queue while filling a batch, to handle next.
    let mut pending: Option<RoomMsg> = None;
    loop {
        let msg = if let Some(m) = pending.take() {
            Some(m)
        } else if room.occupants.is_empty() && !idle_reported {
            match tokio::time::timeout(idle, rx.recv()).await {
                Ok(m) => m,
                Err(_) => {
                    idle_reported = true;
                    let _ = reports.send(Report::Idle(name.clone()));
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        match msg {
            Some(RoomMsg::Stanza(from, stanza)) => {
                idle_reported = false;
                // Held until the new subscription is committed.
                let _quota = match subscribe_quota(&shared, &room, &from, &stanza).await {
                    Quota::Free => None,
                    Quota::Held(guard) => Some(guard),
                    Quota::Refused(r) => {
                        shared.outlet.send(r.reply_to(&stanza)).await;
                        continue;
                    }
                };
                // Every stanza already queued is handled now and its writes committed
                // together: one fsync per batch instead of one per message, and still
                // nothing leaves before the commit that holds it.
                let mut batch = Vec::new();
                let mut next = Some((from, stanza));
                while let Some((from, stanza)) = next.take() {
                    let keys = change_keys(&stanza, &from);
                    if keys.is_some() && !batch.is_empty() {
                        // A change's target may be in this batch: committed first, so the
                        // lookup below finds it.
                        pending = Some(RoomMsg::Stanza(from, stanza));
                        break;
                    }
                    let target = match keys {
                        Some(keys) => find_target(&shared, &room.name, &keys).await,
                        None => None,
                    };
                    let original = stanza.clone();
                    let mut here = env(&shared);
                    here.target = target.as_ref();
                    let actions = room.handle(&here, from, stanza);
                    // An archive query is answered from storage, so it ends the batch: its
                    // page holds exactly what came before it. So does a destroyed room.
                    let ends = actions
                        .iter()
                        .any(|a| matches!(a, Action::Mam { .. } | Action::Destroyed));
                    batch.push((actions, Some(original)));
                    if ends || batch.len() >= MAX_BATCH {
                        break;
                    }
                    match rx.try_recv() {
                        Ok(RoomMsg::Stanza(f, s)) => next = Some((f, s)),
                        Ok(other) => pending = Some(other),
                        Err(_) => {}
                    }
                }
                let result = execute_batch(&shared, fence, &room, batch).await;
                if settle(&shared, fence, &mut room, result, &mut rx, &reports).await {
                    return;
                }
            }
            Some(RoomMsg::Request(req, reply)) => {
                idle_reported = false;
                // Held until the new subscriptions are committed.
                let _quota = match request_quota(&shared, &room, &req).await {
                    Quota::Free => None,
                    Quota::Held(guard) => Some(guard),
                    Quota::Refused(r) => {
                        let _ = reply.send(Err(r.into()));
                        continue;
                    }
                };
                let (actions, answer) = room.request(&env(&shared), req);
                let result = execute(&shared, fence, &room, actions, None).await;
                // Answered once its writes are committed and its output sent.
                let _ = reply.send(match &result {
                    Ok(_) => answer,
                    Err(_) => Err(RequestError::Failed),
                });
                if settle(&shared, fence, &mut room, result, &mut rx, &reports).await {
                    return;
                }
            }
            Some(RoomMsg::Unload) => {
                let kept = !room.occupants.is_empty();
                if !kept {
                    // Before the report: once reported, this node may load it again.
                    release(&shared, fence).await;
                }
                let _ = reports.send(Report::Unloaded {
                    name: name.clone(),
                    kept,
                    leftovers: Vec::new(),
                });
                if !kept {
                    return;
                }
                idle_reported = false;
            }
            None => return,
        }
    }
}

/// The archive keys of the message a stanza changes (a correction, retraction or
/// moderation), `None` for anything else.
fn change_keys(stanza: &Element, from: &FullJid) -> Option<Vec<ArchiveKey>> {
    edits::target_keys(stanza, from).or_else(|| moderation::target_key(stanza).map(|k| vec![k]))
}

/// The first archived message `keys` find. A storage error is logged and counts as not
/// found: the room then refuses a retraction and relays a correction unchecked.
async fn find_target(shared: &Shared, room: &str, keys: &[ArchiveKey]) -> Option<ArchivedMsg> {
    for key in keys {
        match shared.store.archived(room, key).await {
            Ok(Some(m)) => return Some(m),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(room, error = %e, "looking up a message's target failed");
                return None;
            }
        }
    }
    None
}

/// The room's environment now.
fn env(shared: &Shared) -> Env<'_> {
    Env {
        ids: &shared.ids,
        now_us: now_micros(),
        history_size: shared.settings.history_size,
        occupant_ids: &shared.occupant_ids,
        target: None,
    }
}

/// Gives a room this node no longer serves back to the cluster.
async fn release(shared: &Shared, fence: Option<&Fence>) {
    if let (Some(cluster), Some(fence)) = (&shared.cluster, fence) {
        cluster.release(fence).await;
    }
}

/// What follows an executed batch: accounts deleted since they subscribed lose their
/// subscriptions (S13); a destroyed room, or one whose ownership was lost, ends its task,
/// handing what is still queued back to the registry. `true` when the task ends.
async fn settle(
    shared: &Shared,
    fence: Option<&Fence>,
    room: &mut Room,
    mut result: anyhow::Result<Executed>,
    rx: &mut mpsc::Receiver<RoomMsg>,
    reports: &mpsc::UnboundedSender<Report>,
) -> bool {
    while let Ok(Executed {
        destroyed: false,
        gone,
    }) = &result
    {
        if gone.is_empty() {
            break;
        }
        let actions = room.accounts_deleted(&env(shared), gone);
        result = execute(shared, fence, room, actions, None).await;
    }
    let ends = match result {
        Ok(Executed {
            destroyed: true, ..
        }) => {
            release(shared, fence).await;
            true
        }
        Ok(_) => false,
        Err(e) if e.is::<LostOwnership>() => {
            tracing::warn!(room = room.name, error = %e, "room taken over by another node");
            true
        }
        Err(e) => {
            tracing::error!(room = room.name, error = %e, "room action failed");
            false
        }
    };
    if ends {
        rx.close();
        let mut leftovers = Vec::new();
        while let Ok(m) = rx.try_recv() {
            if !matches!(m, RoomMsg::Unload) {
                leftovers.push(m);
            }
        }
        let _ = reports.send(Report::Unloaded {
            name: room.name.clone(),
            kept: false,
            leftovers,
        });
    }
    ends
}

/// What applying a batch of actions found out.
#[derive(Default)]
struct Executed {
    destroyed: bool,
    /// Subscribers whose account no longer exists.
    gone: Vec<BareJid>,
}

impl Executed {
    fn add_gone(&mut self, gone: Vec<BareJid>) {
        for g in gone {
            if !self.gone.contains(&g) {
                self.gone.push(g);
            }
        }
    }
}

/// Most stanzas a room handles before committing their writes together.
const MAX_BATCH: usize = 256;

/// Applies a room's actions: every storage write in one transaction first, then the
/// stanzas and events in order.
async fn execute(
    shared: &Shared,
    fence: Option<&Fence>,
    room: &Room,
    actions: Vec<Action>,
    original: Option<&Element>,
) -> anyhow::Result<Executed> {
    execute_batch(shared, fence, room, vec![(actions, original.cloned())]).await
}

/// [`execute`] for the actions of several stanzas (each with the stanza, to answer with an
/// error if storage fails): all their writes in one transaction, shared with other rooms'
/// writes waiting at the same time (SQLite's group commit), then each stanza's output in
/// order.
async fn execute_batch(
    shared: &Shared,
    fence: Option<&Fence>,
    room: &Room,
    batch: Vec<(Vec<Action>, Option<Element>)>,
) -> anyhow::Result<Executed> {
    let mut ops: Vec<StoreOp> = Vec::new();
    let mut outputs = Vec::with_capacity(batch.len());
    // Which stanza of the batch wrote which archive id (clustered rooms only).
    let mut written: Vec<(i64, usize)> = Vec::new();
    for (at, (actions, original)) in batch.into_iter().enumerate() {
        let mut rest = Vec::with_capacity(actions.len());
        let mut own = Vec::new();
        for a in actions {
            match a {
                Action::Store(op) => own.push(op),
                a => rest.push(a),
            }
        }
        if fence.is_some() {
            let ids = resend::mark_origin(&mut own, original.as_ref());
            written.extend(ids.into_iter().map(|id| (id, at)));
        }
        ops.extend(own);
        outputs.push((rest, original));
    }
    if !ops.is_empty() {
        let archived = ops
            .iter()
            .filter(|op| matches!(op, StoreOp::Archive(_)))
            .count() as u64;
        let mut archived = archived;
        let committed = shared.store.commit_as(fence, ops).await;
        if let Ok(c) = &committed {
            archived -= c.duplicates.len() as u64;
            // A resent message already stored: the stored one goes out in the refused
            // copy's place (resend.rs).
            for dup in &c.duplicates {
                let at = written.iter().find(|(id, _)| *id == dup.attempted);
                if let Some((rest, _)) = at.and_then(|(_, at)| outputs.get_mut(*at)) {
                    *rest = resend::re_deliver(dup, std::mem::take(rest));
                }
            }
        }
        if let Err(e) = committed {
            // Nothing may be announced that is not on disk.
            for o in outputs.iter().filter_map(|(_, o)| o.as_ref()) {
                if o.name() != "presence" && o.attr("type") != Some("error") {
                    shared
                        .outlet
                        .send(error_reply(
                            o,
                            ErrorType::Wait,
                            "internal-server-error",
                            None,
                        ))
                        .await;
                }
            }
            return Err(e);
        }
        shared.metrics.archive_writes.inc_by(archived);
    }
    let mut out = Executed::default();
    // The batch's events go out together (deliver.rs), at the latest after its last output.
    let mut held = Deferred::default();
    for (actions, _) in outputs {
        let e = perform(shared, room, actions, &mut held).await;
        out.destroyed |= e.destroyed;
        out.add_gone(e.gone);
    }
    out.add_gone(held.send(shared, room).await);
    Ok(out)
}

/// Sends one stanza's output (its writes are committed already). Its events join those
/// `held` back; what else it sends first lets out the held events that could reach the
/// same session, so that each session still gets everything in the room's order.
async fn perform(
    shared: &Shared,
    room: &Room,
    actions: Vec<Action>,
    held: &mut Deferred,
) -> Executed {
    let mut destroyed = false;
    let mut gone = Vec::new();
    for a in actions {
        let conflicts = match &a {
            Action::Store(_) => continue,
            Action::Event(_) => false,
            Action::Send(el) => held.reaches(el.attr("to")),
            Action::Broadcast(_, to) => to.iter().any(|j| held.reaches_full(j)),
            Action::Mam { .. } | Action::Destroyed => true,
        };
        if conflicts {
            gone.extend(held.send(shared, room).await);
        }
        match a {
            Action::Store(_) => {}
            Action::Send(el) => shared.outlet.send(el).await,
            Action::Broadcast(el, to) => shared.outlet.broadcast(&el, &to).await,
            Action::Event(ev) => held.push(ev),
            Action::Mam { iq } => mam::answer(shared, room, iq).await,
            Action::Destroyed => destroyed = true,
        }
    }
    Executed { destroyed, gone }
}
