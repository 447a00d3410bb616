//! XEP-0045 affiliations and roles, and the permission rules between them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Affiliation {
    Outcast,
    None,
    Member,
    Admin,
    Owner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    None,
    Visitor,
    Participant,
    Moderator,
}

impl Affiliation {
    pub fn parse(s: &str) -> Option<Affiliation> {
        Some(match s {
            "outcast" => Affiliation::Outcast,
            "none" => Affiliation::None,
            "member" => Affiliation::Member,
            "admin" => Affiliation::Admin,
            "owner" => Affiliation::Owner,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Outcast => "outcast",
            Affiliation::None => "none",
            Affiliation::Member => "member",
            Affiliation::Admin => "admin",
            Affiliation::Owner => "owner",
        }
    }

    /// Owners and admins: exempt from passwords, may moderate subscriptions.
    pub fn is_admin_or_owner(self) -> bool {
        matches!(self, Affiliation::Admin | Affiliation::Owner)
    }
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "none" => Role::None,
            "visitor" => Role::Visitor,
            "participant" => Role::Participant,
            "moderator" => Role::Moderator,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Visitor => "visitor",
            Role::Participant => "participant",
            Role::Moderator => "moderator",
        }
    }
}

impl fmt::Display for Affiliation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role a user gets on entering (XEP-0045 §5.1.2 defaults, with ejabberd's
/// `members_by_default`: in a moderated room unaffiliated users get voice unless the owner
/// turned that off).
pub fn default_role(aff: Affiliation, moderated: bool, members_by_default: bool) -> Role {
    match aff {
        Affiliation::Owner | Affiliation::Admin => Role::Moderator,
        Affiliation::Member => Role::Participant,
        Affiliation::None if moderated && !members_by_default => Role::Visitor,
        Affiliation::None => Role::Participant,
        Affiliation::Outcast => Role::None,
    }
}

/// May `actor` (with its affiliation) change `target`'s affiliation from `from` to `to`?
/// XEP-0045 §9/§10: owners may do anything; admins may manage members, outcasts and
/// unaffiliated users but not admins or owners; nobody else.
pub fn may_set_affiliation(actor: Affiliation, from: Affiliation, to: Affiliation) -> bool {
    match actor {
        Affiliation::Owner => true,
        Affiliation::Admin => {
            let low = |a| {
                matches!(
                    a,
                    Affiliation::None | Affiliation::Member | Affiliation::Outcast
                )
            };
            low(from) && low(to)
        }
        _ => false,
    }
}

/// May `actor` change the role of an occupant? XEP-0045 §8: moderators may kick and
/// grant/revoke voice of occupants with a lower-or-equal standing, but never of an
/// admin/owner unless the actor outranks them by affiliation; granting or revoking
/// moderator status needs admin or owner.
pub fn may_set_role(
    actor_aff: Affiliation,
    actor_role: Role,
    target_aff: Affiliation,
    target_role: Role,
    new_role: Role,
) -> bool {
    if actor_role != Role::Moderator && !actor_aff.is_admin_or_owner() {
        return false;
    }
    if target_aff.is_admin_or_owner() && actor_aff <= target_aff {
        return false;
    }
    if (new_role == Role::Moderator || target_role == Role::Moderator)
        && !actor_aff.is_admin_or_owner()
    {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_cannot_touch_owners_or_admins() {
        use Affiliation::*;
        assert!(may_set_affiliation(Owner, Admin, None));
        assert!(may_set_affiliation(Admin, None, Member));
        assert!(may_set_affiliation(Admin, Member, Outcast));
        assert!(!may_set_affiliation(Admin, Owner, None));
        assert!(!may_set_affiliation(Admin, None, Admin));
        assert!(!may_set_affiliation(Member, None, Member));
    }

    #[test]
    fn moderators_cannot_kick_owners() {
        use Affiliation as A;
        assert!(may_set_role(
            A::None,
            Role::Moderator,
            A::None,
            Role::Participant,
            Role::None
        ));
        assert!(!may_set_role(
            A::None,
            Role::Moderator,
            A::Owner,
            Role::Moderator,
            Role::None
        ));
        assert!(may_set_role(
            A::Owner,
            Role::Moderator,
            A::Admin,
            Role::Moderator,
            Role::None
        ));
        assert!(!may_set_role(
            A::None,
            Role::Participant,
            A::None,
            Role::Visitor,
            Role::Participant
        ));
        assert!(!may_set_role(
            A::None,
            Role::Moderator,
            A::None,
            Role::Participant,
            Role::Moderator
        ));
    }

    #[test]
    fn default_roles() {
        assert_eq!(
            default_role(Affiliation::None, true, true),
            Role::Participant
        );
        assert_eq!(default_role(Affiliation::None, true, false), Role::Visitor);
        assert_eq!(
            default_role(Affiliation::Admin, false, true),
            Role::Moderator
        );
    }
}
