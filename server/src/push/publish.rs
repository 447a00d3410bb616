//! The XMPP server's side of XEP-0357 §5: from a stanza that went to offline storage, the
//! summary of what happened, and the publish (`mucsub_protocol::push::publish`) for each
//! registered app server.

use super::xep0357::Registration;
use crate::ns;
use minidom::Element;
pub use mucsub_protocol::push::publish::Kind;
use mucsub_protocol::push::publish::{Notice, Publish, Summary};
use mucsub_protocol::{MucSubEvent, Node};

/// The summary of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: Kind,
    /// The room's bare JID (MucSub events).
    pub room: Option<String>,
    /// The room nick of the sender, or the sender's bare JID for direct messages.
    pub sender: String,
    /// The message body or the new subject.
    pub text: Option<String>,
    /// The room's stanza-id (the item id) or the message id.
    pub id: Option<String>,
}

fn bare(jid: &str) -> &str {
    jid.split('/').next().unwrap_or(jid)
}

fn resource(jid: &str) -> &str {
    jid.split_once('/').map(|(_, r)| r).unwrap_or("")
}

fn child_text(el: &Element, name: &str) -> Option<String> {
    el.get_child(name, ns::CLIENT).map(|c| c.text())
}

/// Summarises a stanza bound for offline storage; `None` when it deserves no notification
/// (not a message, a MucSub node other than `messages`/`subject`, nothing to show).
pub fn summarize(stanza: &Element) -> Option<Event> {
    if stanza.name() != "message" || stanza.attr("type") == Some("error") {
        return None;
    }
    if stanza.has_child("event", ns::PUBSUB_EVENT) {
        // Only MucSub events are worth a notification among pubsub events.
        let ev = MucSubEvent::try_from(stanza).ok()?;
        let inner = &ev.inner;
        // A retraction's body is only its XEP-0424 fallback for old clients: nothing to
        // show a person.
        if inner.name() != "message" || inner.has_child("retract", ns::RETRACT) {
            return None;
        }
        let (kind, text) = match ev.node {
            Node::Messages => (Kind::Message, child_text(inner, "body")?),
            Node::Subject => (
                Kind::Subject,
                child_text(inner, "subject").unwrap_or_default(),
            ),
            _ => return None,
        };
        return Some(Event {
            kind,
            room: Some(ev.room.to_string()),
            sender: inner.attr("from").map(resource).unwrap_or("").to_string(),
            text: Some(text),
            id: ev.item_id,
        });
    }
    if stanza.attr("type") == Some("groupchat") {
        return None;
    }
    let body = child_text(stanza, "body")?;
    Some(Event {
        kind: Kind::Chat,
        room: None,
        sender: bare(stanza.attr("from")?).to_string(),
        text: Some(body),
        id: stanza.attr("id").map(String::from),
    })
}

/// The XEP-0357 publish for one registration: the summary form with `message-count`,
/// `last-message-sender` (the room for room events) and `last-message-body` only when the
/// registration allowed bodies; the room, nick, kind and id in our additional
/// `<mucsub xmlns='urn:xmpp:mucsub:push:0'/>`; the registration's publish-options.
pub fn publish(reg: &Registration, ev: &Event, count: u64) -> Publish {
    Publish {
        node: reg.node.clone(),
        summary: Summary {
            message_count: Some(count),
            last_message_sender: Some(ev.room.clone().unwrap_or_else(|| ev.sender.clone())),
            last_message_body: ev.text.clone().filter(|_| reg.include_body),
        },
        notice: Some(Notice {
            kind: Some(ev.kind),
            sender: Some(ev.sender.clone()),
            room: ev.room.clone(),
            id: ev.id.clone(),
        }),
        options: reg.options.clone(),
    }
}

