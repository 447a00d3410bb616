//! One `MucSubClient` method call as a value ([`Call`]): what a follower tab forwards to the
//! leader over the store's channel (src/wasm/tabs.rs), and what the leader performs
//! (src/wasm/calls.rs).

use wasm_bindgen::JsValue;

/// One `MucSubClient` method call, its arguments checked by the tab that was called. Between
/// tabs it travels as a plain object (`to_js` / `from_js`), written by hand: a serde derive
/// of this internally tagged enum cost about 20 KB of the gzipped package.
#[derive(Debug, Clone)]
pub(super) enum Call {
    Open,
    Connect,
    Subscribe {
        room: String,
        nick: String,
        /// Short node names; empty: all.
        nodes: Vec<String>,
        password: Option<String>,
    },
    Unsubscribe {
        room: String,
    },
    Subscriptions,
    Subscribers {
        room: String,
    },
    /// The message id is drawn by the calling tab; `reply_to` names the answered message.
    Send {
        room: String,
        body: String,
        id: String,
        reply_to: Option<String>,
    },
    /// Correct our message `target` (its `id` or `stanzaId`) to `body`.
    Edit {
        room: String,
        target: String,
        body: String,
        id: String,
    },
    /// Retract our message `target`.
    Retract {
        room: String,
        target: String,
        id: String,
    },
    /// Our reactions to `target` become `emojis`.
    React {
        room: String,
        target: String,
        emojis: Vec<String>,
        id: String,
    },
    /// Moderate anyone's message `stanza_id`.
    Moderate {
        room: String,
        stanza_id: String,
        reason: Option<String>,
    },
    SetSubject {
        room: String,
        subject: String,
        id: String,
    },
    MarkRead {
        room: String,
        up_to: Option<String>,
    },
    History {
        room: String,
        before: Option<String>,
        limit: usize,
    },
    Resync,
    /// Revoke the device's FAST token and forget it (`signOut()`): the leader does it, as
    /// the one tab whose driver may save a token.
    SignOut,
}

/// `obj[key]` as a string, when it is one.
fn text(obj: &JsValue, key: &str) -> Option<String> {
    js_sys::Reflect::get(obj, &key.into()).ok()?.as_string()
}

/// `obj[key]` as an array of strings, when it is one.
fn strings(obj: &JsValue, key: &str) -> Option<Vec<String>> {
    let list = js_sys::Reflect::get(obj, &key.into()).ok()?;
    if !js_sys::Array::is_array(&list) {
        return None;
    }
    js_sys::Array::from(&list)
        .iter()
        .map(|n| n.as_string())
        .collect()
}

