//! IQs addressed to a room: disco, owner and admin queries, MucSub and MAM.

use jid::FullJid;
use minidom::Element;

use super::room::{Action, Env, Outcome, Room};
use super::xml::*;

pub const ROOM_FEATURES: &[&str] = &[NS_MUC, NS_DISCO_INFO, NS_DISCO_ITEMS];

impl Room {
    pub(super) fn on_iq(&mut self, env: &Env, from: FullJid, iq: Element) -> Outcome {
        let kind = iq.attr("type").unwrap_or("");
        if kind == "result" || kind == "error" {
            return Vec::new();
        }
        if iq.attr("to").is_some_and(|t| t.contains('/')) {
            // IQs to an occupant (vCard, version…) are not relayed: occupants' real JIDs
            // stay private and nothing here needs it.
            return vec![Action::Send(error_reply(
                &iq,
                "cancel",
                "service-unavailable",
                "",
            ))];
        }
        let Some(payload) = first_child(&iq).cloned() else {
            return vec![Action::Send(error_reply(&iq, "modify", "bad-request", ""))];
        };
        let ns = payload.ns();
        match (kind, payload.name(), ns.as_str()) {
            ("get", "query", NS_DISCO_INFO) => {
                vec![Action::Send(iq_result(&iq, Some(self.disco_info())))]
            }
            ("get", "query", NS_DISCO_ITEMS) => {
                vec![Action::Send(iq_result(&iq, Some(self.disco_items(&from))))]
            }
            (_, "query", NS_MUC_OWNER) => self.on_owner(env, &from, &iq, &payload),
            (_, "query", NS_MUC_ADMIN) => self.on_admin(&from, &iq, &payload),
            ("set", "subscribe", NS_MUCSUB) => self.on_subscribe(&from, &iq, &payload),
            ("set", "unsubscribe", NS_MUCSUB) => self.on_unsubscribe(&from, &iq, &payload),
            (_, "subscriptions", NS_MUCSUB) => self.on_room_subscriptions(&from, &iq),
            ("get", "query", NS_MAM) => {
                vec![Action::Send(iq_result(&iq, Some(super::mam::query_form())))]
            }
            ("set", "query", NS_MAM) | ("get", "metadata", NS_MAM) => {
                if self.may_read_archive(&from) {
                    vec![Action::Mam { iq }]
                } else {
                    vec![Action::Send(error_reply(
                        &iq,
                        "auth",
                        "forbidden",
                        "Only occupants, subscribers and affiliated users may read this room's archive",
                    ))]
                }
            }
            ("get", "ping", "urn:xmpp:ping") => {
                if self.occupant(&from).is_some() {
                    vec![Action::Send(iq_result(&iq, None))]
                } else {
                    vec![Action::Send(error_reply(
                        &iq,
                        "cancel",
                        "not-acceptable",
                        "",
                    ))]
                }
            }
            _ => vec![Action::Send(error_reply(
                &iq,
                "cancel",
                "service-unavailable",
                "",
            ))],
        }
    }

    /// SPEC S17: members-only and password-protected rooms keep their archive to
    /// occupants, subscribers and affiliated users; outcasts never read it.
    pub fn may_read_archive(&self, from: &FullJid) -> bool {
        let bare = from.to_bare();
        let aff = self.affiliation(&bare);
        if aff == super::affiliation::Affiliation::Outcast {
            return false;
        }
        if !(self.config.members_only || self.config.password_protected) {
            return true;
        }
        self.occupant(from).is_some()
            || self.is_joined(&bare)
            || self.subscribers.contains_key(&bare)
            || aff >= super::affiliation::Affiliation::Member
    }

    pub fn disco_info(&self) -> Element {
        let mut features: Vec<String> = ROOM_FEATURES.iter().map(|s| s.to_string()).collect();
        features.extend(self.config.features().iter().map(|s| s.to_string()));
        if self.config.allow_subscription {
            features.push(NS_MUCSUB.to_string());
        }
        if self.config.mam {
            features.push(NS_MAM.to_string());
            features.push(NS_MAM_EXT.to_string());
        }
        features.push(NS_SID.to_string());
        B::new("query", NS_DISCO_INFO)
            .c(B::new("identity", NS_DISCO_INFO)
                .a("category", "conference")
                .a("type", "text")
                .opt(
                    "name",
                    (!self.config.name.is_empty()).then(|| self.config.name.clone()),
                )
                .b())
            .cs(features
                .into_iter()
                .map(|f| B::new("feature", NS_DISCO_INFO).a("var", f).b()))
            .c(self.config.roominfo_form(self.occupants.len()))
            .b()
    }

    fn disco_items(&self, from: &FullJid) -> Element {
        let visible = self.config.public_list || self.is_moderator(from);
        let mut q = B::new("query", NS_DISCO_ITEMS);
        if visible {
            let mut nicks: Vec<&str> = self.occupants.iter().map(|o| o.nick.as_str()).collect();
            nicks.dedup();
            for n in nicks {
                q = q.c(B::new("item", NS_DISCO_ITEMS)
                    .a("jid", format!("{}/{}", self.jid, n))
                    .b());
            }
        }
        q.b()
    }
}
