//! One MUC room as a plain state machine: a stanza goes in, a list of [`Action`]s comes out
//! (storage writes first, then stanzas and MucSub events, in the order they must leave).
//! No I/O happens here, so every rule can be unit-tested; `room_task.rs` runs one task per
//! loaded room that applies the actions.
//!
//! This file holds the room's state, its lookups and the dispatch; the rules live beside
//! it by subject: `admit.rs` (who may enter or subscribe), `presence.rs` (joins, leaves,
//! nick changes), `message.rs` (groupchat and private messages), `fanout.rs` (MucSub
//! events), `mucsub.rs`, `admin.rs`, `iq.rs`.
//!
//! Occupancy (XEP-0045 presence) lives only in memory; everything else (config,
//! affiliations, subscriptions, subject, archive) is mirrored in storage by the actions.

use std::collections::{BTreeMap, HashMap, VecDeque};

use jid::{BareJid, FullJid};
use minidom::Element;

use super::affiliation::{default_role, Affiliation, Role};
use super::config_form::RoomConfig;
use super::ids::IdGen;
use super::store::{StoreOp, StoredRoom, StoredSubscription};
use super::xml::{set_attr, B};
use crate::ns;
use crate::stanza::{error_reply, iq_result, ErrorType, Refusal};
use mucsub_protocol::Node;

/// What a room asks its task to do, in order. All `Store` actions of one stanza are
/// committed together before anything else leaves.
#[derive(Debug)]
pub enum Action {
    Store(StoreOp),
    /// A stanza to one user's full JID (`to` is set).
    Send(Element),
    /// The same stanza (without `to`) to many sessions.
    Broadcast(Element, Vec<FullJid>),
    /// A MucSub event for accounts' bare JIDs.
    Event(EventOut),
    /// An archive query the room has authorised; answered from storage by the task.
    Mam {
        iq: Element,
    },
    /// The room no longer exists; its task ends after this batch.
    Destroyed,
}

/// One event, built once per distinct content and addressed to many accounts. The task
/// wraps `inner` in the pubsub `<event>` once per variant and varies only `to`.
#[derive(Debug)]
pub struct EventOut {
    pub node: Node,
    /// The outer message id and the `<item id>`: the stanza-id for archived messages.
    pub id: String,
    /// `inner` without `to`, and who receives it.
    pub variants: Vec<(Element, Vec<Recipient>)>,
}

/// An account a MucSub event goes to, and its resources joined to the room: those get the
/// plain MUC stanzas and no wrapped events, the account's other resources the event
/// (docs/protocol.md S11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub account: BareJid,
    pub joined: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Occupant {
    pub jid: FullJid,
    pub nick: String,
    pub role: Role,
    /// The occupant's own presence payload (show, status, caps…), rebroadcast as is.
    pub payload: Vec<Element>,
}

#[derive(Debug, Clone)]
pub struct Subscriber {
    pub nick: String,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
pub struct HistoryItem {
    pub stanza: Element,
    pub stamp_us: i64,
}

/// Inputs the room needs from its environment: the clock and the id source.
pub struct Env<'a> {
    pub ids: &'a IdGen,
    pub now_us: i64,
    /// Messages kept in memory for history on join.
    pub history_size: usize,
}

impl Env<'_> {
    /// A new id for something the room sends without archiving it (an event, a status
    /// message). It comes from the archive's id generator, so it is unique across rooms
    /// and restarts as archive ids are, and subscribers can deduplicate by it.
    pub fn next_id(&self) -> String {
        self.ids.next_at(self.now_us).to_string()
    }
}

pub struct Room {
    pub name: String,
    pub jid: BareJid,
    pub config: RoomConfig,
    pub affiliations: HashMap<BareJid, Affiliation>,
    pub subscribers: BTreeMap<BareJid, Subscriber>,
    pub occupants: Vec<Occupant>,
    pub subject: String,
    pub subject_nick: String,
    pub history: VecDeque<HistoryItem>,
}

pub type Outcome = Vec<Action>;

/// `el` addressed to `to`.
pub(super) fn with_to(mut el: Element, to: &FullJid) -> Element {
    set_attr(&mut el, "to", to.as_str());
    el
}

/// The outcome of a refused request: its error reply, with a text.
pub(super) fn refuse(req: &Element, kind: ErrorType, condition: &str, text: &str) -> Outcome {
    vec![Action::Send(error_reply(req, kind, condition, Some(text)))]
}

