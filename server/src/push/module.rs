//! How push registers itself with the core (see [`crate::module`]).

use super::Push;
use crate::extensions::{Caller, IqHandler, IqType};
use crate::module::{Module, Registrar};
use crate::ns;
use crate::router::OfflineHook;
use crate::ServerContext;
use futures_util::future::BoxFuture;
use minidom::Element;
use std::sync::Arc;

/// Starts [`Push`] and registers its feature, IQ handlers, HTTP routes, the router's
/// offline hook and the `push.<domain>` component. [`Push`] itself is provided, so
/// `ctx.extensions().get::<Push>()` finds it.
pub struct PushModule;

impl Module for PushModule {
    fn name(&self) -> &'static str {
        "push"
    }

    fn start<'a>(
        &'a self,
        ctx: &'a ServerContext,
        reg: &'a mut Registrar,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let push = Push::start(
                ctx.storage.push.clone(),
                &ctx.config,
                Some(ctx.offline.clone()),
                ctx.metrics.clone(),
            )
            .await?;
            reg.server_feature(ns::PUSH);
            let handler: Arc<dyn IqHandler> = Arc::new(push.clone());
            reg.iq(IqType::Set, "enable", ns::PUSH, handler.clone())?;
            reg.iq(IqType::Set, "disable", ns::PUSH, handler)?;
            reg.routes(push.routes());
            ctx.router.set_offline_hook(Arc::new(push.clone()));
            spawn_component(ctx, push.clone());
            reg.provide(push);
            Ok(())
        })
    }

    fn config_defaults(&self) -> Option<(&'static str, serde_json::Value)> {
        crate::module::table_defaults("push", super::config::PushConfig::default())
    }
}

/// XEP-0357 `<enable/>`/`<disable/>` from a bound session of the account.
impl IqHandler for Push {
    fn handle<'a>(&'a self, from: Caller<'a>, iq: &'a Element) -> BoxFuture<'a, Element> {
        Box::pin(self.handle_iq(from.user, iq))
    }
}

/// The router calls this after storing a stanza offline, or after handing it only to
/// sessions that are inactive per XEP-0352.
impl OfflineHook for Push {
    fn stored(&self, user: &str, stanza: &Element) {
        self.notify(user, stanza);
    }

    fn inactive(&self, user: &str, stanza: &Element) {
        self.notify(user, stanza);
    }
}

/// The `push.<domain>` component (disco, publishes); stops with the server.
fn spawn_component(ctx: &ServerContext, push: Push) {
    let mut inbox = ctx.router.register_component(push.service_jid(), 256);
    let router = ctx.router.clone();
    let mut stop = ctx.shutdown.clone();
    tokio::spawn(async move {
        loop {
            let stanza = tokio::select! {
                s = inbox.recv() => match s {
                    Some(s) => s,
                    None => break,
                },
                _ = stop.changed() => break,
            };
            if let Some(reply) = push.handle_component(&stanza).await {
                router.route(reply).await;
            }
        }
    });
}
