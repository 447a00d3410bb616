//! The room registry: which rooms are loaded, routing each stanza to its room's task,
//! loading a room from storage on its first stanza (or having it created) and unloading it
//! when idle with nobody in it, so memory follows activity rather than the number of rooms.
//!
//! Unloading is a handshake through the room's own queue (the registry is its only sender),
//! so no stanza is lost or reordered when a room goes away just as a new stanza arrives.
//! Typed requests from the rest of the server (`handle.rs`) take the same way as stanzas.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use tokio::sync::mpsc;

use super::create::{create_room, new_room_config};
use super::forward::Forwarder;
use super::handle::{RequestError, RoomRequest, ServiceRequest};
use super::mailbox::{Report, RoomMsg};
use super::room::{Action, HistoryItem, Room};
use super::room_task::room_task;
use super::service_iq::service_stanza;
use super::shared::Shared;
use crate::ns;
use crate::stanza::{ErrorType, Refusal};
use crate::storage::{Claim, Fence};

enum Slot {
    Live(mpsc::Sender<RoomMsg>),
    /// Asked to unload (or found gone); stanzas and requests wait here until the task
    /// reports back.
    Unloading {
        tx: Option<mpsc::Sender<RoomMsg>>,
        buf: Vec<RoomMsg>,
    },
}

/// The loaded rooms and how to reach them.
pub(super) struct Registry {
    shared: Shared,
    slots: HashMap<String, Slot>,
    reports: mpsc::UnboundedSender<Report>,
    /// Stanzas for rooms other nodes own (`forward.rs`).
    forwarder: Forwarder,
}

impl Registry {
    /// A registry with nothing loaded, and the receiver of its tasks' reports.
    pub(super) fn new(shared: Shared) -> (Registry, mpsc::UnboundedReceiver<Report>) {
        let (reports, reports_rx) = mpsc::unbounded_channel();
        let registry = Registry {
            shared,
            slots: HashMap::new(),
            reports,
            forwarder: Forwarder::default(),
        };
        (registry, reports_rx)
    }

    /// Routes one stanza: to the service itself, or to its room's task.
    pub(super) async fn dispatch(&mut self, stanza: Element) {
        let Some(from) = stanza.attr("from").and_then(|f| FullJid::new(f).ok()) else {
            tracing::debug!("MUC stanza without a full-JID sender dropped");
            return;
        };
        let to = match stanza.attr("to").map(Jid::new) {
            Some(Ok(j)) => j,
            _ => {
                let r = Refusal::new(ErrorType::Modify, "jid-malformed", "Invalid recipient");
                self.reply_error(&stanza, &r).await;
                return;
            }
        };
        match to.node() {
            None => {
                let shared = self.shared.clone();
                tokio::spawn(async move { service_stanza(shared, from, stanza).await });
            }
            Some(node) => {
                let name = node.as_str().to_owned();
                self.route_to_room(name, RoomMsg::Stanza(from, stanza))
                    .await;
            }
        }
    }

    /// Routes one typed request to its room's task.
    pub(super) async fn request(&mut self, r: ServiceRequest) {
        self.route_to_room(r.room, RoomMsg::Request(r.req, r.reply))
            .await;
    }

    /// Answers `msg` with the refusal `r`: an error stanza, or the request's error.
    async fn reject(&self, msg: RoomMsg, r: Refusal) {
        match msg {
            RoomMsg::Stanza(_, stanza) => self.reply_error(&stanza, &r).await,
            RoomMsg::Request(_, reply) => {
                let _ = reply.send(Err(r.into()));
            }
            RoomMsg::Unload => {}
        }
    }

    /// Answers `stanza` with an error, unless it is one that gets no answer (an error, a
    /// result, a presence other than available).
    async fn reply_error(&self, stanza: &Element, r: &Refusal) {
        let t = stanza.attr("type");
        let answerable = match stanza.name() {
            "presence" => t.is_none(),
            _ => t != Some("error") && t != Some("result"),
        };
        if answerable {
            self.shared.outlet.send(r.reply_to(stanza)).await;
        }
    }

