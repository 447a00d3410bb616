//! XEP-0484 Fast Authentication Streamlining Tokens (`urn:xmpp:fast:0`) and the Hashed
//! Token SASL mechanism it uses (draft-schmaus-kitten-sasl-ht, `HT-SHA-256-NONE`).
//!
//! A client that signed in with its password adds `<request-token mechanism=…/>` to its
//! SASL2 `<authenticate/>`; the `<success/>` carries `<token token=… expiry=…/>`. Later it
//! authenticates with that mechanism, the token as the secret, and `<fast [count=…]
//! [invalidate='true']/>`:
//!
//! - initial response: `username NUL HMAC-SHA-256(token, "Initiator" || cb-data)`;
//! - `<additional-data/>` of the success: `HMAC-SHA-256(token, "Responder" || cb-data)`,
//!   which the client checks (mutual authentication);
//!
//! `cb-data` is empty for `-NONE` (no channel binding). The HMAC key is the token string's
//! UTF-8 bytes, exactly as the server sent it. [`initiator_proof`] and [`responder_proof`]
//! are those two values, for both ends.

use hmac::{Hmac, Mac};
use minidom::Element;
use sha2::Sha256;

use crate::ns;
use crate::xml::{builder, expect, ncname, text_element, try_from_owned, with_attr};
use crate::ParseError;

/// XEP-0484 namespace (also [`ns::FAST`]).
pub const NS_FAST: &str = ns::FAST;

/// The Hashed Token mechanism without channel binding: the one every transport allows
/// (a browser's WebSocket exposes no TLS channel-binding data).
pub const HT_SHA_256_NONE: &str = "HT-SHA-256-NONE";

/// Whether `mechanism` is one of the Hashed Token family (`HT-…`).
pub fn is_ht(mechanism: &str) -> bool {
    mechanism.starts_with("HT-")
}

fn hmac(token: &str, label: &[u8], cb_data: &[u8]) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    mac.update(label);
    mac.update(cb_data);
    mac.finalize().into_bytes().to_vec()
}

/// `HMAC-SHA-256(token, "Initiator" || cb_data)`: what the client proves possession with.
pub fn initiator_proof(token: &str, cb_data: &[u8]) -> Vec<u8> {
    hmac(token, b"Initiator", cb_data)
}

/// `HMAC-SHA-256(token, "Responder" || cb_data)`: the server's answer.
pub fn responder_proof(token: &str, cb_data: &[u8]) -> Vec<u8> {
    hmac(token, b"Responder", cb_data)
}

/// The client's initial response for an HT mechanism: `username NUL proof`.
pub fn initial_response(username: &str, token: &str, cb_data: &[u8]) -> Vec<u8> {
    let mut out = username.as_bytes().to_vec();
    out.push(0);
    out.extend(initiator_proof(token, cb_data));
    out
}

/// Splits an HT initial response into the username and the proof.
pub fn split_initial_response(data: &[u8]) -> Option<(&str, &[u8])> {
    let nul = data.iter().position(|&b| b == 0)?;
    let user = std::str::from_utf8(&data[..nul]).ok()?;
    let proof = &data[nul + 1..];
    (!user.is_empty() && !proof.is_empty()).then_some((user, proof))
}

/// Constant-time equality of two byte strings (the length is not secret).
pub fn equal_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The feature inside SASL2's `<inline/>`: `<fast xmlns='urn:xmpp:fast:0'
/// [tls-0rtt='true']><mechanism>HT-SHA-256-NONE</mechanism></fast>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FastFeature {
    /// The token mechanisms offered.
    pub mechanisms: Vec<String>,
    /// Authentication may ride in TLS 0-RTT data.
    pub tls_0rtt: bool,
}

impl TryFrom<&Element> for FastFeature {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "fast", NS_FAST)?;
        Ok(FastFeature {
            mechanisms: elem
                .children()
                .filter(|c| c.is("mechanism", NS_FAST))
                .map(|c| c.text().trim().to_owned())
                .collect(),
            tls_0rtt: matches!(elem.attr("tls-0rtt"), Some("true" | "1")),
        })
    }
}

impl From<FastFeature> for Element {
    fn from(f: FastFeature) -> Element {
        let mut b = with_attr(
            builder("fast", NS_FAST),
            "tls-0rtt",
            f.tls_0rtt.then_some("true"),
        );
        for m in f.mechanisms {
            b = b.append(text_element("mechanism", NS_FAST, m));
        }
        b.build()
    }
}

/// In `<authenticate/>` with a token: `<fast xmlns='urn:xmpp:fast:0' [count=N]
/// [invalidate='true']/>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FastAuth {
    /// The client's attempt counter for this token; a server refuses a count it has already
    /// seen (replay protection). Optional outside TLS 0-RTT.
    pub count: Option<u32>,
    /// Log out: the token stops working once this authentication succeeds.
    pub invalidate: bool,
}

impl TryFrom<&Element> for FastAuth {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "fast", NS_FAST)?;
        let count = match elem.attr("count") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| ParseError::BadAttribute {
                        element: "fast",
                        attribute: "count",
                        reason: format!("'{v}' is not a non-negative integer"),
                    })?,
            ),
        };
        let invalidate = match elem.attr("invalidate") {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(v) => {
                return Err(ParseError::BadAttribute {
                    element: "fast",
                    attribute: "invalidate",
                    reason: format!("'{v}' is not a boolean"),
                })
            }
        };
        Ok(FastAuth { count, invalidate })
    }
}

