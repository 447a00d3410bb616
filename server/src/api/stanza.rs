//! `send_stanza`'s XML, read with the wire's own parser and limits (no DTD, no entities,
//! the stanza size and depth of `[limits]`): an API call is no way around them. The stanza
//! is written without a namespace, as ejabberd takes it, and read as `jabber:client`.

use minidom::Element;

use crate::ns;
use crate::xmlstream::{Framing, Limits, StreamEvent, StreamParser};

/// The stanza in `xml`: one `<message/>`, `<presence/>` or `<iq/>`.
pub fn parse(xml: &str, limits: Limits) -> Result<Element, String> {
    let mut p = StreamParser::new(Framing::Stream, limits);
    let open = format!(
        "<stream:stream xmlns='{}' xmlns:stream='{}'>",
        ns::CLIENT,
        ns::STREAM
    );
    p.feed(open.as_bytes())
        .and_then(|()| p.feed(xml.as_bytes()))
        .map_err(|e| format!("Invalid XML: {e}"))?;
    let mut stanza = None;
    while let Some(ev) = p.next_event() {
        if let StreamEvent::Stanza(el) = ev {
            if stanza.replace(el).is_some() {
                return Err("Invalid XML: more than one element".into());
            }
        }
    }
    let stanza = stanza.ok_or_else(|| "Invalid XML: no complete element".to_owned())?;
    if !(stanza.ns() == ns::CLIENT && matches!(stanza.name(), "message" | "presence" | "iq")) {
        return Err("The stanza must be a message, a presence or an iq".into());
    }
    Ok(stanza)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_stanza: 1024,
        max_depth: 8,
    };

    #[test]
    fn a_stanza_without_namespace_is_read_as_a_client_stanza() {
        let el = parse("<message type='chat'><body>raw</body></message>", LIMITS).unwrap();
        assert_eq!(el.name(), "message");
        assert_eq!(el.get_child("body", ns::CLIENT).unwrap().text(), "raw");
    }

    #[test]
    fn bad_xml_and_other_elements_are_refused() {
        for bad in [
            "<message",
            "<message/><message/>",
            "<foo/>",
            "<message xmlns='urn:other'/>",
            "<!DOCTYPE x [<!ENTITY a 'b'>]><message/>",
            "text",
        ] {
            assert!(parse(bad, LIMITS).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(20) + &"</a>".repeat(20);
        assert!(parse(&format!("<message>{deep}</message>"), LIMITS).is_err());
        let big = format!("<message><body>{}</body></message>", "x".repeat(2000));
        assert!(parse(&big, LIMITS).is_err());
    }
}
