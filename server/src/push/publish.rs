//! The XMPP server's side of XEP-0357 §5: from a stanza that went to offline storage, the
//! summary of what happened, and the pubsub publish IQ sent to each registered app server.

use super::xep0357::Registration;
use super::xml::*;
use minidom::Element;

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
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Subject => "subject",
            Kind::Chat => "chat",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "message" => Some(Kind::Message),
            "subject" => Some(Kind::Subject),
            "chat" => Some(Kind::Chat),
            _ => None,
        }
    }
}

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

/// Summarises a stanza bound for offline storage; `None` when it deserves no notification
/// (not a message, a MucSub node other than `messages`/`subject`, nothing to show).
pub fn summarize(stanza: &Element) -> Option<Event> {
    if stanza.name() != "message" || stanza.attr("type") == Some("error") {
        return None;
    }
    if let Some(event) = stanza.get_child("event", NS_PUBSUB_EVENT) {
        let items = event.get_child("items", NS_PUBSUB_EVENT)?;
        let item = items.get_child("item", NS_PUBSUB_EVENT)?;
        let inner = item.children().find(|c| c.name() == "message")?;
        let room = bare(stanza.attr("from")?).to_string();
        let sender = inner.attr("from").map(resource).unwrap_or("").to_string();
        let id = item.attr("id").map(String::from);
        let (kind, text) = match items.attr("node")? {
            NODE_MESSAGES => (Kind::Message, child_text(inner, "body")?),
            NODE_SUBJECT => (
                Kind::Subject,
                child_text(inner, "subject").unwrap_or_default(),
            ),
            _ => return None,
        };
        return Some(Event {
            kind,
            room: Some(room),
            sender,
            text: Some(text),
            id,
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

fn child_text(el: &Element, name: &str) -> Option<String> {
    el.children().find(|c| c.name() == name).map(|c| c.text())
}

/// The XEP-0357 publish IQ (`from` the account's bare JID, `to` the app server) with the
/// summary form: `message-count`, `last-message-sender` (the room for room events), and
/// `last-message-body` only when the registration allowed bodies. The room, nick, kind and
/// id go in an additional `<mucsub xmlns='urn:xmpp:mucsub:push:0'/>` element.
pub fn publish_iq(
    account: &str,
    reg: &Registration,
    ev: &Event,
    count: u64,
    iq_id: &str,
) -> Element {
    let mut form = with_attr(el("x", NS_DATA), "type", "submit");
    form.append_child(with_attr(
        field("FORM_TYPE", NS_PUSH_SUMMARY),
        "type",
        "hidden",
    ));
    form.append_child(field("message-count", count.to_string()));
    let last_sender = ev.room.clone().unwrap_or_else(|| ev.sender.clone());
    form.append_child(field("last-message-sender", last_sender));
    if reg.include_body {
        if let Some(text) = &ev.text {
            form.append_child(field("last-message-body", text.clone()));
        }
    }
    let mut extra = with_attr(el("mucsub", NS_MUCSUB_PUSH), "kind", ev.kind.as_str());
    extra = with_attr(extra, "sender", ev.sender.clone());
    if let Some(room) = &ev.room {
        extra = with_attr(extra, "room", room.clone());
    }
    if let Some(id) = &ev.id {
        extra = with_attr(extra, "id", id.clone());
    }
    let notification = with_child(with_child(el("notification", NS_PUSH), form), extra);
    let publish = with_child(
        with_attr(el("publish", NS_PUBSUB), "node", reg.node.clone()),
        with_child(el("item", NS_PUBSUB), notification),
    );
    let mut pubsub = with_child(el("pubsub", NS_PUBSUB), publish);
    if !reg.options.is_empty() {
        let mut opts = with_attr(el("x", NS_DATA), "type", "submit");
        opts.append_child(with_attr(
            field("FORM_TYPE", NS_PUBLISH_OPTIONS),
            "type",
            "hidden",
        ));
        for (var, value) in &reg.options {
            opts.append_child(field(var, value.clone()));
        }
        pubsub.append_child(with_child(el("publish-options", NS_PUBSUB), opts));
    }
    let mut iq = with_attr(el("iq", NS_CLIENT), "type", "set");
    iq = with_attr(iq, "id", iq_id);
    iq = with_attr(iq, "from", account);
    iq = with_attr(iq, "to", reg.service.clone());
    with_child(iq, pubsub)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            NODE_MESSAGES,
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
            NODE_SUBJECT,
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
            NODE_MESSAGES,
            "<message xmlns='jabber:client' from='room@conference.localhost/alice' type='groupchat'/>",
        );
        assert_eq!(summarize(&chatstate), None);
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
