//! Persistent client state: subscriptions, room events, resync cursors and gaps.
//!
//! One async trait with no `Send` bound so the IndexedDB store (single-threaded wasm,
//! non-`Send` JS futures) and the native stores implement the same thing. Every store must
//! pass the shared suite in `mucsub::store_tests` (feature `store-tests`).

mod memory;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use memory::MemoryStore;

use crate::event::RoomEvent;
use crate::protocol::time::Timestamp;
use crate::protocol::Node;

/// The newest archive id known to be contiguous with the stored history of a room. An
/// empty `id` means "the archive was empty when first synced": the next run starts from
/// the archive's beginning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Archive (stanza) id.
    pub id: String,
    /// Its archive time.
    pub stamp: Timestamp,
}

/// A stretch of a room's archive that may be missing from the store. `None` bounds mean
/// "from the beginning" / "up to the present".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Last stored archive id before the gap.
    pub after_id: Option<String>,
    /// Its time.
    pub after_stamp: Option<Timestamp>,
    /// First stored archive id after the gap.
    pub before_id: Option<String>,
    /// Its time.
    pub before_stamp: Option<Timestamp>,
}

/// A room the account is subscribed to, as last reconciled with the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    /// Room bare JID.
    pub room: String,
    /// Subscription nick.
    pub nick: Option<String>,
    /// Subscribed nodes.
    pub nodes: Vec<Node>,
}

/// Resync bookkeeping of one room.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoomState {
    /// Room bare JID.
    pub room: String,
    /// Resync cursor; `None` until the first page is stored.
    pub cursor: Option<Cursor>,
    /// Recorded gaps, oldest first.
    pub gaps: Vec<Gap>,
}

/// Everything the client core needs at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Known subscriptions.
    pub subscriptions: Vec<SubscriptionRecord>,
    /// Resync state per room.
    pub rooms: Vec<RoomState>,
}

/// A store failure (backend error or corrupted data).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// The storage interface. All writes of one call are atomic.
#[allow(async_fn_in_trait)] // deliberately no `Send` bound: IndexedDB futures are not `Send`
pub trait Store {
    /// Subscriptions and room states, for the client core at start-up.
    async fn load(&self) -> Result<Snapshot, StoreError>;

    /// Insert or replace a subscription.
    async fn put_subscription(&self, rec: &SubscriptionRecord) -> Result<(), StoreError>;

    /// Forget a subscription (its events and room state stay).
    async fn remove_subscription(&self, room: &str) -> Result<(), StoreError>;

    /// In ONE transaction: store `events` of `room` (deduplicated by
    /// [`RoomEvent::same_as`]; a duplicate is merged with [`RoomEvent::absorb`]), then set
    /// the cursor when given and record the gap when given. Returns the events that were
    /// new, in input order.
    async fn apply_page(
        &self,
        room: &str,
        events: &[RoomEvent],
        cursor: Option<&Cursor>,
        gap: Option<&Gap>,
    ) -> Result<Vec<RoomEvent>, StoreError>;

    /// The newest `limit` events of a room, oldest first, ordered by (timestamp, insertion).
    async fn events(&self, room: &str, limit: usize) -> Result<Vec<RoomEvent>, StoreError>;

    /// Resync state of a room (default when unknown).
    async fn room_state(&self, room: &str) -> Result<RoomState, StoreError>;
}
