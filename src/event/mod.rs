//! One event model for the app, whatever the route: live wrapped events, plain groupchat
//! while joined, offline deliveries and MAM results all become a [`RoomEvent`].

mod change;
pub mod compose;
mod event_serde;
mod kind_serde;
mod modern;
mod parse;
mod reactions;

pub use change::{Change, Moderator, ReplyTo, Retraction};
pub use reactions::Reactions;

use serde::Serialize;
use thiserror::Error;

use crate::protocol::time::Timestamp;

/// How the event reached us. Read back by name (`event_serde.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A wrapped MucSub event delivered while online.
    Live,
    /// A plain MUC stanza received while joined.
    Joined,
    /// A wrapped event kept in offline storage and delivered on connect.
    Offline,
    /// A MAM result.
    Archive,
}

/// What happened. Stored as `{"type": "message", "body": …}`; read back through one flat
/// record of every variant's fields (`kind_serde.rs`), which costs the browser package far
/// less code than serde's buffering of an internally tagged enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum EventKind {
    /// A groupchat message with a body.
    Message {
        /// The body.
        body: String,
    },
    /// A subject change.
    Subject {
        /// The new subject (empty clears it).
        subject: String,
    },
    /// Occupant presence or nick change.
    Presence {
        /// `false` for `type='unavailable'`.
        available: bool,
        /// MUC role, when given.
        role: Option<String>,
        /// MUC affiliation, when given.
        affiliation: Option<String>,
        /// MUC status codes.
        codes: Vec<u16>,
    },
    /// A join or a leave.
    Participants {
        /// `true` for a join.
        joined: bool,
        /// MUC role, when given.
        role: Option<String>,
        /// MUC affiliation, when given.
        affiliation: Option<String>,
    },
    /// Role or affiliation change, kick, ban.
    Affiliation {
        /// New affiliation.
        affiliation: Option<String>,
        /// New role.
        role: Option<String>,
        /// MUC status codes (301 ban, 307 kick, …).
        codes: Vec<u16>,
        /// Given reason.
        reason: Option<String>,
        /// Nick of the moderator who did it.
        actor: Option<String>,
    },
    /// Configuration change (status codes 104, 170–173) or room destruction.
    Config {
        /// MUC status codes.
        codes: Vec<u16>,
        /// The room was destroyed.
        destroyed: bool,
        /// Destruction reason.
        reason: Option<String>,
    },
    /// Someone subscribed or unsubscribed.
    Subscribers {
        /// `true` for a subscription.
        subscribed: bool,
    },
    /// A service notice.
    System {
        /// Its text.
        body: Option<String>,
    },
    /// A correction, retraction or reaction of the message `target` names (its stanza-id,
    /// message id or origin-id, see [`crate::store::answers_to`]). Stores keep it and fold
    /// it into the target, whichever of the two arrives first.
    Change {
        /// The id the change names.
        target: String,
        /// What it does.
        change: Change,
    },
}

/// A typed room event as the app and the store see it. Read back by hand
/// (`event_serde.rs`), for the browser package's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomEvent {
    /// The room's bare JID.
    pub room: String,
    /// What happened.
    pub kind: EventKind,
    /// The room archive id (`<stanza-id by=room/>` or the MAM result id).
    pub stanza_id: Option<String>,
    /// XEP-0359 origin-id set by the sender.
    pub origin_id: Option<String>,
    /// The stanza's own `id`.
    pub message_id: Option<String>,
    /// The MucSub item id, when wrapped.
    pub item_id: Option<String>,
    /// Sender's nick in the room (or the subscription nick for subscriber events).
    pub nick: Option<String>,
    /// Real JID, when the room reveals it.
    pub real_jid: Option<String>,
    /// Archive time when known, otherwise the time it reached us.
    pub timestamp: Timestamp,
    /// How it reached us.
    pub source: Source,
    /// The sender's stable id in the room (XEP-0421), set by the room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupant_id: Option<String>,
    /// The message this one answers (XEP-0461).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    /// Previous bodies of a corrected message, oldest (the original) first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edited: Vec<String>,
    /// Set once the message is retracted or moderated; its content is gone then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retracted: Option<Retraction>,
    /// Reactions to the message.
    #[serde(default, skip_serializing_if = "Reactions::is_empty")]
    pub reactions: Reactions,
}

