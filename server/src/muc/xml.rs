//! Small helpers over minidom for building and editing stanzas.
//!
//! minidom 0.19 wants `rxml::NcName` attribute names; these helpers take `&str` so the rest
//! of the MUC code reads like the XML it produces. Names are compile-time literals, so a
//! name that is not a valid NCName is a programming error and is ignored rather than
//! panicking on a peer's input.

use minidom::Element;
use rxml::{Namespace, NcName};

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub const NS_MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
pub const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub const NS_DATA: &str = "jabber:x:data";
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_SID: &str = "urn:xmpp:sid:0";
/// `<archived/>` of the old MAM drafts: like `<stanza-id/>`, only the archive may add it.
pub const NS_MAM_TMP: &str = "urn:xmpp:mam:tmp";
pub const NS_MAM: &str = "urn:xmpp:mam:2";
pub const NS_MAM_EXT: &str = "urn:xmpp:mam:2#extended";
pub const NS_RSM: &str = "http://jabber.org/protocol/rsm";
pub const NS_FORWARD: &str = "urn:xmpp:forward:0";
pub const NS_DELAY: &str = "urn:xmpp:delay";
pub const NS_MUCSUB: &str = "urn:xmpp:mucsub:0";
pub const NS_MUCSUB_SYNC: &str = "urn:xmpp:mucsub:sync:0";
pub const NS_PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";

/// A builder that takes attribute names as `&str`.
pub struct B(Element);

impl B {
    pub fn new(name: &str, ns: &str) -> B {
        B(Element::bare(name, ns))
    }

    pub fn a(mut self, name: &str, value: impl Into<String>) -> B {
        set_attr(&mut self.0, name, value);
        self
    }

    /// Sets the attribute only when a value is given.
    pub fn opt(self, name: &str, value: Option<impl Into<String>>) -> B {
        match value {
            Some(v) => self.a(name, v),
            None => self,
        }
    }

    pub fn c(mut self, child: Element) -> B {
        self.0.append_child(child);
        self
    }

    pub fn cs(mut self, children: impl IntoIterator<Item = Element>) -> B {
        for c in children {
            self.0.append_child(c);
        }
        self
    }

    pub fn t(mut self, text: impl Into<String>) -> B {
        self.0.append_text_node(text.into());
        self
    }

    pub fn b(self) -> Element {
        self.0
    }
}

impl From<B> for Element {
    fn from(b: B) -> Element {
        b.0
    }
}

pub fn set_attr(el: &mut Element, name: &str, value: impl Into<String>) {
    if let Ok(n) = NcName::try_from(name) {
        el.set_attr(Namespace::NONE, n, value.into());
    }
}

pub fn remove_attr(el: &mut Element, name: &str) {
    el.attrs_mut().remove(&Namespace::NONE, name);
}

/// A child element with text only, e.g. `<body>hi</body>`.
pub fn text_el(name: &str, ns: &str, text: impl Into<String>) -> Element {
    B::new(name, ns).t(text).b()
}

/// The stanza error element `<error type=…><cond/><text/></error>`.
pub fn error_el(kind: &str, condition: &str, text: &str) -> Element {
    let mut e = B::new("error", NS_CLIENT)
        .a("type", kind)
        .c(Element::bare(condition, NS_STANZAS));
    if !text.is_empty() {
        e = e.c(text_el("text", NS_STANZAS, text));
    }
    e.b()
}

/// A stanza error in reply to `req`: same name and id, addresses swapped, the request's
/// children echoed (as XEP-0045 and ejabberd do) followed by the error.
pub fn error_reply(req: &Element, kind: &str, condition: &str, text: &str) -> Element {
    let mut out = B::new(req.name(), NS_CLIENT)
        .a("type", "error")
        .opt("id", req.attr("id"))
        .opt("from", req.attr("to"))
        .opt("to", req.attr("from"))
        .b();
    for child in req.children() {
        if child.name() != "error" {
            out.append_child(child.clone());
        }
    }
    out.append_child(error_el(kind, condition, text));
    out
}

/// An empty IQ result, or one with a payload.
pub fn iq_result(req: &Element, payload: Option<Element>) -> Element {
    let mut b = B::new("iq", NS_CLIENT)
        .a("type", "result")
        .opt("id", req.attr("id"))
        .opt("from", req.attr("to"))
        .opt("to", req.attr("from"));
    if let Some(p) = payload {
        b = b.c(p);
    }
    b.b()
}

/// The first element child of `el`, if any.
pub fn first_child(el: &Element) -> Option<&Element> {
    el.children().next()
}

/// Writes an element to a string (for storage).
pub fn to_string(el: &Element) -> String {
    String::from(el)
}

/// Parses a stanza stored as text.
pub fn parse(s: &str) -> Option<Element> {
    s.parse::<Element>().ok()
}

/// Removes every child matching name and namespace.
pub fn strip_children(el: &mut Element, name: &str, ns: &str) {
    while el.remove_child(name, ns).is_some() {}
}
