//! Small helpers over minidom so the hand-written parsers stay short.

use minidom::rxml::NcName;
use minidom::Element;

use super::ParseError;

/// `TryFrom<Element>` for types that parse from `&Element`, written once for all of them.
macro_rules! try_from_owned {
    ($($t:ty),+ $(,)?) => {$(
        impl TryFrom<minidom::Element> for $t {
            type Error = $crate::ParseError;
            fn try_from(elem: minidom::Element) -> Result<Self, $crate::ParseError> {
                <$t>::try_from(&elem)
            }
        }
    )+};
}
pub(crate) use try_from_owned;

/// Attribute names used by this crate are static and valid NCNames; an invalid one is a
/// programming error caught by the unit tests, never by input.
pub fn ncname(name: &'static str) -> NcName {
    NcName::try_from(name).expect("static attribute names are valid NCNames")
}

/// Start building `<name xmlns=ns/>`.
pub fn builder(name: &'static str, ns: &'static str) -> minidom::ElementBuilder {
    Element::builder(name, ns)
}

/// Set an attribute on an element being built when the value is present.
pub fn with_attr(
    b: minidom::ElementBuilder,
    name: &'static str,
    value: Option<impl Into<String>>,
) -> minidom::ElementBuilder {
    match value {
        Some(v) => b.attr(ncname(name), v.into()),
        None => b,
    }
}

/// Check name and namespace of `elem`.
pub fn expect(elem: &Element, name: &'static str, ns: &'static str) -> Result<(), ParseError> {
    if elem.name() == name && elem.ns() == ns {
        Ok(())
    } else {
        Err(ParseError::WrongElement {
            expected: name,
            expected_ns: ns,
            got: elem.name().to_owned(),
            got_ns: elem.ns(),
        })
    }
}

/// Parse an optional account attribute: a bare JID, or a full one reduced to its account
/// (subscriptions are per account, and clients send either).
pub fn account_attr(
    elem: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<jid::BareJid>, ParseError> {
    Ok(jid_attr(elem, element, attribute)?.map(|j| j.to_bare()))
}

/// Parse an optional (bare or full) JID attribute.
pub fn jid_attr(
    elem: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<jid::Jid>, ParseError> {
    match elem.attr(attribute) {
        None => Ok(None),
        Some(s) => jid::Jid::new(s)
            .map(Some)
            .map_err(|e| ParseError::BadAttribute {
                element,
                attribute,
                reason: e.to_string(),
            }),
    }
}

/// Escapes text for an XML attribute value (either quote style).
pub fn escape_attr(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\'' => o.push_str("&apos;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

/// Builds `<name xmlns=ns>text</name>`.
pub fn text_element(name: &'static str, ns: &'static str, text: impl Into<String>) -> Element {
    builder(name, ns).append(text.into()).build()
}
