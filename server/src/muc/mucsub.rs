//! MucSub on a room (`urn:xmpp:mucsub:0`): subscribe, unsubscribe and the room-level
//! subscriber list (docs/protocol.md S2–S9, S13), and the notices of every subscription
//! change to the account's own devices (S20). The elements are `mucsub_protocol`'s;
//! event fanout itself is [`Room::fanout`].

use jid::{BareJid, FullJid};
use minidom::Element;
use mucsub_protocol::{
    ParseError, Subscribe, Subscription, SubscriptionChange, SubscriptionNotice, Subscriptions,
    Unsubscribe,
};

use super::admit::{Admission, Entry};
use super::affiliation::Affiliation;
use super::room::{refuse, Action, Env, Outcome, Room, Subscriber};
use super::store::StoreOp;
use crate::stanza::{iq_result, ErrorType, Refusal};
use mucsub_protocol::Node;

impl Room {
    /// The account a (un)subscribe is about: the requester, or with `jid=` someone a
    /// moderator names (docs/protocol.md S4: not a moderator → forbidden, before the JID is
    /// looked at). `jid` is the parsed attribute, or the parse error of a malformed one.
    fn subscription_target(
        &self,
        from: &FullJid,
        jid: Result<Option<BareJid>, ParseError>,
    ) -> Result<BareJid, Refusal> {
        match jid {
            Ok(None) => Ok(from.to_bare()),
            _ if !self.is_moderator(from) => Err(Refusal::new(
                ErrorType::Auth,
                "forbidden",
                "Moderator privileges required",
            )),
            Ok(Some(j)) => Ok(j),
            Err(_) => Err(Refusal::new(
                ErrorType::Modify,
                "jid-malformed",
                "Invalid JID",
            )),
        }
    }

    pub(super) fn on_subscribe(
        &mut self,
        env: &Env,
        from: &FullJid,
        iq: &Element,
        sub: &Element,
    ) -> Outcome {
        let refused = |r: Refusal| vec![Action::Send(r.reply_to(iq))];
        // Only `jid=` can fail to parse; its error is answered in its turn below.
        let request = Subscribe::try_from(sub);
        // A locked room is not there yet for anyone but its owner (S22).
        let owner = self.affiliation(&from.to_bare()) == Affiliation::Owner;
        if let Some(r) = self.locked_refusal().filter(|_| !owner) {
            return refused(r);
        }
        // docs/protocol.md S4, checks in this order.
        if let Err(r) = self.subscriptions_allowed() {
            return refused(r);
        }
        let target = match self.subscription_target(from, request.clone().map(|r| r.jid)) {
            Ok(t) => t,
            Err(r) => return refused(r),
        };
        let Ok(Subscribe {
            nick: Some(nick),
            password,
            events: nodes,
            ..
        }) = request
        else {
            return refused(Refusal::bad_request(
                "Missing attribute 'nick' in tag <subscribe/> qualified by namespace 'urn:xmpp:mucsub:0'",
            ));
        };
        let requester = from.to_bare();
        let req_aff = self.affiliation(&requester);
        let admission = Admission {
            entry: Entry::Subscribe,
            target: &target,
            nick: &nick,
            password: password.as_deref(),
            privileged: req_aff.is_admin_or_owner(),
            members_waived: target != requester && req_aff.is_admin_or_owner(),
        };
        let mut out = match self.subscribe_admitted(env, &admission, nodes.clone()) {
            Ok(out) => out,
            Err(r) => return refused(r),
        };
        // The result echoes the nick and the nodes accepted.
        let result = Subscribe {
            nick: Some(nick),
            password: None,
            jid: None,
            events: nodes,
        };
        out.push(Action::Send(iq_result(iq, Some(result.into()))));
        out
    }

    /// The first check of every subscription (docs/protocol.md S4).
    pub(super) fn subscriptions_allowed(&self) -> Result<(), Refusal> {
        if self.config.allow_subscription {
            Ok(())
        } else {
            Err(Refusal::new(
                ErrorType::Cancel,
                "not-allowed",
                "Subscriptions are not allowed",
            ))
        }
    }

    /// Subscribes `a.target` with `nodes` when the room admits it (docs/protocol.md S4 from
    /// the members-only check on; subscriptions allowed and the requester's right to name
    /// someone else are the caller's to check), through [`Room::put_subscription`].
    pub(super) fn subscribe_admitted(
        &mut self,
        env: &Env,
        a: &Admission,
        nodes: Vec<Node>,
    ) -> Result<Outcome, Refusal> {
        self.admit(a)?;
        let mut out = Vec::new();
        let sub = Subscriber {
            nick: a.nick.to_owned(),
            nodes,
        };
        self.put_subscription(env, &mut out, a.target, sub);
        Ok(out)
    }

    pub(super) fn on_unsubscribe(
        &mut self,
        env: &Env,
        from: &FullJid,
        iq: &Element,
        un: &Element,
    ) -> Outcome {
        let jid = Unsubscribe::try_from(un).map(|u| u.jid);
        let target = match self.subscription_target(from, jid) {
            Ok(t) => t,
            Err(r) => return vec![Action::Send(r.reply_to(iq))],
        };
        let mut out = Vec::new();
        self.drop_subscription(env, &mut out, &target);
        out.push(Action::Send(iq_result(iq, None)));
        self.vanish_if_unused(&mut out);
        out
    }

