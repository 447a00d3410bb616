//! The driver task: it owns the sans-IO [`Client`] core, the WebSocket, the timers and the
//! store lane, takes [`Job`]s from the queue one at a time and performs the core's actions
//! in order. Network writes happen at once; store writes, and whatever the app observes
//! after them, go through the [`Lane`].

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use crate::client::{Action, AppEvent, Client, ClientConfig, Command, Input, StoreOp};
use crate::session::framing::{parse_ws_message, Framing};
use crate::session::{SessionConfig, Wake};
use crate::store::{Snapshot, Store};
use crate::wasm::credentials::{Auth, Secret};
use crate::wasm::error::{Code, SdkError};
use crate::wasm::socket::{Socket, SocketEvent, Timer};

use super::lane::{Done, Lane, Laned, MAX_BATCH};
use super::options::{is_secure, now, random_bytes, random_id, ConnectionState, Options};
use super::prepared::Prepared;
use super::report::Reporter;
use super::{Job, Shared};

/// How long a woken page waits for the answer to its ping before it takes the socket for
/// dead (socket.rs): a live connection answers in well under a second, a phone's radio
/// may take a few to come back.
const WAKE_PROBE_MS: f64 = 8_000.0;

/// The driver's state; lives inside the driver task only.
pub(super) struct Driver<S> {
    shared: Rc<Shared>,
    opts: Options,
    core: Client,
    socket: Option<Socket>,
    generation: u64,
    /// The core's timer and the time it fires at.
    timer: Option<(i64, Timer)>,
    reconnect: Option<Timer>,
    /// What the app is told, and the promises waiting for a command's result, a
    /// connection or a resync.
    report: Reporter,
    state: ConnectionState,
    /// The first attempt after `connect()`: a failure rejects the promise and stops.
    initial_attempt: bool,
    /// Do not reconnect (auth failure, failed first attempt, close) until `connect()`.
    halted: bool,
    /// Store work (and what waits for it), in the core's order.
    lane: Lane<S>,
    /// Connection attempts that asked the `credentials` callback, and the one waiting for
    /// its answer.
    attempts: u64,
    fetching: Option<u64>,
    /// Persists what the device wakes with (IndexedDB `device`).
    save_wake: WakeSaver,
}

/// Saves the wake state (token, device id, stream); fire and forget.
pub type WakeSaver = Rc<dyn Fn(Wake)>;

enum Next {
    Job(Option<Job>),
    Stored(Vec<Done>),
}

