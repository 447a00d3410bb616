//! This node's membership of a cluster (`[cluster] postgres`): its current incarnation,
//! the lease it renews, and the room claims made under it (`storage::ownership` holds the
//! rules and why they are safe). A single node on SQLite has no membership and owns every
//! room it loads.
//!
//! The lease is renewed every third of its TTL. When a renewal finds it expired (the
//! process was paused, or cut off from the database, for longer than the TTL), other nodes
//! may have taken its rooms: the node starts a new incarnation, and every room still loaded
//! under the old one fails its next commit at the fence, stops, and is claimed again (or
//! found taken) on its next stanza. When a newer process started under the same node name,
//! this one stops renewing: it is not that node any more.

pub mod bus;
pub mod locations;
mod peers;
mod remote;

pub use remote::{handler, NodeRemote};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;

use crate::config::Cluster;
use crate::storage::{Claim, Fence, Renewal, RoomOwnership};

/// This node's place in the cluster. Cheap to share (`Arc`).
pub struct Membership {
    node: String,
    ttl: Duration,
    store: Arc<dyn RoomOwnership>,
    /// The current incarnation (a new one after the lease was lost).
    incarnation: AtomicI64,
    /// The same, for whoever follows its changes (the NATS inbox subject).
    changes: watch::Sender<i64>,
    /// NATS between nodes (`[cluster] nats`); without it a room held by another node
    /// makes its stanzas wait.
    bus: OnceLock<Arc<bus::Bus>>,
    /// The rooms claimed under the current incarnation and not given up since: a room
    /// stanza forwarded here for another room tells its sender to forget this node as
    /// that room's owner.
    held: Mutex<HashSet<String>>,
    /// The owner incarnation last found holding each room another node owns, so stanzas
    /// for it are forwarded without a claim query each; forgotten when the owner does not
    /// take one, answers that it does not hold the room, or this node starts a new
    /// incarnation. An incarnation holds a room under one epoch at a time, so it is
    /// enough to name the owner: a stale entry only costs one hop (the old owner claims
    /// the room or passes the stanza on).
    owners: Mutex<HashMap<String, i64>>,
    /// Claim queries (`mucsub_cluster_claims_total`).
    claims: Counter,
    /// Whether other nodes are live (`peers.rs`).
    peers: peers::Peers,
}

