//! Element helpers for push: minidom 0.19 wants `NcName` attribute names; these take the
//! compile-time literals push uses as `&str`.

use minidom::Element;
use rxml::{Namespace, NcName};

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_PUSH: &str = "urn:xmpp:push:0";
pub const NS_PUSH_SUMMARY: &str = "urn:xmpp:push:summary";
pub const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
pub const NS_PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
pub const NS_PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
pub const NS_DATA: &str = "jabber:x:data";
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub const NS_SID: &str = "urn:xmpp:sid:0";
/// Our additional notification data: the room, the sender's nick and the event kind, which
/// the summary form has no fields for (XEP-0357 §5 allows additional elements).
pub const NS_MUCSUB_PUSH: &str = "urn:xmpp:mucsub:push:0";
/// The disco#info extension form (XEP-0128) that publishes the VAPID key.
pub const NS_WEBPUSH_FORM: &str = "urn:xmpp:mucsub:push:webpush:0";
pub const NODE_MESSAGES: &str = "urn:xmpp:mucsub:nodes:messages";
pub const NODE_SUBJECT: &str = "urn:xmpp:mucsub:nodes:subject";

pub fn el(name: &str, ns: &str) -> Element {
    Element::bare(name, ns)
}

pub fn with_attr(mut e: Element, name: &str, value: impl Into<String>) -> Element {
    if let Ok(n) = NcName::try_from(name) {
        e.set_attr(Namespace::NONE, n, value.into());
    }
    e
}

pub fn with_child(mut e: Element, child: Element) -> Element {
    e.append_child(child);
    e
}

pub fn text_el(name: &str, ns: &str, text: impl Into<String>) -> Element {
    let mut e = el(name, ns);
    e.append_text_node(text.into());
    e
}

/// `<field var=…><value>…</value></field>` of a data form.
pub fn field(var: &str, value: impl Into<String>) -> Element {
    with_child(
        with_attr(el("field", NS_DATA), "var", var),
        text_el("value", NS_DATA, value),
    )
}

/// The first `<value/>` of every field of a data form, by `var`.
pub fn form_values(form: &Element) -> Vec<(String, String)> {
    form.children()
        .filter(|f| f.is("field", NS_DATA))
        .filter_map(|f| {
            let var = f.attr("var")?;
            let value = f
                .children()
                .find(|v| v.is("value", NS_DATA))
                .map(|v| v.text())
                .unwrap_or_default();
            Some((var.to_string(), value))
        })
        .collect()
}

/// An IQ result to `req`, addresses swapped.
pub fn iq_result(req: &Element, payload: Option<Element>) -> Element {
    let mut r = with_attr(el("iq", NS_CLIENT), "type", "result");
    for (name, from) in [("id", "id"), ("from", "to"), ("to", "from")] {
        if let Some(v) = req.attr(from) {
            r = with_attr(r, name, v);
        }
    }
    match payload {
        Some(p) => with_child(r, p),
        None => r,
    }
}

/// An error reply to `req` that echoes its payload and carries a `<text/>`.
pub fn error_reply(req: &Element, kind: &str, condition: &str, text: &str) -> Element {
    let mut r = with_attr(el(req.name(), NS_CLIENT), "type", "error");
    for (name, from) in [("id", "id"), ("from", "to"), ("to", "from")] {
        if let Some(v) = req.attr(from) {
            r = with_attr(r, name, v);
        }
    }
    for c in req.children().filter(|c| c.name() != "error") {
        r.append_child(c.clone());
    }
    let mut error = with_attr(el("error", NS_CLIENT), "type", kind);
    error.append_child(el(condition, NS_STANZAS));
    if !text.is_empty() {
        error.append_child(text_el("text", NS_STANZAS, text));
    }
    with_child(r, error)
}
