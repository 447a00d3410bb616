//! A fast path for reading one WebSocket frame (RFC 7395: one complete element) into a
//! minidom [`Element`]. rxml's tokenizer plus minidom's tree builder were the largest
//! single cost of the browser resync (650 ms of wasm time for 10,000 archived messages in a
//! Chrome profile; 300 ms with this path). This reads the plain shape servers send (ASCII
//! names, namespace declarations, quoted attributes, text with the five predefined
//! entities) in one pass and builds the same tree. Anything else (comments, CDATA,
//! processing instructions, character references, non-ASCII names, attribute whitespace
//! XML would normalise, a carriage return, a duplicate attribute, an undeclared prefix,
//! anything malformed) gives `None`, and the caller parses the frame with rxml, which
//! accepts or refuses it exactly as before. The tests check that every tree built here is
//! the one rxml builds, namespace declarations included.

use std::borrow::Cow;

use minidom::rxml::{Namespace, NcName};
use minidom::Element;

/// Longest name or attribute value read here (rxml's token limit is 8 KiB).
const MAX_TOKEN: usize = 4096;
/// Deeper trees go to rxml.
const MAX_DEPTH: usize = 64;

/// The element in `text`, or `None` when the frame is not of the plain shape read here.
pub fn parse(text: &str) -> Option<Element> {
    Parser {
        src: text,
        s: text.as_bytes(),
        pos: 0,
        scopes: Vec::new(),
        stack: Vec::new(),
    }
    .document()
}

struct Open<'a> {
    qname: &'a str,
    elem: Element,
    scope_len: usize,
}

