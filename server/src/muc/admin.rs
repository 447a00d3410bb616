//! Room administration: the owner's configuration and destruction (`muc#owner`) and the
//! role and affiliation lists (`muc#admin`), with XEP-0045's permission rules.

use jid::{BareJid, FullJid};
use minidom::Element;

use mucsub_protocol::Unsubscribe;

use super::affiliation::{default_role, may_set_affiliation, may_set_role, Affiliation, Role};
use super::config_form::RoomConfig;
use super::presence::Announce;
use super::room::{refuse, with_to, Action, Env, Outcome, Room};
use super::store::StoreOp;
use super::xml::{text_el, B};
use crate::ns;
use crate::stanza::{iq_result, ErrorType, Refusal};
use mucsub_protocol::Node;

/// What a `muc#admin` request needs of its sender (XEP-0045 §8, §9).
#[derive(Clone, Copy)]
enum Needs {
    /// Role changes and lists: a moderator by role, or an admin or owner.
    Moderator,
    /// Affiliation changes and lists: an admin or owner.
    Admin,
}

fn privileges(needs: Needs, aff: Affiliation, role: Role) -> Result<(), Refusal> {
    let (ok, text) = match needs {
        Needs::Moderator => (
            role == Role::Moderator || aff.is_admin_or_owner(),
            "Moderator privileges required",
        ),
        Needs::Admin => (aff.is_admin_or_owner(), "Administrator privileges required"),
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(ErrorType::Auth, "forbidden", text))
    }
}

/// One validated change from a `muc#admin` set.
enum Change {
    Affiliation(BareJid, Affiliation, Option<String>),
    Role(FullJid, Role, Option<String>),
}

impl Room {
    pub(super) fn on_owner(
        &mut self,
        env: &Env,
        from: &FullJid,
        iq: &Element,
        q: &Element,
    ) -> Outcome {
        if self.affiliation(&from.to_bare()) != Affiliation::Owner {
            return refuse(
                iq,
                ErrorType::Auth,
                "forbidden",
                "Owner privileges required",
            );
        }
        if iq.attr("type") == Some("get") {
            let form = self.config.to_form(&self.jid.to_string());
            return vec![Action::Send(iq_result(
                iq,
                Some(B::new("query", ns::MUC_OWNER).c(form).b()),
            ))];
        }
        if let Some(d) = q.get_child("destroy", ns::MUC_OWNER) {
            let reason = d.get_child("reason", ns::MUC_OWNER).map(|r| r.text());
            return self.destroy(env, Some(iq), d.attr("jid"), reason);
        }
        match q.get_child("x", ns::DATA_FORMS) {
            // XEP-0045 §10.1.2: an empty submitted form accepts the instant room.
            Some(x) if x.attr("type") == Some("submit") && x.children().next().is_none() => {
                self.unlock(iq)
            }
            Some(x) if x.attr("type") == Some("submit") => match self.config.apply_submit(x) {
                Ok(new) => self.reconfigure(env, Some(iq), new),
                Err(e) => refuse(iq, ErrorType::Modify, "not-acceptable", &e.0),
            },
            // Cancel, or an empty query, accepts the defaults too (instant room): the room
            // as it is opens (docs/protocol.md S22).
            Some(x) if x.attr("type") == Some("cancel") => self.unlock(iq),
            None => self.unlock(iq),
            Some(_) => refuse(
                iq,
                ErrorType::Modify,
                "bad-request",
                "Expected a submitted data form",
            ),
        }
    }

