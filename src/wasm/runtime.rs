//! The browser runtime: one local task (the driver) owns the sans-IO [`Client`] core, the
//! WebSocket and the timers, and performs the core's actions in order. Network writes
//! happen at once; IndexedDB writes go to a store lane that writes one batch at a time
//! (every page queued behind the first, of any room, in one transaction: a page and its
//! cursor stay in one transaction), while the driver goes on reading frames and asking for
//! the next archive pages. Whatever the app observes after a store op (its `event` and
//! `sync` callbacks, app events, command replies, the reconnect schedule) waits in the lane
//! behind it, so callbacks keep the core's order and never report uncommitted data.
//! Everything else (socket callbacks, timers, page lifecycle events, JS method calls) only
//! pushes [`Job`]s onto the driver's queue.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use jid::BareJid;
use minidom::Element;

use crate::client::{
    Action, AppEvent, Client, ClientConfig, ClientWarning, CommandError, CommandResult, Input,
    RequestId, StoreOp,
};
use crate::event::RoomEvent;
use crate::protocol::time::Timestamp;
use crate::protocol::{ns, Node};
use crate::resync::ResyncWarning;
use crate::session::framing::{parse_ws_message, serialize, Framing};
use crate::session::SessionConfig;
use crate::store::{Store, StoreError};

use super::error::{Code, SdkError};
use super::idb_apply::PageWrite;
use super::idb_store::IdbStore;
use super::js_types::{to_js, JsRoomEvent, JsSyncProgress, JsSyncSummary};
use super::local::{Queue, Reply};
use super::socket::{Socket, SocketEvent, Timer};

/// Pages (socket frames) stored in one IndexedDB transaction at most.
const MAX_BATCH: usize = 256;

/// How long a woken page waits for any frame after its ping before it takes the socket
/// for dead (socket.rs): a live connection answers in well under a second, a phone's radio
/// may take a few to come back.
const WAKE_PROBE_MS: f64 = 8_000.0;

/// The parts of a `StoreOp::Apply`: room, events, cursor, gap.
type ApplyOp = (
    String,
    Vec<RoomEvent>,
    Option<crate::store::Cursor>,
    Option<crate::store::Gap>,
);

/// Work in the store lane: store ops, and what must happen only after the ops before it
/// are committed.
enum Laned {
    Apply(ApplyOp),
    Op(StoreOp),
    Event(AppEvent),
    Reconnect(u64),
}

/// One item of a finished store batch, in lane order.
enum Done {
    Page(ApplyOp, Result<Vec<RoomEvent>, StoreError>),
    Op(Result<(), StoreError>),
    Event(AppEvent),
    Reconnect(u64),
}

/// A store batch in flight.
type InFlight = Pin<Box<dyn Future<Output = Vec<Done>>>>;

/// Store `batch`'s pages in one transaction. When that fails, each page is tried on its
/// own (a lone page once more) so one bad page does not cost the others.
async fn store_batch(store: Rc<IdbStore>, batch: Vec<Laned>) -> Vec<Done> {
    let result = {
        let pages: Vec<PageWrite> = batch
            .iter()
            .filter_map(|l| match l {
                Laned::Apply((room, events, cursor, gap)) => Some(PageWrite {
                    room,
                    events,
                    cursor: cursor.as_ref(),
                    gap: gap.as_ref(),
                }),
                _ => None,
            })
            .collect();
        let result = store.apply_pages(&pages).await;
        match result {
            // One page at a time, so one bad page does not cost the others; a lone page gets
            // a second try (a write aborted as the page went into the back/forward cache
            // goes through once the page is back: idb_conn.rs).
            Err(_) => {
                let mut one_by_one = Vec::with_capacity(pages.len());
                for p in &pages {
                    let r = store.apply_pages(std::slice::from_ref(p)).await;
                    one_by_one.push(r.map(|mut fresh| fresh.pop().unwrap_or_default()));
                }
                one_by_one
            }
            Ok(fresh) => fresh.into_iter().map(Ok).collect(),
        }
    };
    let mut results = result.into_iter();
    batch
        .into_iter()
        .map(|l| match l {
            Laned::Apply(op) => {
                let r = results
                    .next()
                    .unwrap_or_else(|| Err(StoreError("page result missing".into())));
                Done::Page(op, r)
            }
            Laned::Op(_) => Done::Op(Ok(())),
            Laned::Event(e) => Done::Event(e),
            Laned::Reconnect(ms) => Done::Reconnect(ms),
        })
        .collect()
}

