//! Tabs of one app sharing one client (issue 21), sans-IO: which tab leads, where each call
//! runs, and what happens to calls in flight when the leader goes away.
//!
//! Per store name, the tab holding the store's Web Lock is the **leader**: it alone runs the
//! real client (WebSocket, resync, IndexedDB writes). The others are **followers**: their
//! calls go to the leader as [`Wire::Request`]s with a request id and come back as
//! [`Wire::Response`]s; the leader's callbacks (events, sync progress, errors — each fired
//! after the commit it reports) come to them as [`Wire::Event`]s, its connection state as
//! [`Wire::State`]. One sender over one channel keeps the leader's order.
//!
//! [`Tabs`] is that protocol as a state machine: the edge (`src/wasm/tabs.rs`) feeds it
//! what the lock and the channel report and the app's calls, and performs the
//! [`Effect`]s it returns (post a message, run a call locally, resolve a caller, emit a
//! callback). Calls and values are opaque to it ([`Call`] only says whether a call may be
//! sent twice), so it is tested natively with plain strings.
//!
//! Hand-off: a leader that closes, reloads or crashes loses its lock; the browser grants
//! it to the next waiting tab, which [`Tabs::lock_granted`] promotes. It announces itself
//! ([`Wire::Leader`]) and followers re-address their pending calls to it. A call already
//! sent to the old leader is sent again when [`Call::retry_safe`] (asking, subscribing, a
//! read marker, a resync: doing it twice is harmless), and fails with `network` otherwise
//! (a `send` the old leader may or may not have written to the socket — the same answer a
//! dropped connection gives), never silently dropped.

#[cfg(test)]
mod tests;

/// A tab's random id.
pub type TabId = String;

/// What a call forwarded between tabs must tell the protocol.
pub trait Call {
    /// Whether running it twice is harmless (then it is retried on the next leader when
    /// the one it was sent to goes away).
    fn retry_safe(&self) -> bool;
    /// Whether it asks for the connection (`connect()`): a tab that asked for it, once
    /// leader, connects by itself.
    fn connects(&self) -> bool;
}

/// A tab's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The election has not answered yet.
    Undecided,
    /// Holds the lock, runs the client.
    Leader,
    /// Forwards to the leader.
    Follower,
    /// Closed: serves nothing, waits for nothing.
    Closed,
}

impl Role {
    /// The JS name (`client.role`, the `role` event); `None` before the election answered
    /// and once closed.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Role::Leader => Some("leader"),
            Role::Follower => Some("follower"),
            Role::Undecided | Role::Closed => None,
        }
    }
}

/// An error carried between tabs: the `code` and message of the SDK error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The stable error code (`network`, `not-connected`, …).
    pub code: String,
    /// The message.
    pub message: String,
}

impl Failure {
    fn new(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// A message on the store's channel. `C`: a call; `V`: a value (result or callback value).
#[derive(Debug, Clone, PartialEq)]
pub enum Wire<C, V> {
    /// A new tab asks who leads.
    Hello {
        /// The new tab.
        from: TabId,
    },
    /// The leader says it leads (on taking the lock, and to each `Hello`).
    Leader {
        /// The leader.
        from: TabId,
        /// Its connection state, when it has one.
        state: Option<String>,
    },
    /// A follower's call for the leader `to`.
    Request {
        /// The follower.
        from: TabId,
        /// The leader it was addressed to.
        to: TabId,
        /// The follower's request id.
        req: u64,
        /// The call.
        call: C,
    },
    /// The leader's answer to request `req` of tab `to`.
    Response {
        /// The leader.
        from: TabId,
        /// The follower.
        to: TabId,
        /// The follower's request id.
        req: u64,
        /// The result.
        result: Result<V, Failure>,
    },
    /// A callback of the leader (`event`, `sync`, `error`), after its commit.
    Event {
        /// The leader.
        from: TabId,
        /// The callback name.
        name: String,
        /// Its value.
        value: V,
    },
    /// The leader's connection state changed.
    State {
        /// The leader.
        from: TabId,
        /// `connecting`, `online`, …
        state: String,
    },
}

/// What the edge does for the protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect<C, V> {
    /// Post on the channel.
    Post(Wire<C, V>),
    /// Run this tab's own call `req` locally (as leader); its result resolves the caller.
    Run {
        /// The request id.
        req: u64,
        /// The call.
        call: C,
    },
    /// Run a follower's call locally and hand the result to [`Tabs::served`].
    Serve {
        /// The follower.
        from: TabId,
        /// Its request id.
        req: u64,
        /// The call.
        call: C,
    },
    /// Resolve this tab's caller of request `req`.
    Deliver {
        /// The request id.
        req: u64,
        /// The result.
        result: Result<V, Failure>,
    },
    /// Fire this tab's callbacks `name` with the leader's value.
    Emit {
        /// The callback name.
        name: String,
        /// Its value.
        value: V,
    },
    /// Fire this tab's `connection` callbacks with the leader's state.
    State(String),
    /// This tab's role changed (fire the `role` callbacks).
    Role(Role),
    /// This tab just became leader and the account was online (or this tab asked to
    /// connect): connect now, with this tab's credentials. Comes before the `Run`s of the
    /// calls carried over.
    Connect,
}

/// One of this tab's calls waiting for its result.
struct Pending<C> {
    call: C,
    /// The leader it was sent to; `None` while no leader is known.
    sent_to: Option<TabId>,
}

/// The protocol state of one tab.
pub struct Tabs<C, V> {
    me: TabId,
    role: Role,
    /// The leader a follower knows of.
    leader: Option<TabId>,
    next_req: u64,
    /// Calls awaiting a result, by request number, in request order (numbers only grow).
    /// A list, not a `BTreeMap`: a tab has a handful in flight, and each map type costs
    /// the browser package its own copy of the B-tree code (issue 24, package size).
    pending: Vec<(u64, Pending<C>)>,
    /// The leader has heard from a follower: its callbacks are worth broadcasting.
    followed: bool,
    /// The leader's connection state (its own as leader, the one heard as follower).
    state: Option<String>,
    /// This tab called `connect()` or saw the account online: as leader it connects.
    wants_online: bool,
    _values: std::marker::PhantomData<V>,
}

/// Connection states in which the account is (or is getting) online.
fn is_live(state: &str) -> bool {
    matches!(state, "online" | "connecting" | "reconnecting")
}

impl<C: Call + Clone, V: Clone> Tabs<C, V> {
    /// A tab with id `me`, before the election; [`Tabs::start`] says hello.
    pub fn new(me: TabId) -> Tabs<C, V> {
        Tabs {
            me,
            role: Role::Undecided,
            leader: None,
            next_req: 1,
            pending: Vec::new(),
            followed: false,
            state: None,
            wants_online: false,
            _values: std::marker::PhantomData,
        }
    }

