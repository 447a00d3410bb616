//! The browser edge of [`crate::tabs`]: tabs of one app (one store name) share one client.
//! The tab holding the Web Lock `mucsub:<store>` (`navigator.locks`) leads and runs the
//! client; the others forward their calls to it and receive its callbacks over the
//! `BroadcastChannel` `mucsub:<store>`. The protocol (who leads, where a call runs, what
//! a hand-off does to calls in flight) is the sans-IO [`Tabs`]; this file only feeds it the
//! lock and channel and performs its effects.
//!
//! Why Web Locks + BroadcastChannel and not a SharedWorker: the lock is released by the
//! browser whatever way a tab goes (close, reload, navigation, crash, discard), which is
//! the hand-off signal we need, and the client keeps running in a page as before — with
//! the app's `credentials` callback (a function of the page, which a worker could not
//! call), its page-lifecycle and CSI handling, and no separate worker script for apps to
//! bundle and serve. Chromium on Android has no SharedWorker at all.
//!
//! Without `navigator.locks` or `BroadcastChannel` (an insecure context, an old browser)
//! each client leads alone, as before this module existed.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::keyed::{ById, KeySet, Keyed};
use crate::tabs::{Effect, Failure, TabId, Tabs, Wire};

use super::call::Call;
use super::error::{Code, SdkError};
use super::local::{oneshot, Reply};
use super::runtime::{random_id, Shared};
use super::shown::Shown;

type Core = Tabs<Call, JsValue>;
type Listener = Closure<dyn FnMut(MessageEvent)>;
type Task<T> = Pin<Box<dyn Future<Output = T>>>;

/// What the link needs of the client that holds it (`Inner`, src/wasm/calls.rs). A trait,
/// so that this file and the client do not import each other.
pub(super) trait Host {
    fn link(&self) -> &TabLink;
    fn shared(&self) -> &Shared;
    fn is_closed(&self) -> bool;
    /// Perform `call` in this tab.
    fn run(self: Rc<Self>, call: Call) -> Task<Result<JsValue, SdkError>>;
    /// This tab took the lead: fire the events and updates the old leader stored but never
    /// broadcast (of what this tab `seen` as a follower).
    fn replay_unseen(self: Rc<Self>, seen: Keyed<Seen>) -> Task<Result<(), SdkError>>;
}

/// This tab's end of the store's lock and channel.
pub(super) struct TabLink {
    core: RefCell<Core>,
    name: String,
    channel: Option<BroadcastChannel>,
    on_message: RefCell<Option<Listener>>,
    /// This tab's callers waiting for a result, by request id.
    waiting: RefCell<ById<Reply<Result<JsValue, SdkError>>>>,
    /// Resolving it releases the lock this tab holds.
    release: RefCell<Option<Function>>,
    /// The leader's events this tab fired while following, per room.
    seen: RefCell<Keyed<Seen>>,
    /// Messages posted during the current task, sent as one array at its end: a resync
    /// stores a page of events at a time, and one channel message per event cost every
    /// follower a task per event (tabs of one site may share a renderer's main thread).
    outbox: Rc<RefCell<Vec<JsValue>>>,
}

/// What a follower saw of a room: the ids (stanza and message ids) of the events it fired,
/// the newest timestamp among them, and the state of the messages it showed (its `event`
/// and `update` callbacks).
#[derive(Default)]
pub(super) struct Seen {
    pub(super) keys: KeySet,
    pub(super) newest: f64,
    pub(super) shown: Shown,
}

impl Seen {
    /// Whether an event with these ids was fired here.
    pub(super) fn has(&self, stanza_id: Option<&str>, id: Option<&str>) -> bool {
        [stanza_id, id]
            .into_iter()
            .flatten()
            .any(|k| self.keys.contains(k))
    }
}

/// The page's (or worker's) `navigator.locks`, when there is one.
fn lock_manager() -> Option<JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then_some(locks)
}

impl TabLink {
    /// The link of a client on `store`; [`TabLink::start`] begins the election.
    pub(super) fn new(store: &str) -> TabLink {
        let name = format!("mucsub:{store}");
        let me = random_id();
        let channel = lock_manager().and_then(|_| BroadcastChannel::new(&name).ok());
        let core = match &channel {
            Some(_) => Tabs::new(me),
            None => Tabs::alone(me),
        };
        TabLink {
            core: RefCell::new(core),
            name,
            channel,
            on_message: RefCell::new(None),
            waiting: RefCell::new(ById::new()),
            release: RefCell::new(None),
            seen: RefCell::new(Keyed::new()),
            outbox: Rc::default(),
        }
    }

