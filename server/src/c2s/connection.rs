//! One client connection from accept to close, for both listeners: admission (the count
//! of open connections that shutdown waits for, and the per-IP limit), then negotiation,
//! then the bound session, then the end of the stream.

use super::conn::{pre_auth_limits, Conn, End, Next};
use super::handshake::Negotiated;
use super::{handshake, session, Transport};
use crate::limits::{Counted, IpSlot};
use crate::xmlstream::StreamEvent;
use crate::ServerContext;
use std::net::IpAddr;

/// A connection just accepted: counted from now on, and holding a slot of its address
/// unless that address has `[limits] max_connections_per_ip` open already.
pub(crate) struct Admission {
    /// Counted among open connections, so shutdown can wait for their streams to close.
    _counted: Counted,
    slot: Option<IpSlot>,
}

/// Admits a connection from `ip` (call before any await, so shutdown sees it).
pub(crate) fn admit(ctx: &ServerContext, ip: IpAddr) -> Admission {
    Admission {
        _counted: Counted::new(&ctx.connections),
        slot: ctx.per_ip.acquire(ip),
    }
}

impl Admission {
    /// Runs the connection to its end: served, or refused when over the per-IP limit.
    pub(crate) async fn serve<T: Transport>(self, ctx: ServerContext, t: T) {
        match self.slot {
            Some(_slot) => run(&ctx, t).await,
            None => refuse_too_many(&ctx, t).await,
        }
    }
}

/// Negotiates, runs the bound (or resumed) session, and closes the stream.
async fn run<T: Transport>(ctx: &ServerContext, t: T) {
    let mut c = Conn::new(ctx, t, ctx.config.limits.pre_auth_timeout_secs);
    let end = match handshake::negotiate(&mut c).await {
        Ok(Negotiated::Bound { me, claim, sm }) => {
            let _counted = ctx.metrics.session(T::KIND);
            session::run(&mut c, *me, claim, sm).await
        }
        Ok(Negotiated::Resumed { parked, h }) => {
            let _counted = ctx.metrics.session(T::KIND);
            session::resume(&mut c, *parked, h).await
        }
        Err(end) => end,
    };
    c.finish(end).await;
}

/// Answers a connection over `[limits] max_connections_per_ip` with a stream error once
/// it opened its stream. `policy-violation` (RFC 6120 4.9.3.12) is the local-policy
/// condition; `resource-constraint` would claim the whole server is out of resources, and
/// `connection-timeout` is for idle streams.
async fn refuse_too_many<T: Transport>(ctx: &ServerContext, t: T) {
    // Short: a flood of refused connections must not pile up waiting tasks.
    let mut c = Conn::new(ctx, t, ctx.config.limits.pre_auth_timeout_secs.min(5));
    c.t.set_limits(pre_auth_limits(ctx));
    // Reading the client's header first means its bytes are consumed before we close, so
    // the error is not lost to a TCP reset.
    let end = match c.next().await {
        Next::Event(StreamEvent::Open(_)) => End::Error(
            "policy-violation",
            Some(format!(
                "too many connections from this address (at most {})",
                ctx.config.limits.max_connections_per_ip
            )),
        ),
        Next::Event(_) => End::Error("not-well-formed", None),
        Next::End(e) => e,
    };
    c.finish(end).await;
}
