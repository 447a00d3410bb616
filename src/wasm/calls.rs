//! What each `MucSubClient` method does, run in the tab that leads the store (src/wasm/tabs.rs
//! decides where): [`Inner::run`] performs a [`Call`] (src/wasm/call.rs) on this tab's store
//! and driver.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::keyed::Keyed;

use wasm_bindgen::JsValue;

use crate::client::{Command, CommandResult};
use crate::store::{Own, Store};

use super::call::Call;
use super::device;
use super::error::{Code, SdkError};
use super::idb_store::IdbStore;
use super::js_types::{
    node_names, parse_node_names, to_js, JsHistoryPage, JsRoomEvent, JsSubscription,
};
use super::local::{oneshot, Reply};
use super::page::PageWatch;
use super::runtime::{self, Job, Options, Shared};
use super::shown::REPLAY_WINDOW;
use super::tabs::{Host, Seen, TabLink};

pub(super) struct State {
    pub(super) store: Option<Rc<IdbStore>>,
    pub(super) running: bool,
    pub(super) closed: bool,
    pub(super) page: Option<PageWatch>,
}

pub(super) struct Inner {
    pub(super) opts: Options,
    pub(super) shared: Rc<Shared>,
    pub(super) state: RefCell<State>,
    pub(super) push: Rc<super::push::PushState>,
    /// The other tabs of this store (src/wasm/tabs.rs).
    pub(super) link: TabLink,
}

impl Host for Inner {
    fn link(&self) -> &TabLink {
        &self.link
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn is_closed(&self) -> bool {
        Inner::is_closed(self)
    }

    fn run(self: Rc<Self>, call: Call) -> Pin<Box<dyn Future<Output = Result<JsValue, SdkError>>>> {
        Box::pin(async move { Inner::run(&self, call).await })
    }

    fn replay_unseen(
        self: Rc<Self>,
        seen: Keyed<Seen>,
    ) -> Pin<Box<dyn Future<Output = Result<(), SdkError>>>> {
        Box::pin(async move { Inner::replay_unseen(&self, seen).await })
    }
}

impl Inner {
    /// Perform `call` here, on this tab's store and driver; its result as the JS value the
    /// method resolves with.
    pub(super) async fn run(self: &Rc<Self>, call: Call) -> Result<JsValue, SdkError> {
        match call {
            Call::Open => self.open().await.map(|_| JsValue::UNDEFINED),
            Call::Connect => self.ask(Job::Connect).await.map(|()| JsValue::UNDEFINED),
            Call::Subscribe {
                room,
                nick,
                nodes,
                password,
            } => to_js(&self.subscribe(room, nick, nodes, password).await?),
            Call::Subscriptions => to_js(&self.subscriptions().await?),
            Call::MarkRead { room, up_to } => self
                .mark_read(room, up_to)
                .await
                .map(|()| JsValue::UNDEFINED),
            Call::History {
                room,
                before,
                limit,
            } => to_js(&self.history(room, before, limit).await?),
            Call::Resync => to_js(&self.ask(Job::Resync).await?),
            Call::SignOut => self.sign_out().await.map(|()| JsValue::UNDEFINED),
            // One command each (src/wasm/changes.rs).
            Call::Unsubscribe { .. }
            | Call::Subscribers { .. }
            | Call::Send { .. }
            | Call::Edit { .. }
            | Call::Retract { .. }
            | Call::React { .. }
            | Call::Moderate { .. }
            | Call::SetSubject { .. } => self.one_command(call).await,
        }
    }

    /// `signOut()` in the leading tab: stop the driver first (so it saves no token after
    /// this), revoke the device's token on the server and forget it. The token is forgotten
    /// even when the server cannot be reached; that error is the result.
    async fn sign_out(self: &Rc<Self>) -> Result<(), SdkError> {
        let store = self.open().await?;
        if self.state.borrow().running {
            let (tx, rx) = oneshot();
            self.shared.queue.push(Job::Close(tx));
            rx.await;
        }
        let revoked = match store.load_wake().await? {
            Some(wake) => super::sign_out::revoke(&self.opts, &wake).await,
            None => Ok(()),
        };
        store.clear_wake().await?;
        revoked
    }