    /// Applies a new configuration; `iq` is the owner's request to answer, if any (the
    /// HTTP API's requests have none).
    pub(super) fn reconfigure(
        &mut self,
        env: &Env,
        iq: Option<&Element>,
        mut new: RoomConfig,
    ) -> Outcome {
        let mut out = Vec::new();
        // A submitted configuration opens a locked room (docs/protocol.md S22).
        new.locked = false;
        let codes = self.config.change_codes(&new);
        let old = std::mem::replace(&mut self.config, new);
        out.push(Action::Store(StoreOp::SaveRoom {
            name: self.name.clone(),
            config: self.config.clone(),
        }));
        // XEP-0045 §9.4: turning members-only on removes occupants without membership.
        if self.config.members_only && !old.members_only {
            let outsiders: Vec<FullJid> = self
                .occupants
                .iter()
                .filter(|o| self.affiliation(&o.jid.to_bare()) < Affiliation::Member)
                .map(|o| o.jid.clone())
                .collect();
            for j in outsiders {
                let removed = Announce {
                    codes: &[322],
                    nodes: &[Node::Affiliations],
                    ..Announce::UPDATE
                };
                self.remove_occupant(env, &mut out, &j, removed);
            }
            // …and so does it subscribers without membership (docs/protocol.md S13).
            let outsiders: Vec<BareJid> = self
                .subscribers
                .keys()
                .filter(|j| self.affiliation(j) < Affiliation::Member)
                .cloned()
                .collect();
            for j in outsiders {
                self.drop_subscription(env, &mut out, &j);
            }
        }
        let msg = self.room_message(env, &codes);
        self.send_to_occupants(&mut out, &msg);
        out.extend(iq.map(|iq| Action::Send(iq_result(iq, None))));
        self.fanout(&mut out, &[Node::Config], &env.next_id(), |_| msg.clone());
        // docs/protocol.md S2: no subscriptions survive turning them off.
        if old.allow_subscription && !self.config.allow_subscription {
            let all: Vec<BareJid> = self.subscribers.keys().cloned().collect();
            for j in all {
                self.drop_subscription(env, &mut out, &j);
            }
        }
        self.vanish_if_unused(&mut out);
        out
    }

    /// Destroys the room (XEP-0045 §10.9), with the alternate venue `alt` and `reason`
    /// the owner gave; `iq` is the owner's request to answer, if any.
    pub(super) fn destroy(
        &mut self,
        env: &Env,
        iq: Option<&Element>,
        alt: Option<&str>,
        reason: Option<String>,
    ) -> Outcome {
        let mut out = Vec::new();
        let destroy_el = B::new("destroy", ns::MUC_USER)
            .opt("jid", alt)
            .cs(reason.map(|r| text_el("reason", ns::MUC_USER, r)))
            .b();
        let x = |extra: Option<Element>| {
            let mut x =
                B::new("x", ns::MUC_USER)
                    .c(destroy_el.clone())
                    .c(B::new("item", ns::MUC_USER)
                        .a("affiliation", "none")
                        .a("role", "none")
                        .b());
            if let Some(e) = extra {
                x = x.c(e);
            }
            x.b()
        };
        for o in &self.occupants {
            let p = B::new("presence", ns::CLIENT)
                .a("from", format!("{}/{}", self.jid, o.nick))
                .a("type", "unavailable")
                .c(x(None))
                .b();
            out.push(Action::Send(with_to(p, &o.jid)));
        }
        out.extend(iq.map(|iq| Action::Send(iq_result(iq, None))));
        // Subscribers hear of it on the config node, addressed from their own nick as
        // ejabberd does, then lose their subscription (docs/protocol.md S12, S13).
        let subs: Vec<(BareJid, String, bool)> = self
            .subscribers
            .iter()
            .map(|(j, s)| (j.clone(), s.nick.clone(), s.nodes.contains(&Node::Config)))
            .collect();
        for (j, nick, wants_config) in &subs {
            if *wants_config {
                let p = B::new("presence", ns::CLIENT)
                    .a("from", format!("{}/{}", self.jid, nick))
                    .a("type", "unavailable")
                    .c(x(None))
                    .b();
                self.direct_event(env, &mut out, Node::Config, p, j);
            }
            let un = Unsubscribe {
                jid: Some(j.clone()),
                nick: Some(nick.clone()),
            };
            self.direct_event(env, &mut out, Node::Subscribers, un.into(), j);
        }
        self.occupants.clear();
        self.subscribers.clear();
        // The accounts' own devices hear that the subscription is gone (S20).
        for (j, _, _) in &subs {
            self.notify_account(env, &mut out, j);
        }
        out.push(Action::Store(StoreOp::DestroyRoom {
            room: self.name.clone(),
        }));
        out.push(Action::Destroyed);
        out
    }

