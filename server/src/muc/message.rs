//! Messages to a room (XEP-0045 §7.4, §7.5): groupchat, archived and fanned out to
//! subscribers, and private messages between occupants.

use jid::FullJid;
use minidom::Element;

use super::affiliation::Role;
use super::room::{refuse, with_to, Action, Env, HistoryItem, Outcome, Room};
use super::store::{ArchivedMsg, StoreOp};
use super::xml::B;
use crate::ns;
use crate::stanza::ErrorType;
use mucsub_protocol::Node;

/// Children a sender may not pass on: errors, and the archive markers, which come from the
/// room alone (docs/protocol.md S18).
fn room_only(c: &Element) -> bool {
    c.name() == "error" || c.is("stanza-id", ns::SID) || c.is("archived", ns::MAM_TMP)
}

impl Room {
    pub(super) fn on_message(&mut self, env: &Env, from: FullJid, m: Element) -> Outcome {
        let to_nick = m
            .attr("to")
            .and_then(|t| t.split_once('/'))
            .map(|(_, n)| n.to_owned());
        match (m.attr("type").unwrap_or("normal"), to_nick) {
            ("error", _) => Vec::new(),
            ("groupchat", None) => self.groupchat(env, &from, m),
            ("groupchat", Some(_)) => refuse(
                &m,
                ErrorType::Modify,
                "bad-request",
                "Groupchat messages must be sent to the room",
            ),
            (_, Some(nick)) => self.private_message(&from, &nick, m),
            (_, None) => refuse(
                &m,
                ErrorType::Cancel,
                "feature-not-implemented",
                "Only groupchat messages are accepted by the room",
            ),
        }
    }

    /// The nick a user speaks with: as occupant, else as subscriber (docs/protocol.md S14).
    fn speaker_nick(&self, from: &FullJid) -> Option<String> {
        self.occupant(from).map(|o| o.nick.clone()).or_else(|| {
            self.subscribers
                .get(&from.to_bare())
                .map(|s| s.nick.clone())
        })
    }

    /// `m` as the room relays it: from `nick`, of type `kind`, with the sender's own id,
    /// `first` (the room's stanza-id) ahead of the sender's children, and none of the
    /// children the sender may not pass on or `drop` rules out.
    fn relayed(
        &self,
        m: &Element,
        nick: &str,
        kind: &str,
        first: Option<Element>,
        drop: impl Fn(&Element) -> bool,
    ) -> Element {
        B::new("message", ns::CLIENT)
            .a("from", self.nick_jid_str(nick))
            .a("type", kind)
            .opt("id", m.attr("id"))
            .cs(first)
            .cs(m.children().filter(|c| !room_only(c) && !drop(c)).cloned())
            .b()
    }

    fn groupchat(&mut self, env: &Env, from: &FullJid, m: Element) -> Outcome {
        // docs/protocol.md S22: a locked room takes no messages, not even its owner's (it
        // has not been opened yet).
        if let Some(r) = self.locked_refusal() {
            return vec![Action::Send(r.reply_to(&m))];
        }
        let Some(nick) = self.speaker_nick(from) else {
            return refuse(
                &m,
                ErrorType::Modify,
                "not-acceptable",
                "Only occupants are allowed to send messages to the conference",
            );
        };
        let role = self.effective_role(from);
        if role < Role::Participant {
            return refuse(
                &m,
                ErrorType::Auth,
                "forbidden",
                "Visitors are not allowed to send messages to all occupants",
            );
        }
        let subject = m.get_child("subject", ns::CLIENT).map(|s| s.text());
        let has_body = m.has_child("body", ns::CLIENT);
        if subject.is_some() && !has_body {
            let may = role == Role::Moderator || self.config.change_subject;
            if !may {
                return refuse(
                    &m,
                    ErrorType::Auth,
                    "forbidden",
                    "Only moderators are allowed to change the subject in this room",
                );
            }
        }
        // The room's stanza-id goes first; nick hints are the room's to give, not the
        // sender's.
        let id = env.ids.next_at(env.now_us);
        let sid = B::new("stanza-id", ns::SID)
            .a("by", self.jid.to_string())
            .a("id", id.to_string())
            .b();
        let relayed = self.relayed(&m, &nick, "groupchat", Some(sid), |c| {
            c.is("nick", ns::NICK)
        });
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
                // Deduplication of resent messages is the cluster's to turn on (it needs
                // the re-echo of the stored message: storage::Duplicate).
                origin_id: None,
                stanza: String::from(&relayed),
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
        let Some(sender) = self.occupant(from).map(|o| o.nick.clone()) else {
            return refuse(
                &m,
                ErrorType::Modify,
                "not-acceptable",
                "Only occupants are allowed to send messages to the conference",
            );
        };
        if !self.config.allow_private_messages {
            return refuse(
                &m,
                ErrorType::Cancel,
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
            return refuse(
                &m,
                ErrorType::Cancel,
                "item-not-found",
                "Recipient is not in the conference room",
            );
        }
        // The sender's `muc#user` payload is replaced by the room's empty one.
        let kind = m.attr("type").unwrap_or("chat");
        let mut relayed = self.relayed(&m, &sender, kind, None, |c| c.has_ns(ns::MUC_USER));
        relayed.append_child(Element::bare("x", ns::MUC_USER));
        targets
            .iter()
            .map(|t| Action::Send(with_to(relayed.clone(), t)))
            .collect()
    }
}
