//! The one command surface of the SDK. Every request an app makes of a client — the
//! JavaScript `MucSubClient` methods, `NativeClient::command` — is a [`Command`], run here
//! by [`Client::command`] and answered by exactly one
//! [`AppEvent::Result`](super::AppEvent::Result) carrying the command's [`RequestId`]. The
//! drivers only forward commands and deliver results.

use jid::BareJid;
use minidom::Element;

use super::pending::{Asked, Pending};
use super::{result, Client, HistoryPage};
use super::{Action, CommandError, CommandResult, RequestId, SubscriptionInfo};
use crate::event::{compose, ReplyTo};
use crate::protocol::mam::{self, PageFrom};
use crate::protocol::time::Timestamp;
use crate::protocol::xml::ncname;
use crate::protocol::{ns, Node, Subscribe, Subscription, Subscriptions, Unsubscribe};
use crate::store::SubscriptionRecord;

/// Largest history page one [`Command::History`] asks for.
const HISTORY_MAX: usize = 500;

/// A request of the app. Commands naming a room refuse anything but a room JID
/// (`bad-request`); every command fails with `not-connected` while the session is not
/// ready, and with `disconnected` when the connection is lost before its answer (on a
/// managed stream, once the stream is not resumed: a resumed stream answers it, `held`).
///
/// Whether the app is looked at ([`Client::set_active`]) is not a command: it is a wish
/// the core keeps across connections, with no result and nothing to refuse offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Subscribe to `room` as `nick`, to every node when `nodes` is empty (created when it
    /// does not exist and the server allows it). Answered with
    /// [`CommandResult::Subscribed`].
    Subscribe {
        /// Room.
        room: String,
        /// Subscription nick.
        nick: String,
        /// Event nodes (all when empty).
        nodes: Vec<Node>,
        /// Room password.
        password: Option<String>,
    },
    /// Unsubscribe from `room`: [`CommandResult::Unsubscribed`].
    Unsubscribe {
        /// Room.
        room: String,
    },
    /// The account's subscriptions, from the MUC service: [`CommandResult::Subscriptions`].
    ListSubscriptions,
    /// A room's subscribers: [`CommandResult::Subscribers`].
    ListSubscribers {
        /// Room.
        room: String,
    },
    /// Post a groupchat message without joining (docs/protocol.md S14):
    /// [`CommandResult::Sent`] once written. A refusal comes back later as
    /// [`super::ClientWarning::MessageError`].
    Send {
        /// Room.
        room: String,
        /// Body.
        body: String,
        /// The message id and origin-id. It comes from the caller (the browser's crypto
        /// source, a test's counter): the core draws no random numbers.
        id: String,
    },
    /// Change the room subject: [`CommandResult::Sent`] once written; a refusal comes back
    /// as a bounced message, like [`Command::Send`].
    SetSubject {
        /// Room.
        room: String,
        /// The new subject (empty clears it).
        subject: String,
        /// The message id, from the caller.
        id: String,
    },
    /// Fetch the page of history older than the archive id `before` (the newest page when
    /// `None`), at most `max` items (clamped to 1–500), into the store; the resync cursor
    /// does not move. [`CommandResult::History`].
    History {
        /// Room.
        room: String,
        /// Archive id the page ends before.
        before: Option<String>,
        /// Page size.
        max: usize,
    },
    /// Resync every subscribed room now: [`CommandResult::ResyncStarted`] at once, then
    /// [`AppEvent::Synced`](super::AppEvent::Synced) when every room is in sync.
    Resync,
    /// Post `body` answering the message `reply_to` names (XEP-0461), otherwise like
    /// [`Command::Send`].
    Reply {
        /// Room.
        room: String,
        /// Body.
        body: String,
        /// The message id and origin-id, from the caller.
        id: String,
        /// The answered message.
        reply_to: ReplyTo,
    },
    /// Correct our message `target` (the id we gave it) to `body` (XEP-0308):
    /// [`CommandResult::Sent`] once written, like [`Command::Send`].
    Edit {
        /// Room.
        room: String,
        /// The correction's own message id, from the caller.
        id: String,
        /// The corrected message's id.
        target: String,
        /// The new body.
        body: String,
    },
    /// Retract our message `target` (XEP-0424): [`CommandResult::Sent`].
    Retract {
        /// Room.
        room: String,
        /// The retraction's own message id, from the caller.
        id: String,
        /// The retracted message's origin-id (the id we gave it): what Converse.js
        /// matches; our server and the stores also accept its archive id.
        target: String,
    },
    /// Our reactions to the message with archive id `stanza_id` become `emojis` (XEP-0444;
    /// empty takes them all back): [`CommandResult::Sent`].
    React {
        /// Room.
        room: String,
        /// The reaction message's own id, from the caller.
        id: String,
        /// The message reacted to.
        stanza_id: String,
        /// Every reaction we keep on it.
        emojis: Vec<String>,
    },
    /// As a moderator, retract anyone's message with archive id `stanza_id` (XEP-0425):
    /// [`CommandResult::Moderated`] when the room accepts, its error otherwise.
    Moderate {
        /// Room.
        room: String,
        /// The moderated message's archive id.
        stanza_id: String,
        /// Reason shown to occupants.
        reason: Option<String>,
    },
    /// Share with the account's other devices that `room` is read up to the message with
    /// archive id `stanza_id` (XEP-0490; the driver moved the local marker first):
    /// [`CommandResult::Displayed`] at once, also offline — the newest marker of each room
    /// is published when a session is up, and nothing is when the server has no PEP.
    MarkDisplayed {
        /// Room.
        room: String,
        /// The archive id of the last read message.
        stanza_id: String,
    },
}

