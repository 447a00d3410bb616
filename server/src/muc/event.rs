//! The MucSub event wrapper (docs/protocol.md S10), serialised once per room event and
//! addressed per recipient by splicing the bare JID into the prepared text.
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

use std::sync::Arc;

use jid::BareJid;
use minidom::Element;
use mucsub_protocol::MucSubEvent;

use super::xml::set_attr;
use crate::ns;
use crate::stanza::Template;
use mucsub_protocol::Node;

/// One wrapped event ready for many recipients.
#[derive(Debug, Clone)]
pub struct WrappedEvent {
    pub node: Node,
    /// Stored offline for a subscriber with no session (the node's rule), unless sent
    /// again to live sessions only ([`WrappedEvent::live_only`]).
    keep_offline: bool,
    /// The serialised wrapper, split where the recipient's JID goes (outer and inner `to`).
    template: Arc<Template>,
}

/// Inner messages and presences are addressed to the subscriber; `<subscribe/>` items
/// of the subscribers node are not stanzas and carry no address.
fn is_stanza(el: &Element) -> bool {
    el.has_ns(ns::CLIENT) && matches!(el.name(), "message" | "presence")
}

impl WrappedEvent {
    pub fn new(node: Node, room: &BareJid, id: &str, inner: &Element) -> WrappedEvent {
        // A random marker cannot be guessed by a sender, so it never occurs in content.
        let marker = crate::stanza::marker();
        let template = Element::from(MucSubEvent::without_recipient(
            room.clone(),
            id.to_owned(),
            node,
            inner.clone(),
        ));
        WrappedEvent {
            node,
            keep_offline: node.kept_offline(),
            template: Arc::new(Template::split(
                &String::from(&addressed(template, &marker)),
                &marker,
            )),
        }
    }

    pub fn storable(&self) -> bool {
        self.keep_offline
    }

    /// The event for sessions online now only: never stored offline (a message sent
    /// again after a takeover, which offline subscribers find in the archive).
    pub fn live_only(mut self) -> WrappedEvent {
        self.keep_offline = false;
        self
    }

    /// The stanza for one recipient as text, without re-serialising the tree.
    pub fn text_for(&self, to: &BareJid) -> String {
        self.template.render(to.as_str())
    }

    /// The serialised wrapper, for recipients to render (here, or on their own node).
    pub fn template(&self) -> &Arc<Template> {
        &self.template
    }
}

/// The wrapper addressed to `to`: the outer message and, when it is a stanza, the inner one.
fn addressed(mut el: Element, to: &str) -> Element {
    set_attr(&mut el, "to", to);
    for e in el.children_mut() {
        for items in e.children_mut() {
            for item in items.children_mut() {
                for inner in item.children_mut().filter(|i| is_stanza(i)) {
                    set_attr(inner, "to", to);
                }
            }
        }
    }
    el
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
        let wrapper = MucSubEvent::without_recipient(room, "42".into(), Node::Messages, inner);
        assert_eq!(parsed, addressed(wrapper.into(), "bob@localhost"));
        // What the SDK reads out of it.
        let read = MucSubEvent::try_from(&parsed).unwrap();
        assert_eq!(
            (read.node, read.item_id.as_deref()),
            (Node::Messages, Some("42"))
        );
        assert_eq!(parsed.attr("to"), Some("bob@localhost"));
        let items = parsed
            .get_child("event", ns::PUBSUB_EVENT)
            .unwrap()
            .get_child("items", ns::PUBSUB_EVENT)
            .unwrap();
        assert_eq!(items.attr("node"), Some("urn:xmpp:mucsub:nodes:messages"));
        let item = items.get_child("item", ns::PUBSUB_EVENT).unwrap();
        assert_eq!(item.attr("id"), Some("42"));
        let m = item.get_child("message", ns::CLIENT).unwrap();
        assert_eq!(m.attr("to"), Some("bob@localhost"));
        assert_eq!(m.get_child("body", ns::CLIENT).unwrap().text(), "a < b");
    }
}
