//! IQs addressed to a room: disco, owner and admin queries, MucSub and MAM.

use jid::FullJid;
use minidom::Element;

use super::affiliation::Affiliation;
use super::room::{Action, Env, Outcome, Room};
use super::xml::{first_child, B};
use crate::ns;
use crate::stanza::{error_reply, iq_result, ErrorType};

pub const ROOM_FEATURES: &[&str] = &[ns::MUC, ns::DISCO_INFO, ns::DISCO_ITEMS, ns::MUC_SELF_PING];

impl Room {
    pub(super) fn on_iq(&mut self, env: &Env, from: FullJid, iq: Element) -> Outcome {
        let kind = iq.attr("type").unwrap_or("");
        if kind == "result" || kind == "error" {
            return Vec::new();
        }
        if let Some((_, nick)) = iq.attr("to").and_then(|t| t.split_once('/')) {
            return self.iq_to_occupant(&from, nick, &iq);
        }
        let Some(payload) = first_child(&iq).cloned() else {
            return vec![Action::Send(error_reply(
                &iq,
                ErrorType::Modify,
                "bad-request",
                None,
            ))];
        };
        let payload_ns = payload.ns();
        match (kind, payload.name(), payload_ns.as_str()) {
            ("get", "query", ns::DISCO_INFO) => match payload.attr("node") {
                None => vec![Action::Send(iq_result(&iq, Some(self.disco_info())))],
                Some(ns::MUC_ROOMUSER_NODE) => {
                    let q = self.reserved_nick_info(&from.to_bare());
                    vec![Action::Send(iq_result(&iq, Some(q)))]
                }
                Some(_) => vec![Action::Send(error_reply(
                    &iq,
                    ErrorType::Cancel,
                    "item-not-found",
                    Some("This room has no such disco#info node"),
                ))],
            },
            ("get", "query", ns::DISCO_ITEMS) => {
                vec![Action::Send(iq_result(&iq, Some(self.disco_items(&from))))]
            }
            (_, "query", ns::MUC_OWNER) => self.on_owner(env, &from, &iq, &payload),
            (_, "query", ns::MUC_ADMIN) => self.on_admin(env, &from, &iq, &payload),
            ("set", "subscribe", ns::MUCSUB) => self.on_subscribe(env, &from, &iq, &payload),
            ("set", "unsubscribe", ns::MUCSUB) => self.on_unsubscribe(env, &from, &iq, &payload),
            (_, "subscriptions", ns::MUCSUB) => self.on_room_subscriptions(&from, &iq),
            ("get", "query", ns::MAM) => {
                vec![Action::Send(iq_result(&iq, Some(super::mam::query_form())))]
            }
            ("set", "query", ns::MAM) | ("get", "metadata", ns::MAM) => {
                if self.may_read_archive(&from) {
                    vec![Action::Mam { iq }]
                } else {
                    vec![Action::Send(error_reply(&iq, ErrorType::Auth, "forbidden", Some("Only occupants, subscribers and affiliated users may read this room's archive")))]
                }
            }
            ("get", "ping", ns::PING) => {
                if self.occupant(&from).is_some() {
                    vec![Action::Send(iq_result(&iq, None))]
                } else {
                    vec![Action::Send(error_reply(
                        &iq,
                        ErrorType::Cancel,
                        "not-acceptable",
                        None,
                    ))]
                }
            }
            _ => vec![Action::Send(error_reply(
                &iq,
                ErrorType::Cancel,
                "service-unavailable",
                None,
            ))],
        }
    }

    /// An IQ to `room/nick`. Only a self-ping (XEP-0410) is answered, by the room itself:
    /// a result when the sender is that occupant, `not-acceptable` when it is not in the
    /// room (so a client whose occupancy was lost notices and joins again), `item-not-found`
    /// when it is in the room but the nick is not (changed by another of its clients).
    /// Other IQs between occupants (vCard, version…) are not relayed: occupants' real JIDs
    /// stay private and nothing here needs it.
    fn iq_to_occupant(&self, from: &FullJid, nick: &str, iq: &Element) -> Outcome {
        let error = |condition, text: Option<&str>| {
            vec![Action::Send(error_reply(
                iq,
                ErrorType::Cancel,
                condition,
                text,
            ))]
        };
        let Some(me) = self.occupant(from) else {
            return error("not-acceptable", Some("You are not in this room"));
        };
        let is_ping = iq.attr("type") == Some("get") && iq.get_child("ping", ns::PING).is_some();
        if is_ping && me.nick == nick {
            vec![Action::Send(iq_result(iq, None))]
        } else if !self.occupants.iter().any(|o| o.nick == nick) {
            error(
                "item-not-found",
                Some("Recipient is not in the conference room"),
            )
        } else {
            error("service-unavailable", None)
        }
    }

    /// docs/protocol.md S21: the disco#info node `x-roomuser-item` (XEP-0045 §7.12) names
    /// the nick the room keeps for the asking account, its subscription nick, so a stock
    /// client joins with it instead of asking; no identity when it has none.
    fn reserved_nick_info(&self, account: &jid::BareJid) -> Element {
        let nick = self.subscribers.get(account).map(|s| s.nick.clone());
        B::new("query", ns::DISCO_INFO)
            .a("node", ns::MUC_ROOMUSER_NODE)
            .cs(nick.map(|n| {
                B::new("identity", ns::DISCO_INFO)
                    .a("category", "conference")
                    .a("type", "text")
                    .a("name", n)
                    .b()
            }))
            .b()
    }

    /// docs/protocol.md S17: members-only and password-protected rooms keep their archive to
    /// occupants, subscribers and affiliated users; outcasts never read it.
    pub fn may_read_archive(&self, from: &FullJid) -> bool {
        let bare = from.to_bare();
        let aff = self.affiliation(&bare);
        if aff == Affiliation::Outcast {
            return false;
        }
        if !(self.config.members_only || self.config.password_protected) {
            return true;
        }
        self.occupant(from).is_some()
            || self.is_joined(&bare)
            || self.subscribers.contains_key(&bare)
            || aff >= Affiliation::Member
    }

    pub fn disco_info(&self) -> Element {
        let mut features: Vec<String> = ROOM_FEATURES.iter().map(|s| s.to_string()).collect();
        features.extend(self.config.features().iter().map(|s| s.to_string()));
        if self.config.allow_subscription {
            features.push(ns::MUCSUB.to_string());
        }
        if self.config.mam {
            features.push(ns::MAM.to_string());
            features.push(ns::MAM_EXTENDED.to_string());
        }
        features.push(ns::SID.to_string());
        B::new("query", ns::DISCO_INFO)
            .c(B::new("identity", ns::DISCO_INFO)
                .a("category", "conference")
                .a("type", "text")
                .opt(
                    "name",
                    (!self.config.name.is_empty()).then(|| self.config.name.clone()),
                )
                .b())
            .cs(features
                .into_iter()
                .map(|f| B::new("feature", ns::DISCO_INFO).a("var", f).b()))
            .c(self.config.roominfo_form(self.occupants.len()))
            .b()
    }

    fn disco_items(&self, from: &FullJid) -> Element {
        let visible = self.config.public_list || self.is_moderator(from);
        let mut q = B::new("query", ns::DISCO_ITEMS);
        if visible {
            let mut nicks: Vec<&str> = self.occupants.iter().map(|o| o.nick.as_str()).collect();
            nicks.dedup();
            for n in nicks {
                q = q.c(B::new("item", ns::DISCO_ITEMS)
                    .a("jid", format!("{}/{}", self.jid, n))
                    .b());
            }
        }
        q.b()
    }
}
