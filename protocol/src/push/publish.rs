//! The notification an XMPP server publishes to a push app server (XEP-0357 §5): the
//! `<pubsub/>` payload of an IQ set, with the summary form, our additional
//! `<mucsub xmlns='urn:xmpp:mucsub:push:0'/>` element and the registration's
//! publish-options.
//!
//! ```xml
//! <pubsub xmlns='http://jabber.org/protocol/pubsub'>
//!   <publish node='…'><item><notification xmlns='urn:xmpp:push:0'>
//!     <x xmlns='jabber:x:data' type='submit'>FORM_TYPE urn:xmpp:push:summary,
//!       message-count, last-message-sender, last-message-body?</x>
//!     <mucsub xmlns='urn:xmpp:mucsub:push:0' kind=… sender=… room=… id=…/>
//!   </notification></item></publish>
//!   <publish-options><x xmlns='jabber:x:data' type='submit'>…</x></publish-options>
//! </pubsub>
//! ```
//!
//! Both forms go through `xmpp_parsers::data_forms` (only the server sends and reads this).

use minidom::Element;

use crate::forms::{self, DataForm, DataFormType};
use crate::ns;
use crate::xml::{builder, expect, ncname, with_attr};
use crate::ParseError;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A groupchat message delivered as a MucSub `messages` event.
    Message,
    /// A room subject change (MucSub `subject` event).
    Subject,
    /// A message sent to the account directly (not from a room).
    Chat,
}

impl Kind {
    /// The `kind` attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Subject => "subject",
            Kind::Chat => "chat",
        }
    }

    /// Parses a `kind` value; `None` for anything else.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "message" => Some(Kind::Message),
            "subject" => Some(Kind::Subject),
            "chat" => Some(Kind::Chat),
            _ => None,
        }
    }
}

/// The XEP-0357 summary form (`urn:xmpp:push:summary`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// `message-count`: what waits for the account.
    pub message_count: Option<u64>,
    /// `last-message-sender`: the room for room events, the sender for direct messages.
    pub last_message_sender: Option<String>,
    /// `last-message-body`: only when the registration allowed bodies.
    pub last_message_body: Option<String>,
}

/// `<mucsub xmlns='urn:xmpp:mucsub:push:0' kind sender room? id?/>`: what the summary has
/// no fields for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The event kind; `None` for a kind this version does not know.
    pub kind: Option<Kind>,
    /// The room nick of the sender, or the sender's bare JID for direct messages.
    pub sender: Option<String>,
    /// The room's bare JID (room events).
    pub room: Option<String>,
    /// The room's stanza-id (the item id) or the message id.
    pub id: Option<String>,
}

/// The `<pubsub/>` payload of a publish to the app server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publish {
    /// The registration's node.
    pub node: String,
    /// The summary form.
    pub summary: Summary,
    /// Our additional element.
    pub notice: Option<Notice>,
    /// The registration's publish-options (FORM_TYPE left out), in order.
    pub options: Vec<(String, String)>,
}

fn missing(element: &'static str, child: &'static str) -> ParseError {
    ParseError::MissingChild { element, child }
}

fn summary_of(notification: &Element) -> Result<Summary, ParseError> {
    let Some(form) = forms::child(notification, "notification")? else {
        return Ok(Summary::default());
    };
    let value = |var| forms::value(&form, var).map(str::to_owned);
    Ok(Summary {
        // A count that does not parse is no count: the app server shows one message.
        message_count: value("message-count").and_then(|c| c.trim().parse().ok()),
        last_message_sender: value("last-message-sender"),
        last_message_body: value("last-message-body"),
    })
}

fn options_of(pubsub: &Element) -> Result<Vec<(String, String)>, ParseError> {
    let Some(po) = pubsub.get_child("publish-options", ns::PUBSUB) else {
        return Ok(Vec::new());
    };
    let Some(form) = forms::child(po, "publish-options")? else {
        return Ok(Vec::new());
    };
    Ok(forms::fields(&form)
        .map(|f| {
            let value = f.values.first().cloned().unwrap_or_default();
            (f.var.clone().unwrap_or_default(), value)
        })
        .collect())
}

