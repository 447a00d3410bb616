//! What each IQ the core has in flight was for, so its answer (or its timeout) goes back
//! to the command, the connect-time step or the archive page that asked.

use jid::BareJid;

use super::types::RequestId;
use crate::protocol::mds::Marker;
use crate::protocol::Subscribe;
use crate::session::iq::IqTracker;

/// A lost connection's IQs, waiting for its stream's resumption (`held`). Declared here,
/// with what the IQs were for, and not in `held`: the client holds one, and `held`'s
/// methods are the client's (a type there would make the two modules import each other).
pub(super) struct Held {
    pub(super) iqs: IqTracker<Pending>,
    /// When to give up waiting (ms).
    pub(super) until: i64,
}

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
