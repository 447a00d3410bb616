//! Drives a [`Negotiation`] over a connection: reads what the client sends, and carries out
//! the machine's actions — writes, the TLS upgrade, the credential lookup, in-band
//! registration, and claiming the resource in the router's session table.

use super::conn::{post_auth_limits, pre_auth_limits, Conn, End, Next};
use super::features::Security;
use super::iq;
use super::negotiate::{Action, Bound, Lookup, Negotiation, Settings};
use super::Transport;
use crate::router::Registered;
use crate::stanza::Outgoing;
use std::collections::VecDeque;
use tokio::sync::mpsc;

/// The bound resource's place in the router: its registration, and the queue of what is
/// routed to it.
pub(crate) struct Claim {
    pub(crate) reg: Registered,
    pub(crate) rx: mpsc::Receiver<Outgoing>,
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

/// Negotiates until a resource is bound (and claimed in the router), or the stream ends.
pub(crate) async fn negotiate<T: Transport>(c: &mut Conn<'_, T>) -> Result<(Bound, Claim), End> {
    let ctx = c.ctx;
    c.t.set_limits(pre_auth_limits(ctx));
    let settings = Settings {
        domain: ctx.config.domain.clone(),
        registration: ctx.config.registration,
        max_auth_failures: ctx.config.limits.max_auth_failures,
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
                Action::Claim { user, resource } => {
                    let (tx, rx) = mpsc::channel(ctx.config.limits.session_queue.max(8));
                    let max = ctx.config.limits.max_sessions_per_account;
                    match ctx.router.try_register_session(&user, &resource, tx, max) {
                        Some(reg) => {
                            let Some(bound) = n.claimed() else {
                                ctx.router.unregister_session(&user, reg.id);
                                return Err(End::Error("internal-server-error", None));
                            };
                            return Ok((bound, Claim { reg, rx }));
                        }
                        None => todo.extend(n.claim_refused(max)),
                    }
                }
                Action::End(e) => return Err(e),
            }
        }
    }
}