/// `<status code=…/>` of `muc#user`.
pub(super) fn status(code: u16) -> Element {
    B::new("status", ns::MUC_USER)
        .a("code", code.to_string())
        .b()
}

impl Room {
    pub fn new(name: &str, jid: BareJid, config: RoomConfig) -> Room {
        Room {
            name: name.to_owned(),
            jid,
            config,
            affiliations: HashMap::new(),
            subscribers: BTreeMap::new(),
            occupants: Vec::new(),
            subject: String::new(),
            subject_nick: String::new(),
            history: VecDeque::new(),
        }
    }

    /// A new room owned by `owner`; the returned actions persist it. A room created by a
    /// join comes with `config.locked` (docs/protocol.md S22); one created by a subscription
    /// or the HTTP API is open at once.
    pub fn create(name: &str, jid: BareJid, owner: BareJid, config: RoomConfig) -> (Room, Outcome) {
        let mut r = Room::new(name, jid, config);
        r.affiliations.insert(owner.clone(), Affiliation::Owner);
        let acts = vec![
            Action::Store(StoreOp::SaveRoom {
                name: name.to_owned(),
                config: r.config.clone(),
            }),
            Action::Store(StoreOp::SetAffiliation {
                room: name.to_owned(),
                jid: owner.to_string(),
                affiliation: Affiliation::Owner,
            }),
        ];
        (r, acts)
    }

    pub fn from_stored(s: StoredRoom, jid: BareJid, history: Vec<HistoryItem>) -> Room {
        let mut r = Room::new(&s.name, jid, s.config);
        r.subject = s.subject;
        r.subject_nick = s.subject_nick;
        for (j, a) in s.affiliations {
            if let Ok(b) = BareJid::new(&j) {
                r.affiliations.insert(b, a);
            }
        }
        for sub in s.subscriptions {
            if let Ok(b) = BareJid::new(&sub.jid) {
                let nodes = Node::parse_list(sub.nodes.iter().map(String::as_str));
                r.subscribers.insert(
                    b,
                    Subscriber {
                        nick: sub.nick,
                        nodes,
                    },
                );
            }
        }
        r.history = history.into();
        r
    }

    // ---- lookups -------------------------------------------------------------------

    pub fn affiliation(&self, j: &BareJid) -> Affiliation {
        self.affiliations
            .get(j)
            .copied()
            .unwrap_or(Affiliation::None)
    }

    pub fn occupant(&self, j: &FullJid) -> Option<&Occupant> {
        self.occupants.iter().find(|o| &o.jid == j)
    }

    pub fn is_joined(&self, b: &BareJid) -> bool {
        self.occupants.iter().any(|o| o.jid.to_bare() == *b)
    }

    /// Account `b` as the receiver of an event, with its resources joined to the room.
    pub(super) fn recipient(&self, b: &BareJid) -> Recipient {
        let joined = self
            .occupants
            .iter()
            .filter(|o| o.jid.to_bare() == *b)
            .map(|o| o.jid.resource().to_string())
            .collect();
        Recipient {
            account: b.clone(),
            joined,
        }
    }

    /// The account holding `nick`, as occupant or else as subscriber.
    pub(super) fn holder_of(&self, nick: &str) -> Option<BareJid> {
        self.occupants
            .iter()
            .find(|o| o.nick == nick)
            .map(|o| o.jid.to_bare())
            .or_else(|| {
                self.subscribers
                    .iter()
                    .find(|(_, s)| s.nick == nick)
                    .map(|(j, _)| j.clone())
            })
    }

    /// The refusal when `nick` is taken by somebody other than `me`: an occupant, or a
    /// subscriber, which the text says (docs/protocol.md S22), as a stock client shows it.
    pub fn nick_conflict(&self, nick: &str, me: &BareJid) -> Option<Refusal> {
        let text = if self
            .occupants
            .iter()
            .any(|o| o.nick == nick && o.jid.to_bare() != *me)
        {
            "That nickname is already in use by another occupant"
        } else if self
            .subscribers
            .iter()
            .any(|(j, s)| s.nick == nick && j != me)
        {
            "That nickname is reserved by a subscriber"
        } else {
            return None;
        };
        Some(Refusal::new(ErrorType::Cancel, "conflict", text))
    }

