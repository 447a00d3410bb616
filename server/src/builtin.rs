//! The modules this server is built with, in start order: the one place that names them
//! (as Prosody's `modules_enabled`). Each registers its own features, IQ handlers, routes
//! and components through [`crate::module`]; the core knows none of them.

use crate::module::{Module, Registrar};
use crate::ServerContext;
use futures_util::future::BoxFuture;

pub(crate) const MODULES: &[&dyn Module] = &[
    &crate::push::module::PushModule,
    &Muc,
    &crate::metrics::module::MetricsModule,
];

/// The MUC service (XEP-0045, MucSub, MAM) at `conference.<domain>`, listed in the
/// server's disco#items.
struct Muc;

impl Module for Muc {
    fn name(&self) -> &'static str {
        "muc"
    }

    fn start<'a>(
        &'a self,
        ctx: &'a ServerContext,
        reg: &'a mut Registrar,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            crate::muc::spawn(ctx)?;
            reg.disco_item(&ctx.config.muc_service, "Chatrooms");
            Ok(())
        })
    }

    fn config_defaults(&self) -> Option<(&'static str, serde_json::Value)> {
        defaults("muc", crate::muc::Settings::default())
    }
}

/// A module's table name and its settings' defaults, for [`Module::config_defaults`].
pub(crate) fn defaults<T: serde::Serialize>(
    table: &'static str,
    value: T,
) -> Option<(&'static str, serde_json::Value)> {
    serde_json::to_value(value).ok().map(|v| (table, v))
}
