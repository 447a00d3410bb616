//! The bound session: from the bind result (or the resumption) to the end of the stream.
//! Its loop reads the client's stanzas (stamped with the session's JID, then routed or
//! answered) and XEP-0198 nonzas (`acks.rs`), writes what the router queues for it, keeps
//! the connection alive, shapes the client's inbound rate, and ends on a kick, at
//! shutdown, or when a resuming connection takes the session over. A resumable session
//! whose connection is lost waits for its client (`hibernate.rs`); any other ends for good
//! (`state::end`).

use super::acks;
use super::conn::{Conn, End, ACK_REQUEST};
use super::handshake::Claim;
use super::hibernate;
use super::inbound::RecvError;
use super::negotiate::Bound;
use super::presence::Presence;
use super::state::{self, outgoing_xml, Managed, Parked, Session};
use super::{iq, normalize_jid, Transport};
use crate::ns;
use crate::sm::Takeover;
use crate::stanza::{self, ErrorType, Outgoing};
use crate::xmlstream::StreamEvent;
use minidom::Element;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most queued stanzas written to a connection at once.
const SEND_BURST: usize = 64;

/// How the loop ended.
enum Exit {
    End(End),
    /// A connection that resumed the session asks for it.
    TakenOver(Takeover),
}

/// Runs a new session to its end: sends the bind result (or the SASL2 success), serves,
/// then waits for a resumption or leaves the router.
pub(crate) async fn run<T: Transport>(
    c: &mut Conn<'_, T>,
    me: Bound,
    claim: Claim,
    sm: Option<Managed>,
) -> End {
    let ctx = c.ctx;
    c.deadline = None;
    tracing::info!(jid = me.full, "session bound");
    let Claim { reg, rx, .. } = claim;
    let mut s = Session {
        presence: Presence::new(&me, reg.id),
        id: reg.id,
        control: reg.control,
        inactive: me.inactive,
        me,
        rx,
        takeover: None,
    };
    if s.inactive {
        ctx.router.set_inactive(&s.me.user, s.id, true);
    }
    // The bind result is sent before any `<enable/>`, the SASL2 success is a nonza:
    // neither is counted.
    let first = stanza::to_xml(&s.me.result);
    let exit = match c.send(&first).await {
        Ok(()) => {
            if let Some(m) = sm {
                s.takeover = m.takeover;
                c.sm = Some(m.state);
            }
            serve(c, &mut s).await
        }
        Err(e) => Exit::End(e),
    };
    leave(c, s, exit).await
}

/// Runs a resumed session: what the client did not acknowledge goes out again, once, in
/// order (its `<resumed/>` already went out), then the session is served as before.
pub(crate) async fn resume<T: Transport>(c: &mut Conn<'_, T>, parked: Parked, h: u32) -> End {
    let ctx = c.ctx;
    c.deadline = None;
    let Parked {
        session: mut s,
        sm: mut stream,
    } = parked;
    let again = match stream.resume(h) {
        Ok(again) => again,
        Err(too_high) => {
            state::end(ctx, s, Some(stream)).await;
            return End::TooHigh(too_high);
        }
    };
    tracing::info!(jid = s.me.full, resent = again.len(), "session resumed");
    ctx.router.set_inactive(&s.me.user, s.id, s.inactive);
    ctx.router.set_waiting(&s.me.user, s.id, false);
    c.sm = Some(stream);
    let exit = match c.send_many(&again).await {
        Ok(()) => serve(c, &mut s).await,
        Err(e) => Exit::End(e),
    };
    leave(c, s, exit).await
}

/// After the loop: a resumable session whose connection was lost waits for its client; a
/// session taken over goes to the connection that resumed it; any other ends for good.
async fn leave<T: Transport>(c: &mut Conn<'_, T>, s: Session, exit: Exit) -> End {
    let ctx = c.ctx;
    match (exit, c.sm.take()) {
        (Exit::End(End::Gone), Some(sm)) if s.takeover.is_some() => {
            hibernate::park(ctx, Parked { session: s, sm });
            End::Gone
        }
        (Exit::TakenOver(t), Some(sm)) => {
            tracing::info!(jid = s.me.full, "session taken over by a resumed stream");
            if let Err(back) = t.reply.send(Box::new(Parked { session: s, sm })) {
                // The resuming connection gave up meanwhile: wait for another.
                if let Ok(p) = back.downcast::<Parked>() {
                    hibernate::park(ctx, *p);
                }
            }
            End::Error("conflict", Some("replaced by a resumed stream".into()))
        }
        (exit, sm) => {
            let end = match exit {
                Exit::End(e) => e,
                Exit::TakenOver(_) => End::Error("internal-server-error", None),
            };
            let jid = s.me.full.clone();
            state::end(ctx, s, sm).await;
            tracing::info!(jid, ?end, "session ended");
            end
        }
    }
}

