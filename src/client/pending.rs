//! What each IQ the core has in flight was for, so its answer (or its timeout) goes back
//! to the command, the connect-time step or the archive page that asked.

use jid::BareJid;

use super::types::RequestId;
use crate::protocol::mds::Marker;
use crate::protocol::Subscribe;

/// What an IQ in flight was for.
#[derive(Debug, Clone)]
pub(super) enum Pending {
    Command(RequestId, Asked),
    Disco,
    ListOnConnect,
    Mam {
        queryid: String,
    },
    History {
        queryid: String,
        req: RequestId,
        room: BareJid,
    },
    /// The account's XEP-0490 read markers, asked for when a session starts.
    Markers,
    /// A read marker being published.
    Displayed(Marker),
    /// A room's disco#info: does it advertise occupant-ids (`room_features`)?
    RoomFeatures {
        room: BareJid,
    },
}

/// An IQ command waiting for its answer.
#[derive(Debug, Clone)]
pub(super) enum Asked {
    Subscribe { room: BareJid, requested: Subscribe },
    Unsubscribe { room: BareJid },
    Subscriptions,
    Subscribers { room: BareJid },
    Moderate { room: BareJid, stanza_id: String },
}
