//! Occupancy (XEP-0045 §7): joins, presence updates and nick changes, leaves, and how an
//! occupant's presence goes out to the other occupants and, as MucSub events, to
//! subscribers.

use jid::{BareJid, FullJid};
use minidom::Element;

use super::admit::{Admission, Entry};
use super::affiliation::{default_role, Affiliation, Role};
use super::ids::{parse_stamp, stamp};
use super::room::{refuse, status, with_to, Action, Env, HistoryItem, Occupant, Outcome, Room};
use super::xml::{set_attr, text_el, B};
use crate::ns;
use crate::stanza::ErrorType;
use mucsub_protocol::Node;

/// How an occupant's presence is announced.
pub(super) struct Announce<'a> {
    /// Status codes for everyone.
    pub codes: &'a [u16],
    /// Status codes for the occupant's own sessions only (110 is added to those).
    pub self_codes: &'a [u16],
    pub unavailable: bool,
    /// `<reason/>`, `<actor/>` in the `<item/>`.
    pub item_extra: Vec<Element>,
    /// MucSub nodes: each subscriber gets it on the first of these it holds.
    pub nodes: &'a [Node],
}

impl Announce<'_> {
    /// An update on the presence node.
    pub const UPDATE: Announce<'static> = Announce {
        codes: &[],
        self_codes: &[],
        unavailable: false,
        item_extra: Vec::new(),
        nodes: &[Node::Presence],
    };
}

impl Room {
    pub(super) fn on_presence(&mut self, env: &Env, from: FullJid, p: Element) -> Outcome {
        let kind = p.attr("type").unwrap_or("");
        let nick = p
            .attr("to")
            .and_then(|t| t.split_once('/'))
            .map(|(_, n)| n.to_owned());
        match kind {
            "unavailable" | "error" => {
                let Some(o) = self.occupants.iter_mut().find(|o| o.jid == from) else {
                    return Vec::new();
                };
                // The goodbye's own status text goes out with it.
                o.payload = payload_of(&p);
                let mut out = Vec::new();
                let leaving = Announce {
                    unavailable: true,
                    nodes: &[Node::Presence, Node::Participants],
                    ..Announce::UPDATE
                };
                self.leave_into(env, &mut out, &from, leaving);
                self.vanish_if_unused(&mut out);
                out
            }
            "" => {
                let Some(nick) = nick.filter(|n| !n.is_empty()) else {
                    return refuse(
                        &p,
                        ErrorType::Modify,
                        "jid-malformed",
                        "A nickname is required",
                    );
                };
                if self.occupant(&from).is_some() {
                    self.presence_update(env, &from, nick, p)
                } else {
                    self.join(env, from, nick, p)
                }
            }
            // Subscription requests and probes mean nothing to a room.
            _ => Vec::new(),
        }
    }

    /// `<presence from=room/nick>` for occupant `o` as seen by a receiver.
    fn presence_of(
        &self,
        o: &Occupant,
        show_jid: bool,
        codes: &[u16],
        unavailable: bool,
        item_extra: Vec<Element>,
    ) -> Element {
        let aff = self.affiliation(&o.jid.to_bare());
        let item = B::new("item", ns::MUC_USER)
            .opt("jid", show_jid.then(|| o.jid.to_string()))
            .a("role", if unavailable { "none" } else { o.role.as_str() })
            .a("affiliation", aff.as_str())
            .cs(item_extra)
            .b();
        let x = B::new("x", ns::MUC_USER)
            .c(item)
            .cs(codes.iter().map(|c| status(*c)))
            .b();
        let mut b = B::new("presence", ns::CLIENT).a("from", self.nick_jid_str(&o.nick));
        if unavailable {
            b = b.a("type", "unavailable");
        }
        b.cs(o.payload.clone()).c(x).b()
    }