/// The next takeover request, if the session is resumable (never resolves otherwise).
async fn takeover(rx: &mut Option<mpsc::Receiver<Takeover>>) -> Option<Takeover> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn serve<T: Transport>(c: &mut Conn<'_, T>, s: &mut Session) -> Exit {
    match serve_until(c, s).await {
        Ok(t) => Exit::TakenOver(t),
        Err(e) => Exit::End(e),
    }
}

/// The loop; `Ok` when a resuming connection takes the session over.
async fn serve_until<T: Transport>(c: &mut Conn<'_, T>, s: &mut Session) -> Result<Takeover, End> {
    let ctx = c.ctx;
    let limits = &ctx.config.limits;
    let idle = std::time::Duration::from_secs(limits.keepalive_secs);
    let grace = std::time::Duration::from_secs(limits.keepalive_timeout_secs.max(1));
    let mut shaper = crate::limits::Shaper::new(limits);
    // Reading is paused until then: the client is over its rate ([limits] rate_*).
    let mut paused: Option<Instant> = None;
    // A client whose reads were paused was not idle meanwhile.
    let mut resumed = Instant::now();
    // When the last probe went out, if one is outstanding.
    let mut probing: Option<Instant> = None;
    loop {
        if probing.is_some_and(|sent| c.t.last_activity() >= sent) {
            probing = None;
        }
        let check_at = match probing {
            Some(sent) => sent + grace,
            None => c.t.last_activity().max(resumed) + idle,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(paused.unwrap_or(check_at)), if paused.is_some() => {
                paused = None;
                resumed = Instant::now();
            }
            _ = tokio::time::sleep_until(check_at), if !idle.is_zero() && paused.is_none() => {
                let last = c.t.last_activity().max(resumed);
                match probing {
                    Some(sent) if last < sent => {
                        tracing::info!(jid = s.me.full, "no answer to the keepalive; dropping the session");
                        return Err(End::Gone);
                    }
                    Some(_) => probing = None,
                    None if last + idle <= Instant::now() => {
                        probe(c, &s.me).await?;
                        probing = Some(Instant::now());
                    }
                    None => {}
                }
            }
            r = c.t.recv(), if paused.is_none() => {
                let el = match r {
                    Ok(Some(StreamEvent::Stanza(el))) => el,
                    Ok(Some(StreamEvent::Close)) => return Err(End::Closed),
                    Ok(Some(StreamEvent::Open(_))) => return Err(End::Error("not-well-formed", None)),
                    Ok(None) => return Err(End::Gone),
                    Err(RecvError::Io(e)) => {
                        tracing::debug!(jid = s.me.full, error = %e, "connection read failed");
                        return Err(End::Gone);
                    }
                    Err(RecvError::Xml(e)) => return Err(e.into()),
                };
                ctx.metrics.received(T::KIND, 1);
                if tracing::enabled!(tracing::Level::TRACE) {
                    tracing::trace!(jid = s.me.full, xml = stanza::to_xml(&el), "in");
                }
                handle(c, s, el).await?;
                paused = shaper.stanza(c.t.bytes_read());
            }
            out = s.rx.recv() => {
                let Some(out) = out else {
                    // A replaced session loses its queue as it is kicked: report the
                    // kick, not a vanished router.
                    return Err(match s.control.reason() {
                        Some(cond) => End::Error(cond, None),
                        None => End::Gone,
                    });
                };
                write_burst(c, &s.me, out, &mut s.rx).await?;
            }
            t = takeover(&mut s.takeover) => match t {
                Some(t) => return Ok(t),
                None => s.takeover = None,
            },
            cond = s.control.kicked() => {
                let text = (cond == "policy-violation")
                    .then(|| "the client does not read fast enough".to_owned());
                return Err(End::Error(cond, text));
            }
            _ = c.shutdown.changed() => {
                // What was already routed to this session still goes out before the end.
                let mut left = Vec::new();
                while let Ok(out) = s.rx.try_recv() {
                    let Ok(xml) = outgoing_xml(out) else { break };
                    left.push(xml);
                }
                if !left.is_empty() && c.send_stanzas(left).await.is_err() {
                    return Err(End::Gone);
                }
                return Err(End::Shutdown);
            }
        }
    }
}