impl Membership {
    /// Starts a new incarnation of `[cluster] node` with a lease of `lease_ttl_secs`.
    pub async fn join(
        config: &Cluster,
        store: Arc<dyn RoomOwnership>,
        claims: Counter,
    ) -> anyhow::Result<Arc<Membership>> {
        let ttl = Duration::from_secs_f64(config.lease_ttl_secs);
        let incarnation = store.join(&config.node, ttl).await.map_err(|e| {
            anyhow::anyhow!("[cluster] node {}: starting its lease: {e:#}", config.node)
        })?;
        tracing::info!(node = config.node, incarnation, "joined the cluster");
        Ok(Arc::new(Membership {
            node: config.node.clone(),
            ttl,
            store,
            incarnation: AtomicI64::new(incarnation),
            changes: watch::channel(incarnation).0,
            bus: OnceLock::new(),
            held: Mutex::new(HashSet::new()),
            owners: Mutex::new(HashMap::new()),
            claims,
            peers: peers::Peers::new(),
        }))
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn incarnation(&self) -> i64 {
        self.incarnation.load(Ordering::Acquire)
    }

    /// Follows the current incarnation.
    pub fn incarnations(&self) -> watch::Receiver<i64> {
        self.changes.subscribe()
    }

    /// Connects this node to the others over NATS.
    pub fn set_bus(&self, bus: Arc<bus::Bus>) {
        let _ = self.bus.set(bus);
    }

    pub fn bus(&self) -> Option<&Arc<bus::Bus>> {
        self.bus.get()
    }

    /// Whether another node may be live (may hold sessions): see `peers.rs`.
    pub fn others_live(&self) -> bool {
        self.peers.any()
    }

    /// The other live incarnations, from the database.
    pub async fn live_others(&self) -> anyhow::Result<Vec<i64>> {
        self.store.others_live(self.incarnation()).await
    }

    /// Another node sent this one a request: it is live.
    pub fn greeted(&self) {
        self.peers.greeted();
    }

    /// Counts the other live nodes and, as `greet` says, greets each of them (this node
    /// started, or rejoined): they look for sessions here from then on. A node that does
    /// not answer is left to its lease.
    pub async fn meet(&self, greet: Greet) {
        let mark = self.peers.mark();
        let others = match self.store.others_live(self.incarnation()).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "counting the other live nodes failed");
                return;
            }
        };
        self.peers.counted(mark, others.len());
        let Some(bus) = self.bus.get().filter(|_| greet != Greet::No).cloned() else {
            return;
        };
        let hello = async move {
            let hello = others.iter().map(|n| bus.request(*n, &bus::Envelope::Ping));
            futures_util::future::join_all(hello).await;
        };
        if greet == Greet::Wait {
            hello.await;
        } else {
            tokio::spawn(hello);
        }
    }

    /// Hands stanzas for rooms incarnation `owner` holds, `(room, xml)` each, to that node
    /// in one request, in order; per stanza whether it took it. Without NATS, an error at
    /// once. A room is forgotten as held by `owner` unless the owner took its stanza and
    /// still holds it. A lone stanza goes as [`bus::Envelope::Room`], as it always did.
    pub async fn forward_rooms(
        &self,
        owner: i64,
        stanzas: Vec<(String, String)>,
    ) -> Result<Vec<bool>, bus::BusError> {
        let (rooms, mut xmls): (Vec<String>, Vec<String>) = stanzas.into_iter().unzip();
        // Per stanza: taken, and whether the owner does not hold its room (any more).
        let answer = match self.bus.get() {
            Some(bus) if xmls.len() == 1 => {
                let xml = xmls.pop().unwrap_or_default();
                let a = bus.request(owner, &bus::Envelope::Room { xml }).await;
                a.map(|a| (vec![a.taken], vec![a.moved]))
            }
            Some(bus) => {
                let a = bus.request(owner, &bus::Envelope::Rooms { xmls }).await;
                a.map(|a| (a.reached, a.moved_each))
            }
            None => Err(bus::BusError::Disconnected),
        };
        let (mut taken, moved) = match answer {
            Ok(v) => v,
            Err(e) => {
                for room in &rooms {
                    self.forget_owner_of(room, owner);
                }
                return Err(e);
            }
        };
        taken.resize(rooms.len(), false);
        for (n, room) in rooms.iter().enumerate() {
            if !taken[n] || moved.get(n).copied().unwrap_or(false) {
                self.forget_owner_of(room, owner);
            }
        }
        Ok(taken)
    }

    /// The owner last found holding `room` (see `owners`).
    pub fn known_owner(&self, room: &str) -> Option<i64> {
        lock(&self.owners).get(room).copied()
    }

    pub fn forget_owner(&self, room: &str) {
        lock(&self.owners).remove(room);
    }

    /// Forgets `owner` as the owner of `room`, unless a newer claim found another one.
    fn forget_owner_of(&self, room: &str, owner: i64) {
        let mut owners = lock(&self.owners);
        if owners.get(room) == Some(&owner) {
            owners.remove(room);
        }
    }

    /// Whether this node claimed `room` and has not given it up.
    pub fn holds(&self, room: &str) -> bool {
        lock(&self.held).contains(room)
    }

    /// The rooms the current incarnation holds.
    pub async fn rooms(&self) -> anyhow::Result<Vec<String>> {
        self.store.rooms_of(self.incarnation()).await
    }

    /// The lease's TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Claims `room` for the current incarnation.
    pub async fn claim(&self, room: &str) -> anyhow::Result<Claim> {
        self.claims.inc();
        let claim = self.store.claim(room, self.incarnation()).await?;
        match &claim {
            Claim::Owned { .. } => {
                lock(&self.held).insert(room.to_owned());
                self.forget_owner(room);
            }
            Claim::Held { incarnation, .. } => {
                lock(&self.held).remove(room);
                lock(&self.owners).insert(room.to_owned(), *incarnation);
            }
        }
        Ok(claim)
    }

    /// Gives up a room this node unloads or destroyed; a failure only leaves it to the
    /// lease (another node waits for it to expire, or for this node to claim it again).
    pub async fn release(&self, fence: &Fence) {
        lock(&self.held).remove(&fence.room);
        if let Err(e) = self.store.release(fence).await {
            tracing::warn!(room = fence.room, error = %e, "releasing a room failed");
        }
    }

    /// Ends the lease (clean shutdown): other nodes may claim this node's rooms at once.
    pub async fn leave(&self) {
        if let Err(e) = self.store.leave(self.incarnation()).await {
            tracing::warn!(error = %e, "ending the cluster lease failed");
        }
    }

    /// Renews the lease every third of its TTL until `shutdown` fires.
    pub fn spawn_renewal(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.ttl / 3);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    r = shutdown.changed() => {
                        if r.is_err() || *shutdown.borrow() {
                            return;
                        }
                        continue;
                    }
                }
                if !me.renew().await {
                    return;
                }
            }
        });
    }

    /// One renewal; `false` when this process must stop renewing.
    async fn renew(&self) -> bool {
        let incarnation = self.incarnation();
        match self.store.renew(incarnation, self.ttl).await {
            Ok(Renewal::Renewed) => {
                if self.bus.get().is_some() {
                    self.meet(Greet::No).await;
                }
                true
            }
            Ok(Renewal::Expired) => {
                tracing::warn!(
                    node = self.node,
                    incarnation,
                    "cluster lease expired (paused or cut off longer than its TTL); rooms held under it are given up"
                );
                match self.store.join(&self.node, self.ttl).await {
                    Ok(new) => {
                        // Nothing is held under the new incarnation, and owners seen
                        // while this node was away may have changed since.
                        lock(&self.held).clear();
                        lock(&self.owners).clear();
                        self.incarnation.store(new, Ordering::Release);
                        self.changes.send_replace(new);
                        tracing::info!(node = self.node, incarnation = new, "rejoined the cluster");
                        // Nodes that counted none while this one was away look again;
                        // a paused one does not hold up the renewals.
                        if self.bus.get().is_some() {
                            self.meet(Greet::Spawn).await;
                        }
                    }
                    // Tried again at the next tick; meanwhile claims and commits fail.
                    Err(e) => tracing::error!(error = %e, "rejoining the cluster failed"),
                }
                true
            }
            Ok(Renewal::Superseded) => {
                tracing::error!(
                    node = self.node,
                    incarnation,
                    "a newer process started as this node; this one owns no room any more"
                );
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "renewing the cluster lease failed");
                true
            }
        }
    }
}

/// Whether [`Membership::meet`] greets the other live nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Greet {
    No,
    /// Greets them and waits for their answers (before this node takes clients).
    Wait,
    /// Greets them in the background.
    Spawn,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
