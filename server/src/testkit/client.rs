//! The raw XMPP client: a TCP (optionally TLS) or WebSocket connection, what it sends,
//! and what it waits for.

use super::basics::{xml_with_ns, TIMEOUT};
use crate::ns;
use crate::xmlstream::{Framing, Limits, StreamEvent, StreamParser};
use futures_util::{SinkExt, StreamExt};
use minidom::Element;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(super) enum Conn {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Ws(Box<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>>),
    Gone,
}

/// What the server sent, beyond stanzas.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A top-level element (stanzas, features, SASL elements, `stream:error`).
    Element(Element),
    /// The server's stream header / `<open/>`.
    Open,
    /// `</stream:stream>` / `<close/>`.
    Close,
    /// The connection closed.
    Eof,
}

/// The client side of XEP-0198, once enabled (`sm.rs`).
#[derive(Debug, Clone, Default)]
pub(super) struct ClientSm {
    /// Stanzas received since management was enabled (the client's `h`).
    pub(super) h: u32,
    /// Answer the server's `<r/>` by itself.
    pub(super) auto_ack: bool,
    /// `<r/>` requests seen.
    pub(super) requests: usize,
}

/// A raw XMPP client over TCP (optionally STARTTLS) or WebSocket.
pub struct RawClient {
    pub(super) conn: Conn,
    parser: StreamParser,
    /// The bound full JID (empty before binding).
    pub jid: String,
    domain: String,
    id_counter: u64,
    pub(super) sm: Option<ClientSm>,
}

const CLIENT_LIMITS: Limits = Limits {
    max_stanza: 64 << 20,
    max_depth: 256,
};

impl RawClient {
    /// Opens a TCP connection and sends the stream header (no features read yet).
    pub async fn connect_tcp(addr: SocketAddr) -> RawClient {
        let s = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect timeout")
            .expect("connect");
        RawClient {
            conn: Conn::Tcp(s),
            parser: StreamParser::new(Framing::Stream, CLIENT_LIMITS),
            jid: String::new(),
            domain: "localhost".into(),
            id_counter: 0,
            sm: None,
        }
    }