/// [`publish`] as the IQ set an XMPP server sends its app server (`from` the account's
/// bare JID, `to` the app server). The built-in app server takes the [`Publish`] directly;
/// no other app server is reachable (no server-to-server), so only tests send this.
#[cfg(test)]
pub fn publish_iq(
    account: &str,
    reg: &Registration,
    ev: &Event,
    count: u64,
    iq_id: &str,
) -> Element {
    Element::builder("iq", ns::CLIENT)
        .attr(mucsub_protocol::xml::ncname("type"), "set")
        .attr(mucsub_protocol::xml::ncname("id"), iq_id)
        .attr(mucsub_protocol::xml::ncname("from"), account)
        .attr(mucsub_protocol::xml::ncname("to"), reg.service.clone())
        .append(Element::from(publish(reg, ev, count)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mucsub_protocol::Node;

    fn wrapped(node: &str, inner: &str) -> Element {
        format!(
            "<message xmlns='jabber:client' from='room@conference.localhost' to='bob@localhost'>\
             <event xmlns='http://jabber.org/protocol/pubsub#event'><items node='{node}'>\
             <item id='sid-1'>{inner}</item></items></event></message>"
        )
        .parse()
        .unwrap()
    }

    #[test]
    fn summarises_mucsub_messages_and_subjects() {
        let m = wrapped(
            Node::Messages.as_str(),
            "<message xmlns='jabber:client' from='room@conference.localhost/alice' \
             to='bob@localhost' type='groupchat' id='m1'><body>hi bob</body></message>",
        );
        assert_eq!(
            summarize(&m),
            Some(Event {
                kind: Kind::Message,
                room: Some("room@conference.localhost".into()),
                sender: "alice".into(),
                text: Some("hi bob".into()),
                id: Some("sid-1".into()),
            })
        );
        let s = wrapped(
            Node::Subject.as_str(),
            "<message xmlns='jabber:client' from='room@conference.localhost/alice' \
             type='groupchat'><subject>Plans</subject></message>",
        );
        let ev = summarize(&s).unwrap();
        assert_eq!(ev.kind, Kind::Subject);
        assert_eq!(ev.text.as_deref(), Some("Plans"));
    }

    #[test]
    fn other_nodes_and_bodyless_messages_are_not_summarised() {
        let p = wrapped(
            "urn:xmpp:mucsub:nodes:presence",
            "<presence xmlns='jabber:client' from='room@conference.localhost/alice'/>",
        );
        assert_eq!(summarize(&p), None);
        let chatstate = wrapped(
            Node::Messages.as_str(),
            "<message xmlns='jabber:client' from='room@conference.localhost/alice' type='groupchat'/>",
        );
        assert_eq!(summarize(&chatstate), None);
        let retraction = wrapped(
            Node::Messages.as_str(),
            "<message xmlns='jabber:client' from='room@conference.localhost/alice' type='groupchat'>\
             <retract xmlns='urn:xmpp:message-retract:1' id='s1'/>\
             <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>\
             <body>This person attempted to retract a previous message</body></message>",
        );
        assert_eq!(
            summarize(&retraction),
            None,
            "the fallback body is no message"
        );
        let direct: Element = "<message xmlns='jabber:client' from='carol@localhost/x' \
             type='chat' id='c1'><body>psst</body></message>"
            .parse()
            .unwrap();
        let ev = summarize(&direct).unwrap();
        assert_eq!(ev.kind, Kind::Chat);
        assert_eq!(ev.sender, "carol@localhost");
    }

    #[test]
    fn publish_carries_the_body_only_when_allowed() {
        let ev = Event {
            kind: Kind::Message,
            room: Some("room@conference.localhost".into()),
            sender: "alice".into(),
            text: Some("secret plans".into()),
            id: Some("sid-9".into()),
        };
        let mut reg = Registration {
            user: "bob".into(),
            service: "push.localhost".into(),
            node: "dev1".into(),
            options: vec![("endpoint".into(), "https://p.example/x".into())],
            include_body: false,
        };
        let iq = String::from(&publish_iq("bob@localhost", &reg, &ev, 3, "p1"));
        assert!(!iq.contains("secret plans"));
        assert!(iq.contains("room@conference.localhost"));
        assert!(iq.contains("https://p.example/x"));
        reg.include_body = true;
        let iq = String::from(&publish_iq("bob@localhost", &reg, &ev, 3, "p1"));
        assert!(iq.contains("secret plans"));
    }
}
