//! Who may enter a room: one set of rules for joining (XEP-0045 §7.2) and subscribing
//! (docs/protocol.md S4), checked in each one's own order.
//!
//! The two orders differ because the two specifications do: a join answers a ban first
//! and checks the nick's form last (ejabberd's order), while a subscription checks the
//! nick before anything about the account and the password last (docs/protocol.md S4, taken from
//! ejabberd 23.01's answers in the reference transcripts).

use jid::BareJid;

use super::affiliation::Affiliation;
use super::room::Room;
use crate::stanza::{ErrorType, Refusal};

/// How someone comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry {
    Join,
    Subscribe,
}

/// One request to enter.
#[derive(Debug)]
pub(super) struct Admission<'a> {
    pub entry: Entry,
    /// The account entering (for a subscription made by a moderator, the subscribed one).
    pub target: &'a BareJid,
    pub nick: &'a str,
    /// The password given, if any.
    pub password: Option<&'a str>,
    /// The requester is an owner or admin: no password asked, also when subscribing
    /// someone else.
    pub privileged: bool,
    /// An owner or admin subscribing someone else could as well make them a member, so
    /// (as in ejabberd) membership is only demanded of people entering themselves.
    pub members_waived: bool,
}

#[derive(Debug, Clone, Copy)]
enum Check {
    Banned,
    MembersOnly,
    Password,
    NickInUse,
    NickForm,
}

const JOIN: [Check; 5] = [
    Check::Banned,
    Check::MembersOnly,
    Check::Password,
    Check::NickInUse,
    Check::NickForm,
];

const SUBSCRIBE: [Check; 5] = [
    Check::NickForm,
    Check::Banned,
    Check::MembersOnly,
    Check::NickInUse,
    Check::Password,
];

impl Room {
    /// The first rule `a` breaks, in the order of its kind of entry.
    pub(super) fn admit(&self, a: &Admission) -> Result<(), Refusal> {
        let order = match a.entry {
            Entry::Join => &JOIN,
            Entry::Subscribe => &SUBSCRIBE,
        };
        order.iter().try_for_each(|c| self.check(*c, a))
    }

    fn check(&self, check: Check, a: &Admission) -> Result<(), Refusal> {
        let refuse = |kind, condition, text: &str| Err(Refusal::new(kind, condition, text));
        match check {
            Check::Banned if self.affiliation(a.target) == Affiliation::Outcast => refuse(
                ErrorType::Auth,
                "forbidden",
                "You have been banned from this room",
            ),
            Check::MembersOnly
                if self.config.members_only
                    && self.affiliation(a.target) < Affiliation::Member
                    && !a.members_waived =>
            {
                let text = match a.entry {
                    Entry::Join => "This room is members-only: membership is required to enter",
                    Entry::Subscribe => {
                        "This room is members-only: membership is required to subscribe"
                    }
                };
                refuse(ErrorType::Auth, "registration-required", text)
            }
            Check::Password if self.config.password_protected && !a.privileged => {
                match a.password {
                    None => refuse(
                        ErrorType::Auth,
                        "not-authorized",
                        "A password is required to enter this room",
                    ),
                    Some(p) if p != self.config.password => {
                        refuse(ErrorType::Auth, "not-authorized", "Incorrect password")
                    }
                    Some(_) => Ok(()),
                }
            }
            Check::NickInUse => match self.nick_conflict(a.nick, a.target) {
                Some(r) => Err(r),
                None => Ok(()),
            },
            Check::NickForm if a.nick.is_empty() || self.jid.with_resource_str(a.nick).is_err() => {
                refuse(ErrorType::Modify, "jid-malformed", "Invalid nickname")
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::muc::config_form::RoomConfig;

    fn room() -> Room {
        let config = RoomConfig {
            members_only: true,
            password_protected: true,
            password: "pw".into(),
            ..RoomConfig::default()
        };
        let mut r = Room::new("r", BareJid::new("r@conference.localhost").unwrap(), config);
        let outcast = BareJid::new("eve@localhost").unwrap();
        r.affiliations.insert(outcast, Affiliation::Outcast);
        r
    }

    fn condition(r: &Room, entry: Entry, target: &str, nick: &str) -> Option<&'static str> {
        let target = BareJid::new(target).unwrap();
        let a = Admission {
            entry,
            target: &target,
            nick,
            password: None,
            privileged: false,
            members_waived: false,
        };
        r.admit(&a).err().map(|e| e.condition)
    }

    /// Everything wrong at once: each kind of entry reports its own first rule.
    #[test]
    fn each_entry_checks_in_its_own_order() {
        let r = room();
        assert_eq!(
            condition(&r, Entry::Join, "eve@localhost", ""),
            Some("forbidden")
        );
        assert_eq!(
            condition(&r, Entry::Subscribe, "eve@localhost", ""),
            Some("jid-malformed")
        );
        // Not banned: members-only comes next for both.
        assert_eq!(
            condition(&r, Entry::Join, "bob@localhost", "bob"),
            Some("registration-required")
        );
        assert_eq!(
            condition(&r, Entry::Subscribe, "bob@localhost", "bob"),
            Some("registration-required")
        );
    }

    #[test]
    fn password_comes_before_the_nick_on_join_and_after_it_on_subscribe() {
        let mut r = room();
        let member = BareJid::new("bob@localhost").unwrap();
        r.affiliations.insert(member.clone(), Affiliation::Member);
        r.subscribers.insert(
            BareJid::new("carol@localhost").unwrap(),
            super::super::room::Subscriber {
                nick: "taken".into(),
                nodes: vec![],
            },
        );
        assert_eq!(
            condition(&r, Entry::Join, "bob@localhost", "taken"),
            Some("not-authorized")
        );
        assert_eq!(
            condition(&r, Entry::Subscribe, "bob@localhost", "taken"),
            Some("conflict")
        );
        let ok = Admission {
            entry: Entry::Subscribe,
            target: &member,
            nick: "bob",
            password: Some("pw"),
            privileged: false,
            members_waived: false,
        };
        assert!(r.admit(&ok).is_ok());
        let wrong = Admission {
            password: Some("nope"),
            ..ok
        };
        assert_eq!(r.admit(&wrong).unwrap_err().text, "Incorrect password");
        let owner = Admission {
            privileged: true,
            ..wrong
        };
        assert!(r.admit(&owner).is_ok());
    }
}
