//! XEP-0388 Extensible SASL Profile (`urn:xmpp:sasl:2`): the `<authentication/>` stream
//! feature with its `<inline/>` features, the client's `<authenticate/>` (which may carry a
//! stream resumption, a Bind2 request and FAST elements), `<challenge/>`/`<response/>`,
//! and the `<success/>`/`<failure/>` outcome. Unlike RFC 6120 SASL there is no stream
//! restart after `<success/>`.
//!
//! Over minidom (like [`crate::sm`]): the browser reads and writes these, and this keeps
//! lenient where clients differ (`<user-agent/>` and its `id` are optional here, as the
//! schema's text says; xmpp-parsers requires both). A test checks that xmpp-parsers reads
//! what these types write.

use base64::Engine;
use minidom::Element;

use crate::bind2::{BindFeature, BindRequest, Bound};
use crate::fast::{FastAuth, FastFeature, RequestToken, Token};
use crate::ns;
use crate::sm::{Failed, Resume, Resumed};
use crate::xml::{builder, expect, ncname, text_element, try_from_owned, with_attr};
use crate::ParseError;

/// XEP-0388 namespace (also [`ns::SASL2`]).
pub const NS_SASL2: &str = ns::SASL2;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Base64 of SASL data; XEP-0388 has no `=` special case (an empty element is empty data).
pub fn encode(data: &[u8]) -> String {
    B64.encode(data)
}

/// Decodes SASL data, ignoring whitespace (some clients wrap lines).
pub fn decode(text: &str, element: &'static str) -> Result<Vec<u8>, ParseError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(compact).map_err(|e| ParseError::BadChild {
        element,
        child: "#text",
        reason: format!("not base64: {e}"),
    })
}

/// The stream feature: `<authentication xmlns='urn:xmpp:sasl:2'><mechanism>…</mechanism>…
/// <inline>[<sm xmlns='urn:xmpp:sm:3'/>][<bind xmlns='urn:xmpp:bind:0'>…</bind>][<fast
/// xmlns='urn:xmpp:fast:0'>…</fast>]</inline></authentication>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authentication {
    /// Password mechanisms, in the server's order of preference.
    pub mechanisms: Vec<String>,
    /// XEP-0198 resumption may be inlined in `<authenticate/>`.
    pub inline_sm: bool,
    /// Bind 2, with the features its request may carry.
    pub bind: Option<BindFeature>,
    /// FAST, with its token mechanisms.
    pub fast: Option<FastFeature>,
}

impl TryFrom<&Element> for Authentication {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "authentication", NS_SASL2)?;
        let mechanisms = elem
            .children()
            .filter(|c| c.is("mechanism", NS_SASL2))
            .map(|c| c.text().trim().to_owned())
            .collect();
        let inline = elem.get_child("inline", NS_SASL2);
        let bind = inline
            .and_then(|i| i.get_child("bind", ns::BIND2))
            .map(BindFeature::try_from)
            .transpose()?;
        let fast = inline
            .and_then(|i| i.get_child("fast", ns::FAST))
            .map(FastFeature::try_from)
            .transpose()?;
        Ok(Authentication {
            mechanisms,
            inline_sm: inline.is_some_and(|i| i.has_child("sm", ns::SM)),
            bind,
            fast,
        })
    }
}

impl From<Authentication> for Element {
    fn from(a: Authentication) -> Element {
        let mut b = builder("authentication", NS_SASL2);
        for m in a.mechanisms {
            b = b.append(text_element("mechanism", NS_SASL2, m));
        }
        if a.inline_sm || a.bind.is_some() || a.fast.is_some() {
            let mut inline = builder("inline", NS_SASL2);
            if a.inline_sm {
                inline = inline.append(builder("sm", ns::SM).build());
            }
            if let Some(bind) = a.bind {
                inline = inline.append(Element::from(bind));
            }
            if let Some(fast) = a.fast {
                inline = inline.append(Element::from(fast));
            }
            b = b.append(inline.build());
        }
        b.build()
    }
}

/// `<user-agent id=…><software/><device/></user-agent>`: which installation connects. Its
/// `id` (a UUID) identifies the device: FAST tokens are bound to it, and Bind 2 derives a
/// stable resource from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAgent {
    /// A stable identifier of the client installation (a UUID v4).
    pub id: Option<String>,
    /// The client software.
    pub software: Option<String>,
    /// The device it runs on.
    pub device: Option<String>,
}

