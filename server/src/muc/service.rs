//! The MUC service: one task routing stanzas to rooms, and one task per loaded room that
//! owns its [`Room`] and applies its actions (storage first, then stanzas and events).
//!
//! Rooms are loaded from storage on their first stanza and unloaded when idle with nobody
//! in them, so memory follows activity rather than the number of rooms. Unloading is a
//! handshake through the room's own queue (the service is its only sender), so no stanza
//! is lost or reordered when a room goes away just as a new stanza arrives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use tokio::sync::mpsc;

use super::config_form::RoomConfig;
use super::event::WrappedEvent;
use super::ids::{now_micros, IdGen};
use super::mam;
use super::room::{Action, Env, HistoryItem, Room};
use super::store::{self, StoreOp};
use super::xml::*;
use crate::storage::{BoxFuture, Db};

/// Where the MUC service's output goes: implemented over the server's router.
pub trait Outlet: Send + Sync + 'static {
    /// A stanza to one session (`to` is a full JID).
    fn send(&self, stanza: Element) -> BoxFuture<'_, ()>;
    /// Whether a stanza to the account's bare JID would reach a session now.
    fn reaches(&self, to: &BareJid) -> bool;
    /// An already serialised stanza to the session `to` (a full JID on this server);
    /// dropped when that session is gone.
    fn send_xml(&self, to: &str, xml: String);
    /// One stanza to many sessions, differing only in `to`.
    fn broadcast<'a>(&'a self, stanza: &'a Element, to: &'a [FullJid]) -> BoxFuture<'a, ()>;
    /// A MucSub event to an account: every available resource with priority >= 0, else
    /// offline storage when `event.storable()`. Resolves to `false` only when the account
    /// turned out not to exist any more (SPEC S13: its subscriptions then go).
    fn deliver_event<'a>(&'a self, to: &'a BareJid, event: &'a WrappedEvent)
        -> BoxFuture<'a, bool>;
}

/// `[muc]` settings in the server config.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Seconds a room with no occupants stays in memory after its last stanza.
    pub idle_unload_secs: f64,
    /// Messages replayed on join (XEP-0045 history); the archive keeps everything.
    pub history_size: usize,
    /// Largest MAM page served, whatever `<max/>` asks.
    pub mam_max_page: usize,
    /// Stanzas queued towards one room.
    pub room_queue: usize,
    /// Who may create rooms: `local` (accounts of this server), `anyone` or `nobody`.
    pub create: String,
    /// Defaults for new rooms.
    pub default_persistent: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            idle_unload_secs: 300.0,
            history_size: 20,
            mam_max_page: 250,
            room_queue: 512,
            create: "local".into(),
            default_persistent: true,
        }
    }
}

/// Observable state, for operators and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub loaded_rooms: AtomicUsize,
}

