//! RFC 7395: XMPP over WebSocket, one element per text frame.

use super::inbound::{Inbound, RecvError};
use super::Transport;
use crate::xmlstream::{Framing, Limits, StreamEvent, XmlError};
use axum::extract::ws::{Message, WebSocket};
use std::net::SocketAddr;

pub(crate) struct WsTransport {
    socket: WebSocket,
    inbound: Inbound,
    peer: SocketAddr,
    closed: bool,
}

impl WsTransport {
    pub(crate) fn new(socket: WebSocket, peer: SocketAddr, limits: Limits) -> Self {
        WsTransport {
            socket,
            inbound: Inbound::new(Framing::WebSocket, limits),
            peer,
            closed: false,
        }
    }
}

impl Transport for WsTransport {
    const KIND: &'static str = "websocket";

    async fn recv(&mut self) -> Result<Option<StreamEvent>, RecvError> {
        loop {
            if let Some(ev) = self.inbound.next_event() {
                return Ok(Some(ev));
            }
            if self.closed {
                return Ok(None);
            }
            let msg = self.socket.recv().await;
            self.inbound.touch();
            match msg {
                None | Some(Ok(Message::Close(_))) => {
                    self.closed = true;
                    return Ok(None);
                }
                Some(Ok(Message::Text(t))) => self.inbound.feed(t.as_bytes())?,
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

    fn inbound(&self) -> &Inbound {
        &self.inbound
    }

    fn inbound_mut(&mut self) -> &mut Inbound {
        &mut self.inbound
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