/// Start the driver for an opened store. Returns once spawned.
pub fn spawn<S: Store + 'static>(
    shared: Rc<Shared>,
    opts: Options,
    store: Rc<S>,
    snapshot: Snapshot,
    wake: Wake,
    save_wake: WakeSaver,
) {
    // With a `credentials` callback the secret is set before each connection (`attempt`).
    let password = match &opts.auth {
        Auth::Password(p) => p.clone(),
        Auth::Callback(_) | Auth::Saved => String::new(),
    };
    let mut cfg = ClientConfig::new(SessionConfig {
        jid: opts.jid.clone(),
        password,
        resource: opts.resource.clone(),
        framing: Framing::WebSocket,
        secure: is_secure(&opts.url),
        initial_presence: true,
        token: false,
    });
    // The core's only randomness (backoff jitter, its MAM query prefix) comes from here.
    cfg.seed = u64::from_le_bytes(random_bytes::<8>()) | 1;
    if let Some(n) = opts.page_size {
        cfg.resync.page_size = n;
    }
    // SASL2 + FAST + stream management where the server offers them: a wake resumes in
    // one round trip, and after the first sign-in no password is needed.
    cfg.wake = wake;
    let mut driver = Driver {
        report: Reporter::new(shared.clone()),
        shared,
        opts,
        core: Client::new(cfg, snapshot),
        socket: None,
        generation: 0,
        timer: None,
        reconnect: None,
        state: ConnectionState::Disconnected,
        initial_attempt: false,
        halted: true,
        lane: Lane::new(store),
        attempts: 0,
        fetching: None,
        save_wake,
    };
    wasm_bindgen_futures::spawn_local(async move {
        let queue = driver.shared.queue.clone();
        loop {
            // The next job, or the end of the store batch in flight, whichever comes first:
            // frames keep being read (and the next archive pages asked for) while a batch
            // is being written.
            let next = std::future::poll_fn(|cx| {
                if let Poll::Ready(done) = driver.lane.poll_done(cx) {
                    return Poll::Ready(Next::Stored(done));
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

impl<S: Store + 'static> Driver<S> {
    /// Handle one job; `true` when the driver must stop.
    async fn job(&mut self, job: Job) -> bool {
        match job {
            Job::Socket(generation, ev) => {
                if generation == self.generation {
                    self.socket_event(ev);
                }
            }
            Job::Tick => {
                self.timer = None;
                let acts = self.core.handle(Input::Tick, now());
                self.execute(acts);
            }
            Job::Reconnect => {
                self.reconnect = None;
                if self.socket.is_none() && !self.halted {
                    self.attempt();
                }
            }
            Job::Wake => {
                // Back from sleep or offline: skip the rest of the backoff.
                if self.reconnect.is_some() && self.socket.is_none() && !self.halted {
                    self.reconnect = None;
                    self.attempt();
                } else if self.state == ConnectionState::Online {
                    // A socket that still looks open may have died in the sleep: prove it
                    // with a ping the core writes (a managed stream counts it) and whose
                    // answer the socket waits for (socket.rs).
                    if self
                        .socket
                        .as_ref()
                        .is_some_and(|s| s.is_open() && !s.probing())
                    {
                        let id = random_id();
                        let acts = self.core.ping(&id);
                        if !acts.is_empty() {
                            self.execute(acts);
                            if let Some(s) = &mut self.socket {
                                s.await_answer(id, WAKE_PROBE_MS);
                            }
                        }
                    }
                }
            }
            Job::Credentials(n, secret) => self.credentials(n, secret),
            Job::Active(active) => {
                let acts = self.core.set_active(active);
                self.execute(acts);
                if !active {
                    // The page may be frozen or killed from here: keep `h` as it is now.
                    self.persist_wake();
                }
            }
            Job::Connect(reply) => {
                if self.core.is_ready() && self.socket.is_some() {
                    reply.send(Ok(()));
                    return false;
                }
                self.report.connect(reply);
                self.halted = false;
                if self.socket.is_none() {
                    self.reconnect = None;
                    self.initial_attempt = self.state != ConnectionState::Reconnecting;
                    self.attempt();
                }
            }
            Job::Command(cmd, reply) => {
                // The reply is registered before the actions run: they may hold the result.
                let (req, acts) = self.core.command(cmd, now());
                self.report.command(req, reply);
                self.execute(acts);
            }
            Job::Resync(reply) => {
                let (req, acts) = self.core.command(Command::Resync, now());
                self.report.resync(req, reply);
                self.execute(acts);
            }
            Job::Leave => {
                let acts = self.core.disconnect(now());
                self.halted = true;
                self.execute(acts);
                self.persist_wake();
            }
            Job::Close(reply) => {
                let acts = self.core.disconnect(now());
                self.halted = true;
                self.execute(acts);
                // The stream ended with the close: the next page signs in afresh.
                self.persist_wake();
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

    fn socket_event(&mut self, ev: SocketEvent) {
        let input = match ev {
            SocketEvent::Open => Input::Connected,
            SocketEvent::Text(t) => match parse_ws_message(&t) {
                Ok(frame) => {
                    if let Some(s) = &mut self.socket {
                        s.answered(&frame);
                    }
                    Input::Frame(frame)
                }
                Err(e) => {
                    self.drop_socket();
                    Input::Disconnected(Some(format!("bad frame from the server: {e}")))
                }
            },
            SocketEvent::Closed(why) => {
                self.drop_socket();
                if self.initial_attempt {
                    // The first attempt never got a session: the core has nothing to tear
                    // down, the caller wants to know now.
                    self.fail_initial(SdkError::new(Code::Network, why));
                    return;
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

    /// Feed the core the socket frames already queued behind the one it just took, as long
    /// as the frames so far only store events: their pages then go to the store lane
    /// together (one batch) and the job loop turns fewer times. A frame that does anything
    /// else ends the run, so none of its actions is overtaken by input the core has
    /// already seen.
    fn take_queued_frames(&mut self, acts: &mut Vec<Action>) {
        let mut taken = 1;
        while taken < MAX_BATCH
            && acts
                .iter()
                .all(|a| matches!(a, Action::Store(StoreOp::Apply(_)) | Action::TimerAt(_)))
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
                Ok(frame) => {
                    if let Some(s) = &mut self.socket {
                        s.answered(&frame);
                    }
                    acts.extend(self.core.handle(Input::Frame(frame), now()));
                }
                Err(e) => {
                    self.drop_socket();
                    let why = format!("bad frame from the server: {e}");
                    acts.extend(self.core.handle(Input::Disconnected(Some(why)), now()));
                    break;
                }
            }
        }
    }

    /// Starts a connection attempt. With a `credentials` callback the app is asked first
    /// (every time: its tokens may be short-lived) and the socket opens when it answers
    /// ([`Job::Credentials`]); with a password, at once.
    fn attempt(&mut self) {
        let Auth::Callback(_) = &self.opts.auth else {
            self.open_socket();
            return;
        };
        if self.fetching.is_some() {
            return;
        }
        self.attempts += 1;
        let n = self.attempts;
        self.fetching = Some(n);
        if self.state != ConnectionState::Reconnecting {
            self.set_state(ConnectionState::Connecting);
        }
        let auth = self.opts.auth.clone();
        let queue = self.shared.queue.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let secret = auth.secret().await;
            queue.push(Job::Credentials(n, secret));
        });
    }

    /// The callback answered attempt `n`: connect with its secret, or fail the attempt as
    /// a connection that could not authenticate (the first one rejects `connect()`, later
    /// ones report an `error` and retry with backoff).
    fn credentials(&mut self, n: u64, secret: Result<Secret, SdkError>) {
        if self.fetching != Some(n) {
            return;
        }
        self.fetching = None;
        if self.halted || self.socket.is_some() {
            return;
        }
        match secret {
            Ok(s) => {
                self.core.set_credentials(s.value, s.token);
                self.open_socket();
            }
            Err(e) if self.initial_attempt => self.fail_initial(e),
            Err(e) => {
                self.shared.emit_error(&e);
                let acts = self
                    .core
                    .handle(Input::Disconnected(Some(e.message)), now());
                self.execute(acts);
            }
        }
    }

    fn open_socket(&mut self) {
        self.drop_socket();
        self.generation += 1;
        let generation = self.generation;
        let queue = self.shared.queue.clone();
        let sink = Rc::new(move |ev: SocketEvent| queue.push(Job::Socket(generation, ev)));
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
        self.report.connect_failed(&e);
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
                Action::Store(op) => self.lane.store(op),
                Action::Event(e) if self.lane.is_idle() => self.app_event(e),
                Action::Event(e) => self.lane.push(Laned::Event(e)),
                Action::ReconnectIn(ms) if self.lane.is_idle() => self.schedule_reconnect(ms),
                Action::ReconnectIn(ms) => self.lane.push(Laned::Reconnect(ms)),
            }
        }
    }

    /// Run what waits for nothing any more and start the next store batch.
    fn settle(&mut self) {
        for d in self.lane.start() {
            self.done(d, &mut Prepared::default());
        }
    }

    /// One item out of the lane.
    fn done(&mut self, d: Done, prepared: &mut Prepared) {
        match d {
            Done::Page(page, Ok(applied)) => self.report.applied(&page, &applied, prepared),
            Done::Page(_, Err(e)) | Done::Failed(e) => {
                self.shared.emit_error(&SdkError::store(e.0));
            }
            Done::Event(e) => self.app_event(e),
            Done::Reconnect(ms) => self.schedule_reconnect(ms),
        }
    }

    /// React to an app event: the connection's own here, the rest reported to the app.
    fn app_event(&mut self, e: AppEvent) {
        match e {
            AppEvent::Connected { .. } | AppEvent::Resumed { .. } => {
                self.initial_attempt = false;
                self.persist_wake();
                self.set_state(ConnectionState::Online);
                self.report.connected();
            }
            // A new token, or the saved one refused (then dropped): save what is left.
            // The refusal ends the connection with an auth failure, reported below.
            AppEvent::Token(_) | AppEvent::CredentialsNeeded { .. } => self.persist_wake(),
            // Caught up: from here a later page may resume this stream.
            AppEvent::Synced => {
                self.persist_wake();
                self.report.app_event(AppEvent::Synced);
            }
            AppEvent::Disconnected { error } => {
                let reason = error.unwrap_or_else(|| "connection closed".into());
                if reason.starts_with("authentication failed") {
                    self.fail_initial(SdkError::new(Code::AuthFailed, reason));
                    return;
                }
                if self.initial_attempt {
                    self.fail_initial(SdkError::new(Code::Network, reason));
                    return;
                }
                // Reconnecting state follows with the core's ReconnectIn.
                self.set_state(ConnectionState::Disconnected);
                self.report.disconnected(&reason);
            }
            other => self.report.app_event(other),
        }
    }

    fn persist_wake(&self) {
        let mut wake = self.core.wake().clone();
        if !self.core.is_synced() {
            // A page loaded after this one would resume into a replay of archive pages it
            // no longer asks for (the server resends every unacknowledged stanza) and
            // resync anyway: only a caught-up stream is saved for it. This page itself
            // resumes from memory.
            wake.stream = None;
        }
        (self.save_wake)(wake);
    }

    fn schedule_reconnect(&mut self, ms: u64) {
        if self.halted {
            return;
        }
        let queue = self.shared.queue.clone();
        self.reconnect = Some(Timer::after(ms as f64, move || queue.push(Job::Reconnect)));
        self.set_state(ConnectionState::Reconnecting);
    }

    /// A store batch finished: report each page (or its error) and run the events that
    /// waited for it, in the order the core produced them.
    fn finish_batch(&mut self, done: Vec<Done>) {
        let mut prepared = Prepared::of(&self.shared, &done);
        for d in done {
            self.done(d, &mut prepared);
        }
        self.settle();
    }

    /// Wait until everything queued for the store is stored and reported.
    async fn flush_lane(&mut self) {
        loop {
            self.settle();
            match self.lane.finish().await {
                Some(done) => self.finish_batch(done),
                None if self.lane.is_empty() => return,
                None => {}
            }
        }
    }

    fn shutdown(&mut self) {
        self.drop_socket();
        self.timer = None;
        self.reconnect = None;
        self.report.close();
    }
}
