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
    /// The message id is drawn by the calling tab.
    Send {
        room: String,
        body: String,
        id: String,
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

impl Call {
    /// The method's name on the channel.
    fn name(&self) -> &'static str {
        match self {
            Call::Open => "open",
            Call::Connect => "connect",
            Call::Subscribe { .. } => "subscribe",
            Call::Unsubscribe { .. } => "unsubscribe",
            Call::Subscriptions => "subscriptions",
            Call::Subscribers { .. } => "subscribers",
            Call::Send { .. } => "send",
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
            Call::Send { room, body, id } => {
                put("room", room.into());
                put("body", body.into());
                put("id", id.into());
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
            "subscribe" => {
                let nodes = js_sys::Reflect::get(v, &"nodes".into()).ok()?;
                let nodes = js_sys::Array::from(&nodes)
                    .iter()
                    .map(|n| n.as_string())
                    .collect::<Option<Vec<_>>>()?;
                Call::Subscribe {
                    room: room()?,
                    nick: text(v, "nick")?,
                    nodes,
                    password: text(v, "password"),
                }
            }
            "unsubscribe" => Call::Unsubscribe { room: room()? },
            "subscribers" => Call::Subscribers { room: room()? },
            "send" => Call::Send {
                room: room()?,
                body: text(v, "body")?,
                id: text(v, "id")?,
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
    /// A message or a subject sent twice would be posted twice; everything else asks, or
    /// sets a state that the second time leaves as the first did.
    fn retry_safe(&self) -> bool {
        !matches!(self, Call::Send { .. } | Call::SetSubject { .. })
    }

    fn connects(&self) -> bool {
        matches!(self, Call::Connect)
    }
}
