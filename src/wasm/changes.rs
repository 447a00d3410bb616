//! The calls that are one command each — the ones that change messages (issue 22: `edit`,
//! `retract`, `react`, `moderate`, `send` with `replyTo`), a plain `send`, `unsubscribe`,
//! `setSubject` and `subscribers` — run in the tab that leads the store (src/wasm/calls.rs).
//!
//! The app names a message by the id it knows, its `id` or its `stanzaId`; the protocol
//! wants a particular one (XEP-0308 corrections and XEP-0424 retractions the sender's
//! message id or origin-id, reactions in a room the archive's stanza-id, XEP-0461 replies
//! the stanza-id and the author's occupant JID). The stored message is looked up to pick
//! the right one; a message not stored yet is named by the id as given.

use std::rc::Rc;

use wasm_bindgen::JsValue;

use crate::client::{Command, CommandResult};
use crate::event::{ReplyTo, RoomEvent};

use super::call::Call;
use super::calls::{unexpected, Inner};
use super::error::{Code, SdkError};
use super::js_types::{node_names, to_js, JsSendResult, JsSubscriber};

/// The result a command call resolves with, from the command's result.
enum Answer {
    /// The posted message's `{id}`.
    Sent,
    /// Nothing, once the room accepted a moderation.
    Moderated,
    /// Nothing, whatever the command answered.
    Nothing,
    /// The room's subscribers.
    Subscribers,
}

impl Inner {
    /// The stored message of `room` that answers to `id`, if any.
    async fn stored(self: &Rc<Self>, room: &str, id: &str) -> Result<Option<RoomEvent>, SdkError> {
        self.open().await?.message_by_id(room, id).await
    }

    /// Perform a call that is one command: `send`, `edit`, `retract`, `react`, `moderate`,
    /// `unsubscribe`, `setSubject`, `subscribers`. The stored message it names is looked up
    /// first when the protocol wants another of its ids; then the command runs, and its
    /// result becomes the call's. One path for all of them, not one async fn each: each
    /// await of each was code of its own in the tab host's dispatcher (issue 24, package
    /// size).
    pub(super) async fn one_command(self: &Rc<Self>, call: Call) -> Result<JsValue, SdkError> {
        let named = match &call {
            Call::Send {
                room,
                reply_to: Some(target),
                ..
            }
            | Call::Edit { room, target, .. }
            | Call::Retract { room, target, .. }
            | Call::React { room, target, .. } => self.stored(room, target).await?,
            _ => None,
        };
        let (cmd, answer) = command_of(call, named)?;
        let result = self.command(cmd).await?;
        match (answer, result) {
            (Answer::Sent, CommandResult::Sent { id }) => to_js(&JsSendResult { id }),
            (Answer::Moderated, CommandResult::Moderated { .. }) | (Answer::Nothing, _) => {
                Ok(JsValue::UNDEFINED)
            }
            (Answer::Subscribers, CommandResult::Subscribers { items, .. }) => {
                let items: Vec<JsSubscriber> = items
                    .into_iter()
                    .map(|i| JsSubscriber {
                        jid: i.jid,
                        nick: i.nick.unwrap_or_default(),
                        nodes: node_names(&i.nodes),
                    })
                    .collect();
                to_js(&items)
            }
            (_, other) => Err(unexpected(other)),
        }
    }
}

/// The command of a call [`Inner::one_command`] performs, given the stored message it names
/// (`named`), and what its result becomes. The app names a message by its `id` or its
/// `stanzaId`:
/// - a reply names the answered message's stanza-id and its author's occupant JID when the
///   store knows them;
/// - a correction names the message id its author gave it;
/// - a retraction names the id we gave the message, its origin-id, which Converse.js
///   matches (see [`crate::event::compose::retract`]);
/// - a reaction names the message's archive id.
fn command_of(call: Call, named: Option<RoomEvent>) -> Result<(Command, Answer), SdkError> {
    Ok(match call {
        Call::Send {
            room,
            body,
            id,
            reply_to: None,
        } => (Command::Send { room, body, id }, Answer::Sent),
        Call::Send {
            room,
            body,
            id,
            reply_to: Some(answered),
        } => {
            let reply_to = match named {
                Some(ev) => ReplyTo {
                    id: ev.stanza_id.unwrap_or(answered),
                    to: ev.nick.map(|n| format!("{room}/{n}")),
                },
                None => ReplyTo {
                    id: answered,
                    to: None,
                },
            };
            let cmd = Command::Reply {
                room,
                body,
                id,
                reply_to,
            };
            (cmd, Answer::Sent)
        }
        Call::Edit {
            room,
            target,
            body,
            id,
        } => {
            let target = match named {
                Some(ev) => ev.message_id.or(ev.origin_id).unwrap_or(target),
                None => target,
            };
            let cmd = Command::Edit {
                room,
                id,
                target,
                body,
            };
            (cmd, Answer::Sent)
        }
        Call::Retract { room, target, id } => {
            let target = match named {
                Some(ev) => ev
                    .origin_id
                    .or(ev.message_id)
                    .or(ev.stanza_id)
                    .unwrap_or(target),
                None => target,
            };
            (Command::Retract { room, id, target }, Answer::Sent)
        }
        Call::React {
            room,
            target,
            emojis,
            id,
        } => {
            let stanza_id = match named {
                Some(ev) => ev.stanza_id.unwrap_or(target),
                None => target,
            };
            let cmd = Command::React {
                room,
                id,
                stanza_id,
                emojis,
            };
            (cmd, Answer::Sent)
        }
        Call::Moderate {
            room,
            stanza_id,
            reason,
        } => {
            let cmd = Command::Moderate {
                room,
                stanza_id,
                reason,
            };
            (cmd, Answer::Moderated)
        }
        Call::Unsubscribe { room } => (Command::Unsubscribe { room }, Answer::Nothing),
        Call::SetSubject { room, subject, id } => {
            (Command::SetSubject { room, subject, id }, Answer::Nothing)
        }
        Call::Subscribers { room } => (Command::ListSubscribers { room }, Answer::Subscribers),
        // `Inner::run` (src/wasm/calls.rs) performs the others itself.
        other => {
            return Err(SdkError::new(
                Code::Internal,
                format!("not a command call: {}", other.name()),
            ))
        }
    })
}