impl Call {
    /// The method's name on the channel.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Call::Open => "open",
            Call::Connect => "connect",
            Call::Subscribe { .. } => "subscribe",
            Call::Unsubscribe { .. } => "unsubscribe",
            Call::Subscriptions => "subscriptions",
            Call::Subscribers { .. } => "subscribers",
            Call::Send { .. } => "send",
            Call::Edit { .. } => "edit",
            Call::Retract { .. } => "retract",
            Call::React { .. } => "react",
            Call::Moderate { .. } => "moderate",
            Call::SetSubject { .. } => "setSubject",
            Call::MarkRead { .. } => "markRead",
            Call::History { .. } => "history",
            Call::Resync => "resync",
            Call::SignOut => "signOut",
        }
    }

    /// The call as a structured-clonable object: `{m, …arguments}`.
    pub(super) fn to_js(&self) -> JsValue {
        let o = js_sys::Object::new();
        let put = |k: &str, v: JsValue| {
            // Setting a property of a fresh plain object cannot fail.
            let _ = js_sys::Reflect::set(&o, &k.into(), &v);
        };
        let opt = |v: &Option<String>| v.as_deref().map_or(JsValue::UNDEFINED, JsValue::from);
        put("m", self.name().into());
        match self {
            Call::Open | Call::Connect | Call::Subscriptions | Call::Resync | Call::SignOut => {}
            Call::Subscribe {
                room,
                nick,
                nodes,
                password,
            } => {
                put("room", room.into());
                put("nick", nick.into());
                let list: js_sys::Array = nodes.iter().map(|n| JsValue::from(n.as_str())).collect();
                put("nodes", list.into());
                put("password", opt(password));
            }
            Call::Unsubscribe { room } | Call::Subscribers { room } => put("room", room.into()),
            Call::Send {
                room,
                body,
                id,
                reply_to,
            } => {
                put("room", room.into());
                put("body", body.into());
                put("id", id.into());
                put("replyTo", opt(reply_to));
            }
            Call::Edit {
                room,
                target,
                body,
                id,
            } => {
                put("room", room.into());
                put("target", target.into());
                put("body", body.into());
                put("id", id.into());
            }
            Call::Retract { room, target, id } => {
                put("room", room.into());
                put("target", target.into());
                put("id", id.into());
            }
            Call::React {
                room,
                target,
                emojis,
                id,
            } => {
                put("room", room.into());
                put("target", target.into());
                let list: js_sys::Array =
                    emojis.iter().map(|e| JsValue::from(e.as_str())).collect();
                put("emojis", list.into());
                put("id", id.into());
            }
            Call::Moderate {
                room,
                stanza_id,
                reason,
            } => {
                put("room", room.into());
                put("stanzaId", stanza_id.into());
                put("reason", opt(reason));
            }
            Call::SetSubject { room, subject, id } => {
                put("room", room.into());
                put("subject", subject.into());
                put("id", id.into());
            }
            Call::MarkRead { room, up_to } => {
                put("room", room.into());
                put("upTo", opt(up_to));
            }
            Call::History {
                room,
                before,
                limit,
            } => {
                put("room", room.into());
                put("before", opt(before));
                put("limit", (*limit as f64).into());
            }
        }
        o.into()
    }

    /// A call another tab sent; `None` when it is not one.
    pub(super) fn from_js(v: &JsValue) -> Option<Call> {
        let room = || text(v, "room");
        Some(match text(v, "m")?.as_str() {
            "open" => Call::Open,
            "connect" => Call::Connect,
            "subscriptions" => Call::Subscriptions,
            "resync" => Call::Resync,
            "signOut" => Call::SignOut,
            "subscribe" => Call::Subscribe {
                room: room()?,
                nick: text(v, "nick")?,
                nodes: strings(v, "nodes")?,
                password: text(v, "password"),
            },
            "unsubscribe" => Call::Unsubscribe { room: room()? },
            "subscribers" => Call::Subscribers { room: room()? },
            "send" => Call::Send {
                room: room()?,
                body: text(v, "body")?,
                id: text(v, "id")?,
                reply_to: text(v, "replyTo"),
            },
            "edit" => Call::Edit {
                room: room()?,
                target: text(v, "target")?,
                body: text(v, "body")?,
                id: text(v, "id")?,
            },
            "retract" => Call::Retract {
                room: room()?,
                target: text(v, "target")?,
                id: text(v, "id")?,
            },
            "react" => Call::React {
                room: room()?,
                target: text(v, "target")?,
                emojis: strings(v, "emojis")?,
                id: text(v, "id")?,
            },
            "moderate" => Call::Moderate {
                room: room()?,
                stanza_id: text(v, "stanzaId")?,
                reason: text(v, "reason"),
            },
            "setSubject" => Call::SetSubject {
                room: room()?,
                subject: text(v, "subject")?,
                id: text(v, "id")?,
            },
            "markRead" => Call::MarkRead {
                room: room()?,
                up_to: text(v, "upTo"),
            },
            "history" => Call::History {
                room: room()?,
                before: text(v, "before"),
                limit: js_sys::Reflect::get(v, &"limit".into()).ok()?.as_f64()? as usize,
            },
            _ => return None,
        })
    }
}

impl crate::tabs::Call for Call {
    /// A message, a subject, a correction, a retraction, a reaction or a moderation sent
    /// twice would be posted twice; everything else asks, or sets a state that the second
    /// time leaves as the first did.
    fn retry_safe(&self) -> bool {
        !matches!(
            self,
            Call::Send { .. }
                | Call::SetSubject { .. }
                | Call::Edit { .. }
                | Call::Retract { .. }
                | Call::React { .. }
                | Call::Moderate { .. }
        )
    }

    fn connects(&self) -> bool {
        matches!(self, Call::Connect)
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use wasm_bindgen_test::*;

    use super::Call;

    wasm_bindgen_test_configure!(run_in_browser);

    /// What a follower tab forwards is the call the leader performs: every call of issue
    /// 22 (and a plain send) survives the trip as a plain object.
    #[wasm_bindgen_test]
    fn change_calls_travel_between_tabs_unchanged() {
        let room = "r@conference.localhost".to_string();
        let calls = [
            Call::Send {
                room: room.clone(),
                body: "hi".into(),
                id: "m1".into(),
                reply_to: None,
            },
            Call::Send {
                room: room.clone(),
                body: "yes".into(),
                id: "m2".into(),
                reply_to: Some("s1".into()),
            },
            Call::Edit {
                room: room.clone(),
                target: "m1".into(),
                body: "hello".into(),
                id: "m3".into(),
            },
            Call::Retract {
                room: room.clone(),
                target: "s1".into(),
                id: "m4".into(),
            },
            Call::React {
                room: room.clone(),
                target: "s1".into(),
                emojis: vec!["👍".into(), "🎉".into()],
                id: "m5".into(),
            },
            Call::React {
                room: room.clone(),
                target: "s1".into(),
                emojis: Vec::new(),
                id: "m6".into(),
            },
            Call::Moderate {
                room: room.clone(),
                stanza_id: "s2".into(),
                reason: Some("spam".into()),
            },
            Call::Moderate {
                room,
                stanza_id: "s3".into(),
                reason: None,
            },
        ];
        for call in calls {
            let back = Call::from_js(&call.to_js()).expect("a call");
            assert_eq!(format!("{back:?}"), format!("{call:?}"));
        }
    }
}
