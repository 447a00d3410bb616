//! A room's answer to a typed request from the rest of the server ([`RoomRequest`], the
//! HTTP API's way in): each one is the room rule a stanza would go through, called with the
//! service's administrator as the actor, so both ways in share every check and every
//! notification. Sans I/O like the rest of [`Room`]; the room task commits the actions
//! before it hands the answer back.

use jid::FullJid;
use minidom::Element;

use super::admit::{Admission, Entry};
use super::affiliation::Affiliation;
use super::handle::{Answer, NewRoom, OccupantInfo, RequestError, RoomRequest, SubscriberInfo};
use super::presence::Announce;
use super::room::{Action, Env, Outcome, Room};
use super::store::StoreOp;
use crate::ns;
use crate::stanza::{ErrorType, Refusal};

/// The actions a request produced, and its answer.
pub(super) type Handled = (Outcome, Result<Answer, RequestError>);

fn done(out: Outcome) -> Handled {
    (out, Ok(Answer::Done))
}

fn refused(r: Refusal) -> Handled {
    (Vec::new(), Err(r.into()))
}

impl Room {
    /// Applies `req` to the room.
    pub(super) fn request(&mut self, env: &Env, req: RoomRequest) -> Handled {
        match req {
            RoomRequest::Options => (Vec::new(), Ok(Answer::Config(self.config.clone()))),
            RoomRequest::Occupants => {
                let list = self
                    .occupants
                    .iter()
                    .map(|o| OccupantInfo {
                        jid: o.jid.clone(),
                        nick: o.nick.clone(),
                        role: o.role,
                    })
                    .collect();
                (Vec::new(), Ok(Answer::Occupants(list)))
            }
            RoomRequest::Affiliations => {
                let mut list: Vec<_> = self
                    .affiliations
                    .iter()
                    .map(|(j, a)| (j.clone(), *a))
                    .collect();
                list.sort();
                (Vec::new(), Ok(Answer::Affiliations(list)))
            }
            RoomRequest::Subscribers => {
                let list = self
                    .subscribers
                    .iter()
                    .map(|(j, s)| SubscriberInfo {
                        jid: j.clone(),
                        nick: s.nick.clone(),
                        nodes: s.nodes.clone(),
                    })
                    .collect();
                (Vec::new(), Ok(Answer::Subscribers(list)))
            }
            RoomRequest::Configure(form) => match self.config.apply_submit(&form) {
                Ok(new) => done(self.reconfigure(env, None, new)),
                Err(e) => refused(Refusal::new(ErrorType::Modify, "not-acceptable", e.0)),
            },
            RoomRequest::SetAffiliation { jid, affiliation } => {
                if let Err(r) = self.keeps_an_owner(std::iter::once((&jid, affiliation))) {
                    return refused(r);
                }
                let mut out = Vec::new();
                self.set_affiliation(env, &mut out, jid, affiliation, None, None);
                done(out)
            }
            RoomRequest::Subscribe { jid, nick, nodes } => {
                let accepted = nodes.clone();
                if let Err(r) = self.subscriptions_allowed() {
                    return refused(r);
                }
                let admission = Admission {
                    entry: Entry::Subscribe,
                    target: &jid,
                    nick: &nick,
                    password: None,
                    privileged: true,
                    members_waived: true,
                };
                match self.subscribe_admitted(env, &admission, nodes) {
                    Ok(out) => (out, Ok(Answer::Nodes(accepted))),
                    Err(r) => refused(r),
                }
            }
            RoomRequest::Unsubscribe { jid } => {
                let mut out = Vec::new();
                self.drop_subscription(env, &mut out, &jid);
                self.vanish_if_unused(&mut out);
                done(out)
            }
            RoomRequest::Destroy { reason } => done(self.destroy(env, None, None, reason)),
            RoomRequest::Gone { jids } => {
                let mut out = Vec::new();
                for j in &jids {
                    let gone = Announce {
                        codes: &[333],
                        self_codes: &[],
                        unavailable: true,
                        item_extra: Vec::new(),
                        nodes: &[mucsub_protocol::Node::Presence],
                    };
                    self.remove_occupant(env, &mut out, j, gone);
                }
                done(out)
            }
            RoomRequest::Stanza { from, stanza } => self.stanza_from(env, from, stanza),
            RoomRequest::Create(new) => self.create_from(env, new),
        }
    }

    /// `stanza` as `from` sent it; the room's error answer to it (same name, same id,
    /// addressed to `from`) becomes the refusal.
    fn stanza_from(&mut self, env: &Env, from: FullJid, stanza: Element) -> Handled {
        let name = stanza.name().to_owned();
        let id = stanza.attr("id").map(str::to_owned);
        let mut refusal = None;
        let out: Outcome = self
            .handle(env, from.clone(), stanza)
            .into_iter()
            .filter(|a| match a {
                Action::Send(el)
                    if refusal.is_none()
                        && el.name() == name
                        && el.attr("type") == Some("error")
                        && el.attr("id").is_some()
                        && el.attr("id") == id.as_deref()
                        && el.attr("to") == Some(from.as_str()) =>
                {
                    refusal = Some(stanza_error(el));
                    false
                }
                _ => true,
            })
            .collect();
        match refusal {
            Some(e) => (out, Err(e)),
            None => done(out),
        }
    }

