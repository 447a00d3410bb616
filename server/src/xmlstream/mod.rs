//! The streaming XML parser for client connections.
//!
//! rxml does the XML work and already refuses DTDs, entity declarations, comments and
//! processing instructions. On top of it this module enforces, while bytes arrive and
//! before any stanza is fully buffered:
//! - a byte budget per stanza (counted on the raw input consumed since the previous stanza
//!   ended, so whitespace floods and unterminated tags are bounded too);
//! - a maximum element depth inside a stanza.
//!
//! Two framings share the code: [`Framing::Stream`] is RFC 6120 TCP, one continuous
//! document whose root is `<stream:stream>`; [`Framing::WebSocket`] is RFC 7395, where
//! each frame is one complete element (`<open/>`, a stanza, or `<close/>`).

use crate::ns;
use minidom::Element;
use rxml::error::EndOrError;
use rxml::{Event, Parse, WithOptions};
use std::collections::{HashMap, VecDeque};

/// What the parser produced.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// `<stream:stream …>` or the RFC 7395 `<open/>`: its attributes (unprefixed ones by
    /// local name, `xml:lang` as `xml:lang`).
    Open(HashMap<String, String>),
    /// One complete top-level element.
    Stanza(Element),
    /// `</stream:stream>` or `<close/>`.
    Close,
}

/// Why the stream must end, with the RFC 6120 stream error condition to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("not well-formed: {0}")]
    NotWellFormed(String),
    #[error("restricted XML: {0}")]
    RestrictedXml(String),
    #[error("limit exceeded: {0}")]
    PolicyViolation(String),
    #[error("invalid namespace: {0}")]
    InvalidNamespace(String),
    #[error("unsupported encoding")]
    UnsupportedEncoding,
}

impl XmlError {
    /// The `urn:ietf:params:xml:ns:xmpp-streams` condition element name.
    pub fn condition(&self) -> &'static str {
        match self {
            XmlError::NotWellFormed(_) => "not-well-formed",
            XmlError::RestrictedXml(_) => "restricted-xml",
            XmlError::PolicyViolation(_) => "policy-violation",
            XmlError::InvalidNamespace(_) => "invalid-namespace",
            XmlError::UnsupportedEncoding => "unsupported-encoding",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Stream,
    WebSocket,
}

/// Size and depth limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_stanza: usize,
    pub max_depth: usize,
}

/// Incremental parser for one stream (create a new one on every stream restart).
pub struct StreamParser {
    parser: rxml::Parser,
    framing: Framing,
    limits: Limits,
    /// Elements under construction; `stack[0]` is the stanza root (the stream root is not
    /// kept).
    stack: Vec<Element>,
    /// Whether the TCP stream root has been opened.
    root_open: bool,
    /// Raw bytes consumed since the last stanza (or the stream header) ended.
    pending: usize,
    events: VecDeque<StreamEvent>,
    failed: Option<XmlError>,
    closed: bool,
}

impl StreamParser {
    pub fn new(framing: Framing, limits: Limits) -> Self {
        let options = rxml::Options {
            // rxml refuses single tokens (names, attribute values) longer than this; text is
            // split. Bounded by the stanza budget so a long token cannot dodge it.
            max_token_length: limits.max_stanza.clamp(64, 1 << 20),
            ..rxml::Options::default()
        };
        StreamParser {
            parser: rxml::Parser::with_options(options),
            framing,
            limits,
            stack: Vec::new(),
            root_open: false,
            pending: 0,
            events: VecDeque::new(),
            failed: None,
            closed: false,
        }
    }