    /// The tab joins the channel: it asks who leads (and the edge asks for the lock).
    pub fn start(&self) -> Vec<Effect<C, V>> {
        vec![Effect::Post(Wire::Hello {
            from: self.me.clone(),
        })]
    }

    /// A tab that shares nothing (no Web Locks or BroadcastChannel in this browser): it
    /// leads from the start and posts nothing.
    pub fn alone(me: TabId) -> Tabs<C, V> {
        let mut tabs = Tabs::new(me);
        tabs.role = Role::Leader;
        tabs
    }

    /// This tab's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the leader's callbacks should be broadcast (a follower said hello or asked).
    pub fn followed(&self) -> bool {
        self.role == Role::Leader && self.followed
    }

    /// The app called a method: where it runs. Returns its request id.
    pub fn call(&mut self, call: C) -> (u64, Vec<Effect<C, V>>) {
        let req = self.next_req;
        self.next_req += 1;
        self.wants_online |= call.connects();
        let mut out = Vec::new();
        match self.role {
            Role::Leader => out.push(Effect::Run { req, call }),
            Role::Closed => out.push(Effect::Deliver {
                req,
                result: Err(Failure::new("not-connected", "the client was closed")),
            }),
            Role::Undecided | Role::Follower => {
                let sent_to = self.leader.clone();
                if let Some(to) = &sent_to {
                    out.push(self.request(to, req, &call));
                }
                self.pending.push((req, Pending { call, sent_to }));
            }
        }
        (req, out)
    }

    fn request(&self, to: &TabId, req: u64, call: &C) -> Effect<C, V> {
        Effect::Post(Wire::Request {
            from: self.me.clone(),
            to: to.clone(),
            req,
            call: call.clone(),
        })
    }

    /// The store's lock: `true` when this tab got it (at once, or after waiting), `false`
    /// when another tab holds it (then the edge waits for it).
    pub fn lock_granted(&mut self, granted: bool) -> Vec<Effect<C, V>> {
        let mut out = Vec::new();
        match (self.role, granted) {
            (Role::Undecided | Role::Follower, true) => self.promote(&mut out),
            (Role::Undecided, false) => {
                self.role = Role::Follower;
                out.push(Effect::Role(Role::Follower));
            }
            _ => {}
        }
        out
    }

    fn promote(&mut self, out: &mut Vec<Effect<C, V>>) {
        let old = self.leader.take();
        // A follower that takes over had company: the others follow it from the first
        // event on (they would only say so with their next call).
        self.followed |= self.role == Role::Follower;
        self.role = Role::Leader;
        self.leader = Some(self.me.clone());
        out.push(Effect::Role(Role::Leader));
        out.push(Effect::Post(Wire::Leader {
            from: self.me.clone(),
            state: None,
        }));
        let was_live = self.state.as_deref().is_some_and(is_live);
        self.state = None;
        if self.wants_online || was_live {
            self.wants_online = true;
            out.push(Effect::Connect);
        }
        for (req, p) in std::mem::take(&mut self.pending) {
            match self.carry_over(req, p, old.as_ref()) {
                Ok(call) => out.push(Effect::Run { req, call }),
                Err(e) => out.push(e),
            }
        }
    }