    /// Listen on the channel, say hello and ask for the lock (or lead alone).
    pub(super) fn start(inner: Rc<dyn Host>) {
        let inner = &inner;
        let link = inner.link();
        let weak = Rc::downgrade(inner);
        let relay_to = weak.clone();
        inner.shared().set_relay(Box::new(move |name, value| {
            if let Some(inner) = relay_to.upgrade() {
                TabLink::relay(&inner, name, value);
            }
        }));
        let Some(channel) = &link.channel else {
            inner.shared().emit("role", &"leader".into());
            return;
        };
        let listener = weak.clone();
        let on_message: Listener = Closure::new(move |e: MessageEvent| {
            let Some(inner) = listener.upgrade() else {
                return;
            };
            // One array per task of the sender (`post`), in its order; a lone message is
            // read as one item (what a tab of an older build posts).
            let data = e.data();
            let items = if js_sys::Array::is_array(&data) {
                js_sys::Array::from(&data)
            } else {
                js_sys::Array::of1(&data)
            };
            for item in items.iter() {
                match decode(&item) {
                    Some(wire) => {
                        let effects = inner.link().core.borrow_mut().receive(wire);
                        TabLink::perform(&inner, effects);
                    }
                    None => web_sys::console::warn_1(
                        &"mucsub: an unreadable message between tabs".into(),
                    ),
                }
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        *link.on_message.borrow_mut() = Some(on_message);
        let hello = link.core.borrow().start();
        TabLink::perform(inner, hello);
        request_lock(&link.name, weak, true);
    }

    /// This tab's role as JS sees it (`undefined` before the election answered).
    pub(super) fn role(&self) -> Option<&'static str> {
        self.core.borrow().role().as_str()
    }

    /// Run `call` where it belongs: here when this tab leads, on the leader otherwise.
    pub(super) async fn call(inner: Rc<dyn Host>, call: Call) -> Result<JsValue, SdkError> {
        let inner = &inner;
        let (tx, rx) = oneshot();
        let effects = {
            let (req, effects) = inner.link().core.borrow_mut().call(call);
            inner.link().waiting.borrow_mut().insert(req, tx);
            effects
        };
        TabLink::perform(inner, effects);
        rx.await
            .unwrap_or_else(|| Err(SdkError::new(Code::NotConnected, "the client was closed")))
    }

    /// The client is being closed: waiting calls fail, nothing more is served. The lock
    /// is kept until [`TabLink::release`], after the driver stopped writing.
    pub(super) fn close(inner: Rc<dyn Host>) {
        let inner = &inner;
        let effects = inner.link().core.borrow_mut().close();
        TabLink::perform(inner, effects);
    }

    /// Let go of the lock and the channel: the next tab leads.
    pub(super) fn release(&self) {
        if let Some(c) = &self.channel {
            flush(&self.outbox, c);
        }
        if let Some(resolve) = self.release.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
        if let Some(c) = &self.channel {
            c.set_onmessage(None);
            c.close();
        }
        self.on_message.borrow_mut().take();
    }

    /// A callback of this tab's client: the followers get it too when it leads.
    fn relay(inner: &Rc<dyn Host>, name: &str, value: &JsValue) {
        let effects = {
            let mut core = inner.link().core.borrow_mut();
            match name {
                "connection" => match value.as_string() {
                    Some(s) => core.local_state(&s),
                    None => Vec::new(),
                },
                "event" | "update" | "sync" | "subscription" | "read" | "error" => {
                    core.local_event(name, value.clone())
                }
                _ => Vec::new(),
            }
        };
        TabLink::perform(inner, effects);
    }

    /// The lock answered: granted, or (asked `ifAvailable`) held by another tab.
    fn locked(inner: &Rc<dyn Host>, granted: bool) {
        let effects = inner.link().core.borrow_mut().lock_granted(granted);
        TabLink::perform(inner, effects);
    }

    fn perform(inner: &Rc<dyn Host>, effects: Vec<Effect<Call, JsValue>>) {
        let link = inner.link();
        for e in effects {
            match e {
                Effect::Post(w) => link.post(&w),
                // A call of this tab's own (`from` none) or of a follower: one future type
                // for both, not one each (issue 24, package size).
                Effect::Run { req, call } => TabLink::run(inner, None, req, call),
                Effect::Serve { from, req, call } => TabLink::run(inner, Some(from), req, call),
                Effect::Deliver { req, result } => link.deliver(req, result.map_err(sdk_error)),
                Effect::Emit { name, value } => {
                    if name == "event" || name == "update" {
                        link.saw(&name, &value);
                    }
                    inner.shared().emit(&name, &value);
                }
                Effect::State(s) => inner.shared().emit("connection", &s.into()),
                Effect::Role(r) => {
                    if let Some(r) = r.as_str() {
                        inner.shared().emit("role", &r.into());
                    }
                }
                Effect::Connect => {
                    let inner = inner.clone();
                    let seen = std::mem::take(&mut *link.seen.borrow_mut());
                    wasm_bindgen_futures::spawn_local(async move {
                        // First what the old leader stored but could not broadcast any more
                        // (it crashed between its commit and the message), then onwards.
                        let replayed = inner.clone().replay_unseen(seen).await;
                        if let Err(e) =
                            replayed.and(inner.clone().run(Call::Connect).await.map(|_| ()))
                        {
                            inner.shared().emit_error(&e);
                        }
                    });
                }
            }
        }
        // The client's callbacks are worth converting for the channel once a tab follows.
        inner.shared().set_relaying(link.core.borrow().followed());
    }

    /// Perform `call` here, then hand its result to this tab's caller (`from` none) or, as
    /// the leader, to the follower `from`.
    fn run(inner: &Rc<dyn Host>, from: Option<TabId>, req: u64, call: Call) {
        let inner = inner.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = inner.clone().run(call).await;
            match from {
                None => inner.link().deliver(req, result),
                Some(from) => {
                    let result = result.map_err(|e| failure(&e));
                    let effects = inner.link().core.borrow_mut().served(from, req, result);
                    TabLink::perform(&inner, effects);
                }
            }
        });
    }