    /// Sends `o`'s presence to every occupant (110 added for its own sessions) and as a
    /// MucSub event to subscribers on the first of `how.nodes` they hold.
    pub(super) fn broadcast_presence(
        &self,
        env: &Env,
        out: &mut Outcome,
        o: &Occupant,
        how: Announce,
    ) {
        for r in &self.occupants {
            let mine = r.jid == o.jid;
            let mut c: Vec<u16> = Vec::new();
            if mine {
                c.extend_from_slice(how.self_codes);
                c.push(110);
            }
            c.extend_from_slice(how.codes);
            c.dedup();
            let show = mine || self.occupant_sees_jids(r);
            let p = self.presence_of(o, show, &c, how.unavailable, how.item_extra.clone());
            out.push(Action::Send(with_to(p, &r.jid)));
        }
        let plain = self.presence_of(o, false, how.codes, how.unavailable, how.item_extra.clone());
        let full = self.presence_of(o, true, how.codes, how.unavailable, how.item_extra);
        self.fanout(out, how.nodes, &env.next_id(), |sees| {
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
        // XEP-0045 §10.1.1: nobody but its owner enters a room its owner has not opened yet.
        if let Some(r) = self.locked_refusal().filter(|_| aff != Affiliation::Owner) {
            return vec![Action::Send(r.reply_to(&p))];
        }
        let muc_x = p.get_child("x", ns::MUC);
        let password = muc_x
            .and_then(|x| x.get_child("password", ns::MUC))
            .map(|p| p.text());
        let admission = Admission {
            entry: Entry::Join,
            target: &bare,
            nick: &nick,
            password: password.as_deref(),
            privileged: aff.is_admin_or_owner(),
            members_waived: false,
        };
        if let Err(r) = self.admit(&admission) {
            return vec![Action::Send(r.reply_to(&p))];
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
            return refuse(
                &p,
                ErrorType::Wait,
                "service-unavailable",
                "Too many users in this room",
            );
        }
        let role = default_role(aff, self.config.moderated, self.config.members_by_default);
        let occupant = Occupant {
            jid: from.clone(),
            nick,
            role,
            payload: payload_of(&p),
        };
        let mut out = Vec::new();
        // 1. The occupants already present, to the newcomer.
        let sees = self.config.whois_anyone || role == Role::Moderator;
        for o in &self.occupants {
            let pr = self.presence_of(o, sees, &[], false, vec![]);
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
        // 201 asks the owner to accept or configure a room still locked (S22): the creator
        // on creation, or on coming back to a room it left unconfigured.
        if self.config.locked {
            self_codes.push(201);
        }
        let joining = Announce {
            self_codes: &self_codes,
            nodes: &[Node::Presence, Node::Participants],
            ..Announce::UPDATE
        };
        self.broadcast_presence(env, &mut out, &occupant, joining);
        // 4. History, except for subscribers who have the archive (docs/protocol.md S11).
        if !self.subscribers.contains_key(&bare) {
            let h = muc_x.and_then(|x| x.get_child("history", ns::MUC));
            for item in self.history_for(env, h) {
                let mut m = item.stanza.clone();
                m.append_child(
                    B::new("delay", ns::DELAY)
                        .a("from", self.jid.to_string())
                        .a("stamp", stamp(item.stamp_us))
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
            if let Some(t) = h.attr("since").and_then(parse_stamp) {
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
            Element::bare("subject", ns::CLIENT)
        } else {
            text_el("subject", ns::CLIENT, self.subject.clone())
        };
        B::new("message", ns::CLIENT)
            .a("from", from)
            .a("type", "groupchat")
            .c(subject)
            .b()
    }

    fn presence_update(&mut self, env: &Env, from: &FullJid, nick: String, p: Element) -> Outcome {
        let Some(idx) = self.occupants.iter().position(|o| &o.jid == from) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if self.occupants[idx].nick != nick {
            if let Some(r) = self.nick_conflict(&nick, &from.to_bare()) {
                return vec![Action::Send(r.reply_to(&p))];
            }
            if self.jid.with_resource_str(&nick).is_err() {
                return refuse(&p, ErrorType::Modify, "jid-malformed", "Invalid nickname");
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
                let mut pr = self.presence_of(&old, show, &codes, true, vec![]);
                if let Some(x) = pr.get_child_mut("x", ns::MUC_USER) {
                    if let Some(item) = x.get_child_mut("item", ns::MUC_USER) {
                        set_attr(item, "nick", &nick);
                    }
                }
                out.push(Action::Send(with_to(pr, &r.jid)));
            }
            // …then available from the new one.
            self.occupants[idx].nick = nick;
        }
        self.occupants[idx].payload = payload_of(&p);
        let o = self.occupants[idx].clone();
        self.broadcast_presence(env, &mut out, &o, Announce::UPDATE);
        out
    }

    /// Announces that `from` leaves and removes it (the leaver gets its own copy first,
    /// then the others, as it is still in the list while they are told).
    fn leave_into(&mut self, env: &Env, out: &mut Outcome, from: &FullJid, how: Announce) {
        let Some(idx) = self.occupants.iter().position(|o| &o.jid == from) else {
            return;
        };
        let o = self.occupants[idx].clone();
        self.broadcast_presence(env, out, &o, how);
        self.occupants.remove(idx);
    }

    /// Removes an occupant on someone else's decision (kick, ban, membership lost), with
    /// status codes (307 kicked, 301 banned, 321/322 membership).
    pub(super) fn remove_occupant(
        &mut self,
        env: &Env,
        out: &mut Outcome,
        from: &FullJid,
        how: Announce,
    ) {
        // The occupant's last show/status does not go with it.
        if let Some(o) = self.occupants.iter_mut().find(|o| &o.jid == from) {
            o.payload.clear();
        }
        let how = Announce {
            unavailable: true,
            ..how
        };
        self.leave_into(env, out, from, how)
    }
}

/// The occupant's own presence payload: everything but MUC elements and errors.
fn payload_of(p: &Element) -> Vec<Element> {
    p.children()
        .filter(|c| !(c.has_ns(ns::MUC) || c.has_ns(ns::MUC_USER) || c.name() == "error"))
        .cloned()
        .collect()
}