    pub(super) fn on_admin(
        &mut self,
        env: &Env,
        from: &FullJid,
        iq: &Element,
        q: &Element,
    ) -> Outcome {
        let actor = from.to_bare();
        let actor_aff = self.affiliation(&actor);
        let actor_role = self.occupant(from).map(|o| o.role).unwrap_or(Role::None);
        let items: Vec<&Element> = q.children().filter(|c| c.name() == "item").collect();
        if items.is_empty() {
            return refuse(iq, ErrorType::Modify, "bad-request", "No item given");
        }
        if iq.attr("type") == Some("get") {
            return self.admin_list(iq, items[0], actor_aff, actor_role);
        }
        let mut changes = Vec::new();
        for item in &items {
            let reason = item.get_child("reason", ns::MUC_ADMIN).map(|r| r.text());
            if let Some(a) = item.attr("affiliation") {
                let Some(new) = Affiliation::parse(a) else {
                    return refuse(iq, ErrorType::Modify, "bad-request", "Unknown affiliation");
                };
                let target = match (item.attr("jid"), item.attr("nick")) {
                    (Some(j), _) => match BareJid::new(j) {
                        Ok(b) => b,
                        Err(_) => match jid::Jid::new(j) {
                            Ok(full) => full.to_bare(),
                            Err(_) => {
                                return refuse(
                                    iq,
                                    ErrorType::Modify,
                                    "jid-malformed",
                                    "Invalid JID",
                                )
                            }
                        },
                    },
                    (None, Some(n)) => match self.holder_of(n) {
                        Some(b) => b,
                        None => {
                            return refuse(
                                iq,
                                ErrorType::Cancel,
                                "item-not-found",
                                "No such occupant",
                            )
                        }
                    },
                    _ => {
                        return refuse(
                            iq,
                            ErrorType::Modify,
                            "bad-request",
                            "An item needs a jid or a nick",
                        )
                    }
                };
                if let Err(r) = privileges(Needs::Admin, actor_aff, actor_role) {
                    return vec![Action::Send(r.reply_to(iq))];
                }
                let current = self.affiliation(&target);
                if !may_set_affiliation(actor_aff, current, new) {
                    return refuse(
                        iq,
                        ErrorType::Cancel,
                        "not-allowed",
                        "Insufficient privileges for this change",
                    );
                }
                changes.push(Change::Affiliation(target, new, reason));
            } else if let Some(r) = item.attr("role") {
                let Some(new) = Role::parse(r) else {
                    return refuse(iq, ErrorType::Modify, "bad-request", "Unknown role");
                };
                let Some(nick) = item.attr("nick") else {
                    return refuse(
                        iq,
                        ErrorType::Modify,
                        "bad-request",
                        "A role change needs a nick",
                    );
                };
                let targets: Vec<(FullJid, Role)> = self
                    .occupants
                    .iter()
                    .filter(|o| o.nick == nick)
                    .map(|o| (o.jid.clone(), o.role))
                    .collect();
                if targets.is_empty() {
                    return refuse(iq, ErrorType::Cancel, "item-not-found", "No such occupant");
                }
                if let Err(r) = privileges(Needs::Moderator, actor_aff, actor_role) {
                    return vec![Action::Send(r.reply_to(iq))];
                }
                for (j, cur) in targets {
                    let taff = self.affiliation(&j.to_bare());
                    if !may_set_role(actor_aff, actor_role, taff, cur, new) {
                        return refuse(
                            iq,
                            ErrorType::Cancel,
                            "not-allowed",
                            "Insufficient privileges for this change",
                        );
                    }
                    changes.push(Change::Role(j, new, reason.clone()));
                }
            } else {
                return refuse(
                    iq,
                    ErrorType::Modify,
                    "bad-request",
                    "An item needs a role or an affiliation",
                );
            }
        }
        let affiliations = changes.iter().filter_map(|c| match c {
            Change::Affiliation(j, a, _) => Some((j, *a)),
            Change::Role(..) => None,
        });
        if let Err(r) = self.keeps_an_owner(affiliations) {
            return vec![Action::Send(r.reply_to(iq))];
        }
        let actor_nick = self.occupant(from).map(|o| o.nick.clone());
        let mut out = Vec::new();
        for c in changes {
            match c {
                Change::Affiliation(j, a, reason) => {
                    self.set_affiliation(env, &mut out, j, a, reason, actor_nick.clone())
                }
                Change::Role(j, r, reason) => {
                    self.set_role(env, &mut out, j, r, reason, actor_nick.clone())
                }
            }
        }
        // The result goes after the presence updates, as ejabberd orders them.
        out.push(Action::Send(iq_result(iq, None)));
        // Events come last so the actor's own answer is not held up behind a fanout.
        let (events, mut rest): (Vec<Action>, Vec<Action>) =
            out.into_iter().partition(|a| matches!(a, Action::Event(_)));
        rest.extend(events);
        rest
    }

