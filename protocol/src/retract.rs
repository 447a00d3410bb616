//! Message retraction (XEP-0424) and moderated retraction (XEP-0425), as a room and a
//! client speak them: [`Retract`] (an occupant's retraction, and the room's broadcast of a
//! moderation), [`Retracted`] (the tombstone the archive keeps in place of the message),
//! [`Moderated`] (who moderated) and [`ModerateRequest`] (a moderator's IQ).
//!
//! Written by hand: xmpp-parsers 0.23 has occupant-id, corrections and reactions (used
//! from it) but none of these elements. XEP-0425 has two wires in use: v0.3+
//! (`urn:xmpp:message-moderate:1`, current) and v0.2 (`<apply-to xmlns='urn:xmpp:fasten:0'>`
//! around `urn:xmpp:message-moderate:0`, still sent by older clients); [`ModerateRequest`]
//! reads both and [`LegacyModerated`] is the v0.2 broadcast a room adds for old clients.

use minidom::Element;

use super::xml::{builder, expect};
use super::{ns, ParseError};

/// `<moderated by='room/nick' xmlns='urn:xmpp:message-moderate:1'><occupant-id/></moderated>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moderated {
    /// The moderator's occupant JID (`room@service/nick`).
    pub by: String,
    /// The moderator's occupant-id (XEP-0421).
    pub occupant_id: Option<String>,
}

crate::xml::try_from_owned!(Moderated, Retract, Retracted, ModerateRequest);

impl TryFrom<&Element> for Moderated {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "moderated", ns::MODERATE)?;
        Ok(Moderated {
            by: required(elem, "moderated", "by")?,
            occupant_id: occupant_id_of(elem),
        })
    }
}

impl From<Moderated> for Element {
    fn from(m: Moderated) -> Element {
        let b = builder("moderated", ns::MODERATE).attr(crate::xml::ncname("by"), m.by);
        match m.occupant_id {
            // As xmpp-parsers' `OccupantId` writes it, over minidom (no xso in the SDK).
            Some(id) => b
                .append(builder("occupant-id", ns::OCCUPANT_ID).attr(crate::xml::ncname("id"), id))
                .build(),
            None => b.build(),
        }
    }
}

/// `<retract id=… xmlns='urn:xmpp:message-retract:1'>[<moderated/>][<reason/>]</retract>`:
/// an occupant retracting its own message (`id` = the room's stanza-id of it, or its
/// origin-id), or, with `moderated`, the room announcing a moderation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retract {
    pub id: String,
    pub moderated: Option<Moderated>,
    pub reason: Option<String>,
}

impl TryFrom<&Element> for Retract {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "retract", ns::RETRACT)?;
        Ok(Retract {
            id: required(elem, "retract", "id")?,
            moderated: moderated_of(elem)?,
            reason: reason_of(elem),
        })
    }
}

impl From<Retract> for Element {
    fn from(r: Retract) -> Element {
        let b = builder("retract", ns::RETRACT).attr(crate::xml::ncname("id"), r.id);
        with_moderation(b, r.moderated, r.reason)
    }
}

/// The tombstone (XEP-0424 §5.1, XEP-0425 §6): `<retracted stamp=… xmlns=
/// 'urn:xmpp:message-retract:1'>[<moderated/>][<reason/>]</retracted>`, in place of the
/// body and payload of a retracted message in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retracted {
    /// When it was retracted (XEP-0082).
    pub stamp: String,
    pub moderated: Option<Moderated>,
    pub reason: Option<String>,
}

impl TryFrom<&Element> for Retracted {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "retracted", ns::RETRACT)?;
        Ok(Retracted {
            stamp: required(elem, "retracted", "stamp")?,
            moderated: moderated_of(elem)?,
            reason: reason_of(elem),
        })
    }
}

impl From<Retracted> for Element {
    fn from(r: Retracted) -> Element {
        let b = builder("retracted", ns::RETRACT).attr(crate::xml::ncname("stamp"), r.stamp);
        with_moderation(b, r.moderated, r.reason)
    }
}

/// A moderator's request, the payload of an IQ set to the room: v0.3+
/// `<moderate id=… xmlns='urn:xmpp:message-moderate:1'><retract xmlns=
/// 'urn:xmpp:message-retract:1'/><reason/></moderate>`, or v0.2 `<apply-to id=…
/// xmlns='urn:xmpp:fasten:0'><moderate xmlns='urn:xmpp:message-moderate:0'><retract
/// xmlns='urn:xmpp:message-retract:0'/><reason/></moderate></apply-to>`. `id` is the room's
/// stanza-id of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModerateRequest {
    pub id: String,
    pub reason: Option<String>,
    /// Came as v0.2 (`apply-to`).
    pub legacy: bool,
}

impl TryFrom<&Element> for ModerateRequest {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        let (id, moderate, retract_ns, legacy) = if elem.is("apply-to", ns::FASTEN) {
            let m = elem
                .get_child("moderate", ns::MODERATE_0)
                .ok_or(ParseError::MissingChild {
                    element: "apply-to",
                    child: "moderate",
                })?;
            (required(elem, "apply-to", "id")?, m, ns::RETRACT_0, true)
        } else {
            expect(elem, "moderate", ns::MODERATE)?;
            (required(elem, "moderate", "id")?, elem, ns::RETRACT, false)
        };
        // Retraction is the only moderation action there is (XEP-0425 §1).
        if !moderate.has_child("retract", retract_ns) {
            return Err(ParseError::MissingChild {
                element: "moderate",
                child: "retract",
            });
        }
        Ok(ModerateRequest {
            id,
            reason: reason_of(moderate),
            legacy,
        })
    }
}

