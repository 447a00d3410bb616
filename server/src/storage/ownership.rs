//! Room ownership for several nodes on one PostgreSQL database: the [`RoomOwnership`]
//! contract (`postgres/ownership.rs` implements it; a single node on SQLite has none and
//! owns every room it loads).
//!
//! Each node start is a new **incarnation** holding a **lease** that it renews against the
//! database's clock (never the nodes' own clocks). A node **claims** a room before it loads
//! it; the claim succeeds only when the room has no owner, was released, or its owner's
//! lease has expired, and then takes the room's next **epoch**. The incarnation and epoch
//! together are the room's [`Fence`]: every room commit first checks, in its own
//! transaction and with the ownership row locked for share, that the fence still holds
//! (same incarnation, same epoch, lease not expired), else it writes nothing and fails
//! with [`LostOwnership`]. A paused or partitioned old owner can so never commit after a
//! takeover, whatever its clock says, and a claim waits for a commit in flight to end.

use std::time::Duration;

use super::types::BoxFuture;

/// Who may write a room: the incarnation that claimed it and the epoch of that claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub room: String,
    pub incarnation: i64,
    pub epoch: i64,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The room is this incarnation's under `fence`; `last_id` is the newest archive id
    /// the room holds (0 when none), the floor for the ids the new owner gives. `tail`:
    /// when the room was taken from an owner whose lease expired (it died, or was paused
    /// or cut off) rather than released, the messages it archived in its last moments
    /// (id, stanza), oldest first, which it may have committed and not sent: see
    /// [`TAIL_MARGIN`].
    Owned {
        fence: Fence,
        last_id: i64,
        tail: Vec<(i64, String)>,
    },
    /// Another incarnation holds it under a lease that has not expired.
    Held { node: String, incarnation: i64 },
}

/// How far before its last possible renewal a dead owner's messages count as its tail:
/// the time a commit's fanout may take. An owner commits nothing after its lease ends
/// (the fence), renewed its lease at most one TTL before that end, and died after that
/// renewal; so what it committed and had not yet sent carries an id (microseconds, never
/// below the archive time) from at most one TTL plus this margin before the end of its
/// lease. The bound is on the database's clock against the old owner's: the margin also
/// covers their skew.
pub const TAIL_MARGIN: Duration = Duration::from_secs(10);

/// Most messages a tail holds (a burst larger than this in one fanout's time would
/// leave the oldest to the archive, where clients resync from).
pub const TAIL_MAX: i64 = 200;

/// The owner of a room as stored (operators, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `None` once released.
    pub incarnation: Option<i64>,
    pub node: Option<String>,
    pub epoch: i64,
    /// Whether the owner's lease is still running.
    pub live: bool,
}

/// What renewing a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Renewed for another TTL.
    Renewed,
    /// The lease had expired already (the node was paused or cut off longer than the
    /// TTL): this incarnation is over, its rooms may have been taken.
    Expired,
    /// A newer incarnation of the same node name started: this process is not that node
    /// any more.
    Superseded,
}

/// A commit refused by the fence: the room is no longer this incarnation's at this epoch.
#[derive(Debug, Clone, thiserror::Error)]
#[error("room {} is no longer owned by incarnation {} at epoch {}", .0.room, .0.incarnation, .0.epoch)]
pub struct LostOwnership(pub Fence);

/// Room ownership (PostgreSQL only).
pub trait RoomOwnership: Send + Sync {
    /// Starts a new incarnation of node `node` with a lease of `ttl`; ends the lease of
    /// every earlier incarnation of that name (a node name is one process at a time, so a
    /// restarted node takes its rooms back at once). Returns the incarnation.
    fn join<'a>(&'a self, node: &'a str, ttl: Duration) -> BoxFuture<'a, anyhow::Result<i64>>;
    /// Extends the lease of `incarnation` by `ttl` from now, only if it has not expired.
    fn renew(&self, incarnation: i64, ttl: Duration) -> BoxFuture<'_, anyhow::Result<Renewal>>;
    /// Ends the lease now (a clean shutdown): its rooms may be claimed at once.
    fn leave(&self, incarnation: i64) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Claims `room` for `incarnation` (live lease needed). A claim by the incarnation
    /// that owns the room already keeps its epoch.
    fn claim<'a>(&'a self, room: &'a str, incarnation: i64)
        -> BoxFuture<'a, anyhow::Result<Claim>>;
    /// Gives the room up (unloaded or destroyed), if `fence` still holds: anyone may claim
    /// it now. A room that does not exist (any more) is forgotten, its epochs with it.
    fn release<'a>(&'a self, fence: &'a Fence) -> BoxFuture<'a, anyhow::Result<()>>;
    /// The incarnations other than `incarnation` whose lease is running: the other live
    /// nodes (a node alone needs not look for an account's sessions elsewhere).
    fn others_live(&self, incarnation: i64) -> BoxFuture<'_, anyhow::Result<Vec<i64>>>;
    /// The rooms `incarnation` holds now.
    fn rooms_of(&self, incarnation: i64) -> BoxFuture<'_, anyhow::Result<Vec<String>>>;
    /// The room's owner as stored, `None` when it was never claimed.
    fn owner<'a>(&'a self, room: &'a str) -> BoxFuture<'a, anyhow::Result<Option<Owner>>>;
}