/// Asks an idle client for a sign of life: a WebSocket ping, or over TCP an XEP-0198
/// `<r/>` when it manages its stream, else an XEP-0199 ping (clients must answer IQ pings).
async fn probe<T: Transport>(c: &mut Conn<'_, T>, me: &Bound) -> Result<(), End> {
    match c.t.probe().await {
        Ok(true) => Ok(()),
        Ok(false) if c.sm.is_some() => c.send(ACK_REQUEST).await,
        Ok(false) => {
            let ping = format!(
                "<iq xmlns='jabber:client' type='get' from='{}' to='{}' id='ka{:x}'>\
                 <ping xmlns='urn:xmpp:ping'/></iq>",
                stanza::escape_attr(&c.ctx.config.domain),
                stanza::escape_attr(&me.full),
                rand::random::<u32>()
            );
            c.send(&ping).await
        }
        Err(_) => Err(End::Gone),
    }
}

/// Writes `first` and what else is queued already in the same write: a fan-out burst then
/// costs one syscall per session, not one per stanza. A kick in the queue ends the stream
/// after what came before it.
async fn write_burst<T: Transport>(
    c: &mut Conn<'_, T>,
    me: &Bound,
    first: Outgoing,
    rx: &mut mpsc::Receiver<Outgoing>,
) -> Result<(), End> {
    let xml = outgoing_xml(first).map_err(|cond| End::Error(cond, None))?;
    let mut burst = vec![xml];
    let mut kicked = None;
    while burst.len() < SEND_BURST {
        match rx.try_recv() {
            Ok(out) => match outgoing_xml(out) {
                Ok(xml) => burst.push(xml),
                Err(cond) => {
                    kicked = Some(cond);
                    break;
                }
            },
            Err(_) => break,
        }
    }
    for xml in &burst {
        tracing::trace!(jid = me.full, xml, "out");
    }
    c.send_stanzas(burst).await?;
    match kicked {
        Some(cond) => Err(End::Error(cond, None)),
        None => Ok(()),
    }
}

/// One stanza from the client: CSI state, or a stanza stamped with the session's JID and
/// then handled as presence, routed (messages), or answered or routed (IQs).
async fn handle<T: Transport>(
    c: &mut Conn<'_, T>,
    s: &mut Session,
    mut el: Element,
) -> Result<(), End> {
    let ctx = c.ctx;
    let kind = el.name().to_owned();
    if el.ns() == ns::CSI && matches!(kind.as_str(), "active" | "inactive") {
        // Stanzas still flow to an inactive session; push also fires (see the router).
        let inactive = kind == "inactive";
        s.inactive = inactive;
        ctx.router.set_inactive(&s.me.user, s.id, inactive);
        return Ok(());
    }
    if el.ns() == ns::SM {
        return acks::nonza(c, s, &el).await;
    }
    if !matches!(kind.as_str(), "message" | "presence" | "iq") {
        return Err(End::Error("unsupported-stanza-type", None));
    }
    if el.ns() != ns::CLIENT {
        return Err(End::Error("invalid-namespace", None));
    }
    // XEP-0198: a stanza from the client is handled from here on, whatever becomes of it.
    if let Some(sm) = &mut c.sm {
        sm.handled();
    }
    // The sender is whoever this session authenticated as, whatever the client wrote.
    stanza::set_attr(&mut el, "from", &s.me.full);
    let to = match el.attr("to") {
        None => None,
        Some(t) => match jid::Jid::new(t) {
            Ok(j) => Some(j),
            Err(_) => {
                if stanza::may_bounce(&el) {
                    let mut reply =
                        stanza::error_reply(&el, ErrorType::Modify, "jid-malformed", None);
                    stanza::remove_attr(&mut reply, "from");
                    c.send_el(&reply).await?;
                }
                return Ok(());
            }
        },
    };
    if let Some(j) = &to {
        // Normalised, so routing and comparisons see one spelling.
        stanza::set_attr(&mut el, "to", &normalize_jid(j));
    }
    match kind.as_str() {
        "presence" => s.presence.handle(c, el, to).await,
        "message" => {
            if to.is_none() {
                stanza::set_attr(&mut el, "to", &s.me.bare);
            }
            ctx.router.route(el).await;
            Ok(())
        }
        _ => {
            let local = match &to {
                None => true,
                Some(j) => {
                    let bare = normalize_jid(&j.to_bare().into());
                    bare == ctx.config.domain || bare == s.me.bare
                }
            };
            if !local {
                ctx.router.route(el).await;
            } else if let Some(reply) = iq::handle(ctx, &s.me, &el).await {
                c.send_el(&reply).await?;
            }
            Ok(())
        }
    }
}
