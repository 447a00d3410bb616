//! RFC 6120 over TCP, with STARTTLS.

use super::inbound::{Inbound, RecvError};
use super::Transport;
use crate::xmlstream::{Framing, Limits, StreamEvent};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Only while the TLS handshake runs.
    Gone,
}

pub(crate) struct TcpTransport {
    io: Io,
    inbound: Inbound,
    buf: Vec<u8>,
    peer: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
}

impl TcpTransport {
    pub(crate) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        limits: Limits,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let _ = stream.set_nodelay(true);
        TcpTransport {
            io: Io::Plain(stream),
            inbound: Inbound::new(Framing::Stream, limits),
            buf: vec![0; 8192],
            peer,
            acceptor,
        }
    }
}

impl Transport for TcpTransport {
    const KIND: &'static str = "tcp";

    async fn recv(&mut self) -> Result<Option<StreamEvent>, RecvError> {
        loop {
            if let Some(ev) = self.inbound.next_event() {
                return Ok(Some(ev));
            }
            // Read into the buffer and parse synchronously: the read is the only await
            // point, so dropping this future loses nothing.
            let n = match &mut self.io {
                Io::Plain(s) => s.read(&mut self.buf).await,
                Io::Tls(s) => s.read(&mut self.buf).await,
                Io::Gone => return Ok(None),
            }
            .map_err(RecvError::Io)?;
            if n == 0 {
                return Ok(None);
            }
            self.inbound.feed(&self.buf[..n])?;
        }
    }

    async fn send(&mut self, data: &str) -> std::io::Result<()> {
        match &mut self.io {
            Io::Plain(s) => {
                s.write_all(data.as_bytes()).await?;
                s.flush().await
            }
            Io::Tls(s) => {
                s.write_all(data.as_bytes()).await?;
                s.flush().await
            }
            Io::Gone => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    async fn send_many(&mut self, items: &[String]) -> std::io::Result<()> {
        self.send(&items.concat()).await
    }

    fn inbound(&self) -> &Inbound {
        &self.inbound
    }

    fn inbound_mut(&mut self) -> &mut Inbound {
        &mut self.inbound
    }

    fn is_secure(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    fn is_loopback(&self) -> bool {
        self.peer.ip().is_loopback()
    }

    fn can_starttls(&self) -> bool {
        self.acceptor.is_some() && matches!(self.io, Io::Plain(_))
    }

    async fn starttls(&mut self) -> std::io::Result<()> {
        let Some(acceptor) = self.acceptor.clone() else {
            return Err(std::io::ErrorKind::Unsupported.into());
        };
        let Io::Plain(s) = std::mem::replace(&mut self.io, Io::Gone) else {
            return Err(std::io::ErrorKind::InvalidInput.into());
        };
        let tls = acceptor.accept(s).await?;
        self.io = Io::Tls(Box::new(tls));
        self.restart();
        Ok(())
    }

    fn header(&self, id: &str, domain: &str) -> String {
        format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' id='{id}' from='{}' \
             version='1.0' xml:lang='en'>",
            crate::stanza::escape_attr(domain)
        )
    }

    fn footer(&self) -> &'static str {
        "</stream:stream>"
    }

    async fn probe(&mut self) -> std::io::Result<bool> {
        Ok(false)
    }

    async fn shutdown(&mut self) {
        match &mut self.io {
            Io::Plain(s) => {
                let _ = s.shutdown().await;
            }
            Io::Tls(s) => {
                let _ = s.shutdown().await;
            }
            Io::Gone => {}
        }
    }
}
