//! The sans-IO client core: session + subscriptions + live events + resync. Feed it
//! [`Input`]s with the current time and the app's [`Command`]s; it returns [`Action`]s for
//! the driver (native tokio runtime, browser runtime) to perform in order. Store writes are
//! actions too: the driver writes each one before anything the app observes after it,
//! which is what makes "each page and its cursor advance are one transaction" hold end to
//! end.
//!
//! - [`command`]: the [`Command`] type, the one command surface of the SDK;
//! - `held`: what a lost connection had in flight, held for the stream's resumption;
//! - `inbound`: stanzas from the server;
//! - `pending`: what each IQ in flight was for;
//! - `sync`: connect-time reconciliation, subscription changes, resync output;
//! - `types`: what goes in and out (inputs, actions, results, app events).

mod command;
mod held;
mod inbound;
mod pending;
mod read_sync;
mod room_features;
mod sync;
mod types;

use jid::BareJid;
use minidom::Element;

pub use command::Command;
#[cfg(target_arch = "wasm32")]
pub(crate) use inbound::stanza_error;
pub use read_sync::{mark_read, read_up_to, MarkedRead};
pub use types::*;
// The resync engine is the core's own; its tuning and warnings are part of the client's.
pub use crate::resync::{ResyncConfig, ResyncWarning};

use crate::event::RoomEvent;
use crate::keyed::{KeySet, Keyed};
use crate::protocol::ns;
use crate::protocol::time::Timestamp;
use crate::protocol::xml::ncname;
use crate::protocol::Subscriptions;
use crate::resync::Resync;
use crate::session::backoff::Backoff;
use crate::session::iq::IqTracker;
use crate::session::{Session, SessionConfig, SessionError, SessionOut, Wake};
use crate::store::{Snapshot, SubscriptionRecord};
use pending::Pending;

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
    /// What the first connection wakes with: whether to use SASL2, FAST and stream
    /// management, the device id, a token and stream kept from an earlier run. Off by
    /// default (a managed stream that loses its socket waits on the server instead of
    /// ending, which a short-lived client does not want).
    pub wake: Wake,
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
            wake: Wake::default(),
        }
    }
}

/// A history page being received.
struct HistoryPage {
    room: BareJid,
    events: Vec<RoomEvent>,
    count: usize,
}

/// What the core keeps of the shared read markers (XEP-0490, `read_sync`).
#[derive(Debug, Default)]
struct ReadSync {
    /// Markers set here and not yet accepted by the server, by room (the newest wins):
    /// published as soon as a session is up.
    unpublished: Keyed<String>,
    /// The newest marker another device published, by room: applied again when the room
    /// finishes resyncing, as the message it names may only arrive then.
    remote: Keyed<String>,
    /// This connection's server refused the MDS node: publish nothing more on it.
    refused: bool,
    /// The refusal was reported (once per client).
    warned: bool,
}

/// What the core knows of each room's occupant-id feature (XEP-0421, `room_features`).
#[derive(Debug, Default)]
struct RoomFeatures {
    /// The answer, per room (bare JID): does it advertise occupant-ids? Kept for the
    /// client's life (a room's feature does not come and go with our connection).
    trusted: Keyed<bool>,
    /// Rooms whose disco#info is in flight on this connection.
    asked: KeySet,
    /// Rooms whose resync waits for that answer, with their sync hint.
    held: Keyed<Option<crate::protocol::SyncEnd>>,
    /// Live events that wait for that answer, by room, in arrival order.
    live: Keyed<Vec<crate::store::Page>>,
}