impl Stats {
    pub fn loaded_rooms(&self) -> usize {
        self.loaded_rooms.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
pub struct Shared {
    pub muc_domain: String,
    pub server_domain: String,
    pub db: Db,
    pub outlet: Arc<dyn Outlet>,
    pub ids: Arc<IdGen>,
    pub settings: Arc<Settings>,
    pub stats: Arc<Stats>,
    /// Per-account limits on subscriptions and rooms (`[limits]`).
    pub quotas: Arc<crate::limits::MucQuotas>,
}

enum RoomMsg {
    Stanza(FullJid, Element),
    Unload,
}

enum Internal {
    Idle(String),
    /// The room task ended (`kept == false`) or refused to (`kept == true`); `leftovers`
    /// are stanzas it had not processed.
    Unloaded {
        name: String,
        kept: bool,
        leftovers: Vec<(FullJid, Element)>,
    },
}

enum Slot {
    Live(mpsc::Sender<RoomMsg>),
    /// Asked to unload (or found gone); stanzas wait here until the task reports back.
    Unloading {
        tx: Option<mpsc::Sender<RoomMsg>>,
        buf: Vec<(FullJid, Element)>,
    },
}

struct Service {
    shared: Shared,
    slots: HashMap<String, Slot>,
    internal_tx: mpsc::UnboundedSender<Internal>,
}

/// Prepares storage (migrations, id floor, stale temporary rooms) before serving.
pub async fn prepare(shared: &Shared) -> anyhow::Result<()> {
    shared
        .db
        .migrate(store::COMPONENT, store::MIGRATIONS)
        .await?;
    shared
        .db
        .migrate(crate::limits::COMPONENT, crate::limits::MIGRATIONS)
        .await?;
    let floor = shared.db.call(|c| Ok(store::max_archive_id(c)?)).await?;
    shared.ids.raise_floor(floor);
    let dropped = shared
        .db
        .call(|c| Ok(store::drop_stale_temporary_rooms(c)?))
        .await?;
    if !dropped.is_empty() {
        tracing::info!(rooms = ?dropped, "removed temporary rooms left empty by a restart");
    }
    Ok(())
}

/// Removes subscriptions of accounts deleted while the server was down. It scans every
/// subscription (about a second for a million), so it runs beside the service instead of
/// before it: a room that meets such a subscriber first drops it itself (S13).
pub async fn purge_deleted_accounts(shared: &Shared) {
    let domain = shared.server_domain.clone();
    match shared
        .db
        .call(move |c| Ok(store::purge_deleted_accounts(c, &domain)?))
        .await
    {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "removed subscriptions of deleted accounts"),
        Err(e) => tracing::error!(error = %e, "purging subscriptions of deleted accounts failed"),
    }
}

/// Serves stanzas from `rx` until it closes or `shutdown` fires.
pub async fn run(
    shared: Shared,
    mut rx: mpsc::Receiver<Element>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (internal_tx, mut internal_rx) = mpsc::unbounded_channel();
    let mut svc = Service {
        shared,
        slots: HashMap::new(),
        internal_tx,
    };
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(stanza) => svc.dispatch(stanza).await,
                None => break,
            },
            Some(m) = internal_rx.recv() => svc.internal(m).await,
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
}

fn is_local(shared: &Shared, from: &FullJid) -> bool {
    match shared.settings.create.as_str() {
        "anyone" => true,
        "nobody" => false,
        _ => from.domain().as_str() == shared.server_domain,
    }
}

impl Service {
    async fn dispatch(&mut self, stanza: Element) {
        let Some(from) = stanza.attr("from").and_then(|f| FullJid::new(f).ok()) else {
            tracing::debug!("MUC stanza without a full-JID sender dropped");
            return;
        };
        let to = match stanza.attr("to").map(Jid::new) {
            Some(Ok(j)) => j,
            _ => {
                self.reply_error(&stanza, "modify", "jid-malformed", "Invalid recipient")
                    .await;
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
                self.route_to_room(name, from, stanza).await;
            }
        }
    }

    async fn reply_error(&self, stanza: &Element, kind: &str, cond: &str, text: &str) {
        let t = stanza.attr("type");
        let answerable = match stanza.name() {
            "presence" => t.is_none(),
            _ => t != Some("error") && t != Some("result"),
        };
        if answerable {
            let e = error_reply(stanza, kind, cond, text);
            self.shared.outlet.send(e).await;
        }
    }

    async fn route_to_room(&mut self, name: String, from: FullJid, stanza: Element) {
        match self.slots.get_mut(&name) {
            Some(Slot::Unloading { buf, .. }) => {
                buf.push((from, stanza));
                return;
            }
            Some(Slot::Live(tx)) => {
                // Never wait on one room's queue: that would stall every other room and
                // the service itself behind a slow room.
                let tx = tx.clone();
                match tx.try_send(RoomMsg::Stanza(from, stanza)) {
                    Ok(()) => return,
                    Err(mpsc::error::TrySendError::Full(RoomMsg::Stanza(f, s))) => {
                        if s.name() == "presence" && s.attr("type") == Some("unavailable") {
                            // A departure must arrive or the room keeps a ghost occupant.
                            // It waits in its own task; later stanzas cannot overtake it,
                            // as a waiting sender is served before any `try_send`.
                            tokio::spawn(async move {
                                let _ = tx.send(RoomMsg::Stanza(f, s)).await;
                            });
                        } else {
                            // Joins get an error presence, IQs and messages an error.
                            self.reply_error(
                                &s,
                                "wait",
                                "resource-constraint",
                                "The room is busy; try again later",
                            )
                            .await;
                        }
                    }
                    // The task is gone (destroyed or crashed): its report will come
                    // through `internal`; keep the stanza until then.
                    Err(mpsc::error::TrySendError::Closed(RoomMsg::Stanza(f, s))) => {
                        self.slots.insert(
                            name.clone(),
                            Slot::Unloading {
                                tx: None,
                                buf: vec![(f, s)],
                            },
                        );
                    }
                    Err(_) => {}
                }
                return;
            }
            None => {}
        }
        self.load_or_create(name, from, stanza).await;
    }