    /// Remember an event or update (`name`) of the leader this follower fired.
    fn saw(&self, name: &str, event: &JsValue) {
        let Some(room) = get(event, "room").as_string() else {
            return;
        };
        let mut seen = self.seen.borrow_mut();
        let s = seen.get_or_insert_with(&room, Seen::default);
        s.shown.record(event);
        if name != "event" {
            return;
        }
        for key in ["stanzaId", "id"] {
            if let Some(k) = get(event, key).as_string() {
                s.keys.insert(k);
            }
        }
        if let Some(ts) = get(event, "timestamp").as_f64() {
            s.newest = s.newest.max(ts);
        }
    }

    fn deliver(&self, req: u64, result: Result<JsValue, SdkError>) {
        if let Some(reply) = self.waiting.borrow_mut().remove(req) {
            reply.send(result);
        }
    }

    /// Queue `w` for the channel; the first message of a task schedules the flush at its
    /// end (a microtask), so the task's messages leave together, in order.
    fn post(&self, w: &Wire<Call, JsValue>) {
        let Some(channel) = &self.channel else {
            return;
        };
        let first = {
            let mut out = self.outbox.borrow_mut();
            out.push(encode(w));
            out.len() == 1
        };
        if !first {
            return;
        }
        let (outbox, to) = (self.outbox.clone(), channel.clone());
        let flush_later = Closure::once_into_js(move || flush(&outbox, &to));
        let global = js_sys::global();
        let queued = Reflect::get(&global, &"queueMicrotask".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .map(|f| f.call1(&global, &flush_later));
        if !matches!(queued, Some(Ok(_))) {
            flush(&self.outbox, channel);
        }
    }
}

/// Post what `outbox` holds as one array.
fn flush(outbox: &RefCell<Vec<JsValue>>, channel: &BroadcastChannel) {
    let items: js_sys::Array = outbox.borrow_mut().drain(..).collect();
    if items.length() == 0 {
        return;
    }
    if let Err(e) = channel.post_message(&items) {
        web_sys::console::warn_2(&"mucsub: posting to other tabs failed".into(), &e);
    }
}

/// Ask for the store's lock: `if_available` at first (an answer at once: lead, or follow
/// and ask again, waiting). The lock is held until [`TabLink::release`] resolves the
/// promise the callback returns.
fn request_lock(name: &str, inner: Weak<dyn Host>, if_available: bool) {
    let Some(locks) = lock_manager() else {
        return;
    };
    let lock_name = name.to_owned();
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let Some(strong) = inner.upgrade() else {
            return JsValue::UNDEFINED;
        };
        if lock.is_null() {
            TabLink::locked(&strong, false);
            request_lock(&lock_name, inner, false);
            return JsValue::UNDEFINED;
        }
        if strong.is_closed() {
            // Granted after close(): hand it straight on.
            return JsValue::UNDEFINED;
        }
        let held = Promise::new(&mut |resolve, _reject| {
            *strong.link().release.borrow_mut() = Some(resolve);
        });
        TabLink::locked(&strong, true);
        held.into()
    });
    let options = Object::new();
    if if_available {
        let _ = Reflect::set(&options, &"ifAvailable".into(), &true.into());
    }
    let request = Reflect::get(&locks, &"request".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok());
    let Some(request) = request else {
        return;
    };
    // The promise it returns settles when the lock is let go; nothing waits on it (the
    // callback never throws, so it never rejects).
    if let Err(e) = request.call3(&locks, &name.into(), &options, &callback) {
        web_sys::console::warn_2(&"mucsub: navigator.locks.request failed".into(), &e);
    }
}