    /// An owner may not leave the room without owners: refused when `changes` would take
    /// the last one away (a room created through the HTTP API may have none to begin with).
    pub(super) fn keeps_an_owner<'a>(
        &self,
        changes: impl Iterator<Item = (&'a BareJid, Affiliation)>,
    ) -> Result<(), Refusal> {
        let mut owners: Vec<&BareJid> = self
            .affiliations
            .iter()
            .filter(|(_, a)| **a == Affiliation::Owner)
            .map(|(j, _)| j)
            .collect();
        let had_owners = !owners.is_empty();
        for (j, a) in changes {
            owners.retain(|o| *o != j);
            if a == Affiliation::Owner {
                owners.push(j);
            }
        }
        if had_owners && owners.is_empty() {
            return Err(Refusal::new(
                ErrorType::Cancel,
                "conflict",
                "A room needs at least one owner",
            ));
        }
        Ok(())
    }

    fn admin_list(
        &self,
        iq: &Element,
        item: &Element,
        actor_aff: Affiliation,
        actor_role: Role,
    ) -> Outcome {
        let mut q = B::new("query", ns::MUC_ADMIN);
        if let Some(a) = item.attr("affiliation") {
            let Some(a) = Affiliation::parse(a) else {
                return refuse(iq, ErrorType::Modify, "bad-request", "Unknown affiliation");
            };
            if let Err(r) = privileges(Needs::Admin, actor_aff, actor_role) {
                return vec![Action::Send(r.reply_to(iq))];
            }
            let mut list: Vec<&BareJid> = self
                .affiliations
                .iter()
                .filter(|(_, x)| **x == a)
                .map(|(j, _)| j)
                .collect();
            list.sort();
            for j in list {
                q = q.c(B::new("item", ns::MUC_ADMIN)
                    .a("affiliation", a.as_str())
                    .a("jid", j.to_string())
                    .b());
            }
        } else if let Some(r) = item.attr("role") {
            let Some(r) = Role::parse(r) else {
                return refuse(iq, ErrorType::Modify, "bad-request", "Unknown role");
            };
            if let Err(r) = privileges(Needs::Moderator, actor_aff, actor_role) {
                return vec![Action::Send(r.reply_to(iq))];
            }
            for o in self.occupants.iter().filter(|o| o.role == r) {
                q = q.c(B::new("item", ns::MUC_ADMIN)
                    .a("role", r.as_str())
                    .a("nick", o.nick.clone())
                    .a("jid", o.jid.to_string())
                    .a("affiliation", self.affiliation(&o.jid.to_bare()).as_str())
                    .b());
            }
        } else {
            return refuse(
                iq,
                ErrorType::Modify,
                "bad-request",
                "An item needs a role or an affiliation",
            );
        }
        vec![Action::Send(iq_result(iq, Some(q.b())))]
    }

