//! Client connections: the TCP listener (STARTTLS), the WebSocket transport (RFC 7395),
//! SASL, resource binding and the session loop.
//!
//! [`Transport`] hides the framing difference: TCP is one continuous XML stream restarted
//! after STARTTLS and SASL; a WebSocket carries one complete element per text frame.
//! [`session::run`] drives either.

mod iq;
pub mod session;
pub mod tcp;
pub mod ws;

use crate::xmlstream::{Limits, StreamEvent, XmlError};

/// Why reading failed.
#[derive(Debug)]
pub enum RecvError {
    Xml(XmlError),
    Io(std::io::Error),
}

/// One client connection's byte/frame level.
#[allow(async_fn_in_trait)]
pub trait Transport: Send {
    /// The next stream event; `Ok(None)` when the peer closed the connection. Cancel-safe.
    async fn recv(&mut self) -> Result<Option<StreamEvent>, RecvError>;
    /// Writes one serialised element (or header) and flushes.
    async fn send(&mut self, data: &str) -> std::io::Result<()>;
    /// Writes several serialised elements and flushes once: a burst of queued stanzas costs
    /// one write instead of one per stanza.
    async fn send_many(&mut self, items: &[String]) -> std::io::Result<()> {
        for data in items {
            self.send(data).await?;
        }
        Ok(())
    }
    /// Starts a new XML stream (after STARTTLS or SASL success).
    fn restart(&mut self);
    fn set_limits(&mut self, limits: Limits);
    /// Encrypted (TLS, or a WebSocket whose TLS is terminated in front of us).
    fn is_secure(&self) -> bool;
    fn is_loopback(&self) -> bool;
    /// STARTTLS can be offered on this connection.
    fn can_starttls(&self) -> bool;
    /// Upgrades to TLS (after `<proceed/>` was sent).
    async fn starttls(&mut self) -> std::io::Result<()>;
    /// The stream header sent in reply to the client's.
    fn header(&self, id: &str, domain: &str) -> String;
    /// The end of the stream.
    fn footer(&self) -> &'static str;
    /// Closes the connection after the footer.
    async fn shutdown(&mut self);
    /// When anything (bytes, frames, pongs) last arrived from the peer.
    fn last_activity(&self) -> tokio::time::Instant;
    /// Bytes of XML read from the peer so far (for rate shaping).
    fn bytes_read(&self) -> u64;
    /// Asks the peer for a sign of life: a WebSocket ping; over TCP, the caller sends an
    /// XEP-0199 ping instead (`Ok(false)`).
    async fn probe(&mut self) -> std::io::Result<bool>;
}