impl Command {
    /// Subscribe to every node of `room` as `nick`, without a room password.
    pub fn subscribe(room: impl Into<String>, nick: impl Into<String>) -> Self {
        Command::Subscribe {
            room: room.into(),
            nick: nick.into(),
            nodes: Vec::new(),
            password: None,
        }
    }

    /// Post `body` to `room` as message `id`.
    pub fn send(room: impl Into<String>, body: impl Into<String>, id: impl Into<String>) -> Self {
        Command::Send {
            room: room.into(),
            body: body.into(),
            id: id.into(),
        }
    }
}

fn room_jid(room: &str) -> Result<BareJid, CommandError> {
    BareJid::new(room)
        .ok()
        .filter(|j| j.node().is_some())
        .ok_or_else(|| CommandError::new("bad-request", Some(format!("not a room JID: {room:?}"))))
}

/// A groupchat message to `room` with one child (`<body/>`, `<subject/>`).
fn groupchat(room: &BareJid, id: &str, child: &str, text: String) -> Element {
    Element::builder("message", ns::JABBER_CLIENT)
        .attr(ncname("to"), room.to_string())
        .attr(ncname("type"), "groupchat")
        .attr(ncname("id"), id.to_owned())
        .append(
            Element::builder(child, ns::JABBER_CLIENT)
                .append(text)
                .build(),
        )
        .build()
}

fn info(s: Subscription) -> SubscriptionInfo {
    SubscriptionInfo {
        jid: s.jid.map(|j| j.to_string()),
        nick: s.nick,
        nodes: s.events,
    }
}

impl Client {
    /// Run a command. Its outcome comes as one
    /// [`AppEvent::Result`](super::AppEvent::Result) with the returned id: among these
    /// actions when it is known at once (a local refusal, a message written), later when
    /// the server has to answer.
    pub fn command(&mut self, cmd: Command, now: Timestamp) -> (RequestId, Vec<Action>) {
        self.next_request += 1;
        let req = self.next_request;
        let mut out = Vec::new();
        if let Err(e) = self.run(req, cmd, now, &mut out) {
            out.push(result(req, Err(e)));
        }
        self.timer(&mut out);
        (req, out)
    }

