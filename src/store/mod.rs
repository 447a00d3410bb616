//! Persistent client state: subscriptions, room events, resync cursors and gaps.
//!
//! One async trait with no `Send` bound so the IndexedDB store (single-threaded wasm,
//! non-`Send` JS futures) and the native stores implement the same thing. Every store must
//! pass the shared suite in `mucsub::store_tests` (feature `store-tests`), which
//! [`crate::store_suite!`] turns into one named test per case.
//!
//! The trait owns batching: [`Store::apply_pages`] writes several pages at once where the
//! backend can (IndexedDB: one transaction for a whole batch of live events) and falls back
//! to one [`Store::apply_page`] per page where it cannot, so a driver needs no knowledge of
//! the store it runs on.

pub mod fold;
mod memory;
pub(crate) mod order;

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

/// How far the app has read a room: the strongest dedup key of the newest event it marked
/// read (it survives that event gaining an archive id later) and that event's time, used
/// only if the event cannot be found any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMarker {
    /// A [`RoomEvent::dedup_keys`] entry of the marked event.
    pub key: String,
    /// Its timestamp.
    pub stamp: Timestamp,
}

/// Who "we" are in a room, so our own messages never count as unread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Own<'a> {
    /// Our nick in the room (the subscription nick).
    pub nick: Option<&'a str>,
    /// Our bare JID, matched against the real JID of events that show one.
    pub jid: Option<&'a str>,
}

impl Own<'_> {
    /// True for a message event we sent.
    pub fn sent(&self, ev: &RoomEvent) -> bool {
        let by_nick = self.nick.is_some() && ev.nick.as_deref() == self.nick;
        let by_jid = match (self.jid, ev.real_jid.as_deref()) {
            (Some(me), Some(real)) => real.split('/').next() == Some(me),
            _ => false,
        };
        by_nick || by_jid
    }

    /// True for an event that counts as unread when it lies after the marker: a message
    /// someone else sent that is still there (not retracted).
    pub fn counts(&self, ev: &RoomEvent) -> bool {
        matches!(ev.kind, crate::event::EventKind::Message { .. })
            && ev.retracted.is_none()
            && !self.sent(ev)
    }
}

/// Does stored event `ev` answer to `id` from the app: its archive id, or (for events that
/// have none yet) its message id or origin-id.
pub fn answers_to(ev: &RoomEvent, id: &str) -> bool {
    ev.stanza_id.as_deref() == Some(id)
        || ev.message_id.as_deref() == Some(id)
        || ev.origin_id.as_deref() == Some(id)
}

/// The marker for a stored event: its strongest dedup key.
pub fn marker_of(ev: &RoomEvent) -> Option<ReadMarker> {
    ev.dedup_keys().into_iter().next().map(|key| ReadMarker {
        key,
        stamp: ev.timestamp,
    })
}

/// A store failure (backend error or corrupted data).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// One page to store: events of one room, in archive (or arrival) order, with the resync
/// cursor advance and the gap that go with them. A page is the unit of atomicity: its
/// events, cursor and gap are written together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Room of every event.
    pub room: String,
    /// The events.
    pub events: Vec<RoomEvent>,
    /// New resync cursor, when it advances.
    pub cursor: Option<Cursor>,
    /// Gap to record.
    pub gap: Option<Gap>,
}

impl Page {
    /// Events only (live events, a history page): no cursor advance, no gap.
    pub fn new(room: impl Into<String>, events: Vec<RoomEvent>) -> Self {
        Page {
            room: room.into(),
            events,
            cursor: None,
            gap: None,
        }
    }

