//! Small helpers for building and serialising stanzas.

use crate::ns;
use minidom::Element;
use std::sync::Arc;

/// Serialises an element (with its own `xmlns`, so it stands alone in a WebSocket frame
/// and is also valid inside a `jabber:client` TCP stream).
pub fn to_xml(el: &Element) -> String {
    let mut out = Vec::new();
    if let Err(e) = el.write_to(&mut out) {
        tracing::warn!(error = %e, "could not serialise an element");
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Sets (or replaces) an unprefixed attribute.
pub fn set_attr(el: &mut Element, name: &str, value: &str) {
    let Ok(name) = rxml::NcName::try_from(name) else {
        return;
    };
    el.attrs_mut()
        .insert(rxml::Namespace::NONE, name, value.to_owned());
}

/// Removes an unprefixed attribute.
pub fn remove_attr(el: &mut Element, name: &str) {
    el.attrs_mut().remove(rxml::Namespace::none(), name);
}

/// Escapes text for an XML attribute value.
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

/// A stanza serialised once and sent to many recipients that differ only in `to`
/// (MUC fan-out). Cheap to clone (`Arc`) and to render.
#[derive(Debug)]
pub struct Template {
    head: String,
    tail: String,
}

impl Template {
    /// Serialises `el`; its `to` attribute is replaced at render time.
    pub fn new(el: &Element) -> Arc<Template> {
        // Random, so no attribute or text a user controls (a nick, a body) can contain it.
        let marker = format!("tpl{:032x}", rand::random::<u128>());
        let mut el = el.clone();
        set_attr(&mut el, "to", &marker);
        let xml = to_xml(&el);
        let (head, tail) = match xml.find(&marker) {
            Some(i) => (xml[..i].to_owned(), xml[i + marker.len()..].to_owned()),
            None => (xml, String::new()),
        };
        Arc::new(Template { head, tail })
    }

    /// The stanza addressed to `to`.
    pub fn render(&self, to: &str) -> String {
        let to = escape_attr(to);
        let mut s = String::with_capacity(self.head.len() + to.len() + self.tail.len());
        s.push_str(&self.head);
        s.push_str(&to);
        s.push_str(&self.tail);
        s
    }
}

/// What a session task writes to its client.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Stanza(Element),
    /// An already serialised stanza (with `xmlns='jabber:client'`).
    Xml(Arc<str>),
    /// A shared template rendered with this `to`.
    Template(Arc<Template>, Arc<str>),
    /// End the session with this stream error condition (e.g. `conflict`).
    Kick(&'static str),
}

/// The stanza-level error type (RFC 6120 8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Auth,
    Cancel,
    Continue,
    Modify,
    Wait,
}

impl ErrorType {
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

/// The `<error/>` element.
pub fn error_element(etype: ErrorType, condition: &str, text: Option<&str>) -> Element {
    let mut b = Element::builder("error", ns::CLIENT)
        .attr(
            rxml::NcName::try_from("type").expect("static name"),
            etype.as_str(),
        )
        .append(Element::builder(condition, ns::STANZAS_ERR).build());
    if let Some(t) = text {
        b = b.append(Element::builder("text", ns::STANZAS_ERR).append(t).build());
    }
    b.build()
}

/// An error reply to `orig`: `from`/`to` swapped, `type='error'`, the original payload
/// echoed (RFC 6120 8.3.1), then `<error/>`.
pub fn error_reply(
    orig: &Element,
    etype: ErrorType,
    condition: &str,
    text: Option<&str>,
) -> Element {
    let mut el = Element::builder(orig.name(), ns::CLIENT).build();
    for name in ["id", "xml:lang"] {
        if let Some(v) = orig.attr(name) {
            set_attr(&mut el, name, v);
        }
    }
    if let Some(to) = orig.attr("from") {
        set_attr(&mut el, "to", to);
    }
    if let Some(from) = orig.attr("to") {
        set_attr(&mut el, "from", from);
    }
    set_attr(&mut el, "type", "error");
    for child in orig.children() {
        if child.name() != "error" {
            el.append_child(child.clone());
        }
    }
    el.append_child(error_element(etype, condition, text));
    el
}

/// An empty `type='result'` reply to an IQ.
pub fn iq_result(orig: &Element, payload: Option<Element>) -> Element {
    let mut el = Element::builder("iq", ns::CLIENT).build();
    if let Some(id) = orig.attr("id") {
        set_attr(&mut el, "id", id);
    }
    if let Some(to) = orig.attr("from") {
        set_attr(&mut el, "to", to);
    }
    if let Some(from) = orig.attr("to") {
        set_attr(&mut el, "from", from);
    }
    set_attr(&mut el, "type", "result");
    if let Some(p) = payload {
        el.append_child(p);
    }
    el
}

/// Whether a stanza may be answered with an error (never answer an error or a result).
pub fn may_bounce(el: &Element) -> bool {
    !matches!(el.attr("type"), Some("error") | Some("result"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_renders_escaped_to() {
        let el: Element =
            "<message xmlns='jabber:client' from='r@c/n' type='groupchat'><body>x</body></message>"
                .parse()
                .unwrap();
        let t = Template::new(&el);
        let out = t.render("a'b@localhost/r");
        let back: Element = out.parse().unwrap();
        assert_eq!(back.attr("to"), Some("a'b@localhost/r"));
        assert_eq!(back.attr("from"), Some("r@c/n"));
        assert_eq!(back.get_child("body", ns::CLIENT).unwrap().text(), "x");
    }

    #[test]
    fn error_reply_swaps_and_echoes() {
        let el: Element = "<iq xmlns='jabber:client' from='a@l/r' to='l' id='7' type='get'><q xmlns='urn:x'/></iq>"
            .parse()
            .unwrap();
        let e = error_reply(&el, ErrorType::Cancel, "service-unavailable", None);
        assert_eq!(e.attr("to"), Some("a@l/r"));
        assert_eq!(e.attr("from"), Some("l"));
        assert_eq!(e.attr("type"), Some("error"));
        assert!(e.has_child("q", "urn:x"));
        let err = e.get_child("error", ns::CLIENT).unwrap();
        assert_eq!(err.attr("type"), Some("cancel"));
        assert!(err.has_child("service-unavailable", ns::STANZAS_ERR));
    }
}