    /// This tab just took the lead: fire (here and, through the relay, in the other tabs)
    /// the events and updates the old leader stored but whose broadcast never arrived — it
    /// crashed between its commit and its message. Per room this tab saw events of, among
    /// the newest [`REPLAY_WINDOW`] stored events: `event` for those it did not see that are
    /// not older than the newest it saw, `update` for the messages it showed in another
    /// state than the stored one (a change it missed). (A room whose first event was lost
    /// that way is not caught.)
    pub(super) async fn replay_unseen(self: &Rc<Self>, seen: Keyed<Seen>) -> Result<(), SdkError> {
        if seen.is_empty() {
            return Ok(());
        }
        let store = self.open().await?;
        for (room, s) in seen {
            let events = store
                .events(&room, REPLAY_WINDOW)
                .await
                .map_err(|e| SdkError::store(e.0))?;
            for ev in events.iter().map(JsRoomEvent::from_event) {
                let (stanza_id, id) = (ev.stanza_id.as_deref(), ev.id.as_deref());
                if ev.kind == "message" && s.shown.has(stanza_id, id) {
                    let now = to_js(&ev)?;
                    if s.shown.differs(stanza_id, id, &now) {
                        self.shared.emit("update", &now);
                    }
                } else if !s.has(stanza_id, id) && ev.timestamp >= s.newest {
                    self.shared.emit_value("event", || ev);
                }
            }
        }
        Ok(())
    }

    async fn subscribe(
        self: &Rc<Self>,
        room: String,
        nick: String,
        nodes: Vec<String>,
        password: Option<String>,
    ) -> Result<JsSubscription, SdkError> {
        let nodes = parse_node_names(&nodes)?;
        let r = self
            .command(Command::Subscribe {
                room,
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
                let store = self.open().await?;
                let nick = echoed.unwrap_or(nick);
                let (last, unread) = self.summary(&store, &room, &nick).await?;
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
    }

    async fn mark_read(
        self: &Rc<Self>,
        room: String,
        up_to: Option<String>,
    ) -> Result<(), SdkError> {
        let store = self.open().await?;
        let marked = crate::client::mark_read(&*store, &room, up_to.as_deref())
            .await
            .map_err(|e| SdkError::store(e.0))?;
        if let Some(marked) = marked {
            if let Some(stanza_id) = marked.publish {
                // Shared with the account's other devices (XEP-0490): queued by the core
                // while offline, dropped by a server without PEP; never this call's error.
                let cmd = Command::MarkDisplayed {
                    room: room.clone(),
                    stanza_id,
                };
                match self.command(cmd).await {
                    Ok(_) => {}
                    // Not started (no connect() yet): the next session fetches the
                    // other devices' markers; this one stays local.
                    Err(e) if e.code == Code::NotConnected => {}
                    Err(e) => web_sys::console::warn_1(
                        &format!("mucsub: read marker of {room} not shared: {e:?}").into(),
                    ),
                }
            }
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
    }

    pub(super) async fn open(self: &Rc<Self>) -> Result<Rc<IdbStore>, SdkError> {
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
    pub(super) async fn ask<T>(
        self: &Rc<Self>,
        job: impl FnOnce(Reply<Result<T, SdkError>>) -> Job,
    ) -> Result<T, SdkError> {
        self.open().await?;
        let (tx, rx) = oneshot();
        self.shared.queue.push(job(tx));
        rx.await
            .unwrap_or_else(|| Err(SdkError::new(Code::NotConnected, "the client was closed")))
    }

    pub(super) async fn command(self: &Rc<Self>, cmd: Command) -> Result<CommandResult, SdkError> {
        self.ask(|reply| Job::Command(cmd, reply)).await
    }

    pub(super) fn is_closed(&self) -> bool {
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
        crate::sort::sort_by(&mut out, |a, b| a.room.cmp(&b.room));
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

/// A command answered with a result of another command: a bug, reported as such, by the
/// result's kind (not its `Debug` form: that brought the `Debug` code of every result type
/// into the package for this message alone; issue 24, package size).
pub(super) fn unexpected(other: CommandResult) -> SdkError {
    let kind = match other {
        CommandResult::Subscribed { .. } => "subscribed",
        CommandResult::Unsubscribed { .. } => "unsubscribed",
        CommandResult::Subscriptions { .. } => "subscriptions",
        CommandResult::Subscribers { .. } => "subscribers",
        CommandResult::Sent { .. } => "sent",
        CommandResult::Moderated { .. } => "moderated",
        CommandResult::History { .. } => "history",
        CommandResult::ResyncStarted => "resyncstarted",
        CommandResult::Displayed { .. } => "displayed",
    };
    SdkError::new(Code::Internal, format!("unexpected result '{kind}'"))
}

fn page(events: Vec<crate::event::RoomEvent>, complete: bool) -> JsHistoryPage {
    JsHistoryPage {
        events: events.iter().map(JsRoomEvent::from_event).collect(),
        complete,
    }
}