    async fn load_or_create(&mut self, name: String, from: FullJid, stanza: Element) {
        let room_jid = match BareJid::new(&format!("{name}@{}", self.shared.muc_domain)) {
            Ok(j) => j,
            Err(_) => {
                self.reply_error(&stanza, "modify", "jid-malformed", "Invalid room name")
                    .await;
                return;
            }
        };
        let history = self.shared.settings.history_size;
        let loaded = {
            let n = name.clone();
            self.shared
                .db
                .call(move |c| {
                    let Some(room) = store::load_room(c, &n)? else {
                        return Ok(None);
                    };
                    let recent = mam::recent(c, &n, history)?;
                    Ok(Some((room, recent)))
                })
                .await
        };
        let (room, initial) = match loaded {
            Ok(Some((stored, recent))) => {
                let hist = recent
                    .into_iter()
                    .filter_map(|i| {
                        let el = parse(&i.stanza)?;
                        el.has_child("body", NS_CLIENT).then_some(HistoryItem {
                            stanza: el,
                            stamp_us: i.stamp_us,
                        })
                    })
                    .collect();
                (Room::from_stored(stored, room_jid, hist), Vec::new())
            }
            Ok(None) => {
                let creates = match (stanza.name(), stanza.attr("type")) {
                    ("presence", None) => stanza.attr("to").is_some_and(|t| t.contains('/')),
                    ("iq", Some("set")) => stanza.get_child("subscribe", NS_MUCSUB).is_some(),
                    _ => false,
                };
                if !creates {
                    self.reply_error(
                        &stanza,
                        "cancel",
                        "item-not-found",
                        "Conference room does not exist",
                    )
                    .await;
                    return;
                }
                if !is_local(&self.shared, &from) {
                    // XEP-0045 §10.1.1 refuses a join with not-allowed; SPEC S5 answers a
                    // subscription to a room that does not exist with item-not-found.
                    let (cond, text) = if stanza.name() == "presence" {
                        ("not-allowed", "Room creation is denied by service policy")
                    } else {
                        ("item-not-found", "Conference room does not exist")
                    };
                    self.reply_error(&stanza, "cancel", cond, text).await;
                    return;
                }
                let config = RoomConfig {
                    persistent: self.shared.settings.default_persistent,
                    ..RoomConfig::default()
                };
                let (room, initial) = Room::create(&name, room_jid, from.to_bare(), config);
                // A subscription over the limit must not leave a new, empty room behind.
                // (Checked again, exactly, by the room task.)
                if let Some(target) = new_subscription(&self.shared, &room, &from, &stanza) {
                    if let Some(reply) =
                        over_subscription_limit(&self.shared, &target, &stanza).await
                    {
                        self.shared.outlet.send(reply).await;
                        return;
                    }
                }
                match create_within_quota(&self.shared, &from, initial).await {
                    Ok(Ok(initial)) => (room, initial),
                    Ok(Err(owned)) => {
                        // XEP-0045 §10.1.1: room creation refused by service policy.
                        let text =
                            format!("Room limit reached: this account already owns {owned} rooms");
                        self.reply_error(&stanza, "cancel", "not-allowed", &text)
                            .await;
                        return;
                    }
                    Err(e) => {
                        tracing::error!(room = name, error = %e, "creating room failed");
                        self.reply_error(&stanza, "wait", "internal-server-error", "")
                            .await;
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::error!(room = name, error = %e, "loading room failed");
                self.reply_error(&stanza, "wait", "internal-server-error", "")
                    .await;
                return;
            }
        };
        let (tx, rx) = mpsc::channel(self.shared.settings.room_queue.max(1));
        // Cannot fail: the receiver is alive and the queue is empty.
        let _ = tx.try_send(RoomMsg::Stanza(from, stanza));
        self.slots.insert(name.clone(), Slot::Live(tx));
        self.shared
            .stats
            .loaded_rooms
            .fetch_add(1, Ordering::AcqRel);
        let shared = self.shared.clone();
        let internal = self.internal_tx.clone();
        let task = tokio::spawn(room_task(shared, room, rx, internal.clone(), initial));
        // A room task that panicked must not leave its slot waiting forever: report it
        // gone, and the next stanza reloads the room from storage.
        tokio::spawn(async move {
            if let Err(e) = task.await {
                if e.is_panic() {
                    tracing::error!(room = name, "room task panicked; it will be reloaded");
                    let _ = internal.send(Internal::Unloaded {
                        name,
                        kept: false,
                        leftovers: Vec::new(),
                    });
                }
            }
        });
    }

    async fn internal(&mut self, m: Internal) {
        match m {
            Internal::Idle(name) => match self.slots.remove(&name) {
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
            Internal::Unloaded {
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
                    }
                }
                for (f, s) in leftovers.into_iter().chain(buffered) {
                    self.route_to_room(name.clone(), f, s).await;
                }
            }
        }
    }
}

enum Quota<'a> {
    /// Not a new subscription, or no limit.
    Free,
    /// A new subscription within the limit: hold this until it is committed.
    Held(tokio::sync::MutexGuard<'a, ()>),
    /// Over the limit (or the count failed): send this instead.
    Refused(Element),
}

/// `[limits] max_subscriptions_per_account`: a subscribe that would add a subscription for
/// an account already holding the maximum (as stored, so across restarts) is refused with
/// `policy-violation`. Changing an existing subscription is always allowed.
async fn subscribe_quota<'a>(
    shared: &'a Shared,
    room: &Room,
    from: &FullJid,
    stanza: &Element,
) -> Quota<'a> {
    let Some(target) = new_subscription(shared, room, from, stanza) else {
        return Quota::Free;
    };
    let guard = shared.quotas.subscribe_lock.lock().await;
    match over_subscription_limit(shared, &target, stanza).await {
        Some(reply) => Quota::Refused(reply),
        None => Quota::Held(guard),
    }
}

