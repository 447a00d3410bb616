//! The seam through which a part of the server plugs itself into the core (Prosody style):
//! a [`Module`] starts with the shared [`ServerContext`] and registers, through the
//! [`Registrar`], what the core should offer on its behalf —
//!
//! - disco#info features and disco#items of the server domain;
//! - IQ handlers by payload (`<enable xmlns='urn:xmpp:push:0'/>` …) for IQs a bound
//!   session sends to the server or to its own account ([`IqHandler`]);
//! - HTTP routes, merged into the HTTP listener;
//! - typed state other code can look up ([`crate::extensions::Extensions::get`]).
//!
//! Its `start` is the startup hook: open tables, spawn tasks (which stop on
//! `ctx.shutdown`), register components with the router. Modules start in the order of
//! [`crate::builtin::MODULES`], before any listener accepts a client, and a module that
//! fails to start stops the server from starting.
//!
//! Adding a module: implement [`Module`] in its own directory, add it to
//! `builtin::MODULES`. The core stays unaware of it.

use crate::extensions::{AvailableHook, DiscoItem, Extensions, IqHandler, IqType};
use crate::ServerContext;
use futures_util::future::BoxFuture;
use std::any::Any;
use std::sync::Arc;

/// A part of the server that registers itself with the core.
pub trait Module: Send + Sync {
    /// A short name, for logs and startup errors.
    fn name(&self) -> &'static str;

    /// Starts the module and registers what it offers.
    fn start<'a>(
        &'a self,
        ctx: &'a ServerContext,
        reg: &'a mut Registrar,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// The module's own config table, if it has one: its name (`"push"` for `[push]`, a
    /// raw `toml::Table` field of `Config`) and its settings' defaults, serialised.
    /// `builtin::config_defaults` collects them: `docs/configuration.md` must list every
    /// key (`tests/config_docs.rs`). [`table_defaults`] builds the answer.
    fn config_defaults(&self) -> Option<(&'static str, serde_json::Value)> {
        None
    }
}

/// A module's table name and its settings' defaults, for [`Module::config_defaults`].
pub fn table_defaults<T: serde::Serialize>(
    table: &'static str,
    value: T,
) -> Option<(&'static str, serde_json::Value)> {
    serde_json::to_value(value).ok().map(|v| (table, v))
}

/// Collects what modules register while they start.
pub struct Registrar {
    ext: Extensions,
    routes: axum::Router,
}

impl Registrar {
    /// A feature of the server domain's disco#info.
    pub fn server_feature(&mut self, var: &str) {
        self.ext.add_feature(var);
    }

    /// A feature of every account's bare JID in disco#info.
    pub fn account_feature(&mut self, var: &str) {
        self.ext.add_account_feature(var);
    }

    /// An identity (category, type) of every account's bare JID in disco#info.
    pub fn account_identity(&mut self, category: &str, kind: &str) {
        self.ext.add_account_identity(category, kind);
    }

    /// Told whenever a session becomes available; what it returns goes to that session.
    pub fn on_available(&mut self, hook: Arc<dyn AvailableHook>) {
        self.ext.add_available_hook(hook);
    }

    /// An item of the server domain's disco#items.
    pub fn disco_item(&mut self, jid: &str, name: &str) {
        self.ext.add_item(DiscoItem {
            jid: jid.to_owned(),
            name: name.to_owned(),
        });
    }

    /// Answers IQs of type `ty` whose payload is `<name xmlns='ns'/>`. Two modules
    /// cannot answer the same payload.
    pub fn iq(
        &mut self,
        ty: IqType,
        name: &str,
        ns: &str,
        handler: Arc<dyn IqHandler>,
    ) -> anyhow::Result<()> {
        self.ext
            .add_iq(ty, name, ns, handler)
            .map_err(anyhow::Error::msg)
    }

    /// HTTP routes (with their own state) for the HTTP listener. Paths must not clash
    /// with the core's (`/ws`, `/health`) or another module's.
    pub fn routes(&mut self, routes: axum::Router) {
        self.routes = std::mem::take(&mut self.routes).merge(routes);
    }

    /// State others may look up by type through [`ServerContext::extensions`].
    pub fn provide<T: Any + Send + Sync>(&mut self, value: T) {
        self.ext.provide(Arc::new(value));
    }
}

/// Starts `modules` in order and installs what they registered into `ctx` (every clone
/// of it sees the result). Returns the HTTP routes they added.
pub(crate) async fn start_all(
    ctx: &ServerContext,
    modules: &[&dyn Module],
) -> anyhow::Result<axum::Router> {
    let mut reg = Registrar {
        ext: Extensions::default(),
        routes: axum::Router::new(),
    };
    for m in modules {
        m.start(ctx, &mut reg)
            .await
            .map_err(|e| e.context(format!("module {} did not start", m.name())))?;
        tracing::debug!(module = m.name(), "module started");
    }
    ctx.install_extensions(reg.ext)?;
    Ok(reg.routes)
}