/// Connection states as the JS API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected and not trying.
    Disconnected,
    /// First connection attempt in progress.
    Connecting,
    /// Bound and available.
    Online,
    /// Lost; waiting for the backoff or the page to come back.
    Reconnecting,
    /// `close()` was called.
    Closed,
}

impl ConnectionState {
    /// The JS string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Online => "online",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Closed => "closed",
        }
    }
}

/// Client options after validation.
#[derive(Debug, Clone)]
pub struct Options {
    /// WebSocket URL.
    pub url: String,
    /// Account.
    pub jid: BareJid,
    /// Password.
    pub password: String,
    /// IndexedDB database name.
    pub store: String,
    /// Requested resource.
    pub resource: Option<String>,
    /// MAM page size for resync (tests use small pages).
    pub page_size: Option<usize>,
}

/// A command the core runs.
#[derive(Debug, Clone)]
pub enum Command {
    /// Subscribe.
    Subscribe {
        /// Room.
        room: String,
        /// Nick.
        nick: String,
        /// Nodes (all when empty).
        nodes: Vec<Node>,
        /// Room password.
        password: Option<String>,
    },
    /// Unsubscribe.
    Unsubscribe(String),
    /// The account's subscriptions.
    Subscriptions,
    /// A room's subscribers.
    Subscribers(String),
    /// Post a message with this id.
    Send {
        /// Room.
        room: String,
        /// Body.
        body: String,
        /// Message id.
        id: String,
    },
    /// Fetch an archive page older than `before` into the store.
    History {
        /// Room.
        room: String,
        /// Archive id.
        before: Option<String>,
        /// Page size.
        max: usize,
    },
}

/// Replies the driver hands back.
pub type CommandReply = Reply<Result<CommandResult, SdkError>>;

/// Work for the driver.
pub enum Job {
    /// A socket of connection `generation` reported something.
    Socket(u64, SocketEvent),
    /// The core's timer fired.
    Tick,
    /// The reconnect backoff elapsed.
    Reconnect,
    /// The page became visible or the browser went online.
    Wake,
    /// The page is visible (`true`) or hidden: XEP-0352 CSI, so the server pushes while
    /// no tab of the account is looked at.
    Active(bool),
    /// `connect()`.
    Connect(Reply<Result<(), SdkError>>),
    /// A command.
    Command(Command, CommandReply),
    /// `resync()`: resolves when every room is in sync.
    Resync(Reply<Result<JsSyncSummary, SdkError>>),
    /// `setSubject()`.
    SetSubject(String, String, Reply<Result<(), SdkError>>),
    /// `close()`.
    Close(Reply<()>),
}

/// What JS callbacks and method calls share with the driver.
pub struct Shared {
    /// The driver's queue.
    pub queue: Queue<Job>,
    listeners: RefCell<HashMap<String, Vec<js_sys::Function>>>,
}

impl Shared {
    /// A fresh, listener-less hub.
    pub fn new() -> Rc<Shared> {
        Rc::new(Shared {
            queue: Queue::default(),
            listeners: RefCell::new(HashMap::new()),
        })
    }

    /// Register a callback for `name`.
    pub fn on(&self, name: &str, f: js_sys::Function) {
        self.listeners
            .borrow_mut()
            .entry(name.to_owned())
            .or_default()
            .push(f);
    }

    /// Remove a callback registered with [`Shared::on`].
    pub fn off(&self, name: &str, f: &js_sys::Function) {
        if let Some(v) = self.listeners.borrow_mut().get_mut(name) {
            v.retain(|g| g != f);
        }
    }