/// The account a subscribe would add a subscription for, when the limit applies.
fn new_subscription(
    shared: &Shared,
    room: &Room,
    from: &FullJid,
    stanza: &Element,
) -> Option<BareJid> {
    if shared.quotas.max_subscriptions == 0
        || stanza.name() != "iq"
        || stanza.attr("type") != Some("set")
        || stanza.attr("to").is_some_and(|t| t.contains('/'))
    {
        return None;
    }
    let sub = first_child(stanza).filter(|c| c.is("subscribe", NS_MUCSUB))?;
    let target = match sub.attr("jid") {
        None => from.to_bare(),
        // A malformed one is the room's to answer (jid-malformed).
        Some(j) => Jid::new(j).ok()?.to_bare(),
    };
    (!room.subscribers.contains_key(&target)).then_some(target)
}

/// The error to send when `target` already holds the maximum of subscriptions.
async fn over_subscription_limit(
    shared: &Shared,
    target: &BareJid,
    stanza: &Element,
) -> Option<Element> {
    let max = shared.quotas.max_subscriptions;
    let bare = target.to_string();
    let count = shared
        .db
        .call(move |c| Ok(crate::limits::subscriptions_of(c, &bare)?))
        .await;
    match count {
        Ok(n) if n >= max => Some(error_reply(
            stanza,
            "modify",
            "policy-violation",
            &format!("Subscription limit reached: at most {max} per account"),
        )),
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "counting subscriptions failed");
            Some(error_reply(stanza, "wait", "internal-server-error", ""))
        }
    }
}

/// With `[limits] max_rooms_per_account`, a new room's storage is written here, in the
/// same transaction as counting the rooms its creator owns (the service creates rooms one
/// at a time, so the count cannot go stale). `Ok(Err(owned))` when over the limit; the
/// actions still to run otherwise.
async fn create_within_quota(
    shared: &Shared,
    creator: &FullJid,
    initial: Vec<Action>,
) -> anyhow::Result<Result<Vec<Action>, usize>> {
    let max = shared.quotas.max_rooms;
    if max == 0 {
        return Ok(Ok(initial));
    }
    let (ops, rest): (Vec<Action>, Vec<Action>) = initial
        .into_iter()
        .partition(|a| matches!(a, Action::Store(_)));
    let ops: Vec<StoreOp> = ops
        .into_iter()
        .filter_map(|a| match a {
            Action::Store(op) => Some(op),
            _ => None,
        })
        .collect();
    let bare = creator.to_bare().to_string();
    let owned = shared
        .db
        .call(move |c| {
            let owned = crate::limits::rooms_owned_by(c, &bare)?;
            if owned >= max {
                return Ok(Some(owned));
            }
            store::apply(c, &ops)?;
            Ok(None)
        })
        .await?;
    Ok(match owned {
        Some(n) => Err(n),
        None => Ok(rest),
    })
}

