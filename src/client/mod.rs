//! The sans-IO client core: session + subscriptions + live events + resync. Feed it
//! [`Input`]s with the current time; it returns [`Action`]s for the driver (native tokio
//! runtime, browser runtime) to perform in order. Store writes are actions too: the driver
//! awaits each one before feeding the next input, which is what makes "each page and its
//! cursor advance are one transaction" hold end to end.

mod types;

use std::collections::HashMap;

use jid::{BareJid, Jid};
use minidom::Element;

pub use types::*;

use crate::event::RoomEvent;
use crate::protocol::mam::{self, PageFrom};
use crate::protocol::time::Timestamp;
use crate::protocol::xml::ncname;
use crate::protocol::{ns, MucSubEvent, Node, Subscribe, Subscriptions, Unsubscribe};
use crate::resync::{FinOutcome, Resync, ResyncConfig, ResyncOut};
use crate::session::backoff::Backoff;
use crate::session::iq::IqTracker;
use crate::session::{Session, SessionConfig, SessionOut};
use crate::store::{Snapshot, SubscriptionRecord};

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Account and transport.
    pub session: SessionConfig,
    /// The MUC service; `conference.<domain>` when `None`.
    pub muc_service: Option<String>,
    /// Resync tuning.
    pub resync: ResyncConfig,
    /// IQ timeout.
    pub iq_timeout_ms: i64,
    /// Reconnect backoff: first delay and cap.
    pub reconnect_base_ms: u64,
    /// Cap of the reconnect delay.
    pub reconnect_max_ms: u64,
    /// Seed for the backoff jitter (give each client its own).
    pub seed: u64,
}

impl ClientConfig {
    /// Defaults for an account.
    pub fn new(session: SessionConfig) -> Self {
        ClientConfig {
            session,
            muc_service: None,
            resync: ResyncConfig::default(),
            iq_timeout_ms: 30_000,
            reconnect_base_ms: 500,
            reconnect_max_ms: 30_000,
            seed: 0x5eed,
        }
    }
}

#[derive(Debug, Clone)]
enum Pending {
    Command(RequestId, Cmd),
    Disco,
    ListOnConnect,
    Mam {
        queryid: String,
    },
    History {
        queryid: String,
        req: RequestId,
        room: BareJid,
    },
}

#[derive(Debug, Clone)]
enum Cmd {
    Subscribe { room: BareJid, requested: Subscribe },
    Unsubscribe { room: BareJid },
    Subscriptions,
    Subscribers { room: BareJid },
}

struct HistoryPage {
    room: BareJid,
    events: Vec<RoomEvent>,
    count: usize,
}

/// The client core.
pub struct Client {
    cfg: ClientConfig,
    service: String,
    session: Session,
    iqs: IqTracker<Pending>,
    resync: Resync,
    backoff: Backoff,
    subs: HashMap<String, SubscriptionRecord>,
    connection: u64,
    next_request: RequestId,
    sync_feature: Option<bool>,
    server_list: Option<Subscriptions>,
    /// The connect-time subscription list was reconciled on this connection.
    reconciled: bool,
    /// Rooms this connection subscribed to (`true`) or left (`false`) after asking for
    /// the connect-time list: the list may predate them, so it must not undo them.
    since_list: HashMap<String, bool>,
    syncing: bool,
    history: HashMap<String, HistoryPage>,
    want_connected: bool,
    subscribing: Vec<BareJid>,
    /// What the app wants the server to believe (XEP-0352); survives reconnects.
    want_active: bool,
    /// What this connection's server believes: a new session starts active.
    sent_active: bool,
}

fn iq(type_: &str, to: &str, id: &str, payload: Option<Element>) -> Element {
    let b = Element::builder("iq", ns::JABBER_CLIENT)
        .attr(ncname("type"), type_.to_owned())
        .attr(ncname("to"), to.to_owned())
        .attr(ncname("id"), id.to_owned());
    match payload {
        Some(p) => b.append(p).build(),
        None => b.build(),
    }
}

/// The condition and text of a stanza's `<error/>` (`undefined-condition` when it names none).
pub fn stanza_error(stanza: &Element) -> CommandError {
    let err = stanza.get_child("error", ns::JABBER_CLIENT);
    let condition = err
        .and_then(|e| {
            e.children()
                .find(|c| c.ns() == ns::XMPP_STANZAS && c.name() != "text")
        })
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|| "undefined-condition".into());
    let text = err
        .and_then(|e| e.get_child("text", ns::XMPP_STANZAS))
        .map(Element::text);
    CommandError { condition, text }
}

