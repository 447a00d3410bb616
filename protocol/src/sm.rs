//! XEP-0198 Stream Management (`urn:xmpp:sm:3`): the nonzas both ends exchange to count
//! stanzas (`<r/>`, `<a h/>`), to enable management (`<enable/>`, `<enabled/>`), to resume a
//! stream after a lost connection (`<resume/>`, `<resumed/>`) and to refuse either
//! (`<failed/>`). They are also carried inline by SASL2 (`<resume/>` in `<authenticate/>`,
//! `<resumed/>`/`<failed/>` in `<success/>`) and Bind2 (`<enable/>` in `<bind/>`,
//! `<enabled/>`/`<failed/>` in `<bound/>`).
//!
//! Written over minidom rather than taken from `xmpp_parsers::sm`: `<a/>` and `<r/>` travel
//! with every burst of stanzas in the browser, and xmpp-parsers' generated code for them
//! would weigh on the browser package. A test checks that xmpp-parsers reads what these
//! types write.
//!
//! Counters are `u32` and wrap at 2^32 (XEP-0198 §4): use [`wrapping_distance`] to compare.

use minidom::Element;

use crate::ns;
use crate::xml::{builder, expect, ncname, try_from_owned, with_attr};
use crate::ParseError;

/// XEP-0198 namespace (also [`ns::SM`]).
pub const NS_SM: &str = ns::SM;

/// How many stanzas lie between an older counter value and a newer one, modulo 2^32.
pub fn wrapping_distance(older: u32, newer: u32) -> u32 {
    newer.wrapping_sub(older)
}

/// A boolean attribute as XML Schema spells it (`true`/`1`, `false`/`0`).
fn bool_attr(
    elem: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<bool, ParseError> {
    match elem.attr(attribute) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ParseError::BadAttribute {
            element,
            attribute,
            reason: format!("'{other}' is not a boolean"),
        }),
    }
}

/// An unsigned 32-bit attribute (`h`, `max`).
fn u32_attr(
    elem: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<u32>, ParseError> {
    match elem.attr(attribute) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|_| ParseError::BadAttribute {
                element,
                attribute,
                reason: format!("'{v}' is not an unsigned 32-bit integer"),
            }),
    }
}

fn required_u32(
    elem: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<u32, ParseError> {
    u32_attr(elem, element, attribute)?.ok_or(ParseError::MissingAttribute { element, attribute })
}

fn required_str(
    elem: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<String, ParseError> {
    match elem.attr(attribute) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        Some(_) => Err(ParseError::BadAttribute {
            element,
            attribute,
            reason: "empty".into(),
        }),
        None => Err(ParseError::MissingAttribute { element, attribute }),
    }
}

/// `<enable xmlns='urn:xmpp:sm:3' [resume='true'] [max='SECONDS']/>`, sent by the client
/// after binding (or inline in a Bind2 `<bind/>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enable {
    /// The client wants the stream to be resumable.
    pub resume: bool,
    /// The client's preferred longest resumption time, in seconds.
    pub max: Option<u32>,
}

impl TryFrom<&Element> for Enable {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "enable", NS_SM)?;
        Ok(Enable {
            resume: bool_attr(elem, "enable", "resume")?,
            max: u32_attr(elem, "enable", "max")?,
        })
    }
}

impl From<Enable> for Element {
    fn from(e: Enable) -> Element {
        let b = with_attr(
            builder("enable", NS_SM),
            "resume",
            e.resume.then_some("true"),
        );
        with_attr(b, "max", e.max.map(|m| m.to_string())).build()
    }
}

/// `<enabled xmlns='urn:xmpp:sm:3' [id=…] [resume='true'] [max=…] [location=…]/>`: the
/// server's answer; counting starts here on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enabled {
    /// The SM-ID a `<resume/>` names (present when the stream is resumable).
    pub id: Option<String>,
    /// The stream may be resumed.
    pub resume: bool,
    /// How long (seconds) the server keeps the session after its connection is lost.
    pub max: Option<u32>,
    /// Where the server prefers the client to reconnect (`host:port`).
    pub location: Option<String>,
}