impl From<ModerateRequest> for Element {
    fn from(r: ModerateRequest) -> Element {
        let (m_ns, r_ns) = if r.legacy {
            (ns::MODERATE_0, ns::RETRACT_0)
        } else {
            (ns::MODERATE, ns::RETRACT)
        };
        let mut m = builder("moderate", m_ns);
        if !r.legacy {
            m = m.attr(crate::xml::ncname("id"), r.id.clone());
        }
        m = m.append(builder("retract", r_ns).build());
        if let Some(reason) = r.reason {
            m = m.append(builder("reason", m_ns).append(reason).build());
        }
        if r.legacy {
            builder("apply-to", ns::FASTEN)
                .attr(crate::xml::ncname("id"), r.id)
                .append(m.build())
                .build()
        } else {
            m.build()
        }
    }
}

/// The v0.2 broadcast of a moderation (XEP-0425 v0.2 §4), which a room sends beside the
/// current [`Retract`] so clients that only know v0.2 apply it too: `<apply-to id=…
/// xmlns='urn:xmpp:fasten:0'><moderated by=… xmlns='urn:xmpp:message-moderate:0'><retract
/// xmlns='urn:xmpp:message-retract:0'/><reason/></moderated></apply-to>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyModerated {
    pub id: String,
    pub by: String,
    pub reason: Option<String>,
}

impl From<LegacyModerated> for Element {
    fn from(l: LegacyModerated) -> Element {
        let mut m = builder("moderated", ns::MODERATE_0)
            .attr(crate::xml::ncname("by"), l.by)
            .append(builder("retract", ns::RETRACT_0).build());
        if let Some(reason) = l.reason {
            m = m.append(builder("reason", ns::MODERATE_0).append(reason).build());
        }
        builder("apply-to", ns::FASTEN)
            .attr(crate::xml::ncname("id"), l.id)
            .append(m.build())
            .build()
    }
}

fn required(
    elem: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<String, ParseError> {
    elem.attr(attribute)
        .map(str::to_owned)
        .ok_or(ParseError::MissingAttribute { element, attribute })
}

fn occupant_id_of(elem: &Element) -> Option<String> {
    elem.get_child("occupant-id", ns::OCCUPANT_ID)
        .and_then(|o| o.attr("id"))
        .map(str::to_owned)
}

fn moderated_of(elem: &Element) -> Result<Option<Moderated>, ParseError> {
    elem.get_child("moderated", ns::MODERATE)
        .map(Moderated::try_from)
        .transpose()
}

/// `<reason/>`: in the retract namespace inside `<retract/>`/`<retracted/>` (XEP-0425
/// v0.3 §4), in the moderate namespace inside a request; either is read.
fn reason_of(elem: &Element) -> Option<String> {
    elem.children()
        .find(|c| c.name() == "reason")
        .map(Element::text)
}

fn with_moderation(
    mut b: minidom::ElementBuilder,
    moderated: Option<Moderated>,
    reason: Option<String>,
) -> Element {
    if let Some(m) = moderated {
        b = b.append(Element::from(m));
    }
    if let Some(reason) = reason {
        b = b.append(builder("reason", ns::RETRACT).append(reason).build());
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moderation_round_trips_in_both_versions() {
        for legacy in [false, true] {
            let r = ModerateRequest {
                id: "42".into(),
                reason: Some("spam".into()),
                legacy,
            };
            let el = Element::from(r.clone());
            assert_eq!(ModerateRequest::try_from(&el).unwrap(), r);
        }
    }

    #[test]
    fn converse_style_moderation_parses() {
        let el: Element = "<moderate xmlns='urn:xmpp:message-moderate:1' id='7'>\
            <retract xmlns='urn:xmpp:message-retract:1'/><reason>off topic</reason></moderate>"
            .parse()
            .unwrap();
        let r = ModerateRequest::try_from(el).unwrap();
        assert_eq!(
            (r.id.as_str(), r.reason.as_deref()),
            ("7", Some("off topic"))
        );
        let no_action: Element = "<moderate xmlns='urn:xmpp:message-moderate:1' id='7'/>"
            .parse()
            .unwrap();
        assert!(ModerateRequest::try_from(no_action).is_err());
    }

    #[test]
    fn a_moderated_tombstone_round_trips() {
        let t = Retracted {
            stamp: "2026-12-06T10:00:00Z".into(),
            moderated: Some(Moderated {
                by: "room@muc.example/mod".into(),
                occupant_id: Some("abc".into()),
            }),
            reason: Some("spam".into()),
        };
        assert_eq!(Retracted::try_from(Element::from(t.clone())).unwrap(), t);
        // The occupant-id built over minidom is the element xmpp-parsers built before.
        let moderated = Element::from(t.moderated.clone().unwrap());
        let occupant = xmpp_parsers::occupant_id::OccupantId { id: "abc".into() };
        assert_eq!(
            moderated.get_child("occupant-id", ns::OCCUPANT_ID),
            Some(&Element::from(occupant))
        );
        let r = Retract {
            id: "9".into(),
            moderated: None,
            reason: None,
        };
        assert_eq!(Retract::try_from(Element::from(r.clone())).unwrap(), r);
        let bad: Element = "<retract xmlns='urn:xmpp:message-retract:1'/>"
            .parse()
            .unwrap();
        assert!(Retract::try_from(bad).is_err());
    }
}