struct Parser<'a> {
    src: &'a str,
    s: &'a [u8],
    pos: usize,
    /// Namespace declarations in scope, innermost last: prefix (`None`: the default) and
    /// namespace name.
    scopes: Vec<(Option<&'a str>, String)>,
    stack: Vec<Open<'a>>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Text or an attribute value with its entities decoded; `None` when it holds anything
/// the fast path leaves to rxml.
fn unescape(raw: &str, attribute: bool) -> Option<Cow<'_, str>> {
    let b = raw.as_bytes();
    let mut amp = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            // Attribute values have their whitespace normalised and `\r` is folded in
            // text: both left to rxml, as are control characters (not XML characters).
            b'\t' | b'\n' if attribute => return None,
            b'\t' | b'\n' => {}
            0..=0x1f => return None,
            b'<' => return None,
            b'&' => amp = true,
            // `]]>` may not appear in text.
            b'>' if !attribute && i >= 2 && &b[i - 2..i] == b"]]" => return None,
            // U+FFFE and U+FFFF are no XML characters.
            0xef if b.get(i + 1) == Some(&0xbf) && matches!(b.get(i + 2), Some(0xbe | 0xbf)) => {
                return None
            }
            _ => {}
        }
    }
    if !amp {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let end = rest.find(';')?;
        out.push(match &rest[..end] {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => return None,
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

fn ncname_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn ncname_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_space(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// An ASCII NCName.
    fn ncname(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if !self.peek().is_some_and(ncname_start) {
            return None;
        }
        self.pos += 1;
        while self.peek().is_some_and(ncname_char) {
            self.pos += 1;
        }
        (self.pos - start <= MAX_TOKEN).then(|| &self.src[start..self.pos])
    }

    /// A qualified name: (prefix, local name, the whole name).
    fn qname(&mut self) -> Option<(Option<&'a str>, &'a str, &'a str)> {
        let start = self.pos;
        let first = self.ncname()?;
        if self.peek() != Some(b':') {
            return Some((None, first, first));
        }
        self.pos += 1;
        let local = self.ncname()?;
        Some((Some(first), local, &self.src[start..self.pos]))
    }

    fn lookup(&self, prefix: Option<&str>) -> Option<&str> {
        self.scopes
            .iter()
            .rev()
            .find(|(p, _)| *p == prefix)
            .map(|(_, ns)| ns.as_str())
    }

    fn document(mut self) -> Option<Element> {
        if self.peek() != Some(b'<') {
            return None;
        }
        loop {
            let done = if self.peek()? == b'<' {
                match *self.s.get(self.pos + 1)? {
                    b'/' => self.end_tag()?,
                    b'!' | b'?' => return None,
                    _ => self.start_tag()?,
                }
            } else {
                self.text()?;
                None
            };
            if let Some(root) = done {
                // Only the element: anything after it is rxml's to judge.
                return (self.pos == self.s.len()).then_some(root);
            }
        }
    }

    /// Text up to the next tag, appended to the open element.
    fn text(&mut self) -> Option<()> {
        let start = self.pos;
        let len = self.s[start..].iter().position(|&b| b == b'<')?;
        self.pos = start + len;
        let text = unescape(&self.src[start..self.pos], false)?;
        self.stack.last_mut()?.elem.append_text(text.into_owned());
        Some(())
    }

    /// `Some(Some(root))` when the root element is complete.
    fn end_tag(&mut self) -> Option<Option<Element>> {
        self.pos += 2;
        let (_, _, qname) = self.qname()?;
        self.skip_space();
        if self.peek()? != b'>' {
            return None;
        }
        self.pos += 1;
        let open = self.stack.pop()?;
        if open.qname != qname {
            return None;
        }
        self.scopes.truncate(open.scope_len);
        Some(self.close(open.elem))
    }

    fn close(&mut self, elem: Element) -> Option<Element> {
        match self.stack.last_mut() {
            Some(parent) => {
                parent.elem.append_child(elem);
                None
            }
            None => Some(elem),
        }
    }

    fn start_tag(&mut self) -> Option<Option<Element>> {
        if self.stack.len() >= MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        let (prefix, local, qname) = self.qname()?;
        let scope_len = self.scopes.len();
        let mut attrs: Vec<(Option<&'a str>, &'a str, Cow<'a, str>)> = Vec::new();
        let empty = loop {
            let space = self.skip_space();
            match self.peek()? {
                b'>' => {
                    self.pos += 1;
                    break false;
                }
                b'/' => {
                    if self.s.get(self.pos + 1) != Some(&b'>') {
                        return None;
                    }
                    self.pos += 2;
                    break true;
                }
                _ if space == 0 => return None,
                _ => {}
            }
            let (ap, al, _) = self.qname()?;
            self.skip_space();
            if self.peek()? != b'=' {
                return None;
            }
            self.pos += 1;
            self.skip_space();
            let quote = self.peek()?;
            if quote != b'"' && quote != b'\'' {
                return None;
            }
            let start = self.pos + 1;
            let len = self.s[start..].iter().position(|&b| b == quote)?;
            if len > MAX_TOKEN {
                return None;
            }
            self.pos = start + len + 1;
            let value = unescape(&self.src[start..start + len], true)?;
            let declared = match (ap, al) {
                (None, "xmlns") => Some(None),
                (Some("xmlns"), "xml" | "xmlns") => return None,
                (Some("xmlns"), p) => Some(Some(p)),
                _ => None,
            };
            match declared {
                Some(p) => {
                    if value.is_empty() || self.scopes[scope_len..].iter().any(|(q, _)| *q == p) {
                        return None;
                    }
                    self.scopes.push((p, value.into_owned()));
                }
                None => attrs.push((ap, al, value)),
            }
        };
        let ns = self.lookup(prefix)?.to_owned();
        let mut b = Element::builder(local, ns);
        for (p, ns) in &self.scopes[scope_len..] {
            b = b.prefix(p.map(str::to_owned), ns.clone()).ok()?;
        }
        let mut resolved: Vec<(Namespace<'static>, &'a str, Cow<'a, str>)> =
            Vec::with_capacity(attrs.len());
        for (ap, al, value) in attrs {
            let ns = match ap {
                None => Namespace::NONE,
                Some("xml") => Namespace::xml().clone(),
                Some(p) => Namespace::from(self.lookup(Some(p))?.to_owned()),
            };
            // rxml's tree builder would keep the last of two equal names: left to it.
            if resolved.iter().any(|(n, l, _)| *l == al && *n == ns) {
                return None;
            }
            resolved.push((ns, al, value));
        }
        for (ns, al, value) in resolved {
            let name = NcName::try_from(al).ok()?;
            b = if ns.is_none() {
                b.attr(name, value.into_owned())
            } else {
                b.attr_ns(ns, name, value.into_owned())
            };
        }
        let elem = b.build();
        if empty {
            self.scopes.truncate(scope_len);
            return Some(self.close(elem));
        }
        self.stack.push(Open {
            qname,
            elem,
            scope_len,
        });
        Some(None)
    }
}

// Native only: proptest is a native dev-dependency.
#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "fastxml_tests.rs"]
mod tests;
