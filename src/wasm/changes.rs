//! The calls that change messages (issue 22): `edit`, `retract`, `react`, `moderate` and
//! `send` with `replyTo`, run in the tab that leads the store (src/wasm/calls.rs).
//!
//! The app names a message by the id it knows, its `id` or its `stanzaId`; the protocol
//! wants a particular one (XEP-0308 corrections and XEP-0424 retractions the sender's
//! message id or origin-id, reactions in a room the archive's stanza-id, XEP-0461 replies
//! the stanza-id and the author's occupant JID). The stored message is looked up to pick the right one; a message
//! not stored yet is named by the id as given.

use std::rc::Rc;

use wasm_bindgen::JsValue;

use crate::client::{Command, CommandResult};
use crate::event::{ReplyTo, RoomEvent};

use super::calls::{unexpected, Inner};
use super::error::SdkError;
use super::js_types::{to_js, JsSendResult};

impl Inner {
    /// The stored message of `room` that answers to `id`, if any.
    async fn stored(self: &Rc<Self>, room: &str, id: &str) -> Result<Option<RoomEvent>, SdkError> {
        self.open().await?.message_by_id(room, id).await
    }

    /// Run a command that posts a message, resolving with its `{id}`.
    async fn post(self: &Rc<Self>, cmd: Command) -> Result<JsValue, SdkError> {
        match self.command(cmd).await? {
            CommandResult::Sent { id } => to_js(&JsSendResult { id }),
            other => Err(unexpected(other)),
        }
    }

    /// `send(room, body, {replyTo})`: a reply names the answered message's stanza-id and
    /// its author's occupant JID when the store knows them.
    pub(super) async fn send(
        self: &Rc<Self>,
        room: String,
        body: String,
        id: String,
        reply_to: Option<String>,
    ) -> Result<JsValue, SdkError> {
        let Some(answered) = reply_to else {
            return self.post(Command::Send { room, body, id }).await;
        };
        let reply_to = match self.stored(&room, &answered).await? {
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
        self.post(cmd).await
    }

    /// `edit(room, id, body)`: the correction names the message id its author gave it.
    pub(super) async fn edit(
        self: &Rc<Self>,
        room: String,
        target: String,
        body: String,
        id: String,
    ) -> Result<JsValue, SdkError> {
        let target = match self.stored(&room, &target).await? {
            Some(ev) => ev.message_id.or(ev.origin_id).unwrap_or(target),
            None => target,
        };
        let cmd = Command::Edit {
            room,
            id,
            target,
            body,
        };
        self.post(cmd).await
    }

    /// The archive id of the message `target` names, for reactions.
    async fn archive_id(self: &Rc<Self>, room: &str, target: String) -> Result<String, SdkError> {
        Ok(match self.stored(room, &target).await? {
            Some(ev) => ev.stanza_id.unwrap_or(target),
            None => target,
        })
    }

    /// `retract(room, id)`: the retraction names the id we gave the message, its
    /// origin-id, which Converse.js matches (see [`crate::event::compose::retract`]).
    pub(super) async fn retract(
        self: &Rc<Self>,
        room: String,
        target: String,
        id: String,
    ) -> Result<JsValue, SdkError> {
        let target = match self.stored(&room, &target).await? {
            Some(ev) => ev
                .origin_id
                .or(ev.message_id)
                .or(ev.stanza_id)
                .unwrap_or(target),
            None => target,
        };
        let cmd = Command::Retract { room, id, target };
        self.post(cmd).await
    }

    /// `react(room, id, emojis)`.
    pub(super) async fn react(
        self: &Rc<Self>,
        room: String,
        target: String,
        emojis: Vec<String>,
        id: String,
    ) -> Result<JsValue, SdkError> {
        let stanza_id = self.archive_id(&room, target).await?;
        let cmd = Command::React {
            room,
            id,
            stanza_id,
            emojis,
        };
        self.post(cmd).await
    }

    /// `moderate(room, stanzaId, reason)`: resolves once the room accepted it.
    pub(super) async fn moderate(
        self: &Rc<Self>,
        room: String,
        stanza_id: String,
        reason: Option<String>,
    ) -> Result<JsValue, SdkError> {
        let cmd = Command::Moderate {
            room,
            stanza_id,
            reason,
        };
        match self.command(cmd).await? {
            CommandResult::Moderated { .. } => Ok(JsValue::UNDEFINED),
            other => Err(unexpected(other)),
        }
    }
}
