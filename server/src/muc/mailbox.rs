//! What the registry and the room tasks say to each other, over channels: a room task
//! receives [`RoomMsg`]s on its queue and reports back with [`Report`]s. A leaf, so the
//! room task never calls into the registry (nor the registry into a running room).

use jid::FullJid;
use minidom::Element;

use super::handle::{Reply, RoomRequest};

/// What a room's task receives.
pub(super) enum RoomMsg {
    Stanza(FullJid, Element),
    /// A typed request from the rest of the server (`handle.rs`), answered on `Reply` once
    /// its writes are committed.
    Request(RoomRequest, Reply),
    /// The registry saw the room idle: end unless someone is in it (answered with
    /// [`Report::Unloaded`]).
    Unload,
}

/// What room tasks report back to the registry.
pub(super) enum Report {
    /// No stanza for `idle_unload_secs` and nobody in the room.
    Idle(String),
    /// The room task ended (`kept == false`) or refused to (`kept == true`); `leftovers`
    /// are stanzas and requests it had not processed.
    Unloaded {
        name: String,
        kept: bool,
        leftovers: Vec<RoomMsg>,
    },
}