/// Why a stanza could not become a [`RoomEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    /// The stanza carries nothing an app could show (e.g. a message without body or
    /// subject on the messages node).
    #[error("nothing to show in <{0}/>")]
    Empty(String),
    /// An element this model does not know.
    #[error("unexpected <{name} xmlns='{ns}'/> in a room event")]
    Unexpected {
        /// Element name.
        name: String,
        /// Its namespace.
        ns: String,
    },
    /// A typed child failed to parse.
    #[error(transparent)]
    Parse(#[from] crate::protocol::ParseError),
}

impl RoomEvent {
    /// Keys for deduplication, strongest first. See [`RoomEvent::same_as`].
    pub fn dedup_keys(&self) -> Vec<String> {
        let nick = self.nick.as_deref().unwrap_or("");
        let mut keys = Vec::new();
        if let Some(s) = &self.stanza_id {
            keys.push(format!("sid:{s}"));
        }
        if let Some(o) = &self.origin_id {
            keys.push(format!("oid:{nick}\u{0}{o}"));
        }
        if let Some(m) = &self.message_id {
            keys.push(format!("mid:{nick}\u{0}{m}"));
        }
        if let Some(i) = &self.item_id {
            keys.push(format!("item:{i}"));
        }
        keys
    }

    /// Deduplication rule, shared by every store: two events of one room are the same
    /// when their stanza-ids are equal; when either lacks a stanza-id, when they share the
    /// origin-id, the (sender, message id) pair or the MucSub item id. Two events with
    /// *different* stanza-ids are never the same, whatever else matches (clients reuse
    /// message ids).
    pub fn same_as(&self, other: &RoomEvent) -> bool {
        if self.room != other.room {
            return false;
        }
        match (&self.stanza_id, &other.stanza_id) {
            (Some(a), Some(b)) => a == b,
            _ => {
                let mine = self.dedup_keys();
                other
                    .dedup_keys()
                    .iter()
                    .filter(|k| !k.starts_with("sid:"))
                    .any(|k| mine.contains(k))
            }
        }
    }

    /// Fold a later copy of the same event into this one: the archive's id and time win
    /// over what a live copy had, so the stored order follows the archive.
    pub fn absorb(&mut self, newer: &RoomEvent) -> bool {
        let mut changed = false;
        if self.stanza_id.is_none() && newer.stanza_id.is_some() {
            self.stanza_id = newer.stanza_id.clone();
            changed = true;
        }
        // The archive's time is the one that counts; a copy that already has it (an
        // offline delivery stamped with it) needs no rewrite.
        if newer.source == Source::Archive
            && self.source != Source::Archive
            && self.timestamp != newer.timestamp
        {
            self.timestamp = newer.timestamp;
            changed = true;
        }
        if self.real_jid.is_none() && newer.real_jid.is_some() {
            self.real_jid = newer.real_jid.clone();
            changed = true;
        }
        if self.occupant_id.is_none() && newer.occupant_id.is_some() {
            self.occupant_id = newer.occupant_id.clone();
            changed = true;
        }
        // An archive tombstone of a stored message: the retraction wins, whatever came
        // first (a retraction is never undone).
        if self.retracted.is_none() && newer.retracted.is_some() {
            self.retracted = newer.retracted.clone();
            self.erase();
            changed = true;
        }
        changed
    }

    /// Drop a retracted message's content: its body, earlier bodies, reactions and reply.
    pub fn erase(&mut self) {
        if let EventKind::Message { body } = &mut self.kind {
            body.clear();
        }
        self.edited.clear();
        self.reactions.clear();
        self.reply_to = None;
    }
}

#[cfg(test)]
mod modern_tests;
#[cfg(test)]
mod tests;
