//! One MUC room as a plain state machine: a stanza goes in, a list of [`Action`]s comes out
//! (storage writes first, then stanzas and MucSub events, in the order they must leave).
//! No I/O happens here, so every rule can be unit-tested; `service.rs` runs one task per
//! loaded room that applies the actions.
//!
//! Occupancy (XEP-0045 presence) lives only in memory; everything else (config,
//! affiliations, subscriptions, subject, archive) is mirrored in storage by the actions.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use jid::{BareJid, FullJid};
use minidom::Element;

use super::affiliation::{default_role, Affiliation, Role};
use super::config_form::RoomConfig;
use super::ids::IdGen;
use super::node::{Node, NodeExt};
use super::store::{ArchivedMsg, StoreOp, StoredRoom, StoredSubscription};
use super::xml::*;

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
    pub variants: Vec<(Element, Vec<BareJid>)>,
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

/// Inputs the room needs from its environment.
pub struct Env<'a> {
    pub ids: &'a IdGen,
    pub now_us: i64,
    /// Messages kept in memory for history on join.
    pub history_size: usize,
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
    /// Set until the creator's first join has been answered, for status 201.
    pub just_created: bool,
}

pub type Outcome = Vec<Action>;

fn bare_of(s: &str) -> Option<BareJid> {
    BareJid::new(s).ok()
}

fn random_id() -> String {
    rand::random::<u64>().to_string()
}

fn with_to(mut el: Element, to: &FullJid) -> Element {
    set_attr(&mut el, "to", to.to_string());
    el
}

