//! What one message does to another (XEP-0308 corrections, XEP-0424/0425 retraction and
//! moderation, XEP-0444 reactions), and the state a message event carries once the store
//! has applied them. A change travels as its own [`super::EventKind::Change`] event because
//! it can arrive before, after or without its target (live, offline, an archive page); the
//! store folds it into the target whenever both are there.

use serde::{Deserialize, Serialize};

/// The change a [`super::EventKind::Change`] event makes to its target. Stored as
/// `{"change": "edit", "body": …}`; read back by hand (`event_serde.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum Change {
    /// A correction: the target's body becomes `body` (XEP-0308).
    Edit {
        /// The corrected body.
        body: String,
    },
    /// The target is retracted by its author, or moderated by the room (XEP-0424/0425).
    Retract(Retraction),
    /// The sender's reactions to the target are now exactly `emojis` (XEP-0444: each
    /// reaction message replaces the sender's earlier ones; empty removes them all).
    React {
        /// The sender's reactions.
        emojis: Vec<String>,
    },
}

/// A retraction: who did it when a moderator did, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Retraction {
    /// Set when a moderator retracted the message (XEP-0425), not its author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderated: Option<Moderator>,
    /// The given reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The moderator who retracted a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moderator {
    /// The moderator's occupant JID (`room@service/nick`).
    pub by: String,
    /// The moderator's occupant-id (XEP-0421), when the room gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupant_id: Option<String>,
}

/// The message a reply answers (XEP-0461).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTo {
    /// The answered message's id (its stanza-id in a room).
    pub id: String,
    /// The answered message's sender (its occupant JID), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}
