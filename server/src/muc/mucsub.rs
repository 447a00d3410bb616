//! MucSub on a room (`urn:xmpp:mucsub:0`): subscribe, unsubscribe and the room-level
//! subscriber list (SPEC S2–S9, S13). Event fanout itself is [`Room::fanout`].

use jid::{BareJid, FullJid};
use minidom::Element;

use super::affiliation::Affiliation;
use super::node::{parse_list, Node, NodeExt};
use super::room::{Action, Outcome, Room, Subscriber};
use super::store::StoreOp;
use super::xml::*;

fn events(nodes: &[Node]) -> Vec<Element> {
    nodes
        .iter()
        .map(|n| B::new("event", NS_MUCSUB).a("node", n.uri()).b())
        .collect()
}

/// `jid=` values may be full or bare; subscriptions are per account.
fn parse_account(s: &str) -> Option<BareJid> {
    jid::Jid::new(s).ok().map(|j| j.to_bare())
}

impl Room {
    pub(super) fn on_subscribe(&mut self, from: &FullJid, iq: &Element, sub: &Element) -> Outcome {
        let err = |kind, cond, text: &str| vec![Action::Send(error_reply(iq, kind, cond, text))];
        let requester = from.to_bare();
        let req_aff = self.affiliation(&requester);
        // SPEC S4, checks in this order.
        if !self.config.allow_subscription {
            return err("cancel", "not-allowed", "Subscriptions are not allowed");
        }
        let target = match sub.attr("jid") {
            Some(j) => {
                if !self.is_moderator(from) {
                    return err("auth", "forbidden", "Moderator privileges required");
                }
                match parse_account(j) {
                    Some(b) => b,
                    None => return err("modify", "jid-malformed", "Invalid JID"),
                }
            }
            None => requester.clone(),
        };
        let Some(nick) = sub.attr("nick") else {
            return err(
                "modify",
                "bad-request",
                "Missing attribute 'nick' in tag <subscribe/> qualified by namespace 'urn:xmpp:mucsub:0'",
            );
        };
        if nick.is_empty() || self.jid.with_resource_str(nick).is_err() {
            return err("modify", "jid-malformed", "Invalid nickname");
        }
        let target_aff = self.affiliation(&target);
        if target_aff == Affiliation::Outcast {
            return err("auth", "forbidden", "You have been banned from this room");
        }
        // An owner or admin subscribing someone else could as well make them a member, so
        // (as in ejabberd) membership is only demanded of people subscribing themselves.
        let on_behalf = target != requester && req_aff.is_admin_or_owner();
        if self.config.members_only && target_aff < Affiliation::Member && !on_behalf {
            return err(
                "auth",
                "registration-required",
                "This room is members-only: membership is required to subscribe",
            );
        }
        if self.nick_conflicts(nick, &target) {
            return err(
                "cancel",
                "conflict",
                "That nickname is already in use by another occupant",
            );
        }
        if self.config.password_protected && !req_aff.is_admin_or_owner() {
            match sub.attr("password") {
                None => {
                    return err(
                        "auth",
                        "not-authorized",
                        "A password is required to enter this room",
                    )
                }
                Some(p) if p != self.config.password => {
                    return err("auth", "not-authorized", "Incorrect password")
                }
                _ => {}
            }
        }
        let is_new = !self.subscribers.contains_key(&target);
        let nodes = parse_list(
            sub.children()
                .filter(|c| c.is("event", NS_MUCSUB))
                .filter_map(|c| c.attr("node")),
        );
        self.subscribers.insert(
            target.clone(),
            Subscriber {
                nick: nick.to_owned(),
                nodes: nodes.clone(),
            },
        );
        let mut out = Vec::new();
        if let Some(s) = self.stored_subscription(&target) {
            out.push(Action::Store(StoreOp::SetSubscription {
                room: self.name.clone(),
                sub: s,
            }));
        }
        // Only a new subscription is announced (as ejabberd does); a changed nick or node
        // list is the subscriber's own business.
        if is_new {
            self.notify_subscribers_node(&mut out, "subscribe", &target, nick, None);
        }
        let result = B::new("subscribe", NS_MUCSUB)
            .a("nick", nick)
            .cs(events(&nodes))
            .b();
        out.push(Action::Send(iq_result(iq, Some(result))));
        out
    }