impl TryFrom<&Element> for Enabled {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "enabled", NS_SM)?;
        Ok(Enabled {
            id: elem.attr("id").map(str::to_owned),
            resume: bool_attr(elem, "enabled", "resume")?,
            max: u32_attr(elem, "enabled", "max")?,
            location: elem.attr("location").map(str::to_owned),
        })
    }
}

impl From<Enabled> for Element {
    fn from(e: Enabled) -> Element {
        let b = with_attr(builder("enabled", NS_SM), "id", e.id);
        let b = with_attr(b, "resume", e.resume.then_some("true"));
        let b = with_attr(b, "max", e.max.map(|m| m.to_string()));
        with_attr(b, "location", e.location).build()
    }
}

/// `<resume xmlns='urn:xmpp:sm:3' previd=… h=…/>`: the client asks for its former stream,
/// saying how many stanzas of it it handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The SM-ID of the former stream.
    pub previd: String,
    /// Stanzas the client handled from the server on the former stream.
    pub h: u32,
}

impl TryFrom<&Element> for Resume {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "resume", NS_SM)?;
        Ok(Resume {
            previd: required_str(elem, "resume", "previd")?,
            h: required_u32(elem, "resume", "h")?,
        })
    }
}

impl From<Resume> for Element {
    fn from(r: Resume) -> Element {
        builder("resume", NS_SM)
            .attr(ncname("previd"), r.previd)
            .attr(ncname("h"), r.h.to_string())
            .build()
    }
}

/// `<resumed xmlns='urn:xmpp:sm:3' previd=… h=…/>`: the former stream continues; `h` is
/// how many stanzas of it the server handled. The server then sends again every stanza
/// after the client's `h`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The SM-ID of the resumed stream.
    pub previd: String,
    /// Stanzas the server handled from the client.
    pub h: u32,
}

impl TryFrom<&Element> for Resumed {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "resumed", NS_SM)?;
        Ok(Resumed {
            previd: required_str(elem, "resumed", "previd")?,
            h: required_u32(elem, "resumed", "h")?,
        })
    }
}

impl From<Resumed> for Element {
    fn from(r: Resumed) -> Element {
        builder("resumed", NS_SM)
            .attr(ncname("previd"), r.previd)
            .attr(ncname("h"), r.h.to_string())
            .build()
    }
}

/// `<failed xmlns='urn:xmpp:sm:3' [h=…]><CONDITION xmlns='…xmpp-stanzas'/></failed>`: an
/// `<enable/>` or `<resume/>` refused. After a refused resume, `h` (when the server still
/// remembers the stream) says how many of the client's stanzas it handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// Stanzas of the former stream the server handled, when known.
    pub h: Option<u32>,
    /// The stanza error condition (`item-not-found`, `unexpected-request`, …).
    pub condition: Option<String>,
}

impl Failed {
    /// A `<failed/>` with this condition and no `h`.
    pub fn new(condition: &str) -> Failed {
        Failed {
            h: None,
            condition: Some(condition.to_owned()),
        }
    }
}

impl TryFrom<&Element> for Failed {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "failed", NS_SM)?;
        Ok(Failed {
            h: u32_attr(elem, "failed", "h")?,
            condition: elem
                .children()
                .find(|c| c.ns() == ns::STANZAS_ERR)
                .map(|c| c.name().to_owned()),
        })
    }
}

impl From<Failed> for Element {
    fn from(f: Failed) -> Element {
        let mut b = with_attr(builder("failed", NS_SM), "h", f.h.map(|h| h.to_string()));
        if let Some(c) = f.condition {
            b = b.append(Element::builder(c, ns::STANZAS_ERR).build());
        }
        b.build()
    }
}

/// `<a xmlns='urn:xmpp:sm:3' h=…/>`: stanzas handled so far (modulo 2^32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Stanzas handled since management was enabled.
    pub h: u32,
}