impl TryFrom<&Element> for UserAgent {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "user-agent", NS_SASL2)?;
        let id = match elem.attr("id") {
            None => None,
            Some(v) if is_uuid(v) => Some(v.to_ascii_lowercase()),
            Some(v) => {
                return Err(ParseError::BadAttribute {
                    element: "user-agent",
                    attribute: "id",
                    reason: format!("'{v}' is not a UUID"),
                })
            }
        };
        let text = |name: &str| {
            elem.get_child(name, NS_SASL2)
                .map(|c| c.text().trim().to_owned())
                .filter(|t| !t.is_empty())
        };
        Ok(UserAgent {
            id,
            software: text("software"),
            device: text("device"),
        })
    }
}

impl From<UserAgent> for Element {
    fn from(u: UserAgent) -> Element {
        let mut b = with_attr(builder("user-agent", NS_SASL2), "id", u.id);
        if let Some(s) = u.software {
            b = b.append(text_element("software", NS_SASL2, s));
        }
        if let Some(d) = u.device {
            b = b.append(text_element("device", NS_SASL2, d));
        }
        b.build()
    }
}

/// 8-4-4-4-12 hexadecimal digits (XEP-0388's `Uuid` type).
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The client's `<authenticate xmlns='urn:xmpp:sasl:2' mechanism=…>`, with everything it
/// may carry inline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authenticate {
    /// The SASL mechanism.
    pub mechanism: String,
    /// `<initial-response/>`, decoded; `None` when absent.
    pub initial_response: Option<Vec<u8>>,
    /// `<user-agent/>`.
    pub user_agent: Option<UserAgent>,
    /// XEP-0198 `<resume/>`: resume that stream once authenticated.
    pub resume: Option<Resume>,
    /// XEP-0386 `<bind/>`: bind a new resource once authenticated (ignored after a
    /// successful resume).
    pub bind: Option<BindRequest>,
    /// XEP-0484 `<request-token/>`: issue a token in the success.
    pub request_token: Option<RequestToken>,
    /// XEP-0484 `<fast/>`: this authentication uses a token.
    pub fast: Option<FastAuth>,
}

impl TryFrom<&Element> for Authenticate {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "authenticate", NS_SASL2)?;
        let mechanism = match elem.attr("mechanism") {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => {
                return Err(ParseError::MissingAttribute {
                    element: "authenticate",
                    attribute: "mechanism",
                })
            }
        };
        let mut out = Authenticate {
            mechanism,
            ..Authenticate::default()
        };
        let child = |e: ParseError, child: &'static str| ParseError::BadChild {
            element: "authenticate",
            child,
            reason: e.to_string(),
        };
        for c in elem.children() {
            if c.is("initial-response", NS_SASL2) {
                out.initial_response = Some(decode(&c.text(), "initial-response")?);
            } else if c.is("user-agent", NS_SASL2) {
                out.user_agent = Some(UserAgent::try_from(c).map_err(|e| child(e, "user-agent"))?);
            } else if c.is("resume", ns::SM) {
                out.resume = Some(Resume::try_from(c).map_err(|e| child(e, "resume"))?);
            } else if c.is("bind", ns::BIND2) {
                out.bind = Some(BindRequest::try_from(c).map_err(|e| child(e, "bind"))?);
            } else if c.is("request-token", ns::FAST) {
                out.request_token =
                    Some(RequestToken::try_from(c).map_err(|e| child(e, "request-token"))?);
            } else if c.is("fast", ns::FAST) {
                out.fast = Some(FastAuth::try_from(c).map_err(|e| child(e, "fast"))?);
            }
        }
        Ok(out)
    }
}

impl From<Authenticate> for Element {
    fn from(a: Authenticate) -> Element {
        let mut b = builder("authenticate", NS_SASL2).attr(ncname("mechanism"), a.mechanism);
        if let Some(ir) = a.initial_response {
            b = b.append(text_element("initial-response", NS_SASL2, encode(&ir)));
        }
        if let Some(ua) = a.user_agent {
            b = b.append(Element::from(ua));
        }
        if let Some(r) = a.resume {
            b = b.append(Element::from(r));
        }
        if let Some(bind) = a.bind {
            b = b.append(Element::from(bind));
        }
        if let Some(rt) = a.request_token {
            b = b.append(Element::from(rt));
        }
        if let Some(f) = a.fast {
            b = b.append(Element::from(f));
        }
        b.build()
    }
}

/// `<challenge/>` or `<response/>`: base64 SASL data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslData {
    /// `challenge` or `response`.
    pub name: &'static str,
    /// The decoded data.
    pub data: Vec<u8>,
}

impl SaslData {
    /// A server `<challenge/>`.
    pub fn challenge(data: Vec<u8>) -> SaslData {
        SaslData {
            name: "challenge",
            data,
        }
    }