fn info(s: crate::protocol::Subscription) -> SubscriptionInfo {
    SubscriptionInfo {
        jid: s.jid.map(|j| j.to_string()),
        nick: s.nick,
        nodes: s.events,
    }
}

impl Client {
    /// A client over what the store had (see [`crate::store::Store::load`]).
    pub fn new(cfg: ClientConfig, snapshot: Snapshot) -> Self {
        let service = cfg
            .muc_service
            .clone()
            .unwrap_or_else(|| format!("conference.{}", cfg.session.jid.domain()));
        // A prefix of this instance's own: MAM results of a query from a previous page (a
        // reload mid-resync) are rerouted to the account's bare JID or offline storage when
        // their resource is gone, and must never be taken for this instance's same-numbered
        // query.
        let mut resync = Resync::new(cfg.resync.clone(), format!("mam-{:x}", cfg.seed));
        resync.load(snapshot.rooms);
        Client {
            session: Session::new(cfg.session.clone()),
            iqs: IqTracker::new("c0-"),
            resync,
            backoff: Backoff::new(cfg.reconnect_base_ms, cfg.reconnect_max_ms, cfg.seed),
            subs: snapshot
                .subscriptions
                .into_iter()
                .map(|s| (s.room.clone(), s))
                .collect(),
            service,
            cfg,
            connection: 0,
            next_request: 0,
            sync_feature: None,
            server_list: None,
            reconciled: false,
            since_list: HashMap::new(),
            syncing: false,
            history: HashMap::new(),
            want_connected: true,
            subscribing: Vec::new(),
            want_active: true,
            sent_active: true,
        }
    }

    /// Whether the session is bound and available.
    pub fn is_ready(&self) -> bool {
        self.session.is_ready()
    }

    /// Whether no resync is queued, running or waiting for a retry.
    pub fn is_synced(&self) -> bool {
        self.is_ready() && !self.syncing && self.reconciled && self.resync.is_idle()
    }

    /// Known subscriptions.
    pub fn subscriptions(&self) -> Vec<SubscriptionRecord> {
        let mut v: Vec<_> = self.subs.values().cloned().collect();
        v.sort_by(|a, b| a.room.cmp(&b.room));
        v
    }

    /// Whether the app said it is in use (see [`Client::set_active`]).
    pub fn is_active(&self) -> bool {
        self.want_active
    }

    /// The app is in use (`true`) or hidden (`false`): tells the server with XEP-0352
    /// `<active/>`/`<inactive/>` so it pushes while no session is looked at. Sent only on
    /// a change, only to a server that offered CSI; remembered across reconnects.
    pub fn set_active(&mut self, active: bool) -> Vec<Action> {
        self.want_active = active;
        let mut out = Vec::new();
        self.send_csi(&mut out);
        out
    }

    fn send_csi(&mut self, out: &mut Vec<Action>) {
        if !self.session.is_ready()
            || !self.session.csi_offered()
            || self.sent_active == self.want_active
        {
            return;
        }
        let name = if self.want_active {
            "active"
        } else {
            "inactive"
        };
        self.send(&Element::builder(name, crate::session::NS_CSI).build(), out);
        self.sent_active = self.want_active;
    }

