use jid::{BareJid, Jid};
use minidom::Element;

use super::xml::{builder, expect, jid_attr, ncname, with_attr};
use super::{ns, Node, ParseError};

/// A wrapped MucSub event:
///
/// ```xml
/// <message from='room@muc' to='user@host' [id='…']>
///   <event xmlns='http://jabber.org/protocol/pubsub#event'>
///     <items node='urn:xmpp:mucsub:nodes:messages'>
///       <item id='…'>{inner stanza, jabber:client}</item>
///     </items>
///   </event>
/// </message>
/// ```
///
/// Other children of the outer message (ejabberd adds `<stanza-id by='user@host'/>` and
/// `<archived/>` about the *subscriber's* archive) are ignored on parse: they are not room
/// archive ids and must never be used for deduplication.
#[derive(Debug, Clone, PartialEq)]
pub struct MucSubEvent {
    /// The room (outer `from`, always a bare JID).
    pub room: BareJid,
    /// The subscriber (outer `to`, a bare JID as sent by the room).
    pub to: Option<Jid>,
    /// Outer message id; for archived messages it equals the room's stanza-id
    /// (docs/protocol.md S10).
    pub id: Option<String>,
    /// The event node.
    pub node: Node,
    /// `<item id=…>`; equals the stanza-id for archived messages.
    pub item_id: Option<String>,
    /// The wrapped stanza (`<message/>`, `<presence/>`, `<subscribe/>`, `<unsubscribe/>`).
    pub inner: Element,
}

impl MucSubEvent {
    /// Build an event for `room` → `to`; the outer id and the item id are both `item_id`,
    /// as docs/protocol.md S10 asks for archived messages.
    pub fn new(room: BareJid, to: Jid, node: Node, item_id: String, inner: Element) -> Self {
        MucSubEvent {
            room,
            to: Some(to),
            id: Some(item_id.clone()),
            node,
            item_id: Some(item_id),
            inner,
        }
    }

    /// Cheap check used for routing: a `<message/>` holding a pubsub event whose items node
    /// is a MucSub node (known or not).
    pub fn is_wrapper(elem: &Element) -> bool {
        items_node(elem).is_some_and(|n| n.starts_with(ns::MUCSUB_NODES_PREFIX))
    }

    /// Cheap look at a wrapper's node without parsing the rest (routing decisions such as
    /// which events are urgent for an inactive client); `None` for anything else.
    pub fn peek_node(elem: &Element) -> Option<Node> {
        items_node(elem).and_then(Node::parse)
    }
}

/// The `node` of `<message><event><items node=…>`.
fn items_node(elem: &Element) -> Option<&str> {
    if elem.name() != "message" {
        return None;
    }
    elem.get_child("event", ns::PUBSUB_EVENT)?
        .get_child("items", ns::PUBSUB_EVENT)?
        .attr("node")
}

impl MucSubEvent {
    /// Builds the wrapper with the recipient left out, and `inner` as given: for senders
    /// that address each copy themselves (the server serialises one wrapper per event and
    /// splices each recipient in).
    pub fn without_recipient(room: BareJid, id: String, node: Node, inner: Element) -> Self {
        MucSubEvent {
            room,
            to: None,
            id: Some(id.clone()),
            node,
            item_id: Some(id),
            inner,
        }
    }
}

impl TryFrom<&Element> for MucSubEvent {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "message", ns::JABBER_CLIENT)?;
        let from = jid_attr(elem, "message", "from")?.ok_or(ParseError::MissingAttribute {
            element: "message",
            attribute: "from",
        })?;
        let room = match from.try_into_full() {
            Err(bare) => bare,
            Ok(full) => {
                return Err(ParseError::BadAttribute {
                    element: "message",
                    attribute: "from",
                    reason: format!("a room event comes from a bare JID, not {full}"),
                })
            }
        };
        let to = jid_attr(elem, "message", "to")?;
        let event = elem
            .get_child("event", ns::PUBSUB_EVENT)
            .ok_or(ParseError::MissingChild {
                element: "message",
                child: "event",
            })?;
        let items = event
            .get_child("items", ns::PUBSUB_EVENT)
            .ok_or(ParseError::MissingChild {
                element: "event",
                child: "items",
            })?;
        let node_name = items.attr("node").ok_or(ParseError::MissingAttribute {
            element: "items",
            attribute: "node",
        })?;
        let node = Node::parse(node_name).ok_or_else(|| ParseError::BadAttribute {
            element: "items",
            attribute: "node",
            reason: format!("not a MucSub node: {node_name:?}"),
        })?;
        let item = items
            .get_child("item", ns::PUBSUB_EVENT)
            .ok_or(ParseError::MissingChild {
                element: "items",
                child: "item",
            })?;
        let inner = item
            .children()
            .next()
            .cloned()
            .ok_or(ParseError::MissingChild {
                element: "item",
                child: "message|presence|subscribe|unsubscribe",
            })?;
        Ok(MucSubEvent {
            room,
            to,
            id: elem.attr("id").map(str::to_owned),
            node,
            item_id: item.attr("id").map(str::to_owned),
            inner,
        })
    }
}

