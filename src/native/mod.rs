//! Native runtime (feature `native`): a tokio transport over TCP or WebSocket driving the
//! sans-IO [`Client`] and a [`Store`]. A usable client for Rust programs, the integration
//! tests and the load generator. Its requests are the core's [`Command`]s, forwarded by
//! [`NativeClient::command`].
//!
//! Not `Send`-bound on purpose (the store trait is not): run it on the current task, or on
//! a `LocalSet`.

mod transport;

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use transport::Conn;
pub use transport::Endpoint;

use crate::client::{
    mark_read, read_up_to, Action, AppEvent, Client, ClientConfig, Command, CommandError,
    CommandResult, Input, RequestId, StoreOp,
};
use crate::protocol::time::Timestamp;
use crate::session::framing::{Frame, Framing};
use crate::store::{Own, Store, StoreError};

/// Runtime failures (protocol-level failures arrive as [`AppEvent`]s).
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// Could not connect or the transport failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The store refused a write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session ended before becoming ready.
    #[error("session ended: {0}")]
    Session(String),
    /// Waited longer than the given limit.
    #[error("timed out")]
    Timeout,
}

fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp(ms)
}

/// One unit of a connection's traffic as the client wrote or read it, in order (see
/// [`NativeClient::record_traffic`]): what the browser's frame log shows, for a native
/// client.
#[derive(Debug, Clone, PartialEq)]
pub enum Traffic {
    /// A transport opened.
    Connected,
    /// Written: one WebSocket message, or one write on TCP.
    Sent(String),
    /// Read.
    Received(Frame),
}

/// A native client.
pub struct NativeClient<S: Store> {
    core: Client,
    store: S,
    endpoint: Endpoint,
    conn: Option<Conn>,
    events: VecDeque<AppEvent>,
    timer_at: Option<i64>,
    reconnect_at: Option<Instant>,
    auto_reconnect: bool,
    traffic: Option<Vec<Traffic>>,
}

