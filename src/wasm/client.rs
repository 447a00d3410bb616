//! `MucSubClient`, the class JavaScript uses (docs/js-api.md). Every method checks its
//! arguments into a [`Call`] and returns a Promise of its result; the call runs in the tab
//! that leads the store (src/wasm/tabs.rs), on its driver (src/wasm/calls.rs).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;

use super::call::Call;
use super::calls::{Inner, State};
use super::error::{Code, SdkError};
use super::js_args::{get_number, get_string, js_promise, parse_options, required};
use super::js_types::parse_node_names;
use super::local::oneshot;
use super::runtime::{random_id, Job, Options, Shared};
use super::tabs::TabLink;
use super::user_jid::user_jid;

#[wasm_bindgen]
extern "C" {
    /// `HistoryOptions` from JavaScript; a named type so the argument is optional in TS.
    #[wasm_bindgen(typescript_type = "HistoryOptions")]
    pub type HistoryOptionsArg;

    /// `SendOptions` from JavaScript, optional in TS.
    #[wasm_bindgen(typescript_type = "SendOptions")]
    pub type SendOptionsArg;
}

/// Default history page size.
const DEFAULT_LIMIT: usize = 50;
/// Largest history page one call returns.
const MAX_LIMIT: usize = 500;

/// A MucSub client: one account, one IndexedDB database, one WebSocket — shared by every
/// tab of the app that uses the same store (src/wasm/tabs.rs).
#[wasm_bindgen]
pub struct MucSubClient {
    inner: Rc<Inner>,
}

impl MucSubClient {
    /// A Promise of `call`'s result, wherever it runs.
    fn call(&self, call: Result<Call, SdkError>) -> Promise {
        let inner = self.inner.clone();
        js_promise(Box::pin(async move {
            match TabLink::call(inner, call?).await {
                Ok(v) => Ok(v),
                Err(e) => Err(e.to_js()),
            }
        }))
    }
}

