//! One connection's I/O as negotiation and the session see it: bounded writes (stanzas
//! counted for XEP-0198 when the session manages its stream), reads that honour the
//! pre-auth deadline and server shutdown, and closing the stream the way [`End`] says.

use super::inbound::RecvError;
use super::Transport;
use crate::sm::StreamState;
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
    /// The client acknowledged more stanzas than it was sent (XEP-0198 §5):
    /// `undefined-condition` with `<handled-count-too-high/>`.
    TooHigh(crate::sm::TooHigh),
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
    /// The session's XEP-0198 state while this connection serves it: every stanza written
    /// through [`Conn::send_el`] / [`Conn::send_stanzas`] is counted and kept until the
    /// client acknowledges it. It moves on with the session when the connection is lost.
    pub(crate) sm: Option<StreamState>,
}

/// `<r xmlns='urn:xmpp:sm:3'/>`.
pub(crate) const ACK_REQUEST: &str = "<r xmlns='urn:xmpp:sm:3'/>";

impl<'a, T: Transport> Conn<'a, T> {
    /// A new connection that must authenticate within `wait_secs`.
    pub(crate) fn new(ctx: &'a ServerContext, t: T, wait_secs: u64) -> Self {
        Conn {
            ctx,
            t,
            header_sent: false,
            deadline: Some(Instant::now() + std::time::Duration::from_secs(wait_secs)),
            shutdown: ctx.shutdown.clone(),
            sm: None,
        }
    }

    pub(crate) async fn send(&mut self, data: &str) -> Result<(), End> {
        // A client that stops reading must not hold its session (and shutdown) forever.
        match tokio::time::timeout(WRITE_TIMEOUT, self.t.send(data)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    /// Writes serialised elements in one flush, as they are (not counted: nonzas, or
    /// stanzas sent again on resumption).
    pub(crate) async fn send_many(&mut self, items: &[String]) -> Result<(), End> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.t.send_many(items)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    /// Writes stanzas in one flush (counted in `mucsub_stanzas_sent_total`). With stream
    /// management they are counted and kept until acknowledged, and an `<r/>` follows them
    /// when no request is out; beyond `[stream_management] max_queue` unacknowledged the
    /// session ends.
    pub(crate) async fn send_stanzas(&mut self, mut items: Vec<String>) -> Result<(), End> {
        let stanzas = items.len() as u64;
        if let Some(sm) = &mut self.sm {
            for xml in &items {
                sm.sent(xml.clone());
            }
            if sm.unacked_len() > self.ctx.config.stream_management.max_queue {
                return Err(End::Error(
                    "policy-violation",
                    Some("too many unacknowledged stanzas".into()),
                ));
            }
            if sm.want_ack() {
                items.push(ACK_REQUEST.to_owned());
            }
        }
        self.send_many(&items).await?;
        self.ctx.metrics.sent(T::KIND, stanzas);
        Ok(())
    }

    /// Writes one stanza (see [`Conn::send_stanzas`]).
    pub(crate) async fn send_el(&mut self, el: &Element) -> Result<(), End> {
        self.send_stanzas(vec![stanza::to_xml(el)]).await
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
            End::TooHigh(t) => {
                let extra = stanza::to_xml(&minidom::Element::from(
                    mucsub_protocol::sm::HandledCountTooHigh {
                        h: t.h,
                        send_count: t.sent,
                    },
                ));
                let text = format!(
                    "You acknowledged {} stanzas, but I only sent you {} so far.",
                    t.h, t.sent
                );
                self.stream_error("undefined-condition", Some(text), &extra)
                    .await;
            }
            End::Error(cond, text) => self.stream_error(cond, text, "").await,
        }
        self.t.shutdown().await;
    }

    /// Writes a stream error (with an optional application condition) and the footer.
    async fn stream_error(&mut self, cond: &str, text: Option<String>, extra: &str) {
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
        xml.push_str(extra);
        xml.push_str("</stream:error>");
        let _ = self.t.send(&xml).await;
        let footer = self.t.footer();
        let _ = self.t.send(footer).await;
    }
}
