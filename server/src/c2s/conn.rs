//! One connection's I/O as negotiation and the session see it: bounded writes, reads that
//! honour the pre-auth deadline and server shutdown, and closing the stream the way
//! [`End`] says.

use super::inbound::RecvError;
use super::Transport;
use crate::stanza;
use crate::xmlstream::{Limits, StreamEvent, XmlError};
use crate::ServerContext;
use minidom::Element;
use tokio::time::Instant;

const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How a stream ends.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The client closed the stream: answer with our footer.
    Closed,
    /// The connection is gone; nothing more to write.
    Gone,
    /// Send this stream error (RFC 6120 4.9.3), then the footer.
    Error(&'static str, Option<String>),
    /// Server shutdown: footer only.
    Shutdown,
}

impl From<XmlError> for End {
    fn from(e: XmlError) -> End {
        End::Error(e.condition(), Some(e.to_string()))
    }
}

/// What a read before the session loop yields.
pub(crate) enum Next {
    Event(StreamEvent),
    End(End),
}

/// The limits before authentication (`[limits] max_stanza_pre_auth`).
pub(crate) fn pre_auth_limits(ctx: &ServerContext) -> Limits {
    Limits {
        max_stanza: ctx.config.limits.max_stanza_pre_auth,
        max_depth: ctx.config.limits.max_depth,
    }
}

/// The limits once authenticated (`[limits] max_stanza`).
pub(crate) fn post_auth_limits(ctx: &ServerContext) -> Limits {
    Limits {
        max_stanza: ctx.config.limits.max_stanza,
        max_depth: ctx.config.limits.max_depth,
    }
}

pub(crate) struct Conn<'a, T: Transport> {
    pub(crate) ctx: &'a ServerContext,
    pub(crate) t: T,
    header_sent: bool,
    /// Reads fail with `connection-timeout` after this (until a resource is bound).
    pub(crate) deadline: Option<Instant>,
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
}

impl<'a, T: Transport> Conn<'a, T> {
    /// A new connection that must authenticate within `wait_secs`.
    pub(crate) fn new(ctx: &'a ServerContext, t: T, wait_secs: u64) -> Self {
        Conn {
            ctx,
            t,
            header_sent: false,
            deadline: Some(Instant::now() + std::time::Duration::from_secs(wait_secs)),
            shutdown: ctx.shutdown.clone(),
        }
    }

    pub(crate) async fn send(&mut self, data: &str) -> Result<(), End> {
        // A client that stops reading must not hold its session (and shutdown) forever.
        match tokio::time::timeout(WRITE_TIMEOUT, self.t.send(data)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    /// Writes stanzas queued for the session (counted in `mucsub_stanzas_sent_total`).
    pub(crate) async fn send_many(&mut self, items: &[String]) -> Result<(), End> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.t.send_many(items)).await {
            Ok(Ok(())) => {
                self.ctx.metrics.sent(T::KIND, items.len() as u64);
                Ok(())
            }
            _ => Err(End::Gone),
        }
    }

    /// Writes one stanza (counted in `mucsub_stanzas_sent_total`).
    pub(crate) async fn send_el(&mut self, el: &Element) -> Result<(), End> {
        let xml = stanza::to_xml(el);
        self.send(&xml).await?;
        self.ctx.metrics.sent(T::KIND, 1);
        Ok(())
    }

    /// Our stream header, with a fresh stream id, in the transport's framing.
    pub(crate) async fn send_header(&mut self) -> Result<(), End> {
        let id = format!("{:016x}", rand::random::<u64>());
        let header = self.t.header(&id, &self.ctx.config.domain);
        self.send(&header).await?;
        self.header_sent = true;
        Ok(())
    }

    /// Reads the next event, honouring the pre-auth deadline and server shutdown.
    pub(crate) async fn next(&mut self) -> Next {
        let deadline = self.deadline;
        let recv = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, self.t.recv()).await.ok(),
                None => Some(self.t.recv().await),
            }
        };
        tokio::select! {
            r = recv => match r {
                None => Next::End(End::Error("connection-timeout", None)),
                Some(Ok(Some(ev))) => Next::Event(ev),
                Some(Ok(None)) => Next::End(End::Gone),
                Some(Err(RecvError::Xml(e))) => Next::End(e.into()),
                Some(Err(RecvError::Io(e))) => {
                    tracing::debug!(error = %e, "connection read failed");
                    Next::End(End::Gone)
                }
            },
            _ = self.shutdown.changed() => Next::End(End::Shutdown),
        }
    }

    /// Ends the stream as `end` says and closes the connection.
    pub(crate) async fn finish(&mut self, end: End) {
        match end {
            End::Gone => {}
            End::Closed | End::Shutdown => {
                if !self.header_sent {
                    let h = self.t.header("closing", &self.ctx.config.domain);
                    let _ = self.t.send(&h).await;
                }
                let footer = self.t.footer();
                let _ = self.t.send(footer).await;
            }
            End::Error(cond, text) => {
                tracing::debug!(condition = cond, text, "stream error");
                if !self.header_sent {
                    let h = self.t.header("error", &self.ctx.config.domain);
                    let _ = self.t.send(&h).await;
                }
                let mut xml = format!(
                    "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>\
                     <{cond} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                );
                if let Some(t) = text {
                    xml.push_str(&format!(
                        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>{}</text>",
                        stanza::escape_attr(&t)
                    ));
                }
                xml.push_str("</stream:error>");
                let _ = self.t.send(&xml).await;
                let footer = self.t.footer();
                let _ = self.t.send(footer).await;
            }
        }
        self.t.shutdown().await;
    }
}