    /// The role a user acts with: their occupant role when joined, else what they would
    /// get on joining (docs/protocol.md S14 for subscribers posting without joining).
    pub fn effective_role(&self, from: &FullJid) -> Role {
        if let Some(o) = self.occupant(from) {
            return o.role;
        }
        let b = from.to_bare();
        let aff = self.affiliation(&b);
        if self.config.members_only && aff < Affiliation::Member {
            return Role::Visitor;
        }
        default_role(aff, self.config.moderated, self.config.members_by_default)
    }

    /// docs/protocol.md S22: while the room is locked, what is refused (joins and
    /// subscriptions of anyone but its owner, every message) is refused as if the room did
    /// not exist yet (XEP-0045 §10.1.1). `None` once the room is open.
    pub(super) fn locked_refusal(&self) -> Option<Refusal> {
        self.config.locked.then(|| {
            Refusal::new(
                ErrorType::Cancel,
                "item-not-found",
                "This room is locked until its owner configures it",
            )
        })
    }

    /// The owner accepted the instant room: a locked room opens (docs/protocol.md S22).
    pub(super) fn unlock(&mut self, iq: &Element) -> Outcome {
        let mut out = Vec::new();
        if self.config.locked {
            self.config.locked = false;
            out.push(Action::Store(StoreOp::SaveRoom {
                name: self.name.clone(),
                config: self.config.clone(),
            }));
        }
        out.push(Action::Send(iq_result(iq, None)));
        out
    }

    /// Moderator by role, or admin/owner by affiliation.
    pub fn is_moderator(&self, from: &FullJid) -> bool {
        self.affiliation(&from.to_bare()).is_admin_or_owner()
            || self.occupant(from).map(|o| o.role) == Some(Role::Moderator)
    }

    pub(super) fn occupant_sees_jids(&self, o: &Occupant) -> bool {
        self.config.whois_anyone || o.role == Role::Moderator
    }

    pub(super) fn account_sees_jids(&self, b: &BareJid) -> bool {
        self.config.whois_anyone || self.affiliation(b).is_admin_or_owner()
    }

    /// `room@service/nick`.
    pub(super) fn nick_jid_str(&self, nick: &str) -> String {
        format!("{}/{}", self.jid, nick)
    }

    // ---- dispatch ------------------------------------------------------------------

    pub fn handle(&mut self, env: &Env, from: FullJid, stanza: Element) -> Outcome {
        match stanza.name() {
            "presence" => self.on_presence(env, from, stanza),
            "message" => self.on_message(env, from, stanza),
            "iq" => self.on_iq(env, from, stanza),
            _ => Vec::new(),
        }
    }

    // ---- shared outputs --------------------------------------------------------------

    pub fn stored_subscription(&self, j: &BareJid) -> Option<StoredSubscription> {
        self.subscribers.get(j).map(|s| StoredSubscription {
            jid: j.to_string(),
            nick: s.nick.clone(),
            nodes: s.nodes.iter().map(|n| n.as_str().to_owned()).collect(),
        })
    }

    /// A status message from the room itself (`<x><status code/>…</x>`).
    pub(super) fn room_message(&self, env: &Env, codes: &[u16]) -> Element {
        B::new("message", ns::CLIENT)
            .a("from", self.jid.to_string())
            .a("type", "groupchat")
            .a("id", env.next_id())
            .c(B::new("x", ns::MUC_USER)
                .cs(codes.iter().map(|c| status(*c)))
                .b())
            .b()
    }

    pub(super) fn send_to_occupants(&self, out: &mut Outcome, el: &Element) {
        if !self.occupants.is_empty() {
            let to = self.occupants.iter().map(|o| o.jid.clone()).collect();
            out.push(Action::Broadcast(el.clone(), to));
        }
    }

    /// A temporary room disappears once nobody is in it and nobody is subscribed; so does
    /// a room still locked (its creator left without configuring it: it never opened).
    pub(super) fn vanish_if_unused(&mut self, out: &mut Outcome) {
        let unused = self.occupants.is_empty() && self.subscribers.is_empty();
        if unused && (!self.config.persistent || self.config.locked) {
            out.push(Action::Store(StoreOp::DestroyRoom {
                room: self.name.clone(),
            }));
            out.push(Action::Destroyed);
        }
    }
}