fn failure(e: &SdkError) -> Failure {
    Failure {
        code: e.code.as_str().to_owned(),
        message: e.message.clone(),
    }
}

fn sdk_error(f: Failure) -> SdkError {
    SdkError::new(Code::parse(&f.code), f.message)
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    // Setting a property of a fresh plain object cannot fail.
    let _ = Reflect::set(obj, &key.into(), value);
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// A failure as a plain object: an `Error` loses its `code` on the way through a channel.
fn failure_js(f: &Failure) -> JsValue {
    let o = Object::new();
    set(&o, "code", &f.code.as_str().into());
    set(&o, "message", &f.message.as_str().into());
    o.into()
}

fn failure_of(v: &JsValue) -> Option<Failure> {
    Some(Failure {
        code: get(v, "code").as_string()?,
        message: get(v, "message").as_string().unwrap_or_default(),
    })
}

/// A message as the structured-clonable object posted on the channel.
fn encode(w: &Wire<Call, JsValue>) -> JsValue {
    let o = Object::new();
    let (t, from) = match w {
        Wire::Hello { from } => ("hello", from),
        Wire::Leader { from, state } => {
            if let Some(s) = state {
                set(&o, "state", &s.as_str().into());
            }
            ("leader", from)
        }
        Wire::Request {
            from,
            to,
            req,
            call,
        } => {
            set(&o, "to", &to.as_str().into());
            set(&o, "req", &(*req as f64).into());
            set(&o, "call", &call.to_js());
            ("req", from)
        }
        Wire::Response {
            from,
            to,
            req,
            result,
        } => {
            set(&o, "to", &to.as_str().into());
            set(&o, "req", &(*req as f64).into());
            match result {
                Ok(v) => set(&o, "ok", v),
                Err(f) => set(&o, "err", &failure_js(f)),
            }
            ("res", from)
        }
        Wire::Event { from, name, value } => {
            set(&o, "name", &name.as_str().into());
            let value = match (name.as_str(), value.dyn_ref::<js_sys::Error>()) {
                ("error", Some(_)) => failure_js(&Failure {
                    code: get(value, "code").as_string().unwrap_or_default(),
                    message: get(value, "message").as_string().unwrap_or_default(),
                }),
                _ => value.clone(),
            };
            set(&o, "value", &value);
            ("ev", from)
        }
        Wire::State { from, state } => {
            set(&o, "state", &state.as_str().into());
            ("state", from)
        }
    };
    set(&o, "t", &t.into());
    set(&o, "from", &from.as_str().into());
    o.into()
}

/// A message from the channel; `None` when it is not one of ours.
fn decode(v: &JsValue) -> Option<Wire<Call, JsValue>> {
    let from = get(v, "from").as_string()?;
    let string = |k: &str| get(v, k).as_string();
    let req = || get(v, "req").as_f64().map(|n| n as u64);
    Some(match string("t")?.as_str() {
        "hello" => Wire::Hello { from },
        "leader" => Wire::Leader {
            from,
            state: string("state"),
        },
        "req" => Wire::Request {
            from,
            to: string("to")?,
            req: req()?,
            call: Call::from_js(&get(v, "call"))?,
        },
        "res" => {
            let err = get(v, "err");
            let result = if err.is_undefined() {
                Ok(get(v, "ok"))
            } else {
                Err(failure_of(&err)?)
            };
            Wire::Response {
                from,
                to: string("to")?,
                req: req()?,
                result,
            }
        }
        "ev" => {
            let name = string("name")?;
            let value = get(v, "value");
            let value = match name.as_str() {
                "error" => sdk_error(failure_of(&value)?).to_js(),
                _ => value,
            };
            Wire::Event { from, name, value }
        }
        "state" => Wire::State {
            from,
            state: string("state")?,
        },
        _ => return None,
    })
}