    pub(super) fn on_unsubscribe(&mut self, from: &FullJid, iq: &Element, un: &Element) -> Outcome {
        let err = |kind, cond, text: &str| vec![Action::Send(error_reply(iq, kind, cond, text))];
        let target = match un.attr("jid") {
            Some(j) => {
                if !self.is_moderator(from) {
                    return err("auth", "forbidden", "Moderator privileges required");
                }
                match parse_account(j) {
                    Some(b) => b,
                    None => return err("modify", "jid-malformed", "Invalid JID"),
                }
            }
            None => from.to_bare(),
        };
        let mut out = Vec::new();
        if self.subscribers.contains_key(&target) {
            self.drop_subscription(&mut out, &target);
        }
        out.push(Action::Send(iq_result(iq, None)));
        self.vanish_if_unused(&mut out);
        out
    }

    /// Removes a subscription durably and tells the subscribers node, the removed account
    /// included whatever its node list was (SPEC S13).
    pub(super) fn drop_subscription(&mut self, out: &mut Outcome, target: &BareJid) {
        let Some(old) = self.subscribers.get(target).cloned() else {
            return;
        };
        out.push(Action::Store(StoreOp::RemoveSubscription {
            room: self.name.clone(),
            jid: target.to_string(),
        }));
        self.notify_subscribers_node(out, "unsubscribe", target, &old.nick, Some(()));
        self.subscribers.remove(target);
    }

    /// `<subscribe/>` or `<unsubscribe/>` on the subscribers node, with the real JID only
    /// for receivers who may see it. With `include_target`, the target gets it even when it
    /// did not subscribe to that node (it is being removed and must know).
    fn notify_subscribers_node(
        &self,
        out: &mut Outcome,
        what: &str,
        target: &BareJid,
        nick: &str,
        include_target: Option<()>,
    ) {
        let build = |sees: bool| {
            B::new(what, NS_MUCSUB)
                .opt("jid", sees.then(|| target.to_string()))
                .a("nick", nick)
                .b()
        };
        let id = rand::random::<u64>().to_string();
        let target_has_node = self
            .subscribers
            .get(target)
            .is_some_and(|s| s.nodes.contains(&Node::Subscribers));
        if include_target.is_some() && !target_has_node && !self.is_joined(target) {
            let sees = self.config.whois_anyone || self.affiliation(target).is_admin_or_owner();
            Room::direct_event(out, Node::Subscribers, build(sees), target.clone());
        }
        self.fanout(out, &[Node::Subscribers], &id, build);
    }

    /// Accounts that no longer exist lose their subscriptions, notified as usual (S13).
    pub fn accounts_deleted(&mut self, gone: &[BareJid]) -> Outcome {
        let mut out = Vec::new();
        for j in gone {
            self.drop_subscription(&mut out, j);
        }
        self.vanish_if_unused(&mut out);
        out
    }

    pub(super) fn on_room_subscriptions(&self, from: &FullJid, iq: &Element) -> Outcome {
        let err = |kind, cond, text: &str| vec![Action::Send(error_reply(iq, kind, cond, text))];
        if iq.attr("type") != Some("get") {
            return err("modify", "bad-request", "Use an IQ get to list subscribers");
        }
        let bare = from.to_bare();
        let show_jids = if self.is_moderator(from) {
            true
        } else if self.subscribers.contains_key(&bare) {
            self.config.whois_anyone
        } else {
            return err(
                "auth",
                "forbidden",
                "Moderator privileges or a subscription are required",
            );
        };
        let list = self.subscribers.iter().map(|(j, s)| {
            B::new("subscription", NS_MUCSUB)
                .opt("jid", show_jids.then(|| j.to_string()))
                .a("nick", s.nick.clone())
                .cs(events(&s.nodes))
                .b()
        });
        let q = B::new("subscriptions", NS_MUCSUB).cs(list).b();
        vec![Action::Send(iq_result(iq, Some(q)))]
    }
}
