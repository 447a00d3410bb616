//! Which stored token a FAST authentication presents, and what follows, without I/O
//! (XEP-0484 §4.3–4.5, §6.1): the `New` slot is tried before the `Current` one, a token
//! works only with the mechanism it was issued for and until its expiry, and a token used
//! close to its expiry is replaced in the same `<success/>`.

use crate::storage::{FastToken, Slot};
use mucsub_protocol::fast::{equal_constant_time, initiator_proof, responder_proof};

/// A stored token with the secret derived for it.
pub struct Candidate<'a> {
    pub stored: &'a FastToken,
    pub token: String,
}

/// What an HT authentication gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The proof matches the token in `slot`.
    Accept {
        slot: Slot,
        /// The success's `<additional-data/>`: HMAC(token, "Responder").
        responder: Vec<u8>,
        /// Issue a replacement in the same success (the token nears its expiry).
        rotate: bool,
    },
    /// SASL failure condition: `not-authorized` (no such token, wrong proof, wrong
    /// mechanism, a replay) or `credentials-expired` (the token matched but expired).
    Refuse(&'static str),
}

/// Checks `proof` (the client's HMAC(token, "Initiator")) against the device's tokens.
pub fn check(
    candidates: &[Candidate<'_>],
    mechanism: &str,
    proof: &[u8],
    now_ms: i64,
    rotate_before_ms: i64,
) -> Verdict {
    let order = [Slot::New, Slot::Current];
    for slot in order {
        for c in candidates.iter().filter(|c| c.stored.slot == slot) {
            // A token derived with another key (a replaced key file) never matches.
            if crate::fast::key::token_hash(&c.token) != c.stored.token_hash {
                continue;
            }
            if !equal_constant_time(&initiator_proof(&c.token, b""), proof) {
                continue;
            }
            if c.stored.mechanism != mechanism {
                // XEP-0484 §4.3: a token only works with the mechanism it was issued for.
                return Verdict::Refuse("not-authorized");
            }
            if c.stored.expires_ms <= now_ms {
                return Verdict::Refuse("credentials-expired");
            }
            return Verdict::Accept {
                slot,
                responder: responder_proof(&c.token, b""),
                rotate: c.stored.expires_ms - now_ms < rotate_before_ms,
            };
        }
    }
    Verdict::Refuse("not-authorized")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::key::{token_hash, Key};

    const MECH: &str = "HT-SHA-256-NONE";

    fn stored(slot: Slot, nonce: u8, expires_ms: i64, key: &Key) -> FastToken {
        FastToken {
            user: "alice".into(),
            device: "d".into(),
            slot,
            mechanism: MECH.into(),
            nonce: vec![nonce],
            token_hash: token_hash(&key.token(&[nonce])),
            created_ms: 0,
            expires_ms,
            last_count: None,
            last_used_ms: None,
            software: None,
            device_name: None,
        }
    }

    fn candidates<'a>(tokens: &'a [FastToken], key: &Key) -> Vec<Candidate<'a>> {
        tokens
            .iter()
            .map(|t| Candidate {
                stored: t,
                token: key.token(&t.nonce),
            })
            .collect()
    }

    #[test]
    fn either_slot_works_and_new_is_recognised() {
        let key = Key::from_bytes([7; 32]);
        let tokens = vec![
            stored(Slot::Current, 1, 1000, &key),
            stored(Slot::New, 2, 2000, &key),
        ];
        let c = candidates(&tokens, &key);
        let old = initiator_proof(&key.token(&[1]), b"");
        let new = initiator_proof(&key.token(&[2]), b"");
        assert!(matches!(
            check(&c, MECH, &old, 10, 0),
            Verdict::Accept {
                slot: Slot::Current,
                ..
            }
        ));
        match check(&c, MECH, &new, 10, 0) {
            Verdict::Accept {
                slot,
                responder,
                rotate,
            } => {
                assert_eq!(slot, Slot::New);
                assert_eq!(responder, responder_proof(&key.token(&[2]), b""));
                assert!(!rotate);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals() {
        let key = Key::from_bytes([7; 32]);
        let tokens = vec![stored(Slot::Current, 1, 1000, &key)];
        let c = candidates(&tokens, &key);
        let proof = initiator_proof(&key.token(&[1]), b"");
        assert_eq!(
            check(&c, MECH, b"forged", 10, 0),
            Verdict::Refuse("not-authorized")
        );
        assert_eq!(
            check(&c, "HT-SHA-256-ENDP", &proof, 10, 0),
            Verdict::Refuse("not-authorized")
        );
        assert_eq!(
            check(&c, MECH, &proof, 1000, 0),
            Verdict::Refuse("credentials-expired")
        );
        assert_eq!(
            check(&[], MECH, &proof, 10, 0),
            Verdict::Refuse("not-authorized")
        );
        // Derived with another key: the stored hash does not match, whatever the proof.
        let other = Key::from_bytes([8; 32]);
        let c = candidates(&tokens, &other);
        let forged = initiator_proof(&other.token(&[1]), b"");
        assert_eq!(
            check(&c, MECH, &forged, 10, 0),
            Verdict::Refuse("not-authorized")
        );
    }

    #[test]
    fn rotation_near_expiry() {
        let key = Key::from_bytes([7; 32]);
        let tokens = vec![stored(Slot::Current, 1, 1000, &key)];
        let c = candidates(&tokens, &key);
        let proof = initiator_proof(&key.token(&[1]), b"");
        assert!(matches!(
            check(&c, MECH, &proof, 100, 500),
            Verdict::Accept { rotate: false, .. }
        ));
        assert!(matches!(
            check(&c, MECH, &proof, 600, 500),
            Verdict::Accept { rotate: true, .. }
        ));
    }
}
