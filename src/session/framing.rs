//! Stream framing, both ways, without I/O: RFC 6120 over TCP (one long-lived XML document,
//! parsed incrementally) and RFC 7395 over WebSocket (one complete element per message).

use minidom::rxml::{Parse, RawParser};
use minidom::tree_builder::TreeBuilder;
use minidom::Element;

use crate::protocol::ns;

/// Which transport framing a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// RFC 6120 `<stream:stream>` over a byte stream.
    Tcp,
    /// RFC 7395 `<open/>`/`<close/>` over WebSocket messages.
    WebSocket,
}

/// A unit received from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Stream header (`<stream:stream>` or `<open/>`); carries its `id`.
    Open {
        /// The stream id.
        id: Option<String>,
    },
    /// A top-level element (stanza, features, SASL, stream error).
    Element(Element),
    /// End of stream (`</stream:stream>` or `<close/>`).
    Close,
}

/// Framing errors: the connection must be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Not well-formed XML (or DTDs, which XMPP forbids).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// One element exceeded the size bound.
    #[error("element larger than {0} bytes")]
    TooLarge(usize),
}

impl Framing {
    /// The stream header to send.
    pub fn open(self, domain: &str) -> String {
        let d = escape(domain);
        match self {
            Framing::Tcp => format!(
                "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                 xmlns:stream='{}' to='{d}' version='1.0'>",
                ns::STREAM
            ),
            Framing::WebSocket => {
                format!("<open xmlns='{}' to='{d}' version='1.0'/>", ns::FRAMING)
            }
        }
    }

    /// The stream footer to send.
    pub fn close(self) -> String {
        match self {
            Framing::Tcp => "</stream:stream>".into(),
            Framing::WebSocket => format!("<close xmlns='{}'/>", ns::FRAMING),
        }
    }
}

/// Serialize one element for the wire.
pub fn serialize(elem: &Element) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail on I/O; a failure would be a minidom bug.
    if elem.write_to(&mut out).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
}

/// Parse one WebSocket text message (RFC 7395: exactly one element).
pub fn parse_ws_message(text: &str) -> Result<Frame, FramingError> {
    let elem: Element = match super::fastxml::parse(text) {
        Some(elem) => elem,
        None => text
            .parse()
            .map_err(|e: minidom::Error| FramingError::Xml(e.to_string()))?,
    };
    if elem.is("open", ns::FRAMING) {
        Ok(Frame::Open {
            id: elem.attr("id").map(str::to_owned),
        })
    } else if elem.is("close", ns::FRAMING) {
        Ok(Frame::Close)
    } else {
        Ok(Frame::Element(elem))
    }
}

/// Incremental parser of a TCP XML stream.
pub struct TcpFramer {
    parser: RawParser,
    tree: TreeBuilder,
    buf: Vec<u8>,
    opened: bool,
    max_element: usize,
    pending_bytes: usize,
    failed: bool,
}

impl TcpFramer {
    /// A parser for a new stream; one element may be at most `max_element` bytes.
    pub fn new(max_element: usize) -> Self {
        TcpFramer {
            parser: RawParser::new(),
            tree: TreeBuilder::new(),
            buf: Vec::new(),
            opened: false,
            max_element,
            pending_bytes: 0,
            failed: false,
        }
    }

    /// Start over (after SASL success, the stream restarts).
    pub fn reset(&mut self) {
        *self = TcpFramer::new(self.max_element);
    }

    /// Feed bytes, get every complete frame.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Frame>, FramingError> {
        if self.failed {
            return Err(FramingError::Xml("stream already failed".into()));
        }
        self.buf.extend_from_slice(data);
        self.pending_bytes += data.len();
        let mut frames = Vec::new();
        let mut slice: &[u8] = &self.buf;
        let result = loop {
            match self.parser.parse(&mut slice, false) {
                Ok(Some(ev)) => {
                    if let Err(e) = self.tree.process_event(ev) {
                        break Err(FramingError::Xml(e.to_string()));
                    }
                    // TreeBuilder pushes an element at the end of its start tag, so a root on
                    // the stack means the header is complete.
                    if self.tree.depth() >= 1 && !self.opened {
                        if let Some(top) = self.tree.top() {
                            if top.name() == "stream" {
                                self.opened = true;
                                frames.push(Frame::Open {
                                    id: top.attr("id").map(str::to_owned),
                                });
                            }
                        }
                    }
                    if self.tree.depth() == 1 {
                        while let Some(child) = self.tree.unshift_child() {
                            self.pending_bytes = 0;
                            frames.push(Frame::Element(child));
                        }
                    }
                    if self.tree.root.is_some() {
                        frames.push(Frame::Close);
                        break Ok(());
                    }
                }
                Ok(None) => {
                    frames.push(Frame::Close);
                    break Ok(());
                }
                Err(minidom::rxml::error::EndOrError::NeedMoreData) => break Ok(()),
                Err(minidom::rxml::error::EndOrError::Error(e)) => {
                    break Err(FramingError::Xml(e.to_string()))
                }
            }
        };
        let consumed = self.buf.len() - slice.len();
        self.buf.drain(..consumed);
        if let Err(e) = result {
            self.failed = true;
            return Err(e);
        }
        if self.pending_bytes > self.max_element {
            self.failed = true;
            return Err(FramingError::TooLarge(self.max_element));
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_stream_split_anywhere() {
        let doc = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' id='abc' version='1.0'>\
            <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
            <mechanism>PLAIN</mechanism></mechanisms></stream:features>\
            <message from='a@b' type='chat'><body>x &amp; y</body></message></stream:stream>";
        for split in 1..doc.len() {
            if !doc.is_char_boundary(split) {
                continue;
            }
            let mut f = TcpFramer::new(1 << 16);
            let mut frames = f.feed(&doc.as_bytes()[..split]).unwrap();
            frames.extend(f.feed(&doc.as_bytes()[split..]).unwrap());
            assert_eq!(frames.len(), 4, "split at {split}: {frames:?}");
            assert_eq!(
                frames[0],
                Frame::Open {
                    id: Some("abc".into())
                }
            );
            match &frames[1] {
                Frame::Element(e) => assert!(e.is("features", ns::STREAM)),
                other => panic!("{other:?}"),
            }
            match &frames[2] {
                Frame::Element(e) => {
                    assert_eq!(e.ns(), "jabber:client");
                    assert_eq!(
                        e.get_child("body", "jabber:client").unwrap().text(),
                        "x & y"
                    );
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(frames[3], Frame::Close);
        }
    }

    #[test]
    fn tcp_rejects_garbage_dtd_and_oversize() {
        let mut f = TcpFramer::new(1 << 16);
        assert!(f.feed(b"<a><b></a>").is_err());
        let mut f = TcpFramer::new(1 << 16);
        assert!(f
            .feed(b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x/>")
            .is_err());
        let mut f = TcpFramer::new(64);
        let mut data = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><message><body>".to_vec();
        data.extend(std::iter::repeat_n(b'x', 200));
        assert_eq!(f.feed(&data), Err(FramingError::TooLarge(64)));
    }

    #[test]
    fn websocket_messages() {
        assert_eq!(
            parse_ws_message("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='s1'/>"),
            Ok(Frame::Open {
                id: Some("s1".into())
            })
        );
        assert_eq!(
            parse_ws_message("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"),
            Ok(Frame::Close)
        );
        assert!(matches!(
            parse_ws_message("<iq xmlns='jabber:client' type='result' id='1'/>"),
            Ok(Frame::Element(_))
        ));
        assert!(parse_ws_message("<iq").is_err());
    }
}