    /// A new room's first state: the form over the defaults, its affiliations, its
    /// subscribers. All or nothing: a refused part leaves the room unmade, its task ends.
    fn create_from(&mut self, env: &Env, new: NewRoom) -> Handled {
        let unmade = |e: RequestError| (vec![Action::Destroyed], Err(e));
        if let Some(form) = &new.form {
            match self.config.apply_submit(form) {
                Ok(c) => self.config = c,
                Err(e) => {
                    return unmade(Refusal::new(ErrorType::Modify, "not-acceptable", e.0).into())
                }
            }
        }
        let mut out = vec![Action::Store(StoreOp::SaveRoom {
            name: self.name.clone(),
            config: self.config.clone(),
        })];
        for (jid, affiliation) in new.affiliations {
            if affiliation != Affiliation::None {
                self.affiliations.insert(jid.clone(), affiliation);
            }
            out.push(Action::Store(StoreOp::SetAffiliation {
                room: self.name.clone(),
                jid: jid.to_string(),
                affiliation,
            }));
        }
        for (jid, nick, nodes) in new.subscribers {
            match self.request(env, RoomRequest::Subscribe { jid, nick, nodes }) {
                (more, Ok(_)) => out.extend(more),
                (_, Err(e)) => return unmade(e),
            }
        }
        done(out)
    }
}

/// The condition and text of an error stanza's `<error/>`.
fn stanza_error(el: &Element) -> RequestError {
    let error = el.get_child("error", ns::CLIENT);
    let condition = error
        .and_then(|e| {
            e.children()
                .find(|c| c.ns() == ns::STANZAS_ERR && c.name() != "text")
        })
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|| "undefined-condition".to_owned());
    let text = error
        .and_then(|e| e.get_child("text", ns::STANZAS_ERR))
        .map(|t| t.text())
        .unwrap_or_default();
    RequestError::Refused { condition, text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::muc::config_form::RoomConfig;
    use crate::muc::ids::IdGen;
    use jid::BareJid;
    use mucsub_protocol::Node;

    fn room() -> Room {
        Room::new(
            "lab",
            BareJid::new("lab@conference.localhost").unwrap(),
            RoomConfig::default(),
        )
    }

    fn run(r: &mut Room, req: RoomRequest) -> Handled {
        let ids = IdGen::new(0);
        let env = Env {
            ids: &ids,
            now_us: 1_000_000,
            history_size: 20,
            occupant_ids: &crate::muc::occupant_id::OccupantIds::with_key(vec![1; 32]),
            target: None,
        };
        r.request(&env, req)
    }

    fn bare(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    #[test]
    fn subscribing_as_the_service_keeps_bans_and_waives_membership() {
        let mut r = room();
        r.config.members_only = true;
        r.config.password_protected = true;
        r.config.password = "pw".into();
        r.affiliations
            .insert(bare("eve@localhost"), Affiliation::Outcast);
        let sub = |j: &str, nick: &str| RoomRequest::Subscribe {
            jid: bare(j),
            nick: nick.into(),
            nodes: vec![Node::Messages],
        };
        let (out, answer) = run(&mut r, sub("bob@localhost", "bob"));
        assert!(matches!(answer, Ok(Answer::Nodes(ref n)) if n == &[Node::Messages]));
        assert!(out
            .iter()
            .any(|a| matches!(a, Action::Store(StoreOp::SetSubscription { .. }))));
        let (out, answer) = run(&mut r, sub("eve@localhost", "eve"));
        assert!(out.is_empty());
        assert_eq!(
            answer.unwrap_err(),
            RequestError::Refused {
                condition: "forbidden".into(),
                text: "You have been banned from this room".into()
            }
        );
        let (_, answer) = run(&mut r, sub("carol@localhost", "bob"));
        assert!(
            matches!(answer, Err(RequestError::Refused { ref condition, .. }) if condition == "conflict")
        );
    }

    #[test]
    fn a_groupchat_from_a_stranger_is_refused_with_the_rooms_words() {
        let mut r = room();
        let from = FullJid::new("zed@localhost/http-api").unwrap();
        let m: Element = "<message xmlns='jabber:client' id='api-1' type='groupchat' \
                          from='zed@localhost/http-api' to='lab@conference.localhost'>\
                          <body>hi</body></message>"
            .parse()
            .unwrap();
        let (out, answer) = run(&mut r, RoomRequest::Stanza { from, stanza: m });
        assert!(out.is_empty(), "the error is not sent: {out:?}");
        assert_eq!(
            answer.unwrap_err(),
            RequestError::Refused {
                condition: "not-acceptable".into(),
                text: "Only occupants are allowed to send messages to the conference".into()
            }
        );
    }

    #[test]
    fn a_refused_creation_leaves_nothing_to_store() {
        let mut r = room();
        let new = NewRoom {
            subscribers: vec![
                (bare("bob@localhost"), "bob".into(), vec![Node::Messages]),
                (bare("carol@localhost"), "bob".into(), vec![Node::Messages]),
            ],
            ..NewRoom::default()
        };
        let (out, answer) = run(&mut r, RoomRequest::Create(new));
        assert!(answer.is_err());
        assert!(matches!(out.as_slice(), [Action::Destroyed]));
    }

    #[test]
    fn the_last_owner_stays_unless_the_room_never_had_one() {
        let mut r = room();
        let set = |j: &str, a| RoomRequest::SetAffiliation {
            jid: bare(j),
            affiliation: a,
        };
        assert!(run(&mut r, set("alice@localhost", Affiliation::Member))
            .1
            .is_ok());
        assert!(run(&mut r, set("alice@localhost", Affiliation::Owner))
            .1
            .is_ok());
        let (_, answer) = run(&mut r, set("alice@localhost", Affiliation::None));
        assert!(
            matches!(answer, Err(RequestError::Refused { ref condition, .. }) if condition == "conflict")
        );
        assert_eq!(r.affiliation(&bare("alice@localhost")), Affiliation::Owner);
    }
}
