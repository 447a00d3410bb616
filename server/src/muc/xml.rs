//! A small builder for the MUC stanzas rooms write (presences, status messages, disco).
//!
//! minidom 0.19 wants `rxml::NcName` attribute names; this takes `&str` so the rest of the
//! MUC code reads like the XML it produces. Names are compile-time literals, so a name
//! that is not a valid NCName is a programming error and is ignored rather than panicking
//! on a peer's input. Namespaces are `crate::ns`; replies are `crate::stanza`.

use minidom::Element;

pub use crate::stanza::set_attr;

/// A builder that takes attribute names as `&str`.
pub struct B(Element);

impl B {
    pub fn new(name: &str, ns: &str) -> B {
        B(Element::bare(name, ns))
    }

    pub fn a(mut self, name: &str, value: impl Into<String>) -> B {
        set_attr(&mut self.0, name, &value.into());
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

/// A child element with text only, e.g. `<body>hi</body>`.
pub fn text_el(name: &str, ns: &str, text: impl Into<String>) -> Element {
    B::new(name, ns).t(text).b()
}

/// The first element child of `el`, if any.
pub fn first_child(el: &Element) -> Option<&Element> {
    el.children().next()
}