    /// The same page advancing the cursor to `cursor`.
    pub fn with_cursor(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// The same page recording `gap`.
    pub fn with_gap(mut self, gap: Gap) -> Self {
        self.gap = Some(gap);
        self
    }

    /// A page holding an event of another room is refused whole (nothing of it is written).
    pub fn check_room(&self) -> Result<(), StoreError> {
        match self.events.iter().find(|e| e.room != self.room) {
            Some(bad) => Err(StoreError(format!(
                "event of {} in a page of {}",
                bad.room, self.room
            ))),
            None => Ok(()),
        }
    }

    /// A page without cursor or gap made only of archive events is a history page, older
    /// than what is stored (see [`order`]).
    pub(crate) fn is_history(&self) -> bool {
        self.cursor.is_none()
            && self.gap.is_none()
            && !self.events.is_empty()
            && self
                .events
                .iter()
                .all(|e| e.source == crate::event::Source::Archive)
    }
}

/// What storing one page did, for the app.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// The events that were new, in input order; a new message already folded with the
    /// changes stored before it.
    pub fresh: Vec<RoomEvent>,
    /// Messages stored before that the page changed as the app shows them ([`fold::shown_same`]:
    /// a correction, retraction, moderation or reaction folded in, an archive tombstone), as
    /// they now are, each once, in stored order. A batch ([`Store::apply_pages`]) reports
    /// them on the room's last page of the batch, as the batch left them, and also reports
    /// a message new in the batch that a later page of it changed.
    pub updated: Vec<RoomEvent>,
}

/// The outcome of one page of a batch.
pub type PageResult = Result<Applied, StoreError>;

/// The storage interface. All writes of one call are atomic (for [`Store::apply_pages`]:
/// of each page).
#[allow(async_fn_in_trait)] // deliberately no `Send` bound: IndexedDB futures are not `Send`
pub trait Store {
    /// Subscriptions and room states, for the client core at start-up.
    async fn load(&self) -> Result<Snapshot, StoreError>;

    /// Insert or replace a subscription.
    async fn put_subscription(&self, rec: &SubscriptionRecord) -> Result<(), StoreError>;

    /// Forget a subscription (its events and room state stay).
    async fn remove_subscription(&self, room: &str) -> Result<(), StoreError>;

    /// In ONE transaction: store the page's events (deduplicated by
    /// [`RoomEvent::same_as`]; a duplicate is merged with [`RoomEvent::absorb`]), then set
    /// the cursor when given and record the gap when given. Returns the events that were
    /// new, in input order. A page holding another room's event is refused whole
    /// ([`Page::check_room`]).
    ///
    /// Change events ([`crate::event::EventKind::Change`]: corrections, retractions,
    /// reactions) are stored and deduplicated like any event, and every message they name
    /// is recomputed with [`fold::fold`] from all the stored changes naming it, in stored
    /// order, whichever arrived first; a new message is returned already folded, and a
    /// stored one that changed so is returned in [`Applied::updated`].
    async fn apply_page(&self, page: &Page) -> PageResult;

    /// Several pages, with the outcome of applying them one after another with
    /// [`Store::apply_page`]: one result per page, in order. A store that can write them in
    /// fewer transactions does (IndexedDB writes a batch of live events in one commit
    /// instead of one per event); either way a page that fails costs no other page its
    /// write. Only [`Applied::updated`] may differ: a batch reports each changed message
    /// once, as the batch left it, on the room's last page in it. The default, for stores that do not batch, applies them one by one.
    async fn apply_pages(&self, pages: &[&Page]) -> Vec<PageResult> {
        let mut out = Vec::with_capacity(pages.len());
        for page in pages {
            out.push(self.apply_page(page).await);
        }
        out
    }

    /// The newest `limit` events of a room, oldest first, in archive order: by timestamp,
    /// and within one timestamp as the archive (or, for live events, arrival) ordered them
    /// (see [`order`]). Change events are not listed: they are folded into their targets.
    async fn events(&self, room: &str, limit: usize) -> Result<Vec<RoomEvent>, StoreError>;

    /// Mark `room` read up to and including the stored event `up_to` answers to (see
    /// [`answers_to`]; the newest one that does), or up to the newest stored event when
    /// `None`. The marker never moves back: marking an event older than the current marker
    /// changes nothing. Returns false (and changes nothing) when no stored event answers to
    /// `up_to`; marking an empty room is a no-op.
    async fn mark_read(&self, room: &str, up_to: Option<&str>) -> Result<bool, StoreError>;

    /// The read marker of a room, if any.
    async fn read_marker(&self, room: &str) -> Result<Option<ReadMarker>, StoreError>;

    /// Message events after the read marker (all of them without one) that `own` did not
    /// send.
    async fn unread(&self, room: &str, own: Own<'_>) -> Result<usize, StoreError>;

    /// Resync state of a room (default when unknown).
    async fn room_state(&self, room: &str) -> Result<RoomState, StoreError>;
}
