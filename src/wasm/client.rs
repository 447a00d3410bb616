//! `MucSubClient`, the class JavaScript uses (docs/js-api.md). Every command returns a
//! Promise; the work happens in the runtime's driver task.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::client::{Command, CommandResult};
use crate::store::{Own, Store};

use super::device;
use super::error::{Code, SdkError};
use super::idb_store::IdbStore;
use super::js_args::{get_number, get_string, parse_options, promise, required};
use super::js_types::{
    node_names, parse_node_names, JsHistoryPage, JsRoomEvent, JsSendResult, JsSubscriber,
    JsSubscription,
};
use super::local::{oneshot, Reply};
use super::page::PageWatch;
use super::runtime::{self, random_id, Job, Options, Shared};

#[wasm_bindgen]
extern "C" {
    /// `HistoryOptions` from JavaScript; a named type so the argument is optional in TS.
    #[wasm_bindgen(typescript_type = "HistoryOptions")]
    pub type HistoryOptionsArg;
}

/// Default history page size.
const DEFAULT_LIMIT: usize = 50;
/// Largest history page one call returns.
const MAX_LIMIT: usize = 500;

struct State {
    store: Option<Rc<IdbStore>>,
    running: bool,
    closed: bool,
    page: Option<PageWatch>,
}

struct Inner {
    opts: Options,
    shared: Rc<Shared>,
    state: RefCell<State>,
    push: Rc<super::push::PushState>,
}

/// A MucSub client: one account, one IndexedDB database, one WebSocket.
#[wasm_bindgen]
pub struct MucSubClient {
    inner: Rc<Inner>,
}

impl Inner {
    async fn open(self: &Rc<Self>) -> Result<Rc<IdbStore>, SdkError> {
        if let Some(s) = self.state.borrow().store.clone() {
            return Ok(s);
        }
        if self.state.borrow().closed {
            return Err(SdkError::new(Code::NotConnected, "the client was closed"));
        }
        let store = IdbStore::open(&self.opts.store).await?;
        let me = self.opts.jid.to_string();
        match store.account().await? {
            Some(owner) if owner != me => {
                return Err(SdkError::bad_request(format!(
                    "store '{}' holds the data of {owner}, not {me}",
                    self.opts.store
                )))
            }
            Some(_) => {}
            None => store.set_account(&me).await?,
        }
        let snapshot = store.load().await.map_err(|e| SdkError::store(e.0))?;
        let wake = device::wake(store.load_wake().await?, self.opts.resource.as_deref());
        let store = Rc::new(store);
        let mut st = self.state.borrow_mut();
        // Two concurrent open() calls: the first to finish wins, the other's connection
        // is dropped here.
        if let Some(s) = st.store.clone() {
            return Ok(s);
        }
        st.store = Some(store.clone());
        if !st.running {
            st.running = true;
            runtime::spawn(
                self.shared.clone(),
                self.opts.clone(),
                store.clone(),
                snapshot,
                wake,
                device::saver(store.clone(), self.shared.clone()),
            );
            st.page = PageWatch::start(self.shared.clone(), store.clone());
            // Once per client, in the background: never delays or fails open().
            wasm_bindgen_futures::spawn_local(async {
                super::storage::request_persistence().await;
            });
        }
        Ok(store)
    }

    /// Open the store (and start the driver), hand the driver a job and wait for its
    /// reply.
    async fn ask<T>(
        self: &Rc<Self>,
        job: impl FnOnce(Reply<Result<T, SdkError>>) -> Job,
    ) -> Result<T, SdkError> {
        self.open().await?;
        let (tx, rx) = oneshot();
        self.shared.queue.push(job(tx));
        rx.await
            .unwrap_or_else(|| Err(SdkError::new(Code::NotConnected, "the client was closed")))
    }

    async fn command(self: &Rc<Self>, cmd: Command) -> Result<CommandResult, SdkError> {
        self.ask(|reply| Job::Command(cmd, reply)).await
    }

    fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    async fn subscriptions(self: &Rc<Self>) -> Result<Vec<JsSubscription>, SdkError> {
        let store = self.open().await?;
        let online = match self.command(Command::ListSubscriptions).await {
            Ok(CommandResult::Subscriptions { items }) => Some(items),
            Ok(other) => return Err(unexpected(other)),
            Err(e) if e.code == Code::NotConnected || e.code == Code::Network => None,
            Err(e) => return Err(e),
        };
        let rows: Vec<(String, String, Vec<crate::protocol::Node>)> = match online {
            Some(items) => items
                .into_iter()
                .filter_map(|i| Some((i.jid?, i.nick.unwrap_or_default(), i.nodes)))
                .collect(),
            None => store
                .load()
                .await
                .map_err(|e| SdkError::store(e.0))?
                .subscriptions
                .into_iter()
                .map(|s| (s.room, s.nick.unwrap_or_default(), s.nodes))
                .collect(),
        };
        let mut out = Vec::with_capacity(rows.len());
        for (room, nick, nodes) in rows {
            let (last, unread) = self.summary(&store, &room, &nick).await?;
            out.push(JsSubscription {
                room,
                nick,
                nodes: node_names(&nodes),
                unread,
                last,
            });
        }
        out.sort_by(|a, b| a.room.cmp(&b.room));
        Ok(out)
    }

    /// The newest stored event of `room` and how many messages after the read marker we
    /// did not send (`nick` is our subscription nick there).
    async fn summary(
        &self,
        store: &IdbStore,
        room: &str,
        nick: &str,
    ) -> Result<(Option<JsRoomEvent>, u32), SdkError> {
        let last = store
            .events(room, 1)
            .await
            .map_err(|e| SdkError::store(e.0))?
            .pop()
            .map(|e| JsRoomEvent::from_event(&e));
        let me = self.opts.jid.to_string();
        let own = Own {
            nick: Some(nick).filter(|n| !n.is_empty()),
            jid: Some(&me),
        };
        let unread = store
            .unread(room, own)
            .await
            .map_err(|e| SdkError::store(e.0))?;
        Ok((last, u32::try_from(unread).unwrap_or(u32::MAX)))
    }

    /// The store first; the archive when the store runs out or the page reaches a
    /// recorded gap; then the store again (the archive page was written into it).
    async fn history(
        self: &Rc<Self>,
        room: String,
        before: Option<String>,
        limit: usize,
    ) -> Result<JsHistoryPage, SdkError> {
        let store = self.open().await?;
        let (events, _) = store.events_before(&room, before.as_deref(), limit).await?;
        let gaps = store
            .room_state(&room)
            .await
            .map_err(|e| SdkError::store(e.0))?
            .gaps;
        let is_gap_edge = |id: &str| gaps.iter().any(|g| g.before_id.as_deref() == Some(id));
        // Newest first: the first stored event that has a recorded gap right before it.
        let gap_edge = events
            .iter()
            .rev()
            .filter_map(|e| e.stanza_id.as_deref())
            .find(|id| is_gap_edge(id))
            .map(str::to_owned);
        // The archive is asked for what lies before the oldest archived event we have
        // (or before `before` / the newest page, when the store has none in this range).
        let oldest_archived = events.iter().find_map(|e| e.stanza_id.clone());
        let fetch_before = match gap_edge {
            Some(id) => Some(Some(id)),
            None if events.len() < limit => Some(oldest_archived.or_else(|| before.clone())),
            None => None,
        };
        let Some(fetch_before) = fetch_before else {
            return Ok(page(events, false));
        };
        let archive = self
            .command(Command::History {
                room: room.clone(),
                before: fetch_before,
                max: limit,
            })
            .await;
        let archive_complete = match archive {
            Ok(CommandResult::History { complete, .. }) => complete,
            Ok(other) => return Err(unexpected(other)),
            // Offline: what the store has is the answer for now.
            Err(e) if e.code == Code::NotConnected || e.code == Code::Network => {
                return Ok(page(events, false));
            }
            Err(e) => return Err(e),
        };
        let (events, more) = store.events_before(&room, before.as_deref(), limit).await?;
        Ok(page(events, archive_complete && !more))
    }
}

/// A command answered with a result of another command: a bug, reported as such.
fn unexpected(other: CommandResult) -> SdkError {
    SdkError::new(Code::Internal, format!("unexpected result {other:?}"))
}

