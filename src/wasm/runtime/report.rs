//! What the app observes: the core's [`AppEvent`]s and stored pages turned into JS
//! callbacks (`event`, `sync`, `subscription`, `error`) and into the replies of the promises that wait for
//! a command, a connection or a resync. The driver owns a [`Reporter`] and hands it what
//! to report; the connection state (`connection` callback, reconnects) stays the driver's.

use std::rc::Rc;

use crate::client::{AppEvent, ClientWarning, CommandError, RequestId};
use crate::event::Source;
use crate::keyed::{ById, Keyed};
use crate::resync::ResyncWarning;
use crate::store::{Applied, Page};
use crate::wasm::error::{Code, SdkError};
use crate::wasm::js_types::{
    JsRead, JsRoomEvent, JsSubscriptionChange, JsSyncProgress, JsSyncSummary,
};
use crate::wasm::local::Reply;

use super::hub::Shared;
use super::prepared::Prepared;
use super::CommandReply;

/// Resync progress of one room since the last connect or `resync()`.
#[derive(Default)]
struct RoomStats {
    fetched: u32,
    gap: bool,
}

/// A promise waiting for a command's result.
enum Waiting {
    Command(CommandReply),
    /// `resync()`: moves to `Replies::synced` once the resync started.
    Resync(Reply<Result<JsSyncSummary, SdkError>>),
}

/// The promises waiting for something.
#[derive(Default)]
struct Replies {
    by_request: ById<Waiting>,
    /// `connect()` calls waiting for the session.
    connect: Vec<Reply<Result<(), SdkError>>>,
    /// `resync()` calls waiting for every room to be in sync.
    synced: Vec<Reply<Result<JsSyncSummary, SdkError>>>,
}

impl Replies {
    /// `reply` waits for the result of command `req`.
    fn command(&mut self, req: RequestId, reply: CommandReply) {
        self.by_request.insert(req, Waiting::Command(reply));
    }

    /// `reply` waits for the resync command `req`, then for every room to be in sync.
    fn resync(&mut self, req: RequestId, reply: Reply<Result<JsSyncSummary, SdkError>>) {
        self.by_request.insert(req, Waiting::Resync(reply));
    }

    /// The client is closed: every waiting promise is rejected.
    fn close(&mut self) {
        let closed = || SdkError::new(Code::NotConnected, "the client was closed");
        for (_, w) in self.by_request.drain() {
            match w {
                Waiting::Command(r) => r.send(Err(closed())),
                Waiting::Resync(r) => r.send(Err(closed())),
            }
        }
        for w in self.connect.drain(..) {
            w.send(Err(closed()));
        }
        for w in self.synced.drain(..) {
            w.send(Err(closed()));
        }
    }
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

/// Reports to the app, and the promises waiting for something.
pub(super) struct Reporter {
    shared: Rc<Shared>,
    replies: Replies,
    stats: Keyed<RoomStats>,
}

impl Reporter {
    pub(super) fn new(shared: Rc<Shared>) -> Reporter {
        Reporter {
            shared,
            replies: Replies::default(),
            stats: Keyed::new(),
        }
    }

    /// `reply` waits for the result of command `req`.
    pub(super) fn command(&mut self, req: RequestId, reply: CommandReply) {
        self.replies.command(req, reply);
    }

    /// `reply` waits for the resync command `req`, then for every room to be in sync;
    /// progress is counted afresh.
    pub(super) fn resync(&mut self, req: RequestId, reply: Reply<Result<JsSyncSummary, SdkError>>) {
        self.stats.clear();
        self.replies.resync(req, reply);
    }

    /// `reply` (a `connect()`) waits for the session.
    pub(super) fn connect(&mut self, reply: Reply<Result<(), SdkError>>) {
        self.replies.connect.push(reply);
    }

    /// The session is up: progress is counted afresh and `connect()` calls resolve.
    pub(super) fn connected(&mut self) {
        self.stats.clear();
        for w in std::mem::take(&mut self.replies.connect) {
            w.send(Ok(()));
        }
    }