impl<S: Store> NativeClient<S> {
    /// Build a client over `store` (its snapshot is loaded now). PLAIN is allowed only
    /// when the endpoint is on loopback.
    pub async fn new(
        mut cfg: ClientConfig,
        endpoint: Endpoint,
        store: S,
    ) -> Result<Self, NativeError> {
        cfg.session.framing = match endpoint {
            Endpoint::Tcp(_) => Framing::Tcp,
            Endpoint::WebSocket(_) => Framing::WebSocket,
        };
        cfg.session.secure = endpoint.is_loopback();
        if cfg.seed == ClientConfig::new(cfg.session.clone()).seed {
            // Spread reconnects of clients started together.
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
                .unwrap_or(0);
            cfg.seed ^= nanos.rotate_left(17) ^ std::process::id() as u64;
        }
        let snapshot = store.load().await?;
        Ok(NativeClient {
            core: Client::new(cfg, snapshot),
            store,
            endpoint,
            conn: None,
            events: VecDeque::new(),
            timer_at: None,
            reconnect_at: None,
            auto_reconnect: true,
            traffic: None,
        })
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The core (for inspection).
    pub fn core(&self) -> &Client {
        &self.core
    }

    /// The secret for the next connection (see [`Client::set_credentials`]); an empty
    /// one leaves the saved FAST token as the only way in.
    pub fn set_credentials(&mut self, secret: String, token: bool) {
        self.core.set_credentials(secret, token);
    }

    /// Replaces what the next connection wakes with (see [`Client::set_wake`]).
    pub fn set_wake(&mut self, wake: crate::session::Wake) {
        self.core.set_wake(wake);
    }

    /// Reconnect by itself after a lost connection (default on).
    pub fn set_auto_reconnect(&mut self, on: bool) {
        self.auto_reconnect = on;
    }

    /// Keep every frame written and read from now on, for [`NativeClient::take_traffic`].
    pub fn record_traffic(&mut self) {
        self.traffic.get_or_insert_with(Vec::new);
    }

    /// The traffic recorded since the last call (empty unless recording).
    pub fn take_traffic(&mut self) -> Vec<Traffic> {
        self.traffic
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn log(&mut self, t: impl FnOnce() -> Traffic) {
        if let Some(log) = self.traffic.as_mut() {
            log.push(t());
        }
    }

    /// Whether the session is up.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some() && self.core.is_ready()
    }

    /// Connect and wait until bound and available.
    pub async fn connect(&mut self) -> Result<(), NativeError> {
        self.reconnect_at = None;
        let mark = self.events.len();
        self.open().await?;
        loop {
            if self.core.is_ready() {
                return Ok(());
            }
            if self.conn.is_none() {
                let lost = self.events.iter().skip(mark).rev().find_map(|e| match e {
                    AppEvent::Disconnected { error } => Some(error.clone()),
                    _ => None,
                });
                // Closed without a word and reconnecting: the core starts the sign-in
                // again (a pipelined one met features that changed), not a failure.
                if lost.is_none() && self.reconnect_at.is_some() && self.auto_reconnect {
                    self.drive_once().await?;
                    continue;
                }
                let why = lost.flatten().unwrap_or_else(|| "closed".into());
                return Err(NativeError::Session(why));
            }
            self.drive_once().await?;
        }
    }

    async fn open(&mut self) -> Result<(), NativeError> {
        let conn = Conn::open(&self.endpoint)
            .await
            .map_err(NativeError::Transport)?;
        self.conn = Some(conn);
        self.log(|| Traffic::Connected);
        let acts = self.core.handle(Input::Connected, now());
        self.execute(acts).await
    }

    /// Close on purpose (no automatic reconnect until [`NativeClient::connect`]).
    pub async fn disconnect(&mut self) -> Result<(), NativeError> {
        let acts = self.core.disconnect(now());
        self.execute(acts).await?;
        self.conn = None;
        self.reconnect_at = None;
        Ok(())
    }

    /// Drops the transport without closing the stream, as a dead network does: a managed
    /// stream waits on the server to be resumed by the next connection (which comes by
    /// itself with automatic reconnection).
    pub async fn drop_connection(&mut self) -> Result<(), NativeError> {
        self.conn = None;
        let acts = self
            .core
            .handle(Input::Disconnected(Some("dropped".into())), now());
        self.execute(acts).await
    }

    /// Events gathered so far (without waiting).
    pub fn take_events(&mut self) -> Vec<AppEvent> {
        self.events.drain(..).collect()
    }

    /// The next event, driving the connection (and reconnecting) as needed.
    pub async fn next_event(&mut self) -> Result<AppEvent, NativeError> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(e);
            }
            self.drive_once().await?;
        }
    }

    /// Drive until every subscribed room is in sync.
    pub async fn wait_synced(&mut self) -> Result<(), NativeError> {
        while !self.core.is_synced() {
            self.drive_once().await?;
        }
        Ok(())
    }

    /// Drive until `pred` holds for some event; returns it (other events stay queued).
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&AppEvent) -> bool,
    ) -> Result<AppEvent, NativeError> {
        let mut checked = 0;
        loop {
            if let Some(i) = self.events.iter().skip(checked).position(&mut pred) {
                return Ok(self.events.remove(checked + i).expect("index in range"));
            }
            checked = self.events.len();
            self.drive_once().await?;
        }
    }

    /// Run a command (see [`Command`]) and drive the connection until its result.
    pub async fn command(
        &mut self,
        cmd: Command,
    ) -> Result<Result<CommandResult, CommandError>, NativeError> {
        let req = self.start_command(cmd).await?;
        self.result_of(req).await
    }

    /// Run a command without waiting for its result (its request goes out now): for a
    /// caller with several in flight at once, each awaited with [`NativeClient::result_of`].
    pub async fn start_command(&mut self, cmd: Command) -> Result<RequestId, NativeError> {
        let (req, acts) = self.core.command(cmd, now());
        self.execute(acts).await?;
        Ok(req)
    }

    /// Drive the connection until the result of the command `req` (from
    /// [`NativeClient::start_command`]); other events stay queued.
    pub async fn result_of(
        &mut self,
        req: RequestId,
    ) -> Result<Result<CommandResult, CommandError>, NativeError> {
        let ev = self
            .wait_for(|e| matches!(e, AppEvent::Result { request, .. } if *request == req))
            .await?;
        match ev {
            AppEvent::Result { result, .. } => Ok(result),
            _ => unreachable!("wait_for returns a matching event"),
        }
    }

    /// The app is in use or not (XEP-0352 CSI): while every session of the account is
    /// inactive the server pushes instead. Sent when it changes and the server offers CSI;
    /// kept across reconnects.
    pub async fn set_active(&mut self, active: bool) -> Result<(), NativeError> {
        let acts = self.core.set_active(active);
        self.execute(acts).await
    }

    /// Wait for input, a timer or a reconnect, and feed the core once.
    pub async fn drive_once(&mut self) -> Result<(), NativeError> {
        let timer = self.timer_at.map(|t| {
            let wait = (t - now().0).max(0) as u64;
            Instant::now() + Duration::from_millis(wait)
        });
        let Some(conn) = self.conn.as_mut() else {
            match self.reconnect_at {
                Some(at) if self.auto_reconnect => {
                    tokio::time::sleep_until(at).await;
                    self.reconnect_at = None;
                    if let Err(e) = self.open().await {
                        let acts = self
                            .core
                            .handle(Input::Disconnected(Some(e.to_string())), now());
                        self.conn = None;
                        self.execute(acts).await?;
                    }
                    return Ok(());
                }
                _ => return Err(NativeError::Session("not connected".into())),
            }
        };
        let input = tokio::select! {
            r = conn.read() => match r {
                Ok(frames) => Some(frames),
                Err(e) => {
                    self.conn = None;
                    let acts = self.core.handle(Input::Disconnected(Some(e)), now());
                    self.execute(acts).await?;
                    return Ok(());
                }
            },
            _ = async {
                match timer {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => None,
        };
        match input {
            Some(frames) => {
                for f in frames {
                    self.log(|| Traffic::Received(f.clone()));
                    let acts = self.core.handle(Input::Frame(f), now());
                    self.execute(acts).await?;
                    if self.conn.is_none() {
                        break;
                    }
                }
            }
            None => {
                self.timer_at = None;
                let acts = self.core.handle(Input::Tick, now());
                self.execute(acts).await?;
            }
        }
        Ok(())
    }

    async fn execute(&mut self, acts: Vec<Action>) -> Result<(), NativeError> {
        for a in acts {
            match a {
                Action::Write(w) => {
                    if self.conn.is_some() {
                        self.log(|| Traffic::Sent(w.clone()));
                    }
                    if let Some(c) = self.conn.as_mut() {
                        if let Err(e) = c.write(&w).await {
                            self.conn = None;
                            let more = self.core.handle(Input::Disconnected(Some(e)), now());
                            Box::pin(self.execute(more)).await?;
                        }
                    }
                }
                Action::ResetParser => {
                    if let Some(c) = self.conn.as_mut() {
                        c.reset_parser();
                    }
                }
                Action::CloseTransport => {
                    if let Some(mut c) = self.conn.take() {
                        c.close().await;
                    }
                }
                Action::Store(op) => self.store_op(op).await?,
                Action::Event(e) => self.events.push_back(e),
                Action::TimerAt(t) => self.timer_at = Some(t),
                Action::ReconnectIn(ms) => {
                    self.reconnect_at = Some(Instant::now() + Duration::from_millis(ms));
                }
            }
        }
        Ok(())
    }

    async fn store_op(&mut self, op: StoreOp) -> Result<(), NativeError> {
        match op {
            StoreOp::PutSubscription(rec) => self.store.put_subscription(&rec).await?,
            StoreOp::RemoveSubscription(room) => self.store.remove_subscription(&room).await?,
            StoreOp::Apply(page) => {
                let applied = self.store.apply_page(&page).await?;
                self.events
                    .extend(applied.fresh.into_iter().map(AppEvent::Room));
                self.events
                    .extend(applied.updated.into_iter().map(AppEvent::Updated));
            }
            StoreOp::ReadUpTo {
                room,
                stanza_id,
                own_nick,
                own_jid,
            } => {
                let own = Own {
                    nick: own_nick.as_deref(),
                    jid: Some(&own_jid),
                };
                if let Some(unread) = read_up_to(&self.store, &room, &stanza_id, own).await? {
                    self.events.push_back(AppEvent::Read { room, unread });
                }
            }
        }
        Ok(())
    }

    /// The app read `room` up to the stored event `up_to` names (the newest when `None`):
    /// the local marker moves (never back) and, when it moved to an archived message, the
    /// account's other devices are told (XEP-0490, [`Command::MarkDisplayed`]; queued while
    /// offline, dropped by a server without PEP). `Ok(false)` when no stored event answers
    /// to `up_to`.
    pub async fn mark_read(
        &mut self,
        room: &str,
        up_to: Option<&str>,
    ) -> Result<bool, NativeError> {
        let Some(marked) = mark_read(&self.store, room, up_to).await? else {
            return Ok(false);
        };
        if let Some(stanza_id) = marked.publish {
            let cmd = Command::MarkDisplayed {
                room: room.to_owned(),
                stanza_id,
            };
            // Answered at once (see the command): its result is no event for the app.
            let (req, acts) = self.core.command(cmd, now());
            self.execute(acts).await?;
            self.events
                .retain(|e| !matches!(e, AppEvent::Result { request, .. } if *request == req));
        }
        Ok(true)
    }
}