    /// Opens a WebSocket (subprotocol `xmpp`) to a `ws://…/ws` URL.
    pub async fn connect_ws(url: &str) -> RawClient {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = url.into_client_request().expect("ws url");
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "xmpp".parse().expect("header"));
        let (ws, resp) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(req))
            .await
            .expect("ws connect timeout")
            .expect("ws connect");
        assert_eq!(
            resp.headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok()),
            Some("xmpp"),
            "server selects the xmpp subprotocol"
        );
        RawClient {
            conn: Conn::Ws(Box::new(ws)),
            parser: StreamParser::new(Framing::WebSocket, CLIENT_LIMITS),
            jid: String::new(),
            domain: "localhost".into(),
            id_counter: 0,
            sm: None,
        }
    }

    pub(super) fn is_ws(&self) -> bool {
        matches!(self.conn, Conn::Ws(_))
    }

    /// Sends a stream header (TCP) or `<open/>` (WebSocket) to `localhost`.
    pub async fn open(&mut self) {
        let d = self.domain.clone();
        self.open_to(&d).await
    }

    pub async fn open_to(&mut self, domain: &str) {
        if self.is_ws() {
            self.parser = StreamParser::new(Framing::WebSocket, CLIENT_LIMITS);
            self.send(&format!(
                "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{domain}' version='1.0'/>"
            ))
            .await;
        } else {
            self.parser = StreamParser::new(Framing::Stream, CLIENT_LIMITS);
            self.send(&format!(
                "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                 xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>"
            ))
            .await;
        }
    }

    /// Sends raw bytes (anything, including invalid XML). Ignores a closed connection.
    pub async fn send_bytes(&mut self, data: &[u8]) {
        let _ = match &mut self.conn {
            Conn::Tcp(s) => s.write_all(data).await,
            Conn::Tls(s) => s.write_all(data).await,
            Conn::Ws(ws) => ws
                .send(tokio_tungstenite::tungstenite::Message::Text(
                    String::from_utf8_lossy(data).into_owned().into(),
                ))
                .await
                .map_err(std::io::Error::other),
            Conn::Gone => Ok(()),
        };
    }

    /// Sends an XML string (one stanza or any element). Over WebSocket, where every frame
    /// is a document of its own, a stanza written without `xmlns` gets `jabber:client`.
    pub async fn send(&mut self, xml: &str) {
        if self.is_ws() {
            let wrapped = format!("<w xmlns='jabber:client'>{xml}</w>");
            if let Ok(w) = wrapped.parse::<Element>() {
                let mut children = w.children();
                if let (Some(el), None) = (children.next(), children.next()) {
                    let xml = crate::stanza::to_xml(el);
                    return self.send_bytes(xml.as_bytes()).await;
                }
            }
        }
        self.send_bytes(xml.as_bytes()).await
    }

    /// Sends an element.
    pub async fn send_el(&mut self, el: &Element) {
        let xml = crate::stanza::to_xml(el);
        self.send(&xml).await
    }

    /// Next thing from the server, or `None` after `wait`.
    pub async fn next_incoming(&mut self, wait: Duration) -> Option<Incoming> {
        tokio::time::timeout(wait, self.read_incoming()).await.ok()
    }

    async fn read_incoming(&mut self) -> Incoming {
        loop {
            if let Some(ev) = self.parser.next_event() {
                let el = match ev {
                    StreamEvent::Open(_) => return Incoming::Open,
                    StreamEvent::Stanza(el) => el,
                    StreamEvent::Close => return Incoming::Close,
                };
                if self.sm_incoming(&el).await {
                    continue;
                }
                return Incoming::Element(el);
            }
            let mut buf = [0u8; 16384];
            let data: Vec<u8> = match &mut self.conn {
                Conn::Tcp(s) => match s.read(&mut buf).await {
                    Ok(n) if n > 0 => buf[..n].to_vec(),
                    _ => Vec::new(),
                },
                Conn::Tls(s) => match s.read(&mut buf).await {
                    Ok(n) if n > 0 => buf[..n].to_vec(),
                    _ => Vec::new(),
                },
                Conn::Ws(ws) => loop {
                    match ws.next().await {
                        Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                            break t.as_bytes().to_vec()
                        }
                        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
                        | None
                        | Some(Err(_)) => break Vec::new(),
                        Some(Ok(_)) => continue,
                    }
                },
                Conn::Gone => Vec::new(),
            };
            if data.is_empty() {
                self.conn = Conn::Gone;
                return Incoming::Eof;
            }
            if let Err(e) = self.parser.feed(&data) {
                panic!(
                    "server sent bad XML: {e}: {}",
                    String::from_utf8_lossy(&data)
                );
            }
        }
    }

    /// The next top-level element; panics on timeout, stream end or a stream header.
    pub async fn recv(&mut self) -> Element {
        match self.next_incoming(TIMEOUT).await {
            Some(Incoming::Element(el)) => el,
            other => panic!("{}: expected an element, got {other:?}", self.jid),
        }
    }

    /// The next element within `wait`, or `None` (use to assert that nothing arrives).
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Element> {
        match self.next_incoming(wait).await {
            Some(Incoming::Element(el)) => Some(el),
            None => None,
            Some(other) => panic!("{}: expected an element, got {other:?}", self.jid),
        }
    }

    /// Receives until an element matches `pred` (others are skipped and logged).
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Element(el)) if pred(&el) => return el,
                Some(Incoming::Element(el)) if el.is("error", ns::STREAM) => panic!(
                    "{}: waiting for {what}, got a stream error: {}",
                    self.jid,
                    crate::stanza::to_xml(&el)
                ),
                Some(Incoming::Element(el)) => {
                    tracing::debug!(skipped = %crate::stanza::to_xml(&el), "expect: skipping")
                }
                Some(Incoming::Open) => {}
                other => panic!("{}: waiting for {what}, got {other:?}", self.jid),
            }
        }
    }

    /// Skips to the next `<message/>` with a body.
    pub async fn expect_message(&mut self) -> Element {
        self.expect("a message with a body", |e| {
            e.name() == "message" && e.get_child("body", ns::CLIENT).is_some()
        })
        .await
    }

    /// Skips to the IQ reply with this id.
    pub async fn expect_iq(&mut self, id: &str) -> Element {
        self.expect(&format!("iq reply {id}"), |e| {
            e.name() == "iq"
                && e.attr("id") == Some(id)
                && matches!(e.attr("type"), Some("result") | Some("error"))
        })
        .await
    }

    /// Sends an IQ (its `id` attribute must be set) and returns the reply.
    pub async fn iq(&mut self, xml: &str) -> Element {
        let el: Element = xml_with_ns(xml);
        let id = el.attr("id").expect("iq needs an id").to_owned();
        self.send(xml).await;
        self.expect_iq(&id).await
    }

    /// A fresh id for stanzas.
    pub fn next_id(&mut self) -> String {
        self.id_counter += 1;
        format!("tk{}", self.id_counter)
    }

    /// Reads until the stream ends and returns the stream error condition (panics if the
    /// stream ends without one). The connection is closed afterwards.
    pub async fn expect_stream_error(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Element(el)) if el.is("error", ns::STREAM) => {
                    let cond = el
                        .children()
                        .find(|c| c.ns() == ns::STREAMS_ERR && c.name() != "text")
                        .map(|c| c.name().to_owned())
                        .unwrap_or_default();
                    // The stream must then end.
                    match self.next_incoming(TIMEOUT).await {
                        Some(Incoming::Close) | Some(Incoming::Eof) => {}
                        other => panic!("after stream error {cond}: {other:?}"),
                    }
                    return cond;
                }
                Some(Incoming::Element(_)) | Some(Incoming::Open) => {}
                other => panic!("{}: waiting for a stream error, got {other:?}", self.jid),
            }
        }
    }

    /// Waits for the server to end the stream (`</stream:stream>` / `<close/>` or EOF),
    /// skipping stanzas.
    pub async fn expect_stream_end(&mut self) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Close) | Some(Incoming::Eof) => return,
                Some(Incoming::Element(el)) if el.is("error", ns::STREAM) => {
                    panic!("unexpected stream error: {}", crate::stanza::to_xml(&el))
                }
                Some(_) => {}
                None => panic!("{}: the stream did not end", self.jid),
            }
        }
    }

    /// Collects whatever arrives until nothing has for `quiet`.
    pub async fn drain_for(&mut self, quiet: Duration) -> Vec<Element> {
        let mut out = Vec::new();
        while let Some(Incoming::Element(el)) = self.next_incoming(quiet).await {
            out.push(el);
        }
        out
    }

    /// [`RawClient::drain_for`] 300 ms.
    pub async fn drain(&mut self) -> Vec<Element> {
        self.drain_for(Duration::from_millis(300)).await
    }

    /// Reads the stream header and the features that follow.
    pub async fn read_features(&mut self) -> Element {
        self.expect("stream features", |e| e.is("features", ns::STREAM))
            .await
    }

    /// Sends `</stream:stream>` / `<close/>` and waits for the server's.
    pub async fn close(mut self) {
        if self.is_ws() {
            self.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
                .await;
        } else {
            self.send("</stream:stream>").await;
        }
        self.expect_stream_end().await;
    }

    /// Drops the connection without closing the stream (a lost connection).
    pub fn disconnect(self) {}
}
