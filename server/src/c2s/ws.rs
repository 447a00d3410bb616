//! RFC 7395: XMPP over WebSocket, one element per text frame.

use super::{RecvError, Transport};
use crate::xmlstream::{Framing, Limits, StreamEvent, StreamParser, XmlError};
use axum::extract::ws::{Message, WebSocket};
use std::net::SocketAddr;

pub struct WsTransport {
    socket: WebSocket,
    parser: StreamParser,
    limits: Limits,
    peer: SocketAddr,
    closed: bool,
    last_activity: tokio::time::Instant,
    bytes_read: u64,
}

impl WsTransport {
    pub fn new(socket: WebSocket, peer: SocketAddr, limits: Limits) -> Self {
        WsTransport {
            socket,
            parser: StreamParser::new(Framing::WebSocket, limits),
            limits,
            peer,
            closed: false,
            last_activity: tokio::time::Instant::now(),
            bytes_read: 0,
        }
    }
}

impl Transport for WsTransport {
    async fn recv(&mut self) -> Result<Option<StreamEvent>, RecvError> {
        loop {
            if let Some(ev) = self.parser.next_event() {
                return Ok(Some(ev));
            }
            if self.closed {
                return Ok(None);
            }
            let msg = self.socket.recv().await;
            self.last_activity = tokio::time::Instant::now();
            match msg {
                None | Some(Ok(Message::Close(_))) => {
                    self.closed = true;
                    return Ok(None);
                }
                Some(Ok(Message::Text(t))) => {
                    self.bytes_read += t.len() as u64;
                    self.parser.feed(t.as_bytes()).map_err(RecvError::Xml)?
                }
                Some(Ok(Message::Binary(_))) => {
                    return Err(RecvError::Xml(XmlError::NotWellFormed(
                        "binary WebSocket frame".into(),
                    )))
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    self.closed = true;
                    return Err(RecvError::Io(std::io::Error::other(e)));
                }
            }
        }
    }

    async fn send(&mut self, data: &str) -> std::io::Result<()> {
        self.socket
            .send(Message::Text(data.into()))
            .await
            .map_err(std::io::Error::other)
    }

    async fn send_many(&mut self, items: &[String]) -> std::io::Result<()> {
        use futures_util::SinkExt;
        // Still one element per frame (RFC 7395); only the flush is shared.
        for data in items {
            self.socket
                .feed(Message::Text(data.as_str().into()))
                .await
                .map_err(std::io::Error::other)?;
        }
        self.socket.flush().await.map_err(std::io::Error::other)
    }

    fn restart(&mut self) {
        self.parser = StreamParser::new(Framing::WebSocket, self.limits);
    }

    fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        self.parser.set_limits(limits);
    }

    fn is_secure(&self) -> bool {
        // TLS for the HTTP listener is terminated by a reverse proxy in production; we only
        // see plain WebSocket, so this is secure only on loopback.
        self.is_loopback()
    }

    fn is_loopback(&self) -> bool {
        self.peer.ip().is_loopback()
    }

    fn can_starttls(&self) -> bool {
        false
    }

    async fn starttls(&mut self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    fn header(&self, id: &str, domain: &str) -> String {
        format!(
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='{id}' from='{}' \
             version='1.0' xml:lang='en'/>",
            crate::stanza::escape_attr(domain)
        )
    }

    fn footer(&self) -> &'static str {
        "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"
    }

    fn last_activity(&self) -> tokio::time::Instant {
        self.last_activity
    }

    fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    async fn probe(&mut self) -> std::io::Result<bool> {
        self.socket
            .send(Message::Ping(bytes::Bytes::from_static(b"mucsub")))
            .await
            .map_err(std::io::Error::other)?;
        Ok(true)
    }

    async fn shutdown(&mut self) {
        let _ = self.socket.send(Message::Close(None)).await;
    }
}
