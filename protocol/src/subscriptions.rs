use jid::BareJid;
use minidom::Element;

use super::node::{event_children, parse_event_children};
use super::time::Timestamp;
use super::xml::{account_attr, builder, expect, with_attr};
use super::{ns, Node, ParseError};

/// The sync hint `<end xmlns='urn:xmpp:mucsub:sync:0' id='…' stamp='…'/>`: the room's
/// newest archive id and its time, so a reconnecting client resyncs only rooms that changed
/// (docs/protocol.md S19; advertised as the `urn:xmpp:mucsub:sync:0` feature on the service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEnd {
    /// Newest archive (stanza) id of the room.
    pub id: String,
    /// Its archive time.
    pub stamp: Timestamp,
}

impl TryFrom<&Element> for SyncEnd {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "end", ns::MUCSUB_SYNC)?;
        let id = elem.attr("id").ok_or(ParseError::MissingAttribute {
            element: "end",
            attribute: "id",
        })?;
        let stamp = elem.attr("stamp").ok_or(ParseError::MissingAttribute {
            element: "end",
            attribute: "stamp",
        })?;
        let stamp = Timestamp::parse(stamp).ok_or_else(|| ParseError::BadAttribute {
            element: "end",
            attribute: "stamp",
            reason: format!("not an XEP-0082 date-time: {stamp:?}"),
        })?;
        Ok(SyncEnd {
            id: id.to_owned(),
            stamp,
        })
    }
}

crate::xml::try_from_owned!(SyncEnd);

impl From<SyncEnd> for Element {
    fn from(e: SyncEnd) -> Element {
        builder("end", ns::MUCSUB_SYNC)
            .attr(super::xml::ncname("id"), e.id)
            .attr(super::xml::ncname("stamp"), e.stamp.to_xep0082())
            .build()
    }
}

/// One `<subscription/>` of a list.
///
/// In the service-level list `jid` is the room; in a room-level list it is the subscriber
/// (absent when the caller may not see real JIDs, docs/protocol.md S9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// Room (service list) or subscriber (room list).
    pub jid: Option<BareJid>,
    /// Subscription nick.
    pub nick: Option<String>,
    /// Subscribed nodes.
    pub events: Vec<Node>,
    /// Sync hint, service-level list only, when the server supports it.
    pub end: Option<SyncEnd>,
}

impl TryFrom<&Element> for Subscription {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "subscription", ns::MUCSUB)?;
        let end = match elem.get_child("end", ns::MUCSUB_SYNC) {
            None => None,
            Some(e) => Some(SyncEnd::try_from(e).map_err(|err| ParseError::BadChild {
                element: "subscription",
                child: "end",
                reason: err.to_string(),
            })?),
        };
        Ok(Subscription {
            jid: account_attr(elem, "subscription", "jid")?,
            nick: elem.attr("nick").map(str::to_owned),
            events: parse_event_children(elem),
            end,
        })
    }
}

impl From<Subscription> for Element {
    fn from(s: Subscription) -> Element {
        let b = builder("subscription", ns::MUCSUB);
        let b = with_attr(b, "nick", s.nick);
        let b = with_attr(b, "jid", s.jid.map(|j| j.to_string()));
        let b = b.append_all(event_children(&s.events));
        match s.end {
            Some(end) => b.append(Element::from(end)).build(),
            None => b.build(),
        }
    }
}

/// `<subscriptions xmlns='urn:xmpp:mucsub:0'/>`: the (empty) get request and the list
/// result, both to the service (my rooms) and to a room (its subscribers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscriptions {
    /// The listed subscriptions; empty in a request.
    pub items: Vec<Subscription>,
}

impl TryFrom<&Element> for Subscriptions {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "subscriptions", ns::MUCSUB)?;
        let mut items = Vec::new();
        for child in elem.children() {
            if child.is("subscription", ns::MUCSUB) {
                items.push(
                    Subscription::try_from(child).map_err(|e| ParseError::BadChild {
                        element: "subscriptions",
                        child: "subscription",
                        reason: e.to_string(),
                    })?,
                );
            }
        }
        Ok(Subscriptions { items })
    }
}

crate::xml::try_from_owned!(Subscriptions);

impl From<Subscriptions> for Element {
    fn from(s: Subscriptions) -> Element {
        builder("subscriptions", ns::MUCSUB)
            .append_all(s.items.into_iter().map(Element::from))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ejabberd_service_list() {
        let e: Element = r#"<subscriptions xmlns="urn:xmpp:mucsub:0"><subscription nick="bobby" jid="coven2@conference.localhost"><event node="urn:xmpp:mucsub:nodes:messages"/><event node="urn:xmpp:mucsub:nodes:presence"/></subscription></subscriptions>"#.parse().unwrap();
        let s = Subscriptions::try_from(e).unwrap();
        assert_eq!(s.items.len(), 1);
        assert_eq!(
            s.items[0].jid.as_ref().unwrap().to_string(),
            "coven2@conference.localhost"
        );
        assert_eq!(s.items[0].nick.as_deref(), Some("bobby"));
        assert_eq!(s.items[0].events, vec![Node::Messages, Node::Presence]);
        assert_eq!(s.items[0].end, None);
    }

    #[test]
    fn sync_hint_round_trips() {
        let sub = Subscription {
            jid: Some(BareJid::new("r@conference.localhost").unwrap()),
            nick: Some("n".into()),
            events: vec![Node::Messages],
            end: Some(SyncEnd {
                id: "42".into(),
                stamp: Timestamp::from_millis(1_700_000_000_123),
            }),
        };
        let list = Subscriptions {
            items: vec![sub.clone()],
        };
        let e = Element::from(list.clone());
        assert_eq!(Subscriptions::try_from(e).unwrap(), list);
    }

    #[test]
    fn bad_sync_stamp_is_named() {
        let e: Element = "<subscriptions xmlns='urn:xmpp:mucsub:0'><subscription jid='r@c'>\
            <end xmlns='urn:xmpp:mucsub:sync:0' id='1' stamp='yesterday'/></subscription>\
            </subscriptions>"
            .parse()
            .unwrap();
        let err = Subscriptions::try_from(e).unwrap_err().to_string();
        assert!(err.contains("stamp"), "{err}");
        let e: Element = "<end xmlns='urn:xmpp:mucsub:sync:0' stamp='2020-01-01T00:00:00Z'/>"
            .parse()
            .unwrap();
        assert_eq!(
            SyncEnd::try_from(e),
            Err(ParseError::MissingAttribute {
                element: "end",
                attribute: "id"
            })
        );
    }
}