crate::xml::try_from_owned!(MucSubEvent);

impl From<MucSubEvent> for Element {
    fn from(e: MucSubEvent) -> Element {
        let item = with_attr(builder("item", ns::PUBSUB_EVENT), "id", e.item_id)
            .append(e.inner)
            .build();
        let items = builder("items", ns::PUBSUB_EVENT)
            .attr(ncname("node"), e.node.as_str())
            .append(item)
            .build();
        let event = builder("event", ns::PUBSUB_EVENT).append(items).build();
        let b = builder("message", ns::JABBER_CLIENT).attr(ncname("from"), e.room.to_string());
        let b = with_attr(b, "to", e.to.map(|j| j.to_string()));
        with_attr(b, "id", e.id).append(event).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = r#"<message xmlns="jabber:client" to="bob@localhost" from="coven2@conference.localhost" id="1795460995021531"><archived xmlns="urn:xmpp:mam:tmp" by="bob@localhost" id="1795460995025565"/><stanza-id xmlns="urn:xmpp:sid:0" by="bob@localhost" id="1795460995025565"/><event xmlns="http://jabber.org/protocol/pubsub#event"><items node="urn:xmpp:mucsub:nodes:messages"><item id="1795460995021531"><message xmlns="jabber:client" xml:lang="en" to="bob@localhost" from="coven2@conference.localhost/alice" type="groupchat" id="m1"><stanza-id xmlns="urn:xmpp:sid:0" by="coven2@conference.localhost" id="1795460995021531"/><body>Hello subscribers</body></message></item></items></event></message>"#;

    #[test]
    fn parses_ejabberd_message_event() {
        let e: Element = MSG.parse().unwrap();
        assert!(MucSubEvent::is_wrapper(&e));
        assert_eq!(MucSubEvent::peek_node(&e), Some(Node::Messages));
        let ev = MucSubEvent::try_from(e).unwrap();
        assert_eq!(ev.room.to_string(), "coven2@conference.localhost");
        assert_eq!(ev.node, Node::Messages);
        assert_eq!(ev.item_id.as_deref(), Some("1795460995021531"));
        assert_eq!(ev.inner.name(), "message");
        assert_eq!(ev.inner.attr("id"), Some("m1"));
    }

    #[test]
    fn round_trips() {
        let inner: Element =
            "<message xmlns='jabber:client' type='groupchat'><body>x</body></message>"
                .parse()
                .unwrap();
        let ev = MucSubEvent::new(
            BareJid::new("r@muc.example").unwrap(),
            Jid::new("u@example").unwrap(),
            Node::Subject,
            "7".into(),
            inner,
        );
        let back = MucSubEvent::try_from(Element::from(ev.clone())).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn rejects_full_jid_sender_and_unknown_node() {
        let bad = MSG.replace(
            r#"from="coven2@conference.localhost" id="1795460995021531""#,
            r#"from="coven2@conference.localhost/x" id="1""#,
        );
        let err = MucSubEvent::try_from(bad.parse::<Element>().unwrap()).unwrap_err();
        assert!(matches!(
            err,
            ParseError::BadAttribute {
                attribute: "from",
                ..
            }
        ));
        let bad = MSG.replace("nodes:messages", "nodes:messagez");
        let err = MucSubEvent::try_from(bad.parse::<Element>().unwrap()).unwrap_err();
        assert!(matches!(
            err,
            ParseError::BadAttribute {
                attribute: "node",
                ..
            }
        ));
    }

    #[test]
    fn rejects_empty_item() {
        let e: Element = "<message xmlns='jabber:client' from='r@m'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:mucsub:nodes:messages'><item id='1'/></items></event></message>".parse().unwrap();
        assert!(matches!(
            MucSubEvent::try_from(e),
            Err(ParseError::MissingChild {
                element: "item",
                ..
            })
        ));
    }

    /// Every wrapped event ejabberd 23.01 sent in the recorded scenarios parses, from its
    /// room, with a known node and an inner stanza.
    #[test]
    fn parses_every_wrapper_in_the_reference_transcripts() {
        let mut seen = 0;
        for line in crate::test_support::transcript_lines() {
            if !line.contains("http://jabber.org/protocol/pubsub#event") {
                continue;
            }
            let elem = crate::test_support::parse_line(&line);
            assert!(MucSubEvent::is_wrapper(&elem), "{line}");
            let ev = MucSubEvent::try_from(&elem).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(ev.room.node().is_some(), "{line}");
            assert!(ev.item_id.is_some(), "{line}");
            assert!(
                matches!(
                    ev.inner.name(),
                    "message" | "presence" | "subscribe" | "unsubscribe"
                ),
                "{line}"
            );
            seen += 1;
        }
        assert!(seen >= 25, "only {seen} wrapped events found");
    }
}
