//! A resumable session whose connection was lost waits here for its client (XEP-0198 §5):
//! it stays bound (same full JID, still available, still in its rooms), counts as inactive
//! for push (XEP-0352: the phone gets its notification while its stream waits), and what
//! the router sends it is numbered and queued like any unacknowledged stanza, to be sent
//! again once, in order, on resumption.
//!
//! It stops waiting when a connection takes it over (`sm::registry`), or ends for good —
//! when the resumption timeout passes, when it holds more than
//! `[stream_management] max_queue` stanzas, when a new bind takes its resource or needs
//! its place under the account's session limit, or at shutdown — and then whatever was never acknowledged is salvaged as for a session that
//! ended (`state::end`).

use super::state::{self, outgoing_xml, Parked};
use crate::limits::Counted;
use crate::stanza::Outgoing;
use crate::ServerContext;
use tokio::time::{Duration, Instant};

/// Why the wait ended.
enum Wake {
    TakenOver(crate::sm::Takeover),
    Queued(Outgoing),
    Over(&'static str),
}

/// Parks a session whose connection was lost.
pub(crate) fn park(ctx: &ServerContext, mut p: Parked) {
    let me = &p.session.me;
    tracing::info!(
        jid = me.full,
        timeout_secs = p.sm.timeout_secs(),
        unacked = p.sm.unacked_len(),
        "connection lost; the session waits to be resumed"
    );
    ctx.router.set_inactive(&me.user, p.session.id, true);
    ctx.router.set_waiting(&me.user, p.session.id, true);
    p.sm.wait();
    // Counted like a connection: shutdown waits for its salvage.
    let counted = Counted::new(&ctx.connections);
    let waiting = ctx.metrics.waiting();
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let _counted = counted;
        let _waiting = waiting;
        wait(ctx, p).await;
    });
}

async fn wait(ctx: ServerContext, mut p: Parked) {
    let deadline = Instant::now() + Duration::from_secs(u64::from(p.sm.timeout_secs()));
    let max = ctx.config.stream_management.max_queue;
    let mut shutdown = ctx.shutdown.clone();
    let reason = loop {
        let wake = {
            let s = &mut p.session;
            let Some(takeover) = s.takeover.as_mut() else {
                break "not resumable";
            };
            tokio::select! {
                t = takeover.recv() => match t {
                    Some(t) => Wake::TakenOver(t),
                    None => Wake::Over("resumption table gone"),
                },
                out = s.rx.recv() => match out {
                    Some(out) => Wake::Queued(out),
                    None => Wake::Over("router gone"),
                },
                cond = s.control.kicked() => Wake::Over(cond),
                _ = tokio::time::sleep_until(deadline) => Wake::Over("resumption timeout"),
                _ = shutdown.changed() => Wake::Over("shutdown"),
            }
        };
        match wake {
            Wake::TakenOver(t) => match t.reply.send(Box::new(p)) {
                Ok(()) => return,
                // The connection that asked is gone already: keep waiting.
                Err(back) => match back.downcast::<Parked>() {
                    Ok(back) => p = *back,
                    Err(_) => return,
                },
            },
            Wake::Queued(out) => match outgoing_xml(out) {
                Ok(xml) => {
                    p.sm.sent(xml);
                    if p.sm.unacked_len() > max {
                        break "too many stanzas waiting";
                    }
                }
                Err(kick) => break kick,
            },
            Wake::Over(why) => break why,
        }
    };
    tracing::info!(
        jid = p.session.me.full,
        reason,
        unacked = p.sm.unacked_len(),
        "the waiting session ends"
    );
    state::end(&ctx, p.session, Some(p.sm)).await;
}
