//! XEP-0421 occupant identifiers: every groupchat message and occupant presence a room
//! sends carries `<occupant-id xmlns='urn:xmpp:occupant-id:0' id=…/>`, the same for one
//! account in one room whatever its nick, resource or route (joined, posting as a
//! subscriber, wrapped to subscribers, in the archive), and across restarts; whatever a
//! client sends in that namespace is dropped, so nobody can pose as someone else.
//!
//! The id is derived, not stored: HMAC-SHA-256 of the room's and the account's bare JIDs
//! under a secret the service creates once and keeps in storage
//! ([`crate::storage::MucStore::secret`], shared by every node of a cluster). Without the
//! secret nobody can tell which account an id belongs to (semi-anonymous rooms stay so).

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use jid::BareJid;
use minidom::Element;
use mucsub_protocol::occupant_id::OccupantId;
use sha2::Sha256;

use crate::ns;
use crate::storage::MucStore;

/// The room's disco#info features of this XEP.
pub const FEATURES: &[&str] = &[ns::OCCUPANT_ID];

/// The storage name of the secret.
const SECRET: &str = "occupant-id";

/// Derives occupant-ids; the key is loaded once when the service starts.
#[derive(Default)]
pub struct OccupantIds {
    key: OnceLock<Vec<u8>>,
}

impl OccupantIds {
    /// Ids under a fixed key (unit tests of the room logic).
    pub fn with_key(key: Vec<u8>) -> Self {
        let ids = OccupantIds::default();
        let _ = ids.key.set(key);
        ids
    }

    /// Reads the service's secret from `store`, creating it on the first start.
    pub async fn load(&self, store: &dyn MucStore) -> anyhow::Result<()> {
        let fresh: [u8; 32] = rand::random();
        let key = store.secret(SECRET, fresh.to_vec()).await?;
        anyhow::ensure!(
            key.len() >= 16,
            "the stored occupant-id secret is too short"
        );
        let _ = self.key.set(key);
        Ok(())
    }

    /// The occupant-id of `account` in `room`.
    pub fn id(&self, room: &BareJid, account: &BareJid) -> String {
        // The service loads the key before it reads any stanza; an empty key would still
        // give stable (if guessable) ids rather than a panic.
        let key = self.key.get().map(Vec::as_slice).unwrap_or_default();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new_from_slice(&[0]).expect("HMAC"));
        mac.update(room.as_str().as_bytes());
        // A separator no JID contains, so (room, account) pairs cannot collide.
        mac.update(b"\n");
        mac.update(account.as_str().as_bytes());
        let digest = mac.finalize().into_bytes();
        digest[..20].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The `<occupant-id/>` of `account` in `room`.
    pub fn element(&self, room: &BareJid, account: &BareJid) -> Element {
        OccupantId {
            id: self.id(room, account),
        }
        .into()
    }
}

/// Whether `c` is an occupant-id, which only the room may add.
pub fn is_occupant_id(c: &Element) -> bool {
    c.is("occupant-id", ns::OCCUPANT_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    #[test]
    fn ids_are_per_room_and_account_and_depend_on_the_key() {
        let ids = OccupantIds::with_key(vec![7; 32]);
        let (r1, r2) = (
            bare("a@conference.localhost"),
            bare("b@conference.localhost"),
        );
        let (u1, u2) = (bare("alice@localhost"), bare("bob@localhost"));
        assert_eq!(ids.id(&r1, &u1), ids.id(&r1, &u1));
        assert_ne!(ids.id(&r1, &u1), ids.id(&r1, &u2));
        assert_ne!(ids.id(&r1, &u1), ids.id(&r2, &u1));
        let other = OccupantIds::with_key(vec![8; 32]);
        assert_ne!(ids.id(&r1, &u1), other.id(&r1, &u1));
        assert_eq!(ids.id(&r1, &u1).len(), 40);
    }
}