impl TryFrom<&Element> for Publish {
    type Error = ParseError;
    fn try_from(pubsub: &Element) -> Result<Self, ParseError> {
        expect(pubsub, "pubsub", ns::PUBSUB)?;
        let publish = pubsub
            .get_child("publish", ns::PUBSUB)
            .ok_or(missing("pubsub", "publish"))?;
        let notification = publish
            .get_child("item", ns::PUBSUB)
            .ok_or(missing("publish", "item"))?
            .get_child("notification", ns::PUSH)
            .ok_or(missing("item", "notification"))?;
        let notice = notification
            .get_child("mucsub", ns::MUCSUB_PUSH)
            .map(|m| Notice {
                kind: m.attr("kind").and_then(Kind::parse),
                sender: m.attr("sender").map(str::to_owned),
                room: m.attr("room").map(str::to_owned),
                id: m.attr("id").map(str::to_owned),
            });
        Ok(Publish {
            node: publish.attr("node").unwrap_or_default().to_owned(),
            summary: summary_of(notification)?,
            notice,
            options: options_of(pubsub)?,
        })
    }
}

crate::xml::try_from_owned!(Publish);

fn submit(form_type: &str, fields: Vec<(String, String)>) -> Element {
    let fields = fields
        .into_iter()
        .map(|(var, value)| forms::field(&var, [value]))
        .collect();
    let form: DataForm = forms::with_type(DataFormType::Submit, form_type, fields);
    form.into()
}

impl From<Publish> for Element {
    fn from(p: Publish) -> Element {
        let s = p.summary;
        let summary: Vec<(String, String)> = [
            ("message-count", s.message_count.map(|n| n.to_string())),
            ("last-message-sender", s.last_message_sender),
            ("last-message-body", s.last_message_body),
        ]
        .into_iter()
        .filter_map(|(var, v)| Some((var.to_owned(), v?)))
        .collect();
        let mut notification =
            builder("notification", ns::PUSH).append(submit(ns::PUSH_SUMMARY, summary));
        if let Some(n) = p.notice {
            let m = builder("mucsub", ns::MUCSUB_PUSH);
            let m = with_attr(m, "kind", n.kind.map(Kind::as_str));
            let m = with_attr(m, "sender", n.sender);
            let m = with_attr(m, "room", n.room);
            notification = notification.append(with_attr(m, "id", n.id).build());
        }
        let item = builder("item", ns::PUBSUB).append(notification.build());
        let publish = builder("publish", ns::PUBSUB)
            .attr(ncname("node"), p.node)
            .append(item.build());
        let mut pubsub = builder("pubsub", ns::PUBSUB).append(publish.build());
        if !p.options.is_empty() {
            pubsub = pubsub.append(
                builder("publish-options", ns::PUBSUB)
                    .append(submit(ns::PUBLISH_OPTIONS, p.options))
                    .build(),
            );
        }
        pubsub.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Publish {
        Publish {
            node: "dev1".into(),
            summary: Summary {
                message_count: Some(3),
                last_message_sender: Some("room@conference.localhost".into()),
                last_message_body: Some("secret plans".into()),
            },
            notice: Some(Notice {
                kind: Some(Kind::Message),
                sender: Some("alice".into()),
                room: Some("room@conference.localhost".into()),
                id: Some("sid-9".into()),
            }),
            options: vec![("endpoint".into(), "https://p.example/x".into())],
        }
    }

    #[test]
    fn round_trips() {
        let p = sample();
        let el = Element::from(p.clone());
        assert_eq!(Publish::try_from(&el), Ok(p));
        let bare = Publish {
            node: "n".into(),
            ..Publish::default()
        };
        assert_eq!(Publish::try_from(Element::from(bare.clone())), Ok(bare));
    }

    #[test]
    fn forms_carry_their_form_types() {
        let el = Element::from(sample());
        let xml = String::from(&el);
        assert!(xml.contains(ns::PUSH_SUMMARY) && xml.contains(ns::PUBLISH_OPTIONS));
        let po = el.get_child("publish-options", ns::PUBSUB).unwrap();
        let form = forms::child(po, "publish-options").unwrap().unwrap();
        assert_eq!(form.form_type(), Some(ns::PUBLISH_OPTIONS));
    }

    #[test]
    fn missing_parts_are_named_and_odd_values_tolerated() {
        let e: Element =
            "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'/></pubsub>"
                .parse()
                .unwrap();
        assert_eq!(Publish::try_from(&e), Err(missing("publish", "item")));
        let e: Element = "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item>\
            <notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='submit'>\
            <field var='message-count'><value>lots</value></field></x>\
            <mucsub xmlns='urn:xmpp:mucsub:push:0' kind='poke'/></notification></item></publish></pubsub>"
            .parse()
            .unwrap();
        let p = Publish::try_from(&e).unwrap();
        assert_eq!(p.summary.message_count, None);
        assert_eq!(p.notice.unwrap().kind, None);
    }
}