    /// A client `<response/>`.
    pub fn response(data: Vec<u8>) -> SaslData {
        SaslData {
            name: "response",
            data,
        }
    }
}

impl TryFrom<&Element> for SaslData {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        let name = match elem.name() {
            "challenge" => "challenge",
            _ => "response",
        };
        expect(elem, name, NS_SASL2)?;
        Ok(SaslData {
            name,
            data: decode(&elem.text(), name)?,
        })
    }
}

impl From<SaslData> for Element {
    fn from(d: SaslData) -> Element {
        text_element(d.name, NS_SASL2, encode(&d.data))
    }
}

/// `<success xmlns='urn:xmpp:sasl:2'>`: authenticated, with the results of what was
/// inlined. When it carries `<resumed/>` the former stream continues right after it and no
/// stream features follow; otherwise `<stream:features/>` follow (no stream restart).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Success {
    /// The mechanism's final data (SCRAM's server signature, HT's responder proof).
    pub additional_data: Option<Vec<u8>>,
    /// The authenticated JID: bare, or full once a resource is bound or resumed.
    pub authorization_identifier: String,
    /// The stream was resumed.
    pub resumed: Option<Resumed>,
    /// The requested resumption failed (authentication still succeeded).
    pub failed: Option<Failed>,
    /// A resource was bound (Bind 2).
    pub bound: Option<Bound>,
    /// A new FAST token.
    pub token: Option<Token>,
}

impl TryFrom<&Element> for Success {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "success", NS_SASL2)?;
        let additional_data = elem
            .get_child("additional-data", NS_SASL2)
            .map(|d| decode(&d.text(), "additional-data"))
            .transpose()?;
        let authorization_identifier = elem
            .get_child("authorization-identifier", NS_SASL2)
            .map(|a| a.text().trim().to_owned())
            .ok_or(ParseError::MissingChild {
                element: "success",
                child: "authorization-identifier",
            })?;
        Ok(Success {
            additional_data,
            authorization_identifier,
            resumed: elem
                .get_child("resumed", ns::SM)
                .map(Resumed::try_from)
                .transpose()?,
            failed: elem
                .get_child("failed", ns::SM)
                .map(Failed::try_from)
                .transpose()?,
            bound: elem
                .get_child("bound", ns::BIND2)
                .map(Bound::try_from)
                .transpose()?,
            token: elem
                .get_child("token", ns::FAST)
                .map(Token::try_from)
                .transpose()?,
        })
    }
}

impl From<Success> for Element {
    fn from(s: Success) -> Element {
        let mut b = builder("success", NS_SASL2);
        if let Some(d) = s.additional_data {
            b = b.append(text_element("additional-data", NS_SASL2, encode(&d)));
        }
        b = b.append(text_element(
            "authorization-identifier",
            NS_SASL2,
            s.authorization_identifier,
        ));
        if let Some(r) = s.resumed {
            b = b.append(Element::from(r));
        }
        if let Some(f) = s.failed {
            b = b.append(Element::from(f));
        }
        if let Some(bound) = s.bound {
            b = b.append(Element::from(bound));
        }
        if let Some(t) = s.token {
            b = b.append(Element::from(t));
        }
        b.build()
    }
}

/// `<failure xmlns='urn:xmpp:sasl:2'><CONDITION xmlns='…xmpp-sasl'/>[<text/>]</failure>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The RFC 6120 §6.5 SASL condition (`not-authorized`, `credentials-expired`, …).
    pub condition: String,
    /// Why, in English.
    pub text: Option<String>,
}

impl TryFrom<&Element> for Failure {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "failure", NS_SASL2)?;
        let condition = elem
            .children()
            .find(|c| c.ns() == ns::SASL)
            .map(|c| c.name().to_owned())
            .ok_or(ParseError::MissingChild {
                element: "failure",
                child: "condition",
            })?;
        Ok(Failure {
            condition,
            text: elem
                .get_child("text", NS_SASL2)
                .map(|t| t.text())
                .filter(|t| !t.is_empty()),
        })
    }
}

impl From<Failure> for Element {
    fn from(f: Failure) -> Element {
        let mut b =
            builder("failure", NS_SASL2).append(Element::builder(f.condition, ns::SASL).build());
        if let Some(t) = f.text {
            b = b.append(text_element("text", NS_SASL2, t));
        }
        b.build()
    }
}