    /// Changes the limits (after authentication the stanza budget grows).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Feeds raw bytes. On error the stream must be closed with the returned condition;
    /// the parser stays failed.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), XmlError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let at_eof = self.framing == Framing::WebSocket;
        if at_eof {
            // A frame is a whole document: check its size before parsing anything.
            if data.len() > self.limits.max_stanza {
                return self.fail(XmlError::PolicyViolation(format!(
                    "frame of {} bytes exceeds {}",
                    data.len(),
                    self.limits.max_stanza
                )));
            }
            // RFC 7395: every frame is a new document.
            let events = std::mem::take(&mut self.events);
            *self = StreamParser::new(self.framing, self.limits);
            self.events = events;
        }
        while !self.closed {
            let before = data.len();
            let r = self.parser.parse(&mut data, at_eof);
            self.pending += before - data.len();
            if self.pending > self.limits.max_stanza {
                return self.fail(XmlError::PolicyViolation(format!(
                    "stanza exceeds {} bytes",
                    self.limits.max_stanza
                )));
            }
            match r {
                Ok(Some(ev)) => {
                    if let Err(e) = self.handle(ev) {
                        return self.fail(e);
                    }
                }
                Ok(None) => {
                    if at_eof && !self.closed && self.events.is_empty() {
                        return self.fail(XmlError::NotWellFormed("empty frame".into()));
                    }
                    break;
                }
                Err(EndOrError::NeedMoreData) => break,
                Err(EndOrError::Error(e)) => return self.fail(map_error(e)),
            }
        }
        if at_eof && !data.is_empty() && !data.iter().all(u8::is_ascii_whitespace) {
            return self.fail(XmlError::NotWellFormed(
                "data after the frame's element".into(),
            ));
        }
        Ok(())
    }

    /// The next complete event, if any.
    pub fn next_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    fn fail(&mut self, e: XmlError) -> Result<(), XmlError> {
        self.failed = Some(e.clone());
        Err(e)
    }

    fn handle(&mut self, ev: Event) -> Result<(), XmlError> {
        match ev {
            Event::XmlDeclaration(..) => Ok(()),
            Event::StartElement(_, (ns_uri, name), attrs) => {
                let ns_uri = ns_uri.as_str().to_owned();
                let name = name.as_str().to_owned();
                if self.framing == Framing::Stream && !self.root_open {
                    if name != "stream" || ns_uri != ns::STREAM {
                        return Err(XmlError::InvalidNamespace(format!(
                            "root element {{{ns_uri}}}{name} is not a stream"
                        )));
                    }
                    self.root_open = true;
                    self.pending = 0;
                    self.events.push_back(StreamEvent::Open(attr_map(&attrs)));
                    return Ok(());
                }
                if self.framing == Framing::WebSocket && self.stack.is_empty() {
                    if ns_uri == ns::FRAMING && name == "open" {
                        self.events.push_back(StreamEvent::Open(attr_map(&attrs)));
                        self.closed = true;
                        return Ok(());
                    }
                    if ns_uri == ns::FRAMING && name == "close" {
                        self.events.push_back(StreamEvent::Close);
                        self.closed = true;
                        return Ok(());
                    }
                }
                if self.stack.len() >= self.limits.max_depth {
                    return Err(XmlError::PolicyViolation(format!(
                        "nesting deeper than {}",
                        self.limits.max_depth
                    )));
                }
                let mut el = Element::builder(name, ns_uri).build();
                *el.attrs_mut() = attrs;
                self.stack.push(el);
                Ok(())
            }
            Event::EndElement(_) => {
                match self.stack.pop() {
                    Some(el) => match self.stack.last_mut() {
                        Some(parent) => {
                            parent.append_child(el);
                        }
                        None => {
                            self.pending = 0;
                            self.events.push_back(StreamEvent::Stanza(el));
                            if self.framing == Framing::WebSocket {
                                self.closed = true;
                            }
                        }
                    },
                    None => {
                        // Only the stream root can end with an empty stack.
                        self.closed = true;
                        self.events.push_back(StreamEvent::Close);
                    }
                }
                Ok(())
            }
            Event::Text(_, text) => {
                if let Some(top) = self.stack.last_mut() {
                    top.append_text(text.as_str());
                } else if text.as_str().chars().all(|c| c.is_ascii_whitespace()) {
                    // Whitespace keepalives between stanzas are complete once seen: they
                    // must not add up to a stanza's budget over a long session.
                    self.pending = 0;
                } else {
                    return Err(XmlError::NotWellFormed(
                        "character data between stanzas".into(),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Parses one complete element (e.g. a stanza read back from storage) with the same
/// limits and restrictions as the wire.
pub fn parse_element(xml: &str, limits: Limits) -> Result<Element, XmlError> {
    let mut p = StreamParser::new(Framing::WebSocket, limits);
    p.feed(xml.as_bytes())?;
    match p.next_event() {
        Some(StreamEvent::Stanza(el)) => Ok(el),
        _ => Err(XmlError::NotWellFormed("not a single element".into())),
    }
}

fn attr_map(attrs: &rxml::AttrMap) -> HashMap<String, String> {
    attrs
        .iter()
        .map(|((ns_uri, name), value)| {
            let key = if ns_uri.as_str() == rxml::XMLNS_XML {
                format!("xml:{}", name.as_str())
            } else {
                name.as_str().to_owned()
            };
            (key, value.to_string())
        })
        .collect()
}

fn map_error(e: rxml::Error) -> XmlError {
    match e {
        rxml::Error::RestrictedXml(what) if what.contains("long") || what.contains("too long") => {
            XmlError::PolicyViolation(what.to_owned())
        }
        rxml::Error::RestrictedXml(what) if what.contains("encoding") => {
            XmlError::UnsupportedEncoding
        }
        rxml::Error::RestrictedXml(what) => XmlError::RestrictedXml(what.to_owned()),
        rxml::Error::UndeclaredEntity => XmlError::RestrictedXml("entity reference".into()),
        // rxml knows only `<!--` and `<![CDATA[` after `<!`; anything else there is a
        // `<!DOCTYPE` (or an `<!ENTITY` in one), which XMPP forbids (RFC 6120 11.1).
        rxml::Error::InvalidSyntax(what) if what.contains("cdata or comment") => {
            XmlError::RestrictedXml("DTD".into())
        }
        rxml::Error::InvalidUtf8Byte(_) => XmlError::NotWellFormed("invalid UTF-8".into()),
        other => XmlError::NotWellFormed(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests;