#[wasm_bindgen]
impl MucSubClient {
    /// `new MucSubClient({url, jid, password, store, resource?})`. Throws a `MucSubError`
    /// (`bad-request`, `jid-malformed`) on unusable options. Starts the election among the
    /// tabs of the same `store`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ClientOptions")] options: JsValue,
    ) -> Result<MucSubClient, JsValue> {
        let opts = parse_options(&options)?;
        let link = TabLink::new(&opts.store);
        let inner = Rc::new(Inner {
            opts,
            shared: Shared::new(),
            state: RefCell::new(State {
                store: None,
                running: false,
                closed: false,
                page: None,
            }),
            push: Rc::default(),
            link,
        });
        TabLink::start(inner.clone());
        Ok(MucSubClient { inner })
    }

    /// Register a callback for `event`, `connection`, `sync`, `subscription`, `error` or
    /// `role`.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, name: &str, callback: Function) -> Result<(), JsValue> {
        check_event_name(name)?;
        self.inner.shared.on(name, callback);
        Ok(())
    }

    /// Remove a callback.
    #[wasm_bindgen(skip_typescript)]
    pub fn off(&self, name: &str, callback: Function) -> Result<(), JsValue> {
        check_event_name(name)?;
        self.inner.shared.off(name, &callback);
        Ok(())
    }

    /// `"leader"` when this tab runs the connection for the store, `"follower"` when
    /// another tab does; `undefined` until the election answered (just after `new`) and
    /// after `close()`.
    #[wasm_bindgen(getter, unchecked_return_type = "TabRole | undefined")]
    pub fn role(&self) -> JsValue {
        self.inner
            .link
            .role()
            .map(JsValue::from)
            .unwrap_or(JsValue::UNDEFINED)
    }

    /// Open the store (stored rooms and messages are readable before `connect`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn open(&self) -> Promise {
        self.call(Ok(Call::Open))
    }

    /// Connect, authenticate, bind, go available, reconcile subscriptions and start the
    /// resync; resolves when online.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> Promise {
        self.call(Ok(Call::Connect))
    }

    /// Subscribe to `room` (created when it does not exist and the server allows it).
    #[wasm_bindgen(unchecked_return_type = "Promise<Subscription>")]
    pub fn subscribe(
        &self,
        room: String,
        #[wasm_bindgen(unchecked_param_type = "SubscribeOptions")] options: JsValue,
    ) -> Promise {
        let room = user_jid(room);
        self.call(subscribe_call(room, &options))
    }

    /// Unsubscribe from `room`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn unsubscribe(&self, room: String) -> Promise {
        let room = user_jid(room);
        self.call(Ok(Call::Unsubscribe { room }))
    }

    /// The account's subscriptions: from the server when online, from the store otherwise.
    #[wasm_bindgen(unchecked_return_type = "Promise<Subscription[]>")]
    pub fn subscriptions(&self) -> Promise {
        self.call(Ok(Call::Subscriptions))
    }

    /// A room's subscribers.
    #[wasm_bindgen(unchecked_return_type = "Promise<Subscriber[]>")]
    pub fn subscribers(&self, room: String) -> Promise {
        let room = user_jid(room);
        self.call(Ok(Call::Subscribers { room }))
    }

    /// Post `body` to `room` without joining it; `{replyTo}` (the answered message's
    /// `stanzaId` or `id`) makes it a reply (XEP-0461).
    #[wasm_bindgen(unchecked_return_type = "Promise<SendResult>")]
    pub fn send(&self, room: String, body: String, options: Option<SendOptionsArg>) -> Promise {
        let room = user_jid(room);
        self.call(send_call(room, body, options))
    }

    /// Correct our message `id` (its `id` or `stanzaId`) to `body` (XEP-0308). Resolves
    /// with the correction's own id once sent; the room refuses (an `error` callback) a
    /// correction of someone else's message.
    #[wasm_bindgen(unchecked_return_type = "Promise<SendResult>")]
    pub fn edit(&self, room: String, id: String, body: String) -> Promise {
        let room = user_jid(room);
        let call = non_empty(&id, "id")
            .and(non_empty(&body, "body"))
            .map(|()| Call::Edit {
                room,
                target: id,
                body,
                id: random_id(),
            });
        self.call(call)
    }

    /// Retract our message `id` (its `stanzaId` or `id`; XEP-0424).
    #[wasm_bindgen(unchecked_return_type = "Promise<SendResult>")]
    pub fn retract(&self, room: String, id: String) -> Promise {
        let room = user_jid(room);
        let call = non_empty(&id, "id").map(|()| Call::Retract {
            room,
            target: id,
            id: random_id(),
        });
        self.call(call)
    }

    /// Our reactions to message `id` (its `stanzaId` or `id`) become `emojis` (XEP-0444:
    /// the whole set each time; `[]` takes them all back).
    #[wasm_bindgen(unchecked_return_type = "Promise<SendResult>")]
    pub fn react(
        &self,
        room: String,
        id: String,
        #[wasm_bindgen(unchecked_param_type = "string[]")] emojis: JsValue,
    ) -> Promise {
        let room = user_jid(room);
        let call = non_empty(&id, "id").and_then(|()| {
            let emojis: Vec<String> = super::js_de::from_value(emojis)
                .map_err(|_| SdkError::bad_request("emojis must be an array of strings"))?;
            if emojis.iter().any(String::is_empty) {
                return Err(SdkError::bad_request("an emoji must not be empty"));
            }
            Ok(Call::React {
                room,
                target: id,
                emojis,
                id: random_id(),
            })
        });
        self.call(call)
    }

    /// As a moderator, retract anyone's message `stanzaId` (XEP-0425), with an optional
    /// `reason`. Resolves once the room accepted it; `forbidden` without the role.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn moderate(
        &self,
        room: String,
        #[wasm_bindgen(js_name = "stanzaId")] stanza_id: String,
        reason: Option<String>,
    ) -> Promise {
        let room = user_jid(room);
        let call = non_empty(&stanza_id, "stanzaId").map(|()| Call::Moderate {
            room,
            stanza_id,
            reason: reason.filter(|r| !r.is_empty()),
        });
        self.call(call)
    }

    /// Change the subject of `room`.
    #[wasm_bindgen(js_name = setSubject, unchecked_return_type = "Promise<void>")]
    pub fn set_subject(&self, room: String, subject: String) -> Promise {
        let room = user_jid(room);
        let id = random_id();
        self.call(Ok(Call::SetSubject { room, subject, id }))
    }

    /// Mark `room` read up to and including the stored event whose `stanzaId` (or, for an
    /// event without one yet, `id`) is `up_to_id`, or up to the newest stored event. The
    /// marker is stored with the room's events and never moves back; `unread` in
    /// [`subscriptions`](Self::subscriptions) counts the messages after it that we did not
    /// send. `item-not-found` when no stored event has that id.
    #[wasm_bindgen(js_name = markRead, unchecked_return_type = "Promise<void>")]
    pub fn mark_read(&self, room: String, up_to_id: Option<String>) -> Promise {
        let room = user_jid(room);
        let up_to = up_to_id.filter(|id| !id.is_empty());
        self.call(Ok(Call::MarkRead { room, up_to }))
    }

    /// Older events of `room`: `{before?: stanzaId, limit?: number}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<HistoryPage>")]
    pub fn history(&self, room: String, options: Option<HistoryOptionsArg>) -> Promise {
        let room = user_jid(room);
        self.call(history_call(room, options))
    }

    /// Resync every subscribed room now; resolves when all are in sync.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncSummary>")]
    pub fn resync(&self) -> Promise {
        self.call(Ok(Call::Resync))
    }

    /// Close the connection (with a proper `<close/>`) and the store. The client cannot be
    /// used afterwards. In the tab that leads, the next tab of the store takes over.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let inner = self.inner.clone();
        js_promise(Box::pin(async move {
            shut(inner).await;
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Sign out: revoke this device's FAST token on the server (XEP-0484 `invalidate`) and
    /// forget it, so the next sign-in needs the password, then close this client. The tab
    /// that leads the store does the revoking (for every tab of the store: the others ask
    /// for credentials at their next sign-in). The stored rooms and messages stay. The token
    /// is forgotten even when the server cannot be reached (the promise then rejects with
    /// that error, after the close).
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<void>")]
    pub fn sign_out(&self) -> Promise {
        let inner = self.inner.clone();
        js_promise(Box::pin(async move {
            let revoked = TabLink::call(inner.clone(), Call::SignOut).await;
            shut(inner).await;
            match revoked {
                Ok(_) => Ok(JsValue::UNDEFINED),
                Err(e) => Err(e.to_js()),
            }
        }))
    }
}

/// Stops this tab's client: its driver (closing the stream politely) and store when it
/// leads, then its link to the other tabs; the next tab of the store takes over.
async fn shut(inner: Rc<Inner>) {
    if inner.is_closed() {
        return;
    }
    TabLink::close(inner.clone());
    let running = inner.state.borrow().running;
    if running {
        let (tx, rx) = oneshot();
        inner.shared.queue.push(Job::Close(tx));
        rx.await;
    }
    {
        let mut st = inner.state.borrow_mut();
        st.closed = true;
        st.page = None;
        st.store = None;
    }
    inner.shared.queue.close();
    // Only now, with nothing more written here, may another tab lead.
    inner.link.release();
}

/// `subscribe(room, {nick, nodes?, password?})` checked.
fn subscribe_call(room: String, options: &JsValue) -> Result<Call, SdkError> {
    if !options.is_object() {
        return Err(SdkError::bad_request(
            "subscribe(room, {nick}) needs options",
        ));
    }
    let nick = required(options, "nick")?;
    let password = get_string(options, "password")?;
    let nodes_js = Reflect::get(options, &"nodes".into()).unwrap_or(JsValue::UNDEFINED);
    let nodes = if nodes_js.is_undefined() || nodes_js.is_null() {
        Vec::new()
    } else {
        let names: Vec<String> = super::js_de::from_value(nodes_js)
            .map_err(|_| SdkError::bad_request("nodes must be an array of strings"))?;
        if parse_node_names(&names)?.is_empty() {
            // The core reads an empty list as "all"; an explicit empty list from the
            // app is more likely a mistake than a wish for no events.
            return Err(SdkError::bad_request("nodes must not be empty"));
        }
        names
    };
    Ok(Call::Subscribe {
        room,
        nick,
        nodes,
        password,
    })
}

/// `Err(bad-request)` when the argument `what` is empty.
fn non_empty(value: &str, what: &str) -> Result<(), SdkError> {
    if value.is_empty() {
        Err(SdkError::bad_request(format!("{what} must not be empty")))
    } else {
        Ok(())
    }
}

/// `send(room, body, {replyTo?})` checked.
fn send_call(
    room: String,
    body: String,
    options: Option<SendOptionsArg>,
) -> Result<Call, SdkError> {
    non_empty(&body, "the message body")?;
    let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
    let reply_to = get_string(&options, "replyTo")?.filter(|r| !r.is_empty());
    Ok(Call::Send {
        room,
        body,
        id: random_id(),
        reply_to,
    })
}

/// `history(room, {before?, limit?})` checked.
fn history_call(room: String, options: Option<HistoryOptionsArg>) -> Result<Call, SdkError> {
    let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
    let (before, limit) = if options.is_object() {
        let before = get_string(&options, "before")?.filter(|b| !b.is_empty());
        let limit = get_number(&options, "limit")?.map(|n| n as usize);
        (before, limit)
    } else {
        (None, None)
    };
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    Ok(Call::History {
        room,
        before,
        limit,
    })
}

impl MucSubClient {
    /// What the push calls (src/wasm/push.rs) need; `not-connected` once closed.
    pub(super) fn push_context(&self) -> Result<(Options, Rc<super::push::PushState>), SdkError> {
        if self.inner.is_closed() {
            return Err(SdkError::new(Code::NotConnected, "the client was closed"));
        }
        Ok((self.inner.opts.clone(), self.inner.push.clone()))
    }
}

impl Drop for MucSubClient {
    /// `free()` without `close()` (or a page going away): stop at once, as a reload would —
    /// no `<close/>`, whatever the driver was doing is abandoned between two jobs.
    fn drop(&mut self) {
        TabLink::close(self.inner.clone());
        {
            let mut st = self.inner.state.borrow_mut();
            st.closed = true;
            st.page = None;
            st.store = None;
        }
        self.inner.shared.queue.close();
        self.inner.link.release();
    }
}

fn check_event_name(name: &str) -> Result<(), SdkError> {
    match name {
        "event" | "update" | "connection" | "sync" | "subscription" | "read" | "error" | "role" => {
            Ok(())
        }
        other => Err(SdkError::bad_request(format!(
            "unknown event name {other:?} (event, update, connection, sync, subscription, read, error, role)"
        ))),
    }
}
