//! The bound session: from the bind result to the end of the stream. Its loop reads the
//! client's stanzas (stamped with the session's JID, then routed or answered), writes what
//! the router queues for it, keeps the connection alive, shapes the client's inbound rate,
//! and ends on a kick or at shutdown; what was still queued is then salvaged.

use super::conn::{Conn, End};
use super::handshake::Claim;
use super::inbound::RecvError;
use super::negotiate::Bound;
use super::presence::Presence;
use super::{iq, normalize_jid, Transport};
use crate::ns;
use crate::router::SessionControl;
use crate::stanza::{self, ErrorType, Outgoing};
use crate::xmlstream::StreamEvent;
use crate::ServerContext;
use minidom::Element;
use mucsub_protocol::{MucSubEvent, Node};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most queued stanzas written to a connection at once.
const SEND_BURST: usize = 64;

/// A bound session's state.
struct Session {
    me: Bound,
    /// The session's id in the router.
    id: u64,
    control: Arc<SessionControl>,
    presence: Presence,
}

/// Runs a bound session to its end: sends the bind result, serves, then leaves the
/// router (going unavailable, salvaging what was still queued).
pub(crate) async fn run<T: Transport>(c: &mut Conn<'_, T>, me: Bound, claim: Claim) -> End {
    let ctx = c.ctx;
    c.deadline = None;
    tracing::info!(jid = me.full, "session bound");
    let Claim { reg, mut rx } = claim;
    let mut s = Session {
        presence: Presence::new(&me, reg.id),
        id: reg.id,
        control: reg.control,
        me,
    };
    let result = s.me.result.clone();
    let end = match c.send_el(&result).await {
        Ok(()) => serve(c, &mut s, &mut rx).await,
        Err(e) => e,
    };
    ctx.router.unregister_session(&s.me.user, s.id);
    s.presence.went_unavailable(ctx).await;
    salvage(ctx, &s.me, rx).await;
    tracing::info!(jid = s.me.full, ?end, "session ended");
    end
}

async fn serve<T: Transport>(
    c: &mut Conn<'_, T>,
    s: &mut Session,
    rx: &mut mpsc::Receiver<Outgoing>,
) -> End {
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
                        return End::Gone;
                    }
                    Some(_) => probing = None,
                    None if last + idle <= Instant::now() => {
                        if let Err(e) = probe(c, &s.me).await {
                            return e;
                        }
                        probing = Some(Instant::now());
                    }
                    None => {}
                }
            }
            r = c.t.recv(), if paused.is_none() => {
                let el = match r {
                    Ok(Some(StreamEvent::Stanza(el))) => el,
                    Ok(Some(StreamEvent::Close)) => return End::Closed,
                    Ok(Some(StreamEvent::Open(_))) => return End::Error("not-well-formed", None),
                    Ok(None) => return End::Gone,
                    Err(RecvError::Io(e)) => {
                        tracing::debug!(jid = s.me.full, error = %e, "connection read failed");
                        return End::Gone;
                    }
                    Err(RecvError::Xml(e)) => return e.into(),
                };
                ctx.metrics.received(T::KIND, 1);
                if tracing::enabled!(tracing::Level::TRACE) {
                    tracing::trace!(jid = s.me.full, xml = stanza::to_xml(&el), "in");
                }
                if let Err(e) = handle(c, s, el).await {
                    return e;
                }
                paused = shaper.stanza(c.t.bytes_read());
            }
            out = rx.recv() => {
                let Some(out) = out else {
                    // A replaced session loses its queue as it is kicked: report the
                    // kick, not a vanished router.
                    return match s.control.reason() {
                        Some(cond) => End::Error(cond, None),
                        None => End::Gone,
                    };
                };
                if let Err(e) = write_burst(c, &s.me, out, rx).await {
                    return e;
                }
            }
            cond = s.control.kicked() => {
                let text = (cond == "policy-violation")
                    .then(|| "the client does not read fast enough".to_owned());
                return End::Error(cond, text);
            }
            _ = c.shutdown.changed() => {
                // What was already routed to this session still goes out before the end.
                while let Ok(out) = rx.try_recv() {
                    let Ok(xml) = outgoing_xml(out) else { break };
                    if c.send(&xml).await.is_err() {
                        return End::Gone;
                    }
                }
                return End::Shutdown;
            }
        }
    }
}

/// Asks an idle client for a sign of life: a WebSocket ping, or over TCP an XEP-0199 ping
/// (clients must answer IQ pings).
async fn probe<T: Transport>(c: &mut Conn<'_, T>, me: &Bound) -> Result<(), End> {
    match c.t.probe().await {
        Ok(true) => Ok(()),
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
    c.send_many(&burst).await?;
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
        ctx.router.set_inactive(&s.me.user, s.id, inactive);
        return Ok(());
    }
    if !matches!(kind.as_str(), "message" | "presence" | "iq") {
        return Err(End::Error("unsupported-stanza-type", None));
    }
    if el.ns() != ns::CLIENT {
        return Err(End::Error("invalid-namespace", None));
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

/// Messages still queued for a session that ended were never written: the ones worth
/// keeping go to the account's other resources or, when there is none, offline storage.
async fn salvage(ctx: &ServerContext, me: &Bound, mut rx: mpsc::Receiver<Outgoing>) {
    rx.close();
    while let Ok(out) = rx.try_recv() {
        let Outgoing::Stanza(el) = out else { continue };
        if el.name() != "message" || !matches!(el.attr("type"), None | Some("chat" | "normal")) {
            continue;
        }
        if !(el.has_child("body", ns::CLIENT) || is_storable_event(&el)) {
            continue;
        }
        // A copy sent to the bare JID already reached every other available resource.
        let to_this_resource = el.attr("to").is_some_and(|t| t.contains('/'));
        if !to_this_resource && ctx.router.receives_bare(&me.bare) {
            continue;
        }
        ctx.router.deliver_to_account(&me.bare, el, true).await;
    }
}

/// A MucSub wrapper on a node kept for an offline account (docs/protocol.md S15).
fn is_storable_event(el: &Element) -> bool {
    MucSubEvent::peek_node(el).is_some_and(Node::kept_offline)
}

/// The text to write for a queued item; `Err(condition)` for a kick.
fn outgoing_xml(out: Outgoing) -> Result<String, &'static str> {
    match out {
        Outgoing::Stanza(el) => Ok(stanza::to_xml(&el)),
        Outgoing::Xml(x) => Ok(x.to_string()),
        Outgoing::Template(t, to) => Ok(t.render(&to)),
        Outgoing::Kick(cond) => Err(cond),
    }
}