fn page(events: Vec<crate::event::RoomEvent>, complete: bool) -> JsHistoryPage {
    JsHistoryPage {
        events: events.iter().map(JsRoomEvent::from_event).collect(),
        complete,
    }
}

#[wasm_bindgen]
impl MucSubClient {
    /// `new MucSubClient({url, jid, password, store, resource?})`. Throws a `MucSubError`
    /// (`bad-request`, `jid-malformed`) on unusable options.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ClientOptions")] options: JsValue,
    ) -> Result<MucSubClient, JsValue> {
        let opts = parse_options(&options)?;
        Ok(MucSubClient {
            inner: Rc::new(Inner {
                opts,
                shared: Shared::new(),
                state: RefCell::new(State {
                    store: None,
                    running: false,
                    closed: false,
                    page: None,
                }),
                push: Rc::default(),
            }),
        })
    }

    /// Register a callback for `event`, `connection`, `sync`, `subscription` or `error`.
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

    /// Open the store (stored rooms and messages are readable before `connect`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn open(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move { inner.open().await.map(|_| ()) })
    }

    /// Connect, authenticate, bind, go available, reconcile subscriptions and start the
    /// resync; resolves when online.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move { inner.ask(Job::Connect).await })
    }

    /// Subscribe to `room` (created when it does not exist and the server allows it).
    #[wasm_bindgen(unchecked_return_type = "Promise<Subscription>")]
    pub fn subscribe(
        &self,
        room: String,
        #[wasm_bindgen(unchecked_param_type = "SubscribeOptions")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            if !options.is_object() {
                return Err(SdkError::bad_request(
                    "subscribe(room, {nick}) needs options",
                ));
            }
            let nick = required(&options, "nick")?;
            let password = get_string(&options, "password")?;
            let nodes_js = Reflect::get(&options, &"nodes".into()).unwrap_or(JsValue::UNDEFINED);
            let nodes = if nodes_js.is_undefined() || nodes_js.is_null() {
                Vec::new()
            } else {
                let names: Vec<String> = serde_wasm_bindgen::from_value(nodes_js)
                    .map_err(|_| SdkError::bad_request("nodes must be an array of strings"))?;
                let nodes = parse_node_names(&names)?;
                if nodes.is_empty() {
                    // The core reads an empty list as "all"; an explicit empty list from the
                    // app is more likely a mistake than a wish for no events.
                    return Err(SdkError::bad_request("nodes must not be empty"));
                }
                nodes
            };
            let r = inner
                .command(Command::Subscribe {
                    room: room.clone(),
                    nick: nick.clone(),
                    nodes,
                    password,
                })
                .await?;
            match r {
                CommandResult::Subscribed {
                    room,
                    nick: echoed,
                    nodes,
                } => {
                    let store = inner.open().await?;
                    let nick = echoed.unwrap_or(nick);
                    let (last, unread) = inner.summary(&store, &room, &nick).await?;
                    Ok(JsSubscription {
                        room,
                        nick,
                        nodes: node_names(&nodes),
                        unread,
                        last,
                    })
                }
                other => Err(unexpected(other)),
            }
        })
    }

    /// Unsubscribe from `room`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn unsubscribe(&self, room: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner
                .command(Command::Unsubscribe { room })
                .await
                .map(|_| ())
        })
    }

    /// The account's subscriptions: from the server when online, from the store otherwise.
    #[wasm_bindgen(unchecked_return_type = "Promise<Subscription[]>")]
    pub fn subscriptions(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move { inner.subscriptions().await })
    }

    /// A room's subscribers.
    #[wasm_bindgen(unchecked_return_type = "Promise<Subscriber[]>")]
    pub fn subscribers(&self, room: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            match inner.command(Command::ListSubscribers { room }).await? {
                CommandResult::Subscribers { items, .. } => Ok(items
                    .into_iter()
                    .map(|i| JsSubscriber {
                        jid: i.jid,
                        nick: i.nick.unwrap_or_default(),
                        nodes: node_names(&i.nodes),
                    })
                    .collect::<Vec<_>>()),
                other => Err(unexpected(other)),
            }
        })
    }

    /// Post `body` to `room` without joining it.
    #[wasm_bindgen(unchecked_return_type = "Promise<SendResult>")]
    pub fn send(&self, room: String, body: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            if body.is_empty() {
                return Err(SdkError::bad_request("the message body must not be empty"));
            }
            let id = random_id();
            match inner.command(Command::Send { room, body, id }).await? {
                CommandResult::Sent { id } => Ok(JsSendResult { id }),
                other => Err(unexpected(other)),
            }
        })
    }

    /// Change the subject of `room`.
    #[wasm_bindgen(js_name = setSubject, unchecked_return_type = "Promise<void>")]
    pub fn set_subject(&self, room: String, subject: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let id = random_id();
            let cmd = Command::SetSubject { room, subject, id };
            inner.command(cmd).await.map(|_| ())
        })
    }

    /// Mark `room` read up to and including the stored event whose `stanzaId` (or, for an
    /// event without one yet, `id`) is `up_to_id`, or up to the newest stored event. The
    /// marker is stored with the room's events and never moves back; `unread` in
    /// [`subscriptions`](Self::subscriptions) counts the messages after it that we did not
    /// send. `item-not-found` when no stored event has that id.
    #[wasm_bindgen(js_name = markRead, unchecked_return_type = "Promise<void>")]
    pub fn mark_read(&self, room: String, up_to_id: Option<String>) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = inner.open().await?;
            let up_to = up_to_id.filter(|id| !id.is_empty());
            let found = store
                .mark_read(&room, up_to.as_deref())
                .await
                .map_err(|e| SdkError::store(e.0))?;
            if found {
                Ok(())
            } else {
                Err(SdkError::new(
                    Code::ItemNotFound,
                    format!(
                        "no stored event with id '{}' in {room}",
                        up_to.unwrap_or_default()
                    ),
                ))
            }
        })
    }

    /// Older events of `room`: `{before?: stanzaId, limit?: number}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<HistoryPage>")]
    pub fn history(&self, room: String, options: Option<HistoryOptionsArg>) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
            let (before, limit) = if options.is_object() {
                let before = get_string(&options, "before")?.filter(|b| !b.is_empty());
                let limit = get_number(&options, "limit")?.map(|n| n as usize);
                (before, limit)
            } else {
                (None, None)
            };
            let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
            inner.history(room, before, limit).await
        })
    }

    /// Resync every subscribed room now; resolves when all are in sync.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncSummary>")]
    pub fn resync(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move { inner.ask(Job::Resync).await })
    }

    /// Close the connection (with a proper `<close/>`) and the store. The client cannot be
    /// used afterwards. The device's token stays: the next client signs in with it.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.close().await;
            Ok(())
        })
    }

    /// Sign out: close, revoke this device's FAST token on the server (XEP-0484
    /// `invalidate`) and forget it, so the next sign-in needs the password. The stored
    /// rooms and messages stay. The token is forgotten even when the server cannot be
    /// reached (the promise then rejects with that error).
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<void>")]
    pub fn sign_out(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = inner.open().await?;
            inner.close().await;
            let revoked = match store.load_wake().await? {
                Some(wake) => super::sign_out::revoke(&inner.opts, &wake).await,
                None => Ok(()),
            };
            store.clear_wake().await?;
            revoked
        })
    }
}

impl Inner {
    /// Stops the driver (closing the stream politely) and the store.
    async fn close(&self) {
        if self.is_closed() {
            return;
        }
        let running = self.state.borrow().running;
        if running {
            let (tx, rx) = oneshot();
            self.shared.queue.push(Job::Close(tx));
            rx.await;
        }
        let mut st = self.state.borrow_mut();
        st.closed = true;
        st.page = None;
        st.store = None;
        self.shared.queue.close();
    }
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
        let mut st = self.inner.state.borrow_mut();
        st.closed = true;
        st.page = None;
        st.store = None;
        self.inner.shared.queue.close();
    }
}

fn check_event_name(name: &str) -> Result<(), SdkError> {
    match name {
        "event" | "connection" | "sync" | "subscription" | "error" => Ok(()),
        other => Err(SdkError::bad_request(format!(
            "unknown event name {other:?} (event, connection, sync, subscription, error)"
        ))),
    }
}
