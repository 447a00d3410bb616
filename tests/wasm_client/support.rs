//! Helpers shared by the browser client tests: a `Peer` is one account's `MucSubClient`
//! with its callbacks recorded, driven through the same Promises JavaScript gets.
#![allow(dead_code)] // each test file uses a different subset

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use mucsub::wasm::socket::sleep;
use mucsub::wasm::MucSubClient;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The server's WebSocket URL, fixed when the tests were built.
pub fn ws_url() -> &'static str {
    // A build error, not a skipped test, when the server URL is missing.
    env!(
        "MUCSUB_TEST_WS",
        "MUCSUB_TEST_WS must be set when these tests are built: run them through \
         tests/suites/browser-sdk.sh, which starts mucsub-server and sets it"
    )
}

fn random() -> u64 {
    (js_sys::Math::random() * 1e12) as u64
}

/// A room name no earlier run used.
pub fn fresh_room(tag: &str) -> String {
    format!("{tag}-{}@conference.localhost", random())
}

/// Await a Promise.
pub async fn call(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

/// `obj[key]`.
pub fn prop(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key]` as a string.
pub fn prop_str(obj: &JsValue, key: &str) -> Option<String> {
    prop(obj, key).as_string()
}

/// `obj[key]` as a number.
pub fn prop_f64(obj: &JsValue, key: &str) -> Option<f64> {
    prop(obj, key).as_f64()
}

/// `obj[key]` as an array of strings.
pub fn prop_strings(obj: &JsValue, key: &str) -> Vec<String> {
    array(&prop(obj, key))
        .iter()
        .filter_map(|v| v.as_string())
        .collect()
}

/// A JS array as a Vec.
pub fn array(v: &JsValue) -> Vec<JsValue> {
    v.dyn_ref::<Array>()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// `obj[key] = value`.
pub fn set(obj: &Object, key: &str, value: &JsValue) {
    Reflect::set(obj, &key.into(), value).unwrap();
}

/// `{nick}`.
pub fn nick_opts(nick: &str) -> JsValue {
    let o = Object::new();
    set(&o, "nick", &nick.into());
    o.into()
}

/// The error is a JS `Error` with this `code`.
pub fn assert_error(err: &JsValue, code: &str) {
    assert!(
        err.is_instance_of::<js_sys::Error>(),
        "not an Error: {err:?}"
    );
    assert_eq!(
        prop_str(err, "code").as_deref(),
        Some(code),
        "message: {:?}",
        prop_str(err, "message")
    );
}

type Recorder = Closure<dyn FnMut(JsValue)>;

/// One account's client with its `event`, `update`, `connection`, `sync`, `subscription`
/// and `error` callbacks recorded.
pub struct Peer {
    pub client: MucSubClient,
    pub store: String,
    pub events: Rc<RefCell<Vec<JsValue>>>,
    /// `update` callbacks: stored messages as a change left them.
    pub updates: Rc<RefCell<Vec<JsValue>>>,
    pub states: Rc<RefCell<Vec<String>>>,
    pub syncs: Rc<RefCell<Vec<JsValue>>>,
    pub subscriptions: Rc<RefCell<Vec<JsValue>>>,
    pub errors: Rc<RefCell<Vec<JsValue>>>,
    _recorders: Vec<Recorder>,
}

fn recorder(into: Rc<RefCell<Vec<JsValue>>>) -> Recorder {
    Closure::new(move |v: JsValue| into.borrow_mut().push(v))
}

impl Peer {
    /// A client for `user` on a fresh database.
    pub async fn new(user: &str) -> Peer {
        Self::build(user, "pw", &format!("client-{user}-{}", random()), None)
    }

    /// A client with a small resync page size.
    pub async fn with_options(user: &str, page_size: Option<u32>) -> Peer {
        Self::build(
            user,
            "pw",
            &format!("client-{user}-{}", random()),
            page_size,
        )
    }

    /// A client with another password.
    pub async fn with_password(user: &str, password: &str) -> Peer {
        Self::build(user, password, &format!("client-{user}-{}", random()), None)
    }

    /// A new client on an existing database (a page reload).
    pub async fn reopen(user: &str, store: &str) -> Peer {
        Self::build(user, "pw", store, None)
    }

    /// A new client on an existing database, with a resync page size.
    pub async fn reopen_with(user: &str, store: &str, page_size: Option<u32>) -> Peer {
        Self::build(user, "pw", store, page_size)
    }

    /// A client for `user` on a fresh database, bound to `resource`, signing in with what
    /// the `credentials` callback `f` gives.
    pub fn with_credentials(user: &str, resource: &str, f: &Function) -> Peer {
        let o = Self::options(user, &format!("client-{user}-{}", random()), None);
        set(&o, "credentials", f);
        set(&o, "resource", &resource.into());
        Self::from_options(o)
    }

    /// A password client for `user` bound to `resource`.
    pub fn with_resource(user: &str, resource: &str) -> Peer {
        let o = Self::options(user, &format!("client-{user}-{}", random()), None);
        set(&o, "password", &"pw".into());
        set(&o, "resource", &resource.into());
        Self::from_options(o)
    }

    fn options(user: &str, store: &str, page_size: Option<u32>) -> Object {
        let o = Object::new();
        set(&o, "url", &ws_url().into());
        set(&o, "jid", &format!("{user}@localhost").into());
        set(&o, "store", &store.into());
        if let Some(n) = page_size {
            set(&o, "pageSize", &n.into());
        }
        o
    }

    fn build(user: &str, password: &str, store: &str, page_size: Option<u32>) -> Peer {
        let o = Self::options(user, store, page_size);
        set(&o, "password", &password.into());
        Self::from_options(o)
    }

    fn from_options(o: Object) -> Peer {
        let store = prop_str(&o, "store").unwrap_or_default();
        let client = MucSubClient::new(o.into()).expect("valid options");
        let events: Rc<RefCell<Vec<JsValue>>> = Rc::default();
        let updates: Rc<RefCell<Vec<JsValue>>> = Rc::default();
        let syncs: Rc<RefCell<Vec<JsValue>>> = Rc::default();
        let errors: Rc<RefCell<Vec<JsValue>>> = Rc::default();
        let subscriptions: Rc<RefCell<Vec<JsValue>>> = Rc::default();
        let states: Rc<RefCell<Vec<String>>> = Rc::default();
        let s2 = states.clone();
        let state_rec: Recorder =
            Closure::new(move |v: JsValue| s2.borrow_mut().push(v.as_string().unwrap_or_default()));
        let recs = vec![
            recorder(events.clone()),
            recorder(syncs.clone()),
            recorder(errors.clone()),
            recorder(subscriptions.clone()),
            state_rec,
            recorder(updates.clone()),
        ];
        let names = [
            "event",
            "sync",
            "error",
            "subscription",
            "connection",
            "update",
        ];
        for (name, r) in names.iter().zip(&recs) {
            let f: &Function = r.as_ref().unchecked_ref();
            client.on(name, f.clone()).unwrap();
        }
        Peer {
            client,
            store,
            events,
            updates,
            states,
            syncs,
            subscriptions,
            errors,
            _recorders: recs,
        }
    }

    /// A client for `user` on a fresh database, connected and subscribed to `room` (every
    /// node) with its user name as nick.
    pub async fn subscribed(user: &str, room: &str) -> Peer {
        let p = Self::new(user).await;
        p.connect().await;
        p.subscribe(room, user).await;
        p
    }

    /// Connect or panic.
    pub async fn connect(&self) {
        if let Err(e) = call(self.client.connect()).await {
            panic!("connect failed: {:?}", prop_str(&e, "message"));
        }
    }

    /// Subscribe with every node.
    pub async fn subscribe(&self, room: &str, nick: &str) -> JsValue {
        match call(self.client.subscribe(room.into(), nick_opts(nick))).await {
            Ok(v) => v,
            Err(e) => panic!("subscribe failed: {:?}", prop_str(&e, "message")),
        }
    }

    /// Subscribe to some nodes.
    pub async fn subscribe_nodes(&self, room: &str, nick: &str, nodes: &[&str]) -> JsValue {
        let o = Object::new();
        set(&o, "nick", &nick.into());
        let arr: Array = nodes.iter().map(|n| JsValue::from_str(n)).collect();
        set(&o, "nodes", &arr);
        call(self.client.subscribe(room.into(), o.into()))
            .await
            .expect("subscribe")
    }

    /// Send or panic.
    pub async fn send(&self, room: &str, body: &str) -> JsValue {
        match call(self.client.send(room.into(), body.into(), None)).await {
            Ok(v) => v,
            Err(e) => panic!("send failed: {:?}", prop_str(&e, "message")),
        }
    }

    /// Wait (at most 30 s, only to avoid hanging) for an `event` callback matching `pred`.
    pub async fn wait_event(&self, pred: impl Fn(&JsValue) -> bool) -> JsValue {
        for _ in 0..600 {
            if let Some(e) = self.events.borrow().iter().find(|e| pred(e)) {
                return e.clone();
            }
            sleep(50.0).await;
        }
        panic!(
            "no matching event; got {} events, errors {:?}",
            self.events.borrow().len(),
            self.errors
                .borrow()
                .iter()
                .map(|e| prop_str(e, "message"))
                .collect::<Vec<_>>()
        );
    }

    /// Wait (at most 30 s, only to avoid hanging) for an `update` callback matching `pred`.
    pub async fn wait_update(&self, pred: impl Fn(&JsValue) -> bool) -> JsValue {
        for _ in 0..600 {
            if let Some(e) = self.updates.borrow().iter().find(|e| pred(e)) {
                return e.clone();
            }
            sleep(50.0).await;
        }
        panic!("no matching update; got {:?}", self.updates.borrow());
    }

    /// Wait (at most 30 s) until `cond` holds.
    pub async fn wait_until(&self, what: &str, cond: impl Fn(&Peer) -> bool) {
        for _ in 0..600 {
            if cond(self) {
                return;
            }
            sleep(50.0).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Connection states seen so far.
    pub fn states(&self) -> Vec<String> {
        self.states.borrow().clone()
    }

    /// Bodies of the message events seen so far, in callback order.
    /// Bodies of the events of one room: the account's offline queue may also hold other
    /// rooms' events from earlier tests on the same server.
    pub fn bodies_in(&self, room: &str) -> Vec<String> {
        self.events
            .borrow()
            .iter()
            .filter(|e| prop_str(e, "room").as_deref() == Some(room))
            .filter_map(|e| prop_str(e, "body"))
            .collect()
    }

    /// `close()`.
    pub async fn close(&self) {
        call(self.client.close()).await.expect("close");
    }
}