    /// A pending call when the leader changes: `Ok` to run (or send) it again, `Err` with
    /// the effect failing it.
    fn carry_over(&self, req: u64, p: Pending<C>, old: Option<&TabId>) -> Result<C, Effect<C, V>> {
        let was_sent = p.sent_to.is_some() && p.sent_to.as_ref() == old;
        if !was_sent || p.call.retry_safe() {
            return Ok(p.call);
        }
        Err(Effect::Deliver {
            req,
            result: Err(Failure::new(
                "network",
                "the tab running the connection went away with this call in flight; \
                 it may or may not have reached the server",
            )),
        })
    }

    /// A message from the channel (never this tab's own: a channel does not echo).
    pub fn receive(&mut self, wire: Wire<C, V>) -> Vec<Effect<C, V>> {
        let mut out = Vec::new();
        match wire {
            Wire::Hello { .. } => {
                if self.role == Role::Leader {
                    self.followed = true;
                    out.push(Effect::Post(Wire::Leader {
                        from: self.me.clone(),
                        state: self.state.clone(),
                    }));
                }
            }
            Wire::Leader { from, state } => {
                if matches!(self.role, Role::Undecided | Role::Follower) {
                    self.follow(from, &mut out);
                    if let Some(s) = state {
                        self.heard_state(s, &mut out);
                    }
                }
            }
            Wire::Request {
                from,
                to,
                req,
                call,
            } => {
                if self.role == Role::Leader && to == self.me {
                    self.followed = true;
                    out.push(Effect::Serve { from, req, call });
                }
            }
            Wire::Response {
                from,
                to,
                req,
                result,
            } => {
                let mine = self.pending.iter().position(|(r, p)| {
                    *r == req && to == self.me && p.sent_to.as_ref() == Some(&from)
                });
                if let Some(i) = mine {
                    self.pending.remove(i);
                    out.push(Effect::Deliver { req, result });
                }
            }
            Wire::Event { from, name, value } => {
                if self.accepts_from(&from, &mut out) {
                    out.push(Effect::Emit { name, value });
                }
            }
            Wire::State { from, state } => {
                if self.accepts_from(&from, &mut out) {
                    self.heard_state(state, &mut out);
                }
            }
        }
        out
    }

    /// Whether a broadcast of tab `from` is for this tab: only a leader broadcasts, so a
    /// tab that did not know the leader learns it here.
    fn accepts_from(&mut self, from: &TabId, out: &mut Vec<Effect<C, V>>) -> bool {
        if !matches!(self.role, Role::Undecided | Role::Follower) {
            return false;
        }
        if self.leader.as_ref() != Some(from) {
            self.follow(from.clone(), out);
        }
        true
    }

    /// `leader` leads now: pending calls go to it (those sent to the previous one only
    /// when safe to repeat).
    fn follow(&mut self, leader: TabId, out: &mut Vec<Effect<C, V>>) {
        if self.leader.as_ref() == Some(&leader) {
            return;
        }
        let old = self.leader.replace(leader.clone());
        for (req, p) in std::mem::take(&mut self.pending) {
            match self.carry_over(req, p, old.as_ref()) {
                Ok(call) => {
                    out.push(self.request(&leader, req, &call));
                    self.pending.push((
                        req,
                        Pending {
                            call,
                            sent_to: Some(leader.clone()),
                        },
                    ));
                }
                Err(e) => out.push(e),
            }
        }
    }

    fn heard_state(&mut self, state: String, out: &mut Vec<Effect<C, V>>) {
        if self.state.as_deref() == Some(state.as_str()) {
            return;
        }
        self.wants_online |= state == "online";
        self.state = Some(state.clone());
        out.push(Effect::State(state));
    }

    /// The leader finished serving request `req` of tab `from`. A leader that closed in
    /// the meantime answers nothing: the follower sends the call again to the next one.
    pub fn served(
        &mut self,
        from: TabId,
        req: u64,
        result: Result<V, Failure>,
    ) -> Vec<Effect<C, V>> {
        if self.role != Role::Leader {
            return Vec::new();
        }
        vec![Effect::Post(Wire::Response {
            from: self.me.clone(),
            to: from,
            req,
            result,
        })]
    }

    /// The leader's client fired callback `name` (after its commit): broadcast it.
    pub fn local_event(&mut self, name: &str, value: V) -> Vec<Effect<C, V>> {
        if !self.followed() {
            return Vec::new();
        }
        vec![Effect::Post(Wire::Event {
            from: self.me.clone(),
            name: name.to_owned(),
            value,
        })]
    }

    /// The leader's connection state changed. `closed` is this tab's own business (its app
    /// closed the client); the next leader reports its own state.
    pub fn local_state(&mut self, state: &str) -> Vec<Effect<C, V>> {
        if self.role != Role::Leader || state == "closed" {
            return Vec::new();
        }
        self.wants_online |= state == "online";
        self.state = Some(state.to_owned());
        vec![Effect::Post(Wire::State {
            from: self.me.clone(),
            state: state.to_owned(),
        })]
    }

    /// The app closed this client: every waiting call fails, nothing more is served.
    pub fn close(&mut self) -> Vec<Effect<C, V>> {
        self.role = Role::Closed;
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(req, _)| Effect::Deliver {
                req,
                result: Err(Failure::new("not-connected", "the client was closed")),
            })
            .collect()
    }
}
