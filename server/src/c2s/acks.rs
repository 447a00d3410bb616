//! XEP-0198 nonzas on a bound stream: `<enable/>` (once), `<r/>` answered with `<a h/>`,
//! the client's `<a h/>` (acknowledged stanzas leave the queue; the rest is asked about
//! again), and refusals for what does not belong here. None of them is counted.

use super::conn::{Conn, End, ACK_REQUEST};
use super::state::{self, Session};
use super::Transport;
use crate::stanza;
use minidom::Element;
use mucsub_protocol::sm::{Ack, Failed, Nonza};

/// One `urn:xmpp:sm:3` element from the client.
pub(crate) async fn nonza<T: Transport>(
    c: &mut Conn<'_, T>,
    s: &mut Session,
    el: &Element,
) -> Result<(), End> {
    let nonza = match Nonza::try_from(el) {
        Ok(n) => n,
        // Malformed stream management cannot be answered sensibly: say what was wrong.
        Err(e) => return Err(End::Error("invalid-xml", Some(e.to_string()))),
    };
    match nonza {
        Nonza::Enable(e) => {
            if c.sm.is_some() {
                // XEP-0198 §3: at most one attempt.
                return refuse(c, "unexpected-request").await;
            }
            if !c.ctx.config.stream_management.enabled {
                return refuse(c, "feature-not-implemented").await;
            }
            let (managed, enabled) = state::enable(c.ctx, &s.me.user, e);
            // `<enabled/>` first: counting starts after it.
            c.send(&stanza::to_xml(&Element::from(enabled))).await?;
            tracing::debug!(
                jid = s.me.full,
                resumable = managed.takeover.is_some(),
                "stream management on"
            );
            s.takeover = managed.takeover;
            c.sm = Some(managed.state);
            Ok(())
        }
        Nonza::Request(_) => match &c.sm {
            Some(sm) => {
                let a = Element::from(Ack { h: sm.inbound() });
                c.send(&stanza::to_xml(&a)).await
            }
            None => refuse(c, "unexpected-request").await,
        },
        Nonza::Ack(Ack { h }) => {
            let Some(sm) = &mut c.sm else {
                return Ok(());
            };
            sm.ack(h).map_err(End::TooHigh)?;
            // More went out since the request this answers: ask again, so the queue
            // empties while stanzas flow (one request out at a time).
            if sm.want_ack() {
                c.send(ACK_REQUEST).await?;
            }
            Ok(())
        }
        // A resumption comes instead of binding, never on a bound stream.
        Nonza::Resume(_) => refuse(c, "unexpected-request").await,
        // What only a server sends.
        Nonza::Enabled(_) | Nonza::Resumed(_) | Nonza::Failed(_) => {
            Err(End::Error("unsupported-stanza-type", None))
        }
    }
}

async fn refuse<T: Transport>(c: &mut Conn<'_, T>, condition: &str) -> Result<(), End> {
    c.send(&stanza::to_xml(&Element::from(Failed::new(condition))))
        .await
}