    fn run(
        &mut self,
        req: RequestId,
        cmd: Command,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        if let Command::MarkDisplayed { room, stanza_id } = cmd {
            let room = room_jid(&room)?.to_string();
            self.mark_displayed(req, room, stanza_id, now, out);
            return Ok(());
        }
        if !self.session.is_ready() {
            return Err(CommandError::new("not-connected", None));
        }
        match cmd {
            Command::Subscribe {
                room,
                nick,
                nodes,
                password,
            } => {
                let room = room_jid(&room)?;
                let requested = Subscribe {
                    nick: Some(nick),
                    password,
                    jid: None,
                    events: if nodes.is_empty() {
                        Node::ALL.to_vec()
                    } else {
                        nodes
                    },
                };
                self.subscribing.push(room.clone());
                let (to, payload) = (room.to_string(), requested.clone().into());
                let asked = Asked::Subscribe { room, requested };
                self.send_iq("set", &to, payload, Pending::Command(req, asked), now, out);
            }
            Command::Unsubscribe { room } => {
                let room = room_jid(&room)?;
                let (to, payload) = (room.to_string(), Unsubscribe::default().into());
                let asked = Asked::Unsubscribe { room };
                self.send_iq("set", &to, payload, Pending::Command(req, asked), now, out);
            }
            Command::ListSubscriptions => {
                let (to, payload) = (self.service.clone(), Subscriptions::default().into());
                let asked = Asked::Subscriptions;
                self.send_iq("get", &to, payload, Pending::Command(req, asked), now, out);
            }
            Command::ListSubscribers { room } => {
                let room = room_jid(&room)?;
                let (to, payload) = (room.to_string(), Subscriptions::default().into());
                let asked = Asked::Subscribers { room };
                self.send_iq("get", &to, payload, Pending::Command(req, asked), now, out);
            }
            Command::Send { room, body, id } => {
                let mut m = groupchat(&room_jid(&room)?, &id, "body", body);
                m.append_child(
                    Element::builder("origin-id", ns::SID)
                        .attr(ncname("id"), id.clone())
                        .build(),
                );
                self.send(&m, out);
                out.push(result(req, Ok(CommandResult::Sent { id })));
            }
            Command::SetSubject { room, subject, id } => {
                let m = groupchat(&room_jid(&room)?, &id, "subject", subject);
                self.send(&m, out);
                out.push(result(req, Ok(CommandResult::Sent { id })));
            }
            Command::Reply {
                room,
                body,
                id,
                reply_to,
            } => {
                let m = compose::message(&room_jid(&room)?, &id, &body, Some(&reply_to));
                self.send(&m, out);
                out.push(result(req, Ok(CommandResult::Sent { id })));
            }
            Command::Edit {
                room,
                id,
                target,
                body,
            } => {
                self.send(&compose::edit(&room_jid(&room)?, &id, &target, &body), out);
                out.push(result(req, Ok(CommandResult::Sent { id })));
            }
            Command::Retract { room, id, target } => {
                self.send(&compose::retract(&room_jid(&room)?, &id, &target), out);
                out.push(result(req, Ok(CommandResult::Sent { id })));
            }
            Command::React {
                room,
                id,
                stanza_id,
                emojis,
            } => {
                let m = compose::react(&room_jid(&room)?, &id, &stanza_id, &emojis);
                self.send(&m, out);
                out.push(result(req, Ok(CommandResult::Sent { id })));
            }
            Command::Moderate {
                room,
                stanza_id,
                reason,
            } => {
                let room = room_jid(&room)?;
                let payload = compose::moderate(&stanza_id, reason.as_deref());
                let to = room.to_string();
                let asked = Asked::Moderate { room, stanza_id };
                self.send_iq("set", &to, payload, Pending::Command(req, asked), now, out);
            }
            Command::History { room, before, max } => {
                let room = room_jid(&room)?;
                self.history(req, room, before, max, now, out)
            }
            Command::MarkDisplayed { .. } => unreachable!("handled above"),
            Command::Resync => {
                let rooms: Vec<BareJid> = self
                    .subs
                    .keys()
                    .filter_map(|r| BareJid::new(r).ok())
                    .collect();
                for r in rooms {
                    self.enqueue_resync(r, None, now, out);
                }
                self.syncing = true;
                let pumped = self.resync.pump();
                self.resync_out(pumped, now, out);
                out.push(result(req, Ok(CommandResult::ResyncStarted)));
                self.check_synced(out);
            }
        }
        Ok(())
    }

    fn history(
        &mut self,
        req: RequestId,
        room: BareJid,
        before: Option<String>,
        max: usize,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let queryid = format!("hist-{}-{req}", self.connection);
        let from = match before {
            Some(id) => PageFrom::Before(id),
            None => PageFrom::Newest,
        };
        let q: Element = mam::query(&queryid, &from, max.clamp(1, HISTORY_MAX)).into();
        self.history.insert(
            queryid.clone(),
            HistoryPage {
                room: room.clone(),
                events: Vec::new(),
                count: 0,
            },
        );
        let to = room.to_string();
        let pending = Pending::History { queryid, req, room };
        self.send_iq("set", &to, q, pending, now, out);
    }

    /// The answer to an IQ command arrived: its result, and what it changes locally.
    pub(super) fn command_ok(
        &mut self,
        asked: Asked,
        payload: Option<&Element>,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) -> CommandResult {
        let list = || {
            payload
                .and_then(|p| Subscriptions::try_from(p).ok())
                .unwrap_or_default()
                .items
                .into_iter()
                .map(info)
                .collect()
        };
        match asked {
            Asked::Subscribe { room, requested } => {
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
                self.subscribed(&room, rec, now, out);
                CommandResult::Subscribed {
                    room: room.to_string(),
                    nick,
                    nodes,
                }
            }
            Asked::Unsubscribe { room } => {
                self.drop_subscription(&room, out);
                CommandResult::Unsubscribed {
                    room: room.to_string(),
                }
            }
            Asked::Subscriptions => CommandResult::Subscriptions { items: list() },
            Asked::Subscribers { room } => CommandResult::Subscribers {
                room: room.to_string(),
                items: list(),
            },
            Asked::Moderate { room, stanza_id } => CommandResult::Moderated {
                room: room.to_string(),
                stanza_id,
            },
        }
    }
}
