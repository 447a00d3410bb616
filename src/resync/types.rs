//! What the resync engine is tuned with, what it asks its driver for, and how the driver
//! reports a query's end.

use jid::BareJid;

use crate::protocol::mam::PageFrom;
use crate::store::Page;

/// Tuning knobs.
#[derive(Debug, Clone)]
pub struct ResyncConfig {
    /// RSM `max` per page.
    pub page_size: usize,
    /// Items fetched per room in one run before jumping to the newest page with a gap.
    pub room_cap: usize,
    /// Rooms paging at the same time.
    pub max_in_flight: usize,
    /// Delay before the first retry of a page that failed transiently; doubles per attempt.
    pub retry_base_ms: u64,
    /// Cap of the retry delay.
    pub retry_max_ms: u64,
    /// Attempts per page (the first one included) before the room's run stops.
    pub max_attempts: u32,
}

impl Default for ResyncConfig {
    fn default() -> Self {
        ResyncConfig {
            page_size: 100,
            room_cap: 5_000,
            max_in_flight: 4,
            retry_base_ms: 1_000,
            retry_max_ms: 30_000,
            max_attempts: 5,
        }
    }
}

/// Something the engine wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum ResyncOut {
    /// Send a MAM query ([`crate::protocol::mam::query`]) as an IQ set to `room`; report its answer with
    /// [`Resync::on_fin`] under `queryid`.
    Query {
        /// The room whose archive is queried.
        room: BareJid,
        /// Correlates results and the final answer.
        queryid: String,
        /// Where the page starts.
        from: PageFrom,
        /// RSM `max`.
        max: usize,
    },
    /// Write in one transaction (see [`crate::store::Store::apply_page`]): the page's
    /// events in archive order, the new cursor when it advances, the gap to record.
    Apply(Page),
    /// A room finished its run (successfully or not).
    RoomDone {
        /// Room.
        room: String,
        /// `false` when the run stopped on an error; it is retried on the next connect.
        ok: bool,
    },
    /// Something was dropped or looked wrong; nothing was written for it.
    Warn(ResyncWarning),
}

/// Typed warnings so apps and tests can tell what was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResyncWarning {
    /// A MAM result for no query we have in flight.
    UnknownQuery(String),
    /// A MAM result whose sender is not the queried room.
    WrongSender {
        /// Queried room.
        room: String,
        /// Actual sender.
        from: String,
    },
    /// More results than the page size asked for; the extra ones were dropped.
    OversizedPage {
        /// Room.
        room: String,
    },
    /// An archived stanza that is no room event (kept out of the store).
    Unusable {
        /// Room.
        room: String,
        /// Archive id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The server restarted from the beginning on an id it did not know (ejabberd).
    RestartedFromBeginning {
        /// Room.
        room: String,
    },
    /// The cursor id is unknown to the archive; fell back to a time-based query.
    UnknownCursor {
        /// Room.
        room: String,
    },
    /// The query failed (each failed attempt is reported, retried or not).
    QueryFailed {
        /// Room.
        room: String,
        /// Error as reported.
        reason: String,
    },
    /// The failed page is asked again after `delay_ms`.
    Retrying {
        /// Room.
        room: String,
        /// The attempt that comes next (2 for the first retry).
        attempt: u32,
        /// Wait before it.
        delay_ms: u64,
    },
    /// A page that was neither complete nor advancing; paging stopped.
    NoProgress {
        /// Room.
        room: String,
    },
}

/// How a query ended, as the client core saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum FinOutcome {
    /// `<fin/>` received.
    Fin {
        /// `complete='true'`.
        complete: bool,
    },
    /// `item-not-found`: the `after`/`before` id is unknown to the archive.
    ItemNotFound,
    /// No answer in time, or an error of type `wait`: worth asking again.
    Transient(String),
    /// Any other error: the run stops until the next connect or resync.
    Failed(String),
}
