//! The fields of issue 22 on a JavaScript `RoomEvent` (docs/js-api.md): what a message
//! carries once the store folded its corrections, retraction or moderation and reactions
//! into it, its reply target and occupant-id; and, on a `change` event, what it does to
//! the message it names. Declared to TypeScript by interface merging with `RoomEvent`.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::event::{Change, EventKind, Retraction, RoomEvent};

#[wasm_bindgen(typescript_custom_section)]
const TS_MODERN: &'static str = r#"
/** A retraction by the message's author (XEP-0424). */
export interface Retracted {
  reason?: string;
}

/** A moderator's retraction (XEP-0425). */
export interface Moderated {
  /** The moderator's occupant JID (`room@service/nick`). */
  by: string;
  /** The moderator's occupant-id, when the room gave it. */
  occupantId?: string;
  reason?: string;
}

export interface ReplyTo {
  /** The answered message's `stanzaId` (its `id` when it had none). */
  id: string;
  /** Its author's occupant JID, when given. */
  to?: string;
}

export interface RoomEvent {
  /** The sender's stable id in the room (XEP-0421), set by the room. */
  occupantId?: string;
  /** message: the message it answers (XEP-0461). */
  replyTo?: ReplyTo;
  /** message: its earlier bodies, the original first, when it was corrected (`body` is
   *  the current one). */
  edited?: string[];
  /** message: retracted by its author (its body is then empty); change: a retraction. */
  retracted?: Retracted;
  /** message: retracted by a moderator (its body is then empty); change: a moderation. */
  moderated?: Moderated;
  /** message: emoji → occupant-ids (nicks for senders without one) who reacted with it. */
  reactions?: Record<string, string[]>;
  /** change: the `stanzaId` or `id` of the message it changes. */
  target?: string;
  /** change: what it does (its fields: `body` for an edit, `retracted` / `moderated`,
   *  `emojis` for the sender's reactions, all of them, `[]` none). */
  change?: "edit" | "retract" | "moderate" | "react";
  emojis?: string[];
}

export interface SendOptions {
  /** Make the message a reply to this one (its `stanzaId` or `id`). */
  replyTo?: string;
}
"#;

/// A moderation for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsModerated {
    by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    occupant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// An author's retraction for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsRetracted {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// A reply target for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsReplyTo {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
}

/// The issue 22 fields of a `RoomEvent`, flattened into it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsModern {
    #[serde(skip_serializing_if = "Option::is_none")]
    occupant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<JsReplyTo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    edited: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retracted: Option<JsRetracted>,
    #[serde(skip_serializing_if = "Option::is_none")]
    moderated: Option<JsModerated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reactions: Option<crate::event::Reactions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    emojis: Option<Vec<String>>,
}

impl JsModern {
    /// The fields of `e`; for a correction, also its new body (the caller's `body`).
    pub fn of(e: &RoomEvent) -> (Self, Option<String>) {
        let mut out = JsModern {
            occupant_id: e.occupant_id.clone(),
            reply_to: e.reply_to.as_ref().map(|r| JsReplyTo {
                id: r.id.clone(),
                to: r.to.clone(),
            }),
            edited: Some(e.edited.clone()).filter(|v| !v.is_empty()),
            reactions: Some(e.reactions.clone()).filter(|r| !r.is_empty()),
            ..JsModern::default()
        };
        if let Some(r) = &e.retracted {
            out.retraction(r);
        }
        let mut body = None;
        if let EventKind::Change { target, change } = &e.kind {
            out.target = Some(target.clone());
            out.change = Some(match change {
                Change::Edit { body: new } => {
                    body = Some(new.clone());
                    "edit"
                }
                Change::Retract(r) => {
                    out.retraction(r);
                    if r.moderated.is_some() {
                        "moderate"
                    } else {
                        "retract"
                    }
                }
                Change::React { emojis } => {
                    out.emojis = Some(emojis.clone());
                    "react"
                }
            });
        }
        (out, body)
    }

    fn retraction(&mut self, r: &Retraction) {
        match &r.moderated {
            Some(m) => {
                self.moderated = Some(JsModerated {
                    by: m.by.clone(),
                    occupant_id: m.occupant_id.clone(),
                    reason: r.reason.clone(),
                })
            }
            None => {
                self.retracted = Some(JsRetracted {
                    reason: r.reason.clone(),
                })
            }
        }
    }
}
