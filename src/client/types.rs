//! What the client core exchanges with its driver and the app.

use serde::{Deserialize, Serialize};

use crate::event::RoomEvent;
use crate::protocol::Node;
use crate::resync::ResyncWarning;
use crate::session::{FastToken, Frame};
use crate::store::{Page, SubscriptionRecord};

/// Something that happened to the client.
#[derive(Debug, Clone)]
pub enum Input {
    /// The transport connected.
    Connected,
    /// A frame arrived.
    Frame(Frame),
    /// The transport is gone (or failed to connect).
    Disconnected(Option<String>),
    /// A timer the core asked for fired (or any time the driver wants to check).
    Tick,
}

/// A write the driver must perform before feeding the next input.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// Insert or replace a subscription.
    PutSubscription(SubscriptionRecord),
    /// Forget a subscription.
    RemoveSubscription(String),
    /// [`crate::store::Store::apply_page`]; each newly stored event goes to the app as
    /// [`AppEvent::Room`], each stored message it changed as [`AppEvent::Updated`].
    Apply(Page),
    /// Move the room's read marker up to the event `stanza_id` names, never back
    /// ([`crate::store::Store::mark_read`]): another device read that far (XEP-0490). When
    /// it moved, the app gets [`AppEvent::Read`] with the unread count for `own_nick` /
    /// `own_jid`; a marker naming no stored event changes nothing.
    ReadUpTo {
        /// Room.
        room: String,
        /// The archive id of the last read message.
        stanza_id: String,
        /// Our subscription nick there.
        own_nick: Option<String>,
        /// Our bare JID.
        own_jid: String,
    },
}

/// What the core wants the driver to do, in order.
// Room events (~500 bytes since issue 22's message state) are most of the actions a
// driver handles; boxing each would allocate per event to shrink short-lived values.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write to the transport (one WebSocket message / bytes on TCP).
    Write(String),
    /// TCP: restart the inbound XML parser.
    ResetParser,
    /// Close the transport.
    CloseTransport,
    /// Persist.
    Store(StoreOp),
    /// Tell the app.
    Event(AppEvent),
    /// Feed [`Input::Tick`] at this time (ms); replaces any earlier request.
    TimerAt(i64),
    /// Connect again after this many milliseconds.
    ReconnectIn(u64),
}

/// Identifies a command so its result can be matched.
pub type RequestId = u64;

/// A subscription as listed by the service or a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionInfo {
    /// Room (service list) or subscriber (room list); absent when hidden.
    pub jid: Option<String>,
    /// Nick.
    pub nick: Option<String>,
    /// Nodes.
    pub nodes: Vec<Node>,
}

/// A command's successful result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CommandResult {
    /// Subscribed (or subscription changed).
    Subscribed {
        /// Room.
        room: String,
        /// Nick echoed by the room.
        nick: Option<String>,
        /// Nodes the room accepted.
        nodes: Vec<Node>,
    },
    /// Unsubscribed.
    Unsubscribed {
        /// Room.
        room: String,
    },
    /// The account's subscriptions.
    Subscriptions {
        /// One per room.
        items: Vec<SubscriptionInfo>,
    },
    /// A room's subscribers.
    Subscribers {
        /// Room.
        room: String,
        /// Subscribers.
        items: Vec<SubscriptionInfo>,
    },
    /// A message went out.
    Sent {
        /// Its id (also its origin-id).
        id: String,
    },
    /// The room retracted the message a moderator named.
    Moderated {
        /// Room.
        room: String,
        /// The moderated message's archive id.
        stanza_id: String,
    },
    /// An older page of history was stored.
    History {
        /// Room.
        room: String,
        /// Items received.
        count: usize,
        /// The archive has nothing older.
        complete: bool,
    },
    /// Resync started for every subscribed room.
    ResyncStarted,
    /// A read marker is published to the account's other devices, or will be when a
    /// session is up (nothing is published to a server without PEP).
    Displayed {
        /// Room.
        room: String,
    },
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{condition}{}", text.as_ref().map(|t| format!(": {t}")).unwrap_or_default())]
pub struct CommandError {
    /// Stanza error condition (`forbidden`, `conflict`, …) or `timeout`,
    /// `disconnected`, `not-connected`, `bad-request` (local validation).
    pub condition: String,
    /// Human-readable text.
    pub text: Option<String>,
}