impl TryFrom<&Element> for Ack {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "a", NS_SM)?;
        Ok(Ack {
            h: required_u32(elem, "a", "h")?,
        })
    }
}

impl From<Ack> for Element {
    fn from(a: Ack) -> Element {
        builder("a", NS_SM)
            .attr(ncname("h"), a.h.to_string())
            .build()
    }
}

/// `<r xmlns='urn:xmpp:sm:3'/>`: asks the peer for an `<a/>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckRequest;

impl TryFrom<&Element> for AckRequest {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "r", NS_SM)?;
        Ok(AckRequest)
    }
}

impl From<AckRequest> for Element {
    fn from(_: AckRequest) -> Element {
        builder("r", NS_SM).build()
    }
}

/// `<handled-count-too-high xmlns='urn:xmpp:sm:3' h=… send-count=…/>`, the application
/// condition of the `undefined-condition` stream error sent when a peer acknowledges more
/// stanzas than it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandledCountTooHigh {
    /// What the peer acknowledged.
    pub h: u32,
    /// What was sent.
    pub send_count: u32,
}

impl TryFrom<&Element> for HandledCountTooHigh {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "handled-count-too-high", NS_SM)?;
        Ok(HandledCountTooHigh {
            h: required_u32(elem, "handled-count-too-high", "h")?,
            send_count: required_u32(elem, "handled-count-too-high", "send-count")?,
        })
    }
}

impl From<HandledCountTooHigh> for Element {
    fn from(e: HandledCountTooHigh) -> Element {
        builder("handled-count-too-high", NS_SM)
            .attr(ncname("h"), e.h.to_string())
            .attr(ncname("send-count"), e.send_count.to_string())
            .build()
    }
}

/// Any of the stream-management nonzas, for a reader that dispatches on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nonza {
    Enable(Enable),
    Enabled(Enabled),
    Resume(Resume),
    Resumed(Resumed),
    Failed(Failed),
    Ack(Ack),
    Request(AckRequest),
}

impl TryFrom<&Element> for Nonza {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        if elem.ns() != NS_SM {
            return Err(ParseError::WrongElement {
                expected: "a|r|enable|enabled|resume|resumed|failed",
                expected_ns: NS_SM,
                got: elem.name().to_owned(),
                got_ns: elem.ns(),
            });
        }
        Ok(match elem.name() {
            "enable" => Nonza::Enable(elem.try_into()?),
            "enabled" => Nonza::Enabled(elem.try_into()?),
            "resume" => Nonza::Resume(elem.try_into()?),
            "resumed" => Nonza::Resumed(elem.try_into()?),
            "failed" => Nonza::Failed(elem.try_into()?),
            "a" => Nonza::Ack(elem.try_into()?),
            "r" => Nonza::Request(elem.try_into()?),
            other => {
                return Err(ParseError::WrongElement {
                    expected: "a|r|enable|enabled|resume|resumed|failed",
                    expected_ns: NS_SM,
                    got: other.to_owned(),
                    got_ns: elem.ns(),
                })
            }
        })
    }
}