    /// The first attempt failed: `connect()` calls are rejected with `e` (reported as an
    /// error callback when nobody waits).
    pub(super) fn connect_failed(&mut self, e: &SdkError) {
        let waiters = std::mem::take(&mut self.replies.connect);
        if waiters.is_empty() {
            self.shared.emit_error(e);
        }
        for w in waiters {
            w.send(Err(e.clone()));
        }
    }

    /// The session dropped (a reconnect follows): `resync()` calls waiting for every room
    /// to be in sync are rejected.
    pub(super) fn disconnected(&mut self, reason: &str) {
        for w in std::mem::take(&mut self.replies.synced) {
            w.send(Err(SdkError::new(Code::Network, reason)));
        }
    }

    /// The client is closed: every waiting promise is rejected.
    pub(super) fn close(&mut self) {
        self.replies.close();
    }

    /// Report a stored page: resync progress for archive pages, then its new events, then
    /// the stored messages it changed (`update`), the values taken from `prepared`.
    pub(super) fn applied(&mut self, page: &Page, applied: &Applied, prepared: &mut Prepared) {
        let (cursor, gap) = (page.cursor.is_some(), page.gap.is_some());
        let is_sync_page = cursor
            || gap
            || (!page.events.is_empty() && page.events.iter().all(|e| e.source == Source::Archive));
        if is_sync_page {
            let st = self
                .stats
                .get_or_insert_with(&page.room, RoomStats::default);
            st.fetched += page.events.len() as u32;
            st.gap |= gap;
            let p = JsSyncProgress {
                room: page.room.clone(),
                fetched: st.fetched,
                complete: false,
                gap: st.gap,
            };
            self.shared.emit_value("sync", || p);
        }
        for ev in &applied.fresh {
            self.shared
                .emit_prepared("event", prepared.event(), || JsRoomEvent::from_event(ev));
        }
        for ev in &applied.updated {
            self.shared
                .emit_prepared("update", prepared.update(), || JsRoomEvent::from_event(ev));
        }
    }

    /// Report an app event other than `Connected` and `Disconnected` (the driver's: they
    /// change the connection state).
    pub(super) fn app_event(&mut self, e: AppEvent) {
        match e {
            AppEvent::Connected { .. }
            | AppEvent::Resumed { .. }
            | AppEvent::Disconnected { .. }
            | AppEvent::Token(_)
            | AppEvent::CredentialsNeeded { .. } => {}
            AppEvent::Room(ev) => self
                .shared
                .emit_value("event", || JsRoomEvent::from_event(&ev)),
            AppEvent::Updated(ev) => self
                .shared
                .emit_value("update", || JsRoomEvent::from_event(&ev)),
            AppEvent::Result { request, result } => match self.replies.by_request.remove(request) {
                Some(Waiting::Command(reply)) => {
                    reply.send(result.map_err(|e| command_error(&e)));
                }
                Some(Waiting::Resync(reply)) => match result {
                    Ok(_) => self.replies.synced.push(reply),
                    Err(e) => reply.send(Err(command_error(&e))),
                },
                None => {}
            },
            AppEvent::SubscriptionChanged { room, subscription } => {
                self.shared.emit_value("subscription", || {
                    JsSubscriptionChange::new(room, subscription)
                })
            }
            AppEvent::RoomSynced { room, ok } => {
                let st = self.stats.get_or_insert_with(&room, RoomStats::default);
                let p = JsSyncProgress {
                    room,
                    fetched: st.fetched,
                    complete: ok,
                    gap: st.gap,
                };
                self.shared.emit_value("sync", || p);
            }
            AppEvent::Synced => {
                let summary = JsSyncSummary {
                    rooms: self.stats.len() as u32,
                    fetched: self.stats.values().map(|s| s.fetched).sum(),
                    gaps: self.stats.values().filter(|s| s.gap).count() as u32,
                };
                for w in std::mem::take(&mut self.replies.synced) {
                    w.send(Ok(summary.clone()));
                }
            }
            AppEvent::Read { room, unread } => self.shared.emit_value("read", || JsRead {
                room,
                unread: u32::try_from(unread).unwrap_or(u32::MAX),
            }),
            AppEvent::Warning(w) => self.warning(w),
        }
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
}
