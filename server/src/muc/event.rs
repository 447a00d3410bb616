//! The MucSub event wrapper (SPEC S10), serialised once per room event and addressed per
//! recipient by splicing the bare JID into the prepared text.
//!
//! ```xml
//! <message from='room@muc' to='user@host' id='ID'>
//!   <event xmlns='http://jabber.org/protocol/pubsub#event'>
//!     <items node='urn:xmpp:mucsub:nodes:messages'>
//!       <item id='ID'><message xmlns='jabber:client' to='user@host' …/></item>
//!     </items>
//!   </event>
//! </message>
//! ```

use jid::BareJid;
use minidom::Element;

use super::node::{Node, NodeExt};
use super::xml::*;

/// One wrapped event ready for many recipients.
#[derive(Debug, Clone)]
pub struct WrappedEvent {
    pub node: Node,
    pub room: BareJid,
    pub id: String,
    /// The serialised wrapper split where the recipient's JID goes (outer and inner `to`).
    parts: Vec<String>,
    /// The wrapper without any `to`, for code that wants an element.
    template: Element,
}

/// Inner messages and presences are addressed to the subscriber; `<subscribe/>` items
/// of the subscribers node are not stanzas and carry no address.
fn is_stanza(el: &Element) -> bool {
    el.has_ns(NS_CLIENT) && matches!(el.name(), "message" | "presence")
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

impl WrappedEvent {
    pub fn new(node: Node, room: &BareJid, id: &str, inner: &Element) -> WrappedEvent {
        // A random marker cannot be guessed by a sender, so it never occurs in content.
        let marker = format!(
            "mucsub-to-{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let build = |to: Option<&str>| {
            let mut inner = inner.clone();
            if let Some(t) = to.filter(|_| is_stanza(&inner)) {
                set_attr(&mut inner, "to", t);
            }
            let item = B::new("item", NS_PUBSUB_EVENT).a("id", id).c(inner).b();
            let items = B::new("items", NS_PUBSUB_EVENT)
                .a("node", node.uri())
                .c(item)
                .b();
            B::new("message", NS_CLIENT)
                .a("from", room.to_string())
                .opt("to", to)
                .a("id", id)
                .c(B::new("event", NS_PUBSUB_EVENT).c(items).b())
                .b()
        };
        let marked = to_string(&build(Some(&marker)));
        WrappedEvent {
            node,
            room: room.clone(),
            id: id.to_owned(),
            parts: marked.split(&marker).map(str::to_owned).collect(),
            template: build(None),
        }
    }

    pub fn storable(&self) -> bool {
        self.node.storable()
    }

    /// The stanza for one recipient as text, without re-serialising the tree.
    pub fn text_for(&self, to: &BareJid) -> String {
        self.parts.join(&escape_attr(to.as_str()))
    }

    /// The stanza for one recipient as an element.
    pub fn element_for(&self, to: &BareJid) -> Element {
        let mut el = self.template.clone();
        set_attr(&mut el, "to", to.to_string());
        for e in el.children_mut() {
            for items in e.children_mut() {
                for item in items.children_mut() {
                    for inner in item.children_mut().filter(|i| is_stanza(i)) {
                        set_attr(inner, "to", to.to_string());
                    }
                }
            }
        }
        el
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_element_forms_agree() {
        let room = BareJid::new("lab@conference.localhost").unwrap();
        let inner: Element = "<message xmlns='jabber:client' from='lab@conference.localhost/al' type='groupchat'><body>a &lt; b</body></message>".parse().unwrap();
        let ev = WrappedEvent::new(Node::Messages, &room, "42", &inner);
        let bob = BareJid::new("bob@localhost").unwrap();
        let parsed: Element = ev.text_for(&bob).parse().unwrap();
        assert_eq!(parsed, ev.element_for(&bob));
        assert_eq!(parsed.attr("to"), Some("bob@localhost"));
        let items = parsed
            .get_child("event", NS_PUBSUB_EVENT)
            .unwrap()
            .get_child("items", NS_PUBSUB_EVENT)
            .unwrap();
        assert_eq!(items.attr("node"), Some("urn:xmpp:mucsub:nodes:messages"));
        let item = items.get_child("item", NS_PUBSUB_EVENT).unwrap();
        assert_eq!(item.attr("id"), Some("42"));
        let m = item.get_child("message", NS_CLIENT).unwrap();
        assert_eq!(m.attr("to"), Some("bob@localhost"));
        assert_eq!(m.get_child("body", NS_CLIENT).unwrap().text(), "a < b");
    }
}