    async fn route_to_room(&mut self, name: String, msg: RoomMsg) {
        match self.slots.get_mut(&name) {
            Some(Slot::Unloading { buf, .. }) => {
                buf.push(msg);
                return;
            }
            Some(Slot::Live(tx)) => {
                if let RoomMsg::Request(RoomRequest::Create(_), reply) = msg {
                    let _ = reply.send(Err(RequestError::Exists));
                    return;
                }
                // Never wait on one room's queue: that would stall every other room and
                // the service itself behind a slow room.
                let tx = tx.clone();
                match tx.try_send(msg) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(msg)) => self.queue_full(tx, msg).await,
                    // The task is gone (destroyed or crashed): its report will come
                    // through `report`; keep the message until then.
                    Err(mpsc::error::TrySendError::Closed(msg)) => {
                        self.slots.insert(
                            name,
                            Slot::Unloading {
                                tx: None,
                                buf: vec![msg],
                            },
                        );
                    }
                }
                return;
            }
            None => {}
        }
        self.load_or_create(name, msg).await;
    }

    /// `msg` found its room's queue full.
    async fn queue_full(&self, tx: mpsc::Sender<RoomMsg>, msg: RoomMsg) {
        let waits = match &msg {
            // A departure must arrive or the room keeps a ghost occupant.
            RoomMsg::Stanza(_, s) => {
                s.name() == "presence" && s.attr("type") == Some("unavailable")
            }
            // The HTTP API's caller waits for its answer anyway.
            RoomMsg::Request(..) => true,
            RoomMsg::Unload => false,
        };
        if waits {
            // It waits in its own task; later stanzas cannot overtake it, as a waiting
            // sender is served before any `try_send`.
            tokio::spawn(async move {
                let _ = tx.send(msg).await;
            });
        } else {
            // Joins get an error presence, IQs and messages an error.
            let busy = Refusal::new(
                ErrorType::Wait,
                "resource-constraint",
                "The room is busy; try again later",
            );
            self.reject(msg, busy).await;
        }
    }

    /// Loads (or creates) room `name` for `msg`. In a cluster the room is claimed first:
    /// a stanza for a room another node holds under a live lease is forwarded there over
    /// NATS (`forward.rs`); without NATS, or for a typed request, the sender is told to
    /// wait. A claimed room starts its ids above its newest archived one, whatever this
    /// node's clock says.
    async fn load_or_create(&mut self, name: String, msg: RoomMsg) {
        let Some(cluster) = self.shared.cluster.clone() else {
            self.load_and_spawn(name, msg, None, Vec::new()).await;
            return;
        };
        // A room another node was found holding: its stanzas go there without a claim
        // query each (the cache is dropped when the owner does not take one).
        if matches!(msg, RoomMsg::Stanza(..)) && cluster.bus().is_some() {
            if let Some(owner) = cluster.known_owner(&name) {
                if let RoomMsg::Stanza(_, stanza) = msg {
                    self.forwarder.forward(&self.shared, owner, stanza).await;
                }
                return;
            }
        }
        let (fence, tail) = match cluster.claim(&name).await {
            Ok(Claim::Owned {
                fence,
                last_id,
                tail,
            }) => {
                self.shared.ids.raise_floor(last_id);
                (fence, tail)
            }
            Ok(Claim::Held { incarnation, .. })
                if cluster.bus().is_some() && matches!(msg, RoomMsg::Stanza(..)) =>
            {
                if let RoomMsg::Stanza(_, stanza) = msg {
                    self.forwarder
                        .forward(&self.shared, incarnation, stanza)
                        .await;
                }
                return;
            }
            Ok(Claim::Held { node, .. }) => {
                let r = Refusal::new(
                    ErrorType::Wait,
                    "resource-constraint",
                    format!("The room is served by node {node} now; try again shortly"),
                );
                self.reject(msg, r).await;
                return;
            }
            Err(e) => {
                tracing::warn!(room = name, error = %e, "claiming the room failed");
                let r = Refusal::new(ErrorType::Wait, "internal-server-error", "");
                self.reject(msg, r).await;
                return;
            }
        };
        if !self
            .load_and_spawn(name, msg, Some(fence.clone()), tail)
            .await
        {
            cluster.release(&fence).await;
        }
    }

    /// Loads room `name` (or has `msg` create it) and starts its task with `msg` first;
    /// `false` when it did neither (`msg` was answered). `tail`: see `room_task`.
    async fn load_and_spawn(
        &mut self,
        name: String,
        msg: RoomMsg,
        fence: Option<Fence>,
        tail: Vec<(i64, String)>,
    ) -> bool {
        let room_jid = match BareJid::new(&format!("{name}@{}", self.shared.muc_domain)) {
            Ok(j) => j,
            Err(_) => {
                let r = Refusal::new(ErrorType::Modify, "jid-malformed", "Invalid room name");
                self.reject(msg, r).await;
                return false;
            }
        };
        let history = self.shared.settings.history_size;
        let loaded = self.shared.store.load_room(&name, history).await;
        // The room, the actions of its creation, and the message it handles first.
        let (room, initial, first) = match (loaded, msg) {
            (Ok(Some(_)), RoomMsg::Request(RoomRequest::Create(_), reply)) => {
                let _ = reply.send(Err(RequestError::Exists));
                return false;
            }
            (Ok(Some((stored, recent))), msg) => {
                let hist = recent
                    .into_iter()
                    .filter_map(|i| {
                        let el = i.stanza.parse::<Element>().ok()?;
                        el.has_child("body", ns::CLIENT).then_some(HistoryItem {
                            stanza: el,
                            stamp_us: i.stamp_us,
                        })
                    })
                    .collect();
                let room = Room::from_stored(stored, room_jid, hist);
                (room, Vec::<Action>::new(), msg)
            }
            (Ok(None), RoomMsg::Stanza(from, stanza)) => {
                match create_room(
                    &self.shared,
                    fence.as_ref(),
                    &name,
                    room_jid,
                    &from,
                    &stanza,
                )
                .await
                {
                    Ok((room, initial)) => (room, initial, RoomMsg::Stanza(from, stanza)),
                    Err(Some(r)) => {
                        self.reply_error(&stanza, &r).await;
                        return false;
                    }
                    // Already answered.
                    Err(None) => return false,
                }
            }
            // The request itself makes the room (all or nothing, in the room's task).
            (Ok(None), msg @ RoomMsg::Request(RoomRequest::Create(_), _)) => {
                let room = Room::new(&name, room_jid, new_room_config(&self.shared));
                (room, Vec::new(), msg)
            }
            (Ok(None), RoomMsg::Request(_, reply)) => {
                let _ = reply.send(Err(RequestError::NoRoom));
                return false;
            }
            (Ok(None), RoomMsg::Unload) => return false,
            (Err(e), msg) => {
                tracing::error!(room = name, error = %e, "loading room failed");
                let r = Refusal::new(ErrorType::Wait, "internal-server-error", "");
                self.reject(msg, r).await;
                return false;
            }
        };
        let (tx, rx) = mpsc::channel(self.shared.settings.room_queue.max(1));
        // Cannot fail: the receiver is alive and the queue is empty.
        let _ = tx.try_send(first);
        self.slots.insert(name.clone(), Slot::Live(tx));
        self.shared
            .stats
            .loaded_rooms
            .fetch_add(1, Ordering::AcqRel);
        self.shared.metrics.rooms_loaded.inc();
        let shared = self.shared.clone();
        let reports = self.reports.clone();
        let task = tokio::spawn(room_task(
            shared,
            room,
            rx,
            reports.clone(),
            initial,
            fence,
            tail,
        ));
        // A room task that panicked must not leave its slot waiting forever: report it
        // gone, and the next stanza reloads the room from storage.
        tokio::spawn(async move {
            if let Err(e) = task.await {
                if e.is_panic() {
                    tracing::error!(room = name, "room task panicked; it will be reloaded");
                    let _ = reports.send(Report::Unloaded {
                        name,
                        kept: false,
                        leftovers: Vec::new(),
                    });
                }
            }
        });
        true
    }

    /// Handles a room task's report (idle, unloaded, gone).
    pub(super) async fn report(&mut self, r: Report) {
        match r {
            Report::Idle(name) => match self.slots.remove(&name) {
                Some(Slot::Live(tx)) => {
                    let slot = if tx.try_send(RoomMsg::Unload).is_ok() {
                        Slot::Unloading {
                            tx: Some(tx),
                            buf: Vec::new(),
                        }
                    } else {
                        // Its queue is full, so it is not idle after all.
                        Slot::Live(tx)
                    };
                    self.slots.insert(name, slot);
                }
                // Already unloading (a second idle report): keep waiting for the answer.
                Some(other) => {
                    self.slots.insert(name, other);
                }
                None => {}
            },
            Report::Unloaded {
                name,
                kept,
                leftovers,
            } => {
                let (tx, buffered) = match self.slots.remove(&name) {
                    Some(Slot::Unloading { tx, buf }) => (tx, buf),
                    Some(Slot::Live(tx)) => (Some(tx), Vec::new()),
                    None => (None, Vec::new()),
                };
                match (kept, tx) {
                    (true, Some(tx)) => {
                        self.slots.insert(name.clone(), Slot::Live(tx));
                    }
                    _ => {
                        self.shared
                            .stats
                            .loaded_rooms
                            .fetch_sub(1, Ordering::AcqRel);
                        self.shared.metrics.rooms_loaded.dec();
                    }
                }
                for msg in leftovers.into_iter().chain(buffered) {
                    self.route_to_room(name.clone(), msg).await;
                }
            }
        }
    }
}