async fn room_task(
    shared: Shared,
    mut room: Room,
    mut rx: mpsc::Receiver<RoomMsg>,
    internal: mpsc::UnboundedSender<Internal>,
    initial: Vec<Action>,
) {
    let name = room.name.clone();
    let idle = Duration::from_secs_f64(shared.settings.idle_unload_secs.max(0.01));
    if let Err(e) = execute(&shared, &room, initial, None).await.map(|_| ()) {
        tracing::error!(room = name, error = %e, "creating room failed");
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
                    let _ = internal.send(Internal::Idle(name.clone()));
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
                    Quota::Refused(reply) => {
                        shared.outlet.send(reply).await;
                        continue;
                    }
                };
                // Every stanza already queued is handled now and its writes committed
                // together: one fsync per batch instead of one per message, and still
                // nothing leaves before the commit that holds it.
                let mut batch = Vec::new();
                let mut next = Some((from, stanza));
                while let Some((from, stanza)) = next.take() {
                    let env = Env {
                        ids: &shared.ids,
                        now_us: now_micros(),
                        history_size: shared.settings.history_size,
                    };
                    let original = stanza.clone();
                    let actions = room.handle(&env, from, stanza);
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
                let mut result = execute_batch(&shared, &room, batch).await;
                // Accounts deleted since they subscribed lose their subscriptions (S13).
                while let Ok(Executed {
                    destroyed: false,
                    gone,
                }) = &result
                {
                    if gone.is_empty() {
                        break;
                    }
                    let actions = room.accounts_deleted(gone);
                    result = execute(&shared, &room, actions, None).await;
                }
                match result.map(|e| e.destroyed) {
                    Ok(true) => {
                        rx.close();
                        let mut leftovers = Vec::new();
                        while let Ok(m) = rx.try_recv() {
                            if let RoomMsg::Stanza(f, s) = m {
                                leftovers.push((f, s));
                            }
                        }
                        let _ = internal.send(Internal::Unloaded {
                            name: name.clone(),
                            kept: false,
                            leftovers,
                        });
                        return;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::error!(room = name, error = %e, "room action failed"),
                }
            }
            Some(RoomMsg::Unload) => {
                let kept = !room.occupants.is_empty();
                let _ = internal.send(Internal::Unloaded {
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

/// What applying a batch of actions found out.
#[derive(Default)]
struct Executed {
    destroyed: bool,
    /// Subscribers whose account no longer exists.
    gone: Vec<BareJid>,
}

/// Most stanzas a room handles before committing their writes together.
const MAX_BATCH: usize = 256;

/// Applies a room's actions: every storage write in one transaction first, then the
/// stanzas and events in order.
async fn execute(
    shared: &Shared,
    room: &Room,
    actions: Vec<Action>,
    original: Option<&Element>,
) -> anyhow::Result<Executed> {
    execute_batch(shared, room, vec![(actions, original.cloned())]).await
}

/// [`execute`] for the actions of several stanzas (each with the stanza, to answer with an
/// error if storage fails): all their writes in one transaction, shared with other rooms'
/// writes waiting at the same time ([`Db::write`]), then each stanza's output in order.
async fn execute_batch(
    shared: &Shared,
    room: &Room,
    batch: Vec<(Vec<Action>, Option<Element>)>,
) -> anyhow::Result<Executed> {
    let mut ops: Vec<StoreOp> = Vec::new();
    let mut outputs = Vec::with_capacity(batch.len());
    for (actions, original) in batch {
        let mut rest = Vec::with_capacity(actions.len());
        for a in actions {
            match a {
                Action::Store(op) => ops.push(op),
                a => rest.push(a),
            }
        }
        outputs.push((rest, original));
    }
    if !ops.is_empty() {
        if let Err(e) = shared
            .db
            .write(move |c| Ok(store::apply_in(c, &ops)?))
            .await
        {
            // Nothing may be announced that is not on disk.
            for o in outputs.iter().filter_map(|(_, o)| o.as_ref()) {
                if o.name() != "presence" && o.attr("type") != Some("error") {
                    shared
                        .outlet
                        .send(error_reply(o, "wait", "internal-server-error", ""))
                        .await;
                }
            }
            return Err(e);
        }
    }
    let mut out = Executed::default();
    for (actions, _) in outputs {
        let e = perform(shared, room, actions).await;
        out.destroyed |= e.destroyed;
        for g in e.gone {
            if !out.gone.contains(&g) {
                out.gone.push(g);
            }
        }
    }
    Ok(out)
}

/// Sends one stanza's output (its writes are committed already).
async fn perform(shared: &Shared, room: &Room, actions: Vec<Action>) -> Executed {
    let mut destroyed = false;
    let mut gone = Vec::new();
    for a in actions {
        match a {
            Action::Store(_) => {}
            Action::Send(el) => shared.outlet.send(el).await,
            Action::Broadcast(el, to) => shared.outlet.broadcast(&el, &to).await,
            Action::Event(ev) => {
                for (inner, rcpts) in ev.variants {
                    let wrapped = WrappedEvent::new(ev.node, &room.jid, &ev.id, &inner);
                    // Offline copies are stored before anyone gets the event live, so a
                    // crash right after someone saw it loses no one's copy (S16).
                    let (live, offline): (Vec<&BareJid>, Vec<&BareJid>) = if wrapped.storable() {
                        rcpts.iter().partition(|r| shared.outlet.reaches(r))
                    } else {
                        (rcpts.iter().collect(), Vec::new())
                    };
                    for r in offline.into_iter().chain(live) {
                        if !shared.outlet.deliver_event(r, &wrapped).await {
                            gone.push(r.clone());
                        }
                    }
                }
            }
            Action::Mam { iq } => answer_mam(shared, room, iq).await,
            Action::Destroyed => destroyed = true,
        }
    }
    Executed { destroyed, gone }
}

async fn answer_mam(shared: &Shared, room: &Room, iq: Element) {
    let room_jid = room.jid.to_string();
    let name = room.name.clone();
    if let Some(meta) = iq.get_child("metadata", NS_MAM) {
        let _ = meta;
        let res = shared.db.read(move |c| Ok(mam::metadata(c, &name)?)).await;
        let reply = match res {
            Ok(m) => iq_result(&iq, Some(m)),
            Err(_) => error_reply(&iq, "wait", "internal-server-error", ""),
        };
        shared.outlet.send(reply).await;
        return;
    }
    let Some(q) = iq.get_child("query", NS_MAM) else {
        return;
    };
    let query = match mam::parse_query(q, &room_jid, shared.settings.mam_max_page) {
        Ok(q) => q,
        Err(e) => {
            shared
                .outlet
                .send(error_reply(&iq, e.kind, e.condition, &e.text))
                .await;
            return;
        }
    };
    // A `with` on a real JID would tell a requester who wrote what: only those who may see
    // real JIDs in this room (XEP-0045 §4.2: anyone in non-anonymous rooms, moderators
    // otherwise) may filter by one.
    if query.with_sender.is_some() {
        let sees_jids = room.config.whois_anyone
            || iq
                .attr("from")
                .and_then(|f| f.parse::<jid::FullJid>().ok())
                .is_some_and(|f| room.is_moderator(&f));
        if !sees_jids {
            let text = "Filtering by real JID needs moderator rights in a semi-anonymous room";
            shared
                .outlet
                .send(error_reply(&iq, "modify", "not-acceptable", text))
                .await;
            return;
        }
    }
    let qc = query.clone();
    // A reader connection: pages do not queue behind the writer's commits.
    let res = shared.db.read(move |c| mam::execute(c, &name, &qc)).await;
    match res {
        Ok(Ok(page)) => {
            for out in mam::reply_out(&iq, &room_jid, &query, &page) {
                match out {
                    mam::Out::Xml { to, xml } => shared.outlet.send_xml(&to, xml),
                    mam::Out::El(el) => shared.outlet.send(el).await,
                }
            }
        }
        Ok(Err(e)) => {
            shared
                .outlet
                .send(error_reply(&iq, e.kind, e.condition, &e.text))
                .await
        }
        Err(e) => {
            tracing::error!(room = room_jid, error = %e, "archive query failed");
            shared
                .outlet
                .send(error_reply(&iq, "wait", "internal-server-error", ""))
                .await
        }
    }
}

/// Stanzas to the service itself: disco and the account's subscription list (S1, S8, S19).
async fn service_stanza(shared: Shared, from: FullJid, stanza: Element) {
    if stanza.name() != "iq" {
        if stanza.name() == "message" && stanza.attr("type") != Some("error") {
            let e = error_reply(&stanza, "cancel", "service-unavailable", "");
            shared.outlet.send(e).await;
        }
        return;
    }
    let kind = stanza.attr("type").unwrap_or("");
    if kind == "result" || kind == "error" {
        return;
    }
    let Some(payload) = first_child(&stanza) else {
        shared
            .outlet
            .send(error_reply(&stanza, "modify", "bad-request", ""))
            .await;
        return;
    };
    let ns = payload.ns();
    let reply = match (kind, payload.name(), ns.as_str()) {
        ("get", "query", NS_DISCO_INFO) => iq_result(&stanza, Some(service_disco_info())),
        ("get", "query", NS_DISCO_ITEMS) => {
            let domain = shared.muc_domain.clone();
            match shared.db.read(|c| Ok(store::public_rooms(c)?)).await {
                Ok(rooms) => {
                    let items = rooms.into_iter().map(|(name, title)| {
                        B::new("item", NS_DISCO_ITEMS)
                            .a("jid", format!("{name}@{domain}"))
                            .opt("name", (!title.is_empty()).then_some(title))
                            .b()
                    });
                    iq_result(&stanza, Some(B::new("query", NS_DISCO_ITEMS).cs(items).b()))
                }
                Err(_) => error_reply(&stanza, "wait", "internal-server-error", ""),
            }
        }
        ("get", "subscriptions", NS_MUCSUB) => {
            let me = from.to_bare().to_string();
            let domain = shared.muc_domain.clone();
            // A reader connection: the list does not wait behind writes.
            match shared
                .db
                .read(move |c| Ok(store::subscriptions_of(c, &me)?))
                .await
            {
                Ok(subs) => {
                    let list = subs.into_iter().map(|s| {
                        let mut b = B::new("subscription", NS_MUCSUB)
                            .a("jid", format!("{}@{domain}", s.room))
                            .a("nick", s.nick)
                            .cs(s
                                .nodes
                                .iter()
                                .map(|n| B::new("event", NS_MUCSUB).a("node", n.as_str()).b()));
                        if let Some((id, stamp)) = s.last {
                            b = b.c(B::new("end", NS_MUCSUB_SYNC)
                                .a("id", id.to_string())
                                .a("stamp", super::ids::stamp(stamp))
                                .b());
                        }
                        b.b()
                    });
                    iq_result(
                        &stanza,
                        Some(B::new("subscriptions", NS_MUCSUB).cs(list).b()),
                    )
                }
                Err(_) => error_reply(&stanza, "wait", "internal-server-error", ""),
            }
        }
        ("set", "subscriptions", NS_MUCSUB) => error_reply(
            &stanza,
            "cancel",
            "not-allowed",
            "The subscription list is read-only; subscribe to rooms one by one",
        ),
        _ => error_reply(&stanza, "cancel", "service-unavailable", ""),
    };
    shared.outlet.send(reply).await;
}

pub fn service_disco_info() -> Element {
    let features = [
        NS_DISCO_INFO,
        NS_DISCO_ITEMS,
        NS_MUC,
        NS_MUCSUB,
        NS_MUCSUB_SYNC,
        NS_RSM,
        NS_MAM,
        NS_MAM_EXT,
        NS_SID,
    ];
    B::new("query", NS_DISCO_INFO)
        .c(B::new("identity", NS_DISCO_INFO)
            .a("category", "conference")
            .a("type", "text")
            .a("name", "Chatrooms")
            .b())
        .cs(features
            .iter()
            .map(|f| B::new("feature", NS_DISCO_INFO).a("var", *f).b()))
        .b()
}