try_from_owned!(
    Authentication,
    UserAgent,
    Authenticate,
    SaslData,
    Success,
    Failure
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::HT_SHA_256_NONE;
    use crate::sm::{Enable, Enabled};

    const UA: &str = "d4565fa7-4d72-4749-b3d3-740edbf87770";

    fn full_request() -> Authenticate {
        Authenticate {
            mechanism: HT_SHA_256_NONE.into(),
            initial_response: Some(b"alice\0proof".to_vec()),
            user_agent: Some(UserAgent {
                id: Some(UA.into()),
                software: Some("mucsub".into()),
                device: Some("phone".into()),
            }),
            resume: Some(Resume {
                previd: "sm1".into(),
                h: 4,
            }),
            bind: Some(BindRequest {
                tag: Some("web".into()),
                sm: Some(Enable {
                    resume: true,
                    max: None,
                }),
                inactive: Some(false),
            }),
            request_token: Some(RequestToken {
                mechanism: HT_SHA_256_NONE.into(),
            }),
            fast: Some(FastAuth {
                count: Some(2),
                invalidate: false,
            }),
        }
    }

    #[test]
    fn authenticate_round_trips_with_everything_inline() {
        let a = full_request();
        assert_eq!(Authenticate::try_from(Element::from(a.clone())).unwrap(), a);
    }

    #[test]
    fn authenticate_errors_name_the_child() {
        let el: Element =
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent id='nope'/></authenticate>"
                .parse()
                .unwrap();
        let err = Authenticate::try_from(el).unwrap_err();
        assert!(err.to_string().contains("<user-agent/>"), "{err}");
        let el: Element = "<authenticate xmlns='urn:xmpp:sasl:2'/>".parse().unwrap();
        assert!(Authenticate::try_from(el)
            .unwrap_err()
            .to_string()
            .contains("'mechanism'"));
        let el: Element = "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>%%%</initial-response></authenticate>"
            .parse()
            .unwrap();
        assert!(Authenticate::try_from(el)
            .unwrap_err()
            .to_string()
            .contains("base64"));
    }

    #[test]
    fn success_and_failure_round_trip() {
        let s = Success {
            additional_data: Some(vec![1, 2, 3]),
            authorization_identifier: "alice@localhost/web.0011".into(),
            resumed: None,
            failed: Some(Failed {
                h: Some(3),
                condition: Some("item-not-found".into()),
            }),
            bound: Some(Bound {
                enabled: Some(Enabled {
                    id: Some("x".into()),
                    resume: true,
                    max: Some(300),
                    location: None,
                }),
                failed: None,
            }),
            token: Some(Token {
                token: "t".into(),
                expiry: "2030-01-01T00:00:00Z".into(),
            }),
        };
        assert_eq!(Success::try_from(Element::from(s.clone())).unwrap(), s);
        let f = Failure {
            condition: "not-authorized".into(),
            text: Some("no".into()),
        };
        assert_eq!(Failure::try_from(Element::from(f.clone())).unwrap(), f);
        let feature = Authentication {
            mechanisms: vec!["SCRAM-SHA-256".into(), "PLAIN".into()],
            inline_sm: true,
            bind: Some(BindFeature {
                inline: vec![ns::SM.into(), ns::CSI.into()],
            }),
            fast: Some(FastFeature {
                mechanisms: vec![HT_SHA_256_NONE.into()],
                tls_0rtt: false,
            }),
        };
        assert_eq!(
            Authentication::try_from(Element::from(feature.clone())).unwrap(),
            feature
        );
    }

    #[test]
    fn xmpp_parsers_reads_ours() {
        use xmpp_parsers::sasl2 as xp;
        let a = xp::Authenticate::try_from(Element::from(full_request())).unwrap();
        assert_eq!(a.mechanism, HT_SHA_256_NONE);
        assert_eq!(a.initial_response.as_deref(), Some(&b"alice\0proof"[..]));
        assert_eq!(a.payloads.len(), 4, "resume, bind, request-token, fast");
        let s = xp::Success::try_from(Element::from(Success {
            additional_data: None,
            authorization_identifier: "alice@localhost".into(),
            ..Success::default()
        }))
        .unwrap();
        assert_eq!(s.authorization_identifier.to_string(), "alice@localhost");
        let f = xp::Authentication::try_from(Element::from(Authentication {
            mechanisms: vec!["PLAIN".into()],
            inline_sm: true,
            bind: Some(BindFeature::default()),
            fast: None,
        }))
        .unwrap();
        assert_eq!(f.mechanisms, vec!["PLAIN".to_owned()]);
        assert!(f.inline.unwrap().sm.is_some());
        xp::Challenge::try_from(Element::from(SaslData::challenge(b"abc".to_vec()))).unwrap();
    }
}
