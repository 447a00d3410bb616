//! A bound session's state, apart from the connection serving it — because with XEP-0198
//! resumption it outlives that connection: it waits for its client
//! (`hibernate.rs`), then moves to the connection that resumes it. Also how a session ends
//! for good: it leaves the router, goes unavailable, and what it never delivered is
//! salvaged to the account's other resources or to offline storage.

use super::negotiate::Bound;
use super::presence::Presence;
use crate::ns;
use crate::router::SessionControl;
use crate::sm::{StreamState, Takeover};
use crate::stanza::Outgoing;
use crate::ServerContext;
use minidom::Element;
use mucsub_protocol::sm::{Enable, Enabled};
use mucsub_protocol::{MucSubEvent, Node};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A bound session's state.
pub(crate) struct Session {
    pub(crate) me: Bound,
    /// The session's id in the router.
    pub(crate) id: u64,
    pub(crate) control: Arc<SessionControl>,
    pub(crate) presence: Presence,
    /// What the router queues for the session.
    pub(crate) rx: mpsc::Receiver<Outgoing>,
    /// The client's own XEP-0352 state (the router's may say inactive while it waits).
    pub(crate) inactive: bool,
    /// Requests from connections that resume this session (only when it is resumable).
    pub(crate) takeover: Option<mpsc::Receiver<Takeover>>,
}

/// A resumable session without a connection: its state, and its stream's (which rides on
/// the connection while one serves it).
pub(crate) struct Parked {
    pub(crate) session: Session,
    pub(crate) sm: StreamState,
}

/// Stream management just enabled: the stream's state, and for a resumable one the
/// channel its holder must watch.
pub(crate) struct Managed {
    pub(crate) state: StreamState,
    pub(crate) takeover: Option<mpsc::Receiver<Takeover>>,
}

/// Enables stream management for `user` as `<enable/>` asks: resumable (registered under a
/// fresh SM-ID) when the client wants it and resumption is on, for the shorter of the
/// client's `max` and `[stream_management] resume_timeout_secs`.
pub(crate) fn enable(ctx: &ServerContext, user: &str, e: Enable) -> (Managed, Enabled) {
    let configured = ctx.config.stream_management.resume_timeout_secs;
    let timeout = e
        .max
        .filter(|&m| m > 0)
        .map_or(configured, |m| m.min(configured));
    if !e.resume || configured == 0 {
        let state = StreamState::new(None, 0);
        let enabled = Enabled::default();
        return (
            Managed {
                state,
                takeover: None,
            },
            enabled,
        );
    }
    let (id, rx) = ctx.resumable.register(user);
    let enabled = Enabled {
        id: Some(id.clone()),
        resume: true,
        max: Some(timeout),
        location: None,
    };
    (
        Managed {
            state: StreamState::new(Some(id), timeout),
            takeover: Some(rx),
        },
        enabled,
    )
}

/// Ends a session for good: out of the router and of the resumable sessions, unavailable
/// to the rooms it was in, and what it never delivered salvaged — the unacknowledged
/// stanzas first (oldest first), then what was still queued.
pub(crate) async fn end(ctx: &ServerContext, mut s: Session, sm: Option<StreamState>) {
    // No resumption may start from here on: a request still in the channel gets no answer.
    drop(s.takeover.take());
    if let Some(id) = sm.as_ref().and_then(|m| m.id()) {
        ctx.resumable
            .forget(id, sm.as_ref().map_or(0, |m| m.inbound()));
    }
    ctx.router.unregister_session(&s.me.user, s.id);
    s.presence.went_unavailable(ctx).await;
    let managed = sm.is_some();
    if let Some(sm) = sm {
        for u in sm.into_unacked(s.inactive) {
            match u.xml.parse::<Element>() {
                Ok(el) => salvage(ctx, &s.me, el, u.push).await,
                Err(e) => tracing::warn!(error = %e, "an unacknowledged stanza does not parse"),
            }
        }
    }
    s.rx.close();
    while let Ok(out) = s.rx.try_recv() {
        let el = match out {
            Outgoing::Stanza(el) => el,
            // Pre-serialised room events: salvaged for a managed stream, whose client
            // counts on getting everything; a session without stream management keeps its
            // former behaviour (its client resyncs rooms from their archives).
            Outgoing::Xml(_) | Outgoing::Template(..) if !managed => continue,
            other => match outgoing_xml(other)
                .ok()
                .and_then(|x| x.parse::<Element>().ok())
            {
                Some(el) => el,
                None => continue,
            },
        };
        salvage(ctx, &s.me, el, !s.inactive).await;
    }
}

/// A message that never reached the session: the ones worth keeping (docs/protocol.md
/// S15: chat or normal with a body, wrapped `messages`/`subject` events) go to the
/// account's other resources or, when there is none, offline storage (with push unless
/// `push` says it fired already).
async fn salvage(ctx: &ServerContext, me: &Bound, el: Element, push: bool) {
    if el.name() != "message" || !matches!(el.attr("type"), None | Some("chat" | "normal")) {
        return;
    }
    if !(el.has_child("body", ns::CLIENT) || is_storable_event(&el)) {
        return;
    }
    // A copy sent to the bare JID already reached every other available resource.
    let to_this_resource = el.attr("to").is_some_and(|t| t.contains('/'));
    if !to_this_resource && ctx.router.receives_bare(&me.bare) {
        return;
    }
    ctx.router.salvage_to_account(&me.bare, el, push).await;
}

/// A MucSub wrapper on a node kept for an offline account (docs/protocol.md S15).
fn is_storable_event(el: &Element) -> bool {
    MucSubEvent::peek_node(el).is_some_and(Node::kept_offline)
}

/// The text to write for a queued item; `Err(condition)` for a kick.
pub(crate) fn outgoing_xml(out: Outgoing) -> Result<String, &'static str> {
    match out {
        Outgoing::Stanza(el) => Ok(crate::stanza::to_xml(&el)),
        Outgoing::Xml(x) => Ok(x.to_string()),
        Outgoing::Template(t, to) => Ok(t.render(&to)),
        Outgoing::Kick(cond) => Err(cond),
    }
}
