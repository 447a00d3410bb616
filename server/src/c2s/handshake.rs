//! Drives a [`Negotiation`] over a connection: reads what the client sends, and carries out
//! the machine's actions — writes, the TLS upgrade, the credential lookup, in-band
//! registration, FAST token checks and issues, the takeover of a session being resumed,
//! claiming the resource in the router's session table, and enabling stream management.

use super::conn::{post_auth_limits, pre_auth_limits, Conn, End, Next};
use super::features::Security;
use super::negotiate::{Action, Bound, Lookup, Negotiation, Resumption, Settings};
use super::state::{self, Managed, Parked};
use super::{hibernate, iq, Transport};
use crate::router::Registered;
use crate::sm::Unknown;
use crate::stanza::Outgoing;
use crate::ServerContext;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a resuming connection waits for the session's holder to hand it over.
const TAKEOVER_WAIT: Duration = Duration::from_secs(10);

/// The bound resource's place in the router: its registration, and the queue of what is
/// routed to it.
pub(crate) struct Claim {
    /// The account's localpart.
    pub(crate) user: String,
    pub(crate) reg: Registered,
    pub(crate) rx: mpsc::Receiver<Outgoing>,
}

/// How negotiation ended.
pub(crate) enum Negotiated {
    /// A new session, with stream management when Bind 2 enabled it inline.
    Bound {
        me: Box<Bound>,
        claim: Claim,
        sm: Option<Managed>,
    },
    /// A former session continues; `h` is the client's count of our stanzas.
    Resumed { parked: Box<Parked>, h: u32 },
}

/// What the connection's transport and the config allow before authentication.
fn security<T: Transport>(c: &Conn<'_, T>) -> Security {
    Security {
        can_starttls: c.t.can_starttls(),
        secure: c.t.is_secure(),
        loopback: c.t.is_loopback(),
        tls_required: c.ctx.config.tls.required,
    }
}

/// What negotiation holds while it runs: a claimed resource, stream management enabled
/// for it, a session taken over. Whatever is still held when negotiation fails is given
/// back (the resource released, the session parked again).
#[derive(Default)]
struct Held {
    claim: Option<Claim>,
    sm: Option<Managed>,
    resumed: Option<(Box<Parked>, u32)>,
}

impl Held {
    fn release(self, ctx: &ServerContext) {
        if let Some(claim) = self.claim {
            ctx.router.unregister_session(&claim.user, claim.reg.id);
        }
        if let Some(m) = self.sm {
            if let Some(id) = m.state.id() {
                ctx.resumable.forget(id, 0);
            }
        }
        if let Some((parked, _)) = self.resumed {
            hibernate::park(ctx, *parked);
        }
    }
}

/// Negotiates until a resource is bound (and claimed in the router) or a former session
/// is taken over, or the stream ends.
pub(crate) async fn negotiate<T: Transport>(c: &mut Conn<'_, T>) -> Result<Negotiated, End> {
    let mut held = Held::default();
    let r = drive(c, &mut held).await;
    if r.is_err() {
        held.release(c.ctx);
    }
    r
}