impl CommandError {
    pub(crate) fn new(condition: &str, text: impl Into<Option<String>>) -> Self {
        CommandError {
            condition: condition.into(),
            text: text.into(),
        }
    }
}

/// Things that were refused or looked wrong; nothing was stored for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientWarning {
    /// A MucSub wrapper from a JID we are not subscribed to.
    NotSubscribed {
        /// The sender.
        from: String,
    },
    /// A subscription notice (docs/protocol.md S20) from neither the MUC service's rooms
    /// nor a room we are subscribed to.
    NotARoom {
        /// The sender.
        from: String,
    },
    /// A malformed wrapper or inner stanza.
    Malformed {
        /// The sender.
        from: String,
        /// What is wrong.
        reason: String,
    },
    /// A message we sent bounced.
    MessageError {
        /// The room.
        from: String,
        /// Its id.
        id: Option<String>,
        /// The condition.
        condition: String,
    },
    /// From the resync engine.
    Resync(ResyncWarning),
    /// The server keeps no read markers for the account (no PEP, or it refused the
    /// XEP-0490 node): they stay on this device. Reported once per client.
    ReadSyncUnavailable {
        /// The server's condition.
        condition: String,
    },
}

/// Events for the app.
// Room events dominate the traffic; boxing them would cost an allocation per event for
// the benefit of the rare small variants.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum AppEvent {
    /// Bound and available.
    Connected {
        /// Our full JID.
        jid: String,
    },
    /// The former stream was resumed (XEP-0198) on a new connection: same full JID, no
    /// resync; what it missed arrives as live events.
    Resumed {
        /// Our full JID (unchanged).
        jid: String,
    },
    /// The server issued a FAST token: persist [`crate::client::Client::wake`] (never
    /// the password).
    Token(FastToken),
    /// The saved token was refused (revoked, expired or unknown): the app must ask the
    /// user for the password. Without one the client stops reconnecting.
    CredentialsNeeded {
        /// The server's condition.
        reason: String,
    },
    /// Connection lost or closed.
    Disconnected {
        /// Why, when it was not asked for.
        error: Option<String>,
    },
    /// A newly stored room event.
    Room(RoomEvent),
    /// A stored message changed as the app shows it (a correction, retraction, moderation
    /// or reaction folded into it): the message as it now is. The driver sends it, not
    /// the core ([`crate::store::Applied::updated`]).
    Updated(RoomEvent),
    /// A command finished.
    Result {
        /// The command.
        request: RequestId,
        /// Its outcome.
        result: Result<CommandResult, CommandError>,
    },
    /// One room's subscription changed, whoever changed it: this client's commands, another
    /// device of the account or a moderator (the room's notice, docs/protocol.md S20), the
    /// room removing it (S13), or the connect-time list. Sent only on a real change.
    SubscriptionChanged {
        /// Room.
        room: String,
        /// The subscription now in force; `None` when there is none any more.
        subscription: Option<SubscriptionRecord>,
    },
    /// One room finished resyncing.
    RoomSynced {
        /// Room.
        room: String,
        /// `false` when it stopped on an error.
        ok: bool,
    },
    /// Every room is in sync (after connect or a resync command).
    Synced,
    /// A room's read marker moved because another device of the account read further
    /// (XEP-0490); sent by the driver after [`StoreOp::ReadUpTo`] moved it.
    Read {
        /// Room.
        room: String,
        /// Messages of others after the marker now.
        unread: usize,
    },
    /// Something was refused.
    Warning(ClientWarning),
}
