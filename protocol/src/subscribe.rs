use jid::BareJid;
use minidom::Element;

use super::node::{event_children, parse_event_children};
use super::xml::{account_attr, builder, expect, with_attr};
use super::{ns, Node, ParseError};

/// `<subscribe xmlns='urn:xmpp:mucsub:0' nick=… [password=…] [jid=…]><event node=…/>…`
///
/// Used as the IQ set request, its result (which echoes `nick` and the accepted nodes) and
/// as the item of a `subscribers` node event (`nick`, `jid` only where the receiver may see
/// real JIDs, no nodes). `nick` stays optional so the server can tell "missing" (bad-request)
/// from "empty" (jid-malformed), docs/protocol.md S4.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscribe {
    /// Requested nick.
    pub nick: Option<String>,
    /// Room password, for password-protected rooms.
    pub password: Option<String>,
    /// The account being subscribed, when a moderator subscribes someone else (a full JID
    /// is read as its account).
    pub jid: Option<BareJid>,
    /// Requested (or accepted) nodes; unknown nodes are dropped on parse.
    pub events: Vec<Node>,
}

impl Subscribe {
    /// A request for `nick` with the given nodes.
    pub fn new(nick: impl Into<String>, events: impl IntoIterator<Item = Node>) -> Self {
        Subscribe {
            nick: Some(nick.into()),
            password: None,
            jid: None,
            events: events.into_iter().collect(),
        }
    }
}

crate::xml::try_from_owned!(Subscribe);

impl TryFrom<&Element> for Subscribe {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "subscribe", ns::MUCSUB)?;
        Ok(Subscribe {
            nick: elem.attr("nick").map(str::to_owned),
            password: elem.attr("password").map(str::to_owned),
            jid: account_attr(elem, "subscribe", "jid")?,
            events: parse_event_children(elem),
        })
    }
}

impl From<Subscribe> for Element {
    fn from(s: Subscribe) -> Element {
        let b = builder("subscribe", ns::MUCSUB);
        let b = with_attr(b, "nick", s.nick);
        let b = with_attr(b, "password", s.password);
        let b = with_attr(b, "jid", s.jid.map(|j| j.to_string()));
        b.append_all(event_children(&s.events)).build()
    }
}

/// `<unsubscribe xmlns='urn:xmpp:mucsub:0' [jid=…] [nick=…]/>`: the IQ set request (with
/// `jid` when a moderator removes someone else) and the `subscribers` node event item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unsubscribe {
    /// The account being unsubscribed (moderator request, or visible in the event).
    pub jid: Option<BareJid>,
    /// The subscription nick (present in `subscribers` events).
    pub nick: Option<String>,
}

crate::xml::try_from_owned!(Unsubscribe);

impl TryFrom<&Element> for Unsubscribe {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "unsubscribe", ns::MUCSUB)?;
        Ok(Unsubscribe {
            jid: account_attr(elem, "unsubscribe", "jid")?,
            nick: elem.attr("nick").map(str::to_owned),
        })
    }
}

impl From<Unsubscribe> for Element {
    fn from(u: Unsubscribe) -> Element {
        let b = builder("unsubscribe", ns::MUCSUB);
        let b = with_attr(b, "jid", u.jid.map(|j| j.to_string()));
        with_attr(b, "nick", u.nick).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_with_everything() {
        let e: Element = "<subscribe xmlns='urn:xmpp:mucsub:0' nick='carol' password='pass' \
            jid='carol@localhost'><event node='urn:xmpp:mucsub:nodes:messages'/>\
            <event node='urn:xmpp:mucsub:nodes:nope'/></subscribe>"
            .parse()
            .unwrap();
        let s = Subscribe::try_from(e).unwrap();
        assert_eq!(s.nick.as_deref(), Some("carol"));
        assert_eq!(s.password.as_deref(), Some("pass"));
        assert_eq!(s.jid.unwrap().to_string(), "carol@localhost");
        assert_eq!(s.events, vec![Node::Messages]);
    }

    #[test]
    fn missing_and_empty_nick_are_distinct() {
        let e: Element = "<subscribe xmlns='urn:xmpp:mucsub:0'/>".parse().unwrap();
        assert_eq!(Subscribe::try_from(e).unwrap().nick, None);
        let e: Element = "<subscribe xmlns='urn:xmpp:mucsub:0' nick=''/>"
            .parse()
            .unwrap();
        assert_eq!(Subscribe::try_from(e).unwrap().nick.as_deref(), Some(""));
    }

    #[test]
    fn bad_jid_names_the_attribute() {
        let e: Element = "<subscribe xmlns='urn:xmpp:mucsub:0' nick='x' jid='@@'/>"
            .parse()
            .unwrap();
        match Subscribe::try_from(e) {
            Err(ParseError::BadAttribute {
                element: "subscribe",
                attribute: "jid",
                ..
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_full_jid_names_its_account() {
        let e: Element = "<unsubscribe xmlns='urn:xmpp:mucsub:0' jid='bob@localhost/phone'/>"
            .parse()
            .unwrap();
        let u = Unsubscribe::try_from(e).unwrap();
        assert_eq!(u.jid.unwrap().to_string(), "bob@localhost");
    }

    #[test]
    fn wrong_element_is_rejected() {
        let e: Element = "<subscribe xmlns='urn:xmpp:mucsub:1' nick='x'/>"
            .parse()
            .unwrap();
        assert!(matches!(
            Subscribe::try_from(e),
            Err(ParseError::WrongElement { .. })
        ));
    }

    #[test]
    fn round_trip() {
        let s = Subscribe {
            nick: Some("bobby".into()),
            password: Some("pw".into()),
            jid: Some(BareJid::new("bob@localhost").unwrap()),
            events: vec![Node::Messages, Node::Subject],
        };
        let back = Subscribe::try_from(Element::from(s.clone())).unwrap();
        assert_eq!(back, s);
        let u = Unsubscribe {
            jid: Some(BareJid::new("bob@localhost").unwrap()),
            nick: Some("bobby".into()),
        };
        assert_eq!(Unsubscribe::try_from(Element::from(u.clone())).unwrap(), u);
        let empty: Element = Unsubscribe::default().into();
        assert!(empty.attrs().iter().next().is_none());
    }
}
