//! Small helpers for building and serialising stanzas. Replies (`error_reply`,
//! `iq_result`) are the shared ones of `mucsub_protocol::stanza`, re-exported here.

use minidom::Element;
use std::sync::Arc;

pub use mucsub_protocol::stanza::{error_element, error_reply, iq_result, ErrorType, Refusal};
pub use mucsub_protocol::xml::escape_attr;

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

/// A stanza serialised once and sent to many recipients that differ only in their
/// address (MUC fan-out; a MucSub event, whose inner stanza carries it too). Cheap to
/// share (`Arc`) and to render; in a cluster its parts travel to the node of the
/// recipients there, which renders it for each of them (`cluster/bus.rs`).
#[derive(Debug)]
pub struct Template {
    /// The text around the places where the recipient's address goes.
    parts: Vec<String>,
}

impl Template {
    /// Serialises `el`; its `to` attribute is replaced at render time.
    pub fn new(el: &Element) -> Arc<Template> {
        let marker = marker();
        let mut el = el.clone();
        set_attr(&mut el, "to", &marker);
        Arc::new(Template::split(&to_xml(&el), &marker))
    }

    /// `xml` with the recipient's address wherever `marker` occurs.
    pub fn split(xml: &str, marker: &str) -> Template {
        Template {
            parts: xml.split(marker).map(str::to_owned).collect(),
        }
    }

    /// A template from its [`Template::parts`] (one another node prepared).
    pub fn from_parts(parts: Vec<String>) -> Template {
        Template { parts }
    }

    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// The stanza addressed to `to`.
    pub fn render(&self, to: &str) -> String {
        self.parts.join(&escape_attr(to))
    }
}

/// A marker no attribute or text a user controls (a nick, a body) can contain: random.
pub fn marker() -> String {
    format!("tpl{:032x}", rand::random::<u128>())
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

/// Whether a stanza may be answered with an error (never answer an error or a result).
pub fn may_bounce(el: &Element) -> bool {
    !matches!(el.attr("type"), Some("error") | Some("result"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ns;

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
        let again = Template::from_parts(t.parts().to_vec());
        assert_eq!(again.render("a'b@localhost/r"), out);
    }
}