    fn item_extra(reason: Option<String>, actor: Option<String>) -> Vec<Element> {
        let mut v = Vec::new();
        if let Some(r) = reason {
            v.push(text_el("reason", ns::MUC_USER, r));
        }
        if let Some(a) = actor {
            v.push(B::new("actor", ns::MUC_USER).a("nick", a).b());
        }
        v
    }

    /// Sets `target`'s affiliation and tells whom it concerns: its occupants lose or keep
    /// their place, subscribers hear of it, a lost access ends its subscription.
    pub(super) fn set_affiliation(
        &mut self,
        env: &Env,
        out: &mut Outcome,
        target: BareJid,
        new: Affiliation,
        reason: Option<String>,
        actor: Option<String>,
    ) {
        if new == Affiliation::None {
            self.affiliations.remove(&target);
        } else {
            self.affiliations.insert(target.clone(), new);
        }
        out.push(Action::Store(StoreOp::SetAffiliation {
            room: self.name.clone(),
            jid: target.to_string(),
            affiliation: new,
        }));
        let lost_access =
            new == Affiliation::Outcast || (self.config.members_only && new < Affiliation::Member);
        let present: Vec<FullJid> = self
            .occupants
            .iter()
            .filter(|o| o.jid.to_bare() == target)
            .map(|o| o.jid.clone())
            .collect();
        let extra = Self::item_extra(reason, actor);
        if present.is_empty() {
            // Tell subscribers even though the target is not in the room (docs/protocol.md S12).
            let nick = self.subscribers.get(&target).map(|s| s.nick.clone());
            let room = self.jid.to_string();
            let build = |sees: bool| -> Element {
                let item = B::new("item", ns::MUC_USER)
                    .opt("jid", sees.then(|| target.to_string()))
                    .a("affiliation", new.as_str())
                    .a("role", "none")
                    .cs(extra.clone())
                    .b();
                let mut x = B::new("x", ns::MUC_USER).c(item);
                if new == Affiliation::Outcast {
                    x = x.c(B::new("status", ns::MUC_USER).a("code", "301").b());
                }
                match &nick {
                    Some(n) => B::new("presence", ns::CLIENT)
                        .a("from", format!("{room}/{n}"))
                        .a("type", "unavailable")
                        .c(x.b())
                        .b(),
                    None => B::new("message", ns::CLIENT)
                        .a("from", room.clone())
                        .c(x.b())
                        .b(),
                }
            };
            self.fanout(out, &[Node::Affiliations], &env.next_id(), build);
        }
        for j in present {
            if lost_access {
                let code = if new == Affiliation::Outcast {
                    301
                } else {
                    321
                };
                let removed = Announce {
                    codes: &[code],
                    item_extra: extra.clone(),
                    nodes: &[Node::Affiliations],
                    ..Announce::UPDATE
                };
                self.remove_occupant(env, out, &j, removed);
            } else {
                let role = default_role(new, self.config.moderated, self.config.members_by_default);
                if let Some(o) = self.occupants.iter_mut().find(|o| o.jid == j) {
                    o.role = role;
                }
                if let Some(o) = self.occupant(&j).cloned() {
                    let changed = Announce {
                        nodes: &[Node::Affiliations],
                        ..Announce::UPDATE
                    };
                    self.broadcast_presence(env, out, &o, changed);
                }
            }
        }
        if lost_access {
            self.drop_subscription(env, out, &target);
        }
    }

    fn set_role(
        &mut self,
        env: &Env,
        out: &mut Outcome,
        target: FullJid,
        new: Role,
        reason: Option<String>,
        actor: Option<String>,
    ) {
        let how = Announce {
            item_extra: Self::item_extra(reason, actor),
            nodes: &[Node::Affiliations],
            ..Announce::UPDATE
        };
        if new == Role::None {
            let kicked = Announce {
                codes: &[307],
                ..how
            };
            self.remove_occupant(env, out, &target, kicked);
            self.vanish_if_unused(out);
            return;
        }
        if let Some(o) = self.occupants.iter_mut().find(|o| o.jid == target) {
            o.role = new;
        }
        if let Some(o) = self.occupant(&target).cloned() {
            self.broadcast_presence(env, out, &o, how);
        }
    }
}