    /// Whether a callback is registered for `name`.
    pub fn listening(&self, name: &str) -> bool {
        self.listeners
            .borrow()
            .get(name)
            .is_some_and(|v| !v.is_empty())
    }

    /// Call every callback of `name`. A throwing callback is logged and does not stop the
    /// others (nor the SDK).
    pub fn emit(&self, name: &str, value: &wasm_bindgen::JsValue) {
        let fs: Vec<js_sys::Function> = self
            .listeners
            .borrow()
            .get(name)
            .cloned()
            .unwrap_or_default();
        for f in fs {
            if let Err(e) = f.call1(&wasm_bindgen::JsValue::NULL, value) {
                web_sys::console::error_2(&format!("mucsub: a '{name}' callback threw").into(), &e);
            }
        }
    }

    /// Emit an `error` event.
    pub fn emit_error(&self, e: &SdkError) {
        self.emit("error", &e.to_js());
    }
}

fn now() -> Timestamp {
    Timestamp(js_sys::Date::now() as i64)
}

/// A fresh random id (message ids, backoff seed).
pub fn random_id() -> String {
    let mut buf = [0u8; 12];
    if getrandom::getrandom(&mut buf).is_err() {
        // No crypto source: Math.random is enough for uniqueness of message ids.
        for b in buf.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
struct RoomStats {
    fetched: u32,
    gap: bool,
}

/// The driver's state; lives inside the driver task only.
struct Driver {
    shared: Rc<Shared>,
    opts: Options,
    core: Client,
    store: Rc<IdbStore>,
    socket: Option<Socket>,
    generation: u64,
    /// The core's timer and the time it fires at.
    timer: Option<(i64, Timer)>,
    reconnect: Option<Timer>,
    pending: HashMap<RequestId, Pending>,
    connect_waiters: Vec<Reply<Result<(), SdkError>>>,
    sync_waiters: Vec<Reply<Result<JsSyncSummary, SdkError>>>,
    stats: HashMap<String, RoomStats>,
    state: ConnectionState,
    /// The first attempt after `connect()`: a failure rejects the promise and stops.
    initial_attempt: bool,
    /// Do not reconnect (auth failure, failed first attempt, close) until `connect()`.
    halted: bool,
    /// Store work (and what waits for it) not yet started, in the core's order.
    lane: VecDeque<Laned>,
    /// The store batch being written, if any; the job loop polls it beside the queue.
    in_flight: Option<InFlight>,
    /// Actions from events run while draining the lane, performed by `settle`.
    deferred_acts: Vec<Action>,
}

enum Pending {
    Command(CommandReply),
    Resync(Reply<Result<JsSyncSummary, SdkError>>),
}

/// Map a core command error to the JS error.
pub fn command_error(e: &CommandError) -> SdkError {
    let code = match e.condition.as_str() {
        "timeout" => Code::Timeout,
        "disconnected" => Code::Network,
        "not-connected" => Code::NotConnected,
        other => Code::from_condition(other),
    };
    let message = match &e.text {
        Some(t) => format!("{}: {t}", e.condition),
        None => e.condition.clone(),
    };
    SdkError::new(code, message)
}

/// Start the driver for an opened store. Returns once spawned.
pub fn spawn(
    shared: Rc<Shared>,
    opts: Options,
    store: Rc<IdbStore>,
    snapshot: crate::store::Snapshot,
) {
    let mut seed_bytes = [0u8; 8];
    let _ = getrandom::getrandom(&mut seed_bytes);
    let mut cfg = ClientConfig::new(SessionConfig {
        jid: opts.jid.clone(),
        password: opts.password.clone(),
        resource: opts.resource.clone(),
        framing: Framing::WebSocket,
        secure: is_secure(&opts.url),
    });
    cfg.seed = u64::from_le_bytes(seed_bytes) | 1;
    if let Some(n) = opts.page_size {
        cfg.resync.page_size = n;
    }
    let core = Client::new(cfg, snapshot);
    let mut driver = Driver {
        shared,
        opts,
        core,
        store,
        socket: None,
        generation: 0,
        timer: None,
        reconnect: None,
        pending: HashMap::new(),
        connect_waiters: Vec::new(),
        sync_waiters: Vec::new(),
        stats: HashMap::new(),
        state: ConnectionState::Disconnected,
        initial_attempt: false,
        halted: true,
        lane: VecDeque::new(),
        in_flight: None,
        deferred_acts: Vec::new(),
    };
    wasm_bindgen_futures::spawn_local(async move {
        let queue = driver.shared.queue.clone();
        loop {
            // The next job, or the end of the store batch in flight, whichever comes first:
            // frames keep being read (and the next archive pages asked for) while a batch
            // is being written.
            let next = std::future::poll_fn(|cx| {
                if let Some(f) = driver.in_flight.as_mut() {
                    if let Poll::Ready(done) = f.as_mut().poll(cx) {
                        driver.in_flight = None;
                        return Poll::Ready(Next::Stored(done));
                    }
                }
                let mut job = queue.next();
                Pin::new(&mut job).poll(cx).map(Next::Job)
            })
            .await;
            match next {
                Next::Stored(done) => driver.finish_batch(done),
                Next::Job(Some(job)) => {
                    if driver.job(job).await {
                        break;
                    }
                }
                Next::Job(None) => break,
            }
        }
        driver.shutdown();
    });
}

enum Next {
    Job(Option<Job>),
    Stored(Vec<Done>),
}

/// PLAIN is acceptable only over TLS or to loopback (SPEC §2).
pub(super) fn is_secure(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if scheme.eq_ignore_ascii_case("wss") {
        return true;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !port.contains(']') => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

impl Driver {
    /// Handle one job; `true` when the driver must stop.
    async fn job(&mut self, job: Job) -> bool {
        match job {
            Job::Socket(generation, ev) => {
                if generation != self.generation {
                    return false;
                }
                let input = match ev {
                    SocketEvent::Open => Input::Connected,
                    SocketEvent::Text(t) => match parse_ws_message(&t) {
                        Ok(frame) => Input::Frame(frame),
                        Err(e) => {
                            self.drop_socket();
                            Input::Disconnected(Some(format!("bad frame from the server: {e}")))
                        }
                    },
                    SocketEvent::Closed(why) => {
                        self.drop_socket();
                        if self.initial_attempt {
                            // The first attempt never got a session: the core has nothing
                            // to tear down, the caller wants to know now.
                            self.fail_initial(SdkError::new(Code::Network, why));
                            return false;
                        }
                        Input::Disconnected(Some(why))
                    }
                };
                let is_frame = matches!(input, Input::Frame(_));
                let mut acts = self.core.handle(input, now());
                if is_frame {
                    self.take_queued_frames(&mut acts);
                }
                self.execute(acts);
            }
            Job::Tick => {
                self.timer = None;
                let acts = self.core.handle(Input::Tick, now());
                self.execute(acts);
            }
            Job::Reconnect => {
                self.reconnect = None;
                if self.socket.is_none() && !self.halted {
                    self.open_socket();
                }
            }
            Job::Wake => {
                // Back from sleep or offline: skip the rest of the backoff.
                if self.reconnect.is_some() && self.socket.is_none() && !self.halted {
                    self.reconnect = None;
                    self.open_socket();
                } else if self.state == ConnectionState::Online {
                    // A socket that still looks open may have died in the sleep: prove it.
                    if let Some(s) = &self.socket {
                        s.probe(self.opts.jid.domain().as_str(), random_id(), WAKE_PROBE_MS);
                    }
                }
            }
            Job::Active(active) => {
                let acts = self.core.set_active(active);
                self.execute(acts);
            }
            Job::Connect(reply) => {
                if self.core.is_ready() && self.socket.is_some() {
                    reply.send(Ok(()));
                    return false;
                }
                self.connect_waiters.push(reply);
                self.halted = false;
                if self.socket.is_none() {
                    self.reconnect = None;
                    self.initial_attempt = self.state != ConnectionState::Reconnecting;
                    self.open_socket();
                }
            }
            Job::Command(cmd, reply) => {
                let t = now();
                let (req, acts) = match cmd {
                    Command::Subscribe {
                        room,
                        nick,
                        nodes,
                        password,
                    } => self
                        .core
                        .subscribe(&room, &nick, &nodes, password.as_deref(), t),
                    Command::Unsubscribe(room) => self.core.unsubscribe(&room, t),
                    Command::Subscriptions => self.core.list_subscriptions(t),
                    Command::Subscribers(room) => self.core.list_subscribers(&room, t),
                    Command::Send { room, body, id } => self.core.send_message(&room, &body, &id),
                    Command::History { room, before, max } => {
                        self.core.history(&room, before.as_deref(), max, t)
                    }
                };
                self.pending.insert(req, Pending::Command(reply));
                self.execute(acts);
            }
            Job::Resync(reply) => {
                self.stats.clear();
                let (req, acts) = self.core.resync(now());
                self.pending.insert(req, Pending::Resync(reply));
                self.execute(acts);
            }
            Job::SetSubject(room, subject, reply) => {
                reply.send(self.set_subject(&room, &subject));
            }
            Job::Close(reply) => {
                let acts = self.core.disconnect(now());
                self.halted = true;
                self.execute(acts);
                // What was received before close() is stored and reported before it resolves.
                self.flush_lane().await;
                self.drop_socket();
                self.set_state(ConnectionState::Closed);
                reply.send(());
                return true;
            }
        }
        false
    }

    fn set_subject(&mut self, room: &str, subject: &str) -> Result<(), SdkError> {
        if !self.core.is_ready() {
            return Err(SdkError::new(Code::NotConnected, "not connected"));
        }
        let room = BareJid::new(room)
            .ok()
            .filter(|j| j.node().is_some())
            .ok_or_else(|| SdkError::bad_request(format!("not a room JID: {room:?}")))?;
        let m = Element::builder("message", ns::JABBER_CLIENT)
            .attr(crate::protocol::xml::ncname("to"), room.to_string())
            .attr(crate::protocol::xml::ncname("type"), "groupchat")
            .attr(crate::protocol::xml::ncname("id"), random_id())
            .append(
                Element::builder("subject", ns::JABBER_CLIENT)
                    .append(subject.to_owned())
                    .build(),
            )
            .build();
        let socket = self
            .socket
            .as_ref()
            .ok_or_else(|| SdkError::new(Code::NotConnected, "not connected"))?;
        socket
            .send(&serialize(&m))
            .map_err(|e| SdkError::new(Code::Network, e))
    }

    fn open_socket(&mut self) {
        self.drop_socket();
        self.generation += 1;
        let generation = self.generation;
        let queue = self.shared.queue.clone();
        let sink = move |ev: SocketEvent| queue.push(Job::Socket(generation, ev));
        match Socket::open(&self.opts.url, sink) {
            Ok(s) => {
                self.socket = Some(s);
                if self.state != ConnectionState::Reconnecting {
                    self.set_state(ConnectionState::Connecting);
                }
            }
            Err(e) => self.fail_initial(e),
        }
    }

    fn drop_socket(&mut self) {
        if self.socket.take().is_some() {
            // Late callbacks of the old socket carry the old generation and are ignored.
            self.generation += 1;
        }
    }

    /// The first attempt failed: reject `connect()`, stop retrying.
    fn fail_initial(&mut self, e: SdkError) {
        self.initial_attempt = false;
        self.halted = true;
        self.reconnect = None;
        let _ = self.core.disconnect(now());
        let waiters = std::mem::take(&mut self.connect_waiters);
        if waiters.is_empty() {
            self.shared.emit_error(&e);
        }
        for w in waiters {
            w.send(Err(e.clone()));
        }
        self.set_state(ConnectionState::Disconnected);
    }

    fn set_state(&mut self, s: ConnectionState) {
        if self.state != s {
            self.state = s;
            self.shared.emit("connection", &s.as_str().into());
        }
    }

    /// Perform the core's actions. Network writes, timers and transport changes happen
    /// now; store work and everything the app observes after it (app events, the
    /// reconnect schedule) go through the store lane, so they keep the core's order and a
    /// callback never reports data that is not yet committed.
    fn execute(&mut self, acts: Vec<Action>) {
        self.perform(acts);
        self.settle();
    }

    fn perform(&mut self, acts: Vec<Action>) {
        let mut todo: VecDeque<Action> = acts.into();
        while let Some(a) = todo.pop_front() {
            match a {
                Action::Write(w) => {
                    let failed = match &self.socket {
                        Some(s) => s.send(&w).err(),
                        None => None,
                    };
                    if let Some(e) = failed {
                        self.drop_socket();
                        todo.extend(self.core.handle(Input::Disconnected(Some(e)), now()));
                    }
                }
                Action::ResetParser => {}
                Action::CloseTransport => self.drop_socket(),
                Action::TimerAt(at) => {
                    // The core asks on nearly every input; an armed timer that fires no
                    // later is kept (an early tick only makes the core ask again), which
                    // spares a setTimeout/clearTimeout pair per socket frame.
                    if self.timer.as_ref().is_some_and(|(armed, _)| *armed <= at) {
                        continue;
                    }
                    let queue = self.shared.queue.clone();
                    let wait = (at - now().0) as f64;
                    self.timer = Some((at, Timer::after(wait, move || queue.push(Job::Tick))));
                }
                Action::Store(StoreOp::Apply {
                    room,
                    events,
                    cursor,
                    gap,
                }) => self
                    .lane
                    .push_back(Laned::Apply((room, events, cursor, gap))),
                Action::Store(op) => self.lane.push_back(Laned::Op(op)),
                Action::Event(e) if self.lane_idle() => todo.extend(self.app_event(e)),
                Action::Event(e) => self.lane.push_back(Laned::Event(e)),
                Action::ReconnectIn(ms) if self.lane_idle() => self.schedule_reconnect(ms),
                Action::ReconnectIn(ms) => self.lane.push_back(Laned::Reconnect(ms)),
            }
        }
    }

    /// Start store work that can start and perform what the events run meanwhile asked for.
    fn settle(&mut self) {
        loop {
            self.pump();
            if self.deferred_acts.is_empty() {
                return;
            }
            let acts = std::mem::take(&mut self.deferred_acts);
            self.perform(acts);
        }
    }

    /// Nothing is being stored nor waits to be: what comes next can be done at once.
    fn lane_idle(&self) -> bool {
        self.in_flight.is_none() && self.lane.is_empty()
    }

    fn schedule_reconnect(&mut self, ms: u64) {
        if self.halted {
            return;
        }
        let queue = self.shared.queue.clone();
        self.reconnect = Some(Timer::after(ms as f64, move || queue.push(Job::Reconnect)));
        self.set_state(ConnectionState::Reconnecting);
    }

    /// Start the next store batch when none is in flight: the lane's first store op, with
    /// every queued page behind it (of any room, up to [`MAX_BATCH`]) in one transaction,
    /// and the events queued among them, which fire after the commit in their place.
    /// Events at the head of the lane (nothing left to wait for) run now.
    fn pump(&mut self) {
        while self.in_flight.is_none() {
            match self.lane.pop_front() {
                None => return,
                Some(Laned::Event(e)) => {
                    let acts = self.app_event(e);
                    self.execute_later(acts);
                }
                Some(Laned::Reconnect(ms)) => self.schedule_reconnect(ms),
                Some(Laned::Op(op)) => {
                    let store = self.store.clone();
                    let fut = async move {
                        let result = match &op {
                            StoreOp::PutSubscription(rec) => store.put_subscription(rec).await,
                            StoreOp::RemoveSubscription(room) => {
                                store.remove_subscription(room).await
                            }
                            StoreOp::Apply { .. } => Ok(()),
                        };
                        vec![Done::Op(result)]
                    };
                    self.in_flight = Some(Box::pin(fut));
                }
                Some(Laned::Apply(first)) => {
                    let mut batch = vec![Laned::Apply(first)];
                    let mut pages = 1;
                    while pages < MAX_BATCH {
                        match self.lane.front() {
                            Some(Laned::Apply(_)) => pages += 1,
                            Some(Laned::Event(_) | Laned::Reconnect(_)) => {}
                            Some(Laned::Op(_)) | None => break,
                        }
                        batch.extend(self.lane.pop_front());
                    }
                    self.in_flight = Some(Box::pin(store_batch(self.store.clone(), batch)));
                }
            }
        }
    }

    /// Actions produced while the lane is being drained: performed by `settle` once
    /// `pump` returns (through the lane, so they stay behind anything already queued).
    fn execute_later(&mut self, acts: Vec<Action>) {
        self.deferred_acts.extend(acts);
    }

    /// A store batch finished: report each page (or its error) and run the events that
    /// waited for it, in the order the core produced them.
    fn finish_batch(&mut self, done: Vec<Done>) {
        self.in_flight = None;
        for d in done {
            match d {
                Done::Page((room, events, cursor, gap), Ok(fresh)) => {
                    self.applied(&room, &events, cursor.is_some(), gap.is_some(), &fresh);
                }
                Done::Page(_, Err(e)) | Done::Op(Err(e)) => {
                    self.shared.emit_error(&SdkError::store(e.0));
                }
                Done::Op(Ok(())) => {}
                Done::Event(e) => {
                    let acts = self.app_event(e);
                    self.execute_later(acts);
                }
                Done::Reconnect(ms) => self.schedule_reconnect(ms),
            }
        }
        self.settle();
    }

    /// Wait until everything queued for the store is stored and reported.
    async fn flush_lane(&mut self) {
        loop {
            self.settle();
            match self.in_flight.take() {
                Some(f) => {
                    let done = f.await;
                    self.finish_batch(done);
                }
                None if self.lane.is_empty() => return,
                None => {}
            }
        }
    }

    /// Feed the core the socket frames already queued behind the one it just took, as long
    /// as the frames so far only store events: their pages then go to the store lane
    /// together (one transaction) and the job loop turns fewer times. A frame that does
    /// anything else ends the run, so none of its actions is overtaken by input the core
    /// has already seen.
    fn take_queued_frames(&mut self, acts: &mut Vec<Action>) {
        let mut taken = 1;
        while taken < MAX_BATCH
            && acts
                .iter()
                .all(|a| matches!(a, Action::Store(StoreOp::Apply { .. }) | Action::TimerAt(_)))
        {
            let generation = self.generation;
            let Some(Job::Socket(_, SocketEvent::Text(t))) = self
                .shared
                .queue
                .next_if(|j| matches!(j, Job::Socket(g, SocketEvent::Text(_)) if *g == generation))
            else {
                break;
            };
            taken += 1;
            match parse_ws_message(&t) {
                Ok(frame) => acts.extend(self.core.handle(Input::Frame(frame), now())),
                Err(e) => {
                    self.drop_socket();
                    let why = format!("bad frame from the server: {e}");
                    acts.extend(self.core.handle(Input::Disconnected(Some(why)), now()));
                    break;
                }
            }
        }
    }

    /// Report a stored page: resync progress for archive pages, then its new events.
    fn applied(
        &mut self,
        room: &str,
        events: &[RoomEvent],
        cursor: bool,
        gap: bool,
        fresh: &[RoomEvent],
    ) {
        let is_sync_page = cursor
            || gap
            || (!events.is_empty()
                && events
                    .iter()
                    .all(|e| e.source == crate::event::Source::Archive));
        if is_sync_page {
            let st = self.stats.entry(room.to_owned()).or_default();
            st.fetched += events.len() as u32;
            st.gap |= gap;
            let p = JsSyncProgress {
                room: room.to_owned(),
                fetched: st.fetched,
                complete: false,
                gap: st.gap,
            };
            self.emit_value("sync", || p);
        }
        for ev in fresh {
            self.emit_value("event", || JsRoomEvent::from_event(ev));
        }
    }

    /// Build and emit the value only when a callback listens: converting it into a JS
    /// object is most of what an event costs on the JS side, and a resync has one per
    /// stored message, usually with no `event` listener at all.
    fn emit_value<T: serde::Serialize>(&self, name: &str, v: impl FnOnce() -> T) {
        if !self.shared.listening(name) {
            return;
        }
        match to_js(&v()) {
            Ok(js) => self.shared.emit(name, &js),
            Err(e) => self.shared.emit_error(&e),
        }
    }

    /// React to an app event; may return more actions (from `disconnect`).
    fn app_event(&mut self, e: AppEvent) -> Vec<Action> {
        match e {
            AppEvent::Connected { .. } => {
                self.initial_attempt = false;
                self.stats.clear();
                self.set_state(ConnectionState::Online);
                for w in std::mem::take(&mut self.connect_waiters) {
                    w.send(Ok(()));
                }
            }
            AppEvent::Disconnected { error } => {
                let reason = error.unwrap_or_else(|| "connection closed".into());
                if reason.starts_with("authentication failed") {
                    let err = SdkError::new(Code::AuthFailed, reason);
                    self.fail_initial(err);
                    return Vec::new();
                }
                if self.initial_attempt {
                    self.fail_initial(SdkError::new(Code::Network, reason));
                    return Vec::new();
                }
                // Reconnecting state follows with the core's ReconnectIn.
                self.set_state(ConnectionState::Disconnected);
                for w in std::mem::take(&mut self.sync_waiters) {
                    w.send(Err(SdkError::new(Code::Network, reason.clone())));
                }
            }
            AppEvent::Room(ev) => self.emit_value("event", || JsRoomEvent::from_event(&ev)),
            AppEvent::Result { request, result } => match self.pending.remove(&request) {
                Some(Pending::Command(reply)) => {
                    reply.send(result.map_err(|e| command_error(&e)));
                }
                Some(Pending::Resync(reply)) => match result {
                    Ok(_) => self.sync_waiters.push(reply),
                    Err(e) => reply.send(Err(command_error(&e))),
                },
                None => {}
            },
            AppEvent::SubscriptionsChanged { .. } => {}
            AppEvent::RoomSynced { room, ok } => {
                let st = self.stats.entry(room.clone()).or_default();
                let p = JsSyncProgress {
                    room,
                    fetched: st.fetched,
                    complete: ok,
                    gap: st.gap,
                };
                self.emit_value("sync", || p);
            }
            AppEvent::Synced => {
                let summary = JsSyncSummary {
                    rooms: self.stats.len() as u32,
                    fetched: self.stats.values().map(|s| s.fetched).sum(),
                    gaps: self.stats.values().filter(|s| s.gap).count() as u32,
                };
                for w in std::mem::take(&mut self.sync_waiters) {
                    w.send(Ok(summary.clone()));
                }
            }
            AppEvent::Warning(w) => self.warning(w),
        }
        Vec::new()
    }

    fn warning(&self, w: ClientWarning) {
        match w {
            ClientWarning::MessageError {
                from,
                id,
                condition,
            } => {
                let msg = format!(
                    "message {} to {from} bounced: {condition}",
                    id.unwrap_or_default()
                );
                self.shared
                    .emit_error(&SdkError::new(Code::from_condition(&condition), msg));
            }
            ClientWarning::Resync(ResyncWarning::QueryFailed { room, reason }) => {
                self.shared.emit_error(&SdkError::new(
                    Code::Internal,
                    format!("resync of {room} failed: {reason}"),
                ));
            }
            other => {
                web_sys::console::warn_1(&format!("mucsub: {other:?}").into());
            }
        }
    }

    fn shutdown(&mut self) {
        self.drop_socket();
        self.timer = None;
        self.reconnect = None;
        let closed = || SdkError::new(Code::NotConnected, "the client was closed");
        for (_, p) in self.pending.drain() {
            match p {
                Pending::Command(r) => r.send(Err(closed())),
                Pending::Resync(r) => r.send(Err(closed())),
            }
        }
        for w in self.connect_waiters.drain(..) {
            w.send(Err(closed()));
        }
        for w in self.sync_waiters.drain(..) {
            w.send(Err(closed()));
        }
    }
}