    /// Subscribes `target` (or changes its subscription) durably. Every way a subscription
    /// is made goes through here (the account itself, a moderator, the HTTP API), so each
    /// gets the same notifications: a new subscription on the subscribers node (only a new
    /// one, as ejabberd does), and every change to the account's own devices (S20).
    pub fn put_subscription(
        &mut self,
        env: &Env,
        out: &mut Outcome,
        target: &BareJid,
        sub: Subscriber,
    ) {
        let is_new = !self.subscribers.contains_key(target);
        let nick = sub.nick.clone();
        self.subscribers.insert(target.clone(), sub);
        if let Some(s) = self.stored_subscription(target) {
            out.push(Action::Store(StoreOp::SetSubscription {
                room: self.name.clone(),
                sub: s,
            }));
        }
        if is_new {
            self.notify_subscribers_node(env, out, true, target, &nick, false);
        }
        self.notify_account(env, out, target);
    }

    /// Removes a subscription durably and tells the subscribers node, the removed account
    /// included whatever its node list was (docs/protocol.md S13), and the account's own
    /// devices (S20). Every removal goes through here (the account itself, a moderator,
    /// the HTTP API, the automatic ones of S13). Nothing when there is none.
    pub fn drop_subscription(&mut self, env: &Env, out: &mut Outcome, target: &BareJid) {
        let Some(old) = self.subscribers.get(target).cloned() else {
            return;
        };
        out.push(Action::Store(StoreOp::RemoveSubscription {
            room: self.name.clone(),
            jid: target.to_string(),
        }));
        self.notify_subscribers_node(env, out, false, target, &old.nick, true);
        self.subscribers.remove(target);
        self.notify_account(env, out, target);
    }

    /// docs/protocol.md S20: the account's subscription as it now is, to each of its
    /// available resources (a headline: never stored offline).
    pub(super) fn notify_account(&self, env: &Env, out: &mut Outcome, account: &BareJid) {
        let change = match self.subscribers.get(account) {
            Some(s) => SubscriptionChange::Subscribed(Subscribe::new(
                s.nick.clone(),
                s.nodes.iter().copied(),
            )),
            None => SubscriptionChange::Unsubscribed,
        };
        let notice = SubscriptionNotice {
            room: self.jid.clone(),
            to: Some(account.clone()),
            id: Some(env.next_id()),
            change,
        };
        out.push(Action::Send(notice.into()));
    }

    /// `<subscribe/>` (or `<unsubscribe/>`) on the subscribers node, with the real JID only
    /// for receivers who may see it. With `include_target`, the target gets it even when it
    /// did not subscribe to that node (it is being removed and must know).
    fn notify_subscribers_node(
        &self,
        env: &Env,
        out: &mut Outcome,
        subscribed: bool,
        target: &BareJid,
        nick: &str,
        include_target: bool,
    ) {
        let build = |sees: bool| {
            let jid = sees.then(|| target.clone());
            let nick = Some(nick.to_owned());
            if subscribed {
                Element::from(Subscribe {
                    nick,
                    jid,
                    ..Subscribe::default()
                })
            } else {
                Element::from(Unsubscribe { jid, nick })
            }
        };
        let target_has_node = self
            .subscribers
            .get(target)
            .is_some_and(|s| s.nodes.contains(&Node::Subscribers));
        if include_target && !target_has_node {
            let sees = self.account_sees_jids(target);
            self.direct_event(env, out, Node::Subscribers, build(sees), target);
        }
        self.fanout(out, &[Node::Subscribers], &env.next_id(), build);
    }

    /// Accounts that no longer exist lose their subscriptions, notified as usual (S13).
    pub fn accounts_deleted(&mut self, env: &Env, gone: &[BareJid]) -> Outcome {
        let mut out = Vec::new();
        for j in gone {
            self.drop_subscription(env, &mut out, j);
        }
        self.vanish_if_unused(&mut out);
        out
    }

    pub(super) fn on_room_subscriptions(&self, from: &FullJid, iq: &Element) -> Outcome {
        if iq.attr("type") != Some("get") {
            return refuse(
                iq,
                ErrorType::Modify,
                "bad-request",
                "Use an IQ get to list subscribers",
            );
        }
        let bare = from.to_bare();
        let show_jids = if self.is_moderator(from) {
            true
        } else if self.subscribers.contains_key(&bare) {
            self.config.whois_anyone
        } else {
            return refuse(
                iq,
                ErrorType::Auth,
                "forbidden",
                "Moderator privileges or a subscription are required",
            );
        };
        let items = self
            .subscribers
            .iter()
            .map(|(j, s)| Subscription {
                jid: show_jids.then(|| j.clone()),
                nick: Some(s.nick.clone()),
                events: s.nodes.clone(),
                end: None,
            })
            .collect();
        let list = Subscriptions { items };
        vec![Action::Send(iq_result(iq, Some(list.into())))]
    }
}