async fn drive<T: Transport>(c: &mut Conn<'_, T>, held: &mut Held) -> Result<Negotiated, End> {
    let ctx = c.ctx;
    c.t.set_limits(pre_auth_limits(ctx));
    let settings = Settings {
        domain: ctx.config.domain.clone(),
        registration: ctx.config.registration,
        max_auth_failures: ctx.config.limits.max_auth_failures,
        sm: ctx.config.stream_management.enabled,
        fast: ctx.fast.mechanisms(),
        scram: ctx.auth.passwords(),
    };
    let mut n = Negotiation::new(settings, security(c), rand::random::<u64>);
    loop {
        let ev = match c.next().await {
            Next::Event(ev) => ev,
            Next::End(e) => return Err(e),
        };
        let mut todo = VecDeque::from(n.event(ev));
        while let Some(action) = todo.pop_front() {
            match action {
                Action::Header => c.send_header().await?,
                Action::Send(xml) => c.send(&xml).await?,
                Action::StartTls => {
                    if let Err(e) = c.t.starttls().await {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return Err(End::Gone);
                    }
                    n.tls_established(security(c));
                }
                Action::FetchCredentials(user) => {
                    let lookup = match ctx.accounts.credentials(&user).await {
                        Ok(Some(creds)) => Lookup::Found(creds),
                        Ok(None) => Lookup::NoSuchAccount,
                        Err(e) => {
                            tracing::error!(error = %e, "credential lookup failed");
                            Lookup::Failed
                        }
                    };
                    todo.extend(n.credentials(lookup));
                }
                Action::VerifyPlain(payload) => {
                    let outcome = crate::auth::plain::verify_plain(
                        &ctx.auth,
                        ctx.accounts.as_ref(),
                        &payload,
                    )
                    .await;
                    todo.extend(n.plain_verified(outcome));
                }
                Action::Register(iq) => {
                    let reply = iq::register(ctx, &iq).await;
                    c.send_el(&reply).await?;
                }
                Action::Restart => {
                    c.t.set_limits(post_auth_limits(ctx));
                    c.t.restart();
                }
                Action::Authenticated => c.t.set_limits(post_auth_limits(ctx)),
                Action::CheckToken(attempt) => {
                    let r = ctx.fast.authenticate(&attempt).await;
                    ctx.metrics.fast_sign_in(r.is_ok());
                    todo.extend(n.token_checked(r));
                }
                Action::IssueToken {
                    user,
                    device,
                    mechanism,
                } => {
                    let issued = match ctx.fast.issue(&user, &device, &mechanism).await {
                        Ok(t) => Some(t),
                        Err(e) => {
                            tracing::error!(error = %e, "issuing a FAST token failed");
                            None
                        }
                    };
                    todo.extend(n.token_issued(issued));
                }
                Action::Resume { user, previd, h } => {
                    let r = take_over(ctx, &user, &previd, h, held).await;
                    ctx.metrics
                        .resumption(matches!(r, Resumption::Resumed { .. }));
                    todo.extend(n.resume_result(r));
                }
                Action::Claim { user, resource } => {
                    let (tx, rx) = mpsc::channel(ctx.config.limits.session_queue.max(8));
                    let max = ctx.config.limits.max_sessions_per_account;
                    match ctx.router.try_register_session(&user, &resource, tx, max) {
                        Some(reg) => {
                            // Other nodes of a cluster can reach it once it is bound.
                            ctx.router.sessions_published().await;
                            held.claim = Some(Claim {
                                user: user.clone(),
                                reg,
                                rx,
                            });
                            todo.extend(n.claimed());
                        }
                        None => todo.extend(n.claim_refused(max)),
                    }
                }
                Action::EnableSm { resume, max } => {
                    let user = held.claim.as_ref().map(|c| c.user.clone());
                    let Some(user) = user else {
                        return Err(End::Error("internal-server-error", None));
                    };
                    let (managed, enabled) =
                        state::enable(ctx, &user, mucsub_protocol::sm::Enable { resume, max });
                    held.sm = Some(managed);
                    todo.extend(n.sm_enabled(enabled));
                }
                Action::Bound(me) => {
                    let Some(claim) = held.claim.take() else {
                        return Err(End::Error("internal-server-error", None));
                    };
                    return Ok(Negotiated::Bound {
                        me,
                        claim,
                        sm: held.sm.take(),
                    });
                }
                Action::Resumed => {
                    let Some((parked, h)) = held.resumed.take() else {
                        return Err(End::Error("internal-server-error", None));
                    };
                    return Ok(Negotiated::Resumed { parked, h });
                }
                Action::End(e) => return Err(e),
            }
        }
    }
}

/// Asks the holder of `user`'s session `previd` for it, and checks the client's `h`
/// against what the session sent. A session taken over is held until negotiation ends.
async fn take_over(
    ctx: &ServerContext,
    user: &str,
    previd: &str,
    h: u32,
    held: &mut Held,
) -> Resumption {
    let answer = match ctx.resumable.request(previd, user) {
        Ok(answer) => answer,
        Err(Unknown { h }) => return Resumption::Unknown { h },
    };
    let handover = match tokio::time::timeout(TAKEOVER_WAIT, answer).await {
        Ok(Ok(handover)) => handover,
        _ => return Resumption::Unknown { h: None },
    };
    let Ok(parked) = handover.downcast::<Parked>() else {
        return Resumption::Unknown { h: None };
    };
    if let Err(too_high) = parked.sm.check_resume(h) {
        // The client cannot be trusted with this stream: the session ends for good.
        state::end(ctx, parked.session, Some(parked.sm)).await;
        return Resumption::TooHigh(too_high);
    }
    let r = Resumption::Resumed {
        full: parked.session.me.full.clone(),
        inbound: parked.sm.inbound(),
    };
    held.resumed = Some((parked, h));
    r
}