/// The client core.
pub struct Client {
    cfg: ClientConfig,
    service: String,
    session: Session,
    iqs: IqTracker<Pending>,
    resync: Resync,
    backoff: Backoff,
    subs: Keyed<SubscriptionRecord>,
    connection: u64,
    next_request: RequestId,
    sync_feature: Option<bool>,
    server_list: Option<Subscriptions>,
    /// The connect-time subscription list was reconciled on this connection.
    reconciled: bool,
    /// Rooms this connection subscribed to (`true`) or left (`false`) after asking for
    /// the connect-time list: the list may predate them, so it must not undo them.
    since_list: Keyed<bool>,
    syncing: bool,
    history: Keyed<HistoryPage>,
    want_connected: bool,
    subscribing: Vec<BareJid>,
    /// What the app wants the server to believe (XEP-0352); survives reconnects.
    want_active: bool,
    /// What this connection's server believes: a new session starts active.
    sent_active: bool,
    /// The last connection was reconciled and caught up when it was lost: a resumed stream
    /// continues from there and needs no resync (its missed stanzas follow the resumption).
    caught_up_at_loss: bool,
    /// Read markers shared with the account's other devices (XEP-0490).
    read_sync: ReadSync,
    /// Which rooms' occupant-ids are trusted (XEP-0421), asked per room.
    room_features: RoomFeatures,
    /// A lost connection's IQs, held while its stream may be resumed (`held`).
    held: Option<pending::Held>,
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
            session: Session::with_wake(cfg.session.clone(), cfg.wake.clone()),
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
            since_list: Keyed::new(),
            syncing: false,
            history: Keyed::new(),
            want_connected: true,
            subscribing: Vec::new(),
            want_active: true,
            sent_active: true,
            caught_up_at_loss: false,
            read_sync: ReadSync::default(),
            room_features: Default::default(),
            held: None,
        }
    }

    /// What the next connection wakes with (token, device, stream to resume), to persist;
    /// it changes as the server answers (new token, stream enabled, `h`).
    pub fn wake(&self) -> &Wake {
        self.session.wake()
    }

    /// Replaces what the next connection wakes with (an app signing in again, signing
    /// out with `invalidate`).
    pub fn set_wake(&mut self, wake: Wake) {
        *self.session.wake_mut() = wake;
    }

    /// The secret for the next connection (the current one keeps its session): a password,
    /// or a token (`token`: sent with PLAIN only, see [`SessionConfig::token`]). Drivers
    /// whose app hands out short-lived tokens call this before each connection attempt.
    pub fn set_credentials(&mut self, secret: String, token: bool) {
        self.cfg.session.password = secret;
        self.cfg.session.token = token;
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
        crate::sort::sort_by(&mut v, |a, b| a.room.cmp(&b.room));
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

    /// An XEP-0199 ping to our server with this `id`, written like any stanza (a managed
    /// stream counts it, and keeps it for a resend, XEP-0198); nothing without a session.
    /// No IQ of the core waits for it (its answer is ignored here): a woken browser page
    /// watches for the answer to tell a live socket from one that died in the sleep.
    pub fn ping(&mut self, id: &str) -> Vec<Action> {
        let mut out = Vec::new();
        if self.session.is_ready() {
            let to = self.cfg.session.jid.domain().to_string();
            let ping = Element::builder("ping", ns::PING).build();
            self.send(&iq("get", &to, id, Some(ping)), &mut out);
        }
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
        self.send(&Element::builder(name, ns::CSI).build(), out);
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
                // whatever that connection had in flight can never be answered now (unless
                // it is held for a resumption this connection attempts).
                self.connection_starts(&mut out);
                self.connection += 1;
                self.want_connected = true;
                let wake = self.session.take_wake();
                self.session = Session::with_wake(self.cfg.session.clone(), wake);
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
                    self.lost(reason, now, &mut out, false);
                } else {
                    self.session_out(s, now, &mut out);
                }
            }
            Input::Tick => {}
        }
        self.expire(now, &mut out);
        self.expire_held(now, &mut out);
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
                    // A new session: the former stream's in-flight IQs will never be
                    // answered, and are failed before this session asks anything.
                    self.resumption_failed(out);
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
                SessionOut::Resumed(jid) => {
                    self.backoff.reset();
                    out.push(Action::Event(AppEvent::Resumed {
                        jid: jid.to_string(),
                    }));
                    // The server kept this session's CSI state: only a change is sent.
                    self.send_csi(out);
                    if self.resumption_succeeded(now) {
                        // The lost connection's state was kept: its queries are answered
                        // on this stream and its reconciliation and resync go on; asking
                        // anything again would fetch it twice. Only what was set offline
                        // goes out.
                        self.flush_markers(now, out);
                    } else if self.caught_up_at_loss {
                        // Nothing was missed that the resumption does not deliver.
                        self.reconciled = true;
                        self.flush_markers(now, out);
                    } else {
                        self.on_ready(now, out);
                    }
                }
                SessionOut::Token(t) => out.push(Action::Event(AppEvent::Token(t))),
                SessionOut::TokenRejected(reason) => {
                    if self.cfg.session.password.is_empty() {
                        // Nothing else to sign in with: retrying would fail forever.
                        self.want_connected = false;
                    }
                    out.push(Action::Event(AppEvent::CredentialsNeeded { reason }));
                }
                SessionOut::Stanza(e) => self.stanza(e, now, out),
                SessionOut::Ended(Some(SessionError::Sasl2Withdrawn)) => {
                    // Not a failure: the server changed its offer since the token was
                    // issued. The same sign-in again at once, waiting for the features.
                    out.push(Action::CloseTransport);
                    self.connection_lost(now, out);
                    if self.want_connected {
                        out.push(Action::ReconnectIn(0));
                    }
                }
                SessionOut::Ended(err) => {
                    out.push(Action::CloseTransport);
                    self.lost(err.map(|e| e.to_string()), now, out, true);
                }
            }
        }
    }

    /// Forget everything tied to the current connection: its answers can never arrive
    /// (with stream management, once the stream's resumption failed: `held`).
    fn drop_connection_state(&mut self, out: &mut Vec<Action>) {
        if self.reconciled || self.syncing {
            // Only the first drop after a live connection says how it was left.
            self.caught_up_at_loss = self.reconciled && !self.syncing && self.resync.is_idle();
        }
        self.resync.on_disconnect();
        self.room_features_lost(out);
        self.syncing = false;
        self.sync_feature = None;
        self.server_list = None;
        self.reconciled = false;
        self.history.clear();
        self.subscribing.clear();
        for (_, p) in self.iqs.clear() {
            match p {
                Pending::Command(req, _) | Pending::History { req, .. } => {
                    out.push(result(req, Err(CommandError::new("disconnected", None))));
                }
                Pending::Displayed(marker) => {
                    let lost = CommandError::new("disconnected", None);
                    self.displayed_failed(marker, &lost, true, out);
                }
                _ => {}
            }
        }
    }

    fn lost(
        &mut self,
        reason: Option<String>,
        now: Timestamp,
        out: &mut Vec<Action>,
        notify: bool,
    ) {
        self.connection_lost(now, out);
        if notify {
            out.push(Action::Event(AppEvent::Disconnected { error: reason }));
        }
        if self.want_connected {
            out.push(Action::ReconnectIn(self.backoff.next_delay()));
        }
    }

    fn send(&mut self, e: &Element, out: &mut Vec<Action>) {
        for o in self.session.send(e) {
            if let SessionOut::Write(w) = o {
                out.push(Action::Write(w));
            }
        }
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
        let next = [self.iqs.next_deadline(), retry, self.held_deadline()]
            .into_iter()
            .flatten()
            .min();
        if let Some(t) = next {
            out.push(Action::TimerAt(t));
        }
    }
}

/// A command's outcome, for the app.
fn result(request: RequestId, result: Result<CommandResult, CommandError>) -> Action {
    Action::Event(AppEvent::Result { request, result })
}

// Native only: proptest and tokio are native dev-dependencies; the browser runs its own suites.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod command_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod csi_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod modern_command_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod occupant_trust_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod ping_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod resumption_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod sim_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
