//! Replies to stanzas: the `<error/>` element, an error reply and an IQ result (RFC 6120
//! 8.3). One definition for every part of the server (c2s, router, MUC, push) and for the
//! SDK.
//!
//! Written over minidom rather than with `xmpp_parsers::stanza_error::StanzaError`: the
//! callers name conditions with their RFC 6120 strings (many come from tables and from
//! refusals computed elsewhere), and an error reply echoes the request's payload, which
//! the typed `Iq` of xmpp-parsers cannot carry through unchanged.

use std::fmt;
use std::str::FromStr;

use minidom::Element;

use crate::ns;
use crate::xml::{builder, ncname, with_attr};

/// The stanza-level error type (RFC 6120 8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Retry after providing credentials.
    Auth,
    /// Do not retry (the error cannot be remedied).
    Cancel,
    /// Proceed (the condition was only a warning).
    Continue,
    /// Retry after changing the data sent.
    Modify,
    /// Retry after waiting (the error is temporary).
    Wait,
}

impl ErrorType {
    /// The `type` attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "auth" => ErrorType::Auth,
            "cancel" => ErrorType::Cancel,
            "continue" => ErrorType::Continue,
            "modify" => ErrorType::Modify,
            "wait" => ErrorType::Wait,
            _ => return Err(()),
        })
    }
}

/// Why a request is refused: the type, RFC 6120 condition and human-readable text of the
/// error reply it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Error type.
    pub kind: ErrorType,
    /// Defined condition (`bad-request`, `forbidden`…).
    pub condition: &'static str,
    /// The `<text/>`; none when empty.
    pub text: String,
}

impl Refusal {
    /// A refusal of this type, condition and text.
    pub fn new(kind: ErrorType, condition: &'static str, text: impl Into<String>) -> Self {
        Refusal {
            kind,
            condition,
            text: text.into(),
        }
    }

    /// `modify` / `bad-request`.
    pub fn bad_request(text: impl Into<String>) -> Self {
        Refusal::new(ErrorType::Modify, "bad-request", text)
    }

    /// The error reply to `req`.
    pub fn reply_to(&self, req: &Element) -> Element {
        error_reply(req, self.kind, self.condition, Some(&self.text))
    }
}

/// The `<error type=…><condition/><text/></error>` element; no `<text/>` when `text` is
/// `None` or empty.
pub fn error_element(etype: ErrorType, condition: &str, text: Option<&str>) -> Element {
    let mut b = builder("error", ns::CLIENT)
        .attr(ncname("type"), etype.as_str())
        .append(Element::bare(condition, ns::STANZAS_ERR));
    if let Some(t) = text.filter(|t| !t.is_empty()) {
        b = b.append(builder("text", ns::STANZAS_ERR).append(t).build());
    }
    b.build()
}

/// A reply to `orig` with its `id`, `from`/`to` swapped and the given `type`.
fn reply_to(orig: &Element, name: &str, kind: &'static str) -> Element {
    let b = Element::builder(name, ns::CLIENT);
    let b = with_attr(b, "id", orig.attr("id"));
    let b = with_attr(b, "to", orig.attr("from"));
    let b = with_attr(b, "from", orig.attr("to"));
    b.attr(ncname("type"), kind).build()
}

/// An error reply to `orig`: same element name and id, `from`/`to` swapped,
/// `type='error'`, the original payload echoed (RFC 6120 8.3.1, as XEP-0045 and ejabberd
/// do), then `<error/>`.
pub fn error_reply(
    orig: &Element,
    etype: ErrorType,
    condition: &str,
    text: Option<&str>,
) -> Element {
    let mut el = reply_to(orig, orig.name(), "error");
    for child in orig.children().filter(|c| c.name() != "error") {
        el.append_child(child.clone());
    }
    el.append_child(error_element(etype, condition, text));
    el
}

/// A `type='result'` reply to an IQ, empty or with a payload.
pub fn iq_result(orig: &Element, payload: Option<Element>) -> Element {
    let mut el = reply_to(orig, "iq", "result");
    if let Some(p) = payload {
        el.append_child(p);
    }
    el
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_reply_swaps_and_echoes() {
        let el: Element = "<iq xmlns='jabber:client' from='a@l/r' to='l' id='7' type='get'><q xmlns='urn:x'/><error type='cancel'/></iq>"
            .parse()
            .unwrap();
        let e = error_reply(&el, ErrorType::Cancel, "service-unavailable", None);
        assert_eq!(e.name(), "iq");
        assert_eq!(e.attr("id"), Some("7"));
        assert_eq!(e.attr("to"), Some("a@l/r"));
        assert_eq!(e.attr("from"), Some("l"));
        assert_eq!(e.attr("type"), Some("error"));
        assert!(e.has_child("q", "urn:x"));
        assert_eq!(e.children().filter(|c| c.name() == "error").count(), 1);
        let err = e.get_child("error", ns::CLIENT).unwrap();
        assert_eq!(err.attr("type"), Some("cancel"));
        assert!(err.has_child("service-unavailable", ns::STANZAS_ERR));
        assert!(!err.has_child("text", ns::STANZAS_ERR));
    }

    #[test]
    fn error_text_is_optional() {
        let with = error_element(ErrorType::Auth, "forbidden", Some("No"));
        assert_eq!(
            with.get_child("text", ns::STANZAS_ERR).unwrap().text(),
            "No"
        );
        let empty = error_element(ErrorType::Auth, "forbidden", Some(""));
        assert!(!empty.has_child("text", ns::STANZAS_ERR));
    }

    #[test]
    fn iq_result_addresses_the_requester() {
        let el: Element = "<iq xmlns='jabber:client' from='a@l/r' id='9' type='set'/>"
            .parse()
            .unwrap();
        let r = iq_result(&el, Some(Element::bare("q", "urn:x")));
        assert_eq!(
            (r.attr("type"), r.attr("id"), r.attr("to"), r.attr("from")),
            (Some("result"), Some("9"), Some("a@l/r"), None)
        );
        assert!(r.has_child("q", "urn:x"));
    }

    #[test]
    fn refusals_become_error_replies() {
        let el: Element = "<message xmlns='jabber:client' from='a@l/r' to='r@c' id='1'/>"
            .parse()
            .unwrap();
        let e = Refusal::bad_request("No").reply_to(&el);
        assert_eq!((e.name(), e.attr("type")), ("message", Some("error")));
        let err = e.get_child("error", ns::CLIENT).unwrap();
        assert_eq!(err.attr("type"), Some("modify"));
        assert!(err.has_child("bad-request", ns::STANZAS_ERR));
        assert_eq!(err.get_child("text", ns::STANZAS_ERR).unwrap().text(), "No");
    }

    #[test]
    fn error_types_round_trip() {
        for t in [
            ErrorType::Auth,
            ErrorType::Cancel,
            ErrorType::Continue,
            ErrorType::Modify,
            ErrorType::Wait,
        ] {
            assert_eq!(t.as_str().parse::<ErrorType>(), Ok(t));
        }
        assert!("later".parse::<ErrorType>().is_err());
    }
}