impl From<FastAuth> for Element {
    fn from(f: FastAuth) -> Element {
        let b = with_attr(
            builder("fast", NS_FAST),
            "count",
            f.count.map(|c| c.to_string()),
        );
        with_attr(b, "invalidate", f.invalidate.then_some("true")).build()
    }
}

/// `<request-token xmlns='urn:xmpp:fast:0' mechanism=…/>` in `<authenticate/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestToken {
    /// The token mechanism the token will be bound to.
    pub mechanism: String,
}

impl TryFrom<&Element> for RequestToken {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "request-token", NS_FAST)?;
        let mechanism = elem.attr("mechanism").ok_or(ParseError::MissingAttribute {
            element: "request-token",
            attribute: "mechanism",
        })?;
        Ok(RequestToken {
            mechanism: mechanism.to_owned(),
        })
    }
}

impl From<RequestToken> for Element {
    fn from(r: RequestToken) -> Element {
        builder("request-token", NS_FAST)
            .attr(ncname("mechanism"), r.mechanism)
            .build()
    }
}

/// `<token xmlns='urn:xmpp:fast:0' token=… expiry=…/>` in `<success/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The secret.
    pub token: String,
    /// When it stops working (XEP-0082 date-time, UTC).
    pub expiry: String,
}

impl TryFrom<&Element> for Token {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "token", NS_FAST)?;
        let get = |attribute: &'static str| {
            elem.attr(attribute)
                .map(str::to_owned)
                .ok_or(ParseError::MissingAttribute {
                    element: "token",
                    attribute,
                })
        };
        Ok(Token {
            token: get("token")?,
            expiry: get("expiry")?,
        })
    }
}

impl From<Token> for Element {
    fn from(t: Token) -> Element {
        builder("token", NS_FAST)
            .attr(ncname("token"), t.token)
            .attr(ncname("expiry"), t.expiry)
            .build()
    }
}

try_from_owned!(FastFeature, FastAuth, RequestToken, Token);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_are_directional_and_keyed_by_the_token() {
        let i = initiator_proof("tok", b"");
        assert_eq!(i.len(), 32);
        assert_ne!(i, responder_proof("tok", b""));
        assert_ne!(i, initiator_proof("other", b""));
        let ir = initial_response("alice", "tok", b"");
        let (user, proof) = split_initial_response(&ir).unwrap();
        assert_eq!(user, "alice");
        assert!(equal_constant_time(proof, &i));
        assert!(!equal_constant_time(proof, &i[..31]));
        assert_eq!(split_initial_response(b"alice"), None);
        assert_eq!(split_initial_response(b"\0x"), None);
    }

    /// RFC 4231 test case 2 pins HMAC-SHA-256 (key "Jefe") so both ends agree on the
    /// construction, not only with each other.
    #[test]
    fn hmac_is_rfc_4231() {
        let mac = hmac("Jefe", b"what do ya want ", b"for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn elements_round_trip_and_name_bad_attributes() {
        let f = FastAuth {
            count: Some(3),
            invalidate: true,
        };
        assert_eq!(FastAuth::try_from(Element::from(f)).unwrap(), f);
        // xmpp.js sends no count at all.
        let bare: Element = "<fast xmlns='urn:xmpp:fast:0'/>".parse().unwrap();
        assert_eq!(FastAuth::try_from(bare).unwrap(), FastAuth::default());
        let bad: Element = "<fast xmlns='urn:xmpp:fast:0' count='-2'/>"
            .parse()
            .unwrap();
        assert!(FastAuth::try_from(bad)
            .unwrap_err()
            .to_string()
            .contains("'count'"));
        let t = Token {
            token: "s".into(),
            expiry: "2030-01-01T00:00:00Z".into(),
        };
        assert_eq!(Token::try_from(Element::from(t.clone())).unwrap(), t);
        let feat = FastFeature {
            mechanisms: vec![HT_SHA_256_NONE.into()],
            tls_0rtt: false,
        };
        assert_eq!(
            FastFeature::try_from(Element::from(feat.clone())).unwrap(),
            feat
        );
        let no_mech: Element = "<request-token xmlns='urn:xmpp:fast:0'/>".parse().unwrap();
        assert!(RequestToken::try_from(no_mech).is_err());
    }

    #[test]
    fn xmpp_parsers_reads_ours() {
        use xmpp_parsers::fast as xp;
        let q = xp::FastQuery::try_from(Element::from(FastFeature {
            mechanisms: vec![HT_SHA_256_NONE.into()],
            tls_0rtt: false,
        }))
        .unwrap();
        assert_eq!(q.mechanisms.len(), 1);
        let r = xp::FastResponse::try_from(Element::from(FastAuth {
            count: Some(5),
            invalidate: false,
        }))
        .unwrap();
        assert_eq!(r.count, 5);
        let t = xp::Token::try_from(Element::from(Token {
            token: "abc".into(),
            expiry: "2030-01-01T00:00:00Z".into(),
        }))
        .unwrap();
        assert_eq!(t.token, "abc");
        xp::RequestToken::try_from(Element::from(RequestToken {
            mechanism: HT_SHA_256_NONE.into(),
        }))
        .unwrap();
    }
}