    /// The MUC service JID in use.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Feed an input.
    pub fn handle(&mut self, input: Input, now: Timestamp) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Connected => {
                // A driver may connect again without reporting the old transport's end:
                // whatever that connection had in flight can never be answered now.
                self.drop_connection_state(&mut out);
                self.connection += 1;
                self.want_connected = true;
                self.session = Session::new(self.cfg.session.clone());
                self.iqs = IqTracker::new(format!("c{}-", self.connection));
                let s = self.session.start();
                self.session_out(s, now, &mut out);
            }
            Input::Frame(f) => {
                let s = self.session.handle(f);
                self.session_out(s, now, &mut out);
            }
            Input::Disconnected(reason) => {
                let s = self.session.transport_closed();
                if s.is_empty() {
                    // Already ended (we closed it, or it never started): only schedule.
                    self.lost(reason, &mut out, false);
                } else {
                    self.session_out(s, now, &mut out);
                }
            }
            Input::Tick => {}
        }
        self.expire(now, &mut out);
        if self.session.is_ready() {
            let r = self.resync.retry_due(now);
            if !r.is_empty() {
                self.resync_out(r, now, &mut out);
            }
        }
        self.timer(&mut out);
        out
    }

    /// Close on purpose: no reconnect until [`Input::Connected`] is fed again.
    pub fn disconnect(&mut self, now: Timestamp) -> Vec<Action> {
        self.want_connected = false;
        let s = self.session.close();
        let mut out = Vec::new();
        self.session_out(s, now, &mut out);
        out
    }

    fn session_out(&mut self, s: Vec<SessionOut>, now: Timestamp, out: &mut Vec<Action>) {
        for o in s {
            match o {
                SessionOut::Write(w) => out.push(Action::Write(w)),
                SessionOut::ResetParser => out.push(Action::ResetParser),
                SessionOut::Ready(jid) => {
                    self.backoff.reset();
                    out.push(Action::Event(AppEvent::Connected {
                        jid: jid.to_string(),
                    }));
                    // A new session starts active: an app that is hidden says so before
                    // anything else, so no event slips through without a push.
                    self.sent_active = true;
                    self.send_csi(out);
                    self.on_ready(now, out);
                }
                SessionOut::Stanza(e) => self.stanza(e, now, out),
                SessionOut::Ended(err) => {
                    out.push(Action::CloseTransport);
                    self.lost(err.map(|e| e.to_string()), out, true);
                }
            }
        }
    }

    /// Forget everything tied to the current connection: its answers can never arrive.
    fn drop_connection_state(&mut self, out: &mut Vec<Action>) {
        self.resync.on_disconnect();
        self.syncing = false;
        self.sync_feature = None;
        self.server_list = None;
        self.reconciled = false;
        self.history.clear();
        self.subscribing.clear();
        for (_, p) in self.iqs.clear() {
            if let Pending::Command(req, _) | Pending::History { req, .. } = p {
                out.push(Action::Event(AppEvent::Result {
                    request: req,
                    result: Err(CommandError::new("disconnected", None)),
                }));
            }
        }
    }

    fn lost(&mut self, reason: Option<String>, out: &mut Vec<Action>, notify: bool) {
        self.drop_connection_state(out);
        if notify {
            out.push(Action::Event(AppEvent::Disconnected { error: reason }));
        }
        if self.want_connected {
            out.push(Action::ReconnectIn(self.backoff.next_delay()));
        }
    }

    fn send(&self, e: &Element, out: &mut Vec<Action>) {
        if let SessionOut::Write(w) = self.session.send(e) {
            out.push(Action::Write(w));
        }
    }

    /// Sends a command's IQ and arms its timeout: the tail every IQ command shares.
    #[allow(clippy::too_many_arguments)]
    fn command_iq(
        &mut self,
        req: RequestId,
        mut out: Vec<Action>,
        type_: &str,
        to: &str,
        payload: Element,
        cmd: Cmd,
        now: Timestamp,
    ) -> (RequestId, Vec<Action>) {
        self.send_iq(
            type_,
            to,
            payload,
            Pending::Command(req, cmd),
            now,
            &mut out,
        );
        self.timer(&mut out);
        (req, out)
    }

    fn send_iq(
        &mut self,
        type_: &str,
        to: &str,
        payload: Element,
        p: Pending,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let id = self.iqs.register(now.0, self.cfg.iq_timeout_ms, p);
        let e = iq(type_, to, &id, Some(payload));
        self.send(&e, out);
    }

    fn on_ready(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        self.syncing = true;
        self.sync_feature = None;
        self.server_list = None;
        self.reconciled = false;
        let disco = Element::builder("query", ns::DISCO_INFO).build();
        let service = self.service.clone();
        self.send_iq("get", &service, disco, Pending::Disco, now, out);
        let list = Element::from(Subscriptions::default());
        self.since_list.clear();
        self.send_iq("get", &service, list, Pending::ListOnConnect, now, out);
    }

    fn expire(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        for (_, p) in self.iqs.expire(now.0) {
            self.iq_failed(p, CommandError::new("timeout", None), true, now, out);
        }
    }

    /// The next IQ deadline or resync retry, whichever comes first.
    fn timer(&mut self, out: &mut Vec<Action>) {
        let retry = if self.session.is_ready() {
            self.resync.next_retry()
        } else {
            None
        };
        let next = match (self.iqs.next_deadline(), retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(t) = next {
            out.push(Action::TimerAt(t));
        }
    }

    // ---- commands -------------------------------------------------------------------

    fn request(&mut self) -> RequestId {
        self.next_request += 1;
        self.next_request
    }

    fn not_connected(&self, req: RequestId, out: &mut Vec<Action>) -> bool {
        if self.session.is_ready() {
            return false;
        }
        out.push(Action::Event(AppEvent::Result {
            request: req,
            result: Err(CommandError::new("not-connected", None)),
        }));
        true
    }

    fn parse_room(&self, room: &str, req: RequestId, out: &mut Vec<Action>) -> Option<BareJid> {
        match BareJid::new(room) {
            Ok(j) if j.node().is_some() => Some(j),
            _ => {
                out.push(Action::Event(AppEvent::Result {
                    request: req,
                    result: Err(CommandError::new(
                        "bad-request",
                        Some(format!("not a room JID: {room:?}")),
                    )),
                }));
                None
            }
        }
    }

    /// Subscribe to `room` with `nick` (all nodes when `nodes` is empty).
    pub fn subscribe(
        &mut self,
        room: &str,
        nick: &str,
        nodes: &[Node],
        password: Option<&str>,
        now: Timestamp,
    ) -> (RequestId, Vec<Action>) {
        let req = self.request();
        let mut out = Vec::new();
        if self.not_connected(req, &mut out) {
            return (req, out);
        }
        let Some(room) = self.parse_room(room, req, &mut out) else {
            return (req, out);
        };
        let nodes = if nodes.is_empty() {
            Node::ALL.to_vec()
        } else {
            nodes.to_vec()
        };
        let s = Subscribe {
            nick: Some(nick.to_owned()),
            password: password.map(str::to_owned),
            jid: None,
            events: nodes,
        };
        let to = room.to_string();
        self.subscribing.push(room.clone());
        let payload = s.clone().into();
        self.command_iq(
            req,
            out,
            "set",
            &to,
            payload,
            Cmd::Subscribe { room, requested: s },
            now,
        )
    }

    /// Unsubscribe from `room`.
    pub fn unsubscribe(&mut self, room: &str, now: Timestamp) -> (RequestId, Vec<Action>) {
        let req = self.request();
        let mut out = Vec::new();
        if self.not_connected(req, &mut out) {
            return (req, out);
        }
        let Some(room) = self.parse_room(room, req, &mut out) else {
            return (req, out);
        };
        let to = room.to_string();
        let payload = Unsubscribe::default().into();
        self.command_iq(
            req,
            out,
            "set",
            &to,
            payload,
            Cmd::Unsubscribe { room },
            now,
        )
    }

    /// List the account's subscriptions (from the service).
    pub fn list_subscriptions(&mut self, now: Timestamp) -> (RequestId, Vec<Action>) {
        let req = self.request();
        let mut out = Vec::new();
        if self.not_connected(req, &mut out) {
            return (req, out);
        }
        let service = self.service.clone();
        let payload = Subscriptions::default().into();
        self.command_iq(req, out, "get", &service, payload, Cmd::Subscriptions, now)
    }

    /// List a room's subscribers.
    pub fn list_subscribers(&mut self, room: &str, now: Timestamp) -> (RequestId, Vec<Action>) {
        let req = self.request();
        let mut out = Vec::new();
        if self.not_connected(req, &mut out) {
            return (req, out);
        }
        let Some(room) = self.parse_room(room, req, &mut out) else {
            return (req, out);
        };
        let to = room.to_string();
        let payload = Subscriptions::default().into();
        self.command_iq(
            req,
            out,
            "get",
            &to,
            payload,
            Cmd::Subscribers { room },
            now,
        )
    }

    /// Post a groupchat message (no need to join: SPEC S14). `id` becomes the message id
    /// and its origin-id.
    pub fn send_message(&mut self, room: &str, body: &str, id: &str) -> (RequestId, Vec<Action>) {
        let req = self.request();
        let mut out = Vec::new();
        if self.not_connected(req, &mut out) {
            return (req, out);
        }
        let Some(room) = self.parse_room(room, req, &mut out) else {
            return (req, out);
        };
        let m = Element::builder("message", ns::JABBER_CLIENT)
            .attr(ncname("to"), room.to_string())
            .attr(ncname("type"), "groupchat")
            .attr(ncname("id"), id.to_owned())
            .append(
                Element::builder("body", ns::JABBER_CLIENT)
                    .append(body.to_owned())
                    .build(),
            )
            .append(
                Element::builder("origin-id", ns::SID)
                    .attr(ncname("id"), id.to_owned())
                    .build(),
            )
            .build();
        self.send(&m, &mut out);
        out.push(Action::Event(AppEvent::Result {
            request: req,
            result: Ok(CommandResult::Sent { id: id.to_owned() }),
        }));
        (req, out)
    }

    /// Fetch the page of history older than `before_id` (the newest page when `None`) and
    /// store it; the cursor does not move.
    pub fn history(
        &mut self,
        room: &str,
        before_id: Option<&str>,
        max: usize,
        now: Timestamp,
    ) -> (RequestId, Vec<Action>) {
        let req = self.request();
        let mut out = Vec::new();
        if self.not_connected(req, &mut out) {
            return (req, out);
        }
        let Some(room) = self.parse_room(room, req, &mut out) else {
            return (req, out);
        };
        let queryid = format!("hist-{}-{req}", self.connection);
        let from = match before_id {
            Some(id) => PageFrom::Before(id.to_owned()),
            None => PageFrom::Newest,
        };
        let q: Element = mam::query(&queryid, &from, max.clamp(1, 500)).into();
        self.history.insert(
            queryid.clone(),
            HistoryPage {
                room: room.clone(),
                events: Vec::new(),
                count: 0,
            },
        );
        let to = room.to_string();
        self.send_iq(
            "set",
            &to,
            q,
            Pending::History { queryid, req, room },
            now,
            &mut out,
        );
        self.timer(&mut out);
        (req, out)
    }

    /// Resync every subscribed room now.
    pub fn resync(&mut self, now: Timestamp) -> (RequestId, Vec<Action>) {
        let req = self.request();
        let mut out = Vec::new();
        if self.not_connected(req, &mut out) {
            return (req, out);
        }
        let rooms: Vec<BareJid> = self
            .subs
            .keys()
            .filter_map(|r| BareJid::new(r).ok())
            .collect();
        for r in rooms {
            self.resync.enqueue(r, None);
        }
        self.syncing = true;
        let pumped = self.resync.pump();
        self.resync_out(pumped, now, &mut out);
        out.push(Action::Event(AppEvent::Result {
            request: req,
            result: Ok(CommandResult::ResyncStarted),
        }));
        self.check_synced(&mut out);
        self.timer(&mut out);
        (req, out)
    }

    // ---- inbound ----------------------------------------------------------------------

    fn stanza(&mut self, e: Element, now: Timestamp, out: &mut Vec<Action>) {
        match e.name() {
            "iq" => self.iq_in(e, now, out),
            "message" => self.message_in(e, now, out),
            "presence" => self.presence_in(e, now, out),
            _ => {}
        }
    }

    fn iq_in(&mut self, e: Element, now: Timestamp, out: &mut Vec<Action>) {
        let type_ = e.attr("type").unwrap_or("");
        let id = e.attr("id").unwrap_or("").to_owned();
        match type_ {
            "get" | "set" => {
                // Answer pings; refuse everything else as XMPP requires.
                let from = e.attr("from").unwrap_or("").to_owned();
                let reply = if e.has_child("ping", "urn:xmpp:ping") {
                    iq("result", &from, &id, None)
                } else {
                    let err = Element::builder("error", ns::JABBER_CLIENT)
                        .attr(ncname("type"), "cancel")
                        .append(Element::builder("service-unavailable", ns::XMPP_STANZAS).build())
                        .build();
                    iq("error", &from, &id, Some(err))
                };
                self.send(&reply, out);
            }
            "result" | "error" => {
                let Some(p) = self.iqs.resolve(&id) else {
                    return;
                };
                if type_ == "error" {
                    // RFC 6120 8.3.2: `wait` means "retry after waiting".
                    let transient = e
                        .get_child("error", ns::JABBER_CLIENT)
                        .and_then(|x| x.attr("type"))
                        == Some("wait");
                    self.iq_failed(p, stanza_error(&e), transient, now, out);
                } else {
                    self.iq_ok(p, &e, now, out);
                }
            }
            _ => {}
        }
    }

    /// An IQ failed; `transient` when it timed out or the error says to retry later.
    fn iq_failed(
        &mut self,
        p: Pending,
        err: CommandError,
        transient: bool,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        if let Pending::Command(_, Cmd::Subscribe { room, .. }) = &p {
            self.done_subscribing(room);
        }
        match p {
            Pending::Command(req, _) => out.push(Action::Event(AppEvent::Result {
                request: req,
                result: Err(err),
            })),
            Pending::Disco => {
                self.sync_feature = Some(false);
                self.reconcile(now, out);
            }
            Pending::ListOnConnect => {
                // Without the list, resync what we know.
                self.server_list = Some(Subscriptions {
                    items: self
                        .subs
                        .values()
                        .map(|s| crate::protocol::Subscription {
                            jid: BareJid::new(&s.room).ok(),
                            nick: s.nick.clone(),
                            events: s.nodes.clone(),
                            end: None,
                        })
                        .collect(),
                });
                self.reconcile(now, out);
            }
            Pending::Mam { queryid } => {
                let outcome = if err.condition == "item-not-found" {
                    FinOutcome::ItemNotFound
                } else if transient {
                    FinOutcome::Transient(err.to_string())
                } else {
                    FinOutcome::Failed(err.to_string())
                };
                let r = self.resync.on_fin(&queryid, outcome, now);
                self.resync_out(r, now, out);
            }
            Pending::History { queryid, req, .. } => {
                self.history.remove(&queryid);
                out.push(Action::Event(AppEvent::Result {
                    request: req,
                    result: Err(err),
                }));
            }
        }
    }

    fn iq_ok(&mut self, p: Pending, e: &Element, now: Timestamp, out: &mut Vec<Action>) {
        let payload = e.children().next();
        match p {
            Pending::Disco => {
                let has = payload
                    .map(|q| {
                        q.children().any(|f| {
                            f.name() == "feature" && f.attr("var") == Some(ns::MUCSUB_SYNC)
                        })
                    })
                    .unwrap_or(false);
                self.sync_feature = Some(has);
                self.reconcile(now, out);
            }
            Pending::ListOnConnect => {
                let list = payload
                    .and_then(|p| Subscriptions::try_from(p).ok())
                    .unwrap_or_default();
                self.server_list = Some(list);
                self.reconcile(now, out);
            }
            Pending::Mam { queryid } => {
                let complete = payload
                    .and_then(|f| mam::Fin::try_from(f.clone()).ok())
                    .map(|f| f.complete)
                    .unwrap_or(false);
                let r = self
                    .resync
                    .on_fin(&queryid, FinOutcome::Fin { complete }, now);
                self.resync_out(r, now, out);
            }
            Pending::History { queryid, req, room } => {
                let complete = payload
                    .and_then(|f| mam::Fin::try_from(f.clone()).ok())
                    .map(|f| f.complete)
                    .unwrap_or(false);
                let page = self.history.remove(&queryid);
                let (events, count) = page.map(|p| (p.events, p.count)).unwrap_or_default();
                if !events.is_empty() {
                    out.push(Action::Store(StoreOp::Apply {
                        room: room.to_string(),
                        events,
                        cursor: None,
                        gap: None,
                    }));
                }
                out.push(Action::Event(AppEvent::Result {
                    request: req,
                    result: Ok(CommandResult::History {
                        room: room.to_string(),
                        count,
                        complete,
                    }),
                }));
            }
            Pending::Command(req, cmd) => {
                let result = self.command_ok(cmd, payload, now, out);
                out.push(Action::Event(AppEvent::Result {
                    request: req,
                    result: Ok(result),
                }));
            }
        }
    }

    fn command_ok(
        &mut self,
        cmd: Cmd,
        payload: Option<&Element>,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) -> CommandResult {
        match cmd {
            Cmd::Subscribe { room, requested } => {
                self.done_subscribing(&room);
                let echoed = payload.and_then(|p| Subscribe::try_from(p).ok());
                let nick = echoed
                    .as_ref()
                    .and_then(|s| s.nick.clone())
                    .or(requested.nick);
                let nodes = echoed.map(|s| s.events).unwrap_or(requested.events);
                let rec = SubscriptionRecord {
                    room: room.to_string(),
                    nick: nick.clone(),
                    nodes: nodes.clone(),
                };
                let is_new = !self.subs.contains_key(rec.room.as_str());
                self.since_list.insert(rec.room.clone(), true);
                self.subs.insert(rec.room.clone(), rec.clone());
                out.push(Action::Store(StoreOp::PutSubscription(rec)));
                out.push(Action::Event(AppEvent::SubscriptionsChanged {
                    rooms: self.subscriptions(),
                }));
                if is_new {
                    self.resync.enqueue(room.clone(), None);
                    self.syncing = true;
                    let r = self.resync.pump();
                    self.resync_out(r, now, out);
                }
                CommandResult::Subscribed {
                    room: room.to_string(),
                    nick,
                    nodes,
                }
            }
            Cmd::Unsubscribe { room } => {
                self.drop_subscription(&room, out);
                CommandResult::Unsubscribed {
                    room: room.to_string(),
                }
            }
            Cmd::Subscriptions => {
                let list = payload
                    .and_then(|p| Subscriptions::try_from(p).ok())
                    .unwrap_or_default();
                CommandResult::Subscriptions {
                    items: list.items.into_iter().map(info).collect(),
                }
            }
            Cmd::Subscribers { room } => {
                let list = payload
                    .and_then(|p| Subscriptions::try_from(p).ok())
                    .unwrap_or_default();
                CommandResult::Subscribers {
                    room: room.to_string(),
                    items: list.items.into_iter().map(info).collect(),
                }
            }
        }
    }

    fn done_subscribing(&mut self, room: &BareJid) {
        if let Some(i) = self.subscribing.iter().position(|r| r == room) {
            self.subscribing.remove(i);
        }
    }

    fn drop_subscription(&mut self, room: &BareJid, out: &mut Vec<Action>) {
        self.since_list.insert(room.to_string(), false);
        self.resync.forget(room);
        if self.subs.remove(room.as_str()).is_some() {
            out.push(Action::Store(StoreOp::RemoveSubscription(room.to_string())));
            out.push(Action::Event(AppEvent::SubscriptionsChanged {
                rooms: self.subscriptions(),
            }));
        }
    }

    /// Once both the disco answer and the list are in: align local subscriptions with
    /// the server's and queue the rooms that need a resync.
    fn reconcile(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        // Both answers may come in either order: the list waits for the disco answer.
        // (Taking the list before knowing both were in lost it when it came first, and
        // the client then never reached "synced".)
        let Some(sync) = self.sync_feature else {
            return;
        };
        let Some(list) = self.server_list.take() else {
            return;
        };
        self.reconciled = true;
        let mut seen = Vec::new();
        let mut changed = false;
        for item in list.items {
            let Some(room) = item.jid.clone() else {
                continue;
            };
            let key = room.to_string();
            seen.push(key.clone());
            if self.since_list.get(&key) == Some(&false) {
                // Left after the list was made.
                continue;
            }
            let rec = SubscriptionRecord {
                room: key.clone(),
                nick: item.nick.clone(),
                nodes: item.events.clone(),
            };
            if self.subs.get(&key) != Some(&rec) {
                self.subs.insert(key.clone(), rec.clone());
                out.push(Action::Store(StoreOp::PutSubscription(rec)));
                changed = true;
            }
            let hint = if sync { item.end.as_ref() } else { None };
            self.resync.enqueue(room, hint);
        }
        let gone: Vec<String> = self
            .subs
            .keys()
            .filter(|k| !seen.contains(k) && self.since_list.get(*k) != Some(&true))
            .cloned()
            .collect();
        for g in gone {
            if let Ok(j) = BareJid::new(&g) {
                self.resync.forget(&j);
            }
            self.subs.remove(&g);
            out.push(Action::Store(StoreOp::RemoveSubscription(g)));
            changed = true;
        }
        if changed {
            out.push(Action::Event(AppEvent::SubscriptionsChanged {
                rooms: self.subscriptions(),
            }));
        }
        let r = self.resync.pump();
        self.resync_out(r, now, out);
        self.check_synced(out);
    }

    fn check_synced(&mut self, out: &mut Vec<Action>) {
        if self.syncing && self.reconciled && self.resync.is_idle() {
            self.syncing = false;
            out.push(Action::Event(AppEvent::Synced));
        }
    }

    fn resync_out(&mut self, r: Vec<ResyncOut>, now: Timestamp, out: &mut Vec<Action>) {
        for o in r {
            match o {
                ResyncOut::Query {
                    room,
                    queryid,
                    from,
                    max,
                } => {
                    let q: Element = mam::query(&queryid, &from, max).into();
                    let to = room.to_string();
                    self.send_iq("set", &to, q, Pending::Mam { queryid }, now, out);
                }
                ResyncOut::Apply {
                    room,
                    events,
                    cursor,
                    gap,
                } => {
                    out.push(Action::Store(StoreOp::Apply {
                        room,
                        events,
                        cursor,
                        gap,
                    }));
                }
                ResyncOut::RoomDone { room, ok } => {
                    out.push(Action::Event(AppEvent::RoomSynced { room, ok }))
                }
                ResyncOut::Warn(w) => {
                    out.push(Action::Event(AppEvent::Warning(ClientWarning::Resync(w))))
                }
            }
        }
        self.check_synced(out);
    }

    fn from_bare(e: &Element) -> Option<Jid> {
        e.attr("from").and_then(|f| Jid::new(f).ok())
    }

    fn message_in(&mut self, mut e: Element, now: Timestamp, out: &mut Vec<Action>) {
        let Some(from) = Self::from_bare(&e) else {
            return;
        };
        // Only warnings name the sender as text: a resync result needs none.
        let from_s = || from.to_string();
        if e.attr("type") == Some("error") {
            out.push(Action::Event(AppEvent::Warning(
                ClientWarning::MessageError {
                    from: from_s(),
                    id: e.attr("id").map(str::to_owned),
                    condition: stanza_error(&e).condition,
                },
            )));
            return;
        }
        if let Some(a) = mam::take_archived_stanza(&mut e) {
            let qid = a.queryid.as_deref().unwrap_or_default();
            let bare = if from.is_bare() {
                from.clone().into_bare()
            } else {
                from.to_bare()
            };
            if let Some(page) = self.history.get_mut(qid) {
                if page.room == bare && page.count < 500 {
                    page.count += 1;
                    if let Ok(ev) = RoomEvent::from_archive(&bare, &a, now) {
                        page.events.push(ev);
                    }
                }
                return;
            }
            if from.is_bare() {
                let r = self.resync.on_result(&bare, a, now);
                self.resync_out(r, now, out);
            } else {
                out.push(Action::Event(AppEvent::Warning(ClientWarning::Malformed {
                    from: from_s(),
                    reason: "MAM result from a full JID".into(),
                })));
            }
            return;
        }
        if MucSubEvent::is_wrapper(&e) {
            let room = from.to_bare();
            // A room answering a subscribe we sent may emit its first events before the
            // IQ result (ejabberd does): those are accepted too.
            let subscribing = self.iqs_pending_subscribe(&room);
            if !from.is_bare() || !(self.subs.contains_key(room.as_str()) || subscribing) {
                out.push(Action::Event(AppEvent::Warning(
                    ClientWarning::NotSubscribed { from: from_s() },
                )));
                return;
            }
            let parsed = MucSubEvent::try_from(&e)
                .map_err(|x| x.to_string())
                .and_then(|w| {
                    RoomEvent::from_wrapper(&w, &e, now)
                        .map(|r| (w, r))
                        .map_err(|x| x.to_string())
                });
            match parsed {
                Ok((w, ev)) => {
                    let me_removed = w.node == Node::Subscribers
                        && w.inner.name() == "unsubscribe"
                        && self.is_me(&ev);
                    out.push(Action::Store(StoreOp::Apply {
                        room: room.to_string(),
                        events: vec![ev],
                        cursor: None,
                        gap: None,
                    }));
                    if me_removed {
                        self.drop_subscription(&room, out);
                    }
                }
                Err(reason) => {
                    out.push(Action::Event(AppEvent::Warning(ClientWarning::Malformed {
                        from: from_s(),
                        reason,
                    })))
                }
            }
            return;
        }
        if e.attr("type") == Some("groupchat") {
            self.joined_in(&from, &e, now, out);
        }
    }

    fn iqs_pending_subscribe(&self, room: &BareJid) -> bool {
        self.subscribing.contains(room)
    }

    /// Whether a subscribers event is about this account.
    fn is_me(&self, ev: &RoomEvent) -> bool {
        if let Some(j) = &ev.real_jid {
            return BareJid::new(j).ok().as_ref() == Some(&self.cfg.session.jid);
        }
        let mine = self.subs.get(&ev.room).and_then(|s| s.nick.as_deref());
        mine.is_some() && ev.nick.as_deref() == mine
    }

    fn joined_in(&mut self, from: &Jid, e: &Element, now: Timestamp, out: &mut Vec<Action>) {
        let room = from.to_bare();
        if !self.subs.contains_key(room.as_str()) {
            return;
        }
        match RoomEvent::from_joined(e, now) {
            Ok(ev) => out.push(Action::Store(StoreOp::Apply {
                room: room.to_string(),
                events: vec![ev],
                cursor: None,
                gap: None,
            })),
            Err(err) => out.push(Action::Event(AppEvent::Warning(ClientWarning::Malformed {
                from: from.to_string(),
                reason: err.to_string(),
            }))),
        }
    }

    fn presence_in(&mut self, e: Element, now: Timestamp, out: &mut Vec<Action>) {
        if let Some(from) = Self::from_bare(&e) {
            if from.resource().is_some() && e.has_child("x", ns::MUC_USER) {
                self.joined_in(&from, &e, now, out);
            }
        }
    }
}

// Native only: proptest and tokio are native dev-dependencies; the browser runs its own suites.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod csi_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod sim_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