fn status(code: u16) -> Element {
    B::new("status", NS_MUC_USER)
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
            just_created: false,
        }
    }

    /// A new room owned by `owner`; the returned actions persist it.
    pub fn create(name: &str, jid: BareJid, owner: BareJid, config: RoomConfig) -> (Room, Outcome) {
        let mut r = Room::new(name, jid, config);
        r.affiliations.insert(owner.clone(), Affiliation::Owner);
        r.just_created = true;
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
            if let Some(b) = bare_of(&j) {
                r.affiliations.insert(b, a);
            }
        }
        for sub in s.subscriptions {
            if let Some(b) = bare_of(&sub.jid) {
                let nodes = super::node::parse_list(sub.nodes.iter().map(|n| n.as_str()));
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

    fn nick_holder(&self, nick: &str) -> Option<BareJid> {
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

    /// Is `nick` taken by somebody other than `me`?
    pub fn nick_conflicts(&self, nick: &str, me: &BareJid) -> bool {
        self.occupants
            .iter()
            .any(|o| o.nick == nick && o.jid.to_bare() != *me)
            || self
                .subscribers
                .iter()
                .any(|(j, s)| s.nick == nick && j != me)
    }

    /// The role a user acts with: their occupant role when joined, else what they would
    /// get on joining (SPEC S14 for subscribers posting without joining).
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

    /// Moderator by role, or admin/owner by affiliation.
    pub fn is_moderator(&self, from: &FullJid) -> bool {
        self.affiliation(&from.to_bare()).is_admin_or_owner()
            || self.occupant(from).map(|o| o.role) == Some(Role::Moderator)
    }

    fn occupant_sees_jids(&self, o: &Occupant) -> bool {
        self.config.whois_anyone || o.role == Role::Moderator
    }

    fn account_sees_jids(&self, b: &BareJid) -> bool {
        self.config.whois_anyone || self.affiliation(b).is_admin_or_owner()
    }

    pub fn occupant_jid(&self, nick: &str) -> Result<FullJid, Element> {
        self.jid
            .with_resource_str(nick)
            .map_err(|_| error_el("modify", "jid-malformed", "Invalid nickname"))
    }

    fn nick_jid_str(&self, nick: &str) -> String {
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

    // ---- presence ------------------------------------------------------------------

    fn on_presence(&mut self, env: &Env, from: FullJid, p: Element) -> Outcome {
        let kind = p.attr("type").unwrap_or("");
        let nick = p
            .attr("to")
            .and_then(|t| t.split_once('/'))
            .map(|(_, n)| n.to_owned());
        match kind {
            "unavailable" | "error" => {
                if self.occupant(&from).is_some() {
                    // The goodbye's own status text goes out with it.
                    let payload = Self::payload_of(&p);
                    if let Some(o) = self.occupants.iter_mut().find(|o| o.jid == from) {
                        o.payload = payload;
                    }
                    self.leave(&from, &[])
                } else {
                    Vec::new()
                }
            }
            "" => {
                let Some(nick) = nick.filter(|n| !n.is_empty()) else {
                    return vec![Action::Send(error_reply(
                        &p,
                        "modify",
                        "jid-malformed",
                        "A nickname is required",
                    ))];
                };
                if self.occupant(&from).is_some() {
                    self.presence_update(&from, nick, p)
                } else {
                    self.join(env, from, nick, p)
                }
            }
            // Subscription requests and probes mean nothing to a room.
            _ => Vec::new(),
        }
    }

    fn payload_of(p: &Element) -> Vec<Element> {
        p.children()
            .filter(|c| !(c.has_ns(NS_MUC) || c.has_ns(NS_MUC_USER) || c.name() == "error"))
            .cloned()
            .collect()
    }

    /// `<presence from=room/nick>` for occupant `o` as seen by a receiver.
    fn presence_of(
        &self,
        o: &Occupant,
        show_jid: bool,
        codes: &[u16],
        unavailable: bool,
        item_extra: Vec<Element>,
        extra: Vec<Element>,
    ) -> Element {
        let aff = self.affiliation(&o.jid.to_bare());
        let item = B::new("item", NS_MUC_USER)
            .opt("jid", show_jid.then(|| o.jid.to_string()))
            .a("role", if unavailable { "none" } else { o.role.as_str() })
            .a("affiliation", aff.as_str())
            .cs(item_extra)
            .b();
        let x = B::new("x", NS_MUC_USER)
            .c(item)
            .cs(codes.iter().map(|c| status(*c)))
            .cs(extra)
            .b();
        let mut b = B::new("presence", NS_CLIENT).a("from", self.nick_jid_str(&o.nick));
        if unavailable {
            b = b.a("type", "unavailable");
        }
        b.cs(o.payload.clone()).c(x).b()
    }

    /// Sends `o`'s presence to every occupant (110 added for its own sessions) and as a
    /// MucSub event to subscribers on the first of `nodes` they hold.
    #[allow(clippy::too_many_arguments)]
    fn broadcast_presence(
        &self,
        out: &mut Outcome,
        o: &Occupant,
        codes: &[u16],
        self_codes: &[u16],
        unavailable: bool,
        item_extra: Vec<Element>,
        nodes: &[Node],
    ) {
        for r in &self.occupants {
            let mine = r.jid == o.jid;
            let mut c: Vec<u16> = Vec::new();
            if mine {
                c.extend_from_slice(self_codes);
                c.push(110);
            }
            c.extend_from_slice(codes);
            c.dedup();
            let show = mine || self.occupant_sees_jids(r);
            let p = self.presence_of(o, show, &c, unavailable, item_extra.clone(), vec![]);
            out.push(Action::Send(with_to(p, &r.jid)));
        }
        let plain = self.presence_of(o, false, codes, unavailable, item_extra.clone(), vec![]);
        let full = self.presence_of(o, true, codes, unavailable, item_extra, vec![]);
        self.fanout(out, nodes, &random_id(), |sees| {
            if sees {
                full.clone()
            } else {
                plain.clone()
            }
        });
    }

    fn join(&mut self, env: &Env, from: FullJid, nick: String, p: Element) -> Outcome {
        let bare = from.to_bare();
        let aff = self.affiliation(&bare);
        let muc_x = p.get_child("x", NS_MUC);
        let err = |kind, cond, text| vec![Action::Send(error_reply(&p, kind, cond, text))];
        if aff == Affiliation::Outcast {
            return err("auth", "forbidden", "You have been banned from this room");
        }
        if self.config.members_only && aff < Affiliation::Member {
            return err(
                "auth",
                "registration-required",
                "This room is members-only: membership is required to enter",
            );
        }
        if self.config.password_protected && !aff.is_admin_or_owner() {
            let given = muc_x
                .and_then(|x| x.get_child("password", NS_MUC))
                .map(|p| p.text());
            match given {
                None => {
                    return err(
                        "auth",
                        "not-authorized",
                        "A password is required to enter this room",
                    )
                }
                Some(pw) if pw != self.config.password => {
                    return err("auth", "not-authorized", "Incorrect password")
                }
                _ => {}
            }
        }
        if self.nick_conflicts(&nick, &bare) {
            return err(
                "cancel",
                "conflict",
                "That nickname is already in use by another occupant",
            );
        }
        if self.jid.with_resource_str(&nick).is_err() {
            return err("modify", "jid-malformed", "Invalid nickname");
        }
        let distinct_users = {
            let mut v: Vec<BareJid> = self.occupants.iter().map(|o| o.jid.to_bare()).collect();
            v.sort();
            v.dedup();
            v
        };
        if !aff.is_admin_or_owner()
            && !distinct_users.contains(&bare)
            && distinct_users.len() >= self.config.max_users as usize
        {
            return err("wait", "service-unavailable", "Too many users in this room");
        }
        let role = default_role(aff, self.config.moderated, self.config.members_by_default);
        let occupant = Occupant {
            jid: from.clone(),
            nick,
            role,
            payload: Self::payload_of(&p),
        };
        let mut out = Vec::new();
        // 1. The occupants already present, to the newcomer.
        let sees = self.config.whois_anyone || role == Role::Moderator;
        for o in &self.occupants {
            let pr = self.presence_of(o, sees, &[], false, vec![], vec![]);
            out.push(Action::Send(with_to(pr, &from)));
        }
        self.occupants.push(occupant.clone());
        // 2 + 3. The newcomer's presence to everyone, its own copy with the status codes.
        let mut self_codes = Vec::new();
        if self.config.whois_anyone {
            self_codes.push(100);
        }
        if self.config.mam {
            self_codes.push(170);
        }
        if self.just_created {
            self_codes.push(201);
            self.just_created = false;
        }
        self.broadcast_presence(
            &mut out,
            &occupant,
            &[],
            &self_codes,
            false,
            vec![],
            &[Node::Presence, Node::Participants],
        );
        // 4. History, except for subscribers who have the archive (SPEC S11).
        if !self.subscribers.contains_key(&bare) {
            let h = muc_x.and_then(|x| x.get_child("history", NS_MUC));
            for item in self.history_for(env, h) {
                let mut m = item.stanza.clone();
                m.append_child(
                    B::new("delay", NS_DELAY)
                        .a("from", self.jid.to_string())
                        .a("stamp", super::ids::stamp(item.stamp_us))
                        .b(),
                );
                out.push(Action::Send(with_to(m, &from)));
            }
        }
        // 5. The subject, always last.
        out.push(Action::Send(with_to(self.subject_message(), &from)));
        out
    }

    fn history_for(&self, env: &Env, h: Option<&Element>) -> Vec<HistoryItem> {
        let mut max = self.history.len().min(env.history_size);
        let mut since: Option<i64> = None;
        if let Some(h) = h {
            if let Some(n) = h.attr("maxstanzas").and_then(|v| v.parse::<usize>().ok()) {
                max = max.min(n);
            }
            if let Some(s) = h.attr("seconds").and_then(|v| v.parse::<i64>().ok()) {
                since = Some(env.now_us - s.saturating_mul(1_000_000));
            }
            if let Some(t) = h.attr("since").and_then(super::ids::parse_stamp) {
                since = Some(since.map_or(t, |s| s.max(t)));
            }
            if h.attr("maxchars") == Some("0") {
                max = 0;
            }
        }
        let items: Vec<HistoryItem> = self
            .history
            .iter()
            .filter(|i| since.is_none_or(|s| i.stamp_us >= s))
            .cloned()
            .collect();
        let skip = items.len().saturating_sub(max);
        items.into_iter().skip(skip).collect()
    }

    fn subject_message(&self) -> Element {
        let from = if self.subject_nick.is_empty() {
            self.jid.to_string()
        } else {
            self.nick_jid_str(&self.subject_nick)
        };
        let subject = if self.subject.is_empty() {
            Element::bare("subject", NS_CLIENT)
        } else {
            text_el("subject", NS_CLIENT, self.subject.clone())
        };
        B::new("message", NS_CLIENT)
            .a("from", from)
            .a("type", "groupchat")
            .c(subject)
            .b()
    }

    fn presence_update(&mut self, from: &FullJid, nick: String, p: Element) -> Outcome {
        let Some(idx) = self.occupants.iter().position(|o| &o.jid == from) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if self.occupants[idx].nick != nick {
            let bare = from.to_bare();
            if self.nick_conflicts(&nick, &bare) {
                return vec![Action::Send(error_reply(
                    &p,
                    "cancel",
                    "conflict",
                    "That nickname is already in use by another occupant",
                ))];
            }
            if self.jid.with_resource_str(&nick).is_err() {
                return vec![Action::Send(error_reply(
                    &p,
                    "modify",
                    "jid-malformed",
                    "Invalid nickname",
                ))];
            }
            // XEP-0045 §7.6: unavailable from the old nick with 303 and the new nick…
            let mut old = self.occupants[idx].clone();
            old.payload.clear();
            for r in &self.occupants {
                let mine = r.jid == old.jid;
                let mut codes = vec![303];
                if mine {
                    codes.push(110);
                }
                let show = mine || self.occupant_sees_jids(r);
                let mut pr = self.presence_of(&old, show, &codes, true, vec![], vec![]);
                if let Some(x) = pr.get_child_mut("x", NS_MUC_USER) {
                    if let Some(item) = x.get_child_mut("item", NS_MUC_USER) {
                        set_attr(item, "nick", nick.clone());
                    }
                }
                out.push(Action::Send(with_to(pr, &r.jid)));
            }
            // …then available from the new one.
            self.occupants[idx].nick = nick;
            self.occupants[idx].payload = Self::payload_of(&p);
            let o = self.occupants[idx].clone();
            self.broadcast_presence(&mut out, &o, &[], &[], false, vec![], &[Node::Presence]);
            return out;
        }
        self.occupants[idx].payload = Self::payload_of(&p);
        let o = self.occupants[idx].clone();
        self.broadcast_presence(&mut out, &o, &[], &[], false, vec![], &[Node::Presence]);
        out
    }

    /// Removes an occupant, telling everyone (and subscribers), with optional status codes
    /// (307 kicked, 301 banned, 321/322 membership) — and destroys a temporary room left
    /// empty with nobody subscribed.
    fn leave(&mut self, from: &FullJid, codes: &[u16]) -> Outcome {
        let mut out = Vec::new();
        self.leave_into(
            &mut out,
            from,
            codes,
            vec![],
            &[Node::Presence, Node::Participants],
        );
        self.maybe_vanish(&mut out);
        out
    }

    fn leave_into(
        &mut self,
        out: &mut Outcome,
        from: &FullJid,
        codes: &[u16],
        item_extra: Vec<Element>,
        nodes: &[Node],
    ) {
        let Some(idx) = self.occupants.iter().position(|o| &o.jid == from) else {
            return;
        };
        let o = self.occupants[idx].clone();
        // The leaver gets its own copy first, then the others (it is still in the list).
        self.broadcast_presence(out, &o, codes, &[], true, item_extra, nodes);
        self.occupants.remove(idx);
    }

    /// A temporary room disappears once nobody is in it and nobody is subscribed.
    fn maybe_vanish(&mut self, out: &mut Outcome) {
        if !self.config.persistent && self.occupants.is_empty() && self.subscribers.is_empty() {
            out.push(Action::Store(StoreOp::DestroyRoom {
                room: self.name.clone(),
            }));
            out.push(Action::Destroyed);
        }
    }

    // ---- messages ------------------------------------------------------------------

    fn on_message(&mut self, env: &Env, from: FullJid, m: Element) -> Outcome {
        let to_nick = m
            .attr("to")
            .and_then(|t| t.split_once('/'))
            .map(|(_, n)| n.to_owned());
        match (m.attr("type").unwrap_or("normal"), to_nick) {
            ("error", _) => Vec::new(),
            ("groupchat", None) => self.groupchat(env, &from, m),
            ("groupchat", Some(_)) => vec![Action::Send(error_reply(
                &m,
                "modify",
                "bad-request",
                "Groupchat messages must be sent to the room",
            ))],
            (_, Some(nick)) => self.private_message(&from, &nick, m),
            (_, None) => vec![Action::Send(error_reply(
                &m,
                "cancel",
                "feature-not-implemented",
                "Only groupchat messages are accepted by the room",
            ))],
        }
    }

    /// The nick a user speaks with: as occupant, else as subscriber (SPEC S14).
    fn speaker_nick(&self, from: &FullJid) -> Option<String> {
        self.occupant(from).map(|o| o.nick.clone()).or_else(|| {
            self.subscribers
                .get(&from.to_bare())
                .map(|s| s.nick.clone())
        })
    }

    fn groupchat(&mut self, env: &Env, from: &FullJid, m: Element) -> Outcome {
        let err = |kind, cond, text| vec![Action::Send(error_reply(&m, kind, cond, text))];
        let Some(nick) = self.speaker_nick(from) else {
            return err(
                "modify",
                "not-acceptable",
                "Only occupants are allowed to send messages to the conference",
            );
        };
        let role = self.effective_role(from);
        if role < Role::Participant {
            return err(
                "auth",
                "forbidden",
                "Visitors are not allowed to send messages to all occupants",
            );
        }
        let subject = m.get_child("subject", NS_CLIENT).map(|s| s.text());
        let has_body = m.has_child("body", NS_CLIENT);
        if subject.is_some() && !has_body {
            let may = role == Role::Moderator || self.config.change_subject;
            if !may {
                return err(
                    "auth",
                    "forbidden",
                    "Only moderators are allowed to change the subject in this room",
                );
            }
        }
        // Build the stanza as the room relays it: client-supplied stanza-ids, archived
        // markers and nick hints removed, the room's stanza-id added.
        let mut relayed = B::new("message", NS_CLIENT)
            .a("from", self.nick_jid_str(&nick))
            .a("type", "groupchat")
            .opt("id", m.attr("id"))
            .b();
        let id = env.ids.next_at(env.now_us);
        relayed.append_child(
            B::new("stanza-id", NS_SID)
                .a("by", self.jid.to_string())
                .a("id", id.to_string())
                .b(),
        );
        for c in m.children() {
            if c.is("stanza-id", NS_SID)
                || c.is("archived", NS_MAM_TMP)
                || c.is("nick", "http://jabber.org/protocol/nick")
                || c.name() == "error"
            {
                continue;
            }
            relayed.append_child(c.clone());
        }
        let mut out = Vec::new();
        let archived = has_body || subject.is_some();
        if let Some(s) = &subject {
            self.subject = s.clone();
            self.subject_nick = nick.clone();
            out.push(Action::Store(StoreOp::SetSubject {
                room: self.name.clone(),
                subject: s.clone(),
                nick: nick.clone(),
            }));
        }
        if archived && self.config.mam {
            out.push(Action::Store(StoreOp::Archive(ArchivedMsg {
                id,
                room: self.name.clone(),
                stamp_us: env.now_us,
                nick: nick.clone(),
                sender: from.to_bare().to_string(),
                stanza: to_string(&relayed),
            })));
        }
        if has_body && env.history_size > 0 {
            self.history.push_back(HistoryItem {
                stanza: relayed.clone(),
                stamp_us: env.now_us,
            });
            while self.history.len() > env.history_size {
                self.history.pop_front();
            }
        }
        self.send_to_occupants(&mut out, &relayed);
        let node = if has_body {
            Some(Node::Messages)
        } else if subject.is_some() {
            Some(Node::Subject)
        } else {
            None
        };
        if let Some(node) = node {
            self.fanout(&mut out, &[node], &id.to_string(), |_| relayed.clone());
        }
        out
    }

    fn private_message(&mut self, from: &FullJid, to_nick: &str, m: Element) -> Outcome {
        let err = |kind, cond, text| vec![Action::Send(error_reply(&m, kind, cond, text))];
        let Some(sender) = self.occupant(from).map(|o| o.nick.clone()) else {
            return err(
                "modify",
                "not-acceptable",
                "Only occupants are allowed to send messages to the conference",
            );
        };
        if !self.config.allow_private_messages {
            return err(
                "cancel",
                "not-allowed",
                "Private messages are not allowed in this room",
            );
        }
        let targets: Vec<FullJid> = self
            .occupants
            .iter()
            .filter(|o| o.nick == to_nick)
            .map(|o| o.jid.clone())
            .collect();
        if targets.is_empty() {
            return err(
                "cancel",
                "item-not-found",
                "Recipient is not in the conference room",
            );
        }
        let mut relayed = B::new("message", NS_CLIENT)
            .a("from", self.nick_jid_str(&sender))
            .a("type", m.attr("type").unwrap_or("chat"))
            .opt("id", m.attr("id"))
            .b();
        // Archive markers come from the room alone, never from the sender (SPEC S18).
        for c in m.children() {
            if !c.has_ns(NS_MUC_USER)
                && c.name() != "error"
                && !c.is("stanza-id", NS_SID)
                && !c.is("archived", NS_MAM_TMP)
            {
                relayed.append_child(c.clone());
            }
        }
        relayed.append_child(Element::bare("x", NS_MUC_USER));
        targets
            .iter()
            .map(|t| Action::Send(with_to(relayed.clone(), t)))
            .collect()
    }

    // ---- MucSub fanout ---------------------------------------------------------------

    /// Subscribers that get wrapped events: not joined with any resource (SPEC S11).
    /// For each, the first of `nodes` it subscribed to decides the event's node; `build`
    /// gives the inner stanza with (`true`) or without real JIDs, built at most twice.
    pub fn fanout(
        &self,
        out: &mut Outcome,
        nodes: &[Node],
        id: &str,
        build: impl Fn(bool) -> Element,
    ) {
        if self.subscribers.is_empty() {
            return;
        }
        let joined: HashSet<BareJid> = self.occupants.iter().map(|o| o.jid.to_bare()).collect();
        // (node, sees_jid) → recipients
        let mut groups: BTreeMap<(Node, bool), Vec<BareJid>> = BTreeMap::new();
        for (j, s) in &self.subscribers {
            if joined.contains(j) {
                continue;
            }
            if let Some(node) = nodes.iter().find(|n| s.nodes.contains(n)) {
                groups
                    .entry((*node, self.account_sees_jids(j)))
                    .or_default()
                    .push(j.clone());
            }
        }
        let mut by_node: BTreeMap<Node, Vec<(Element, Vec<BareJid>)>> = BTreeMap::new();
        for ((node, sees), rcpts) in groups {
            by_node.entry(node).or_default().push((build(sees), rcpts));
        }
        for (node, variants) in by_node {
            out.push(Action::Event(EventOut {
                node,
                id: id.to_owned(),
                variants,
            }));
        }
    }

    /// Sends one event to specific accounts regardless of their node list (the removed
    /// subscriber's own `<unsubscribe/>`).
    pub fn direct_event(out: &mut Outcome, node: Node, inner: Element, to: BareJid) {
        out.push(Action::Event(EventOut {
            node,
            id: random_id(),
            variants: vec![(inner, vec![to])],
        }));
    }

    pub fn stored_subscription(&self, j: &BareJid) -> Option<StoredSubscription> {
        self.subscribers.get(j).map(|s| StoredSubscription {
            jid: j.to_string(),
            nick: s.nick.clone(),
            nodes: s.nodes.iter().map(|n| n.uri().to_owned()).collect(),
        })
    }

    /// Occupants' nick for the nick holder (used by admin code).
    pub fn holder_of(&self, nick: &str) -> Option<BareJid> {
        self.nick_holder(nick)
    }

    pub fn room_message(&self, codes: &[u16]) -> Element {
        B::new("message", NS_CLIENT)
            .a("from", self.jid.to_string())
            .a("type", "groupchat")
            .a("id", random_id())
            .c(B::new("x", NS_MUC_USER)
                .cs(codes.iter().map(|c| status(*c)))
                .b())
            .b()
    }

    pub fn send_to_occupants(&self, out: &mut Outcome, el: &Element) {
        if !self.occupants.is_empty() {
            let to = self.occupants.iter().map(|o| o.jid.clone()).collect();
            out.push(Action::Broadcast(el.clone(), to));
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn broadcast_occupant(
        &self,
        out: &mut Outcome,
        o: &Occupant,
        codes: &[u16],
        unavailable: bool,
        item_extra: Vec<Element>,
        nodes: &[Node],
    ) {
        self.broadcast_presence(out, o, codes, &[], unavailable, item_extra, nodes)
    }

    pub(super) fn remove_occupant(
        &mut self,
        out: &mut Outcome,
        from: &FullJid,
        codes: &[u16],
        item_extra: Vec<Element>,
        nodes: &[Node],
    ) {
        // Removed by someone else: the occupant's last show/status does not go with it.
        if let Some(o) = self.occupants.iter_mut().find(|o| &o.jid == from) {
            o.payload.clear();
        }
        self.leave_into(out, from, codes, item_extra, nodes)
    }

    pub(super) fn vanish_if_unused(&mut self, out: &mut Outcome) {
        self.maybe_vanish(out)
    }

    pub(super) fn with_to(el: Element, to: &FullJid) -> Element {
        with_to(el, to)
    }
}
