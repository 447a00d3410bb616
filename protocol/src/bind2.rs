//! XEP-0386 Bind 2 (`urn:xmpp:bind:0`): resource binding inside a SASL2 `<authenticate/>`,
//! with stream management (`<enable xmlns='urn:xmpp:sm:3'/>`) and Client State Indication
//! (`<active/>`/`<inactive/>` in `urn:xmpp:csi:0`) negotiated in the same step.
//!
//! Over minidom (like [`crate::sm`]) so the browser package does not carry xmpp-parsers'
//! generated code for it; a test checks that xmpp-parsers reads what these types write.

use minidom::Element;

use crate::ns;
use crate::sm::{Enable, Enabled, Failed};
use crate::xml::{builder, expect, ncname, text_element, try_from_owned};
use crate::ParseError;

/// XEP-0386 namespace (also [`ns::BIND2`]).
pub const NS_BIND2: &str = ns::BIND2;

/// The stream feature inside SASL2's `<inline/>`:
/// `<bind xmlns='urn:xmpp:bind:0'><inline><feature var=…/>…</inline></bind>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindFeature {
    /// The namespaces that may be negotiated inside the bind request.
    pub inline: Vec<String>,
}

impl TryFrom<&Element> for BindFeature {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "bind", NS_BIND2)?;
        let inline = elem
            .get_child("inline", NS_BIND2)
            .map(|i| {
                i.children()
                    .filter(|f| f.is("feature", NS_BIND2))
                    .filter_map(|f| f.attr("var").map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(BindFeature { inline })
    }
}

impl From<BindFeature> for Element {
    fn from(f: BindFeature) -> Element {
        let mut b = builder("bind", NS_BIND2);
        if !f.inline.is_empty() {
            let mut inline = builder("inline", NS_BIND2);
            for var in f.inline {
                inline = inline.append(
                    builder("feature", NS_BIND2)
                        .attr(ncname("var"), var)
                        .build(),
                );
            }
            b = b.append(inline.build());
        }
        b.build()
    }
}

/// The client's request, a child of `<authenticate/>`:
/// `<bind xmlns='urn:xmpp:bind:0'><tag>…</tag><enable xmlns='urn:xmpp:sm:3'/><inactive xmlns='urn:xmpp:csi:0'/></bind>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindRequest {
    /// A short name of the client software, the prefix of the generated resource.
    pub tag: Option<String>,
    /// Stream management to enable on the new session.
    pub sm: Option<Enable>,
    /// The session's initial XEP-0352 state: `Some(true)` for `<inactive/>`, `Some(false)`
    /// for `<active/>`.
    pub inactive: Option<bool>,
}

impl TryFrom<&Element> for BindRequest {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "bind", NS_BIND2)?;
        let mut out = BindRequest::default();
        for child in elem.children() {
            if child.is("tag", NS_BIND2) {
                let tag = child.text().trim().to_owned();
                out.tag = (!tag.is_empty()).then_some(tag);
            } else if child.is("enable", ns::SM) {
                out.sm = Some(Enable::try_from(child).map_err(|e| ParseError::BadChild {
                    element: "bind",
                    child: "enable",
                    reason: e.to_string(),
                })?);
            } else if child.is("inactive", ns::CSI) {
                out.inactive = Some(true);
            } else if child.is("active", ns::CSI) {
                out.inactive = Some(false);
            }
            // Other features (carbons, …) are not offered inline: ignored, as XEP-0386 lets
            // a server do with what it did not advertise.
        }
        Ok(out)
    }
}

impl From<BindRequest> for Element {
    fn from(r: BindRequest) -> Element {
        let mut b = builder("bind", NS_BIND2);
        if let Some(tag) = r.tag {
            b = b.append(text_element("tag", NS_BIND2, tag));
        }
        if let Some(e) = r.sm {
            b = b.append(Element::from(e));
        }
        match r.inactive {
            Some(true) => b = b.append(builder("inactive", ns::CSI).build()),
            Some(false) => b = b.append(builder("active", ns::CSI).build()),
            None => {}
        }
        b.build()
    }
}

/// The server's answer inside `<success/>`: `<bound xmlns='urn:xmpp:bind:0'>` with the
/// `<enabled/>` (or `<failed/>`) of an inline stream-management request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bound {
    /// Stream management enabled on the new session.
    pub enabled: Option<Enabled>,
    /// Stream management requested but refused.
    pub failed: Option<Failed>,
}

impl TryFrom<&Element> for Bound {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "bound", NS_BIND2)?;
        let enabled = elem
            .get_child("enabled", ns::SM)
            .map(Enabled::try_from)
            .transpose()?;
        let failed = elem
            .get_child("failed", ns::SM)
            .map(Failed::try_from)
            .transpose()?;
        Ok(Bound { enabled, failed })
    }
}

impl From<Bound> for Element {
    fn from(b: Bound) -> Element {
        let mut e = builder("bound", NS_BIND2);
        if let Some(en) = b.enabled {
            e = e.append(Element::from(en));
        }
        if let Some(f) = b.failed {
            e = e.append(Element::from(f));
        }
        e.build()
    }
}

try_from_owned!(BindFeature, BindRequest, Bound);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_reads_the_spec_example() {
        let r = BindRequest {
            tag: Some("mucsub-web".into()),
            sm: Some(Enable {
                resume: true,
                max: None,
            }),
            inactive: Some(true),
        };
        assert_eq!(BindRequest::try_from(Element::from(r.clone())).unwrap(), r);
        let spec: Element = "<bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag><enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='urn:xmpp:sm:3'/><inactive xmlns='urn:xmpp:csi:0'/></bind>".parse().unwrap();
        let r = BindRequest::try_from(spec).unwrap();
        assert_eq!(r.tag.as_deref(), Some("AwesomeXMPP"));
        assert_eq!(r.sm, Some(Enable::default()));
        assert_eq!(r.inactive, Some(true));
    }

    #[test]
    fn bad_inline_enable_names_the_child() {
        let el: Element =
            "<bind xmlns='urn:xmpp:bind:0'><enable xmlns='urn:xmpp:sm:3' max='x'/></bind>"
                .parse()
                .unwrap();
        let err = BindRequest::try_from(el).unwrap_err();
        assert!(err.to_string().contains("<enable/>"), "{err}");
    }

    #[test]
    fn bound_and_feature_round_trip() {
        let b = Bound {
            enabled: Some(Enabled {
                id: Some("i".into()),
                resume: true,
                max: Some(300),
                location: None,
            }),
            failed: None,
        };
        assert_eq!(Bound::try_from(Element::from(b.clone())).unwrap(), b);
        let f = BindFeature {
            inline: vec![ns::SM.into(), ns::CSI.into()],
        };
        assert_eq!(BindFeature::try_from(Element::from(f.clone())).unwrap(), f);
    }

    #[test]
    fn xmpp_parsers_reads_ours() {
        use xmpp_parsers::bind2 as xp;
        let f = xp::BindFeature::try_from(Element::from(BindFeature {
            inline: vec![ns::SM.into()],
        }))
        .unwrap();
        assert_eq!(f.inline_features, vec![ns::SM.to_owned()]);
        let q = xp::BindQuery::try_from(Element::from(BindRequest {
            tag: Some("t".into()),
            sm: Some(Enable::default()),
            inactive: None,
        }))
        .unwrap();
        assert_eq!(q.tag.as_deref(), Some("t"));
        assert_eq!(q.payloads.len(), 1);
        let b = xp::Bound::try_from(Element::from(Bound::default())).unwrap();
        assert!(b.payloads.is_empty());
    }
}
