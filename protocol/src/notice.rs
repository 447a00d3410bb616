use jid::BareJid;
use minidom::Element;

use super::xml::{builder, expect, jid_attr, ncname, with_attr};
use super::{ns, ParseError, Subscribe, Unsubscribe};

/// docs/protocol.md S20: a room tells every available resource of an account that the
/// account's subscription changed (by that account on another device, by a moderator, by
/// the HTTP API, or automatically):
///
/// ```xml
/// <message from='room@muc' to='user@host' type='headline' [id='…']>
///   <subscribe xmlns='urn:xmpp:mucsub:0' nick='…'><event node='…'/>…</subscribe>
/// </message>
/// ```
///
/// or the same holding `<unsubscribe xmlns='urn:xmpp:mucsub:0'/>`. A headline, so it is
/// never stored offline: the service list on reconnect (S8) covers a device that was away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionNotice {
    /// The room (`from`, a bare JID).
    pub room: BareJid,
    /// The account (`to`); absent only on a notice read from a stream that left it out.
    pub to: Option<BareJid>,
    /// The message id (the room's own, unique).
    pub id: Option<String>,
    /// What the subscription is now.
    pub change: SubscriptionChange,
}

/// The state a [`SubscriptionNotice`] announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// Subscribed (new or changed): `nick` and `events` are the ones now in force.
    Subscribed(Subscribe),
    /// No longer subscribed.
    Unsubscribed,
}

impl SubscriptionNotice {
    /// Cheap check: a headline message holding a MucSub `<subscribe/>` or `<unsubscribe/>`.
    pub fn is_notice(elem: &Element) -> bool {
        elem.name() == "message"
            && elem.attr("type") == Some("headline")
            && (elem.has_child("subscribe", ns::MUCSUB)
                || elem.has_child("unsubscribe", ns::MUCSUB))
    }
}

crate::xml::try_from_owned!(SubscriptionNotice);

impl TryFrom<&Element> for SubscriptionNotice {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "message", ns::JABBER_CLIENT)?;
        if elem.attr("type") != Some("headline") {
            return Err(ParseError::BadAttribute {
                element: "message",
                attribute: "type",
                reason: "a subscription notice is a headline".into(),
            });
        }
        let from = jid_attr(elem, "message", "from")?.ok_or(ParseError::MissingAttribute {
            element: "message",
            attribute: "from",
        })?;
        let room = from.try_into_full().err().ok_or(ParseError::BadAttribute {
            element: "message",
            attribute: "from",
            reason: "a subscription notice comes from the room's bare JID".into(),
        })?;
        let to = jid_attr(elem, "message", "to")?.map(|j| j.to_bare());
        let change = if let Some(s) = elem.get_child("subscribe", ns::MUCSUB) {
            SubscriptionChange::Subscribed(Subscribe::try_from(s)?)
        } else if let Some(u) = elem.get_child("unsubscribe", ns::MUCSUB) {
            Unsubscribe::try_from(u)?;
            SubscriptionChange::Unsubscribed
        } else {
            return Err(ParseError::MissingChild {
                element: "message",
                child: "subscribe|unsubscribe",
            });
        };
        Ok(SubscriptionNotice {
            room,
            to,
            id: elem.attr("id").map(str::to_owned),
            change,
        })
    }
}

impl From<SubscriptionNotice> for Element {
    fn from(n: SubscriptionNotice) -> Element {
        let payload: Element = match n.change {
            SubscriptionChange::Subscribed(s) => s.into(),
            SubscriptionChange::Unsubscribed => Unsubscribe::default().into(),
        };
        let b = builder("message", ns::JABBER_CLIENT)
            .attr(ncname("from"), n.room.to_string())
            .attr(ncname("type"), "headline");
        let b = with_attr(b, "to", n.to.map(|j| j.to_string()));
        with_attr(b, "id", n.id).append(payload).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Node;

    fn room() -> BareJid {
        BareJid::new("lab@conference.localhost").unwrap()
    }

    #[test]
    fn round_trips_both_changes() {
        for change in [
            SubscriptionChange::Subscribed(Subscribe::new("bob", [Node::Messages, Node::Subject])),
            SubscriptionChange::Unsubscribed,
        ] {
            let n = SubscriptionNotice {
                room: room(),
                to: Some(BareJid::new("bob@localhost").unwrap()),
                id: Some("7".into()),
                change,
            };
            let el = Element::from(n.clone());
            assert!(SubscriptionNotice::is_notice(&el));
            assert_eq!(el.attr("type"), Some("headline"));
            assert_eq!(SubscriptionNotice::try_from(el).unwrap(), n);
        }
    }

    #[test]
    fn reads_the_wire_form() {
        let e: Element = "<message xmlns='jabber:client' from='lab@conference.localhost' \
            to='bob@localhost' type='headline'><subscribe xmlns='urn:xmpp:mucsub:0' nick='bob'>\
            <event node='urn:xmpp:mucsub:nodes:messages'/></subscribe></message>"
            .parse()
            .unwrap();
        let n = SubscriptionNotice::try_from(&e).unwrap();
        assert_eq!(n.room, room());
        match n.change {
            SubscriptionChange::Subscribed(s) => {
                assert_eq!(s.nick.as_deref(), Some("bob"));
                assert_eq!(s.events, vec![Node::Messages]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_what_is_not_a_notice() {
        for bad in [
            // Not a headline.
            "<message xmlns='jabber:client' from='lab@conference.localhost'>\
             <unsubscribe xmlns='urn:xmpp:mucsub:0'/></message>",
            // From an occupant, not the room.
            "<message xmlns='jabber:client' from='lab@conference.localhost/bob' type='headline'>\
             <unsubscribe xmlns='urn:xmpp:mucsub:0'/></message>",
            // Nothing in it.
            "<message xmlns='jabber:client' from='lab@conference.localhost' type='headline'/>",
        ] {
            let e: Element = bad.parse().unwrap();
            assert!(SubscriptionNotice::try_from(&e).is_err(), "{bad}");
        }
    }
}