try_from_owned!(
    Enable,
    Enabled,
    Resume,
    Resumed,
    Failed,
    Ack,
    AckRequest,
    HandledCountTooHigh,
    Nonza
);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn round_trips() {
        let e = Enable {
            resume: true,
            max: Some(300),
        };
        assert_eq!(Enable::try_from(Element::from(e)).unwrap(), e);
        let en = Enabled {
            id: Some("abc".into()),
            resume: true,
            max: Some(300),
            location: None,
        };
        assert_eq!(Enabled::try_from(Element::from(en.clone())).unwrap(), en);
        let r = Resume {
            previd: "abc".into(),
            h: u32::MAX,
        };
        assert_eq!(Resume::try_from(Element::from(r.clone())).unwrap(), r);
        let f = Failed {
            h: Some(7),
            condition: Some("item-not-found".into()),
        };
        assert_eq!(Failed::try_from(Element::from(f.clone())).unwrap(), f);
        assert_eq!(Ack::try_from(Element::from(Ack { h: 3 })).unwrap().h, 3);
    }

    #[test]
    fn booleans_as_xml_schema_spells_them() {
        assert!(
            Enable::try_from(parse("<enable xmlns='urn:xmpp:sm:3' resume='1'/>"))
                .unwrap()
                .resume
        );
        assert!(
            !Enable::try_from(parse("<enable xmlns='urn:xmpp:sm:3'/>"))
                .unwrap()
                .resume
        );
        let err =
            Enable::try_from(parse("<enable xmlns='urn:xmpp:sm:3' resume='yes'/>")).unwrap_err();
        assert!(err.to_string().contains("'resume'"), "{err}");
    }

    #[test]
    fn errors_name_the_attribute() {
        let err = Ack::try_from(parse("<a xmlns='urn:xmpp:sm:3'/>")).unwrap_err();
        assert_eq!(
            err,
            ParseError::MissingAttribute {
                element: "a",
                attribute: "h"
            }
        );
        let err = Ack::try_from(parse("<a xmlns='urn:xmpp:sm:3' h='-1'/>")).unwrap_err();
        assert!(err.to_string().contains("'h'"), "{err}");
        let err = Ack::try_from(parse("<a xmlns='urn:xmpp:sm:3' h='4294967296'/>")).unwrap_err();
        assert!(err.to_string().contains("unsigned 32-bit"), "{err}");
        let err = Resume::try_from(parse("<resume xmlns='urn:xmpp:sm:3' h='1'/>")).unwrap_err();
        assert_eq!(
            err,
            ParseError::MissingAttribute {
                element: "resume",
                attribute: "previd"
            }
        );
    }

    #[test]
    fn nonza_dispatch() {
        assert_eq!(
            Nonza::try_from(parse("<r xmlns='urn:xmpp:sm:3'/>")).unwrap(),
            Nonza::Request(AckRequest)
        );
        assert!(matches!(
            Nonza::try_from(parse("<a xmlns='urn:xmpp:sm:3' h='2'/>")).unwrap(),
            Nonza::Ack(Ack { h: 2 })
        ));
        assert!(Nonza::try_from(parse("<x xmlns='urn:xmpp:sm:3'/>")).is_err());
        assert!(Nonza::try_from(parse("<r xmlns='urn:xmpp:sm:2'/>")).is_err());
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrapping_distance(u32::MAX, 1), 2);
        assert_eq!(wrapping_distance(5, 5), 0);
    }

    /// xmpp-parsers reads what these types write.
    #[test]
    fn xmpp_parsers_reads_ours() {
        use xmpp_parsers::sm as xp;
        let e = xp::Enable::try_from(Element::from(Enable {
            resume: true,
            max: Some(60),
        }))
        .unwrap();
        assert!(e.resume);
        assert_eq!(e.max, Some(60));
        let en = xp::Enabled::try_from(Element::from(Enabled {
            id: Some("x".into()),
            resume: true,
            max: Some(300),
            location: None,
        }))
        .unwrap();
        assert_eq!(en.id.unwrap().0, "x");
        let r = xp::Resume::try_from(Element::from(Resume {
            previd: "x".into(),
            h: 9,
        }))
        .unwrap();
        assert_eq!(r.h, 9);
        let r = xp::Resumed::try_from(Element::from(Resumed {
            previd: "x".into(),
            h: 4,
        }))
        .unwrap();
        assert_eq!(r.h, 4);
        let f = xp::Failed::try_from(Element::from(Failed {
            h: Some(2),
            condition: Some("item-not-found".into()),
        }))
        .unwrap();
        assert_eq!(f.h, Some(2));
        assert!(f.error.is_some());
        assert_eq!(xp::A::try_from(Element::from(Ack { h: 1 })).unwrap().h, 1);
        xp::R::try_from(Element::from(AckRequest)).unwrap();
        let t = xp::HandledCountTooHigh::try_from(Element::from(HandledCountTooHigh {
            h: 10,
            send_count: 8,
        }))
        .unwrap();
        assert_eq!(t.send_count, 8);
    }
}
