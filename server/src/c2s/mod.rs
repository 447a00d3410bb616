//! Client connections, from accept to the end of the stream.
//!
//! Reading order:
//! - [`connection`]: admission (connection count, per-IP limit) and the life of one
//!   connection: negotiate, then run the bound session, then close;
//! - [`negotiate`]: the negotiation as a state machine without I/O: stream headers,
//!   STARTTLS, SASL, in-band registration, resource binding; it ends in a
//!   [`negotiate::Bound`]. [`handshake`] drives it over a connection (credential lookups,
//!   the TLS upgrade, claiming the resource in the router); [`features`] holds the stream
//!   features offered at each step;
//! - [`session`]: the bound session's loop (reads, writes, keepalive, rate shaping, kicks)
//!   and stanza dispatch; [`presence`] (broadcast and directed presence, offline replay on
//!   the first available presence); [`iq`] (what the server answers itself); [`acks`]
//!   (XEP-0198 nonzas on a bound stream);
//! - [`state`]: a session's state apart from its connection, and how it ends for good;
//!   [`hibernate`]: a resumable session whose connection was lost, waiting for its client;
//! - [`conn`]: the connection's write/read helpers and how a stream ends;
//! - [`tcp`] (RFC 6120 with STARTTLS) and [`ws`] (RFC 7395) implement [`Transport`], with
//!   their shared read-side bookkeeping in [`inbound`].
//!
//! [`Transport`] hides the framing difference: TCP is one continuous XML stream restarted
//! after STARTTLS and SASL; a WebSocket carries one complete element per text frame.
//!
//! This module declares its children and the [`Transport`] they share; of its children it
//! uses only [`inbound`] (which uses nothing here), so none forms an import cycle with it.

pub(crate) mod acks;
pub(crate) mod conn;
pub(crate) mod connection;
pub(crate) mod features;
pub(crate) mod handshake;
pub(crate) mod hibernate;
pub(crate) mod inbound;
pub(crate) mod iq;
pub(crate) mod negotiate;
#[cfg(test)]
mod negotiate_sasl2_tests;
#[cfg(test)]
mod negotiate_tests;
pub(crate) mod presence;
pub(crate) mod session;
pub(crate) mod state;
pub(crate) mod tcp;
pub(crate) mod ws;

use crate::xmlstream::{Limits, StreamEvent};
use inbound::{Inbound, RecvError};

/// One client connection's byte/frame level.
#[allow(async_fn_in_trait)]
pub(crate) trait Transport: Send {
    /// `tcp` or `websocket`: the `transport` label of the session metrics.
    const KIND: &'static str;
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
    /// The read side: parser, limits, activity and byte counters.
    fn inbound(&self) -> &Inbound;
    fn inbound_mut(&mut self) -> &mut Inbound;
    /// Starts a new XML stream (after STARTTLS or SASL success).
    fn restart(&mut self) {
        self.inbound_mut().restart();
    }
    fn set_limits(&mut self, limits: Limits) {
        self.inbound_mut().set_limits(limits);
    }
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
    fn last_activity(&self) -> tokio::time::Instant {
        self.inbound().last_activity()
    }
    /// Bytes of XML read from the peer so far (for rate shaping).
    fn bytes_read(&self) -> u64 {
        self.inbound().bytes_read()
    }
    /// Asks the peer for a sign of life: a WebSocket ping; over TCP, the caller sends an
    /// XEP-0199 ping instead (`Ok(false)`).
    async fn probe(&mut self) -> std::io::Result<bool>;
}

/// Lower-cases node and domain (the resource is case-sensitive).
pub(crate) fn normalize_jid(j: &jid::Jid) -> String {
    let mut s = String::new();
    if let Some(n) = j.node() {
        s.push_str(&n.as_str().to_lowercase());
        s.push('@');
    }
    s.push_str(&j.domain().as_str().to_ascii_lowercase());
    if let Some(r) = j.resource() {
        s.push('/');
        s.push_str(r.as_str());
    }
    s
}
